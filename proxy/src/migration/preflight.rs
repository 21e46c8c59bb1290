//! The checks before a migration starts, each refusal naming what is missing: both write
//! hosts log binary logs in ROW format with GTIDs, the two groups write distinct
//! `gtid_domain_id`s (the target replicates the source's domain next to its own), and the
//! target does not have the database yet.

use super::cutover::write_login;
use crate::server::Shared;
use myshard_failover::promotion::Server;
use std::time::Duration;

/// Bound of each check's connection and statements.
const STEP: Duration = Duration::from_secs(5);

/// What preflight found out, for the later phases.
#[derive(Debug, Clone)]
pub struct Preflight {
    /// Physical database moving.
    pub database: String,
    /// Source group.
    pub from: String,
    /// The source's `gtid_domain_id`.
    pub source_domain: u32,
    /// The target's `gtid_domain_id`.
    pub target_domain: u32,
}

impl Shared {
    /// Checks that shard `shard` of `schema` can migrate to group `to`; the error says why
    /// not.
    pub async fn preflight(&self, schema: &str, shard: u32, to: &str) -> Result<Preflight, String> {
        let table = self.table();
        let database = table
            .topology
            .physical_database(schema, shard)
            .ok_or_else(|| format!("schema '{schema}' has no shard {shard}"))?
            .to_string();
        let from = table
            .topology
            .group_of(schema, shard)
            .ok_or_else(|| format!("shard {shard} of '{schema}' is not placed"))?
            .to_string();
        if from == to {
            return Err(format!(
                "shard {shard} of '{schema}' is already on group '{to}'"
            ));
        }
        if table.config.state_dir.is_none() {
            return Err("no state_dir configured: a migration's state cannot be persisted".into());
        }
        let mut source = Server::connect(&write_login(self, &from)?, STEP).await?;
        let mut target = Server::connect(&write_login(self, to)?, STEP).await?;
        let mut domains = [0u32; 2];
        for (i, (group, server)) in [(&*from, &mut source), (to, &mut target)]
            .into_iter()
            .enumerate()
        {
            let host = server.addr.clone();
            if server.var("log_bin").await? != "1" {
                return Err(format!(
                    "group '{group}' write host {host} has no binary log (log_bin is off)"
                ));
            }
            let format = server.var("binlog_format").await?;
            if !format.eq_ignore_ascii_case("ROW") {
                return Err(format!(
                    "group '{group}' write host {host} logs binlog_format={format}, not ROW"
                ));
            }
            let domain = server.var("gtid_domain_id").await?;
            domains[i] = domain.parse().map_err(|_| {
                format!("group '{group}' write host {host} reports no GTID domain ({domain:?})")
            })?;
        }
        if domains[0] == domains[1] {
            return Err(format!(
                "groups '{from}' and '{to}' share gtid_domain_id {}: give each group its own",
                domains[0]
            ));
        }
        let exists: Option<String> = target
            .first(&format!(
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{}' \
                 UNION ALL SELECT NULL LIMIT 1",
                database.replace('\'', "''")
            ))
            .await?;
        if exists.is_some() {
            return Err(format!(
                "group '{to}' already has database {database}: drop it or choose another group"
            ));
        }
        Ok(Preflight {
            database,
            from,
            source_domain: domains[0],
            target_domain: domains[1],
        })
    }
}
