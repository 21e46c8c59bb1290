//! Uncorrelated `IN (SELECT …)` over sharded tables in statements that cannot run shard by
//! shard: the subquery runs first, as a statement of its own, on the shards it needs; its
//! distinct values (at most `limits.max_subquery_rows`) are written into the statement as a
//! literal list, quoted by their column type; then the statement is planned again (the list
//! may route it by its shard key). See `myshard_router::shard::prefetch`.

use super::Session;
use super::shard::route_error;
use crate::error::SqlError;
use crate::wire::Reader;
use myshard_router::shard::plan::{Merge, Route, RouteContext};
use myshard_router::shard::prefetch::{prefetches, substitute};
use std::borrow::Cow;
use std::collections::HashSet;

/// MySQL column types whose text form is a number literal.
const NUMERIC_TYPES: [u8; 10] = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x08, 0x09, 0x0d, 0xf6];
/// BIT.
const BIT_TYPE: u8 = 0x10;
/// The binary pseudo-charset.
const BINARY_CHARSET: u16 = 63;

impl Session {
    /// Plans `text`; when that is refused as unsupported (1235) and the statement holds
    /// uncorrelated `IN (SELECT …)` subqueries over sharded tables, evaluates them, writes
    /// their values in and plans the result. Returns the text planned and its plan.
    pub(super) async fn plan_with_subquery_values<'a>(
        &mut self,
        text: Cow<'a, str>,
    ) -> Result<(Cow<'a, str>, Route), SqlError> {
        let plan = self.plan_statement(&text).await;
        if !matches!(&plan, Route::Error(e) if e.code == 1235) {
            return Ok((text, plan));
        }
        let found = {
            let ctx = RouteContext {
                topology: &self.table.topology,
                schema: self.schema.as_deref(),
            };
            prefetches(&text, ctx)
        };
        if found.is_empty() {
            return Ok((text, plan));
        }
        let mut lists = Vec::with_capacity(found.len());
        for p in &found {
            lists.push(self.subquery_values(&p.sql).await?);
        }
        let rewritten = substitute(&text, &found, &lists);
        let plan = self.plan_statement(&rewritten).await;
        Ok((Cow::Owned(rewritten), plan))
    }

    /// The distinct values of the one-column query `sql`, as SQL literals.
    async fn subquery_values(&mut self, sql: &str) -> Result<Vec<String>, SqlError> {
        let route = match self.plan_statement(sql).await {
            Route::Shard(r) => r,
            Route::Error(e) => return Err(route_error(e)),
            Route::Passthrough => {
                return Err(SqlError::not_supported(
                    "IN (SELECT …) over sharded tables outside a sharded schema",
                ));
            }
        };
        let targets = self.targets(&route, &[])?;
        if route.merge != Merge::Concat || (targets.len() > 1 && route.merge_plan.is_some()) {
            return Err(route_error(
                myshard_router::shard::plan::RouteError::unsupported(
                    "an IN (SELECT …) subquery needing a merge (ORDER BY, LIMIT, DISTINCT, GROUP BY, aggregates) over several shards",
                ),
            ));
        }
        let bound = self.table.topology.limits().max_subquery_rows;
        let mut seen: HashSet<Option<Vec<u8>>> = HashSet::new();
        let mut out = Vec::new();
        for t in &targets {
            let dest = self.target_route(&route, t)?;
            let mut conn = self.acquire_at(&dest).await?;
            // A subquery is never cut by sql_select_limit (JDBC setMaxRows) on one server.
            let sql = self.without_select_limit(&t.sql);
            let answer = conn
                .roundtrip(&query_payload(&sql), crate::backend::ResponseKind::Query)
                .await;
            self.release_failed(conn);
            let (column, rows) = one_column(&answer?)?;
            for v in rows {
                if seen.contains(&v) {
                    continue;
                }
                if seen.len() >= bound {
                    return Err(SqlError::new(
                        1235,
                        b"42000",
                        format!(
                            "IN (SELECT …) over several shards gives more than limits.max_subquery_rows ({bound}) distinct values; raise the setting or limit the subquery to one shard with its shard key"
                        ),
                    ));
                }
                out.push(literal(&column, v.as_deref())?);
                seen.insert(v);
            }
        }
        Ok(out)
    }
}

fn query_payload(sql: &str) -> Vec<u8> {
    let mut p = Vec::with_capacity(sql.len() + 1);
    p.push(0x03);
    p.extend_from_slice(&myshard_router::text::encode(sql));
    p
}

/// The type and charset of a result's only column.
struct ColumnKind {
    column_type: u8,
    charset: u16,
}

type Rows = Vec<Option<Vec<u8>>>;

/// The column kind and values of a one-column text result set.
fn one_column(packets: &[Vec<u8>]) -> Result<(ColumnKind, Rows), SqlError> {
    let bad = || {
        SqlError::new(
            1105,
            b"HY000",
            "a malformed result for an IN (SELECT …) subquery",
        )
    };
    let first = packets.first().ok_or_else(bad)?;
    let ncols = Reader::new(first).lenenc_int().ok_or_else(bad)?;
    if ncols != 1 {
        return Err(SqlError::new(
            1241,
            b"21000",
            "Operand should contain 1 column(s)",
        ));
    }
    let mut def = Reader::new(packets.get(1).ok_or_else(bad)?);
    for _ in 0..6 {
        def.lenenc_str().ok_or_else(bad)?;
    }
    def.lenenc_int().ok_or_else(bad)?;
    let charset = def.u16().ok_or_else(bad)?;
    def.u32().ok_or_else(bad)?;
    let column_type = def.u8().ok_or_else(bad)?;
    let mut rows = Vec::new();
    // Column count, one definition, EOF, then rows up to the final EOF.
    for p in packets.iter().skip(3) {
        if p.first() == Some(&0xFE) && p.len() < 9 {
            break;
        }
        let mut r = Reader::new(p);
        if r.peek() == Some(0xFB) {
            rows.push(None);
        } else {
            rows.push(Some(r.lenenc_str().ok_or_else(bad)?.to_vec()));
        }
    }
    Ok((
        ColumnKind {
            column_type,
            charset,
        },
        rows,
    ))
}

/// A value of the subquery's column as an SQL literal of the same type.
fn literal(c: &ColumnKind, v: Option<&[u8]>) -> Result<String, SqlError> {
    let Some(v) = v else {
        return Ok("NULL".into());
    };
    let hex = |v: &[u8]| {
        v.iter().fold(String::from("X'"), |mut s, b| {
            s.push_str(&format!("{b:02x}"));
            s
        }) + "'"
    };
    if NUMERIC_TYPES.contains(&c.column_type)
        && !v.is_empty()
        && v.iter().all(|b| b.is_ascii_digit() || b"+-.eE".contains(b))
    {
        return Ok(String::from_utf8_lossy(v).into_owned());
    }
    if c.column_type == BIT_TYPE || c.charset == BINARY_CHARSET {
        // Binary strings compare byte by byte, like a hex literal.
        return Ok(hex(v));
    }
    let text = std::str::from_utf8(v).map_err(|_| {
        SqlError::not_supported("IN (SELECT …) over several shards giving text that is not UTF-8")
    })?;
    if text.contains('\\') {
        // Independent of NO_BACKSLASH_ESCAPES: the bytes in the connection's character set.
        return Ok(format!("_utf8mb4 {}", hex(v)));
    }
    Ok(format!("'{}'", text.replace('\'', "''")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_keep_the_column_type() {
        let int = ColumnKind {
            column_type: 0x08,
            charset: 63,
        };
        let text = ColumnKind {
            column_type: 0xfd,
            charset: 45,
        };
        let bin = ColumnKind {
            column_type: 0xfd,
            charset: 63,
        };
        assert_eq!(literal(&int, Some(b"-42")).ok(), Some("-42".into()));
        assert_eq!(literal(&int, None).ok(), Some("NULL".into()));
        assert_eq!(
            literal(&text, Some(b"o'neil")).ok(),
            Some("'o''neil'".into())
        );
        assert_eq!(
            literal(&text, Some(b"a\\b")).ok(),
            Some("_utf8mb4 X'615c62'".into())
        );
        assert_eq!(
            literal(&bin, Some(b"\x00\xff")).ok(),
            Some("X'00ff'".into())
        );
        assert!(literal(&text, Some(b"\xff")).is_err());
    }
}
