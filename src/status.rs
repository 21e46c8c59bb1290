//! `myshard status`: reads `/status` from the running proxy's status endpoint and prints it
//! as a table, so that an operator needs neither curl nor jq.

use myshard_config::Config;
use serde_json::Value;
use std::fmt::Write;
use std::process::ExitCode;
use std::time::Duration;

/// How long the endpoint has to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Fetches and prints the status of the proxy configured by `config`.
pub fn run(config: &Config) -> ExitCode {
    let Some(admin) = &config.admin_http else {
        eprintln!(
            "myshard status: admin_http is not configured, so the proxy has no status endpoint"
        );
        return ExitCode::from(2);
    };
    let addr = connect_address(&admin.listen);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("myshard status: {e}");
            return ExitCode::from(1);
        }
    };
    let answer = runtime.block_on(myshard_proxy::admin_http::client::request(
        &addr, "GET", "/status", None, TIMEOUT,
    ));
    let answer = match answer {
        Ok(a) if a.status == 200 => a,
        Ok(a) => {
            eprintln!(
                "myshard status: {addr} answered {}: {}",
                a.status,
                a.body.trim()
            );
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("myshard status: cannot reach the status endpoint at {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    match serde_json::from_str::<Value>(&answer.body) {
        Ok(doc) => {
            print!("{}", render(&doc));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("myshard status: {addr} sent something that is not the status document: {e}");
            ExitCode::from(1)
        }
    }
}

/// The address to connect to for a listen address: a wildcard bind is reached on loopback.
pub fn connect_address(listen: &str) -> String {
    match listen.parse::<std::net::SocketAddr>() {
        Ok(a) if a.ip().is_unspecified() && a.is_ipv4() => format!("127.0.0.1:{}", a.port()),
        Ok(a) if a.ip().is_unspecified() => format!("[::1]:{}", a.port()),
        _ => listen.to_string(),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// The status document as a table.
pub fn render(doc: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "routing table epoch {}   client sessions {}   {}",
        text(&doc["epoch"]),
        text(&doc["client_sessions"]),
        if doc["ready"] == Value::Bool(true) {
            "ready"
        } else {
            "NOT READY"
        }
    );
    let header = [
        "GROUP", "HOST", "ROLE", "STATE", "OPEN", "IDLE", "MAX", "WAITS",
    ];
    let mut rows: Vec<[String; 8]> = vec![header.map(String::from)];
    for g in doc["groups"].as_array().into_iter().flatten() {
        for h in g["hosts"].as_array().into_iter().flatten() {
            let p = &h["pool"];
            rows.push([
                text(&g["name"]),
                text(&h["address"]),
                text(&h["role"]),
                text(&h["state"]),
                text(&p["open"]),
                text(&p["idle"]),
                text(&p["max"]),
                text(&p["waits"]),
            ]);
        }
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    if let Some(last) = doc["reloads"].as_array().and_then(|r| r.last()) {
        let result = if last["ok"] == Value::Bool(true) {
            format!("ok, epoch {}", text(&last["epoch"]))
        } else {
            "failed".into()
        };
        let _ = writeln!(out, "last reload: {result}: {}", text(&last["summary"]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listen_addresses_are_reached_on_loopback() {
        assert_eq!(connect_address("0.0.0.0:9307"), "127.0.0.1:9307");
        assert_eq!(connect_address("[::]:9307"), "[::1]:9307");
        assert_eq!(connect_address("10.0.0.1:9307"), "10.0.0.1:9307");
    }
}
