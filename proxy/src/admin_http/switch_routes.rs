//! `POST /switch` (a planned switchover of a group's write host: JSON `{"group": "g0",
//! "to": "host:port"}`, `to` optional) and `POST /rejoin` (JSON `{"group", "host"}`), both
//! needing the bearer token; and the failover part of `/status` and `/metrics`.

use crate::failover::{SwitchError, SwitchRecord};
use crate::server::Shared;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use myshard_failover::SwitchReason;
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::sync::Arc;

/// The body of `POST /switch`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SwitchBody {
    group: String,
    #[serde(default)]
    to: Option<String>,
}

/// The body of `POST /rejoin`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RejoinBody {
    group: String,
    host: String,
}

fn bad_body(e: serde_json::Error, expected: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({
            "ok": false,
            "error": format!("the body must be JSON {expected}: {e}"),
        })),
    )
        .into_response()
}

fn refused(e: &SwitchError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    (
        status,
        axum::Json(serde_json::json!({ "ok": false, "error": e.to_string() })),
    )
        .into_response()
}

/// `POST /switch`.
pub(super) async fn post_switch(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(refusal) = super::refuse_unauthorized(&shared, &headers) {
        return refusal;
    }
    let body: SwitchBody = match serde_json::from_str(&body) {
        Ok(b) => b,
        Err(e) => return bad_body(e, r#"{"group": "g0", "to": "host:port"} ("to" optional)"#),
    };
    match shared
        .switch_write_host(&body.group, SwitchReason::Switchover, body.to)
        .await
    {
        Ok(record) => {
            axum::Json(serde_json::json!({ "ok": true, "switch": record })).into_response()
        }
        Err(e) => refused(&e),
    }
}

/// `POST /rejoin`.
pub(super) async fn post_rejoin(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(refusal) = super::refuse_unauthorized(&shared, &headers) {
        return refusal;
    }
    let body: RejoinBody = match serde_json::from_str(&body) {
        Ok(b) => b,
        Err(e) => return bad_body(e, r#"{"group": "g0", "host": "host:port"}"#),
    };
    match crate::failover::rejoin(&shared, &body.group, &body.host).await {
        Ok(done) => axum::Json(serde_json::json!({ "ok": true, "done": done })).into_response(),
        Err(e) => refused(&e),
    }
}

/// A group's failover state in `/status`.
#[derive(Debug, Serialize)]
pub struct FailoverStatus {
    /// `off`, `manual` or `automatic`.
    pub mode: &'static str,
    /// The active write host the proxy decided (none: the first candidate, never switched).
    pub decided_write_host: Option<String>,
    /// Switches of the group recorded in the decision so far.
    pub decision_epoch: u64,
    /// Former write hosts, fenced.
    pub fenced_hosts: Vec<String>,
    /// Whether a switch runs now.
    pub switching: bool,
    /// Why the write host, down, was not switched automatically (until it serves again).
    pub not_switched_because: Option<String>,
    /// Why the GTID domain rule refuses automatic failover of the group (checked at start
    /// and after a reload), if it does.
    pub domain_check: Option<String>,
    /// The last switches, oldest first.
    pub switches: Vec<SwitchRecord>,
}

/// The failover state of `group`.
pub fn failover_status(shared: &Shared, group: &str) -> FailoverStatus {
    let config = shared.config();
    let mode = match config.group(group).map(|g| g.failover.mode) {
        Some(myshard_config::FailoverMode::Manual) => "manual",
        Some(myshard_config::FailoverMode::Automatic) => "automatic",
        _ => "off",
    };
    let f = &shared.failover;
    let decision = f.decision(group);
    FailoverStatus {
        mode,
        decided_write_host: decision.as_ref().map(|d| d.write_host.clone()),
        decision_epoch: decision.map_or(0, |d| d.epoch),
        fenced_hosts: f.fenced_hosts(group),
        switching: f.is_switching(group),
        not_switched_because: f.history.refusal(group),
        domain_check: f.domain_refusal(group),
        switches: f.history.of_group(group),
    }
}

/// The failover series of `/metrics`.
pub fn render_failover(out: &mut String, shared: &Shared) {
    let h = &shared.failover.history;
    let _ = writeln!(
        out,
        "# HELP myshard_write_host_switches_total Write host switches by group, reason and result.\n\
         # TYPE myshard_write_host_switches_total counter"
    );
    for ((group, reason), c) in h.counts() {
        for (result, v) in [("done", c.done), ("failed", c.failed)] {
            let _ = writeln!(
                out,
                "myshard_write_host_switches_total{{group=\"{}\",reason=\"{reason}\",result=\"{result}\"}} {v}",
                group.replace('\\', "\\\\").replace('"', "\\\"")
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP myshard_switch_held_statements_total Writes held by a write host switch that then ran on the new write host.\n\
         # TYPE myshard_switch_held_statements_total counter\n\
         myshard_switch_held_statements_total {}",
        h.held_statements()
    );
    let _ = writeln!(
        out,
        "# HELP myshard_switch_hold_seconds_total Time groups' writes were held by switches.\n\
         # TYPE myshard_switch_hold_seconds_total counter\n\
         myshard_switch_hold_seconds_total {}",
        h.hold_ms_total() as f64 / 1000.0
    );
}
