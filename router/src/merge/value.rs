//! Comparing and reading cells as MySQL compares column values: integers, decimals and
//! floating-point numbers by value, temporal values chronologically, strings by their
//! collation, NULL before everything.

use super::collate::SortCollation;
use super::number::{Decimal, parse_double};
use super::row::{ColumnInfo, RowFormat, flags, types};
use std::cmp::Ordering;

/// How values of a column compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Signed or unsigned integers.
    Integer,
    /// DECIMAL.
    Decimal,
    /// FLOAT / DOUBLE.
    Float,
    /// DATE, DATETIME, TIMESTAMP.
    Temporal,
    /// TIME (may be negative).
    Time,
    /// Strings, by collation.
    String(SortCollation),
    /// Bytes (BIT).
    Bytes,
}

/// Why a column cannot be compared by the merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uncomparable(pub String);

/// The comparison kind of `column`, `collation` being the `COLLATION()` of its values.
pub fn kind_of(column: &ColumnInfo, collation: Option<&[u8]>) -> Result<Kind, Uncomparable> {
    use types::*;
    Ok(match column.column_type {
        TINY | SHORT | LONG | LONGLONG | INT24 | YEAR => Kind::Integer,
        DECIMAL | NEWDECIMAL => Kind::Decimal,
        FLOAT | DOUBLE => Kind::Float,
        DATE | DATETIME | TIMESTAMP | NEWDATE => Kind::Temporal,
        TIME => Kind::Time,
        BIT => Kind::Bytes,
        NULL => Kind::Bytes,
        GEOMETRY => return Err(Uncomparable("a GEOMETRY value".into())),
        _ => {
            if column.flags & (flags::ENUM | flags::SET) != 0 {
                return Err(Uncomparable(
                    "an ENUM or SET column (ordered by member number)".into(),
                ));
            }
            let name = collation.unwrap_or(b"binary");
            let name = std::str::from_utf8(name).unwrap_or("?");
            match SortCollation::from_name(name) {
                Some(c) => Kind::String(c),
                None => {
                    return Err(Uncomparable(format!("a string in collation {name}")));
                }
            }
        }
    })
}

/// A cell decoded far enough to compare.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// NULL.
    Null,
    /// An integer.
    Int(i128),
    /// An exact decimal.
    Decimal(Decimal),
    /// A floating-point number.
    Float(f64),
    /// Something compared by an order-preserving integer (temporal values, TIME).
    Ordinal(i128),
    /// Bytes compared by `kind` (strings, BIT, text temporal values).
    Bytes(&'a [u8]),
}

/// Decodes `cell` of a column of `column_type`/`kind` in `format`.
pub fn decode<'a>(
    column: &ColumnInfo,
    kind: Kind,
    format: RowFormat,
    cell: Option<&'a [u8]>,
) -> Value<'a> {
    let Some(b) = cell else {
        return Value::Null;
    };
    match (format, kind) {
        (RowFormat::Text, Kind::Integer) => text_int(b).map_or(Value::Bytes(b), Value::Int),
        (RowFormat::Text, Kind::Decimal) | (RowFormat::Binary, Kind::Decimal) => {
            Decimal::parse(b).map_or(Value::Bytes(b), Value::Decimal)
        }
        (RowFormat::Text, Kind::Float) => parse_double(b).map_or(Value::Bytes(b), Value::Float),
        (RowFormat::Text, Kind::Time) => text_time(b).map_or(Value::Bytes(b), Value::Ordinal),
        (RowFormat::Text, Kind::Temporal) => {
            text_datetime(b).map_or(Value::Bytes(b), Value::Ordinal)
        }
        (RowFormat::Text, _) => Value::Bytes(b),
        (RowFormat::Binary, Kind::Integer) => Value::Int(binary_int(b, column.unsigned())),
        (RowFormat::Binary, Kind::Float) => Value::Float(match b.len() {
            4 => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            8 => f64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
            _ => 0.0,
        }),
        (RowFormat::Binary, Kind::Temporal) => Value::Ordinal(binary_datetime(b)),
        (RowFormat::Binary, Kind::Time) => Value::Ordinal(binary_time(b)),
        (RowFormat::Binary, _) => Value::Bytes(b),
    }
}

fn text_int(b: &[u8]) -> Option<i128> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

fn binary_int(b: &[u8], unsigned: bool) -> i128 {
    let mut v: u64 = 0;
    for (i, x) in b.iter().enumerate() {
        v |= u64::from(*x) << (8 * i);
    }
    if unsigned {
        return i128::from(v);
    }
    let bits = b.len() * 8;
    if bits == 0 || bits >= 64 {
        return i128::from(v as i64);
    }
    let shift = 64 - bits;
    i128::from(((v << shift) as i64) >> shift)
}

/// `YYYY-MM-DD[ HH:MM:SS[.ffffff]]` as the ordinal [`binary_datetime`] gives.
pub(crate) fn text_datetime(b: &[u8]) -> Option<i128> {
    let s = std::str::from_utf8(b).ok()?.trim();
    let (date, time) = s.split_once(' ').unwrap_or((s, "00:00:00"));
    let mut d = date.split('-');
    let year: i128 = d.next()?.parse().ok()?;
    let month: i128 = d.next()?.parse().ok()?;
    let day: i128 = d.next()?.parse().ok()?;
    if d.next().is_some() || time.starts_with('-') {
        return None;
    }
    let t = text_time(time.as_bytes())?;
    let us = t % 1_000_000;
    let secs = t / 1_000_000;
    let (h, mi, sec) = (secs / 3600, secs / 60 % 60, secs % 60);
    Some((((((year * 13 + month) * 32 + day) * 24 + h) * 60 + mi) * 60 + sec) * 1_000_000 + us)
}

/// `[-]H+:MM:SS[.ffffff]` as signed microseconds.
pub(crate) fn text_time(b: &[u8]) -> Option<i128> {
    let s = std::str::from_utf8(b).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut parts = hms.split(':');
    let h: i128 = parts.next()?.parse().ok()?;
    let m: i128 = parts.next()?.parse().ok()?;
    let sec: i128 = parts.next()?.parse().ok()?;
    let mut us: i128 = 0;
    for (i, c) in frac.chars().take(6).enumerate() {
        us += i128::from(c.to_digit(10)?) * 10i128.pow(5 - i as u32);
    }
    let v = ((h * 60 + m) * 60 + sec) * 1_000_000 + us;
    Some(if neg { -v } else { v })
}

/// Binary DATE/DATETIME/TIMESTAMP (length byte first) as an ordinal.
fn binary_datetime(b: &[u8]) -> i128 {
    let len = usize::from(b.first().copied().unwrap_or(0));
    let d = &b[1..];
    let get = |i: usize| i128::from(d.get(i).copied().unwrap_or(0));
    let year = if len >= 4 { get(0) | (get(1) << 8) } else { 0 };
    let (month, day) = if len >= 4 { (get(2), get(3)) } else { (0, 0) };
    let (h, mi, s) = if len >= 7 {
        (get(4), get(5), get(6))
    } else {
        (0, 0, 0)
    };
    let us = if len >= 11 {
        get(7) | (get(8) << 8) | (get(9) << 16) | (get(10) << 24)
    } else {
        0
    };
    (((((year * 13 + month) * 32 + day) * 24 + h) * 60 + mi) * 60 + s) * 1_000_000 + us
}

/// Binary TIME (length byte first) as signed microseconds.
fn binary_time(b: &[u8]) -> i128 {
    let len = usize::from(b.first().copied().unwrap_or(0));
    if len < 8 {
        return 0;
    }
    let d = &b[1..];
    let neg = d[0] == 1;
    let days = i128::from(u32::from_le_bytes([d[1], d[2], d[3], d[4]]));
    let (h, m, s) = (i128::from(d[5]), i128::from(d[6]), i128::from(d[7]));
    let us = if len >= 12 {
        i128::from(u32::from_le_bytes([d[8], d[9], d[10], d[11]]))
    } else {
        0
    };
    let v = (((days * 24 + h) * 60 + m) * 60 + s) * 1_000_000 + us;
    if neg { -v } else { v }
}

/// An integer as an exact decimal.
pub(crate) fn int_decimal(i: i128) -> Decimal {
    Decimal::parse(i.to_string().as_bytes()).unwrap_or_else(|| Decimal::from_i64(0))
}

/// MySQL's string-to-number conversion: the longest numeric prefix, 0 without one.
pub(crate) fn leading_number(s: &[u8]) -> f64 {
    let text = String::from_utf8_lossy(s);
    let t = text.trim_start();
    (1..=t.len())
        .rev()
        .filter(|&i| t.is_char_boundary(i))
        .find_map(|i| t[..i].parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// Orders two decoded values of one column (NULL first).
pub fn compare(kind: Kind, a: &Value<'_>, b: &Value<'_>) -> Ordering {
    use Value::*;
    match (a, b) {
        (Null, Null) => Ordering::Equal,
        (Null, _) => Ordering::Less,
        (_, Null) => Ordering::Greater,
        (Int(x), Int(y)) | (Ordinal(x), Ordinal(y)) => x.cmp(y),
        (Decimal(x), Decimal(y)) => x.cmp(y),
        (Float(x), Float(y)) => x.total_cmp(y),
        (Bytes(x), Bytes(y)) => match kind {
            Kind::String(c) => c.compare(x, y),
            _ => x.cmp(y),
        },
        // Mixed forms only come from values the decoder could not read: keep a total order.
        _ => rank(a).cmp(&rank(b)),
    }
}

fn rank(v: &Value<'_>) -> u8 {
    match v {
        Value::Null => 0,
        Value::Int(_) => 1,
        Value::Decimal(_) => 2,
        Value::Float(_) => 3,
        Value::Ordinal(_) => 4,
        Value::Bytes(_) => 5,
    }
}

/// Appends bytes equal for two cells exactly when they compare equal (GROUP BY and
/// DISTINCT keys). A NULL key is distinct from every value.
pub fn equality_key(kind: Kind, value: &Value<'_>, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(0),
        Value::Int(i) | Value::Ordinal(i) => {
            out.push(1);
            out.extend_from_slice(&i.to_be_bytes());
        }
        Value::Decimal(d) => {
            out.push(2);
            // Equal decimals print alike at a scale holding both (the column's scale is
            // fixed; trailing zeros are stripped so 1.50 and 1.5 agree regardless).
            let text = d.to_text(38);
            let text = text.trim_end_matches('0').trim_end_matches('.');
            let text = if text == "-0" || text.is_empty() {
                "0"
            } else {
                text
            };
            out.extend_from_slice(&(text.len() as u32).to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        Value::Float(f) => {
            out.push(3);
            let f = if *f == 0.0 { 0.0 } else { *f };
            out.extend_from_slice(&f.to_bits().to_be_bytes());
        }
        Value::Bytes(b) => {
            out.push(4);
            let mut key = Vec::with_capacity(b.len() * 2);
            match kind {
                Kind::String(c) => c.equality_key(b, &mut key),
                _ => key.extend_from_slice(b),
            }
            // Length first, so that the keys of consecutive columns cannot run together.
            out.extend_from_slice(&(key.len() as u32).to_be_bytes());
            out.extend_from_slice(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(t: u8, unsigned: bool) -> ColumnInfo {
        ColumnInfo {
            charset: 63,
            column_type: t,
            flags: if unsigned { flags::UNSIGNED } else { 0 },
            decimals: 0,
        }
    }

    #[test]
    fn integers_compare_by_value_in_both_formats() {
        let c = info(types::LONGLONG, true);
        let k = kind_of(&c, None).expect("kind");
        let big = decode(&c, k, RowFormat::Text, Some(b"18446744073709551615"));
        let small = decode(&c, k, RowFormat::Text, Some(b"9"));
        assert_eq!(compare(k, &small, &big), Ordering::Less);
        let b1 = u64::MAX.to_le_bytes();
        let bin = decode(&c, k, RowFormat::Binary, Some(&b1));
        assert_eq!(bin, Value::Int(i128::from(u64::MAX)));
        let s = info(types::TINY, false);
        assert_eq!(
            decode(&s, Kind::Integer, RowFormat::Binary, Some(&[0xff])),
            Value::Int(-1)
        );
        assert_eq!(
            compare(k, &Value::Null, &small),
            Ordering::Less,
            "NULL sorts first"
        );
    }

    #[test]
    fn text_and_binary_datetimes_decode_alike() {
        let d = info(types::DATETIME, false);
        let text = decode(
            &d,
            Kind::Temporal,
            RowFormat::Text,
            Some(b"2024-01-02 03:04:05.000006"),
        );
        let binary = decode(
            &d,
            Kind::Temporal,
            RowFormat::Binary,
            Some(&[11, 0xe8, 7, 1, 2, 3, 4, 5, 6, 0, 0, 0]),
        );
        assert_eq!(text, binary);
        let date = decode(&d, Kind::Temporal, RowFormat::Text, Some(b"2024-01-02"));
        let midnight = decode(
            &d,
            Kind::Temporal,
            RowFormat::Binary,
            Some(&[4, 0xe8, 7, 1, 2]),
        );
        assert_eq!(date, midnight);
    }

    #[test]
    fn times_and_datetimes_order_chronologically() {
        let t = info(types::TIME, false);
        let neg = decode(&t, Kind::Time, RowFormat::Text, Some(b"-10:00:00"));
        let pos = decode(&t, Kind::Time, RowFormat::Text, Some(b"2:00:00.5"));
        assert_eq!(compare(Kind::Time, &neg, &pos), Ordering::Less);
        let d = info(types::DATETIME, false);
        let a = decode(
            &d,
            Kind::Temporal,
            RowFormat::Binary,
            Some(&[4, 0xe8, 7, 1, 2]),
        );
        let b = decode(
            &d,
            Kind::Temporal,
            RowFormat::Binary,
            Some(&[7, 0xe8, 7, 1, 2, 0, 0, 1]),
        );
        assert_eq!(compare(Kind::Temporal, &a, &b), Ordering::Less);
    }
}
