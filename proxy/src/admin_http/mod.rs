//! The HTTP status endpoint (`admin_http` in the configuration): `GET /status` (JSON),
//! `GET /metrics` (Prometheus text), `GET /health` (200 ready / 503 not ready),
//! `POST /reload`, `POST /switch` and `POST /rejoin` (bearer token required). It only reads the routing table and the counters;
//! the one thing it changes, the configuration, goes through [`Shared::reload_from`].
//!
//! It binds loopback by default and is off unless configured. Requests that change state are
//! refused unless a token is configured and presented.

pub mod board;
pub mod client;
pub mod metrics;
pub mod migrations;
pub mod rebalance_routes;
pub mod status;
pub mod switch_routes;

pub use board::{HostReport, ReloadEntry, StatusBoard};
pub use metrics::{Metrics, RouteKind, reads_by_keyword};

use crate::server::Shared;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Binds `listen` and serves the endpoint until `stop` turns true; returns the bound address.
pub async fn start(
    listen: &str,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/status", get(get_status))
        .route("/metrics", get(get_metrics))
        .route("/health", get(get_health))
        .route("/reload", post(post_reload))
        .route("/switch", post(switch_routes::post_switch))
        .route("/rejoin", post(switch_routes::post_rejoin))
        .merge(migrations::routes())
        .merge(rebalance_routes::routes())
        .with_state(shared);
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "the status endpoint stopped");
        }
    });
    Ok(addr)
}

async fn get_status(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(status::status(&shared)).into_response()
}

async fn get_metrics(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics::render(&shared),
    )
        .into_response()
}

async fn get_health(State(shared): State<Arc<Shared>>) -> Response {
    let table = shared.table();
    let problems = status::not_ready(table.groups());
    if problems.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let body = format!("not ready: {}\n", problems.join("; "));
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

/// Whether `given` equals `expected`, comparing every byte whatever differs first (so that
/// the time taken does not tell how much of a guess was right).
fn same_token(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Refusal of a state-changing request, or `None` when its token is right.
fn refuse_unauthorized(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let config = shared.config();
    let Some(expected) = config.admin_http.as_ref().and_then(|a| a.token.clone()) else {
        return Some(
            (
                StatusCode::FORBIDDEN,
                "no admin_http.token is configured: requests that change state are refused\n",
            )
                .into_response(),
        );
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        None => Some(
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "this request needs `Authorization: Bearer <admin_http.token>`\n",
            )
                .into_response(),
        ),
        Some(t) if !same_token(t.trim().as_bytes(), expected.as_bytes()) => {
            Some((StatusCode::FORBIDDEN, "wrong token\n").into_response())
        }
        Some(_) => None,
    }
}

async fn post_reload(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(refusal) = refuse_unauthorized(&shared, &headers) {
        return refusal;
    }
    let Some(path) = shared.board.config_path() else {
        return (
            StatusCode::CONFLICT,
            "the proxy was started without a configuration file: nothing to reload\n",
        )
            .into_response();
    };
    // Reading and validating the file is blocking work, done off the async workers.
    let s = shared.clone();
    match tokio::task::spawn_blocking(move || s.reload_from(&path)).await {
        Ok(Ok(report)) => axum::Json(serde_json::json!({
            "ok": true,
            "epoch": report.epoch,
            "summary": report.plan.to_string(),
        }))
        .into_response(),
        Ok(Err(e)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(serde_json::json!({ "ok": false, "error": e.to_string() })),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reload failed: {e}\n"),
        )
            .into_response(),
    }
}
