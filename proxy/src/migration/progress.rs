//! Progress of the migrations running in this process, by physical database: rows and
//! bytes copied so far against the source's row estimate (`information_schema.TABLES`, an
//! estimate for InnoDB), the copy's start and duration, its ETA, and during catch-up the
//! replication lag of the `myshard_<database>` connection (seconds behind and GTID distance,
//! sampled by [`super::lag`]). Shown with the journal in `GET /migrations`, `/status` and
//! `/metrics`, and drawn by `myshard migrate status`.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Progress of one database's copy and catch-up.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Progress {
    /// Rows copied.
    pub rows_copied: u64,
    /// The source's estimate of its rows (raised to the rows copied when it was low).
    pub rows_total: u64,
    /// Bytes of row data sent to the target (as SQL text).
    pub bytes_copied: u64,
    /// When the copy started, milliseconds since the Unix epoch.
    pub copy_started_unix_ms: u64,
    /// How long the copy phase took, once it finished.
    pub copy_ms: Option<u64>,
    /// Copy speed so far (or of the whole copy once it finished), rows per second.
    pub rows_per_second: f64,
    /// Copy speed so far, bytes per second.
    pub bytes_per_second: f64,
    /// Seconds until the copy finishes at the speed so far (0 once it finished; none
    /// before the first chunk).
    pub eta_seconds: Option<u64>,
    /// `Seconds_Behind_Master` of the replication connection during catch-up.
    pub lag_seconds: Option<u64>,
    /// Transactions of the source's GTID domain the target has not applied yet.
    pub gtid_distance: Option<u64>,
}

/// Milliseconds since the Unix epoch.
pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Progress {
    /// A copy of about `rows_total` rows starting at `now_ms`.
    pub fn started(rows_total: u64, now_ms: u64) -> Progress {
        Progress {
            rows_total,
            copy_started_unix_ms: now_ms,
            ..Progress::default()
        }
    }

    /// Records `rows` more rows of `bytes` copied at `now_ms`: the speed and the ETA follow.
    pub fn advance(&mut self, rows: u64, bytes: u64, now_ms: u64) {
        self.rows_copied += rows;
        self.bytes_copied += bytes;
        // The estimate can be low (InnoDB statistics); never show more than 100 %.
        self.rows_total = self.rows_total.max(self.rows_copied);
        self.rate(now_ms);
        let left = self.rows_total - self.rows_copied;
        self.eta_seconds = (self.rows_per_second > 0.0)
            .then(|| (left as f64 / self.rows_per_second).ceil() as u64);
    }

    /// Records the end of the copy at `now_ms`: the total is what was copied.
    pub fn finish(&mut self, now_ms: u64) {
        self.copy_ms = Some(now_ms.saturating_sub(self.copy_started_unix_ms));
        self.rows_total = self.rows_copied;
        self.rate(now_ms);
        self.eta_seconds = Some(0);
    }

    fn rate(&mut self, now_ms: u64) {
        // At least a millisecond, so a copy finishing within one has a speed.
        let seconds = now_ms.saturating_sub(self.copy_started_unix_ms).max(1) as f64 / 1000.0;
        self.rows_per_second = self.rows_copied as f64 / seconds;
        self.bytes_per_second = self.bytes_copied as f64 / seconds;
    }

    /// Share of the rows copied, 0.0 to 1.0 (1.0 for an empty database).
    pub fn fraction(&self) -> f64 {
        if self.rows_total == 0 {
            return if self.copy_ms.is_some() { 1.0 } else { 0.0 };
        }
        (self.rows_copied as f64 / self.rows_total as f64).min(1.0)
    }
}

static PROGRESS: Mutex<BTreeMap<String, Progress>> = Mutex::new(BTreeMap::new());

/// Replaces `database`'s progress.
pub fn set(database: &str, p: Progress) {
    PROGRESS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(database.to_string(), p);
}

/// Changes `database`'s progress in place (nothing when it has none).
pub fn update(database: &str, change: impl FnOnce(&mut Progress)) {
    if let Some(p) = PROGRESS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_mut(database)
    {
        change(p);
    }
}

/// `database`'s progress, if a copy of it ran in this process.
pub fn of(database: &str) -> Option<Progress> {
    PROGRESS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(database)
        .copied()
}

/// One migration as `/status` shows it: its journal record and copy progress.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationStatus {
    /// The journal record.
    #[serde(flatten)]
    pub record: super::MigrationRecord,
    /// Copy progress, if the copy ran in this process.
    pub progress: Option<Progress>,
}

/// Every journaled migration with its progress (none without a state directory). The
/// progress of a database belongs to its latest migration only: a shard moved back and
/// forth does not show the newest copy's numbers on the older records.
pub fn statuses(shared: &crate::server::Shared) -> Vec<MigrationStatus> {
    let config = shared.config();
    if config.state_dir.is_none() {
        return Vec::new();
    }
    let table = shared.table();
    let records = super::journal::migrations(&config).unwrap_or_default();
    let latest = |r: &super::MigrationRecord| {
        !records
            .iter()
            .any(|o| o.id > r.id && o.schema == r.schema && o.shard == r.shard)
    };
    records
        .iter()
        .map(|record| {
            let progress = latest(record)
                .then(|| {
                    table
                        .topology
                        .physical_database(&record.schema, record.shard)
                })
                .flatten()
                .and_then(of);
            MigrationStatus {
                record: record.clone(),
                progress,
            }
        })
        .collect()
}

/// Appends the migration metrics (Prometheus text) to `out`: the phase of each unfinished
/// migration and its copy progress and lag.
pub fn write_metrics(shared: &crate::server::Shared, out: &mut String) {
    use std::fmt::Write;
    let esc = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    let list = statuses(shared);
    let active: Vec<_> = list.iter().filter(|m| m.record.phase.is_active()).collect();
    let _ = writeln!(
        out,
        "# HELP myshard_migration_phase Unfinished shard migrations by phase (1).\n\
         # TYPE myshard_migration_phase gauge"
    );
    for m in &active {
        let r = &m.record;
        let phase = serde_json::to_value(r.phase)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "myshard_migration_phase{{id=\"{}\",schema=\"{}\",shard=\"{}\",to=\"{}\",phase=\"{phase}\"}} 1",
            r.id,
            esc(&r.schema),
            r.shard,
            esc(&r.to)
        );
    }
    type Pick = fn(&Progress) -> Option<f64>;
    let gauges: [(&str, &str, Pick); 7] = [
        (
            "myshard_migration_rows_copied",
            "Rows copied by an unfinished migration.",
            |p| Some(p.rows_copied as f64),
        ),
        (
            "myshard_migration_rows_total",
            "Source row estimate of an unfinished migration.",
            |p| Some(p.rows_total as f64),
        ),
        (
            "myshard_migration_bytes_copied",
            "Bytes of rows copied by an unfinished migration.",
            |p| Some(p.bytes_copied as f64),
        ),
        (
            "myshard_migration_copy_rows_per_second",
            "Copy speed of an unfinished migration (rows per second).",
            |p| Some(p.rows_per_second),
        ),
        (
            "myshard_migration_eta_seconds",
            "Seconds until the copy of an unfinished migration finishes.",
            |p| p.eta_seconds.map(|s| s as f64),
        ),
        (
            "myshard_migration_lag_seconds",
            "Seconds the target of an unfinished migration is behind (catch-up).",
            |p| p.lag_seconds.map(|s| s as f64),
        ),
        (
            "myshard_migration_gtid_distance",
            "Source transactions the target of an unfinished migration has not applied.",
            |p| p.gtid_distance.map(|s| s as f64),
        ),
    ];
    for (name, help, pick) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for m in &active {
            if let Some(v) = m.progress.as_ref().and_then(pick) {
                let r = &m.record;
                let _ = writeln!(
                    out,
                    "{name}{{id=\"{}\",schema=\"{}\",shard=\"{}\"}} {v}",
                    r.id,
                    esc(&r.schema),
                    r.shard,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_and_eta_follow_the_chunks() {
        let mut p = Progress::started(1000, 10_000);
        assert_eq!(p.eta_seconds, None, "no speed before the first chunk");
        p.advance(100, 5_000, 11_000);
        assert_eq!((p.rows_per_second, p.bytes_per_second), (100.0, 5_000.0));
        assert_eq!(p.eta_seconds, Some(9), "900 rows left at 100 rows/s");
        p.advance(400, 20_000, 12_000);
        assert_eq!(p.rows_per_second, 250.0);
        assert_eq!(p.eta_seconds, Some(2));
        assert!((p.fraction() - 0.5).abs() < 1e-9);
        p.finish(14_000);
        assert_eq!(p.copy_ms, Some(4_000));
        assert_eq!((p.rows_total, p.eta_seconds), (500, Some(0)));
        assert_eq!(p.fraction(), 1.0);
    }

    #[test]
    fn a_low_estimate_never_shows_more_than_everything() {
        let mut p = Progress::started(10, 0);
        p.advance(25, 100, 1_000);
        assert_eq!((p.rows_total, p.eta_seconds), (25, Some(0)));
        assert_eq!(p.fraction(), 1.0);
        let empty = Progress::started(0, 0);
        assert_eq!(empty.fraction(), 0.0, "not started is not done");
    }
}
