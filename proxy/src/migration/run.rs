//! Running a migration through its phases with the journal: each phase is persisted before
//! its work starts, a failure before the cut-over undoes the migration (everything as it
//! was), and a proxy restarted mid-migration settles what the journal says was running:
//! before the cut-over it is aborted, after it the shard stays on the target.

use super::cutover::CutOver;
use super::journal::{self, MigrationRecord, Phase};
use super::repoint::TargetHost;
use crate::server::Shared;
use std::time::Duration;

/// The bounds of a migration's cut-over.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// How long running statements on the shard may take to finish once the gate closes.
    pub drain: Duration,
    /// How long the target may take to apply the source's last position.
    pub catch_up: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            drain: Duration::from_secs(5),
            catch_up: Duration::from_secs(10),
        }
    }
}

impl Shared {
    /// Migrates `shard` of `schema` to group `to` through the cut-over (preflight, copy,
    /// replication, cut-over, replication removed); the record ends in phase `CutOver`.
    /// Refused while another migration of the shard is unfinished; a failure before the
    /// cut-over undoes the migration and ends it `Aborted` with the reason.
    pub async fn migrate(
        &self,
        schema: &str,
        shard: u32,
        to: &str,
        bounds: Bounds,
    ) -> Result<MigrationRecord, String> {
        let m = self.begin_migration(schema, shard, to)?;
        self.run_migration(&m, bounds).await
    }

    /// Journals a new migration of `shard` of `schema` to `to` (phase `Preflight`) without
    /// running it; refused while another migration of the shard is unfinished.
    pub fn begin_migration(
        &self,
        schema: &str,
        shard: u32,
        to: &str,
    ) -> Result<MigrationRecord, String> {
        let from = self
            .table()
            .topology
            .group_of(schema, shard)
            .ok_or_else(|| format!("schema '{schema}' has no shard {shard}"))?
            .to_string();
        if !self.config().groups.iter().any(|g| g.name == to) {
            return Err(format!("group '{to}' is not configured"));
        }
        journal::begin(&self.config(), schema, shard, &from, to)
    }

    /// Runs journaled migration `m` (see [`Shared::migrate`]).
    pub async fn run_migration(
        &self,
        m: &MigrationRecord,
        bounds: Bounds,
    ) -> Result<MigrationRecord, String> {
        let config = self.config();
        let (schema, shard, to) = (m.schema.as_str(), m.shard, m.to.as_str());
        match self.run_phases(m, bounds).await {
            Ok(hold) => {
                let database = self
                    .table()
                    .topology
                    .physical_database(schema, shard)
                    .unwrap_or_default()
                    .to_string();
                let removed = self.remove_replication(&database, to).await.err();
                let former = self.clean_former_target(m.id, to, &database, false).await;
                let removed = removed.or(former.err());
                let hold_ms = u64::try_from(hold.as_millis()).ok();
                journal::record_with_hold(&config, m.id, Phase::CutOver, removed, hold_ms)
            }
            Err(reason) => {
                let undone = self.abort_everywhere(m).await;
                let (phase, error) = match undone {
                    Ok(()) => (Phase::Aborted, reason.clone()),
                    Err(e) => (
                        self.phase_of(m.id).unwrap_or(Phase::Preflight),
                        format!("{reason}; undoing it failed: {e}"),
                    ),
                };
                journal::record(&config, m.id, phase, Some(error.clone()))?;
                Err(format!("migration {}: {error}", m.id))
            }
        }
    }

    fn phase_of(&self, id: u64) -> Option<Phase> {
        journal::migrations(&self.config())
            .ok()?
            .into_iter()
            .find(|m| m.id == id)
            .map(|m| m.phase)
    }

    /// Runs the phases through the cut-over; returns the cut-over's write hold.
    async fn run_phases(&self, m: &MigrationRecord, bounds: Bounds) -> Result<Duration, String> {
        let config = self.config();
        let pre = self.preflight(&m.schema, m.shard, &m.to).await?;
        journal::record(&config, m.id, Phase::Copy, None)?;
        // Where the copy goes, so a switch of the target group is seen (repoint.rs).
        let mut noted = TargetHost {
            addr: self.write_addr(&m.to).unwrap_or_default(),
            snapshot: String::new(),
        };
        self.note_target(m, &noted)?;
        let copied = self.copy_snapshot(&pre, &m.to).await;
        let copied = self.unless_switched(&m.to, &noted.addr, "copy", copied)?;
        noted.snapshot = copied.snapshot.clone();
        self.note_target(m, &noted)?;
        journal::record(&config, m.id, Phase::Replicate, None)?;
        let started = self.start_replication(&pre, &m.to, &copied.snapshot).await;
        self.unless_switched(&m.to, &noted.addr, "copy", started)?;
        // Both copies compared at one position while writes go on; a difference stops the
        // migration here (undone), naming the chunks.
        self.guard_domains(&pre, &copied.snapshot).await?;
        let verified = self.verify_consistent(&pre, &m.to, bounds.catch_up).await?;
        if !verified.differences.is_empty() {
            return Err(format!(
                "verify before the cut-over found {} difference(s): {}",
                verified.differences.len(),
                verified.differences.join("; ")
            ));
        }
        journal::record_verified(&config, m.id)?;
        journal::record(&config, m.id, Phase::CuttingOver, None)?;
        let c = CutOver {
            schema: m.schema.clone(),
            shard: m.shard,
            to: m.to.clone(),
            drain: bounds.drain,
            catch_up: bounds.catch_up,
            snapshot: Some(copied.snapshot.clone()),
        };
        // A switch of either group before or during a cut-over attempt: repoint, try again.
        self.follow_failovers(m, &pre, &mut noted).await?;
        let mut attempt = 1;
        loop {
            match self.cut_over(&c).await {
                Ok(r) => return Ok(r.hold),
                Err(e) if attempt < 3 && self.follow_failovers(m, &pre, &mut noted).await? => {
                    tracing::warn!("migration {}: cut-over after a failover: {e}", m.id);
                    attempt += 1;
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// Aborts journaled migration `id` (only before its cut-over).
    pub async fn abort_journaled(&self, id: u64) -> Result<MigrationRecord, String> {
        let config = self.config();
        let m = journal::migrations(&config)?
            .into_iter()
            .find(|m| m.id == id)
            .ok_or_else(|| format!("no migration {id}"))?;
        if !m.phase.before_cut_over() {
            return Err(format!(
                "migration {id} is in phase {:?}: only a migration before its cut-over can be aborted",
                m.phase
            ));
        }
        self.abort_everywhere(&m).await?;
        journal::record(&config, id, Phase::Aborted, Some("aborted".into()))
    }

    /// Settles the migrations a previous run of the proxy left unfinished (called at start,
    /// after the placement is restored): before the cut-over they are aborted; one whose
    /// placement was already persisted (crash between placement and journal) is recorded
    /// as cut over; after the cut-over the replication connection is removed. Returns the
    /// problems met (the migrations concerned keep their phase, with the error).
    pub async fn recover_migrations(&self) -> Vec<String> {
        let config = self.config();
        if config.state_dir.is_none() {
            return Vec::new();
        }
        let list = match journal::migrations(&config) {
            Ok(l) => l,
            Err(e) => return vec![e],
        };
        let mut problems = Vec::new();
        for m in list.into_iter().filter(|m| m.phase.is_active()) {
            let table = self.table();
            let placed = table.topology.group_of(&m.schema, m.shard) == Some(m.to.as_str());
            let database = table
                .topology
                .physical_database(&m.schema, m.shard)
                .unwrap_or_default()
                .to_string();
            let outcome = if m.phase.before_cut_over() && !placed {
                tracing::warn!(
                    "migration {} of shard {} of '{}' was in phase {:?} when the proxy stopped: aborting it",
                    m.id,
                    m.shard,
                    m.schema,
                    m.phase
                );
                match self.abort_everywhere(&m).await {
                    Ok(()) => journal::record(
                        &config,
                        m.id,
                        Phase::Aborted,
                        Some(format!("proxy restarted in phase {:?}", m.phase)),
                    ),
                    Err(e) => Err(e),
                }
            } else {
                let phase = if m.phase.before_cut_over() {
                    Phase::CutOver
                } else {
                    m.phase
                };
                let removed = match self.remove_replication(&database, &m.to).await {
                    Ok(()) => {
                        self.clean_former_target(m.id, &m.to, &database, false)
                            .await
                    }
                    Err(e) => Err(e),
                };
                match removed {
                    Ok(()) if phase != m.phase => journal::record(&config, m.id, phase, None),
                    Ok(()) => Ok(m.clone()),
                    Err(e) => Err(e),
                }
            };
            if let Err(e) = outcome {
                let e = format!("migration {}: recovery failed: {e}", m.id);
                let _ = journal::record(&config, m.id, m.phase, Some(e.clone()));
                problems.push(e);
            }
        }
        problems
    }
}
