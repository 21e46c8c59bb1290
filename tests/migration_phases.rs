//! A migration stopped at each phase before its cut-over — by `abort`, or by the proxy
//! going away (dropped in-process) and a new one starting on the same state directory —
//! ends consistent: the target's copy and replication connection are gone, the journal says
//! aborted, the shard is served by its source with every row, and it can migrate afresh.

mod harness;

use anyhow::{Context, Result};
use harness::migration;
use harness::proxy::{ShardedCluster, app_conn, start_proxy};
use myshard_proxy::ProxyHandle;
use myshard_proxy::migration::{Bounds, Phase, journal};
use mysql_async::prelude::Queryable;

const ROWS: i64 = 40;
/// The shard moved (g0 → g1).
const MOVED: u32 = 1;

/// Runs the engine's steps of a migration of shard `MOVED` to g1 up to `phase`, as the
/// engine journals them, and leaves it there; returns the migration's id.
async fn leave_at(c: &ShardedCluster, proxy: &ProxyHandle, phase: Phase) -> Result<u64> {
    let shared = proxy.shared().clone();
    let config = shared.config();
    let m = journal::begin(&config, "shop", MOVED, "g0", "g1").map_err(anyhow::Error::msg)?;
    if phase == Phase::Preflight {
        return Ok(m.id);
    }
    let pre = shared
        .preflight("shop", MOVED, "g1")
        .await
        .map_err(anyhow::Error::msg)?;
    journal::record(&config, m.id, Phase::Copy, None).map_err(anyhow::Error::msg)?;
    let copied = shared
        .copy_snapshot(&pre, "g1")
        .await
        .map_err(anyhow::Error::msg)?;
    if phase == Phase::Copy {
        // Stopped mid-copy: part of the rows are there.
        c.g1.exec(&format!("DELETE FROM shop_{MOVED:04}.t WHERE id % 2 = 0"))
            .await?;
        return Ok(m.id);
    }
    journal::record(&config, m.id, Phase::Replicate, None).map_err(anyhow::Error::msg)?;
    shared
        .start_replication(&pre, "g1", &copied.snapshot)
        .await
        .map_err(anyhow::Error::msg)?;
    if phase == Phase::CuttingOver {
        journal::record(&config, m.id, Phase::CuttingOver, None).map_err(anyhow::Error::msg)?;
    }
    Ok(m.id)
}

/// Everything as before the migration `id`: checked on the servers and through `proxy`.
async fn consistent(c: &ShardedCluster, proxy: &ProxyHandle, id: u64, sum: i64) -> Result<()> {
    let what = format!("migration {id}");
    let dbs: Vec<String> =
        c.g1.query(&format!("SHOW DATABASES LIKE 'shop_{MOVED:04}'"))
            .await?;
    assert!(dbs.is_empty(), "{what}: the target's copy is dropped");
    let slaves: Vec<mysql_async::Row> = c.g1.query("SHOW ALL SLAVES STATUS").await?;
    assert!(slaves.is_empty(), "{what}: no replication connection left");
    let m = journal::migrations(&proxy.shared().config())
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .find(|m| m.id == id)
        .context("journaled")?;
    assert_eq!(m.phase, Phase::Aborted, "{m:?}");
    assert_eq!(
        proxy.shared().table().topology.group_of("shop", MOVED),
        Some("g0"),
        "{what}: the shard stays on g0"
    );
    let mut conn = app_conn(proxy, Some("shop")).await?;
    let n: Option<i64> = conn.query_first("SELECT SUM(v) FROM t").await?;
    assert_eq!(n, Some(sum), "{what}: every row served");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_stopped_at_each_phase_by_abort_or_restart_ends_consistent() -> Result<()> {
    let state = std::env::temp_dir().join(format!("myshard-mig-phases-{}", std::process::id()));
    let c = migration::cluster_with_rows(&state, ROWS).await?;
    let sum: i64 = (1..=ROWS).sum();
    let config = (*c.proxy.shared().config()).clone();
    let mut proxy: Option<ProxyHandle> = None;
    let phases = [
        Phase::Preflight,
        Phase::Copy,
        Phase::Replicate,
        Phase::CuttingOver,
    ];
    for phase in phases {
        // Aborted through the API.
        let running = proxy.as_ref().unwrap_or(&c.proxy);
        let id = leave_at(&c, running, phase).await?;
        let m = running
            .shared()
            .abort_journaled(id)
            .await
            .map_err(anyhow::Error::msg)?;
        assert_eq!(m.phase, Phase::Aborted, "abort in {phase:?}");
        consistent(&c, running, id, sum).await?;

        // The proxy gone in that phase, a new one started on the same state.
        let id = leave_at(&c, running, phase).await?;
        match proxy.take() {
            Some(p) => p.stop(),
            None => c.proxy.stop(),
        }
        let again = start_proxy(config.clone()).await?;
        consistent(&c, &again, id, sum).await?;
        proxy = Some(again);
    }
    // Nothing left over: the shard migrates afresh.
    let last = proxy.context("restarted proxy")?;
    let m = last
        .shared()
        .migrate("shop", MOVED, "g1", Bounds::default())
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(m.phase, Phase::CutOver, "{m:?}");
    let mut conn = app_conn(&last, Some("shop")).await?;
    let n: Option<i64> = conn.query_first("SELECT SUM(v) FROM t").await?;
    assert_eq!(n, Some(sum), "every row served from g1");
    last.stop();
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}
