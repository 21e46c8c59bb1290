//! Replication groups for tests: a primary and its replicas, real MariaDB GTID replication
//! (`CHANGE MASTER TO … MASTER_USE_GTID=slave_pos`).
//!
//! Harness servers already run with the binary log on, `binlog_format=ROW`,
//! `log_slave_updates` and a distinct `server_id`; this adds a `gtid_domain_id` per group and
//! `gtid_strict_mode`, and points each replica at the primary with the [`MYSHARD_USER`]
//! account (it holds every privilege, replication included).

use super::{MYSHARD_PASSWORD, MYSHARD_USER, MariaDb};
use anyhow::{Context, Result, bail};
use std::time::Duration;

/// A primary and its replicas.
pub struct ReplicaSet {
    /// The server taking writes.
    pub primary: MariaDb,
    /// Servers replicating from it.
    pub replicas: Vec<MariaDb>,
}

impl ReplicaSet {
    /// Starts a primary and `replicas` replicas replicating from it in GTID domain
    /// `domain`, and waits until every replica's threads run.
    pub async fn start(replicas: usize, domain: u32) -> Result<ReplicaSet> {
        let mut servers = MariaDb::start_many(replicas + 1).await?;
        let primary = servers.remove(0);
        for s in std::iter::once(&primary).chain(servers.iter()) {
            s.exec(&format!(
                "SET GLOBAL gtid_domain_id = {domain}; SET GLOBAL gtid_strict_mode = ON"
            ))
            .await?;
        }
        for r in &servers {
            r.exec(&format!(
                "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {}, \
                 MASTER_USER = '{MYSHARD_USER}', MASTER_PASSWORD = '{MYSHARD_PASSWORD}', \
                 MASTER_CONNECT_RETRY = 1, MASTER_USE_GTID = slave_pos; START SLAVE",
                primary.port()
            ))
            .await
            .with_context(|| format!("pointing {} at {}", r.addr(), primary.addr()))?;
        }
        let set = ReplicaSet {
            primary,
            replicas: servers,
        };
        set.sync().await?;
        Ok(set)
    }

    /// Waits until every running replica has applied everything the primary has written.
    pub async fn sync(&self) -> Result<()> {
        let pos: Vec<String> = self.primary.query("SELECT @@gtid_binlog_pos").await?;
        let pos = pos.into_iter().next().unwrap_or_default();
        for r in &self.replicas {
            let waited: Vec<i64> = r
                .query(&format!("SELECT MASTER_GTID_WAIT('{pos}', 30)"))
                .await?;
            if waited.first() != Some(&0) {
                let status: Vec<mysql_async::Row> = r.query("SHOW SLAVE STATUS").await?;
                bail!(
                    "replica {} did not reach {pos} within 30 s: {status:?}",
                    r.addr()
                );
            }
        }
        Ok(())
    }

    /// Every server, the primary first.
    pub fn servers(&self) -> impl Iterator<Item = &MariaDb> {
        std::iter::once(&self.primary).chain(self.replicas.iter())
    }

    /// Waits until `replica` reports both replication threads running.
    pub async fn wait_running(replica: &MariaDb) -> Result<()> {
        super::e2e::wait_for(
            "replication threads running",
            Duration::from_secs(30),
            || async {
                let rows: Vec<mysql_async::Row> = replica.query("SHOW SLAVE STATUS").await?;
                let running = rows.first().is_some_and(|r| {
                    let io: Option<String> = r.get("Slave_IO_Running");
                    let sql: Option<String> = r.get("Slave_SQL_Running");
                    io.as_deref() == Some("Yes") && sql.as_deref() == Some("Yes")
                });
                Ok(running.then_some(()))
            },
        )
        .await
    }
}
