//! The switch: the one path by which a group's write host changes, for failovers and
//! planned switchovers alike.
//!
//! 1. hold the group's statements (close its gates; a switchover first lets the
//!    transactions open on the old write host finish — new statements wait meanwhile —
//!    for at most half of `max_hold_ms`, then waits for the statements running on it);
//! 2. fence the old write host in the routing table (it refuses checkouts from now on; a
//!    transaction open on it fails at its next statement and never continues elsewhere);
//!    after a failure, statements stuck on it fail at once, saying they may have been
//!    applied (its pools are severed);
//! 3. have the group's [`Promoter`](myshard_failover::Promoter) make the new one the
//!    primary (and set `read_only=ON` on the old one, bounded);
//! 4. persist the decision (before any write reaches the new host);
//! 5. publish a routing table with the new write host, and release the held statements,
//!    which run there.
//!
//! The whole switch is bounded by `max_hold_ms`. If it fails, a switchover puts the old
//! write host back in service; after a failover it stays fenced (it was found dead).

use super::history::SwitchRecord;
use super::hold::Hold;
use super::{Decision, promoter_for};
use crate::routing::{RoutingTable, host_for, pool_settings};
use crate::server::Shared;
use myshard_config::{FailoverMode, Group};
use myshard_failover::monitor::{Login, now_unix_ms};
use myshard_failover::{Fence, HostState, PromotionRequest, ReplicationLogin, SwitchReason};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a switch was not done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwitchError {
    /// No such group.
    #[error("group '{0}' is not configured")]
    UnknownGroup(String),
    /// The group's failover mode does not allow it.
    #[error("{0}")]
    NotAllowed(String),
    /// The target is not a host of the group, or is the write host already.
    #[error("{0}")]
    BadTarget(String),
    /// The switch could not be done (nothing changed, or the old host stays fenced).
    #[error("{0}")]
    Failed(String),
}

impl SwitchError {
    /// The HTTP status `POST /switch` answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            SwitchError::UnknownGroup(_) => 404,
            SwitchError::NotAllowed(_) => 409,
            SwitchError::BadTarget(_) => 400,
            SwitchError::Failed(_) => 503,
        }
    }
}

/// The login of `addr` for the control plane.
pub(super) fn login(group: &Group, addr: &str) -> Login {
    Login {
        addr: addr.to_owned(),
        user: group.user.clone(),
        password: group.password.clone(),
        gtid: group.gtid,
    }
}

/// The hosts that may take over from `old`: write host candidates, then (with promotion)
/// read hosts, in configured order, without `old` and fenced hosts.
fn candidates(group: &Group, old: &str, fenced: &[String]) -> Vec<Login> {
    let reads = group
        .read_hosts
        .iter()
        .map(|r| &r.host)
        .filter(|_| group.failover.promotion);
    let mut seen = Vec::new();
    for h in group.write_hosts.iter().chain(reads) {
        if h != old && !fenced.contains(h) && !seen.contains(h) {
            seen.push(h.clone());
        }
    }
    seen.iter().map(|h| login(group, h)).collect()
}

impl Shared {
    /// Switches the write host of `group` (see the module documentation): for `reason`,
    /// to `target` or the promoter's choice. Returns the record of the switch (also kept
    /// in the history, like a failure).
    pub async fn switch_write_host(
        self: &Arc<Shared>,
        group: &str,
        reason: SwitchReason,
        target: Option<String>,
    ) -> Result<SwitchRecord, SwitchError> {
        let lock = self.failover.lock_of(group);
        let _one_switch = lock.lock().await;
        let table = self.table();
        let config = table
            .config
            .group(group)
            .cloned()
            .ok_or_else(|| SwitchError::UnknownGroup(group.to_owned()))?;
        let route = table
            .group(group)
            .ok_or_else(|| SwitchError::UnknownGroup(group.to_owned()))?;
        if config.failover.mode == FailoverMode::Off {
            return Err(SwitchError::NotAllowed(format!(
                "group '{group}' has failover.mode off; set it to manual or automatic to switch"
            )));
        }
        let old = route.write.clone().ok_or_else(|| {
            SwitchError::Failed(format!("group '{group}' has no write host to switch from"))
        })?;
        if matches!(reason, SwitchReason::Failover { .. }) && old.state() == HostState::Up {
            return Err(SwitchError::NotAllowed(format!(
                "the write host {} of group '{group}' serves again; no failover",
                old.addr()
            )));
        }
        let fenced = self.failover.fenced_hosts(group);
        if let Some(t) = &target {
            if **old.addr() == **t {
                return Err(SwitchError::BadTarget(format!(
                    "{t} is already the write host of group '{group}'"
                )));
            }
            if !super::is_host_of(&config, t) {
                return Err(SwitchError::BadTarget(format!(
                    "{t} is not a host of group '{group}'"
                )));
            }
        }
        let mut candidates = candidates(&config, old.addr(), &fenced);
        if let Some(t) = &target
            && !candidates.iter().any(|c| &c.addr == t)
        {
            // The operator may name a fenced host or a read host explicitly.
            candidates.push(login(&config, t));
        }
        let failover = &config.failover;
        let max_hold = Duration::from_millis(failover.max_hold_ms);
        let started = Instant::now();
        let deadline = started + max_hold;
        let (reason_name, detail) = match &reason {
            SwitchReason::Failover { detail } => ("failover", detail.clone()),
            SwitchReason::Switchover => ("switchover", "requested by an operator".to_owned()),
        };
        tracing::warn!(%group, old = %old.addr(), reason = reason_name, %detail, "switching the write host");
        self.failover.set_switching(group, true);
        let mut record = SwitchRecord {
            group: group.to_owned(),
            at_unix_ms: 0,
            reason: reason_name.to_owned(),
            detail,
            old_write_host: old.addr().to_string(),
            new_write_host: None,
            old_gtid_position: None,
            new_gtid_position: None,
            write_hold_ms: 0,
            fence: None,
            error: None,
        };

        // A switchover first lets the transactions open on the old write host finish
        // (new statements of the group wait meanwhile), for at most half the hold.
        let drain = if reason == SwitchReason::Switchover {
            let (drain, open) = self.failover.drain(group, old.addr(), max_hold / 2).await;
            if open > 0 {
                tracing::warn!(%group, open, "transactions still open after max_hold_ms / 2 fail");
                record.detail.push_str(&format!(
                    "; {open} transaction(s) still open on {} after {} ms were failed",
                    old.addr(),
                    (max_hold / 2).as_millis()
                ));
            }
            Some(drain)
        } else {
            None
        };
        let mut hold = Hold::start(&table, group);
        let outcome = async {
            if reason == SwitchReason::Switchover
                && tokio::time::timeout_at(deadline.into(), hold.closed())
                    .await
                    .is_err()
            {
                return Err(format!(
                    "the statements running on group '{group}' did not finish within \
                     max_hold_ms ({} ms); nothing was switched",
                    failover.max_hold_ms
                ));
            }
            // The gates are closed: statements that waited for the drain wait there now.
            drop(drain);
            old.set_state(HostState::Fenced);
            self.failover.fence(group, old.addr());
            if reason != SwitchReason::Switchover {
                // Found dead or hung: statements stuck on it fail now (they may have been
                // applied) instead of waiting for TCP timeouts.
                for pool in old.pools() {
                    pool.sever();
                }
            }
            let request = PromotionRequest {
                group: group.to_owned(),
                reason: reason.clone(),
                old: login(&config, old.addr()),
                candidates,
                target: target.clone(),
                replication: ReplicationLogin {
                    user: failover
                        .replication_user
                        .clone()
                        .unwrap_or_else(|| config.user.clone()),
                    password: failover
                        .replication_password
                        .clone()
                        .unwrap_or_else(|| config.password.clone()),
                },
                apply_timeout: max_hold / 2,
                fence_timeout: (max_hold / 4).max(Duration::from_millis(100)),
            };
            let promoter = promoter_for(&config);
            let promotion =
                match tokio::time::timeout_at(deadline.into(), promoter.promote(&request)).await {
                    Ok(Ok(p)) => p,
                    Ok(Err(e)) => return Err(format!("the promotion failed: {e}")),
                    Err(_) => {
                        return Err(format!(
                            "the promotion did not finish within max_hold_ms ({} ms)",
                            failover.max_hold_ms
                        ));
                    }
                };
            let new = promotion.new_write_host.clone();
            if !super::is_host_of(&config, &new) || new == **old.addr() {
                return Err(format!(
                    "the promoter chose {new}, which is not another host of group '{group}'"
                ));
            }
            let epoch = self.failover.decision(group).map_or(1, |d| d.epoch + 1);
            self.failover
                .decide(
                    group,
                    Decision {
                        write_host: new.clone(),
                        epoch,
                        at_unix_ms: now_unix_ms(),
                        reason: reason_name.to_owned(),
                        fenced: Vec::new(),
                    },
                )
                .map_err(|e| {
                    format!(
                        "the decision could not be persisted ({e}); the new write host is not used"
                    )
                })?;
            self.failover.unfence(group, &new);
            self.publish_write_hosts(group);
            Ok(promotion)
        }
        .await;

        hold.release();
        record.write_hold_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        record.at_unix_ms = now_unix_ms();
        let result = match outcome {
            Ok(p) => {
                record.new_write_host = Some(p.new_write_host.clone());
                record.new_gtid_position = p.gtid_position.clone();
                record.old_gtid_position = p.old_gtid_position.clone();
                record.fence = Some(match &p.fence {
                    Fence::ReadOnly => "read_only set".to_owned(),
                    Fence::NotReached(why) => format!("not reached: {why}"),
                });
                tracing::warn!(%group, old = %record.old_write_host, new = %p.new_write_host,
                    hold_ms = record.write_hold_ms, "write host switched");
                Ok(record.clone())
            }
            Err(e) => {
                if reason == SwitchReason::Switchover {
                    // The old write host was alive: it takes writes again.
                    self.failover.unfence(group, old.addr());
                    old.set_state(HostState::Up);
                }
                tracing::error!(%group, old = %record.old_write_host, "write host not switched: {e}");
                record.error = Some(e.clone());
                Err(SwitchError::Failed(e))
            }
        };
        self.failover.history.record(record);
        self.failover.set_switching(group, false);
        result
    }

    /// Publishes a routing table of the configuration in force with every group's active
    /// write host as decided now (`switched` just got a new one), then restarts the health
    /// monitor on it.
    pub(crate) fn publish_write_hosts(&self, switched: &str) {
        {
            let _one_at_a_time = self.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
            let old = self.table();
            let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
            let table = RoutingTable::build(
                old.config.clone(),
                old.epoch + 1,
                Some(&old),
                &|g| self.failover.active_for(g),
                &mut |a, g| {
                    let h = host_for(&mut hosts, a, g);
                    h.update_settings(pool_settings(g));
                    h
                },
            );
            drop(hosts);
            self.failover.apply_fences(&table);
            // A new write host the monitor had out of service (a replica whose replication
            // stopped as it was promoted) serves writes now: the promoter found it serving.
            if let Some(w) = table.group(switched).and_then(|g| g.write.as_ref())
                && matches!(w.state(), HostState::CatchingUp | HostState::Down)
            {
                w.set_state(HostState::Up);
            }
            self.table.store(Arc::new(table));
        }
        self.restart_monitor();
    }
}
