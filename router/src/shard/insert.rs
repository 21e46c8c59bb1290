//! INSERT / REPLACE into a sharded table: the shard key value of every row, and the text of
//! the statement restricted to the rows of one shard when a multi-row insert spans shards.

use super::keys::{Operand, Placeholders, operand};
use super::plan::{RouteError, ShardRoute, Targets};
use super::span::{LineIndex, splice};
use super::tables::TableRef;
use super::template::quote_ident;
use myshard_config::TableRule;
use sqlparser::ast::{Assignment, AssignmentTarget, Insert, OnInsert, SetExpr, Spanned};
use std::ops::Range;

/// What is needed to print a multi-row insert once per shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertSplit {
    sql: String,
    /// Table references to qualify with the shard's database: (range, table name).
    tables: Vec<(Range<usize>, String)>,
    /// Text range of each row, parentheses included.
    rows: Vec<Range<usize>>,
    /// Byte offsets of `?` placeholders, in order.
    placeholders: Vec<usize>,
}

impl InsertSplit {
    /// The statement for the shard whose database is `database`, with only `rows`.
    /// `param_literal` turns a parameter index into an SQL literal (for prepared
    /// statements, whose placeholders are replaced by their bound values).
    pub fn render(
        &self,
        database: &str,
        rows: &[usize],
        param_literal: Option<&dyn Fn(usize) -> String>,
    ) -> String {
        let mut edits: Vec<(Range<usize>, String)> = self
            .tables
            .iter()
            .map(|(r, t)| {
                (
                    r.clone(),
                    format!("{}.{}", quote_ident(database), quote_ident(t)),
                )
            })
            .collect();
        let (Some(first), Some(last)) = (self.rows.first(), self.rows.last()) else {
            return splice(&self.sql, edits);
        };
        let mut values = String::new();
        for (n, &i) in rows.iter().enumerate() {
            let Some(r) = self.rows.get(i) else { continue };
            if n > 0 {
                values.push_str(", ");
            }
            let mut row_edits = Vec::new();
            if let Some(lit) = param_literal {
                // Placeholders are in text order: find the row's first one by bisection
                // (looking at every placeholder for every row was quadratic).
                let first = self.placeholders.partition_point(|&at| at < r.start);
                for (p, &at) in self.placeholders.iter().enumerate().skip(first) {
                    if at >= r.end {
                        break;
                    }
                    row_edits.push((at - r.start..at - r.start + 1, lit(p)));
                }
            }
            values.push_str(&splice(&self.sql[r.clone()], row_edits));
        }
        edits.push((first.start..last.end, values));
        splice(&self.sql, edits)
    }
}

/// Fills `route` for an INSERT into sharded table `table`.
pub fn plan_insert(
    route: &mut ShardRoute,
    ins: &Insert,
    table: &TableRef,
    rule: Option<&TableRule>,
    idx: &LineIndex<'_>,
    ph: &Placeholders,
) -> Result<(), RouteError> {
    let Some(rule @ TableRule::Sharded { key, .. }) = rule else {
        return Err(RouteError::unsupported(
            "INSERT target is not a sharded table",
        ));
    };
    if let Some(OnInsert::DuplicateKeyUpdate(assignments)) = &ins.on
        && assigns(assignments, key)
    {
        return Err(RouteError::refused(format!(
            "ON DUPLICATE KEY UPDATE may not change the shard key '{key}' of sharded table '{}'",
            table.name
        )));
    }
    let mut keys = Vec::new();
    let mut rows = Vec::new();
    if ins.columns.is_empty() && !ins.assignments.is_empty() {
        // INSERT … SET col = value
        let a = ins
            .assignments
            .iter()
            .find(|a| target_is(&a.target, key))
            .ok_or_else(|| missing_key(&table.name, key))?;
        keys.push(operand(&a.value, idx, ph).ok_or_else(|| not_literal(&table.name, key))?);
    } else {
        if ins.columns.is_empty() {
            return Err(RouteError::refused(format!(
                "INSERT into sharded table '{}' must list its columns (the shard key '{key}' among them)",
                table.name
            )));
        }
        let at = ins
            .columns
            .iter()
            .position(|c| {
                c.0.last()
                    .and_then(|p| p.as_ident())
                    .is_some_and(|i| i.value.eq_ignore_ascii_case(key))
            })
            .ok_or_else(|| missing_key(&table.name, key))?;
        let Some(src) = &ins.source else {
            return Err(RouteError::unsupported(
                "INSERT without VALUES into a sharded table",
            ));
        };
        let SetExpr::Values(values) = src.body.as_ref() else {
            return Err(RouteError::unsupported(format!(
                "INSERT … SELECT into sharded table '{}'",
                table.name
            )));
        };
        for row in &values.rows {
            let v = row.content.get(at).ok_or_else(|| {
                RouteError::refused(format!(
                    "a row of the INSERT into '{}' has fewer values than columns",
                    table.name
                ))
            })?;
            keys.push(operand(v, idx, ph).ok_or_else(|| not_literal(&table.name, key))?);
            let start = idx.range(row.opening_token.0.span).map(|r| r.start);
            let end = idx.range(row.closing_token.0.span).map(|r| r.end);
            match (start, end) {
                (Some(s), Some(e)) => rows.push(s..e),
                _ => {
                    let r = idx.of(&row.content[0]);
                    if let Some(r) = r {
                        rows.push(r);
                    }
                }
            }
        }
    }
    let _ = ins.table.span();
    if keys.len() > 1 && rows.len() == keys.len() {
        route.split = Some(InsertSplit {
            sql: idx.text().to_string(),
            tables: vec![(table.range.clone(), table.name.clone())],
            rows,
            placeholders: ph.offsets().to_vec(),
        });
    }
    route.targets = Targets::Rows {
        rule: rule.clone(),
        keys,
    };
    Ok(())
}

fn assigns(assignments: &[Assignment], key: &str) -> bool {
    assignments.iter().any(|a| target_is(&a.target, key))
}

fn target_is(t: &AssignmentTarget, key: &str) -> bool {
    match t {
        AssignmentTarget::ColumnName(c) => {
            c.0.last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| i.value.eq_ignore_ascii_case(key))
        }
        AssignmentTarget::Tuple(cols) => cols.iter().any(|c| {
            c.0.last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| i.value.eq_ignore_ascii_case(key))
        }),
    }
}

fn missing_key(table: &str, key: &str) -> RouteError {
    RouteError::refused(format!(
        "INSERT into sharded table '{table}' must set its shard key '{key}'"
    ))
}

fn not_literal(table: &str, key: &str) -> RouteError {
    RouteError::unsupported(format!(
        "a shard key value for '{table}.{key}' that is not a literal or a parameter"
    ))
}

/// The key operands of an insert's rows.
pub fn row_keys(targets: &Targets) -> Option<&[Operand]> {
    match targets {
        Targets::Rows { keys, .. } => Some(keys),
        _ => None,
    }
}
