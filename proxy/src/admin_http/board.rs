//! What the status endpoint reports beyond the routing table: the counters, the reload
//! history, the configuration file's path (for `POST /reload`) and the health monitor's
//! latest report per host.

use super::metrics::Metrics;
use crate::reload::ReloadReport;
use hashbrown::HashMap;
use myshard_config::ReloadError;
use serde::Serialize;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Reloads kept in the history (the oldest are dropped).
pub const RELOAD_HISTORY: usize = 20;

/// One reload, as `/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadEntry {
    /// When it ended, seconds since the Unix epoch.
    pub time: f64,
    /// Whether the new configuration was put in force.
    pub ok: bool,
    /// The routing table epoch it put in force (none when it failed).
    pub epoch: Option<u64>,
    /// What changed, or why it was refused.
    pub summary: String,
}

/// The health monitor's latest findings about one host (it writes them with
/// [`StatusBoard::set_host_report`]); every field is optional so that the monitor reports
/// what it knows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HostReport {
    /// The last check's error, if it failed.
    pub last_error: Option<String>,
    /// Replication lag, seconds.
    pub lag_seconds: Option<f64>,
    /// The host's GTID position (`gtid_current_pos`).
    pub gtid_position: Option<String>,
    /// What a replica has applied from its source (`gtid_slave_pos`).
    pub gtid_applied: Option<String>,
    /// A replica's lag measured from GTID positions, milliseconds (also while its SQL
    /// thread is stopped, when the server reports no lag).
    pub gtid_lag_ms: Option<u64>,
    /// The oldest primary GTID position the replica has not applied.
    pub behind_gtid: Option<String>,
    /// The host's `read_only`.
    pub read_only: Option<bool>,
    /// The host it replicates from.
    pub replicates_from: Option<String>,
    /// Replication I/O and SQL threads' state, as the server names it.
    pub replication_threads: Option<String>,
    /// When the monitor last checked it, seconds since the Unix epoch.
    pub checked_at: Option<f64>,
}

/// The status endpoint's own state, shared by the proxy.
#[derive(Debug, Default)]
pub struct StatusBoard {
    /// Counters bumped by the data path.
    pub metrics: Metrics,
    reloads: Mutex<VecDeque<ReloadEntry>>,
    config_path: Mutex<Option<PathBuf>>,
    host_reports: Mutex<HashMap<String, HostReport>>,
}

/// Seconds since the Unix epoch now.
pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl StatusBoard {
    /// Records the end of a reload.
    pub fn record_reload(&self, result: &Result<ReloadReport, ReloadError>) {
        self.metrics.reload(result.is_ok());
        let entry = match result {
            Ok(r) => ReloadEntry {
                time: now_secs(),
                ok: true,
                epoch: Some(r.epoch),
                summary: r.plan.to_string(),
            },
            Err(e) => ReloadEntry {
                time: now_secs(),
                ok: false,
                epoch: None,
                summary: e.to_string(),
            },
        };
        let mut h = self.reloads.lock().unwrap_or_else(|e| e.into_inner());
        if h.len() == RELOAD_HISTORY {
            h.pop_front();
        }
        h.push_back(entry);
    }

    /// The reloads so far, oldest first (at most [`RELOAD_HISTORY`]).
    pub fn reloads(&self) -> Vec<ReloadEntry> {
        let h = self.reloads.lock().unwrap_or_else(|e| e.into_inner());
        h.iter().cloned().collect()
    }

    /// Sets the configuration file `POST /reload` reads.
    pub fn set_config_path(&self, path: Option<PathBuf>) {
        *self.config_path.lock().unwrap_or_else(|e| e.into_inner()) = path;
    }

    /// The configuration file `POST /reload` reads, if known.
    pub fn config_path(&self) -> Option<PathBuf> {
        self.config_path
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stores the health monitor's latest report about the host at `addr`.
    pub fn set_host_report(&self, addr: &str, report: HostReport) {
        let mut r = self.host_reports.lock().unwrap_or_else(|e| e.into_inner());
        r.insert(addr.to_string(), report);
    }

    /// The health monitor's latest report about the host at `addr`, if any.
    pub fn host_report(&self, addr: &str) -> Option<HostReport> {
        let r = self.host_reports.lock().unwrap_or_else(|e| e.into_inner());
        r.get(addr).cloned()
    }
}
