//! UNION over sharded tables (2 groups × 16 shards), compared with one MariaDB server
//! holding the same rows: branches all on one shard go there whole (any form, text or
//! prepared); UNION ALL of plain branches over several shards concatenates them, named
//! after the first branch; what is not supported over several shards is refused naming the
//! construct; a column count mismatch is MySQL's 1222.

mod harness;

use anyhow::Result;
use harness::proxy::ShardedCluster as Cluster;
use harness::proxy::app_conn;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

const TABLES: &[&str] = &["{name: t, shard_key: k}", "{name: u, shard_key: k}"];

async fn setup(c: &Cluster) -> Result<(Conn, Conn)> {
    let mut proxy = app_conn(&c.proxy, Some("shop")).await?;
    let mut reference = c.g0.conn().await?;
    reference.query_drop("CREATE DATABASE ref").await?;
    reference.query_drop("USE ref").await?;
    let t: Vec<String> = (1..=60)
        .map(|k| format!("({k}, {}, 'v{}')", k % 7, k % 3))
        .collect();
    let u: Vec<String> = (40..=80).map(|k| format!("({k}, 'w{}')", k % 4)).collect();
    for conn in [&mut proxy, &mut reference] {
        conn.query_drop("CREATE TABLE t (k INT PRIMARY KEY, g INT, s VARCHAR(10))")
            .await?;
        conn.query_drop("CREATE TABLE u (k INT PRIMARY KEY, w VARCHAR(10))")
            .await?;
        conn.query_drop(format!("INSERT INTO t VALUES {}", t.join(", ")))
            .await?;
        conn.query_drop(format!("INSERT INTO u VALUES {}", u.join(", ")))
            .await?;
    }
    Ok((proxy, reference))
}

/// Rows sorted (the order of a UNION ALL without ORDER BY is any), with column names.
async fn sorted(conn: &mut Conn, sql: &str) -> Result<(Vec<String>, Vec<Vec<Value>>)> {
    let mut result = conn.query_iter(sql).await?;
    let names = result
        .columns_ref()
        .iter()
        .map(|c| c.name_str().to_string())
        .collect();
    let rows: Vec<Row> = result.collect().await?;
    let mut rows: Vec<Vec<Value>> = rows.into_iter().map(Row::unwrap).collect();
    rows.sort_by_key(|r| format!("{r:?}"));
    Ok((names, rows))
}

fn server_error(r: mysql_async::Result<Vec<Row>>) -> (u16, String) {
    match r {
        Err(mysql_async::Error::Server(e)) => (e.code, e.message),
        other => panic!("expected a server error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn union_over_shards_matches_one_server() -> Result<()> {
    let c = Cluster::start(16, TABLES, |_| {}).await?;
    let (mut proxy, mut reference) = setup(&c).await?;
    for sql in [
        // Over several shards: concatenated, named after the first branch.
        "SELECT k, s FROM t WHERE g = 2 UNION ALL SELECT k, w FROM u WHERE k > 70",
        "SELECT k AS first FROM t UNION ALL SELECT k FROM u UNION ALL SELECT k FROM t WHERE k = 3",
        "SELECT s FROM t WHERE k IN (1, 2, 3) UNION ALL SELECT w FROM u WHERE k = 50",
        // UNION: distinct rows over several shards.
        "SELECT k FROM t UNION SELECT k FROM u",
        "SELECT s FROM t UNION SELECT w FROM u UNION SELECT s FROM t WHERE k = 4",
        "SELECT g, s FROM t UNION DISTINCT SELECT k % 7, w FROM u",
        // All branches on one shard: the statement goes there whole, any form.
        "SELECT k, s FROM t WHERE k = 5 UNION SELECT k, w FROM u WHERE k = 5",
        "SELECT k FROM t WHERE k = 45 UNION ALL SELECT k FROM u WHERE k = 45 ORDER BY k LIMIT 1",
        "(SELECT k FROM t WHERE k = 7 ORDER BY k LIMIT 1) UNION (SELECT k FROM t WHERE k = 7)",
    ] {
        let want = sorted(&mut reference, sql).await?;
        let got = sorted(&mut proxy, sql).await?;
        assert_eq!(got, want, "{sql}");
    }
    // ORDER BY / LIMIT on top, by position or by the first branch's names: exact order.
    for sql in [
        "SELECT k FROM t UNION ALL SELECT k FROM u ORDER BY k DESC LIMIT 5",
        "SELECT k, s AS name FROM t WHERE g = 1 UNION ALL SELECT k, w FROM u ORDER BY name, k LIMIT 3, 7",
        "SELECT k FROM t UNION SELECT k FROM u ORDER BY 1 LIMIT 10, 5",
        "SELECT s, k FROM t UNION SELECT w, k FROM u WHERE k > 75 ORDER BY s DESC, k",
    ] {
        let want: Vec<Row> = reference.query(sql).await?;
        let got: Vec<Row> = proxy.query(sql).await?;
        let unwrap =
            |rows: Vec<Row>| -> Vec<Vec<Value>> { rows.into_iter().map(Row::unwrap).collect() };
        assert_eq!(unwrap(got), unwrap(want), "{sql}");
    }
    // Distinct under the column's collation: 'V1' and 'v1' are one row.
    let sql = "SELECT s FROM t UNION SELECT 'V1' FROM u WHERE k = 41";
    let want = sorted(&mut reference, sql).await?.1.len();
    let got = sorted(&mut proxy, sql).await?.1.len();
    assert_eq!(got, want, "{sql}");
    // Prepared, all branches on the shard of the bound keys: whole.
    let stmt = "SELECT k, s FROM t WHERE k = ? UNION SELECT k, w FROM u WHERE k = ?";
    for keys in [(50, 50), (9, 9)] {
        let want: Vec<Row> = reference.exec(stmt, keys).await?;
        let got: Vec<Row> = proxy.exec(stmt, keys).await?;
        let unwrap =
            |rows: Vec<Row>| -> Vec<Vec<Value>> { rows.into_iter().map(Row::unwrap).collect() };
        assert_eq!(unwrap(got), unwrap(want), "{stmt} {keys:?}");
    }
    // Column count mismatch: MySQL's error.
    let sql = "SELECT k, s FROM t UNION ALL SELECT k FROM u";
    let want = server_error(reference.query(sql).await);
    let got = server_error(proxy.query(sql).await);
    assert_eq!(got, want);
    // Not supported over several shards: refused, naming the construct.
    for (sql, construct) in [
        (
            "SELECT k FROM t UNION ALL SELECT k FROM u UNION SELECT k FROM t",
            "mixing ALL and DISTINCT",
        ),
        (
            "(SELECT k FROM t ORDER BY k LIMIT 2) UNION ALL SELECT k FROM u",
            "parenthesised UNION branch",
        ),
        (
            "SELECT k FROM t UNION ALL SELECT k FROM u ORDER BY k + 1",
            "ORDER BY k + 1 on top of a UNION",
        ),
        (
            "SELECT g, COUNT(*) FROM t GROUP BY g UNION ALL SELECT k, 1 FROM u",
            "inside a UNION branch",
        ),
        ("SELECT k FROM t INTERSECT SELECT k FROM u", "INTERSECT"),
    ] {
        let (code, message) = server_error(proxy.query(sql).await);
        assert_eq!(code, 1235, "{sql}: {message}");
        assert!(message.contains(construct), "{sql}: {message}");
    }
    // A prepared UNION over several shards is refused, and the connection lives on.
    let (code, message) = server_error(
        proxy
            .exec(
                "SELECT k FROM t WHERE k = ? UNION ALL SELECT k FROM u WHERE k = ?",
                (1, 60),
            )
            .await,
    );
    assert_eq!(code, 1235, "{message}");
    assert!(message.contains("prepared statement"), "{message}");
    let n: Option<i64> = proxy.query_first("SELECT COUNT(*) FROM t").await?;
    assert_eq!(n, Some(60));
    Ok(())
}
