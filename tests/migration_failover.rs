//! A migration across a switch of its target group (issue 13): the target is a GTID primary
//! with one replica (own domain) and the failover switch API. A planned switchover during
//! the cut-over's catch-up is followed (the replication connection is created on the
//! promoted write host from what it applied, removed from the former one) and the migration
//! completes with equal data and no connection left on either host; a switchover during
//! the copy stops the migration with a reason naming the failover, and nothing of it is
//! left on either host.

mod harness;

use anyhow::{Context, Result, bail, ensure};
use harness::proxy::{APP_PASSWORD, APP_USER, app_conn};
use harness::replication::ReplicatedGroup;
use harness::{MYSHARD_PASSWORD, MYSHARD_USER, MariaDb};
use myshard_config::Config;
use myshard_failover::SwitchReason;
use myshard_proxy::ProxyHandle;
use myshard_proxy::migration::{Bounds, Phase, journal};
use mysql_async::prelude::Queryable;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const ROWS: i64 = 40;
const CONNECTION: &str = "myshard_s0_db";

fn state_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("myshard-migfail-{name}-{}", std::process::id()))
}

/// g0 on `source` (`s0` → `s0_db`, moving), g1 on `target` (its replica a read host,
/// manual failover with promotion; `s1` → `s1_db`).
fn config(source: &ReplicatedGroup, target: &ReplicatedGroup, state: &str) -> Result<Config> {
    let yaml = format!(
        "listen: 127.0.0.1:0
state_dir: '{state}'
users: [{{name: {APP_USER}, password: {APP_PASSWORD}, schemas: ['*']}}]
groups:
  - name: g0
    user: {MYSHARD_USER}
    password: {MYSHARD_PASSWORD}
    write_hosts: ['{g0}']
    heartbeat: {{enabled: false}}
  - name: g1
    user: {MYSHARD_USER}
    password: {MYSHARD_PASSWORD}
    write_hosts: ['{g1}']
    read_hosts: ['{replica}']
    max_replica_lag_ms: 0
    heartbeat: {{interval_ms: 100, timeout_ms: 300, fall: 2, rise: 2}}
    failover: {{mode: manual, promotion: true, max_hold_ms: 8000}}
    pool: {{connect_timeout_ms: 1000}}
schemas:
  - {{name: s0, group: g0, database: s0_db}}
  - {{name: s1, group: g1, database: s1_db}}
",
        g0 = source.primary.addr(),
        g1 = target.primary.addr(),
        replica = target.replicas[0].addr(),
    );
    myshard_config::parse(&yaml, "migration failover test").map_err(|e| anyhow::anyhow!("{e}"))
}

/// Polls `check` every 20 ms until it gives a value, for at most `limit`.
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
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A source group (domain `domain`), a target group of a primary and one replica (domain
/// `domain + 1`), `ROWS` rows in `s0_db.t` on the source, and the proxy, its monitor
/// having seen the replica receiving.
async fn setup(name: &str, domain: u32) -> Result<(ReplicatedGroup, ReplicatedGroup, ProxyHandle)> {
    let (source, target) = tokio::try_join!(
        ReplicatedGroup::start(0, domain),
        ReplicatedGroup::start(1, domain + 1)
    )?;
    source
        .primary
        .exec("CREATE DATABASE s0_db; CREATE TABLE s0_db.t (id BIGINT PRIMARY KEY, v BIGINT)")
        .await?;
    let values: Vec<String> = (1..=ROWS).map(|i| format!("({i}, {})", i * 7)).collect();
    source
        .primary
        .exec(&format!("INSERT INTO s0_db.t VALUES {}", values.join(", ")))
        .await?;
    target.primary.exec("CREATE DATABASE s1_db").await?;
    target.wait_caught_up().await?;
    let state = state_dir(name);
    let _ = std::fs::remove_dir_all(&state);
    let proxy =
        myshard_proxy::start(config(&source, &target, &state.display().to_string())?).await?;
    let replica = target.replicas[0].addr();
    within(Duration::from_secs(10), "replica checked", || async {
        let r = proxy.shared().host_records();
        Ok(r.iter()
            .any(|r| r.addr == replica && r.io_thread.as_deref() == Some("Yes"))
            .then_some(()))
    })
    .await?;
    Ok((source, target, proxy))
}

/// The phase of the (only) migration in the journal.
fn phase(proxy: &ProxyHandle) -> Result<Option<Phase>> {
    let list = journal::migrations(&proxy.shared().config()).map_err(|e| anyhow::anyhow!(e))?;
    Ok(list.first().map(|m| m.phase))
}

/// Names of `server`'s replication connections.
async fn connections(server: &MariaDb) -> Result<Vec<String>> {
    let mut conn = server.conn().await?;
    let rows: Vec<mysql_async::Row> = conn.query("SHOW ALL SLAVES STATUS").await?;
    Ok(rows
        .iter()
        .filter_map(|r| r.get::<String, _>("Connection_name"))
        .collect())
}

/// `s0_db`.t's row count and checksum on `server` (none without the database).
async fn contents(server: &MariaDb) -> Result<Option<(i64, i64)>> {
    let exists: Vec<String> = server
        .query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 's0_db'")
        .await?;
    if exists.is_empty() {
        return Ok(None);
    }
    let tables: Vec<String> = server
        .query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 's0_db'")
        .await?;
    if tables.is_empty() {
        return Ok(Some((0, 0)));
    }
    let sums: Vec<(i64, i64)> = server
        .query("SELECT COUNT(*), CAST(COALESCE(SUM(id * 1000 + v), 0) AS SIGNED) FROM s0_db.t")
        .await?;
    Ok(sums.first().copied())
}

/// Switches g1's write host to its replica through the failover switch API.
async fn switch_target(proxy: &ProxyHandle, target: &ReplicatedGroup) -> Result<()> {
    let shared = proxy.shared().clone();
    shared
        .switch_write_host(
            "g1",
            SwitchReason::Switchover,
            Some(target.replicas[0].addr()),
        )
        .await
        .map_err(|e| anyhow::anyhow!("switchover: {e}"))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_switchover_of_the_target_during_catch_up_is_followed_and_the_migration_completes()
-> Result<()> {
    let (source, target, proxy) = setup("catchup", 71).await?;
    // A statement on the shard keeps the cut-over draining for a while: the switchover
    // happens after the copy, while the replication connection runs on the old primary.
    let mut long = app_conn(&proxy, Some("s0")).await?;
    let held = tokio::spawn(async move {
        let r: Option<i64> = long.query_first("SELECT SLEEP(3) FROM t LIMIT 1").await?;
        anyhow::Ok(r)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let shared = proxy.shared().clone();
    let bounds = Bounds {
        drain: Duration::from_secs(20),
        catch_up: Duration::from_secs(10),
    };
    let migration = tokio::spawn(async move { shared.migrate("s0", 0, "g1", bounds).await });
    let reached = within(Duration::from_secs(10), "the cut-over", || async {
        let p = phase(&proxy)?;
        Ok(matches!(
            p,
            Some(Phase::CuttingOver | Phase::Aborted | Phase::CutOver)
        )
        .then_some(p))
    })
    .await?;
    if reached != Some(Phase::CuttingOver) {
        bail!(
            "the migration ended before the switch: {:?}",
            migration.await?
        );
    }
    // A write replicated through the old primary, then the switch, then one the new
    // primary must fetch itself.
    source
        .primary
        .exec("INSERT INTO s0_db.t VALUES (1001, 1)")
        .await?;
    switch_target(&proxy, &target).await?;
    source
        .primary
        .exec("INSERT INTO s0_db.t VALUES (1002, 2)")
        .await?;
    held.await??;
    let record = migration.await?.map_err(|e| anyhow::anyhow!(e))?;
    ensure!(record.phase == Phase::CutOver, "{record:?}");

    let promoted = &target.replicas[0];
    let expected = contents(&source.primary).await?;
    ensure!(expected.map(|c| c.0) == Some(ROWS + 2), "{expected:?}");
    ensure!(
        contents(promoted).await? == expected,
        "the new target write host has {:?}, the source {expected:?}",
        contents(promoted).await?
    );
    for host in [&target.primary, promoted] {
        let names = connections(host).await?;
        ensure!(
            !names.iter().any(|n| n == CONNECTION),
            "{} keeps {CONNECTION}: {names:?}",
            host.addr()
        );
    }
    // The shard is served by g1's new write host.
    let mut conn = app_conn(&proxy, Some("s0")).await?;
    conn.query_drop("INSERT INTO t VALUES (1003, 3)").await?;
    let n: Vec<i64> = promoted
        .query("SELECT COUNT(*) FROM s0_db.t WHERE id = 1003")
        .await?;
    ensure!(
        n == vec![1],
        "the write after the cut-over is not on the new write host"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_switchover_of_the_target_during_the_copy_stops_the_migration_and_leaves_nothing()
-> Result<()> {
    let (source, target, proxy) = setup("copy", 73).await?;
    // The copy waits on a table lock on the source while the target switches.
    let mut lock = source.primary.conn().await?;
    lock.query_drop("LOCK TABLES s0_db.t WRITE").await?;
    let shared = proxy.shared().clone();
    let migration =
        tokio::spawn(async move { shared.migrate("s0", 0, "g1", Bounds::default()).await });
    within(Duration::from_secs(10), "the copy", || async {
        Ok((phase(&proxy)? == Some(Phase::Copy)).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    switch_target(&proxy, &target).await?;
    lock.query_drop("UNLOCK TABLES").await?;
    let error = migration
        .await?
        .err()
        .context("the migration completed across a switch during its copy")?;
    ensure!(
        error.contains("failed over during the copy") && error.contains("g1"),
        "{error}"
    );
    ensure!(
        phase(&proxy)? == Some(Phase::Aborted),
        "{:?}",
        phase(&proxy)?
    );
    let promoted = &target.replicas[0];
    for host in [&target.primary, promoted] {
        ensure!(
            contents(host).await?.is_none(),
            "{} keeps a copy",
            host.addr()
        );
        let names = connections(host).await?;
        ensure!(
            !names.iter().any(|n| n == CONNECTION),
            "{} keeps {CONNECTION}: {names:?}",
            host.addr()
        );
    }
    // The shard stayed on g0 and serves.
    let mut conn = app_conn(&proxy, Some("s0")).await?;
    let n: Option<i64> = conn.query_first("SELECT COUNT(*) FROM t").await?;
    ensure!(n == Some(ROWS), "{n:?}");
    Ok(())
}
