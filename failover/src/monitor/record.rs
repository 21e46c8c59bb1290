//! What the health monitor knows about one host, as the status endpoint shows it: plain
//! serializable structs, copied out of the monitor by [`crate::Monitor::snapshot`].

use serde::Serialize;
use std::time::{SystemTime, UNIX_EPOCH};

/// Role changes kept per host (the oldest are dropped).
pub const ROLE_CHANGES_KEPT: usize = 20;

/// What a host is to its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The active write host.
    Write,
    /// A read host (replica).
    Read,
}

/// The monitor's record of one host of one group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostRecord {
    /// Group name.
    pub group: String,
    /// `host:port` or `unix:/path`.
    pub addr: String,
    /// Its role in the group.
    pub role: Role,
    /// State name: `up`, `down`, `catching up`.
    pub state: String,
    /// Since when it is in that state, ms since the Unix epoch.
    pub since_unix_ms: u64,
    /// When the last heartbeat ended, ms since the Unix epoch.
    pub last_check_unix_ms: Option<u64>,
    /// Why the last heartbeat failed, or why the host is catching up; none when all is well.
    pub last_error: Option<String>,
    /// `@@read_only` at the last heartbeat that reached it.
    pub read_only: Option<bool>,
    /// `@@gtid_current_pos` (GTID hosts).
    pub gtid_current_pos: Option<String>,
    /// `Gtid_Slave_Pos`: what it has applied from its source (replicas).
    pub gtid_slave_pos: Option<String>,
    /// Replication lag, seconds: the larger of `Seconds_Behind_Master` (the largest over
    /// its replication connections) and the lag measured from GTID positions.
    pub lag_seconds: Option<u64>,
    /// Lag measured from GTID positions, milliseconds: how long ago the monitor first saw
    /// the primary at a position this replica has not applied (0: it has all; none: not
    /// measured — not a GTID replica, or the primary not seen yet).
    pub gtid_lag_ms: Option<u64>,
    /// The oldest primary GTID position the replica has not applied, if any.
    pub behind_gtid: Option<String>,
    /// `Slave_IO_Running` of each replication connection, comma-separated.
    pub io_thread: Option<String>,
    /// `Slave_SQL_Running` of each replication connection, comma-separated.
    pub sql_thread: Option<String>,
    /// `host:port` of each source it replicates from, comma-separated.
    pub replicates_from: Option<String>,
    /// Changes of role the host made by itself, oldest first.
    pub role_changes: Vec<RoleChange>,
}

/// A change of role noticed by the monitor (read_only flipped, a replica became writable,
/// replication points elsewhere).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleChange {
    /// When it was noticed, ms since the Unix epoch.
    pub at_unix_ms: u64,
    /// What changed, in words.
    pub what: String,
}

impl HostRecord {
    /// A fresh record of a host assumed serving.
    pub fn new(group: &str, addr: &str, role: Role) -> HostRecord {
        HostRecord {
            group: group.to_owned(),
            addr: addr.to_owned(),
            role,
            state: crate::HostState::Up.name().to_owned(),
            since_unix_ms: now_unix_ms(),
            last_check_unix_ms: None,
            last_error: None,
            read_only: None,
            gtid_current_pos: None,
            gtid_slave_pos: None,
            lag_seconds: None,
            gtid_lag_ms: None,
            behind_gtid: None,
            io_thread: None,
            sql_thread: None,
            replicates_from: None,
            role_changes: Vec::new(),
        }
    }

    /// Notes a role change, keeping the last [`ROLE_CHANGES_KEPT`].
    pub fn note_role_change(&mut self, what: String) {
        if self.role_changes.len() >= ROLE_CHANGES_KEPT {
            self.role_changes.remove(0);
        }
        self.role_changes.push(RoleChange {
            at_unix_ms: now_unix_ms(),
            what,
        });
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
