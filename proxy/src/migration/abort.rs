//! Aborting a migration before its cut-over: the replication connection is removed and the
//! target's copy dropped, leaving everything as it was. Refused once the shard lives on the
//! target (after the cut-over the target's copy is the shard).

use super::copy::ident;
use super::cutover::write_login;
use crate::server::Shared;
use myshard_failover::promotion::Server;
use std::time::Duration;

/// Bound of each statement.
const STEP: Duration = Duration::from_secs(30);

impl Shared {
    /// Undoes a migration of shard `shard` of `schema` to group `to` that has not cut over.
    pub async fn abort_migration(&self, schema: &str, shard: u32, to: &str) -> Result<(), String> {
        let table = self.table();
        let database = table
            .topology
            .physical_database(schema, shard)
            .ok_or_else(|| format!("schema '{schema}' has no shard {shard}"))?
            .to_string();
        if table.topology.group_of(schema, shard) == Some(to) {
            return Err(format!(
                "shard {shard} of '{schema}' already lives on group '{to}': the migration \
                 cut over and cannot be aborted"
            ));
        }
        self.remove_replication(&database, to).await?;
        let mut target = Server::connect(&write_login(self, to)?, STEP).await?;
        target
            .exec(&format!("DROP DATABASE IF EXISTS {}", ident(&database)))
            .await
    }
}
