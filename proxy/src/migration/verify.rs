//! The verify phase of a migration: the moved database compared between the source and the
//! target write hosts, table by table, in primary-key chunks: each chunk's row count and an
//! XOR of per-row CRC32s over every column (NULLs marked) must match; differences name the
//! table and the chunk's key range. [`Shared::verify`] reads the live copies, so it is the
//! quiet-time check after the cut-over (no write may reach either copy meanwhile); the
//! migration itself verifies before its cut-over at one GTID position, under writes
//! (`verify_consistent.rs`).

use super::copy::{CHUNK_ROWS, ident, literal, values};
use super::cutover::write_login;
use crate::server::Shared;
use myshard_failover::promotion::Server;
use std::time::Duration;

/// Bound of each statement.
const STEP: Duration = Duration::from_secs(30);

/// What verify compared.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Chunks compared.
    pub chunks: u64,
    /// Rows compared (on the source).
    pub rows: u64,
    /// Chunks that differ, each named by table and key range.
    pub differences: Vec<String>,
}

impl Shared {
    /// Compares `database` on groups `from` and `to`.
    pub async fn verify(
        &self,
        database: &str,
        from: &str,
        to: &str,
    ) -> Result<VerifyReport, String> {
        let mut source = Server::connect(&write_login(self, from)?, STEP).await?;
        let mut target = Server::connect(&write_login(self, to)?, STEP).await?;
        compare(&mut source, &mut target, database).await
    }
}

/// Compares `database` between the `source` and `target` connections, chunk by chunk (in
/// whatever view each connection has: its consistent snapshot when one is open).
pub(super) async fn compare(
    source: &mut Server,
    target: &mut Server,
    database: &str,
) -> Result<VerifyReport, String> {
    let mut report = VerifyReport::default();
    let list = format!(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} \
             AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
        literal(database)
    );
    let names = |rows: Vec<mysql_common::row::Row>| -> Vec<String> {
        rows.iter().filter_map(|r| r.get::<String, _>(0)).collect()
    };
    let tables = names(source.rows(&list).await?);
    let on_target = names(target.rows(&list).await?);
    if tables != on_target {
        report.differences.push(format!(
            "tables differ: source {tables:?}, target {on_target:?}"
        ));
        return Ok(report);
    }
    for table in &tables {
        let columns = names(
            source
                .rows(&format!(
                    "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE \
                         TABLE_SCHEMA = {} AND TABLE_NAME = {} ORDER BY ORDINAL_POSITION",
                    literal(database),
                    literal(table)
                ))
                .await?,
        );
        let key = names(
            source
                .rows(&format!(
                    "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE \
                         TABLE_SCHEMA = {} AND TABLE_NAME = {} AND CONSTRAINT_NAME = 'PRIMARY' \
                         ORDER BY ORDINAL_POSITION",
                    literal(database),
                    literal(table)
                ))
                .await?,
        );
        if key.is_empty() {
            return Err(format!("table {database}.{table} has no primary key"));
        }
        let key_list = key.iter().map(|k| ident(k)).collect::<Vec<_>>().join(", ");
        let row_text = columns
            .iter()
            .map(|c| format!("ISNULL({0}), {0}", ident(c)))
            .collect::<Vec<_>>()
            .join(", ");
        let qualified = format!("{}.{}", ident(database), ident(table));
        let mut after: Option<String> = None;
        loop {
            let lower = after
                .as_ref()
                .map(|a| format!("({key_list}) > ({a})"))
                .unwrap_or_else(|| "TRUE".into());
            let upper_rows = source
                .rows(&format!(
                    "SELECT {key_list} FROM {qualified} WHERE {lower} ORDER BY {key_list} \
                         LIMIT 1 OFFSET {}",
                    CHUNK_ROWS - 1
                ))
                .await?;
            let upper = upper_rows.first().map(|r| values(r).join(", "));
            let range = match &upper {
                Some(u) => format!("{lower} AND ({key_list}) <= ({u})"),
                None => lower.clone(),
            };
            let sum = format!(
                "SELECT COUNT(*), CAST(COALESCE(BIT_XOR(CRC32(CONCAT_WS(0x1f, {row_text}))), 0) \
                     AS UNSIGNED) FROM {qualified} WHERE {range}"
            );
            let a: (u64, u64) = source.first(&sum).await?;
            let b: (u64, u64) = target.first(&sum).await?;
            report.chunks += 1;
            report.rows += a.0;
            if a != b {
                report.differences.push(format!(
                    "{database}.{table} where {range}: source {} rows, target {} rows{}",
                    a.0,
                    b.0,
                    if a.0 == b.0 { ", contents differ" } else { "" }
                ));
            }
            match upper {
                Some(u) => after = Some(u),
                None => break,
            }
        }
    }
    Ok(report)
}
