//! The health monitor against real MariaDB GTID replication (a primary and two replicas):
//! a replica whose SQL thread stops leaves service and returns after catching up; a killed
//! replica is down within `interval × fall` and comes back through *catching up*; a flip of
//! `read_only` is reported; the write host keeps serving writes; a reload restarts the
//! monitor for the new hosts.

mod harness;

use anyhow::{Context, Result, bail, ensure};
use harness::proxy::{APP_PASSWORD, APP_USER, app_conn};
use harness::replication::ReplicatedGroup;
use harness::{MYSHARD_PASSWORD, MYSHARD_USER};
use myshard_config::Config;
use myshard_failover::{HostRecord, HostState};
use myshard_proxy::ProxyHandle;
use mysql_async::prelude::Queryable;
use std::future::Future;
use std::time::{Duration, Instant};

const INTERVAL_MS: u64 = 100;
const TIMEOUT_MS: u64 = 400;
const FALL: u64 = 3;
const RISE: u64 = 2;
const MAX_LAG_MS: u64 = 1000;

/// The group `g0` on `group`'s primary with the first `read_hosts` replicas as read hosts,
/// checked every 100 ms, and schema `s0` in database `s0_db` there.
fn config(group: &ReplicatedGroup, read_hosts: usize) -> Result<Config> {
    let reads: Vec<String> = group.replicas[..read_hosts]
        .iter()
        .map(|r| format!("'{}'", r.addr()))
        .collect();
    let yaml = format!(
        "listen: 127.0.0.1:0
users: [{{name: {APP_USER}, password: {APP_PASSWORD}, schemas: ['*']}}]
groups:
  - name: g0
    user: {MYSHARD_USER}
    password: {MYSHARD_PASSWORD}
    write_hosts: ['{primary}']
    read_hosts: [{reads}]
    max_replica_lag_ms: {MAX_LAG_MS}
    heartbeat: {{interval_ms: {INTERVAL_MS}, timeout_ms: {TIMEOUT_MS}, fall: {FALL}, rise: {RISE}}}
schemas:
  - {{name: s0, group: g0, database: s0_db}}
",
        primary = group.primary.addr(),
        reads = reads.join(", "),
    );
    myshard_config::parse(&yaml, "monitor test").map_err(|e| anyhow::anyhow!("{e}"))
}

/// A replicated group with `s0_db.t` everywhere and a proxy on it.
async fn start(read_hosts: usize) -> Result<(ReplicatedGroup, ProxyHandle)> {
    let group = ReplicatedGroup::start(2, 7).await?;
    group
        .primary
        .exec("CREATE DATABASE s0_db; CREATE TABLE s0_db.t (id INT PRIMARY KEY)")
        .await?;
    group.wait_caught_up().await?;
    let proxy = myshard_proxy::start(config(&group, read_hosts)?).await?;
    Ok((group, proxy))
}

/// The state of `addr` in the proxy's routing table (write host or read host).
fn state_of(proxy: &ProxyHandle, addr: &str) -> Option<(HostState, u64)> {
    let table = proxy.shared().table();
    let host = table.hosts().find(|h| &**h.addr() == addr)?.clone();
    Some((host.state(), host.epoch()))
}

fn record_of(proxy: &ProxyHandle, addr: &str) -> Option<HostRecord> {
    proxy
        .shared()
        .host_records()
        .into_iter()
        .find(|r| r.addr == addr)
}

/// Polls `check` every 10 ms until it gives a value, for at most `limit`.
async fn within<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("{what}: not within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn state_becomes(
    proxy: &ProxyHandle,
    addr: &str,
    want: HostState,
    limit: Duration,
) -> Result<()> {
    within(limit, &format!("{addr} {}", want.name()), || async {
        Ok(state_of(proxy, addr)
            .filter(|(s, _)| *s == want)
            .map(|_| ()))
    })
    .await
}

/// Every checked host is up once its first heartbeats are in.
async fn all_up(proxy: &ProxyHandle, group: &ReplicatedGroup, read_hosts: usize) -> Result<()> {
    let addrs = std::iter::once(&group.primary)
        .chain(&group.replicas[..read_hosts])
        .map(|s| s.addr());
    for addr in addrs {
        within(
            Duration::from_secs(5),
            &format!("{addr} checked and up"),
            || async {
                Ok(record_of(proxy, &addr)
                    .filter(|r| r.last_check_unix_ms.is_some() && r.state == "up")
                    .map(|_| ()))
            },
        )
        .await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_with_its_sql_thread_stopped_catches_up_before_serving_again() -> Result<()> {
    let (group, proxy) = start(2).await?;
    all_up(&proxy, &group, 2).await?;
    let replica = group.replicas[0].addr();
    let record = record_of(&proxy, &replica).context("no record")?;
    ensure!(record.sql_thread.as_deref() == Some("Yes"), "{record:?}");
    ensure!(
        record.replicates_from.as_deref() == Some(group.primary.addr().as_str()),
        "{record:?}"
    );
    ensure!(
        record.gtid_slave_pos.is_some() && record.read_only == Some(true),
        "{record:?}"
    );

    group.stop_sql_thread(0).await?;
    let mut app = app_conn(&proxy, Some("s0")).await?;
    // Taken before the write: the monitor cannot see the primary past it any earlier.
    let written = Instant::now();
    app.query_drop("INSERT INTO t VALUES (1), (2)").await?;
    // MariaDB reports no lag while the SQL thread is stopped: the monitor measures it from
    // GTID positions, and the replica serves what it has until that lag passes the bound.
    let mut seen_serving_late = false;
    let left = loop {
        let state = state_of(&proxy, &replica).map(|s| s.0);
        let elapsed = written.elapsed();
        if state == Some(HostState::CatchingUp) {
            break elapsed;
        }
        if state == Some(HostState::Up) && elapsed >= Duration::from_millis(MAX_LAG_MS / 2) {
            seen_serving_late = true;
        }
        ensure!(
            elapsed < Duration::from_secs(5),
            "the stopped replica still {state:?} after {elapsed:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    ensure!(
        left >= Duration::from_millis(MAX_LAG_MS),
        "left after {left:?}, before the {MAX_LAG_MS} ms allowed"
    );
    ensure!(
        seen_serving_late,
        "it served while its lag was within the bound"
    );
    let record = record_of(&proxy, &replica).context("no record")?;
    ensure!(record.sql_thread.as_deref() == Some("No"), "{record:?}");
    ensure!(
        record
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("stopped") && e.contains("behind the primary by GTID")),
        "{record:?}"
    );
    ensure!(
        record.gtid_lag_ms.is_some_and(|l| l >= MAX_LAG_MS)
            && record.behind_gtid.is_some()
            && record.lag_seconds.is_some_and(|l| l >= 1),
        "the lag is published: {record:?}"
    );
    // The other replica and the write host are not affected; writes go on.
    ensure!(state_of(&proxy, &group.replicas[1].addr()).map(|s| s.0) == Some(HostState::Up));
    app.query_drop("INSERT INTO t VALUES (3)").await?;
    // Still catching up while it stays stopped.
    tokio::time::sleep(Duration::from_millis(INTERVAL_MS * (RISE + 2))).await;
    ensure!(state_of(&proxy, &replica).map(|s| s.0) == Some(HostState::CatchingUp));

    group.start_sql_thread(0).await?;
    let started = Instant::now();
    state_becomes(&proxy, &replica, HostState::Up, Duration::from_secs(3)).await?;
    // interval × rise, plus a check under way and slack for a loaded machine.
    let bound = Duration::from_millis(INTERVAL_MS * (RISE + 1) + TIMEOUT_MS + 1_000);
    ensure!(
        started.elapsed() <= bound,
        "serving {:?} after catching up, more than {bound:?}",
        started.elapsed()
    );
    let n: Vec<i64> = group.replicas[0]
        .query("SELECT COUNT(*) FROM s0_db.t")
        .await?;
    ensure!(
        n == [3],
        "the replica serves again after applying every write: {n:?}"
    );
    let record = record_of(&proxy, &replica).context("no record")?;
    ensure!(
        record.last_error.is_none()
            && record.lag_seconds.is_some_and(|l| l <= 1)
            && record.behind_gtid.is_none(),
        "{record:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_is_down_quickly_and_returns_through_catching_up() -> Result<()> {
    let (mut group, proxy) = start(2).await?;
    all_up(&proxy, &group, 2).await?;
    let replica = group.replicas[1].addr();
    group.replica_mut(1)?.kill()?;
    let killed = Instant::now();
    state_becomes(&proxy, &replica, HostState::Down, Duration::from_secs(5)).await?;
    let took = killed.elapsed();
    // interval × fall, plus one timeout for a check that was under way, plus slack for a
    // loaded machine.
    let bound = Duration::from_millis(INTERVAL_MS * FALL + TIMEOUT_MS + 700);
    ensure!(took <= bound, "down after {took:?}, more than {bound:?}");
    let record = record_of(&proxy, &replica).context("no record")?;
    ensure!(record.last_error.is_some(), "{record:?}");
    let (_, down_epoch) = state_of(&proxy, &replica).context("no host")?;

    // Writes go on while the replica is down.
    let mut app = app_conn(&proxy, Some("s0")).await?;
    app.query_drop("INSERT INTO t VALUES (10)").await?;

    // Every change of state bumps the host's epoch: down → catching up → up is two
    // changes, a straight return would be one (polling could miss a short state, the
    // epoch cannot).
    group.replica_mut(1)?.restart().await?;
    state_becomes(&proxy, &replica, HostState::Up, Duration::from_secs(10)).await?;
    let (_, epoch) = state_of(&proxy, &replica).context("no host")?;
    ensure!(
        epoch == down_epoch + 2,
        "down → catching up → up is two changes, not {}",
        epoch - down_epoch
    );
    let n: Vec<i64> = group.replicas[1]
        .query("SELECT COUNT(*) FROM s0_db.t")
        .await?;
    ensure!(
        n == [1],
        "the returned replica has the write made while it was down: {n:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_flips_are_reported_and_a_reload_restarts_the_monitor() -> Result<()> {
    let (group, proxy) = start(1).await?;
    all_up(&proxy, &group, 1).await?;
    let replica = group.replicas[0].addr();
    let primary = group.primary.addr();
    ensure!(record_of(&proxy, &group.replicas[1].addr()).is_none());

    group.replicas[0].exec("SET GLOBAL read_only=0").await?;
    group.primary.exec("SET GLOBAL read_only=1").await?;
    let noticed = |addr: String, fragment: &'static str| {
        let proxy = &proxy;
        async move {
            within(Duration::from_secs(3), fragment, || async {
                Ok(record_of(proxy, &addr)
                    .filter(|r| r.role_changes.iter().any(|c| c.what.contains(fragment)))
                    .map(|r| r.read_only))
            })
            .await
        }
    };
    ensure!(noticed(replica.clone(), "the read host became writable").await? == Some(false));
    ensure!(noticed(primary.clone(), "the write host refuses writes").await? == Some(true));
    // A role change is reported, not acted on: the write host stays the write host.
    ensure!(state_of(&proxy, &primary).map(|s| s.0) == Some(HostState::Up));
    group.primary.exec("SET GLOBAL read_only=0").await?;
    noticed(primary.clone(), "read_only changed from ON to OFF").await?;

    // A reload adding the second replica: the monitor checks it and keeps the old records.
    let mut config = config(&group, 2)?;
    config.listen = proxy.shared().config().listen.clone();
    proxy.shared().reload(config)?;
    all_up(&proxy, &group, 2).await?;
    let record = record_of(&proxy, &replica).context("no record")?;
    ensure!(
        record
            .role_changes
            .iter()
            .any(|c| c.what.contains("became writable")),
        "the reload kept the record: {record:?}"
    );
    // Stopping the proxy stops the monitor.
    proxy.stop();
    ensure!(proxy.shared().host_records().is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_write_host_is_down_and_returns_straight_to_serving() -> Result<()> {
    let (mut group, proxy) = start(1).await?;
    all_up(&proxy, &group, 1).await?;
    let primary = group.primary.addr();
    let mut app = app_conn(&proxy, Some("s0")).await?;
    group.primary.kill()?;
    state_becomes(&proxy, &primary, HostState::Down, Duration::from_secs(5)).await?;
    let (_, down_epoch) = state_of(&proxy, &primary).context("no host")?;
    // Refused at once, with an error naming the host, while it is down.
    let refused = app.query_drop("INSERT INTO t VALUES (20)").await;
    ensure!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains(&primary)),
        "{refused:?}"
    );
    group.primary.restart().await?;
    state_becomes(&proxy, &primary, HostState::Up, Duration::from_secs(5)).await?;
    let (_, epoch) = state_of(&proxy, &primary).context("no host")?;
    ensure!(
        epoch == down_epoch + 1,
        "a write host does not catch up: {down_epoch} → {epoch}"
    );
    app.query_drop("INSERT INTO t VALUES (21)").await?;
    Ok(())
}
