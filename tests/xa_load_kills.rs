//! The bank-transfer workload from many clients (`XA_KILL_CLIENTS`, default 8) in `xa` mode
//! while a backend dies in the commit phase (real MariaDB, the proxy in-process):
//!
//! - a group's server SIGKILLed (`kill -9` of `mariadbd`) right after some transfer's
//!   commit decision was logged and before any of its branches committed, then restarted
//!   on the same data directory;
//! - g0 a GTID primary with one replica and automatic failover with promotion, the primary
//!   SIGKILLed at the same moment; the proxy promotes the replica.
//!
//! The kill comes from the coordinator's decision hook, so it always hits a commit phase
//! (that transfer's, and whatever the other clients are doing at that moment: preparing,
//! logging, committing, or in the middle of their statements). Clients see errors, open a
//! new connection and go on. Afterwards, once recovery ran: total balance unchanged, every
//! transfer on both groups or neither, every acknowledged or decided (1180 "in doubt")
//! transfer applied, every transfer the client was told rolled back absent, `XA RECOVER`
//! empty on every server of the groups, and clients commit new transfers.

mod harness;

use anyhow::{Context, Result, ensure};
use harness::MariaDb;
use harness::bank::{self, Books, Clients, Outcomes};
use harness::e2e::wait_for;
use harness::proxy::{APP_PASSWORD, APP_USER, proxy_opts, start_proxy};
use harness::replication::{GroupOptions, ReplicatedGroup, once_replicated_at_next_decision};
use mysql_async::prelude::Queryable;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn clients() -> u64 {
    std::env::var("XA_KILL_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
}

/// A pseudo-random number below `n` (the clock's nanoseconds: enough to vary the runs).
fn random_below(n: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    u64::from(nanos) % n.max(1)
}

/// The proxy's configuration: g0 writes to `g0` (with `replica` as its read host and
/// automatic failover with promotion when there is one), g1 to `g1`; every user in `xa`
/// mode.
fn config(
    g0: &str,
    replica: Option<&str>,
    g1: &str,
    state: &str,
) -> Result<myshard_config::Config> {
    let g0_failover = match replica {
        Some(replica) => format!(
            "    read_hosts: ['{replica}']
    heartbeat: {{interval_ms: 100, timeout_ms: 300, fall: 2, rise: 2}}
    failover: {{mode: automatic, promotion: true, max_hold_ms: 8000, min_interval_ms: 60000}}
"
        ),
        None => "    heartbeat: {enabled: false}\n".to_string(),
    };
    let pool = "    pool: {max: 32, connect_timeout_ms: 1000}\n";
    bank::xa_config(
        "xa-load",
        state,
        (g0, &format!("{g0_failover}{pool}")),
        (g1, &format!("    heartbeat: {{enabled: false}}\n{pool}")),
    )
}

/// SIGKILLs process `pid` and waits until it is dead (gone or a zombie), so that nothing
/// sent afterwards reaches it.
fn kill_9(pid: u32) -> Result<()> {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()?;
    ensure!(status.success(), "kill -9 {pid}: {status}");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return Ok(()),
            Ok(stat)
                if stat
                    .rsplit(')')
                    .next()
                    .is_some_and(|s| s.trim_start().starts_with('Z')) =>
            {
                return Ok(());
            }
            Ok(_) => {}
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "{pid} survived kill -9"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Arms the coordinator so that the next logged decision SIGKILLs `pid` before any branch
/// commits; the returned flag turns true once it did.
fn kill_at_next_decision(proxy: &myshard_proxy::ProxyHandle, pid: u32) -> Arc<AtomicBool> {
    let killed = Arc::new(AtomicBool::new(false));
    let done = killed.clone();
    proxy
        .shared()
        .xa
        .on_next_decision(move || match kill_9(pid) {
            Ok(()) => done.store(true, Ordering::SeqCst),
            Err(e) => eprintln!("the kill failed: {e}"),
        });
    killed
}

async fn wait_killed(killed: &AtomicBool) -> Result<()> {
    wait_for(
        "a commit decision (the kill)",
        Duration::from_secs(30),
        || async { Ok(killed.load(Ordering::SeqCst).then_some(())) },
    )
    .await
}

/// After the clients stopped: the books once recovery finished on `dbs` (g0's write
/// server, g1's), checked against what the clients were told; then one more transfer
/// through a fresh connection commits.
async fn check(
    proxy: &myshard_proxy::ProxyHandle,
    dbs: [&MariaDb; 2],
    mut told: Outcomes,
) -> Result<Books> {
    let books = bank::settled(dbs, Duration::from_secs(30)).await?;
    if let Some(anomaly) = bank::anomaly(&books, &told) {
        anyhow::bail!("{anomaly} (clients were told: {})", told.summary());
    }
    let mut c =
        mysql_async::Conn::new(proxy_opts(proxy, APP_USER, APP_PASSWORD, Some("s0"))).await?;
    let last = i64::MAX - 1;
    bank::transfer(&mut c, last)
        .await
        .map_err(|e| anyhow::anyhow!("a transfer after recovery: {e:?}"))?;
    told.acknowledged.push(last);
    let books = bank::settled(dbs, Duration::from_secs(30)).await?;
    if let Some(anomaly) = bank::anomaly(&books, &told) {
        anyhow::bail!("after the last transfer: {anomaly}");
    }
    wait_for(
        "every decision marked done in the log",
        Duration::from_secs(20),
        || async { Ok(proxy.shared().xa.pending().is_empty().then_some(())) },
    )
    .await?;
    Ok(books)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_killed_in_the_commit_phase_under_load_loses_no_transfer() -> Result<()> {
    let state = tempfile::tempdir()?;
    let mut dbs = MariaDb::start_many(2).await?;
    for (i, db) in dbs.iter().enumerate() {
        bank::open_accounts(db, i).await?;
    }
    let proxy = start_proxy(config(
        &dbs[0].addr(),
        None,
        &dbs[1].addr(),
        &state.path().display().to_string(),
    )?)
    .await?;
    let running = Clients::start(
        proxy_opts(&proxy, APP_USER, APP_PASSWORD, Some("s0")),
        clients(),
        0,
    );
    running
        .wait_acknowledged(20, Duration::from_secs(30))
        .await?;
    let victim = random_below(2) as usize;
    let killed = kill_at_next_decision(&proxy, dbs[victim].pid()?);
    wait_killed(&killed).await?;
    // The clients go on against the dead group for a while, then it comes back on the
    // same data directory: InnoDB recovery keeps the prepared branches.
    tokio::time::sleep(Duration::from_millis(random_below(500))).await;
    let down = running.outcomes();
    dbs[victim].restart().await?;
    running
        .wait_acknowledged(20, Duration::from_secs(60))
        .await?;
    let told = running.stop(Duration::from_secs(10)).await;
    println!(
        "backend_kill: g{victim} SIGKILLed in a commit phase; while down: {}; in all: {}",
        down.summary(),
        told.summary()
    );
    ensure!(
        !told.in_doubt.is_empty(),
        "the transfer whose commit phase the kill hit was not reported in doubt: {}",
        told.summary()
    );
    let books = check(&proxy, [&dbs[0], &dbs[1]], told).await?;
    ensure!(books.g0.len() > 40, "{} transfers", books.g0.len());
    Ok(())
}

/// The bank on g0 a GTID primary with one replica (domain `domain`, `options`) and g1 a
/// plain server, behind the proxy with automatic failover on g0.
struct FailoverBank {
    // Dropped in this order: the proxy before the servers it uses.
    proxy: myshard_proxy::ProxyHandle,
    /// The replica's address, the write host once promoted.
    replica: String,
    _state: tempfile::TempDir,
    g1: MariaDb,
    group: ReplicatedGroup,
}

async fn failover_bank(domain: u32, options: GroupOptions) -> Result<FailoverBank> {
    let (group, g1) = tokio::try_join!(
        ReplicatedGroup::start_with(1, domain, options),
        MariaDb::start()
    )?;
    bank::open_accounts(&group.primary, 0).await?;
    bank::open_accounts(&g1, 1).await?;
    group.wait_caught_up().await?;
    let state = tempfile::tempdir()?;
    let replica = group.replicas[0].addr();
    let proxy = start_proxy(config(
        &group.primary.addr(),
        Some(&replica),
        &g1.addr(),
        &state.path().display().to_string(),
    )?)
    .await?;
    Ok(FailoverBank {
        proxy,
        replica,
        _state: state,
        g1,
        group,
    })
}

/// Waits until the proxy routes g0's writes to the promoted replica.
async fn wait_promoted(b: &FailoverBank) -> Result<()> {
    wait_for("the replica promoted", Duration::from_secs(30), || async {
        let table = b.proxy.shared().table();
        let host = table.group("g0").and_then(|g| g.write.clone());
        Ok(host.filter(|h| &**h.addr() == b.replica.as_str()).map(drop))
    })
    .await
}

/// One failover round: g0 a GTID primary and replica (`options`), g1 a plain server; the
/// primary SIGKILLed at a commit decision under load, the replica promoted.
async fn failover_round(options: GroupOptions) -> Result<()> {
    let b = failover_bank(71, options).await?;
    let (proxy, group) = (&b.proxy, &b.group);
    let running = Clients::start(
        proxy_opts(proxy, APP_USER, APP_PASSWORD, Some("s0")),
        clients(),
        0,
    );
    running
        .wait_acknowledged(20, Duration::from_secs(30))
        .await?;
    let killed = kill_at_next_decision(proxy, group.primary.pid()?);
    wait_killed(&killed).await?;
    wait_promoted(&b).await?;
    let at_promotion = running.outcomes();
    running
        .wait_acknowledged(20, Duration::from_secs(60))
        .await?;
    let told = running.stop(Duration::from_secs(10)).await;
    println!(
        "failover: g0's primary SIGKILLed in a commit phase, replica promoted; until the \
         promotion: {}; in all: {}",
        at_promotion.summary(),
        told.summary()
    );
    ensure!(
        !told.in_doubt.is_empty(),
        "the transfer whose commit phase the kill hit was not reported in doubt: {}",
        told.summary()
    );
    let promoted = group.replica(0).context("the replica")?;
    check(proxy, [promoted, &b.g1], told).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_failing_over_in_the_commit_phase_under_load_loses_no_transfer() -> Result<()> {
    failover_round(GroupOptions { semi_sync: true }).await
}

/// Transfer `n`, which must be acknowledged.
async fn transfer(c: &mut mysql_async::Conn, n: i64) -> Result<()> {
    bank::transfer(c, n)
        .await
        .map_err(|e| anyhow::anyhow!("transfer {n}: {e:?}"))
}

/// What MariaDB 10.11's asynchronous replication leaves after a failover: a transfer
/// whose `XA PREPARE` the replica received but not its `XA COMMIT` (acknowledged, its
/// decision done), one the replica received nothing of (acknowledged), and one decided
/// whose primary died before its `XA COMMIT` (in doubt, its prepare not received) are all
/// three applied on g1 and not on the promoted g0: recovery rolls back the first (no
/// decision pending for it any more) and finds nothing of the others. Lossless semi-sync
/// (`AFTER_SYNC`) closes this: `XA PREPARE` and `XA COMMIT` wait for the replica's
/// acknowledgement (the load test above runs with it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn asynchronous_replication_drops_on_failover_what_the_replica_did_not_receive() -> Result<()>
{
    let b = failover_bank(73, GroupOptions::default()).await?;
    let (proxy, group, g1) = (&b.proxy, &b.group, &b.g1);
    let mut c =
        mysql_async::Conn::new(proxy_opts(proxy, APP_USER, APP_PASSWORD, Some("s0"))).await?;
    // 1: whole everywhere.
    transfer(&mut c, 1).await?;
    group.wait_caught_up().await?;
    // 2: the replica applies its XA PREPARE, then stops receiving before its XA COMMIT.
    let stopped = once_replicated_at_next_decision(proxy, group, |mut r| async move {
        r.query_drop("STOP SLAVE IO_THREAD").await?;
        anyhow::Ok(())
    })?;
    transfer(&mut c, 2).await?;
    let stopped = stopped
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    ensure!(
        stopped == Some(Ok(())),
        "the replica did not stop receiving: {stopped:?}"
    );
    ensure!(bank::prepared(&group.replicas[0]).await?.len() == 1);
    // 3: nothing of it reaches the replica.
    transfer(&mut c, 3).await?;
    // 4: decided, the primary SIGKILLed before its XA COMMIT.
    let killed = kill_at_next_decision(proxy, group.primary.pid()?);
    match bank::transfer(&mut c, 4).await {
        Err(bank::Failure::AtCommit(mysql_async::Error::Server(e)))
            if e.code == 1180 && e.message.contains("in doubt") => {}
        other => anyhow::bail!("transfer 4: {other:?}"),
    }
    ensure!(killed.load(Ordering::SeqCst));
    wait_promoted(&b).await?;
    let promoted = group.replica(0).context("the replica")?;
    let books = bank::settled([promoted, g1], Duration::from_secs(30)).await?;
    ensure!(
        books.g0 == vec![1] && books.g1 == vec![1, 2, 3, 4],
        "{books:?}"
    );
    // 2 and 4 took one unit from g0 that g0 never lost, 3 one from g1 that g0 never got.
    ensure!(books.total == bank::TOTAL + 1, "{books:?}");
    Ok(())
}

/// `Rpl_semi_sync_master_status` on `c`'s server: `ON` while the primary waits for acks.
async fn semi_sync_status(c: &mut mysql_async::Conn) -> Result<String> {
    let row: Option<(String, String)> = c
        .query_first("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'")
        .await?;
    Ok(row.map(|r| r.1).unwrap_or_default())
}

/// Why lossless semi-sync closes the gap above: with a replica connected but not
/// acknowledging (paused), `XA PREPARE` and `XA COMMIT` on the primary wait for its
/// acknowledgement until `rpl_semi_sync_master_timeout` (here 1 s), like a plain commit,
/// and only then fall back to asynchronous replication (status `OFF`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semi_sync_makes_xa_prepare_and_xa_commit_wait_for_the_replica() -> Result<()> {
    let group = ReplicatedGroup::start_with(1, 74, GroupOptions { semi_sync: true }).await?;
    group
        .primary
        .exec(
            "CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY) ENGINE=InnoDB; \
             SET GLOBAL rpl_semi_sync_master_timeout = 1000",
        )
        .await?;
    group.wait_caught_up().await?;
    let mut c = group.primary.conn().await?;
    for (i, verb) in ["PREPARE", "COMMIT"].into_iter().enumerate() {
        wait_for("semi-sync active", Duration::from_secs(20), || async {
            let mut c = group.primary.conn().await?;
            Ok((semi_sync_status(&mut c).await? == "ON").then_some(()))
        })
        .await?;
        c.query_drop(format!(
            "XA START 'x{i}'; INSERT INTO d.t VALUES ({i}); XA END 'x{i}'"
        ))
        .await?;
        if verb == "COMMIT" {
            c.query_drop(format!("XA PREPARE 'x{i}'")).await?;
        }
        group.replicas[0].pause()?;
        let start = std::time::Instant::now();
        let r = c.query_drop(format!("XA {verb} 'x{i}'")).await;
        let waited = start.elapsed();
        let status = semi_sync_status(&mut c).await;
        group.replicas[0].resume()?;
        r?;
        ensure!(
            waited >= Duration::from_millis(900) && status? == "OFF",
            "XA {verb} did not wait for the replica's acknowledgement ({waited:?})"
        );
        if verb == "PREPARE" {
            c.query_drop(format!("XA COMMIT 'x{i}'")).await?;
        }
        group.wait_caught_up().await?;
    }
    Ok(())
}
