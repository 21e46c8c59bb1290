//! HAVING over merged groups. A shard's HAVING would judge its partial groups, so shards
//! run without it and the merge evaluates it on the combined groups: aggregates and
//! group keys become columns (hidden ones when the select list lacks them), and a small
//! evaluator covers comparisons, boolean logic, IS NULL, BETWEEN, IN and arithmetic with
//! MySQL's three-valued logic. Anything else is refused when planning.

use super::number::{Decimal, parse_double};
use super::plan::{Builder, Col};
use super::value::{Kind, Value, compare, int_decimal, leading_number};
use crate::shard::plan::RouteError;
use sqlparser::ast::{BinaryOperator, Expr, UnaryOperator, Value as SqlValue};
use std::cmp::Ordering;

/// A compiled HAVING condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Having {
    /// A column of the merged row, with the column holding its `COLLATION()`.
    Col(Col, Col),
    /// A number literal.
    Number(String),
    /// A string literal.
    Str(String),
    /// NULL.
    Null,
    /// TRUE / FALSE.
    Bool(bool),
    /// NOT.
    Not(Box<Having>),
    /// AND, OR, XOR.
    Logic(BinaryOperator, Box<Having>, Box<Having>),
    /// =, <=>, <>, <, <=, >, >=.
    Cmp(BinaryOperator, Box<Having>, Box<Having>),
    /// +, -, *, /.
    Arith(BinaryOperator, Box<Having>, Box<Having>),
    /// Unary minus.
    Neg(Box<Having>),
    /// IS [NOT] NULL.
    IsNull(Box<Having>, bool),
    /// [NOT] BETWEEN.
    Between(Box<Having>, Box<Having>, Box<Having>, bool),
    /// [NOT] IN (list).
    InList(Box<Having>, Vec<Having>, bool),
}

/// Compiles `e`, adding the columns it needs to the shard query.
pub(crate) fn compile(e: &Expr, b: &mut Builder<'_>) -> Result<Having, RouteError> {
    use BinaryOperator as B;
    let sub = |x: &Expr, b: &mut Builder<'_>| compile(x, b).map(Box::new);
    Ok(match e {
        Expr::Nested(x) => compile(x, b)?,
        Expr::Value(v) => match &v.value {
            SqlValue::Number(n, _) => Having::Number(n.clone()),
            SqlValue::SingleQuotedString(s) | SqlValue::DoubleQuotedString(s) => {
                Having::Str(s.clone())
            }
            SqlValue::Null => Having::Null,
            SqlValue::Boolean(x) => Having::Bool(*x),
            other => {
                return Err(RouteError::unsupported(format!(
                    "HAVING with {other} over several shards"
                )));
            }
        },
        Expr::UnaryOp { op, expr } => match op {
            UnaryOperator::Not => Having::Not(sub(expr, b)?),
            UnaryOperator::Minus => Having::Neg(sub(expr, b)?),
            UnaryOperator::Plus => compile(expr, b)?,
            other => {
                return Err(RouteError::unsupported(format!(
                    "HAVING with operator {other} over several shards"
                )));
            }
        },
        Expr::BinaryOp { left, op, right } => match op {
            B::And | B::Or | B::Xor => Having::Logic(op.clone(), sub(left, b)?, sub(right, b)?),
            B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq | B::Spaceship => {
                Having::Cmp(op.clone(), sub(left, b)?, sub(right, b)?)
            }
            B::Plus | B::Minus | B::Multiply | B::Divide => {
                Having::Arith(op.clone(), sub(left, b)?, sub(right, b)?)
            }
            other => {
                return Err(RouteError::unsupported(format!(
                    "HAVING with operator {other} over several shards"
                )));
            }
        },
        Expr::IsNull(x) => Having::IsNull(sub(x, b)?, false),
        Expr::IsNotNull(x) => Having::IsNull(sub(x, b)?, true),
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => Having::Between(sub(expr, b)?, sub(low, b)?, sub(high, b)?, *negated),
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let mut items = Vec::with_capacity(list.len());
            for x in list {
                items.push(compile(x, b)?);
            }
            Having::InList(sub(expr, b)?, items, *negated)
        }
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Function(_) => {
            let col = b.column_for(e, false)?;
            Having::Col(col, b.collation_for(e, false)?)
        }
        other => {
            return Err(RouteError::unsupported(format!(
                "HAVING with {other} over several shards"
            )));
        }
    })
}

/// A value during evaluation.
#[derive(Debug, Clone)]
enum V<'a> {
    Null,
    Exact(Decimal),
    Float(f64),
    /// A string with the kind it compares by (a column's), or a literal's bytes.
    Str(&'a [u8], Option<Kind>),
    /// A DATE/DATETIME/TIMESTAMP (`Kind::Temporal`) or TIME value as its ordinal, and
    /// whether the column is a DATE (which compares with numbers as YYYYMMDD).
    Temporal(Kind, i128, bool),
    /// A column value HAVING cannot compare (BIT).
    Other,
}

/// What evaluation reads from a merged group row.
pub trait Cells {
    /// The value and comparison kind of `col`, whose `COLLATION()` is in `collation`.
    fn value(&self, col: Col, collation: Col) -> (Kind, Value<'_>);
    /// Whether `col` is a DATE column.
    fn is_date(&self, col: Col) -> bool;
}

impl Having {
    /// Whether the row passes (TRUE; NULL and FALSE do not).
    pub fn passes(&self, row: &dyn Cells) -> Result<bool, String> {
        Ok(truth(&self.eval(row)?) == Some(true))
    }

    fn eval<'a>(&'a self, row: &'a dyn Cells) -> Result<V<'a>, String> {
        use BinaryOperator as B;
        Ok(match self {
            Having::Col(c, collation) => match row.value(*c, *collation) {
                (_, Value::Null) => V::Null,
                (_, Value::Int(i)) => V::Exact(int_decimal(i)),
                (_, Value::Decimal(d)) => V::Exact(d),
                (_, Value::Float(f)) => V::Float(f),
                (k @ Kind::String(_), Value::Bytes(b)) => V::Str(b, Some(k)),
                (k @ (Kind::Temporal | Kind::Time), Value::Ordinal(o)) => {
                    V::Temporal(k, o, row.is_date(*c))
                }
                _ => V::Other,
            },
            Having::Number(n) => match Decimal::parse(n.as_bytes()) {
                Some(d) => V::Exact(d),
                None => V::Float(parse_double(n.as_bytes()).unwrap_or(0.0)),
            },
            Having::Str(s) => V::Str(s.as_bytes(), None),
            Having::Null => V::Null,
            Having::Bool(x) => V::Exact(int_decimal(i128::from(*x))),
            Having::Not(x) => bool_value(truth(&x.eval(row)?).map(|t| !t)),
            Having::Logic(op, l, r) => {
                let (a, b) = (truth(&l.eval(row)?), truth(&r.eval(row)?));
                bool_value(match op {
                    B::And => match (a, b) {
                        (Some(false), _) | (_, Some(false)) => Some(false),
                        (Some(true), Some(true)) => Some(true),
                        _ => None,
                    },
                    B::Or => match (a, b) {
                        (Some(true), _) | (_, Some(true)) => Some(true),
                        (Some(false), Some(false)) => Some(false),
                        _ => None,
                    },
                    _ => match (a, b) {
                        (Some(x), Some(y)) => Some(x != y),
                        _ => None,
                    },
                })
            }
            Having::Cmp(op, l, r) => {
                let (a, b) = (l.eval(row)?, r.eval(row)?);
                if *op == B::Spaceship {
                    return Ok(bool_value(Some(match (&a, &b) {
                        (V::Null, V::Null) => true,
                        (V::Null, _) | (_, V::Null) => false,
                        _ => cmp(&a, &b)? == Ordering::Equal,
                    })));
                }
                if matches!(a, V::Null) || matches!(b, V::Null) {
                    return Ok(V::Null);
                }
                let o = cmp(&a, &b)?;
                bool_value(Some(match op {
                    B::Eq => o == Ordering::Equal,
                    B::NotEq => o != Ordering::Equal,
                    B::Lt => o == Ordering::Less,
                    B::LtEq => o != Ordering::Greater,
                    B::Gt => o == Ordering::Greater,
                    _ => o != Ordering::Less,
                }))
            }
            Having::Arith(op, l, r) => {
                let (a, b) = (l.eval(row)?, r.eval(row)?);
                let (Some(x), Some(y)) = (number(&a), number(&b)) else {
                    return Ok(V::Null);
                };
                match op {
                    B::Plus => V::Float(x + y),
                    B::Minus => V::Float(x - y),
                    B::Multiply => V::Float(x * y),
                    _ if y == 0.0 => V::Null,
                    _ => V::Float(x / y),
                }
            }
            Having::Neg(x) => match x.eval(row)? {
                V::Null => V::Null,
                v => V::Float(-number(&v).unwrap_or(0.0)),
            },
            Having::IsNull(x, negated) => {
                let null = matches!(x.eval(row)?, V::Null);
                bool_value(Some(null != *negated))
            }
            Having::Between(x, lo, hi, negated) => {
                let (v, lo, hi) = (x.eval(row)?, lo.eval(row)?, hi.eval(row)?);
                if [&v, &lo, &hi].iter().any(|v| matches!(v, V::Null)) {
                    return Ok(V::Null);
                }
                let inside = cmp(&v, &lo)? != Ordering::Less && cmp(&v, &hi)? != Ordering::Greater;
                bool_value(Some(inside != *negated))
            }
            Having::InList(x, list, negated) => {
                let v = x.eval(row)?;
                if matches!(v, V::Null) {
                    return Ok(V::Null);
                }
                let mut saw_null = false;
                for item in list {
                    let i = item.eval(row)?;
                    if matches!(i, V::Null) {
                        saw_null = true;
                    } else if cmp(&v, &i)? == Ordering::Equal {
                        return Ok(bool_value(Some(!*negated)));
                    }
                }
                if saw_null {
                    V::Null
                } else {
                    bool_value(Some(*negated))
                }
            }
        })
    }
}

fn bool_value<'a>(b: Option<bool>) -> V<'a> {
    match b {
        None => V::Null,
        Some(x) => V::Exact(int_decimal(i128::from(x))),
    }
}

fn number(v: &V<'_>) -> Option<f64> {
    match v {
        V::Null => None,
        V::Exact(d) => parse_double(d.to_text(30).as_bytes()),
        V::Float(f) => Some(*f),
        V::Str(s, _) => Some(leading_number(s)),
        V::Temporal(..) | V::Other => None,
    }
}

/// The number a temporal value reads as in a numeric comparison.
fn temporal_number(kind: Kind, ordinal: i128, date: bool) -> f64 {
    let us = ordinal.rem_euclid(1_000_000);
    let mut rest = ordinal.div_euclid(1_000_000);
    if kind == Kind::Time {
        let negative = ordinal < 0;
        let total = ordinal.abs();
        let (secs, us) = (total / 1_000_000, total % 1_000_000);
        let n = (secs / 3600) * 10_000 + (secs / 60 % 60) * 100 + secs % 60;
        let v = n as f64 + us as f64 / 1e6;
        return if negative { -v } else { v };
    }
    let s = rest % 60;
    rest /= 60;
    let mi = rest % 60;
    rest /= 60;
    let h = rest % 24;
    rest /= 24;
    let day = rest % 32;
    rest /= 32;
    let month = rest % 13;
    let year = rest / 13;
    let ymd = (year * 10_000 + month * 100 + day) as f64;
    if date {
        return ymd;
    }
    ymd * 1e6 + (h * 10_000 + mi * 100 + s) as f64 + us as f64 / 1e6
}

/// A string literal compared with a temporal column, read as that column's kind.
fn temporal_literal(kind: Kind, s: &[u8]) -> Result<i128, String> {
    let v = match kind {
        Kind::Time => super::value::text_time(s),
        _ => super::value::text_datetime(s),
    };
    v.ok_or_else(|| {
        format!(
            "HAVING comparing a temporal value with '{}', which is not a date or time",
            String::from_utf8_lossy(s)
        )
    })
}

fn truth(v: &V<'_>) -> Option<bool> {
    match v {
        V::Null => None,
        other => Some(number(other).is_some_and(|n| n != 0.0)),
    }
}

fn cmp(a: &V<'_>, b: &V<'_>) -> Result<Ordering, String> {
    Ok(match (a, b) {
        (V::Exact(x), V::Exact(y)) => x.cmp(y),
        (V::Str(x, k), V::Str(y, l)) => match k.or(*l) {
            Some(kind) => compare(kind, &Value::Bytes(x), &Value::Bytes(y)),
            None => x.cmp(y),
        },
        (V::Temporal(_, x, _), V::Temporal(_, y, _)) => x.cmp(y),
        (V::Temporal(k, x, _), V::Str(s, _)) => x.cmp(&temporal_literal(*k, s)?),
        (V::Str(s, _), V::Temporal(k, y, _)) => temporal_literal(*k, s)?.cmp(y),
        // A temporal value compared with a number is the number it reads as (20240102,
        // 20240102030405.5, 30405 for 03:04:05).
        (V::Temporal(k, x, date), other @ (V::Exact(_) | V::Float(_))) => {
            temporal_number(*k, *x, *date).total_cmp(&number(other).unwrap_or(0.0))
        }
        (other @ (V::Exact(_) | V::Float(_)), V::Temporal(k, y, date)) => number(other)
            .unwrap_or(0.0)
            .total_cmp(&temporal_number(*k, *y, *date)),
        (V::Temporal(..), _) | (_, V::Temporal(..)) | (V::Other, _) | (_, V::Other) => {
            return Err("HAVING comparing a BIT value".into());
        }
        _ => {
            let (x, y) = (number(a).unwrap_or(0.0), number(b).unwrap_or(0.0));
            x.total_cmp(&y)
        }
    })
}
