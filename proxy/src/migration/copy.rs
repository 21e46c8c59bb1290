//! The copy phase of a migration: the database and its tables created on the target write
//! host from the source's `SHOW CREATE TABLE`, then the rows of a consistent snapshot
//! (`START TRANSACTION WITH CONSISTENT SNAPSHOT`) copied in primary-key order, chunk by
//! chunk (keyset pagination, so each chunk costs the same). The snapshot's binary-log
//! coordinates (`binlog_snapshot_file` / `_position`) give, through `BINLOG_GTID_POS`,
//! the GTID position replication starts from: nothing is missed, nothing applied twice.

use super::cutover::write_login;
use super::preflight::Preflight;
use super::progress::{Progress, now_unix_ms};
use crate::server::Shared;
use myshard_failover::promotion::Server;
use mysql_common::row::Row;
use std::time::Duration;

/// Bound of each statement.
const STEP: Duration = Duration::from_secs(30);
/// Rows per chunk.
pub const CHUNK_ROWS: usize = 1000;

/// What the copy did.
#[derive(Debug, Clone, Default)]
pub struct CopyReport {
    /// The source's GTID position of the snapshot (where replication starts).
    pub snapshot: String,
    /// Tables created.
    pub tables: usize,
    /// Rows copied.
    pub rows: u64,
    /// Bytes of row values copied (as SQL text).
    pub bytes: u64,
}

pub(super) fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

pub(super) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The values of `row` as SQL literals.
pub(super) fn values(row: &Row) -> Vec<String> {
    (0..row.len())
        .map(|i| {
            row.as_ref(i)
                .map_or_else(|| "NULL".to_string(), |v| v.as_sql(false))
        })
        .collect()
}

/// The GTID position of the consistent snapshot open on `source` (its
/// `binlog_snapshot_file` / `_position` through `BINLOG_GTID_POS`).
pub(super) async fn snapshot_position(source: &mut Server) -> Result<String, String> {
    let status = source.rows("SHOW STATUS LIKE 'binlog_snapshot_%'").await?;
    let mut file = String::new();
    let mut position = String::new();
    for row in &status {
        let name: Option<String> = row.get(0);
        let value: Option<String> = row.get(1);
        match name.as_deref() {
            Some("Binlog_snapshot_file") => file = value.unwrap_or_default(),
            Some("Binlog_snapshot_position") => position = value.unwrap_or_default(),
            _ => {}
        }
    }
    let snapshot: Option<String> = source
        .first(&format!(
            "SELECT BINLOG_GTID_POS({}, {})",
            literal(&file),
            position.parse::<u64>().map_err(|_| format!(
                "{}: no binlog snapshot position ({position:?})",
                source.addr
            ))?
        ))
        .await?;
    Ok(snapshot.unwrap_or_default())
}

impl Shared {
    /// Creates `pre.database` and its tables on `to`'s write host and copies a consistent
    /// snapshot of the rows from the source write host.
    pub async fn copy_snapshot(&self, pre: &Preflight, to: &str) -> Result<CopyReport, String> {
        let db = &pre.database;
        let mut source = Server::connect(&write_login(self, &pre.from)?, STEP).await?;
        let mut target = Server::connect(&write_login(self, to)?, STEP).await?;
        source
            .exec(
                "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ; \
                 START TRANSACTION WITH CONSISTENT SNAPSHOT",
            )
            .await?;
        let snapshot = snapshot_position(&mut source).await?;
        let mut report = CopyReport {
            snapshot,
            ..CopyReport::default()
        };
        let tables = source
            .rows(&format!(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} \
                 AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
                literal(db)
            ))
            .await?;
        let estimate: Option<u64> = source
            .first(&format!(
                "SELECT CAST(COALESCE(SUM(TABLE_ROWS), 0) AS UNSIGNED) FROM \
                 information_schema.TABLES WHERE TABLE_SCHEMA = {}",
                literal(db)
            ))
            .await?;
        super::progress::set(db, Progress::started(estimate.unwrap_or(0), now_unix_ms()));
        target
            .exec(&format!("CREATE DATABASE {}", ident(db)))
            .await?;
        target.exec(&format!("USE {}", ident(db))).await?;
        for t in &tables {
            let Some(table): Option<String> = t.get(0) else {
                continue;
            };
            let qualified = format!("{}.{}", ident(db), ident(&table));
            let create: Option<(String, String)> = source
                .first(&format!("SHOW CREATE TABLE {qualified}"))
                .await
                .map(Some)?;
            let Some((_, ddl)) = create else { continue };
            target.exec(&ddl).await?;
            report.tables += 1;
            self.copy_table(&mut source, &mut target, db, &table, &mut report)
                .await?;
        }
        source.exec("COMMIT").await?;
        super::progress::update(db, |p| p.finish(now_unix_ms()));
        super::lag::watch(
            db.clone(),
            write_login(self, &pre.from)?,
            write_login(self, to)?,
            pre.source_domain,
        );
        Ok(report)
    }

    /// Copies one table's snapshot rows in primary-key chunks.
    async fn copy_table(
        &self,
        source: &mut Server,
        target: &mut Server,
        db: &str,
        table: &str,
        report: &mut CopyReport,
    ) -> Result<(), String> {
        let qualified = format!("{}.{}", ident(db), ident(table));
        let key_rows = source
            .rows(&format!(
                "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
                 WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {} AND CONSTRAINT_NAME = 'PRIMARY' \
                 ORDER BY ORDINAL_POSITION",
                literal(db),
                literal(table)
            ))
            .await?;
        let key: Vec<String> = key_rows
            .iter()
            .filter_map(|r| r.get::<String, _>(0))
            .collect();
        if key.is_empty() {
            return Err(format!(
                "table {db}.{table} has no primary key: it cannot be copied in chunks"
            ));
        }
        let key_list = key.iter().map(|k| ident(k)).collect::<Vec<_>>().join(", ");
        // Positions of the key columns in `SELECT *`.
        let columns = source
            .rows(&format!(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {} \
                 AND TABLE_NAME = {} ORDER BY ORDINAL_POSITION",
                literal(db),
                literal(table)
            ))
            .await?;
        let columns: Vec<String> = columns
            .iter()
            .filter_map(|r| r.get::<String, _>(0))
            .collect();
        let key_at: Vec<usize> = key
            .iter()
            .filter_map(|k| columns.iter().position(|c| c == k))
            .collect();
        let mut after: Option<Vec<String>> = None;
        loop {
            let filter = match &after {
                Some(last) => format!("WHERE ({key_list}) > ({})", last.join(", ")),
                None => String::new(),
            };
            let rows = source
                .rows(&format!(
                    "SELECT * FROM {qualified} {filter} ORDER BY {key_list} LIMIT {CHUNK_ROWS}"
                ))
                .await?;
            let Some(last) = rows.last() else { break };
            let last = values(last);
            after = Some(
                key_at
                    .iter()
                    .filter_map(|&i| last.get(i).cloned())
                    .collect(),
            );
            let tuples: Vec<String> = rows
                .iter()
                .map(|r| format!("({})", values(r).join(", ")))
                .collect();
            let sql = format!("INSERT INTO {qualified} VALUES {}", tuples.join(", "));
            report.bytes += sql.len() as u64;
            report.rows += rows.len() as u64;
            target.exec(&sql).await?;
            let (n, bytes) = (rows.len() as u64, sql.len() as u64);
            super::progress::update(db, |p| p.advance(n, bytes, now_unix_ms()));
            if rows.len() < CHUNK_ROWS {
                break;
            }
        }
        Ok(())
    }
}
