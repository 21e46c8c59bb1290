//! The copy phase of a migration: the database and its tables created on the target write
//! host from the source's `SHOW CREATE TABLE`, then the rows of a consistent snapshot
//! (`START TRANSACTION WITH CONSISTENT SNAPSHOT`) copied in primary-key order, chunk by
//! chunk (keyset pagination, so each chunk costs the same). The snapshot's binary-log
//! coordinates (`binlog_snapshot_file` / `_position`) give, through `BINLOG_GTID_POS`,
//! the GTID position replication starts from: nothing is missed, nothing applied twice.
//!
//! Speed: chunks of [`COPY_CHUNK_ROWS`] rows, written as multi-row INSERTs of at most
//! [`INSERT_BYTES`] (or half the target's `max_allowed_packet`), and the next chunk read
//! from the source while the current one is written to the target. The target session
//! turns off `foreign_key_checks` (tables arrive in name order, children before parents)
//! and `unique_checks` (the rows come from a table that enforced them), and its `sql_mode`
//! loses `NO_BACKSLASH_ESCAPES` (the values are written with backslash escapes);
//! `sql_log_bin` stays on, so the target group's replicas receive the rows.

use super::cutover::write_login;
use super::preflight::Preflight;
use super::progress::{Progress, now_unix_ms};
use crate::server::Shared;
use myshard_failover::promotion::Server;
use mysql_common::row::Row;
use std::time::Duration;

/// Bound of each statement.
const STEP: Duration = Duration::from_secs(30);
/// Rows per chunk of verify's comparisons.
pub const CHUNK_ROWS: usize = 1000;
/// Rows per chunk read from the source by the copy.
pub const COPY_CHUNK_ROWS: usize = 10_000;
/// Upper bound of one INSERT statement's text.
pub const INSERT_BYTES: usize = 8 << 20;

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

/// Appends `value` to `sql` as an SQL literal (backslash escapes, as the copy's target
/// session reads them; text that is not UTF-8 as a hex literal).
fn push_literal(sql: &mut String, value: Option<&mysql_common::value::Value>) {
    use mysql_common::value::Value;
    use std::fmt::Write;
    match value {
        None | Some(Value::NULL) => sql.push_str("NULL"),
        Some(Value::Bytes(bytes)) => match std::str::from_utf8(bytes) {
            Ok(text) => {
                sql.push('\'');
                for c in text.chars() {
                    match c {
                        '\0' => sql.push_str("\\0"),
                        '\n' => sql.push_str("\\n"),
                        '\r' => sql.push_str("\\r"),
                        '\x1a' => sql.push_str("\\Z"),
                        '\\' | '\'' | '"' => {
                            sql.push('\\');
                            sql.push(c);
                        }
                        c => sql.push(c),
                    }
                }
                sql.push('\'');
            }
            Err(_) => {
                sql.push_str("0x");
                for b in bytes {
                    let _ = write!(sql, "{b:02X}");
                }
            }
        },
        Some(other) => sql.push_str(&other.as_sql(false)),
    }
}

/// The multi-row INSERTs writing `rows` into `qualified`, each at most about `bound`
/// bytes (a single row longer than that gets a statement of its own).
pub(super) fn insert_statements(qualified: &str, rows: &[Row], bound: usize) -> Vec<String> {
    let head = format!("INSERT INTO {qualified} VALUES ");
    let mut out = Vec::new();
    let mut sql = String::with_capacity(bound.min(1 << 20));
    let mut tuple = String::new();
    for row in rows {
        tuple.clear();
        tuple.push('(');
        for i in 0..row.len() {
            if i > 0 {
                tuple.push_str(", ");
            }
            push_literal(&mut tuple, row.as_ref(i));
        }
        tuple.push(')');
        if !sql.is_empty() && sql.len() + 2 + tuple.len() > bound {
            out.push(std::mem::take(&mut sql));
        }
        if sql.is_empty() {
            sql.push_str(&head);
        } else {
            sql.push_str(", ");
        }
        sql.push_str(&tuple);
    }
    if !sql.is_empty() {
        out.push(sql);
    }
    out
}

/// The keyset condition "key after `last`" for key columns `key`: a disjunction the
/// optimizer turns into a range of the primary key (a row comparison `(a, b) > (x, y)`
/// would be a full scan per chunk for a composite key).
pub(super) fn after_key(key: &[String], last: &[String]) -> String {
    (0..key.len().min(last.len()))
        .map(|i| {
            let mut terms: Vec<String> = (0..i)
                .map(|j| format!("{} = {}", ident(&key[j]), last[j]))
                .collect();
            terms.push(format!("{} > {}", ident(&key[i]), last[i]));
            format!("({})", terms.join(" AND "))
        })
        .collect::<Vec<_>>()
        .join(" OR ")
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
            .exec(
                "SET SESSION foreign_key_checks = 0, unique_checks = 0, \
                 sql_mode = TRIM(BOTH ',' FROM REPLACE(REPLACE(@@sql_mode, \
                 'NO_BACKSLASH_ESCAPES', ''), ',,', ','))",
            )
            .await?;
        let packet: u64 = target
            .var("max_allowed_packet")
            .await?
            .parse()
            .unwrap_or(INSERT_BYTES as u64);
        let bound = INSERT_BYTES.min(usize::try_from(packet / 2).unwrap_or(INSERT_BYTES));
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
            copy_table(&mut source, &mut target, db, &table, bound, &mut report).await?;
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
}

/// Copies one table's snapshot rows in primary-key chunks, reading the next chunk while
/// the current one is written.
async fn copy_table(
    source: &mut Server,
    target: &mut Server,
    db: &str,
    table: &str,
    bound: usize,
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
    let chunk = |after: Option<&[String]>| {
        let filter = after.map_or_else(String::new, |last| {
            format!("WHERE {}", after_key(&key, last))
        });
        format!("SELECT * FROM {qualified} {filter} ORDER BY {key_list} LIMIT {COPY_CHUNK_ROWS}")
    };
    let mut rows = source.rows(&chunk(None)).await?;
    while let Some(last) = rows.last() {
        let last = values(last);
        let after: Vec<String> = key_at
            .iter()
            .filter_map(|&i| last.get(i).cloned())
            .collect();
        let more = rows.len() == COPY_CHUNK_ROWS;
        let inserts = insert_statements(&qualified, &rows, bound);
        let write = async {
            for sql in &inserts {
                target.exec(sql).await?;
            }
            Ok::<(), String>(())
        };
        let read = async {
            if more {
                source.rows(&chunk(Some(&after))).await
            } else {
                Ok(Vec::new())
            }
        };
        let (written, next) = tokio::join!(write, read);
        written?;
        let (n, bytes) = (
            rows.len() as u64,
            inserts.iter().map(|s| s.len() as u64).sum::<u64>(),
        );
        report.rows += n;
        report.bytes += bytes;
        super::progress::update(db, |p| p.advance(n, bytes, now_unix_ms()));
        rows = next?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_common::value::Value;

    fn row(values: Vec<Value>) -> Row {
        let columns: std::sync::Arc<[mysql_common::packets::Column]> = (0..values.len())
            .map(|_| {
                mysql_common::packets::Column::new(
                    mysql_common::constants::ColumnType::MYSQL_TYPE_VAR_STRING,
                )
            })
            .collect();
        mysql_common::row::new_row(values, columns)
    }

    #[test]
    fn values_are_escaped_as_the_target_reads_them() {
        let rows = vec![row(vec![
            Value::Bytes(b"it's a \\ \"q\" \0\n\r\x1a".to_vec()),
            Value::NULL,
            Value::Bytes(vec![0xff, 0x00, 0x41]),
        ])];
        let sql = insert_statements("`d`.`t`", &rows, 1 << 20);
        assert_eq!(
            sql,
            vec![r#"INSERT INTO `d`.`t` VALUES ('it\'s a \\ \"q\" \0\n\r\Z', NULL, 0xFF0041)"#]
        );
        // The same text as mysql_common's own escaping.
        let v = Value::Bytes(b"a'b\\c".to_vec());
        let mut mine = String::new();
        push_literal(&mut mine, Some(&v));
        assert_eq!(mine, v.as_sql(false));
    }

    #[test]
    fn inserts_stay_under_the_bound() {
        let rows: Vec<Row> = (0..100)
            .map(|i| row(vec![Value::Bytes(format!("{i:05}").into_bytes())]))
            .collect();
        let sql = insert_statements("t", &rows, 200);
        assert!(sql.len() > 1, "split");
        assert!(sql.iter().all(|s| s.len() <= 200), "{sql:?}");
        let tuples: usize = sql.iter().map(|s| s.matches("('").count()).sum();
        assert_eq!(tuples, 100, "every row once");
        let one = insert_statements("t", &rows[..1], 5);
        assert_eq!(
            one,
            vec!["INSERT INTO t VALUES ('00000')"],
            "a long row alone"
        );
    }

    #[test]
    fn the_keyset_condition_is_a_range_of_the_key() {
        let key = vec!["a".to_string(), "b".to_string()];
        let last = vec!["1".to_string(), "'x'".to_string()];
        assert_eq!(
            after_key(&key, &last),
            "(`a` > 1) OR (`a` = 1 AND `b` > 'x')"
        );
        assert_eq!(after_key(&key[..1], &last[..1]), "(`a` > 1)");
    }
}
