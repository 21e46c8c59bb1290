//! Draining a shard at cut-over: the gate closes (new statements wait) and the statements
//! running on the shard get the drain bound to finish. Those still running then are
//! interrupted on the source write host (`KILL QUERY`: the client gets error 1317, the
//! statement rolled back, safe to retry), so a slow statement cannot call the cut-over off;
//! only if the shard still does not drain shortly after is the cut-over abandoned.

use super::cutover::CutOverError;
use crate::routing::{Closure, ShardGate};
use myshard_failover::promotion::Server;
use std::time::Duration;

/// How long interrupted statements may take to hand their passage back.
const AFTER_KILL: Duration = Duration::from_secs(2);

/// Closes `gate` of `database`, interrupting on `source` (the shard's source write host)
/// the statements still running after `drain`: those whose default database is the shard's
/// or whose text names it (the proxy qualifies table names with the physical database).
pub(super) async fn close_draining(
    gate: &ShardGate,
    source: &mut Server,
    database: &str,
    drain: Duration,
) -> Result<Closure, CutOverError> {
    let closing = gate.close();
    tokio::pin!(closing);
    // The pending close keeps new statements waiting while the late ones are interrupted.
    if let Ok(closure) = tokio::time::timeout(drain, &mut closing).await {
        return Ok(closure);
    }
    let late: Vec<u64> = source
        .rows(&format!(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query' \
             AND ID <> CONNECTION_ID() AND (DB = '{name}' OR LOCATE('{name}', INFO) > 0)",
            name = database.replace('\\', "\\\\").replace('\'', "''")
        ))
        .await
        .map_err(CutOverError::Backend)?
        .into_iter()
        .filter_map(|row| row.get::<u64, _>(0))
        .collect();
    for id in &late {
        // A statement that ended meanwhile is no error (1094: unknown thread).
        let _ = source.exec(&format!("KILL QUERY {id}")).await;
    }
    if !late.is_empty() {
        tracing::warn!(
            "cut-over: {} statement(s) on {database} still running after {} ms interrupted",
            late.len(),
            drain.as_millis()
        );
    }
    tokio::time::timeout(AFTER_KILL, &mut closing)
        .await
        .map_err(|_| CutOverError::Busy {
            database: database.to_string(),
            ms: (drain + AFTER_KILL).as_millis(),
        })
}
