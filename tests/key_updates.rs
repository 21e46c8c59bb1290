//! Shard-key UPDATEs end to end (2 groups × 8 shards): rows whose new key is on a shard of
//! the same group move there (gone from the old shard, in one transaction, the client's own
//! if open); a move to another group is refused, naming cross-group transactions.

mod harness;

use anyhow::{Context, Result, ensure};
use harness::MariaDb;
use harness::proxy::{ShardedCluster as Cluster, app_conn};
use mysql_async::prelude::Queryable;
use std::collections::BTreeMap;

const SHARDS: u32 = 8;
const TABLES: &[&str] = &["{name: orders, shard_key: uid}"];

impl Cluster {
    fn server(&self, shard: u32) -> &MariaDb {
        if shard < SHARDS / 2 {
            &self.g0
        } else {
            &self.g1
        }
    }

    /// (id, uid, note) of every row, by shard.
    async fn rows(&self) -> Result<BTreeMap<u32, Vec<(u32, u32, String)>>> {
        let mut out = BTreeMap::new();
        for s in 0..SHARDS {
            let rows: Vec<(u32, u32, String)> = self
                .server(s)
                .query(&format!(
                    "SELECT id, uid, note FROM shop_{s:04}.orders ORDER BY id"
                ))
                .await?;
            out.insert(s, rows);
        }
        Ok(out)
    }

    /// The shard holding the row `id`.
    async fn shard_of_row(&self, id: u32) -> Result<u32> {
        let rows = self.rows().await?;
        rows.iter()
            .find(|(_, r)| r.iter().any(|(i, _, _)| *i == id))
            .map(|(s, _)| *s)
            .context(format!("row {id} nowhere"))
    }
}

/// Learns the shard of uids 1..=64 by inserting probe rows (ids 1000+uid), then removes them.
async fn uid_shards(c: &Cluster, conn: &mut mysql_async::Conn) -> Result<BTreeMap<u32, u32>> {
    let values: Vec<String> = (1..=64)
        .map(|u| format!("({}, {u}, 'p')", 1000 + u))
        .collect();
    conn.query_drop(format!(
        "INSERT INTO orders (id, uid, note) VALUES {}",
        values.join(", ")
    ))
    .await?;
    let mut out = BTreeMap::new();
    for (s, rows) in c.rows().await? {
        for (_, uid, _) in rows {
            out.insert(uid, s);
        }
    }
    conn.query_drop("DELETE FROM orders WHERE id > 1000 AND uid BETWEEN 1 AND 64")
        .await
        .or_else(|_| Ok::<(), mysql_async::Error>(()))?;
    for s in 0..SHARDS {
        c.server(s)
            .exec(&format!("DELETE FROM shop_{s:04}.orders WHERE id > 1000"))
            .await?;
    }
    Ok(out)
}

fn group(shard: u32) -> u32 {
    shard / (SHARDS / 2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_key_updates_move_rows_within_a_group_and_refuse_across_groups() -> Result<()> {
    let c = Cluster::start(SHARDS, TABLES, |_| {}).await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop(
        "CREATE TABLE orders (id INT PRIMARY KEY, uid INT NOT NULL, note VARCHAR(20) NOT NULL)",
    )
    .await?;
    let shards = uid_shards(&c, &mut conn).await?;
    let a = 1;
    let sa = shards[&a];
    // b: another shard of a's group; same: a's shard; far: the other group.
    let b = *shards
        .iter()
        .find(|(_, s)| **s != sa && group(**s) == group(sa))
        .context("no other shard in the group")?
        .0;
    let same = *shards
        .iter()
        .find(|(u, s)| **s == sa && **u != a)
        .context("no second uid on the shard")?
        .0;
    let far = *shards
        .iter()
        .find(|(_, s)| group(**s) != group(sa))
        .context("no uid on the other group")?
        .0;
    let sb = shards[&b];

    conn.query_drop(format!(
        "INSERT INTO orders (id, uid, note) VALUES (1, {a}, 'one'), (2, {a}, 'two'), (3, {a}, 'three')"
    ))
    .await?;

    // One row moves: visible on the new shard, gone from the old, other columns kept or set.
    conn.query_drop(format!(
        "UPDATE orders SET uid = {b}, note = 'moved' WHERE id = 1 AND uid = {a}"
    ))
    .await?;
    ensure!(
        conn.affected_rows() == 1,
        "affected {}",
        conn.affected_rows()
    );
    let rows = c.rows().await?;
    ensure!(rows[&sb].contains(&(1, b, "moved".into())), "{rows:?}");
    ensure!(!rows[&sa].iter().any(|r| r.0 == 1), "{rows:?}");
    let seen: Option<String> = conn
        .query_first(format!(
            "SELECT note FROM orders WHERE uid = {b} AND id = 1"
        ))
        .await?;
    ensure!(seen.as_deref() == Some("moved"));

    // No match: nothing moves, 0 affected.
    conn.query_drop(format!(
        "UPDATE orders SET uid = {b} WHERE uid = {a} AND id = 999"
    ))
    .await?;
    ensure!(conn.affected_rows() == 0);

    // Inside the client's transaction: rolled back with it, then committed with it.
    conn.query_drop("BEGIN").await?;
    conn.query_drop(format!("UPDATE orders SET uid = {b} WHERE uid = {a}"))
        .await?;
    ensure!(
        conn.affected_rows() == 2,
        "affected {}",
        conn.affected_rows()
    );
    conn.query_drop("ROLLBACK").await?;
    ensure!(c.shard_of_row(2).await? == sa && c.shard_of_row(3).await? == sa);
    conn.query_drop("BEGIN").await?;
    conn.query_drop(format!("UPDATE orders SET uid = {b} WHERE uid = {a}"))
        .await?;
    conn.query_drop("COMMIT").await?;
    ensure!(c.shard_of_row(2).await? == sb && c.shard_of_row(3).await? == sb);

    // A new key on the same shard: updated in place.
    conn.query_drop(format!(
        "UPDATE orders SET uid = {same} WHERE id IN (2, 3) AND uid = {b}"
    ))
    .await?;
    ensure!(conn.affected_rows() == 2);
    conn.query_drop(format!(
        "UPDATE orders o SET uid = {a} WHERE o.uid = {same}"
    ))
    .await?;
    ensure!(conn.affected_rows() == 2);
    ensure!(c.shard_of_row(2).await? == sa);

    // Another group: refused, and nothing changed.
    let e = conn
        .query_drop(format!("UPDATE orders SET uid = {far} WHERE uid = {a}"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    ensure!(
        e.contains("1235") && e.contains("cross-group transactions"),
        "{e}"
    );
    // An expression for the key: refused with what is missing.
    let e = conn
        .query_drop(format!("UPDATE orders SET uid = uid + 1 WHERE uid = {a}"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    ensure!(e.contains("literal"), "{e}");
    let rows = c.rows().await?;
    let total: usize = rows.values().map(Vec::len).sum();
    ensure!(total == 3 && c.shard_of_row(2).await? == sa, "{rows:?}");
    Ok(())
}
