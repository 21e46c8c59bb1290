//! Sharding end to end: 2 groups × 16 shards on real MariaDB servers. Rows written through
//! the proxy are checked in the physical databases directly.

mod harness;

use anyhow::Result;
use harness::MariaDb;
use harness::proxy::ShardedCluster as Cluster;
use harness::proxy::app_conn;
use mysql_async::prelude::Queryable;

const TABLES: &[&str] = &[
    "{name: orders, shard_key: uid}",
    "{name: items, shard_key: uid}",
    "{name: customers, shard_key: email, key_type: string, collation: utf8mb4_general_ci}",
    "{name: countries, global: true}",
];

async fn cluster() -> Result<Cluster> {
    Cluster::start(16, TABLES, |_| {}).await
}

impl Cluster {
    /// The server holding `shard` (0-7 on g0, 8-15 on g1).
    fn server(&self, shard: u32) -> &MariaDb {
        if shard < 8 { &self.g0 } else { &self.g1 }
    }

    /// Row count of `table` in each shard's physical database.
    async fn counts(&self, table: &str) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        for s in 0..16 {
            let n: Vec<u64> = self
                .server(s)
                .query(&format!("SELECT COUNT(*) FROM shop_{s:04}.{table}"))
                .await?;
            out.push(n[0]);
        }
        Ok(out)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_inserts_and_reads_land_on_the_right_shards() -> Result<()> {
    let c = cluster().await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop(
        "CREATE TABLE orders (id INT PRIMARY KEY, uid BIGINT NOT NULL, note VARCHAR(20))",
    )
    .await?;
    conn.query_drop("CREATE TABLE IF NOT EXISTS orders (id INT PRIMARY KEY)")
        .await?;
    // Every shard has the table.
    for s in 0..16 {
        let t: Vec<String> = c
            .server(s)
            .query(&format!("SHOW TABLES FROM shop_{s:04}"))
            .await?;
        assert_eq!(t, vec!["orders".to_string()], "shard {s}");
    }
    // Single-row inserts, a multi-row insert spanning shards, negative keys.
    conn.query_drop("INSERT INTO orders (id, uid, note) VALUES (1, 5, 'a')")
        .await?;
    conn.query_drop(
        "INSERT INTO orders (id, uid, note) VALUES (2, 21, 'b'), (3, 6, 'c'), (4, -5, 'd')",
    )
    .await?;
    assert_eq!(conn.affected_rows(), 3);
    let counts = c.counts("orders").await?;
    let mut want = vec![0u64; 16];
    want[5] = 3; // 5, 21 and -5 (|−5| mod 16 = 5)
    want[6] = 1;
    assert_eq!(counts, want);
    // Key equality reads one shard; IN reads several; no key scatters (concatenation).
    let notes: Vec<String> = conn.query("SELECT note FROM orders WHERE uid = 21").await?;
    assert_eq!(notes, vec!["b"]);
    let mut ids: Vec<i32> = conn
        .query("SELECT id FROM orders WHERE uid IN (5, 6)")
        .await?;
    ids.sort();
    assert_eq!(ids, vec![1, 3]);
    let mut all: Vec<(i32, String)> = conn
        .query("SELECT id, note FROM shop.orders WHERE id > 0")
        .await?;
    all.sort();
    assert_eq!(
        all,
        vec![
            (1, "a".into()),
            (2, "b".into()),
            (3, "c".into()),
            (4, "d".into())
        ]
    );
    // Prepared statements route by the bound value.
    let note: Option<String> = conn
        .exec_first("SELECT note FROM orders WHERE uid = ? AND id = ?", (6, 3))
        .await?;
    assert_eq!(note.as_deref(), Some("c"));
    conn.exec_drop(
        "INSERT INTO orders (id, uid, note) VALUES (?, ?, ?)",
        (10, 13, "p"),
    )
    .await?;
    let on13: Vec<u64> = c
        .server(13)
        .query("SELECT COUNT(*) FROM shop_0013.orders WHERE id = 10")
        .await?;
    assert_eq!(on13, vec![1]);
    // Writes: by key, and refusals.
    conn.query_drop("UPDATE orders SET note = 'z' WHERE uid = 5 OR uid = -5")
        .await?;
    assert_eq!(conn.affected_rows(), 2);
    let e = conn
        .query_drop("UPDATE orders SET note = 'y'")
        .await
        .expect_err("full-scan update refused");
    assert!(
        e.to_string()
            .contains("without a condition on its shard key"),
        "{e}"
    );
    // Cross-shard merges: ORDER BY with LIMIT/OFFSET, aggregates, GROUP BY, in both
    // protocols.
    let ids: Vec<i32> = conn
        .query("SELECT id FROM orders ORDER BY note DESC, id LIMIT 1, 2")
        .await?;
    assert_eq!(ids, vec![4, 10], "z(1), z(4), p(10), c(3), b(2)");
    let ids: Vec<i32> = conn
        .exec("SELECT id FROM orders WHERE id > ? ORDER BY id DESC", (1,))
        .await?;
    assert_eq!(ids, vec![10, 4, 3, 2]);
    let agg: Vec<(i64, i64, String, i32)> = conn
        .query("SELECT COUNT(*), SUM(uid), MAX(note), MIN(id) FROM orders")
        .await?;
    assert_eq!(agg, vec![(5, 40, "z".into(), 1)]);
    let groups: Vec<(String, i64)> = conn
        .exec(
            "SELECT note, COUNT(*) AS n FROM orders WHERE id > ? GROUP BY note HAVING n >= 1 ORDER BY n DESC, note",
            (0,),
        )
        .await?;
    assert_eq!(
        groups,
        vec![
            ("z".into(), 2),
            ("b".into(), 1),
            ("c".into(), 1),
            ("p".into(), 1)
        ]
    );
    let e = conn
        .query_drop("INSERT INTO orders (id, note) VALUES (9, 'x')")
        .await
        .expect_err("insert without key");
    assert!(
        e.to_string().contains("must set its shard key 'uid'"),
        "{e}"
    );
    conn.query_drop("DELETE FROM orders WHERE uid IN (5, 6, 13, 21, -5)")
        .await?;
    assert_eq!(conn.affected_rows(), 5);
    assert_eq!(c.counts("orders").await?.iter().sum::<u64>(), 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_tables_and_transactions_across_groups() -> Result<()> {
    let c = cluster().await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop("CREATE TABLE countries (code CHAR(2) PRIMARY KEY, name VARCHAR(20))")
        .await?;
    conn.query_drop("INSERT INTO countries VALUES ('FR', 'France'), ('DE', 'Germany')")
        .await?;
    assert_eq!(
        conn.affected_rows(),
        2,
        "a global write reports one copy's count"
    );
    assert_eq!(c.counts("countries").await?, vec![2u64; 16]);
    conn.query_drop("CREATE TABLE orders (id INT PRIMARY KEY, uid BIGINT NOT NULL, cc CHAR(2))")
        .await?;
    // A transaction touching shards on both groups commits on both.
    conn.query_drop("BEGIN").await?;
    conn.query_drop("INSERT INTO orders VALUES (1, 1, 'FR')")
        .await?;
    conn.query_drop("INSERT INTO orders (id, uid, cc) VALUES (2, 9, 'DE')")
        .await?;
    conn.query_drop("COMMIT").await?;
    assert_eq!(c.counts("orders").await?.iter().sum::<u64>(), 2);
    // A rolled-back one leaves nothing on either group.
    conn.query_drop("START TRANSACTION").await?;
    conn.query_drop("INSERT INTO orders (id, uid, cc) VALUES (3, 2, 'FR')")
        .await?;
    conn.query_drop("INSERT INTO orders (id, uid, cc) VALUES (4, 10, 'DE')")
        .await?;
    let inside: Vec<u64> = conn
        .query("SELECT COUNT(*) FROM orders WHERE uid = 10")
        .await?;
    assert_eq!(inside, vec![1], "the transaction sees its own row");
    conn.query_drop("ROLLBACK").await?;
    assert_eq!(c.counts("orders").await?.iter().sum::<u64>(), 2);
    // Join with the global table on one shard.
    let names: Vec<String> = conn
        .query("SELECT c.name FROM orders o JOIN countries c ON o.cc = c.code WHERE o.uid = 9")
        .await?;
    assert_eq!(names, vec!["Germany"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn string_keys_follow_the_collation() -> Result<()> {
    let c = cluster().await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop("CREATE TABLE customers (email VARCHAR(64) PRIMARY KEY, n INT) DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci")
        .await?;
    conn.query_drop(
        "INSERT INTO customers (email, n) VALUES ('Alice@Example.com', 1), ('bob@example.com', 2)",
    )
    .await?;
    // Case variants find the row (same shard under utf8mb4_general_ci).
    let n: Vec<i32> = conn
        .query("SELECT n FROM customers WHERE email = 'ALICE@example.COM'")
        .await?;
    assert_eq!(n, vec![1]);
    let n: Vec<i32> = conn
        .query("SELECT n FROM customers WHERE email = 'BOB@EXAMPLE.COM  '")
        .await?;
    assert_eq!(n, vec![2]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_route_and_shard_hints() -> Result<()> {
    let c = cluster().await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop("CREATE TABLE orders (id INT PRIMARY KEY, uid BIGINT NOT NULL)")
        .await?;
    let rows: Vec<(String, String, String, String, String)> = conn
        .query("EXPLAIN ROUTE SELECT * FROM orders WHERE uid IN (3, 12)")
        .await?;
    assert_eq!(
        rows,
        vec![
            (
                "3".into(),
                "g0".into(),
                c.g0.addr(),
                "shop_0003".into(),
                "SELECT * FROM `shop_0003`.`orders` WHERE uid IN (3, 12)".into()
            ),
            (
                "12".into(),
                "g1".into(),
                c.g1.addr(),
                "shop_0012".into(),
                "SELECT * FROM `shop_0012`.`orders` WHERE uid IN (3, 12)".into()
            ),
        ]
    );
    let all: Vec<(String, String, String, String, String)> = conn
        .query("EXPLAIN ROUTE DELETE FROM orders")
        .await
        .map_or_else(
            |e| {
                assert!(
                    e.to_string()
                        .contains("without a condition on its shard key"),
                    "{e}"
                );
                Ok::<_, anyhow::Error>(vec![])
            },
            Ok,
        )?;
    assert!(all.is_empty());
    // A hint puts a row on a shard its key would not choose (operator repair), and reads it there.
    conn.query_drop("/* myshard: shard=9 */ INSERT INTO orders (id, uid) VALUES (1, 3)")
        .await?;
    let on9: Vec<u64> = c.g1.query("SELECT COUNT(*) FROM shop_0009.orders").await?;
    assert_eq!(on9, vec![1]);
    let n: Vec<u64> = conn
        .query("SELECT COUNT(*) FROM orders /* myshard: shard=9 */")
        .await?;
    assert_eq!(n, vec![1]);
    let e = conn
        .query_drop("/* myshard: shard=16 */ SELECT 1")
        .await
        .expect_err("out of range");
    assert!(e.to_string().contains("has shards 0 to 15"), "{e}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dual_is_not_a_table() -> Result<()> {
    let c = cluster().await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    let v: Option<i64> = conn.query_first("SELECT 1 + 1 FROM DUAL").await?;
    assert_eq!(v, Some(2));
    let v: Option<i64> = conn.exec_first("SELECT ? * 3 FROM dual", (7,)).await?;
    assert_eq!(v, Some(21));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_without_a_column_list_is_routed_by_its_key() -> Result<()> {
    let c = cluster().await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    // The shard key is not the first column: the position must come from the table.
    conn.query_drop(
        "CREATE TABLE orders (id INT, note VARCHAR(20), uid BIGINT, PRIMARY KEY (uid, id))",
    )
    .await?;
    conn.query_drop("CREATE TABLE countries (code CHAR(2) PRIMARY KEY, name VARCHAR(40))")
        .await?;
    conn.query_drop("INSERT INTO orders VALUES (1, 'a', 101), (2, 'b', 102), (3, 'c', 103)")
        .await?;
    conn.exec_drop("INSERT INTO orders VALUES (?, ?, ?)", (4, "d", 104))
        .await?;
    conn.query_drop("REPLACE INTO shop.orders VALUE (5, 'e', 105)")
        .await?;
    conn.query_drop("INSERT INTO countries VALUES ('fr', 'France')")
        .await?;
    for uid in 101..=105i64 {
        let id: Option<i32> = conn
            .query_first(format!("SELECT id FROM orders WHERE uid = {uid}"))
            .await?;
        assert_eq!(
            id,
            Some((uid - 100) as i32),
            "uid {uid} is where its key says"
        );
    }
    assert_eq!(
        c.counts("orders").await?.iter().sum::<u64>(),
        5,
        "one copy each"
    );
    assert_eq!(
        c.counts("countries").await?,
        vec![1; 16],
        "a copy on every shard"
    );
    // A changed table is learned again.
    conn.query_drop("ALTER TABLE orders ADD COLUMN amount INT FIRST")
        .await?;
    conn.query_drop("INSERT INTO orders VALUES (70, 6, 'f', 106)")
        .await?;
    let row: Option<(i32, i32)> = conn
        .query_first("SELECT amount, id FROM orders WHERE uid = 106")
        .await?;
    assert_eq!(row, Some((70, 6)));
    let e = conn
        .query_drop("INSERT INTO items VALUES (1)")
        .await
        .expect_err("no such table");
    assert!(e.to_string().contains("1146"), "{e}");
    Ok(())
}
