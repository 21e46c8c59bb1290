//! Shard-key constraints found in WHERE clauses: which key values a statement can touch.
//!
//! `key = v`, `v = key`, `key <=> v`, `key IN (v, …)` give value sets; `AND` keeps the
//! narrower side (either bound is correct: a row must satisfy both), `OR` unites (any side
//! without a constraint makes the whole unconstrained). Everything else — ranges, functions,
//! `NOT`, subqueries — constrains nothing, which routes to every shard: slower, never wrong.

use super::span::LineIndex;
use sqlparser::ast::{BinaryOperator, Expr, Ident, UnaryOperator, Value};

/// A value a shard key is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// A literal from the statement text.
    Literal(Literal),
    /// The n-th `?` placeholder (0-based), bound at execute time.
    Param(usize),
}

/// A literal as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// A number with its sign, as written (`-12`, `3.50`, `1e3`).
    Number(String),
    /// A string (escapes already resolved).
    Str(String),
    /// `X'…'` bytes.
    Bytes(Vec<u8>),
    /// `NULL`.
    Null,
    /// `TRUE` / `FALSE`.
    Bool(bool),
}

/// Which key values a statement is limited to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// Not limited.
    Any,
    /// One of these values.
    Values(Vec<Operand>),
    /// All of these hold.
    And(Vec<Constraint>),
    /// One of these holds.
    Or(Vec<Constraint>),
}

/// Maps `?` placeholders to their parameter index by byte offset.
#[derive(Debug, Default, Clone)]
pub struct Placeholders(Vec<usize>);

impl Placeholders {
    /// Finds the placeholders of `sql` with the tokenizer (so `?` inside strings and
    /// comments does not count).
    pub fn scan(sql: &str) -> Self {
        let mut lexer = crate::lexer::Lexer::new(sql);
        let mut out = Vec::new();
        while let Some(t) = lexer.next() {
            if t == crate::lexer::Token::Placeholder {
                // The token ends one byte after the `?`.
                out.push(lexer.offset() - 1);
            }
        }
        Placeholders(out)
    }

    /// Byte offsets of the placeholders, in order.
    pub fn offsets(&self) -> &[usize] {
        &self.0
    }

    /// Number of placeholders.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn index_at(&self, offset: usize) -> Option<usize> {
        self.0.binary_search(&offset).ok()
    }
}

/// Reads a literal or placeholder operand.
pub fn operand(e: &Expr, idx: &LineIndex<'_>, ph: &Placeholders) -> Option<Operand> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Placeholder(_) => {
                let at = idx.offset(v.span.start)?;
                ph.index_at(at).map(Operand::Param)
            }
            other => literal(other).map(Operand::Literal),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match operand(expr, idx, ph)? {
            Operand::Literal(Literal::Number(n)) => {
                Some(Operand::Literal(Literal::Number(negate(&n))))
            }
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => match operand(expr, idx, ph)? {
            n @ Operand::Literal(Literal::Number(_)) => Some(n),
            _ => None,
        },
        Expr::Nested(inner) => operand(inner, idx, ph),
        // `LAST_INSERT_ID(n)` is `n` (the proxy writes a sequence's first number so).
        Expr::Function(f) => super::sequence::last_insert_id_arg(f)
            .and_then(|e| operand(e, idx, ph))
            .filter(|o| matches!(o, Operand::Literal(Literal::Number(_)))),
        _ => None,
    }
}

fn negate(n: &str) -> String {
    match n.strip_prefix('-') {
        Some(rest) => rest.to_string(),
        None => format!("-{n}"),
    }
}

/// A literal value, if `v` is one the router understands.
pub fn literal(v: &Value) -> Option<Literal> {
    Some(match v {
        Value::Number(n, _) => Literal::Number(n.to_string()),
        Value::SingleQuotedString(s)
        | Value::DoubleQuotedString(s)
        | Value::NationalStringLiteral(s) => Literal::Str(s.clone()),
        Value::HexStringLiteral(h) => Literal::Bytes(hex(h)?),
        Value::Null => Literal::Null,
        Value::Boolean(b) => Literal::Bool(*b),
        _ => return None,
    })
}

fn hex(h: &str) -> Option<Vec<u8>> {
    if !h.len().is_multiple_of(2) {
        return None;
    }
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The constraint `e` puts on the column that `is_key` recognises.
pub fn constraint(
    e: &Expr,
    is_key: &dyn Fn(&[Ident]) -> bool,
    idx: &LineIndex<'_>,
    ph: &Placeholders,
) -> Constraint {
    let column = |e: &Expr| match e {
        Expr::Identifier(i) => is_key(std::slice::from_ref(i)),
        Expr::CompoundIdentifier(parts) => is_key(parts),
        _ => false,
    };
    match e {
        Expr::Nested(inner) => constraint(inner, is_key, idx, ph),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => simplify_and(
            constraint(left, is_key, idx, ph),
            constraint(right, is_key, idx, ph),
        ),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Or,
            right,
        } => {
            match (
                constraint(left, is_key, idx, ph),
                constraint(right, is_key, idx, ph),
            ) {
                (Constraint::Any, _) | (_, Constraint::Any) => Constraint::Any,
                (Constraint::Values(mut a), Constraint::Values(b)) => {
                    a.extend(b);
                    Constraint::Values(a)
                }
                // A chain `x OR y OR z` arrives left-deep: extend the left side's list so
                // the constraint stays flat (it is evaluated and dropped on async threads,
                // whose stack must not grow with the number of terms).
                (Constraint::Or(mut v), b) => {
                    v.push(b);
                    Constraint::Or(v)
                }
                (a, b) => Constraint::Or(vec![a, b]),
            }
        }
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq | BinaryOperator::Spaceship,
            right,
        } => {
            let v = if column(left) {
                operand(right, idx, ph)
            } else if column(right) {
                operand(left, idx, ph)
            } else {
                None
            };
            v.map_or(Constraint::Any, |v| Constraint::Values(vec![v]))
        }
        Expr::InList {
            expr,
            list,
            negated: false,
        } if column(expr) => {
            let vals: Option<Vec<Operand>> = list.iter().map(|x| operand(x, idx, ph)).collect();
            vals.map_or(Constraint::Any, Constraint::Values)
        }
        _ => Constraint::Any,
    }
}

fn simplify_and(a: Constraint, b: Constraint) -> Constraint {
    match (a, b) {
        (Constraint::Any, x) | (x, Constraint::Any) => x,
        (Constraint::And(mut v), x) => {
            v.push(x);
            Constraint::And(v)
        }
        (a, b) => Constraint::And(vec![a, b]),
    }
}

/// Evaluates a constraint to a set of shards (`None`: every shard). `shard_of` maps one
/// operand to its shard, or `None` when the operand can match on any shard (or none).
pub fn shards<E>(
    c: &Constraint,
    shard_of: &mut dyn FnMut(&Operand) -> Result<Option<u32>, E>,
) -> Result<Option<Vec<u32>>, E> {
    Ok(match c {
        Constraint::Any => None,
        Constraint::Values(vs) => {
            let mut out = Vec::with_capacity(vs.len());
            for v in vs {
                match shard_of(v)? {
                    Some(s) => out.push(s),
                    None => return Ok(None),
                }
            }
            out.sort_unstable();
            out.dedup();
            Some(out)
        }
        Constraint::And(cs) => {
            let mut best: Option<Vec<u32>> = None;
            for c in cs {
                if let Some(s) = shards(c, shard_of)? {
                    best = Some(match best {
                        None => s,
                        Some(b) => b.into_iter().filter(|x| s.contains(x)).collect(),
                    });
                }
            }
            best
        }
        Constraint::Or(cs) => {
            let mut all = Vec::new();
            for c in cs {
                match shards(c, shard_of)? {
                    Some(s) => all.extend(s),
                    None => return Ok(None),
                }
            }
            all.sort_unstable();
            all.dedup();
            Some(all)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::ast::{SetExpr, Statement};
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;

    fn where_of(sql: &str) -> Constraint {
        let stmt = Parser::parse_sql(&MySqlDialect {}, sql)
            .expect("parse")
            .remove(0);
        let Statement::Query(q) = stmt else {
            panic!("query")
        };
        let SetExpr::Select(s) = q.body.as_ref() else {
            panic!("select")
        };
        let idx = LineIndex::new(sql);
        let ph = Placeholders::scan(sql);
        let is_key = |parts: &[Ident]| match parts {
            [c] => c.value.eq_ignore_ascii_case("k"),
            [t, c] => t.value == "o" && c.value.eq_ignore_ascii_case("k"),
            _ => false,
        };
        constraint(s.selection.as_ref().expect("where"), &is_key, &idx, &ph)
    }

    fn num(n: &str) -> Operand {
        Operand::Literal(Literal::Number(n.into()))
    }

    #[test]
    fn extraction() {
        assert_eq!(
            where_of("SELECT 1 FROM t WHERE k = 5"),
            Constraint::Values(vec![num("5")])
        );
        assert_eq!(
            where_of("SELECT 1 FROM t o WHERE -3 = o.k"),
            Constraint::Values(vec![num("-3")])
        );
        assert_eq!(
            where_of("SELECT 1 FROM t WHERE k IN (1, 'a', ?) AND x > 2"),
            Constraint::Values(vec![
                num("1"),
                Operand::Literal(Literal::Str("a".into())),
                Operand::Param(0)
            ])
        );
        assert_eq!(
            where_of("SELECT 1 FROM t WHERE (k = 1 OR k = ?) AND y = ?"),
            Constraint::Values(vec![num("1"), Operand::Param(0)])
        );
        assert_eq!(
            where_of("SELECT 1 FROM t WHERE k = 1 OR y = 2"),
            Constraint::Any
        );
        assert_eq!(where_of("SELECT 1 FROM t WHERE k > 1"), Constraint::Any);
        assert_eq!(
            where_of("SELECT 1 FROM t WHERE k NOT IN (1)"),
            Constraint::Any
        );
        assert_eq!(where_of("SELECT 1 FROM t WHERE x.k = 1"), Constraint::Any);
        assert_eq!(
            where_of("SELECT '?' FROM t WHERE k = ?"),
            Constraint::Values(vec![Operand::Param(0)])
        );
    }

    #[test]
    fn evaluation() {
        let c = Constraint::And(vec![
            Constraint::Values(vec![num("1"), num("2"), num("3")]),
            Constraint::Or(vec![
                Constraint::Values(vec![num("2")]),
                Constraint::Values(vec![num("3")]),
            ]),
        ]);
        let mut f = |o: &Operand| -> Result<Option<u32>, ()> {
            match o {
                Operand::Literal(Literal::Number(n)) => Ok(n.parse().ok()),
                _ => Ok(None),
            }
        };
        assert_eq!(shards(&c, &mut f), Ok(Some(vec![2, 3])));
        assert_eq!(shards(&Constraint::Any, &mut f), Ok(None));
        assert_eq!(
            shards(&Constraint::Values(vec![Operand::Param(0)]), &mut f),
            Ok(None)
        );
    }
}
