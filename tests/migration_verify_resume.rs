//! The migration's verify before the cut-over leaves its replication connection running.
//! It runs the target `UNTIL` the source's position, which stops both of the connection's
//! threads once reached; resuming right then could find them still stopping (`START SLAVE`
//! is then a no-op) and leave replication stopped, so the cut-over never caught up ("did not
//! reach source position …; replication: Slave_IO_Running=No, Slave_SQL_Running=No").
//! Seen in tests/migration_process_kill.rs; here verified many times in a row under a writer,
//! each time followed by the target catching up with the source.

mod harness;

use anyhow::{Context, Result, ensure};
use harness::proxy::{ShardedCluster, app_conn};
use mysql_async::prelude::Queryable;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const TABLES: &[&str] = &["{name: t, shard_key: id}"];
const MOVED: u32 = 1;
const DB: &str = "shop_0001";
/// Verifies in a row (each a few tens of milliseconds).
const ROUNDS: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_runs_after_each_verify_before_the_cut_over() -> Result<()> {
    let state = std::env::temp_dir().join(format!("myshard-vresume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let dir = state.display().to_string();
    let c = ShardedCluster::start(4, TABLES, |cfg| cfg.state_dir = Some(dir)).await?;
    c.g1.exec("SET GLOBAL gtid_domain_id = 1").await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop("CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")
        .await?;
    // Ids ≡ 1 mod 4 are on shard 1.
    let values: Vec<String> = (0..50).map(|i| format!("({}, 0)", 4 * i + 1)).collect();
    conn.query_drop(format!("INSERT INTO t VALUES {}", values.join(", ")))
        .await?;
    let shared = c.proxy.shared().clone();
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
    let wait = |pos: &str| format!("SELECT MASTER_GTID_WAIT('{pos}', 10)");
    for round in 1..=ROUNDS {
        let report = shared
            .verify_consistent(&pre, "g1", Duration::from_secs(10))
            .await
            .map_err(anyhow::Error::msg)?;
        ensure!(report.differences.is_empty(), "{:?}", report.differences);
        // Replication still runs: the target reaches what the source logged since.
        let logged: Vec<String> = c.g0.query("SELECT @@gtid_binlog_pos").await?;
        let logged = logged.first().context("source position")?.clone();
        let reached: Vec<Option<i64>> = c.g1.query(&wait(&logged)).await?;
        if reached != [Some(0)] {
            let status: Vec<mysql_async::Row> =
                c.g1.query(&format!("SHOW SLAVE 'myshard_{DB}' STATUS"))
                    .await?;
            let threads: Vec<(Option<String>, Option<String>)> = status
                .iter()
                .map(|r| (r.get("Slave_IO_Running"), r.get("Slave_SQL_Running")))
                .collect();
            anyhow::bail!(
                "verify {round}: the target did not reach {logged} (threads {threads:?})"
            );
        }
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
