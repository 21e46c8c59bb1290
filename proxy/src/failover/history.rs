//! What the switches of the proxy's groups did, for `/status` (the last switches of each
//! group) and `/metrics` (counts by group and reason, statements held, time held).

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Switch records kept (the oldest are dropped).
pub const RECORDS_KEPT: usize = 50;

/// One switch, done or refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwitchRecord {
    /// Group name.
    pub group: String,
    /// When it ended, ms since the Unix epoch.
    pub at_unix_ms: u64,
    /// `failover` or `switchover`.
    pub reason: String,
    /// What the detector saw (failovers), or who asked.
    pub detail: String,
    /// The write host before.
    pub old_write_host: String,
    /// The write host after (none: the switch did not happen).
    pub new_write_host: Option<String>,
    /// The old write host's last known GTID position.
    pub old_gtid_position: Option<String>,
    /// The new write host's GTID position when it became writable.
    pub new_gtid_position: Option<String>,
    /// How long the group's writes were held, ms.
    pub write_hold_ms: u64,
    /// What became of the old write host (`read_only set`, or why it was not reached).
    pub fence: Option<String>,
    /// Why the switch failed or was refused; none when it was done.
    pub error: Option<String>,
}

/// Switch counts of one group and reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SwitchCounts {
    /// Switches done.
    pub done: u64,
    /// Switches that failed or were refused.
    pub failed: u64,
}

/// The history and counters.
#[derive(Debug, Default)]
pub struct History {
    records: Mutex<VecDeque<SwitchRecord>>,
    counts: Mutex<BTreeMap<(String, String), SwitchCounts>>,
    held_statements: AtomicU64,
    hold_ms_total: AtomicU64,
    refusals: Refusals,
}

impl History {
    /// Adds `record` and counts it.
    pub fn record(&self, record: SwitchRecord) {
        {
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            let c = counts
                .entry((record.group.clone(), record.reason.clone()))
                .or_default();
            if record.error.is_none() {
                c.done += 1;
            } else {
                c.failed += 1;
            }
        }
        self.hold_ms_total
            .fetch_add(record.write_hold_ms, Ordering::Relaxed);
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if records.len() >= RECORDS_KEPT {
            records.pop_front();
        }
        records.push_back(record);
    }

    /// The records of `group`, oldest first.
    pub fn of_group(&self, group: &str) -> Vec<SwitchRecord> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records
            .iter()
            .filter(|r| r.group == group)
            .cloned()
            .collect()
    }

    /// Counts by (group, reason).
    pub fn counts(&self) -> Vec<((String, String), SwitchCounts)> {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Notes a statement held by a switch.
    pub fn note_held(&self) {
        self.held_statements.fetch_add(1, Ordering::Relaxed);
    }

    /// Statements held by switches so far.
    pub fn held_statements(&self) -> u64 {
        self.held_statements.load(Ordering::Relaxed)
    }

    /// Total time groups' writes were held by switches, ms.
    pub fn hold_ms_total(&self) -> u64 {
        self.hold_ms_total.load(Ordering::Relaxed)
    }
}

/// Why the detector did not switch a group whose write host is down (the last reason,
/// until the write host serves again).
#[derive(Debug, Default)]
pub struct Refusals(Mutex<BTreeMap<String, String>>);

impl History {
    /// Notes (and logs, once per distinct reason) why `group` was not switched.
    pub fn refuse(&self, group: &str, why: &str) {
        let mut r = self.refusals.0.lock().unwrap_or_else(|e| e.into_inner());
        if r.get(group).map(String::as_str) != Some(why) {
            tracing::warn!(%group, "no automatic switch: {why}");
            r.insert(group.to_owned(), why.to_owned());
        }
    }

    /// Forgets the refusal of `group` (its write host serves).
    pub fn clear_refusal(&self, group: &str) {
        let mut r = self.refusals.0.lock().unwrap_or_else(|e| e.into_inner());
        r.remove(group);
    }

    /// Why `group`'s write host, down, was not switched automatically.
    pub fn refusal(&self, group: &str) -> Option<String> {
        let r = self.refusals.0.lock().unwrap_or_else(|e| e.into_inner());
        r.get(group).cloned()
    }
}
