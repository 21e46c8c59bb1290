//! Shard migration under a continuous mixed load (issue 13, "Show it"): client tasks write
//! known values (text and prepared UPDATEs, INSERTs, two-statement transactions) and read
//! them back (text and prepared) on every shard, each against its own model of the rows,
//! while shards migrate between the groups, one of them back to where it came from.
//! Afterwards every acknowledged write is present exactly once and the table equals the
//! models; the clients saw no errors but the documented retryable ones (counted, printed).
//!
//! The size is small for CI; `MIGRATION_LOAD_CLIENTS`, `_ROWS` (per client), `_MOVES` and
//! `_SETTLE_MS` make it a bench (bench/migration.sh runs it with ≥ 20 moves and prints the
//! write hold and the latencies the clients saw).

mod harness;

use anyhow::{Context, Result};
use harness::MariaDb;
use harness::proxy::{
    ShardedCluster, app_conn, create_shard_databases, sharded_config, start_proxy,
};
use myshard_proxy::migration::{Bounds, Phase, journal};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Error};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const TABLES: &[&str] = &["{name: t, shard_key: id}"];
/// The order shards move in (each to the other group): the fifth move takes shard 1 back.
const ROTATION: [u32; 4] = [1, 2, 0, 3];

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The values a read of a row may find (`None`: no row): one after an acknowledged
/// write, more after writes whose outcome the client could not know (an error).
type Model = HashMap<i64, Vec<Option<i64>>>;

/// What one client did and saw.
#[derive(Default)]
struct Report {
    ops: u64,
    acked: u64,
    /// Documented retryable errors, by code.
    retryable: BTreeMap<u16, u64>,
    /// Anything else: errors not documented as retryable, reads that found a value the
    /// model does not allow.
    unexpected: Vec<String>,
    /// Latency of acknowledged writes, in milliseconds.
    write_ms: Vec<f64>,
    model: Model,
    /// The running operation, for messages.
    op: &'static str,
}

impl Report {
    /// Counts `e`; a write's outcome is unknown after it, so `ids` may hold `value` too.
    fn failed(&mut self, e: &Error, ids: &[i64], value: Option<i64>) {
        match e {
            // 1317: interrupted at a cut-over's drain; 1105/1180: the transaction was
            // rolled back because its shard moved (or its host changed) under it.
            Error::Server(s)
                if s.code == 1317
                    || (s.code == 1105 && s.message.contains("transaction"))
                    || (s.code == 1180 && s.message.contains("committed nowhere")) =>
            {
                *self.retryable.entry(s.code).or_default() += 1;
            }
            other => self.unexpected.push(format!("{}: {other}", self.op)),
        }
        for id in ids {
            let may = self.model.entry(*id).or_default();
            if !may.contains(&value) {
                may.push(value);
            }
        }
    }

    fn acked(&mut self, ids: &[i64], value: i64, started: Instant) {
        self.acked += 1;
        self.write_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        for id in ids {
            self.model.insert(*id, vec![Some(value)]);
        }
    }

    fn read(&mut self, id: i64, found: Option<i64>) {
        let may = self.model.entry(id).or_default();
        if may.contains(&found) {
            *may = vec![found];
        } else {
            self.unexpected.push(format!(
                "row {id} read as {found:?}, the model allows {may:?}"
            ));
        }
    }
}

/// The operations, by number.
const OPS: [&str; 6] = [
    "text update",
    "prepared update",
    "text read",
    "prepared read",
    "transaction",
    "prepared insert",
];

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// One client: random operations on its own rows (`by_shard`: its ids per shard) until
/// `stop`; new rows get ids from `first_new` on.
async fn client(
    mut conn: Conn,
    seed: u64,
    by_shard: Vec<Vec<i64>>,
    first_new: i64,
    stop: Arc<AtomicBool>,
) -> Report {
    let mut r = Report::default();
    for id in by_shard.iter().flatten() {
        r.model.insert(*id, vec![Some(*id)]);
    }
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let (mut value, mut next_new) = (seed as i64 * 1_000_000_000, first_new);
    while !stop.load(Ordering::Relaxed) {
        r.ops += 1;
        value += 1;
        let ids = &by_shard[rng.below(by_shard.len())];
        let id = ids[rng.below(ids.len())];
        let started = Instant::now();
        let op = rng.below(6);
        r.op = OPS[op];
        match op {
            0 => match conn
                .query_drop(format!("UPDATE t SET v = {value} WHERE id = {id}"))
                .await
            {
                Ok(()) => r.acked(&[id], value, started),
                Err(e) => r.failed(&e, &[id], Some(value)),
            },
            1 => match conn
                .exec_drop("UPDATE t SET v = ? WHERE id = ?", (value, id))
                .await
            {
                Ok(()) => r.acked(&[id], value, started),
                Err(e) => r.failed(&e, &[id], Some(value)),
            },
            2 => match conn
                .query_first::<Option<i64>, _>(format!("SELECT v FROM t WHERE id = {id}"))
                .await
            {
                Ok(v) => r.read(id, v.flatten()),
                Err(e) => r.failed(&e, &[], None),
            },
            3 => match conn
                .exec_first::<Option<i64>, _, _>("SELECT v FROM t WHERE id = ?", (id,))
                .await
            {
                Ok(v) => r.read(id, v.flatten()),
                Err(e) => r.failed(&e, &[], None),
            },
            4 => {
                // Two rows of one shard, one prepared and one text statement.
                let other = ids[rng.below(ids.len())];
                let pair = [id, other];
                let tx = async {
                    conn.query_drop("BEGIN").await?;
                    conn.exec_drop("UPDATE t SET v = ? WHERE id = ?", (value, id))
                        .await?;
                    conn.query_drop(format!("UPDATE t SET v = {value} WHERE id = {other}"))
                        .await?;
                    conn.query_drop("COMMIT").await
                };
                match tx.await {
                    Ok(()) => r.acked(&pair, value, started),
                    Err(e) => {
                        r.failed(&e, &pair, Some(value));
                        if let Err(e) = conn.query_drop("ROLLBACK").await {
                            r.unexpected.push(format!("ROLLBACK after a failure: {e}"));
                        }
                    }
                }
            }
            _ => {
                let id = next_new;
                next_new += 1;
                match conn
                    .exec_drop("INSERT INTO t (id, v) VALUES (?, ?)", (id, value))
                    .await
                {
                    Ok(()) => r.acked(&[id], value, started),
                    Err(e) => {
                        r.model.insert(id, vec![None]);
                        r.failed(&e, &[id], Some(value));
                    }
                }
            }
        }
    }
    r
}

/// p50 / p99 / max of `v`.
fn quantiles(mut v: Vec<f64>) -> String {
    if v.is_empty() {
        return "none".into();
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (n = {})",
        at(0.5),
        at(0.99),
        at(1.0),
        v.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shards_migrate_under_a_mixed_load_without_losing_a_write() -> Result<()> {
    let clients = env("MIGRATION_LOAD_CLIENTS", 4) as i64;
    let rows = env("MIGRATION_LOAD_ROWS", 40) as i64;
    let moves = env("MIGRATION_LOAD_MOVES", 5) as usize;
    let settle = Duration::from_millis(env("MIGRATION_LOAD_SETTLE_MS", 300));
    let state = std::env::temp_dir().join(format!("myshard-migration-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let dir = state.display().to_string();
    // Each group writes its own GTID domain from its first event on (a domain set later
    // leaves sessions opened before writing the old one).
    let g0 = MariaDb::start().await?;
    let g1 = MariaDb::start_with_args(&["--gtid-domain-id=1"]).await?;
    let mut config = sharded_config(&g0, &g1, 4, TABLES);
    config.state_dir = Some(dir);
    create_shard_databases(&config, &[&g0, &g1]).await?;
    let proxy = start_proxy(config).await?;
    let c = ShardedCluster { g0, g1, proxy };
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop("CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")
        .await?;
    // Client k owns ids k·10⁹ + 1 … + rows (v = id) and inserts from k·10⁹ + 10⁶ on.
    let owned = |k: i64| (1..=rows).map(move |i| k * 1_000_000_000 + i);
    for k in 0..clients {
        let values: Vec<String> = owned(k).map(|i| format!("({i}, {i})")).collect();
        conn.query_drop(format!(
            "INSERT INTO t (id, v) VALUES {}",
            values.join(", ")
        ))
        .await?;
    }
    // Which shard each row is on (for transactions within one shard).
    let shared = c.proxy.shared().clone();
    let mut shard_of = HashMap::new();
    for shard in 0..4u32 {
        let db = format!("shop_{shard:04}");
        let server = if shard < 2 { &c.g0 } else { &c.g1 };
        let ids: Vec<i64> = server.query(&format!("SELECT id FROM {db}.t")).await?;
        shard_of.extend(ids.into_iter().map(|id| (id, shard)));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for k in 0..clients {
        let mut by_shard: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
        for id in owned(k) {
            by_shard.entry(shard_of[&id]).or_default().push(id);
        }
        let conn = app_conn(&c.proxy, Some("shop")).await?;
        let by_shard = by_shard.into_values().collect();
        let first_new = k * 1_000_000_000 + 1_000_000;
        tasks.push(tokio::spawn(client(
            conn,
            k as u64 + 1,
            by_shard,
            first_new,
            stop.clone(),
        )));
    }

    let started = Instant::now();
    let mut holds = Vec::new();
    for i in 0..moves {
        tokio::time::sleep(settle).await;
        let shard = ROTATION[i % ROTATION.len()];
        let table = shared.table();
        let from = table
            .topology
            .group_of("shop", shard)
            .context("placed")?
            .to_string();
        let to = if from == "g0" { "g1" } else { "g0" };
        // The shard's previous migration left the old copy on `to`: drop it (cleanup
        // needs a verify, which cannot pass while the shard takes writes on the target).
        let config = shared.config();
        for m in journal::migrations(&config).map_err(anyhow::Error::msg)? {
            if m.shard == shard && matches!(m.phase, Phase::CutOver | Phase::Verified) {
                let old = if m.from == "g0" { &c.g0 } else { &c.g1 };
                old.exec(&format!("DROP DATABASE shop_{shard:04}")).await?;
                journal::record(&config, m.id, Phase::CleanedUp, None)
                    .map_err(anyhow::Error::msg)?;
            }
        }
        let m = shared
            .migrate("shop", shard, to, Bounds::default())
            .await
            .map_err(anyhow::Error::msg)?;
        assert_eq!((m.phase, m.from.as_str()), (Phase::CutOver, from.as_str()));
        holds.push(m.hold_ms.unwrap_or_default() as f64);
    }
    tokio::time::sleep(settle).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let mut all = Report::default();
    for t in tasks {
        let r = t.await?;
        assert!(r.acked > 0, "every client got writes acknowledged");
        all.ops += r.ops;
        all.acked += r.acked;
        for (code, n) in r.retryable {
            *all.retryable.entry(code).or_default() += n;
        }
        all.unexpected.extend(r.unexpected);
        all.write_ms.extend(r.write_ms);
        all.model.extend(r.model);
    }
    println!(
        "load: {clients} clients, {} ops ({:.0}/s), {} acknowledged writes, {moves} cut-overs \
         in {:.1} s",
        all.ops,
        all.ops as f64 / elapsed.as_secs_f64(),
        all.acked,
        elapsed.as_secs_f64()
    );
    println!("retryable errors by code: {:?}", all.retryable);
    println!("cut-over write hold: {}", quantiles(holds));
    println!("client write latency: {}", quantiles(all.write_ms.clone()));
    assert!(
        all.unexpected.is_empty(),
        "{} unexpected: {:?}",
        all.unexpected.len(),
        &all.unexpected[..all.unexpected.len().min(20)]
    );

    // Every row once, as the models say, read through the proxy and from the groups the
    // placement names.
    let found: Vec<(i64, i64)> = conn.query("SELECT id, v FROM t").await?;
    let mut table: HashMap<i64, i64> = HashMap::new();
    for (id, v) in &found {
        assert!(table.insert(*id, *v).is_none(), "row {id} found twice");
    }
    for (id, may) in &all.model {
        let got = table.get(id).copied();
        assert!(
            may.contains(&got),
            "row {id} is {got:?}, the model allows {may:?}"
        );
    }
    for id in table.keys() {
        assert!(all.model.contains_key(id), "row {id} was never written");
    }
    let placed = shared.table();
    let mut direct = 0usize;
    for shard in 0..4u32 {
        let group = placed.topology.group_of("shop", shard).context("placed")?;
        let server = if group == "g0" { &c.g0 } else { &c.g1 };
        let n: Vec<i64> = server
            .query(&format!("SELECT COUNT(*) FROM shop_{shard:04}.t"))
            .await?;
        direct += n.first().copied().unwrap_or_default() as usize;
    }
    assert_eq!(direct, found.len(), "the groups hold what the proxy reads");
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}
