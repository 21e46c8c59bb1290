//! The migration's own verify, before the cut-over and under writes: both copies compared
//! at one GTID position of the source. The target's replication connection is stopped,
//! a consistent snapshot opened on the source (its position P from the binary-log
//! coordinates, as for the copy), the target run until exactly P (`START SLAVE … UNTIL
//! master_gtid_pos`, the source's domain only) and its own snapshot opened there; then
//! replication resumes (the snapshot keeps its view) and the chunks are compared inside
//! both snapshots. Stopping the target first matters: it can then not be past P.

use super::copy::snapshot_position;
use super::cutover::write_login;
use super::preflight::Preflight;
use super::replicate::{connection_name, replication_problem};
use super::verify::{VerifyReport, compare};
use crate::server::Shared;
use myshard_failover::promotion::Server;
use myshard_failover::promotion::gtid::GtidPos;
use std::time::Duration;

/// Bound of each statement (the chunk checksums included).
const STEP: Duration = Duration::from_secs(30);

const SNAPSHOT: &str = "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ; \
                        START TRANSACTION WITH CONSISTENT SNAPSHOT";

impl Shared {
    /// Compares `pre.database` between the source and `to`'s write host at one GTID
    /// position while the migration's replication runs; the target must reach that
    /// position within `catch_up`. Replication is running again when this returns.
    pub async fn verify_consistent(
        &self,
        pre: &Preflight,
        to: &str,
        catch_up: Duration,
    ) -> Result<VerifyReport, String> {
        let mut source = Server::connect(&write_login(self, &pre.from)?, STEP).await?;
        let mut target = Server::connect(&write_login(self, to)?, STEP).await?;
        let name = connection_name(&pre.database);
        target.exec(&format!("STOP SLAVE '{name}'")).await?;
        let opened = snapshots(&mut source, &mut target, pre, &name, catch_up).await;
        // Replication resumes whatever happened (the target's snapshot, if open, keeps
        // its view); a failure to resume fails the verify.
        let resumed = self.resume_replication(&pre.database, to).await;
        opened?;
        resumed?;
        let report = compare(&mut source, &mut target, &pre.database).await?;
        source.exec("COMMIT").await?;
        target.exec("COMMIT").await?;
        Ok(report)
    }

    /// Restarts the replication connection moving `database` on `to`'s write host, with
    /// no `UNTIL` condition left, from a connection of its own (the verify's holds its
    /// snapshot, and `STOP SLAVE` is refused inside a transaction). The verify's `UNTIL`
    /// run stops both threads on its own once the position is reached, a moment after
    /// `MASTER_GTID_WAIT` returned: a `START SLAVE` meeting them still running does nothing,
    /// and replication would stay stopped (the cut-over then never catches up). `STOP SLAVE`
    /// waits until both threads have ended, so the `START SLAVE` after it finds them stopped.
    pub async fn resume_replication(&self, database: &str, to: &str) -> Result<(), String> {
        let name = connection_name(database);
        let mut control = Server::connect(&write_login(self, to)?, STEP).await?;
        control
            .exec(&format!("STOP SLAVE '{name}'; START SLAVE '{name}'"))
            .await
    }
}

/// With the target's connection `name` stopped: opens the source's snapshot at P, runs
/// the target until P and opens its snapshot there (its SQL thread stopped at P).
async fn snapshots(
    source: &mut Server,
    target: &mut Server,
    pre: &Preflight,
    name: &str,
    catch_up: Duration,
) -> Result<(), String> {
    source.exec(SNAPSHOT).await?;
    let position = snapshot_position(source).await?;
    let until = until_position(&position, pre.source_domain)?;
    if until.is_empty() {
        // The source never logged anything: the target has nothing to apply.
        return target.exec(SNAPSHOT).await;
    }
    target
        .exec(&format!(
            "START SLAVE '{name}' UNTIL master_gtid_pos = '{until}'"
        ))
        .await?;
    let seconds = catch_up.as_secs_f64().max(1.0);
    target.set_timeout(catch_up + STEP);
    let reached: Option<i64> = target
        .first(&format!("SELECT MASTER_GTID_WAIT('{until}', {seconds})"))
        .await?;
    target.set_timeout(STEP);
    if reached != Some(0) {
        let problem = replication_problem(target, &pre.database).await;
        return Err(format!(
            "the target did not reach the source's position {until} within {catch_up:?}{problem}"
        ));
    }
    target.exec(SNAPSHOT).await
}

/// The part of the source's snapshot position `position` the target runs until: the
/// source's own domain (other domains in its log are not the moved database's writes);
/// the whole position when the source's domain is not in it.
fn until_position(position: &str, source_domain: u32) -> Result<String, String> {
    let all = GtidPos::parse(position)?;
    let Some(gtid) = all.get(source_domain) else {
        return Ok(all.to_string());
    };
    let mut own = GtidPos::default();
    own.raise(gtid);
    Ok(own.to_string())
}
