//! Transactions across groups (real MariaDB, two groups `g0`/`g1` with schemas `s0`/`s1`):
//! the transaction modes (`single`, `best_effort`, `xa`), the two-phase commit of `xa` with
//! its decision log, and what a crash at each point of the protocol leaves behind.

mod harness;

use anyhow::{Context, Result, ensure};
use harness::MariaDb;
use harness::bank::{self, ACCOUNTS, TOTAL};
use harness::e2e::{Env, server_err};
use harness::proxy::app_conn;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use std::path::{Path, PathBuf};

/// The decision log inside a state directory.
fn log_path(dir: &Path) -> PathBuf {
    dir.join(myshard_proxy::xa::decision_log::FILE_NAME)
}

/// Two groups, the proxy's state in `dir` (`None`: no state_dir), table `t` in both
/// schemas.
async fn env_with_state(dir: Option<&Path>) -> Result<Env> {
    let dir = dir.map(|d| d.display().to_string());
    let env = Env::start(2, |c| {
        c.state_dir = dir;
        c.proxy_id = Some("xa-test".into());
    })
    .await?;
    for (i, db) in env.dbs.iter().enumerate() {
        db.exec(&format!(
            "CREATE TABLE s{i}_db.t (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB"
        ))
        .await?;
    }
    Ok(env)
}

/// The ids in `table`, read on the server directly.
async fn ids_on(db: &MariaDb, table: &str) -> Result<Vec<i64>> {
    db.query(&format!("SELECT id FROM {table} ORDER BY id"))
        .await
}

/// The xids of prepared XA branches on the server.
async fn prepared_on(db: &MariaDb) -> Result<Vec<String>> {
    let rows: Vec<(i64, i64, i64, Vec<u8>)> = db.query("XA RECOVER").await?;
    Ok(rows
        .into_iter()
        .map(|r| String::from_utf8_lossy(&r.3).into_owned())
        .collect())
}

async fn mode(c: &mut Conn) -> Result<String> {
    let m: Option<String> = c.query_first("SELECT @@myshard_transaction_mode").await?;
    m.context("no row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modes_per_user_default_and_session() -> Result<()> {
    // Without a state directory the default is best_effort and xa cannot be chosen.
    let env = env_with_state(None).await?;
    let mut c = app_conn(&env.proxy, Some("s0")).await?;
    ensure!(mode(&mut c).await? == "best_effort");
    let (code, state, msg) = server_err(c.query_drop("SET myshard_transaction_mode = xa").await)?;
    ensure!(
        code == 1231 && state == "42000" && msg.contains("state_dir"),
        "{code} {msg}"
    );
    drop(c);
    drop(env);

    let dir = tempfile::tempdir()?;
    let env = env_with_state(Some(dir.path())).await?;
    let mut c = app_conn(&env.proxy, Some("s0")).await?;
    ensure!(
        mode(&mut c).await? == "xa",
        "xa is the default with a state_dir"
    );
    let (code, _, msg) = server_err(
        c.query_drop("SET myshard_transaction_mode = 'two_phase'")
            .await,
    )?;
    ensure!(code == 1231 && msg.contains("two_phase"), "{code} {msg}");
    c.query_drop("SET SESSION myshard_transaction_mode = 'SINGLE'")
        .await?;
    ensure!(mode(&mut c).await? == "single");
    // Not inside a transaction.
    c.query_drop("BEGIN").await?;
    c.query_drop("INSERT INTO t VALUES (1, 1)").await?;
    let (code, state, _) = server_err(
        c.query_drop("SET myshard_transaction_mode = best_effort")
            .await,
    )?;
    ensure!(code == 1568 && state == "25001", "{code} {state}");
    c.query_drop("COMMIT").await?;
    ensure!(mode(&mut c).await? == "single");
    let (code, _, _) = server_err(
        c.query_drop("SET GLOBAL myshard_transaction_mode = xa")
            .await,
    )?;
    ensure!(code == 1228, "{code}");
    // Another session starts with the user's mode; COM_RESET_CONNECTION goes back to it.
    let mut other = app_conn(&env.proxy, Some("s0")).await?;
    ensure!(mode(&mut other).await? == "xa");
    c.reset().await?;
    ensure!(mode(&mut c).await? == "xa");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_refuses_a_second_group_and_the_transaction_goes_on() -> Result<()> {
    let env = env_with_state(None).await?;
    let mut c = app_conn(&env.proxy, Some("s0")).await?;
    c.query_drop("SET myshard_transaction_mode = single")
        .await?;
    c.query_drop("BEGIN").await?;
    c.query_drop("INSERT INTO s0.t VALUES (1, 1)").await?;
    let (code, _, msg) = server_err(c.query_drop("INSERT INTO s1.t VALUES (1, 1)").await)?;
    ensure!(
        code == 1235 && msg.contains("'g1'") && msg.contains("not sent"),
        "{code} {msg}"
    );
    // The transaction goes on on its group, and commits there.
    c.query_drop("INSERT INTO s0.t VALUES (2, 2)").await?;
    c.query_drop("COMMIT").await?;
    ensure!(ids_on(&env.dbs[0], "s0_db.t").await? == vec![1, 2]);
    ensure!(
        ids_on(&env.dbs[1], "s1_db.t").await?.is_empty(),
        "nothing sent to g1"
    );
    // Rolled back after the refusal: nothing anywhere.
    c.query_drop("START TRANSACTION").await?;
    c.query_drop("INSERT INTO s1.t VALUES (5, 5)").await?;
    let (code, _, _) = server_err(c.query_drop("UPDATE s0.t SET v = 9").await)?;
    ensure!(code == 1235);
    c.query_drop("ROLLBACK").await?;
    ensure!(ids_on(&env.dbs[1], "s1_db.t").await?.is_empty());
    // Outside a transaction each statement is its own: both groups are fine.
    c.query_drop("INSERT INTO s1.t VALUES (7, 7)").await?;
    c.query_drop("INSERT INTO s0.t VALUES (7, 7)").await?;
    ensure!(ids_on(&env.dbs[1], "s1_db.t").await? == vec![7]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_commits_across_groups_with_a_logged_decision() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let env = env_with_state(Some(dir.path())).await?;
    let header = std::fs::metadata(log_path(dir.path()))?.len();
    let mut c = app_conn(&env.proxy, Some("s0")).await?;
    // One group: one phase, nothing logged.
    c.query_drop("BEGIN").await?;
    c.query_drop("INSERT INTO s0.t VALUES (1, 1)").await?;
    c.query_drop("COMMIT").await?;
    ensure!(ids_on(&env.dbs[0], "s0_db.t").await? == vec![1]);
    ensure!(std::fs::metadata(log_path(dir.path()))?.len() == header);
    // Two groups: prepared, decided, committed.
    c.query_drop("BEGIN").await?;
    c.query_drop("INSERT INTO s0.t VALUES (2, 2)").await?;
    c.query_drop("INSERT INTO s1.t VALUES (2, 2)").await?;
    // Nothing visible before the commit.
    ensure!(ids_on(&env.dbs[1], "s1_db.t").await?.is_empty());
    c.query_drop("COMMIT").await?;
    ensure!(ids_on(&env.dbs[0], "s0_db.t").await? == vec![1, 2]);
    ensure!(ids_on(&env.dbs[1], "s1_db.t").await? == vec![2]);
    let log = std::fs::read_to_string(log_path(dir.path()))?;
    let lines: Vec<&str> = log.lines().collect();
    ensure!(lines.len() == 3, "{log}");
    ensure!(lines[0].ends_with("proxy=xa-test"), "{log}");
    let gtrid = lines[1]
        .strip_prefix("commit ")
        .and_then(|r| r.strip_suffix(" g0,g1"))
        .context(log.clone())?;
    ensure!(gtrid.starts_with("myshard.xa-test."), "{log}");
    ensure!(lines[2] == format!("done {gtrid}"), "{log}");
    ensure!(prepared_on(&env.dbs[0]).await?.is_empty());
    ensure!(prepared_on(&env.dbs[1]).await?.is_empty());
    // ROLLBACK across groups.
    c.query_drop("BEGIN").await?;
    c.query_drop("INSERT INTO s0.t VALUES (3, 3)").await?;
    c.query_drop("INSERT INTO s1.t VALUES (3, 3)").await?;
    c.query_drop("ROLLBACK").await?;
    ensure!(ids_on(&env.dbs[0], "s0_db.t").await? == vec![1, 2]);
    ensure!(ids_on(&env.dbs[1], "s1_db.t").await? == vec![2]);
    // The session's connections are reusable afterwards (no branch left open).
    c.query_drop("INSERT INTO s1.t VALUES (4, 4)").await?;
    c.query_drop("BEGIN").await?;
    c.query_drop("UPDATE s0.t SET v = v + 1 WHERE id = 1")
        .await?;
    c.query_drop("UPDATE s1.t SET v = v - 1 WHERE id = 4")
        .await?;
    c.query_drop("COMMIT").await?;
    let v: Vec<i64> = env.dbs[1]
        .query("SELECT v FROM s1_db.t WHERE id = 4")
        .await?;
    ensure!(v == vec![3]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_lost_before_the_decision_rolls_back_everywhere() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let env = env_with_state(Some(dir.path())).await?;
    let mut c = app_conn(&env.proxy, Some("s0")).await?;
    c.query_drop("BEGIN").await?;
    c.query_drop("INSERT INTO s0.t VALUES (1, 1)").await?;
    c.query_drop("INSERT INTO s1.t VALUES (1, 1)").await?;
    // g1's branch dies with its connection before the commit.
    let ids: Vec<u64> = env.dbs[1]
        .query(&format!(
            "SELECT id FROM information_schema.processlist WHERE user = '{}'",
            harness::MYSHARD_USER
        ))
        .await?;
    for id in ids {
        let _ = env.dbs[1].exec(&format!("KILL {id}")).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (code, _, msg) = server_err(c.query_drop("COMMIT").await)?;
    // Noticed before the commit (the connection is gone) or by the prepare itself.
    ensure!(
        code == 1180 && (msg.contains("committed nowhere") || msg.contains("rolled back")),
        "{code} {msg}"
    );
    ensure!(
        ids_on(&env.dbs[0], "s0_db.t").await?.is_empty(),
        "g0 rolled back"
    );
    ensure!(ids_on(&env.dbs[1], "s1_db.t").await?.is_empty());
    ensure!(
        prepared_on(&env.dbs[0]).await?.is_empty(),
        "no branch left prepared"
    );
    ensure!(prepared_on(&env.dbs[1]).await?.is_empty());
    // No decision was logged.
    let log = std::fs::read_to_string(log_path(dir.path()))?;
    ensure!(!log.contains("commit "), "{log}");
    // The session works on.
    c.query_drop("BEGIN").await?;
    c.query_drop("INSERT INTO s0.t VALUES (2, 2)").await?;
    c.query_drop("INSERT INTO s1.t VALUES (2, 2)").await?;
    c.query_drop("COMMIT").await?;
    ensure!(ids_on(&env.dbs[1], "s1_db.t").await? == vec![2]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_log_of_another_proxy_stops_the_start() -> Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        log_path(dir.path()),
        "myshard-xa-decisions v1 proxy=someone-else\n",
    )?;
    let db = MariaDb::start().await?;
    let mut config = harness::proxy::config_for(&[&db]);
    config.state_dir = Some(dir.path().display().to_string());
    let err = match myshard_proxy::server::start(config).await {
        Ok(_) => anyhow::bail!("the proxy started on another proxy's decision log"),
        Err(e) => e.to_string(),
    };
    ensure!(err.contains("someone-else"), "{err}");
    Ok(())
}

/// Two groups with accounts and a ledger of transfer ids in each (tests/harness/bank.rs).
async fn bank(dir: &Path) -> Result<Env> {
    let env = env_with_state(Some(dir)).await?;
    for (i, db) in env.dbs.iter().enumerate() {
        bank::open_accounts(db, i).await?;
    }
    Ok(env)
}

/// The bank's transfer `n`, failing with the first error whatever the statement.
async fn transfer(c: &mut Conn, n: i64) -> Result<(), mysql_async::Error> {
    bank::transfer(c, n)
        .await
        .map_err(bank::Failure::into_error)
}

/// Several clients transfer until the proxy "crashes" at `fault` (armed once some transfers
/// were acknowledged); returns the acknowledged transfer ids.
async fn transfers_until_crash(
    env: &Env,
    mode: &str,
    fault: myshard_proxy::xa::Fault,
) -> Result<Vec<i64>> {
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for k in 0..4i64 {
        let mut c = app_conn(&env.proxy, Some("s0")).await?;
        c.query_drop(format!("SET myshard_transaction_mode = {mode}"))
            .await?;
        let acknowledged = acknowledged.clone();
        clients.push(tokio::spawn(async move {
            for i in 0..10_000 {
                let n = k * 100_000 + i;
                if transfer(&mut c, n).await.is_err() {
                    return;
                }
                if let Ok(mut a) = acknowledged.lock() {
                    a.push(n);
                }
            }
        }));
    }
    harness::e2e::wait_for("some transfers", std::time::Duration::from_secs(30), || {
        let count = acknowledged.lock().map_or(0, |a| a.len());
        async move { Ok((count >= 12).then_some(())) }
    })
    .await?;
    env.proxy.shared().xa.arm_fault(fault);
    let shared = env.proxy.shared().clone();
    harness::e2e::wait_for(
        "the fault to fire",
        std::time::Duration::from_secs(30),
        || {
            let crashed = shared.xa.crashed();
            async move { Ok(crashed.then_some(())) }
        },
    )
    .await?;
    // A dead proxy's clients lose their connections: those still waiting (for a lock a
    // prepared branch holds, say) are cut off.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for c in &clients {
        c.abort();
    }
    for c in clients {
        let _ = c.await;
    }
    let ids = acknowledged
        .lock()
        .map_or_else(|_| Vec::new(), |a| a.clone());
    Ok(ids)
}

/// Stops the crashed proxy and starts another on the same configuration and state dir.
async fn restart(env: Env) -> Result<Env> {
    let Env { proxy, dbs } = env;
    let config = (*proxy.shared().config()).clone();
    proxy.stop();
    drop(proxy);
    let proxy = harness::proxy::start_proxy(config).await?;
    Ok(Env { proxy, dbs })
}

/// Both ledgers and the total balance after recovery; fails if a branch stays prepared.
async fn settled(env: &Env) -> Result<(Vec<i64>, Vec<i64>, i64)> {
    let books = bank::settled(
        [&env.dbs[0], &env.dbs[1]],
        std::time::Duration::from_secs(20),
    )
    .await?;
    Ok((books.g0, books.g1, books.total))
}

async fn crash_and_recover(fault: myshard_proxy::xa::Fault) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let env = bank(dir.path()).await?;
    let acknowledged = transfers_until_crash(&env, "xa", fault).await?;
    let env = restart(env).await?;
    let (l0, l1, total) = settled(&env).await?;
    ensure!(total == TOTAL, "total balance {total}");
    ensure!(
        l0 == l1,
        "a transfer applied on one group only: {l0:?} vs {l1:?}"
    );
    for n in &acknowledged {
        ensure!(
            l0.binary_search(n).is_ok(),
            "acknowledged transfer {n} lost"
        );
    }
    // At most the transfers in flight at the crash (one per client) are unacknowledged.
    ensure!(
        l0.len() <= acknowledged.len() + 4,
        "{} vs {}",
        l0.len(),
        acknowledged.len()
    );
    // Every decision is done in the log.
    let log = std::fs::read_to_string(log_path(dir.path()))?;
    for line in log.lines() {
        if let Some(rest) = line.strip_prefix("commit ") {
            let gtrid = rest.split(' ').next().unwrap_or_default();
            ensure!(
                log.contains(&format!("done {gtrid}\n")),
                "{gtrid} pending:\n{log}"
            );
        }
    }
    // The new proxy commits across groups.
    let mut c = app_conn(&env.proxy, Some("s0")).await?;
    transfer(&mut c, 999_999).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_the_decision_commits_everywhere_after_restart() -> Result<()> {
    crash_and_recover(myshard_proxy::xa::Fault::AfterDecision).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_prepare_rolls_back_everywhere_after_restart() -> Result<()> {
    crash_and_recover(myshard_proxy::xa::Fault::AfterPrepare).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn best_effort_shows_the_partial_commit_the_same_crash_leaves() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let env = bank(dir.path()).await?;
    transfers_until_crash(&env, "best_effort", myshard_proxy::xa::Fault::AfterDecision).await?;
    let env = restart(env).await?;
    let (l0, l1, total) = settled(&env).await?;
    ensure!(
        l0 != l1 && total != TOTAL,
        "best_effort was expected to leave a transfer on one group only"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_schema_scatter_in_a_transaction_and_client_xa_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let g0 = MariaDb::start().await?;
    let g1 = MariaDb::start().await?;
    let mut config = harness::proxy::sharded_config(&g0, &g1, 4, &["{name: acct, shard_key: id}"]);
    config.state_dir = Some(dir.path().display().to_string());
    harness::proxy::create_shard_databases(&config, &[&g0, &g1]).await?;
    let proxy = harness::proxy::start_proxy(config).await?;
    let mut c = app_conn(&proxy, Some("shop")).await?;
    c.query_drop("CREATE TABLE acct (id INT PRIMARY KEY, bal INT NOT NULL)")
        .await?;
    c.query_drop("INSERT INTO acct VALUES (1, 10), (2, 10), (3, 10), (4, 10), (5, 10)")
        .await?;
    // Client XA statements are refused in a sharded schema.
    let (code, _, msg) = server_err(c.query_drop("XA START 'mine'").await)?;
    ensure!(
        code == 1235 && msg.contains("sharded schema 'shop'"),
        "{code} {msg}"
    );
    // A scatter UPDATE inside a transaction becomes branches on both groups, committed in
    // two phases.
    c.query_drop("BEGIN").await?;
    c.query_drop("UPDATE acct SET bal = bal + 1 WHERE id IN (1, 2, 3, 4, 5)")
        .await?;
    c.query_drop("COMMIT").await?;
    let total: Option<i64> = c.query_first("SELECT SUM(bal) FROM acct").await?;
    ensure!(total == Some(55), "{total:?}");
    let log = std::fs::read_to_string(log_path(dir.path()))?;
    ensure!(
        log.contains("commit myshard.myshard.") && log.contains(" g0,g1\n"),
        "{log}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_with_autocommit_off() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let env = env_with_state(Some(dir.path())).await?;
    let mut c = app_conn(&env.proxy, Some("s0")).await?;
    c.query_drop("SET autocommit = 0").await?;
    c.query_drop("INSERT INTO s0.t VALUES (1, 1)").await?;
    c.query_drop("INSERT INTO s1.t VALUES (1, 1)").await?;
    c.query_drop("COMMIT").await?;
    ensure!(ids_on(&env.dbs[1], "s1_db.t").await? == vec![1]);
    let log = std::fs::read_to_string(log_path(dir.path()))?;
    ensure!(
        log.contains("\ncommit myshard.xa-test."),
        "two-phase: {log}"
    );
    // The next transaction starts by itself, and rolls back on both groups.
    c.query_drop("INSERT INTO s0.t VALUES (2, 2)").await?;
    c.query_drop("INSERT INTO s1.t VALUES (2, 2)").await?;
    c.query_drop("ROLLBACK").await?;
    ensure!(ids_on(&env.dbs[0], "s0_db.t").await? == vec![1]);
    ensure!(ids_on(&env.dbs[1], "s1_db.t").await? == vec![1]);
    c.query_drop("SET autocommit = 1").await?;
    c.query_drop("INSERT INTO s1.t VALUES (3, 3)").await?;
    ensure!(ids_on(&env.dbs[1], "s1_db.t").await? == vec![1, 3]);
    ensure!(prepared_on(&env.dbs[0]).await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoints_across_groups_in_every_mode() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let env = env_with_state(Some(dir.path())).await?;
    let mut c = app_conn(&env.proxy, Some("s0")).await?;
    for (k, mode) in ["xa", "best_effort"].iter().enumerate() {
        let k = k as i64 * 10;
        c.query_drop(format!("SET myshard_transaction_mode = {mode}"))
            .await?;
        c.query_drop("BEGIN").await?;
        c.query_drop(format!("INSERT INTO s0.t VALUES ({}, 0)", k + 1))
            .await?;
        c.query_drop("SAVEPOINT a").await?;
        // g1 joins after the savepoint: rolling back to it undoes g1's whole part.
        c.query_drop(format!("INSERT INTO s1.t VALUES ({}, 0)", k + 1))
            .await?;
        c.query_drop(format!("INSERT INTO s0.t VALUES ({}, 0)", k + 2))
            .await?;
        c.query_drop("SAVEPOINT b").await?;
        c.query_drop("ROLLBACK TO SAVEPOINT a").await?;
        // `b` was set after `a`: gone.
        let (code, _, msg) = server_err(c.query_drop("ROLLBACK TO b").await)?;
        ensure!(
            code == 1305 && msg.contains("b does not exist"),
            "{code} {msg}"
        );
        c.query_drop(format!("INSERT INTO s1.t VALUES ({}, 0)", k + 3))
            .await?;
        c.query_drop("RELEASE SAVEPOINT a").await?;
        let (code, _, _) = server_err(c.query_drop("ROLLBACK TO a").await)?;
        ensure!(code == 1305);
        c.query_drop("COMMIT").await?;
        let s0 = ids_on(&env.dbs[0], "s0_db.t").await?;
        let s1 = ids_on(&env.dbs[1], "s1_db.t").await?;
        ensure!(s0.last() == Some(&(k + 1)), "{mode}: {s0:?}");
        ensure!(
            s1.last() == Some(&(k + 3)) && !s1.contains(&(k + 1)),
            "{mode}: {s1:?}"
        );
    }
    Ok(())
}

/// Throughput and latency of transfers per mode, one group versus two (run by bench/xa.sh:
/// `cargo test --test xa_transactions throughput -- --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by bench/xa.sh"]
async fn throughput_per_mode() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let env = bank(dir.path()).await?;
    let secs: u64 = std::env::var("XA_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let client_count: i64 = std::env::var("XA_BENCH_CLIENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    for (run, (mode, groups)) in [
        ("single", 1),
        ("best_effort", 1),
        ("best_effort", 2),
        ("xa", 1),
        ("xa", 2),
    ]
    .into_iter()
    .enumerate()
    {
        let fsyncs = env.proxy.shared().xa.decision_fsyncs();
        let mut clients = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        for k in 0..client_count {
            let mut c = app_conn(&env.proxy, Some("s0")).await?;
            c.query_drop(format!("SET myshard_transaction_mode = {mode}"))
                .await?;
            clients.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = 0i64;
                while std::time::Instant::now() < deadline {
                    let n = 10_000_000 * run as i64 + k * 1_000_000 + i;
                    i += 1;
                    let t = std::time::Instant::now();
                    let r = if groups == 2 {
                        transfer(&mut c, n).await
                    } else {
                        async {
                            c.query_drop("BEGIN").await?;
                            c.query_drop(format!(
                                "UPDATE s0.acct SET bal = bal - 1 WHERE id = {}",
                                n % ACCOUNTS + 1
                            ))
                            .await?;
                            c.query_drop(format!(
                                "UPDATE s0.acct SET bal = bal + 1 WHERE id = {}",
                                (n + 1) % ACCOUNTS + 1
                            ))
                            .await?;
                            c.query_drop("COMMIT").await
                        }
                        .await
                    };
                    match r {
                        Ok(()) => lat.push(t.elapsed().as_micros() as u64),
                        // Never leave a half transfer for the next BEGIN to commit.
                        Err(_) => {
                            let _ = c.query_drop("ROLLBACK").await;
                        }
                    }
                }
                lat
            }));
        }
        let mut lat = Vec::new();
        for c in clients {
            lat.extend(c.await?);
        }
        lat.sort_unstable();
        ensure!(!lat.is_empty(), "{mode}: no transaction committed");
        let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)] as f64 / 1000.0;
        println!(
            "mode={mode:<11} groups={groups} clients={client_count} tx/s={:>7.1} p50={:.2}ms \
             p99={:.2}ms decision_fsyncs={}",
            lat.len() as f64 / secs as f64,
            p(0.5),
            p(0.99),
            env.proxy.shared().xa.decision_fsyncs() - fsyncs
        );
    }
    let (l0, l1, total) = settled(&env).await?;
    ensure!(total == TOTAL && l0 == l1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_killed_in_the_commit_phase_completes_after_its_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let env = env_with_state(Some(dir.path())).await?;
    let Env { proxy, mut dbs } = env;
    let g1 = std::sync::Arc::new(std::sync::Mutex::new(dbs.remove(1)));
    let mut c = app_conn(&proxy, Some("s0")).await?;
    c.query_drop("BEGIN").await?;
    c.query_drop("INSERT INTO s0.t VALUES (1, 1)").await?;
    c.query_drop("INSERT INTO s1.t VALUES (1, 1)").await?;
    // g1 is SIGKILLed once both branches are prepared and the decision is logged.
    let victim = g1.clone();
    proxy.shared().xa.on_next_decision(move || {
        if let Ok(mut db) = victim.lock() {
            let _ = db.kill();
        }
    });
    let (code, _, msg) = server_err(c.query_drop("COMMIT").await)?;
    ensure!(
        code == 1180 && msg.contains("in doubt") && msg.contains("g1"),
        "{code} {msg}"
    );
    ensure!(ids_on(&dbs[0], "s0_db.t").await? == vec![1], "g0 committed");
    // The prepared branch survives the crash; recovery commits it once g1 is back.
    let mut db = std::sync::Arc::try_unwrap(g1)
        .map_err(|_| anyhow::anyhow!("hook still holds g1"))?
        .into_inner()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    db.restart().await?;
    harness::e2e::wait_for(
        "recovery to commit g1's branch",
        std::time::Duration::from_secs(20),
        || async {
            let ids = ids_on(&db, "s1_db.t").await.unwrap_or_default();
            Ok((ids == vec![1]).then_some(()))
        },
    )
    .await?;
    ensure!(prepared_on(&db).await?.is_empty());
    harness::e2e::wait_for(
        "the decision to be done",
        std::time::Duration::from_secs(10),
        || async {
            let log = std::fs::read_to_string(log_path(dir.path()))?;
            Ok(log.contains("\ndone ").then_some(()))
        },
    )
    .await?;
    drop(proxy);
    Ok(())
}
