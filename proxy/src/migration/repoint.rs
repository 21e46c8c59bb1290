//! A migration across a failover of its groups. The target write host the copy and the
//! replication connection `myshard_<database>` went to is journaled with the copy's
//! snapshot position; before and after each cut-over attempt the routing table's write
//! hosts are compared with it:
//! - the target group switched (a promoted replica holds the copy and the replicated events
//!   through its own replication from the former write host): the connection is created on
//!   the new write host from what it applied in the source's domain (never behind the
//!   snapshot), limited to the database, and removed from the former write host if it
//!   answers; the cut-over is tried again;
//! - the source group switched: the connection is pointed at the source's new write host
//!   (`MASTER_USE_GTID=slave_pos`).
//!
//! A switch of the target group during the copy cannot be followed (the rest of the copy
//! went to a host that no longer replicates to the new one): the migration stops with a
//! reason naming the failover, and the abort cleans the former and the new target write
//! host.

use super::cutover::write_login;
use super::journal::{self, MigrationRecord};
use super::preflight::Preflight;
use super::replicate::connection_name;
use crate::server::Shared;
use myshard_failover::monitor::Login;
use myshard_failover::promotion::Server;
use myshard_failover::promotion::gtid::{GtidPos, parse_list};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Bound of connecting and of each statement.
const STEP: Duration = Duration::from_secs(5);

/// Where a migration's copy and replication connection are on the target group.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TargetHost {
    /// Address of the target write host.
    pub addr: String,
    /// The copy's snapshot position on the source (empty until the copy ends).
    #[serde(default)]
    pub snapshot: String,
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

fn host_port(addr: &str) -> Result<(&str, u16), String> {
    addr.rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse().ok()?)))
        .ok_or_else(|| format!("address {addr} has no port"))
}

/// Creates and starts the connection `myshard_<database>` on `target` from `source`,
/// at `target`'s `gtid_slave_pos`, limited to `database`.
pub(super) async fn create_connection(
    target: &mut Server,
    source: &Login,
    database: &str,
) -> Result<(), String> {
    let (host, port) = host_port(&source.addr)?;
    let name = connection_name(database);
    target
        .exec(&format!(
            "CHANGE MASTER '{name}' TO MASTER_HOST='{}', MASTER_PORT={port}, MASTER_USER='{}', \
             MASTER_PASSWORD='{}', MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=slave_pos",
            quote(host),
            quote(&source.user),
            quote(&source.password),
        ))
        .await?;
    target
        .exec(&format!(
            "SET GLOBAL `{name}`.replicate_do_db = '{}'",
            quote(database)
        ))
        .await?;
    target.exec(&format!("START SLAVE '{name}'")).await
}

/// Adds to `pos` the domains of `target`'s own binlog it has no entry for: with
/// `gtid_strict_mode` a `gtid_slave_pos` behind the server's binlog is refused, and the
/// server's position in a domain it writes is where its binlog is.
pub(super) async fn with_own_domains(target: &mut Server, pos: &mut GtidPos) -> Result<(), String> {
    for gtid in parse_list(&target.var("gtid_binlog_pos").await?)? {
        if pos.get(gtid.domain).is_none() {
            pos.raise(gtid);
        }
    }
    Ok(())
}

/// Stops and removes the connection moving `database` on `server`, if it has one.
async fn drop_connection(server: &mut Server, database: &str) -> Result<(), String> {
    let name = connection_name(database);
    let rows = server
        .rows(&format!("SHOW SLAVE '{name}' STATUS"))
        .await
        .unwrap_or_default();
    if rows.is_empty() {
        return Ok(());
    }
    server
        .exec(&format!("STOP SLAVE '{name}'; RESET SLAVE '{name}' ALL"))
        .await
}

impl Shared {
    /// The address of `group`'s write host in the table in force.
    pub(super) fn write_addr(&self, group: &str) -> Option<String> {
        let table = self.table();
        let route = table.group(group)?;
        route.write.as_ref().map(|h| h.addr().to_string())
    }

    /// Journals `host` as where migration `m`'s copy and connection are.
    pub(super) fn note_target(&self, m: &MigrationRecord, host: &TargetHost) -> Result<(), String> {
        journal::record_target_host(&self.config(), m.id, host.clone())
    }

    /// The target write host as journaled for migration `id`.
    fn noted_target(&self, id: u64) -> Option<TargetHost> {
        journal::migrations(&self.config())
            .ok()?
            .into_iter()
            .find(|m| m.id == id)?
            .target_host
    }

    /// `outcome` of a step on `to`'s write host `addr`, turned into an error naming the
    /// failover when the group's write host is no longer `addr`.
    pub(super) fn unless_switched<T>(
        &self,
        to: &str,
        addr: &str,
        during: &str,
        outcome: Result<T, String>,
    ) -> Result<T, String> {
        let now = self.write_addr(to).unwrap_or_else(|| "none".into());
        if now == addr {
            return outcome;
        }
        let detail = match outcome {
            Ok(_) => String::new(),
            Err(e) => format!(": {e}"),
        };
        Err(format!(
            "target group '{to}' failed over during the {during} (write host {addr} → {now}); \
             the copy cannot be followed to the new write host{detail}"
        ))
    }

    /// Follows a switch of either group since `noted` (see the module): returns whether the
    /// connection was repointed.
    pub(super) async fn follow_failovers(
        &self,
        m: &MigrationRecord,
        pre: &Preflight,
        noted: &mut TargetHost,
    ) -> Result<bool, String> {
        let source = write_login(self, &pre.from)?;
        let target = write_login(self, &m.to)?;
        if target.addr != noted.addr {
            tracing::warn!(
                "migration {}: target group '{}' switched its write host {} → {}: repointing {}",
                m.id,
                m.to,
                noted.addr,
                target.addr,
                connection_name(&pre.database)
            );
            let mut on_new = Server::connect(&target, STEP).await?;
            drop_connection(&mut on_new, &pre.database).await?;
            let applied = GtidPos::parse(&on_new.var("gtid_slave_pos").await?)?;
            let mut from = applied.clone();
            for gtid in parse_list(&noted.snapshot)? {
                // The source's domain from where the new host is (never behind the copy);
                // other domains where it is, else where the copy was.
                if gtid.domain == pre.source_domain || applied.get(gtid.domain).is_none() {
                    from.raise(gtid);
                }
            }
            with_own_domains(&mut on_new, &mut from).await?;
            on_new
                .exec(&format!("SET GLOBAL gtid_slave_pos = '{from}'"))
                .await?;
            create_connection(&mut on_new, &source, &pre.database).await?;
            let former = Login {
                addr: noted.addr.clone(),
                ..target.clone()
            };
            if let Err(e) = self.clean_host(&former, &pre.database, false).await {
                tracing::warn!(
                    "migration {}: the former target write host {} keeps {}: {e}",
                    m.id,
                    noted.addr,
                    connection_name(&pre.database)
                );
            }
            noted.addr = target.addr.clone();
            self.note_target(m, noted)?;
            return Ok(true);
        }
        let mut on_target = Server::connect(&target, STEP).await?;
        let name = connection_name(&pre.database);
        let rows = on_target
            .rows(&format!("SHOW SLAVE '{name}' STATUS"))
            .await?;
        let Some(row) = rows.first() else {
            return Err(format!("no connection '{name}' on {}", target.addr));
        };
        let host: Option<String> = row.get_opt("Master_Host").and_then(Result::ok);
        let port: Option<u16> = row.get_opt("Master_Port").and_then(Result::ok);
        let (want_host, want_port) = host_port(&source.addr)?;
        if host.as_deref() == Some(want_host) && port == Some(want_port) {
            return Ok(false);
        }
        tracing::warn!(
            "migration {}: source group '{}' switched its write host: {name} now replicates from {}",
            m.id,
            pre.from,
            source.addr
        );
        on_target
            .exec(&format!(
                "STOP SLAVE '{name}'; CHANGE MASTER '{name}' TO MASTER_HOST='{}', \
                 MASTER_PORT={want_port}, MASTER_USE_GTID=slave_pos; START SLAVE '{name}'",
                quote(want_host)
            ))
            .await?;
        Ok(true)
    }

    /// Removes the connection moving `database` from `host` and, with `drop_copy`, its
    /// copy (not logged: the host may replicate from the new write host now, which drops
    /// its own copy through the abort).
    async fn clean_host(
        &self,
        host: &Login,
        database: &str,
        drop_copy: bool,
    ) -> Result<(), String> {
        let mut server = Server::connect(host, STEP).await?;
        drop_connection(&mut server, database).await?;
        if drop_copy {
            server
                .exec(&format!(
                    "SET SESSION sql_log_bin = 0; DROP DATABASE IF EXISTS {}",
                    super::copy::ident(database)
                ))
                .await?;
        }
        Ok(())
    }

    /// Cleans the journaled target write host of migration `id` when it is no longer the
    /// write host of `to` (after a switch the new one is cleaned by the usual path):
    /// the connection, and with `drop_copy` the copy.
    pub(super) async fn clean_former_target(
        &self,
        id: u64,
        to: &str,
        database: &str,
        drop_copy: bool,
    ) -> Result<(), String> {
        let Some(noted) = self.noted_target(id) else {
            return Ok(());
        };
        let Ok(current) = write_login(self, to) else {
            return Ok(());
        };
        if noted.addr == current.addr || noted.addr.is_empty() {
            return Ok(());
        }
        let former = Login {
            addr: noted.addr.clone(),
            ..current
        };
        self.clean_host(&former, database, drop_copy)
            .await
            .map_err(|e| format!("former target write host {}: {e}", noted.addr))
    }

    /// Aborts migration `m` (see [`Shared::abort_migration`]) on the target's write host and
    /// on the journaled former one, if the target group switched since.
    pub(super) async fn abort_everywhere(&self, m: &MigrationRecord) -> Result<(), String> {
        let database = self
            .table()
            .topology
            .physical_database(&m.schema, m.shard)
            .unwrap_or_default()
            .to_string();
        let former = self.clean_former_target(m.id, &m.to, &database, true).await;
        self.abort_migration(&m.schema, m.shard, &m.to).await?;
        former
    }
}
