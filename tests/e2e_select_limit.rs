//! `sql_select_limit` (what MariaDB Connector/J's `Statement.setMaxRows` sets) with a
//! SELECT over several shards (2 groups × 16 shards): the merged answer holds at most that
//! many rows, exactly what one MariaDB holding the same rows answers — in text and prepared
//! statements, ordered or not, with aggregates — a LIMIT of the statement's own wins, an
//! `IN (SELECT …)` the proxy evaluates first is not cut, and a GROUP BY that the shards'
//! own cut could make wrong is refused with 1235.

mod harness;

use anyhow::{Result, ensure};
use harness::proxy::ShardedCluster as Cluster;
use harness::proxy::app_conn;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

const TABLES: &[&str] = &["{name: t, shard_key: k}"];

/// Rows, or (errno, message).
type Answer = std::result::Result<Vec<Vec<Value>>, (u16, String)>;

fn answer(r: mysql_async::Result<Vec<Row>>) -> Result<Answer> {
    match r {
        Ok(rows) => Ok(Ok(rows.into_iter().map(Row::unwrap).collect())),
        Err(mysql_async::Error::Server(e)) => Ok(Err((e.code, e.message))),
        Err(e) => Err(e.into()),
    }
}

/// Runs `sql` as a text statement, or prepared (binary protocol).
async fn run(conn: &mut Conn, sql: &str, prepared: bool) -> Result<Answer> {
    if prepared {
        let r = conn.exec(sql, ()).await;
        answer(r)
    } else {
        answer(conn.query(sql).await)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_select_limit_caps_merged_rows_as_one_server() -> Result<()> {
    let c = Cluster::start(16, TABLES, |_| {}).await?;
    let mut proxy = app_conn(&c.proxy, Some("shop")).await?;
    let mut reference = c.g0.conn().await?;
    reference.query_drop("CREATE DATABASE ref").await?;
    reference.query_drop("USE ref").await?;
    let values: Vec<String> = (1..=200).map(|k| format!("({k}, {})", k % 5)).collect();
    for conn in [&mut proxy, &mut reference] {
        conn.query_drop("CREATE TABLE t (k INT PRIMARY KEY, g INT)")
            .await?;
        conn.query_drop(format!("INSERT INTO t (k, g) VALUES {}", values.join(", ")))
            .await?;
        // What Connector/J sends for setMaxRows(10).
        conn.query_drop("SET @@SQL_SELECT_LIMIT=10").await?;
    }
    let same = [
        "SELECT k FROM t ORDER BY k",
        "SELECT k FROM t ORDER BY k DESC",
        "SELECT k, g FROM t WHERE g = 2 ORDER BY k",
        "SELECT COUNT(*) FROM t",
        "SELECT MAX(k), MIN(k) FROM t WHERE g <> 1",
        // The statement's own LIMIT wins over the variable.
        "SELECT k FROM t ORDER BY k LIMIT 25",
        "SELECT k FROM t ORDER BY k LIMIT 3, 4",
        // One shard: the backend applies it.
        "SELECT k FROM t WHERE k = 7",
    ];
    for sql in same {
        for prep in [false, true] {
            let want = run(&mut reference, sql, prep).await?;
            let got = run(&mut proxy, sql, prep).await?;
            ensure!(got == want, "{sql}: proxy {got:?}, MariaDB {want:?}");
        }
    }
    // An IN (SELECT …) the proxy evaluates first (the outer statement scatters): the
    // variable cuts the outer rows only, never the subquery's values.
    for conn in [&mut proxy, &mut reference] {
        conn.query_drop("SET SQL_SELECT_LIMIT = 2").await?;
    }
    for sql in [
        "SELECT k FROM t WHERE k + 0 IN (SELECT k FROM t WHERE g = 1) ORDER BY k DESC",
        "SELECT COUNT(*) FROM t WHERE k + 0 IN (SELECT k FROM t WHERE g = 1)",
    ] {
        let want = run(&mut reference, sql, false).await?;
        let got = run(&mut proxy, sql, false).await?;
        ensure!(got == want, "{sql}: proxy {got:?}, MariaDB {want:?}");
    }
    for conn in [&mut proxy, &mut reference] {
        conn.query_drop("SET SQL_SELECT_LIMIT = 10").await?;
    }
    // Unordered: any 10 rows, each once.
    for prep in [false, true] {
        let got = run(&mut proxy, "SELECT k FROM t", prep).await?;
        let rows = got.map_err(|e| anyhow::anyhow!("SELECT k FROM t: {e:?}"))?;
        let mut keys: Vec<_> = rows.iter().map(|r| r[0].clone()).collect();
        keys.sort_by_key(|v| format!("{v:?}"));
        keys.dedup();
        ensure!(rows.len() == 10 && keys.len() == 10, "unordered: {rows:?}");
    }
    // GROUP BY over shards each cut after 10 groups of their own: refused, not wrong.
    let got = run(
        &mut proxy,
        "SELECT k % 50 AS b, COUNT(*) FROM t GROUP BY b",
        false,
    )
    .await?;
    match got {
        Err((1235, msg)) => ensure!(msg.contains("sql_select_limit"), "{msg}"),
        other => anyhow::bail!("GROUP BY with sql_select_limit: {other:?}"),
    }
    // Back to no limit: every row, as before.
    for conn in [&mut proxy, &mut reference] {
        conn.query_drop("SET @@SQL_SELECT_LIMIT=DEFAULT").await?;
    }
    let sql = "SELECT k FROM t ORDER BY k";
    let want = run(&mut reference, sql, false).await?;
    let got = run(&mut proxy, sql, false).await?;
    ensure!(
        got == want,
        "after DEFAULT: proxy {got:?}, MariaDB {want:?}"
    );
    ensure!(matches!(&got, Ok(rows) if rows.len() == 200), "{got:?}");
    Ok(())
}
