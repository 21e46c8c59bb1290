//! Paging parameters over several shards (2 groups × 16 shards): `LIMIT ?`, `LIMIT ?, ?`,
//! `LIMIT ? OFFSET ?` and mixed literal / parameter forms, through the binary protocol
//! (COM_STMT_EXECUTE) and SQL `PREPARE … EXECUTE … USING`, answer exactly what one
//! MariaDB server holding the same rows answers — rows, and the error for values MariaDB
//! refuses (negative counts) — and the shards get the pushed-down LIMIT.

mod harness;

use anyhow::Result;
use harness::proxy::ShardedCluster as Cluster;
use harness::proxy::app_conn;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Row, Value};

const TABLES: &[&str] = &["{name: t, shard_key: k}"];

/// The table, filled the same behind the proxy and in the reference database `ref` on g0.
async fn setup(c: &Cluster) -> Result<(Conn, Conn)> {
    let mut proxy = app_conn(&c.proxy, Some("shop")).await?;
    let mut reference = c.g0.conn().await?;
    reference.query_drop("CREATE DATABASE ref").await?;
    reference.query_drop("USE ref").await?;
    let values: Vec<String> = (1..=100)
        .map(|k| format!("({k}, {}, 'v{}')", k % 7, k % 3))
        .collect();
    for conn in [&mut proxy, &mut reference] {
        conn.query_drop("CREATE TABLE t (k INT PRIMARY KEY, g INT, s VARCHAR(10))")
            .await?;
        conn.query_drop(format!(
            "INSERT INTO t (k, g, s) VALUES {}",
            values.join(", ")
        ))
        .await?;
    }
    Ok((proxy, reference))
}

/// Rows, or (errno, message).
type Answer = std::result::Result<Vec<Vec<Value>>, (u16, String)>;

fn answer(r: mysql_async::Result<Vec<Row>>) -> Result<Answer> {
    match r {
        Ok(rows) => Ok(Ok(rows.into_iter().map(Row::unwrap).collect())),
        Err(mysql_async::Error::Server(e)) => Ok(Err((e.code, e.message))),
        Err(e) => Err(e.into()),
    }
}

async fn exec(conn: &mut Conn, sql: &str, params: Params) -> Result<Answer> {
    let stmt = conn.prep(sql).await?;
    let r = conn.exec(&stmt, params).await;
    answer(r)
}

/// Rows sent by both servers so far (their `Rows_sent` status).
async fn rows_sent(c: &Cluster) -> Result<u64> {
    let mut n = 0;
    for s in [&c.g0, &c.g1] {
        let v: Vec<(String, u64)> = s.query("SHOW GLOBAL STATUS LIKE 'Rows_sent'").await?;
        n += v.first().map_or(0, |r| r.1);
    }
    Ok(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_paging_over_shards_matches_one_server() -> Result<()> {
    let c = Cluster::start(16, TABLES, |_| {}).await?;
    let (mut proxy, mut reference) = setup(&c).await?;
    let none: Option<i64> = None;
    // (statement, parameter sets): every set is executed on the same prepared statement.
    let cases: Vec<(&str, Vec<Params>)> = vec![
        (
            "SELECT k, s FROM t ORDER BY k LIMIT ?",
            vec![
                (7,).into(),
                (0,).into(),
                (1000,).into(),
                (none,).into(),
                // A string count, as some drivers bind every parameter.
                ("10",).into(),
                (" 4",).into(),
                ("0",).into(),
                ("abc",).into(),
                ("-2",).into(),
            ],
        ),
        (
            "SELECT k FROM t ORDER BY k DESC LIMIT ?, ?",
            vec![(5, 10).into(), (98, 10).into(), (0, 0).into()],
        ),
        (
            "SELECT k, g FROM t WHERE g = ? ORDER BY s, k LIMIT ? OFFSET ?",
            vec![(3, 4, 2).into(), (1, 100, 0).into()],
        ),
        ("SELECT k FROM t ORDER BY k LIMIT 3, ?", vec![(4,).into()]),
        (
            "SELECT k FROM t ORDER BY k LIMIT ? OFFSET 95",
            vec![(10,).into()],
        ),
        (
            "SELECT g, COUNT(*), MIN(k) FROM t GROUP BY g ORDER BY g LIMIT ?, ?",
            vec![(1, 3).into(), (5, 10).into()],
        ),
        (
            "SELECT DISTINCT s FROM t ORDER BY s DESC LIMIT ?",
            vec![(2,).into()],
        ),
        // Values MariaDB converts or refuses.
        (
            "SELECT k FROM t ORDER BY k LIMIT ?, ?",
            vec![
                (-1, 3).into(),
                (2, -1).into(),
                ("3", "2").into(),
                (2.5f64, 1.5f64).into(),
                (none, 4).into(),
                (-1.5f64, 2).into(),
                (2, -0.6f64).into(),
                ("-1", 2).into(),
                (2, "-3").into(),
                ("x", "2x").into(),
            ],
        ),
        // One shard: relayed as before.
        (
            "SELECT k FROM t WHERE k = ? LIMIT ?",
            vec![(5, 1).into(), (5, 0).into()],
        ),
    ];
    for (sql, sets) in cases {
        for params in sets {
            let want = exec(&mut reference, sql, params.clone()).await?;
            let got = exec(&mut proxy, sql, params.clone()).await?;
            assert_eq!(got, want, "{sql} with {params:?}");
        }
    }
    // Without ORDER BY any rows may come: as many as one server gives.
    let got = exec(&mut proxy, "SELECT k FROM t LIMIT ?, ?", (10, 25).into()).await?;
    assert_eq!(got.map(|r| r.len()), Ok(25));

    // Push-down: each shard is asked for offset + count rows, not for all of its rows.
    let stmt = proxy.prep("SELECT k FROM t ORDER BY k LIMIT ?, ?").await?;
    let _: Vec<Row> = proxy.exec(&stmt, (0, 1)).await?;
    let before = rows_sent(&c).await?;
    let rows: Vec<i32> = proxy.exec(&stmt, (1, 2)).await?;
    let after = rows_sent(&c).await?;
    assert_eq!(rows, vec![2, 3]);
    // 16 shards × at most 3 rows, plus the rows of the status queries themselves.
    assert!(
        after - before <= 16 * 3 + 4,
        "shards sent {}",
        after - before
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_prepare_paging_over_shards_matches_one_server() -> Result<()> {
    let c = Cluster::start(16, TABLES, |_| {}).await?;
    let (mut proxy, mut reference) = setup(&c).await?;
    for conn in [&mut proxy, &mut reference] {
        conn.query_drop("PREPARE p FROM 'SELECT k, s FROM t ORDER BY k LIMIT ?, ?'")
            .await?;
        conn.query_drop("SET @o = 5, @c = 3, @s = '4', @n = NULL, @neg = -2")
            .await?;
    }
    for using in [
        "@o, @c", "@s, @s", "@n, @c", "@o, @n", "'2', 2.5", "1, 2.5e0", "@neg, @c", "@o, -1",
    ] {
        let sql = format!("EXECUTE p USING {using}");
        let want = answer(reference.query(sql.clone()).await)?;
        let got = answer(proxy.query(sql.clone()).await)?;
        assert_eq!(got, want, "{sql}");
    }
    Ok(())
}
