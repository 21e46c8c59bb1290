//! The migration's verify before the cut-over, at one GTID position while replication runs:
//! under a continuous writer on the moved shard it passes (and cleanup may then drop the
//! old copy); a row changed on the target behind replication's back makes it fail and the
//! migration abort, naming the chunk.

mod harness;

use anyhow::{Context, Result};
use harness::migration;
use harness::proxy::{ShardedCluster, app_conn};
use myshard_proxy::migration::{Bounds, Phase, journal};
use mysql_async::prelude::Queryable;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

const ROWS: i64 = 40;
/// The shard the tests move (on g0 in the configuration).
const MOVED: u32 = 1;
const DB: &str = "shop_0001";

fn state_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("myshard-mverify-{name}-{}", std::process::id()))
}

/// Groups with distinct GTID domains, `ROWS` rows (v = id); returns the moved shard's ids.
async fn cluster(state: &Path) -> Result<(ShardedCluster, Vec<i64>)> {
    let c = migration::cluster_with_rows(state, ROWS).await?;
    let ids: Vec<i64> =
        c.g0.query(&format!("SELECT id FROM {DB}.t ORDER BY id"))
            .await?;
    anyhow::ensure!(ids.len() >= 2, "shard {MOVED} holds rows: {ids:?}");
    Ok((c, ids))
}

/// Updates row `id` through the proxy until `stop`; counts acknowledged writes.
fn writer(
    mut conn: mysql_async::Conn,
    id: i64,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicI64>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let next = acked.load(Ordering::Relaxed) + 1;
            match conn
                .exec_drop("UPDATE t SET v = ? WHERE id = ?", (next, id))
                .await
            {
                Ok(()) => acked.store(next, Ordering::Relaxed),
                // A write refused at the cut-over is retried; the test looks at the copies.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_a_continuous_writer_the_verify_passes_and_cleanup_drops_the_old_copy() -> Result<()>
{
    let state = state_dir("writes");
    let (c, ids) = cluster(&state).await?;
    let shared = c.proxy.shared().clone();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicI64::new(0));
    let load = writer(
        app_conn(&c.proxy, Some("shop")).await?,
        ids[0],
        stop.clone(),
        acked.clone(),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = acked.load(Ordering::Relaxed);
    let done = shared.migrate("shop", MOVED, "g1", Bounds::default()).await;
    let during = acked.load(Ordering::Relaxed) - before;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    load.await?;
    let done = done.map_err(anyhow::Error::msg)?;
    assert!(during > 0, "the writer wrote during the migration");
    assert_eq!(done.phase, Phase::CutOver, "{done:?}");
    assert!(done.verified_before_cut_over, "{done:?}");
    // The writes went on after the cut-over (on g1 only): the old copy is stale, yet the
    // verify before the cut-over is what allows cleanup.
    let cleaned = shared
        .cleanup_journaled(done.id)
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(cleaned.phase, Phase::CleanedUp);
    let left: Vec<String> =
        c.g0.query(&format!(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{DB}'"
        ))
        .await?;
    assert!(left.is_empty(), "the old copy is dropped: {left:?}");
    let on_g1: Vec<i64> =
        c.g1.query(&format!("SELECT v FROM {DB}.t WHERE id = {}", ids[0]))
            .await?;
    assert_eq!(
        on_g1,
        vec![acked.load(Ordering::Relaxed)],
        "g1 holds the last write"
    );
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_row_changed_on_the_target_behind_replication_aborts_the_migration_naming_the_chunk()
-> Result<()> {
    let state = state_dir("differ");
    let (c, ids) = cluster(&state).await?;
    let shared = c.proxy.shared().clone();
    let (written, changed) = (ids[0], ids[ids.len() - 1]);
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicI64::new(0));
    let load = writer(
        app_conn(&c.proxy, Some("shop")).await?,
        written,
        stop.clone(),
        acked.clone(),
    );
    // As soon as the copy is on g1: a transaction there, outside the binary log, changes
    // a row and holds the writer's row, so replication (and with it the verify waiting for
    // the source's position) waits until it commits.
    let g1 = c.g1.opts("root", "", None);
    let behind = tokio::spawn(async move {
        let mut conn = mysql_async::Conn::new(g1).await?;
        loop {
            let n: Option<i64> = conn
                .query_first(format!("SELECT COUNT(*) FROM {DB}.t"))
                .await
                .unwrap_or(None);
            if n == Some(ids.len() as i64) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        conn.query_drop(format!(
            "SET SESSION sql_log_bin = 0; BEGIN; \
             SELECT v FROM {DB}.t WHERE id = {written} FOR UPDATE; \
             UPDATE {DB}.t SET v = v + 1000 WHERE id = {changed}"
        ))
        .await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        conn.query_drop("COMMIT").await?;
        anyhow::Ok(())
    });
    let outcome = shared.migrate("shop", MOVED, "g1", Bounds::default()).await;
    stop.store(true, Ordering::Relaxed);
    load.await?;
    behind.await??;
    let error = outcome.err().context("the migration fails")?;
    assert!(error.contains("verify before the cut-over"), "{error}");
    assert!(
        error.contains(&format!("{DB}.t where")),
        "chunk named: {error}"
    );
    let journal = journal::migrations(&shared.config()).map_err(anyhow::Error::msg)?;
    let m = journal.last().context("journaled")?;
    assert_eq!(m.phase, Phase::Aborted, "{m:?}");
    assert!(!m.verified_before_cut_over, "{m:?}");
    // Everything as it was: the shard on g0, no copy or replication left on g1.
    assert_eq!(
        shared.table().topology.group_of("shop", MOVED),
        Some("g0"),
        "the shard stays on g0"
    );
    let left: Vec<String> =
        c.g1.query(&format!(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{DB}'"
        ))
        .await?;
    assert!(left.is_empty(), "the target's copy is dropped: {left:?}");
    let slaves: Vec<mysql_async::Row> = c.g1.query("SHOW ALL SLAVES STATUS").await?;
    assert!(slaves.is_empty(), "the replication connection is removed");
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}

#[test]
fn a_journal_record_of_an_older_version_reads_as_not_verified_before_the_cut_over() -> Result<()> {
    let old = r#"{"id": 3, "schema": "shop", "shard": 1, "from": "g0", "to": "g1",
                  "phase": "cut_over", "error": null, "hold_ms": 12}"#;
    let m: myshard_proxy::migration::MigrationRecord = serde_json::from_str(old)?;
    assert!(!m.verified_before_cut_over, "{m:?}");
    // Written back unchanged, an older version still reads it.
    let text = serde_json::to_string(&m)?;
    assert!(!text.contains("verified_before_cut_over"), "{text}");
    Ok(())
}
