//! The migration commands of the status endpoint: `GET /migrations` (the journal with
//! progress),
//! `POST /migrations` with `{"schema", "shard", "to"}` (starts a migration in the
//! background, answers its record at once), `POST /migrations/{id}/abort` (before the
//! cut-over), `POST /migrations/{id}/verify` and `/cleanup` (only after a successful verify). Requests that change state need the bearer token.

use super::refuse_unauthorized;
use crate::migration::Bounds;
use crate::migration::journal;
use crate::server::Shared;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::sync::Arc;

/// The body of `POST /migrations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Start {
    schema: String,
    shard: u32,
    to: String,
}

/// The routes, for the endpoint's router.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/migrations", get(list).post(start))
        .route("/migrations/{id}/abort", post(abort))
        .route("/migrations/{id}/verify", post(verify))
        .route("/migrations/{id}/cleanup", post(cleanup))
}

fn refused(status: StatusCode, error: String) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "ok": false, "error": error })),
    )
        .into_response()
}

async fn list(State(shared): State<Arc<Shared>>) -> Response {
    // The journal with each migration's progress (rows, bytes, speed, ETA, lag).
    match journal::migrations(&shared.config()) {
        Ok(_) => axum::Json(crate::migration::progress::statuses(&shared)).into_response(),
        Err(e) => refused(StatusCode::CONFLICT, e),
    }
}

async fn start(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = refuse_unauthorized(&shared, &headers) {
        return refusal;
    }
    let want: Start = match serde_json::from_slice(&body) {
        Ok(w) => w,
        Err(e) => {
            return refused(
                StatusCode::BAD_REQUEST,
                format!("expected {{\"schema\": …, \"shard\": …, \"to\": …}}: {e}"),
            );
        }
    };
    let m = match shared.begin_migration(&want.schema, want.shard, &want.to) {
        Ok(m) => m,
        Err(e) => return refused(StatusCode::CONFLICT, e),
    };
    let s = shared.clone();
    let run = m.clone();
    tokio::spawn(async move {
        if let Err(e) = s.run_migration(&run, Bounds::default()).await {
            tracing::error!("{e}");
        }
    });
    (StatusCode::ACCEPTED, axum::Json(m)).into_response()
}

async fn abort(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    act(&shared, &headers, async || shared.abort_journaled(id).await).await
}

async fn verify(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    act(&shared, &headers, async || {
        shared.verify_journaled(id).await
    })
    .await
}

async fn cleanup(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    act(&shared, &headers, async || {
        shared.cleanup_journaled(id).await
    })
    .await
}

/// Runs `action` on a migration for an authorized request: the record as it ended, or 409
/// with the reason it was refused.
async fn act(
    shared: &Shared,
    headers: &HeaderMap,
    action: impl AsyncFnOnce() -> Result<journal::MigrationRecord, String>,
) -> Response {
    if let Some(refusal) = refuse_unauthorized(shared, headers) {
        return refusal;
    }
    match action().await {
        Ok(m) => axum::Json(m).into_response(),
        Err(e) => refused(StatusCode::CONFLICT, e),
    }
}
