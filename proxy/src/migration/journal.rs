//! The migration journal: every migration's phase, persisted in
//! `<state_dir>/migrations.json` (atomic write) before the phase's work starts, so a proxy
//! that crashes mid-migration knows at restart what to undo or keep. It is also the guard
//! against two migrations of the same shard: a shard with an unfinished migration in the
//! journal cannot start another one.

use super::durable::write_atomic;
use super::placement::cluster_id;
use myshard_config::Config;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Name of the journal file in the state directory.
pub const JOURNAL_FILE: &str = "migrations.json";

/// Read-modify-write of the journal is one at a time within the process.
static JOURNAL_LOCK: Mutex<()> = Mutex::new(());

/// Where a migration is. The phases before `CutOver` can be undone (abort); from `CutOver`
/// on the shard lives on the target.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Preflight checks running.
    Preflight,
    /// Database, tables and rows being copied to the target.
    Copy,
    /// Replication connection running, target catching up.
    Replicate,
    /// Gate closed, switching placement.
    CuttingOver,
    /// The shard lives on the target; awaiting verify.
    CutOver,
    /// Verify found the copies equal; cleanup allowed.
    Verified,
    /// The source database was dropped: finished.
    CleanedUp,
    /// Undone before the cut-over: finished.
    Aborted,
}

impl Phase {
    /// Whether the migration still holds its shard (no other migration of it may start).
    pub fn is_active(self) -> bool {
        !matches!(self, Phase::CleanedUp | Phase::Aborted)
    }

    /// Whether the shard may still live on its source (the migration can be aborted).
    pub fn before_cut_over(self) -> bool {
        matches!(
            self,
            Phase::Preflight | Phase::Copy | Phase::Replicate | Phase::CuttingOver
        )
    }
}

/// One migration as the journal holds it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MigrationRecord {
    /// Number of the migration in this state directory.
    pub id: u64,
    /// Logical schema.
    pub schema: String,
    /// Shard number.
    pub shard: u32,
    /// Source group.
    pub from: String,
    /// Target group.
    pub to: String,
    /// Current phase.
    pub phase: Phase,
    /// The last failure, if the migration stopped on one.
    #[serde(default)]
    pub error: Option<String>,
    /// Write hold of the cut-over (gate closed to reopened), in milliseconds.
    #[serde(default)]
    pub hold_ms: Option<u64>,
    /// The verify before the cut-over (at one GTID position, under writes) found the copies
    /// equal: cleanup is allowed once cut over. Absent in journals of older versions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verified_before_cut_over: bool,
    /// The target write host the copy and the replication connection went to, and the
    /// copy's snapshot position (a target failover repoints from them: `repoint.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_host: Option<super::repoint::TargetHost>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalBody {
    cluster: String,
    next_id: u64,
    migrations: Vec<MigrationRecord>,
}

fn path_of(config: &Config) -> Result<PathBuf, String> {
    config
        .state_dir
        .as_ref()
        .map(|d| Path::new(d).join(JOURNAL_FILE))
        .ok_or_else(|| "no state_dir configured: a migration's state cannot be persisted".into())
}

fn load(config: &Config, path: &Path) -> Result<JournalBody, String> {
    let expected = cluster_id(config);
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(JournalBody {
                cluster: expected,
                next_id: 1,
                migrations: Vec::new(),
            });
        }
        Err(e) => return Err(format!("migration journal {}: {e}", path.display())),
    };
    let body: JournalBody = serde_json::from_slice(&text)
        .map_err(|e| format!("migration journal {} is corrupt: {e}", path.display()))?;
    if body.cluster != expected {
        return Err(format!(
            "migration journal {} belongs to another cluster (cluster {}, this configuration is {expected})",
            path.display(),
            body.cluster
        ));
    }
    Ok(body)
}

fn store(path: &Path, body: &JournalBody) -> Result<(), String> {
    let bytes = serde_json::to_vec_pretty(body).map_err(|e| e.to_string())?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    write_atomic(path, &bytes).map_err(|e| format!("migration journal {}: {e}", path.display()))
}

/// Every migration in `config`'s journal, oldest first.
pub fn migrations(config: &Config) -> Result<Vec<MigrationRecord>, String> {
    let path = path_of(config)?;
    let _one = JOURNAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    Ok(load(config, &path)?.migrations)
}

/// Records a new migration of `shard` of `schema` from `from` to `to` in phase
/// `Preflight`; refused while another migration of that shard is unfinished.
pub fn begin(
    config: &Config,
    schema: &str,
    shard: u32,
    from: &str,
    to: &str,
) -> Result<MigrationRecord, String> {
    let path = path_of(config)?;
    let _one = JOURNAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut body = load(config, &path)?;
    if let Some(m) = body
        .migrations
        .iter()
        .find(|m| m.schema == schema && m.shard == shard && m.phase.is_active())
    {
        return Err(format!(
            "shard {shard} of '{schema}' is already migrating (migration {} to '{}', phase {:?}): \
             finish or abort it first",
            m.id, m.to, m.phase
        ));
    }
    let record = MigrationRecord {
        id: body.next_id,
        schema: schema.to_string(),
        shard,
        from: from.to_string(),
        to: to.to_string(),
        phase: Phase::Preflight,
        error: None,
        hold_ms: None,
        verified_before_cut_over: false,
        target_host: None,
    };
    body.next_id += 1;
    body.migrations.push(record.clone());
    store(&path, &body)?;
    Ok(record)
}

/// Notes that migration `id`'s verify before the cut-over found the copies equal.
pub fn record_verified(config: &Config, id: u64) -> Result<MigrationRecord, String> {
    let path = path_of(config)?;
    let _one = JOURNAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut body = load(config, &path)?;
    let m = body
        .migrations
        .iter_mut()
        .find(|m| m.id == id)
        .ok_or_else(|| format!("no migration {id}"))?;
    m.verified_before_cut_over = true;
    let out = m.clone();
    store(&path, &body)?;
    Ok(out)
}

/// Persists migration `id`'s new phase (and failure, if any); returns the record.
pub fn record(
    config: &Config,
    id: u64,
    phase: Phase,
    error: Option<String>,
) -> Result<MigrationRecord, String> {
    record_with_hold(config, id, phase, error, None)
}

/// [`record`], also noting the cut-over's write hold.
pub fn record_with_hold(
    config: &Config,
    id: u64,
    phase: Phase,
    error: Option<String>,
    hold_ms: Option<u64>,
) -> Result<MigrationRecord, String> {
    let path = path_of(config)?;
    let _one = JOURNAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut body = load(config, &path)?;
    let m = body
        .migrations
        .iter_mut()
        .find(|m| m.id == id)
        .ok_or_else(|| format!("no migration {id}"))?;
    m.phase = phase;
    m.error = error;
    if let Some(ms) = hold_ms {
        m.hold_ms = Some(ms);
    }
    let out = m.clone();
    store(&path, &body)?;
    Ok(out)
}

/// Persists where migration `id`'s copy and replication connection are on the target.
pub fn record_target_host(
    config: &Config,
    id: u64,
    host: super::repoint::TargetHost,
) -> Result<(), String> {
    let path = path_of(config)?;
    let _one = JOURNAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut body = load(config, &path)?;
    let m = body
        .migrations
        .iter_mut()
        .find(|m| m.id == id)
        .ok_or_else(|| format!("no migration {id}"))?;
    m.target_host = Some(host);
    store(&path, &body)
}
