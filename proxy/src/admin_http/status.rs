//! The `/status` document: groups, their hosts with role, state and pool usage, client
//! sessions, the routing table epoch and the reload history. Its shape is documented in the
//! README and read back by `myshard status`.

use super::board::{HostReport, ReloadEntry};
use crate::routing::{GroupRoute, Host};
use crate::server::Shared;
use serde::Serialize;
use std::sync::Arc;

/// The whole document.
#[derive(Debug, Serialize)]
pub struct Status {
    /// Epoch of the routing table in force.
    pub epoch: u64,
    /// Whether every group has a serving write host (what `/health` answers).
    pub ready: bool,
    /// Logged-in client connections.
    pub client_sessions: usize,
    /// Connections still in the handshake.
    pub handshakes: usize,
    /// The configuration file reloads read, if known.
    pub config_path: Option<String>,
    /// Every group, in configuration order.
    pub groups: Vec<GroupStatus>,
    /// The last reloads, oldest first.
    pub reloads: Vec<ReloadEntry>,
    /// Shard migrations (the journal, with copy progress), oldest first.
    pub migrations: Vec<crate::migration::progress::MigrationStatus>,
}

/// One group.
#[derive(Debug, Serialize)]
pub struct GroupStatus {
    /// Group name.
    pub name: String,
    /// The host taking writes now, if any.
    pub write_host: Option<String>,
    /// The write host first, then the read hosts.
    pub hosts: Vec<HostStatusDoc>,
    /// Failover: the decided write host, fenced hosts, switch history.
    pub failover: super::switch_routes::FailoverStatus,
}

/// One host of a group.
#[derive(Debug, Serialize)]
pub struct HostStatusDoc {
    /// `host:port` or `unix:/path`.
    pub address: String,
    /// `write` or `read`.
    pub role: &'static str,
    /// `up`, `down`, `catching up`, `draining` or `fenced`.
    pub state: &'static str,
    /// The host state's epoch (raised by every change).
    pub state_epoch: u64,
    /// Since when it is in that state, seconds since the Unix epoch (its creation when it
    /// never changed).
    pub since: f64,
    /// Connection pool usage.
    pub pool: PoolUsage,
    /// The health monitor's latest report, when a monitor runs.
    pub health: Option<HostReport>,
}

/// A host's pools together (one per set of connection flags, under one limit).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PoolUsage {
    /// Open connections, idle or in use.
    pub open: usize,
    /// Idle connections.
    pub idle: usize,
    /// The host's connection limit.
    pub max: usize,
    /// Checkouts that queued at the limit.
    pub waits: u64,
    /// Queued checkouts that timed out.
    pub wait_timeouts: u64,
}

impl PoolUsage {
    /// The usage of `host`'s pools now.
    pub fn of(host: &Host) -> PoolUsage {
        let mut u = PoolUsage {
            max: host.settings().max,
            ..PoolUsage::default()
        };
        for p in host.pools() {
            let s = p.stats();
            u.open += s.open;
            u.idle += s.idle;
            u.max = s.max;
            u.waits += s.waits;
            u.wait_timeouts += s.wait_timeouts;
        }
        u
    }
}

/// Whether every group has a write host that serves.
pub fn ready(groups: &[GroupRoute]) -> bool {
    groups
        .iter()
        .all(|g| g.write.as_ref().is_some_and(|h| h.state().serves()))
}

/// The groups whose write host is missing or does not serve, with its state.
pub fn not_ready(groups: &[GroupRoute]) -> Vec<String> {
    groups
        .iter()
        .filter_map(|g| match &g.write {
            None => Some(format!("group '{}' has no write host", g.name)),
            Some(h) if !h.state().serves() => Some(format!(
                "group '{}': write host {} is {}",
                g.name,
                h.addr(),
                h.state().name()
            )),
            Some(_) => None,
        })
        .collect()
}

/// The document now.
pub fn status(shared: &Shared) -> Status {
    let table = shared.table();
    let records = shared.host_records();
    let host = |h: &Arc<Host>, role| HostStatusDoc {
        address: h.addr().to_string(),
        role,
        state: h.state().name(),
        state_epoch: h.epoch(),
        since: h.since(),
        pool: PoolUsage::of(h),
        health: shared
            .board
            .host_report(h.addr())
            .or_else(|| records.iter().find(|r| r.addr == **h.addr()).map(report_of)),
    };
    let groups = table
        .groups()
        .iter()
        .map(|g| GroupStatus {
            name: g.name.to_string(),
            write_host: g.write.as_ref().map(|h| h.addr().to_string()),
            hosts: g
                .write
                .iter()
                .map(|h| host(h, "write"))
                .chain(g.reads.iter().map(|h| host(h, "read")))
                .collect(),
            failover: super::switch_routes::failover_status(shared, &g.name),
        })
        .collect();
    Status {
        epoch: table.epoch,
        ready: ready(table.groups()),
        client_sessions: shared.client_count(),
        handshakes: shared.handshake_count(),
        config_path: shared.board.config_path().map(|p| p.display().to_string()),
        groups,
        reloads: shared.board.reloads(),
        migrations: crate::migration::progress::statuses(shared),
    }
}

/// The health monitor's record of a host as the status document shows it.
fn report_of(r: &myshard_failover::HostRecord) -> HostReport {
    let threads = match (&r.io_thread, &r.sql_thread) {
        (None, None) => None,
        (io, sql) => Some(format!(
            "io: {}, sql: {}",
            io.as_deref().unwrap_or("-"),
            sql.as_deref().unwrap_or("-")
        )),
    };
    HostReport {
        last_error: r.last_error.clone(),
        lag_seconds: r.lag_seconds.map(|l| l as f64),
        gtid_position: r.gtid_current_pos.clone(),
        gtid_applied: r.gtid_slave_pos.clone(),
        gtid_lag_ms: r.gtid_lag_ms,
        behind_gtid: r.behind_gtid.clone(),
        read_only: r.read_only,
        replicates_from: r.replicates_from.clone(),
        replication_threads: threads,
        checked_at: r.last_check_unix_ms.map(|ms| ms as f64 / 1000.0),
    }
}
