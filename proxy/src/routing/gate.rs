//! The gate of a shard (one physical database): statements pass it while they run; a
//! cut-over closes it, which makes new statements wait and waits for the running ones, then
//! reopens it after the placement changed.
//!
//! A statement reaching several shards passes their gates in database-name order, and a
//! cut-over closing several gates must close them in the same order, so that the two never
//! wait for each other in a cycle.

use std::sync::Arc;
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

/// The gate of one shard.
#[derive(Debug, Default)]
pub struct ShardGate {
    lock: Arc<RwLock<()>>,
}

/// Held by a statement while it runs on the shard.
#[derive(Debug)]
pub struct Passage(#[allow(dead_code)] OwnedRwLockReadGuard<()>);

/// Held while the gate is closed; dropping it reopens the gate.
#[derive(Debug)]
pub struct Closure(#[allow(dead_code)] OwnedRwLockWriteGuard<()>);

impl ShardGate {
    /// Waits while the gate is closed (or a closer waits for it), then lets the statement
    /// through until the returned passage is dropped.
    pub async fn pass(&self) -> Passage {
        Passage(self.lock.clone().read_owned().await)
    }

    /// Passes at once if the gate is open and no closer waits.
    pub fn try_pass(&self) -> Option<Passage> {
        self.lock.clone().try_read_owned().ok().map(Passage)
    }

    /// Closes the gate: new statements wait from now on; returns once the statements that
    /// were running on the shard have finished.
    pub async fn close(&self) -> Closure {
        Closure(self.lock.clone().write_owned().await)
    }
}
