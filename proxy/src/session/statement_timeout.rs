//! The statement timeout (`limits.statement_timeout_ms`, `users[].statement_timeout_ms`)
//! ends a statement the way MariaDB's `max_statement_time` does: only the statement. At
//! the deadline the backends running it are sent `KILL QUERY`; a backend that answers
//! (its 1317 error, relayed as 1969 "max_statement_time exceeded") keeps its connection,
//! and with it the client's transaction and pinned state. Only a backend that has not
//! answered within the kill grace (hung, paused) has its connection discarded, and an
//! open transaction is then lost (see `faults`).
//!
//! Also home of the backend `KILL QUERY` sending shared with the `KILL QUERY` command.

use super::Session;
use crate::backend::BackendConn;
use crate::backend::interrupt::{OnTimeout, Why};
use crate::error::SqlError;
use crate::server::ConnControl;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Sends `KILL QUERY` for every backend statement `control`'s session is running, each on
/// a separate connection to its host, counted in the session's backend kills while under
/// way. Returns how many were sent.
pub(super) fn kill_backend_queries(control: &ConnControl) -> usize {
    // Counted under the lock, so a statement that has stopped running waits for them.
    let running: Vec<_> = match control.running.lock() {
        Ok(r) => r
            .iter()
            .map(|(p, t)| (p.clone(), *t, control.backend_kills.start()))
            .collect(),
        Err(_) => Vec::new(),
    };
    let n = running.len();
    for (pool, thread, ticket) in running {
        tokio::spawn(async move {
            let _ticket = ticket;
            if let Ok(mut c) = BackendConn::connect(pool.target(), None).await {
                let limit = pool.target().connect_timeout;
                let sql = format!("KILL QUERY {thread}");
                let _ = tokio::time::timeout(limit, c.query_rows(&sql)).await;
            }
        });
    }
    n
}

/// One statement's timeout action: the kills, sent once, by whichever of the statement's
/// waits reaches the deadline first.
#[derive(Debug)]
pub(super) struct TimeoutKill {
    control: Arc<ConnControl>,
    /// Set before the kills are sent, so that a shard reader about to start a queued shard
    /// sees it as early as possible (its statement would otherwise escape the kill).
    fired: AtomicBool,
    /// Once fired: whether backend statements were running then.
    sent: Mutex<Option<bool>>,
}

impl TimeoutKill {
    /// The action for a statement of the session `control` belongs to.
    pub(super) fn new(control: Arc<ConnControl>) -> Self {
        TimeoutKill {
            control,
            fired: AtomicBool::new(false),
            sent: Mutex::new(None),
        }
    }
}

impl OnTimeout for TimeoutKill {
    fn fire(&self) -> bool {
        let Ok(mut sent) = self.sent.lock() else {
            // A poisoned lock: nothing to wait for, the wait is cut at once.
            self.fired.store(true, Ordering::Release);
            return false;
        };
        *sent.get_or_insert_with(|| {
            self.fired.store(true, Ordering::Release);
            let n = kill_backend_queries(&self.control);
            tracing::info!(
                backend_statements = n,
                "statement timeout: the backends were asked to end the statement"
            );
            n > 0
        })
    }

    fn fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }
}

impl Session {
    /// A backend's error for the running statement as the client sees it: the 1317 the
    /// statement timeout's kill causes is MariaDB's timeout error (1969).
    pub(super) fn timeout_error(&self, e: SqlError) -> SqlError {
        if e.code == 1317 && self.timed_out() {
            Why::TimedOut.error()
        } else {
            e
        }
    }
}
