//! Automatic failover: a group in `failover.mode: automatic` is switched once its write
//! host is dead — the health monitor marked it down after `heartbeat.fall` failed checks
//! (refused, timed out, or hung) — *and* its replicas agree: none that answers still has
//! its IO thread running. A proxy cut off from a healthy primary, whose replicas still
//! receive from it, does not depose it. A group without read hosts has nobody to ask: the
//! proxy's heartbeats decide alone.
//!
//! At most one automatic switch per `min_interval_ms` (no flapping), none while the GTID
//! domain rule is broken (`domains.rs`), and with `require_semi_sync` none unless the group
//! ran lossless semi-synchronous replication when last sampled (`semi_sync.rs`).

use super::silence::Silence;
use crate::server::Shared;
use hashbrown::HashMap;
use myshard_config::{Config, FailoverMode, Group};
use myshard_failover::monitor::{HostRecord, Role};
use myshard_failover::{HostState, SwitchReason};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Starts the detector of `shared`'s automatic groups; it ends when `stop` turns true or
/// the proxy is gone.
pub fn start_detector(shared: &Arc<Shared>, mut stop: watch::Receiver<bool>) {
    super::semi_sync::start_sampler(shared, stop.clone());
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        let mut running: HashMap<String, JoinHandle<()>> = HashMap::new();
        let mut silence = Silence::default();
        let mut checked: Option<Arc<Config>> = None;
        loop {
            let Some(shared) = weak.upgrade() else {
                return;
            };
            let config = shared.config();
            if !checked.as_ref().is_some_and(|c| Arc::ptr_eq(c, &config)) {
                // At start and after a reload: the GTID domain rule.
                checked = Some(config.clone());
                let shared = shared.clone();
                tokio::spawn(async move { super::domains::check(&shared, &config).await });
            }
            let tick = tick_of(&shared.config().groups);
            drop(shared);
            tokio::select! {
                () = tokio::time::sleep(tick) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
            running.retain(|_, task| !task.is_finished());
            check_groups(&weak, &mut running, &mut silence).await;
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

async fn check_groups(
    weak: &Weak<Shared>,
    running: &mut HashMap<String, JoinHandle<()>>,
    silence: &mut Silence,
) {
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
            silence.forget(&group.name);
            continue;
        }
        let records = records.get_or_insert_with(|| shared.host_records());
        let decision = decide(&shared, group, write.addr(), records, silence).await;
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
    silence: &mut Silence,
) -> Result<String, String> {
    if let Some(why) = shared.failover.domain_refusal(&group.name) {
        return Err(format!(
            "the write host {write} is down, but automatic failover is refused: {why}"
        ));
    }
    // Replicas still claiming to receive are asked whether anything arrives (a hung
    // write host keeps their connections open).
    let receiving = receiving(group, write, records);
    let silent = if receiving.is_empty() {
        Vec::new()
    } else {
        silence.silent(group, &receiving).await
    };
    let seen = replicas_confirm(group, write, records, &silent)?;
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
        super::semi_sync::check(shared, group, write)?;
    }
    Ok(format!(
        "{write} failed {} heartbeats in a row; {seen}",
        group.heartbeat.fall
    ))
}

/// Whether the replicas of `group` (its read hosts other than `write`) confirm the write
/// host is gone: what they report, or why the proxy must not act on its own view.
/// `silent` are replicas whose IO thread runs but which received nothing for more than
/// twice their heartbeat period (with what they showed): they lost it too.
pub fn replicas_confirm(
    group: &Group,
    write: &str,
    records: &[HostRecord],
    silent: &[(String, String)],
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
        .filter(|r| io_running(r) && !silent.iter().any(|(a, _)| *a == r.addr))
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
            if let Some((_, what)) = silent.iter().find(|(a, _)| *a == r.addr) {
                return what.clone();
            }
            format!(
                "{} (IO thread {})",
                r.addr,
                r.io_thread.as_deref().unwrap_or("not replicating")
            )
        })
        .collect();
    Ok(format!("replicas lost it too: {}", lost.join(", ")))
}

/// Whether `record`'s IO thread(s) run.
fn io_running(record: &HostRecord) -> bool {
    record
        .io_thread
        .as_deref()
        .is_some_and(|io| !io.is_empty() && io.split(',').all(|t| t == "Yes"))
}

/// The replicas of `group` (other than `write`) that answer and whose IO thread runs.
fn receiving(group: &Group, write: &str, records: &[HostRecord]) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.group == group.name && r.role == Role::Read && r.addr != write)
        .filter(|r| r.state != HostState::Down.name() && io_running(r))
        .map(|r| r.addr.clone())
        .collect()
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
            replicas_confirm(&g, "p:1", &[], &[]).is_ok(),
            "no replica to ask"
        );
        g.read_hosts = vec!["r1:1".into(), "r2:1".into()];
        let seeing = [
            record("r1:1", HostState::CatchingUp, Some("Connecting")),
            record("r2:1", HostState::Up, Some("Yes")),
        ];
        let e = replicas_confirm(&g, "p:1", &seeing, &[])
            .err()
            .unwrap_or_default();
        assert!(e.contains("r2:1 still receive"), "{e}");
        let lost = [
            record("r1:1", HostState::CatchingUp, Some("Connecting")),
            record("r2:1", HostState::Down, Some("Yes")),
        ];
        let ok = replicas_confirm(&g, "p:1", &lost, &[]).unwrap_or_default();
        assert!(ok.contains("r1:1 (IO thread Connecting)"), "{ok}");
        let quiet = [("r2:1".to_owned(), "r2:1 (nothing received)".to_owned())];
        let ok = replicas_confirm(&g, "p:1", &seeing, &quiet).unwrap_or_default();
        assert!(ok.contains("r2:1 (nothing received)"), "{ok}");
        let none = [
            record("r1:1", HostState::Down, None),
            record("r2:1", HostState::Down, None),
        ];
        let e = replicas_confirm(&g, "p:1", &none, &[])
            .err()
            .unwrap_or_default();
        assert!(e.contains("no replica answers"), "{e}");
    }
}
