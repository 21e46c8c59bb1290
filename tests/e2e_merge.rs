//! Cross-shard merges end to end (2 groups × 16 shards): what the differential test does
//! not cover — empty and LIMIT 0 results keep their columns, a failing shard fails the
//! statement cleanly and the connection stays usable, the group limit, merges inside a
//! transaction (one connection per group, shards run in turn), and column definitions that
//! name the logical schema.

mod harness;

use anyhow::Result;
use harness::proxy::ShardedCluster as Cluster;
use harness::proxy::app_conn;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

const TABLES: &[&str] = &["{name: t, shard_key: k}"];

async fn cluster(max_groups: usize, pool_max: usize) -> Result<Cluster> {
    let cluster = Cluster::start(16, TABLES, |config| {
        config.merge.max_groups = max_groups;
        for g in &mut config.groups {
            g.pool.max = pool_max;
            g.pool.checkout_timeout_ms = 3000;
        }
    })
    .await?;
    let mut conn = app_conn(&cluster.proxy, Some("shop")).await?;
    conn.query_drop("CREATE TABLE t (k INT PRIMARY KEY, g INT, s VARCHAR(10))")
        .await?;
    let values: Vec<String> = (1..=100)
        .map(|k| format!("({k}, {}, 'v{}')", k % 7, k % 3))
        .collect();
    conn.query_drop(format!(
        "INSERT INTO t (k, g, s) VALUES {}",
        values.join(", ")
    ))
    .await?;
    Ok(cluster)
}

async fn columns(conn: &mut Conn, sql: &str) -> Result<(Vec<String>, usize)> {
    let mut result = conn.query_iter(sql).await?;
    let names = result
        .columns_ref()
        .iter()
        .map(|c| format!("{}.{}.{}", c.schema_str(), c.table_str(), c.name_str()))
        .collect();
    let rows: Vec<Row> = result.collect().await?;
    Ok((names, rows.len()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merges_keep_columns_fail_cleanly_and_work_in_transactions() -> Result<()> {
    let c = cluster(50, 64).await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    // Empty results and LIMIT 0 still describe their columns, naming the logical schema.
    for sql in [
        "SELECT k, s FROM t ORDER BY k LIMIT 0",
        "SELECT DISTINCT s, g FROM t ORDER BY s LIMIT 0",
        "SELECT k, s FROM t WHERE g = 99 ORDER BY k",
        "SELECT s, COUNT(*) FROM t WHERE g = 99 GROUP BY s",
        // One shard's answer, relayed: its column definitions are renamed too.
        "SELECT k, s FROM t WHERE k = 5 AND g = 99",
    ] {
        let (names, rows) = columns(&mut conn, sql).await?;
        assert_eq!(rows, 0, "{sql}");
        assert_eq!(names.len(), 2, "{sql}: {names:?}");
        assert!(names[0].starts_with("shop.t."), "{sql}: {names:?}");
    }
    // The same for a prepared statement answered by one shard.
    let stmt = conn.prep("SELECT k, s FROM t WHERE k = ?").await?;
    let schemas: Vec<String> = stmt
        .columns()
        .iter()
        .map(|c| c.schema_str().to_string())
        .collect();
    assert_eq!(schemas, vec!["shop", "shop"]);
    let mut result = conn.exec_iter(&stmt, (5,)).await?;
    let names: Vec<String> = result
        .columns_ref()
        .iter()
        .map(|c| c.schema_str().to_string())
        .collect();
    let rows: Vec<Row> = result.collect().await?;
    assert_eq!(
        (names, rows.len()),
        (vec!["shop".to_string(), "shop".to_string()], 1)
    );
    // More groups than merge.max_groups: an error naming the setting; the connection lives.
    let e = conn
        .query_drop("SELECT k, COUNT(*) FROM t GROUP BY k")
        .await
        .expect_err("too many groups");
    assert!(e.to_string().contains("merge.max_groups"), "{e}");
    let n: Option<i64> = conn.query_first("SELECT COUNT(*) FROM t").await?;
    assert_eq!(n, Some(100));
    // Inside a transaction every shard of a group runs on the transaction's connection:
    // uncommitted rows are seen by the merge, and gone after ROLLBACK.
    conn.query_drop("BEGIN").await?;
    conn.query_drop("INSERT INTO t (k, g, s) VALUES (1001, 1, 'x'), (1002, 2, 'y')")
        .await?;
    let top: Vec<i32> = conn
        .query("SELECT k FROM t ORDER BY k DESC LIMIT 3")
        .await?;
    assert_eq!(top, vec![1002, 1001, 100]);
    conn.query_drop("ROLLBACK").await?;
    let top: Vec<i32> = conn
        .query("SELECT k FROM t ORDER BY k DESC LIMIT 1")
        .await?;
    assert_eq!(top, vec![100]);
    // A shard failing mid-scatter fails the statement and names the shard.
    c.g1.exec("DROP TABLE shop_0009.t").await?;
    let e = conn
        .query_drop("SELECT k FROM t ORDER BY k")
        .await
        .expect_err("a shard lacks the table");
    assert!(e.to_string().contains("shard 9"), "{e}");
    let n: Option<i64> = conn
        .query_first("SELECT COUNT(*) FROM t WHERE k = 1")
        .await?;
    assert_eq!(n, Some(1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_scatters_share_small_pools_without_waiting_on_each_other() -> Result<()> {
    // 3 connections per host, 8 shards per host, 6 clients scattering at once: a statement
    // waits only for its first connection per group and takes more only when free, so no
    // two statements hold what the other waits for.
    let c = cluster(1000, 3).await?;
    let mut tasks = Vec::new();
    for client in 0..6 {
        let mut conn = app_conn(&c.proxy, Some("shop")).await?;
        tasks.push(tokio::spawn(async move {
            for i in 0..5 {
                let limit = 1 + (client + i) % 7;
                let ks: Vec<i32> = conn
                    .query(format!("SELECT k FROM t ORDER BY k DESC LIMIT {limit}"))
                    .await?;
                let want: Vec<i32> = (0..limit).map(|j| 100 - j).collect();
                anyhow::ensure!(ks == want, "client {client}: {ks:?}");
                let n: Option<i64> = conn.query_first("SELECT COUNT(*) FROM t").await?;
                anyhow::ensure!(n == Some(100), "client {client}: count {n:?}");
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_interrupts_every_shard_of_a_merge() -> Result<()> {
    let c = cluster(1000, 64).await?;
    let mut victim = app_conn(&c.proxy, Some("shop")).await?;
    let id: Option<u64> = victim.query_first("SELECT CONNECTION_ID()").await?;
    let id = id.ok_or_else(|| anyhow::anyhow!("no connection id"))?;
    // About 7 rows per shard, each sleeping 0.5 s: several seconds on every shard.
    let slow = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let r = victim
            .query_drop("SELECT k, SLEEP(0.5) FROM t ORDER BY k")
            .await;
        let after: Option<i64> = victim.query_first("SELECT COUNT(*) FROM t").await?;
        anyhow::Ok((r, started.elapsed(), after))
    });
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let mut killer = app_conn(&c.proxy, Some("shop")).await?;
    killer.query_drop(format!("KILL QUERY {id}")).await?;
    let (r, took, after) = slow.await??;
    let e = r.expect_err("the merged SELECT was interrupted");
    assert!(
        e.to_string().contains("1317") || e.to_string().contains("interrupted"),
        "{e}"
    );
    assert!(took < std::time::Duration::from_secs(3), "took {took:?}");
    assert_eq!(after, Some(100), "the connection still works");
    Ok(())
}
