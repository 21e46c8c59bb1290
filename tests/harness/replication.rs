//! Real MariaDB GTID replication for tests: a primary and N replicas, each its own harness
//! server, the replicas following the primary with `MASTER_USE_GTID=slave_pos` and set
//! `read_only`.
//!
//! ```ignore
//! let group = ReplicatedGroup::start(2, 1).await?;
//! group.primary.exec("CREATE DATABASE shop").await?;
//! group.wait_caught_up().await?;
//! group.stop_sql_thread(0).await?;
//! ```
//!
//! Every server runs with `gtid_strict_mode=ON` and the group's own `gtid_domain_id`, so that
//! two groups never mix their histories (see /work/shared/design/REPLICATION.md).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{MYSHARD_PASSWORD, MYSHARD_USER, MariaDb};

/// How long [`ReplicatedGroup::wait_caught_up`] waits for each replica.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(20);

/// The replicas' `MASTER_HEARTBEAT_PERIOD` (seconds): an idle primary sends a heartbeat
/// this often, so that a replica that receives nothing for longer shows a hung primary
/// long before `slave_net_timeout`.
const HEARTBEAT_PERIOD: &str = "0.5";

/// How a [`ReplicatedGroup`]'s servers run.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupOptions {
    /// Lossless semi-synchronous replication: wait point `AFTER_SYNC`, replicas
    /// acknowledging, and every log synced at commit (`sync_relay_log=1`, `sync_binlog=1`,
    /// `innodb_flush_log_at_trx_commit=1`), as the no-loss failover tests need.
    pub semi_sync: bool,
}

/// The server options of [`GroupOptions::semi_sync`] (semi-sync is built into MariaDB
/// 10.11). The timeout is long so that a test sees a missing acknowledgement as a stall,
/// not as a silent fall-back to asynchronous replication. Every server is a semi-sync
/// primary (any may be promoted); one without semi-sync replicas of its own — a replica,
/// applying with `log_slave_updates` — must not wait for acknowledgements nobody sends.
const SEMI_SYNC_ARGS: [&str; 8] = [
    "--rpl-semi-sync-master-enabled=ON",
    "--rpl-semi-sync-master-wait-point=AFTER_SYNC",
    "--rpl-semi-sync-master-timeout=30000",
    "--rpl-semi-sync-master-wait-no-slave=OFF",
    "--rpl-semi-sync-slave-enabled=ON",
    "--sync-relay-log=1",
    "--sync-binlog=1",
    "--innodb-flush-log-at-trx-commit=1",
];

/// One primary and its replicas.
pub struct ReplicatedGroup {
    /// The server taking writes.
    pub primary: MariaDb,
    /// The servers replicating from it, in start order.
    pub replicas: Vec<MariaDb>,
    /// The group's `gtid_domain_id`.
    pub domain: u32,
}

impl ReplicatedGroup {
    /// Starts a primary and `replicas` replicas in GTID domain `domain` and waits until every
    /// replica runs both replication threads.
    pub async fn start(replicas: usize, domain: u32) -> Result<ReplicatedGroup> {
        Self::start_with(replicas, domain, GroupOptions::default()).await
    }

    /// [`start`](ReplicatedGroup::start) with `options` on every server (any of them may
    /// become the primary).
    pub async fn start_with(
        replicas: usize,
        domain: u32,
        options: GroupOptions,
    ) -> Result<ReplicatedGroup> {
        let domain_arg = format!("--gtid-domain-id={domain}");
        let mut args = vec!["--gtid-strict-mode=ON", domain_arg.as_str()];
        if options.semi_sync {
            args.extend(SEMI_SYNC_ARGS);
        }
        let mut tasks = tokio::task::JoinSet::new();
        for index in 0..=replicas {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            tasks.spawn(async move {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                (index, MariaDb::start_with_args(&args).await)
            });
        }
        let mut servers: Vec<Option<MariaDb>> = (0..=replicas).map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            let (index, started) = joined.context("a MariaDB start task failed")?;
            servers[index] = Some(started.with_context(|| format!("starting server {index}"))?);
        }
        let mut servers = servers.into_iter().flatten();
        let Some(primary) = servers.next() else {
            bail!("the primary did not start");
        };
        let group = ReplicatedGroup {
            primary,
            replicas: servers.collect(),
            domain,
        };
        for replica in &group.replicas {
            group.follow(replica).await?;
        }
        group.wait_caught_up().await?;
        Ok(group)
    }

    /// Points `replica` at the primary (GTID, `slave_pos`, heartbeats every
    /// [`HEARTBEAT_PERIOD`]), makes it `read_only` and starts replication.
    pub async fn follow(&self, replica: &MariaDb) -> Result<()> {
        replica
            .exec(&format!(
                "STOP SLAVE; CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, \
                 MASTER_USER='{MYSHARD_USER}', MASTER_PASSWORD='{MYSHARD_PASSWORD}', \
                 MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD={HEARTBEAT_PERIOD}, \
                 MASTER_USE_GTID=slave_pos; \
                 SET GLOBAL read_only=1; START SLAVE",
                self.primary.port()
            ))
            .await
            .with_context(|| format!("making {} a replica", replica.addr()))
    }

    /// Waits until every replica runs both threads and has applied everything the primary
    /// has written so far (`MASTER_GTID_WAIT` on the primary's `gtid_binlog_pos`).
    pub async fn wait_caught_up(&self) -> Result<()> {
        let pos: Vec<String> = self.primary.query("SELECT @@gtid_binlog_pos").await?;
        let pos = pos.into_iter().next().unwrap_or_default();
        for replica in &self.replicas {
            wait_running(replica).await?;
            if pos.is_empty() {
                continue;
            }
            let reached: Vec<i64> = replica
                .query(&format!(
                    "SELECT MASTER_GTID_WAIT('{pos}', {})",
                    CATCH_UP_TIMEOUT.as_secs()
                ))
                .await?;
            if reached.first() != Some(&0) {
                bail!("{} did not reach GTID {pos} in time", replica.addr());
            }
        }
        Ok(())
    }

    /// Stops replica `index`'s SQL thread: it keeps receiving events but applies none.
    pub async fn stop_sql_thread(&self, index: usize) -> Result<()> {
        self.replica(index)?.exec("STOP SLAVE SQL_THREAD").await
    }

    /// Starts replica `index`'s SQL thread again.
    pub async fn start_sql_thread(&self, index: usize) -> Result<()> {
        self.replica(index)?.exec("START SLAVE SQL_THREAD").await
    }

    /// Replica `index`.
    pub fn replica(&self, index: usize) -> Result<&MariaDb> {
        self.replicas
            .get(index)
            .with_context(|| format!("there is no replica {index}"))
    }

    /// Replica `index`, to kill or restart it.
    pub fn replica_mut(&mut self, index: usize) -> Result<&mut MariaDb> {
        self.replicas
            .get_mut(index)
            .with_context(|| format!("there is no replica {index}"))
    }
}

/// Waits until `replica` reports both replication threads running.
async fn wait_running(replica: &MariaDb) -> Result<()> {
    let deadline = Instant::now() + CATCH_UP_TIMEOUT;
    loop {
        let mut conn = replica.conn().await?;
        let row: Option<mysql_async::Row> =
            mysql_async::prelude::Queryable::query_first(&mut conn, "SHOW SLAVE STATUS").await?;
        drop(conn);
        let running = row.is_some_and(|row| {
            let io: Option<String> = row.get("Slave_IO_Running");
            let sql: Option<String> = row.get("Slave_SQL_Running");
            io.as_deref() == Some("Yes") && sql.as_deref() == Some("Yes")
        });
        if running {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "{} does not replicate: see {}",
                replica.addr(),
                replica.error_log().display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether the replica on `replica` applied everything the primary (reached by `primary`)
/// logged so far, waiting up to 20 s. Takes options and a connection rather than
/// [`MariaDb`]s so that a proxy hook (a `'static` closure, such as an XA decision hook)
/// can run it.
pub async fn replica_applied(
    primary: mysql_async::Opts,
    replica: &mut mysql_async::Conn,
) -> Result<()> {
    use mysql_async::prelude::Queryable;
    let mut p = mysql_async::Conn::new(primary).await?;
    let pos: Option<String> = p.query_first("SELECT @@gtid_binlog_pos").await?;
    let pos = pos.context("no binlog position")?;
    let reached: Option<i64> = replica
        .query_first(format!("SELECT MASTER_GTID_WAIT('{pos}', 20)"))
        .await?;
    anyhow::ensure!(reached == Some(0), "the replica did not reach {pos}");
    Ok(())
}

/// What a hook armed by [`once_replicated_at_next_decision`] did: `None` until it ran,
/// then its result (an error as text).
pub type HookOutcome<T> = std::sync::Arc<std::sync::Mutex<Option<Result<T, String>>>>;

/// Arms `proxy`'s XA coordinator: at its next logged decision (every branch prepared,
/// none committed yet), once replica 0 of `group` applied everything the primary logged
/// (so it holds the prepared branches), `then` runs with a root connection to that
/// replica; the decision waits for it. The returned slot holds what `then` gave.
pub fn once_replicated_at_next_decision<T, F, Fut>(
    proxy: &myshard_proxy::ProxyHandle,
    group: &ReplicatedGroup,
    then: F,
) -> Result<HookOutcome<T>>
where
    T: Send + 'static,
    F: FnOnce(mysql_async::Conn) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T>>,
{
    let primary = group.primary.opts(super::ROOT_USER, "", None);
    let replica = group.replica(0)?.opts(super::ROOT_USER, "", None);
    let outcome: HookOutcome<T> = Default::default();
    let slot = outcome.clone();
    proxy.shared().xa.on_next_decision(move || {
        // The hook runs on a runtime thread inside the decision: block it, not the runtime.
        let r = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let mut conn = mysql_async::Conn::new(replica).await?;
                replica_applied(primary, &mut conn).await?;
                then(conn).await
            })
        });
        if let Ok(mut s) = slot.lock() {
            *s = Some(r.map_err(|e| format!("{e:#}")));
        }
    });
    Ok(outcome)
}
