//! The migration's verify before the cut-over leaves its replication connection running.
//! It runs the target `UNTIL` the source's position, which stops both of the connection's
//! threads on their own once reached; resuming with a bare `START SLAVE` while they were
//! still running did nothing, so replication stayed stopped and the cut-over never caught
//! up ("did not reach source position …; replication: Slave_IO_Running=No,
//! Slave_SQL_Running=No", about one verify in 30, seen in tests/migration_process_kill.rs).
//!
//! The race is made certain here: the connection runs `UNTIL` a position a few
//! transactions ahead (its threads running, bound to stop) when the verify's resume step
//! (`Shared::resume_replication`) restarts it; the target must then follow the source past
//! that position. Then verifies in a row under a writer, each followed by the target
//! catching up.

mod harness;

use anyhow::{Context, Result, ensure};
use harness::migration;
use harness::proxy::{ShardedCluster, app_conn};
use mysql_async::prelude::Queryable;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const MOVED: u32 = 1;
const DB: &str = "shop_0001";
const CONNECTION: &str = "myshard_shop_0001";
/// Verifies in a row under the writer.
const ROUNDS: usize = 10;

/// A cluster whose shard `MOVED` (50 rows, ids ≡ 1 mod 4) is copied to g1 and replicated
/// there by the migration's connection.
async fn replicating(
    state: &std::path::Path,
) -> Result<(ShardedCluster, myshard_proxy::migration::Preflight)> {
    let c = migration::cluster(state, |_| {}).await?;
    migration::create_t(&c, (0..50).map(|i| (4 * i + 1, 0))).await?;
    let (pre, _) = migration::replicating(&c, MOVED).await?;
    Ok((c, pre))
}

/// Whether g1 applies everything g0 logged so far within 10 s; else the connection's
/// thread states, for the message.
async fn caught_up(c: &ShardedCluster) -> Result<Result<(), String>> {
    let logged: Vec<String> = c.g0.query("SELECT @@gtid_binlog_pos").await?;
    let logged = logged.first().context("source position")?.clone();
    let reached: Vec<Option<i64>> =
        c.g1.query(&format!("SELECT MASTER_GTID_WAIT('{logged}', 10)"))
            .await?;
    if reached == [Some(0)] {
        return Ok(Ok(()));
    }
    let status: Vec<mysql_async::Row> =
        c.g1.query(&format!("SHOW SLAVE '{CONNECTION}' STATUS"))
            .await?;
    let threads: Vec<(Option<String>, Option<String>)> = status
        .iter()
        .map(|r| (r.get("Slave_IO_Running"), r.get("Slave_SQL_Running")))
        .collect();
    Ok(Err(format!(
        "the target did not reach {logged} (IO and SQL threads running: {threads:?})"
    )))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_replication_clears_an_until_run_still_going() -> Result<()> {
    let state = std::env::temp_dir().join(format!("myshard-vresume-a-{}", std::process::id()));
    let (c, pre) = replicating(&state).await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop("UPDATE t SET v = 1 WHERE id = 1").await?;
    caught_up(&c).await?.map_err(anyhow::Error::msg)?;

    // As the verify leaves it just before resuming: an UNTIL run whose threads have not
    // stopped yet (here: three source transactions short of its position).
    let logged: Vec<(u32, u32, u64)> =
        c.g0.query(
            "SELECT @@gtid_domain_id, @@server_id, \
             CAST(SUBSTRING_INDEX(@@gtid_binlog_pos, '-', -1) AS UNSIGNED)",
        )
        .await?;
    let (domain, server, seq) = logged.first().copied().context("source position")?;
    c.g1.exec(&format!("STOP SLAVE '{CONNECTION}'")).await?;
    c.g1.exec(&format!(
        "START SLAVE '{CONNECTION}' UNTIL master_gtid_pos = '{domain}-{server}-{}'",
        seq + 3
    ))
    .await?;
    c.proxy
        .shared()
        .resume_replication(&pre.database, "g1")
        .await
        .map_err(anyhow::Error::msg)?;
    for n in 2..=12 {
        conn.query_drop(format!("UPDATE t SET v = {n} WHERE id = 1"))
            .await?;
    }
    caught_up(&c)
        .await?
        .map_err(|e| anyhow::anyhow!("after resuming an UNTIL run: {e}"))?;
    let v: Vec<i64> =
        c.g1.query(&format!("SELECT v FROM {DB}.t WHERE id = 1"))
            .await?;
    ensure!(v == [12], "the target has the last write: {v:?}");
    c.proxy
        .shared()
        .remove_replication(DB, "g1")
        .await
        .map_err(anyhow::Error::msg)?;
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_runs_after_each_verify_before_the_cut_over() -> Result<()> {
    let state = std::env::temp_dir().join(format!("myshard-vresume-b-{}", std::process::id()));
    let (c, pre) = replicating(&state).await?;
    let shared = c.proxy.shared().clone();
    let stop = Arc::new(AtomicBool::new(false));
    let writing = {
        let stop = stop.clone();
        let mut conn = app_conn(&c.proxy, Some("shop")).await?;
        tokio::spawn(async move {
            let mut n = 0i64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let id = 4 * (n % 50) + 1;
                conn.query_drop(format!("UPDATE t SET v = {n} WHERE id = {id}"))
                    .await?;
            }
            Ok::<_, mysql_async::Error>(n)
        })
    };
    for round in 1..=ROUNDS {
        let report = shared
            .verify_consistent(&pre, "g1", Duration::from_secs(10))
            .await
            .map_err(anyhow::Error::msg)?;
        ensure!(report.differences.is_empty(), "{:?}", report.differences);
        // Replication still runs: the target reaches what the source logged since.
        caught_up(&c)
            .await?
            .map_err(|e| anyhow::anyhow!("verify {round}: {e}"))?;
    }
    stop.store(true, Ordering::Relaxed);
    let writes = writing.await??;
    ensure!(writes > 0, "the writer wrote");
    shared
        .remove_replication(DB, "g1")
        .await
        .map_err(anyhow::Error::msg)?;
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}
