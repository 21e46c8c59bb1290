//! Switching a group's write host against real MariaDB servers: a killed (`kill -9`) or
//! hung (SIGSTOP) write host is switched away from under a write load, writes resume on the
//! next candidate, the other group never notices, in-flight failures say whether they may
//! have been applied; the old host stays fenced when it returns; a second death within
//! `min_interval_ms` does not switch again; a restarted proxy keeps the decided write host
//! and refuses a corrupt decision file; a proxy cut off from a healthy primary whose
//! replica still sees it does not fail over; `require_semi_sync` refuses a switch of a
//! group that did not run lossless semi-synchronous replication; a planned switchover under load costs
//! clients nothing, and `myshard switch` switches back.
//!
//! Groups use `promotion: false` with independent servers as write candidates where
//! replication is not the point (the switch goes to the next writable candidate).

mod harness;

use anyhow::{Context, Result, bail, ensure};
use harness::proxy::{APP_PASSWORD, APP_USER, app_conn};
use harness::replication::ReplicatedGroup;
use harness::{MYSHARD_PASSWORD, MYSHARD_USER, MariaDb};
use myshard_config::Config;
use myshard_proxy::ProxyHandle;
use myshard_proxy::admin_http::client::request_with_body;
use mysql_async::prelude::Queryable;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const TOKEN: &str = "switch-token";

/// g0 on `g0_hosts` (write host candidates, `failover` as given), g1 on `g1` (no failover),
/// schemas `s0` → `s0_db` on g0 and `s1` → `s1_db` on g1.
fn config(g0_hosts: &[String], g1: &str, failover: &str, extra: &str) -> Result<Config> {
    let hosts: Vec<String> = g0_hosts.iter().map(|h| format!("'{h}'")).collect();
    let yaml = format!(
        "listen: 127.0.0.1:0
admin_http: {{listen: '127.0.0.1:0', token: {TOKEN}}}
{extra}
users: [{{name: {APP_USER}, password: {APP_PASSWORD}, schemas: ['*']}}]
groups:
  - name: g0
    user: {MYSHARD_USER}
    password: {MYSHARD_PASSWORD}
    write_hosts: [{hosts}]
    heartbeat: {{interval_ms: 100, timeout_ms: 300, fall: 2, rise: 2}}
    failover: {failover}
    pool: {{connect_timeout_ms: 1000}}
  - name: g1
    user: {MYSHARD_USER}
    password: {MYSHARD_PASSWORD}
    write_hosts: ['{g1}']
    heartbeat: {{enabled: false}}
schemas:
  - {{name: s0, group: g0, database: s0_db}}
  - {{name: s1, group: g1, database: s1_db}}
",
        hosts = hosts.join(", "),
    );
    myshard_config::parse(&yaml, "failover test").map_err(|e| anyhow::anyhow!("{e}"))
}

/// Creates `db`.t (an id and the writer's number) on every server.
async fn tables(servers: &[&MariaDb], db: &str) -> Result<()> {
    for s in servers {
        s.exec(&format!(
            "CREATE DATABASE IF NOT EXISTS {db}; CREATE TABLE IF NOT EXISTS {db}.t \
             (id BIGINT AUTO_INCREMENT PRIMARY KEY, w INT NOT NULL, n INT NOT NULL)"
        ))
        .await?;
    }
    Ok(())
}

async fn rows(s: &MariaDb, db: &str) -> Result<i64> {
    let n: Vec<i64> = s.query(&format!("SELECT COUNT(*) FROM {db}.t")).await?;
    n.first().copied().context("no count")
}

/// Polls `check` every 20 ms until it gives a value, for at most `limit`.
async fn within<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("{what}: not within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What one writer saw.
#[derive(Debug, Default)]
struct Outcome {
    /// When each acknowledged insert was acknowledged.
    acked: Vec<Instant>,
    /// Error messages, with when.
    errors: Vec<(Instant, String)>,
}

/// `n` clients inserting into `schema`.t in a loop until `stop`.
fn writers(
    proxy: &ProxyHandle,
    schema: &'static str,
    n: i32,
    stop: &Arc<AtomicBool>,
) -> Vec<JoinHandle<Result<Outcome>>> {
    (0..n)
        .map(|w| {
            let opts = harness::proxy::proxy_opts(proxy, APP_USER, APP_PASSWORD, Some(schema));
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut out = Outcome::default();
                let mut conn = mysql_async::Conn::new(opts).await?;
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    match conn
                        .exec_drop("INSERT INTO t (w, n) VALUES (?, ?)", (w, i))
                        .await
                    {
                        Ok(()) => out.acked.push(Instant::now()),
                        Err(e) => {
                            out.errors.push((Instant::now(), e.to_string()));
                            if !matches!(e, mysql_async::Error::Server(_)) {
                                // The connection itself is gone: a new one.
                                tokio::time::sleep(Duration::from_millis(20)).await;
                                let opts = conn.opts().clone();
                                conn = mysql_async::Conn::new(opts).await?;
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Ok(out)
            })
        })
        .collect()
}

async fn finish(tasks: Vec<JoinHandle<Result<Outcome>>>) -> Result<Outcome> {
    let mut all = Outcome::default();
    for t in tasks {
        let o = t.await??;
        all.acked.extend(o.acked);
        all.errors.extend(o.errors);
    }
    all.acked.sort();
    Ok(all)
}

fn write_host(proxy: &ProxyHandle, group: &str) -> Option<String> {
    let table = proxy.shared().table();
    let g = table.group(group)?;
    g.write.as_ref().map(|h| h.addr().to_string())
}

/// Every error a writer of the failed group saw says whether the statement may have been
/// applied (or that nothing was sent).
fn errors_say_their_side(errors: &[(Instant, String)]) -> Result<()> {
    for (_, e) in errors {
        ensure!(
            e.contains("may have been applied")
                || e.contains("nothing was sent")
                || e.contains("not sent")
                || e.contains("not applied")
                // A connection that could not be made carried nothing.
                || e.contains("Can't connect"),
            "an error does not say whether it may have been applied: {e}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_of_the_write_host_switches_once_and_the_decision_survives_a_restart() -> Result<()>
{
    let mut servers = MariaDb::start_many(3).await?;
    let c = servers.remove(2);
    let mut b = servers.remove(1);
    let mut a = servers.remove(0);
    tables(&[&a, &b], "s0_db").await?;
    tables(&[&c], "s1_db").await?;
    let state = tempfile::tempdir()?;
    let extra = format!("state_dir: '{}'", state.path().display());
    let failover = "{mode: automatic, promotion: false, max_hold_ms: 4000, min_interval_ms: 60000}";
    let cfg = config(&[a.addr(), b.addr()], &c.addr(), failover, &extra)?;
    let proxy = myshard_proxy::start(cfg.clone()).await?;
    within(Duration::from_secs(5), "g0 write host checked", || async {
        let r = proxy.shared().host_records();
        Ok(r.iter()
            .any(|r| r.addr == a.addr() && r.last_check_unix_ms.is_some())
            .then_some(()))
    })
    .await?;

    let stop = Arc::new(AtomicBool::new(false));
    let g0 = writers(&proxy, "s0", 4, &stop);
    let g1 = writers(&proxy, "s1", 2, &stop);
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.kill()?;
    // From here on nothing can be acknowledged by the killed host (but an answer it sent
    // just before may still be on its way).
    let killed = Instant::now();
    within(
        Duration::from_secs(15),
        "writes on the next candidate",
        || async { Ok((rows(&b, "s0_db").await? > 0).then_some(())) },
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let g0 = finish(g0).await?;
    let g1 = finish(g1).await?;

    // Writes resumed on the next candidate, within the detection time and the hold.
    let first = g0
        .acked
        .iter()
        .find(|t| **t > killed)
        .context("no acknowledged write after the kill")?;
    let took = first.duration_since(killed);
    eprintln!(
        "kill -9 → first acknowledged write on the new write host: {took:?}; g0 errors: {}",
        g0.errors.len()
    );
    ensure!(
        took < Duration::from_secs(10),
        "writes resumed after {took:?}"
    );
    ensure!(write_host(&proxy, "g0") == Some(b.addr()));
    errors_say_their_side(&g0.errors)?;
    // Only statements in flight at the kill fail (one per writer at most, and a writer
    // whose connection broke may lose one more): the others, refused by the dead host,
    // waited for the switch.
    ensure!(g0.errors.len() <= 8, "{:?}", g0.errors);
    ensure!(
        g1.errors.is_empty(),
        "the other group saw errors: {:?}",
        g1.errors
    );
    ensure!(!g1.acked.is_empty());
    let settled = killed + Duration::from_millis(200);
    let acked_after = g0.acked.iter().filter(|t| **t > settled).count() as i64;
    ensure!(rows(&b, "s0_db").await? >= acked_after);

    // The switch is in the history, the status document and the metrics.
    let history = proxy.shared().failover.history.of_group("g0");
    ensure!(history.len() == 1, "{history:?}");
    ensure!(history[0].reason == "failover" && history[0].error.is_none());
    ensure!(history[0].new_write_host == Some(b.addr()));
    let admin = proxy
        .admin_addr()
        .context("no status endpoint")?
        .to_string();
    let status =
        request_with_body(&admin, "GET", "/status", None, "", Duration::from_secs(5)).await?;
    ensure!(status.body.contains("\"fenced_hosts\":[\"") && status.body.contains(&a.addr()));
    let metrics =
        request_with_body(&admin, "GET", "/metrics", None, "", Duration::from_secs(5)).await?;
    ensure!(
        metrics.body.contains(
            "myshard_write_host_switches_total{group=\"g0\",reason=\"failover\",result=\"done\"} 1"
        ),
        "{}",
        metrics.body
    );

    // The old write host returns: it stays fenced and receives no write.
    a.restart().await?;
    let before = rows(&a, "s0_db").await?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut conn = app_conn(&proxy, Some("s0")).await?;
    for i in 0..20 {
        conn.exec_drop("INSERT INTO t (w, n) VALUES (99, ?)", (i,))
            .await?;
    }
    ensure!(
        rows(&a, "s0_db").await? == before,
        "a write reached the fenced host"
    );
    ensure!(proxy.shared().failover.fenced_hosts("g0") == vec![a.addr()]);

    // The new write host dies within min_interval_ms: no second switch.
    b.kill()?;
    within(Duration::from_secs(5), "second death noticed", || async {
        Ok(proxy
            .shared()
            .failover
            .history
            .refusal("g0")
            .filter(|r| r.contains("min_interval_ms"))
            .map(|_| ()))
    })
    .await?;
    ensure!(proxy.shared().failover.history.of_group("g0").len() == 1);
    ensure!(write_host(&proxy, "g0") == Some(b.addr()));
    b.restart().await?;

    // A restarted proxy writes where the decision says.
    drop(conn);
    proxy.stop();
    drop(proxy);
    let again = myshard_proxy::start(cfg.clone()).await?;
    ensure!(write_host(&again, "g0") == Some(b.addr()));
    let mut conn = app_conn(&again, Some("s0")).await?;
    let before = rows(&a, "s0_db").await?;
    conn.query_drop("INSERT INTO t (w, n) VALUES (100, 1)")
        .await?;
    ensure!(rows(&a, "s0_db").await? == before);
    drop(conn);
    again.stop();
    drop(again);

    // A corrupt decision file stops the start, naming the file.
    let file = state.path().join("write_hosts.json");
    std::fs::write(&file, "{\"format\": 1, \"clus")?;
    let e = myshard_proxy::start(cfg).await.err().context("started")?;
    ensure!(e.to_string().contains("write_hosts.json") && e.to_string().contains("corrupt"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hung_write_host_is_detected_and_switched() -> Result<()> {
    let mut servers = MariaDb::start_many(2).await?;
    let b = servers.remove(1);
    let a = servers.remove(0);
    tables(&[&a, &b], "s0_db").await?;
    tables(&[&b], "s1_db").await?;
    let failover = "{mode: automatic, promotion: false, max_hold_ms: 4000, min_interval_ms: 1000}";
    // In-flight statements on the hung host end with the statement timeout.
    let extra = "limits: {statement_timeout_ms: 3000}";
    let cfg = config(&[a.addr(), b.addr()], &b.addr(), failover, extra)?;
    let proxy = myshard_proxy::start(cfg).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let g0 = writers(&proxy, "s0", 2, &stop);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let paused = Instant::now();
    a.pause()?;
    let switched = within(
        Duration::from_secs(10),
        "switch away from the hung host",
        || async { Ok((write_host(&proxy, "g0") == Some(b.addr())).then(Instant::now)) },
    )
    .await;
    a.resume()?;
    let switched = switched?;
    eprintln!("SIGSTOP → switched: {:?}", switched.duration_since(paused));
    within(
        Duration::from_secs(10),
        "writes on the next candidate",
        || async { Ok((rows(&b, "s0_db").await? > 0).then_some(())) },
    )
    .await?;
    stop.store(true, Ordering::Relaxed);
    let g0 = finish(g0).await?;
    ensure!(g0.acked.iter().any(|t| *t > switched));
    for (_, e) in &g0.errors {
        ensure!(
            e.contains("may have been applied")
                || e.contains("max_statement_time")
                || e.contains("nothing was sent")
                || e.contains("not sent"),
            "{e}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_statement_stuck_on_a_hung_write_host_fails_at_the_switch_saying_it_may_have_been_applied()
-> Result<()> {
    let mut servers = MariaDb::start_many(2).await?;
    let b = servers.remove(1);
    let a = servers.remove(0);
    tables(&[&a, &b], "s0_db").await?;
    tables(&[&b], "s1_db").await?;
    let failover = "{mode: automatic, promotion: false, max_hold_ms: 4000, min_interval_ms: 1000}";
    // No statement timeout: only the switch can end the stuck statement.
    let cfg = config(&[a.addr(), b.addr()], &b.addr(), failover, "")?;
    let proxy = myshard_proxy::start(cfg).await?;
    let mut stuck = app_conn(&proxy, Some("s0")).await?;
    stuck.query_drop("SELECT 1").await?;
    // A write that runs for 2 s on the write host, which hangs 300 ms into it.
    let statement = tokio::spawn(async move {
        let r = stuck
            .query_drop("INSERT INTO t (w, n) SELECT 9, SLEEP(2)")
            .await;
        (Instant::now(), r.map_err(|e| e.to_string()))
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.pause()?;
    let switched = within(
        Duration::from_secs(10),
        "switch away from the hung host",
        || async { Ok((write_host(&proxy, "g0") == Some(b.addr())).then(Instant::now)) },
    )
    .await;
    // Without the cut the statement would wait for the hung host as long as it hangs:
    // give it 5 s after the switch, then let the host go on.
    let answered = tokio::time::timeout(Duration::from_secs(5), statement).await;
    a.resume()?;
    let switched = switched?;
    let (at, result) = answered.context("the stuck statement did not end after the switch")??;
    let e = match result {
        Ok(()) => bail!("the statement on the hung host succeeded"),
        Err(e) => e,
    };
    eprintln!(
        "stuck statement ended {:?} after the switch: {e}",
        at.saturating_duration_since(switched)
    );
    ensure!(e.contains("may have been applied"), "{e}");
    ensure!(e.contains("failover"), "{e}");
    // It was not resent on the new write host.
    let there: Vec<i64> = b.query("SELECT COUNT(*) FROM s0_db.t WHERE w = 9").await?;
    ensure!(there == vec![0], "resent on the new write host");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statements_over_several_shards_held_by_a_switch_run_on_the_new_write_host() -> Result<()> {
    let mut servers = MariaDb::start_many(2).await?;
    let b = servers.remove(1);
    let mut a = servers.remove(0);
    // Schema shop: 4 shards, all on g0; every shard holds row (shard + 1) on both servers.
    for s in [&a, &b] {
        for shard in 0..4 {
            s.exec(&format!(
                "CREATE DATABASE IF NOT EXISTS shop_{shard:04}; CREATE TABLE IF NOT EXISTS \
                 shop_{shard:04}.t (id BIGINT PRIMARY KEY, v INT NOT NULL)"
            ))
            .await?;
        }
    }
    let yaml = format!(
        "listen: 127.0.0.1:0
users: [{{name: {APP_USER}, password: {APP_PASSWORD}, schemas: ['*']}}]
groups:
  - name: g0
    user: {MYSHARD_USER}
    password: {MYSHARD_PASSWORD}
    write_hosts: ['{a}', '{b}']
    heartbeat: {{interval_ms: 100, timeout_ms: 300, fall: 2, rise: 2}}
    failover: {{mode: automatic, promotion: false, max_hold_ms: 5000, min_interval_ms: 1000}}
    pool: {{connect_timeout_ms: 1000}}
schemas:
  - name: shop
    shards: 4
    placement: [{{group: g0, shards: '0-3'}}]
    tables: [{{name: t, shard_key: id}}]
",
        a = a.addr(),
        b = b.addr(),
    );
    let cfg =
        myshard_config::parse(&yaml, "scatter switch test").map_err(|e| anyhow::anyhow!("{e}"))?;
    let proxy = myshard_proxy::start(cfg).await?;
    let mut conn = app_conn(&proxy, Some("shop")).await?;
    // Ids 1..=16 spread over the 4 shards, written through the proxy (on a), copied to b.
    for id in 1..=16 {
        conn.query_drop(format!("INSERT INTO t (id, v) VALUES ({id}, 0)"))
            .await?;
    }
    for shard in 0..4 {
        let ids: Vec<i64> = a
            .query(&format!("SELECT id FROM shop_{shard:04}.t"))
            .await?;
        for id in ids {
            b.exec(&format!("INSERT INTO shop_{shard:04}.t VALUES ({id}, 0)"))
                .await?;
        }
    }
    let all = "WHERE id IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)";
    conn.query_drop(format!("UPDATE t SET v = v + 1 {all}"))
        .await?;

    // The write host dies; the next statements over every shard are held until the
    // switch, then run on the new write host.
    a.kill()?;
    let killed = Instant::now();
    conn.query_drop(format!("UPDATE t SET v = v + 10 {all}"))
        .await?;
    let held = killed.elapsed();
    let deleted = conn
        .query_iter("DELETE FROM t WHERE id IN (13, 14, 15, 16)")
        .await?
        .affected_rows();
    eprintln!("scatter UPDATE held {held:?} by the switch");
    ensure!(write_host(&proxy, "g0") == Some(b.addr()));
    ensure!(deleted == 4, "deleted {deleted} rows");
    let mut on_b = Vec::new();
    for shard in 0..4 {
        let v: Vec<(i64, i64)> = b
            .query(&format!("SELECT id, v FROM shop_{shard:04}.t"))
            .await?;
        on_b.extend(v);
    }
    on_b.sort();
    let expected: Vec<(i64, i64)> = (1..=12).map(|id| (id, 10)).collect();
    ensure!(on_b == expected, "rows on the new write host: {on_b:?}");
    Ok(())
}

/// Forwards connections to `target` until told to stop; from then on it accepts and
/// holds connections without forwarding a byte (a network cut between the proxy and the
/// primary), and drops the ones it was forwarding.
struct Relay {
    addr: String,
    cut: Arc<AtomicBool>,
}

impl Relay {
    async fn start(target: String) -> Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?.to_string();
        let cut = Arc::new(AtomicBool::new(false));
        let cut2 = cut.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((client, _)) = listener.accept().await {
                if cut2.load(Ordering::Relaxed) {
                    held.push(client);
                    continue;
                }
                let cut = cut2.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            use tokio::io::AsyncReadExt;
                            let n = cr.read(&mut buf).await.unwrap_or(0);
                            if n == 0 || cut.load(Ordering::Relaxed) {
                                break;
                            }
                            if sw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    };
                    let down = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            use tokio::io::AsyncReadExt;
                            let n = sr.read(&mut buf).await.unwrap_or(0);
                            if n == 0 || cut.load(Ordering::Relaxed) {
                                break;
                            }
                            if cw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    };
                    tokio::select! { () = up => {}, () = down => {} }
                    // Cut: keep the client side open and silent, as a dropped network.
                    while cut.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    drop((cr, cw));
                });
            }
        });
        Ok(Relay { addr, cut })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_proxy_cut_off_from_a_healthy_primary_does_not_fail_over() -> Result<()> {
    let group = ReplicatedGroup::start(1, 21).await?;
    let replica = group.replica(0)?;
    group.primary.exec("CREATE DATABASE s0_db").await?;
    group.wait_caught_up().await?;
    let relay = Relay::start(group.primary.addr()).await?;
    let failover = "{mode: automatic, promotion: false, max_hold_ms: 2000, min_interval_ms: 1000}";
    let mut cfg = config(
        &[relay.addr.clone(), replica.addr()],
        &replica.addr(),
        failover,
        "",
    )?;
    cfg.groups[0].read_hosts = vec![replica.addr().as_str().into()];
    cfg.groups[0].max_replica_lag_ms = 0;
    let proxy = myshard_proxy::start(cfg).await?;
    within(Duration::from_secs(5), "replica checked", || async {
        let r = proxy.shared().host_records();
        Ok(r.iter()
            .any(|r| r.addr == replica.addr() && r.io_thread.as_deref() == Some("Yes"))
            .then_some(()))
    })
    .await?;

    relay.cut.store(true, Ordering::Relaxed);
    let why = within(Duration::from_secs(5), "the detector's refusal", || async {
        Ok(proxy.shared().failover.history.refusal("g0"))
    })
    .await?;
    ensure!(why.contains("still receive from it"), "{why}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ensure!(write_host(&proxy, "g0") == Some(relay.addr.clone()));
    ensure!(proxy.shared().failover.history.of_group("g0").is_empty());
    // The primary itself took nothing but what replication carries.
    let ro: Vec<i64> = group.primary.query("SELECT @@read_only").await?;
    ensure!(ro == vec![0], "the healthy primary was fenced: {ro:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn planned_switchover_under_load_costs_clients_nothing() -> Result<()> {
    let mut servers = MariaDb::start_many(2).await?;
    let b = servers.remove(1);
    let a = servers.remove(0);
    tables(&[&a, &b], "s0_db").await?;
    tables(&[&b], "s1_db").await?;
    let failover = "{mode: manual, promotion: false, max_hold_ms: 5000}";
    let cfg = config(&[a.addr(), b.addr()], &b.addr(), failover, "")?;
    let proxy = myshard_proxy::start(cfg).await?;
    let admin = proxy
        .admin_addr()
        .context("no status endpoint")?
        .to_string();
    let post = |path: &'static str, token: Option<&'static str>, body: String| {
        let admin = admin.clone();
        async move {
            request_with_body(&admin, "POST", path, token, &body, Duration::from_secs(10)).await
        }
    };

    // Refusals: no token, unknown group, the write host itself, rejoin not available.
    let body = format!("{{\"group\": \"g0\", \"to\": \"{}\"}}", b.addr());
    ensure!(post("/switch", None, body.clone()).await?.status == 401);
    let unknown = post("/switch", Some(TOKEN), "{\"group\": \"g9\"}".into()).await?;
    ensure!(
        unknown.status == 404 && unknown.body.contains("g9"),
        "{unknown:?}"
    );
    let itself = format!("{{\"group\": \"g0\", \"to\": \"{}\"}}", a.addr());
    ensure!(post("/switch", Some(TOKEN), itself).await?.status == 400);
    let garbage = post("/switch", Some(TOKEN), "{\"grp\": 1}".into()).await?;
    ensure!(
        garbage.status == 400 && garbage.body.contains("JSON"),
        "{garbage:?}"
    );

    // A transaction open on the old write host fails after the switch, commits nowhere.
    let mut tx = app_conn(&proxy, Some("s0")).await?;
    tx.query_drop("BEGIN").await?;
    tx.query_drop("INSERT INTO t (w, n) VALUES (-1, -1)")
        .await?;

    let stop = Arc::new(AtomicBool::new(false));
    let g0 = writers(&proxy, "s0", 4, &stop);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let answer = post("/switch", Some(TOKEN), body).await?;
    ensure!(answer.status == 200, "{answer:?}");
    let doc: serde_json::Value = serde_json::from_str(&answer.body)?;
    let hold = doc["switch"]["write_hold_ms"].as_u64().context("no hold")?;
    eprintln!("switchover write hold: {hold} ms");
    tokio::time::sleep(Duration::from_millis(400)).await;
    stop.store(true, Ordering::Relaxed);
    let g0 = finish(g0).await?;
    ensure!(g0.errors.is_empty(), "clients saw errors: {:?}", g0.errors);
    ensure!(write_host(&proxy, "g0") == Some(b.addr()));
    let on_a = rows(&a, "s0_db").await?;
    let on_b = rows(&b, "s0_db").await?;
    ensure!(on_b > 0, "no write reached the new write host");
    ensure!(
        on_a + on_b == g0.acked.len() as i64,
        "acknowledged {} writes, found {on_a} + {on_b}",
        g0.acked.len()
    );
    let ro: Vec<i64> = a.query("SELECT @@read_only").await?;
    ensure!(ro == vec![1], "the old write host was not set read_only");

    let e = tx
        .query_drop("INSERT INTO t (w, n) VALUES (-1, -2)")
        .await
        .err()
        .context("the transaction continued on another host")?;
    ensure!(e.to_string().contains("changed"), "{e}");
    let _ = tx.query_drop("ROLLBACK").await;
    let stray: Vec<i64> = b.query("SELECT COUNT(*) FROM s0_db.t WHERE w = -1").await?;
    ensure!(stray == vec![0]);

    let rejoin = post(
        "/rejoin",
        Some(TOKEN),
        format!("{{\"group\": \"g0\", \"host\": \"{}\"}}", a.addr()),
    )
    .await?;
    // Independent servers: the old write host holds transactions the new one never saw.
    ensure!(
        rejoin.status == 409
            && rejoin.body.contains("diverged")
            && rejoin.body.contains("stays fenced"),
        "{rejoin:?}"
    );
    ensure!(proxy.shared().failover.fenced_hosts("g0") == vec![a.addr()]);

    // `myshard switch` back to the fenced host, named explicitly, once it is writable.
    a.exec("SET GLOBAL read_only = OFF").await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("myshard.yaml");
    let yaml = format!(
        "listen: 127.0.0.1:0\nadmin_http: {{listen: '{admin}', token: {TOKEN}}}\nusers: []\n\
         groups:\n  - {{name: g0, user: u, write_hosts: ['{}', '{}'], failover: {{mode: manual}}}}\n\
         schemas: []\n",
        a.addr(),
        b.addr(),
    );
    std::fs::write(&file, yaml)?;
    let to = a.addr();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_myshard"))
            .args(["switch", "--group", "g0", "--to", &to, "--config"])
            .arg(&file)
            .output()
    })
    .await??;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        text.contains(&format!("{} -> {}", b.addr(), a.addr())),
        "{text}"
    );
    ensure!(write_host(&proxy, "g0") == Some(a.addr()));
    ensure!(proxy.shared().failover.history.of_group("g0").len() == 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn require_semi_sync_refuses_an_automatic_switch_without_it() -> Result<()> {
    let mut servers = MariaDb::start_many(2).await?;
    let b = servers.remove(1);
    let mut a = servers.remove(0);
    tables(&[&a, &b], "s0_db").await?;
    tables(&[&b], "s1_db").await?;
    let failover = "{mode: automatic, promotion: false, require_semi_sync: true, max_hold_ms: 2000, min_interval_ms: 1000}";
    let cfg = config(&[a.addr(), b.addr()], &b.addr(), failover, "")?;
    let proxy = myshard_proxy::start(cfg).await?;
    within(Duration::from_secs(5), "write host checked", || async {
        let r = proxy.shared().host_records();
        Ok(r.iter()
            .any(|r| r.addr == a.addr() && r.last_check_unix_ms.is_some())
            .then_some(()))
    })
    .await?;
    within(Duration::from_secs(5), "semi-sync sampled", || async {
        Ok(proxy.shared().failover.last_semi_sync("g0").map(|_| ()))
    })
    .await?;
    a.kill()?;
    let why = within(Duration::from_secs(5), "the detector's refusal", || async {
        Ok(proxy.shared().failover.history.refusal("g0"))
    })
    .await?;
    // The dead write host never ran semi-sync: what the sampler saw while it served.
    ensure!(
        why.contains("require_semi_sync")
            && why.contains(&format!(
                "{}: semi-synchronous replication is off",
                a.addr()
            )),
        "{why}"
    );
    ensure!(write_host(&proxy, "g0") == Some(a.addr()));
    ensure!(proxy.shared().failover.history.of_group("g0").is_empty());

    // Semi-sync switched on at the candidate after the death changes nothing: writes the
    // dead host acknowledged were never waited for.
    b.exec("SET GLOBAL rpl_semi_sync_slave_enabled = ON")
        .await?;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    ensure!(write_host(&proxy, "g0") == Some(a.addr()));
    Ok(())
}
