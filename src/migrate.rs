//! `myshard migrate`: the migration commands of the running proxy's status endpoint, so an
//! operator needs neither curl nor jq. `myshard migrate --schema S --shard N --to G` starts a
//! migration; `myshard migrate status` lists them; `myshard migrate abort|verify|cleanup
//! --id ID` act on one. Requests that change state send `admin_http.token`.

use myshard_config::Config;
use serde_json::Value;
use std::fmt::Write;
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

/// The journal as a table.
pub fn render(list: &Value) -> String {
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
            match (action, serde_json::from_str::<Value>(&a.body)) {
                (Action::Status, Ok(list)) => print!("{}", render(&list)),
                (_, Ok(one)) => print!("{}", render(&Value::Array(vec![one]))),
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
        let out = render(&list);
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(out.contains("cut_over") && out.contains("g2"), "{out}");
    }
}
