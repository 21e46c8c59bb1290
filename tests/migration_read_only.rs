//! After a migration's cut-over the old copy of the shard on the source group is read-only to
//! the proxy: statements naming the physical database directly (passthrough texts,
//! back-quoted names, prepared statements prepared before the cut-over) are refused with
//! 1290 naming the migration and the new group, reads of the old copy still work, and a
//! statement through the logical schema (text, shard hint, prepared before the cut-over)
//! runs on the target.

mod harness;

use anyhow::{Context, Result};
use harness::migration;
use harness::proxy::{ShardedCluster, app_conn};
use myshard_proxy::migration::{Bounds, Phase};
use mysql_async::prelude::Queryable;
use std::path::PathBuf;

const ROWS: i64 = 40;
/// The shard moved (g0 → g1).
const MOVED: u32 = 1;

fn state_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("myshard-mig-ro-{name}-{}", std::process::id()))
}

/// Four shards (0, 1 on g0; 2, 3 on g1), groups in distinct GTID domains, `ROWS` rows
/// with v = id.
async fn cluster_with_rows(state: &std::path::Path) -> Result<ShardedCluster> {
    migration::cluster_with_rows(state, ROWS).await
}

/// The server error code of `r`, if it failed with one.
fn code<T: std::fmt::Debug>(r: &Result<T, mysql_async::Error>) -> Result<(u16, String)> {
    match r {
        Err(mysql_async::Error::Server(e)) => Ok((e.code, e.message.clone())),
        other => anyhow::bail!("expected a server error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_copy_is_read_only_to_the_proxy_after_the_cut_over() -> Result<()> {
    let state = state_dir("paths");
    let c = cluster_with_rows(&state).await?;
    let db = format!("shop_{MOVED:04}");
    let ids = migration::shard_ids(&c.g0, MOVED).await?;
    let id = *ids.first().context("shard has rows")?;
    // No schema selected: passthrough to the first group, g0, where the shard lives now.
    let mut bare = app_conn(&c.proxy, None).await?;
    let mut shop = app_conn(&c.proxy, Some("shop")).await?;
    let raw_update = bare
        .prep(format!("UPDATE {db}.t SET v = ? WHERE id = ?"))
        .await?;
    bare.exec_drop(&raw_update, (id, id)).await?;
    bare.query_drop(format!("UPDATE {db}.t SET v = v WHERE id = {id}"))
        .await?;
    // Prepared through the logical schema before the cut-over.
    let update = shop.prep("UPDATE t SET v = ? WHERE id = ?").await?;
    let read = shop.prep("SELECT v FROM t WHERE id = ?").await?;
    shop.exec_drop(&update, (id, id)).await?;
    let v: Option<i64> = shop.exec_first(&read, (id,)).await?;
    assert_eq!(v, Some(id));

    let m = c
        .proxy
        .shared()
        .migrate("shop", MOVED, "g1", Bounds::default())
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(m.phase, Phase::CutOver, "{m:?}");
    let old_copy = format!("SELECT COUNT(*), CAST(SUM(v) AS SIGNED) FROM {db}.t");
    let before: Vec<(i64, i64)> = c.g0.query(&old_copy).await?;

    // Writes naming the old copy: text, back-quoted, multi-table, prepared before.
    let writes = [
        format!("INSERT INTO {db}.t VALUES (1000, 1)"),
        format!("UPDATE `{db}`.`t` SET v = 0"),
        format!("DELETE FROM {db} . t WHERE id = {id}"),
        format!("REPLACE INTO shop_0000.t SELECT id + 5000, v FROM {db}.t"),
    ];
    for sql in &writes {
        let r = bare.query_drop(sql).await;
        let (errno, message) = code(&r).with_context(|| sql.clone())?;
        assert_eq!(errno, 1290, "{sql}: {message}");
        assert!(
            message.contains(&format!("migration {}", m.id)) && message.contains("'g1'"),
            "{sql}: {message}"
        );
    }
    let r = bare.exec_drop(&raw_update, (-1, id)).await;
    let (errno, message) = code(&r)?;
    assert_eq!(errno, 1290, "prepared before the cut-over: {message}");
    // `USE` of a physical database is no logical schema.
    let r = bare.query_drop(format!("USE {db}")).await;
    assert_eq!(code(&r)?.0, 1049);
    // Reads of the old copy are fine until cleanup.
    let n: Option<i64> = bare
        .query_first(format!("SELECT COUNT(*) FROM {db}.t"))
        .await?;
    assert_eq!(n, Some(ids.len() as i64), "the old copy is readable");
    let now: Vec<(i64, i64)> = c.g0.query(&old_copy).await?;
    assert_eq!(now, before, "nothing was written to g0's copy");

    // Through the logical schema everything runs on the target.
    shop.exec_drop(&update, (-id, id)).await?;
    let v: Option<i64> = shop.exec_first(&read, (id,)).await?;
    assert_eq!(v, Some(-id), "the prepared read sees the prepared write");
    let on_g1: Vec<i64> =
        c.g1.query(&format!("SELECT v FROM {db}.t WHERE id = {id}"))
            .await?;
    assert_eq!(on_g1, vec![-id], "prepared before the cut-over, run on g1");
    shop.query_drop(format!(
        "/* myshard: shard={MOVED} */ UPDATE t SET v = v - 1000 WHERE id = {id}"
    ))
    .await?;
    let on_g1: Vec<i64> =
        c.g1.query(&format!("SELECT v FROM {db}.t WHERE id = {id}"))
            .await?;
    assert_eq!(on_g1, vec![-id - 1000], "a hinted write runs on g1");
    let now: Vec<(i64, i64)> = c.g0.query(&old_copy).await?;
    assert_eq!(now, before, "nothing was written to g0's copy");
    // A shard that did not move is written as before, also by its physical name.
    bare.query_drop("UPDATE shop_0000.t SET v = v WHERE id = 0")
        .await?;
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_prepared_write_of_an_unsharded_schema_waits_at_the_gate_and_runs_on_the_new_group()
-> Result<()> {
    let state = state_dir("unsharded");
    let c = cluster_with_rows(&state).await?;
    let shared = c.proxy.shared().clone();
    // Schema `crm` is unsharded: database crm_db on g1, passed through unplanned.
    let mut conn = app_conn(&c.proxy, Some("crm")).await?;
    conn.query_drop("CREATE TABLE notes (id BIGINT PRIMARY KEY)")
        .await?;
    let insert = conn.prep("INSERT INTO notes (id) VALUES (?)").await?;
    conn.exec_drop(&insert, (1,)).await?;
    // A copy on g0, as a migration would have made.
    c.g0.exec("CREATE DATABASE crm_db").await?;
    c.g0.exec("CREATE TABLE crm_db.notes (id BIGINT PRIMARY KEY)")
        .await?;
    c.g0.exec("INSERT INTO crm_db.notes VALUES (1)").await?;
    let gate = shared.table().gate("crm_db").context("gate")?.clone();
    let closure = gate.close().await;
    let held = tokio::spawn(async move {
        let r = conn.exec_drop(&insert, (2,)).await;
        (r, conn)
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !held.is_finished(),
        "the prepared write waits at the closed gate"
    );
    let mut placement = myshard_proxy::migration::Placement::default();
    placement.place(&shared.config(), "crm", 0, "g0");
    shared.persist_placement(placement)?;
    drop(closure);
    let (r, _conn) = tokio::time::timeout(std::time::Duration::from_secs(10), held).await??;
    r?;
    let on_g0: Vec<i64> =
        c.g0.query("SELECT id FROM crm_db.notes ORDER BY id")
            .await?;
    assert_eq!(on_g0, vec![1, 2], "the held write ran on g0");
    let on_g1: Vec<i64> =
        c.g1.query("SELECT id FROM crm_db.notes ORDER BY id")
            .await?;
    assert_eq!(on_g1, vec![1], "nothing reached the old copy");
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}
