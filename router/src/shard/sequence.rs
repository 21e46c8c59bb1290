//! Global sequences: where an INSERT / REPLACE leaves a sequence column for the proxy to
//! fill (the column is missing, or a row gives NULL or 0, as MySQL allows for
//! AUTO_INCREMENT), and the statement with the proxy's numbers written in. The first
//! number is written as `LAST_INSERT_ID(n)`, so that the server reports it in the OK
//! packet and later `LAST_INSERT_ID()` calls return it, as MySQL does for the first
//! AUTO_INCREMENT value of a statement; the router reads it as the literal `n`.

use super::span::{LineIndex, splice};
use super::template::quote_ident;
use crate::lexer::{Lexer, Token};
use sqlparser::ast::{
    AssignmentTarget, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, ObjectName,
    SetExpr, Statement, TableObject, Value,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use std::ops::Range;

/// An INSERT with the places the proxy fills, one per row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSlots {
    sql: String,
    /// Edits that do not depend on the numbers (the column added to the column list).
    fixed: Vec<(Range<usize>, String)>,
    /// Per slot, in row order: the range replaced, and the text before the number.
    slots: Vec<(Range<usize>, String)>,
}

impl SequenceSlots {
    /// How many numbers the statement needs.
    pub fn count(&self) -> usize {
        self.slots.len()
    }

    /// The statement with `values` (one per slot, [`SequenceSlots::count`] of them) written
    /// in; the first as `LAST_INSERT_ID(n)`.
    pub fn render(&self, values: &[u64]) -> String {
        let mut edits = self.fixed.clone();
        for (n, ((range, before), v)) in self.slots.iter().zip(values).enumerate() {
            let text = if n == 0 {
                format!("{before}LAST_INSERT_ID({v})")
            } else {
                format!("{before}{v}")
            };
            edits.push((range.clone(), text));
        }
        splice(&self.sql, edits)
    }
}

/// The table an INSERT / REPLACE names (schema as written, table), cheaply: `None` for
/// any other statement.
pub fn insert_target(sql: &str) -> Option<(Option<String>, String)> {
    let mut lexer = Lexer::new(sql);
    let Token::Word(verb) = lexer.next()? else {
        return None;
    };
    if !verb.eq_ignore_ascii_case("INSERT") && !verb.eq_ignore_ascii_case("REPLACE") {
        return None;
    }
    let mut token = lexer.next()?;
    while let Token::Word(w) = token {
        let modifier = ["LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE", "INTO"]
            .iter()
            .any(|m| w.eq_ignore_ascii_case(m));
        if !modifier {
            break;
        }
        token = lexer.next()?;
    }
    let first = ident(token)?;
    let mut rest = lexer.clone();
    if rest.next() == Some(Token::Punct(b'.')) {
        let table = ident(rest.next()?)?;
        return Some((Some(first), table));
    }
    Some((None, first))
}

fn ident(token: Token<'_>) -> Option<String> {
    match token {
        Token::Word(w) => Some(w.to_string()),
        Token::QuotedIdent(q) => Some(q.replace("``", "`")),
        _ => None,
    }
}

/// Where `sql` (an INSERT / REPLACE … VALUES or … SET) leaves sequence column `column` for
/// the proxy to fill; `None` when it gives every row a value of its own, or is another
/// kind of statement (INSERT … SELECT, no column list), which then runs as written.
pub fn sequence_slots(sql: &str, column: &str) -> Option<SequenceSlots> {
    let stmts = Parser::parse_sql(&MySqlDialect {}, sql).ok()?;
    let [Statement::Insert(ins)] = stmts.as_slice() else {
        return None;
    };
    if !matches!(ins.table, TableObject::TableName(_)) {
        return None;
    }
    let idx = LineIndex::new(sql);
    let is_column = |name: &ObjectName| {
        name.0
            .last()
            .and_then(|p| p.as_ident())
            .is_some_and(|i| i.value.eq_ignore_ascii_case(column))
    };
    let mut fixed = Vec::new();
    let mut slots = Vec::new();
    if ins.columns.is_empty() && !ins.assignments.is_empty() {
        // INSERT … SET col = value, …
        let given = ins.assignments.iter().find(|a| match &a.target {
            AssignmentTarget::ColumnName(c) => is_column(c),
            AssignmentTarget::Tuple(_) => false,
        });
        match given {
            Some(a) if wants_number(&a.value) => slots.push((idx.of(&a.value)?, String::new())),
            Some(_) => return None,
            None => {
                let last = ins.assignments.last()?;
                let end = idx.of(&last.value)?.end;
                slots.push((end..end, format!(", {} = ", quote_ident(column))));
            }
        }
        return Some(SequenceSlots {
            sql: sql.to_string(),
            fixed,
            slots,
        });
    }
    if ins.columns.is_empty() {
        return None;
    }
    let SetExpr::Values(values) = ins.source.as_ref()?.body.as_ref() else {
        return None;
    };
    match ins.columns.iter().position(is_column) {
        Some(at) => {
            for row in &values.rows {
                let v = row.content.get(at)?;
                if wants_number(v) {
                    slots.push((idx.of(v)?, String::new()));
                }
            }
        }
        None => {
            let close = column_list_end(sql, &idx, ins.columns.last()?)?;
            fixed.push((close..close, format!(", {}", quote_ident(column))));
            for row in &values.rows {
                let close = idx.range(row.closing_token.0.span)?.start;
                slots.push((close..close, ", ".to_string()));
            }
        }
    }
    if slots.is_empty() {
        return None;
    }
    Some(SequenceSlots {
        sql: sql.to_string(),
        fixed,
        slots,
    })
}

/// How a prepared INSERT / REPLACE (with `?` placeholders) may leave sequence column
/// `column` to the proxy: decided only at execute, once the values are bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreparedNumbering {
    /// It has a RETURNING clause (whose rows a text statement would answer in the text
    /// protocol).
    pub returning: bool,
}

/// Whether prepared `sql` may leave sequence column `column` to the proxy at execute: the
/// column is missing (or there is no column list), or a row gives it a placeholder (bound
/// as NULL or 0 it asks for a number), NULL or 0. `None` when every row gives the column
/// a value of its own, or `sql` is no INSERT / REPLACE … VALUES / SET.
pub fn prepared_numbering(sql: &str, column: &str) -> Option<PreparedNumbering> {
    let stmts = Parser::parse_sql(&MySqlDialect {}, sql).ok()?;
    let [Statement::Insert(ins)] = stmts.as_slice() else {
        return None;
    };
    if !matches!(ins.table, TableObject::TableName(_)) {
        return None;
    }
    let is_column = |name: &ObjectName| {
        name.0
            .last()
            .and_then(|p| p.as_ident())
            .is_some_and(|i| i.value.eq_ignore_ascii_case(column))
    };
    let open = |v: &Expr| wants_number(v) || is_placeholder(v);
    let leaves = if ins.columns.is_empty() && !ins.assignments.is_empty() {
        match ins.assignments.iter().find(|a| match &a.target {
            AssignmentTarget::ColumnName(c) => is_column(c),
            AssignmentTarget::Tuple(_) => false,
        }) {
            Some(a) => open(&a.value),
            None => true,
        }
    } else {
        let SetExpr::Values(values) = ins.source.as_ref()?.body.as_ref() else {
            return None;
        };
        match ins.columns.iter().position(is_column) {
            _ if ins.columns.is_empty() => true,
            Some(at) => values
                .rows
                .iter()
                .any(|row| row.content.get(at).is_none_or(&open)),
            None => true,
        }
    };
    leaves.then_some(PreparedNumbering {
        returning: ins.returning.is_some(),
    })
}

/// Whether `v` is a `?` placeholder (possibly in parentheses).
fn is_placeholder(v: &Expr) -> bool {
    match v {
        Expr::Value(v) => matches!(v.value, Value::Placeholder(_)),
        Expr::Nested(inner) => is_placeholder(inner),
        _ => false,
    }
}

/// The argument of `LAST_INSERT_ID(expr)`.
pub fn last_insert_id_arg(f: &Function) -> Option<&Expr> {
    if !f
        .name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .is_some_and(|i| i.value.eq_ignore_ascii_case("LAST_INSERT_ID"))
        || f.name.0.len() != 1
    {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))] => Some(e),
        _ => None,
    }
}

/// Whether a row's value asks for a number: NULL or 0.
fn wants_number(v: &Expr) -> bool {
    match v {
        Expr::Value(v) => match &v.value {
            Value::Null => true,
            Value::Number(n, _) => n.trim_start_matches('0').is_empty() && !n.is_empty(),
            _ => false,
        },
        Expr::Nested(inner) => wants_number(inner),
        _ => false,
    }
}

/// The byte offset of the `)` that closes the column list whose last column is `last`.
fn column_list_end(sql: &str, idx: &LineIndex<'_>, last: &ObjectName) -> Option<usize> {
    let start = idx.of(last)?.start;
    let mut lexer = Lexer::new(sql.get(start..)?);
    loop {
        match lexer.next()? {
            // The lexer's offset is just past the `)`.
            Token::Punct(b')') => return Some(start + lexer.offset() - 1),
            Token::Punct(b',') => return None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(sql: &str, values: &[u64]) -> Option<String> {
        let s = sequence_slots(sql, "id")?;
        assert_eq!(s.count(), values.len(), "{sql}");
        Some(s.render(values))
    }

    #[test]
    fn fills_missing_column() {
        assert_eq!(
            fill("INSERT INTO t (a, `b`) VALUES (1, 2), (3,4)", &[7, 8]).as_deref(),
            Some("INSERT INTO t (a, `b`, `id`) VALUES (1, 2, LAST_INSERT_ID(7)), (3,4, 8)")
        );
    }

    #[test]
    fn fills_null_and_zero() {
        assert_eq!(
            fill(
                "INSERT INTO t (id, a) VALUES (NULL, 1), (5, 2), (0, 3)",
                &[7, 8]
            )
            .as_deref(),
            Some("INSERT INTO t (id, a) VALUES (LAST_INSERT_ID(7), 1), (5, 2), (8, 3)")
        );
    }

    #[test]
    fn fills_insert_set() {
        assert_eq!(
            fill("INSERT INTO t SET a = 'x'", &[9]).as_deref(),
            Some("INSERT INTO t SET a = 'x', `id` = LAST_INSERT_ID(9)")
        );
        assert_eq!(
            fill("INSERT INTO t SET id = NULL, a = 1", &[9]).as_deref(),
            Some("INSERT INTO t SET id = LAST_INSERT_ID(9), a = 1")
        );
    }

    #[test]
    fn leaves_explicit_values_alone() {
        assert_eq!(fill("INSERT INTO t (id, a) VALUES (5, 1)", &[]), None);
        assert_eq!(fill("INSERT INTO t (id, a) VALUES (?, 1)", &[]), None);
        assert_eq!(fill("INSERT INTO t SET id = 3", &[]), None);
        assert_eq!(fill("INSERT INTO t SELECT * FROM u", &[]), None);
        assert_eq!(fill("UPDATE t SET id = 0", &[]), None);
    }

    #[test]
    fn prepared_inserts_that_may_leave_numbers() {
        let n = |sql: &str| prepared_numbering(sql, "id");
        let open = Some(PreparedNumbering { returning: false });
        assert_eq!(n("INSERT INTO t (a) VALUES (?), (?)"), open);
        assert_eq!(n("INSERT INTO t (id, a) VALUES (5, ?), (?, ?)"), open);
        assert_eq!(n("INSERT INTO t (id, a) VALUES ((?), 1)"), open);
        assert_eq!(n("INSERT INTO t (id, a) VALUES (NULL, ?)"), open);
        assert_eq!(n("INSERT INTO t VALUES (?, ?)"), open);
        assert_eq!(n("INSERT INTO t SET a = ?"), open);
        assert_eq!(n("INSERT INTO t SET id = ?, a = 1"), open);
        assert_eq!(
            n("INSERT INTO t (a) VALUES (?) RETURNING id"),
            Some(PreparedNumbering { returning: true })
        );
        assert_eq!(n("INSERT INTO t (id, a) VALUES (5, ?), (6, ?)"), None);
        assert_eq!(n("INSERT INTO t SET id = 3, a = ?"), None);
        assert_eq!(n("INSERT INTO t (id, a) SELECT ?, 1"), None);
        assert_eq!(n("UPDATE t SET id = ?"), None);
    }

    #[test]
    fn finds_the_target() {
        assert_eq!(
            insert_target("insert ignore into `s`.`t` (a) values (1)"),
            Some((Some("s".into()), "t".into()))
        );
        assert_eq!(
            insert_target("REPLACE t SET a = 1"),
            Some((None, "t".into()))
        );
        assert_eq!(insert_target("SELECT 1"), None);
    }
}
