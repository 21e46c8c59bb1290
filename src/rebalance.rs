//! `myshard rebalance`: the scale-out planner of the running proxy. `--plan` prints the
//! fewest shard moves that even out every sharded schema over the configured groups
//! (`schema shard from → to`, then shards per group before and after); `--execute` asks
//! the proxy to run them one at a time (token required) and follows the run until it ends.

use myshard_config::Config;
use myshard_proxy::admin_http::client::{Answer, request};
use serde_json::Value;
use std::fmt::Write;
use std::process::ExitCode;
use std::time::Duration;

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Time between two looks at a running rebalance.
const POLL: Duration = Duration::from_secs(1);
/// Failed looks in a row after which the command gives up following the run.
const UNREACHABLE: u32 = 10;

/// A plan (`GET /rebalance/plan`) as text.
pub fn render_plan(plan: &Value) -> String {
    let mut out = String::new();
    let moves = plan["moves"].as_array().cloned().unwrap_or_default();
    if moves.is_empty() {
        let _ = writeln!(out, "balanced: no move needed");
    } else {
        let _ = writeln!(out, "{} move(s):", moves.len());
    }
    for m in &moves {
        let _ = writeln!(out, "  {}", move_text(m));
    }
    let groups: Vec<(&String, &Value)> = plan["before"]
        .as_object()
        .map(|o| o.iter().collect())
        .unwrap_or_default();
    if !groups.is_empty() {
        let _ = writeln!(out, "shards per group (before → after):");
    }
    for (g, before) in groups {
        let _ = writeln!(out, "  {g}: {before} → {}", plan["after"][g]);
    }
    out
}

fn move_text(m: &Value) -> String {
    format!(
        "{} {} {} → {}",
        m["schema"].as_str().unwrap_or("?"),
        m["shard"],
        m["from"].as_str().unwrap_or("?"),
        m["to"].as_str().unwrap_or("?")
    )
}

fn why(a: &Answer) -> String {
    serde_json::from_str::<Value>(&a.body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| a.body.trim().to_string())
}

/// Prints the plan (`execute` false) or runs it and follows the run.
pub fn run(config: &Config, execute: bool) -> ExitCode {
    let Some(admin) = &config.admin_http else {
        eprintln!("myshard rebalance: admin_http is not configured, so the proxy has no endpoint");
        return ExitCode::from(2);
    };
    let addr = crate::status::connect_address(&admin.listen);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("myshard rebalance: {e}");
            return ExitCode::from(1);
        }
    };
    let token = admin.token.as_deref();
    runtime.block_on(async {
        let (method, path) = if execute {
            ("POST", "/rebalance")
        } else {
            ("GET", "/rebalance/plan")
        };
        let answer = match request(&addr, method, path, token, TIMEOUT).await {
            Ok(a) => a,
            Err(e) => {
                eprintln!("myshard rebalance: cannot reach the status endpoint at {addr}: {e}");
                return ExitCode::from(1);
            }
        };
        if !(200..300).contains(&answer.status) {
            eprintln!("myshard rebalance: {} {}", answer.status, why(&answer));
            return ExitCode::from(1);
        }
        let plan: Value = serde_json::from_str(&answer.body).unwrap_or_default();
        print!("{}", render_plan(&plan));
        if !execute {
            return ExitCode::SUCCESS;
        }
        follow(&addr).await
    })
}

/// Follows the running rebalance, printing each move as it is done.
async fn follow(addr: &str) -> ExitCode {
    let (mut shown, mut failures) = (0usize, 0u32);
    loop {
        tokio::time::sleep(POLL).await;
        let state = match request(addr, "GET", "/rebalance", None, TIMEOUT).await {
            Ok(a) if a.status == 200 => serde_json::from_str::<Value>(&a.body).ok(),
            _ => None,
        };
        let Some(state) = state.filter(|s| s.is_object()) else {
            failures += 1;
            if failures >= UNREACHABLE {
                eprintln!("myshard rebalance: lost the proxy; see `myshard migrate status`");
                return ExitCode::from(1);
            }
            continue;
        };
        failures = 0;
        let done = state["done"].as_array().cloned().unwrap_or_default();
        let moves = state["plan"]["moves"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for (id, m) in done.iter().zip(&moves).skip(shown) {
            println!("done: {} (migration {id}, verified)", move_text(m));
        }
        shown = done.len();
        if state["finished"] == true {
            return match state["error"].as_str() {
                Some(e) => {
                    eprintln!("myshard rebalance: stopped: {e}");
                    ExitCode::from(1)
                }
                None => {
                    println!(
                        "rebalanced: {shown} move(s); drop the source copies with `myshard migrate cleanup --id ID`"
                    );
                    ExitCode::SUCCESS
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_prints_one_line_per_move_and_the_totals() {
        let plan = serde_json::json!({
            "moves": [{ "schema": "shop", "shard": 2, "from": "g0", "to": "g1" },
                      { "schema": "shop", "shard": 3, "from": "g0", "to": "g1" }],
            "before": { "g0": 4, "g1": 0 }, "after": { "g0": 2, "g1": 2 } });
        let out = render_plan(&plan);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "2 move(s):", "{out}");
        assert_eq!(lines[1], "  shop 2 g0 → g1", "{out}");
        assert_eq!(lines[2], "  shop 3 g0 → g1", "{out}");
        assert!(
            lines.contains(&"  g0: 4 → 2") && lines.contains(&"  g1: 0 → 2"),
            "{out}"
        );
        let none = serde_json::json!({ "moves": [], "before": {}, "after": {} });
        assert_eq!(render_plan(&none), "balanced: no move needed\n");
    }
}
