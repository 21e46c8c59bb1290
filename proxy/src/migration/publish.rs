//! Putting a placement in force: persisted first (a crash after publishing must not route
//! back to the old group on restart), then published as a routing table of a new epoch.

use super::placement::{Placement, PlacementError};
use crate::routing::{RoutingTable, host_for};
use crate::server::Shared;
use std::sync::Arc;

impl Shared {
    /// Restores the persisted placement at start (a corrupt file or one of another cluster
    /// is an error: the proxy must not start routing by a placement it cannot trust).
    pub fn restore_placement(&self) -> Result<(), PlacementError> {
        let config = self.config();
        let placement = Placement::restore(&config)?;
        if !placement.is_empty() {
            for s in placement.shards() {
                tracing::info!(
                    "restored placement: shard {} of '{}' on group '{}'",
                    s.shard,
                    s.schema,
                    s.group
                );
            }
            self.publish_placement(placement);
        }
        Ok(())
    }

    /// Persists `placement`, then publishes it; returns the new table's epoch.
    pub fn persist_placement(&self, placement: Placement) -> Result<u64, PlacementError> {
        placement.save(&self.config())?;
        Ok(self.publish_placement(placement))
    }

    /// Publishes a routing table with `placement` (a new epoch); returns that epoch.
    /// Statements held at a closed gate re-route with it once the gate reopens.
    pub fn publish_placement(&self, placement: Placement) -> u64 {
        let _one_at_a_time = self.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.table();
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let table = RoutingTable::build_placed(
            old.config.clone(),
            old.epoch + 1,
            Some(&old),
            Arc::new(placement),
            &|g| self.failover.active_for(g),
            &mut |a, g| host_for(&mut hosts, a, g),
        );
        drop(hosts);
        let epoch = table.epoch;
        self.table.store(Arc::new(table));
        epoch
    }
}
