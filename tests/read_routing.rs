//! Read routing over real MariaDB GTID replication (a primary and two replicas): autocommit
//! reads spread over the read hosts by weight; locking reads, transactions, side effects
//! and the primary hint go to the write host; a host out of service leaves the rotation;
//! a killed replica costs autocommit reads no error (they are retried), while a replica
//! dying in the middle of an answer gives the client an error, never a short result.
//! Which server answered is read from `@@server_id`.

mod harness;

use anyhow::{Context, Result, bail};
use harness::proxy::{app_conn, config_for, start_proxy};
use harness::replica_set::ReplicaSet;
use myshard_config::{Config, ReadPolicy};
use myshard_failover::HostState;
use myshard_proxy::ProxyHandle;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use std::collections::BTreeMap;

/// A primary, two replicas (the first of weight 3, the second of weight 1) behind the
/// proxy as group `g0` with `policy`; schema `s0` (database `s0_db`) holds table `t`.
async fn cluster(policy: ReadPolicy) -> Result<(ReplicaSet, ProxyHandle)> {
    let set = ReplicaSet::start(2, 1).await?;
    set.primary
        .exec(
            "CREATE DATABASE s0_db; CREATE TABLE s0_db.t (id INT PRIMARY KEY, v INT); \
             INSERT INTO s0_db.t VALUES (1, 1), (2, 2)",
        )
        .await?;
    set.sync().await?;
    let mut config: Config = config_for(&[&set.primary]);
    let g = &mut config.groups[0];
    g.read_hosts = set
        .replicas
        .iter()
        .enumerate()
        .map(|(i, r)| myshard_config::ReadHost {
            host: r.addr(),
            weight: if i == 0 { 3 } else { 1 },
        })
        .collect();
    g.read_policy = policy;
    let proxy = start_proxy(config).await?;
    Ok((set, proxy))
}

/// The server id that answers `sql` (its first column), `n` times: id → count.
async fn answers(conn: &mut Conn, sql: &str, n: usize) -> Result<BTreeMap<u32, usize>> {
    let mut out = BTreeMap::new();
    for _ in 0..n {
        let row: Option<Row> = conn
            .query_first(sql)
            .await
            .with_context(|| format!("running `{sql}`"))?;
        let id: Option<u32> = row.and_then(|r| r.get(0));
        *out.entry(id.unwrap_or(0)).or_insert(0) += 1;
    }
    Ok(out)
}

/// Puts the host at `addr` of the proxy's routing table in `state`.
fn set_state(proxy: &ProxyHandle, addr: &str, state: HostState) -> Result<()> {
    let table = proxy.shared().table();
    let host = table
        .hosts()
        .find(|h| &**h.addr() == addr)
        .with_context(|| format!("host {addr} in the routing table"))?;
    host.set_state(state);
    Ok(())
}

fn share(counts: &BTreeMap<u32, usize>, id: u32, total: usize) -> f64 {
    counts.get(&id).copied().unwrap_or(0) as f64 / total as f64
}

/// Whether `share` is within 5% of `expected` (relative).
fn within_5_percent(share: f64, expected: f64) -> bool {
    (share - expected).abs() <= 0.05 * expected
}

/// A sample of the proxy's `/metrics` text: the value of the series `series` as written.
fn metric(proxy: &ProxyHandle, series: &str) -> Option<f64> {
    let text = myshard_proxy::admin_http::metrics::render(proxy.shared());
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// `myshard_host_reads_total` of the host at `addr` (group `g0`), 0 if not listed.
fn host_reads(proxy: &ProxyHandle, addr: &str) -> u64 {
    ["read", "write"]
        .iter()
        .filter_map(|role| {
            metric(
                proxy,
                &format!(
                    "myshard_host_reads_total{{group=\"g0\",host=\"{addr}\",role=\"{role}\"}}"
                ),
            )
        })
        .sum::<f64>() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_spread_by_weight_and_skip_hosts_out_of_service() -> Result<()> {
    let (set, proxy) = cluster(ReadPolicy::ReplicasThenPrimary).await?;
    let (p, r1, r2) = (
        set.primary.server_id(),
        set.replicas[0].server_id(),
        set.replicas[1].server_id(),
    );
    // Four clients, 10,000 reads: 3/4 on the first replica, 1/4 on the second (each
    // within 5% of its weight's share), none on the primary; by the servers' answers and
    // by the proxy's per-host read counters.
    let mut conns = Vec::new();
    for _ in 0..4 {
        conns.push(app_conn(&proxy, Some("s0")).await?);
    }
    // Taken after the clients' own set-up queries, which are reads too.
    let reads_before =
        [&set.replicas[0], &set.replicas[1], &set.primary].map(|s| host_reads(&proxy, &s.addr()));
    let mut tasks = tokio::task::JoinSet::new();
    for mut conn in conns {
        tasks.spawn(
            async move { answers(&mut conn, "SELECT @@server_id FROM t LIMIT 1", 2_500).await },
        );
    }
    let mut counts = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        for (id, n) in joined?? {
            *counts.entry(id).or_insert(0) += n;
        }
    }
    let (s1, s2) = (share(&counts, r1, 10_000), share(&counts, r2, 10_000));
    assert!(
        within_5_percent(s1, 0.75) && within_5_percent(s2, 0.25),
        "{counts:?}"
    );
    assert_eq!(counts.get(&p), None, "no read on the primary: {counts:?}");
    let reads_after =
        [&set.replicas[0], &set.replicas[1], &set.primary].map(|s| host_reads(&proxy, &s.addr()));
    let counted: Vec<u64> = reads_after
        .iter()
        .zip(reads_before)
        .map(|(a, b)| a - b)
        .collect();
    let answered: Vec<u64> = [r1, r2, p]
        .iter()
        .map(|id| counts.get(id).copied().unwrap_or(0) as u64)
        .collect();
    assert_eq!(
        counted, answered,
        "myshard_host_reads_total counts every read where it went"
    );

    // Prepared reads spread the same way.
    let mut conn = app_conn(&proxy, Some("s0")).await?;
    let mut prepared = BTreeMap::new();
    for _ in 0..400 {
        let id: Option<u32> = conn
            .exec_first("SELECT @@server_id FROM t WHERE id = ?", (1,))
            .await?;
        *prepared.entry(id.unwrap_or(0)).or_insert(0) += 1;
    }
    let (s1, s2) = (share(&prepared, r1, 400), share(&prepared, r2, 400));
    assert!(
        within_5_percent(s1, 0.75) && within_5_percent(s2, 0.25),
        "{prepared:?}"
    );

    // A replica out of service leaves the rotation; both out: the primary (policy).
    set_state(&proxy, &set.replicas[0].addr(), HostState::Down)?;
    let c = answers(&mut conn, "SELECT @@server_id", 100).await?;
    assert_eq!(c, BTreeMap::from([(r2, 100)]));
    set_state(&proxy, &set.replicas[1].addr(), HostState::CatchingUp)?;
    let c = answers(&mut conn, "SELECT @@server_id", 20).await?;
    assert_eq!(c, BTreeMap::from([(p, 20)]));
    set_state(&proxy, &set.replicas[0].addr(), HostState::Up)?;
    let c = answers(&mut conn, "SELECT @@server_id", 20).await?;
    assert_eq!(c, BTreeMap::from([(r1, 20)]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_locks_transactions_side_effects_and_hints_use_the_write_host() -> Result<()> {
    let (set, proxy) = cluster(ReadPolicy::Replicas).await?;
    let p = set.primary.server_id();
    let mut conn = app_conn(&proxy, Some("s0")).await?;
    conn.query_drop("CREATE SEQUENCE sq").await?;
    set.sync().await?;
    for sql in [
        "SELECT @@server_id FROM t WHERE id = 1 FOR UPDATE",
        "SELECT @@server_id FROM t WHERE id = 1 LOCK IN SHARE MODE",
        "SELECT @@server_id, GET_LOCK('l', 0), RELEASE_LOCK('l')",
        "SELECT @@server_id, LAST_INSERT_ID()",
        "SELECT @@server_id, NEXTVAL(sq)",
        "/* myshard: primary */ SELECT @@server_id",
    ] {
        // A fresh session each time (some of these pin the session to its connection).
        for _ in 0..3 {
            let mut fresh = app_conn(&proxy, Some("s0")).await?;
            let c = answers(&mut fresh, "SELECT @@server_id", 2).await?;
            assert_eq!(c.get(&p), None, "plain reads on replicas: {c:?}");
            let c = answers(&mut fresh, sql, 1).await?;
            assert_eq!(c, BTreeMap::from([(p, 1)]), "{sql}");
        }
    }

    // Inside a transaction, and with autocommit off.
    conn.query_drop("BEGIN").await?;
    let c = answers(&mut conn, "SELECT @@server_id FROM t", 10).await?;
    conn.query_drop("COMMIT").await?;
    assert_eq!(c, BTreeMap::from([(p, 10)]), "in a transaction");
    conn.query_drop("BEGIN").await?;
    let id: Option<u32> = conn
        .exec_first("SELECT @@server_id FROM t WHERE id = ?", (1,))
        .await?;
    conn.query_drop("COMMIT").await?;
    assert_eq!(id, Some(p), "prepared, in a transaction");
    conn.query_drop("SET autocommit = 0").await?;
    let c = answers(&mut conn, "SELECT @@server_id FROM t", 10).await?;
    conn.query_drop("COMMIT").await?;
    conn.query_drop("SET autocommit = 1").await?;
    assert_eq!(c, BTreeMap::from([(p, 10)]), "autocommit off");

    // A write then a read: the write reached the primary (and replicates).
    conn.query_drop("INSERT INTO t VALUES (3, 3)").await?;
    set.sync().await?;
    let n: Option<i64> = conn.query_first("SELECT COUNT(*) FROM t").await?;
    assert_eq!(n, Some(3));

    // A session that set a user variable is pinned: its reads stay on its connection's
    // host, the write host.
    let mut pinned = app_conn(&proxy, Some("s0")).await?;
    pinned.query_drop("SET @x = 1").await?;
    let c = answers(&mut pinned, "SELECT @@server_id", 10).await?;
    assert_eq!(c, BTreeMap::from([(p, 10)]), "pinned session");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_costs_autocommit_reads_no_error() -> Result<()> {
    let (mut set, proxy) = cluster(ReadPolicy::ReplicasThenPrimary).await?;
    let dead = set.replicas[0].server_id();
    let mut conns = Vec::new();
    for _ in 0..4 {
        let mut c = app_conn(&proxy, Some("s0")).await?;
        // Warm the pools, so that idle connections to the replica exist when it dies.
        answers(&mut c, "SELECT @@server_id", 8).await?;
        conns.push(c);
    }
    set.replicas[0].kill()?;
    // The host stays "up" in the table (no monitor here): every read sent its way fails
    // and is retried on another host.
    let mut counts = BTreeMap::new();
    for c in &mut conns {
        for (id, n) in answers(c, "SELECT @@server_id FROM t LIMIT 1", 50).await? {
            *counts.entry(id).or_insert(0) += n;
        }
    }
    assert_eq!(counts.get(&dead), None, "{counts:?}");
    assert_eq!(counts.values().sum::<usize>(), 200);
    // Prepared reads too.
    for c in &mut conns {
        for _ in 0..20 {
            let id: Option<u32> = c
                .exec_first("SELECT @@server_id FROM t WHERE id = ?", (1,))
                .await
                .context("prepared read after the replica died")?;
            assert!(id.is_some() && id != Some(dead), "{id:?}");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_dying_mid_answer_gives_an_error_not_a_short_result() -> Result<()> {
    let (mut set, proxy) = cluster(ReadPolicy::Replicas).await?;
    // Only the first replica takes reads.
    set_state(&proxy, &set.replicas[1].addr(), HostState::Down)?;
    let mut conn = app_conn(&proxy, Some("s0")).await?;
    let rows_wanted = 200_000;
    let mut result = conn
        .query_iter(format!(
            "SELECT @@server_id, seq, REPEAT('x', 1000) FROM seq_1_to_{rows_wanted}"
        ))
        .await?;
    let first: Option<Row> = result.next().await?;
    let id: Option<u32> = first.as_ref().and_then(|r| r.get(0));
    assert_eq!(id, Some(set.replicas[0].server_id()));
    set.replicas[0].kill()?;
    let mut rows = 1;
    let outcome = loop {
        match result.next().await {
            Ok(Some(_)) => rows += 1,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    match outcome {
        Err(_) => assert!(rows < rows_wanted, "an error after every row"),
        Ok(()) if rows == rows_wanted => {
            bail!("the server sent the whole answer before it was killed; make it larger")
        }
        Ok(()) => bail!("a short answer ({rows} of {rows_wanted} rows) passed off as whole"),
    }
    drop(result);
    // The session keeps serving (from the primary's group: no replica serves, so this
    // one is an error under `replicas`, but the connection lives).
    set_state(&proxy, &set.replicas[1].addr(), HostState::Up)?;
    let id: Option<u32> = conn.query_first("SELECT @@server_id").await?;
    assert_eq!(id, Some(set.replicas[1].server_id()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_dying_before_answering_has_the_read_retried() -> Result<()> {
    let (mut set, proxy) = cluster(ReadPolicy::ReplicasThenPrimary).await?;
    // Reads go to the first replica; with it gone, to the primary (policy).
    set_state(&proxy, &set.replicas[1].addr(), HostState::Down)?;
    let mut conn = app_conn(&proxy, Some("s0")).await?;
    let c = answers(&mut conn, "SELECT @@server_id FROM t LIMIT 1", 2).await?;
    assert_eq!(c, BTreeMap::from([(set.replicas[0].server_id(), 2)]));
    // A read that waits on the replica (a table lock held there) until the replica dies,
    // before any answer.
    let mut locker = set.replicas[0].conn().await?;
    locker.query_drop("LOCK TABLES s0_db.t WRITE").await?;
    let slow = tokio::spawn(async move {
        let id: Option<u32> = conn
            .query_first("SELECT @@server_id FROM t LIMIT 1")
            .await?;
        anyhow::Ok(id)
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!slow.is_finished(), "the read must wait on the replica");
    set.replicas[0].kill()?;
    let id = tokio::time::timeout(std::time::Duration::from_secs(20), slow)
        .await
        .context("no answer after the replica died")???;
    assert_eq!(id, Some(set.primary.server_id()), "answered by the retry");
    drop(locker);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scatter_reads_choose_a_read_host_per_shard() -> Result<()> {
    use harness::proxy::{APP_PASSWORD, APP_USER, create_shard_databases};
    use harness::{MYSHARD_PASSWORD, MYSHARD_USER};
    let set = ReplicaSet::start(2, 1).await?;
    let yaml = format!(
        "listen: 127.0.0.1:0
users: [{{name: {APP_USER}, password: {APP_PASSWORD}, schemas: ['*'], admin: true}}]
groups:
  - name: g0
    user: {MYSHARD_USER}
    password: {MYSHARD_PASSWORD}
    write_hosts: ['{p}']
    read_hosts: [{{host: '{r1}', weight: 3}}, '{r2}']
    read_policy: replicas
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
    let config =
        myshard_config::parse(&yaml, "scatter test").map_err(|e| anyhow::anyhow!("{e}"))?;
    create_shard_databases(&config, &[&set.primary]).await?;
    let proxy = start_proxy(config).await?;
    let mut conn = app_conn(&proxy, Some("shop")).await?;
    conn.query_drop("CREATE TABLE t (id INT PRIMARY KEY)")
        .await?;
    let values: Vec<String> = (1..=40).map(|i| format!("({i})")).collect();
    conn.query_drop(format!("INSERT INTO t (id) VALUES {}", values.join(", ")))
        .await?;
    set.sync().await?;
    let (p, r1, r2) = (
        set.primary.server_id(),
        set.replicas[0].server_id(),
        set.replicas[1].server_id(),
    );
    let mut seen = BTreeMap::new();
    for _ in 0..10 {
        let ids: Vec<u32> = conn.query("SELECT @@server_id FROM t").await?;
        assert_eq!(ids.len(), 40, "every shard answered once");
        for id in ids {
            *seen.entry(id).or_insert(0) += 1;
        }
    }
    assert_eq!(seen.get(&p), None, "{seen:?}");
    assert!(seen.contains_key(&r1) && seen.contains_key(&r2), "{seen:?}");
    // In a transaction the same scatter reads the write host only.
    conn.query_drop("BEGIN").await?;
    let ids: Vec<u32> = conn.query("SELECT @@server_id FROM t").await?;
    conn.query_drop("COMMIT").await?;
    assert!(ids.len() == 40 && ids.iter().all(|&id| id == p), "{ids:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_costs_scatter_and_point_reads_no_error_and_returns() -> Result<()> {
    use harness::proxy::{APP_PASSWORD, APP_USER, create_shard_databases};
    use harness::{MYSHARD_PASSWORD, MYSHARD_USER};
    use std::time::{Duration, Instant};
    const INTERVAL_MS: u64 = 500;
    const RISE: u64 = 2;
    let mut set = ReplicaSet::start(2, 1).await?;
    // Slow enough heartbeats that reads meet the dead replica before the monitor does.
    let yaml = format!(
        "listen: 127.0.0.1:0
users: [{{name: {APP_USER}, password: {APP_PASSWORD}, schemas: ['*'], admin: true}}]
groups:
  - name: g0
    user: {MYSHARD_USER}
    password: {MYSHARD_PASSWORD}
    write_hosts: ['{p}']
    read_hosts: ['{r1}', '{r2}']
    read_policy: replicas
    heartbeat: {{interval_ms: {INTERVAL_MS}, timeout_ms: 400, fall: 4, rise: {RISE}}}
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
    let config =
        myshard_config::parse(&yaml, "scatter kill test").map_err(|e| anyhow::anyhow!("{e}"))?;
    create_shard_databases(&config, &[&set.primary]).await?;
    let proxy = myshard_proxy::start(config).await?;
    let mut conn = app_conn(&proxy, Some("shop")).await?;
    conn.query_drop("CREATE TABLE t (id INT PRIMARY KEY)")
        .await?;
    let values: Vec<String> = (1..=40).map(|i| format!("({i})")).collect();
    conn.query_drop(format!("INSERT INTO t (id) VALUES {}", values.join(", ")))
        .await?;
    set.sync().await?;
    let dead = set.replicas[0].server_id();
    let mut conns = vec![conn];
    for _ in 0..3 {
        conns.push(app_conn(&proxy, Some("shop")).await?);
    }
    // Warm the pools: idle connections to the replica exist when it dies.
    for c in &mut conns {
        for _ in 0..4 {
            let ids: Vec<u32> = c.query("SELECT @@server_id FROM t").await?;
            assert_eq!(ids.len(), 40);
        }
    }
    let replica = set.replicas[0].addr();
    let retries_before = metric(&proxy, "myshard_read_retries_total").unwrap_or(0.0);
    set.replicas[0].kill()?;
    let mut seen = BTreeMap::new();
    for c in &mut conns {
        for i in 1..=10 {
            let ids: Vec<u32> = c
                .query("SELECT @@server_id FROM t")
                .await
                .context("scatter read after the replica died")?;
            assert_eq!(ids.len(), 40, "every shard answered once");
            let point: Option<u32> = c
                .query_first(format!("SELECT @@server_id FROM t WHERE id = {i}"))
                .await
                .context("point read after the replica died")?;
            for id in ids.into_iter().chain(point) {
                *seen.entry(id).or_insert(0) += 1;
            }
        }
    }
    assert_eq!(seen.get(&dead), None, "{seen:?}");
    assert_eq!(
        seen.get(&set.primary.server_id()),
        None,
        "policy: replicas only: {seen:?}"
    );
    let retries = metric(&proxy, "myshard_read_retries_total").unwrap_or(0.0) - retries_before;
    assert!(
        retries >= 1.0,
        "the dead replica's reads were retried: {retries}"
    );

    // The monitor takes it out, and sees it back within heartbeat × rise once it returns.
    let state = |proxy: &ProxyHandle| {
        let table = proxy.shared().table();
        table
            .hosts()
            .find(|h| **h.addr() == *replica)
            .map(|h| h.state())
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while state(&proxy) != Some(HostState::Down) {
        assert!(Instant::now() < deadline, "still {:?}", state(&proxy));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    set.replicas[0].restart().await?;
    let back = Instant::now();
    // interval × (rise + 1): a check under way when it returned, then rise good ones; plus
    // slack for a loaded machine.
    let bound = Duration::from_millis(INTERVAL_MS * (RISE + 1) + 3_000);
    while state(&proxy) != Some(HostState::Up) {
        assert!(
            back.elapsed() < bound,
            "not serving {:?} after its return: {:?}",
            back.elapsed(),
            state(&proxy)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut again = BTreeMap::new();
    for _ in 0..5 {
        let ids: Vec<u32> = conns[0].query("SELECT @@server_id FROM t").await?;
        assert_eq!(ids.len(), 40);
        for id in ids {
            *again.entry(id).or_insert(0) += 1;
        }
    }
    assert!(
        again.contains_key(&dead),
        "the returned replica takes reads again: {again:?}"
    );
    Ok(())
}
