//! Letting open transactions finish before a planned switchover: each transaction open on
//! a write host holds an [`OpenTransaction`] (counted per host); while a switchover of the
//! group *drains*, new statements of the group wait ([`FailoverState::wait_drained`]) but
//! sessions with a transaction open on the old write host go on, so that their `COMMIT`
//! or `ROLLBACK` succeeds. The switchover waits until none is open (bounded); those still
//! open then fail at their next statement, as after any switch (participants).

use super::FailoverState;
use hashbrown::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How many transactions are open on each write host (by address).
#[derive(Debug)]
pub struct OpenTransactions {
    counts: Mutex<HashMap<Arc<str>, usize>>,
    /// Bumped whenever a count drops.
    ended: watch::Sender<u64>,
}

impl Default for OpenTransactions {
    fn default() -> Self {
        OpenTransactions {
            counts: Mutex::default(),
            ended: watch::Sender::new(0),
        }
    }
}

impl OpenTransactions {
    /// How many transactions are open on `addr`.
    pub fn on(&self, addr: &str) -> usize {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(addr).copied().unwrap_or(0)
    }

    fn add(&self, addr: &Arc<str>) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(addr.clone()).or_default() += 1;
    }

    fn remove(&self, addr: &str) {
        {
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = counts.get_mut(addr) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    counts.remove(addr);
                }
            }
        }
        self.ended.send_modify(|n| *n += 1);
    }
}

/// A transaction open on a write host: counted until dropped (the transaction ended, or
/// the session closed).
#[derive(Debug)]
pub struct OpenTransaction {
    all: Arc<OpenTransactions>,
    addr: Arc<str>,
}

impl OpenTransaction {
    /// Counts a transaction open on `addr`.
    pub fn new(all: &Arc<OpenTransactions>, addr: &Arc<str>) -> OpenTransaction {
        all.add(addr);
        OpenTransaction {
            all: all.clone(),
            addr: addr.clone(),
        }
    }
}

impl Clone for OpenTransaction {
    fn clone(&self) -> Self {
        OpenTransaction::new(&self.all, &self.addr)
    }
}

impl Drop for OpenTransaction {
    fn drop(&mut self) {
        self.all.remove(&self.addr);
    }
}

/// The groups draining now.
#[derive(Debug, Default)]
pub struct Draining {
    groups: Mutex<HashSet<String>>,
    /// How many groups drain (checked on every gate passage without a lock).
    count: AtomicUsize,
}

impl FailoverState {
    /// Whether any group drains now (cheap: the common case is no).
    pub fn any_draining(&self) -> bool {
        self.draining.count.load(Ordering::Acquire) > 0
    }

    /// Whether `group` drains now.
    pub fn is_draining(&self, group: &str) -> bool {
        let groups = self
            .draining
            .groups
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        groups.contains(group)
    }

    fn set_draining(&self, group: &str, on: bool) {
        {
            let mut groups = self
                .draining
                .groups
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let changed = if on {
                groups.insert(group.to_owned())
            } else {
                groups.remove(group)
            };
            if changed {
                self.draining.count.store(groups.len(), Ordering::Release);
            }
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// Waits until `group` no longer drains (woken by every switch change, and looking
    /// every 50 ms besides, so that a missed wake costs little).
    pub async fn wait_drained(&self, group: &str) {
        let mut changes = self.watch();
        while self.is_draining(group) {
            let _ = tokio::time::timeout(Duration::from_millis(50), changes.changed()).await;
        }
    }

    /// Drains `group` whose write host is `addr`: from now on its new statements wait
    /// (until [`Drain::end`]); returns once no transaction is open on `addr` or `limit` has
    /// passed, with how many are still open.
    pub(super) async fn drain(
        &self,
        group: &str,
        addr: &str,
        limit: Duration,
    ) -> (Drain<'_>, usize) {
        self.set_draining(group, true);
        let drain = Drain {
            state: self,
            group: group.to_owned(),
        };
        let mut ended = self.open.ended.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let open = self.open.on(addr);
            if open == 0 || tokio::time::Instant::now() >= deadline {
                return (drain, open);
            }
            let _ = tokio::time::timeout_at(deadline, ended.changed()).await;
        }
    }
}

/// A group draining; ends when dropped (statements waiting go on, to the gates, closed by
/// then).
pub(super) struct Drain<'a> {
    state: &'a FailoverState,
    group: String,
}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        self.state.set_draining(&self.group, false);
    }
}
