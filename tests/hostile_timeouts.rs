//! The statement timeout inside a transaction, against real MariaDB servers: like
//! MariaDB's `max_statement_time`, it ends only the statement (1969/70100) when the backend
//! answers the proxy's `KILL QUERY` in time — the transaction goes on, its earlier rows
//! still there and committable — for a statement on one backend, a prepared statement, a
//! SELECT merged across shards and a write on several shards. Only a backend that does not answer (paused with
//! SIGSTOP) has its connection discarded, and the transaction is then lost visibly.

mod harness;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use harness::MariaDb;
use harness::e2e::{Env, server_err};
use harness::proxy::{ShardedCluster, app_conn};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

/// The statement timeout of these tests, milliseconds.
const TIMEOUT_MS: u64 = 700;

fn with_timeout(c: &mut myshard_config::Config) {
    c.limits.statement_timeout_ms = TIMEOUT_MS;
    for g in &mut c.groups {
        g.pool.connect_timeout_ms = 1000;
        g.pool.check_timeout_ms = 500;
    }
}

/// Resumes a paused server when the test ends, however it ends.
struct Resume<'a>(&'a MariaDb);

impl Drop for Resume<'_> {
    fn drop(&mut self) {
        let _ = self.0.resume();
    }
}

/// Runs `sql`, which must end by the statement timeout: MariaDB's error, in time.
async fn times_out(c: &mut Conn, sql: &str) -> Result<()> {
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(10), c.query_drop(sql))
        .await
        .with_context(|| format!("{sql} did not answer"))?;
    let (code, state, msg) = server_err(r).with_context(|| sql.to_string())?;
    ensure!(
        (code, state.as_str()) == (1969, "70100"),
        "{sql}: {code} {state} {msg}"
    );
    ensure!(msg.contains("max_statement_time"), "{sql}: {msg}");
    let took = started.elapsed();
    ensure!(
        took >= Duration::from_millis(TIMEOUT_MS) && took < Duration::from_secs(4),
        "{sql} took {took:?}"
    );
    Ok(())
}

async fn ids(c: &mut Conn, sql: &str) -> Result<Vec<i64>> {
    Ok(c.query(sql).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_in_a_transaction_ends_only_the_statement() -> Result<()> {
    let env = Env::start(1, with_timeout).await?;
    let mut c = app_conn(&env.proxy, Some("s0")).await?;
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB")
        .await?;
    c.query_drop("INSERT INTO t VALUES (100)").await?;

    c.query_drop("BEGIN").await?;
    c.query_drop("INSERT INTO t VALUES (1)").await?;
    // A slow statement on a healthy backend.
    times_out(&mut c, "SELECT SLEEP(5)").await?;
    ensure!(ids(&mut c, "SELECT id FROM t ORDER BY id").await? == vec![1, 100]);
    // A lock wait: another transaction, directly on the server, holds row 100.
    let mut holder = env.dbs[0].conn().await?;
    holder.query_drop("BEGIN").await?;
    holder
        .query_drop("SELECT id FROM s0_db.t WHERE id = 100 FOR UPDATE")
        .await?;
    times_out(&mut c, "UPDATE t SET id = 101 WHERE id = 100").await?;
    holder.query_drop("ROLLBACK").await?;
    // A prepared statement (binary protocol).
    let started = Instant::now();
    let r: Result<Vec<i64>, _> = c.exec("SELECT SLEEP(?)", (5,)).await;
    let (code, _, msg) = server_err(r)?;
    ensure!(code == 1969, "prepared: {code} {msg}");
    ensure!(started.elapsed() < Duration::from_secs(4));

    // The transaction went on: its row is there, it takes more, and it commits.
    c.query_drop("INSERT INTO t VALUES (2)").await?;
    ensure!(ids(&mut c, "SELECT id FROM t ORDER BY id").await? == vec![1, 2, 100]);
    c.query_drop("COMMIT").await?;
    let on_server: Vec<i64> = env.dbs[0]
        .query("SELECT id FROM s0_db.t ORDER BY id")
        .await?;
    ensure!(on_server == vec![1, 2, 100], "committed: {on_server:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_on_a_paused_backend_loses_the_transaction() -> Result<()> {
    let env = Env::start(1, with_timeout).await?;
    let mut c = app_conn(&env.proxy, Some("s0")).await?;
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB")
        .await?;
    c.query_drop("BEGIN").await?;
    c.query_drop("INSERT INTO t VALUES (1)").await?;
    {
        let _resume = Resume(&env.dbs[0]);
        env.dbs[0].pause()?;
        // The backend cannot answer the kill: the connection is given up after the grace.
        times_out(&mut c, "SELECT id FROM t").await?;
        env.dbs[0].resume()?;
    }
    let (code, state, msg) = server_err(c.query_drop("INSERT INTO t VALUES (2)").await)?;
    ensure!(
        (code, state.as_str()) == (1105, "HY000") && msg.contains("transaction was lost"),
        "after the loss: {code} {state} {msg}"
    );
    c.query_drop("ROLLBACK").await?;
    let on_server: Vec<i64> = env.dbs[0].query("SELECT id FROM s0_db.t").await?;
    ensure!(
        on_server.is_empty(),
        "rows of the lost transaction: {on_server:?}"
    );
    c.query_drop("INSERT INTO t VALUES (3)").await?;
    ensure!(ids(&mut c, "SELECT id FROM t").await? == vec![3]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_of_a_merge_in_a_transaction_ends_only_the_statement() -> Result<()> {
    let cl = ShardedCluster::start(8, &["{name: users, shard_key: id}"], with_timeout).await?;
    let mut c = app_conn(&cl.proxy, Some("shop")).await?;
    c.query_drop("CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(20)) ENGINE=InnoDB")
        .await?;
    let values: Vec<String> = (1..=40).map(|i| format!("({i}, 'u{i}')")).collect();
    c.query_drop(format!(
        "INSERT INTO users (id, name) VALUES {}",
        values.join(", ")
    ))
    .await?;

    c.query_drop("BEGIN").await?;
    c.query_drop("INSERT INTO users (id, name) VALUES (41, 'u41')")
        .await?;
    // Every shard sleeps per row: far longer than the timeout, on each of the transaction's
    // connections (one per group, the shards of a group in turn).
    for sql in [
        "SELECT id FROM users WHERE SLEEP(1) = 0 ORDER BY id",
        "SELECT id FROM users WHERE SLEEP(1) = 0",
        "SELECT COUNT(*) FROM users WHERE SLEEP(1) = 0",
        // A write on several shards, run one after the other: the running shard's
        // statement is killed (and rolled back there), the others are not started.
        "UPDATE users SET name = 'late' WHERE id IN (1, 2, 3, 4, 5, 6, 7, 8) AND SLEEP(1) = 0",
    ] {
        times_out(&mut c, sql).await?;
    }
    let late: Vec<i64> = c.query("SELECT id FROM users WHERE name = 'late'").await?;
    ensure!(late.is_empty(), "the timed-out UPDATE changed {late:?}");
    // The transaction went on, on every group.
    let all = ids(&mut c, "SELECT id FROM users ORDER BY id").await?;
    ensure!(all == (1..=41).collect::<Vec<i64>>(), "{all:?}");
    c.query_drop("INSERT INTO users (id, name) VALUES (42, 'u42')")
        .await?;
    c.query_drop("COMMIT").await?;
    let mut other = app_conn(&cl.proxy, Some("shop")).await?;
    let all = ids(&mut other, "SELECT id FROM users ORDER BY id").await?;
    ensure!(all == (1..=42).collect::<Vec<i64>>(), "committed: {all:?}");
    Ok(())
}
