//! The shards an open transaction has run statements on, with the group each lived on then.
//!
//! A migration's cut-over waits for the statements running on the shard, not for open
//! transactions between two statements: a transaction may have written the shard on its
//! source group and still be open when the shard moves. Its writes are then on the old copy,
//! which nothing replicates any more, so it must not commit: its next statement on the shard
//! fails (the transaction is aborted, 1105), and `COMMIT` passes the gates of its shards
//! (a cut-over in progress finishes first) and fails with 1180, rolled back everywhere, when
//! one of them moved. Both are the transaction-lost errors a client retries.

use super::Session;
use crate::error::SqlError;
use crate::routing::{Passage, RoutingTable};
use std::sync::Arc;

/// The group physical database `database` lives on in `table`, if it is a shard's.
fn group_of_database(table: &RoutingTable, database: &str) -> Option<(Arc<str>, String)> {
    table
        .topology
        .physical_databases()
        .find(|d| d.database == database)
        .map(|d| {
            let what = match d.shard {
                Some(shard) => format!("shard {shard} of '{}'", d.schema),
                None => format!("schema '{}'", d.schema),
            };
            (Arc::from(d.group), what)
        })
}

/// Why the transaction may not go on with `database` recorded on `group`, if it moved.
fn moved(table: &RoutingTable, database: &str, group: &str) -> Option<String> {
    let (now, what) = group_of_database(table, database)?;
    (&*now != group).then(|| {
        format!(
            "{what} (database {database}) moved from group '{group}' to '{now}' during the \
             transaction (a migration's cut-over)"
        )
    })
}

impl Session {
    /// Records that the open transaction runs a statement on `database` (its gate passed),
    /// or aborts the transaction when the shard moved to another group since it did before.
    pub(super) fn note_tx_shard(&mut self, database: &str) -> Result<(), SqlError> {
        if !self.in_transaction() && !self.vars.autocommit_off() {
            self.tx_shards.clear();
            return Ok(());
        }
        if let Some((_, group)) = self.tx_shards.iter().find(|(d, _)| d == database) {
            return match moved(&self.table, database, group) {
                Some(cause) => Err(self.abort_transaction(cause)),
                None => Ok(()),
            };
        }
        if let Some((group, _)) = group_of_database(&self.table, database) {
            self.tx_shards.push((database.to_string(), group));
        }
        Ok(())
    }

    /// Before `COMMIT`: passes the gates of the transaction's shards (held while the commit
    /// is sent, so a cut-over cannot read the source's position in between), then checks
    /// that none moved. A moved one rolls the transaction back: 1180, committed nowhere.
    pub(super) async fn commit_gates(&mut self) -> Result<Vec<Passage>, SqlError> {
        let mut names: Vec<String> = self.tx_shards.iter().map(|(d, _)| d.clone()).collect();
        names.sort_unstable();
        names.dedup();
        let mut passages = Vec::with_capacity(names.len());
        for name in &names {
            passages.extend(self.wait_gate(name).await?);
        }
        let table = self.shared.table();
        let cause = self.tx_shards.iter().find_map(|(d, g)| moved(&table, d, g));
        self.tx_shards.clear();
        let Some(cause) = cause else {
            return Ok(passages);
        };
        self.abort_transaction(cause.clone());
        // The failed COMMIT ends the transaction, as on a server.
        self.forget_loss();
        Err(SqlError::new(
            1180,
            b"HY000",
            format!(
                "Got error during COMMIT: {cause}; the transaction was rolled back and committed nowhere"
            ),
        ))
    }
}
