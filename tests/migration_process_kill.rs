//! The real `myshard` process SIGKILLed in each phase of a shard migration and restarted on
//! the same configuration and state directory (issue 13: "proxy SIGKILL at each phase then
//! restart … each ends consistent"). Two MariaDB groups with GTID and their own
//! `gtid_domain_id`; shard 1 of `shop` holds enough rows that its copy takes a moment, and a
//! client inserts known rows into that shard through the proxy the whole time, reconnecting
//! while the proxy is down.
//!
//! Kills, one migration each (started with `POST /migrations`):
//! * during the copy (rows on the target, copy unfinished) → aborted at restart;
//! * while replicating (the target's `myshard_shop_0001` connection exists) → aborted;
//! * cutting over (journal `cutting_over`, the gate closing behind a statement that
//!   outlasts the drain) → aborted;
//! * right after the new placement was persisted (before or after the journal's `cut_over`)
//!   → recorded as cut over, the shard stays on the target.
//!
//! After each restart: the journal says so, an aborted migration left no replication
//! connection and no copy on the target, the placement file agrees with where the rows
//! are, every acknowledged insert is there exactly once. At the end the shard is cleaned up
//! and migrated back (`myshard migrate`) to completion.
//!
//! `MIGRATION_KILL_ROUNDS` (default 1) repeats the whole round (`bench/migration.sh --kill`).

mod harness;

use anyhow::{Context, Result, bail, ensure};
use harness::MariaDb;
use harness::process::{MyshardBinary, RunningMyshard, group_yaml};
use harness::proxy::{APP_PASSWORD, APP_USER};
use myshard_proxy::admin_http::client::{request, request_with_body};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};
use serde_json::Value;
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "kill-token";
/// The shard that moves (on g0 in the configuration; ids ≡ 1 mod 4 live on it).
const MOVED: u32 = 1;
const DB: &str = "shop_0001";
/// Rows loaded into the moved shard before the migrations (about 230 bytes each).
const FILLER: i64 = 40_000;
/// Filler ids start above this; the client's ids stay below.
const FILLER_BASE: i64 = 1_000_000_000;
const HTTP: Duration = Duration::from_secs(10);

/// The two groups, the `myshard` binary's configuration, and its admin endpoint.
struct Setup {
    g0: MariaDb,
    g1: MariaDb,
    binary: MyshardBinary,
    admin: String,
}

impl Setup {
    async fn new() -> Result<Setup> {
        // Each group writes its own GTID domain from its first event on.
        let (g0, g1) = tokio::try_join!(
            MariaDb::start(),
            MariaDb::start_with_args(&["--gtid-domain-id=1"])
        )?;
        let binary = MyshardBinary::new()?;
        let admin = format!("127.0.0.1:{}", harness::free_port()?);
        let yaml = format!(
            "listen: 127.0.0.1:{port}\nstate_dir: '{state}'\n\
             admin_http: {{listen: '{admin}', token: {TOKEN}}}\n\
             users: [{{name: {APP_USER}, password: {APP_PASSWORD}, schemas: ['*'], admin: true}}]\n\
             groups:\n{g0}{g1}\
             schemas:\n  - name: shop\n    shards: 4\n    \
             placement: [{{group: g0, shards: '0-1'}}, {{group: g1, shards: '2-3'}}]\n    \
             tables: [{{name: t, shard_key: id}}]\n",
            port = binary.port(),
            state = binary.state_dir().display(),
            g0 = group_yaml("g0", &g0, 16),
            g1 = group_yaml("g1", &g1, 16),
        );
        binary.write_config(&yaml)?;
        let parsed = myshard_config::parse(&yaml, "kill test config")
            .map_err(|e| anyhow::anyhow!("test config: {e}"))?;
        harness::proxy::create_shard_databases(&parsed, &[&g0, &g1]).await?;
        for shard in 0..4u32 {
            let server = if shard < 2 { &g0 } else { &g1 };
            server
                .exec(&format!(
                    "CREATE TABLE shop_{shard:04}.t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL, \
                     pad VARCHAR(255) NOT NULL DEFAULT '') ENGINE=InnoDB"
                ))
                .await?;
        }
        // The moved shard's bulk, placed where the hash puts it (|id| mod 4 = 1).
        g0.exec(&format!(
            "INSERT INTO {DB}.t (id, v, pad) SELECT {FILLER_BASE} + 4 * seq + 1, seq, \
             REPEAT('x', 200) FROM {DB}.seq_0_to_{}",
            FILLER - 1
        ))
        .await?;
        Ok(Setup {
            g0,
            g1,
            binary,
            admin,
        })
    }

    fn state(&self) -> PathBuf {
        self.binary.state_dir()
    }

    /// A connection of the client account to the proxy, in `shop`.
    async fn app_conn(&self) -> Result<Conn> {
        Ok(Conn::new(self.binary.client_opts("shop")).await?)
    }

    fn server(&self, group: &str) -> &MariaDb {
        if group == "g0" { &self.g0 } else { &self.g1 }
    }

    /// Starts the binary and waits until its status endpoint answers (it starts after
    /// the journal's migrations were settled).
    async fn start(&mut self) -> Result<RunningMyshard> {
        let admin = self.admin.as_str();
        self.binary
            .start_until("come up", move || async move {
                request(admin, "GET", "/health", None, HTTP).await.is_ok()
            })
            .await
    }

    /// `POST /migrations` of shard `MOVED` to `to`; returns the migration's id.
    async fn migrate(&self, to: &str) -> Result<u64> {
        let body = format!(r#"{{"schema": "shop", "shard": {MOVED}, "to": "{to}"}}"#);
        let a =
            request_with_body(&self.admin, "POST", "/migrations", Some(TOKEN), &body, HTTP).await?;
        ensure!(a.status == 202, "migration not started: {a:?}");
        let m: Value = serde_json::from_str(&a.body)?;
        m["id"].as_u64().context("migration id")
    }

    /// Migration `id` as `GET /migrations` shows it (journal record and progress).
    async fn shown(&self, id: u64) -> Result<Value> {
        let a = request(&self.admin, "GET", "/migrations", None, HTTP).await?;
        ensure!(a.status == 200, "{a:?}");
        let list: Vec<Value> = serde_json::from_str(&a.body)?;
        list.into_iter()
            .find(|m| m["id"].as_u64() == Some(id))
            .with_context(|| format!("migration {id} listed"))
    }

    /// Polls migration `id` until `ready` holds; fails on a finished migration.
    async fn wait_shown(&self, id: u64, what: &str, ready: impl Fn(&Value) -> bool) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let m = self.shown(id).await?;
            if ready(&m) {
                return Ok(());
            }
            if matches!(m["phase"].as_str(), Some("aborted" | "cleaned_up")) {
                bail!("migration {id} ended before {what}: {m}");
            }
            ensure!(Instant::now() < deadline, "{what}: {m}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The group `placement.json` names for the moved shard (`None`: the configured one).
    fn placed(&self) -> Result<Option<String>> {
        let path = self.state().join("placement.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let body: Value = serde_json::from_str(&text)?;
        Ok(body["shards"].as_array().and_then(|shards| {
            shards
                .iter()
                .find(|s| s["schema"] == "shop" && s["shard"] == MOVED)
                .and_then(|s| s["group"].as_str().map(str::to_string))
        }))
    }

    /// Migration `id`'s phase in the journal file.
    fn journaled_phase(&self, id: u64) -> Result<String> {
        let text = std::fs::read_to_string(self.state().join("migrations.json"))?;
        let body: Value = serde_json::from_str(&text)?;
        body["migrations"]
            .as_array()
            .and_then(|l| l.iter().find(|m| m["id"].as_u64() == Some(id)))
            .and_then(|m| m["phase"].as_str().map(str::to_string))
            .with_context(|| format!("migration {id} journaled"))
    }

    /// Replication connections on `server`.
    async fn replication_connections(server: &MariaDb) -> Result<usize> {
        let rows: Vec<mysql_async::Row> = server.query("SHOW ALL SLAVES STATUS").await?;
        Ok(rows.len())
    }

    async fn has_database(server: &MariaDb) -> Result<bool> {
        let dbs: Vec<String> = server.query(&format!("SHOW DATABASES LIKE '{DB}'")).await?;
        Ok(!dbs.is_empty())
    }

    /// Client ids (below the filler's) in the moved shard's copy on `server`.
    async fn client_rows(server: &MariaDb) -> Result<Vec<i64>> {
        server
            .query(&format!(
                "SELECT id FROM {DB}.t WHERE id < {FILLER_BASE} ORDER BY id"
            ))
            .await
    }
}

/// What the client's inserts came to.
#[derive(Default)]
struct Writes {
    /// Acknowledged inserts.
    acked: Vec<i64>,
    /// Inserts that failed: applied or not, the client cannot know.
    unknown: Vec<i64>,
    /// Errors, by message (counted, printed).
    errors: Vec<String>,
}

/// Inserts rows with ids 1, 5, 9, … (all on shard `MOVED`, v = id) one by one until
/// `stop`, reconnecting after any error (the proxy is down between a kill and its restart).
async fn writer(opts: Opts, stop: Arc<AtomicBool>, writes: Arc<Mutex<Writes>>) {
    let mut conn: Option<Conn> = None;
    let mut id: i64 = 1;
    while !stop.load(Ordering::Relaxed) {
        let Some(c) = conn.as_mut() else {
            match tokio::time::timeout(Duration::from_secs(5), Conn::new(opts.clone())).await {
                Ok(Ok(c)) => conn = Some(c),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
            continue;
        };
        let sql = format!("INSERT INTO t (id, v) VALUES ({id}, {id})");
        let outcome = tokio::time::timeout(Duration::from_secs(20), c.query_drop(sql)).await;
        if let Ok(mut w) = writes.lock() {
            match outcome {
                Ok(Ok(())) => w.acked.push(id),
                Ok(Err(e)) => {
                    w.unknown.push(id);
                    w.errors.push(e.to_string());
                    conn = None;
                }
                Err(_) => {
                    w.unknown.push(id);
                    w.errors.push("no answer within 20 s".into());
                    conn = None;
                }
            }
        }
        id += 4;
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
}

/// The acknowledged inserts so far.
fn acked(writes: &Mutex<Writes>) -> Vec<i64> {
    writes.lock().map(|w| w.acked.clone()).unwrap_or_default()
}

/// After a restart: migration `id` ended in `phase` (and says why when aborted), the shard
/// lives on `group` by the placement file, the other group has no replication connection
/// (and no copy when aborted), every insert acknowledged so far is on `group` once, and
/// the proxy serves them.
async fn settled(
    s: &Setup,
    id: u64,
    phase: &str,
    group: &str,
    writes: &Mutex<Writes>,
) -> Result<()> {
    let m = s.shown(id).await?;
    ensure!(m["phase"] == phase, "migration {id} should be {phase}: {m}");
    if phase == "aborted" {
        let error = m["error"].as_str().unwrap_or_default();
        ensure!(
            error.contains("proxy restarted"),
            "the journal says why: {m}"
        );
    }
    ensure!(s.journaled_phase(id)? == phase, "journal file of {id}");
    let placed = s.placed()?;
    let expected = (group != "g0").then(|| group.to_string());
    ensure!(
        placed == expected,
        "placement.json says {placed:?}, rows on {group}"
    );
    let other = if group == "g0" { "g1" } else { "g0" };
    for server in [&s.g0, &s.g1] {
        ensure!(
            Setup::replication_connections(server).await? == 0,
            "no replication connection left after migration {id}"
        );
    }
    if phase == "aborted" {
        ensure!(
            !Setup::has_database(s.server(other)).await?,
            "migration {id}: no copy of {DB} left on {other}"
        );
    }
    let acked = acked(writes);
    let rows = Setup::client_rows(s.server(group)).await?;
    let present: HashSet<i64> = rows.iter().copied().collect();
    ensure!(present.len() == rows.len(), "a row twice on {group}");
    let lost: Vec<_> = acked.iter().filter(|i| !present.contains(i)).collect();
    ensure!(
        lost.is_empty(),
        "acknowledged inserts missing on {group}: {lost:?}"
    );
    let filler: Vec<i64> = s
        .server(group)
        .query(&format!(
            "SELECT COUNT(*) FROM {DB}.t WHERE id > {FILLER_BASE}"
        ))
        .await?;
    ensure!(
        filler == [FILLER],
        "every filler row on {group}: {filler:?}"
    );
    // Served by the proxy from there.
    let mut conn = s.app_conn().await?;
    let served: Option<i64> = conn
        .query_first(format!("SELECT COUNT(*) FROM t WHERE id > {FILLER_BASE}"))
        .await?;
    ensure!(
        served == Some(FILLER),
        "the proxy serves the shard: {served:?}"
    );
    Ok(())
}

/// Starts a migration to `to` and kills the proxy when `moment` says; returns the id and
/// what the journal said at the kill.
async fn kill_during(
    s: &Setup,
    proxy: &mut RunningMyshard,
    to: &str,
    moment: &str,
) -> Result<(u64, String)> {
    // For the kill in the cut-over: a statement on the shard that outlasts the drain keeps
    // the gate closing (new statements held) for the drain's 5 s.
    let sleeper = if moment == "cutting_over" {
        let mut slow = s.app_conn().await?;
        let sql = format!("SELECT SLEEP(60) FROM t WHERE id = {}", FILLER_BASE + 1);
        Some(tokio::spawn(async move { slow.query_drop(sql).await }))
    } else {
        None
    };
    let id = s.migrate(to).await?;
    let target = s.server(to);
    let journal = match moment {
        "copy" => {
            // Some chunks written, the copy unfinished.
            s.wait_shown(id, "copy under way", |m| {
                m["phase"] == "copy"
                    && m["progress"]["rows_copied"].as_u64() > Some(0)
                    && m["progress"]["copy_ms"].is_null()
            })
            .await?;
            proxy.kill()?;
            let journal = s.journaled_phase(id)?;
            ensure!(journal == "copy", "killed in phase {journal}");
            let copied: Vec<i64> = target
                .query(&format!("SELECT COUNT(*) FROM {DB}.t"))
                .await?;
            ensure!(copied.first() > Some(&0), "part of the copy on {to}");
            format!("copy, {} rows on {to}", copied[0])
        }
        "replicate" => {
            s.wait_shown(id, "replicating", |m| m["phase"] == "replicate")
                .await?;
            let deadline = Instant::now() + Duration::from_secs(30);
            while Setup::replication_connections(target).await? == 0 {
                ensure!(
                    Instant::now() < deadline,
                    "no replication connection on {to}"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            proxy.kill()?;
            let journal = s.journaled_phase(id)?;
            ensure!(journal == "replicate", "killed in phase {journal}");
            journal
        }
        "cutting_over" => {
            s.wait_shown(id, "cutting over", |m| m["phase"] == "cutting_over")
                .await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let journal = s.journaled_phase(id)?;
            proxy.kill()?;
            ensure!(journal == "cutting_over", "killed in phase {journal}");
            if let Some(sleeper) = sleeper {
                let ended = sleeper.await?;
                ensure!(
                    ended.is_err(),
                    "the slow statement outlived the kill: {ended:?}"
                );
            }
            // The sleeping statement outlives its dead client on the server.
            let left: Vec<u64> =
                s.g0.query(
                    "SELECT ID FROM information_schema.PROCESSLIST \
                     WHERE INFO LIKE '%SLEEP(60)%' AND ID <> CONNECTION_ID()",
                )
                .await?;
            for thread in left {
                let _ = s.g0.exec(&format!("KILL QUERY {thread}")).await;
            }
            format!("{journal}, gate closing")
        }
        "placed" => {
            // The new placement persisted: kill at once (the journal may or may not have
            // recorded the cut-over yet).
            let deadline = Instant::now() + Duration::from_secs(60);
            while s.placed()?.as_deref() != Some(to) {
                ensure!(Instant::now() < deadline, "no cut-over");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            proxy.kill()?;
            let journal = s.journaled_phase(id)?;
            let connections = Setup::replication_connections(target).await?;
            format!(
                "placement on {to}, journal {journal}, {connections} replication connection(s) on {to}"
            )
        }
        other => bail!("unknown moment {other}"),
    };
    Ok((id, journal))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_survives_sigkill_of_the_proxy_in_each_phase() -> Result<()> {
    let rounds: u64 = std::env::var("MIGRATION_KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut s = Setup::new().await?;
    let mut proxy = s.start().await?;
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(Mutex::new(Writes::default()));
    let client = tokio::spawn(writer(
        s.binary.client_opts("shop"),
        stop.clone(),
        writes.clone(),
    ));
    let mut back: Option<u64> = None;
    for round in 1..=rounds {
        let started = Instant::now();
        if let Some(previous) = back {
            // The previous round's old copy on g1 (verified before its cut-over).
            let cleanup = format!("/migrations/{previous}/cleanup");
            let a = request(&s.admin, "POST", &cleanup, Some(TOKEN), HTTP).await?;
            ensure!(a.status == 200, "cleanup: {a:?}");
        }
        let mut seen = Vec::new();
        for moment in ["copy", "replicate", "cutting_over"] {
            let (id, journal) = kill_during(&s, &mut proxy, "g1", moment).await?;
            proxy = s.start().await?;
            settled(&s, id, "aborted", "g0", &writes)
                .await
                .with_context(|| format!("round {round}: killed during {moment}"))?;
            seen.push(journal);
        }
        let (id, journal) = kill_during(&s, &mut proxy, "g1", "placed").await?;
        proxy = s.start().await?;
        settled(&s, id, "cut_over", "g1", &writes)
            .await
            .with_context(|| format!("round {round}: killed after the placement"))?;
        seen.push(journal);

        // The shard migrates again: its old copy cleaned up (verified before the
        // cut-over), then back to g0 with the command line, to completion.
        let cleanup = format!("/migrations/{id}/cleanup");
        let a = request(&s.admin, "POST", &cleanup, Some(TOKEN), HTTP).await?;
        ensure!(a.status == 200, "cleanup: {a:?}");
        let out = Command::new(env!("CARGO_BIN_EXE_myshard"))
            .args(["migrate", "--config"])
            .arg(s.binary.config())
            .args(["--schema", "shop", "--shard", "1", "--to", "g0"])
            .output()?;
        ensure!(out.status.success(), "myshard migrate: {out:?}");
        let moved = id + 1;
        s.wait_shown(moved, "moved back", |m| m["phase"] == "cut_over")
            .await?;
        settled(&s, moved, "cut_over", "g0", &writes)
            .await
            .with_context(|| format!("round {round}: moved back"))?;
        back = Some(moved);
        let (acked, failed) = writes
            .lock()
            .map(|w| (w.acked.len(), w.unknown.len()))
            .unwrap_or_default();
        println!(
            "round {round}: killed in {}; ends consistent; {:.1} s; inserts so far {acked} \
             acknowledged, {failed} failed",
            seen.join(" | "),
            started.elapsed().as_secs_f64()
        );
    }
    stop.store(true, Ordering::Relaxed);
    client.await?;

    // Every acknowledged insert once, nothing the client did not try, through the proxy
    // as on the group the placement names.
    let w = std::mem::take(&mut *writes.lock().map_err(|_| anyhow::anyhow!("writes"))?);
    let mut conn = s.app_conn().await?;
    let served: Vec<i64> = conn
        .query(format!(
            "SELECT id FROM t WHERE id < {FILLER_BASE} ORDER BY id"
        ))
        .await?;
    let on_g0 = Setup::client_rows(&s.g0).await?;
    ensure!(served == on_g0, "the proxy reads g0's copy");
    let present: HashSet<i64> = served.iter().copied().collect();
    let lost: Vec<_> = w.acked.iter().filter(|i| !present.contains(i)).collect();
    ensure!(lost.is_empty(), "acknowledged inserts lost: {lost:?}");
    let tried: HashSet<i64> = w.acked.iter().chain(&w.unknown).copied().collect();
    let stray: Vec<_> = served.iter().filter(|i| !tried.contains(i)).collect();
    ensure!(stray.is_empty(), "rows never written: {stray:?}");
    let mut errors: Vec<&String> = w.errors.iter().collect();
    errors.sort();
    errors.dedup();
    println!(
        "{} inserts acknowledged, {} failed while the proxy died ({:?})",
        w.acked.len(),
        w.unknown.len(),
        &errors[..errors.len().min(8)],
    );
    ensure!(w.acked.len() > 100, "the client kept writing");
    drop(proxy);
    Ok(())
}
