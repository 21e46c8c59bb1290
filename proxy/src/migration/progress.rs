//! Copy progress of the migrations running in this process, by physical database: rows and
//! bytes copied so far and the source's row estimate (`information_schema.TABLES`, an
//! estimate for InnoDB). Shown with the journal in `/status` and `/metrics`.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Progress of one database's copy.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Progress {
    /// Rows copied.
    pub rows_copied: u64,
    /// The source's estimate of its rows.
    pub rows_total: u64,
    /// Bytes of row data sent to the target.
    pub bytes_copied: u64,
}

static PROGRESS: Mutex<BTreeMap<String, Progress>> = Mutex::new(BTreeMap::new());

/// Replaces `database`'s progress.
pub fn set(database: &str, p: Progress) {
    PROGRESS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(database.to_string(), p);
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

/// Every journaled migration with its progress (none without a state directory).
pub fn statuses(shared: &crate::server::Shared) -> Vec<MigrationStatus> {
    let config = shared.config();
    if config.state_dir.is_none() {
        return Vec::new();
    }
    let table = shared.table();
    super::journal::migrations(&config)
        .unwrap_or_default()
        .into_iter()
        .map(|record| {
            let progress = table
                .topology
                .physical_database(&record.schema, record.shard)
                .and_then(of);
            MigrationStatus { record, progress }
        })
        .collect()
}

/// Appends the migration metrics (Prometheus text) to `out`: the phase of each unfinished
/// migration and its copy progress.
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
    for (name, help, pick) in [
        (
            "myshard_migration_rows_copied",
            "Rows copied by an unfinished migration.",
            (|p: &Progress| p.rows_copied) as fn(&Progress) -> u64,
        ),
        (
            "myshard_migration_rows_total",
            "Source row estimate of an unfinished migration.",
            |p: &Progress| p.rows_total,
        ),
        (
            "myshard_migration_bytes_copied",
            "Bytes of rows copied by an unfinished migration.",
            |p: &Progress| p.bytes_copied,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for m in &active {
            if let Some(p) = &m.progress {
                let r = &m.record;
                let _ = writeln!(
                    out,
                    "{name}{{id=\"{}\",schema=\"{}\",shard=\"{}\"}} {}",
                    r.id,
                    esc(&r.schema),
                    r.shard,
                    pick(p)
                );
            }
        }
    }
}
