//! Hot reload and the routing table: a reload under load costs clients nothing; an invalid
//! or refused file keeps the running configuration; users change for new logins only; a
//! transaction whose group's write host is switched fails and commits nowhere; a shard's
//! gate holds statements while closed.

mod harness;

use anyhow::{Context, Result};
use harness::MariaDb;
use harness::proxy::{ShardedCluster, app_conn, proxy_opts, start_proxy};
use myshard_config::{Config, User};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const TABLES: &[&str] = &["{name: t, shard_key: id}"];
const ROWS: i64 = 200;

async fn loaded_cluster() -> Result<ShardedCluster> {
    let c = ShardedCluster::start(8, TABLES, |_| {}).await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop("CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")
        .await?;
    let values: Vec<String> = (1..=ROWS).map(|i| format!("({i}, {i})")).collect();
    conn.query_drop(format!(
        "INSERT INTO t (id, v) VALUES {}",
        values.join(", ")
    ))
    .await?;
    Ok(c)
}

fn error_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

/// The running configuration, changed by `change`.
fn changed(c: &ShardedCluster, change: impl FnOnce(&mut Config)) -> Config {
    let mut config = (*c.proxy.shared().config()).clone();
    change(&mut config);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reload_under_load_costs_clients_nothing() -> Result<()> {
    let c = loaded_cluster().await?;
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for w in 0..4i64 {
        let mut conn = app_conn(&c.proxy, Some("shop")).await?;
        let (stop, done) = (stop.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            let mut errors = Vec::new();
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                i = (i * 31 + 7) % ROWS + 1;
                let r: Result<(), mysql_async::Error> = async {
                    if w % 2 == 0 {
                        // Text protocol: a point read, an update, a scatter.
                        let v: Option<i64> = conn
                            .query_first(format!("SELECT v FROM t WHERE id = {i}"))
                            .await?;
                        assert_eq!(v, Some(i), "row {i}");
                        conn.query_drop(format!("UPDATE t SET v = v WHERE id = {i}"))
                            .await?;
                        let n: Option<i64> = conn.query_first("SELECT COUNT(*) FROM t").await?;
                        assert_eq!(n, Some(ROWS));
                    } else {
                        // Binary protocol: prepared point reads and a transaction.
                        let v: Option<i64> = conn
                            .exec_first("SELECT v FROM t WHERE id = ?", (i,))
                            .await?;
                        assert_eq!(v, Some(i), "row {i}");
                        let mut tx = conn.start_transaction(Default::default()).await?;
                        tx.exec_drop("UPDATE t SET v = v WHERE id = ?", (i,))
                            .await?;
                        tx.commit().await?;
                    }
                    Ok(())
                }
                .await;
                match r {
                    Ok(()) => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => errors.push(e.to_string()),
                }
            }
            errors
        }));
    }
    let epoch0 = c.proxy.shared().table().epoch;
    for round in 0..12 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let config = changed(&c, |config| {
            for g in &mut config.groups {
                g.pool.max = if round % 2 == 0 { 8 } else { 16 };
            }
            if round % 3 == 0 {
                config.users.push(User::new("visitor", "pw", &["shop"]));
            } else {
                config.users.retain(|u| u.name != "visitor");
            }
            config.limits.statement_timeout_ms = if round % 2 == 0 { 60_000 } else { 0 };
        });
        c.proxy.shared().reload(config).context("reload")?;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let errors = w.await?;
        assert!(
            errors.is_empty(),
            "client errors during reloads: {errors:?}"
        );
    }
    assert!(done.load(Ordering::Relaxed) > 20, "the load made progress");
    assert_eq!(c.proxy.shared().table().epoch, epoch0 + 12);
    Ok(())
}

#[tokio::test]
async fn invalid_or_refused_file_keeps_the_running_configuration() -> Result<()> {
    let c = loaded_cluster().await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    let epoch = c.proxy.shared().table().epoch;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("myshard.yaml");

    std::fs::write(
        &path,
        "listen: 127.0.0.1:0\nusers: [\n  {name: x, password: 3\n",
    )?;
    let e = c
        .proxy
        .shared()
        .reload_from(&path)
        .expect_err("invalid file");
    let text = e.to_string();
    assert!(
        matches!(e, myshard_config::ReloadError::Invalid(_)),
        "{text}"
    );
    assert!(
        text.contains("myshard.yaml:"),
        "names file and line: {text}"
    );

    // Valid, but moves shards: refused, naming migration.
    let e = c
        .proxy
        .shared()
        .reload(changed(&c, |config| config.schemas[0].shards = Some(16)))
        .expect_err("placement no longer covers the shards");
    assert!(matches!(e, myshard_config::ReloadError::Invalid(_)), "{e}");
    let moved = changed(&c, |config| {
        config.schemas[0].shards = Some(16);
        config.schemas[0].placement = Some(vec![myshard_config::Placement {
            group: "g0".into(),
            shards: myshard_config::ShardSpec::Text("0-15".into()),
        }]);
    });
    let e = c.proxy.shared().reload(moved).expect_err("refused");
    assert!(
        matches!(e, myshard_config::ReloadError::Refused { .. }),
        "{e}"
    );
    assert!(e.to_string().contains("migration"), "{e}");

    assert_eq!(c.proxy.shared().table().epoch, epoch, "nothing published");
    let v: Option<i64> = conn.query_first("SELECT v FROM t WHERE id = 7").await?;
    assert_eq!(v, Some(7));
    let mut fresh = app_conn(&c.proxy, Some("shop")).await?;
    let n: Option<i64> = fresh.query_first("SELECT COUNT(*) FROM t").await?;
    assert_eq!(n, Some(ROWS));
    Ok(())
}

#[tokio::test]
async fn users_change_for_new_logins_only() -> Result<()> {
    let c = ShardedCluster::start(2, TABLES, |config| {
        config.users.push(User::new("leaving", "pw1", &["shop"]));
    })
    .await?;
    let mut setup = app_conn(&c.proxy, Some("shop")).await?;
    setup
        .query_drop("CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")
        .await?;
    setup
        .query_drop("INSERT INTO t (id, v) VALUES (1, 10)")
        .await?;
    let login = |user: &'static str, pw: &'static str| {
        Conn::new(proxy_opts(&c.proxy, user, pw, Some("shop")))
    };
    let mut leaving = login("leaving", "pw1").await?;
    assert!(login("joining", "pw2").await.is_err(), "not configured yet");

    let config = changed(&c, |config| {
        config.users.retain(|u| u.name != "leaving");
        config.users.push(User::new("joining", "pw2", &["shop"]));
    });
    c.proxy.shared().reload(config)?;

    let mut joining = login("joining", "pw2").await?;
    let v: Option<i64> = joining.query_first("SELECT v FROM t WHERE id = 1").await?;
    assert_eq!(v, Some(10));
    let e = login("leaving", "pw1").await.expect_err("removed user");
    assert_eq!(error_code(&e), Some(1045), "{e}");
    // The removed user's open session keeps working with the account it logged in with.
    let v: Option<i64> = leaving.query_first("SELECT v FROM t WHERE id = 1").await?;
    assert_eq!(v, Some(10));
    Ok(())
}

/// A group `g0` with two write host candidates (two independent servers), schema `s0` in
/// database `s0_db` on it, table `t` on both servers.
async fn two_candidates() -> Result<(MariaDb, MariaDb, myshard_proxy::ProxyHandle)> {
    let mut servers = MariaDb::start_many(2).await?;
    let b = servers.remove(1);
    let a = servers.remove(0);
    for s in [&a, &b] {
        s.exec("CREATE DATABASE s0_db").await?;
        s.exec("CREATE TABLE s0_db.t (id INT PRIMARY KEY) ENGINE=InnoDB")
            .await?;
    }
    let mut config = harness::proxy::config_for(&[&a]);
    config.groups[0].write_hosts = vec![a.addr(), b.addr()];
    let proxy = start_proxy(config).await?;
    Ok((a, b, proxy))
}

fn switch_write_host(proxy: &myshard_proxy::ProxyHandle) -> Result<()> {
    let mut config = (*proxy.shared().config()).clone();
    config.groups[0].write_hosts.reverse();
    let report = proxy.shared().reload(config)?;
    assert_eq!(report.plan.write_host_switches.len(), 1, "{report}");
    Ok(())
}

async fn rows_on(s: &MariaDb) -> Result<Vec<i32>> {
    s.query::<i32>("SELECT id FROM s0_db.t ORDER BY id").await
}

#[tokio::test]
async fn transaction_on_a_switched_write_host_fails_and_commits_nowhere() -> Result<()> {
    let (a, b, proxy) = two_candidates().await?;
    let mut conn = app_conn(&proxy, Some("s0")).await?;

    // A statement after the switch fails; the transaction stays failed until ROLLBACK.
    conn.query_drop("BEGIN").await?;
    conn.query_drop("INSERT INTO t VALUES (1)").await?;
    switch_write_host(&proxy)?;
    let e = conn
        .query_drop("INSERT INTO t VALUES (2)")
        .await
        .expect_err("the transaction's host changed");
    assert_eq!(error_code(&e), Some(1105), "{e}");
    assert!(
        e.to_string().contains("write host of group 'g0' changed"),
        "{e}"
    );
    let e = conn
        .query_drop("SELECT 1")
        .await
        .expect_err("still in the failed transaction");
    assert!(e.to_string().contains("ROLLBACK"), "{e}");
    conn.query_drop("ROLLBACK").await?;

    // COMMIT after the switch fails and commits nowhere.
    conn.query_drop("START TRANSACTION").await?;
    conn.query_drop("INSERT INTO t VALUES (3)").await?;
    switch_write_host(&proxy)?;
    let e = conn.query_drop("COMMIT").await.expect_err("commit refused");
    assert_eq!(error_code(&e), Some(1180), "{e}");
    assert!(e.to_string().contains("committed nowhere"), "{e}");

    // Autocommit statements follow the new write host (b after two switches: a again).
    conn.query_drop("INSERT INTO t VALUES (4)").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rows_on(&a).await?, vec![4], "only the autocommit row, on a");
    assert_eq!(rows_on(&b).await?, Vec::<i32>::new(), "nothing on b");

    // With autocommit off the same holds.
    conn.query_drop("SET autocommit = 0").await?;
    conn.query_drop("INSERT INTO t VALUES (5)").await?;
    switch_write_host(&proxy)?;
    let e = conn.query_drop("COMMIT").await.expect_err("commit refused");
    assert_eq!(error_code(&e), Some(1180), "{e}");
    conn.query_drop("SET autocommit = 1").await?;
    assert_eq!(rows_on(&a).await?, vec![4]);
    assert_eq!(rows_on(&b).await?, Vec::<i32>::new());
    Ok(())
}

#[tokio::test]
async fn a_closed_gate_holds_statements_until_it_reopens() -> Result<()> {
    let c = loaded_cluster().await?;
    let shared = c.proxy.shared().clone();
    let table = shared.table();
    let mut names: Vec<String> = table
        .topology
        .physical_databases()
        .filter(|d| d.schema == "shop")
        .map(|d| d.database.to_string())
        .collect();
    names.sort();

    // (Logins run statements on the home shard: connect first.)
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    let mut prepared = app_conn(&c.proxy, Some("shop")).await?;
    // A running statement delays the closing until it is done.
    let mut slow = app_conn(&c.proxy, Some("shop")).await?;
    let running = tokio::spawn(async move {
        let r: Result<Vec<Row>, _> = slow.query("SELECT SLEEP(1), v FROM t WHERE id = 5").await;
        r.map(|rows| rows.len())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let mut closures = Vec::new();
    for n in &names {
        let gate = table.gate(n).context("gate")?;
        closures.push(gate.close().await);
    }
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "close waited for the running statement"
    );
    assert_eq!(running.await??, 1);

    // While closed, point reads and scatters wait; they finish once it reopens.
    let held = tokio::spawn(async move {
        let v: Option<i64> = conn.query_first("SELECT v FROM t WHERE id = 9").await?;
        let n: Option<i64> = conn.query_first("SELECT COUNT(*) FROM t").await?;
        let p: Option<i64> = prepared
            .exec_first("SELECT v FROM t WHERE id = ?", (11,))
            .await?;
        Ok::<_, mysql_async::Error>((v, n, p))
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!held.is_finished(), "statements wait at the closed gate");
    drop(closures);
    let r = tokio::time::timeout(Duration::from_secs(10), held).await???;
    assert_eq!(r, (Some(9), Some(ROWS), Some(11)));
    Ok(())
}

/// Connections the proxy has open on `s`, as the server counts them.
async fn proxy_connections_on(s: &MariaDb) -> Result<i64> {
    let n = s
        .query::<i64>(&format!(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{}'",
            harness::MYSHARD_USER
        ))
        .await?;
    Ok(n.first().copied().unwrap_or(0))
}

/// Runs `n` concurrent `SELECT SLEEP(secs)` in schema `schema`; returns how long they took.
async fn sleepers(
    proxy: &myshard_proxy::ProxyHandle,
    schema: &str,
    n: usize,
    secs: f64,
) -> Result<Duration> {
    let mut conns = Vec::new();
    for _ in 0..n {
        conns.push(app_conn(proxy, Some(schema)).await?);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut c in conns {
        tasks.push(tokio::spawn(async move {
            c.query_drop(format!("SELECT SLEEP({secs})")).await
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_limits_and_removed_hosts_apply_to_live_connections() -> Result<()> {
    let servers = MariaDb::start_many(2).await?;
    let (a, b) = (&servers[0], &servers[1]);
    harness::proxy::create_databases(&[a, b]).await?;
    b.exec("CREATE DATABASE s0_db").await?;
    let proxy = start_proxy(harness::proxy::config_for(&[a, b])).await?;

    // Four sleepers at once on g0 (pool max 16) run side by side.
    let took = sleepers(&proxy, "s0", 4, 0.5).await?;
    assert!(took < Duration::from_millis(950), "{took:?}");
    assert_eq!(proxy_connections_on(a).await?, 4);

    // A lower max applies to the live pool: idle connections beyond it close now, and
    // the same four sleepers take two turns.
    let mut config = (*proxy.shared().config()).clone();
    config.groups[0].pool.max = 2;
    proxy.shared().reload(config)?;
    assert_eq!(proxy_connections_on(a).await?, 2);
    let took = sleepers(&proxy, "s0", 4, 0.5).await?;
    assert!(took >= Duration::from_millis(950), "{took:?}");
    assert!(proxy_connections_on(a).await? <= 2);

    // g1's write host b is replaced by a: b drains. Its idle connections close at once,
    // the one a session holds in a transaction when the session lets it go (here: when
    // its next statement finds the transaction's host gone).
    let mut in_tx = app_conn(&proxy, Some("s1")).await?;
    in_tx.query_drop("BEGIN").await?;
    in_tx
        .query_drop("SELECT COUNT(*) FROM information_schema.TABLES")
        .await?;
    let mut idle = app_conn(&proxy, Some("s1")).await?;
    idle.query_drop("SELECT 1").await?;
    assert_eq!(proxy_connections_on(b).await?, 2);
    let mut config = (*proxy.shared().config()).clone();
    config.groups[1].write_hosts = vec![a.addr()];
    config.groups[1].pool.max = 4;
    a.exec("CREATE DATABASE IF NOT EXISTS s1_db").await?;
    let report = proxy.shared().reload(config)?;
    assert_eq!(report.plan.hosts_removed.len(), 1, "{report}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        proxy_connections_on(b).await?,
        1,
        "only the one in use is left"
    );
    let e = in_tx.query_drop("SELECT 1").await.expect_err("host gone");
    assert!(e.to_string().contains("changed"), "{e}");
    in_tx.query_drop("ROLLBACK").await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(proxy_connections_on(b).await?, 0, "drained");
    // The group's statements now run on a.
    let host: Option<u32> = idle.query_first("SELECT @@server_id").await?;
    assert_eq!(host, Some(a.server_id()));
    Ok(())
}

#[tokio::test]
async fn pinned_state_on_a_switched_write_host_is_reported_lost_once() -> Result<()> {
    let (a, b, proxy) = two_candidates().await?;
    let mut conn = app_conn(&proxy, Some("s0")).await?;
    // The switch comes right after the statement that pinned the session.
    conn.query_drop("SET @kept = 5").await?;
    switch_write_host(&proxy)?;
    let e = conn
        .query_drop("SELECT @kept")
        .await
        .expect_err("the variable lived on the old write host");
    assert_eq!(error_code(&e), Some(1105), "{e}");
    assert!(e.to_string().contains("was lost"), "{e}");
    // The session goes on, afresh, on the new write host.
    let row: Option<(Option<i64>, u32)> = conn.query_first("SELECT @kept, @@server_id").await?;
    assert_eq!(row, Some((None, b.server_id())));
    let _ = a;
    Ok(())
}
