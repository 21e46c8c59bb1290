//! Paging given as parameters (`LIMIT ?`, `LIMIT ?, ?`, `LIMIT ? OFFSET ?`, mixed with
//! literals) in a SELECT merged over several shards. The merge plan keeps which parameter
//! holds the offset and which the row count; at execute the bound values fill them, and
//! the shards' copy of the statement keeps its placeholders where the client had them —
//! only their values change (the offset to 0, the count to offset + count), so that each
//! shard returns the rows that could be among the first offset + count, exactly as for a
//! literal LIMIT.
//!
//! A bound value becomes a row count as MariaDB converts it: NULL is 0, integers as they
//! are, DECIMAL rounded half away from zero, DOUBLE rounded half to even, strings by their
//! leading integer. A negative value is read as unsigned in the binary protocol (-1 is
//! every row) and is error 1210 ("Incorrect arguments to EXECUTE") for `EXECUTE … USING`,
//! as MariaDB 10.11 does.

use crate::lexer::{Lexer, Token};
use crate::shard::plan::RouteError;
use crate::shard::resolve::Bound;
use sqlparser::ast::{Expr, LimitClause, Value};
use std::ops::Range;

/// A LIMIT or OFFSET operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// Written in the statement.
    Literal(u64),
    /// The bound value of parameter `i` (0-based, in text order).
    Param(usize),
}

/// Paging with at least one parameter, as the merge plan keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamPaging {
    /// Rows skipped.
    pub offset: Amount,
    /// Rows returned at most.
    pub count: Amount,
    /// The placeholders of the shards' LIMIT clause, in text order, and what each one
    /// receives: `true` the pushed-down count (offset + count, or every row for a grouped
    /// merge), `false` the offset 0.
    pub shard_params: Vec<(usize, bool)>,
}

/// The paging values of one execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows skipped by the merge.
    pub offset: u64,
    /// Rows sent at most by the merge.
    pub count: u64,
}

/// 1210, as MariaDB answers a negative LIMIT or OFFSET parameter.
pub fn incorrect_arguments() -> RouteError {
    RouteError {
        code: 1210,
        state: "HY000",
        message: "Incorrect arguments to EXECUTE".into(),
    }
}

impl ParamPaging {
    /// The offset and count for bound `params`.
    pub fn page(&self, params: &[Bound]) -> Result<Page, RouteError> {
        let amount = |a: Amount| match a {
            Amount::Literal(n) => Ok(n),
            Amount::Param(i) => params
                .get(i)
                .ok_or_else(|| {
                    RouteError::refused(format!(
                        "parameter {} of the statement is not bound",
                        i + 1
                    ))
                })
                .and_then(bound_amount),
        };
        // MariaDB reads the count before the offset whatever their order in the text.
        let count = amount(self.count)?;
        let offset = amount(self.offset)?;
        Ok(Page { offset, count })
    }

    /// The values the shards' paging placeholders get for `page`: (parameter index,
    /// value). `grouped`: the shards return every group (the merge pages after grouping).
    pub fn shard_values(&self, page: Page, grouped: bool) -> Vec<(usize, u64)> {
        let pushed = if grouped {
            u64::MAX
        } else {
            page.offset.saturating_add(page.count)
        };
        self.shard_params
            .iter()
            .map(|&(i, is_count)| (i, if is_count { pushed } else { 0 }))
            .collect()
    }
}

/// Reads the paging of a query for the merge: literal offset and count, or, when a
/// parameter gives either, the [`ParamPaging`] and the shards' LIMIT clause text.
/// `clause` is the byte range of the top-level `LIMIT …` in `sql`.
pub(crate) fn read(
    sql: &str,
    limit: &Option<LimitClause>,
    clause: Option<&Range<usize>>,
) -> Result<Reading, RouteError> {
    let (offset, count) = match limit {
        None => return Ok(Reading::Literal(0, None)),
        Some(LimitClause::OffsetCommaLimit { offset, limit }) => (Some(offset), Some(limit)),
        Some(LimitClause::LimitOffset {
            limit,
            offset,
            limit_by,
        }) => {
            if !limit_by.is_empty() {
                return Err(RouteError::unsupported("LIMIT BY over several shards"));
            }
            (offset.as_ref().map(|o| &o.value), limit.as_ref())
        }
    };
    let offset_is_param = offset.is_some_and(is_placeholder);
    let count_is_param = count.is_some_and(is_placeholder);
    if !offset_is_param && !count_is_param {
        let offset = match offset {
            Some(o) => number(o, "OFFSET")?,
            None => 0,
        };
        let count = match count {
            Some(c) => Some(number(c, "LIMIT")?),
            None => None,
        };
        return Ok(Reading::Literal(offset, count));
    }
    let Some(count) = count else {
        return Err(RouteError::unsupported(
            "OFFSET given as a parameter without LIMIT over several shards",
        ));
    };
    let range =
        clause.ok_or_else(|| RouteError::unsupported("a LIMIT clause myshard cannot locate"))?;
    // Placeholders before the clause number those in it.
    let before = placeholders(&sql[..range.start]);
    let inside = placeholders(&sql[range.clone()]);
    let mut next = before;
    let mut take = |is_param: bool| {
        is_param.then(|| {
            let i = next;
            next += 1;
            i
        })
    };
    // Text order: `LIMIT offset, count` or `LIMIT count OFFSET offset`.
    let comma = matches!(limit, Some(LimitClause::OffsetCommaLimit { .. }));
    let (offset_param, count_param) = if comma {
        let o = take(offset_is_param);
        (o, take(count_is_param))
    } else {
        let c = take(count_is_param);
        (take(offset_is_param), c)
    };
    if next - before != inside {
        return Err(RouteError::unsupported(
            "a LIMIT clause with parameters myshard cannot read over several shards",
        ));
    }
    let amount = |p: Option<usize>, e: Option<&Expr>, what| match (p, e) {
        (Some(i), _) => Ok(Amount::Param(i)),
        (None, Some(e)) => number(e, what).map(Amount::Literal),
        (None, None) => Ok(Amount::Literal(0)),
    };
    let offset_amount = amount(offset_param, offset, "OFFSET")?;
    let count_amount = amount(count_param, Some(count), "LIMIT")?;
    // The shards' clause keeps every placeholder: with two, both in place (the offset gets
    // 0); with one, `LIMIT ?` carrying offset + count.
    let (text, shard_params) = match (offset_param, count_param) {
        (Some(o), Some(c)) if comma => ("LIMIT ?, ? ", vec![(o, false), (c, true)]),
        (Some(o), Some(c)) => ("LIMIT ? OFFSET ? ", vec![(c, true), (o, false)]),
        (Some(i), None) | (None, Some(i)) => ("LIMIT ? ", vec![(i, true)]),
        (None, None) => return Err(RouteError::unsupported("LIMIT without parameters")),
    };
    Ok(Reading::Params {
        paging: ParamPaging {
            offset: offset_amount,
            count: count_amount,
            shard_params,
        },
        shard_clause: text.to_string(),
    })
}

/// What [`read`] found.
pub(crate) enum Reading {
    /// Literal offset and count.
    Literal(u64, Option<u64>),
    /// A parameter gives the offset or the count.
    Params {
        /// Where the values come from.
        paging: ParamPaging,
        /// The shards' LIMIT clause (same placeholders, in the same order).
        shard_clause: String,
    },
}

fn is_placeholder(e: &Expr) -> bool {
    matches!(e, Expr::Value(v) if matches!(v.value, Value::Placeholder(_)))
}

fn number(e: &Expr, what: &str) -> Result<u64, RouteError> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n
                .parse()
                .map_err(|_| RouteError::unsupported(format!("{what} {n} over several shards"))),
            other => Err(RouteError::unsupported(format!(
                "{what} {other} over several shards"
            ))),
        },
        other => Err(RouteError::unsupported(format!(
            "{what} {other} over several shards"
        ))),
    }
}

/// Placeholders in `text`.
fn placeholders(text: &str) -> usize {
    Lexer::new(text)
        .filter(|t| *t == Token::Placeholder)
        .count()
}

/// Indices (0-based, text order) of the placeholders that are LIMIT or OFFSET operands,
/// at any depth: their values must be row counts.
pub fn limit_placeholders(sql: &str) -> Vec<usize> {
    let tokens: Vec<Token<'_>> = Lexer::new(sql).collect();
    let mut out = Vec::new();
    let mut index = 0usize;
    let mut paging = false;
    let mut prev: Option<Token<'_>> = None;
    for t in tokens {
        let keyword = |w: &str| matches!(prev, Some(Token::Word(p)) if p.eq_ignore_ascii_case(w));
        // An operand right after LIMIT or OFFSET, or after the comma of `LIMIT a, b`.
        let operand = keyword("LIMIT")
            || keyword("OFFSET")
            || (paging && matches!(prev, Some(Token::Punct(b','))));
        match t {
            Token::Placeholder => {
                if operand {
                    out.push(index);
                }
                index += 1;
                paging = operand;
            }
            Token::Number(_) => paging = operand,
            Token::Punct(b',') => {}
            Token::Word(w) if w.eq_ignore_ascii_case("OFFSET") => {}
            _ => paging = false,
        }
        prev = Some(t);
    }
    out
}

/// A bound COM_STMT_EXECUTE value as a row count, converted as MariaDB converts a LIMIT
/// parameter of the binary protocol: the value as a signed integer (DOUBLE rounded half to
/// even, DECIMAL half away from zero, strings by their leading integer, NULL 0), then read
/// as unsigned — a negative count is 2^64 minus it, which is every row (as an offset: none).
pub fn bound_amount(b: &Bound) -> Result<u64, RouteError> {
    let v = match b {
        Bound::Null => 0,
        Bound::Int(i) => i128::from(*i),
        Bound::UInt(u) => i128::from(*u),
        Bound::Double(d) => double_value(*d),
        Bound::Decimal(d) => decimal_value(d).unwrap_or(i128::from(u64::MAX)),
        Bound::Text(t) => text_value(t).unwrap_or(i128::from(u64::MAX)),
    };
    Ok(if v < 0 {
        i64::try_from(v).unwrap_or(i64::MIN) as u64
    } else {
        u64::try_from(v).unwrap_or(u64::MAX)
    })
}

/// A value of `EXECUTE … USING` as a row count: negative, or a string beyond 2^64 - 1, is
/// MariaDB's error 1210.
fn sql_amount(v: Option<i128>) -> Result<u64, RouteError> {
    let v = v.ok_or_else(incorrect_arguments)?;
    if v < 0 {
        return Err(incorrect_arguments());
    }
    Ok(u64::try_from(v).unwrap_or(u64::MAX))
}

/// DOUBLE: rounded half to even; beyond the range, saturated.
fn double_value(d: f64) -> i128 {
    if d.is_nan() {
        return 0;
    }
    // `as` saturates.
    d.round_ties_even() as i128
}

/// DECIMAL: rounded half away from zero; `None` beyond 2^64 - 1.
fn decimal_value(d: &str) -> Option<i128> {
    let d = d.trim();
    let (negative, digits) = match d.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, d.strip_prefix('+').unwrap_or(d)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return text_value(d.as_bytes());
    }
    let mut n: i128 = 0;
    for b in int.bytes() {
        n = n * 10 + i128::from(b - b'0');
        if n > i128::from(u64::MAX) {
            return None;
        }
    }
    if frac.bytes().next().is_some_and(|b| b >= b'5') {
        n += 1;
    }
    Some(if negative { -n } else { n })
}

/// A string: its leading integer (after spaces, with an optional sign), none is 0;
/// `None` beyond 2^64 - 1.
fn text_value(t: &[u8]) -> Option<i128> {
    let mut i = 0;
    while t.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    let negative = match t.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut n: i128 = 0;
    while let Some(b) = t.get(i).filter(|b| b.is_ascii_digit()) {
        n = n * 10 + i128::from(b - b'0');
        if n > i128::from(u64::MAX) {
            return None;
        }
        i += 1;
    }
    Some(if negative { -n } else { n })
}

/// A literal of `EXECUTE … USING` (as the proxy writes it: numbers, quoted strings,
/// `X'…'`, NULL, TRUE/FALSE) as a row count, converted as MariaDB converts it.
pub fn literal_amount(lit: &str) -> Result<u64, RouteError> {
    let l = lit.trim();
    if l.eq_ignore_ascii_case("NULL") || l.eq_ignore_ascii_case("FALSE") {
        return Ok(0);
    }
    if l.eq_ignore_ascii_case("TRUE") {
        return Ok(1);
    }
    if let Some(hex) = l
        .strip_prefix("X'")
        .or_else(|| l.strip_prefix("x'"))
        .and_then(|h| h.strip_suffix('\''))
    {
        let bytes: Option<Vec<u8>> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
        return sql_amount(text_value(&bytes.unwrap_or_default()));
    }
    if let Some(s) = l
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| l.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
    {
        return sql_amount(text_value(s.as_bytes()));
    }
    if l.contains(['e', 'E']) {
        return match l.parse::<f64>() {
            Ok(d) => sql_amount(Some(double_value(d))),
            Err(_) => sql_amount(text_value(l.as_bytes())),
        };
    }
    sql_amount(decimal_value(l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_values_become_counts_as_in_mariadb() {
        // Each case checked with COM_STMT_EXECUTE on MariaDB 10.11 (tests/e2e_paging.rs).
        let cases = [
            (Bound::Null, 0),
            (Bound::Int(3), 3),
            (Bound::Int(-1), u64::MAX),
            (Bound::UInt(u64::MAX), u64::MAX),
            (Bound::Double(2.5), 2),
            (Bound::Double(1.5), 2),
            (Bound::Double(-1.5), u64::MAX - 1),
            (Bound::Double(1e20), u64::MAX),
            (Bound::Decimal("2.5".into()), 3),
            (Bound::Decimal("-0.4".into()), 0),
            (Bound::Text(b" 3".to_vec()), 3),
            (Bound::Text(b"3x".to_vec()), 3),
            (Bound::Text(b"2.7".to_vec()), 2),
            (Bound::Text(b"abc".to_vec()), 0),
            (Bound::Text(b"-1".to_vec()), u64::MAX),
        ];
        for (b, want) in cases {
            assert_eq!(bound_amount(&b), Ok(want), "{b:?}");
        }
    }

    #[test]
    fn literals_become_counts_as_in_mariadb() {
        let ok = [
            ("NULL", 0),
            ("'2'", 2),
            ("2.5", 3),
            ("2.5e0", 2),
            ("X'33'", 3),
            ("TRUE", 1),
            ("'abc'", 0),
            ("-0.4", 0),
            ("1e20", u64::MAX),
        ];
        for (l, want) in ok {
            assert_eq!(literal_amount(l), Ok(want), "{l}");
        }
        for l in ["-1", "'-1'", "-1.5", "-0.6e0", "'18446744073709551616'"] {
            assert_eq!(literal_amount(l).map_err(|e| e.code), Err(1210), "{l}");
        }
    }

    #[test]
    fn finds_paging_placeholders() {
        assert_eq!(
            limit_placeholders("SELECT ? FROM t WHERE a = ? LIMIT ?, ?"),
            vec![2, 3]
        );
        assert_eq!(
            limit_placeholders("SELECT * FROM t WHERE a IN (?, ?) LIMIT ? OFFSET ?"),
            vec![2, 3]
        );
        assert_eq!(limit_placeholders("SELECT * FROM t LIMIT 5, ? "), vec![0]);
        assert_eq!(
            limit_placeholders("SELECT * FROM t WHERE b = 'LIMIT ?' LIMIT 2"),
            Vec::<usize>::new()
        );
    }
}
