//! Read-your-writes over real MariaDB GTID replication (a primary and two replicas, reads
//! on the replicas): a session in that mode reads its own last write even while the
//! replicas' SQL threads stop and start under it, waiting on a replica for the write's GTID
//! or reading from the primary; a session in the eventual mode does see stale values then.
//! The mode comes from the user's configuration or `SET myshard_consistency`; a wait bound
//! of 0 sends such reads to the primary; a replica that never catches up costs no error.
//! Which server answered is read from `@@server_id`, how many waits ran from the replicas'
//! `Master_gtid_wait_count`.
//!
//! `RYW_PAIRS` sets the number of write-then-read pairs of the main test (default 2,000;
//! the benchmark run uses 10,000, see docs/BENCHMARKS.md).

mod harness;

use anyhow::{Context, Result, bail};
use harness::proxy::{APP_PASSWORD, app_conn, config_for, proxy_opts, start_proxy};
use harness::replica_set::ReplicaSet;
use myshard_config::{Config, Consistency, ReadPolicy, User};
use myshard_proxy::ProxyHandle;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Rows (and client tasks) of the write-then-read loop.
const CLIENTS: u32 = 8;
/// The user configured for read-your-writes.
const RYW_USER: &str = "ryw";

/// A primary and two replicas behind the proxy as group `g0` (reads on the replicas only,
/// waits of at most `max_wait_ms`); schema `s0` (database `s0_db`) holds table
/// `t (id, v)` with rows 1..=CLIENTS. `tweak` adjusts the configuration.
async fn cluster(
    max_wait_ms: u64,
    tweak: impl FnOnce(&mut Config, &ReplicaSet),
) -> Result<(ReplicaSet, ProxyHandle)> {
    let set = ReplicaSet::start(2, 7).await?;
    let rows: Vec<String> = (1..=CLIENTS).map(|i| format!("({i}, 0)")).collect();
    set.primary
        .exec(&format!(
            "CREATE DATABASE s0_db; CREATE TABLE s0_db.t (id INT PRIMARY KEY, v INT); \
             INSERT INTO s0_db.t VALUES {}",
            rows.join(",")
        ))
        .await?;
    set.sync().await?;
    let mut config: Config = config_for(&[&set.primary]);
    let g = &mut config.groups[0];
    g.read_hosts = set
        .replicas
        .iter()
        .map(|r| myshard_config::ReadHost::from(r.addr().as_str()))
        .collect();
    g.read_policy = ReadPolicy::Replicas;
    g.read_your_writes_max_wait_ms = max_wait_ms;
    config.users.push(User {
        consistency: Consistency::ReadYourWrites,
        ..User::new(RYW_USER, APP_PASSWORD, &["*"])
    });
    tweak(&mut config, &set);
    let proxy = start_proxy(config).await?;
    Ok((set, proxy))
}

/// A proxy connection as `user` in `s0`.
async fn conn_as(proxy: &ProxyHandle, user: &str) -> Result<Conn> {
    Ok(Conn::new(proxy_opts(proxy, user, APP_PASSWORD, Some("s0"))).await?)
}

/// Sets row `id` to `v`, then reads it back: (value read, server id that answered).
async fn write_then_read(conn: &mut Conn, id: u32, v: i64) -> Result<(i64, u32)> {
    conn.query_drop(format!("UPDATE t SET v = {v} WHERE id = {id}"))
        .await?;
    let row: Option<(i64, u32)> = conn
        .query_first(format!("SELECT v, @@server_id FROM t WHERE id = {id}"))
        .await?;
    row.context("row gone")
}

/// Stops and starts the SQL thread of every replica in a loop until `stop` is set.
async fn lag_replicas(
    set: &ReplicaSet,
    stop: Arc<AtomicBool>,
) -> Result<tokio::task::JoinHandle<Result<u64>>> {
    let mut conns = Vec::new();
    for r in &set.replicas {
        conns.push(r.conn().await?);
    }
    Ok(tokio::spawn(async move {
        let mut cycles = 0u64;
        while !stop.load(Ordering::Relaxed) {
            for c in &mut conns {
                c.query_drop("STOP SLAVE SQL_THREAD").await?;
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
            for c in &mut conns {
                c.query_drop("START SLAVE SQL_THREAD").await?;
            }
            tokio::time::sleep(Duration::from_millis(15)).await;
            cycles += 1;
        }
        Ok(cycles)
    }))
}

/// Runs `pairs` write-then-read pairs over CLIENTS sessions of `user` (each on its own
/// row) while the replicas lag: (stale reads, reads answered by a replica).
async fn pairs_under_lag(
    set: &ReplicaSet,
    proxy: &ProxyHandle,
    user: &str,
    pairs: u32,
) -> Result<(u32, u32)> {
    let primary = set.primary.server_id();
    let stop = Arc::new(AtomicBool::new(false));
    let lag = lag_replicas(set, stop.clone()).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for id in 1..=CLIENTS {
        let mut conn = conn_as(proxy, user).await?;
        let n = pairs / CLIENTS;
        tasks.spawn(async move {
            let (mut stale, mut on_replica) = (0u32, 0u32);
            // Values increase across runs of the loop on the same row.
            let base: i64 = conn
                .query_first(format!("SELECT v FROM t WHERE id = {id} FOR UPDATE"))
                .await?
                .unwrap_or(0);
            for k in 1..=i64::from(n) {
                let (seen, server) = write_then_read(&mut conn, id, base + k).await?;
                stale += u32::from(seen != base + k);
                on_replica += u32::from(server != primary);
            }
            anyhow::Ok((stale, on_replica))
        });
    }
    let mut totals = (0, 0);
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        match joined.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok((s, r)) => {
                totals.0 += s;
                totals.1 += r;
            }
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let cycles = lag.await??;
    if let Some(e) = failure {
        return Err(e);
    }
    if cycles < 2 {
        bail!("the replicas lagged only {cycles} times");
    }
    for r in &set.replicas {
        ReplicaSet::wait_running(r).await?;
    }
    set.sync().await?;
    Ok(totals)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_stale_read_of_own_writes_while_replicas_lag() -> Result<()> {
    let (set, proxy) = cluster(500, |_, _| {}).await?;
    let pairs: u32 = std::env::var("RYW_PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let started = Instant::now();
    let (stale, on_replica) = pairs_under_lag(&set, &proxy, RYW_USER, pairs).await?;
    let ryw_time = started.elapsed();
    eprintln!(
        "read_your_writes: {pairs} pairs in {ryw_time:?}: {stale} stale, {on_replica} reads on replicas"
    );
    assert_eq!(stale, 0, "stale reads in read_your_writes mode");
    // The mode does not simply send every read to the primary.
    assert!(
        on_replica >= pairs / 10,
        "only {on_replica} of {pairs} reads on the replicas"
    );

    // The same loop in the eventual mode reads stale values (so the check above can fail).
    let pairs = pairs.min(800);
    let started = Instant::now();
    let (stale, on_replica) = pairs_under_lag(&set, &proxy, "app", pairs).await?;
    eprintln!(
        "eventual: {pairs} pairs in {:?}: {stale} stale, {on_replica} reads on replicas",
        started.elapsed()
    );
    assert!(
        stale > 0,
        "no stale read in eventual mode: the test proves nothing"
    );
    Ok(())
}

/// The value of row `id` and the server that answered.
async fn read_row1_of(conn: &mut Conn, id: u32) -> Result<(i64, u32)> {
    let row: Option<(i64, u32)> = conn
        .query_first(format!("SELECT v, @@server_id FROM t WHERE id = {id}"))
        .await?;
    row.context("row gone")
}

/// The value of row 1 and the server that answered.
async fn read_row1(conn: &mut Conn) -> Result<(i64, u32)> {
    read_row1_of(conn, 1).await
}

async fn stop_sql_threads(set: &ReplicaSet) -> Result<()> {
    for r in &set.replicas {
        r.exec("STOP SLAVE SQL_THREAD").await?;
    }
    Ok(())
}

async fn start_sql_threads(set: &ReplicaSet) -> Result<()> {
    for r in &set.replicas {
        r.exec("START SLAVE SQL_THREAD").await?;
        ReplicaSet::wait_running(r).await?;
    }
    set.sync().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_by_set_and_by_user_and_a_replica_that_never_catches_up() -> Result<()> {
    let (set, proxy) = cluster(300, |_, _| {}).await?;
    let primary = set.primary.server_id();
    let replicas = [set.replicas[0].server_id(), set.replicas[1].server_id()];

    // Per session: eventual by default, switched by SET, read back by SELECT.
    let mut app = app_conn(&proxy, Some("s0")).await?;
    let mode: Option<String> = app.query_first("SELECT @@myshard_consistency").await?;
    assert_eq!(mode.as_deref(), Some("eventual"));
    stop_sql_threads(&set).await?;
    // Eventual: the replica answers with the old value.
    let (v, server) = write_then_read(&mut app, 1, 10).await?;
    assert_eq!(v, 0, "eventual read while the replicas stand still");
    assert!(replicas.contains(&server));
    app.query_drop("SET SESSION myshard_consistency = 'read_your_writes'")
        .await?;
    let mode: Option<String> = app
        .query_first("SELECT @@session.myshard_consistency AS m")
        .await?;
    assert_eq!(mode.as_deref(), Some("read_your_writes"));
    // The replicas never catch up: the read waits its bound, then the primary answers.
    let started = Instant::now();
    let (v, server) = write_then_read(&mut app, 1, 11).await?;
    let waited = started.elapsed();
    assert_eq!((v, server), (11, primary));
    assert!(waited >= Duration::from_millis(250), "no wait: {waited:?}");
    // A plain read after the write follows the rule too.
    let (v, server) = read_row1(&mut app).await?;
    assert_eq!((v, server), (11, primary));
    // Back to eventual: the replicas' old value.
    app.query_drop("SET myshard_consistency = eventual").await?;
    let (v, server) = read_row1(&mut app).await?;
    assert_eq!(v, 0);
    assert!(replicas.contains(&server));

    // Bad values: MySQL's errors for them.
    let e = app
        .query_drop("SET myshard_consistency = 'strong'")
        .await
        .err()
        .context("a bad value was accepted")?;
    assert!(
        matches!(&e, mysql_async::Error::Server(s) if s.code == 1231 && s.state == "42000" && s.message.contains("strong")),
        "{e:?}"
    );
    let e = app
        .query_drop("SET GLOBAL myshard_consistency = 'eventual'")
        .await
        .err()
        .context("SET GLOBAL was accepted")?;
    assert!(
        matches!(&e, mysql_async::Error::Server(s) if s.code == 1228),
        "{e:?}"
    );
    let mode: Option<String> = app.query_first("SELECT @@myshard_consistency").await?;
    assert_eq!(mode.as_deref(), Some("eventual"));

    // Per user: the configured mode from the first statement.
    let mut ryw = conn_as(&proxy, RYW_USER).await?;
    let mode: Option<String> = ryw.query_first("SELECT @@myshard_consistency").await?;
    assert_eq!(mode.as_deref(), Some("read_your_writes"));
    let (v, server) = write_then_read(&mut ryw, 2, 20).await?;
    assert_eq!((v, server), (20, primary));
    // A transaction's write is covered from its COMMIT on.
    ryw.query_drop("BEGIN").await?;
    ryw.query_drop("UPDATE t SET v = 21 WHERE id = 2").await?;
    ryw.query_drop("COMMIT").await?;
    let (v, server) = read_row1_of(&mut ryw, 2).await?;
    assert_eq!((v, server), (21, primary));
    start_sql_threads(&set).await?;
    let (v, _) = write_then_read(&mut ryw, 2, 22).await?;
    assert_eq!(v, 22);
    // Caught-up replicas serve the session's reads again (after waiting for the write).
    let mut on_replica = 0;
    for k in 23..43 {
        let (v, server) = write_then_read(&mut ryw, 2, k).await?;
        assert_eq!(v, k);
        on_replica += usize::from(server != primary);
    }
    assert!(on_replica > 0, "every read on the primary");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_bound_of_zero_reads_from_the_write_host() -> Result<()> {
    let (set, proxy) = cluster(0, |_, _| {}).await?;
    let primary = set.primary.server_id();
    let mut ryw = conn_as(&proxy, RYW_USER).await?;
    // Before any write the replicas serve the session.
    let (_, server) = read_row1(&mut ryw).await?;
    assert_ne!(server, primary);
    // After it: the primary, with no wait, even though the replicas are in sync.
    for k in 1..=10 {
        let started = Instant::now();
        let (v, server) = write_then_read(&mut ryw, 1, k).await?;
        assert_eq!((v, server), (k, primary));
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    // Prepared statements follow the same rule.
    let update = ryw.prep("UPDATE t SET v = ? WHERE id = ?").await?;
    let select = ryw
        .prep("SELECT v, @@server_id FROM t WHERE id = ?")
        .await?;
    for k in 11..=15i64 {
        ryw.exec_drop(&update, (k, 1)).await?;
        let row: Option<(i64, u32)> = ryw.exec_first(&select, (1,)).await?;
        assert_eq!(row, Some((k, primary)));
    }
    // A session of the eventual mode still reads from the replicas.
    let mut app = app_conn(&proxy, Some("s0")).await?;
    let (_, server) = write_then_read(&mut app, 2, 5).await?;
    assert_ne!(server, primary);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scatter_reads_apply_the_rule_per_group() -> Result<()> {
    use harness::proxy::{APP_USER, create_shard_databases};
    use harness::{MYSHARD_PASSWORD, MYSHARD_USER};
    let set = ReplicaSet::start(2, 8).await?;
    let yaml = format!(
        "listen: 127.0.0.1:0
users:
  - {{name: {APP_USER}, password: {APP_PASSWORD}, schemas: ['*'], admin: true}}
  - {{name: {RYW_USER}, password: {APP_PASSWORD}, schemas: ['*'], consistency: read_your_writes}}
groups:
  - name: g0
    user: {MYSHARD_USER}
    password: {MYSHARD_PASSWORD}
    write_hosts: ['{p}']
    read_hosts: ['{r1}', '{r2}']
    read_policy: replicas
    read_your_writes_max_wait_ms: 200
    heartbeat: {{enabled: false}}
schemas:
  - name: shop
    shards: 4
    placement: [{{group: g0, shards: '0-3'}}]
    tables: [{{name: t, shard_key: id}}]
",
        p = set.primary.addr(),
        r1 = set.replicas[0].addr(),
        r2 = set.replicas[1].addr(),
    );
    let config = myshard_config::parse(&yaml, "ryw scatter").map_err(|e| anyhow::anyhow!("{e}"))?;
    create_shard_databases(&config, &[&set.primary]).await?;
    let proxy = start_proxy(config).await?;
    let opts = |user: &str| proxy_opts(&proxy, user, APP_PASSWORD, Some("shop"));
    let mut app = Conn::new(opts(APP_USER)).await?;
    app.query_drop("CREATE TABLE t (id INT PRIMARY KEY)")
        .await?;
    let values: Vec<String> = (1..=40).map(|i| format!("({i})")).collect();
    app.query_drop(format!("INSERT INTO t (id) VALUES {}", values.join(", ")))
        .await?;
    set.sync().await?;
    let primary = set.primary.server_id();
    let mut ryw = Conn::new(opts(RYW_USER)).await?;

    // The replicas stand still; the session writes one row, then reads every shard.
    stop_sql_threads(&set).await?;
    ryw.query_drop("INSERT INTO t (id) VALUES (41)").await?;
    let ids: Vec<(u32, u32)> = ryw.query("SELECT id, @@server_id FROM t").await?;
    assert_eq!(ids.len(), 41, "the session's own row is read");
    assert!(ids.iter().all(|&(_, s)| s == primary), "{ids:?}");
    // An eventual session reads the replicas' 40 rows (so the check above can fail).
    let n: Option<u64> = app.query_first("SELECT COUNT(*) FROM t").await?;
    assert_eq!(n, Some(40));

    // Caught up: the same scatter is answered by the replicas, own rows included.
    start_sql_threads(&set).await?;
    ryw.query_drop("INSERT INTO t (id) VALUES (42)").await?;
    let ids: Vec<(u32, u32)> = ryw.query("SELECT id, @@server_id FROM t").await?;
    assert_eq!(ids.len(), 42);
    assert!(ids.iter().all(|&(_, s)| s != primary), "{ids:?}");
    Ok(())
}

/// `MASTER_GTID_WAIT` calls the replicas have run so far (`Master_gtid_wait_count`).
async fn waits_run(set: &ReplicaSet) -> Result<u64> {
    let mut total = 0;
    for r in &set.replicas {
        let rows: Vec<(String, u64)> = r
            .query("SHOW GLOBAL STATUS LIKE 'Master_gtid_wait_count'")
            .await?;
        total += rows.first().map_or(0, |(_, n)| *n);
    }
    Ok(total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_are_skipped_when_the_position_is_known_applied() -> Result<()> {
    // The health monitor checks every 100 ms and records each replica's Gtid_Slave_Pos.
    let (set, proxy) = cluster(500, |config, _| {
        config.groups[0].heartbeat = myshard_config::Heartbeat {
            enabled: true,
            interval_ms: 100,
            timeout_ms: 2_000,
            fall: 3,
            rise: 1,
        };
    })
    .await?;
    let primary = set.primary.server_id();
    let mut ryw = conn_as(&proxy, RYW_USER).await?;
    // Right after a write, ten reads: the first on each replica waits for the write, the
    // rest know it is applied there.
    let before = waits_run(&set).await?;
    ryw.query_drop("UPDATE t SET v = 1 WHERE id = 1").await?;
    for _ in 0..10 {
        let (v, server) = read_row1(&mut ryw).await?;
        assert_eq!(v, 1);
        assert_ne!(server, primary);
    }
    let waited = waits_run(&set).await? - before;
    // (None at all when a heartbeat saw the write applied before the first read.)
    assert!(waited <= 2, "{waited} waits for ten reads");
    // A write the monitor has seen applied on both replicas needs no wait at all.
    ryw.query_drop("UPDATE t SET v = 2 WHERE id = 1").await?;
    set.sync().await?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let before = waits_run(&set).await?;
    for _ in 0..4 {
        let (v, server) = read_row1(&mut ryw).await?;
        assert_eq!(v, 2);
        assert_ne!(server, primary);
    }
    assert_eq!(
        waits_run(&set).await? - before,
        0,
        "waited although known applied"
    );
    Ok(())
}
