//! The replication phase of a migration: a named MariaDB replication connection
//! `myshard_<database>` on the target group's write host, from the source group's write
//! host, limited to the moving database (`replicate_do_db` of that connection only), and
//! starting at the copy's snapshot position in the source's GTID domain. Removed again
//! after the cut-over (or on abort).

use super::cutover::write_login;
use super::preflight::Preflight;
use crate::server::Shared;
use myshard_failover::promotion::Server;
use myshard_failover::promotion::gtid::{GtidPos, parse_list};
use std::time::Duration;

/// Bound of each statement.
const STEP: Duration = Duration::from_secs(5);

/// Name of the replication connection moving `database`.
pub fn connection_name(database: &str) -> String {
    format!("myshard_{database}")
}

impl Shared {
    /// Starts replicating `pre.database` from the source write host to `to`'s write host,
    /// from `snapshot` (the source's GTID position of the copy; only its entry for the
    /// source's domain is used, the target's own domains keep their replication positions).
    pub async fn start_replication(
        &self,
        pre: &Preflight,
        to: &str,
        snapshot: &str,
    ) -> Result<(), String> {
        let source = write_login(self, &pre.from)?;
        let mut target = Server::connect(&write_login(self, to)?, STEP).await?;
        let snapshot = GtidPos::parse(snapshot)?;
        let mut slave_pos = GtidPos::default();
        for gtid in parse_list(&target.var("gtid_slave_pos").await?)? {
            if gtid.domain != pre.source_domain {
                slave_pos.raise(gtid);
            }
        }
        if let Some(gtid) = snapshot.get(pre.source_domain) {
            slave_pos.raise(gtid);
        }
        // Other domains in the source's log (events that reached it from elsewhere, such
        // as an earlier migration) are in the snapshot already: start them there too, unless
        // the target replicates that domain itself (its position there is its own).
        for gtid in parse_list(&snapshot.to_string())? {
            if slave_pos.get(gtid.domain).is_none() {
                slave_pos.raise(gtid);
            }
        }
        super::repoint::with_own_domains(&mut target, &mut slave_pos).await?;
        target
            .exec(&format!("SET GLOBAL gtid_slave_pos = '{slave_pos}'"))
            .await?;
        super::repoint::create_connection(&mut target, &source, &pre.database).await
    }

    /// Stops and removes the replication connection moving `database` on `to`'s write
    /// host (nothing to do when there is none).
    pub async fn remove_replication(&self, database: &str, to: &str) -> Result<(), String> {
        let mut target = Server::connect(&write_login(self, to)?, STEP).await?;
        let name = connection_name(database);
        let rows = target
            .rows(&format!("SHOW SLAVE '{name}' STATUS"))
            .await
            .unwrap_or_default();
        if rows.is_empty() {
            return Ok(());
        }
        target
            .exec(&format!("STOP SLAVE '{name}'; RESET SLAVE '{name}' ALL"))
            .await
    }
}

/// What is wrong with the replication connection moving `database` on `target`, as
/// `"; replication: …"` (its threads not running, its last errors), or empty when nothing
/// shows.
pub(super) async fn replication_problem(target: &mut Server, database: &str) -> String {
    let name = connection_name(database);
    let rows = match target.rows(&format!("SHOW SLAVE '{name}' STATUS")).await {
        Ok(rows) => rows,
        Err(e) => return format!("; replication: {e}"),
    };
    let Some(row) = rows.first() else {
        return format!("; replication: no connection '{name}' on the target");
    };
    let text = |column: &str| -> String {
        row.get_opt::<Option<String>, _>(column)
            .and_then(Result::ok)
            .flatten()
            .unwrap_or_default()
    };
    let mut parts = Vec::new();
    for column in ["Slave_IO_Running", "Slave_SQL_Running"] {
        let v = text(column);
        if v != "Yes" {
            parts.push(format!("{column}={v}"));
        }
    }
    for column in ["Last_IO_Error", "Last_SQL_Error"] {
        let v = text(column);
        if !v.is_empty() {
            parts.push(format!("{column}: {v}"));
        }
    }
    parts.push(format!("Gtid_IO_Pos {}", text("Gtid_IO_Pos")));
    format!("; replication: {}", parts.join(", "))
}
