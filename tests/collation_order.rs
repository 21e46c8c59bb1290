//! Differential test of the merge's string comparison (`router/src/merge/collate.rs`) against a
//! real MariaDB: for every supported collation the server orders and groups a few thousand
//! generated strings, and `SortCollation` must agree.
//!
//! * Strings come in families (a base string and variants of it: case flipped, accents and
//!   look-alikes swapped, trailing spaces, tabs and controls added, ignorable characters
//!   inserted, expansions spelled out, prefixes taken), drawn from what the column's character
//!   set can hold: latin1 (Windows-1252 as MariaDB has it), the BMP for utf8mb3, everything
//!   for utf8mb4, and also bytes that are not UTF-8 for `binary`.
//! * The values are read back with `SET NAMES utf8mb4`, as the merge receives them, and
//!   `STRCMP` of many pairs (every pair within a family, many random ones) must have the sign
//!   of `compare`, and `equality_key`s must be equal exactly when `STRCMP` is 0.
//! * Sorting all values with `compare` must put them in an order the server's `STRCMP` agrees
//!   with (neighbour by neighbour, equal exactly when `STRCMP` is 0), and position by position
//!   equal to what `ORDER BY v` returns. One known difference is allowed and counted: in
//!   `NO PAD` collations MariaDB's filesort pads sort keys with zero bytes, so `ORDER BY`
//!   (unlike `STRCMP`, `GROUP BY` and `DISTINCT`) cannot tell `'a'` from `'a\0'` and may
//!   return them in either order; it does so for the latin1 `nopad` collations.
//! * For the latin1 collations all 256 × 256 pairs of single characters are compared too.
//!
//! Every disagreement is reported with the values' bytes in hex; a check run with a wrong
//! collation must report one, so the test can fail.

mod harness;

use std::cmp::Ordering;
use std::fmt::Write as _;

use anyhow::{Context, Result, bail, ensure};
use harness::MariaDb;
use myshard_router::merge::collate::SortCollation;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

/// Which values a column can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repertoire {
    /// `VARBINARY`: any bytes.
    Bytes,
    /// Characters of MariaDB's latin1.
    Latin1,
    /// utf8mb3: the BMP.
    Bmp,
    /// utf8mb4: every character.
    Unicode,
}

/// Every collation checked, with the character set of its column.
const COLLATIONS: [(&str, Repertoire); 22] = [
    ("binary", Repertoire::Bytes),
    ("utf8mb4_bin", Repertoire::Unicode),
    ("utf8mb3_bin", Repertoire::Bmp),
    ("utf8mb4_nopad_bin", Repertoire::Unicode),
    ("utf8mb4_general_ci", Repertoire::Unicode),
    ("utf8mb3_general_ci", Repertoire::Bmp),
    ("utf8mb4_general_nopad_ci", Repertoire::Unicode),
    ("utf8mb3_general_nopad_ci", Repertoire::Bmp),
    ("utf8mb4_unicode_ci", Repertoire::Unicode),
    ("utf8mb3_unicode_ci", Repertoire::Bmp),
    ("utf8mb4_unicode_nopad_ci", Repertoire::Unicode),
    ("utf8mb3_nopad_bin", Repertoire::Bmp),
    ("latin1_swedish_ci", Repertoire::Latin1),
    ("latin1_swedish_nopad_ci", Repertoire::Latin1),
    ("latin1_bin", Repertoire::Latin1),
    ("latin1_nopad_bin", Repertoire::Latin1),
    ("latin1_general_ci", Repertoire::Latin1),
    ("latin1_general_cs", Repertoire::Latin1),
    ("latin1_german1_ci", Repertoire::Latin1),
    ("latin1_danish_ci", Repertoire::Latin1),
    ("latin1_spanish_ci", Repertoire::Latin1),
    ("utf8mb3_unicode_nopad_ci", Repertoire::Bmp),
];

/// Families of generated strings per collation, and strings per family.
const FAMILIES: usize = 500;
const FAMILY_SIZE: usize = 6;
/// Random pairs compared per collation, on top of every pair within a family.
const RANDOM_PAIRS: usize = 40_000;

async fn setup(db: &MariaDb) -> Result<Conn> {
    db.exec("CREATE DATABASE collate_test CHARACTER SET utf8mb4")
        .await?;
    let mut conn = db
        .conn_as(harness::ROOT_USER, "", Some("collate_test"))
        .await?;
    // As the proxy's backend connections: results in UTF-8. Strict, so that a generated
    // character the column cannot hold fails the insert instead of becoming '?'.
    conn.query_drop("SET NAMES utf8mb4, sql_mode = 'STRICT_ALL_TABLES'")
        .await?;
    Ok(conn)
}

#[tokio::test]
async fn every_supported_collation_orders_and_groups_like_the_server() -> Result<()> {
    let db = MariaDb::start().await?;
    let mut conn = setup(&db).await?;
    let mut rng = Gen(0x5eed);
    let pairs = pairs(&mut rng);
    insert_pairs(&mut conn, "pairs", &pairs).await?;
    for (index, (name, repertoire)) in COLLATIONS.into_iter().enumerate() {
        let collation = SortCollation::from_name(name).context(name)?;
        let values = families(&mut rng, repertoire);
        let table = format!("t{index}");
        let stored = store(&mut conn, &table, name, repertoire, &values).await?;
        // The merge learns the collation from COLLATION(expr).
        let reported: Option<String> = conn
            .query_first(format!("SELECT COLLATION(v) FROM {table} LIMIT 1"))
            .await?;
        ensure!(
            reported.as_deref().and_then(SortCollation::from_name) == Some(collation),
            "{name}: COLLATION() says {reported:?}"
        );

        let verdicts = strcmp(&mut conn, "pairs", &table).await?;
        let checked = check_pairs(name, collation, &stored, &pairs, &verdicts)?;
        let order: Vec<usize> = conn
            .query(format!("SELECT id FROM {table} ORDER BY v, id"))
            .await?;
        let sorted = Sorted::new(collation, &stored);
        let steps = sorted.server_steps(&mut conn, &table).await?;
        let (classes, nul_ties) = sorted.check(name, &steps, &order)?;
        eprintln!(
            "{name}: {} values in {classes} equality classes, {checked} pairs and the order \
             agree ({nul_ties} positions where ORDER BY ignores trailing NULs)",
            stored.len()
        );

        if name == "utf8mb4_general_ci" {
            // The checks can fail: a wrong collation is caught by both.
            let wrong = SortCollation::Utf8Bin;
            let pairs_caught = check_pairs(name, wrong, &stored, &pairs, &verdicts);
            let sorted = Sorted::new(wrong, &stored);
            let steps = sorted.server_steps(&mut conn, &table).await?;
            let order_caught = sorted.check(name, &steps, &order);
            ensure!(
                pairs_caught.is_err() && order_caught.is_err(),
                "comparing by utf8mb4_bin went unnoticed"
            );
            if let Err(err) = pairs_caught {
                eprintln!("as expected with the wrong collation: {err:#}");
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn latin1_collations_order_every_pair_of_characters_like_the_server() -> Result<()> {
    let db = MariaDb::start().await?;
    let mut conn = setup(&db).await?;
    // Each latin1 byte as the server sends it to a utf8mb4 client.
    let chars: Vec<(u32, Vec<u8>)> = conn
        .query("SELECT seq, CONVERT(CHAR(seq) USING latin1) FROM seq_0_to_255 ORDER BY seq")
        .await?;
    ensure!(chars.len() == 256, "{} characters", chars.len());
    let values: Vec<Vec<u8>> = chars.into_iter().map(|(_, utf8)| utf8).collect();
    for (name, repertoire) in COLLATIONS {
        if repertoire != Repertoire::Latin1 {
            continue;
        }
        let collation = SortCollation::from_name(name).context(name)?;
        let verdicts: Vec<(usize, usize, i64)> = conn
            .query(format!(
                "SELECT a.seq, b.seq, STRCMP(CONVERT(CHAR(a.seq) USING latin1) COLLATE {name}, \
                 CONVERT(CHAR(b.seq) USING latin1) COLLATE {name}) \
                 FROM seq_0_to_255 a JOIN seq_0_to_255 b"
            ))
            .await?;
        ensure!(
            verdicts.len() == 256 * 256,
            "{name}: {} rows",
            verdicts.len()
        );
        let mut disagreements = Disagreements::default();
        for (a, b, server) in verdicts {
            disagreements.check(name, collation, &values[a], &values[b], server);
        }
        disagreements.into_result(name)?;
        eprintln!("{name}: all 65536 pairs of characters agree");
    }
    Ok(())
}

// ---- checks ----------------------------------------------------------------------------------

/// Counts disagreements with the server and keeps the first.
#[derive(Default)]
struct Disagreements {
    count: usize,
    first: Option<String>,
}

impl Disagreements {
    /// Compares `a` and `b` as the server did (`STRCMP` gave `server`).
    fn check(&mut self, name: &str, collation: SortCollation, a: &[u8], b: &[u8], server: i64) {
        let expected = server.cmp(&0);
        let ours = collation.compare(a, b);
        let (mut key_a, mut key_b) = (Vec::new(), Vec::new());
        collation.equality_key(a, &mut key_a);
        collation.equality_key(b, &mut key_b);
        let keys_equal = key_a == key_b;
        if ours != expected || keys_equal != (expected == Ordering::Equal) {
            self.count += 1;
            self.first.get_or_insert_with(|| {
                format!(
                    "{name}: STRCMP({}, {}) = {server} but compare says {ours:?} and the \
                     equality keys are {}",
                    show(a),
                    show(b),
                    if keys_equal { "equal" } else { "different" }
                )
            });
        }
    }

    fn into_result(self, name: &str) -> Result<()> {
        match self.first {
            Some(first) => bail!("{name}: {} disagreements, the first: {first}", self.count),
            None => Ok(()),
        }
    }
}

/// Checks every pair against the server's `STRCMP` (`verdicts`: pair number, result) and
/// returns how many were checked.
fn check_pairs(
    name: &str,
    collation: SortCollation,
    values: &[Vec<u8>],
    pairs: &[(usize, usize)],
    verdicts: &[(u32, i64)],
) -> Result<usize> {
    ensure!(
        verdicts.len() == pairs.len(),
        "{name}: {} verdicts for {} pairs",
        verdicts.len(),
        pairs.len()
    );
    let mut disagreements = Disagreements::default();
    for &(n, server) in verdicts {
        let &(a, b) = pairs.get(n as usize).context("a pair number")?;
        disagreements.check(name, collation, &values[a], &values[b], server);
    }
    disagreements.into_result(name)?;
    Ok(pairs.len())
}

/// The values sorted by `compare`.
struct Sorted<'a> {
    collation: SortCollation,
    values: &'a [Vec<u8>],
    ids: Vec<usize>,
}

impl<'a> Sorted<'a> {
    fn new(collation: SortCollation, values: &'a [Vec<u8>]) -> Sorted<'a> {
        let mut ids: Vec<usize> = (0..values.len()).collect();
        ids.sort_by(|&a, &b| collation.compare(&values[a], &values[b]));
        Sorted {
            collation,
            values,
            ids,
        }
    }

    /// The server's `STRCMP` of each value with the next one in this order.
    async fn server_steps(&self, conn: &mut Conn, table: &str) -> Result<Vec<(u32, i64)>> {
        let neighbours: Vec<(usize, usize)> = self.ids.windows(2).map(|w| (w[0], w[1])).collect();
        let neighbours_table = format!("{table}_neighbours");
        conn.query_drop(format!("DROP TABLE IF EXISTS {neighbours_table}"))
            .await?;
        insert_pairs(conn, &neighbours_table, &neighbours).await?;
        strcmp(conn, &neighbours_table, table).await
    }

    /// Checks this order against the server's `STRCMP` of neighbours (`steps`, from
    /// [`Sorted::server_steps`]) and against `order`, the ids in `ORDER BY v` order. Returns
    /// the number of equality classes and of positions where `ORDER BY v` has a value that
    /// differs from ours only by trailing U+0000 in a `NO PAD` collation.
    fn check(&self, name: &str, steps: &[(u32, i64)], order: &[usize]) -> Result<(usize, usize)> {
        let (collation, values) = (self.collation, self.values);
        ensure!(
            steps.len() + 1 == self.ids.len() && order.len() == self.ids.len(),
            "{name}: {} steps, {} ids in ORDER BY order",
            steps.len(),
            order.len()
        );
        let mut classes = 1;
        for (pair, &(_, step)) in self.ids.windows(2).zip(steps) {
            let (a, b) = (&values[pair[0]], &values[pair[1]]);
            let ours = collation.compare(a, b);
            let (mut key_a, mut key_b) = (Vec::new(), Vec::new());
            collation.equality_key(a, &mut key_a);
            collation.equality_key(b, &mut key_b);
            if step > 0
                || (step == 0) != (ours == Ordering::Equal)
                || (step == 0) != (key_a == key_b)
            {
                bail!(
                    "{name}: sorted by compare, {} comes before {} (compare says {ours:?}, the \
                     equality keys are {}) but STRCMP says {step}",
                    show(a),
                    show(b),
                    if key_a == key_b { "equal" } else { "different" }
                );
            }
            if step < 0 {
                classes += 1;
            }
        }
        let no_pad = name == "binary" || name.contains("nopad");
        let mut nul_ties = 0;
        for (position, (&id, &server_id)) in self.ids.iter().zip(order).enumerate() {
            let (ours, server) = (&values[id], &values[server_id]);
            if collation.compare(ours, server) == Ordering::Equal {
                continue;
            }
            let trimmed = |value: &'a [u8]| {
                let end = value.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                &value[..end]
            };
            if no_pad && collation.compare(trimmed(ours), trimmed(server)) == Ordering::Equal {
                nul_ties += 1;
                continue;
            }
            bail!(
                "{name}: sorted by compare, position {position} holds {} where ORDER BY v has {}",
                show(ours),
                show(server)
            );
        }
        Ok((classes, nul_ties))
    }
}

/// A value for a failure message: its bytes in hex and its text.
fn show(value: &[u8]) -> String {
    format!("X'{}' {:?}", hex(value), String::from_utf8_lossy(value))
}

fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02X}");
    }
    text
}

// ---- tables ----------------------------------------------------------------------------------

/// Stores `values` with ids `0..` in a new table whose `v` column has the collation, and
/// returns them as read back (the bytes the merge would see).
async fn store(
    conn: &mut Conn,
    table: &str,
    collation: &str,
    repertoire: Repertoire,
    values: &[Vec<u8>],
) -> Result<Vec<Vec<u8>>> {
    let column = match repertoire {
        Repertoire::Bytes => "VARBINARY(255)".to_owned(),
        Repertoire::Latin1 => format!("VARCHAR(100) CHARACTER SET latin1 COLLATE {collation}"),
        Repertoire::Bmp => format!("VARCHAR(100) CHARACTER SET utf8mb3 COLLATE {collation}"),
        Repertoire::Unicode => format!("VARCHAR(100) CHARACTER SET utf8mb4 COLLATE {collation}"),
    };
    conn.query_drop(format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, v {column} NOT NULL)"
    ))
    .await?;
    // Text is sent as UTF-8 and converted to the column's character set by the server.
    let introducer = if repertoire == Repertoire::Bytes {
        ""
    } else {
        "_utf8mb4 "
    };
    for (chunk_index, chunk) in values.chunks(500).enumerate() {
        let mut sql = format!("INSERT INTO {table} (id, v) VALUES ");
        for (i, value) in chunk.iter().enumerate() {
            let id = chunk_index * 500 + i;
            let separator = if i == 0 { "" } else { ", " };
            let _ = write!(sql, "{separator}({id}, {introducer}X'{}')", hex(value));
        }
        conn.query_drop(&sql)
            .await
            .with_context(|| format!("{collation}: inserting values"))?;
    }
    let stored: Vec<(u32, Vec<u8>)> = conn
        .query(format!("SELECT id, v FROM {table} ORDER BY id"))
        .await?;
    ensure!(stored.len() == values.len(), "{collation}: rows lost");
    let stored: Vec<Vec<u8>> = stored.into_iter().map(|(_, v)| v).collect();
    for (written, read) in values.iter().zip(&stored) {
        ensure!(
            written == read,
            "{collation}: wrote {} but read back {}",
            show(written),
            show(read)
        );
    }
    Ok(stored)
}

/// The server's `STRCMP` of the values of each pair in `pairs` (pair number, result).
async fn strcmp(conn: &mut Conn, pairs: &str, values: &str) -> Result<Vec<(u32, i64)>> {
    let verdicts = conn
        .query(format!(
            "SELECT p.n, STRCMP(x.v, y.v) FROM {pairs} p JOIN {values} x ON x.id = p.a \
             JOIN {values} y ON y.id = p.b ORDER BY p.n"
        ))
        .await?;
    Ok(verdicts)
}

/// The pairs compared in every collation: each pair within a family, then random ones.
fn pairs(rng: &mut Gen) -> Vec<(usize, usize)> {
    let mut pairs = Vec::new();
    for family in 0..FAMILIES {
        let first = family * FAMILY_SIZE;
        for a in first..first + FAMILY_SIZE {
            for b in a + 1..first + FAMILY_SIZE {
                pairs.push((a, b));
            }
        }
    }
    let count = FAMILIES * FAMILY_SIZE;
    pairs.extend((0..RANDOM_PAIRS).map(|_| (rng.below(count), rng.below(count))));
    pairs
}

/// Stores numbered pairs of ids in a new table.
async fn insert_pairs(conn: &mut Conn, table: &str, pairs: &[(usize, usize)]) -> Result<()> {
    conn.query_drop(format!(
        "CREATE TABLE {table} (n INT PRIMARY KEY, a INT NOT NULL, b INT NOT NULL)"
    ))
    .await?;
    for (chunk_index, chunk) in pairs.chunks(5000).enumerate() {
        let mut sql = format!("INSERT INTO {table} (n, a, b) VALUES ");
        for (i, (a, b)) in chunk.iter().enumerate() {
            let n = chunk_index * 5000 + i;
            let separator = if i == 0 { "" } else { ", " };
            let _ = write!(sql, "{separator}({n}, {a}, {b})");
        }
        conn.query_drop(&sql).await?;
    }
    Ok(())
}

// ---- generated strings -----------------------------------------------------------------------

/// SplitMix64: a tiny deterministic generator.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Characters latin1 holds besides ASCII and U+00A0..U+00FF: Windows-1252's, and the five C1
/// controls MariaDB keeps for the bytes Windows-1252 leaves undefined.
const CP1252: &str = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ\u{81}\u{8d}\u{8f}\u{90}\u{9d}";
const LATIN1_HIGH: &str = "\u{a0}¡¢£¤¥¦§¨©ª«¬\u{ad}®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖ×ØÙÚÛÜÝÞß\
                           àáâãäåæçèéêëìíîïðñòóôõö÷øùúûüýþÿ";
const CONTROLS: &str = "\0\u{1}\t\n\u{b}\r\u{1f}\u{7f}";
const PUNCTUATION: &str = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
/// BMP characters beyond latin1: Latin Extended, ligatures, Greek, Cyrillic, combining and
/// other ignorable marks, odd spaces, Hangul, CJK (unified and extension A), private use,
/// unassigned, U+FFFD and U+FFFF.
const BMP_EXTRA: &str = "ĀāĂăĄąĆćČčĎďĐđĒēĘęĚěĞğĪīİıĲĳŁłŃńŇňŐőŘřŚśŞşŢţŤťŮůŰűŹźŻżſǄǅǆǇǈǉẞ\
                         ﬀﬁﬂﬃΑαΒβΣσςΩΩЖжЁёÅ\u{300}\u{301}\u{308}\u{200b}\u{200c}\u{feff}\
                         \u{2000}\u{2028}\u{3000}한글中文漢字丰一\u{3400}\u{e000}\u{378}\u{fffd}\u{ffff}";
const ASTRAL: &str = "😀🐱𝐀𠀀🏳\u{10ffff}";

/// Look-alikes a variant may swap for one another.
const SIBLINGS: [&str; 19] = [
    "aAàáâãäåÀÁÂÃÄÅāĀăĂąĄ",
    "eEèéêëÈÉÊËēĒęĘěĚ",
    "iIìíîïÌÍÎÏıİīĪ",
    "oOòóôõöøÒÓÔÕÖØőŐ",
    "uUùúûüÙÚÛÜůŮűŰ",
    "yYýÿÝŸüÜ",
    "sSßšŠśŚşŞſẞ",
    "cCçÇćĆčČ",
    "nNñÑńŃňŇ",
    "dDðÐďĎđĐ",
    "zZžŽźŹżŻ",
    "æÆ",
    "œŒ",
    "þÞ",
    " \u{a0}\u{2000}\u{3000}",
    "\t\n\r\u{1}\0",
    "-‐–—",
    "'’‘",
    "fﬁﬀﬂ",
];
/// Characters that have no weight in utf8mb4_unicode_ci.
const IGNORABLE: &str = "\0\u{301}\u{200b}\u{ad}\u{feff}";
/// Spellings that utf8mb4_unicode_ci expands characters to.
const EXPANSIONS: [(char, &str); 6] = [
    ('ß', "ss"),
    ('æ', "ae"),
    ('ﬁ', "fi"),
    ('ﬃ', "ffi"),
    ('Ĳ', "IJ"),
    ('ǅ', "Dž"),
];

fn holds(repertoire: Repertoire, c: char) -> bool {
    match repertoire {
        Repertoire::Bytes | Repertoire::Unicode => true,
        Repertoire::Bmp => u32::from(c) <= 0xffff,
        Repertoire::Latin1 => c.is_ascii() || LATIN1_HIGH.contains(c) || CP1252.contains(c),
    }
}

/// `FAMILIES` families of `FAMILY_SIZE` values each.
fn families(rng: &mut Gen, repertoire: Repertoire) -> Vec<Vec<u8>> {
    let pool: Vec<char> = [
        CONTROLS,
        PUNCTUATION,
        LATIN1_HIGH,
        CP1252,
        BMP_EXTRA,
        ASTRAL,
    ]
    .concat()
    .chars()
    .filter(|&c| holds(repertoire, c))
    .collect();
    let mut values = Vec::with_capacity(FAMILIES * FAMILY_SIZE);
    for family in 0..FAMILIES {
        // Some binary families are arbitrary bytes rather than text.
        if repertoire == Repertoire::Bytes && family % 5 == 0 {
            const BYTES: [u8; 12] = [
                0x00, 0x09, 0x20, 0x20, 0x41, 0x61, 0x7f, 0x80, 0xc3, 0xa9, 0xfe, 0xff,
            ];
            let mut value: Vec<u8> = (0..rng.below(8)).map(|_| rng.pick(&BYTES)).collect();
            for _ in 0..FAMILY_SIZE {
                values.push(value.clone());
                match rng.below(4) {
                    0 => value.push(b' '),
                    1 => value.push(rng.pick(&BYTES)),
                    2 => value.truncate(rng.below(value.len() + 1)),
                    _ => {
                        if let Some(byte) = value.last_mut() {
                            *byte ^= 0x20;
                        }
                    }
                }
            }
            continue;
        }
        let mut text = base(rng, &pool);
        for _ in 0..FAMILY_SIZE {
            let kept: String = text.iter().filter(|&&c| holds(repertoire, c)).collect();
            values.push(kept.into_bytes());
            for _ in 0..1 + rng.below(2) {
                vary(rng, &pool, &mut text);
            }
        }
    }
    values
}

fn base(rng: &mut Gen, pool: &[char]) -> Vec<char> {
    (0..rng.below(11))
        .map(|_| match rng.below(10) {
            0..=4 => char::from(b'a' + rng.below(26) as u8),
            5 => char::from(b'A' + rng.below(26) as u8),
            6 => char::from(b'0' + rng.below(10) as u8),
            _ => rng.pick(pool),
        })
        .collect()
}

/// Changes `text` a little, so that the result often compares equal or close to it.
fn vary(rng: &mut Gen, pool: &[char], text: &mut Vec<char>) {
    let at = rng.below(text.len() + 1);
    match rng.below(9) {
        0 => {
            if let Some(c) = text.get_mut(at) {
                let flipped: Vec<char> = if c.is_lowercase() {
                    c.to_uppercase().collect()
                } else {
                    c.to_lowercase().collect()
                };
                if let [one] = flipped[..] {
                    *c = one;
                }
            }
        }
        1 => {
            if let Some(c) = text.get_mut(at)
                && let Some(group) = SIBLINGS.iter().find(|group| group.contains(*c))
            {
                let members: Vec<char> = group.chars().collect();
                *c = rng.pick(&members);
            }
        }
        2 => {
            let tail = rng.pick(&[" ", "  ", "\t", " \t", "\u{a0}", "\u{1}", "\0", " \u{3000}"]);
            text.extend(tail.chars());
        }
        3 => text.truncate(at),
        4 => {
            let ignorable: Vec<char> = IGNORABLE.chars().collect();
            text.insert(at, rng.pick(&ignorable));
        }
        5 => text.push(rng.pick(pool)),
        6 => {
            let (single, spelled) = rng.pick(&EXPANSIONS);
            match text.iter().position(|&c| c == single) {
                Some(found) => {
                    text.splice(found..=found, spelled.chars());
                }
                None => text.insert(at, single),
            }
        }
        7 => {
            while text
                .last()
                .is_some_and(|c| matches!(c, ' ' | '\t' | '\u{a0}'))
            {
                text.pop();
            }
        }
        _ => text.insert(at, rng.pick(&['s', 'S', 'a', ' ', 'ß', 'e'])),
    }
}
