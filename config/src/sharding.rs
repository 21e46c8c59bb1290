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

/// How a shard key's values are hashed to a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// Integer columns (any width, signed or unsigned).
    #[default]
    Integer,
    /// Character columns, compared under the table's collation.
    String,
    /// DECIMAL / NUMERIC columns.
    Decimal,
    /// DATE columns.
    Date,
    /// DATETIME / TIMESTAMP columns.
    Datetime,
}

impl KeyType {
    /// The name used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Integer => "integer",
            KeyType::String => "string",
            KeyType::Decimal => "decimal",
            KeyType::Date => "date",
            KeyType::Datetime => "datetime",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
