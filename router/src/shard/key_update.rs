//! `UPDATE t SET key = … WHERE …` on a sharded table: the parts the proxy needs to run it
//! as a move of the rows (insert on the new shard, delete on the old one) when both shards
//! are on one group. Only the plain form is taken: one table, the new key a literal, other
//! assignments literals too (an expression could read a column an earlier assignment
//! changed, which a copy of the old row would not see), no ORDER BY / LIMIT / joins.

use super::span::LineIndex;
use sqlparser::ast::{AssignmentTarget, Expr, Statement, TableFactor, UnaryOperator, Value};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

/// A shard-key UPDATE taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUpdate {
    /// Schema qualifier as written.
    pub schema: Option<String>,
    /// Table name.
    pub table: String,
    /// Alias as written (`UPDATE orders o …`).
    pub alias: Option<String>,
    /// The shard key column.
    pub key: String,
    /// The text of the new key value (a literal).
    pub key_value: String,
    /// Every assignment: (column, value text), the key's included.
    pub assignments: Vec<(String, String)>,
    /// The text of the WHERE condition, if any.
    pub selection: Option<String>,
}

/// Why a shard-key UPDATE cannot be run as a move.
pub type Refusal = String;

/// `sql` as an UPDATE of the shard key of a sharded table: `key_of(schema, table)` names
/// the table's shard key (`None`: not a sharded table). `None` for any other statement;
/// `Some(Err)` for a shard-key UPDATE of a form that cannot be moved.
pub fn key_update(
    sql: &str,
    key_of: impl Fn(Option<&str>, &str) -> Option<String>,
) -> Option<Result<KeyUpdate, Refusal>> {
    let head = sql.trim_start().get(..6)?;
    if !head.eq_ignore_ascii_case("UPDATE") {
        return None;
    }
    let stmts = Parser::parse_sql(&MySqlDialect {}, sql).ok()?;
    let [Statement::Update(u)] = stmts.as_slice() else {
        return None;
    };
    let TableFactor::Table { name, alias, .. } = &u.table.relation else {
        return None;
    };
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(|i| i.value.clone()))
        .collect();
    let (schema, table) = match parts.as_slice() {
        [t] => (None, t.clone()),
        [s, t] => (Some(s.clone()), t.clone()),
        _ => return None,
    };
    let key = key_of(schema.as_deref(), &table)?;
    let column = |t: &AssignmentTarget| match t {
        AssignmentTarget::ColumnName(c) => {
            c.0.last()
                .and_then(|p| p.as_ident())
                .map(|i| i.value.clone())
        }
        AssignmentTarget::Tuple(_) => None,
    };
    if !u
        .assignments
        .iter()
        .any(|a| column(&a.target).is_some_and(|c| c.eq_ignore_ascii_case(&key)))
    {
        return None;
    }
    let refuse = |why: &str| {
        Some(Err(format!(
            "UPDATE changing the shard key '{key}' of sharded table '{table}': {why}"
        )))
    };
    if !u.table.joins.is_empty() || u.from.is_some() {
        return refuse("joins are not supported");
    }
    if u.limit.is_some() || !u.order_by.is_empty() {
        return refuse("ORDER BY and LIMIT are not supported");
    }
    let idx = LineIndex::new(sql);
    let mut assignments = Vec::new();
    let mut key_value = None;
    for a in &u.assignments {
        let Some(c) = column(&a.target) else {
            return refuse("tuple assignments are not supported");
        };
        if !is_literal(&a.value) {
            return refuse(&format!(
                "'{c}' must be set to a literal value (expressions are not supported here)"
            ));
        }
        let text = literal_range(&idx, &a.value).and_then(|r| sql.get(r))?;
        if c.eq_ignore_ascii_case(&key) {
            if matches!(&a.value, Expr::Value(v) if matches!(v.value, Value::Null)) {
                return refuse("the shard key may not be NULL");
            }
            key_value = Some(text.to_string());
        }
        assignments.push((c, text.to_string()));
    }
    // WHERE is the last clause (ORDER BY and LIMIT are refused above): its text runs to
    // the end of the statement (an expression's span may stop before a closing
    // parenthesis, as in `uid IN (1, 2)`).
    let selection = match &u.selection {
        Some(e) => {
            let start = idx.of(e)?.start;
            let rest = sql.get(start..)?.trim_end();
            Some(
                rest.strip_suffix(';')
                    .unwrap_or(rest)
                    .trim_end()
                    .to_string(),
            )
        }
        None => None,
    };
    Some(Ok(KeyUpdate {
        schema,
        table,
        alias: alias.as_ref().map(|a| a.name.value.clone()),
        key,
        key_value: key_value?,
        assignments,
        selection,
    }))
}

/// Byte range of literal `e`, a character set introducer included (the parser's span of
/// `_utf8mb4 'x'` is the string's alone).
fn literal_range(idx: &LineIndex, e: &Expr) -> Option<std::ops::Range<usize>> {
    let r = idx.of(e)?;
    match e {
        Expr::Prefixed { prefix, .. } => Some(idx.range(prefix.span)?.start..r.end),
        _ => Some(r),
    }
}

fn is_literal(e: &Expr) -> bool {
    match e {
        Expr::Value(v) => !matches!(v.value, Value::Placeholder(_)),
        Expr::UnaryOp {
            op: UnaryOperator::Minus | UnaryOperator::Plus,
            expr,
        } => matches!(expr.as_ref(), Expr::Value(v) if matches!(v.value, Value::Number(..))),
        Expr::Nested(inner) => is_literal(inner),
        // A string with a character set introducer (`_utf8mb4 X'6E'`): how prepared
        // statements' bound strings are written in.
        Expr::Prefixed { prefix, value } if prefix.value.starts_with('_') => is_literal(value),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(sql: &str) -> Option<Result<KeyUpdate, Refusal>> {
        key_update(sql, |_, t| (t == "orders").then(|| "uid".to_string()))
    }

    #[test]
    fn takes_a_plain_key_update_apart() {
        let k = take("UPDATE orders o SET note = 'x', uid = 42 WHERE o.id IN (1, 2) AND uid = 7")
            .and_then(Result::ok);
        assert_eq!(
            k,
            Some(KeyUpdate {
                schema: None,
                table: "orders".into(),
                alias: Some("o".into()),
                key: "uid".into(),
                key_value: "42".into(),
                assignments: vec![("note".into(), "'x'".into()), ("uid".into(), "42".into())],
                selection: Some("o.id IN (1, 2) AND uid = 7".into()),
            })
        );
    }

    #[test]
    fn refuses_what_a_move_cannot_do() {
        for sql in [
            "UPDATE orders SET uid = uid + 1 WHERE id = 1",
            "UPDATE orders SET uid = 5, note = CONCAT(note, 'x') WHERE id = 1",
            "UPDATE orders SET uid = 5 WHERE id = 1 LIMIT 1",
            "UPDATE orders SET uid = NULL WHERE id = 1",
            "UPDATE orders SET uid = ? WHERE id = 1",
        ] {
            assert!(matches!(take(sql), Some(Err(_))), "{sql}");
        }
    }

    #[test]
    fn a_string_with_a_character_set_introducer_is_a_literal() {
        let k = take("UPDATE orders SET uid = 5, note = _utf8mb4 X'6E' WHERE id = 1")
            .and_then(Result::ok);
        assert_eq!(
            k.map(|k| k.assignments),
            Some(vec![
                ("uid".into(), "5".into()),
                ("note".into(), "_utf8mb4 X'6E'".into())
            ])
        );
    }

    #[test]
    fn where_runs_to_the_end() {
        let k = take("UPDATE orders SET uid = 3 WHERE uid IN (10, 4) ;").and_then(Result::ok);
        assert_eq!(
            k.and_then(|k| k.selection).as_deref(),
            Some("uid IN (10, 4)")
        );
    }

    #[test]
    fn leaves_other_statements_alone() {
        for sql in [
            "UPDATE orders SET note = 'x' WHERE uid = 1",
            "UPDATE items SET uid = 1",
            "SELECT uid FROM orders",
        ] {
            assert_eq!(take(sql), None, "{sql}");
        }
    }
}
