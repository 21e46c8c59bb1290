//! The failover control plane against real MariaDB GTID replication (a primary and two
//! replicas): promotion of the most advanced replica after `kill -9` of the primary, a
//! planned switchover that waits for its target and turns the old primary into a replica,
//! the switch to an already writable candidate, the GTID domain check, rejoining an old
//! primary (clean, or diverged with the extra transaction listed) and the semi-sync status.

mod harness;

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use harness::replication::{GroupOptions, ReplicatedGroup};
use harness::{MYSHARD_PASSWORD, MYSHARD_USER, MariaDb};
use myshard_failover::monitor::Login;
use myshard_failover::promotion::gtid::GtidPos;
use myshard_failover::{
    Fence, GtidPromoter, Promoter, PromotionRequest, RejoinError, ReplicationLogin, SwitchReason,
    WritableCandidate, check_domains, lossless, rejoin, semi_sync_status,
};
use mysql_async::Row;

const STEP: Duration = Duration::from_secs(5);

fn login(server: &MariaDb) -> Login {
    Login {
        addr: server.addr(),
        user: MYSHARD_USER.into(),
        password: MYSHARD_PASSWORD.into(),
        gtid: true,
    }
}

fn replication() -> ReplicationLogin {
    ReplicationLogin {
        user: MYSHARD_USER.into(),
        password: MYSHARD_PASSWORD.into(),
    }
}

fn request(
    reason: SwitchReason,
    old: &MariaDb,
    candidates: &[&MariaDb],
    target: Option<&MariaDb>,
) -> PromotionRequest {
    PromotionRequest {
        group: "g0".into(),
        reason,
        old: login(old),
        candidates: candidates.iter().map(|c| login(c)).collect(),
        target: target.map(MariaDb::addr),
        replication: replication(),
        apply_timeout: Duration::from_secs(10),
        fence_timeout: Duration::from_secs(1),
    }
}

fn failover() -> SwitchReason {
    SwitchReason::Failover {
        detail: "killed by the test".into(),
    }
}

/// A group in `domain` with table `fo.t` on every server.
async fn group(domain: u32) -> Result<ReplicatedGroup> {
    let group = ReplicatedGroup::start(2, domain).await?;
    group
        .primary
        .exec("CREATE DATABASE fo; CREATE TABLE fo.t (id INT PRIMARY KEY)")
        .await?;
    group.wait_caught_up().await?;
    Ok(group)
}

async fn insert(server: &MariaDb, ids: std::ops::Range<u32>) -> Result<()> {
    let values: Vec<String> = ids.map(|i| format!("({i})")).collect();
    server
        .exec(&format!("INSERT INTO fo.t VALUES {}", values.join(",")))
        .await
}

async fn count(server: &MariaDb) -> Result<i64> {
    let n: Vec<i64> = server.query("SELECT COUNT(*) FROM fo.t").await?;
    n.first().copied().context("COUNT(*) returned no row")
}

async fn var(server: &MariaDb, name: &str) -> Result<String> {
    let v: Vec<Option<String>> = server.query(&format!("SELECT @@{name}")).await?;
    Ok(v.into_iter().next().flatten().unwrap_or_default())
}

async fn slave_status(server: &MariaDb) -> Result<Option<Row>> {
    let rows: Vec<Row> = server.query("SHOW SLAVE STATUS").await?;
    Ok(rows.into_iter().next())
}

/// The port `server` replicates from, and whether both threads run.
async fn source_of(server: &MariaDb) -> Result<Option<(u16, bool)>> {
    Ok(slave_status(server).await?.map(|row| {
        let port: Option<u16> = row.get("Master_Port");
        let io: Option<String> = row.get("Slave_IO_Running");
        let sql: Option<String> = row.get("Slave_SQL_Running");
        (
            port.unwrap_or(0),
            io.as_deref() == Some("Yes") && sql.as_deref() == Some("Yes"),
        )
    }))
}

/// `server`'s `Slave_heartbeat_period` in seconds (the harness sets 0.5 s on every
/// replica; a `CHANGE MASTER` that does not pass it on resets it to 30 s).
async fn heartbeat_period(server: &MariaDb) -> Result<f64> {
    // Only SHOW ALL SLAVES STATUS has the column.
    let rows: Vec<Row> = server.query("SHOW ALL SLAVES STATUS").await?;
    let row = rows.into_iter().next().context("replicates")?;
    let period: Option<String> = row.get("Slave_heartbeat_period");
    period
        .unwrap_or_default()
        .parse()
        .context("Slave_heartbeat_period is a number")
}

/// Polls `check` every 20 ms until it holds, for at most `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{what}: not within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `replica` has applied everything `source` wrote.
async fn applied_all_of(replica: &MariaDb, source: &MariaDb) -> Result<()> {
    let pos = var(source, "gtid_binlog_pos").await?;
    let reached: Vec<i64> = replica
        .query(&format!("SELECT MASTER_GTID_WAIT('{pos}', 10)"))
        .await?;
    ensure!(
        reached.first() == Some(&0),
        "{} did not apply {pos}",
        replica.addr()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_promotes_the_replica_that_received_most_and_repoints_the_other() -> Result<()> {
    let mut group = group(31).await?;
    insert(&group.primary, 0..10).await?;
    group.wait_caught_up().await?;
    // Replica 1 stops receiving; replica 0 keeps receiving but applies nothing: the last
    // writes exist only in replica 0's relay log when the primary dies.
    let (ahead, behind) = (group.replica(0)?, group.replica(1)?);
    behind.exec("STOP SLAVE IO_THREAD").await?;
    ahead.exec("STOP SLAVE SQL_THREAD").await?;
    insert(&group.primary, 10..20).await?;
    let written =
        GtidPos::parse(&var(&group.primary, "gtid_binlog_pos").await?).map_err(|e| anyhow!(e))?;
    eventually(STEP, "replica 0 received the last writes", || async {
        let row = slave_status(ahead).await?.context("replica 0 replicates")?;
        let io: Option<String> = row.get("Gtid_IO_Pos");
        let io = GtidPos::parse(&io.unwrap_or_default()).map_err(|e| anyhow!(e))?;
        Ok(io.seq(31) >= written.seq(31))
    })
    .await?;
    ensure!(
        count(ahead).await? == 10,
        "replica 0 applied nothing new yet"
    );
    group.primary.kill()?;

    let (ahead, behind) = (group.replica(0)?, group.replica(1)?);
    // The less advanced replica comes first in configured order: position decides.
    let req = request(failover(), &group.primary, &[behind, ahead], None);
    let promotion = GtidPromoter::default()
        .promote(&req)
        .await
        .map_err(|e| anyhow!(e))?;
    ensure!(promotion.new_write_host == ahead.addr(), "{promotion:?}");
    ensure!(
        matches!(promotion.fence, Fence::NotReached(_)),
        "{promotion:?}"
    );
    ensure!(promotion.repointed == vec![behind.addr()], "{promotion:?}");
    ensure!(promotion.not_repointed.is_empty(), "{promotion:?}");
    // Its relay log was applied before it became writable: nothing it received is lost.
    ensure!(count(ahead).await? == 20, "promoted replica lost writes");
    ensure!(
        var(ahead, "read_only").await? == "0",
        "promoted is writable"
    );
    ensure!(slave_status(ahead).await?.is_none(), "promoted replicates");
    let position = GtidPos::parse(promotion.gtid_position.as_deref().unwrap_or_default())
        .map_err(|e| anyhow!(e))?;
    ensure!(position.seq(31) >= written.seq(31), "{promotion:?}");

    // The other replica follows the new primary and receives new writes.
    insert(ahead, 20..25).await?;
    applied_all_of(behind, ahead).await?;
    ensure!(
        count(behind).await? == 25,
        "repointed replica misses writes"
    );
    let (port, running) = source_of(behind).await?.context("repointed replicates")?;
    ensure!(port == ahead.port() && running, "repointed to {port}");
    // It kept its heartbeat period: its silence proves the next hang as fast.
    let period = heartbeat_period(behind).await?;
    ensure!((period - 0.5).abs() < 1e-6, "heartbeat period {period} s");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switchover_waits_for_its_target_and_makes_the_old_primary_a_replica() -> Result<()> {
    let group = group(32).await?;
    let (target, other) = (group.replica(0)?, group.replica(1)?);
    // The target is behind when the switchover starts; it applies only 700 ms later.
    target.exec("STOP SLAVE SQL_THREAD").await?;
    insert(&group.primary, 0..50).await?;
    let resume = {
        let target_login = target.opts(MYSHARD_USER, MYSHARD_PASSWORD, None);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            let mut conn = mysql_async::Conn::new(target_login).await?;
            mysql_async::prelude::Queryable::query_drop(&mut conn, "START SLAVE SQL_THREAD")
                .await?;
            Ok::<_, anyhow::Error>(Instant::now())
        })
    };
    let req = request(
        SwitchReason::Switchover,
        &group.primary,
        &[other, target],
        Some(target),
    );
    let promotion = GtidPromoter::default()
        .promote(&req)
        .await
        .map_err(|e| anyhow!(e))?;
    let done = Instant::now();
    let resumed = resume.await??;
    ensure!(done >= resumed, "promoted before the target applied");
    ensure!(promotion.new_write_host == target.addr(), "{promotion:?}");
    ensure!(promotion.fence == Fence::ReadOnly, "{promotion:?}");
    ensure!(count(target).await? == 50, "a write was lost");
    let old_position = promotion.old_gtid_position.clone().unwrap_or_default();
    ensure!(
        old_position == var(&group.primary, "gtid_binlog_pos").await?,
        "{promotion:?}"
    );
    let mut repointed = promotion.repointed.clone();
    repointed.sort();
    let mut expected = vec![group.primary.addr(), other.addr()];
    expected.sort();
    ensure!(repointed == expected, "{promotion:?}");

    // The old primary is a read-only replica of the new one and receives its writes, as
    // does the other replica.
    ensure!(var(&group.primary, "read_only").await? == "1", "old fenced");
    insert(target, 50..60).await?;
    for replica in [&group.primary, other] {
        applied_all_of(replica, target).await?;
        ensure!(
            count(replica).await? == 60,
            "{} misses writes",
            replica.addr()
        );
        let (port, running) = source_of(replica).await?.context("replicates")?;
        ensure!(
            port == target.port() && running,
            "{} follows {port}",
            replica.addr()
        );
        // The demoted primary gets the group's heartbeat period, the other keeps its own.
        let period = heartbeat_period(replica).await?;
        ensure!(
            (period - 0.5).abs() < 1e-6,
            "{} heartbeat period {period} s",
            replica.addr()
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switchover_is_abandoned_when_the_target_does_not_catch_up() -> Result<()> {
    let group = group(33).await?;
    let target = group.replica(0)?;
    target.exec("STOP SLAVE SQL_THREAD").await?;
    insert(&group.primary, 0..5).await?;
    let mut req = request(
        SwitchReason::Switchover,
        &group.primary,
        &[target, group.replica(1)?],
        Some(target),
    );
    req.apply_timeout = Duration::from_millis(500);
    let err = GtidPromoter::default()
        .promote(&req)
        .await
        .err()
        .context("the switchover should fail")?;
    ensure!(err.contains("did not apply"), "{err}");
    ensure!(err.contains("writable again"), "{err}");
    // Nothing changed: the old primary takes writes, the target still replicates from it.
    ensure!(
        var(&group.primary, "read_only").await? == "0",
        "old unfenced"
    );
    insert(&group.primary, 5..6).await?;
    let (port, _) = source_of(target).await?.context("target replicates")?;
    ensure!(port == group.primary.port(), "target follows {port}");
    ensure!(
        var(target, "read_only").await? == "1",
        "target stays read-only"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writable_candidate_skips_read_only_hosts_and_fences_the_old() -> Result<()> {
    let servers = MariaDb::start_many(4).await?;
    let [old, read_only, writable, also_writable] = &servers[..] else {
        bail!("four servers expected");
    };
    read_only.exec("SET GLOBAL read_only=ON").await?;
    let req = request(failover(), old, &[read_only, writable, also_writable], None);
    let promotion = WritableCandidate::default()
        .promote(&req)
        .await
        .map_err(|e| anyhow!(e))?;
    ensure!(promotion.new_write_host == writable.addr(), "{promotion:?}");
    ensure!(promotion.fence == Fence::ReadOnly, "{promotion:?}");
    ensure!(var(old, "read_only").await? == "1", "old fenced");
    ensure!(promotion.gtid_position.is_some(), "{promotion:?}");
    // Nothing else changed on the servers.
    ensure!(
        var(writable, "read_only").await? == "0",
        "writable unchanged"
    );
    ensure!(
        var(read_only, "read_only").await? == "1",
        "read-only unchanged"
    );

    // A target is honoured; a read-only target is refused with the reason.
    let req = request(
        failover(),
        old,
        &[writable, also_writable],
        Some(also_writable),
    );
    let promotion = WritableCandidate::default()
        .promote(&req)
        .await
        .map_err(|e| anyhow!(e))?;
    ensure!(
        promotion.new_write_host == also_writable.addr(),
        "{promotion:?}"
    );
    let req = request(failover(), old, &[read_only], None);
    let err = WritableCandidate::default()
        .promote(&req)
        .await
        .err()
        .context("only a read-only candidate")?;
    ensure!(err.contains("no writable candidate"), "{err}");
    ensure!(
        err.contains(&format!("{}: read_only=ON", read_only.addr())),
        "{err}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_domains_refuses_groups_sharing_a_domain_or_split_over_two() -> Result<()> {
    let (a, b, c) = tokio::try_join!(
        MariaDb::start_with_args(&["--gtid-domain-id=5"]),
        MariaDb::start_with_args(&["--gtid-domain-id=5"]),
        MariaDb::start_with_args(&["--gtid-domain-id=6"]),
    )?;
    let g = |name: &str, hosts: &[&MariaDb]| -> (String, Vec<Login>) {
        (name.into(), hosts.iter().map(|h| login(h)).collect())
    };
    let gone = Login {
        addr: format!("127.0.0.1:{}", harness::free_port()?),
        ..login(&a)
    };
    let groups = [g("g0", &[&a]), (g("g1", &[&c]).0, vec![login(&c), gone])];
    let domains = check_domains(&groups, STEP).await.map_err(|e| anyhow!(e))?;
    ensure!(domains.by_group.get("g0") == Some(&5), "{domains:?}");
    ensure!(domains.by_group.get("g1") == Some(&6), "{domains:?}");
    ensure!(domains.unreachable.len() == 1, "{domains:?}");

    let err = check_domains(&[g("g0", &[&a]), g("g1", &[&b])], STEP)
        .await
        .err()
        .context("two groups in domain 5")?;
    ensure!(err.contains("share gtid_domain_id 5"), "{err}");
    let err = check_domains(&[g("g0", &[&a, &c])], STEP)
        .await
        .err()
        .context("one group over two domains")?;
    ensure!(err.contains("different GTID domains"), "{err}");
    Ok(())
}

/// Kills the primary of a group in `domain`, promotes replica 0 and restarts the old
/// primary (writable, replicating from nothing, as after a crash).
async fn split(domain: u32) -> Result<ReplicatedGroup> {
    let mut group = group(domain).await?;
    insert(&group.primary, 0..10).await?;
    group.wait_caught_up().await?;
    group.primary.kill()?;
    let req = request(
        failover(),
        &group.primary,
        &[group.replica(0)?, group.replica(1)?],
        None,
    );
    let promotion = GtidPromoter::default()
        .promote(&req)
        .await
        .map_err(|e| anyhow!(e))?;
    ensure!(
        promotion.new_write_host == group.replica(0)?.addr(),
        "{promotion:?}"
    );
    group.primary.restart().await?;
    insert(group.replica(0)?, 10..15).await?;
    Ok(group)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejoin_makes_a_clean_old_primary_a_replica_of_the_new() -> Result<()> {
    let group = split(34).await?;
    let (old, new) = (&group.primary, group.replica(0)?);
    let from = rejoin(&login(old), &login(new), &replication(), 0.5, STEP)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    ensure!(
        from == var(old, "gtid_binlog_pos").await?,
        "continues from {from}"
    );
    ensure!(
        var(old, "read_only").await? == "1",
        "rejoined host is read-only"
    );
    insert(new, 15..20).await?;
    applied_all_of(old, new).await?;
    ensure!(count(old).await? == 20, "rejoined host misses writes");
    let (port, running) = source_of(old).await?.context("rejoined replicates")?;
    ensure!(port == new.port() && running, "follows {port}");
    let period = heartbeat_period(old).await?;
    ensure!((period - 0.5).abs() < 1e-6, "heartbeat period {period} s");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejoin_reports_a_write_made_on_the_old_primary_after_the_split() -> Result<()> {
    let group = split(35).await?;
    let (old, new) = (&group.primary, group.replica(0)?);
    insert(old, 100..101).await?;
    let stray = var(old, "gtid_binlog_pos").await?;
    let err = rejoin(&login(old), &login(new), &replication(), 0.5, STEP)
        .await
        .err()
        .context("the old primary diverged")?;
    let RejoinError::Diverged { domain, extra, .. } = &err else {
        bail!("not a divergence: {err}");
    };
    ensure!(*domain == 35 && extra == &vec![stray.clone()], "{err}");
    ensure!(err.to_string().contains(&stray), "{err}");
    // Nothing changed on it.
    ensure!(
        slave_status(old).await?.is_none(),
        "diverged host replicates"
    );
    ensure!(
        var(old, "read_only").await? == "0",
        "diverged host untouched"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semi_sync_status_tells_lossless_from_asynchronous() -> Result<()> {
    let options = GroupOptions { semi_sync: true };
    let (group, plain) = tokio::try_join!(
        ReplicatedGroup::start_with(1, 36, options),
        MariaDb::start()
    )?;
    group.primary.exec("CREATE DATABASE fo").await?;
    let replica = semi_sync_status(&login(group.replica(0)?), STEP)
        .await
        .map_err(|e| anyhow!(e))?;
    ensure!(replica.slave_enabled, "{replica:?}");
    // The primary turns semi-sync on once a semi-sync replica has connected.
    let deadline = Instant::now() + STEP;
    let primary = loop {
        let status = semi_sync_status(&login(&group.primary), STEP)
            .await
            .map_err(|e| anyhow!(e))?;
        if status.master_active || Instant::now() >= deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    ensure!(
        primary.master_enabled && primary.wait_point == "AFTER_SYNC",
        "{primary:?}"
    );
    lossless(&primary, std::slice::from_ref(&replica)).map_err(|e| anyhow!(e))?;
    ensure!(
        var(group.replica(0)?, "sync_relay_log").await? == "1",
        "sync_relay_log"
    );

    let off = semi_sync_status(&login(&plain), STEP)
        .await
        .map_err(|e| anyhow!(e))?;
    ensure!(!off.master_enabled && !off.master_active, "{off:?}");
    let err = lossless(&off, &[replica]).err().unwrap_or_default();
    ensure!(err.contains("semi-synchronous replication is off"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_from_a_hung_primary_is_bounded_by_the_fence_timeout() -> Result<()> {
    let group = group(37).await?;
    insert(&group.primary, 0..10).await?;
    group.wait_caught_up().await?;
    // SIGSTOP: TCP connections stay open and nothing answers, replicas included.
    group.primary.pause()?;
    let mut req = request(
        failover(),
        &group.primary,
        &[group.replica(0)?, group.replica(1)?],
        None,
    );
    req.fence_timeout = Duration::from_secs(3);
    let started = Instant::now();
    let promotion = GtidPromoter::default().promote(&req).await;
    let took = started.elapsed();
    group.primary.resume()?;
    let promotion = promotion.map_err(|e| anyhow!(e))?;
    let Fence::NotReached(why) = &promotion.fence else {
        bail!("a hung host cannot be fenced: {promotion:?}");
    };
    ensure!(why.contains("in the background within 3000 ms"), "{why}");
    // The promotion does not wait out the fence timeout (3 s) of a hung host: the fence
    // goes on in the background (it took ~0.5 s on a loaded 2-CPU machine).
    eprintln!("failover from a hung primary took {took:?}");
    ensure!(took < Duration::from_secs(3), "took {took:?}");
    let new = group.replica(0)?;
    ensure!(promotion.new_write_host == new.addr(), "{promotion:?}");
    insert(new, 10..12).await?;
    applied_all_of(group.replica(1)?, new).await?;
    ensure!(count(group.replica(1)?).await? == 12, "repointed replica");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_lossless_semi_sync_no_acknowledged_write_is_lost_by_a_failover() -> Result<()> {
    let options = GroupOptions { semi_sync: true };
    let mut group = ReplicatedGroup::start_with(2, 38, options).await?;
    group
        .primary
        .exec("CREATE DATABASE fo; CREATE TABLE fo.t (id INT PRIMARY KEY)")
        .await?;
    group.wait_caught_up().await?;
    // Four clients write numbered rows until the primary dies under them; an id counts as
    // acknowledged only when its INSERT returned OK.
    let mut writers = tokio::task::JoinSet::new();
    for client in 0..4u32 {
        let opts = group.primary.opts(MYSHARD_USER, MYSHARD_PASSWORD, None);
        writers.spawn(async move {
            let mut acknowledged = Vec::new();
            let Ok(mut conn) = mysql_async::Conn::new(opts).await else {
                return acknowledged;
            };
            for n in 0..100_000u32 {
                let id = n * 4 + client;
                let sql = format!("INSERT INTO fo.t VALUES ({id})");
                let insert = mysql_async::prelude::Queryable::query_drop(&mut conn, sql);
                match tokio::time::timeout(Duration::from_secs(5), insert).await {
                    Ok(Ok(())) => acknowledged.push(id),
                    _ => break,
                }
            }
            acknowledged
        });
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    group.primary.kill()?;
    let mut acknowledged = Vec::new();
    while let Some(done) = writers.join_next().await {
        acknowledged.extend(done?);
    }
    ensure!(
        acknowledged.len() > 20,
        "only {} writes",
        acknowledged.len()
    );

    let req = request(
        failover(),
        &group.primary,
        &[group.replica(0)?, group.replica(1)?],
        None,
    );
    let promotion = GtidPromoter::default()
        .promote(&req)
        .await
        .map_err(|e| anyhow!(e))?;
    let new = [group.replica(0)?, group.replica(1)?]
        .into_iter()
        .find(|r| r.addr() == promotion.new_write_host)
        .context("promoted host is a replica")?;
    let present: Vec<u32> = new.query("SELECT id FROM fo.t").await?;
    let present: std::collections::BTreeSet<u32> = present.into_iter().collect();
    let lost: Vec<&u32> = acknowledged
        .iter()
        .filter(|id| !present.contains(id))
        .collect();
    ensure!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
    Ok(())
}

/// Waits until `replica` has received up to the primary's current position.
async fn received_all_of(replica: &MariaDb, primary: &MariaDb, domain: u32) -> Result<()> {
    let written =
        GtidPos::parse(&var(primary, "gtid_binlog_pos").await?).map_err(|e| anyhow!(e))?;
    eventually(STEP, "received the last writes", || async {
        let row = slave_status(replica).await?.context("replicates")?;
        let io: Option<String> = row.get("Gtid_IO_Pos");
        let io = GtidPos::parse(&io.unwrap_or_default()).map_err(|e| anyhow!(e))?;
        Ok(io.seq(domain) >= written.seq(domain))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_with_both_threads_stopped_counts_only_what_it_applied() -> Result<()> {
    let mut group = group(39).await?;
    insert(&group.primary, 0..10).await?;
    group.wait_caught_up().await?;
    let (stopped, running) = (group.replica(0)?, group.replica(1)?);
    // `stopped` receives two more transactions but applies neither, then stops receiving;
    // `running` applies the first and never receives the second.
    stopped.exec("STOP SLAVE SQL_THREAD").await?;
    insert(&group.primary, 10..20).await?;
    received_all_of(stopped, &group.primary, 39).await?;
    applied_all_of(running, &group.primary).await?;
    running.exec("STOP SLAVE IO_THREAD").await?;
    insert(&group.primary, 20..30).await?;
    received_all_of(stopped, &group.primary, 39).await?;
    stopped.exec("STOP SLAVE IO_THREAD").await?;
    group.primary.kill()?;

    let (stopped, running) = (group.replica(0)?, group.replica(1)?);
    let mut req = request(failover(), &group.primary, &[stopped, running], None);
    req.apply_timeout = Duration::from_secs(3);
    // Starting `stopped` again would purge its relay log: what it received there cannot be
    // applied, so `running` (applied more) is the most advanced.
    let promotion = GtidPromoter::default()
        .promote(&req)
        .await
        .map_err(|e| anyhow!(e))?;
    ensure!(promotion.new_write_host == running.addr(), "{promotion:?}");
    ensure!(count(running).await? == 20, "promoted lost applied writes");
    ensure!(promotion.repointed == vec![stopped.addr()], "{promotion:?}");
    insert(running, 100..101).await?;
    applied_all_of(stopped, running).await?;
    ensure!(count(stopped).await? == 21, "repointed replica");
    Ok(())
}
