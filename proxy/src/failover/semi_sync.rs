//! `require_semi_sync`: an automatic promotion loses no acknowledged write only if the
//! group ran lossless semi-synchronous replication up to the death of its write host (the
//! control plane's `lossless`: enabled *and active* on the primary, wait point
//! `AFTER_SYNC`, a replica acknowledging). A dead primary cannot be asked, so while the
//! write host serves it is sampled every [`EVERY`]; the detector switches only when the
//! last sample taken of *that* write host said lossless.

use crate::server::Shared;
use myshard_config::{FailoverMode, Group};
use myshard_failover::{HostState, lossless, semi_sync_status};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::watch;

/// How often the semi-sync state of a serving write host is sampled.
const EVERY: Duration = Duration::from_millis(500);

/// Bound on each host's answer.
const STEP_TIMEOUT: Duration = Duration::from_secs(1);

/// Samples the groups of `shared` with `require_semi_sync` until `stop` or the proxy ends.
pub(super) fn start_sampler(shared: &Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        loop {
            sample(&weak).await;
            tokio::select! {
                () = tokio::time::sleep(EVERY) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
        }
    });
}

async fn sample(weak: &Weak<Shared>) {
    let Some(shared) = weak.upgrade() else {
        return;
    };
    let table = shared.table();
    for group in &table.config.groups {
        if group.failover.mode != FailoverMode::Automatic || !group.failover.require_semi_sync {
            continue;
        }
        let Some(write) = table.group(&group.name).and_then(|g| g.write.clone()) else {
            continue;
        };
        if write.state() != HostState::Up {
            // Keep what was seen while it served.
            continue;
        }
        let verdict = verdict(group, write.addr()).await;
        shared
            .failover
            .set_semi_sync_seen(&group.name, write.addr(), verdict);
    }
}

/// Whether `group` with write host `write` runs lossless semi-sync now, or why not.
async fn verdict(group: &Group, write: &str) -> Result<(), String> {
    let primary = semi_sync_status(&super::switch::login(group, write), STEP_TIMEOUT).await?;
    let others = group
        .write_hosts
        .iter()
        .chain(group.read_hosts.iter().map(|r| &r.host))
        .filter(|h| *h != write);
    let mut replicas = Vec::new();
    for h in others {
        // A candidate that does not answer acknowledges nothing.
        if let Ok(s) = semi_sync_status(&super::switch::login(group, h), STEP_TIMEOUT).await {
            replicas.push(s);
        }
    }
    lossless(&primary, &replicas)
}

/// Refuses an automatic switch of `group` away from `write` unless the last sample of
/// `write` said lossless.
pub(super) fn check(shared: &Shared, group: &Group, write: &str) -> Result<(), String> {
    let why = match shared.failover.semi_sync_seen(&group.name, write) {
        Some(Ok(())) => return Ok(()),
        Some(Err(why)) => why,
        None => format!("{write} was never sampled while it served"),
    };
    Err(format!(
        "the write host {write} is down, but failover.require_semi_sync is set and the group \
         did not run lossless semi-synchronous replication when last checked ({why}): an \
         automatic promotion could lose acknowledged writes; no automatic switch"
    ))
}
