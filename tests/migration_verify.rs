//! The migration's verify before the cut-over, at one GTID position while replication runs:
//! under a continuous writer on the moved shard it passes (and cleanup may then drop the
//! old copy); a row changed on the target behind replication's back makes it fail and the
//! migration abort, naming the chunk.

mod harness;

use anyhow::{Context, Result};
use harness::proxy::{ShardedCluster, app_conn};
use myshard_proxy::migration::{Bounds, Phase, journal};
use mysql_async::prelude::Queryable;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

const TABLES: &[&str] = &["{name: t, shard_key: id}"];
const ROWS: i64 = 40;
/// The shard the tests move (on g0 in the configuration).
const MOVED: u32 = 1;
const DB: &str = "shop_0001";

fn state_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("myshard-mverify-{name}-{}", std::process::id()))
}

/// Groups with distinct GTID domains, `ROWS` rows (v = id); returns the moved shard's ids.
async fn cluster(state: &Path) -> Result<(ShardedCluster, Vec<i64>)> {
    let _ = std::fs::remove_dir_all(state);
    let dir = state.display().to_string();
    let c = ShardedCluster::start(4, TABLES, |cfg| cfg.state_dir = Some(dir)).await?;
    c.g1.exec("SET GLOBAL gtid_domain_id = 1").await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop("CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")
        .await?;
    let values: Vec<String> = (1..=ROWS).map(|i| format!("({i}, {i})")).collect();
    conn.query_drop(format!(
        "INSERT INTO t (id, v) VALUES {}",
        values.join(", ")
    ))
    .await?;
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

/// The verify stops the target's replication connection, runs it until one position,
/// opens the target's snapshot there and resumes replication. A resume that came while
/// the run until that position was ending found it still running and did nothing, and
/// the connection then stopped for good: the next cut-over waited in vain (seen once in
/// `migration_load` on a loaded machine; the window is the moment between the target
/// applying the position and its replication threads stopping, so this test cannot force
/// it, only check after every round). Here the moved shard holds 5,000 more rows and its
/// last row changes all the time: every verify finds no difference, after each both
/// threads run, and the target keeps applying.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replication_runs_again_after_every_verify() -> Result<()> {
    let state = state_dir("resume");
    let (c, ids) = cluster(&state).await?;
    let shared = c.proxy.shared().clone();
    c.g0.exec(&format!(
        "INSERT INTO {DB}.t (id, v) SELECT seq, seq FROM {DB}.seq_10000001_to_10005000"
    ))
    .await?;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicI64::new(0));
    let load = writer(
        app_conn(&c.proxy, Some("shop")).await?,
        ids[0],
        stop.clone(),
        acked.clone(),
    );
    // The last chunk's row, written on the source directly: the compare reads it last.
    let mut direct = mysql_async::Conn::new(c.g0.opts("root", "", None)).await?;
    let last_row = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut n = 0i64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                direct
                    .query_drop(format!("UPDATE {DB}.t SET v = {n} WHERE id = 10005000"))
                    .await?;
            }
            anyhow::Ok(n)
        })
    };
    let pre = shared
        .preflight("shop", MOVED, "g1")
        .await
        .map_err(anyhow::Error::msg)?;
    let copied = shared
        .copy_snapshot(&pre, "g1")
        .await
        .map_err(anyhow::Error::msg)?;
    shared
        .start_replication(&pre, "g1", &copied.snapshot)
        .await
        .map_err(anyhow::Error::msg)?;
    let rounds = std::env::var("MIGRATION_VERIFY_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let mut stopped = Vec::new();
    for round in 0..rounds {
        let report = shared
            .verify_consistent(&pre, "g1", Duration::from_secs(10))
            .await
            .map_err(anyhow::Error::msg)?;
        assert!(report.differences.is_empty(), "{report:?}");
        // An UNTIL run ends within moments of reaching its position.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let status: Vec<mysql_async::Row> = c.g1.query("SHOW ALL SLAVES STATUS").await?;
        let row = status.first().context("the connection exists")?;
        let running = |column: &str| row.get::<String, _>(column).unwrap_or_default() == "Yes";
        if !(running("Slave_IO_Running") && running("Slave_SQL_Running")) {
            stopped.push(round);
        }
    }
    stop.store(true, Ordering::Relaxed);
    load.await?;
    let last_value = last_row.await??;
    assert!(
        stopped.is_empty(),
        "replication stopped after verify rounds {stopped:?}"
    );
    // The target applied the writer's last write.
    let last = acked.load(Ordering::Relaxed);
    let mut seen: Vec<i64> = Vec::new();
    for _ in 0..100 {
        seen =
            c.g1.query(&format!("SELECT v FROM {DB}.t WHERE id = {}", ids[0]))
                .await?;
        if seen == vec![last] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, vec![last], "g1 applies the writes after the verifies");
    let mut seen: Vec<i64> = Vec::new();
    for _ in 0..100 {
        seen =
            c.g1.query(&format!("SELECT v FROM {DB}.t WHERE id = 10005000"))
                .await?;
        if seen == vec![last_value] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, vec![last_value], "g1 applies the direct writes too");
    shared
        .remove_replication(DB, "g1")
        .await
        .map_err(anyhow::Error::msg)?;
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}
