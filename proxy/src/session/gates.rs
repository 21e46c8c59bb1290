//! Passing the gates of the shards a statement runs on (see [`crate::routing::ShardGate`]):
//! a statement waits at a closed gate (a cut-over in progress) and holds its passages until
//! it has answered, so that a cut-over sees no statement running on the shard.
//!
//! A statement that waited takes the routing table in force when the gate reopens: a
//! cut-over publishes the shard's new placement before reopening, so the held statement
//! re-routes to the shard's new group (its callers re-resolve their targets when
//! [`Session::rerouted`] says the table changed).

use super::Session;
use crate::error::SqlError;
use crate::routing::Passage;
use myshard_router::shard::resolve::Target;

impl Session {
    /// Passes the gates of `targets`' physical databases, in name order (the order closers
    /// use too). Waiting ends like any wait of the statement (KILL, timeout, client gone).
    pub(super) async fn pass_gates(
        &mut self,
        targets: &[Target],
    ) -> Result<Vec<Passage>, SqlError> {
        let mut names: Vec<&str> = targets.iter().map(|t| t.database.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let mut passages = Vec::with_capacity(names.len());
        for name in names {
            passages.extend(self.pass_gate(name).await?);
        }
        Ok(passages)
    }

    /// Passes the gate of physical database `name` (`None`: it has none); an open
    /// transaction records the shard (see [`Session::note_tx_shard`]).
    pub(super) async fn pass_gate(&mut self, name: &str) -> Result<Option<Passage>, SqlError> {
        let passage = self.wait_gate(name).await?;
        if passage.is_some() {
            self.note_tx_shard(name)?;
        }
        Ok(passage)
    }

    /// Waits at the gate of physical database `name` and passes it.
    pub(super) async fn wait_gate(&mut self, name: &str) -> Result<Option<Passage>, SqlError> {
        if self.shared.failover.any_draining() {
            self.wait_drained(name).await?;
        }
        let Some(gate) = self.table.gate(name).cloned() else {
            return Ok(None);
        };
        // Open gates pass at once, without setting up the interrupt watch.
        if let Some(p) = gate.try_pass() {
            // A cut-over may have come and gone since the statement took its table: with
            // the gate passed the placement cannot change, so the table in force is the one
            // to route by (the old one would send the statement to the shard's old copy).
            let now = self.shared.table();
            if now.epoch != self.table.epoch {
                self.table = now;
            }
            return Ok(Some(p));
        }
        let mut interrupter = self.interrupter();
        let passage = tokio::select! {
            p = gate.pass() => p,
            why = interrupter.wait() => return Err(why.error()),
        };
        self.table = self.shared.table();
        Ok(Some(passage))
    }

    /// While a switchover of a group of physical database `name` drains (waits for the
    /// transactions open on its write host), waits unless this session has one of them
    /// open: it may go on to `COMMIT` or `ROLLBACK`.
    async fn wait_drained(&mut self, name: &str) -> Result<(), SqlError> {
        let groups: Vec<String> = self
            .table
            .topology
            .physical_databases()
            .filter(|db| db.database == name)
            .map(|db| db.group.to_owned())
            .collect();
        for group in groups {
            if !self.shared.failover.is_draining(&group) || self.open_in(&group) {
                continue;
            }
            let shared = self.shared.clone();
            let mut interrupter = self.interrupter();
            tokio::select! {
                () = shared.failover.wait_drained(&group) => {}
                why = interrupter.wait() => return Err(why.error()),
            }
        }
        Ok(())
    }

    /// Whether the routing table changed since `epoch` (a statement waited at a gate while
    /// a cut-over published a new placement): its routes must be worked out again.
    pub(super) fn rerouted(&self, epoch: u64) -> bool {
        self.table.epoch != epoch
    }
}
