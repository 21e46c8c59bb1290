//! Holding a group's statements during a switch: its shards' gates are closed (in database
//! name order, as statements pass them) by a task that keeps them closed until released.
//!
//! A closer waiting for the statements still running already stops new ones (the gate's
//! lock is fair), so a failover need not wait for statements stuck on a dead host: it
//! holds from the moment it starts. A switchover waits until the running statements have
//! finished ([`Hold::closed`]), bounded by the group's `max_hold_ms`.

use crate::routing::{RoutingTable, ShardGate};
use std::sync::Arc;
use tokio::sync::oneshot;

/// The gates of one group being held; dropping it (or [`Hold::release`]) reopens them.
#[derive(Debug)]
pub struct Hold {
    release: Option<oneshot::Sender<()>>,
    closed: Option<oneshot::Receiver<()>>,
}

impl Hold {
    /// Starts closing the gates of every physical database of `group` in `table`.
    pub fn start(table: &RoutingTable, group: &str) -> Hold {
        let mut names: Vec<&str> = table
            .topology
            .physical_databases()
            .filter(|db| db.group == group)
            .map(|db| db.database)
            .collect();
        names.sort_unstable();
        names.dedup();
        let gates: Vec<Arc<ShardGate>> = names
            .iter()
            .filter_map(|n| table.gate(n).cloned())
            .collect();
        let (release, mut released) = oneshot::channel::<()>();
        let (closed_tx, closed) = oneshot::channel();
        tokio::spawn(async move {
            let mut closures = Vec::with_capacity(gates.len());
            for gate in gates {
                tokio::select! {
                    c = gate.close() => closures.push(c),
                    _ = &mut released => return,
                }
            }
            let _ = closed_tx.send(());
            let _ = released.await;
            drop(closures);
        });
        Hold {
            release: Some(release),
            closed: Some(closed),
        }
    }

    /// Waits until every gate is closed: the statements that were running have finished.
    pub async fn closed(&mut self) {
        if let Some(rx) = self.closed.take() {
            let _ = rx.await;
        }
    }

    /// Reopens the gates (statements held run, on the table in force now).
    pub fn release(mut self) {
        if let Some(tx) = self.release.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if let Some(tx) = self.release.take() {
            let _ = tx.send(());
        }
    }
}
