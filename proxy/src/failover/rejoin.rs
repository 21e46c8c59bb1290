//! Rejoining a fenced former write host as a replica of the group's write host
//! (`POST /rejoin`, `myshard rejoin`): the control plane checks that its GTID history is a
//! prefix of the new primary's and repoints it; then the proxy lifts the fence, persists
//! that, and lets the health monitor bring it back as a read host once it has caught up.

use super::switch::{SwitchError, login};
use crate::server::Shared;
use myshard_failover::promotion::{RejoinError, heartbeat_period, rejoin as rejoin_host};
use myshard_failover::{HostState, ReplicationLogin};
use std::sync::Arc;
use std::time::Duration;

/// Bound on each step of a rejoin (connecting, checking, repointing).
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// Rejoins `host`, fenced in `group`, as a replica of the group's write host: what was done,
/// or why not (`Diverged` lists the transactions only the old host holds; nothing changed).
pub async fn rejoin(shared: &Arc<Shared>, group: &str, host: &str) -> Result<String, SwitchError> {
    let lock = shared.failover.lock_of(group);
    let _no_switch_meanwhile = lock.lock().await;
    let table = shared.table();
    let config = table
        .config
        .group(group)
        .cloned()
        .ok_or_else(|| SwitchError::UnknownGroup(group.to_owned()))?;
    if !shared
        .failover
        .fenced_hosts(group)
        .iter()
        .any(|h| h == host)
    {
        return Err(SwitchError::BadTarget(format!(
            "{host} is not a fenced host of group '{group}'; only a former write host \
             fenced by a switch can rejoin"
        )));
    }
    let write = table
        .group(group)
        .and_then(|g| g.write.clone())
        .ok_or_else(|| {
            SwitchError::Failed(format!("group '{group}' has no write host to rejoin"))
        })?;
    let failover = &config.failover;
    let replication = ReplicationLogin {
        user: failover
            .replication_user
            .clone()
            .unwrap_or_else(|| config.user.clone()),
        password: failover
            .replication_password
            .clone()
            .unwrap_or_else(|| config.password.clone()),
    };
    // The heartbeat period of the group's other replicas: the rejoined host's silence must
    // prove a hung primary as fast as theirs.
    let mut period = 0.0;
    for other in config
        .read_hosts
        .iter()
        .map(|r| &r.host)
        .filter(|h| *h != host && **h != **write.addr())
    {
        period = heartbeat_period(&login(&config, other), STEP_TIMEOUT).await;
        if period > 0.0 {
            break;
        }
    }
    let from = rejoin_host(
        &login(&config, host),
        &login(&config, write.addr()),
        &replication,
        period,
        STEP_TIMEOUT,
    )
    .await
    .map_err(|e| match e {
        RejoinError::Diverged { .. } => SwitchError::NotAllowed(format!(
            "{host} cannot rejoin group '{group}': {e}; it stays fenced"
        )),
        RejoinError::Failed(_) => {
            SwitchError::Failed(format!("{host} did not rejoin group '{group}': {e}"))
        }
    })?;
    shared.failover.unfence(group, host);
    if let Err(e) = shared.failover.persist() {
        // Fenced again: the decision file must never say less than what the proxy does.
        shared.failover.fence(group, host);
        return Err(SwitchError::Failed(format!(
            "{host} replicates from {} now, but lifting its fence could not be persisted \
             ({e}); it stays fenced",
            write.addr()
        )));
    }
    // Out of service until the monitor sees it caught up (if it is a read host at all).
    for h in table
        .groups()
        .iter()
        .filter(|g| &*g.name == group)
        .flat_map(|g| g.reads.iter())
    {
        if **h.addr() == *host {
            h.set_state(HostState::CatchingUp);
        }
    }
    shared.publish_write_hosts(group);
    tracing::warn!(%group, %host, new = %write.addr(), %from, "former write host rejoined");
    Ok(format!(
        "{host} replicates from {} (from GTID {from}) and is no longer fenced",
        write.addr()
    ))
}
