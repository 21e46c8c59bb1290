//! The sharding vocabulary shared by the model, validation and the topology: shard lists as
//! written in `placement`, physical database name patterns, shard key types and the
//! collations string keys may be compared under.
//!
//! Everything here is pure: parsing and formatting, no configuration-wide rules (those are
//! in `validate`).

use std::fmt;
use std::ops::RangeInclusive;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};

/// Largest number of shards a sharded schema may have.
pub const MAX_SHARDS: u32 = 65_536;

/// Longest physical database name MySQL and MariaDB accept, in characters.
pub const MAX_DATABASE_NAME_CHARS: usize = 64;

/// Physical database name pattern of a sharded schema that does not set `database`:
/// `shop` with 16 shards → `shop_0000` … `shop_0015`.
pub const DEFAULT_DATABASE_PATTERN: &str = "{schema}_{shard:04}";

/// Collations a `string` shard key may be compared under (its value is normalised under the
/// collation before hashing, so that equal strings land on the same shard).
pub const SUPPORTED_COLLATIONS: &[&str] = &[
    "binary",
    "utf8mb4_bin",
    "utf8mb4_general_ci",
    "utf8mb4_unicode_ci",
    "utf8mb3_bin",
    "utf8mb3_general_ci",
    "utf8mb3_unicode_ci",
    "utf8_bin",
    "utf8_general_ci",
    "utf8_unicode_ci",
];

/// Collation of a `string` shard key that does not name one.
pub const DEFAULT_COLLATION: &str = "utf8mb4_general_ci";

/// The supported collation named `name` (case-insensitive, like MySQL), in its canonical
/// lower-case spelling.
pub fn supported_collation(name: &str) -> Option<&'static str> {
    SUPPORTED_COLLATIONS
        .iter()
        .copied()
        .find(|known| known.eq_ignore_ascii_case(name))
}

/// Largest DECIMAL precision (total digits) MySQL and MariaDB accept.
pub const MAX_DECIMAL_PRECISION: u8 = 65;
/// Largest DECIMAL scale (digits after the point) MySQL and MariaDB accept.
pub const MAX_DECIMAL_SCALE: u8 = 38;
/// Precision of a bare `decimal` key, like MySQL's `DECIMAL` = `DECIMAL(10,0)`.
pub const DEFAULT_DECIMAL_PRECISION: u8 = 10;
/// Largest DATETIME fractional seconds precision.
pub const MAX_DATETIME_FSP: u8 = 6;

/// The type of a shard key column, as far as placement cares: how its values are hashed to
/// a shard. DECIMAL keys carry their precision and scale and DATETIME keys their fractional
/// seconds precision, because the value a column stores (and so the shard of its row)
/// depends on them: `1.555` inserted into `DECIMAL(10,2)` is stored as `1.56`.
///
/// Written in configuration files as `integer`, `string`, `date`, `decimal(P,S)` or
/// `datetime(F)`; see [`KeyType::parse`]. TIMESTAMP, TIME, FLOAT/DOUBLE, ENUM/SET/BIT and
/// BINARY(n) columns cannot be shard keys (the placement hash's documentation says why).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyType {
    /// Integer columns (any width, signed or unsigned).
    #[default]
    Integer,
    /// Character and binary-string columns, compared under the table's collation.
    String,
    /// `DECIMAL(precision, scale)` / `NUMERIC` columns.
    Decimal {
        /// Total number of digits, 1 to 65.
        precision: u8,
        /// Digits after the point, 0 to 38 and at most `precision`.
        scale: u8,
    },
    /// DATE columns.
    Date,
    /// `DATETIME(fsp)` columns.
    Datetime {
        /// Fractional seconds precision, 0 to 6.
        fsp: u8,
    },
}

/// What `key_type` accepts, for messages.
const KEY_TYPE_FORMS: &str = "integer, string, date, decimal(P,S) or datetime(F)";

impl KeyType {
    /// The key type written `text` in a configuration file (ASCII case-insensitive, spaces
    /// allowed around the numbers): `integer`, `string`, `date`, `decimal(P,S)` (P 1 to 65,
    /// S 0 to 38 and at most P), `decimal(P)` = `decimal(P,0)`, `decimal` = `decimal(10,0)`
    /// (MySQL's defaults), `datetime(F)` (F 0 to 6) and `datetime` = `datetime(0)`.
    ///
    /// The error is a message such as `key_type decimal(70,2): precision must be 1 to 65`.
    pub fn parse(text: &str) -> Result<KeyType, String> {
        let written = text.trim();
        let (name, args) = match written.split_once('(') {
            None => (written, None),
            Some((name, rest)) => match rest.strip_suffix(')') {
                Some(args) if !args.contains(['(', ')']) => (name.trim_end(), Some(args)),
                _ => {
                    return Err(format!(
                        "key_type `{written}` is not a type such as {KEY_TYPE_FORMS}; in a \
                         flow mapping `{{…}}` quote it: key_type: 'decimal(10,2)'"
                    ));
                }
            },
        };
        let name = name.to_ascii_lowercase();
        let bad = |problem: &str| format!("key_type {written}: {problem}");
        let numbers = |args: &str| -> Result<Vec<u32>, String> {
            args.split(',')
                .map(|n| {
                    let n = n.trim();
                    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(bad(&format!("`{n}` is not a number")));
                    }
                    // Anything too long for u32 is out of every range below.
                    Ok(n.parse().unwrap_or(u32::MAX))
                })
                .collect()
        };
        match (name.as_str(), args) {
            ("integer", None) => Ok(KeyType::Integer),
            ("string", None) => Ok(KeyType::String),
            ("date", None) => Ok(KeyType::Date),
            ("integer" | "string" | "date", Some(_)) => Err(bad(&format!(
                "`{name}` takes no precision{}",
                match name.as_str() {
                    "integer" => " (every integer width hashes alike)",
                    "string" => " (the column's length does not matter)",
                    _ => "",
                }
            ))),
            ("decimal", None) => Ok(KeyType::Decimal {
                precision: DEFAULT_DECIMAL_PRECISION,
                scale: 0,
            }),
            ("decimal", Some(args)) => {
                let (precision, scale) = match numbers(args)?.as_slice() {
                    [p] => (*p, 0),
                    [p, s] => (*p, *s),
                    _ => return Err(bad("expected decimal(P,S), e.g. decimal(10,2)")),
                };
                let max_p = u32::from(MAX_DECIMAL_PRECISION);
                let max_s = u32::from(MAX_DECIMAL_SCALE);
                if !(1..=max_p).contains(&precision) {
                    return Err(bad(&format!("precision must be 1 to {max_p}")));
                }
                if scale > max_s {
                    return Err(bad(&format!("scale must be 0 to {max_s}")));
                }
                if scale > precision {
                    return Err(bad(&format!(
                        "scale must not exceed the precision ({precision})"
                    )));
                }
                // Both fit in u8: checked against limits below 256 just above.
                Ok(KeyType::Decimal {
                    precision: precision as u8,
                    scale: scale as u8,
                })
            }
            ("datetime", None) => Ok(KeyType::Datetime { fsp: 0 }),
            ("datetime", Some(args)) => {
                let [fsp] = numbers(args)?[..] else {
                    return Err(bad("expected datetime(F), e.g. datetime(6)"));
                };
                if fsp > u32::from(MAX_DATETIME_FSP) {
                    return Err(bad(&format!(
                        "fractional seconds precision must be 0 to {MAX_DATETIME_FSP}"
                    )));
                }
                Ok(KeyType::Datetime { fsp: fsp as u8 })
            }
            (other, _) => Err(match unsupported_key_type(other) {
                Some(why) => bad(why),
                None => format!("unknown key_type `{written}`; expected {KEY_TYPE_FORMS}"),
            }),
        }
    }

    /// The family name used in configuration files, without precision: `decimal` for
    /// every `decimal(P,S)`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Integer => "integer",
            KeyType::String => "string",
            KeyType::Decimal { .. } => "decimal",
            KeyType::Date => "date",
            KeyType::Datetime { .. } => "datetime",
        }
    }
}

/// Why a column type that is not a [`KeyType`] cannot be a shard key, or which key type to
/// write for one spelled the SQL way (`bigint` → `integer`).
fn unsupported_key_type(name: &str) -> Option<&'static str> {
    Some(match name {
        "timestamp" => {
            "TIMESTAMP shard keys are not supported: a TIMESTAMP literal means different \
             instants in sessions with different time zones, so its row has no stable shard"
        }
        "time" => "TIME shard keys are not supported",
        "float" | "double" | "real" => {
            "FLOAT and DOUBLE shard keys are not supported: approximate values have no exact \
             equality to place rows by"
        }
        "enum" | "set" | "bit" => "ENUM, SET and BIT shard keys are not supported",
        "binary" => {
            "BINARY(n) shard keys are not supported: the server pads stored values with 0x00, \
             so an inserted value and the stored one differ (VARBINARY is key_type string \
             with collation binary)"
        }
        "int" | "tinyint" | "smallint" | "mediumint" | "bigint" => {
            "write `integer` for every integer column type"
        }
        "char" | "varchar" | "text" | "varbinary" | "blob" => {
            "write `string` (with a collation) for character and binary string columns"
        }
        "numeric" | "dec" => "write `decimal(P,S)` for DECIMAL and NUMERIC columns",
        _ => return None,
    })
}

impl fmt::Display for KeyType {
    /// The canonical configuration spelling: `decimal(10,2)`, `datetime(3)`, `integer`, …
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            KeyType::Datetime { fsp } => write!(f, "datetime({fsp})"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// The shards of one placement entry, as written: a string of numbers and ranges
/// (`"0-7"`, `"5"`, `"0-3,8,10-11"`), a single YAML number (`5`) or a YAML list of numbers
/// (`[0, 1, 2]`). Whether the numbers make sense is checked by [`ShardSpec::ranges`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardSpec {
    /// Numbers and `a-b` ranges separated by commas.
    Text(String),
    /// Shard numbers (a single YAML number is a list of one).
    List(Vec<u64>),
}

impl ShardSpec {
    /// The shards listed, as inclusive ranges in the order written (single numbers are
    /// ranges of one). `shards` is the schema's shard count when known; every shard must be
    /// below it (below [`MAX_SHARDS`] when unknown). The error describes the first problem.
    pub fn ranges(&self, shards: Option<u32>) -> Result<Vec<RangeInclusive<u32>>, String> {
        let limit = shards.unwrap_or(MAX_SHARDS);
        let in_range = |shard: u64| -> Result<u32, String> {
            match u32::try_from(shard) {
                Ok(shard) if shard < limit => Ok(shard),
                _ => Err(match shards {
                    Some(n) => format!("shard {shard} is out of range: {}", shard_count(n)),
                    None => format!(
                        "shard {shard} is out of range: a schema has at most {MAX_SHARDS} shards"
                    ),
                }),
            }
        };
        let mut out = Vec::new();
        match self {
            ShardSpec::List(list) => {
                for shard in list {
                    let shard = in_range(*shard)?;
                    out.push(shard..=shard);
                }
            }
            ShardSpec::Text(text) => {
                if text.trim().is_empty() {
                    return Err("lists no shards".into());
                }
                for part in text.split(',') {
                    let part = part.trim();
                    if part.is_empty() {
                        return Err(format!("`{text}` has an empty entry between commas"));
                    }
                    let (start, end) = match part.split_once('-') {
                        Some((start, end)) => (start.trim(), end.trim()),
                        None => (part, part),
                    };
                    let (Some(first), Some(last)) = (shard_number(start), shard_number(end)) else {
                        return Err(format!(
                            "`{part}` is not a shard number or range; expected e.g. `5`, `0-7` \
                             or `0-3,8,10-11`"
                        ));
                    };
                    if first > last {
                        return Err(format!(
                            "`{part}` is not a valid range: {first} is greater than {last}"
                        ));
                    }
                    out.push(in_range(first)?..=in_range(last)?);
                }
            }
        }
        if out.is_empty() {
            return Err("lists no shards".into());
        }
        Ok(out)
    }
}

/// A decimal shard number: ASCII digits only (no sign), `None` otherwise or on overflow.
fn shard_number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl<'de> Deserialize<'de> for ShardSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ShardSpecVisitor)
    }
}

struct ShardSpecVisitor;

impl<'de> Visitor<'de> for ShardSpecVisitor {
    type Value = ShardSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            r#"shards as a string such as "0-7" or "0-3,8", a number, or a list of numbers"#,
        )
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<ShardSpec, E> {
        Ok(ShardSpec::List(vec![value]))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<ShardSpec, E> {
        match u64::try_from(value) {
            Ok(value) => Ok(ShardSpec::List(vec![value])),
            Err(_) => Err(E::invalid_value(de::Unexpected::Signed(value), &self)),
        }
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<ShardSpec, E> {
        Ok(ShardSpec::Text(value.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ShardSpec, A::Error> {
        let mut list = Vec::new();
        while let Some(shard) = seq.next_element::<u64>()? {
            list.push(shard);
        }
        Ok(ShardSpec::List(list))
    }
}

/// "the schema has 16 shards (0-15)", for messages about out-of-range shard numbers.
pub(crate) fn shard_count(n: u32) -> String {
    match n {
        1 => "the schema has 1 shard (only shard 0)".into(),
        n => format!("the schema has {n} shards (0-{})", n.saturating_sub(1)),
    }
}

/// Writes sorted shard numbers compactly: `0-3, 8, 10-11`.
pub(crate) fn format_shards(sorted: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{end}"));
        }
        i += 1;
    }
    out
}

/// A physical database name pattern such as `shop_{shard:04}`: literal text with the
/// placeholders `{schema}` (the logical schema name), `{shard}` (the shard number) and
/// `{shard:0W}` (the shard number zero-padded to W digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabasePattern {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Schema,
    Shard { width: usize },
}

/// Widest zero padding `{shard:0W}` accepts.
const MAX_SHARD_WIDTH: usize = 10;

impl DatabasePattern {
    /// Parses `text`; the error names the first unknown placeholder or unbalanced brace.
    pub fn parse(text: &str) -> Result<DatabasePattern, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find(['{', '}']) {
            literal.push_str(&rest[..at]);
            if rest[at..].starts_with('}') {
                return Err(format!("`{text}` has a `}}` without a matching `{{`"));
            }
            let Some(close) = rest[at..].find('}') else {
                return Err(format!("`{text}` has a `{{` without a matching `}}`"));
            };
            let inner = &rest[at + 1..at + close];
            let part = placeholder(inner)?;
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(part);
            rest = &rest[at + close + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(DatabasePattern { parts })
    }

    /// Whether the pattern contains `{shard}` or `{shard:0W}`, so that every shard gets its
    /// own name.
    pub fn has_shard(&self) -> bool {
        self.parts
            .iter()
            .any(|part| matches!(part, Part::Shard { .. }))
    }

    /// The physical database name of `shard` of logical schema `schema`.
    pub fn format(&self, schema: &str, shard: u32) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Schema => out.push_str(schema),
                Part::Shard { width } => out.push_str(&format!("{shard:0width$}")),
            }
        }
        out
    }
}

/// The placeholder written between braces.
fn placeholder(inner: &str) -> Result<Part, String> {
    match inner {
        "schema" => return Ok(Part::Schema),
        "shard" => return Ok(Part::Shard { width: 0 }),
        _ => {}
    }
    if let Some(spec) = inner.strip_prefix("shard:") {
        let width = spec
            .strip_prefix('0')
            .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse::<usize>().ok())
            .filter(|width| (1..=MAX_SHARD_WIDTH).contains(width));
        return match width {
            Some(width) => Ok(Part::Shard { width }),
            None => Err(format!(
                "`{{{inner}}}` is not a valid shard placeholder; write `{{shard}}` or \
                 `{{shard:0W}}` with a width W from 1 to {MAX_SHARD_WIDTH}, e.g. `{{shard:04}}`"
            )),
        };
    }
    Err(format!(
        "unknown placeholder `{{{inner}}}`; known placeholders are {{schema}}, {{shard}} and \
         {{shard:0W}}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> DatabasePattern {
        match DatabasePattern::parse(text) {
            Ok(pattern) => pattern,
            Err(err) => panic!("{text}: {err}"),
        }
    }

    #[test]
    fn patterns_format_shard_numbers() {
        assert_eq!(
            pattern("{schema}_{shard:04}").format("shop", 7),
            "shop_0007"
        );
        assert_eq!(
            pattern("{schema}_{shard:04}").format("shop", 12345),
            "shop_12345"
        );
        assert_eq!(pattern("db{shard}").format("shop", 7), "db7");
        assert_eq!(pattern("db{shard}").format("shop", 0), "db0");
        assert_eq!(pattern("{shard:02}x{schema}").format("s", 3), "03xs");
        assert_eq!(pattern("{shard:01}").format("s", 42), "42");
        assert_eq!(
            pattern(DEFAULT_DATABASE_PATTERN).format("shop", 15),
            "shop_0015"
        );
        assert!(pattern("a{shard}").has_shard());
        assert!(!pattern("a{schema}").has_shard());
        assert!(!pattern("plain").has_shard());
    }

    #[test]
    fn bad_patterns_name_the_problem() {
        let error = |text: &str| match DatabasePattern::parse(text) {
            Ok(p) => panic!("{text} parsed as {p:?}"),
            Err(err) => err,
        };
        assert!(error("x_{shardd}").contains("unknown placeholder `{shardd}`"));
        assert!(error("x_{}").contains("unknown placeholder `{}`"));
        assert!(error("x_{shard:4}").contains("not a valid shard placeholder"));
        assert!(error("x_{shard:0}").contains("not a valid shard placeholder"));
        assert!(error("x_{shard:011}").contains("not a valid shard placeholder"));
        assert!(error("x_{shard:0x}").contains("not a valid shard placeholder"));
        assert!(error("x_{shard").contains("without a matching `}`"));
        assert!(error("x_}shard").contains("without a matching `{`"));
    }

    fn ranges(spec: &ShardSpec, shards: Option<u32>) -> Vec<RangeInclusive<u32>> {
        match spec.ranges(shards) {
            Ok(ranges) => ranges,
            Err(err) => panic!("{spec:?}: {err}"),
        }
    }

    #[test]
    fn shard_specs_expand() {
        let text = |s: &str| ShardSpec::Text(s.into());
        assert_eq!(ranges(&text("0-7"), Some(16)), vec![0..=7]);
        assert_eq!(ranges(&text("5"), Some(16)), vec![5..=5]);
        assert_eq!(
            ranges(&text("0-3, 8,10 - 11"), Some(16)),
            vec![0..=3, 8..=8, 10..=11]
        );
        assert_eq!(
            ranges(&ShardSpec::List(vec![2, 0]), Some(3)),
            vec![2..=2, 0..=0]
        );
        assert_eq!(ranges(&text("65535"), None), vec![65535..=65535]);
    }

    #[test]
    fn bad_shard_specs_name_the_problem() {
        let error = |spec: ShardSpec, shards: Option<u32>| match spec.ranges(shards) {
            Ok(r) => panic!("{spec:?} expanded to {r:?}"),
            Err(err) => err,
        };
        let text = |s: &str| ShardSpec::Text(s.into());
        assert_eq!(
            error(text("7-3"), Some(16)),
            "`7-3` is not a valid range: 7 is greater than 3"
        );
        assert_eq!(
            error(text("0-16"), Some(16)),
            "shard 16 is out of range: the schema has 16 shards (0-15)"
        );
        assert_eq!(
            error(ShardSpec::List(vec![1]), Some(1)),
            "shard 1 is out of range: the schema has 1 shard (only shard 0)"
        );
        assert!(error(text("65536"), None).contains("at most 65536 shards"));
        assert!(error(text("99999999999999999999999"), None).contains("not a shard number"));
        assert!(error(text("x"), Some(4)).contains("`x` is not a shard number or range"));
        assert!(error(text("-3"), Some(4)).contains("`-3` is not a shard number"));
        assert!(error(text("+3"), Some(4)).contains("`+3` is not a shard number"));
        assert!(error(text("1-2-3"), Some(4)).contains("`1-2-3` is not a shard number"));
        assert!(error(text("0,,1"), Some(4)).contains("empty entry"));
        assert_eq!(error(text(" "), Some(4)), "lists no shards");
        assert_eq!(error(ShardSpec::List(vec![]), Some(4)), "lists no shards");
    }

    #[test]
    fn shard_lists_are_written_compactly() {
        assert_eq!(format_shards(&[]), "");
        assert_eq!(format_shards(&[5]), "5");
        assert_eq!(format_shards(&[0, 1, 2, 3, 8, 10, 11]), "0-3, 8, 10-11");
    }

    fn key_type(text: &str) -> KeyType {
        match KeyType::parse(text) {
            Ok(key_type) => key_type,
            Err(err) => panic!("{text}: {err}"),
        }
    }

    fn key_type_error(text: &str) -> String {
        match KeyType::parse(text) {
            Ok(key_type) => panic!("{text} parsed as {key_type:?}"),
            Err(err) => err,
        }
    }

    #[test]
    fn key_types_parse_with_mysql_defaults() {
        let decimal = |precision, scale| KeyType::Decimal { precision, scale };
        assert_eq!(key_type("integer"), KeyType::Integer);
        assert_eq!(key_type("string"), KeyType::String);
        assert_eq!(key_type("date"), KeyType::Date);
        assert_eq!(key_type("decimal"), decimal(10, 0));
        assert_eq!(key_type("decimal(12)"), decimal(12, 0));
        assert_eq!(key_type("decimal(10,2)"), decimal(10, 2));
        assert_eq!(key_type(" DECIMAL ( 65 , 38 ) "), decimal(65, 38));
        assert_eq!(key_type("decimal(1,1)"), decimal(1, 1));
        assert_eq!(key_type("decimal(5,0)"), decimal(5, 0));
        assert_eq!(key_type("datetime"), KeyType::Datetime { fsp: 0 });
        assert_eq!(key_type("datetime(6)"), KeyType::Datetime { fsp: 6 });
        assert_eq!(key_type("DateTime(0)"), KeyType::Datetime { fsp: 0 });
        assert_eq!(KeyType::default(), KeyType::Integer);
    }

    #[test]
    fn key_types_print_canonically_and_round_trip() {
        for (written, printed) in [
            ("integer", "integer"),
            ("String", "string"),
            ("date", "date"),
            ("decimal", "decimal(10,0)"),
            ("decimal( 8 )", "decimal(8,0)"),
            ("decimal(10, 2)", "decimal(10,2)"),
            ("datetime", "datetime(0)"),
            ("datetime(3)", "datetime(3)"),
        ] {
            let parsed = key_type(written);
            assert_eq!(parsed.to_string(), printed);
            assert_eq!(key_type(printed), parsed);
        }
        assert_eq!(key_type("decimal(10,2)").as_str(), "decimal");
        assert_eq!(key_type("datetime(6)").as_str(), "datetime");
    }

    #[test]
    fn key_type_ranges_are_mysqls() {
        assert_eq!(
            key_type_error("decimal(70,2)"),
            "key_type decimal(70,2): precision must be 1 to 65"
        );
        assert_eq!(
            key_type_error("decimal(0)"),
            "key_type decimal(0): precision must be 1 to 65"
        );
        assert_eq!(
            key_type_error("decimal(65,39)"),
            "key_type decimal(65,39): scale must be 0 to 38"
        );
        assert_eq!(
            key_type_error("decimal(5,6)"),
            "key_type decimal(5,6): scale must not exceed the precision (5)"
        );
        assert_eq!(
            key_type_error("decimal(99999999999999999999,2)"),
            "key_type decimal(99999999999999999999,2): precision must be 1 to 65"
        );
        assert_eq!(
            key_type_error("datetime(7)"),
            "key_type datetime(7): fractional seconds precision must be 0 to 6"
        );
    }

    #[test]
    fn malformed_key_types_name_the_problem() {
        assert!(key_type_error("uuid").starts_with(
            "unknown key_type `uuid`; expected integer, string, date, decimal(P,S) or datetime(F)"
        ));
        assert!(key_type_error("").starts_with("unknown key_type ``"));
        assert!(key_type_error("decimal(10").contains("quote it: key_type: 'decimal(10,2)'"));
        assert!(key_type_error("decimal(10,2))").contains("is not a type such as"));
        assert!(key_type_error("decimal(1,2,3)").contains("expected decimal(P,S)"));
        assert!(key_type_error("decimal(a,2)").contains("`a` is not a number"));
        assert!(key_type_error("decimal(-1,2)").contains("`-1` is not a number"));
        assert!(key_type_error("decimal()").contains("`` is not a number"));
        assert!(key_type_error("datetime(1,2)").contains("expected datetime(F)"));
        assert!(key_type_error("integer(11)").contains("`integer` takes no precision"));
        assert!(key_type_error("string(64)").contains("`string` takes no precision"));
        assert!(key_type_error("timestamp").contains("time zones"));
        assert!(key_type_error("timestamp(6)").contains("TIMESTAMP shard keys"));
        assert!(key_type_error("time").contains("TIME shard keys are not supported"));
        assert!(key_type_error("double").contains("FLOAT and DOUBLE"));
        assert!(key_type_error("enum").contains("ENUM, SET and BIT"));
        assert!(key_type_error("binary(16)").contains("pads stored values"));
        assert!(key_type_error("bigint").contains("write `integer`"));
        assert!(key_type_error("varchar(64)").contains("write `string`"));
        assert!(key_type_error("numeric(10,2)").contains("write `decimal(P,S)`"));
    }

    #[test]
    fn collations_are_case_insensitive() {
        assert_eq!(
            supported_collation("UTF8MB4_General_CI"),
            Some("utf8mb4_general_ci")
        );
        assert_eq!(supported_collation("latin1_swedish_ci"), None);
        assert_eq!(
            supported_collation(DEFAULT_COLLATION),
            Some(DEFAULT_COLLATION)
        );
    }
}
