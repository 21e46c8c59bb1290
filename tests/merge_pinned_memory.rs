//! An ORDER BY merged across shards inside a transaction or a pinned session runs the
//! shards of a group one after the other on the session's one connection there, so the
//! rows of the shards queued behind another are buffered by the proxy until the merge
//! takes them. That buffer is bounded per statement (`merge.max_buffered_bytes`): a
//! statement needing more fails with 1038/HY001 naming the setting — the transaction goes
//! on — while statements within the bound, and the same statement outside a transaction
//! (several connections per group, nothing buffered), answer exactly.

mod harness;

use anyhow::{Context, Result, ensure};
use harness::e2e::server_err;
use harness::proxy::{ShardedCluster, app_conn};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use std::time::Duration;

/// The bound of these tests: far less than one group's queued shards hold.
const LIMIT_BYTES: usize = 128 * 1024;
/// Rows per shard (about), each with a 1000-byte body.
const ROWS: i64 = 3200;

/// 16 shards on two groups (8 each), `items` with ~200 rows of ~1 KB on every shard.
async fn cluster() -> Result<ShardedCluster> {
    let cl = ShardedCluster::start(16, &["{name: items, shard_key: id}"], |c| {
        c.merge.max_buffered_bytes = LIMIT_BYTES;
    })
    .await?;
    let mut c = app_conn(&cl.proxy, Some("shop")).await?;
    c.query_drop("CREATE TABLE items (id INT PRIMARY KEY, body VARCHAR(1000)) ENGINE=InnoDB")
        .await?;
    let values: Vec<String> = (1..=ROWS)
        .map(|i| {
            format!(
                "({i}, REPEAT('{}', 1000))",
                char::from(b'a' + (i % 26) as u8)
            )
        })
        .collect();
    c.query_drop(format!(
        "INSERT INTO items (id, body) VALUES {}",
        values.join(", ")
    ))
    .await?;
    Ok(cl)
}

async fn rows(c: &mut Conn, sql: &str) -> Result<Vec<(i64, String)>> {
    tokio::time::timeout(Duration::from_secs(20), c.query(sql))
        .await
        .with_context(|| format!("{sql} did not answer"))?
        .with_context(|| sql.to_string())
}

/// The statement fails with the bound's error, in time.
async fn out_of_memory(c: &mut Conn, sql: &str) -> Result<()> {
    let r = tokio::time::timeout(Duration::from_secs(20), c.query_drop(sql))
        .await
        .with_context(|| format!("{sql} did not answer"))?;
    let (code, state, msg) = server_err(r).with_context(|| sql.to_string())?;
    ensure!(
        (code, state.as_str()) == (1038, "HY001"),
        "{sql}: {code} {state} {msg}"
    );
    ensure!(msg.contains("merge.max_buffered_bytes"), "{msg}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_merge_in_a_transaction_buffers_within_its_bound() -> Result<()> {
    let cl = cluster().await?;
    let big = "SELECT id, body FROM items ORDER BY id";
    let big_desc = "SELECT id, body FROM items ORDER BY body DESC, id";
    let small = "SELECT id, body FROM items ORDER BY id DESC LIMIT 5";

    // Outside a transaction every shard has its own connection: nothing is buffered and
    // the whole answer comes.
    let mut free = app_conn(&cl.proxy, Some("shop")).await?;
    let all = rows(&mut free, big).await?;
    ensure!(all.len() == ROWS as usize, "{} rows", all.len());
    ensure!(all.iter().map(|r| r.0).eq(1..=ROWS), "not in order");
    let want_small = rows(&mut free, small).await?;
    ensure!(want_small.iter().map(|r| r.0).eq((ROWS - 4..=ROWS).rev()));

    for pin in ["BEGIN", "SET @a = 1"] {
        let mut s = app_conn(&cl.proxy, Some("shop")).await?;
        s.query_drop(pin).await?;
        s.query_drop("INSERT INTO items (id, body) VALUES (100000, 'mine')")
            .await?;
        // Queued shards would hold ~1.4 MB per group: far beyond the bound.
        out_of_memory(&mut s, big).await.context(pin)?;
        out_of_memory(&mut s, big_desc).await.context(pin)?;
        // Within the bound (each shard returns 5 rows, ~75 KB queued): the exact answer.
        let got = rows(&mut s, small).await.context(pin)?;
        let mut want = vec![(100000, "mine".to_string())];
        want.extend(want_small.iter().take(4).cloned());
        ensure!(
            got == want,
            "{pin}: {small} answered {:?}",
            got.iter().map(|r| r.0).collect::<Vec<_>>()
        );
        // The failed statements ended only themselves: the session's state is still there.
        let mine: Vec<i64> = s.query("SELECT id FROM items WHERE id = 100000").await?;
        ensure!(mine == vec![100000], "{pin}: {mine:?}");
        s.query_drop("ROLLBACK").await?;
        s.query_drop("DELETE FROM items WHERE id = 100000").await?;
    }
    Ok(())
}
