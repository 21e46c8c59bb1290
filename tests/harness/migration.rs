//! The cluster the shard-migration tests start from: logical schema `shop` in four shards
//! (0 and 1 on g0, 2 and 3 on g1) with table `t (id, v)` sharded by `id`, the proxy keeping
//! its state (placement, migration journal) in a directory of the test's, and the groups
//! writing distinct GTID domains (g0 domain 0, g1 domain 1) as a migration requires.
//!
//! ```ignore
//! let c = harness::migration::cluster_with_rows(&state, 40).await?;
//! let (pre, copied) = harness::migration::replicating(&c, 1).await?;
//! ```
//!
//! It only sets the cluster up; what a migration does is the test's to check.

use super::MariaDb;
use super::proxy::{ShardedCluster, app_conn};
use anyhow::Result;
use myshard_config::Config;
use myshard_proxy::migration::Preflight;
use myshard_proxy::migration::copy::CopyReport;
use mysql_async::prelude::Queryable;
use std::path::Path;

/// The sharding rule of table `t`.
pub const TABLES: &[&str] = &["{name: t, shard_key: id}"];

/// Four shards over g0 and g1 with the proxy's state in `state` (emptied first), the
/// configuration changed by `tweak`; both groups still write GTID domain 0.
pub async fn cluster_in_one_domain(
    state: &Path,
    tweak: impl FnOnce(&mut Config),
) -> Result<ShardedCluster> {
    in_domains(state, tweak, None).await
}

/// [`cluster_in_one_domain`] with g1 writing GTID domain 1 from before the proxy connects,
/// so a shard can replicate from one group to the other, and back.
pub async fn cluster(state: &Path, tweak: impl FnOnce(&mut Config)) -> Result<ShardedCluster> {
    in_domains(state, tweak, Some(1)).await
}

async fn in_domains(
    state: &Path,
    tweak: impl FnOnce(&mut Config),
    g1_domain: Option<u32>,
) -> Result<ShardedCluster> {
    // A state left by an earlier run of the same test would be taken for this run's.
    let _ = std::fs::remove_dir_all(state);
    let dir = state.display().to_string();
    ShardedCluster::start_in_domains(
        4,
        TABLES,
        |cfg| {
            cfg.state_dir = Some(dir);
            tweak(cfg);
        },
        g1_domain,
    )
    .await
}

/// Creates table `t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)` through the proxy and
/// inserts `rows` (id, v) in one statement, each on the shard its id hashes to.
pub async fn create_t(
    c: &ShardedCluster,
    rows: impl IntoIterator<Item = (i64, i64)>,
) -> Result<()> {
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop("CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")
        .await?;
    let values: Vec<String> = rows
        .into_iter()
        .map(|(id, v)| format!("({id}, {v})"))
        .collect();
    conn.query_drop(format!(
        "INSERT INTO t (id, v) VALUES {}",
        values.join(", ")
    ))
    .await?;
    Ok(())
}

/// [`cluster`] with rows 1..=`rows` in `t`, v = id.
pub async fn cluster_with_rows(state: &Path, rows: i64) -> Result<ShardedCluster> {
    let c = cluster(state, |_| {}).await?;
    create_t(&c, (1..=rows).map(|i| (i, i))).await?;
    Ok(c)
}

/// The first phases of a migration of `shard` of `shop` to g1, run one by one: preflight,
/// the snapshot copy, and the migration's replication connection started from the copy's
/// position (left running). Returns the preflight, which names the moving database, and
/// what the copy did.
pub async fn replicating(c: &ShardedCluster, shard: u32) -> Result<(Preflight, CopyReport)> {
    let shared = c.proxy.shared();
    let pre = shared
        .preflight("shop", shard, "g1")
        .await
        .map_err(anyhow::Error::msg)?;
    let copied = shared
        .copy_snapshot(&pre, "g1")
        .await
        .map_err(anyhow::Error::msg)?;
    shared
        .start_replication(&pre, "g1", &copied.snapshot)
        .await
        .map_err(anyhow::Error::msg)?;
    Ok((pre, copied))
}

/// The ids of table `t` of shard `shard` held on `server`, in order.
pub async fn shard_ids(server: &MariaDb, shard: u32) -> Result<Vec<i64>> {
    server
        .query(&format!("SELECT id FROM shop_{shard:04}.t ORDER BY id"))
        .await
}
