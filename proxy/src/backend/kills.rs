//! Backend `KILL QUERY`s a session's statement was sent, while they are on their way.
//!
//! `KILL QUERY` of a proxy session reaches its backend statements through separate
//! connections, so it lands some milliseconds later — possibly after the statement it was
//! meant for has ended and the backend connection runs the next one (of the same pinned
//! session, or of another session once the connection is back in the pool). And a killed
//! backend statement does not always fail: MariaDB may end a `SELECT` interrupted early
//! (while it plans) with an empty result and no error. One shard answering so in a merged
//! SELECT would silently drop that shard's rows. So a statement that ran backend
//! statements waits for the kills sent to them before it answers or lets its connections
//! go, and a merge that saw a kill answers with the kill's error, never with rows that may
//! miss a shard.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// How long a statement waits for the backend kills sent to it before it gives up on them
/// and discards the connections they may still land on (a healthy backend takes a few
/// milliseconds; a hung one must not hold the session).
pub const KILLS_SETTLE: Duration = Duration::from_millis(300);

/// The backend kills under way for one session.
#[derive(Debug, Default)]
pub struct BackendKills {
    in_flight: AtomicUsize,
    /// Kills started so far (a statement compares it before and after).
    started: AtomicU64,
    settled: Notify,
}

/// One backend kill under way; it counts as settled once dropped.
#[derive(Debug)]
pub struct KillTicket(std::sync::Arc<BackendKills>);

impl BackendKills {
    /// Counts one more kill under way (call it before the kill can be sent, while the
    /// session's running statements are locked, so the statement sees it when it settles).
    pub fn start(self: &std::sync::Arc<Self>) -> KillTicket {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.started.fetch_add(1, Ordering::AcqRel);
        KillTicket(self.clone())
    }

    /// How many kills were started so far.
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::Acquire)
    }

    /// Waits until no kill is under way; false if some still were after `limit`.
    pub async fn settle(&self, limit: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.settled.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.in_flight.load(Ordering::Acquire) == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }
}

impl Drop for KillTicket {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.settled.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn settles_once_every_ticket_is_dropped() {
        let kills = Arc::new(BackendKills::default());
        assert!(kills.settle(Duration::from_millis(10)).await);
        let ticket = kills.start();
        assert_eq!(kills.started(), 1);
        assert!(!kills.settle(Duration::from_millis(20)).await);
        let k = kills.clone();
        let waiter = tokio::spawn(async move { k.settle(Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(ticket);
        assert!(waiter.await.unwrap_or(false));
    }
}
