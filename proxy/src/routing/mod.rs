//! Where statements go: the routing table every statement reads one snapshot of, the hosts
//! it routes to (each with its state and pools), and the gates cut-overs close.

mod gate;
mod host;
mod reads;
mod table;

pub use gate::{Closure, Passage, ShardGate};
pub use host::{Host, HostLogin, host_for, pool_settings};
pub use reads::ReadRotation;
pub use table::{GroupRoute, RoutingTable};

use crate::backend::pool::HostPool;
use std::sync::Arc;

/// What a statement will do where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Changes data, locks, or runs in a transaction: the write host.
    Write,
    /// An autocommit read: a host the group's read policy allows, by weight, among
    /// those serving.
    Read,
}

/// Where a statement goes: a group's host, the pool of connections with the session's
/// flags there, and the database those connections select.
#[derive(Debug, Clone)]
pub struct Route {
    /// Group name.
    pub group: Arc<str>,
    /// The host.
    pub host: Arc<Host>,
    /// The host's epoch when the route was made: a transaction that started on the host
    /// under another epoch may not continue there.
    pub epoch: u64,
    /// The host's pool for the session's connection flags.
    pub pool: Arc<HostPool>,
    /// Physical database, if a schema is selected.
    pub database: Option<String>,
    /// What the route was chosen for (a failed read may be retried on another host).
    pub intent: Intent,
}

impl Route {
    /// Identifies the route's pool for caches: the host object and the connection flags.
    pub fn pool_id(&self) -> crate::stmt_cache::PoolId {
        (self.host.id(), self.pool.target().flags)
    }
}

#[cfg(test)]
mod tests;
