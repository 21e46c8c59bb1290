//! Collation-aware comparison of string cells for the cross-shard merge: `ORDER BY` order and
//! `GROUP BY` / `DISTINCT` equality exactly as MariaDB 10.11 compares values under the sort
//! key's collation, which the merge learns at run time from `COLLATION(expr)`.
//!
//! Values are the bytes of a result cell in the connection's result character set, which the
//! proxy keeps at utf8mb4: the server converts a latin1 column to UTF-8 before sending it, so
//! its characters are mapped back to their latin1 bytes before they are weighed. `binary`
//! values are raw bytes. Pure: no I/O, and [`SortCollation::compare`] never allocates.
//!
//! # How values compare
//!
//! A collation maps each character to weights; none of the collations here has contractions,
//! so a character's weights never depend on its neighbours and two values can be compared as
//! they are decoded, without building weight vectors:
//!
//! | collation | weights of a character | space weight |
//! |---|---|---|
//! | `binary` | the byte | — (`NO PAD`) |
//! | `utf8mb4_bin`, `utf8mb4_nopad_bin` | the code point (UTF-8 byte order is code point order) | U+0020 |
//! | `utf8mb4_general_ci`, `utf8mb4_general_nopad_ci` | one weight from MariaDB's table (see `crate::hash`) | `0x0020` |
//! | `utf8mb4_unicode_ci`, `utf8mb4_unicode_nopad_ci` | none (ignorable: U+0000, combining marks, …), one or several (`ß` = `ss`) UCA 4.0.0 primary weights (see `crate::hash`) | `0x0209` |
//! | `latin1_*` | one byte of the collation's sort order applied to the character's latin1 byte | the weight of `0x20` |
//!
//! (`utf8mb3` variants compare like their `utf8mb4` twins.) Weight sequences are compared
//! lexicographically. `PAD SPACE` collations (all but `binary` and the `nopad` ones) compare
//! as if the shorter sequence were padded with space weights, as MariaDB's `strnncollsp`
//! does: `'a' = 'a  '`, and `'a\t' < 'a'` because TAB weighs less than the padding space.
//! `NO PAD` collations put a proper prefix first: `'a' < 'a '`.
//!
//! MariaDB's latin1 is Windows-1252 with the five code points it leaves undefined (0x81, 0x8D,
//! 0x8F, 0x90, 0x9D) mapped to the C1 controls of the same value, so every byte is one
//! character. A character that has no latin1 byte cannot come from a latin1 column; should one
//! appear anyway it weighs more than every latin1 character, by code point.
//!
//! Bytes that are not valid UTF-8 (a utf8mb4 result never holds them) weigh more than every
//! character, each byte of an invalid sequence by its value: a deterministic total order,
//! close to but not guaranteed to be MariaDB's.
//!
//! Where MariaDB disagrees with itself this follows `STRCMP`, `GROUP BY` and `DISTINCT`: in
//! `NO PAD` collations the server's filesort pads sort keys with zero bytes, so `ORDER BY`
//! cannot tell `'a'` from `'a\0'` and may return them in either order (seen with the latin1
//! `nopad` collations, and with `LIMIT` for `utf8mb4_nopad_bin` and
//! `utf8mb4_general_nopad_ci`), while they are different groups and `compare` puts `'a'` first. Merging shard streams sorted that way still gives an order the
//! server's `ORDER BY` could have given, since `compare` only refines it.
//!
//! `tests/collation_order.rs` checks all of this against a live server.

use std::cmp::Ordering;

use crate::hash::{
    GENERAL_CI_SPACE, SUPPLEMENTARY_WEIGHT, UNICODE_CI_ASCII, UNICODE_CI_SPACE, general_ci_table,
    unicode_ci_table,
};

/// A collation the merge compares by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortCollation {
    /// `binary` (`VARBINARY`, `BLOB`, `BINARY()`): bytes, `NO PAD`.
    Binary,
    /// `utf8mb4_bin`, `utf8mb3_bin`: code points, `PAD SPACE`.
    Utf8Bin,
    /// `utf8mb4_nopad_bin`, `utf8mb3_nopad_bin`: code points, `NO PAD`.
    Utf8NopadBin,
    /// `utf8mb4_general_ci`, `utf8mb3_general_ci`: one weight per character, `PAD SPACE`.
    Utf8GeneralCi,
    /// `utf8mb4_general_nopad_ci`, `utf8mb3_general_nopad_ci`.
    Utf8GeneralNopadCi,
    /// `utf8mb4_unicode_ci`, `utf8mb3_unicode_ci`: UCA 4.0.0 primary weights, `PAD SPACE`.
    Utf8UnicodeCi,
    /// `utf8mb4_unicode_nopad_ci`, `utf8mb3_unicode_nopad_ci`.
    Utf8UnicodeNopadCi,
    /// `latin1_bin`: latin1 bytes, `PAD SPACE`.
    Latin1Bin,
    /// `latin1_nopad_bin`: latin1 bytes, `NO PAD`.
    Latin1NopadBin,
    /// `latin1_swedish_ci` (latin1's default): `PAD SPACE`.
    Latin1SwedishCi,
    /// `latin1_swedish_nopad_ci`.
    Latin1SwedishNopadCi,
    /// `latin1_general_ci`: `PAD SPACE`.
    Latin1GeneralCi,
    /// `latin1_general_cs`: `PAD SPACE`.
    Latin1GeneralCs,
    /// `latin1_german1_ci`: `PAD SPACE`.
    Latin1German1Ci,
    /// `latin1_danish_ci`: `PAD SPACE`.
    Latin1DanishCi,
    /// `latin1_spanish_ci`: `PAD SPACE`.
    Latin1SpanishCi,
}

/// Every name [`SortCollation::from_name`] knows (`utf8` is MariaDB's old alias of
/// `utf8mb3`).
const NAMES: [(&str, SortCollation); 28] = [
    ("binary", SortCollation::Binary),
    ("utf8mb4_bin", SortCollation::Utf8Bin),
    ("utf8mb3_bin", SortCollation::Utf8Bin),
    ("utf8_bin", SortCollation::Utf8Bin),
    ("utf8mb4_nopad_bin", SortCollation::Utf8NopadBin),
    ("utf8mb3_nopad_bin", SortCollation::Utf8NopadBin),
    ("utf8_nopad_bin", SortCollation::Utf8NopadBin),
    ("utf8mb4_general_ci", SortCollation::Utf8GeneralCi),
    ("utf8mb3_general_ci", SortCollation::Utf8GeneralCi),
    ("utf8_general_ci", SortCollation::Utf8GeneralCi),
    (
        "utf8mb4_general_nopad_ci",
        SortCollation::Utf8GeneralNopadCi,
    ),
    (
        "utf8mb3_general_nopad_ci",
        SortCollation::Utf8GeneralNopadCi,
    ),
    ("utf8_general_nopad_ci", SortCollation::Utf8GeneralNopadCi),
    ("utf8mb4_unicode_ci", SortCollation::Utf8UnicodeCi),
    ("utf8mb3_unicode_ci", SortCollation::Utf8UnicodeCi),
    ("utf8_unicode_ci", SortCollation::Utf8UnicodeCi),
    (
        "utf8mb4_unicode_nopad_ci",
        SortCollation::Utf8UnicodeNopadCi,
    ),
    (
        "utf8mb3_unicode_nopad_ci",
        SortCollation::Utf8UnicodeNopadCi,
    ),
    ("utf8_unicode_nopad_ci", SortCollation::Utf8UnicodeNopadCi),
    ("latin1_bin", SortCollation::Latin1Bin),
    ("latin1_nopad_bin", SortCollation::Latin1NopadBin),
    ("latin1_swedish_ci", SortCollation::Latin1SwedishCi),
    (
        "latin1_swedish_nopad_ci",
        SortCollation::Latin1SwedishNopadCi,
    ),
    ("latin1_general_ci", SortCollation::Latin1GeneralCi),
    ("latin1_general_cs", SortCollation::Latin1GeneralCs),
    ("latin1_german1_ci", SortCollation::Latin1German1Ci),
    ("latin1_danish_ci", SortCollation::Latin1DanishCi),
    ("latin1_spanish_ci", SortCollation::Latin1SpanishCi),
];

impl SortCollation {
    /// By the name `COLLATION()` returns (ASCII case-insensitive); `None` if not supported
    /// (`latin1_german2_ci`, `utf8mb4_unicode_520_ci`, language-specific UCA collations, other
    /// character sets, …).
    pub fn from_name(name: &str) -> Option<SortCollation> {
        NAMES
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|&(_, collation)| collation)
    }

    /// The collation's MariaDB name (for `utf8mb3` twins, the `utf8mb4` one).
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|&&(_, collation)| collation == self)
            .map_or("binary", |&(name, _)| name)
    }

    /// Orders two values as MariaDB does (`PAD SPACE` collations: trailing spaces ignored /
    /// the shorter padded with spaces; `NO PAD` collations: not). Values are UTF-8 result
    /// bytes (for `binary`, raw bytes). Invalid UTF-8 falls back to a deterministic order (see
    /// the module documentation).
    pub fn compare(self, a: &[u8], b: &[u8]) -> Ordering {
        let weights = self.weights();
        let pad = self.pad_space().then(|| weights.space());
        if matches!(weights, Weights::Bytes) && pad.is_none() {
            return a.cmp(b);
        }
        // Equal leading characters weigh alike: skip them without weighing.
        let start = shared_prefix(a, b);
        let (a, b) = (&a[start..], &b[start..]);
        match weights {
            Weights::Bytes => compare_weights(bytes(a), bytes(b), pad),
            Weights::GeneralCi => compare_weights(GeneralCi::new(a), GeneralCi::new(b), pad),
            Weights::UnicodeCi => compare_weights(UnicodeCi::new(a), UnicodeCi::new(b), pad),
            Weights::Latin1(order) => {
                compare_weights(Latin1::new(a, order), Latin1::new(b, order), pad)
            }
        }
    }

    /// Appends to `out` a byte string that is equal for two values iff [`compare`] says
    /// `Equal` (for hashing group keys). It is not a sort key: its byte order means nothing.
    ///
    /// [`compare`]: SortCollation::compare
    pub fn equality_key(self, value: &[u8], out: &mut Vec<u8>) {
        let weights = self.weights();
        let pad = self.pad_space().then(|| weights.space());
        match weights {
            Weights::Bytes => {
                let end = match pad {
                    Some(_) => value.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1),
                    None => value.len(),
                };
                out.extend_from_slice(&value[..end]);
            }
            Weights::GeneralCi => push_key(GeneralCi::new(value), pad, out),
            Weights::UnicodeCi => push_key(UnicodeCi::new(value), pad, out),
            Weights::Latin1(order) => push_key(Latin1::new(value, order), pad, out),
        }
    }

    fn weights(self) -> Weights {
        use SortCollation as C;
        match self {
            C::Binary | C::Utf8Bin | C::Utf8NopadBin => Weights::Bytes,
            C::Utf8GeneralCi | C::Utf8GeneralNopadCi => Weights::GeneralCi,
            C::Utf8UnicodeCi | C::Utf8UnicodeNopadCi => Weights::UnicodeCi,
            C::Latin1Bin | C::Latin1NopadBin => Weights::Latin1(&LATIN1_BIN),
            C::Latin1SwedishCi | C::Latin1SwedishNopadCi => Weights::Latin1(&LATIN1_SWEDISH_CI),
            C::Latin1GeneralCi => Weights::Latin1(&LATIN1_GENERAL_CI),
            C::Latin1GeneralCs => Weights::Latin1(&LATIN1_GENERAL_CS),
            C::Latin1German1Ci => Weights::Latin1(&LATIN1_GERMAN1_CI),
            C::Latin1DanishCi => Weights::Latin1(&LATIN1_DANISH_CI),
            C::Latin1SpanishCi => Weights::Latin1(&LATIN1_SPANISH_CI),
        }
    }

    /// `PAD SPACE` rather than `NO PAD`.
    fn pad_space(self) -> bool {
        use SortCollation as C;
        !matches!(
            self,
            C::Binary
                | C::Utf8NopadBin
                | C::Utf8GeneralNopadCi
                | C::Utf8UnicodeNopadCi
                | C::Latin1NopadBin
                | C::Latin1SwedishNopadCi
        )
    }
}

/// How a collation weighs characters.
#[derive(Clone, Copy)]
enum Weights {
    /// Each byte is its weight (for valid UTF-8, byte order is code point order).
    Bytes,
    /// [`GeneralCi`].
    GeneralCi,
    /// [`UnicodeCi`].
    UnicodeCi,
    /// [`Latin1`] with this sort order.
    Latin1(&'static [u8; 256]),
}

impl Weights {
    /// The weight of U+0020, which `PAD SPACE` pads with.
    fn space(self) -> u32 {
        match self {
            Weights::Bytes => u32::from(b' '),
            Weights::GeneralCi => u32::from(GENERAL_CI_SPACE),
            Weights::UnicodeCi => u32::from(UNICODE_CI_SPACE),
            Weights::Latin1(order) => u32::from(order[usize::from(b' ')]),
        }
    }
}

/// Compares two weight sequences; with `pad` (the space weight) the shorter one is taken as
/// padded with it, as MariaDB's `strnncollsp` does.
fn compare_weights(
    mut a: impl Iterator<Item = u32>,
    mut b: impl Iterator<Item = u32>,
    pad: Option<u32>,
) -> Ordering {
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => {}
            (Some(x), Some(y)) => return x.cmp(&y),
            (None, None) => return Ordering::Equal,
            (Some(x), None) => {
                return match pad {
                    Some(space) => against_padding(x, a, space),
                    None => Ordering::Greater,
                };
            }
            (None, Some(y)) => {
                return match pad {
                    Some(space) => against_padding(y, b, space).reverse(),
                    None => Ordering::Less,
                };
            }
        }
    }
}

/// How the rest of the longer value (`first`, then `rest`) compares with the space padding
/// of the shorter one: by its first weight that is not the space weight.
fn against_padding(first: u32, rest: impl Iterator<Item = u32>, space: u32) -> Ordering {
    std::iter::once(first)
        .chain(rest)
        .find(|&weight| weight != space)
        .map_or(Ordering::Equal, |weight| weight.cmp(&space))
}

/// Writes the weights, without trailing space weights under `PAD SPACE`, uniquely decodably.
fn push_key(weights: impl Iterator<Item = u32>, pad: Option<u32>, out: &mut Vec<u8>) {
    let Some(space) = pad else {
        weights.for_each(|weight| push_weight(weight, out));
        return;
    };
    // Spaces are held back until a weight other than space follows them.
    let mut spaces = 0usize;
    for weight in weights {
        if weight == space {
            spaces += 1;
            continue;
        }
        for _ in 0..spaces {
            push_weight(space, out);
        }
        spaces = 0;
        push_weight(weight, out);
    }
}

/// Two bytes for a weight below 0xFFFF, else `FF FF` and the weight's four bytes.
fn push_weight(weight: u32, out: &mut Vec<u8>) {
    match u16::try_from(weight) {
        Ok(short) if short != u16::MAX => out.extend_from_slice(&short.to_be_bytes()),
        _ => {
            out.extend_from_slice(&[0xff, 0xff]);
            out.extend_from_slice(&weight.to_be_bytes());
        }
    }
}

/// The length of the longest common prefix of `a` and `b` that ends where a character starts
/// (or the value ends) in both, so that both decode the prefix alike.
fn shared_prefix(a: &[u8], b: &[u8]) -> usize {
    let mut at = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    // A byte that is not a continuation byte always starts a character for `Chars` (a valid
    // sequence never swallows one), so backing up over continuation bytes is enough.
    let continues = |value: &[u8], i: usize| value.get(i).is_some_and(|&b| b & 0xc0 == 0x80);
    while at > 0 && (continues(a, at) || continues(b, at)) {
        at -= 1;
    }
    at
}

fn bytes(value: &[u8]) -> impl Iterator<Item = u32> + '_ {
    value.iter().map(|&b| u32::from(b))
}

// ---- decoding and weighing -------------------------------------------------------------------

/// Marks a byte that does not start a valid UTF-8 sequence: `INVALID | byte` weighs more than
/// any character in every collation here (all their weights are below 0x11_0100).
const INVALID: u32 = 1 << 24;

/// The code points of UTF-8 text; each byte that does not start a valid sequence comes out
/// alone as `INVALID | byte`.
struct Chars<'a> {
    rest: &'a [u8],
}

impl Iterator for Chars<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let (&lead, after) = self.rest.split_first()?;
        if lead < 0x80 {
            self.rest = after;
            return Some(u32::from(lead));
        }
        let (c, len) = decode_multibyte(self.rest).unwrap_or((INVALID | u32::from(lead), 1));
        self.rest = self.rest.get(len..).unwrap_or_default();
        Some(c)
    }
}

/// The code point of the well-formed multi-byte UTF-8 sequence (RFC 3629) `bytes` starts
/// with, and its length.
fn decode_multibyte(bytes: &[u8]) -> Option<(u32, usize)> {
    let lead = *bytes.first()?;
    // Length, the range of the second byte (which excludes overlong forms, surrogates and
    // code points above U+10FFFF), and the lead byte's payload.
    let (len, second_range, payload) = match lead {
        0xc2..=0xdf => (2, 0x80..=0xbf, lead & 0x1f),
        0xe0 => (3, 0xa0..=0xbf, lead & 0x0f),
        0xe1..=0xec | 0xee..=0xef => (3, 0x80..=0xbf, lead & 0x0f),
        0xed => (3, 0x80..=0x9f, lead & 0x0f),
        0xf0 => (4, 0x90..=0xbf, lead & 0x07),
        0xf1..=0xf3 => (4, 0x80..=0xbf, lead & 0x07),
        0xf4 => (4, 0x80..=0x8f, lead & 0x07),
        _ => return None,
    };
    let second = *bytes.get(1)?;
    if !second_range.contains(&second) {
        return None;
    }
    let mut c = (u32::from(payload) << 6) | u32::from(second & 0x3f);
    for i in 2..len {
        let next = *bytes.get(i)?;
        if next & 0xc0 != 0x80 {
            return None;
        }
        c = (c << 6) | u32::from(next & 0x3f);
    }
    Some((c, len))
}

/// utf8mb4_general_ci: one weight per character.
struct GeneralCi<'a>(Chars<'a>);

impl GeneralCi<'_> {
    fn new(value: &[u8]) -> GeneralCi<'_> {
        GeneralCi(Chars { rest: value })
    }
}

impl Iterator for GeneralCi<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let c = self.0.next()?;
        Some(match c {
            // ASCII weighs its upper-case letter; the table agrees (tested in `crate::hash`).
            0..=0x7f => u32::from((c as u8).to_ascii_uppercase()),
            0x80..=0xffff => general_ci_table()
                .get(c as usize)
                .map_or(c, |&weight| u32::from(weight)),
            0x1_0000..=0x10_ffff => u32::from(SUPPLEMENTARY_WEIGHT),
            _ => c,
        })
    }
}

/// utf8mb4_unicode_ci: zero, one or several weights per character, buffered one character at
/// a time.
struct UnicodeCi<'a> {
    chars: Chars<'a>,
    /// The weights of the current character (at most 15, the table's limit).
    pending: [u16; 16],
    len: usize,
    at: usize,
}

impl UnicodeCi<'_> {
    fn new(value: &[u8]) -> UnicodeCi<'_> {
        UnicodeCi {
            chars: Chars { rest: value },
            pending: [0; 16],
            len: 0,
            at: 0,
        }
    }
}

impl Iterator for UnicodeCi<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        loop {
            if let Some(&weight) = self.pending[..self.len].get(self.at) {
                self.at += 1;
                return Some(u32::from(weight));
            }
            let c = self.chars.next()?;
            match c {
                // 0 marks an ignorable character: it has no weight.
                0..=0x7f => match UNICODE_CI_ASCII[c as usize] {
                    0 => {}
                    weight => return Some(u32::from(weight)),
                },
                0x80..=0xffff => {
                    let (pending, len) = (&mut self.pending, &mut self.len);
                    *len = 0;
                    self.at = 0;
                    unicode_ci_table().weights(c as u16, &mut |weight| {
                        if let Some(slot) = pending.get_mut(*len) {
                            *slot = weight;
                            *len += 1;
                        }
                    });
                }
                0x1_0000..=0x10_ffff => return Some(u32::from(SUPPLEMENTARY_WEIGHT)),
                _ => return Some(c),
            }
        }
    }
}

/// A latin1 collation: each character's latin1 byte through the collation's sort order.
struct Latin1<'a> {
    chars: Chars<'a>,
    order: &'static [u8; 256],
}

impl Latin1<'_> {
    fn new<'a>(value: &'a [u8], order: &'static [u8; 256]) -> Latin1<'a> {
        Latin1 {
            chars: Chars { rest: value },
            order,
        }
    }
}

/// Where characters without a latin1 byte weigh: above every latin1 weight, by code point.
const NOT_LATIN1: u32 = 0x100;

impl Iterator for Latin1<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let c = self.chars.next()?;
        Some(match latin1_byte(c) {
            Some(byte) => u32::from(self.order[usize::from(byte)]),
            None if c < INVALID => NOT_LATIN1 + c,
            None => c,
        })
    }
}

/// The latin1 byte of a character: MariaDB's latin1 is Windows-1252 with 0x81, 0x8D, 0x8F,
/// 0x90 and 0x9D mapped to U+0081, U+008D, U+008F, U+0090 and U+009D.
fn latin1_byte(c: u32) -> Option<u8> {
    match c {
        0..=0x7f | 0xa0..=0xff => Some(c as u8),
        _ => LATIN1_80_TO_9F
            .iter()
            .position(|&mapped| u32::from(mapped) == c)
            .map(|i| 0x80 + i as u8),
    }
}

/// The characters of latin1 bytes 0x80 to 0x9F, as MariaDB converts them.
const LATIN1_80_TO_9F: [u16; 32] = [
    0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039,
    0x0152, 0x008d, 0x017d, 0x008f, 0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
    0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
];

// ---- latin1 sort orders ----------------------------------------------------------------------
//
// Read from MariaDB 10.11 with
//   SELECT HEX(WEIGHT_STRING(CONVERT(CHAR(seq) USING latin1) COLLATE c)) FROM seq_0_to_255
// and checked, all 256 × 256 pairs of characters, by tests/collation_order.rs.
// latin1_swedish_nopad_ci weighs like latin1_swedish_ci.

/// latin1_bin and latin1_nopad_bin: the byte itself.
const LATIN1_BIN: [u8; 256] = {
    let mut order = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        order[i] = i as u8;
        i += 1;
    }
    order
};

const LATIN1_SWEDISH_CI: [u8; 256] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
    0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f,
    0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f,
    0x60, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f,
    0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f,
    0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f,
    0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f,
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
    0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
    0x41, 0x41, 0x41, 0x41, 0x5c, 0x5b, 0x5c, 0x43, 0x45, 0x45, 0x45, 0x45, 0x49, 0x49, 0x49, 0x49,
    0x44, 0x4e, 0x4f, 0x4f, 0x4f, 0x4f, 0x5d, 0xd7, 0xd8, 0x55, 0x55, 0x55, 0x59, 0x59, 0xde, 0xdf,
    0x41, 0x41, 0x41, 0x41, 0x5c, 0x5b, 0x5c, 0x43, 0x45, 0x45, 0x45, 0x45, 0x49, 0x49, 0x49, 0x49,
    0x44, 0x4e, 0x4f, 0x4f, 0x4f, 0x4f, 0x5d, 0xf7, 0xd8, 0x55, 0x55, 0x55, 0x59, 0x59, 0xde, 0xff,
];
const LATIN1_GERMAN1_CI: [u8; 256] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
    0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f,
    0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f,
    0x60, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f,
    0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f,
    0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f,
    0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f,
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
    0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
    0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x43, 0x45, 0x45, 0x45, 0x45, 0x49, 0x49, 0x49, 0x49,
    0xd0, 0x4e, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0xd7, 0x4f, 0x55, 0x55, 0x55, 0x55, 0x59, 0xde, 0x53,
    0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x43, 0x45, 0x45, 0x45, 0x45, 0x49, 0x49, 0x49, 0x49,
    0xd0, 0x4e, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0xf7, 0x4f, 0x55, 0x55, 0x55, 0x55, 0x59, 0xde, 0xff,
];
const LATIN1_DANISH_CI: [u8; 256] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
    0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f,
    0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f,
    0x60, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f,
    0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f,
    0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f,
    0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f,
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
    0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
    0x41, 0x41, 0x41, 0x41, 0x5b, 0x5d, 0x5b, 0x43, 0x45, 0x45, 0x45, 0x45, 0x49, 0x49, 0x49, 0x49,
    0x44, 0x4e, 0x4f, 0x4f, 0x4f, 0x4f, 0x5c, 0xd7, 0x5c, 0x55, 0x55, 0x55, 0x59, 0x59, 0xde, 0xdf,
    0x41, 0x41, 0x41, 0x41, 0x5b, 0x5d, 0x5b, 0x43, 0x45, 0x45, 0x45, 0x45, 0x49, 0x49, 0x49, 0x49,
    0x44, 0x4e, 0x4f, 0x4f, 0x4f, 0x4f, 0x5c, 0xf7, 0x5c, 0x55, 0x55, 0x55, 0x59, 0x59, 0xde, 0xff,
];
const LATIN1_GENERAL_CI: [u8; 256] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
    0x40, 0x41, 0x51, 0x53, 0x57, 0x5b, 0x65, 0x67, 0x69, 0x6b, 0x75, 0x77, 0x79, 0x7b, 0x7d, 0x81,
    0x8f, 0x91, 0x93, 0x95, 0x98, 0x9a, 0xa4, 0xa6, 0xa8, 0xaa, 0xaf, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7,
    0xb8, 0x41, 0x51, 0x53, 0x57, 0x5b, 0x65, 0x67, 0x69, 0x6b, 0x75, 0x77, 0x79, 0x7b, 0x7d, 0x81,
    0x8f, 0x91, 0x93, 0x95, 0x98, 0x9a, 0xa4, 0xa6, 0xa8, 0xaa, 0xaf, 0xb9, 0xba, 0xbb, 0xbc, 0xbf,
    0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf,
    0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
    0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef,
    0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
    0x43, 0x45, 0x47, 0x49, 0x4b, 0x4d, 0x4f, 0x55, 0x5d, 0x5f, 0x61, 0x63, 0x6d, 0x6f, 0x71, 0x73,
    0x59, 0x7f, 0x83, 0x85, 0x87, 0x89, 0x8b, 0xbd, 0x8d, 0x9c, 0x9e, 0xa0, 0xa2, 0xac, 0xb1, 0x97,
    0x43, 0x45, 0x47, 0x49, 0x4b, 0x4d, 0x4f, 0x55, 0x5d, 0x5f, 0x61, 0x63, 0x6d, 0x6f, 0x71, 0x73,
    0x59, 0x7f, 0x83, 0x85, 0x87, 0x89, 0x8b, 0xbe, 0x8d, 0x9c, 0x9e, 0xa0, 0xa2, 0xac, 0xb1, 0xae,
];
const LATIN1_GENERAL_CS: [u8; 256] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
    0x40, 0x41, 0x51, 0x53, 0x57, 0x5b, 0x65, 0x67, 0x69, 0x6b, 0x75, 0x77, 0x79, 0x7b, 0x7d, 0x81,
    0x8f, 0x91, 0x93, 0x95, 0x98, 0x9a, 0xa4, 0xa6, 0xa8, 0xaa, 0xaf, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7,
    0xb8, 0x42, 0x52, 0x54, 0x58, 0x5c, 0x66, 0x68, 0x6a, 0x6c, 0x76, 0x78, 0x7a, 0x7c, 0x7e, 0x82,
    0x90, 0x92, 0x94, 0x96, 0x99, 0x9b, 0xa5, 0xa7, 0xa9, 0xab, 0xb0, 0xb9, 0xba, 0xbb, 0xbc, 0xbf,
    0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf,
    0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
    0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef,
    0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
    0x43, 0x45, 0x47, 0x49, 0x4b, 0x4d, 0x4f, 0x55, 0x5d, 0x5f, 0x61, 0x63, 0x6d, 0x6f, 0x71, 0x73,
    0x59, 0x7f, 0x83, 0x85, 0x87, 0x89, 0x8b, 0xbd, 0x8d, 0x9c, 0x9e, 0xa0, 0xa2, 0xac, 0xb1, 0x97,
    0x44, 0x46, 0x48, 0x4a, 0x4c, 0x4e, 0x50, 0x56, 0x5e, 0x60, 0x62, 0x64, 0x6e, 0x70, 0x72, 0x74,
    0x5a, 0x80, 0x84, 0x86, 0x88, 0x8a, 0x8c, 0xbe, 0x8e, 0x9d, 0x9f, 0xa1, 0xa3, 0xad, 0xb2, 0xae,
];
const LATIN1_SPANISH_CI: [u8; 256] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
    0x40, 0x41, 0x51, 0x53, 0x57, 0x5b, 0x65, 0x67, 0x69, 0x6b, 0x75, 0x77, 0x79, 0x7b, 0x7d, 0x81,
    0x8f, 0x91, 0x93, 0x95, 0x98, 0x9a, 0xa4, 0xa6, 0xa8, 0xaa, 0xaf, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7,
    0xb8, 0x41, 0x51, 0x53, 0x57, 0x5b, 0x65, 0x67, 0x69, 0x6b, 0x75, 0x77, 0x79, 0x7b, 0x7d, 0x81,
    0x8f, 0x91, 0x93, 0x95, 0x98, 0x9a, 0xa4, 0xa6, 0xa8, 0xaa, 0xaf, 0xb9, 0xba, 0xbb, 0xbc, 0xbf,
    0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf,
    0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
    0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef,
    0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
    0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x53, 0x5b, 0x5b, 0x5b, 0x5b, 0x6b, 0x6b, 0x6b, 0x6b,
    0x57, 0x7f, 0x81, 0x81, 0x81, 0x81, 0x81, 0xbd, 0x81, 0x9a, 0x9a, 0x9a, 0x9a, 0xaa, 0xb1, 0x97,
    0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x53, 0x5b, 0x5b, 0x5b, 0x5b, 0x6b, 0x6b, 0x6b, 0x6b,
    0x57, 0x7f, 0x81, 0x81, 0x81, 0x81, 0x81, 0xbe, 0x81, 0x9a, 0x9a, 0x9a, 0x9a, 0xaa, 0xb1, 0xaa,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{Charset, Collation, KeyType, KeyValue, key_hash};
    use Ordering::{Equal, Greater, Less};

    fn named(name: &str) -> SortCollation {
        SortCollation::from_name(name).unwrap_or_else(|| panic!("{name} is supported"))
    }

    fn key(collation: SortCollation, value: &str) -> Vec<u8> {
        let mut out = Vec::new();
        collation.equality_key(value.as_bytes(), &mut out);
        out
    }

    /// Checks `compare` both ways, and that the equality keys agree with it.
    #[track_caller]
    fn check(name: &str, a: &str, b: &str, expected: Ordering) {
        let collation = named(name);
        assert_eq!(
            collation.compare(a.as_bytes(), b.as_bytes()),
            expected,
            "{name}: {a:?} vs {b:?}"
        );
        assert_eq!(
            collation.compare(b.as_bytes(), a.as_bytes()),
            expected.reverse(),
            "{name}: {b:?} vs {a:?}"
        );
        assert_eq!(
            key(collation, a) == key(collation, b),
            expected == Equal,
            "{name}: keys of {a:?} and {b:?}"
        );
    }

    /// Checks that `values` are in strictly increasing order.
    #[track_caller]
    fn ascending(name: &str, values: &[&str]) {
        for pair in values.windows(2) {
            check(name, pair[0], pair[1], Less);
        }
    }

    #[test]
    fn names() {
        assert_eq!(
            SortCollation::from_name("UTF8MB4_General_CI"),
            Some(SortCollation::Utf8GeneralCi)
        );
        assert_eq!(
            SortCollation::from_name("utf8_general_ci"),
            Some(SortCollation::Utf8GeneralCi)
        );
        assert_eq!(
            SortCollation::from_name("utf8mb3_unicode_nopad_ci"),
            Some(SortCollation::Utf8UnicodeNopadCi)
        );
        assert_eq!(
            SortCollation::from_name("latin1_swedish_ci"),
            Some(SortCollation::Latin1SwedishCi)
        );
        for unsupported in [
            "",
            "utf8mb4",
            "latin1_german2_ci",
            "utf8mb4_unicode_520_ci",
            "utf8mb4_turkish_ci",
            "utf8mb4_0900_ai_ci",
            "ascii_general_ci",
            "utf8mb4_general_ci ",
        ] {
            assert_eq!(SortCollation::from_name(unsupported), None, "{unsupported}");
        }
        for &(name, collation) in &NAMES {
            assert_eq!(SortCollation::from_name(name), Some(collation));
            assert_eq!(
                SortCollation::from_name(collation.name()),
                Some(collation),
                "{name}"
            );
        }
        assert_eq!(SortCollation::Utf8GeneralCi.name(), "utf8mb4_general_ci");
    }

    #[test]
    fn binary_is_bytes_without_padding() {
        check("binary", "a", "a ", Less);
        check("binary", "a", "a\t", Less);
        check("binary", "A", "a", Less);
        check("binary", "", "\0", Less);
        check("binary", "abc", "abc", Equal);
        let binary = SortCollation::Binary;
        assert_eq!(binary.compare(b"\xff", b"a"), Greater);
        assert_eq!(binary.compare(b"\xc3\xa9", b"\xc3\xa8"), Greater);
        let mut out = Vec::new();
        binary.equality_key(b"a \xff ", &mut out);
        assert_eq!(out, b"a \xff ");
    }

    #[test]
    fn utf8_bin_is_code_points_padded_with_spaces() {
        check("utf8mb4_bin", "a", "a  ", Equal);
        check("utf8mb4_bin", "", "   ", Equal);
        // TAB and other controls weigh less than the padding space.
        check("utf8mb4_bin", "a\t", "a", Less);
        check("utf8mb4_bin", "a\u{1}", "a", Less);
        check("utf8mb4_bin", "a \t", "a", Less);
        check("utf8mb4_bin", "a\0", "a", Less);
        ascending(
            "utf8mb4_bin",
            &[
                "", "A", "B", "a", "z", "\u{e9}", "\u{ff}", "\u{20ac}", "\u{fffd}", "😀",
            ],
        );
        check("utf8mb4_bin", "a", "A", Greater);
        check("utf8mb4_nopad_bin", "a", "a ", Less);
        check("utf8mb4_nopad_bin", "a\t", "a", Greater);
        check("utf8mb4_nopad_bin", "\u{fffd}", "😀", Less);
    }

    #[test]
    fn general_ci_folds_case_and_latin_accents() {
        check("utf8mb4_general_ci", "abc", "ABC  ", Equal);
        check("utf8mb4_general_ci", "abc", "Àbç", Equal);
        check("utf8mb4_general_ci", "straße", "STRASE", Equal);
        check("utf8mb4_general_ci", "straße", "strasse", Less);
        check("utf8mb4_general_ci", "ı", "I", Equal);
        check("utf8mb4_general_ci", "\u{e9}", "\u{c8}", Equal);
        check("utf8mb4_general_ci", "a\t", "a", Less);
        check("utf8mb4_general_ci", "a\0", "a", Less);
        check("utf8mb4_general_ci", "a ", "a\t", Greater);
        // Every character above U+FFFF weighs 0xFFFD.
        check("utf8mb4_general_ci", "😀", "🐱", Equal);
        check("utf8mb4_general_ci", "x😀", "x\u{fffd}", Equal);
        check("utf8mb4_general_ci", "😀", "\u{ffff}", Less);
        ascending(
            "utf8mb4_general_ci",
            &["\t", "", " !", "0", "9", "a", "B", "Ý", "z", "_", "Þ", "中"],
        );
        check("utf8mb4_general_nopad_ci", "a", "A", Equal);
        check("utf8mb4_general_nopad_ci", "a", "A ", Less);
        check("utf8mb4_general_nopad_ci", "a\t", "a", Greater);
        check("utf8mb3_general_ci", "Ä", "a ", Equal);
    }

    #[test]
    fn unicode_ci_ignores_expands_and_pads_with_its_space_weight() {
        check("utf8mb4_unicode_ci", "straße", "STRASSE", Equal);
        check("utf8mb4_unicode_ci", "ßa", "ssa", Equal);
        check("utf8mb4_unicode_ci", "ß", "sa", Greater);
        check("utf8mb4_unicode_ci", "ß", "s", Greater);
        check("utf8mb4_unicode_ci", "ﬁle", "FILE", Equal);
        check("utf8mb4_unicode_ci", "ﬃ", "ffi ", Equal);
        // Ignorable: NUL, combining marks, zero-width space, BOM, soft hyphen.
        check("utf8mb4_unicode_ci", "a\0b", "ab", Equal);
        check("utf8mb4_unicode_ci", "a\u{301}", "á", Equal);
        check("utf8mb4_unicode_ci", "\u{200b}a\u{feff}", "A", Equal);
        check("utf8mb4_unicode_ci", "\u{0}", "", Equal);
        // No-break space, ideographic space and en quad weigh like a space.
        check("utf8mb4_unicode_ci", "a\u{a0}", "a", Equal);
        check("utf8mb4_unicode_ci", "a\u{3000}\u{2000}", "a", Equal);
        check("utf8mb4_unicode_ci", "a\u{a0}b", "a b", Equal);
        check("utf8mb4_unicode_ci", "a\u{a0}\t", "a", Less);
        check("utf8mb4_unicode_ci", "a\t", "a", Less);
        check("utf8mb4_unicode_ci", "ı", "i", Greater);
        // Every character above U+FFFF weighs 0xFFFD, which is not the weight of U+FFFD.
        check("utf8mb4_unicode_ci", "😀", "🐱", Equal);
        check("utf8mb4_unicode_ci", "\u{fffd}", "😀", Less);
        // CJK unified ideographs (implicit base 0xFB40) before extension A (0xFB80) before
        // code points without a table entry (0xFBC0 + code point / 0x8000; Hangul syllables
        // among them).
        ascending(
            "utf8mb4_unicode_ci",
            &[
                "\t", "", " -", "0", "a", "Z", "Ω", "Ж", "一", "中", "\u{3400}", "\u{378}", "한",
            ],
        );
        check("utf8mb4_unicode_nopad_ci", "a", "a ", Less);
        check("utf8mb4_unicode_nopad_ci", "a", "A\0", Equal);
        check("utf8mb4_unicode_nopad_ci", "a\u{a0}", "a", Greater);
        check("utf8mb3_unicode_ci", "ǅ", "dž", Equal);
    }

    #[test]
    fn latin1_collations_weigh_latin1_bytes() {
        // Swedish: Y = Ü, then Z < Å < Ä = Æ < Ö; the cp1252 letters are not folded.
        check("latin1_swedish_ci", "ü", "Y", Equal);
        check("latin1_swedish_ci", "Ä", "æ", Equal);
        ascending(
            "latin1_swedish_ci",
            &["Z", "Å", "Ä", "Ö", "€", "Š", "š", "ß", "ÿ"],
        );
        check("latin1_swedish_ci", "abc", "ÀBÇ  ", Equal);
        check("latin1_swedish_ci", "a\t", "a", Less);
        check("latin1_swedish_ci", "a\u{81}", "a", Greater);
        check("latin1_swedish_nopad_ci", "a", "A ", Less);
        // latin1_bin orders by latin1 byte: € (0x80) before é (0xE9), unlike Unicode.
        ascending(
            "latin1_bin",
            &["A", "a", "€", "\u{81}", "‚", "Ÿ", "\u{a0}", "é", "ÿ"],
        );
        check("latin1_bin", "a", "a ", Equal);
        check("latin1_nopad_bin", "a", "a ", Less);
        // latin1_general_ci folds case only; latin1_general_cs does not even that.
        ascending("latin1_general_ci", &["a", "à", "Á", "ä", "b"]);
        check("latin1_general_ci", "ä", "Ä", Equal);
        ascending("latin1_general_cs", &["A", "a", "À", "à", "B"]);
        check("latin1_german1_ci", "ß", "s", Equal);
        check("latin1_german1_ci", "Ä", "a", Equal);
        ascending("latin1_danish_ci", &["Z", "Æ", "Ø", "Å"]);
        check("latin1_spanish_ci", "ñ", "Ñ", Equal);
        ascending("latin1_spanish_ci", &["N", "ñ", "O"]);
        // A character latin1 cannot hold sorts after all of latin1, by code point.
        ascending("latin1_swedish_ci", &["ÿ", "Ā", "中", "😀"]);
    }

    #[test]
    fn characters_are_compared_whole_after_a_shared_prefix() {
        // é (C3 A9) and È (C3 88) share their first byte.
        check("utf8mb4_general_ci", "xé", "xÈ", Equal);
        check("utf8mb4_unicode_ci", "é", "È", Equal);
        check("latin1_swedish_ci", "é", "È", Equal);
        check("utf8mb4_general_ci", "中", "丰", Less);
        check("utf8mb4_unicode_ci", "中", "丰", Less);
    }

    #[test]
    fn invalid_utf8_has_a_deterministic_total_order() {
        let values: [&[u8]; 9] = [
            b"a\xff",
            b"a\xfe",
            b"a\xc3",
            b"a\xc3\xa9",
            b"a\xef\xbf\xbf",
            b"a\xed\xa0\x80",
            b"b",
            b"a",
            b"\x80",
        ];
        for &(_, collation) in &NAMES {
            for a in values {
                for b in values {
                    let order = collation.compare(a, b);
                    assert_eq!(order, collation.compare(b, a).reverse());
                    let (mut ka, mut kb) = (Vec::new(), Vec::new());
                    collation.equality_key(a, &mut ka);
                    collation.equality_key(b, &mut kb);
                    assert_eq!(ka == kb, order == Equal, "{collation:?} {a:?} {b:?}");
                }
            }
            // Invalid bytes weigh more than any character but do not hide what precedes them.
            assert_eq!(collation.compare(b"a\xff", b"b"), Less, "{collation:?}");
            assert_eq!(
                collation.compare(b"a\xff", "a\u{ffff}".as_bytes()),
                Greater,
                "{collation:?}"
            );
        }
        let general = SortCollation::Utf8GeneralCi;
        assert_eq!(general.compare(b"a\xc3", "a\u{e9}".as_bytes()), Greater);
        assert_eq!(general.compare(b"\xff", b"\xfe"), Greater);
    }

    // ---- properties, over generated inputs (deterministic seeds) ------------------------

    /// SplitMix64: a tiny deterministic generator for property checks.
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

        /// A short string over characters chosen to collide in many collations.
        fn text(&mut self) -> String {
            const POOL: &[char] = &[
                'a', 'A', 'á', 'Ä', 'b', 's', 'S', 'ß', 'y', 'ü', 'ﬁ', 'f', 'i', 'ı', ' ', ' ',
                '\t', '\0', '\u{1}', '\u{a0}', '\u{301}', '\u{200b}', '€', 'Š', '中', '😀',
                '\u{fffd}', '\u{ffff}', '~',
            ];
            (0..self.below(6))
                .map(|_| POOL[self.below(POOL.len())])
                .collect()
        }
    }

    const CASES: usize = 3000;

    #[test]
    fn property_compare_is_a_total_order_and_keys_match_it() {
        let mut rng = Gen(11);
        for &(name, collation) in &NAMES {
            let mut values: Vec<String> = (0..200).map(|_| rng.text()).collect();
            values.sort_by(|a, b| collation.compare(a.as_bytes(), b.as_bytes()));
            // Sorted: every earlier value is at most every later one (checks transitivity).
            for (i, a) in values.iter().enumerate() {
                for b in &values[i + 1..] {
                    let order = collation.compare(a.as_bytes(), b.as_bytes());
                    assert_ne!(order, Greater, "{name}: {a:?} > {b:?} after sorting");
                    assert_eq!(
                        key(collation, a) == key(collation, b),
                        order == Equal,
                        "{name}: {a:?} {b:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn property_equality_agrees_with_placement() {
        // `crate::hash` places equal values alike; it was checked against MariaDB separately.
        let pairs = [
            (
                SortCollation::Utf8Bin,
                Collation::Bin {
                    charset: Charset::Utf8mb4,
                },
            ),
            (
                SortCollation::Utf8GeneralCi,
                Collation::GeneralCi {
                    charset: Charset::Utf8mb4,
                },
            ),
            (
                SortCollation::Utf8UnicodeCi,
                Collation::UnicodeCi {
                    charset: Charset::Utf8mb4,
                },
            ),
            (SortCollation::Binary, Collation::Binary),
        ];
        let mut rng = Gen(12);
        for _ in 0..CASES {
            let (a, b) = (rng.text(), rng.text());
            for (sort, placement) in pairs {
                let hash = |v: &str| {
                    key_hash(
                        &KeyType::String {
                            collation: placement,
                        },
                        &KeyValue::Str(v.as_bytes()),
                    )
                };
                assert_eq!(
                    sort.compare(a.as_bytes(), b.as_bytes()) == Equal,
                    hash(&a) == hash(&b),
                    "{sort:?}: {a:?} {b:?}"
                );
            }
        }
    }

    #[test]
    fn property_compare_agrees_with_padded_weight_vectors() {
        let pairs = [
            (
                SortCollation::Utf8GeneralCi,
                Collation::GeneralCi {
                    charset: Charset::Utf8mb4,
                },
                0x20,
            ),
            (
                SortCollation::Utf8UnicodeCi,
                Collation::UnicodeCi {
                    charset: Charset::Utf8mb4,
                },
                0x209,
            ),
            (
                SortCollation::Utf8Bin,
                Collation::Bin {
                    charset: Charset::Utf8mb4,
                },
                0x20,
            ),
        ];
        let mut rng = Gen(13);
        for _ in 0..CASES {
            let (a, b) = (rng.text(), rng.text());
            for (sort, placement, space) in pairs {
                let weights = |v: &str| {
                    let mut weights = placement.weights(v.as_bytes()).unwrap_or_default();
                    weights.resize(16 * 6, space);
                    weights
                };
                assert_eq!(
                    sort.compare(a.as_bytes(), b.as_bytes()),
                    weights(&a).cmp(&weights(&b)),
                    "{sort:?}: {a:?} {b:?}"
                );
            }
        }
    }
}
