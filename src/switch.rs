//! `myshard switch --group g0 [--to HOST]` and `myshard rejoin --group g0 --host HOST`:
//! ask the running proxy's status endpoint (`POST /switch`, `POST /rejoin`, with the
//! configured `admin_http.token`) and print what it answered.

use myshard_config::Config;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::time::Duration;

/// How long the endpoint has to answer: a switch may hold writes up to `max_hold_ms`.
fn timeout(config: &Config, group: &str) -> Duration {
    let hold = config
        .group(group)
        .map_or(10_000, |g| g.failover.max_hold_ms);
    Duration::from_millis(hold) + Duration::from_secs(5)
}

/// Sends `body` to `path` and prints the answer; `what` names the command in messages.
pub fn post(config: &Config, what: &str, path: &str, body: Value, group: &str) -> ExitCode {
    let Some(admin) = &config.admin_http else {
        eprintln!(
            "myshard {what}: admin_http is not configured, so the proxy has no endpoint to ask"
        );
        return ExitCode::from(2);
    };
    let addr = super::status::connect_address(&admin.listen);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("myshard {what}: {e}");
            return ExitCode::from(1);
        }
    };
    let answer = runtime.block_on(myshard_proxy::admin_http::client::request_with_body(
        &addr,
        "POST",
        path,
        admin.token.as_deref(),
        &body.to_string(),
        timeout(config, group),
    ));
    match answer {
        Ok(a) if a.status == 200 => {
            let doc: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
            match doc.get("switch") {
                Some(s) => println!(
                    "group {}: write host {} -> {} (writes held {} ms; old host: {})",
                    s["group"].as_str().unwrap_or(group),
                    s["old_write_host"].as_str().unwrap_or("-"),
                    s["new_write_host"].as_str().unwrap_or("-"),
                    s["write_hold_ms"],
                    s["fence"].as_str().unwrap_or("-"),
                ),
                None => println!("{}", a.body.trim()),
            }
            ExitCode::SUCCESS
        }
        Ok(a) => {
            let doc: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
            let why = doc["error"].as_str().unwrap_or(a.body.trim()).to_owned();
            eprintln!("myshard {what}: refused ({}): {why}", a.status);
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("myshard {what}: cannot reach the status endpoint at {addr}: {e}");
            ExitCode::from(1)
        }
    }
}

/// `myshard switch`.
pub fn switch(config: &Config, group: &str, to: Option<&str>) -> ExitCode {
    let body = json!({ "group": group, "to": to });
    post(config, "switch", "/switch", body, group)
}

/// `myshard rejoin`.
pub fn rejoin(config: &Config, group: &str, host: &str) -> ExitCode {
    let body = json!({ "group": group, "host": host });
    post(config, "rejoin", "/rejoin", body, group)
}
