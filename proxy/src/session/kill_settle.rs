//! A statement relayed from one backend connection waits, before the connection serves
//! anything else, for the `KILL QUERY`s sent to it (see [`crate::backend::kills`]): a kill
//! that lands late would hit the next statement on it — of this session, or of another
//! one once the connection is back in the pool, where it may silently empty a shard of a
//! merge. A connection whose kills did not settle in time is discarded.

use super::Session;
use crate::backend::PooledConn;
use crate::backend::interrupt::Why;
use crate::backend::kills::KILLS_SETTLE;

impl Session {
    /// The session's count of backend kills started so far (taken before the statement is
    /// marked running).
    pub(super) fn kills_started(&self) -> u64 {
        self.control.backend_kills.started()
    }

    /// Once `conn` no longer runs the statement: waits for kills started since `since`;
    /// `conn` is discarded if they did not settle.
    pub(super) async fn settle_kills_on(&mut self, since: u64, conn: &mut PooledConn) {
        let kills = self.control.backend_kills.clone();
        if kills.started() == since {
            return;
        }
        let limit = match *self.control.interrupt.borrow() {
            Some(Why::Killed) => std::time::Duration::ZERO,
            _ => KILLS_SETTLE,
        };
        if !kills.settle(limit).await {
            conn.broken = true;
            conn.interrupted = conn.interrupted.or(Some(Why::KillQuery));
        }
    }
}
