//! The scale-out planner on the status endpoint: `GET /rebalance/plan` (the moves that
//! would even out the shards now), `POST /rebalance` (bearer token; runs them one at a
//! time in the background, answers the plan at once) and `GET /rebalance` (the last run:
//! moves done, the one running, the reason it stopped).

use super::refuse_unauthorized;
use crate::migration::Bounds;
use crate::migration::rebalance_run::last_run;
use crate::server::Shared;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

/// The routes, for the endpoint's router.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/rebalance/plan", get(plan))
        .route("/rebalance", get(run).post(start))
}

async fn plan(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.rebalance_plan()).into_response()
}

async fn run() -> Response {
    axum::Json(last_run()).into_response()
}

async fn start(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(refusal) = refuse_unauthorized(&shared, &headers) {
        return refusal;
    }
    if shared.config().state_dir.is_none() {
        let error = "no state_dir configured: migrations cannot be journaled";
        return (
            StatusCode::CONFLICT,
            axum::Json(serde_json::json!({ "ok": false, "error": error })),
        )
            .into_response();
    }
    let plan = match shared.begin_rebalance() {
        Ok(p) => p,
        Err(e) => {
            return (
                StatusCode::CONFLICT,
                axum::Json(serde_json::json!({ "ok": false, "error": e })),
            )
                .into_response();
        }
    };
    let s = shared.clone();
    tokio::spawn(async move {
        let ended = s.run_rebalance(Bounds::default()).await;
        if let Some(e) = ended.error {
            tracing::error!("rebalance stopped: {e}");
        }
    });
    (StatusCode::ACCEPTED, axum::Json(plan)).into_response()
}
