//! A group failing over in the commit phase of an XA transaction (real MariaDB: g0 a GTID
//! primary with one replica, automatic failover with promotion; g1 a plain server). The
//! primary is SIGKILLed after both branches are prepared and the decision is logged, once
//! its replica has applied the `XA PREPARE`: the client learns the commit is in doubt, the
//! proxy promotes the replica, and recovery finds the prepared branch on the promoted
//! replica and commits it there. Also checks what MariaDB 10.11 replicates of a prepared
//! branch (the replica holds it prepared, `XA RECOVER` lists it).

mod harness;

use anyhow::{Result, ensure};
use harness::MariaDb;
use harness::bank;
use harness::e2e::{server_err, wait_for};
use harness::proxy::app_conn;
use harness::replication::{ReplicatedGroup, once_replicated_at_next_decision};
use mysql_async::prelude::Queryable;
use std::time::Duration;

/// g0 on `group` (its replica a read host, automatic failover with promotion), g1 on `g1`.
fn config(group: &ReplicatedGroup, g1: &MariaDb, state: &str) -> Result<myshard_config::Config> {
    let g0_settings = format!(
        "    read_hosts: ['{replica}']
    heartbeat: {{interval_ms: 100, timeout_ms: 300, fall: 2, rise: 2}}
    failover: {{mode: automatic, promotion: true, max_hold_ms: 8000, min_interval_ms: 60000}}
    pool: {{connect_timeout_ms: 1000}}
",
        replica = group.replicas[0].addr(),
    );
    bank::xa_config(
        "xa-failover",
        state,
        (&group.primary.addr(), &g0_settings),
        (&g1.addr(), "    heartbeat: {enabled: false}\n"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_failing_over_in_the_commit_phase_commits_on_the_promoted_replica() -> Result<()> {
    let (group, g1) = tokio::try_join!(ReplicatedGroup::start(1, 61), MariaDb::start())?;
    group
        .primary
        .exec("CREATE DATABASE s0_db; CREATE TABLE s0_db.t (id INT PRIMARY KEY) ENGINE=InnoDB")
        .await?;
    g1.exec("CREATE DATABASE s1_db; CREATE TABLE s1_db.t (id INT PRIMARY KEY) ENGINE=InnoDB")
        .await?;
    group.wait_caught_up().await?;
    let state = tempfile::tempdir()?;
    let proxy =
        myshard_proxy::start(config(&group, &g1, &state.path().display().to_string())?).await?;
    let old = group.primary.addr();
    let replica = group.replicas[0].addr();
    let mut c = app_conn(&proxy, Some("s0")).await?;
    c.query_drop("BEGIN").await?;
    c.query_drop("INSERT INTO s0.t VALUES (1)").await?;
    c.query_drop("INSERT INTO s1.t VALUES (1)").await?;
    // Decision logged, both branches prepared: once the replica applied g0's XA PREPARE,
    // g0's primary dies before its XA COMMIT.
    let primary_pid = group.primary.pid()?;
    let seen = once_replicated_at_next_decision(&proxy, &group, move |mut r| async move {
        // What the replica holds of the prepared branch before the promotion.
        let rows: Vec<(i64, i64, i64, Vec<u8>)> = r.query("XA RECOVER").await?;
        std::process::Command::new("kill")
            .args(["-9", &primary_pid.to_string()])
            .status()?;
        anyhow::Ok(rows.len())
    })?;
    let (code, _, msg) = server_err(c.query_drop("COMMIT").await)?;
    ensure!(
        code == 1180 && msg.contains("in doubt") && msg.contains("g0"),
        "{code} {msg}"
    );
    let on_replica = seen
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    ensure!(
        on_replica == Some(Ok(1)),
        "the replica holds the prepared branch before the promotion: {on_replica:?}"
    );
    ensure!(g1.query::<i64>("SELECT id FROM s1_db.t").await? == vec![1]);
    // The proxy promotes the replica; recovery commits the branch there.
    wait_for("the replica promoted", Duration::from_secs(30), || async {
        let table = proxy.shared().table();
        let host = table.group("g0").and_then(|g| g.write.clone());
        Ok(host
            .map(|h| h.addr().to_string())
            .filter(|a| *a != old && *a == replica))
    })
    .await?;
    let promoted = &group.replicas[0];
    wait_for(
        "recovery to commit the branch on the promoted replica",
        Duration::from_secs(30),
        || async {
            let ids: Vec<i64> = promoted.query("SELECT id FROM s0_db.t").await?;
            Ok((ids == vec![1]).then_some(()))
        },
    )
    .await?;
    ensure!(bank::prepared(promoted).await?.is_empty());
    ensure!(bank::prepared(&g1).await?.is_empty());
    // The proxy commits across groups on the new write host.
    c.query_drop("BEGIN").await?;
    c.query_drop("INSERT INTO s0.t VALUES (2)").await?;
    c.query_drop("INSERT INTO s1.t VALUES (2)").await?;
    c.query_drop("COMMIT").await?;
    ensure!(
        promoted
            .query::<i64>("SELECT id FROM s0_db.t ORDER BY id")
            .await?
            == vec![1, 2]
    );
    Ok(())
}
