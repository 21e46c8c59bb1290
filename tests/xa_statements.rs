//! Autocommit statements spanning groups in `xa` mode (one XA transaction per statement,
//! all or nothing) versus `best_effort` (each group applies its part), and the options of
//! `START TRANSACTION` kept in `xa` mode (real MariaDB, two groups).

mod harness;

use anyhow::{Result, ensure};
use harness::MariaDb;
use harness::e2e::server_err;
use harness::proxy::app_conn;
use myshard_config::Config;
use mysql_async::prelude::Queryable;
use std::path::Path;

/// The ids of `table` on each group (g0, g1), read on the servers directly.
async fn ids_per_group(
    config: &Config,
    servers: [&MariaDb; 2],
    table: &str,
) -> Result<[Vec<i64>; 2]> {
    let topology = myshard_config::Topology::new(config);
    let mut out = [Vec::new(), Vec::new()];
    for db in topology.physical_databases() {
        if db.schema != "shop" {
            continue;
        }
        let i = usize::from(db.group != "g0");
        let ids: Vec<i64> = servers[i]
            .query(&format!("SELECT id FROM `{}`.{table}", db.database))
            .await?;
        out[i].extend(ids);
    }
    out[0].sort_unstable();
    out[1].sort_unstable();
    Ok(out)
}

/// Prepared XA branches left on the server.
async fn prepared(db: &MariaDb) -> Result<usize> {
    let rows: Vec<(i64, i64, i64, Vec<u8>)> = db.query("XA RECOVER").await?;
    Ok(rows.len())
}

/// The decision log's `commit` records.
fn decisions(dir: &Path) -> Result<usize> {
    let log = std::fs::read_to_string(dir.join(myshard_proxy::xa::decision_log::FILE_NAME))?;
    Ok(log.lines().filter(|l| l.starts_with("commit ")).count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_over_two_groups_is_all_or_nothing_in_xa_mode() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let g0 = MariaDb::start().await?;
    let g1 = MariaDb::start().await?;
    let mut config = harness::proxy::sharded_config(&g0, &g1, 4, &["{name: acct, shard_key: id}"]);
    config.state_dir = Some(dir.path().display().to_string());
    harness::proxy::create_shard_databases(&config, &[&g0, &g1]).await?;
    let proxy = harness::proxy::start_proxy(config.clone()).await?;
    let mut c = app_conn(&proxy, Some("shop")).await?;
    c.query_drop("CREATE TABLE acct (id INT PRIMARY KEY, bal INT NOT NULL)")
        .await?;
    c.query_drop("SET myshard_transaction_mode = xa").await?;
    // A multi-row INSERT over both groups: one XA transaction, committed in two phases.
    let rows: Vec<String> = (1..=8).map(|i| format!("({i}, 10)")).collect();
    c.query_drop(format!("INSERT INTO acct VALUES {}", rows.join(", ")))
        .await?;
    ensure!(c.affected_rows() == 8, "{}", c.affected_rows());
    let [on0, on1] = ids_per_group(&config, [&g0, &g1], "acct").await?;
    ensure!(on0.len() + on1.len() == 8 && !on0.is_empty() && !on1.is_empty());
    ensure!(decisions(dir.path())? == 1, "one decision for the INSERT");
    // A duplicate key on g1 fails the statement: nothing of it stays on g0 either.
    let dup = on1[0];
    let rows: Vec<String> = (101..=108)
        .map(|i| format!("({i}, 0)"))
        .chain([format!("({dup}, 0)")])
        .collect();
    let insert = format!("INSERT INTO acct VALUES {}", rows.join(", "));
    let (code, state, msg) = server_err(c.query_drop(&insert).await)?;
    ensure!(
        code == 1062 && state == "23000" && msg.contains("rolled back on every group"),
        "{code} {state} {msg}"
    );
    let [after0, after1] = ids_per_group(&config, [&g0, &g1], "acct").await?;
    ensure!(after0 == on0 && after1 == on1, "{after0:?} {after1:?}");
    ensure!(prepared(&g0).await? == 0 && prepared(&g1).await? == 0);
    // The session is not left in a transaction: the next statement autocommits.
    c.query_drop("UPDATE acct SET bal = bal + 1 WHERE id IN (1, 2, 3, 4, 5, 6, 7, 8)")
        .await?;
    ensure!(c.affected_rows() == 8);
    ensure!(decisions(dir.path())? == 2, "one decision for the UPDATE");
    let total: Option<i64> = c.query_first("SELECT SUM(bal) FROM acct").await?;
    ensure!(total == Some(88), "{total:?}");
    // A DELETE over both groups commits the same way.
    c.query_drop("DELETE FROM acct WHERE id IN (1, 2, 3, 4, 5, 6, 7, 8) AND bal > 100")
        .await?;
    ensure!(decisions(dir.path())? == 3, "one decision for the DELETE");
    // A write on one group only does not pay for XA.
    c.query_drop(format!("UPDATE acct SET bal = 11 WHERE id = {dup}"))
        .await?;
    ensure!(decisions(dir.path())? == 3);
    // best_effort: the same failing INSERT leaves g0's rows behind (the partial write xa
    // mode prevents).
    c.query_drop("SET myshard_transaction_mode = best_effort")
        .await?;
    let (code, _, msg) = server_err(c.query_drop(&insert).await)?;
    ensure!(code == 1062, "{code} {msg}");
    let [partial0, partial1] = ids_per_group(&config, [&g0, &g1], "acct").await?;
    ensure!(
        partial0.iter().any(|&id| id > 100) && partial1.len() >= on1.len(),
        "best_effort applies the other group's rows: {partial0:?} {partial1:?}"
    );
    // The prepared form goes the same way in xa mode.
    c.query_drop("SET myshard_transaction_mode = xa").await?;
    let stmt = c
        .prep("INSERT INTO acct VALUES (?, 0), (?, 0), (?, 0), (?, 0), (?, 0), (?, 0)")
        .await?;
    let params = (201, 202, 203, 204, 205, dup);
    let (code, _, _) = server_err(c.exec_drop(&stmt, params).await)?;
    ensure!(code == 1062, "{code}");
    let [p0, p1] = ids_per_group(&config, [&g0, &g1], "acct").await?;
    ensure!(!p0.iter().chain(&p1).any(|&id| id > 200), "{p0:?} {p1:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_and_consistent_snapshot_kept_in_xa_mode() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let state = dir.path().display().to_string();
    let env = harness::e2e::Env::start(2, |c| c.state_dir = Some(state)).await?;
    for (i, db) in env.dbs.iter().enumerate() {
        db.exec(&format!(
            "CREATE TABLE s{i}_db.t (id INT PRIMARY KEY) ENGINE=InnoDB"
        ))
        .await?;
    }
    let mut c = app_conn(&env.proxy, Some("s0")).await?;
    c.query_drop("SET myshard_transaction_mode = xa").await?;
    // READ ONLY over both groups: writes refused as on a server, nothing to decide.
    c.query_drop("START TRANSACTION READ ONLY").await?;
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM s0.t").await?;
    ensure!(n == Some(0));
    let (code, state, msg) = server_err(c.query_drop("INSERT INTO s1.t VALUES (1)").await)?;
    ensure!(code == 1792 && state == "25006", "{code} {state} {msg}");
    c.query_drop("COMMIT").await?;
    ensure!(decisions(dir.path()).unwrap_or(0) == 0);
    // WITH CONSISTENT SNAPSHOT: each group's branch reads one snapshot from its first
    // statement on, and the transaction still commits in two phases.
    c.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        .await?;
    let n0: Option<i64> = c.query_first("SELECT COUNT(*) FROM s0.t").await?;
    let n1: Option<i64> = c.query_first("SELECT COUNT(*) FROM s1.t").await?;
    ensure!(n0 == Some(0) && n1 == Some(0));
    env.dbs[1].exec("INSERT INTO s1_db.t VALUES (50)").await?;
    let n1: Option<i64> = c.query_first("SELECT COUNT(*) FROM s1.t").await?;
    ensure!(n1 == Some(0), "the snapshot moved: {n1:?}");
    c.query_drop("INSERT INTO s0.t VALUES (1)").await?;
    c.query_drop("INSERT INTO s1.t VALUES (1)").await?;
    c.query_drop("COMMIT").await?;
    ensure!(decisions(dir.path())? == 1, "two-phase commit");
    let n1: Option<i64> = c.query_first("SELECT COUNT(*) FROM s1.t").await?;
    ensure!(n1 == Some(2));
    ensure!(prepared(&env.dbs[0]).await? + prepared(&env.dbs[1]).await? == 0);
    Ok(())
}
