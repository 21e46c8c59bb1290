//! Shard migration: the placement of migrated shards as persisted state (a statement held
//! at the gate while the placement changes runs on the new group; a restarted proxy routes
//! by the persisted placement; a corrupt placement file or one of another cluster stops the
//! start), and the cut-over (all or nothing: a target that does not catch up leaves the
//! shard where it was; one replicating the shard takes it with no acknowledged write lost).

mod harness;

use anyhow::{Context, Result};
use harness::migration;
use harness::proxy::{ShardedCluster, app_conn, start_proxy};
use myshard_proxy::migration::journal;
use myshard_proxy::migration::{Bounds, CutOver, CutOverError, MigrationRecord, Phase, Placement};
use mysql_async::prelude::Queryable;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const ROWS: i64 = 40;
/// The shard the tests move (on g0 in the configuration).
const MOVED: u32 = 1;

fn state_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("myshard-migration-{name}-{}", std::process::id()))
}

/// Four shards (0, 1 on g0; 2, 3 on g1), `ROWS` rows with v = id, and a copy of shard
/// `MOVED` on g1 where v = -id: an answer tells which group served it.
async fn cluster_with_copy(state: &std::path::Path) -> Result<(ShardedCluster, Vec<i64>)> {
    let c = migration::cluster_in_one_domain(state, |_| {}).await?;
    migration::create_t(&c, (1..=ROWS).map(|i| (i, i))).await?;
    let db = format!("shop_{MOVED:04}");
    let ids = migration::shard_ids(&c.g0, MOVED).await?;
    anyhow::ensure!(!ids.is_empty(), "shard {MOVED} holds rows");
    c.g1.exec(&format!("CREATE DATABASE {db}")).await?;
    c.g1.exec(&format!(
        "CREATE TABLE {db}.t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)"
    ))
    .await?;
    let copy: Vec<String> = ids.iter().map(|i| format!("({i}, {})", -i)).collect();
    c.g1.exec(&format!("INSERT INTO {db}.t VALUES {}", copy.join(", ")))
        .await?;
    Ok((c, ids))
}

fn moved(c: &ShardedCluster) -> Placement {
    let config = c.proxy.shared().config();
    let mut p = Placement::default();
    p.place(&config, "shop", MOVED, "g1");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_statement_held_at_the_gate_runs_on_the_new_group() -> Result<()> {
    let state = state_dir("held");
    let (c, ids) = cluster_with_copy(&state).await?;
    let id = ids[0];
    let shared = c.proxy.shared().clone();
    let epoch = shared.table().epoch;
    let mut text = app_conn(&c.proxy, Some("shop")).await?;
    let mut prepared = app_conn(&c.proxy, Some("shop")).await?;
    let before: Option<i64> = text
        .query_first(format!("SELECT v FROM t WHERE id = {id}"))
        .await?;
    assert_eq!(before, Some(id), "served by g0 before the move");

    let gate = shared
        .table()
        .gate(&format!("shop_{MOVED:04}"))
        .context("gate")?
        .clone();
    let closure = gate.close().await;
    let held = tokio::spawn(async move {
        let t: Option<i64> = text
            .query_first(format!("SELECT v FROM t WHERE id = {id}"))
            .await?;
        let p: Option<i64> = prepared
            .exec_first("SELECT v FROM t WHERE id = ?", (id,))
            .await?;
        let n: Option<i64> = text.query_first("SELECT SUM(v) FROM t").await?;
        Ok::<_, mysql_async::Error>((t, p, n))
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!held.is_finished(), "statements wait at the closed gate");
    let new_epoch = shared.persist_placement(moved(&c))?;
    assert!(new_epoch > epoch, "a placement change is a new table epoch");
    drop(closure);
    let (t, p, n) = tokio::time::timeout(Duration::from_secs(10), held).await???;
    assert_eq!(t, Some(-id), "held text statement ran on g1");
    assert_eq!(p, Some(-id), "held prepared statement ran on g1");
    let moved_sum: i64 = ids.iter().sum();
    let all: i64 = (1..=ROWS).sum();
    assert_eq!(
        n,
        Some(all - 2 * moved_sum),
        "the scatter reads shard {MOVED} on g1"
    );
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_proxy_routes_by_the_persisted_placement() -> Result<()> {
    let state = state_dir("restart");
    let (c, ids) = cluster_with_copy(&state).await?;
    let id = ids[0];
    c.proxy.shared().persist_placement(moved(&c))?;
    let config = (*c.proxy.shared().config()).clone();
    c.proxy.stop();

    let again = start_proxy(config.clone()).await?;
    let mut conn = app_conn(&again, Some("shop")).await?;
    let v: Option<i64> = conn
        .query_first(format!("SELECT v FROM t WHERE id = {id}"))
        .await?;
    assert_eq!(
        v,
        Some(-id),
        "the restarted proxy routes shard {MOVED} to g1"
    );
    again.stop();

    // A corrupt file and a file of another cluster stop the start.
    let file = state.join("placement.json");
    let good = std::fs::read_to_string(&file)?;
    std::fs::write(&file, &good[..good.len() / 2])?;
    let err = start_proxy(config.clone())
        .await
        .err()
        .context("corrupt file refused")?;
    assert!(err.to_string().contains("corrupt"), "{err}");
    let other: serde_json::Value = serde_json::from_str(&good)?;
    let mut other = other;
    other["cluster"] = serde_json::Value::String("00000000deadbeef".into());
    std::fs::write(&file, serde_json::to_vec(&other)?)?;
    let err = start_proxy(config)
        .await
        .err()
        .context("other cluster refused")?;
    assert!(err.to_string().contains("another cluster"), "{err}");
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}

fn cut_over(catch_up_ms: u64) -> CutOver {
    CutOver {
        schema: "shop".into(),
        shard: MOVED,
        to: "g1".into(),
        drain: Duration::from_secs(5),
        catch_up: Duration::from_millis(catch_up_ms),
        snapshot: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_over_whose_target_does_not_catch_up_changes_nothing() -> Result<()> {
    let state = state_dir("lagging");
    // g1 holds a copy but replicates nothing: it never reaches g0's position.
    let (c, ids) = cluster_with_copy(&state).await?;
    let id = ids[0];
    let shared = c.proxy.shared().clone();
    let epoch = shared.table().epoch;
    let err = shared
        .cut_over(&cut_over(300))
        .await
        .err()
        .context("a lagging target refuses the cut-over")?;
    assert!(matches!(err, CutOverError::NotCaughtUp { .. }), "{err}");
    assert!(err.to_string().contains("stays on 'g0'"), "{err}");
    assert_eq!(shared.table().epoch, epoch, "nothing published");
    assert!(!state.join("placement.json").exists(), "nothing persisted");
    // The gate is open again and the shard still served by g0.
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    let v: Option<i64> = tokio::time::timeout(
        Duration::from_secs(5),
        conn.query_first(format!("SELECT v FROM t WHERE id = {id}")),
    )
    .await??;
    assert_eq!(v, Some(id));
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shard_migrates_under_writes_without_losing_an_acknowledged_write() -> Result<()> {
    let state = state_dir("cutover");
    // Distinct GTID domains per group, as migration requires.
    let c = migration::cluster(&state, |_| {}).await?;
    migration::create_t(&c, (1..=ROWS).map(|i| (i, 0))).await?;
    let db = format!("shop_{MOVED:04}");
    let ids = migration::shard_ids(&c.g0, MOVED).await?;
    let id = *ids.first().context("shard holds rows")?;
    // A writer sets the row to 1, 2, 3, … across the cut-over and notes the last value
    // acknowledged: an older value applied on g1 after a newer one would show.
    let stop = Arc::new(AtomicBool::new(false));
    let mut writer = app_conn(&c.proxy, Some("shop")).await?;
    let flag = stop.clone();
    let load = tokio::spawn(async move {
        let (mut acked, mut errors) = (0i64, Vec::new());
        while !flag.load(Ordering::Relaxed) {
            match writer
                .exec_drop("UPDATE t SET v = ? WHERE id = ?", (acked + 1, id))
                .await
            {
                Ok(()) => acked += 1,
                Err(e) => errors.push(e.to_string()),
            }
        }
        (acked, errors)
    });
    // Under the writes: preflight, the snapshot copy, and replication from the snapshot's
    // position, limited to the shard.
    let shared = c.proxy.shared().clone();
    let (_, copied) = migration::replicating(&c, MOVED).await?;
    assert_eq!((copied.tables, copied.rows), (1, ids.len() as u64));
    assert!(
        !copied.snapshot.is_empty(),
        "the snapshot has a GTID position"
    );

    tokio::time::sleep(Duration::from_millis(300)).await;
    // g1 lags: its applier stops while writes go on, and resumes during the cut-over,
    // which must wait for it.
    c.g1.exec(&format!("STOP SLAVE 'myshard_{db}' SQL_THREAD"))
        .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The writer stops before g1 resumes: were the cut-over not to wait for g1, writes
    // acknowledged on g1 would be overwritten by older ones replicated afterwards.
    let gate = c
        .proxy
        .shared()
        .table()
        .gate(&db)
        .cloned()
        .context("the shard has a gate")?;
    let resume = async {
        // Once the gate is closed (by time, a loaded machine could start the cut-over
        // after the writer stopped), the writer's next write waits there and runs on g1.
        while gate.try_pass().is_some() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.store(true, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.g1.exec(&format!("START SLAVE 'myshard_{db}' SQL_THREAD"))
            .await
    };
    let plan = cut_over(10_000);
    let (report, resumed) = tokio::join!(c.proxy.shared().cut_over(&plan), resume);
    resumed?;
    let report = report?;
    let (acked, errors) = load.await?;
    // Everything g0 ever logged is applied on g1 before looking.
    let pos: Vec<String> = c.g0.query("SELECT @@gtid_binlog_pos").await?;
    let reached: Vec<i64> =
        c.g1.query(&format!(
            "SELECT MASTER_GTID_WAIT('{}', 10)",
            pos.first().cloned().unwrap_or_default()
        ))
        .await?;
    assert_eq!(reached, vec![0], "g1 applied g0's log");
    assert!(errors.is_empty(), "clients saw errors: {errors:?}");
    assert_eq!(report.from, "g0");
    assert!(
        report.hold < Duration::from_secs(10),
        "hold {:?}",
        report.hold
    );
    shared
        .remove_replication(&db, "g1")
        .await
        .map_err(anyhow::Error::msg)?;
    let left: Vec<mysql_async::Row> = c.g1.query("SHOW ALL SLAVES STATUS").await?;
    assert!(left.is_empty(), "the replication connection is removed");
    let n: Vec<i64> = c.g1.query(&format!("SELECT COUNT(*) FROM {db}.t")).await?;
    assert_eq!(
        n,
        vec![ids.len() as i64],
        "every row of the shard once on g1"
    );
    let on_g1: Vec<i64> =
        c.g1.query(&format!("SELECT v FROM {db}.t WHERE id = {id}"))
            .await?;
    assert_eq!(on_g1, vec![acked], "g1 holds the last acknowledged write");
    let on_g0: Vec<i64> =
        c.g0.query(&format!("SELECT v FROM {db}.t WHERE id = {id}"))
            .await?;
    assert!(
        on_g0[0] < acked,
        "writes after the cut-over went to g1 only"
    );
    // Verify: the write held at the gate ran on g1 only, so the copies differ in one
    // chunk; with g0's row set to g1's value they are equal; a row changed on g1 behind
    // the proxy's back is found again.
    let after_cut = shared
        .verify(&db, "g0", "g1")
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(after_cut.differences.len(), 1, "{after_cut:?}");
    c.g0.exec(&format!("UPDATE {db}.t SET v = {acked} WHERE id = {id}"))
        .await?;
    let same = shared
        .verify(&db, "g0", "g1")
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(
        (same.rows, same.differences.len()),
        (ids.len() as u64, 0),
        "{same:?}"
    );
    c.g1.exec(&format!(
        "UPDATE {db}.t SET v = v + 1 WHERE id = {}",
        ids[ids.len() - 1]
    ))
    .await?;
    let differ = shared
        .verify(&db, "g0", "g1")
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(differ.differences.len(), 1, "{differ:?}");
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_refuses_a_shared_domain_and_an_existing_database() -> Result<()> {
    let state = state_dir("preflight");
    let c = migration::cluster_in_one_domain(&state, |_| {}).await?;
    let shared = c.proxy.shared().clone();
    // Both servers start in domain 0.
    let err = shared
        .preflight("shop", MOVED, "g1")
        .await
        .err()
        .context("same domain")?;
    assert!(err.contains("share gtid_domain_id 0"), "{err}");
    c.g1.exec("SET GLOBAL gtid_domain_id = 1").await?;
    let ok = shared
        .preflight("shop", MOVED, "g1")
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(
        (ok.from.as_str(), ok.source_domain, ok.target_domain),
        ("g0", 0, 1)
    );
    c.g1.exec(&format!("CREATE DATABASE shop_{MOVED:04}"))
        .await?;
    let err = shared
        .preflight("shop", MOVED, "g1")
        .await
        .err()
        .context("db exists")?;
    assert!(err.contains("already has database shop_0001"), "{err}");
    c.g0.exec("SET GLOBAL binlog_format = 'STATEMENT'").await?;
    let err = shared
        .preflight("shop", MOVED, "g1")
        .await
        .err()
        .context("format")?;
    assert!(err.contains("binlog_format=STATEMENT, not ROW"), "{err}");
    let err = shared
        .preflight("shop", 0, "g0")
        .await
        .err()
        .context("same group")?;
    assert!(err.contains("already on group 'g0'"), "{err}");
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_before_the_cut_over_leaves_everything_as_it_was() -> Result<()> {
    let state = state_dir("abort");
    let c = migration::cluster_with_rows(&state, ROWS).await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    let shared = c.proxy.shared().clone();
    let epoch = shared.table().epoch;
    migration::replicating(&c, MOVED).await?;
    shared
        .abort_migration("shop", MOVED, "g1")
        .await
        .map_err(anyhow::Error::msg)?;
    let dbs: Vec<String> = c.g1.query("SHOW DATABASES LIKE 'shop_0001'").await?;
    assert!(dbs.is_empty(), "the target's copy is dropped");
    let slaves: Vec<mysql_async::Row> = c.g1.query("SHOW ALL SLAVES STATUS").await?;
    assert!(slaves.is_empty(), "the replication connection is removed");
    assert_eq!(shared.table().epoch, epoch, "the placement did not change");
    let n: Option<i64> = conn.query_first("SELECT SUM(v) FROM t").await?;
    assert_eq!(
        n,
        Some((1..=ROWS).sum::<i64>()),
        "the proxy serves every row as before"
    );
    shared
        .preflight("shop", MOVED, "g1")
        .await
        .map_err(anyhow::Error::msg)?;
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}

/// A cluster whose groups write distinct GTID domains, with `ROWS` rows (v = id).
async fn cluster_with_rows(state: &std::path::Path) -> Result<ShardedCluster> {
    migration::cluster_with_rows(state, ROWS).await
}

fn journal_of(c: &ShardedCluster) -> Result<Vec<MigrationRecord>> {
    journal::migrations(&c.proxy.shared().config()).map_err(anyhow::Error::msg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_migrations_of_one_shard_at_once_one_is_refused_and_the_journal_keeps_the_phase()
-> Result<()> {
    let state = state_dir("journal");
    let c = cluster_with_rows(&state).await?;
    let shared = c.proxy.shared().clone();
    let (a, b) = tokio::join!(
        shared.migrate("shop", MOVED, "g1", Bounds::default()),
        shared.migrate("shop", MOVED, "g1", Bounds::default())
    );
    let (done, refused) = match (a, b) {
        (Ok(m), Err(e)) | (Err(e), Ok(m)) => (m, e),
        other => anyhow::bail!("exactly one migration runs: {other:?}"),
    };
    assert!(refused.contains("already migrating"), "{refused}");
    assert_eq!(done.phase, Phase::CutOver, "{done:?}");
    let journal = journal_of(&c)?;
    assert_eq!(journal, vec![done.clone()], "one migration journaled");
    // Until it is cleaned up, the shard cannot migrate again (not even back).
    let again = shared
        .migrate("shop", MOVED, "g0", Bounds::default())
        .await
        .err()
        .context("second migration refused")?;
    assert!(again.contains("already migrating"), "{again}");
    // It cut over: the shard is served by g1, every row there.
    let db = format!("shop_{MOVED:04}");
    let on_g0: Vec<i64> = c.g0.query(&format!("SELECT COUNT(*) FROM {db}.t")).await?;
    let on_g1: Vec<i64> = c.g1.query(&format!("SELECT COUNT(*) FROM {db}.t")).await?;
    assert_eq!(on_g0, on_g1, "the target holds every row");
    c.g1.exec(&format!("UPDATE {db}.t SET v = -v")).await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    let n: Option<i64> = conn
        .query_first("SELECT COUNT(*) FROM t WHERE v < 0")
        .await?;
    assert_eq!(n, on_g1.first().copied(), "shard {MOVED} is read from g1");
    let left: Vec<mysql_async::Row> = c.g1.query("SHOW ALL SLAVES STATUS").await?;
    assert!(left.is_empty(), "the replication connection is removed");
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_restarted_mid_migration_aborts_it_and_one_restarted_after_the_placement_keeps_it()
-> Result<()> {
    let state = state_dir("resume");
    let c = cluster_with_rows(&state).await?;
    let shared = c.proxy.shared().clone();
    let config = (*shared.config()).clone();
    // The phases the engine runs, stopped while replicating.
    let m = journal::begin(&config, "shop", MOVED, "g0", "g1").map_err(anyhow::Error::msg)?;
    let pre = shared
        .preflight("shop", MOVED, "g1")
        .await
        .map_err(anyhow::Error::msg)?;
    journal::record(&config, m.id, Phase::Copy, None).map_err(anyhow::Error::msg)?;
    let copied = shared
        .copy_snapshot(&pre, "g1")
        .await
        .map_err(anyhow::Error::msg)?;
    journal::record(&config, m.id, Phase::Replicate, None).map_err(anyhow::Error::msg)?;
    shared
        .start_replication(&pre, "g1", &copied.snapshot)
        .await
        .map_err(anyhow::Error::msg)?;
    drop(shared);
    c.proxy.stop();

    let again = start_proxy(config.clone()).await?;
    let dbs: Vec<String> = c.g1.query("SHOW DATABASES LIKE 'shop_0001'").await?;
    assert!(dbs.is_empty(), "the target's copy is dropped");
    let slaves: Vec<mysql_async::Row> = c.g1.query("SHOW ALL SLAVES STATUS").await?;
    assert!(slaves.is_empty(), "the replication connection is removed");
    let journal = journal::migrations(&config).map_err(anyhow::Error::msg)?;
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].phase, Phase::Aborted, "{:?}", journal[0]);
    let mut conn = app_conn(&again, Some("shop")).await?;
    let n: Option<i64> = conn.query_first("SELECT SUM(v) FROM t").await?;
    assert_eq!(n, Some((1..=ROWS).sum::<i64>()), "served as before");

    // A crash after the placement was persisted but before the journal said so: the
    // restarted proxy keeps the shard on the target and records the cut-over.
    let m = journal::begin(&config, "shop", MOVED, "g0", "g1").map_err(anyhow::Error::msg)?;
    journal::record(&config, m.id, Phase::CuttingOver, None).map_err(anyhow::Error::msg)?;
    let db = format!("shop_{MOVED:04}");
    c.g1.exec(&format!("CREATE DATABASE {db}")).await?;
    c.g1.exec(&format!(
        "CREATE TABLE {db}.t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)"
    ))
    .await?;
    c.g1.exec(&format!("INSERT INTO {db}.t VALUES (1000, -1)"))
        .await?;
    let mut placement = Placement::default();
    placement.place(&config, "shop", MOVED, "g1");
    again.shared().persist_placement(placement)?;
    drop(conn);
    again.stop();
    let third = start_proxy(config.clone()).await?;
    let journal = journal::migrations(&config).map_err(anyhow::Error::msg)?;
    assert_eq!(journal[1].phase, Phase::CutOver, "{:?}", journal[1]);
    let dbs: Vec<String> = c.g1.query(&format!("SHOW DATABASES LIKE '{db}'")).await?;
    assert_eq!(dbs.len(), 1, "the target's database is kept");
    let mut conn = app_conn(&third, Some("shop")).await?;
    let on_target: Option<i64> = conn
        .query_first("SELECT COUNT(*) FROM t WHERE v = -1")
        .await?;
    assert_eq!(on_target, Some(1), "shard {MOVED} is served by g1");
    third.stop();
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_outlasting_the_drain_fails_retryably_and_the_cut_over_happens() -> Result<()> {
    let state = state_dir("drain");
    let c = cluster_with_rows(&state).await?;
    let db = format!("shop_{MOVED:04}");
    let ids = migration::shard_ids(&c.g0, MOVED).await?;
    let id = *ids.first().context("shard has rows")?;
    let mut slow = app_conn(&c.proxy, Some("shop")).await?;
    let started = std::time::Instant::now();
    let sleeper = tokio::spawn(async move {
        let r: Result<Option<(i64, i64)>, _> = slow
            .query_first(format!("SELECT SLEEP(30), v FROM t WHERE id = {id}"))
            .await;
        (r, slow)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bounds = Bounds {
        drain: Duration::from_millis(500),
        catch_up: Duration::from_secs(10),
    };
    let m = c
        .proxy
        .shared()
        .migrate("shop", MOVED, "g1", bounds)
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(m.phase, Phase::CutOver, "{m:?}");
    let (r, mut slow) = tokio::time::timeout(Duration::from_secs(10), sleeper).await??;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the slow statement was interrupted"
    );
    match r {
        Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 1317, "{e:?}"),
        other => anyhow::bail!("the slow statement fails with 1317: {other:?}"),
    }
    // Retried, it runs on the target.
    c.g1.exec(&format!("UPDATE {db}.t SET v = -v WHERE id = {id}"))
        .await?;
    let v: Option<i64> = slow
        .query_first(format!("SELECT v FROM t WHERE id = {id}"))
        .await?;
    assert_eq!(v, Some(-id), "the retry is served by g1");
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_started_listed_and_refused_over_http() -> Result<()> {
    use myshard_proxy::admin_http::client::{request, request_with_body};
    const TOKEN: &str = "migrate-token";
    let state = state_dir("http");
    let c = migration::cluster(&state, |cfg| {
        cfg.admin_http = Some(myshard_config::AdminHttp {
            listen: "127.0.0.1:0".into(),
            token: Some(TOKEN.into()),
        });
    })
    .await?;
    migration::create_t(&c, (1..=4).map(|i| (i, i))).await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    let admin = c.proxy.admin_addr().context("admin endpoint")?.to_string();
    let t = Duration::from_secs(10);
    let body = format!(r#"{{"schema": "shop", "shard": {MOVED}, "to": "g1"}}"#);
    let no_token = request_with_body(&admin, "POST", "/migrations", None, &body, t).await?;
    assert_eq!(no_token.status, 401, "{no_token:?}");
    let bad = request_with_body(&admin, "POST", "/migrations", Some(TOKEN), "{}", t).await?;
    assert_eq!(bad.status, 400, "{bad:?}");
    let unknown = r#"{"schema": "shop", "shard": 1, "to": "g9"}"#;
    let unknown = request_with_body(&admin, "POST", "/migrations", Some(TOKEN), unknown, t).await?;
    assert_eq!(unknown.status, 409, "{unknown:?}");
    assert!(unknown.body.contains("'g9'"), "{unknown:?}");

    let started = request_with_body(&admin, "POST", "/migrations", Some(TOKEN), &body, t).await?;
    assert_eq!(started.status, 202, "{started:?}");
    let m: serde_json::Value = serde_json::from_str(&started.body)?;
    let id = m["id"].as_u64().context("id")?;
    let twice = request_with_body(&admin, "POST", "/migrations", Some(TOKEN), &body, t).await?;
    assert_eq!(twice.status, 409, "{twice:?}");
    assert!(twice.body.contains("already migrating"), "{twice:?}");
    // It runs in the background to its cut-over.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let phase = loop {
        let list = request(&admin, "GET", "/migrations", None, t).await?;
        assert_eq!(list.status, 200, "{list:?}");
        // Each record comes with its progress.
        let list: Vec<serde_json::Value> = serde_json::from_str(&list.body)?;
        let phase = list
            .iter()
            .find(|m| m["id"].as_u64() == Some(id))
            .and_then(|m| serde_json::from_value::<Phase>(m["phase"].clone()).ok());
        if phase == Some(Phase::CutOver) || std::time::Instant::now() > deadline {
            break phase;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(phase, Some(Phase::CutOver));
    // Phase and copy progress in /status and /metrics.
    let on_shard: Vec<u64> =
        c.g0.query(&format!("SELECT COUNT(*) FROM shop_{MOVED:04}.t"))
            .await?;
    let on_shard = on_shard.first().copied().context("count")?;
    let status = request(&admin, "GET", "/status", None, t).await?;
    let status: serde_json::Value = serde_json::from_str(&status.body)?;
    let shown = &status["migrations"][0];
    assert_eq!(shown["phase"], "cut_over", "{status}");
    assert_eq!(shown["progress"]["rows_copied"], on_shard, "{status}");
    assert!(
        shown["progress"]["bytes_copied"].as_u64() > Some(0),
        "{status}"
    );
    let metrics = request(&admin, "GET", "/metrics", None, t).await?.body;
    let series = format!(
        "myshard_migration_phase{{id=\"{id}\",schema=\"shop\",shard=\"{MOVED}\",to=\"g1\",phase=\"cut_over\"}} 1"
    );
    assert!(metrics.contains(&series), "{metrics}");
    let rows = format!(
        "myshard_migration_rows_copied{{id=\"{id}\",schema=\"shop\",shard=\"{MOVED}\"}} {on_shard}"
    );
    assert!(metrics.contains(&rows), "{metrics}");
    let late = request(
        &admin,
        "POST",
        &format!("/migrations/{id}/abort"),
        Some(TOKEN),
        t,
    )
    .await?;
    assert_eq!(late.status, 409, "{late:?}");
    assert!(late.body.contains("before its cut-over"), "{late:?}");
    let n: Option<i64> = conn.query_first("SELECT SUM(v) FROM t").await?;
    assert_eq!(n, Some(10), "every row served after the move");

    // Cleanup only after a successful verify (the migration's own, before its cut-over,
    // counts; the quiet-time verify works too); then the shard can move back.
    let post = |what: &str| {
        let (admin, path) = (admin.clone(), format!("/migrations/{id}/{what}"));
        async move { request(&admin, "POST", &path, Some(TOKEN), t).await }
    };
    assert!(
        journal_of(&c)?
            .iter()
            .any(|m| m.id == id && m.verified_before_cut_over),
        "verified before the cut-over"
    );
    let db = format!("shop_{MOVED:04}");
    let verified = post("verify").await?;
    assert_eq!(verified.status, 200, "{verified:?}");
    let cleaned = post("cleanup").await?;
    assert_eq!(cleaned.status, 200, "{cleaned:?}");
    let gone: Vec<String> = c.g0.query(&format!("SHOW DATABASES LIKE '{db}'")).await?;
    assert!(gone.is_empty(), "cleanup dropped the source copy");
    let back = c
        .proxy
        .shared()
        .migrate("shop", MOVED, "g0", Bounds::default())
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!((back.from.as_str(), back.phase), ("g1", Phase::CutOver));
    let n: Option<i64> = conn.query_first("SELECT SUM(v) FROM t").await?;
    assert_eq!(n, Some(10), "every row served after moving back");
    let placement = std::fs::read_to_string(state.join("placement.json"))?;
    assert!(
        !placement.contains("\"g1\""),
        "back on its configured group: {placement}"
    );
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}

/// g1's `gtid_domain_id` set globally after the proxy connected: its pooled sessions still
/// log domain 0, g0's domain. Moving a shard from g1 to g0 under writes would leave those
/// writes neither waited for nor compared; the migration stops naming the domain, before
/// any cut-over, and the shard stays on g1 with every write. With the domain in force for
/// every session, the same move completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_writing_the_targets_gtid_domain_is_refused() -> Result<()> {
    const BACK: u32 = 2; // on g1
    let state = state_dir("domain-guard");
    let c = migration::cluster_in_one_domain(&state, |_| {}).await?;
    migration::create_t(&c, (1..=ROWS).map(|i| (i, i))).await?;
    let shared = c.proxy.shared().clone();
    let db = format!("shop_{BACK:04}");
    let ids = migration::shard_ids(&c.g1, BACK).await?;
    let id = *ids.first().context("shard 2 holds rows")?;
    // The proxy's sessions on g1 exist before the domain changes.
    let mut writer = app_conn(&c.proxy, Some("shop")).await?;
    writer
        .exec_drop("UPDATE t SET v = v WHERE id = ?", (id,))
        .await?;
    c.g1.exec("SET GLOBAL gtid_domain_id = 1").await?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let load = tokio::spawn(async move {
        let mut n = 0i64;
        while !flag.load(Ordering::Relaxed) {
            n += 1;
            writer
                .exec_drop("UPDATE t SET v = ? WHERE id = ?", (n, id))
                .await?;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        anyhow::Ok(n)
    });
    let outcome = shared.migrate("shop", BACK, "g0", Bounds::default()).await;
    stop.store(true, Ordering::Relaxed);
    let last = load.await??;
    let error = outcome.err().context("the move must stop")?;
    assert!(
        error.contains("GTID domain 0") && error.contains("gtid_domain_id"),
        "{error}"
    );
    assert_eq!(shared.table().topology.group_of("shop", BACK), Some("g1"));
    let v: Vec<i64> =
        c.g1.query(&format!("SELECT v FROM {db}.t WHERE id = {id}"))
            .await?;
    assert_eq!(v, vec![last], "g1 holds the last write");
    let left: Vec<String> = c.g0.query(&format!("SHOW DATABASES LIKE '{db}'")).await?;
    assert!(left.is_empty(), "no copy left on g0: {left:?}");
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}
