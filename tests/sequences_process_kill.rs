//! Global sequences under SIGKILL of the real `myshard` process (two MariaDB groups, 8
//! shards): clients insert rows that leave the key to the sequence (text and prepared,
//! single and multi-row) while the proxy is killed and restarted on the same configuration;
//! they reconnect and go on. Afterwards, read from every shard's physical table: no id twice
//! and no client ever saw error 1062, every row on the shard its id names, every
//! acknowledged insert present once.
//!
//! Segment sequence (`block_size: 6`, so a reservation runs every few inserts): three kills,
//! the second while a block reservation is in flight (the sequence row is locked from
//! outside, as another proxy's reservation would, so the proxy's background refill waits on
//! it). What the product promises — a new block starts past every block ever reserved — is
//! asserted exactly: every id handed out by a process is greater than every id of the
//! processes before it. The numbers left in a dead process's block are a gap (allowed).
//!
//! Time sequence: one kill and an immediate restart; no id is handed out twice (only that;
//! ids across a restart are increasing only as far as the clock is, see the README).

mod harness;

use anyhow::{Context, Result, bail, ensure};
use harness::MariaDb;
use harness::process::{MyshardBinary, RunningMyshard};
use myshard_router::hash::{KeyType, KeyValue, shard_of};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Params, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SHARDS: u32 = 8;
/// The time sequence's epoch.
const EPOCH_MS: u64 = 1_704_067_200_000;
/// Concurrent clients.
const CLIENTS: u64 = 6;
/// Acknowledged inserts each process serves before it may be killed.
const ACKS_PER_PROCESS: u64 = 60;
/// A statement that takes longer than this hangs (a failure, not the kill).
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(20);

/// A number below `n` from the clock's nanoseconds: enough to spread the kills.
fn random_below(n: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    u64::from(nanos) % n.max(1)
}

/// The servers, and the binary with its configuration.
struct Setup {
    servers: [MariaDb; 2],
    binary: MyshardBinary,
    port: u16,
}

impl Setup {
    /// Two servers with `shop_0000`…`shop_0007` (the first half on g0) each holding the
    /// tables `orders` (segment sequence) and `events` (time sequence), and a configuration
    /// with a state directory.
    async fn new() -> Result<Setup> {
        let binary = MyshardBinary::new()?;
        let [g0, g1]: [MariaDb; 2] = MariaDb::start_many(2)
            .await?
            .try_into()
            .map_err(|_| anyhow::anyhow!("two servers"))?;
        for s in 0..SHARDS {
            let db = if s < SHARDS / 2 { &g0 } else { &g1 };
            db.exec(&format!("CREATE DATABASE shop_{s:04}")).await?;
            for table in ["orders", "events"] {
                db.exec(&format!(
                    "CREATE TABLE shop_{s:04}.{table} (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, \
                     note VARCHAR(64) NOT NULL) ENGINE=InnoDB"
                ))
                .await?;
            }
        }
        let port = binary.port();
        let group = |i: usize, db: &MariaDb| {
            format!(
                "  - {{name: g{i}, user: {}, password: {}, write_hosts: ['{}'], pool: {{max: 32}}, \
                 heartbeat: {{enabled: false}}}}\n",
                harness::MYSHARD_USER,
                harness::MYSHARD_PASSWORD,
                db.addr()
            )
        };
        let config = format!(
            "listen: 127.0.0.1:{port}\nstate_dir: '{}'\nproxy_id: seq-kill\n\
             users:\n  - {{name: {}, password: {}, schemas: ['*']}}\n\
             groups:\n{}{}\
             schemas:\n  - name: shop\n    shards: {SHARDS}\n    \
             placement: [{{group: g0, shards: '0-{}'}}, {{group: g1, shards: '{}-{}'}}]\n    \
             tables:\n      \
             - {{name: orders, shard_key: id, sequence: {{column: id, kind: segment, block_size: 6}}}}\n      \
             - {{name: events, shard_key: id, sequence: {{column: id, kind: time, instance_id: 7, epoch_ms: {EPOCH_MS}}}}}\n",
            binary.state_dir().display(),
            harness::proxy::APP_USER,
            harness::proxy::APP_PASSWORD,
            group(0, &g0),
            group(1, &g1),
            SHARDS / 2 - 1,
            SHARDS / 2,
            SHARDS - 1,
        );
        binary.write_config(&config)?;
        Ok(Setup {
            servers: [g0, g1],
            binary,
            port,
        })
    }

    /// Starts the binary and waits until it listens.
    async fn start(&mut self) -> Result<RunningMyshard> {
        self.binary.start().await
    }

    /// Every `(id, note)` of `table` in each physical shard, by shard number.
    async fn physical_rows(&self, table: &str) -> Result<Vec<(u32, u64, String)>> {
        let mut out = Vec::new();
        for s in 0..SHARDS {
            let db = &self.servers[usize::from(s >= SHARDS / 2)];
            let rows: Vec<(u64, String)> = db
                .query(&format!("SELECT id, note FROM shop_{s:04}.{table}"))
                .await?;
            out.extend(rows.into_iter().map(|(id, note)| (s, id, note)));
        }
        Ok(out)
    }
}

/// What the clients share with the test.
#[derive(Default)]
struct Load {
    /// The process clients connect to now: raised after a kill, before the next start, so
    /// a connection reading it after its handshake knows which process serves it.
    generation: AtomicU64,
    /// Notes of acknowledged rows.
    acknowledged: Mutex<Vec<String>>,
    /// Inserts acknowledged by the current process.
    acks_now: AtomicU64,
    /// Error packets clients received (none expected; 1062 would be a reused id).
    server_errors: Mutex<Vec<String>>,
    /// Statements that lost their connection (the kills).
    lost: AtomicU64,
    stop: AtomicBool,
}

impl Load {
    fn acknowledge(&self, notes: Vec<String>) {
        if let Ok(mut a) = self.acknowledged.lock() {
            a.extend(notes);
        }
        self.acks_now.fetch_add(1, Ordering::SeqCst);
    }

    async fn wait_for_acks(&self) -> Result<()> {
        harness::e2e::wait_for(
            "inserts acknowledged by the running proxy",
            Duration::from_secs(30),
            || async {
                Ok((self.acks_now.load(Ordering::SeqCst) >= ACKS_PER_PROCESS).then_some(()))
            },
        )
        .await
    }

    /// The next process (after a kill): connections from now on belong to it.
    fn next_process(&self) -> u64 {
        self.acks_now.store(0, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst) + 1
    }
}

async fn connect(port: u16) -> Result<Conn> {
    let opts = OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some(harness::proxy::APP_USER))
        .pass(Some(harness::proxy::APP_PASSWORD))
        .db_name(Some("shop"));
    Ok(Conn::new(opts).await?)
}

/// One insert of client `k` on a connection of process `generation`: its kind cycles
/// through text single-row, text multi-row (NULL and 0 ask for a number too), prepared
/// single-row and prepared multi-row. Returns the notes of its rows.
async fn insert_once(
    conn: &mut Conn,
    table: &str,
    generation: u64,
    k: u64,
    n: u64,
) -> Result<Vec<String>, mysql_async::Error> {
    let note = |j: u32| format!("p{generation}.c{k}.n{n}.{j}");
    match n % 4 {
        0 => {
            conn.query_drop(format!("INSERT INTO {table} (note) VALUES ('{}')", note(0)))
                .await?;
            Ok(vec![note(0)])
        }
        1 => {
            let notes: Vec<String> = (0..3).map(note).collect();
            conn.query_drop(format!(
                "INSERT INTO {table} (id, note) VALUES (NULL, '{}'), (0, '{}'), (NULL, '{}')",
                notes[0], notes[1], notes[2]
            ))
            .await?;
            Ok(notes)
        }
        2 => {
            conn.exec_drop(format!("INSERT INTO {table} (note) VALUES (?)"), (note(0),))
                .await?;
            Ok(vec![note(0)])
        }
        _ => {
            let notes: Vec<String> = (0..4).map(note).collect();
            let params = Params::Positional(vec![
                Value::NULL,
                Value::from(&notes[0]),
                Value::NULL,
                Value::from(&notes[1]),
                Value::from(0u64),
                Value::from(&notes[2]),
                Value::NULL,
                Value::from(&notes[3]),
            ]);
            conn.exec_drop(
                format!("INSERT INTO {table} (id, note) VALUES (?, ?), (?, ?), (?, ?), (?, ?)"),
                params,
            )
            .await?;
            Ok(notes)
        }
    }
}

/// Client `k`: inserts into `table` until told to stop; a lost connection (the kill) makes
/// it reconnect, to whichever process listens, and go on.
async fn client(load: Arc<Load>, port: u16, table: &'static str, k: u64) {
    let mut n = 0;
    while !load.stop.load(Ordering::SeqCst) {
        let mut conn = match tokio::time::timeout(STATEMENT_TIMEOUT, connect(port)).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(_)) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            Err(_) => {
                let generation = load.generation.load(Ordering::SeqCst);
                if let Ok(mut errors) = load.server_errors.lock() {
                    errors.push(format!("client {k}, process {generation}: connecting hung"));
                }
                continue;
            }
        };
        let generation = load.generation.load(Ordering::SeqCst);
        while !load.stop.load(Ordering::SeqCst) {
            n += 1;
            let r = tokio::time::timeout(
                STATEMENT_TIMEOUT,
                insert_once(&mut conn, table, generation, k, n),
            )
            .await;
            match r {
                Ok(Ok(notes)) => load.acknowledge(notes),
                Ok(Err(mysql_async::Error::Server(e))) => {
                    if let Ok(mut errors) = load.server_errors.lock() {
                        errors.push(format!("client {k}, process {generation}: {e}"));
                    }
                }
                Ok(Err(_)) => {
                    load.lost.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                Err(_) => {
                    if let Ok(mut errors) = load.server_errors.lock() {
                        errors.push(format!(
                            "client {k}, process {generation}: insert {n} (kind {}) hung",
                            n % 4
                        ));
                    }
                    break;
                }
            }
        }
    }
}

fn start_clients(
    load: &Arc<Load>,
    port: u16,
    table: &'static str,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..CLIENTS)
        .map(|k| tokio::spawn(client(load.clone(), port, table, k)))
        .collect()
}

async fn stop_clients(load: &Load, clients: Vec<tokio::task::JoinHandle<()>>) -> Result<()> {
    load.stop.store(true, Ordering::SeqCst);
    for c in clients {
        let stopped = tokio::time::timeout(STATEMENT_TIMEOUT + Duration::from_secs(5), c).await;
        let errors = load
            .server_errors
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default();
        stopped.with_context(|| format!("a client did not stop; errors: {errors:?}"))??;
    }
    Ok(())
}

/// The process number in a note `p<process>.c…`.
fn process_of(note: &str) -> Result<u64> {
    note.strip_prefix('p')
        .and_then(|n| n.split('.').next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("note {note:?}"))
}

/// The checks common to both kinds; returns the ids by the process that handed them out.
fn check_rows(
    table: &str,
    rows: &[(u32, u64, String)],
    load: &Load,
    kills: u64,
) -> Result<BTreeMap<u64, Vec<u64>>> {
    let errors = load
        .server_errors
        .lock()
        .map(|e| e.clone())
        .unwrap_or_default();
    ensure!(
        errors.is_empty(),
        "{table}: clients got error packets: {errors:?}"
    );
    // The kills hit clients at work (each kill costs every client a statement).
    let lost = load.lost.load(Ordering::SeqCst);
    ensure!(
        lost >= kills * CLIENTS,
        "{table}: {lost} statements lost their connection in {kills} kills"
    );
    let mut ids = BTreeSet::new();
    let mut notes = BTreeSet::new();
    let mut by_process: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (shard, id, note) in rows {
        ensure!(ids.insert(*id), "{table}: id {id} twice");
        ensure!(notes.insert(note.as_str()), "{table}: row {note} twice");
        let home = shard_of(&KeyType::Integer, &KeyValue::UInt(*id), SHARDS)?;
        ensure!(
            home == Some(*shard),
            "{table}: id {id} ({note}) on shard {shard}, its id names {home:?}"
        );
        by_process.entry(process_of(note)?).or_default().push(*id);
    }
    let acknowledged = load
        .acknowledged
        .lock()
        .map(|a| a.clone())
        .unwrap_or_default();
    for note in &acknowledged {
        ensure!(
            notes.contains(note.as_str()),
            "{table}: acknowledged row {note} missing"
        );
    }
    Ok(by_process)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_sequence_survives_sigkill_with_no_reuse() -> Result<()> {
    let mut setup = Setup::new().await?;
    let load = Arc::new(Load::default());
    let mut proxy = setup.start().await?;
    let clients = start_clients(&load, setup.port, "orders");
    let kills = 3;
    for kill in 0..kills {
        load.wait_for_acks().await?;
        if kill == 1 {
            // Lock the sequence's row as another proxy's reservation would: the proxy's
            // next reservation (the background refill, started once half a block is gone;
            // inserts that run out wait behind it) blocks on it, and the kill lands then.
            let mut lock = setup.servers[0].conn().await?;
            lock.query_drop("BEGIN").await?;
            let next: Option<u64> = lock
                .query_first(
                    "SELECT next_value FROM myshard.myshard_sequences \
                     WHERE name = 'shop.orders' FOR UPDATE",
                )
                .await?;
            ensure!(next.is_some(), "no sequence row");
            harness::e2e::wait_for(
                "a block reservation waiting on the locked row",
                Duration::from_secs(20),
                || async {
                    let waiting: Vec<u64> = setup.servers[0]
                        .query(
                            "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
                             WHERE USER = 'myshard' AND INFO LIKE 'SELECT next_value%FOR UPDATE'",
                        )
                        .await?;
                    Ok((waiting.first().copied().unwrap_or(0) > 0).then_some(()))
                },
            )
            .await?;
            proxy.kill()?;
            lock.query_drop("ROLLBACK").await?;
        } else {
            tokio::time::sleep(Duration::from_millis(random_below(300))).await;
            proxy.kill()?;
        }
        load.next_process();
        proxy = setup.start().await?;
    }
    load.wait_for_acks().await?;
    stop_clients(&load, clients).await?;
    drop(proxy);

    let rows = setup.physical_rows("orders").await?;
    let by_process = check_rows("orders", &rows, &load, kills)?;
    ensure!(
        by_process.len() as u64 == kills + 1,
        "rows of processes {:?}",
        by_process.keys().collect::<Vec<_>>()
    );
    // A new block starts past every block reserved before it: each process's ids are above
    // every id of the processes before (what a dead process left of its block is a gap).
    let mut before = 0;
    for (process, ids) in &by_process {
        println!(
            "process {process}: {} rows, ids {:?}..={:?}",
            ids.len(),
            ids.iter().min(),
            ids.iter().max()
        );
        let (low, high) = (
            ids.iter().min().copied().unwrap_or(0),
            ids.iter().max().copied().unwrap_or(0),
        );
        ensure!(
            low > before,
            "process {process} handed out {low}, not above {before} handed out before it"
        );
        before = high;
    }
    // The sequence row is past every number handed out.
    let next: Vec<u64> = setup.servers[0]
        .query("SELECT next_value FROM myshard.myshard_sequences WHERE name = 'shop.orders'")
        .await?;
    ensure!(
        next.first().is_some_and(|n| *n > before),
        "next_value {next:?}, highest id {before}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_sequence_survives_sigkill_with_no_reuse() -> Result<()> {
    let mut setup = Setup::new().await?;
    let load = Arc::new(Load::default());
    let mut proxy = setup.start().await?;
    let clients = start_clients(&load, setup.port, "events");
    load.wait_for_acks().await?;
    tokio::time::sleep(Duration::from_millis(random_below(300))).await;
    proxy.kill()?;
    load.next_process();
    let proxy = setup.start().await?;
    load.wait_for_acks().await?;
    stop_clients(&load, clients).await?;
    drop(proxy);

    let rows = setup.physical_rows("events").await?;
    let by_process = check_rows("events", &rows, &load, 1)?;
    ensure!(
        by_process.len() == 2,
        "rows of {} processes",
        by_process.len()
    );
    for (_, id, note) in &rows {
        if (id >> 12) & 1023 != 7 {
            bail!("{note}: id {id} does not carry instance 7");
        }
    }
    // The horizon in the state directory is past every number's millisecond: what a
    // restart after a clock step back would start after.
    let file = setup.binary.state_dir().join("sequence-time.shop.events");
    let horizon: u64 = std::fs::read_to_string(&file)
        .with_context(|| format!("{}", file.display()))?
        .trim()
        .parse()?;
    let newest = rows.iter().map(|(_, id, _)| id >> 22).max().unwrap_or(0) + EPOCH_MS;
    ensure!(newest <= horizon, "numbered at {newest}, horizon {horizon}");
    Ok(())
}
