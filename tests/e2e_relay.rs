//! A single shard's answer is relayed byte for byte after its header (issue 10, item 3):
//! only the column definitions (which name the shard's database where one server would
//! name the logical schema) and error messages are rewritten. These tests drive the
//! rewriting relay where it is easiest to get wrong: rows over 16 MiB (split into
//! several packets and streamed through), text and binary protocol, and answers with
//! several result sets (a stored procedure on one shard, a multi-statement text in a
//! renamed schema), each of whose headers must be renamed.

mod harness;

use anyhow::{Result, ensure};
use harness::proxy::ShardedCluster as Cluster;
use harness::proxy::app_conn;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

const TABLES: &[&str] = &["{name: blobs, shard_key: id}"];

/// 17 MiB and a bit: a row of this value is sent in two packets.
const BIG: usize = 17 * 1024 * 1024 + 11;

async fn cluster() -> Result<Cluster> {
    Cluster::start(16, TABLES, |c| c.max_allowed_packet = 40 * 1024 * 1024).await
}

/// The value stored in row `id`: letters in a repeating pattern, then the id.
fn big_value(id: i32) -> Vec<u8> {
    let mut v: Vec<u8> = (0..BIG).map(|i| b'a' + (i % 26) as u8).collect();
    v.extend_from_slice(format!("#{id}").as_bytes());
    v
}

/// The shard database and group a point select of `id` goes to.
async fn shard_of(conn: &mut Conn, id: i32) -> Result<(String, String)> {
    let route: Vec<(String, String, String, String, String)> = conn
        .query(format!("EXPLAIN ROUTE SELECT * FROM blobs WHERE id = {id}"))
        .await?;
    ensure!(route.len() == 1, "one shard expected: {route:?}");
    Ok((route[0].3.clone(), route[0].1.clone()))
}

/// The schemas named by the columns of each result set, and every row, of an answer.
async fn sets(
    mut r: mysql_async::QueryResult<'_, '_, impl mysql_async::prelude::Protocol>,
) -> Result<(Vec<Vec<String>>, Vec<Vec<Value>>)> {
    let mut schemas = Vec::new();
    let mut rows = Vec::new();
    while !r.is_empty() {
        let cols: Vec<String> = r
            .columns_ref()
            .iter()
            .map(|c| c.schema_str().into_owned())
            .collect();
        let got: Vec<Row> = r.collect().await?;
        if !cols.is_empty() {
            schemas.push(cols);
        }
        rows.extend(got.into_iter().map(Row::unwrap));
    }
    Ok((schemas, rows))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_over_16_mib_from_one_shard_text_and_prepared() -> Result<()> {
    let c = cluster().await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop("CREATE TABLE blobs (id INT PRIMARY KEY, b LONGBLOB)")
        .await?;
    // The big rows are written on their shards directly (a 17 MiB statement through the
    // router is another test's business).
    for id in [1, 2] {
        let (database, group) = shard_of(&mut conn, id).await?;
        ensure!(database.starts_with("shop_"), "{database}");
        let server = if group == "g0" { &c.g0 } else { &c.g1 };
        server
            .exec(&format!(
                "INSERT INTO `{database}`.blobs VALUES ({id}, CONCAT(REPEAT('abcdefghijklmnopqrstuvwxyz', {}), SUBSTRING('abcdefghijklmnopqrstuvwxyz', 1, {}), '#{id}'))",
                BIG / 26,
                BIG % 26
            ))
            .await?;
    }
    for id in [1, 2] {
        // Text protocol: the column definitions name `shop`, the row arrives whole.
        let sql = format!("SELECT id, b, LENGTH(b) AS n FROM blobs WHERE id = {id}");
        let (schemas, rows) = sets(conn.query_iter(sql).await?).await?;
        assert_eq!(schemas, vec![vec!["shop", "shop", ""]]);
        ensure!(rows.len() == 1, "one row: {} rows", rows.len());
        assert_eq!(rows[0][0], Value::Bytes(id.to_string().into_bytes()));
        ensure!(
            rows[0][1] == Value::Bytes(big_value(id)),
            "text row {id} differs"
        );
        // Binary protocol.
        let stmt = conn
            .prep("SELECT id, b, LENGTH(b) AS n FROM blobs WHERE id = ?")
            .await?;
        let (schemas, rows) = sets(conn.exec_iter(&stmt, (id,)).await?).await?;
        assert_eq!(schemas, vec![vec!["shop", "shop", ""]]);
        ensure!(rows.len() == 1, "one row: {} rows", rows.len());
        assert_eq!(rows[0][0], Value::Int(i64::from(id)));
        ensure!(
            rows[0][1] == Value::Bytes(big_value(id)),
            "binary row {id} differs"
        );
        // The packets after the big row were numbered right: the connection goes on.
        let n: Option<i64> = conn
            .exec_first("SELECT LENGTH(b) FROM blobs WHERE id = ?", (id,))
            .await?;
        assert_eq!(n, Some((BIG + 2) as i64));
    }
    // An error quoting the shard's database names the logical schema.
    let e = conn
        .query_drop("SELECT * FROM blobs WHERE id = 1 AND nope.x = 1")
        .await
        .expect_err("unknown table");
    ensure!(!e.to_string().contains("shop_0"), "{e}");
    let one: Option<i64> = conn.query_first("SELECT 1").await?;
    assert_eq!(one, Some(1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_result_set_of_a_multi_result_answer_is_renamed() -> Result<()> {
    let c = cluster().await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop("CREATE TABLE blobs (id INT PRIMARY KEY, b LONGBLOB)")
        .await?;
    // Shard 0's database is also group g0's usual one, where statements naming no table
    // run; the procedure and its row live there.
    c.g0.exec("INSERT INTO shop_0000.blobs VALUES (3, 'three')")
        .await?;
    c.g0.exec(
        "CREATE PROCEDURE shop_0000.two_sets(IN n INT) BEGIN SELECT id FROM blobs WHERE id = n; SELECT b, id FROM blobs WHERE id = n; END",
    )
    .await?;
    // A stored procedure run on one shard: two result sets and the final OK, text and
    // binary protocol.
    let call = "/* myshard: shard=0 */ CALL two_sets(3)";
    let (schemas, rows) = sets(conn.query_iter(call).await?).await?;
    assert_eq!(schemas, vec![vec!["shop"], vec!["shop", "shop"]]);
    assert_eq!(
        rows,
        vec![
            vec![Value::Bytes(b"3".to_vec())],
            vec![Value::Bytes(b"three".to_vec()), Value::Bytes(b"3".to_vec())]
        ]
    );
    let call = "/* myshard: shard=0 */ CALL two_sets(?)";
    let (schemas, rows) = sets(conn.exec_iter(call, (3,)).await?).await?;
    assert_eq!(schemas, vec![vec!["shop"], vec!["shop", "shop"]]);
    assert_eq!(
        rows,
        vec![
            vec![Value::Int(3)],
            vec![Value::Bytes(b"three".to_vec()), Value::Int(3)]
        ]
    );
    // Several statements in one text, in the renamed schema `crm` (database `crm_db`).
    let mut crm = app_conn(&c.proxy, Some("crm")).await?;
    crm.query_drop("CREATE TABLE t (k INT PRIMARY KEY)").await?;
    crm.query_drop("INSERT INTO t VALUES (1), (2)").await?;
    let (schemas, rows) = sets(
        crm.query_iter(
            "SELECT k FROM crm.t ORDER BY k; SELECT k, k * 2 AS d FROM crm.t WHERE k = 2",
        )
        .await?,
    )
    .await?;
    assert_eq!(schemas, vec![vec!["crm"], vec!["crm", ""]]);
    assert_eq!(
        rows,
        vec![
            vec![Value::Bytes(b"1".to_vec())],
            vec![Value::Bytes(b"2".to_vec())],
            vec![Value::Bytes(b"2".to_vec()), Value::Bytes(b"4".to_vec())]
        ]
    );
    let one: Option<i64> = crm.query_first("SELECT 1").await?;
    assert_eq!(one, Some(1));
    Ok(())
}
