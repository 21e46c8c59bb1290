//! The health monitor: one task per host of every group, running the group's heartbeat,
//! turning its outcomes into a [`HostState`] with hysteresis, and keeping a [`HostRecord`]
//! per host for the status endpoint.
//!
//! It publishes state changes through [`HostStates`], which the proxy implements over its
//! routing table; the monitor never depends on the proxy. A host changing role by itself
//! (read_only flips, a replica becomes writable, its replication source changes) is logged
//! and noted in its record; the monitor never sends writes anywhere, so such a host is never
//! silently used for writes.

mod hysteresis;
mod positions;
mod probe;
mod record;

pub use hysteresis::{Hysteresis, Outcome};
pub use positions::{GtidLag, PrimaryPositions};
pub use probe::opts;
pub use probe::{Login, Probe, Prober, SourceStatus};
pub use record::{HostRecord, ROLE_CHANGES_KEPT, Role, RoleChange, now_unix_ms};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use myshard_config::{Config, Heartbeat};
use tokio::task::JoinHandle;

use crate::HostState;

/// Where the monitor publishes a host's new state (the proxy's routing table).
pub trait HostStates: Send + Sync + 'static {
    /// `target`'s host is now in `state`.
    fn set(&self, target: &MonitorTarget, state: HostState);

    /// The state `target`'s host is in now, which its heartbeats start from (none: up).
    fn current(&self, target: &MonitorTarget) -> Option<HostState>;
}

/// One host of one group to watch, and how.
#[derive(Debug, Clone)]
pub struct MonitorTarget {
    /// Group name.
    pub group: String,
    /// Its role in the group.
    pub role: Role,
    /// How to reach it.
    pub login: Login,
    /// Heartbeat settings of the group.
    pub heartbeat: Heartbeat,
    /// A replica further behind than this is catching up; none: no bound.
    pub max_lag: Option<Duration>,
}

impl MonitorTarget {
    /// Every host `config` routes to: each group's active write host, then its read hosts
    /// (groups with `heartbeat.enabled: false` left out).
    pub fn of_config(config: &Config) -> Vec<MonitorTarget> {
        let mut targets = Vec::new();
        for group in config.groups.iter().filter(|g| g.heartbeat.enabled) {
            let hosts = crate::active_write_host(group)
                .map(|h| (h, Role::Write))
                .into_iter()
                .chain(
                    group
                        .read_hosts
                        .iter()
                        .map(|r| (r.host.as_str(), Role::Read)),
                );
            for (addr, role) in hosts {
                targets.push(MonitorTarget {
                    group: group.name.clone(),
                    role,
                    login: Login {
                        addr: addr.to_owned(),
                        user: group.user.clone(),
                        password: group.password.clone(),
                        gtid: group.gtid,
                    },
                    heartbeat: group.heartbeat.clone(),
                    max_lag: (group.max_replica_lag_ms > 0)
                        .then(|| Duration::from_millis(group.max_replica_lag_ms)),
                });
            }
        }
        targets
    }
}

/// The running monitor; dropping it stops every heartbeat.
pub struct Monitor {
    records: Vec<Arc<Mutex<HostRecord>>>,
    tasks: Vec<JoinHandle<()>>,
    states: Arc<dyn HostStates>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("hosts", &self.records.len())
            .finish()
    }
}

impl Monitor {
    /// Starts one heartbeat task per target (on the current tokio runtime), publishing
    /// state changes to `states`. A target with a record in `previous` (same group, address
    /// and role: the monitor restarted after a reload) keeps it, role changes included.
    pub fn start(
        targets: Vec<MonitorTarget>,
        states: Arc<dyn HostStates>,
        previous: &[HostRecord],
    ) -> Monitor {
        let mut records = Vec::with_capacity(targets.len());
        let mut tasks = Vec::with_capacity(targets.len());
        // One primary position log per group, written by its write host's heartbeats and
        // read by its replicas'.
        let mut logs: HashMap<String, Arc<Mutex<PrimaryPositions>>> = HashMap::new();
        for target in targets {
            let kept = previous.iter().find(|r| {
                r.group == target.group && r.addr == target.login.addr && r.role == target.role
            });
            let record = Arc::new(Mutex::new(kept.cloned().unwrap_or_else(|| {
                HostRecord::new(&target.group, &target.login.addr, target.role)
            })));
            records.push(record.clone());
            let log = logs.entry(target.group.clone()).or_default().clone();
            tasks.push(tokio::spawn(watch(target, record, log, states.clone())));
        }
        Monitor {
            records,
            tasks,
            states,
        }
    }

    /// Where this monitor publishes states (to start its successor with after a reload).
    pub fn states(&self) -> Arc<dyn HostStates> {
        self.states.clone()
    }

    /// A copy of every host's record, in target order.
    pub fn snapshot(&self) -> Vec<HostRecord> {
        self.records
            .iter()
            .map(|r| r.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .collect()
    }

    /// Stops every heartbeat (also done on drop).
    pub fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The heartbeat loop of one host.
async fn watch(
    target: MonitorTarget,
    record: Arc<Mutex<HostRecord>>,
    log: Arc<Mutex<PrimaryPositions>>,
    states: Arc<dyn HostStates>,
) {
    let beat = &target.heartbeat;
    let mut prober = Prober::new(target.login.clone());
    let mut judge = Hysteresis::new(beat.fall, beat.rise, target.role == Role::Write);
    if let Some(state) = states.current(&target) {
        judge.start_in(state);
        let mut record = record.lock().unwrap_or_else(|e| e.into_inner());
        if record.state != state.name() {
            record.state = state.name().to_owned();
            record.since_unix_ms = now_unix_ms();
        }
    }
    let mut ticker = tokio::time::interval(Duration::from_millis(beat.interval_ms.max(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let timeout = Duration::from_millis(beat.timeout_ms.max(1));
    loop {
        ticker.tick().await;
        let result = prober.probe(timeout).await;
        let (outcome, changed) = {
            let mut record = record.lock().unwrap_or_else(|e| e.into_inner());
            let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
            // Only a serving replica may keep serving with its replication stopped (within
            // the lag bound); one out of service comes back running and caught up.
            let serving = judge.state() == HostState::Up;
            let outcome = update(&target, &mut record, &mut log, serving, result);
            let changed = judge.observe(outcome);
            if let Some(state) = changed {
                record.state = state.name().to_owned();
                record.since_unix_ms = now_unix_ms();
            }
            (outcome, changed)
        };
        if let Some(state) = changed {
            tracing::warn!(
                group = %target.group,
                host = %target.login.addr,
                ?outcome,
                "host is now {}",
                state.name()
            );
            states.set(&target, state);
        }
    }
}

/// Writes one heartbeat's findings into `record` (noting role changes) and judges them.
fn update(
    target: &MonitorTarget,
    record: &mut HostRecord,
    log: &mut PrimaryPositions,
    serving: bool,
    result: Result<Probe, String>,
) -> Outcome {
    let now = Instant::now();
    record.last_check_unix_ms = Some(now_unix_ms());
    let probe = match result {
        Ok(probe) => probe,
        Err(error) => {
            record.last_error = Some(error);
            return Outcome::Unreachable;
        }
    };
    for change in role_changes(target, record, &probe) {
        tracing::warn!(group = %target.group, host = %target.login.addr, "{change}");
        record.note_role_change(change);
    }
    let join = |f: &dyn Fn(&SourceStatus) -> String| -> Option<String> {
        (!probe.sources.is_empty())
            .then(|| probe.sources.iter().map(f).collect::<Vec<_>>().join(","))
    };
    record.read_only = Some(probe.read_only);
    record.gtid_current_pos = probe.gtid_current_pos.clone();
    record.gtid_slave_pos = probe.sources.iter().find_map(|s| s.gtid_slave_pos.clone());
    let gtid_lag = gtid_lag(target, record, log, &probe, now);
    record.gtid_lag_ms = gtid_lag
        .as_ref()
        .map(|l| u64::try_from(l.lag.as_millis()).unwrap_or(u64::MAX));
    record.behind_gtid = gtid_lag.as_ref().and_then(|l| l.behind.clone());
    let server_lag = probe.sources.iter().filter_map(|s| s.lag_seconds).max();
    let measured_lag = gtid_lag.as_ref().map(|l| l.lag.as_secs());
    record.lag_seconds = server_lag.max(measured_lag);
    record.io_thread = join(&|s| s.io_thread.clone());
    record.sql_thread = join(&|s| s.sql_thread.clone());
    record.replicates_from = join(&|s| s.source.clone());
    let (outcome, why) = judge_replication(target, &probe, gtid_lag.map(|l| l.lag), serving);
    record.last_error = why;
    outcome
}

/// The write host's position goes into the group's log; a replica's lag is measured
/// against it (GTID hosts whose primary was seen; none otherwise).
fn gtid_lag(
    target: &MonitorTarget,
    record: &HostRecord,
    log: &mut PrimaryPositions,
    probe: &Probe,
    now: Instant,
) -> Option<GtidLag> {
    if !target.login.gtid {
        return None;
    }
    match target.role {
        Role::Write => {
            if let Some(pos) = &probe.gtid_current_pos {
                log.note_primary(pos, now);
            }
            None
        }
        Role::Read => {
            let applied = record.gtid_slave_pos.as_deref()?;
            log.known()
                .then(|| log.lag_of(&target.login.addr, applied, now))
        }
    }
}

/// Whether a host that answered replicates well enough to serve, and why not. A `serving`
/// replica whose replication was stopped without an error is judged by its lag measured
/// from GTID positions (`gtid_lag`) when there is one and a bound: it still serves what it
/// has, up to the bound. Without a measure or a bound, or when the replica is out of service
/// (it must come back replicating), a stopped replica is catching up at once.
fn judge_replication(
    target: &MonitorTarget,
    probe: &Probe,
    gtid_lag: Option<Duration>,
    serving: bool,
) -> (Outcome, Option<String>) {
    if target.role == Role::Write {
        return (Outcome::Healthy, None);
    }
    if probe.sources.is_empty() {
        return (Outcome::Behind, Some("replicates from nothing".into()));
    }
    let measured = gtid_lag.zip(target.max_lag);
    for source in &probe.sources {
        if !source.running() {
            let why = source.last_error.clone().unwrap_or_else(|| {
                format!(
                    "replication from {} stopped (IO thread {}, SQL thread {})",
                    source.source, source.io_thread, source.sql_thread
                )
            });
            match measured {
                Some((lag, max)) if serving && source.last_error.is_none() => {
                    if lag > max {
                        return (
                            Outcome::Behind,
                            Some(format!(
                                "{why}, {} ms behind the primary by GTID, more than the {} ms \
                                 allowed",
                                lag.as_millis(),
                                max.as_millis()
                            )),
                        );
                    }
                }
                _ => return (Outcome::Behind, Some(why)),
            }
        }
        if let Some((lag, max)) = measured
            && lag > max
        {
            return (
                Outcome::Behind,
                Some(format!(
                    "{} ms behind the primary by GTID, more than the {} ms allowed",
                    lag.as_millis(),
                    max.as_millis()
                )),
            );
        }
        if let (Some(max), Some(lag)) = (target.max_lag, source.lag_seconds)
            && Duration::from_secs(lag) > max
        {
            return (
                Outcome::Behind,
                Some(format!(
                    "{lag} s behind {}, more than the {} ms allowed",
                    source.source,
                    max.as_millis()
                )),
            );
        }
    }
    (Outcome::Healthy, None)
}

/// Role changes between the last heartbeat that reached the host (as in `record`) and
/// `probe`; on the first one, only what is wrong for the host's role.
fn role_changes(target: &MonitorTarget, record: &HostRecord, probe: &Probe) -> Vec<String> {
    let mut changes = Vec::new();
    let on_off = |b: bool| if b { "ON" } else { "OFF" };
    match record.read_only {
        Some(before) if before != probe.read_only => {
            let mut what = format!(
                "read_only changed from {} to {}",
                on_off(before),
                on_off(probe.read_only)
            );
            match (target.role, probe.read_only) {
                (Role::Read, false) => what.push_str(": the read host became writable"),
                (Role::Write, true) => what.push_str(": the write host refuses writes"),
                _ => {}
            }
            changes.push(what);
        }
        Some(_) => {}
        None => match (target.role, probe.read_only) {
            (Role::Read, false) => changes.push("the read host is writable (read_only OFF)".into()),
            (Role::Write, true) => changes.push("the write host is read_only".into()),
            _ => {}
        },
    }
    let sources: Vec<&str> = probe.sources.iter().map(|s| s.source.as_str()).collect();
    let now = (!sources.is_empty()).then(|| sources.join(","));
    let checked_before = record.read_only.is_some();
    if checked_before && record.replicates_from != now {
        changes.push(format!(
            "replication source changed from {} to {}",
            record.replicates_from.as_deref().unwrap_or("nothing"),
            now.as_deref().unwrap_or("nothing")
        ));
    } else if !checked_before
        && target.role == Role::Write
        && let Some(now) = &now
    {
        changes.push(format!("the write host replicates from {now}"));
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(role: Role, max_lag_ms: Option<u64>) -> MonitorTarget {
        MonitorTarget {
            group: "g0".into(),
            role,
            login: Login {
                addr: "10.0.0.2:3306".into(),
                user: "u".into(),
                password: String::new(),
                gtid: true,
            },
            heartbeat: Heartbeat::default(),
            max_lag: max_lag_ms.map(Duration::from_millis),
        }
    }

    fn replicating(source: &str, sql: &str, lag: Option<u64>) -> Probe {
        Probe {
            read_only: true,
            gtid_current_pos: Some("0-1-5".into()),
            sources: vec![SourceStatus {
                source: source.into(),
                io_thread: "Yes".into(),
                sql_thread: sql.into(),
                lag_seconds: lag,
                gtid_slave_pos: Some("0-1-5".into()),
                last_error: None,
            }],
        }
    }

    #[test]
    fn a_replica_is_behind_when_stopped_lagging_or_replicating_nothing() {
        let read = target(Role::Read, Some(2_000));
        let ok = replicating("db1:3306", "Yes", Some(2));
        assert_eq!(
            judge_replication(&read, &ok, None, true),
            (Outcome::Healthy, None)
        );
        let (outcome, why) =
            judge_replication(&read, &replicating("db1:3306", "Yes", Some(3)), None, true);
        assert_eq!(outcome, Outcome::Behind);
        assert!(why.is_some_and(|w| w.contains("3 s behind db1:3306")));
        let (outcome, why) =
            judge_replication(&read, &replicating("db1:3306", "No", None), None, true);
        assert_eq!(outcome, Outcome::Behind);
        assert!(why.is_some_and(|w| w.contains("SQL thread No")));
        let alone = Probe {
            sources: vec![],
            ..ok.clone()
        };
        assert_eq!(
            judge_replication(&read, &alone, None, true).0,
            Outcome::Behind
        );
        // No bound: lag alone never takes it out.
        let unbounded = target(Role::Read, None);
        let far = replicating("db1:3306", "Yes", Some(3_600));
        assert_eq!(
            judge_replication(&unbounded, &far, None, true).0,
            Outcome::Healthy
        );
        // A write host is judged on reachability only.
        let write = target(Role::Write, Some(1));
        assert_eq!(
            judge_replication(&write, &far, None, true).0,
            Outcome::Healthy
        );
    }

    #[test]
    fn a_stopped_replica_serves_until_its_gtid_lag_passes_the_bound() {
        let read = target(Role::Read, Some(1_000));
        let stopped = replicating("db1:3306", "No", None);
        let short = Some(Duration::from_millis(900));
        assert_eq!(
            judge_replication(&read, &stopped, short, true).0,
            Outcome::Healthy
        );
        let (outcome, why) =
            judge_replication(&read, &stopped, Some(Duration::from_millis(1_200)), true);
        assert_eq!(outcome, Outcome::Behind);
        assert!(
            why.as_deref()
                .is_some_and(|w| w.contains("stopped") && w.contains("1200 ms behind")),
            "{why:?}"
        );
        // Broken (an error), or no bound: out at once.
        let broken = Probe {
            sources: vec![SourceStatus {
                last_error: Some("Duplicate entry".into()),
                ..stopped.sources[0].clone()
            }],
            ..stopped.clone()
        };
        assert_eq!(
            judge_replication(&read, &broken, short, true).0,
            Outcome::Behind
        );
        let unbounded = target(Role::Read, None);
        assert_eq!(
            judge_replication(&unbounded, &stopped, short, true).0,
            Outcome::Behind
        );
        // Out of service, it comes back only replicating.
        assert_eq!(
            judge_replication(&read, &stopped, short, false).0,
            Outcome::Behind
        );
        // A running replica far behind by GTID is out too.
        let running = replicating("db1:3306", "Yes", Some(0));
        let far = Some(Duration::from_secs(5));
        assert_eq!(
            judge_replication(&read, &running, far, true).0,
            Outcome::Behind
        );
    }

    #[test]
    fn the_write_host_feeds_the_log_replicas_are_measured_against() {
        let write = target(Role::Write, None);
        let read = target(Role::Read, Some(1_000));
        let mut log = PrimaryPositions::default();
        let mut wr = HostRecord::new("g0", "10.0.0.1:3306", Role::Write);
        let mut rr = HostRecord::new("g0", "10.0.0.2:3306", Role::Read);
        let primary = Probe {
            read_only: false,
            gtid_current_pos: Some("0-1-6".into()),
            sources: vec![],
        };
        update(&write, &mut wr, &mut log, true, Ok(primary));
        assert_eq!(wr.gtid_lag_ms, None);
        let stopped = replicating("db1:3306", "No", None);
        assert_eq!(
            update(&read, &mut rr, &mut log, true, Ok(stopped.clone())),
            Outcome::Healthy
        );
        assert_eq!(rr.behind_gtid.as_deref(), Some("0-1-6"));
        assert!(rr.gtid_lag_ms.is_some_and(|l| l < 1_000), "{rr:?}");
        assert_eq!(rr.lag_seconds, Some(0));
        let caught_up = replicating("db1:3306", "Yes", Some(0));
        let caught_up = Probe {
            sources: vec![SourceStatus {
                gtid_slave_pos: Some("0-1-6".into()),
                ..caught_up.sources[0].clone()
            }],
            ..caught_up
        };
        update(&read, &mut rr, &mut log, true, Ok(caught_up));
        assert_eq!((rr.gtid_lag_ms, rr.behind_gtid.as_deref()), (Some(0), None));
    }

    #[test]
    fn role_changes_are_noted_once_each() {
        let read = target(Role::Read, None);
        let mut record = HostRecord::new("g0", "10.0.0.2:3306", Role::Read);
        let first = replicating("db1:3306", "Yes", Some(0));
        assert_eq!(
            update(
                &read,
                &mut record,
                &mut PrimaryPositions::default(),
                true,
                Ok(first.clone())
            ),
            Outcome::Healthy
        );
        assert!(record.role_changes.is_empty(), "{record:?}");
        assert_eq!(
            update(
                &read,
                &mut record,
                &mut PrimaryPositions::default(),
                true,
                Ok(first.clone())
            ),
            Outcome::Healthy
        );
        assert!(record.role_changes.is_empty());
        let moved = replicating("db9:3306", "Yes", Some(0));
        let writable = Probe {
            read_only: false,
            ..moved
        };
        update(
            &read,
            &mut record,
            &mut PrimaryPositions::default(),
            true,
            Ok(writable.clone()),
        );
        let what: Vec<&str> = record
            .role_changes
            .iter()
            .map(|c| c.what.as_str())
            .collect();
        assert_eq!(
            what,
            [
                "read_only changed from ON to OFF: the read host became writable",
                "replication source changed from db1:3306 to db9:3306",
            ]
        );
        update(
            &read,
            &mut record,
            &mut PrimaryPositions::default(),
            true,
            Ok(writable),
        );
        assert_eq!(record.role_changes.len(), 2, "nothing new: nothing noted");
        assert_eq!(record.replicates_from.as_deref(), Some("db9:3306"));
        // A failed check keeps what was known and says why.
        assert_eq!(
            update(
                &read,
                &mut record,
                &mut PrimaryPositions::default(),
                true,
                Err("connect: refused".into())
            ),
            Outcome::Unreachable
        );
        assert_eq!(record.last_error.as_deref(), Some("connect: refused"));
        assert_eq!(record.read_only, Some(false));
    }

    #[test]
    fn a_write_host_that_replicates_or_is_read_only_is_reported_at_once() {
        let write = target(Role::Write, None);
        let mut record = HostRecord::new("g0", "10.0.0.1:3306", Role::Write);
        update(
            &write,
            &mut record,
            &mut PrimaryPositions::default(),
            true,
            Ok(replicating("db2:3306", "Yes", Some(0))),
        );
        let what: Vec<&str> = record
            .role_changes
            .iter()
            .map(|c| c.what.as_str())
            .collect();
        assert_eq!(
            what,
            [
                "the write host is read_only",
                "the write host replicates from db2:3306"
            ]
        );
    }

    #[test]
    fn records_keep_the_last_role_changes() {
        let mut record = HostRecord::new("g0", "a:1", Role::Read);
        for i in 0..ROLE_CHANGES_KEPT + 5 {
            record.note_role_change(format!("change {i}"));
        }
        assert_eq!(record.role_changes.len(), ROLE_CHANGES_KEPT);
        assert_eq!(record.role_changes[0].what, "change 5");
    }
}
