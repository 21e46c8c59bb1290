//! Automatic failover: a group in `failover.mode: automatic` is switched once its write
//! host is dead — the health monitor marked it down after `heartbeat.fall` failed checks
//! (refused, timed out, or hung) — *and* its replicas agree: none that answers still has
//! its IO thread running. A proxy cut off from a healthy primary, whose replicas still
//! receive from it, does not depose it. A group without read hosts has nobody to ask: the
//! proxy's heartbeats decide alone.
//!
//! At most one automatic switch per `min_interval_ms` (no flapping), and with
//! `require_semi_sync` none unless a candidate runs semi-synchronous replication.

use crate::server::Shared;
use hashbrown::HashMap;
use myshard_config::{FailoverMode, Group};
use myshard_failover::monitor::opts;
use myshard_failover::monitor::{HostRecord, Login, Role};
use myshard_failover::{HostState, SwitchReason};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Starts the detector of `shared`'s automatic groups; it ends when `stop` turns true or
/// the proxy is gone.
pub fn start_detector(shared: &Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        let mut running: HashMap<String, JoinHandle<()>> = HashMap::new();
        loop {
            let Some(tick) = weak.upgrade().map(|s| tick_of(&s.config().groups)) else {
                return;
            };
            tokio::select! {
                () = tokio::time::sleep(tick) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
            running.retain(|_, task| !task.is_finished());
            check_groups(&weak, &mut running).await;
        }
    });
}

/// How often the detector looks: half the shortest heartbeat interval of an automatic
/// group, within 20 ms and 1 s.
fn tick_of(groups: &[Group]) -> Duration {
    let ms = groups
        .iter()
        .filter(|g| g.failover.mode == FailoverMode::Automatic)
        .map(|g| g.heartbeat.interval_ms / 2)
        .min()
        .unwrap_or(1_000)
        .clamp(20, 1_000);
    Duration::from_millis(ms)
}

async fn check_groups(weak: &Weak<Shared>, running: &mut HashMap<String, JoinHandle<()>>) {
    let Some(shared) = weak.upgrade() else {
        return;
    };
    let table = shared.table();
    let mut records = None;
    for group in &table.config.groups {
        if group.failover.mode != FailoverMode::Automatic || running.contains_key(&group.name) {
            continue;
        }
        let Some(write) = table.group(&group.name).and_then(|g| g.write.clone()) else {
            continue;
        };
        if write.state() != HostState::Down {
            shared.failover.history.clear_refusal(&group.name);
            continue;
        }
        let records = records.get_or_insert_with(|| shared.host_records());
        let decision = decide(&shared, group, write.addr(), records).await;
        match decision {
            Ok(detail) => {
                let shared = shared.clone();
                let name = group.name.clone();
                let task = tokio::spawn(async move {
                    let reason = SwitchReason::Failover { detail };
                    if let Err(e) = shared.switch_write_host(&name, reason, None).await {
                        shared.failover.history.refuse(&name, &e.to_string());
                    }
                });
                running.insert(group.name.clone(), task);
            }
            Err(why) => shared.failover.history.refuse(&group.name, &why),
        }
    }
}

/// Whether `group`, whose write host `write` the monitor marked down, fails over now: what
/// was seen, or why not.
async fn decide(
    shared: &Shared,
    group: &Group,
    write: &str,
    records: &[HostRecord],
) -> Result<String, String> {
    let seen = replicas_confirm(group, write, records)?;
    let min = Duration::from_millis(group.failover.min_interval_ms);
    if let Some(since) = shared.failover.since_last_switch(&group.name)
        && since < min
    {
        return Err(format!(
            "the write host {write} is down, but the group switched less than \
             min_interval_ms ({} ms) ago: no automatic switch until then",
            min.as_millis()
        ));
    }
    if group.failover.require_semi_sync {
        semi_sync(group, write).await?;
    }
    Ok(format!(
        "{write} failed {} heartbeats in a row; {seen}",
        group.heartbeat.fall
    ))
}

/// Whether the replicas of `group` (its read hosts other than `write`) confirm the write
/// host is gone: what they report, or why the proxy must not act on its own view.
pub fn replicas_confirm(
    group: &Group,
    write: &str,
    records: &[HostRecord],
) -> Result<String, String> {
    let replicas: Vec<&HostRecord> = records
        .iter()
        .filter(|r| r.group == group.name && r.role == Role::Read && r.addr != write)
        .collect();
    if group.read_hosts.iter().all(|r| r.host == write) {
        return Ok("the group has no replica to ask; the proxy's heartbeats decide".into());
    }
    let answering: Vec<&&HostRecord> = replicas
        .iter()
        .filter(|r| r.state != HostState::Down.name() && r.read_only.is_some())
        .collect();
    if answering.is_empty() {
        return Err(format!(
            "the write host {write} is down, but no replica answers either: the proxy may be \
             cut off rather than the write host; no automatic switch"
        ));
    }
    let still: Vec<&str> = answering
        .iter()
        .filter(|r| {
            r.io_thread
                .as_deref()
                .is_some_and(|io| !io.is_empty() && io.split(',').all(|t| t == "Yes"))
        })
        .map(|r| r.addr.as_str())
        .collect();
    if !still.is_empty() {
        return Err(format!(
            "the write host {write} does not answer the proxy, but replica(s) {} still \
             receive from it (IO thread running): no automatic switch",
            still.join(", ")
        ));
    }
    let lost: Vec<String> = answering
        .iter()
        .map(|r| {
            format!(
                "{} (IO thread {})",
                r.addr,
                r.io_thread.as_deref().unwrap_or("not replicating")
            )
        })
        .collect();
    Ok(format!("replicas lost it too: {}", lost.join(", ")))
}

/// Refuses when no candidate of `group` (other than `write`) runs semi-synchronous
/// replication (`rpl_semi_sync_master_enabled` or `rpl_semi_sync_slave_enabled`).
async fn semi_sync(group: &Group, write: &str) -> Result<(), String> {
    let hosts = group
        .write_hosts
        .iter()
        .chain(group.read_hosts.iter().map(|r| &r.host))
        .filter(|h| *h != write);
    let mut seen = Vec::new();
    for h in hosts {
        let login = Login {
            addr: h.clone(),
            user: group.user.clone(),
            password: group.password.clone(),
            gtid: group.gtid,
        };
        let answer = tokio::time::timeout(Duration::from_secs(2), async {
            let mut conn = Conn::new(opts(&login)).await.map_err(|e| e.to_string())?;
            let row: Option<(u8, u8)> = conn
                .query_first("SELECT @@rpl_semi_sync_master_enabled, @@rpl_semi_sync_slave_enabled")
                .await
                .map_err(|e| e.to_string())?;
            let _ = conn.disconnect().await;
            Ok::<_, String>(row.is_some_and(|(m, s)| m == 1 || s == 1))
        })
        .await;
        match answer {
            Ok(Ok(true)) => return Ok(()),
            Ok(Ok(false)) => seen.push(format!("{h}: off")),
            Ok(Err(e)) => seen.push(format!("{h}: {e}")),
            Err(_) => seen.push(format!("{h}: no answer")),
        }
    }
    Err(format!(
        "the write host {write} is down, but failover.require_semi_sync is set and no \
         candidate runs semi-synchronous replication ({}): an automatic promotion could \
         lose acknowledged writes; no automatic switch",
        seen.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(addr: &str, state: HostState, io: Option<&str>) -> HostRecord {
        let mut r = HostRecord::new("g0", addr, Role::Read);
        r.state = state.name().into();
        r.read_only = Some(true);
        r.io_thread = io.map(str::to_owned);
        r
    }

    #[test]
    fn replicas_must_agree_the_write_host_is_gone() {
        let mut g = Group::new("g0", "u", "", &["p:1"]);
        assert!(
            replicas_confirm(&g, "p:1", &[]).is_ok(),
            "no replica to ask"
        );
        g.read_hosts = vec!["r1:1".into(), "r2:1".into()];
        let seeing = [
            record("r1:1", HostState::CatchingUp, Some("Connecting")),
            record("r2:1", HostState::Up, Some("Yes")),
        ];
        let e = replicas_confirm(&g, "p:1", &seeing)
            .err()
            .unwrap_or_default();
        assert!(e.contains("r2:1 still receive"), "{e}");
        let lost = [
            record("r1:1", HostState::CatchingUp, Some("Connecting")),
            record("r2:1", HostState::Down, Some("Yes")),
        ];
        let ok = replicas_confirm(&g, "p:1", &lost).unwrap_or_default();
        assert!(ok.contains("r1:1 (IO thread Connecting)"), "{ok}");
        let none = [
            record("r1:1", HostState::Down, None),
            record("r2:1", HostState::Down, None),
        ];
        let e = replicas_confirm(&g, "p:1", &none).err().unwrap_or_default();
        assert!(e.contains("no replica answers"), "{e}");
    }
}
