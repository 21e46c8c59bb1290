//! [`GtidPromoter`]: makes the most advanced replica of a GTID group its primary.
//!
//! Failover (old write host dead): choose the candidate that received most, fence the old
//! host (bounded, it is probably gone) while the chosen one applies its relay log, promote
//! it, repoint the others. Switchover (old alive): fence the old host first, read its
//! `gtid_binlog_pos`, wait until the chosen one applied all of it (`MASTER_GTID_WAIT`;
//! on a timeout the old host is made writable again and nothing changes), promote, make the
//! old host a replica of the new one (`MASTER_DEMOTE_TO_SLAVE=1`), repoint the others.

use std::time::Duration;

use crate::monitor::Login;
use crate::switch::{
    Fence, Promoter, Promotion, PromotionFuture, PromotionRequest, ReplicationLogin, SwitchReason,
};

use super::candidates::{Candidate, choose, survey};
use super::fence::{fence, unfence};
use super::gtid::GtidPos;
use super::server::{Server, change_master};

/// How long a failover waits for the old host's `read_only=ON` once the chosen replica has
/// applied its relay log (a dead host refuses at once; a hung one would take the whole
/// fence timeout).
const FENCE_GRACE: Duration = Duration::from_millis(200);

/// Promotes the most advanced GTID replica (`failover.promotion: true`).
#[derive(Debug, Clone)]
pub struct GtidPromoter {
    /// Bound on connecting to a host and on each short statement (checks, `STOP SLAVE`,
    /// `CHANGE MASTER`).
    pub step_timeout: Duration,
}

impl Default for GtidPromoter {
    fn default() -> Self {
        GtidPromoter {
            step_timeout: Duration::from_secs(2),
        }
    }
}

impl Promoter for GtidPromoter {
    fn promote<'a>(&'a self, request: &'a PromotionRequest) -> PromotionFuture<'a> {
        Box::pin(self.run(request))
    }
}

impl GtidPromoter {
    async fn run(&self, request: &PromotionRequest) -> Result<Promotion, String> {
        let switchover = request.reason == SwitchReason::Switchover;
        let survey = survey(&request.candidates, &request.old.addr, self.step_timeout).await;
        let index =
            choose(&survey.serving, request.target.as_deref(), !switchover).map_err(|why| {
                let left_out: Vec<String> = survey
                    .left_out
                    .iter()
                    .map(|(addr, why)| format!("{addr}: {why}"))
                    .collect();
                if left_out.is_empty() {
                    format!("group {}: {why}", request.group)
                } else {
                    format!(
                        "group {}: {why} (left out: {})",
                        request.group,
                        left_out.join("; ")
                    )
                }
            })?;
        let chosen = &survey.serving[index];
        tracing::info!(
            group = %request.group,
            chosen = %chosen.login.addr,
            received = %chosen.received,
            applied = %chosen.applied,
            switchover,
            "promoting"
        );

        let (fence, old_position, demote) = if switchover {
            let old_position = self.catch_up_with_old(request, chosen).await?;
            (Fence::ReadOnly, Some(old_position), true)
        } else {
            // The fence runs on its own: the proxy has fenced the old host in its routing
            // table already, so the promotion waits for `read_only=ON` only as long as the
            // relay log apply takes (plus a short grace), not the whole `fence_timeout` a
            // hung host would cost; the attempt goes on in the background within that bound.
            let mut fencing = tokio::spawn({
                let old = request.old.clone();
                let timeout = request.fence_timeout;
                async move { fence(&old, timeout).await }
            });
            self.apply_relay_log(request, chosen).await?;
            let (fence, old_position) = match tokio::time::timeout(FENCE_GRACE, &mut fencing).await
            {
                Ok(Ok(fenced)) => fenced,
                Ok(Err(e)) => (
                    Fence::NotReached(format!("the fence task failed: {e}")),
                    None,
                ),
                Err(_) => (
                    Fence::NotReached(format!(
                        "{}: read_only=ON not set by the time the new primary was ready; \
                             still attempted in the background within {} ms",
                        request.old.addr,
                        request.fence_timeout.as_millis()
                    )),
                    None,
                ),
            };
            (fence, old_position, false)
        };

        let gtid_position = match self.make_writable(&chosen.login).await {
            Ok(position) => position,
            Err(why) if switchover => {
                // The old write host is alive and fenced: give it back its writes.
                let restored = match unfence(&request.old, self.step_timeout).await {
                    Ok(()) => "the write host is writable again".to_owned(),
                    Err(e) => format!("making the write host writable again failed: {e}"),
                };
                return Err(format!(
                    "group {}: switchover abandoned: {why}; {restored}",
                    request.group
                ));
            }
            Err(why) => return Err(format!("group {}: {why}", request.group)),
        };
        let new_primary = chosen.login.addr.as_str();
        // The heartbeat period the group's replicas ran with (the chosen one's, else the
        // first other one's): hosts that had none of their own (the demoted old primary)
        // get it too.
        let group_period = std::iter::once(chosen)
            .chain(survey.serving.iter())
            .map(|c| c.status.heartbeat_period)
            .find(|p| *p > 0.0)
            .unwrap_or(0.0);
        let mut promotion = Promotion {
            new_write_host: new_primary.to_owned(),
            gtid_position: Some(gtid_position),
            old_gtid_position: old_position,
            repointed: Vec::new(),
            not_repointed: Vec::new(),
            fence,
        };
        if demote {
            match self
                .demote(
                    &request.old,
                    new_primary,
                    &request.replication,
                    group_period,
                )
                .await
            {
                Ok(()) => promotion.repointed.push(request.old.addr.clone()),
                Err(why) => promotion
                    .not_repointed
                    .push((request.old.addr.clone(), why)),
            }
        }
        for other in survey
            .serving
            .iter()
            .filter(|c| c.login.addr != new_primary)
        {
            let period = match other.status.heartbeat_period {
                p if p > 0.0 => p,
                _ => group_period,
            };
            match self
                .repoint(&other.login, new_primary, &request.replication, period)
                .await
            {
                Ok(()) => promotion.repointed.push(other.login.addr.clone()),
                Err(why) => promotion
                    .not_repointed
                    .push((other.login.addr.clone(), why)),
            }
        }
        promotion.not_repointed.extend(survey.left_out);
        tracing::info!(group = %request.group, ?promotion, "promoted");
        Ok(promotion)
    }

    /// Failover: stop receiving (the source is gone) and wait until the relay log is applied.
    async fn apply_relay_log(
        &self,
        request: &PromotionRequest,
        chosen: &Candidate,
    ) -> Result<(), String> {
        let mut server = Server::connect(&chosen.login, self.step_timeout).await?;
        // The SQL thread first: a START SLAVE while both threads are stopped purges the
        // relay log of a GTID replica, losing what it received but did not apply.
        server
            .exec("START SLAVE SQL_THREAD; STOP SLAVE IO_THREAD")
            .await?;
        // It may have received more between the survey and the stop (a source that only
        // the proxy lost): wait for everything it holds.
        let received = match server.replica_status().await? {
            Some(status) => GtidPos::parse(&status.gtid_io_pos)?.max(&chosen.received),
            None => chosen.received.clone(),
        };
        let waited = self
            .wait_applied(&mut server, &received, request.apply_timeout)
            .await;
        if let Err(why) = waited {
            // Back to replicating as before: nothing was switched.
            let _ = server.exec("START SLAVE IO_THREAD").await;
            return Err(format!("group {}: {why}", request.group));
        }
        Ok(())
    }

    /// Switchover: fence the old write host, then wait until `chosen` applied everything it
    /// wrote. Returns the old host's `gtid_binlog_pos`.
    async fn catch_up_with_old(
        &self,
        request: &PromotionRequest,
        chosen: &Candidate,
    ) -> Result<String, String> {
        let group = &request.group;
        let (fenced, _) = fence(&request.old, request.fence_timeout).await;
        if let Fence::NotReached(why) = fenced {
            // The attempt may still complete on the server after we gave up on it.
            let _ = unfence(&request.old, self.step_timeout).await;
            return Err(format!(
                "group {group}: switchover refused, the write host could not be fenced: {why}"
            ));
        }
        let caught_up = async {
            let mut old = Server::connect(&request.old, self.step_timeout).await?;
            let text = old.var("gtid_binlog_pos").await?;
            let position = GtidPos::parse(&text)?;
            let mut target = Server::connect(&chosen.login, self.step_timeout).await?;
            self.wait_applied(&mut target, &position, request.apply_timeout)
                .await?;
            Ok::<String, String>(text)
        }
        .await;
        match caught_up {
            Ok(position) => Ok(position),
            Err(why) => {
                let restored = match unfence(&request.old, self.step_timeout).await {
                    Ok(()) => "the write host is writable again".to_owned(),
                    Err(e) => format!("making the write host writable again failed: {e}"),
                };
                Err(format!(
                    "group {group}: switchover abandoned: {why}; {restored}"
                ))
            }
        }
    }

    /// `MASTER_GTID_WAIT` for `position` on `server`, bounded by `limit`.
    async fn wait_applied(
        &self,
        server: &mut Server,
        position: &GtidPos,
        limit: Duration,
    ) -> Result<(), String> {
        if position.is_empty() {
            return Ok(());
        }
        server.set_timeout(limit + self.step_timeout);
        let reached: Option<i64> = server
            .first(&format!(
                "SELECT MASTER_GTID_WAIT('{position}', {:.3})",
                limit.as_secs_f64()
            ))
            .await?;
        server.set_timeout(self.step_timeout);
        if reached == Some(0) {
            return Ok(());
        }
        let status = server.replica_status().await.ok().flatten();
        let error = status
            .map(|s| s.sql_error)
            .filter(|e| !e.is_empty())
            .map(|e| format!(" (SQL thread error: {e})"))
            .unwrap_or_default();
        Err(format!(
            "{} did not apply up to {position} within {} ms{error}",
            server.addr,
            limit.as_millis()
        ))
    }

    /// Stops replication on `login`'s host for good and makes it writable; returns its
    /// `@@gtid_current_pos`.
    async fn make_writable(&self, login: &Login) -> Result<String, String> {
        let mut server = Server::connect(login, self.step_timeout).await?;
        server
            .exec("STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only=OFF")
            .await?;
        server.var("gtid_current_pos").await
    }

    /// Makes `login`'s host replicate from `source` from its own `gtid_slave_pos`, with
    /// heartbeats every `heartbeat_period` seconds (the period it had: see
    /// [`change_master`]).
    async fn repoint(
        &self,
        login: &Login,
        source: &str,
        replication: &ReplicationLogin,
        heartbeat_period: f64,
    ) -> Result<(), String> {
        let change = change_master(
            source,
            &replication.user,
            &replication.password,
            heartbeat_period,
        )?;
        let mut server = Server::connect(login, self.step_timeout).await?;
        server
            .exec(&format!("STOP SLAVE; {change}; START SLAVE"))
            .await
    }

    /// Makes the old write host (already read-only) a replica of `source`:
    /// `MASTER_DEMOTE_TO_SLAVE=1` folds its own binlog position into `gtid_slave_pos`, so it
    /// continues after its last transaction.
    async fn demote(
        &self,
        old: &Login,
        source: &str,
        replication: &ReplicationLogin,
        heartbeat_period: f64,
    ) -> Result<(), String> {
        let change = change_master(
            source,
            &replication.user,
            &replication.password,
            heartbeat_period,
        )?;
        let mut server = Server::connect(old, self.step_timeout).await?;
        server
            .exec(&format!(
                "STOP SLAVE; {change}, MASTER_DEMOTE_TO_SLAVE=1; START SLAVE"
            ))
            .await
    }
}
