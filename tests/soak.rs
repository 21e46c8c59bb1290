//! The soak (issue 8): concurrent clients send random statements through the `myshard`
//! binary for `MYSHARD_SOAK_SECS` seconds — point reads, scatter reads with ORDER BY /
//! LIMIT and GROUP BY / aggregates, transactions, SQL PREPARE / EXECUTE, binary prepared
//! statements, inserts, updates and deletes — while faults hit them: client-side timeouts
//! that drop the socket mid-statement, raw clients hanging up in the middle of a big result,
//! and `KILL` / `KILL QUERY` of random clients from another connection.
//!
//! Every answer is classified as right (equal to what one plain MariaDB holding the same
//! data answers), an explicit error (counted per errno), a deliberate timeout, a stall (no
//! answer within `MYSHARD_SOAK_STALL_MS`) or WRONG. The run fails on any WRONG answer or
//! stall, when the proxy process died, when fewer than half of the answers were right, when
//! the proxy's backend connections are not all idle (Command = Sleep, no open InnoDB
//! transaction, at most the pool maximum per host) shortly after the clients closed, or —
//! when `MYSHARD_SOAK_ASSERT_RSS` is on (by default from five minutes up) — when the
//! proxy's RSS after the clients closed exceeds its RSS after warm-up by more than 10 %.
//!
//! CI runs it for 25 s (debug build); `bench/soak.sh` runs the ten-minute release soak.
//! Knobs: see `soak::knobs` (`MYSHARD_SOAK_*`); the report names them all.

mod harness;
#[path = "soak/mod.rs"]
mod soak;

use anyhow::{Result, bail};
use soak::cluster::{Cluster, backend_state};
use soak::data;
use soak::faults::killer;
use soak::knobs::Knobs;
use soak::report::Tally;
use soak::workload::{Client, Shared};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long the backends may take to become idle after the clients closed (a statement a
/// timed-out client left behind may still be sleeping on a backend).
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The least share of right answers: a proxy answering everything with an error must not
/// pass.
const MIN_RIGHT_SHARE: f64 = 0.5;
/// How far the end RSS may exceed the RSS after warm-up.
const RSS_GROWTH: f64 = 0.10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_answers_right_or_errors_and_leaves_nothing_behind() -> Result<()> {
    let knobs = Knobs::from_env();
    let started = Instant::now();
    let cluster = Cluster::start(knobs.pool_max).await?;
    let mut proxy_conn = mysql_async::Conn::new(cluster.proxy.opts()).await?;
    let mut reference_conn = cluster.reference_conn().await?;
    data::load(&mut proxy_conn, &mut reference_conn, knobs.seed).await?;
    proxy_conn.disconnect().await?;
    let loaded = started.elapsed();

    let shared = Arc::new(Shared {
        knobs: knobs.clone(),
        opts: cluster.proxy.opts(),
        addr: cluster.proxy.addr,
        victims: Arc::new((0..knobs.clients).map(|_| AtomicU32::new(0)).collect()),
        stop: AtomicBool::new(false),
        quiet: AtomicBool::new(false),
    });
    let mut clients = tokio::task::JoinSet::new();
    for index in 0..knobs.clients {
        let client = Client::new(index, shared.clone(), cluster.reference_conn().await?);
        clients.spawn(client.run());
    }
    let killer_stop = Arc::new(AtomicBool::new(false));
    let killer_task = knobs.kill.then(|| {
        tokio::spawn(killer(
            cluster.proxy.opts(),
            shared.victims.clone(),
            killer_stop.clone(),
            knobs.kill_every,
            knobs.seed ^ 0x6b69_6c6c,
            knobs.stall,
        ))
    });

    // Warm-up: the full mix, so pools, caches and the allocator reach their working size
    // before the RSS the end is compared with is taken.
    let run_for = Duration::from_secs(knobs.secs);
    let warm_up = (run_for / 10).clamp(Duration::from_secs(3), Duration::from_secs(60));
    let run_started = Instant::now();
    tokio::time::sleep(warm_up.min(run_for)).await;
    let (rss_start, _) = cluster.proxy.rss_kib()?;
    // RSS along the run (ten samples): a steady climb is a leak, a plateau is warm-up.
    let mut rss_series = vec![(run_started.elapsed(), rss_start)];
    let sample_every = (run_for / 10).max(Duration::from_secs(1));
    while run_started.elapsed() < run_for {
        tokio::time::sleep(sample_every.min(run_for.saturating_sub(run_started.elapsed()))).await;
        rss_series.push((run_started.elapsed(), cluster.proxy.rss_kib()?.0));
    }

    shared.stop.store(true, Ordering::Relaxed);
    killer_stop.store(true, Ordering::Relaxed);
    let mut tally = Tally::default();
    if let Some(task) = killer_task {
        tally.merge(task.await?);
    }
    shared.quiet.store(true, Ordering::Relaxed);
    let mut client_failures = Vec::new();
    while let Some(joined) = clients.join_next().await {
        match joined? {
            Ok(t) => tally.merge(t),
            Err(e) => client_failures.push(format!("{e:#}")),
        }
    }
    let ran = run_started.elapsed();

    // The static rows must be untouched, through the proxy as on the reference.
    let static_check = tokio::time::timeout(knobs.stall, async {
        let mut proxy_conn = mysql_async::Conn::new(cluster.proxy.opts()).await?;
        data::check_static(&mut proxy_conn, &mut reference_conn).await?;
        proxy_conn.disconnect().await?;
        anyhow::Ok(())
    })
    .await
    .unwrap_or_else(|_| bail!("the static rows could not be read through the proxy in time"))
    .map_err(|e| e.context("checking the static rows after the run"));

    // The proxy's backend connections: idle and within the pools, once any statement a
    // timed-out client left behind has finished.
    let idle_since = Instant::now();
    let mut states;
    loop {
        states = [
            backend_state(&cluster.g0).await?,
            backend_state(&cluster.g1).await?,
        ];
        if states.iter().all(|s| s.idle()) || idle_since.elapsed() > IDLE_TIMEOUT {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let idle_after = idle_since.elapsed();
    // Let the proxy free what the closed sessions held before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut proxy = cluster.proxy;
    let alive = proxy.is_running();
    let (rss_end, rss_peak) = if alive { proxy.rss_kib()? } else { (0, 0) };

    let total = tally.total();
    let answers = total.right + total.errors + total.timeouts + total.stalls + total.wrong;
    println!("soak report");
    println!("  knobs: {}", knobs.describe());
    println!(
        "  {} clients for {:.1} s after {:.1} s of set-up (16 shards on 2 groups, {} static users); \
         {answers} answers, {:.0} per second",
        knobs.clients,
        ran.as_secs_f64(),
        loaded.as_secs_f64(),
        data::STATIC_USERS,
        answers as f64 / ran.as_secs_f64().max(0.001)
    );
    tally.print();
    println!(
        "  proxy RSS: {rss_start} KiB after {:.0} s of warm-up, {rss_end} KiB at the end ({:+.1} %), peak {rss_peak} KiB",
        warm_up.as_secs_f64(),
        (rss_end as f64 / rss_start.max(1) as f64 - 1.0) * 100.0
    );
    let series: Vec<String> = rss_series
        .iter()
        .map(|(at, kib)| format!("{:.0} s {} MiB", at.as_secs_f64(), kib / 1024))
        .collect();
    println!("  proxy RSS during the run: {}", series.join(", "));
    for (name, s) in ["g0", "g1"].iter().zip(&states) {
        println!(
            "  backends of {name} {:.1} s after the clients closed: {} (pool max {})",
            idle_after.as_secs_f64(),
            s.describe(),
            knobs.pool_max
        );
    }

    let mut failures = Vec::new();
    if !alive {
        failures.push(format!(
            "the proxy process died; its log:\n{}",
            proxy.log_tail()
        ));
    }
    failures.extend(client_failures);
    if let Err(e) = static_check {
        failures.push(format!("{e:#}"));
    }
    if total.wrong > 0 {
        failures.push(format!(
            "{} WRONG answer(s):\n{}",
            total.wrong,
            tally.wrong.join("\n\n")
        ));
    }
    if total.stalls > 0 {
        failures.push(format!(
            "{} stall(s):\n{}",
            total.stalls,
            tally.stalls.join("\n")
        ));
    }
    if (total.right as f64) < MIN_RIGHT_SHARE * answers as f64 {
        failures.push(format!(
            "only {} of {answers} answers were right (at least {:.0} % must be)",
            total.right,
            MIN_RIGHT_SHARE * 100.0
        ));
    }
    for (name, s) in ["g0", "g1"].iter().zip(&states) {
        if !s.idle() || s.connections.len() > knobs.pool_max as usize {
            failures.push(format!(
                "backends of {name} not idle and accounted for {IDLE_TIMEOUT:?} after the clients closed: {}",
                s.describe()
            ));
        }
    }
    if knobs.assert_rss && alive && rss_end as f64 > rss_start as f64 * (1.0 + RSS_GROWTH) {
        failures.push(format!(
            "the proxy's RSS grew from {rss_start} KiB after warm-up to {rss_end} KiB (more than {:.0} %)",
            RSS_GROWTH * 100.0
        ));
    }
    if !failures.is_empty() {
        bail!(
            "the soak failed (rerun with: {}):\n{}",
            knobs.describe(),
            failures.join("\n\n")
        );
    }
    Ok(())
}
