//! The glue between the router's shard routes and the placement hash: key values from SQL
//! literals and bound parameters become hash inputs, and bound parameters become SQL
//! literals when a prepared multi-row INSERT is split over shards.

use crate::params::{ExecuteRequest, split_values};
use myshard_config::{KeyType as ConfigKeyType, TableRule};
use myshard_router::hash::{Collation, KeyType, KeyValue, shard_of};
use myshard_router::shard::keys::Literal;
use myshard_router::shard::plan::RouteError;
use myshard_router::shard::resolve::{Bound, KeyInput};
use myshard_router::text::encode;
use std::fmt::Write;

/// The hash's key type for a table rule.
fn key_type(rule: &TableRule) -> Result<KeyType, RouteError> {
    let TableRule::Sharded {
        key_type,
        collation,
        ..
    } = rule
    else {
        return Err(RouteError::refused("a global table has no shard key"));
    };
    Ok(match key_type {
        ConfigKeyType::Integer => KeyType::Integer,
        ConfigKeyType::Date => KeyType::Date,
        ConfigKeyType::String => {
            let name = collation.unwrap_or("utf8mb4_general_ci");
            let collation = Collation::from_name(name).ok_or_else(|| {
                RouteError::refused(format!(
                    "collation '{name}' is not supported for shard keys"
                ))
            })?;
            KeyType::String { collation }
        }
        ConfigKeyType::Decimal { precision, scale } => KeyType::Decimal {
            precision: *precision,
            scale: *scale,
        },
        ConfigKeyType::Datetime { fsp } => KeyType::DateTime { fsp: *fsp },
    })
}

/// The shard of one key value under `rule` with `shards` shards.
pub fn hash_key(
    rule: &TableRule,
    shards: u32,
    input: KeyInput<'_>,
) -> Result<Option<u32>, RouteError> {
    let kt = key_type(rule)?;
    let text;
    let bytes;
    let value = match input {
        KeyInput::Literal(l) => match l {
            Literal::Null => KeyValue::Null,
            Literal::Bool(b) => KeyValue::Int(i64::from(*b)),
            Literal::Str(s) => {
                bytes = encode(s);
                KeyValue::Str(&bytes)
            }
            Literal::Bytes(b) => KeyValue::Str(b),
            Literal::Number(n) => {
                text = n.clone();
                number(&text)
            }
        },
        KeyInput::Bound(b) => match b {
            Bound::Null => KeyValue::Null,
            Bound::Int(i) => KeyValue::Int(*i),
            Bound::UInt(u) => KeyValue::UInt(*u),
            Bound::Double(d) => KeyValue::Float(*d),
            Bound::Decimal(d) => KeyValue::Decimal(d),
            Bound::Text(t) => KeyValue::Str(t),
        },
    };
    shard_of(&kt, &value, shards).map_err(|e| RouteError::refused(format!("shard key value: {e}")))
}

/// A numeric literal as the hash sees it.
fn number(n: &str) -> KeyValue<'_> {
    if let Ok(i) = n.parse::<i64>() {
        return KeyValue::Int(i);
    }
    if let Ok(u) = n.parse::<u64>() {
        return KeyValue::UInt(u);
    }
    if n.contains(['e', 'E']) {
        return n
            .parse::<f64>()
            .map_or(KeyValue::Decimal(n), KeyValue::Float);
    }
    KeyValue::Decimal(n)
}

/// Decodes the parameters of a COM_STMT_EXECUTE for routing. Long-data parameters come
/// from `long_data`.
pub fn bound_params(
    req: &ExecuteRequest<'_>,
    types: &[u8],
    n: usize,
    long_data: &[(u16, Vec<u8>)],
) -> Option<Vec<Bound>> {
    let find = |i: usize| long_data.iter().find(|(k, _)| usize::from(*k) == i);
    let values = split_values(req, types, n, |i| find(i).is_some())?;
    let mut out = Vec::with_capacity(n);
    for (i, v) in values.into_iter().enumerate() {
        let ty = types[i * 2];
        let unsigned = types[i * 2 + 1] & 0x80 != 0;
        out.push(match v {
            None => match find(i) {
                Some((_, data)) => Bound::Text(data.clone()),
                None => Bound::Null,
            },
            Some(b) => decode(ty, unsigned, b)?,
        });
    }
    Some(out)
}

fn decode(ty: u8, unsigned: bool, b: &[u8]) -> Option<Bound> {
    let int = |v: i64, u: u64| {
        if unsigned {
            Bound::UInt(u)
        } else {
            Bound::Int(v)
        }
    };
    Some(match ty {
        0x06 => Bound::Null,
        0x01 => int(i64::from(b[0] as i8), u64::from(b[0])),
        0x02 | 0x0d => {
            let x = u16::from_le_bytes([b[0], b[1]]);
            int(i64::from(x as i16), u64::from(x))
        }
        0x03 | 0x09 => {
            let x = u32::from_le_bytes(b.get(..4)?.try_into().ok()?);
            int(i64::from(x as i32), u64::from(x))
        }
        0x08 => {
            let x = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
            int(x as i64, x)
        }
        0x04 => Bound::Double(f64::from(f32::from_le_bytes(b.get(..4)?.try_into().ok()?))),
        0x05 => Bound::Double(f64::from_le_bytes(b.get(..8)?.try_into().ok()?)),
        0x07 | 0x0a | 0x0c => Bound::Text(datetime_text(&b[1..]).into_bytes()),
        0x0b => Bound::Text(time_text(&b[1..]).into_bytes()),
        // DECIMAL / NEWDECIMAL: the number as text. Bytes that are not even UTF-8 cannot be
        // a decimal; as a string they hash to no shard, like any unreadable value.
        0x00 | 0xf6 => {
            let mut r = crate::wire::Reader::new(b);
            let text = r.lenenc_str()?.to_vec();
            match String::from_utf8(text) {
                Ok(d) => Bound::Decimal(d),
                Err(e) => Bound::Text(e.into_bytes()),
            }
        }
        _ => {
            // Length-encoded string, decimal, blob, JSON …
            let mut r = crate::wire::Reader::new(b);
            Bound::Text(r.lenenc_str()?.to_vec())
        }
    })
}

/// `YYYY-MM-DD[ HH:MM:SS[.ffffff]]` from a binary DATE/DATETIME value (without its length).
fn datetime_text(v: &[u8]) -> String {
    let g = |i: usize| v.get(i).copied().unwrap_or(0);
    let year = u16::from_le_bytes([g(0), g(1)]);
    let mut s = format!("{year:04}-{:02}-{:02}", g(2), g(3));
    if v.len() >= 7 {
        let _ = write!(s, " {:02}:{:02}:{:02}", g(4), g(5), g(6));
    }
    if v.len() >= 11 {
        let us = u32::from_le_bytes([g(7), g(8), g(9), g(10)]);
        let _ = write!(s, ".{us:06}");
    }
    s
}

/// `[-]H:MM:SS[.ffffff]` from a binary TIME value (without its length).
fn time_text(v: &[u8]) -> String {
    let g = |i: usize| v.get(i).copied().unwrap_or(0);
    let days = u32::from_le_bytes([g(1), g(2), g(3), g(4)]);
    let hours = days * 24 + u32::from(g(5));
    let mut s = format!(
        "{}{hours:02}:{:02}:{:02}",
        if g(0) == 1 { "-" } else { "" },
        g(6),
        g(7)
    );
    if v.len() >= 12 {
        let us = u32::from_le_bytes([g(8), g(9), g(10), g(11)]);
        let _ = write!(s, ".{us:06}");
    }
    s
}

/// A bound parameter as an SQL literal (bytes as a hex literal, so no escaping is needed).
/// String parameters are text in the client's character set, so their literal carries it
/// as an introducer (`_utf8mb4 X'…'`): a latin1 column then stores the characters, not the
/// UTF-8 bytes. Bytes that are not valid UTF-8 under a UTF-8 client character set are
/// binary data (a BLOB value): their hex literal stays bare, as it does without a known
/// character set, and is stored byte for byte.
pub fn literal_in(b: &Bound, client_charset: Option<&str>) -> String {
    let utf8 = |cs: &str| {
        let cs = cs.to_ascii_lowercase();
        cs == "utf8" || cs.starts_with("utf8mb")
    };
    match (b, client_charset) {
        (Bound::Text(t), Some(cs)) if !t.is_empty() => {
            if utf8(cs) && std::str::from_utf8(t).is_err() {
                literal(b)
            } else {
                format!("_{cs} {}", literal(b))
            }
        }
        (Bound::Decimal(d), Some(_)) if !is_plain_decimal(d) => {
            literal_in(&Bound::Text(d.as_bytes().to_vec()), client_charset)
        }
        _ => literal(b),
    }
}

/// A bound parameter as an SQL literal, strings as bare hex literals.
pub fn literal(b: &Bound) -> String {
    match b {
        Bound::Null => "NULL".into(),
        Bound::Int(i) => i.to_string(),
        Bound::UInt(u) => u.to_string(),
        Bound::Double(d) => format!("{d:e}"),
        // A plain decimal is written as an exact-value number literal; anything else the
        // client sent as a decimal stays one (string) literal.
        Bound::Decimal(d) if is_plain_decimal(d) => d.clone(),
        Bound::Decimal(d) => literal(&Bound::Text(d.as_bytes().to_vec())),
        Bound::Text(t) if t.is_empty() => "''".into(),
        Bound::Text(t) => {
            let mut s = String::with_capacity(3 + t.len() * 2);
            s.push_str("X'");
            for byte in t {
                let _ = write!(s, "{byte:02X}");
            }
            s.push('\'');
            s
        }
    }
}

/// An optional `-`, digits and at most one point, with at least one digit: text that is
/// one exact-value literal in SQL.
fn is_plain_decimal(d: &str) -> bool {
    let digits = d.strip_prefix('-').unwrap_or(d);
    digits.bytes().any(|b| b.is_ascii_digit())
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|&b| b == b'.').count() <= 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_literals_carry_the_client_charset() {
        let t = Bound::Text("é'".as_bytes().to_vec());
        assert_eq!(literal_in(&t, Some("utf8mb4")), "_utf8mb4 X'C3A927'");
        assert_eq!(literal_in(&t, None), "X'C3A927'");
        let blob = Bound::Text(vec![0xff, 0x00]);
        assert_eq!(literal_in(&blob, Some("utf8mb4")), "X'FF00'");
        assert_eq!(literal_in(&blob, Some("latin1")), "_latin1 X'FF00'");
        assert_eq!(literal_in(&Bound::Text(Vec::new()), Some("latin1")), "''");
        assert_eq!(literal_in(&Bound::Int(-3), Some("latin1")), "-3");
    }

    #[test]
    fn decodes_binary_parameters() {
        assert_eq!(
            decode(0x08, false, &(-5i64).to_le_bytes()),
            Some(Bound::Int(-5))
        );
        assert_eq!(
            decode(0x08, true, &u64::MAX.to_le_bytes()),
            Some(Bound::UInt(u64::MAX))
        );
        assert_eq!(decode(0x01, false, &[0xFF]), Some(Bound::Int(-1)));
        assert_eq!(
            decode(0xFD, false, b"\x03abc"),
            Some(Bound::Text(b"abc".to_vec()))
        );
        assert_eq!(
            decode(0x0c, false, &[7, 0xE8, 0x07, 2, 29, 13, 5, 9]),
            Some(Bound::Text(b"2024-02-29 13:05:09".to_vec()))
        );
        assert_eq!(
            decode(0x0b, false, &[8, 1, 1, 0, 0, 0, 2, 3, 4]),
            Some(Bound::Text(b"-26:03:04".to_vec()))
        );
    }

    #[test]
    fn literals() {
        assert_eq!(literal(&Bound::Text(b"a'b".to_vec())), "X'612762'");
        assert_eq!(literal(&Bound::Int(-3)), "-3");
        assert_eq!(literal(&Bound::Double(0.5)), "5e-1");
        assert_eq!(literal(&Bound::Null), "NULL");
    }

    fn sharded(key_type: ConfigKeyType, collation: Option<&'static str>) -> TableRule {
        TableRule::Sharded {
            key: "k".into(),
            key_type,
            collation,
            allow_full_scan_writes: false,
        }
    }

    #[test]
    fn every_configured_key_type_maps_to_the_hash() {
        let decimal = ConfigKeyType::Decimal {
            precision: 10,
            scale: 2,
        };
        for (rule, expected) in [
            (sharded(ConfigKeyType::Integer, None), KeyType::Integer),
            (sharded(ConfigKeyType::Date, None), KeyType::Date),
            (
                sharded(decimal, None),
                KeyType::Decimal {
                    precision: 10,
                    scale: 2,
                },
            ),
            (
                sharded(ConfigKeyType::Datetime { fsp: 6 }, None),
                KeyType::DateTime { fsp: 6 },
            ),
            (
                sharded(ConfigKeyType::String, Some("utf8mb4_bin")),
                KeyType::String {
                    collation: Collation::Bin {
                        charset: myshard_router::hash::Charset::Utf8mb4,
                    },
                },
            ),
            (
                sharded(ConfigKeyType::String, None),
                KeyType::String {
                    collation: Collation::GeneralCi {
                        charset: myshard_router::hash::Charset::Utf8mb4,
                    },
                },
            ),
        ] {
            assert_eq!(key_type(&rule), Ok(expected), "{rule:?}");
        }
        assert!(key_type(&TableRule::Global).is_err());
    }

    #[test]
    fn decimal_and_datetime_keys_hash_like_the_placement_function() {
        let rule = sharded(
            ConfigKeyType::Decimal {
                precision: 10,
                scale: 2,
            },
            None,
        );
        let expected = shard_of(
            &KeyType::Decimal {
                precision: 10,
                scale: 2,
            },
            &KeyValue::Decimal("1.5"),
            16,
        );
        assert!(matches!(expected, Ok(Some(_))));
        let expected = expected.map_err(|e| RouteError::refused(e.to_string()));
        let lit = |n: &str| Literal::Number(n.into());
        for input in [
            KeyInput::Literal(&lit("1.5")),
            KeyInput::Literal(&lit("01.50")),
            KeyInput::Literal(&Literal::Str("1.50".into())),
            KeyInput::Bound(&Bound::Decimal("1.500".into())),
            KeyInput::Bound(&Bound::Text(b"1.5".to_vec())),
        ] {
            assert_eq!(hash_key(&rule, 16, input), expected, "{input:?}");
        }
        // More fraction digits than the scale: no stored value equals it.
        assert_eq!(
            hash_key(&rule, 16, KeyInput::Bound(&Bound::Decimal("1.555".into()))),
            Ok(None)
        );
        // A DOUBLE parameter is compared as DOUBLE: no single shard.
        assert_eq!(
            hash_key(&rule, 16, KeyInput::Bound(&Bound::Double(1.5))),
            Ok(None)
        );
        let rule = sharded(ConfigKeyType::Datetime { fsp: 3 }, None);
        let expected = shard_of(
            &KeyType::DateTime { fsp: 3 },
            &KeyValue::Str(b"2024-01-05 10:20:30.5"),
            16,
        )
        .map_err(|e| RouteError::refused(e.to_string()));
        assert!(matches!(expected, Ok(Some(_))));
        let binary = decode(
            0x0c,
            false,
            &[11, 0xE8, 0x07, 1, 5, 10, 20, 30, 0x20, 0xA1, 7, 0],
        );
        assert_eq!(
            binary,
            Some(Bound::Text(b"2024-01-05 10:20:30.500000".to_vec()))
        );
        for input in [
            KeyInput::Literal(&Literal::Str("2024-01-05 10:20:30.500".into())),
            KeyInput::Bound(&Bound::Text(b"2024-01-05 10:20:30.500000".to_vec())),
        ] {
            assert_eq!(hash_key(&rule, 16, input), expected, "{input:?}");
        }
        // Finer than the column's fsp: refused for inserts, scattered for reads.
        assert_eq!(
            hash_key(
                &rule,
                16,
                KeyInput::Literal(&Literal::Str("2024-01-05 10:20:30.5004".into()))
            ),
            Ok(None)
        );
    }

    #[test]
    fn decimal_parameters_are_decimals() {
        for ty in [0x00, 0xf6] {
            assert_eq!(
                decode(ty, false, b"\x05-1.55"),
                Some(Bound::Decimal("-1.55".into()))
            );
        }
        assert_eq!(
            decode(0xf6, false, b"\x02\xff\xfe"),
            Some(Bound::Text(vec![0xff, 0xfe]))
        );
        assert_eq!(decode(0xf6, false, b"\x05-1."), None);
        assert_eq!(literal(&Bound::Decimal("-1.555".into())), "-1.555");
        assert_eq!(literal(&Bound::Decimal(".5".into())), ".5");
        assert_eq!(literal(&Bound::Decimal("1e3".into())), "X'316533'");
        assert_eq!(literal(&Bound::Decimal("1;2".into())), "X'313B32'");
        assert_eq!(literal(&Bound::Decimal("-".into())), "X'2D'");
    }

    #[test]
    fn numbers() {
        assert_eq!(number("-12"), KeyValue::Int(-12));
        assert_eq!(number("18446744073709551615"), KeyValue::UInt(u64::MAX));
        assert_eq!(number("1.50"), KeyValue::Decimal("1.50"));
        assert_eq!(number("1e2"), KeyValue::Float(100.0));
    }
}
