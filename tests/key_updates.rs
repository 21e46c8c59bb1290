//! Shard-key UPDATEs end to end (2 groups × 8 shards): rows whose new key is on a shard of
//! the same group move there (gone from the old shard, in one transaction, the client's own
//! if open); a move to another group runs as one transaction over both groups (XA in `xa`
//! mode, each group in turn in `best_effort`) and is refused in `single` mode.

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

/// Creates table `orders` through `conn` and learns the shard of uids 1..=64 (see
/// [`uid_shards`]).
async fn orders_table(c: &Cluster, conn: &mut mysql_async::Conn) -> Result<BTreeMap<u32, u32>> {
    conn.query_drop(
        "CREATE TABLE orders (id INT PRIMARY KEY, uid INT NOT NULL, note VARCHAR(20) NOT NULL)",
    )
    .await?;
    uid_shards(c, conn).await
}

/// The first uid (of `shards`, uid → shard) on another shard of `uid`'s group.
fn uid_near(shards: &BTreeMap<u32, u32>, uid: u32) -> Result<u32> {
    let home = *shards.get(&uid).context("uid without a shard")?;
    shards
        .iter()
        .find(|(_, s)| **s != home && group(**s) == group(home))
        .map(|(u, _)| *u)
        .context("no other shard in the group")
}

/// The first uid (of `shards`, uid → shard) on the group `uid` is not on.
fn uid_far(shards: &BTreeMap<u32, u32>, uid: u32) -> Result<u32> {
    let home = *shards.get(&uid).context("uid without a shard")?;
    shards
        .iter()
        .find(|(_, s)| group(**s) != group(home))
        .map(|(u, _)| *u)
        .context("no uid on the other group")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_key_updates_move_rows_within_a_group_and_single_mode_refuses_other_groups()
-> Result<()> {
    let c = Cluster::start(SHARDS, TABLES, |_| {}).await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    let shards = orders_table(&c, &mut conn).await?;
    let a = 1;
    let sa = shards[&a];
    // b: another shard of a's group; same: a's shard; far: the other group.
    let b = uid_near(&shards, a)?;
    let same = *shards
        .iter()
        .find(|(u, s)| **s == sa && **u != a)
        .context("no second uid on the shard")?
        .0;
    let far = uid_far(&shards, a)?;
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

    // Another group in single mode: refused naming the mode, and nothing changed.
    conn.query_drop("SET myshard_transaction_mode = single")
        .await?;
    let e = conn
        .query_drop(format!("UPDATE orders SET uid = {far} WHERE uid = {a}"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    ensure!(
        e.contains("1235") && e.contains("myshard_transaction_mode is single"),
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

/// The shards (by shard number) holding row `id`, read on the servers.
async fn shards_holding(c: &Cluster, id: u32) -> Result<Vec<u32>> {
    Ok(c.rows()
        .await?
        .into_iter()
        .filter(|(_, r)| r.iter().any(|(i, _, _)| *i == id))
        .map(|(s, _)| s)
        .collect())
}

/// The xids of XA branches left prepared on either server.
async fn prepared_branches(c: &Cluster) -> Result<usize> {
    let mut n = 0;
    for db in [&c.g0, &c.g1] {
        let rows: Vec<(i64, i64, i64, Vec<u8>)> = db.query("XA RECOVER").await?;
        n += rows.len();
    }
    Ok(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_key_updates_move_rows_across_groups_in_one_xa_transaction() -> Result<()> {
    let state = tempfile::tempdir()?;
    let dir = state.path().display().to_string();
    let c = Cluster::start(SHARDS, TABLES, |cfg| cfg.state_dir = Some(dir))
        .await
        .context("step 1")?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await.context("step 2")?;
    let mode: Option<String> = conn
        .query_first("SELECT @@myshard_transaction_mode")
        .await
        .context("step 3")?;
    ensure!(mode.as_deref() == Some("xa"), "{mode:?}");
    let shards = orders_table(&c, &mut conn).await.context("steps 4 and 5")?;
    let a = 1;
    let sa = shards[&a];
    let mut far_uids = shards.iter().filter(|(_, s)| group(**s) != group(sa));
    let (&far, &sf) = far_uids.next().context("no uid on the other group")?;
    let (&far2, &sf2) = far_uids
        .find(|(_, s)| **s != sf)
        .context("no second shard on the other group")?;
    conn.query_drop(format!(
        "INSERT INTO orders (id, uid, note) VALUES (1, {a}, 'one'), (2, {a}, 'two'), (3, {a}, 'it''s \\\\ x')"
    ))
    .await.context("step 6")?;

    // Autocommit: moved, present exactly once, the old row gone, values kept or set.
    conn.query_drop(format!(
        "UPDATE orders SET uid = {far}, note = 'moved' WHERE id = 1 AND uid = {a}"
    ))
    .await
    .context("step 7")?;
    ensure!(
        conn.affected_rows() == 1,
        "affected {}",
        conn.affected_rows()
    );
    ensure!(shards_holding(&c, 1).await? == vec![sf]);
    let rows = c.rows().await.context("step 8")?;
    ensure!(rows[&sf].contains(&(1, far, "moved".into())), "{rows:?}");
    let seen: Option<String> = conn
        .query_first(format!(
            "SELECT note FROM orders WHERE uid = {far} AND id = 1"
        ))
        .await
        .context("step 9")?;
    ensure!(seen.as_deref() == Some("moved"));

    // Several rows, one with quote and backslash: copied exactly.
    conn.query_drop(format!("UPDATE orders SET uid = {far} WHERE uid = {a}"))
        .await
        .context("step 10")?;
    ensure!(
        conn.affected_rows() == 2,
        "affected {}",
        conn.affected_rows()
    );
    let rows = c.rows().await.context("step 11")?;
    ensure!(
        rows[&sf].contains(&(3, far, "it's \\ x".into())),
        "{rows:?}"
    );
    ensure!(rows[&sa].is_empty(), "{rows:?}");

    // Inside a client transaction: rolled back with it, then committed with it.
    conn.query_drop("BEGIN").await.context("step 12")?;
    conn.query_drop(format!(
        "UPDATE orders SET uid = {a} WHERE id = 2 AND uid = {far}"
    ))
    .await
    .context("step 13")?;
    conn.query_drop("ROLLBACK").await.context("step 14")?;
    ensure!(shards_holding(&c, 2).await? == vec![sf]);
    conn.query_drop("BEGIN").await.context("step 15")?;
    conn.query_drop(format!(
        "UPDATE orders SET uid = {a} WHERE id = 2 AND uid = {far}"
    ))
    .await
    .context("step 16")?;
    conn.query_drop("COMMIT").await.context("step 17")?;
    ensure!(shards_holding(&c, 2).await? == vec![sa]);

    // A failure on the second group (the new shard already holds id 2): nothing moves,
    // nothing is left prepared.
    c.server(sf2)
        .exec(&format!(
            "INSERT INTO shop_{sf2:04}.orders (id, uid, note) VALUES (2, {far2}, 'blocker')"
        ))
        .await
        .context("step 18")?;
    let e = conn
        .query_drop(format!(
            "UPDATE orders SET uid = {far2} WHERE id = 2 AND uid = {a}"
        ))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    ensure!(e.contains("1062"), "{e}");
    ensure!(shards_holding(&c, 2).await? == vec![sa.min(sf2), sa.max(sf2)]);
    let rows = c.rows().await.context("step 19")?;
    ensure!(rows[&sa].contains(&(2, a, "two".into())), "{rows:?}");
    ensure!(
        rows[&sf2].contains(&(2, far2, "blocker".into())),
        "{rows:?}"
    );
    ensure!(prepared_branches(&c).await? == 0);

    // The same failure inside a client transaction: the move is undone, the transaction
    // goes on with its other statements.
    conn.query_drop("BEGIN").await.context("step 20")?;
    conn.query_drop(format!(
        "INSERT INTO orders (id, uid, note) VALUES (10, {a}, 'kept')"
    ))
    .await
    .context("step 21")?;
    let failed = conn
        .query_drop(format!(
            "UPDATE orders SET uid = {far2} WHERE id = 2 AND uid = {a}"
        ))
        .await;
    ensure!(failed.is_err());
    conn.query_drop("COMMIT").await.context("step 22")?;
    ensure!(shards_holding(&c, 10).await? == vec![sa]);
    let rows = c.rows().await.context("step 23")?;
    ensure!(rows[&sa].contains(&(2, a, "two".into())), "{rows:?}");
    ensure!(prepared_branches(&c).await? == 0);

    // best_effort moves too (each group commits in turn).
    conn.query_drop("SET myshard_transaction_mode = best_effort")
        .await
        .context("step 24")?;
    conn.query_drop(format!(
        "UPDATE orders SET uid = {far} WHERE id = 10 AND uid = {a}"
    ))
    .await
    .context("step 25")?;
    ensure!(conn.affected_rows() == 1);
    ensure!(shards_holding(&c, 10).await? == vec![sf]);
    Ok(())
}

/// Server-side prepared shard-key UPDATEs (binary protocol) and `PREPARE … FROM` /
/// `EXECUTE … USING` move rows like the text statement: within the group, to the other
/// group (XA), executed again with other values, and a NULL key bound at EXECUTE is refused
/// with nothing changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_shard_key_updates_move_rows() -> Result<()> {
    let state = tempfile::tempdir()?;
    let dir = state.path().display().to_string();
    let c = Cluster::start(SHARDS, TABLES, |cfg| cfg.state_dir = Some(dir)).await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    let shards = orders_table(&c, &mut conn).await?;
    let a = 1;
    let sa = shards[&a];
    let near = uid_near(&shards, a)?;
    let far = uid_far(&shards, a)?;
    conn.query_drop(format!(
        "INSERT INTO orders (id, uid, note) VALUES (1, {a}, 'one'), (2, {a}, 'two')"
    ))
    .await?;

    // Binary protocol: one statement, executed for a move within the group, then to the
    // other group, then back.
    let stmt = conn
        .prep("UPDATE orders SET uid = ?, note = ? WHERE id = ? AND uid = ?")
        .await?;
    ensure!(stmt.num_params() == 4 && stmt.num_columns() == 0);
    for (to, from, note) in [(near, a, "near"), (far, near, "far"), (a, far, "home")] {
        conn.exec_drop(&stmt, (to, note, 1, from)).await?;
        ensure!(
            conn.affected_rows() == 1,
            "to {to}: {}",
            conn.affected_rows()
        );
        ensure!(
            shards_holding(&c, 1).await? == vec![shards[&to]],
            "row 1 after the move to {to}: {:?}",
            c.rows().await?
        );
        let seen: Option<String> = conn
            .exec_first("SELECT note FROM orders WHERE uid = ? AND id = 1", (to,))
            .await?;
        ensure!(seen.as_deref() == Some(note), "{seen:?}");
    }
    // A NULL key bound at EXECUTE: refused, nothing moved; the statement stays usable.
    let e = conn
        .exec_drop(&stmt, (None::<i64>, "x", 1, a))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    ensure!(e.contains("may not be NULL"), "{e}");
    ensure!(shards_holding(&c, 1).await? == vec![sa]);
    conn.exec_drop(&stmt, (far, "again", 1, a)).await?;
    ensure!(shards_holding(&c, 1).await? == vec![shards[&far]]);
    conn.close(stmt).await?;

    // SQL PREPARE / EXECUTE … USING.
    conn.query_drop("PREPARE mv FROM 'UPDATE orders SET uid = ? WHERE id = 2 AND uid = ?'")
        .await?;
    conn.query_drop(format!("SET @to = {far}, @from = {a}"))
        .await?;
    conn.query_drop("EXECUTE mv USING @to, @from").await?;
    ensure!(conn.affected_rows() == 1, "{}", conn.affected_rows());
    ensure!(shards_holding(&c, 2).await? == vec![shards[&far]]);
    let rows = c.rows().await?;
    let total: usize = rows.values().map(Vec::len).sum();
    ensure!(total == 2, "{rows:?}");
    ensure!(prepared_branches(&c).await? == 0);
    Ok(())
}
