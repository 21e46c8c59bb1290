//! End-to-end tests of transactions and pooling through the proxy against real MariaDB
//! servers: commit and rollback, transactions that stay on their backend connection (also
//! after a failed statement, and in sessions pinned by other state), session variables
//! that follow each client over a small pool, pinned state (temporary tables, user
//! variables) and the pool's connection limit.

mod harness;

use anyhow::{Context, Result, ensure};
use harness::e2e::{Env, server_err, wait_for};
use harness::proxy::{APP_PASSWORD, APP_USER, app_conn};
use harness::raw::{Login, RawConn};
use mysql_async::prelude::Queryable;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_and_rollback() -> Result<()> {
    let env = Env::start(1, |c| c.groups[0].pool.max = 2).await?;
    let mut a = app_conn(&env.proxy, Some("s0")).await?;
    let mut b = app_conn(&env.proxy, Some("s0")).await?;
    a.query_drop("CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB")
        .await?;
    a.query_drop("BEGIN").await?;
    a.query_drop("INSERT INTO t VALUES (1)").await?;
    let mine: Vec<i32> = a.query("SELECT id FROM t").await?;
    assert_eq!(mine, [1]);
    let theirs: Vec<i32> = b.query("SELECT id FROM t").await?;
    assert!(
        theirs.is_empty(),
        "uncommitted row visible to another client"
    );
    a.query_drop("ROLLBACK").await?;
    let mine: Vec<i32> = a.query("SELECT id FROM t").await?;
    assert!(mine.is_empty());

    a.query_drop("START TRANSACTION").await?;
    a.query_drop("INSERT INTO t VALUES (2)").await?;
    a.query_drop("COMMIT").await?;
    let theirs: Vec<i32> = b.query("SELECT id FROM t").await?;
    assert_eq!(theirs, [2]);

    // autocommit = 0: changes wait for COMMIT, ROLLBACK drops them.
    a.query_drop("SET autocommit = 0").await?;
    a.query_drop("INSERT INTO t VALUES (3)").await?;
    assert!(
        b.query::<i32, _>("SELECT id FROM t WHERE id = 3")
            .await?
            .is_empty()
    );
    a.query_drop("COMMIT").await?;
    assert_eq!(
        b.query::<i32, _>("SELECT id FROM t WHERE id = 3").await?,
        [3]
    );
    a.query_drop("INSERT INTO t VALUES (4)").await?;
    a.query_drop("ROLLBACK").await?;
    a.query_drop("SET autocommit = 1").await?;
    a.query_drop("INSERT INTO t VALUES (5)").await?;
    assert_eq!(
        env.dbs[0]
            .query::<i32>("SELECT id FROM s0_db.t ORDER BY id")
            .await?,
        [2, 3, 5]
    );
    // A client that disconnects inside a transaction loses it.
    a.query_drop("BEGIN").await?;
    a.query_drop("INSERT INTO t VALUES (6)").await?;
    a.disconnect().await?;
    assert_eq!(
        b.query::<i32, _>("SELECT id FROM t ORDER BY id").await?,
        [2, 3, 5]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_statement_keeps_the_transaction_on_its_connection() -> Result<()> {
    let env = Env::start(1, |c| c.groups[0].pool.max = 2).await?;
    let mut a = app_conn(&env.proxy, Some("s0")).await?;
    let mut b = app_conn(&env.proxy, Some("s0")).await?;
    a.query_drop("CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB")
        .await?;
    a.query_drop("BEGIN").await?;
    let tid: Option<u64> = a.query_first("SELECT @@pseudo_thread_id").await?;
    a.query_drop("INSERT INTO t VALUES (1)").await?;
    let (code, _, _) = server_err(a.query_drop("INSERT INTO t VALUES (1)").await)?;
    assert_eq!(code, 1062);
    // The transaction is still open on a's backend connection: another client must not
    // be given that connection.
    for _ in 0..3 {
        let (in_trx, other_tid): (i64, u64) = b
            .query_first("SELECT @@in_transaction, @@pseudo_thread_id")
            .await?
            .context("row")?;
        assert_eq!(
            in_trx, 0,
            "another client got the connection holding a's transaction"
        );
        assert_ne!(Some(other_tid), tid);
    }
    let again: Option<u64> = a.query_first("SELECT @@pseudo_thread_id").await?;
    assert_eq!(again, tid, "a left its transaction's connection");
    a.query_drop("INSERT INTO t VALUES (2)").await?;
    a.query_drop("ROLLBACK").await?;
    assert!(
        env.dbs[0]
            .query::<i32>("SELECT id FROM s0_db.t")
            .await?
            .is_empty(),
        "ROLLBACK did not undo the transaction"
    );
    assert_eq!(
        a.query_first::<i64, _>("SELECT @@in_transaction").await?,
        Some(0)
    );

    // With autocommit off a failed first statement starts a transaction too (as on
    // MariaDB directly). One backend connection and a short checkout wait make it
    // visible: the connection must stay with a, not be synced to another client's
    // autocommit setting (which would commit a's transaction).
    let mut config = harness::proxy::config_for(&[&env.dbs[0]]);
    config.groups[0].pool.max = 1;
    config.groups[0].pool.checkout_timeout_ms = 300;
    let proxy = harness::proxy::start_proxy(config).await?;
    let mut a = app_conn(&proxy, Some("s0")).await?;
    a.query_drop("SET autocommit = 0").await?;
    a.query_drop("INSERT INTO t VALUES (7)").await?;
    a.query_drop("COMMIT").await?;
    let (code, _, _) = server_err(a.query_drop("INSERT INTO t VALUES (8), (7)").await)?;
    assert_eq!(code, 1062);
    let mut other = RawConn::login(
        proxy.addr(),
        &Login::new(APP_USER, APP_PASSWORD, Some("s0")),
    )
    .await?
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let e = other.query("SELECT @@in_transaction").await?.err()?;
    assert_eq!(
        e.code, 1040,
        "another client got the connection holding a's transaction"
    );
    let in_trx: Option<i64> = a.query_first("SELECT @@in_transaction").await?;
    assert_eq!(in_trx, Some(1), "a's transaction was lost");
    a.query_drop("INSERT INTO t VALUES (9)").await?;
    a.query_drop("ROLLBACK").await?;
    assert_eq!(
        env.dbs[0].query::<i32>("SELECT id FROM s0_db.t").await?,
        [7]
    );
    assert_eq!(other.query("SELECT 1").await?.text_rows()?, vec![vec!["1"]]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_of_a_pinned_session() -> Result<()> {
    let env = Env::start(1, |c| c.groups[0].pool.max = 2).await?;
    env.dbs[0]
        .exec("CREATE TABLE s0_db.t (id INT PRIMARY KEY) ENGINE=InnoDB")
        .await?;
    let ids = || async {
        env.dbs[0]
            .query::<i32>("SELECT id FROM s0_db.t ORDER BY id")
            .await
    };
    for pin in ["SET @v = 1", "CREATE TEMPORARY TABLE tmp (a INT)"] {
        env.dbs[0].exec("DELETE FROM s0_db.t").await?;
        let mut raw = RawConn::login(
            env.proxy.addr(),
            &Login::new(APP_USER, APP_PASSWORD, Some("s0")),
        )
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        // The session is bound to its backend connection before the transactions.
        raw.query(pin).await?.results()?;
        raw.query("BEGIN").await?.results()?;
        raw.query("INSERT INTO t VALUES (1)").await?.results()?;
        raw.query("ROLLBACK").await?.results()?;
        assert_eq!(
            ids().await?,
            Vec::<i32>::new(),
            "{pin}: ROLLBACK undid nothing"
        );
        raw.query("START TRANSACTION").await?.results()?;
        raw.query("INSERT INTO t VALUES (2)").await?.results()?;
        assert_eq!(
            ids().await?,
            Vec::<i32>::new(),
            "{pin}: committed before COMMIT"
        );
        raw.query("COMMIT").await?.results()?;
        assert_eq!(ids().await?, [2]);
        // After COMMIT no transaction is open any more (status flags say so).
        raw.send(&[0x0E]).await?;
        let ok = raw.read_packet().await?;
        assert_eq!(
            ok,
            [0x00, 0, 0, 0x02, 0, 0, 0],
            "{pin}: status after COMMIT"
        );
        raw.query("BEGIN").await?.results()?;
        raw.query("INSERT INTO t VALUES (3)").await?.results()?;
        raw.query("ROLLBACK").await?.results()?;
        assert_eq!(ids().await?, [2], "{pin}: second transaction");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_state_follows_each_client_over_a_small_pool() -> Result<()> {
    let env = Env::start(1, |c| c.groups[0].pool.max = 2).await?;
    let modes = [
        "ANSI_QUOTES",
        "NO_ZERO_DATE",
        "STRICT_TRANS_TABLES",
        "",
        "PIPES_AS_CONCAT",
        "NO_BACKSLASH_ESCAPES",
    ];
    let max_open = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, mode) in modes.into_iter().enumerate() {
        let mut conn = app_conn(&env.proxy, Some("s0")).await?;
        let shared = env.proxy.shared().clone();
        let max_open = max_open.clone();
        tasks.spawn(async move {
            let mut tz = format!("+0{i}:00");
            let autocommit = if i % 2 == 0 { 0 } else { 1 };
            let charset = ["latin1", "utf8mb4", "utf8mb3"][i % 3];
            conn.query_drop(format!(
                "SET time_zone = '{tz}', sql_mode = '{mode}', autocommit = {autocommit}"
            ))
            .await?;
            conn.query_drop(format!("SET NAMES {charset}")).await?;
            for round in 0..20 {
                if round == 10 {
                    tz = format!("-0{i}:30");
                    conn.query_drop(format!("SET @@session.time_zone = '{tz}'")).await?;
                }
                let (got_tz, got_mode, got_ac): (String, String, i64) = conn
                    .query_first("SELECT @@session.time_zone, @@session.sql_mode, @@session.autocommit")
                    .await?
                    .context("row")?;
                ensure!(
                    (got_tz.as_str(), got_mode.as_str(), got_ac) == (tz.as_str(), mode, autocommit),
                    "client {i} round {round}: got ({got_tz}, {got_mode}, {got_ac}), want ({tz}, {mode}, {autocommit})"
                );
                let got: Option<(String, String)> = conn
                    .query_first("SELECT @@character_set_client, @@character_set_results")
                    .await?;
                ensure!(
                    got == Some((charset.to_string(), charset.to_string())),
                    "client {i} round {round}: character sets {got:?}, want {charset}"
                );
                if autocommit == 0 {
                    conn.query_drop("COMMIT").await?;
                }
                let open: usize = shared.pools().iter().map(|p| p.stats().open).sum();
                max_open.fetch_max(open, Ordering::Relaxed);
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    assert!(max_open.load(Ordering::Relaxed) <= 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_state_stays_on_one_connection_and_the_pool_stays_bounded() -> Result<()> {
    let env = Env::start(1, |c| c.groups[0].pool.max = 2).await?;
    let mut setup = app_conn(&env.proxy, Some("s0")).await?;
    setup
        .query_drop("CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB")
        .await?;
    drop(setup);

    // Background clients keep both connections busy.
    let stop = Arc::new(AtomicBool::new(false));
    let mut noise = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let mut conn = app_conn(&env.proxy, Some("s0")).await?;
        let stop = stop.clone();
        noise.spawn(async move {
            let mut threads = HashSet::new();
            while !stop.load(Ordering::Relaxed) {
                let t: Option<u64> = conn.query_first("SELECT @@pseudo_thread_id").await?;
                threads.extend(t);
            }
            anyhow::Ok(threads)
        });
    }
    let backend_threads = env.dbs[0].conn().await?;
    let mut backend_threads = Some(backend_threads);

    // A transaction stays on one backend connection.
    let mut a = app_conn(&env.proxy, Some("s0")).await?;
    a.query_drop("BEGIN").await?;
    let first: Option<u64> = a.query_first("SELECT @@pseudo_thread_id").await?;
    for i in 0..10 {
        a.query_drop(format!("INSERT INTO t VALUES ({i})")).await?;
        let now: Option<u64> = a.query_first("SELECT @@pseudo_thread_id").await?;
        assert_eq!(
            now, first,
            "transaction moved to another backend connection"
        );
    }
    a.query_drop("COMMIT").await?;

    // A temporary table and user variables pin the session: they stay visible while the
    // other clients share the remaining connection.
    let mut b = app_conn(&env.proxy, Some("s0")).await?;
    b.query_drop("CREATE TEMPORARY TABLE tmp (x INT)").await?;
    b.query_drop("INSERT INTO tmp VALUES (42)").await?;
    b.query_drop("SET @mine = 'b-value'").await?;
    for _ in 0..10 {
        let x: Option<i32> = b.query_first("SELECT x FROM tmp").await?;
        assert_eq!(x, Some(42));
        let v: Option<String> = b.query_first("SELECT @mine").await?;
        assert_eq!(v.as_deref(), Some("b-value"));
        let open = env.open_backend_conns();
        assert!(open <= 2, "{open} backend connections open");
        if let Some(mut probe) = backend_threads.take() {
            let n: Option<i64> = probe
                .query_first(
                    "SELECT COUNT(*) FROM information_schema.processlist WHERE user = 'myshard' AND db = 's0_db'",
                )
                .await?;
            assert!(n.is_some_and(|n| n <= 2), "{n:?} backend connections");
            backend_threads = Some(probe);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = HashSet::new();
    while let Some(r) = noise.join_next().await {
        seen.extend(r??);
    }
    assert!(seen.len() <= 2, "backend threads used: {seen:?}");
    b.disconnect().await?;
    a.disconnect().await?;
    // Pinned connections of closed clients are closed, not handed to others.
    wait_for("the sessions to end", Duration::from_secs(5), || async {
        let n = env
            .proxy
            .shared()
            .registry
            .lock()
            .map(|r| r.len())
            .unwrap_or(usize::MAX);
        Ok((n == 0).then_some(()))
    })
    .await?;
    assert!(env.open_backend_conns() <= 2);
    let mut d = app_conn(&env.proxy, Some("s0")).await?;
    let (code, _, _) = server_err(d.query_drop("SELECT * FROM tmp").await)?;
    assert_eq!(code, 1146);
    let v: Option<Option<String>> = d.query_first("SELECT @mine").await?;
    assert_eq!(v, Some(None));
    Ok(())
}
