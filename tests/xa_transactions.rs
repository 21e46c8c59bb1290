//! Transactions across groups (real MariaDB, two groups `g0`/`g1` with schemas `s0`/`s1`):
//! the transaction modes (`single`, `best_effort`, `xa`), the two-phase commit of `xa` with
//! its decision log, and what a crash at each point of the protocol leaves behind.

mod harness;

use anyhow::{Context, Result, ensure};
use harness::MariaDb;
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
    // Another session starts with the user's mode.
    let mut other = app_conn(&env.proxy, Some("s0")).await?;
    ensure!(mode(&mut other).await? == "xa");
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
