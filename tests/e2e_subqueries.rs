//! Subqueries and derived tables over shards end to end (2 groups × 16 shards, real
//! MariaDB): the issue's single-shard examples (text and server-side prepared), co-located
//! EXISTS / IN reaching every shard with the outer ORDER BY / LIMIT merged, INSERT … SELECT
//! and UPDATE pinned to one shard (rows checked in the physical databases), the refusals
//! (1235, SQLSTATE 42000, naming the construct) with the connection still usable, and
//! uncorrelated `IN (SELECT …)` evaluated first (values typed, NULL kept, bounded).

mod harness;

use anyhow::Result;
use harness::MariaDb;
use harness::e2e::server_err;
use harness::proxy::ShardedCluster as Cluster;
use harness::proxy::app_conn;
use mysql_async::prelude::Queryable;

const TABLES: &[&str] = &[
    "{name: users, shard_key: id}",
    "{name: orders, shard_key: user_id}",
    "{name: items, shard_key: user_id}",
    "{name: archive, shard_key: user_id}",
    "{name: countries, global: true}",
];

const SETUP: &[&str] = &[
    "CREATE TABLE users (id BIGINT PRIMARY KEY, name VARCHAR(20) NOT NULL)",
    "CREATE TABLE orders (order_id INT PRIMARY KEY, user_id BIGINT NOT NULL, status VARCHAR(10) NOT NULL, cc CHAR(2) NULL)",
    "CREATE TABLE items (id INT PRIMARY KEY, user_id BIGINT NOT NULL, order_id INT NOT NULL)",
    "CREATE TABLE archive (order_id INT PRIMARY KEY, user_id BIGINT NOT NULL, status VARCHAR(10) NOT NULL)",
    "CREATE TABLE countries (code CHAR(2) PRIMARY KEY, name VARCHAR(20) NOT NULL)",
    "INSERT INTO countries (code, name) VALUES ('FR', 'France'), ('DE', 'Germany')",
    "INSERT INTO users (id, name) VALUES (42, 'alice'), (7, 'bob'), (8, 'carol'), (9, 'dan')",
    "INSERT INTO orders (order_id, user_id, status, cc) VALUES (1, 42, 'open', 'FR'), (2, 42, 'open', NULL), \
     (3, 42, 'paid', 'DE'), (4, 7, 'open', 'FR'), (5, 8, 'paid', 'FR')",
    "INSERT INTO items (id, user_id, order_id) VALUES (10, 42, 1), (11, 42, 3), (12, 7, 4)",
];

impl Cluster {
    /// Rows of `table` per physical database holding any, as (shard, count).
    async fn placed(&self, table: &str) -> Result<Vec<(u32, u64)>> {
        let mut out = Vec::new();
        for s in 0..16u32 {
            let server: &MariaDb = if s < 8 { &self.g0 } else { &self.g1 };
            let n: Vec<u64> = server
                .query(&format!("SELECT COUNT(*) FROM shop_{s:04}.{table}"))
                .await?;
            if n[0] > 0 {
                out.push((s, n[0]));
            }
        }
        Ok(out)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subqueries_run_pinned_or_co_located_and_the_rest_is_refused() -> Result<()> {
    let c = Cluster::start(16, TABLES, |config| config.limits.max_subquery_rows = 4).await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    for sql in SETUP {
        conn.query_drop(*sql).await?;
    }

    // The issue's examples: one shard answers the whole statement (a scatter would give one
    // row per shard for the grouped derived table).
    let mut by_status: Vec<(String, i64)> = conn
        .query(
            "SELECT t.status, t.n FROM (SELECT status, COUNT(*) AS n FROM orders WHERE user_id = 42 GROUP BY status) AS t",
        )
        .await?;
    by_status.sort();
    assert_eq!(by_status, vec![("open".into(), 2), ("paid".into(), 1)]);
    let names: Vec<String> = conn
        .query(
            "SELECT name FROM users WHERE id = 42 AND EXISTS (SELECT 1 FROM orders o WHERE o.user_id = users.id AND o.status = 'paid')",
        )
        .await?;
    assert_eq!(names, vec!["alice".to_string()]);
    let mut ids: Vec<i32> = conn
        .query(
            "SELECT order_id FROM orders WHERE user_id = 42 AND order_id IN (SELECT order_id FROM items WHERE user_id = 42)",
        )
        .await?;
    ids.sort();
    assert_eq!(ids, vec![1, 3]);
    // The same as a server-side prepared statement, the key bound at execute time, with a
    // global table in a nested derived table.
    let stmt = conn
        .prep(
            "SELECT e.order_id, e.name FROM (SELECT d.order_id, c.name FROM (SELECT order_id, cc FROM orders WHERE user_id = ?) d JOIN countries c ON c.code = d.cc) e ORDER BY e.order_id",
        )
        .await?;
    let rows: Vec<(i32, String)> = conn.exec(&stmt, (42,)).await?;
    assert_eq!(rows, vec![(1, "France".into()), (3, "Germany".into())]);
    let rows: Vec<(i32, String)> = conn.exec(&stmt, (7,)).await?;
    assert_eq!(rows, vec![(4, "France".into())]);

    // Co-located over every shard, the outer ORDER BY / LIMIT merged.
    let with_orders: Vec<i64> = conn
        .query("SELECT u.id FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id) ORDER BY u.id DESC LIMIT 2")
        .await?;
    assert_eq!(with_orders, vec![42, 8]);
    let without: Vec<i64> = conn
        .query("SELECT u.id FROM users u WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id)")
        .await?;
    assert_eq!(without, vec![9]);
    let open: Vec<(i64, i64)> = conn
        .query("SELECT id, (SELECT COUNT(*) FROM orders o WHERE o.user_id = u.id AND o.status = 'open') FROM users u WHERE u.id IN (SELECT user_id FROM orders WHERE status = 'open') ORDER BY id")
        .await?;
    assert_eq!(open, vec![(7, 1), (42, 2)]);

    // INSERT … SELECT and UPDATE pinned to the shard of user 42: rows stay on its shard.
    let affected = conn
        .query_iter("INSERT INTO archive (order_id, user_id, status) SELECT order_id, user_id, status FROM orders WHERE user_id = 42 AND status = 'open'")
        .await?
        .affected_rows();
    assert_eq!(affected, 2);
    let home = c.placed("orders").await?;
    let archived = c.placed("archive").await?;
    assert_eq!(archived.len(), 1, "{archived:?}");
    assert!(
        home.iter().any(|&(s, _)| s == archived[0].0),
        "{home:?} {archived:?}"
    );
    conn.query_drop("UPDATE orders SET status = 'done' WHERE user_id = 42 AND order_id IN (SELECT order_id FROM archive WHERE user_id = 42)")
        .await?;
    let done: Vec<i64> = conn
        .query("SELECT COUNT(*) FROM orders WHERE user_id = 42 AND status = 'done'")
        .await?;
    assert_eq!(done, vec![2]);

    // Everything else: 1235 naming the construct, and the connection goes on.
    for (sql, part) in [
        (
            "SELECT * FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.status = u.name)",
            "a subquery over sharded table 'orders'",
        ),
        (
            "SELECT t.status, t.n FROM (SELECT status, COUNT(*) AS n FROM orders GROUP BY status) AS t",
            "GROUP BY without the shard key",
        ),
        (
            "SELECT * FROM orders WHERE user_id = 42 AND EXISTS (SELECT 1 FROM items WHERE user_id = 7 AND items.order_id = 4)",
            "select different shards",
        ),
        (
            "SELECT * FROM users u WHERE u.name IN (SELECT o.status FROM orders o WHERE o.order_id > u.id)",
            "a subquery over sharded table 'orders'",
        ),
    ] {
        let (code, state, message) = server_err(conn.query_drop(sql).await)?;
        assert_eq!((code, state.as_str()), (1235, "42000"), "{sql}: {message}");
        assert!(message.contains(part), "{sql}: {message}");
    }
    let one: Vec<i64> = conn
        .query("SELECT COUNT(*) FROM users WHERE id = 42")
        .await?;
    assert_eq!(one, vec![1]);
    uncorrelated_in_is_evaluated_first(&mut conn).await?;
    prepared_uncorrelated_in_is_evaluated_first(&mut conn).await
}

/// The same as server-side prepared statements (binary rows), with parameters inside and
/// outside the subquery, and as `PREPARE … EXECUTE … USING`.
async fn prepared_uncorrelated_in_is_evaluated_first(conn: &mut mysql_async::Conn) -> Result<()> {
    let stmt = conn
        .prep("SELECT order_id, status FROM orders WHERE order_id IN (SELECT order_id FROM items WHERE id >= ?) AND status <> ?")
        .await?;
    let mut rows: Vec<(i32, String)> = conn.exec(&stmt, (11, "x")).await?;
    rows.sort();
    assert_eq!(rows, vec![(3, "paid".into()), (4, "open".into())]);
    // Other values: other subquery values, another statement on the shards.
    let mut rows: Vec<(i32, String)> = conn.exec(&stmt, (10, "paid")).await?;
    rows.sort();
    assert_eq!(rows, vec![(1, "done".into()), (4, "open".into())]);
    let rows: Vec<(i32, String)> = conn.exec(&stmt, (1000, "x")).await?;
    assert!(rows.is_empty(), "{rows:?}");
    // The same values again (the statement already prepared on the shards).
    let mut rows: Vec<(i32, String)> = conn.exec(&stmt, (11, "x")).await?;
    rows.sort();
    assert_eq!(rows, vec![(3, "paid".into()), (4, "open".into())]);
    // A parameter of the outer query only, pinning it by its key.
    let pinned = conn
        .prep("SELECT order_id FROM orders WHERE user_id = ? AND order_id IN (SELECT order_id FROM items WHERE user_id = 7 OR id = 11)")
        .await?;
    let ids: Vec<i32> = conn.exec(&pinned, (42,)).await?;
    assert_eq!(ids, vec![3]);
    // Bound past the limit: the error names the setting.
    let wide = conn
        .prep("SELECT id FROM items WHERE order_id IN (SELECT order_id FROM orders WHERE order_id > ?)")
        .await?;
    let (code, _, message) = server_err(conn.exec_drop(&wide, (0,)).await)?;
    assert_eq!(code, 1235, "{message}");
    assert!(message.contains("limits.max_subquery_rows"), "{message}");
    // SQL PREPARE.
    conn.query_drop("PREPARE q FROM 'SELECT order_id FROM orders WHERE order_id IN (SELECT order_id FROM items WHERE id >= ?)'")
        .await?;
    let mut ids: Vec<i32> = conn.query("EXECUTE q USING 11").await?;
    ids.sort();
    assert_eq!(ids, vec![3, 4]);
    Ok(())
}

/// Uncorrelated `IN (SELECT …)` over sharded tables that cannot run shard by shard: the
/// proxy fetches the values first (typed, NULL kept), then routes the statement.
async fn uncorrelated_in_is_evaluated_first(conn: &mut mysql_async::Conn) -> Result<()> {
    conn.query_drop(r"INSERT INTO users (id, name) VALUES (10, 'o''neil'), (11, 'back\\slash')")
        .await?;
    conn.query_drop(r"INSERT INTO orders (order_id, user_id, status, cc) VALUES (6, 9, 'o''neil', 'FR'), (7, 9, 'back\\slash', NULL)")
        .await?;
    // Non-key column on both sides: values fetched, then a plain scatter.
    let mut ids: Vec<i32> = conn
        .query("SELECT order_id FROM orders WHERE order_id IN (SELECT order_id FROM items WHERE id >= 11)")
        .await?;
    ids.sort();
    assert_eq!(ids, vec![3, 4]);
    // Pinned to another shard than the outer query: values fetched from there.
    let pinned: Vec<i32> = conn
        .query("SELECT order_id FROM orders WHERE user_id = 42 AND order_id IN (SELECT order_id FROM items WHERE user_id = 7 OR id = 11)")
        .await?;
    assert_eq!(pinned, vec![3]);
    // Strings quoted (a quote, a backslash), compared with the column's collation.
    let mut names: Vec<String> = conn
        .query("SELECT name FROM users WHERE name IN (SELECT status FROM orders WHERE user_id = 9)")
        .await?;
    names.sort();
    assert_eq!(names, vec![r"back\slash".to_string(), "o'neil".to_string()]);
    // An expression of keys: the list of values then routes the statement by its key.
    let mut paid: Vec<String> = conn
        .query("SELECT name FROM users WHERE id IN (SELECT o.user_id + 0 FROM orders o WHERE o.status = 'paid')")
        .await?;
    paid.sort();
    assert_eq!(paid, vec!["alice".to_string(), "carol".to_string()]);
    // NULL semantics of IN / NOT IN kept: a NULL among the values makes NOT IN match nothing.
    let mut codes: Vec<String> = conn
        .query("SELECT code FROM countries WHERE code IN (SELECT cc FROM orders)")
        .await?;
    codes.sort();
    assert_eq!(codes, vec!["DE".to_string(), "FR".to_string()]);
    let none: Vec<String> = conn
        .query("SELECT code FROM countries WHERE code NOT IN (SELECT cc FROM orders)")
        .await?;
    assert!(none.is_empty(), "{none:?}");
    // No rows: IN matches nothing, NOT IN everything.
    let empty: Vec<i32> = conn
        .query("SELECT order_id FROM orders WHERE order_id IN (SELECT order_id FROM items WHERE id > 1000)")
        .await?;
    assert!(empty.is_empty());
    let all: Vec<i64> = conn
        .query("SELECT COUNT(*) FROM orders WHERE order_id NOT IN (SELECT order_id FROM items WHERE id > 1000)")
        .await?;
    assert_eq!(all, vec![7]);
    // More distinct values than limits.max_subquery_rows (4 here): an error naming it.
    let (code, _, message) = server_err(
        conn.query_drop("SELECT * FROM items WHERE order_id IN (SELECT order_id FROM orders)")
            .await,
    )?;
    assert_eq!(code, 1235, "{message}");
    assert!(
        message.contains("limits.max_subquery_rows (4)"),
        "{message}"
    );
    Ok(())
}
