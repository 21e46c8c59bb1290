//! Copy speed of a shard migration (issue 13), run by bench/migration_copy.sh: one shard
//! loaded with sysbench-like rows (about 250 bytes each, generated on the server with
//! `INSERT … SELECT` from the sequence engine), migrated while a light read/write load runs
//! on every shard; prints the copy phase's rows/s and MB/s (its own timing, from the
//! migration's progress) and the load's latency before and during the migration.
//! The same path runs tiny in CI (`copy_bench_tiny`), so the bench cannot rot.

mod harness;

use anyhow::{Context, Result};
use harness::proxy::{ShardedCluster, app_conn};
use myshard_proxy::migration::{Bounds, Phase, progress};
use mysql_async::prelude::Queryable;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const TABLES: &[&str] = &["{name: sbtest, shard_key: id}", "{name: kv, shard_key: id}"];
/// The shard loaded and moved (on g0).
const MOVED: u32 = 1;
/// Rows of the small table the load reads and writes.
const KV_ROWS: i64 = 1000;

/// What one bench run measured.
struct Measured {
    /// Rows copied (every table of the shard: `sbtest` and the load's `kv` rows there).
    rows: u64,
    /// Rows the shard holds.
    shard_rows: u64,
    bytes: u64,
    data_mb: f64,
    copy_ms: u64,
    migrate_ms: u128,
    hold_ms: u64,
    before: Vec<f64>,
    during: Vec<f64>,
    load_errors: u64,
}

fn quantile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// One client reading and writing `kv` rows by key (every shard), a pause between
/// operations; latencies (ms) are pushed to the current phase's list.
fn start_load(
    mut conn: mysql_async::Conn,
    during: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(Vec<f64>, Vec<f64>, u64)> {
    tokio::spawn(async move {
        let (mut before, mut while_moving, mut errors) = (Vec::new(), Vec::new(), 0u64);
        let mut i: i64 = 0;
        while !stop.load(Ordering::Relaxed) {
            i += 1;
            let id = i * 7919 % KV_ROWS + 1;
            let t = Instant::now();
            let r = if i % 4 == 0 {
                conn.exec_drop("UPDATE kv SET v = v + 1 WHERE id = ?", (id,))
                    .await
            } else {
                conn.exec_first::<i64, _, _>("SELECT v FROM kv WHERE id = ?", (id,))
                    .await
                    .map(|_| ())
            };
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            match r {
                Ok(()) if during.load(Ordering::Relaxed) => while_moving.push(ms),
                Ok(()) => before.push(ms),
                Err(_) => errors += 1,
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (before, while_moving, errors)
    })
}

async fn run(rows: u64, baseline: Duration) -> Result<Measured> {
    let state = std::env::temp_dir().join(format!("myshard-copy-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let dir = state.display().to_string();
    let c = ShardedCluster::start(4, TABLES, |cfg| cfg.state_dir = Some(dir)).await?;
    c.g1.exec("SET GLOBAL gtid_domain_id = 1").await?;
    if rows > 100_000 {
        // The harness's servers are sized for tests; a 1 GB shard needs a real buffer pool.
        for g in [&c.g0, &c.g1] {
            g.exec("SET GLOBAL innodb_buffer_pool_size = 1024 * 1024 * 1024")
                .await?;
        }
    }
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop(
        "CREATE TABLE sbtest (id BIGINT PRIMARY KEY, k INT NOT NULL, c VARCHAR(160) NOT NULL, \
         pad CHAR(60) NOT NULL, KEY k_1 (k))",
    )
    .await?;
    conn.query_drop("CREATE TABLE kv (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")
        .await?;
    let kv: Vec<String> = (1..=KV_ROWS).map(|i| format!("({i}, 0)")).collect();
    conn.query_drop(format!("INSERT INTO kv VALUES {}", kv.join(", ")))
        .await?;
    // Straight into the shard's database on g0, in batches of at most 500 000 rows.
    let db = format!("shop_{MOVED:04}");
    // The bulk load stays out of g0's binary log (disk: the copy reads a snapshot and
    // replication starts after it, so it never needs those events).
    let mut from = 1u64;
    while from <= rows {
        let to = (from + 499_999).min(rows);
        c.g0.exec(&format!(
            "SET SESSION sql_log_bin = 0; INSERT INTO {db}.sbtest SELECT seq, seq % 100003, \
             CONCAT(LPAD(seq, 20, '0'), '-', REPEAT(SHA1(seq), 3), '-', LEFT(SHA1(seq + 1), 17)), \
             REPEAT(CHAR(97 + seq % 26), 60) FROM {db}.seq_{from}_to_{to}"
        ))
        .await?;
        from = to + 1;
    }
    c.g0.exec(&format!("ANALYZE TABLE {db}.sbtest")).await?;
    let size: Vec<(u64, u64)> =
        c.g0.query(&format!(
            "SELECT CAST(DATA_LENGTH AS UNSIGNED), CAST(AVG_ROW_LENGTH AS UNSIGNED) \
             FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = 'sbtest'"
        ))
        .await?;
    let (data, _avg) = size.first().copied().unwrap_or((0, 0));
    let kv_here: Vec<u64> = c.g0.query(&format!("SELECT COUNT(*) FROM {db}.kv")).await?;
    let shard_rows = rows + kv_here.first().copied().unwrap_or(0);

    let (during, stop) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let load = start_load(
        app_conn(&c.proxy, Some("shop")).await?,
        during.clone(),
        stop.clone(),
    );
    tokio::time::sleep(baseline).await;
    during.store(true, Ordering::Relaxed);
    let shared = c.proxy.shared().clone();
    let t = Instant::now();
    let m = shared
        .migrate("shop", MOVED, "g1", Bounds::default())
        .await
        .map_err(anyhow::Error::msg)?;
    let migrate_ms = t.elapsed().as_millis();
    stop.store(true, Ordering::Relaxed);
    let (before, while_moving, load_errors) = load.await?;
    anyhow::ensure!(m.phase == Phase::CutOver, "{m:?}");
    let p = progress::of(&db).context("progress of the copy")?;
    let moved: Vec<u64> =
        c.g1.query(&format!("SELECT COUNT(*) FROM {db}.sbtest"))
            .await?;
    anyhow::ensure!(moved == vec![rows], "every row copied: {moved:?} of {rows}");
    let _ = std::fs::remove_dir_all(&state);
    Ok(Measured {
        rows: p.rows_copied,
        shard_rows,
        bytes: p.bytes_copied,
        data_mb: data as f64 / 1e6,
        copy_ms: p.copy_ms.context("copy finished")?,
        migrate_ms,
        hold_ms: m.hold_ms.unwrap_or(0),
        before,
        during: while_moving,
        load_errors,
    })
}

fn report(mut m: Measured) {
    let secs = m.copy_ms.max(1) as f64 / 1000.0;
    println!(
        "shard: {} rows, {:.0} MB InnoDB data; copied as {:.0} MB of SQL text",
        m.rows,
        m.data_mb,
        m.bytes as f64 / 1e6
    );
    println!(
        "copy phase: {:.1} s = {:.0} rows/s, {:.1} MB/s (InnoDB data), {:.1} MB/s (SQL text); \
         whole migrate {:.1} s, write hold {} ms",
        secs,
        m.rows as f64 / secs,
        m.data_mb / secs,
        m.bytes as f64 / 1e6 / secs,
        m.migrate_ms as f64 / 1000.0,
        m.hold_ms
    );
    for (name, v) in [("before", &mut m.before), ("during", &mut m.during)] {
        let n = v.len();
        println!(
            "load latency {name} the migration: n={n} p50={:.2} ms p99={:.2} ms",
            quantile(v, 0.5),
            quantile(v, 0.99)
        );
    }
    println!("load errors: {}", m.load_errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copy_bench_tiny() -> Result<()> {
    let m = run(3_000, Duration::from_millis(300)).await?;
    assert_eq!(m.rows, m.shard_rows, "the progress counts every row");
    assert!(m.shard_rows > 3_000, "sbtest and kv rows: {}", m.shard_rows);
    assert!(m.bytes > 3_000 * 200, "about 250 bytes a row: {}", m.bytes);
    assert!(
        !m.before.is_empty() && !m.during.is_empty(),
        "the load ran before and during"
    );
    assert_eq!(m.load_errors, 0, "the load saw no error");
    report(m);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "bench: run by bench/migration_copy.sh"]
async fn copy_bench() -> Result<()> {
    let rows: u64 = std::env::var("COPY_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4_000_000);
    report(run(rows, Duration::from_secs(10)).await?);
    Ok(())
}
