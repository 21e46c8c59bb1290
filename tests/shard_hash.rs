//! Differential test of shard placement (`router/src/hash.rs`) against a real MariaDB: the
//! server decides which values compare equal in each key type and collation, and every pair
//! it calls equal must land on the same shard.
//!
//! * Every BMP code point's weights in the `_ci` collations are compared with the server's
//!   `WEIGHT_STRING()`.
//! * A corpus of tricky strings (case, accents in many scripts, ß, dotless i, ligatures,
//!   combining marks, ignorables, odd spaces, emoji, CJK) is stored in one table per
//!   collation; `a.v = b.v` pairs from the server must hash alike, and the collation's
//!   normal form must be equal exactly for those pairs. Colliding non-equal pairs are counted
//!   (about 1 in N is expected).
//! * Integer, decimal, date and datetime columns are looked up with many literal forms, as
//!   text and as bound parameters: whenever placement names a shard, every row the server
//!   returns must be on it. Rows inserted with different literal forms of one value must be
//!   placed alike, and where their stored value says.
//!
//! The root package does not depend on `myshard-router`, so the module is compiled in from
//! its source file.

mod harness;

#[path = "../router/src/hash.rs"]
#[allow(dead_code)]
mod hash;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, bail, ensure};
use harness::MariaDb;
use hash::{Collation, KeyType, KeyValue, shard_of};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};

/// Shards used to look for wrong placements: collisions of unequal values are rare.
const N: u32 = 1024;

fn shard(key_type: &KeyType, value: &KeyValue<'_>) -> Result<Option<u32>> {
    shard_of(key_type, value, N).with_context(|| format!("{key_type:?} {value:?}"))
}

async fn setup(db: &MariaDb) -> Result<Conn> {
    db.exec("CREATE DATABASE hash_test CHARACTER SET utf8mb4")
        .await?;
    let mut conn = db
        .conn_as(harness::ROOT_USER, "", Some("hash_test"))
        .await?;
    conn.query_drop("SET NAMES utf8mb4").await?;
    Ok(conn)
}

// ---- per code point --------------------------------------------------------------------------

/// The weights of one code point as `WEIGHT_STRING()` prints them, parsed into 16-bit units.
fn parse_hex_weights(hex: &str) -> Result<Vec<u32>> {
    ensure!(hex.len().is_multiple_of(4), "odd weight string {hex}");
    (0..hex.len())
        .step_by(4)
        .map(|i| u32::from_str_radix(&hex[i..i + 4], 16).context("weight string"))
        .collect()
}

#[tokio::test]
async fn every_bmp_code_point_weighs_what_the_server_says() -> Result<()> {
    let db = MariaDb::start().await?;
    let mut conn = setup(&db).await?;
    for (name, charset) in [
        ("utf8mb4_general_ci", "utf8mb4"),
        ("utf8mb3_general_ci", "utf8mb3"),
        ("utf8mb4_unicode_ci", "utf8mb4"),
        ("utf8mb3_unicode_ci", "utf8mb3"),
    ] {
        let collation = Collation::from_name(name).context(name)?;
        let rows: Vec<(u32, String)> = conn
            .query(format!(
                "SELECT seq, HEX(WEIGHT_STRING(CONVERT(CHAR(seq USING utf32) USING {charset}) \
                 COLLATE {name})) FROM seq_0_to_65535 WHERE seq NOT BETWEEN 55296 AND 57343"
            ))
            .await?;
        ensure!(rows.len() == 63_488, "{name}: {} code points", rows.len());
        let mut wrong = Vec::new();
        for (cp, hex) in &rows {
            let c = char::from_u32(*cp).context("a BMP scalar value")?;
            let ours = collation.weights(c.to_string().as_bytes());
            if ours.as_deref() != Some(&parse_hex_weights(hex)?[..]) {
                wrong.push(format!("U+{cp:04X}: server {hex}, ours {ours:X?}"));
            }
        }
        ensure!(
            wrong.is_empty(),
            "{name}: {} wrong, first {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(10)]
        );
        eprintln!("{name}: all {} BMP code points match", rows.len());
    }
    // Above the BMP both utf8mb4 collations give every character the weight 0xFFFD.
    for cp in [
        0x1_0000u32,
        0x1_f600,
        0x1_f9d1,
        0x2_0000,
        0x1_d400,
        0x10_ffff,
    ] {
        let c = char::from_u32(cp).context("a scalar value")?;
        for name in ["utf8mb4_general_ci", "utf8mb4_unicode_ci"] {
            let hex: Option<String> = conn
                .exec_first(
                    format!("SELECT HEX(WEIGHT_STRING(CONVERT(? USING utf8mb4) COLLATE {name}))"),
                    (c.to_string().into_bytes(),),
                )
                .await?;
            let collation = Collation::from_name(name).context(name)?;
            let ours = collation.weights(c.to_string().as_bytes());
            ensure!(
                ours.as_deref() == Some(&parse_hex_weights(&hex.unwrap_or_default())?[..]),
                "{name} U+{cp:X}: ours {ours:X?}"
            );
        }
    }
    Ok(())
}

// ---- strings ---------------------------------------------------------------------------------

/// Strings chosen to trip a normalisation up, each also upper-cased, lower-cased and with
/// trailing spaces.
fn string_corpus() -> Vec<String> {
    let base: &[&str] = &[
        // ASCII, spaces, numbers as strings.
        "",
        " ",
        "  ",
        "a",
        "A",
        "z",
        "abc",
        "Abc",
        "a bc",
        " abc",
        "abc\t",
        "abc\n",
        "user:42",
        "123",
        "0123",
        "123.0",
        "1e2",
        "100",
        "-0",
        "0",
        "a-b",
        "ab",
        "a_b",
        // Latin-1.
        "é",
        "è",
        "ê",
        "ë",
        "e",
        "café",
        "cafe",
        "Ångström",
        "angstrom",
        "naïve",
        "naive",
        "Ñandú",
        "nandu",
        "ÿ",
        "y",
        "ø",
        "o",
        "æ",
        "ae",
        "ð",
        "d",
        "þ",
        "th",
        "×",
        "x",
        "µ",
        "μ",
        "ª",
        "º",
        "¹",
        "1",
        "½",
        "1/2",
        "¿",
        "?",
        // Latin Extended.
        "ā",
        "ă",
        "ą",
        "a",
        "ł",
        "l",
        "đ",
        "ő",
        "ű",
        "ș",
        "ş",
        "s",
        "ţ",
        "ț",
        "t",
        "ž",
        "ǆ",
        "ǅ",
        "dž",
        "ĳ",
        "ij",
        "œ",
        "oe",
        "ſ",
        "ẞ",
        "ǻ",
        "ḁ",
        "ạ",
        "ả",
        "ấ",
        "ǎ",
        // German.
        "ß",
        "ss",
        "straße",
        "strasse",
        "strase",
        "STRAẞE",
        "Fußball",
        "fussball",
        // Turkish.
        "ı",
        "i",
        "İ",
        "i\u{307}",
        "istanbul",
        "İstanbul",
        "ıstanbul",
        "Iğdır",
        "igdir",
        // Greek.
        "Ελλάδα",
        "ελλαδα",
        "σ",
        "ς",
        "ά",
        "α",
        "ΐ",
        "ι",
        "ϊ",
        "ω",
        "ώ",
        "Ω",
        "\u{2126}",
        // Cyrillic.
        "Москва",
        "ё",
        "е",
        "й",
        "и",
        "ї",
        "і",
        "ґ",
        "г",
        "ў",
        "у",
        // Ligatures and compatibility forms.
        "ﬁ",
        "fi",
        "ﬂ",
        "fl",
        "ﬀ",
        "ff",
        "ﬃ",
        "ffi",
        "ＡＢＣ",
        "ａｂｃ",
        "ｶ",
        "カ",
        "か",
        "Ⅻ",
        "XII",
        "ⅻ",
        "²",
        "2",
        "℃",
        "°C",
        "\u{212a}",
        "k",
        "\u{212b}",
        "Å",
        // Combining marks versus precomposed.
        "e\u{301}",
        "E\u{301}",
        "a\u{308}",
        "ä",
        "a\u{30a}",
        "å",
        "\u{301}",
        "e\u{301}\u{301}",
        "o\u{302}\u{323}",
        "ộ",
        "n\u{303}",
        "ñ",
        // Ignorable and space-like characters.
        "\u{0}",
        "a\u{0}",
        "a\u{200b}b",
        "\u{feff}ab",
        "a\u{ad}b",
        "a\u{a0}",
        "a\u{3000}",
        "a\u{2003}",
        "a\u{a0}b",
        "a\u{202f}",
        "\u{a0}",
        "\u{3000}",
        "a\u{200d}",
        // Outside the BMP, and U+FFFD.
        "😀",
        "😁",
        "🐱",
        "\u{10000}",
        "\u{20000}",
        "\u{1d400}",
        "a😀",
        "a😁",
        "a\u{fffd}",
        "\u{fffd}",
        "👍🏽",
        "👍",
        "👍\u{1f3fe}",
        "𝐀",
        "A😀 ",
        // CJK, Hangul and other scripts.
        "東京",
        "东京",
        "とうきょう",
        "トウキョウ",
        "한국",
        "\u{1100}\u{1161}",
        "가",
        "\u{3400}",
        "\u{9fa5}",
        "\u{9fa6}",
        "\u{fa0e}",
        "\u{fa10}",
        "مرحبا",
        "مرحبا\u{64e}",
        "שלום",
        "שָלוֹם",
        "เก",
        "กเ",
        "नमस्ते",
        "Հայաստան",
        "საქართველო",
        "Việt Nam",
        "viet nam",
    ];
    let mut seen = BTreeSet::new();
    let mut corpus = Vec::new();
    for text in base {
        for variant in [
            (*text).to_owned(),
            text.to_uppercase(),
            text.to_lowercase(),
            format!("{text} "),
            format!("{}  ", text.to_uppercase()),
        ] {
            if seen.insert(variant.clone()) {
                corpus.push(variant);
            }
        }
    }
    corpus
}

/// The collation's normal form: weights without trailing space weights.
fn normal_form(collation: Collation, value: &[u8]) -> Option<Vec<u32>> {
    let space = match collation {
        Collation::Binary => None,
        Collation::Bin { .. } | Collation::GeneralCi { .. } => Some(0x20),
        Collation::UnicodeCi { .. } => Some(0x209),
    };
    let mut weights = collation.weights(value)?;
    while space.is_some() && weights.last().copied() == space {
        weights.pop();
    }
    Some(weights)
}

#[tokio::test]
async fn strings_equal_under_the_collation_land_on_the_same_shard() -> Result<()> {
    let db = MariaDb::start().await?;
    let mut conn = setup(&db).await?;
    let corpus = string_corpus();
    for (table, column) in [
        ("s_binary", "VARBINARY(200)"),
        (
            "s_mb4_bin",
            "VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        ),
        (
            "s_mb3_bin",
            "VARCHAR(100) CHARACTER SET utf8mb3 COLLATE utf8mb3_bin",
        ),
        (
            "s_mb4_general",
            "VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
        ),
        (
            "s_mb3_general",
            "VARCHAR(100) CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci",
        ),
        (
            "s_mb4_unicode",
            "VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        ),
        (
            "s_mb3_unicode",
            "VARCHAR(100) CHARACTER SET utf8mb3 COLLATE utf8mb3_unicode_ci",
        ),
    ] {
        conn.query_drop(format!(
            "CREATE TABLE {table} (id INT PRIMARY KEY, v {column} NOT NULL)"
        ))
        .await?;
        let name: String = conn
            .query_first(format!(
                "SELECT COALESCE(COLLATION_NAME, 'binary') FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = 'hash_test' AND TABLE_NAME = '{table}' AND COLUMN_NAME = 'v'"
            ))
            .await?
            .context("column collation")?;
        let collation = Collation::from_name(&name)
            .with_context(|| format!("the server's collation name {name} is refused"))?;
        let key_type = KeyType::String { collation };
        let mb3 = matches!(
            collation,
            Collation::Bin {
                charset: hash::Charset::Utf8mb3
            } | Collation::GeneralCi {
                charset: hash::Charset::Utf8mb3
            } | Collation::UnicodeCi {
                charset: hash::Charset::Utf8mb3
            }
        );

        // Rows: every corpus value the column can hold, with its placement.
        let mut rows: BTreeMap<u32, (&str, u32, Vec<u32>)> = BTreeMap::new();
        for (id, text) in (0u32..).zip(&corpus) {
            if mb3 && text.chars().any(|c| u32::from(c) > 0xffff) {
                ensure!(
                    shard(&key_type, &KeyValue::Str(text.as_bytes()))?.is_none(),
                    "{name}: {text:?} cannot be stored, yet it gets a shard"
                );
                continue;
            }
            let value = KeyValue::Str(text.as_bytes());
            let placed = shard(&key_type, &value)?
                .with_context(|| format!("{name}: no shard for {text:?}"))?;
            let form = normal_form(collation, text.as_bytes()).context("normal form")?;
            rows.insert(id, (text.as_str(), placed, form));
        }
        let params: Vec<(u32, Vec<u8>)> = rows
            .iter()
            .map(|(id, (text, _, _))| (*id, text.as_bytes().to_vec()))
            .collect();
        conn.exec_batch(format!("INSERT INTO {table} (id, v) VALUES (?, ?)"), params)
            .await
            .with_context(|| format!("inserting the corpus into {table}"))?;

        // What the server's WEIGHT_STRING says of each stored value, against our weights.
        if !matches!(collation, Collation::Binary | Collation::Bin { .. }) {
            let weights: Vec<(u32, String)> = conn
                .query(format!("SELECT id, HEX(WEIGHT_STRING(v)) FROM {table}"))
                .await?;
            for (id, hex) in weights {
                let (text, _, _) = rows.get(&id).context("row id")?;
                let ours = collation.weights(text.as_bytes());
                ensure!(
                    ours.as_deref() == Some(&parse_hex_weights(&hex)?[..]),
                    "{name}: {text:?} server {hex}, ours {ours:X?}"
                );
            }
        }

        let equal: BTreeSet<(u32, u32)> = conn
            .query::<(u32, u32), _>(format!(
                "SELECT a.id, b.id FROM {table} a JOIN {table} b ON a.v = b.v AND a.id < b.id"
            ))
            .await?
            .into_iter()
            .collect();
        let mut pairs = 0u64;
        let mut collisions = 0u64;
        let mut problems = Vec::new();
        for (a, (text_a, shard_a, form_a)) in &rows {
            for (b, (text_b, shard_b, form_b)) in rows.range(a + 1..) {
                pairs += 1;
                let server_equal = equal.contains(&(*a, *b));
                if server_equal != (form_a == form_b) {
                    problems.push(format!(
                        "{text_a:?} {text_b:?}: server equal {server_equal}, normal forms equal {}",
                        form_a == form_b
                    ));
                }
                if server_equal && shard_a != shard_b {
                    problems.push(format!(
                        "{text_a:?} = {text_b:?} but shards {shard_a} and {shard_b}"
                    ));
                }
                if !server_equal && shard_a == shard_b {
                    collisions += 1;
                }
            }
        }
        ensure!(
            problems.is_empty(),
            "{name}: {} problems, first {:#?}",
            problems.len(),
            &problems[..problems.len().min(20)]
        );
        let unequal = pairs - equal.len() as u64;
        // Per class of equal values (pairs of values repeat a class collision many times).
        let classes: BTreeMap<&Vec<u32>, u32> = rows
            .values()
            .map(|(_, placed, form)| (form, *placed))
            .collect();
        let class_shards: Vec<u32> = classes.values().copied().collect();
        let mut class_pairs = 0u64;
        let mut class_collisions = 0u64;
        for (i, a) in class_shards.iter().enumerate() {
            for b in &class_shards[i + 1..] {
                class_pairs += 1;
                class_collisions += u64::from(a == b);
            }
        }
        let line = format!(
            "{name}: {} values in {} classes, {} equal pairs all on one shard; at N = {N} \
             {class_collisions} of {class_pairs} pairs of classes collide ({:.5}, expected \
             {:.5}), {collisions} of {unequal} unequal pairs of values",
            rows.len(),
            classes.len(),
            equal.len(),
            class_collisions as f64 / class_pairs as f64,
            1.0 / f64::from(N)
        );
        eprintln!("{line}");
        // Far more collisions than chance would mean the hash ignores part of its input.
        ensure!(
            (class_collisions as f64) < 2.0 * class_pairs as f64 / f64::from(N) + 20.0,
            "{line}"
        );
    }
    Ok(())
}

// ---- numbers and dates -----------------------------------------------------------------------

/// A key value as the router could receive it, with its SQL spelling.
#[derive(Debug, Clone)]
enum Lit {
    Int(i64),
    UInt(u64),
    /// An exact numeric literal, written as is.
    Dec(&'static str),
    /// An approximate literal: its SQL text and value.
    Float(&'static str, f64),
    Str(&'static str),
}

impl Lit {
    fn key(&self) -> KeyValue<'_> {
        match self {
            Lit::Int(v) => KeyValue::Int(*v),
            Lit::UInt(v) => KeyValue::UInt(*v),
            Lit::Dec(text) => KeyValue::Decimal(text),
            Lit::Float(_, v) => KeyValue::Float(*v),
            Lit::Str(text) => KeyValue::Str(text.as_bytes()),
        }
    }

    fn sql(&self) -> String {
        match self {
            Lit::Int(v) => v.to_string(),
            Lit::UInt(v) => v.to_string(),
            Lit::Dec(text) | Lit::Float(text, _) => (*text).to_owned(),
            Lit::Str(text) => {
                let mut quoted = String::from("'");
                for c in text.chars() {
                    match c {
                        '\'' => quoted.push_str("''"),
                        '\\' => quoted.push_str("\\\\"),
                        '\0' => quoted.push_str("\\0"),
                        c => quoted.push(c),
                    }
                }
                quoted.push('\'');
                quoted
            }
        }
    }

    /// The value as a bound parameter (exact decimals have no parameter type here).
    fn param(&self) -> Option<Value> {
        match self {
            Lit::Int(v) => Some(Value::Int(*v)),
            Lit::UInt(v) => Some(Value::UInt(*v)),
            Lit::Dec(_) => None,
            Lit::Float(_, v) => Some(Value::Double(*v)),
            Lit::Str(text) => Some(Value::Bytes(text.as_bytes().to_vec())),
        }
    }
}

/// One typed key column: rows inserted with literal forms, lookups with more forms.
struct Typed {
    table: &'static str,
    column: &'static str,
    key_type: KeyType,
    /// Inserted as rows (those placement refuses are skipped, as the router would).
    rows: Vec<Lit>,
    /// Looked up with `v = <form>`, as text and as a bound parameter.
    lookups: Vec<Lit>,
    /// Forms that must get a shard (guards against answering `None` for everything).
    must_place: Vec<Lit>,
    /// How placement reads the stored value back (`CAST(v AS CHAR)`).
    stored: fn(&str) -> KeyValue<'_>,
}

async fn check_typed(conn: &mut Conn, typed: &Typed) -> Result<String> {
    let Typed {
        table,
        column,
        key_type,
        ..
    } = typed;
    conn.query_drop(format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, v {column})"
    ))
    .await?;
    for lit in &typed.must_place {
        ensure!(
            shard(key_type, &lit.key())?.is_some(),
            "{table}: no shard for {lit:?}"
        );
    }

    // Insert rows; remember the placement the router would have used.
    let mut placed: BTreeMap<u32, (Lit, u32)> = BTreeMap::new();
    let mut refused_by_server = Vec::new();
    for (id, lit) in (0u32..).zip(&typed.rows) {
        let Some(shard_of_row) = shard(key_type, &lit.key())? else {
            continue;
        };
        let sql = format!("INSERT INTO {table} (id, v) VALUES ({id}, {})", lit.sql());
        match conn.query_drop(&sql).await {
            Ok(()) => {
                placed.insert(id, (lit.clone(), shard_of_row));
            }
            Err(mysql_async::Error::Server(err)) => {
                refused_by_server.push(format!("{lit:?}: {}", err.message));
            }
            Err(err) => return Err(err).context(sql),
        }
    }

    // The stored value must be placed where the insert put it.
    let stored: Vec<(u32, String)> = conn
        .query(format!("SELECT id, CAST(v AS CHAR) FROM {table}"))
        .await?;
    let mut placement = BTreeMap::new();
    for (id, text) in &stored {
        let (lit, inserted_at) = placed.get(id).context("row id")?;
        let found_at = shard(key_type, &(typed.stored)(text))?;
        ensure!(
            found_at == Some(*inserted_at),
            "{table}: {lit:?} was stored as {text:?}, placed on {inserted_at}, looked up on {found_at:?}"
        );
        placement.insert(*id, *inserted_at);
    }

    // Equal stored values (different literal forms) share a shard.
    let equal: Vec<(u32, u32)> = conn
        .query(format!(
            "SELECT a.id, b.id FROM {table} a JOIN {table} b ON a.v = b.v AND a.id < b.id"
        ))
        .await?;
    for (a, b) in &equal {
        ensure!(
            placement.get(a) == placement.get(b),
            "{table}: {:?} = {:?} but placed apart",
            placed.get(a),
            placed.get(b)
        );
    }

    // Lookups: every row the server matches must be on the named shard.
    let mut named = 0;
    let mut named_found = 0;
    let mut scanned = 0;
    let mut lookups = 0;
    for lit in typed.lookups.iter().chain(&typed.rows) {
        let target = shard(key_type, &lit.key())?;
        let mut found: Vec<Vec<u32>> = Vec::new();
        let text_sql = format!("SELECT id FROM {table} WHERE v = {}", lit.sql());
        found.push(conn.query(&text_sql).await.context(text_sql)?);
        if let Some(param) = lit.param() {
            let ids: Vec<u32> = conn
                .exec(format!("SELECT id FROM {table} WHERE v = ?"), (param,))
                .await?;
            found.push(ids);
        }
        lookups += found.len();
        match target {
            Some(target) => {
                named += 1;
                named_found += usize::from(found.iter().any(|ids| !ids.is_empty()));
                for id in found.iter().flatten() {
                    ensure!(
                        placement.get(id) == Some(&target),
                        "{table}: v = {} matched {:?} on shard {:?}, placement said {target}",
                        lit.sql(),
                        placed.get(id),
                        placement.get(id)
                    );
                }
            }
            None => scanned += 1,
        }
    }
    Ok(format!(
        "{table}: {} rows placed ({} forms refused by the server: {refused_by_server:?}), \
         {} equal pairs on one shard, {lookups} lookups of {} forms: {named} named a shard \
         ({named_found} of them matched rows, all there), {scanned} scan every shard",
        placement.len(),
        refused_by_server.len(),
        equal.len(),
        named + scanned
    ))
}

fn integer_forms() -> Vec<Lit> {
    use Lit::*;
    vec![
        Int(0),
        Int(1),
        Int(-1),
        Int(100),
        Int(123),
        Int(-123),
        Int(1024),
        Int(9_007_199_254_740_992),
        Int(9_007_199_254_740_993),
        Int(i64::MAX),
        Int(i64::MIN),
        UInt(u64::MAX),
        UInt(9_223_372_036_854_775_808),
        Dec("123.000"),
        Dec("-123.0"),
        Dec("123.5"),
        Dec("9007199254740993.0"),
        Dec("0.0"),
        Dec("18446744073709551615.0"),
        Float("1e2", 100.0),
        Float("1.23e2", 123.0),
        Float("123.5e0", 123.5),
        Float("9007199254740993e0", 9_007_199_254_740_993.0),
        Float("-0e0", -0.0),
        Str("123"),
        Str(" 123"),
        Str("123 "),
        Str("\t123\n"),
        Str("\r\u{b}\u{c}123"),
        Str("+123"),
        Str("-123"),
        Str("0123"),
        Str("000123"),
        Str("123."),
        Str("123.000"),
        Str("1.23e2"),
        Str("1.23E+2"),
        Str(".123e3"),
        Str("1230e-1"),
        Str("1e2"),
        Str("100"),
        Str("  +0123.0e+0 "),
        Str("12abc"),
        Str("123abc"),
        Str("abc"),
        Str(""),
        Str(" "),
        Str("123.5"),
        Str("122.5"),
        Str("1e"),
        Str("."),
        Str("-"),
        Str("-0"),
        Str("0e5"),
        Str("0x7b"),
        Str("1_000"),
        Str("123\0"),
        Str("\u{a0}123"),
        Str("9007199254740993"),
        Str("09007199254740993"),
        Str("+9007199254740993"),
        Str(" 9007199254740993 "),
        Str("9007199254740993.0"),
        Str("9007199254740993e0"),
        Str("9007199254740992"),
        Str("9007199254740994"),
        Str("9223372036854775807"),
        Str("-9223372036854775808"),
        Str("18446744073709551615"),
        Str("18446744073709551616"),
        Str("1.8446744073709551615e19"),
        Str("1e20"),
    ]
}

fn integer_typed(table: &'static str, column: &'static str, rows: Vec<Lit>) -> Typed {
    use Lit::*;
    Typed {
        table,
        column,
        key_type: KeyType::Integer,
        rows,
        lookups: integer_forms(),
        must_place: vec![
            Str("123"),
            Str(" 123"),
            Str("+123"),
            Str("0123"),
            Str("1e2"),
            Str("123.000"),
            Dec("123.000"),
            Float("1e2", 100.0),
            Str("9007199254740993"),
            Str("18446744073709551615"),
        ],
        stored: |text| KeyValue::Str(text.as_bytes()),
    }
}

fn decimal_typed(
    table: &'static str,
    column: &'static str,
    precision: u8,
    scale: u8,
    must_place: Vec<Lit>,
) -> Typed {
    use Lit::*;
    let forms = vec![
        Dec("0"),
        Dec("0.00"),
        Dec("-0.0"),
        Dec("1.5"),
        Dec("1.50"),
        Dec("01.500"),
        Dec("-1.5"),
        Dec("-1.50"),
        Dec("0.01"),
        Dec(".01"),
        Dec("0.010"),
        Dec("100"),
        Dec("100.00"),
        Dec("1.555"),
        Dec("12345678.99"),
        Dec("99999999.99"),
        Dec("123456789"),
        Int(0),
        Int(100),
        Int(-1),
        Int(12_345_678),
        UInt(100),
        Float("1.5e0", 1.5),
        Float("1e2", 100.0),
        Float("0.1e0", 0.1),
        Str("1.5"),
        Str("1.50"),
        Str(" 1.5 "),
        Str("+1.5"),
        Str("-0"),
        Str("-0.000"),
        Str("1e2"),
        Str("15e-1"),
        Str("1.5abc"),
        Str("abc"),
        Str(""),
        Str("0.1"),
        Str("0.10"),
        Str("0.100000000000000000001"),
        Str("1.555"),
    ];
    Typed {
        table,
        column,
        key_type: KeyType::Decimal { precision, scale },
        rows: forms.clone(),
        lookups: forms,
        must_place,
        stored: |text| KeyValue::Decimal(text),
    }
}

fn date_forms() -> Vec<Lit> {
    use Lit::*;
    vec![
        Str("2024-01-05"),
        Str("2024-1-5"),
        Str("2024-01-5"),
        Str("2024/01/05"),
        Str("2024.01.05"),
        Str("24-01-05"),
        Str("24/1/5"),
        Str("20240105"),
        Str("240105"),
        Str("20240105000000"),
        Str("240105000000"),
        Str(" 2024-01-05"),
        Str("2024-01-05 "),
        Str("\t2024-01-05\n"),
        Str("2024-01-05 00:00:00"),
        Str("2024-01-05T00:00:00"),
        Str("2024-01-05  0:0:0"),
        Str("2024-01-05 00:00:00.000"),
        Str("2024-01-05 00:00:00.000000"),
        Str("2024-01-05 10:00:00"),
        Str("2024-01-05 00:00:00.5"),
        Str("2024-01-05x"),
        Str("2024-02-29"),
        Str("2023-02-29"),
        Str("2024-02-30"),
        Str("2024-13-01"),
        Str("0000-00-00"),
        Str("2024-00-05"),
        Str("70-01-01"),
        Str("69-12-31"),
        Str("1970-01-01"),
        Str("2069-12-31"),
        Str("9999-12-31"),
        Str("1000-01-01"),
        Str("0001-01-01"),
        Str("2024-01-06"),
        Str("2024@01@05"),
        Str("2024-01-05 24:00:00"),
        Str("2024-01"),
        Int(20_240_105),
        Int(240_105),
        Int(20_240_105_000_000),
        Int(20_240_106),
        UInt(20_240_105),
        Int(105),
        Dec("20240105.0"),
        Float("20240105e0", 20_240_105.0),
    ]
}

fn datetime_forms() -> Vec<Lit> {
    use Lit::*;
    let mut forms = date_forms();
    forms.extend([
        Str("2024-01-05 10:20:30"),
        Str("2024-1-5 10:20:30"),
        Str("2024-01-05T10:20:30"),
        Str("2024-01-05  10:20:30"),
        Str("2024-01-05 10:20:30 "),
        Str("24-01-05 10:20:30"),
        Str("20240105102030"),
        Str("240105102030"),
        Str("2024-01-05 10:20:30.5"),
        Str("2024-01-05 10:20:30.500"),
        Str("2024-01-05 10:20:30.500000"),
        Str("2024-01-05 10:20:30.5000001"),
        Str("2024-01-05 10:20:30.4999999"),
        Str("2024-01-05 10:20:30.000001"),
        Str("2024-01-05 10:20:30.123456"),
        Str("2024-01-05 10:20:30.12"),
        Str("2024-01-05 10:20"),
        Str("2024-01-05 102030"),
        Str("2024-01-05 10.20.30"),
        Str("2024-01-05 23:59:59.999999"),
        Str("2024-01-05 10:20:60"),
        Str("20240105102030.5"),
        Int(20_240_105_102_030),
        Int(240_105_102_030),
        Dec("20240105102030.5"),
    ]);
    forms
}

#[tokio::test]
async fn numbers_and_dates_are_placed_where_the_server_finds_them() -> Result<()> {
    use Lit::*;
    let db = MariaDb::start().await?;
    let mut conn = setup(&db).await?;
    let signed_rows = vec![
        Int(0),
        Int(1),
        Int(-1),
        Int(100),
        Int(123),
        Int(-123),
        Int(1024),
        Int(9_007_199_254_740_992),
        Int(9_007_199_254_740_993),
        Int(9_007_199_254_740_994),
        Int(i64::MAX),
        Int(i64::MIN),
        Int(-9_007_199_254_740_993),
    ];
    let unsigned_rows = vec![
        Int(0),
        Int(1),
        Int(100),
        Int(123),
        Int(1024),
        Int(9_007_199_254_740_992),
        Int(9_007_199_254_740_993),
        Int(9_007_199_254_740_994),
        UInt(u64::MAX),
        UInt(u64::MAX - 1),
        UInt(9_223_372_036_854_775_808),
    ];
    let date_typed = |table, column, key_type| Typed {
        table,
        column,
        key_type,
        rows: date_forms(),
        lookups: date_forms(),
        must_place: vec![
            Str("2024-01-05"),
            Str("2024-1-5"),
            Str("2024/01/05"),
            Str("24-01-05"),
            Str("20240105"),
            Str("240105"),
            Str("2024-01-05 00:00:00"),
            Int(20_240_105),
        ],
        stored: |text| KeyValue::Str(text.as_bytes()),
    };
    let mut datetime6 = date_typed("t_datetime6", "DATETIME(6)", KeyType::DateTime { fsp: 6 });
    datetime6.rows = datetime_forms();
    datetime6.lookups = datetime_forms();
    datetime6
        .must_place
        .extend([Str("2024-01-05 10:20:30.5"), Int(20_240_105_102_030)]);
    let mut datetime0 = date_typed("t_datetime0", "DATETIME", KeyType::DateTime { fsp: 0 });
    datetime0.rows = datetime_forms();
    datetime0.lookups = datetime_forms();
    let mut datetime2 = date_typed("t_datetime2", "DATETIME(2)", KeyType::DateTime { fsp: 2 });
    datetime2.rows = datetime_forms();
    datetime2.lookups = datetime_forms();

    let typed = [
        integer_typed("t_bigint", "BIGINT", signed_rows.clone()),
        integer_typed("t_int", "INT", signed_rows[..7].to_vec()),
        integer_typed("t_ubigint", "BIGINT UNSIGNED", unsigned_rows),
        decimal_typed(
            "t_dec_10_2",
            "DECIMAL(10,2)",
            10,
            2,
            vec![
                Dec("1.50"),
                Dec("-0.0"),
                Int(100),
                UInt(100),
                Str("1.50"),
                Str(" 1.5 "),
            ],
        ),
        decimal_typed(
            "t_dec_30_10",
            "DECIMAL(30,10)",
            30,
            10,
            vec![Dec("1.50"), Dec("-0.0"), Int(100), UInt(100)],
        ),
        decimal_typed(
            "t_dec_15_0",
            "DECIMAL(15,0)",
            15,
            0,
            vec![
                Dec("100.00"),
                Dec("-0.0"),
                Int(100),
                Str("1e2"),
                Str("-0.000"),
            ],
        ),
        date_typed("t_date", "DATE", KeyType::Date),
        datetime0,
        datetime2,
        datetime6,
    ];
    for typed in &typed {
        let line = check_typed(&mut conn, typed).await?;
        eprintln!("{line}");
    }
    Ok(())
}

// ---- table regeneration ----------------------------------------------------------------------

/// Prints `GENERAL_CI_TABLE` and `UNICODE_CI_TABLE` from a live server, in the encoding
/// `router/src/hash.rs` describes, and checks the constants there are up to date:
/// `cargo test --test shard_hash -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "prints the collation tables; run by hand after a server upgrade"]
async fn regenerate_collation_tables() -> Result<()> {
    let db = MariaDb::start().await?;
    let mut conn = setup(&db).await?;
    let rows: Vec<(u32, String, String)> = conn
        .query(
            "SELECT seq, \
             HEX(WEIGHT_STRING(CONVERT(CHAR(seq USING utf32) USING utf8mb4) COLLATE utf8mb4_general_ci)), \
             HEX(WEIGHT_STRING(CONVERT(CHAR(seq USING utf32) USING utf8mb4) COLLATE utf8mb4_unicode_ci)) \
             FROM seq_0_to_65535 WHERE seq NOT BETWEEN 55296 AND 57343",
        )
        .await?;
    let mut general = Vec::new();
    let mut unicode = Vec::new();
    for (cp, general_hex, unicode_hex) in rows {
        let general_weights = parse_hex_weights(&general_hex)?;
        if general_weights != [cp] {
            general.push((cp, general_weights));
        }
        let unicode_weights = parse_hex_weights(&unicode_hex)?;
        let implicit = {
            let cp16 = u16::try_from(cp)?;
            let ideograph = |(first, last): (u32, u32)| (first..=last).contains(&cp);
            let base = if [
                (0x4e00, 0x9fa5),
                (0xfa0e, 0xfa0f),
                (0xfa11, 0xfa11),
                (0xfa13, 0xfa14),
                (0xfa1f, 0xfa1f),
                (0xfa21, 0xfa21),
                (0xfa23, 0xfa24),
                (0xfa27, 0xfa29),
            ]
            .into_iter()
            .any(ideograph)
            {
                0xfb40
            } else if ideograph((0x3400, 0x4db5)) {
                0xfb80
            } else {
                0xfbc0
            };
            vec![
                base + u32::from(cp16 >> 15),
                u32::from(cp16 & 0x7fff) | 0x8000,
            ]
        };
        if unicode_weights != implicit {
            unicode.push((cp, unicode_weights));
        }
    }
    let general = encode_table(&general)?;
    let unicode = encode_table(&unicode)?;
    println!("GENERAL_CI_TABLE:\n{}\n", wrap(&general));
    println!("UNICODE_CI_TABLE:\n{}\n", wrap(&unicode));
    let strip = |s: &str| s.split_whitespace().collect::<String>();
    ensure!(
        strip(hash::GENERAL_CI_TABLE) == general,
        "GENERAL_CI_TABLE is out of date"
    );
    ensure!(
        strip(hash::UNICODE_CI_TABLE) == unicode,
        "UNICODE_CI_TABLE is out of date"
    );
    Ok(())
}

fn wrap(text: &str) -> String {
    text.as_bytes()
        .chunks(96)
        .map(|chunk| format!("    {}\\", String::from_utf8_lossy(chunk)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Encodes `(code point, weights)` records as `router/src/hash.rs` describes.
fn encode_table(entries: &[(u32, Vec<u32>)]) -> Result<String> {
    fn varint(mut n: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    fn zigzag(delta: i64) -> u64 {
        ((delta << 1) ^ (delta >> 63)) as u64
    }
    let mut out = Vec::new();
    let mut next_cp = 0u32;
    let mut last_weight = 0i64;
    let mut i = 0;
    while i < entries.len() {
        let (cp, weights) = &entries[i];
        // A run: consecutive code points with one weight each, equal or increasing by one.
        let mut run = (1, 0);
        if let [first] = weights[..] {
            for step in [1u32, 0] {
                let mut j = i + 1;
                while let Some((next, next_weights)) = entries.get(j) {
                    let k = (j - i) as u32;
                    if *next != cp + k || next_weights[..] != [first + step * k] {
                        break;
                    }
                    j += 1;
                }
                if j - i >= 2 {
                    run = (j - i, step);
                    break;
                }
            }
        }
        varint(u64::from(cp - next_cp), &mut out);
        let (count, step) = run;
        if count >= 2 {
            varint((16 + (count - 2) * 2 + step as usize) as u64, &mut out);
            varint(zigzag(i64::from(weights[0]) - last_weight), &mut out);
            last_weight = i64::from(weights[0] + step * (count as u32 - 1));
        } else {
            if weights.len() >= 16 {
                bail!("U+{cp:04X} has {} weights", weights.len());
            }
            varint(weights.len() as u64, &mut out);
            for &weight in weights {
                varint(zigzag(i64::from(weight) - last_weight), &mut out);
                last_weight = i64::from(weight);
            }
        }
        next_cp = entries[i + count - 1].0 + 1;
        i += count;
    }
    Ok(base64(&out))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                text.push(char::from(ALPHABET[(n >> (18 - 6 * k)) as usize & 63]));
            } else {
                text.push('=');
            }
        }
    }
    text
}
