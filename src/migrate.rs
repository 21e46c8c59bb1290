//! `myshard migrate`: the migration commands of the running proxy's status endpoint, so an
//! operator needs neither curl nor jq. `myshard migrate --schema S --shard N --to G` starts a
//! migration; `myshard migrate status` lists them; `myshard migrate abort|verify|cleanup
//! --id ID` act on one. Requests that change state send `admin_http.token`.

use myshard_config::Config;
use serde_json::Value;
use std::fmt::Write;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

/// How long the endpoint has to answer (verify compares whole databases).
const TIMEOUT: Duration = Duration::from_secs(600);

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start a migration.
    Start {
        /// Logical schema.
        schema: String,
        /// Shard.
        shard: u32,
        /// Target group.
        to: String,
    },
    /// List the migrations.
    Status,
    /// `abort`, `verify` or `cleanup` of migration `id`.
    On {
        /// The command.
        verb: String,
        /// The migration.
        id: u64,
    },
}

/// Works out the action from the command line's words and options.
pub fn action(
    verb: Option<&str>,
    schema: Option<String>,
    shard: Option<u32>,
    to: Option<String>,
    id: Option<u64>,
) -> Result<Action, String> {
    match (verb, id) {
        (None, _) => match (schema, shard, to) {
            (Some(schema), Some(shard), Some(to)) => Ok(Action::Start { schema, shard, to }),
            _ => Err("starting a migration needs --schema, --shard and --to".into()),
        },
        (Some("status"), _) => Ok(Action::Status),
        (Some(v @ ("abort" | "verify" | "cleanup")), Some(id)) => Ok(Action::On {
            verb: v.to_string(),
            id,
        }),
        (Some(v @ ("abort" | "verify" | "cleanup")), None) => Err(format!(
            "`myshard migrate {v}` needs --id (see `myshard migrate status`)"
        )),
        (Some(other), _) => Err(format!(
            "unknown migrate command '{other}': use status, abort, verify or cleanup"
        )),
    }
}

/// The HTTP request for `action`: method, path, body.
pub fn request_of(action: &Action) -> (&'static str, String, String) {
    match action {
        Action::Start { schema, shard, to } => (
            "POST",
            "/migrations".into(),
            serde_json::json!({ "schema": schema, "shard": shard, "to": to }).to_string(),
        ),
        Action::Status => ("GET", "/migrations".into(), String::new()),
        Action::On { verb, id } => ("POST", format!("/migrations/{id}/{verb}"), String::new()),
    }
}

/// `n` bytes in a short human form.
fn bytes(n: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let (mut v, mut unit) = (n, 0);
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// The progress of one migration on one line: a bar on a terminal, words otherwise.
fn progress_line(m: &Value, tty: bool) -> Option<String> {
    let p = m.get("progress").filter(|p| p.is_object())?;
    let n = |k: &str| p[k].as_u64();
    let (copied, total) = (n("rows_copied").unwrap_or(0), n("rows_total").unwrap_or(0));
    let done = p["copy_ms"].is_u64();
    let fraction = match (total, done) {
        (0, true) => 1.0,
        (0, false) => 0.0,
        _ => (copied as f64 / total as f64).min(1.0),
    };
    let mut out = String::new();
    if tty {
        const WIDTH: usize = 30;
        let full = (fraction * WIDTH as f64).round() as usize;
        let _ = write!(
            out,
            "      [{}{}] {:>3.0}%",
            "#".repeat(full),
            "-".repeat(WIDTH - full),
            fraction * 100.0
        );
    } else {
        let _ = write!(out, "      copy {:.0}%", fraction * 100.0);
    }
    let _ = write!(
        out,
        " rows {copied}/{total} bytes {} speed {:.0} rows/s {}/s",
        bytes(p["bytes_copied"].as_f64().unwrap_or(0.0)),
        p["rows_per_second"].as_f64().unwrap_or(0.0),
        bytes(p["bytes_per_second"].as_f64().unwrap_or(0.0)),
    );
    match n("copy_ms") {
        Some(ms) => {
            let _ = write!(out, " copied in {:.1} s", ms as f64 / 1000.0);
        }
        None => {
            if let Some(eta) = n("eta_seconds") {
                let _ = write!(out, " eta {eta} s");
            }
        }
    }
    // The lag only means something while the target catches up.
    let catching_up = matches!(m["phase"].as_str(), Some("replicate" | "cutting_over"));
    if catching_up {
        let lag = n("lag_seconds").map_or("-".to_string(), |s| format!("{s} s"));
        let gtid = n("gtid_distance").map_or("-".to_string(), |d| d.to_string());
        let _ = write!(out, " lag {lag} ({gtid} transactions)");
    }
    Some(out)
}

/// The journal as a table, each migration with a progress line when its copy ran in the
/// proxy: a bar when `tty` (stdout is a terminal), plain words otherwise.
pub fn render(list: &Value, tty: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>4}  {:<12} {:>6}  {:<10} {:<10} {:<12} ERROR",
        "ID", "SCHEMA", "SHARD", "FROM", "TO", "PHASE"
    );
    for m in list.as_array().into_iter().flatten() {
        let s = |k: &str| match &m[k] {
            Value::String(s) => s.clone(),
            Value::Null => "-".into(),
            v => v.to_string(),
        };
        let _ = writeln!(
            out,
            "{:>4}  {:<12} {:>6}  {:<10} {:<10} {:<12} {}",
            s("id"),
            s("schema"),
            s("shard"),
            s("from"),
            s("to"),
            s("phase"),
            s("error")
        );
        if let Some(line) = progress_line(m, tty) {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

/// Sends `action` to the proxy configured by `config` and prints the answer.
pub fn run(config: &Config, action: &Action) -> ExitCode {
    let Some(admin) = &config.admin_http else {
        eprintln!("myshard migrate: admin_http is not configured, so the proxy has no endpoint");
        return ExitCode::from(2);
    };
    let addr = crate::status::connect_address(&admin.listen);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("myshard migrate: {e}");
            return ExitCode::from(1);
        }
    };
    let (method, path, body) = request_of(action);
    let answer = runtime.block_on(myshard_proxy::admin_http::client::request_with_body(
        &addr,
        method,
        &path,
        admin.token.as_deref(),
        &body,
        TIMEOUT,
    ));
    match answer {
        Ok(a) if (200..300).contains(&a.status) => {
            let tty = std::io::stdout().is_terminal();
            match (action, serde_json::from_str::<Value>(&a.body)) {
                (Action::Status, Ok(list)) => print!("{}", render(&list, tty)),
                (_, Ok(one)) => print!("{}", render(&Value::Array(vec![one]), tty)),
                (_, Err(_)) => println!("{}", a.body.trim()),
            }
            ExitCode::SUCCESS
        }
        Ok(a) => {
            let why = serde_json::from_str::<Value>(&a.body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_else(|| a.body.trim().to_string());
            eprintln!("myshard migrate: {} {why}", a.status);
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("myshard migrate: cannot reach the status endpoint at {addr}: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_names_the_request() {
        let start = action(None, Some("shop".into()), Some(7), Some("g2".into()), None);
        let start = start.unwrap_or(Action::Status);
        let (method, path, body) = request_of(&start);
        assert_eq!((method, path.as_str()), ("POST", "/migrations"));
        let body: Value = serde_json::from_str(&body).unwrap_or_default();
        assert_eq!(body["shard"], 7);
        assert_eq!(body["to"], "g2");
        let verify = action(Some("verify"), None, None, None, Some(3));
        assert_eq!(
            verify.map(|a| request_of(&a).1),
            Ok("/migrations/3/verify".to_string())
        );
        assert!(action(None, Some("shop".into()), None, None, None).is_err());
        let no_id = action(Some("cleanup"), None, None, None, None);
        assert!(no_id.is_err_and(|e| e.contains("--id")));
        assert!(action(Some("drop"), None, None, None, None).is_err());
    }

    #[test]
    fn the_journal_prints_as_a_table() {
        let list = serde_json::json!([{ "id": 1, "schema": "shop", "shard": 7, "from": "g0",
            "to": "g2", "phase": "cut_over", "error": null }]);
        let out = render(&list, true);
        assert_eq!(
            out.lines().count(),
            2,
            "no progress, no progress line: {out}"
        );
        assert!(out.contains("cut_over") && out.contains("g2"), "{out}");
    }

    fn copying() -> Value {
        serde_json::json!([{ "id": 2, "schema": "shop", "shard": 1, "from": "g0",
            "to": "g1", "phase": "copy", "error": null,
            "progress": { "rows_copied": 250, "rows_total": 1000, "bytes_copied": 2_097_152,
                "copy_started_unix_ms": 1, "copy_ms": null, "rows_per_second": 50.0,
                "bytes_per_second": 1024.0, "eta_seconds": 15, "lag_seconds": null,
                "gtid_distance": null } },
            { "id": 3, "schema": "shop", "shard": 2, "from": "g0", "to": "g1",
            "phase": "replicate", "error": null,
            "progress": { "rows_copied": 10, "rows_total": 10, "bytes_copied": 100,
                "copy_started_unix_ms": 1, "copy_ms": 2500, "rows_per_second": 4.0,
                "bytes_per_second": 40.0, "eta_seconds": 0, "lag_seconds": 3,
                "gtid_distance": 7 } }])
    }

    #[test]
    fn a_terminal_gets_a_progress_bar() {
        let out = render(&copying(), true);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 5, "{out}");
        assert!(
            lines[2].contains(&format!("[{}{}]  25%", "#".repeat(8), "-".repeat(22))),
            "{out}"
        );
        assert!(lines[2].contains("rows 250/1000"), "{out}");
        assert!(
            lines[2].contains("bytes 2.0 MB") && lines[2].contains("eta 15 s"),
            "{out}"
        );
        assert!(!lines[2].contains("lag"), "no lag while copying: {out}");
        assert!(
            lines[4].contains("] 100%") && lines[4].contains("copied in 2.5 s"),
            "{out}"
        );
        assert!(lines[4].contains("lag 3 s (7 transactions)"), "{out}");
    }

    #[test]
    fn a_pipe_gets_plain_lines() {
        let out = render(&copying(), false);
        assert!(!out.contains('[') && !out.contains('#'), "no bar: {out}");
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[2].trim_start().starts_with("copy 25% rows 250/1000"),
            "{out}"
        );
        assert!(
            lines[4].trim_start().starts_with("copy 100% rows 10/10"),
            "{out}"
        );
        assert!(lines[4].contains("lag 3 s (7 transactions)"), "{out}");
    }
}
