//! The second chance of a read scatter's shard: when the host a lane reads from fails
//! before anything of a shard's answer was delivered (a replica killed, its pooled
//! connections dead), the lane takes a connection to another serving host of the group,
//! chosen like the retry of a single-shard read ([`crate::routing::RoutingTable::read_retry`]),
//! and sends the shard's statement there. A read changes nothing, so sending it again is
//! safe; the merge never saw a byte of the failed attempt.
//!
//! The lane runs in a task of its own, so it carries what taking a connection needs: the
//! routing table snapshot, the session's state to bring the connection in line with, and
//! its interrupter (KILL and statement timeouts still end the wait).

use super::Session;
use crate::backend::PooledConn;
use crate::backend::conn::ConnFlags;
use crate::backend::interrupt::Interrupter;
use crate::error::SqlError;
use crate::routing::{Route, RoutingTable};
use crate::server::Shared;
use crate::state::SessionVars;
use std::sync::Arc;

/// What a read lane needs to go to another host once.
pub(super) struct LaneRetry {
    table: Arc<RoutingTable>,
    flags: ConnFlags,
    /// The route the lane's connection came from.
    failed: Route,
    session: u64,
    vars: SessionVars,
    interrupter: Interrupter,
    shared: Arc<Shared>,
}

impl Session {
    /// The retry of a read lane whose connection came from `failed`.
    pub(super) fn lane_retry(&mut self, failed: Route) -> LaneRetry {
        let mut vars = self.vars.clone();
        vars.database.clone_from(&failed.database);
        LaneRetry {
            table: self.table.clone(),
            flags: self.flags,
            failed,
            session: self.id,
            vars,
            interrupter: self.interrupter(),
            shared: self.shared.clone(),
        }
    }
}

impl LaneRetry {
    /// A connection in line with the session on another serving host than the failed one
    /// (whose connection failed with `error`); none when there is no other host or it
    /// fails too (the caller reports the first error).
    pub(super) async fn reconnect(&mut self, host: &str, error: &SqlError) -> Option<PooledConn> {
        let route = self.table.read_retry(&self.failed, self.flags).ok()?;
        tracing::info!(host = %host, to = %route.host.addr(), error = %error,
            "scatter read retried on another host");
        self.shared.board.metrics.read_retry();
        route.host.note_read();
        let mut interrupter = self.interrupter.clone();
        let mut conn = tokio::select! {
            c = route.pool.checkout(self.session, &self.vars) => c.ok()?,
            _ = interrupter.wait() => return None,
        };
        conn.interrupter = Some(self.interrupter.clone());
        super::query::sync_in_time(&mut conn, &self.vars)
            .await
            .ok()?;
        conn.last_client = self.session;
        self.failed = route;
        Some(conn)
    }
}
