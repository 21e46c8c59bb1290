//! Whether a result through myshard equals the plain server's. Column metadata must be the
//! same (schema included, see `Column`) except for the flags that follow the execution
//! plan rather than the query (see [`PLAN_FLAGS`]), then the rows: in order when the query
//! fixes the order, otherwise as a multiset. Values compare exactly, except:
//!
//! - DOUBLE and FLOAT columns (SUM or AVG of a DOUBLE summed in another order differ in the
//!   last bits): within a relative 1e-9, or an absolute 1e-6 for sums that cancel out near
//!   zero (the data's doubles are at most 1e4 in magnitude, so a few thousand of them summed
//!   in any order stay far closer than that);
//! - strings the query marks as loose (group keys, DISTINCT values, MIN/MAX of a string),
//!   which may legitimately be any member of the same equality class under their collation
//!   ('abc' or 'ABC', 'e' or 'é', 'Abc' or 'Abc '): compared by the collation's weights with
//!   trailing space weights removed.

use crate::harness::differential::{Column, Outcome, value_key};
use myshard_router::hash::Collation;
use mysql_async::Value;
use mysql_async::consts::{ColumnFlags, ColumnType};
use std::cmp::Ordering;

/// Column flags that MariaDB sets from the execution plan, not from the query: a GROUP BY,
/// DISTINCT or sort resolved through a temporary table drops the key flags and
/// NO_DEFAULT_VALUE of the selected columns and marks the group columns with GROUP_FLAG (the
/// same bit as NUM_FLAG), and BINARY_FLAG of COUNT(*) or MIN(int) comes and goes with it. A
/// shard holding a sixteenth of the rows may well choose another plan than the plain server.
/// BINARY_FLAG is only ignored on binary-charset (numeric, temporal) columns; on strings it
/// tells a `_bin` collation.
const PLAN_FLAGS: ColumnFlags = ColumnFlags::PRI_KEY_FLAG
    .union(ColumnFlags::UNIQUE_KEY_FLAG)
    .union(ColumnFlags::MULTIPLE_KEY_FLAG)
    .union(ColumnFlags::PART_KEY_FLAG)
    .union(ColumnFlags::NO_DEFAULT_VALUE_FLAG)
    .union(ColumnFlags::NUM_FLAG);

/// The collation id of binary strings, numbers and temporal values.
const BINARY_CHARSET: u16 = 63;

/// `c` without what the execution plan decides (seen on MariaDB 10.11 with the same query
/// run with and without a temporary table): [`PLAN_FLAGS`]; the decimals of a string (39,
/// not fixed, or 0 out of a temporary table); the display length of a DOUBLE or FLOAT (22
/// or 23) and of a computed column (YEAR() 4 or 5); the original name of a computed column
/// (empty, or its alias out of a temporary table); and under an outer join NOT_NULL (a
/// column of the inner table keeps its table's NOT NULL when read directly, not out of a
/// temporary table). What remains (names, tables, type, UNSIGNED, BLOB and the like, the
/// decimals of numbers and times, lengths of table columns, collation) is compared.
fn plan_independent(c: &Column, outer_join: bool) -> Column {
    let mut flags = c.flags.difference(PLAN_FLAGS);
    if c.charset == BINARY_CHARSET {
        flags.remove(ColumnFlags::BINARY_FLAG);
    }
    if outer_join {
        flags.remove(ColumnFlags::NOT_NULL_FLAG);
    }
    let computed = c.org_table.is_empty();
    let string = matches!(
        c.column_type,
        ColumnType::MYSQL_TYPE_VAR_STRING
            | ColumnType::MYSQL_TYPE_STRING
            | ColumnType::MYSQL_TYPE_VARCHAR
            | ColumnType::MYSQL_TYPE_BLOB
            | ColumnType::MYSQL_TYPE_TINY_BLOB
            | ColumnType::MYSQL_TYPE_MEDIUM_BLOB
            | ColumnType::MYSQL_TYPE_LONG_BLOB
    );
    Column {
        flags,
        decimals: if string { 0 } else { c.decimals },
        length: if c.is_float() || computed {
            0
        } else {
            c.length
        },
        org_name: if computed {
            String::new()
        } else {
            c.org_name.clone()
        },
        ..c.clone()
    }
}

const FLOAT_RELATIVE: f64 = 1e-9;
const FLOAT_ABSOLUTE: f64 = 1e-6;

/// How one column's values compare.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Exact,
    Float,
    Loose(Collation),
}

/// A DOUBLE/FLOAT value as a number: `Some(None)` for NULL, `None` when it is neither (then
/// it compares exactly).
fn float_of(v: &Value) -> Option<Option<f64>> {
    match v {
        Value::NULL => Some(None),
        Value::Double(d) => Some(Some(*d)),
        Value::Float(f) => Some(Some(f64::from(*f))),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok().map(Some),
        _ => None,
    }
}

/// The weights `c` compares a string by, trailing spaces (PAD SPACE) removed.
fn weights(c: Collation, v: &Value) -> Option<Vec<u32>> {
    let Value::Bytes(b) = v else {
        return None;
    };
    let space = c.weights(b" ")?;
    let mut w = c.weights(b)?;
    while !space.is_empty() && w.ends_with(&space) {
        w.truncate(w.len() - space.len());
    }
    Some(w)
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= FLOAT_ABSOLUTE.max(FLOAT_RELATIVE * a.abs().max(b.abs()))
}

fn same(kind: Kind, a: &Value, b: &Value) -> bool {
    match kind {
        Kind::Float => match (float_of(a), float_of(b)) {
            (Some(Some(x)), Some(Some(y))) => close(x, y),
            _ => a == b,
        },
        Kind::Loose(c) => match (weights(c, a), weights(c, b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
        Kind::Exact => a == b,
    }
}

/// A row's exact and loose values as text, and its floats.
type RowKey = (String, Vec<f64>);

/// A row's sort key for multiset comparison: the exact and loose values (loose ones by their
/// weights), then the floats, which only break ties.
fn row_key(kinds: &[Kind], row: &[Value]) -> RowKey {
    let mut text = String::new();
    let mut floats = Vec::new();
    for (kind, v) in kinds.iter().zip(row) {
        match kind {
            Kind::Float => match float_of(v) {
                Some(f) => floats.push(f.unwrap_or(f64::NEG_INFINITY)),
                None => text.push_str(&value_key(v)),
            },
            Kind::Loose(c) => match weights(*c, v) {
                Some(w) => text.push_str(&format!("W{w:x?}")),
                None => text.push_str(&value_key(v)),
            },
            Kind::Exact => text.push_str(&value_key(v)),
        }
        text.push('\u{1}');
    }
    (text, floats)
}

fn cmp_keys(a: &RowKey, b: &RowKey) -> Ordering {
    a.0.cmp(&b.0).then_with(|| {
        a.1.iter()
            .zip(&b.1)
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    })
}

fn sorted(kinds: &[Kind], rows: &[Vec<Value>]) -> Vec<Vec<Value>> {
    let mut keyed: Vec<(RowKey, &Vec<Value>)> =
        rows.iter().map(|r| (row_key(kinds, r), r)).collect();
    keyed.sort_by(|a, b| cmp_keys(&a.0, &b.0));
    keyed.into_iter().map(|(_, r)| r.clone()).collect()
}

/// `Ok` when `proxy` answers like `plain`, else what differs. `loose` has, per result
/// column, the collation of values that may be another member of their equality class;
/// `outer_join` says the query has one.
pub fn compare(
    plain: &Outcome,
    proxy: &Outcome,
    ordered: bool,
    loose: &[Option<Collation>],
    outer_join: bool,
) -> Result<(), String> {
    let (
        Outcome::Rows {
            columns: pc,
            rows: pr,
        },
        Outcome::Rows {
            columns: xc,
            rows: xr,
        },
    ) = (plain, proxy)
    else {
        return if plain == proxy {
            Ok(())
        } else {
            Err("different outcomes".into())
        };
    };
    let metadata = |cs: &[Column]| {
        cs.iter()
            .map(|c| plan_independent(c, outer_join))
            .collect::<Vec<_>>()
    };
    if metadata(pc) != metadata(xc) {
        return Err("different column metadata".into());
    }
    if pr.len() != xr.len() {
        return Err(format!("{} rows instead of {}", xr.len(), pr.len()));
    }
    let kinds: Vec<Kind> = pc
        .iter()
        .enumerate()
        .map(|(i, c)| match loose.get(i).copied().flatten() {
            Some(collation) => Kind::Loose(collation),
            None if c.is_float() => Kind::Float,
            None => Kind::Exact,
        })
        .collect();
    let (pr, xr) = if ordered {
        (pr.clone(), xr.clone())
    } else {
        (sorted(&kinds, pr), sorted(&kinds, xr))
    };
    for (i, (a, b)) in pr.iter().zip(&xr).enumerate() {
        if a.len() != b.len() {
            return Err(format!(
                "row {i} has {} values instead of {}",
                b.len(),
                a.len()
            ));
        }
        for (j, ((kind, x), y)) in kinds.iter().zip(a).zip(b).enumerate() {
            if !same(*kind, x, y) {
                let how = if ordered { "in order" } else { "as a multiset" };
                return Err(format!(
                    "rows compared {how}: row {i} column {j} is {} instead of {} ({kind:?})",
                    y.as_sql(false),
                    x.as_sql(false)
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge_diff::data::{BIN, GENERAL_CI, UNICODE_CI};

    fn s(x: &str) -> Value {
        Value::Bytes(x.as_bytes().to_vec())
    }

    #[test]
    fn loose_strings_compare_by_weights_without_trailing_spaces() {
        let k = Kind::Loose(GENERAL_CI);
        assert!(same(k, &s("abc"), &s("ABC ")));
        assert!(same(k, &s("e"), &s("é")));
        assert!(same(k, &s("ß"), &s("s")));
        assert!(!same(k, &s("abc"), &s("abd")));
        assert!(same(Kind::Loose(UNICODE_CI), &s("ß"), &s("SS")));
        assert!(same(Kind::Loose(BIN), &s("a "), &s("a")));
        assert!(!same(Kind::Loose(BIN), &s("a"), &s("A")));
        assert!(!same(Kind::Exact, &s("abc"), &s("ABC")));
    }

    #[test]
    fn floats_compare_with_a_tolerance() {
        assert!(same(
            Kind::Float,
            &s("0.30000000000000004"),
            &Value::Bytes(b"0.3".to_vec())
        ));
        assert!(same(
            Kind::Float,
            &Value::Double(1e-12),
            &Value::Double(0.0)
        ));
        assert!(!same(Kind::Float, &s("1.0001"), &s("1")));
        assert!(!same(Kind::Float, &Value::NULL, &s("0")));
    }
}
