//! Exact numbers for cross-shard aggregates, and the text MariaDB 10.11 prints for them.
//!
//! The merge recomputes SUM, COUNT, AVG, MIN and MAX from the partial results of several
//! shards and must send what one server holding every row would have sent. This module owns
//! the arithmetic ([`Decimal`]: exact, unbounded, MariaDB's rounding) and the number formats
//! of MariaDB's text protocol ([`format_double`], [`format_float`], [`format_double_fixed`]).
//! It knows nothing of rows, columns or packets: the caller reads the result type and its
//! `decimals` from the column definition a shard returned.
//!
//! # What MariaDB 10.11 returns (checked against a real server by `tests/number_format.rs`)
//!
//! Result types, as the column definition shows them (type, `decimals`):
//!
//! | aggregate | result |
//! |---|---|
//! | `COUNT(*)`, `COUNT(x)` | LONGLONG (signed), decimals 0, NOT NULL |
//! | `MIN`/`MAX` of a column | the column's own type, flags and decimals (INT → LONG, BIGINT UNSIGNED → LONGLONG UNSIGNED, FLOAT → FLOAT, DOUBLE(10,3) → DOUBLE with decimals 3, DECIMAL(p,s) → NEWDECIMAL s) |
//! | `SUM` of an integer column (any size, signed or not) | NEWDECIMAL, decimals 0, precision = the column's digits + 22 (INT → 32, BIGINT → 41, BIGINT UNSIGNED → 42) |
//! | `SUM` of DECIMAL(p,s) | NEWDECIMAL, decimals s, precision min(p + 22, 65) |
//! | `SUM` of DOUBLE or FLOAT | DOUBLE, decimals 31 ("not fixed"); DOUBLE(m,d) and FLOAT(m,d) give decimals d |
//! | `AVG` of an integer column | NEWDECIMAL, decimals 4 |
//! | `AVG` of DECIMAL(p,s) | NEWDECIMAL, decimals min(s + 4, 38) (4 is `div_precision_increment`) |
//! | `AVG` of DOUBLE or FLOAT | DOUBLE, decimals 31; DOUBLE(m,d) and FLOAT(m,d) give d + 4, or 31 once that reaches 31 |
//!
//! No aggregate of an integer or DECIMAL column carries the UNSIGNED flag except MIN/MAX.
//!
//! A DECIMAL SUM without GROUP BY is never cut to its declared precision: the sum of two
//! DECIMAL(65,0) values 10^65 − 1 is printed with all 66 digits, so [`Decimal`] has no size
//! limit. A *grouped* SUM (computed through a temporary table) is clipped to the largest
//! value of its DECIMAL(65,s) type after every row and goes on from there (10^65 − 1,
//! 10^65 − 1, −5 sums to 10^65 − 6), which depends on row order: partial sums cannot
//! reproduce that, the merge is only exact while the sum fits its 65 digits.
//!
//! How AVG over integers and DECIMAL is computed: the server divides the exact sum by the
//! count, keeping the quotient's digits after the point in whole 9-digit words and
//! *truncating* the rest, then rounds that quotient half away from zero to the result's
//! `decimals`. When `decimals` is itself a multiple of 9 (DECIMAL(p,5), (p,14), (p,23),
//! (p,32), so 9, 18, 27, 36) there is no digit left to round with and AVG is the truncated
//! quotient: AVG of 0.00002, 0, 0 in DECIMAL(10,5) is `0.000006666`, not `0.000006667`.
//! Otherwise AVG is the exactly rounded quotient, halves away from zero
//! ([`Decimal::div_round`]); this holds for any `div_precision_increment`, and at the cap of
//! 38 decimals the server keeps at least 45 digits, so it rounds. [`Decimal::avg`] applies
//! the rule from `decimals` alone. A truncated negative quotient keeps its sign even when all
//! its digits are zero (`-0.000000000`); a quotient rounded to zero is printed without a
//! sign (`0.000000`).
//!
//! DOUBLE text: the shortest digits that read back as the same double (`0.30000000000000004`),
//! the even one of two equally near candidates (`1000000000000000.2` for
//! 1000000000000000.25), in fixed notation for decimal exponents −14..=15 (`0.000000000000001`,
//! `123456789012345`), otherwise `1e15`, `1.2345678901234568e20`, `5e-324` (no `+`, no
//! exponent padding); a negative zero prints as `0`, and DOUBLE and FLOAT columns store −0 as
//! 0. FLOAT text is the value rounded half to even to 6 significant digits (`1.23457`,
//! `16777200`, `123456` for 123456.5). A DOUBLE or FLOAT result whose `decimals` is below 31
//! is printed with exactly that many digits after the point, rounded half to even on the
//! exact binary value (AVG of 0.125 and 31 zeros in DOUBLE(10,3) is `0.0039062`); a negative
//! value that rounds to zero keeps its sign there (`-0.000`).
//!
//! What cannot be merged exactly: a SUM or AVG of DOUBLE/FLOAT is a floating-point sum in
//! the server's row order, so adding per-shard partial sums may differ in the last bits.

use std::cmp::Ordering;

/// The base of [`Decimal`]'s limbs: a power of ten keeps parsing, printing and moving the
/// point by whole digits linear in the number's length.
const BASE: u32 = 1_000_000_000;
/// Decimal digits per limb.
const LIMB_DIGITS: u32 = 9;
/// 10^i for i in 0..=9.
const POW10: [u32; 10] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
];

/// An exact decimal number of up to 65 digits before and 38+ after the point (MariaDB
/// DECIMAL), also used for integer sums that overflow i64/u64.
///
/// There is no size limit: partial sums of huge values may grow past 65 digits, as they do
/// on the server. The number remembers its scale (digits after the point) for printing and
/// for MariaDB's sign rules, but compares numerically: `1.50 == 1.5` and `-0 == 0`.
#[derive(Clone, Debug)]
pub struct Decimal {
    /// The sign. A zero may be negative: MariaDB prints such a truncated quotient as `-0.00`.
    negative: bool,
    /// |value| × 10^scale in base 10^9 limbs, least significant first, no zero limb at the
    /// top (empty for zero).
    magnitude: Vec<u32>,
    /// Digits after the point.
    scale: u32,
}

impl Decimal {
    /// Parses the text MariaDB sends for a DECIMAL or integer value: `-12.3400`, `0`,
    /// `18446744073709551615`; a leading `+` and a missing integer or fraction part (`.5`,
    /// `5.`) are accepted, an exponent is not. The scale is the number of digits after the
    /// point as written.
    pub fn parse(text: &[u8]) -> Option<Decimal> {
        let (negative, unsigned) = match text.split_first() {
            Some((b'-', rest)) => (true, rest),
            Some((b'+', rest)) => (false, rest),
            _ => (false, text),
        };
        let (int_part, frac_part) = match unsigned.iter().position(|&b| b == b'.') {
            Some(dot) => (&unsigned[..dot], &unsigned[dot + 1..]),
            None => (unsigned, &[][..]),
        };
        let all_digits = |part: &[u8]| part.iter().all(u8::is_ascii_digit);
        if int_part.len() + frac_part.len() == 0 || !all_digits(int_part) || !all_digits(frac_part)
        {
            return None;
        }
        let scale = u32::try_from(frac_part.len()).ok()?;
        let digits: Vec<u8> = int_part.iter().chain(frac_part).copied().collect();
        Some(Decimal::from_parts(
            negative,
            magnitude_from_digits(&digits),
            scale,
        ))
    }

    /// The integer `v`.
    pub fn from_i64(v: i64) -> Decimal {
        Decimal::from_parts(v < 0, magnitude_from_u128(u128::from(v.unsigned_abs())), 0)
    }

    /// The integer `v`.
    pub fn from_u64(v: u64) -> Decimal {
        Decimal::from_parts(false, magnitude_from_u128(u128::from(v)), 0)
    }

    /// Digits after the point: as parsed, the larger of a sum's operands, or the scale a
    /// quotient was computed to.
    pub fn scale(&self) -> u32 {
        self.scale
    }

    /// The exact sum, with the larger scale of the two. As in MariaDB, the sum of two
    /// negative zeros stays a negative zero and any other zero sum is positive.
    pub fn add(&self, other: &Decimal) -> Decimal {
        let scale = self.scale.max(other.scale);
        let a = self.magnitude_at(scale);
        let b = other.magnitude_at(scale);
        if self.negative == other.negative {
            return Decimal::from_parts(self.negative, add_magnitudes(&a, &b), scale);
        }
        match compare_magnitudes(&a, &b) {
            Ordering::Equal => Decimal::from_parts(false, Vec::new(), scale),
            Ordering::Greater => Decimal::from_parts(self.negative, sub_magnitudes(&a, &b), scale),
            Ordering::Less => Decimal::from_parts(other.negative, sub_magnitudes(&b, &a), scale),
        }
    }

    /// self / divisor rounded to `scale` digits after the point, halves away from zero
    /// (MariaDB's decimal rounding). A result that rounds to zero is a positive zero.
    ///
    /// A divisor of 0 gives zero: an empty group's AVG is NULL, which the caller decides.
    pub fn div_round(&self, divisor: u64, scale: u32) -> Decimal {
        // Truncating at one digit or more past `scale` and then rounding half up on the
        // truncated digits is exact: truncation cannot cross the half-way point.
        self.div_truncate(divisor, self.scale.max(scale + 1))
            .rounded(scale)
    }

    /// AVG over integers or DECIMAL as MariaDB computes it from the total SUM (`self`) and
    /// COUNT, given the `decimals` of the AVG column definition: truncated to `decimals`
    /// digits when `decimals` is a multiple of 9, otherwise [`Decimal::div_round`] (see the
    /// module documentation).
    pub fn avg(&self, count: u64, decimals: u32) -> Decimal {
        if decimals.is_multiple_of(LIMB_DIGITS) {
            self.div_truncate(count, decimals)
        } else {
            self.div_round(count, decimals)
        }
    }

    /// Text with exactly `scale` digits after the point (no point when 0), as MariaDB prints
    /// a DECIMAL(p, scale) result. Extra digits are rounded half away from zero; a value
    /// rounded to zero loses its sign, a negative zero that needs no rounding keeps it.
    pub fn to_text(&self, scale: u32) -> String {
        let value = self.rounded(scale);
        let digits = digits_of(&value.magnitude);
        let scale = scale as usize;
        let mut text = String::with_capacity(digits.len() + scale + 3);
        if value.negative {
            text.push('-');
        }
        let padded = if digits.len() <= scale {
            let mut padded = "0".repeat(scale + 1 - digits.len());
            padded.push_str(&digits);
            padded
        } else {
            digits
        };
        let (int_part, frac_part) = padded.split_at(padded.len() - scale);
        text.push_str(int_part);
        if scale > 0 {
            text.push('.');
            text.push_str(frac_part);
        }
        text
    }

    fn from_parts(negative: bool, mut magnitude: Vec<u32>, scale: u32) -> Decimal {
        trim(&mut magnitude);
        Decimal {
            negative,
            magnitude,
            scale,
        }
    }

    fn is_zero(&self) -> bool {
        self.magnitude.is_empty()
    }

    /// The magnitude at a scale at least `self.scale`.
    fn magnitude_at(&self, scale: u32) -> Vec<u32> {
        let mut magnitude = self.magnitude.clone();
        shift_up(&mut magnitude, scale.saturating_sub(self.scale));
        magnitude
    }

    /// Rounded (half away from zero) or padded to `scale` digits after the point.
    fn rounded(&self, scale: u32) -> Decimal {
        if scale >= self.scale {
            return Decimal::from_parts(self.negative, self.magnitude_at(scale), scale);
        }
        let mut magnitude = self.magnitude.clone();
        if shift_down(&mut magnitude, self.scale - scale) {
            mul_add_small(&mut magnitude, 1, 1);
        }
        let negative = self.negative && !magnitude.is_empty();
        Decimal::from_parts(negative, magnitude, scale)
    }

    /// self / divisor truncated toward zero to `scale` digits after the point. The sign is
    /// kept on a zero quotient of a non-zero dividend, as MariaDB's division does.
    fn div_truncate(&self, divisor: u64, scale: u32) -> Decimal {
        if divisor == 0 {
            return Decimal::from_parts(false, Vec::new(), scale);
        }
        let mut magnitude = self.magnitude.clone();
        if scale >= self.scale {
            shift_up(&mut magnitude, scale - self.scale);
        } else {
            // floor(floor(m / 10^k) / d) == floor(m / (10^k d))
            shift_down(&mut magnitude, self.scale - scale);
        }
        div_small(&mut magnitude, divisor);
        Decimal::from_parts(self.negative && !self.is_zero(), magnitude, scale)
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Decimal {}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        let self_negative = self.negative && !self.is_zero();
        let other_negative = other.negative && !other.is_zero();
        match (self_negative, other_negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            _ => {
                let scale = self.scale.max(other.scale);
                let order =
                    compare_magnitudes(&self.magnitude_at(scale), &other.magnitude_at(scale));
                if self_negative {
                    order.reverse()
                } else {
                    order
                }
            }
        }
    }
}

// ---- magnitudes: base 10^9 limbs, least significant first ----------------------------------

fn trim(magnitude: &mut Vec<u32>) {
    while magnitude.last() == Some(&0) {
        magnitude.pop();
    }
}

fn limb(value: u64) -> u32 {
    // Callers pass values below BASE.
    u32::try_from(value % u64::from(BASE)).unwrap_or(0)
}

fn magnitude_from_u128(mut value: u128) -> Vec<u32> {
    let mut magnitude = Vec::new();
    while value > 0 {
        magnitude.push(u32::try_from(value % u128::from(BASE)).unwrap_or(0));
        value /= u128::from(BASE);
    }
    magnitude
}

/// The magnitude of a string of ASCII digits.
fn magnitude_from_digits(digits: &[u8]) -> Vec<u32> {
    let mut magnitude: Vec<u32> = digits
        .rchunks(LIMB_DIGITS as usize)
        .map(|chunk| {
            chunk
                .iter()
                .fold(0u32, |acc, &digit| acc * 10 + u32::from(digit - b'0'))
        })
        .collect();
    trim(&mut magnitude);
    magnitude
}

/// The decimal digits of a magnitude, without leading zeros (empty for zero).
fn digits_of(magnitude: &[u32]) -> String {
    let mut digits = String::with_capacity(magnitude.len() * LIMB_DIGITS as usize);
    if let Some((top, rest)) = magnitude.split_last() {
        digits.push_str(&top.to_string());
        for limb in rest.iter().rev() {
            digits.push_str(&format!("{limb:09}"));
        }
    }
    digits
}

/// magnitude × factor + addend, for factor and addend up to 2^32 − 1.
fn mul_add_small(magnitude: &mut Vec<u32>, factor: u32, addend: u32) {
    let mut carry = u64::from(addend);
    for limb_value in magnitude.iter_mut() {
        let product = u64::from(*limb_value) * u64::from(factor) + carry;
        *limb_value = limb(product);
        carry = product / u64::from(BASE);
    }
    while carry > 0 {
        magnitude.push(limb(carry));
        carry /= u64::from(BASE);
    }
    trim(magnitude);
}

/// magnitude × 10^k.
fn shift_up(magnitude: &mut Vec<u32>, k: u32) {
    if magnitude.is_empty() || k == 0 {
        return;
    }
    mul_add_small(magnitude, POW10[(k % LIMB_DIGITS) as usize], 0);
    let limbs = (k / LIMB_DIGITS) as usize;
    magnitude.splice(0..0, std::iter::repeat_n(0, limbs));
}

/// floor(magnitude / 10^k); returns whether the dropped digits were at least half of 10^k.
fn shift_down(magnitude: &mut Vec<u32>, k: u32) -> bool {
    if k == 0 {
        return false;
    }
    let round_digit = magnitude
        .get(((k - 1) / LIMB_DIGITS) as usize)
        .map_or(0, |limb| {
            limb / POW10[((k - 1) % LIMB_DIGITS) as usize] % 10
        });
    let limbs = (k / LIMB_DIGITS) as usize;
    if limbs >= magnitude.len() {
        magnitude.clear();
    } else {
        magnitude.drain(..limbs);
        div_small(magnitude, u64::from(POW10[(k % LIMB_DIGITS) as usize]));
    }
    round_digit >= 5
}

/// magnitude / divisor in place (divisor > 0); returns the remainder.
fn div_small(magnitude: &mut Vec<u32>, divisor: u64) -> u64 {
    let divisor = u128::from(divisor);
    let mut remainder: u128 = 0;
    for limb_value in magnitude.iter_mut().rev() {
        let current = remainder * u128::from(BASE) + u128::from(*limb_value);
        // remainder < divisor, so the quotient digit is below BASE.
        *limb_value = u32::try_from(current / divisor).unwrap_or(0);
        remainder = current % divisor;
    }
    trim(magnitude);
    u64::try_from(remainder).unwrap_or(0)
}

fn compare_magnitudes(a: &[u32], b: &[u32]) -> Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.iter().rev().cmp(b.iter().rev()))
}

fn add_magnitudes(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut sum = Vec::with_capacity(a.len().max(b.len()) + 1);
    let mut carry = 0u32;
    for i in 0..a.len().max(b.len()) {
        let total = a.get(i).copied().unwrap_or(0) + b.get(i).copied().unwrap_or(0) + carry;
        carry = u32::from(total >= BASE);
        sum.push(total - carry * BASE);
    }
    if carry > 0 {
        sum.push(carry);
    }
    sum
}

/// a − b for a ≥ b.
fn sub_magnitudes(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut difference = Vec::with_capacity(a.len());
    let mut borrow = 0u32;
    for (i, &a_limb) in a.iter().enumerate() {
        let subtrahend = b.get(i).copied().unwrap_or(0) + borrow;
        if a_limb >= subtrahend {
            difference.push(a_limb - subtrahend);
            borrow = 0;
        } else {
            difference.push(a_limb + BASE - subtrahend);
            borrow = 1;
        }
    }
    trim(&mut difference);
    difference
}

// ---- DOUBLE and FLOAT text -----------------------------------------------------------------

/// `decimals` at and above which a DOUBLE/FLOAT is printed in its shortest form
/// (NOT_FIXED_DEC, FLOATING_POINT_DECIMALS in the server).
const NOT_FIXED_DECIMALS: u32 = 31;
/// Significant digits of a FLOAT's text (FLT_DIG).
const FLOAT_DIGITS: usize = 6;
/// Fixed notation is used for decimal exponents in -14..=15 (DBL_DIG = 15, the server's
/// MAX_DECPT_FOR_F_FORMAT), scientific notation outside.
const MAX_DECPT_FOR_F_FORMAT: i32 = 15;

/// Decimal digits of a finite non-zero |v|: |v| = 0.DIGITS × 10^decpt, digits without
/// leading or trailing zeros (empty when rounding left nothing).
#[derive(Debug, PartialEq)]
struct Digits {
    digits: Vec<u8>,
    decpt: i32,
}

impl Digits {
    /// The shortest digits that read back as `v`, chosen as the server's dtoa (mode 0)
    /// chooses them: Rust's shortest round trip, except where two shortest candidates are
    /// equally near the exact value (1000000000000000.25): Rust takes the upper one, dtoa
    /// the one ending in an even digit (`1000000000000000.2`).
    fn shortest(v: f64) -> Digits {
        let text = format!("{:e}", v.abs());
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
        let exponent: i32 = exponent.parse().unwrap_or(0);
        let mut shortest = Digits {
            digits,
            decpt: exponent + 1,
        };
        shortest.trim_zeros();
        let odd = shortest.digits.last().is_some_and(|d| (d - b'0') % 2 == 1);
        if odd && let Some(even) = shortest.even_neighbour_at_tie(v) {
            return even;
        }
        shortest
    }

    /// When |v| lies exactly half a last-place unit away from these digits, the digits on
    /// the other side of it (one unit down or up), if they also read back as `v`.
    fn even_neighbour_at_tie(&self, v: f64) -> Option<Digits> {
        // Cheap test first: with |v| = m × 2^e, m odd and e < 0, the exact expansion has
        // exactly -e digits after the point, and a tie needs it to end one digit after ours.
        let (mantissa, exponent) = binary_parts(v);
        let odd_exponent = exponent + i32::try_from(mantissa.trailing_zeros()).unwrap_or(0);
        let tie_digits = i64::from(self.len()) + 1 - i64::from(self.decpt);
        if odd_exponent < 0 && i64::from(odd_exponent) != -tie_digits {
            return None;
        }
        let exact = Digits::exact(v);
        let mut below = self.digits.clone();
        for digit in below.iter_mut().rev() {
            if *digit == b'0' {
                *digit = b'9';
            } else {
                *digit -= 1;
                break;
            }
        }
        let half_below = Digits::new([&below[..], b"5"].concat(), self.decpt);
        let half_above = Digits::new([&self.digits[..], b"5"].concat(), self.decpt);
        let neighbour = if exact == half_below {
            Digits::new(below, self.decpt)
        } else if exact == half_above {
            let mut above = Digits::new(self.digits.clone(), self.decpt);
            above.add_last_unit();
            above.trim_zeros();
            above
        } else {
            return None;
        };
        let text = format!(
            "0.{}e{}",
            String::from_utf8_lossy(&neighbour.digits),
            neighbour.decpt
        );
        let reads_back = text.parse::<f64>().ok() == Some(v.abs());
        reads_back.then_some(neighbour)
    }

    /// Digits with leading and trailing zeros removed.
    fn new(digits: Vec<u8>, decpt: i32) -> Digits {
        let mut new = Digits { digits, decpt };
        new.trim_zeros();
        new
    }

    /// The exact decimal expansion of |v| (finite).
    fn exact(v: f64) -> Digits {
        let (mantissa, exponent) = binary_parts(v);
        // |v| = mantissa × 2^exponent = mantissa × 5^-exponent / 10^-exponent when negative.
        let mut magnitude = magnitude_from_u128(u128::from(mantissa));
        let mut remaining = exponent.unsigned_abs();
        let (step, factor) = if exponent >= 0 {
            (29, 1 << 29)
        } else {
            (13, 1_220_703_125)
        };
        while remaining > 0 {
            let now = remaining.min(step);
            let multiplier = if now == step {
                factor
            } else if exponent >= 0 {
                1 << now
            } else {
                5u32.pow(now)
            };
            mul_add_small(&mut magnitude, multiplier, 0);
            remaining -= now;
        }
        let scale = if exponent >= 0 {
            0
        } else {
            exponent.unsigned_abs()
        };
        let digits = digits_of(&magnitude).into_bytes();
        let decpt = i32::try_from(digits.len()).unwrap_or(i32::MAX)
            - i32::try_from(scale).unwrap_or(i32::MAX);
        Digits::new(digits, decpt)
    }

    /// Keeps `keep` digits, rounding half to even on the dropped ones (all of them, exact).
    fn round_half_even(&mut self, keep: usize) {
        if keep >= self.digits.len() {
            return;
        }
        let dropped = &self.digits[keep..];
        let round_up = match dropped[0].cmp(&b'5') {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => {
                dropped[1..].iter().any(|&digit| digit != b'0')
                    || keep > 0 && (self.digits[keep - 1] - b'0') % 2 == 1
            }
        };
        self.digits.truncate(keep);
        if round_up {
            self.add_last_unit();
        }
        self.trim_zeros();
    }

    /// Adds one unit in the last digit's place (9.99 → 10.00, trailing zeros kept).
    fn add_last_unit(&mut self) {
        for digit in self.digits.iter_mut().rev() {
            if *digit == b'9' {
                *digit = b'0';
            } else {
                *digit += 1;
                return;
            }
        }
        self.digits.insert(0, b'1');
        self.decpt += 1;
    }

    /// Rounds half to even to `decimals` digits after the point.
    fn round_to_decimals(&mut self, decimals: u32) {
        let keep = i64::from(self.decpt) + i64::from(decimals);
        if keep < 0 {
            self.digits.clear();
            return;
        }
        if keep == 0 {
            // Only a value above half a unit rounds up to one unit (0.5 goes to even 0).
            let above_half = self.digits.first().is_some_and(|&d| d > b'5')
                || self.digits.first() == Some(&b'5') && self.digits.len() > 1;
            self.digits.clear();
            if above_half {
                self.digits.push(b'1');
                self.decpt += 1;
            }
            return;
        }
        self.round_half_even(usize::try_from(keep).unwrap_or(usize::MAX));
    }

    fn trim_zeros(&mut self) {
        while self.digits.last() == Some(&b'0') {
            self.digits.pop();
        }
        let leading = self.digits.iter().take_while(|&&d| d == b'0').count();
        if leading > 0 {
            self.digits.drain(..leading);
            self.decpt -= i32::try_from(leading).unwrap_or(0);
        }
    }

    fn len(&self) -> i32 {
        i32::try_from(self.digits.len()).unwrap_or(i32::MAX)
    }

    /// The server's my_gcvt layout: fixed notation for decimal exponents in -14..=15 (and
    /// for longer numbers with a fraction), scientific otherwise. The field widths the
    /// server passes (341 characters for DOUBLE, 69 for FLOAT) never bind for f64/f32.
    fn general_text(&self, negative: bool) -> String {
        let mut text = String::new();
        if negative {
            text.push('-');
        }
        let len = self.len();
        let fixed = self.decpt > -MAX_DECPT_FOR_F_FORMAT
            && (self.decpt <= MAX_DECPT_FOR_F_FORMAT || len > self.decpt);
        if fixed {
            self.push_fixed(&mut text);
            return text;
        }
        let (first, rest) = self.digits.split_first().unwrap_or((&b'0', &[]));
        text.push(char::from(*first));
        if !rest.is_empty() {
            text.push('.');
            text.extend(rest.iter().map(|&d| char::from(d)));
        }
        text.push('e');
        text.push_str(&(self.decpt - 1).to_string());
        text
    }

    /// The digits in fixed notation, without trailing zeros after the point.
    fn push_fixed(&self, text: &mut String) {
        let len = self.len();
        if self.decpt <= 0 {
            text.push_str("0.");
            text.extend(std::iter::repeat_n('0', self.decpt.unsigned_abs() as usize));
        }
        for (i, &digit) in self.digits.iter().enumerate() {
            text.push(char::from(digit));
            if i32::try_from(i + 1).unwrap_or(i32::MAX) == self.decpt && self.decpt < len {
                text.push('.');
            }
        }
        if self.decpt > len {
            text.extend(std::iter::repeat_n(
                '0',
                (self.decpt - len).unsigned_abs() as usize,
            ));
        }
    }
}

/// |v| = mantissa × 2^exponent, for finite v.
fn binary_parts(v: f64) -> (u64, i32) {
    let bits = v.abs().to_bits();
    let biased_exponent = i32::try_from(bits >> 52).unwrap_or(0);
    let fraction = bits & ((1 << 52) - 1);
    if biased_exponent == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased_exponent - 1075)
    }
}

/// A DOUBLE result as MariaDB 10.11 prints it in a text result set when its `decimals` is
/// 31 (plain DOUBLE columns, SUM/AVG of DOUBLE and FLOAT): `0.30000000000000004`, `1e20`,
/// `0.00000015`, `1.2345678901234568e20`, `3`; `-0` prints as `0`. Infinities and NaN,
/// which the server never holds, print as `0` as its my_gcvt does.
pub fn format_double(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return "0".to_owned();
    }
    Digits::shortest(v).general_text(v < 0.0)
}

/// A FLOAT result (decimals 31) as MariaDB 10.11 prints it: the float's value rounded half
/// to even to 6 significant digits (`1.23457`, `16777200`, `3.4e38`), laid out as
/// [`format_double`] does.
pub fn format_float(v: f32) -> String {
    let v = f64::from(v);
    if !v.is_finite() || v == 0.0 {
        return "0".to_owned();
    }
    // The server asks for the shortest digits limited to 6; the 6-digit grid is so much
    // coarser than a double's precision that this is the exact value rounded to 6 digits.
    let mut digits = Digits::exact(v);
    digits.round_half_even(FLOAT_DIGITS);
    digits.general_text(v < 0.0)
}

/// A DOUBLE (or FLOAT, widened) result with `decimals` digits after the point, as MariaDB
/// prints DOUBLE(m,d) columns and aggregates whose column definition has `decimals` below
/// 31 (`SUM(x)` of DOUBLE(10,3) → `4.000`). Digits beyond `decimals` are rounded half to
/// even on the exact binary value, unless the shortest round-trip digits already fit (the
/// server's my_fcvt). A negative value that rounds to zero keeps its sign (`-0.000`), `-0`
/// does not. `decimals` of 31 and more means [`format_double`].
///
/// With `decimals` 0, a non-zero value that rounds to zero prints as `0.` (`-0.`), as the
/// server's my_fcvt writes it; no query found so far produces that case (a DOUBLE with 0
/// decimals holds integers), so it is taken from the server's source, not from a server.
pub fn format_double_fixed(v: f64, decimals: u32) -> String {
    if decimals >= NOT_FIXED_DECIMALS {
        return format_double(v);
    }
    let mut text = String::new();
    let digits = if !v.is_finite() || v == 0.0 {
        Digits {
            digits: vec![b'0'],
            decpt: 1,
        }
    } else {
        if v < 0.0 {
            text.push('-');
        }
        let shortest = Digits::shortest(v);
        if i64::from(shortest.len()) - i64::from(shortest.decpt) <= i64::from(decimals) {
            shortest
        } else {
            let mut exact = Digits::exact(v);
            exact.round_to_decimals(decimals);
            if exact.digits.is_empty() {
                // Nothing left (my_fcvt's "no digits" case): the point sits after
                // `decimals` zeros, so the text is `0.000` (and `0.` when decimals is 0).
                exact.decpt = -i32::try_from(decimals).unwrap_or(0);
            }
            exact
        }
    };
    digits.push_fixed(&mut text);
    let fraction_digits = (digits.len() - digits.decpt).max(0).unsigned_abs();
    if decimals > 0 {
        if digits.len() <= digits.decpt {
            text.push('.');
        }
        let padding = decimals.saturating_sub(fraction_digits) as usize;
        text.extend(std::iter::repeat_n('0', padding));
    }
    text
}

/// Parses a text-protocol DOUBLE/FLOAT value (`-1.5e-7`, `0.30000000000000004`, `1e20`).
/// Infinities, NaN and anything that is not a decimal number are refused.
pub fn parse_double(text: &[u8]) -> Option<f64> {
    let mut rest = text;
    if let Some((b'-' | b'+', after)) = rest.split_first() {
        rest = after;
    }
    let int_digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    rest = &rest[int_digits..];
    let mut frac_digits = 0;
    if let Some((b'.', after)) = rest.split_first() {
        frac_digits = after.iter().take_while(|b| b.is_ascii_digit()).count();
        rest = &after[frac_digits..];
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if let Some((b'e' | b'E', after)) = rest.split_first() {
        rest = after;
        if let Some((b'-' | b'+', after)) = rest.split_first() {
            rest = after;
        }
        let exponent_digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if exponent_digits == 0 {
            return None;
        }
        rest = &rest[exponent_digits..];
    }
    if !rest.is_empty() {
        return None;
    }
    let value: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    value.is_finite().then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dec(text: &str) -> Decimal {
        match Decimal::parse(text.as_bytes()) {
            Some(value) => value,
            None => panic!("{text} does not parse"),
        }
    }

    /// `m` × 10^-scale as MariaDB prints it: the reference for the property tests.
    fn reference_text(m: i128, scale: u32) -> String {
        let digits = format!("{:0>width$}", m.unsigned_abs(), width = scale as usize + 1);
        let (int_part, frac_part) = digits.split_at(digits.len() - scale as usize);
        let sign = if m < 0 { "-" } else { "" };
        if scale == 0 {
            format!("{sign}{int_part}")
        } else {
            format!("{sign}{int_part}.{frac_part}")
        }
    }

    /// n / d rounded half away from zero (d > 0).
    fn reference_div_round(n: i128, d: i128) -> i128 {
        let (q, r) = (n / d, n % d);
        if 2 * r.abs() >= d { q + n.signum() } else { q }
    }

    #[test]
    fn parses_and_prints_mariadb_decimal_text() {
        for (text, scale, printed) in [
            ("-12.3400", 4, "-12.3400"),
            ("0", 0, "0"),
            ("18446744073709551615", 0, "18446744073709551615"),
            ("+5", 0, "5"),
            (".5", 1, "0.5"),
            ("5.", 0, "5"),
            ("007.10", 2, "7.10"),
            ("-0.00", 2, "-0.00"),
            ("0.000000001", 9, "0.000000001"),
            ("1234567890.123456789", 9, "1234567890.123456789"),
        ] {
            let value = dec(text);
            assert_eq!(value.scale(), scale, "{text}");
            assert_eq!(value.to_text(scale), printed, "{text}");
        }
        for bad in [
            "", "-", ".", "1e5", "1.2.3", "--1", "1 ", " 1", "0x10", "1,5", "+-1",
        ] {
            assert_eq!(Decimal::parse(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn holds_more_than_65_digits() {
        let nines = "9".repeat(65);
        let sum = dec(&nines).add(&dec(&nines));
        assert_eq!(sum.to_text(0), format!("1{}8", "9".repeat(64)));
        let y = format!("{}.{}", "9".repeat(35), "9".repeat(30));
        let sum = dec(&y).add(&dec(&y));
        assert_eq!(
            sum.to_text(30),
            format!("1{}.{}8", "9".repeat(35), "9".repeat(29))
        );
        // What the server printed for AVG of those two rows.
        assert_eq!(
            sum.avg(2, 34).to_text(34),
            format!("{}.{}0000", "9".repeat(35), "9".repeat(30))
        );
    }

    #[test]
    fn integers_convert_exactly() {
        assert_eq!(
            Decimal::from_i64(i64::MIN).to_text(0),
            "-9223372036854775808"
        );
        assert_eq!(
            Decimal::from_u64(u64::MAX).to_text(2),
            "18446744073709551615.00"
        );
        assert_eq!(Decimal::from_i64(0), dec("-0.000"));
        let total = Decimal::from_u64(u64::MAX).add(&Decimal::from_u64(u64::MAX));
        assert_eq!(total.to_text(0), "36893488147419103230");
    }

    #[test]
    fn orders_numerically() {
        assert_eq!(dec("1.50"), dec("1.5"));
        assert_eq!(dec("-0"), dec("0.00"));
        assert!(dec("-1.5") < dec("-1.49"));
        assert!(dec("-0.001") < dec("0"));
        assert!(dec("10") > dec("9.999999999999999999999"));
        assert!(dec("1000000000") > dec("999999999.9"));
    }

    #[test]
    fn rounds_like_mariadb() {
        assert_eq!(dec("1.25").to_text(1), "1.3");
        assert_eq!(dec("-1.25").to_text(1), "-1.3");
        assert_eq!(dec("-0.001").to_text(2), "0.00");
        assert_eq!(dec("999.95").to_text(1), "1000.0");
        assert_eq!(dec("0.5").to_text(0), "1");
        assert_eq!(dec("2").div_round(3, 4).to_text(4), "0.6667");
        assert_eq!(dec("-2").div_round(3, 4).to_text(4), "-0.6667");
        assert_eq!(dec("1").div_round(8, 2).to_text(2), "0.13");
        assert_eq!(dec("-1").div_round(8, 2).to_text(2), "-0.13");
        assert_eq!(dec("7").div_round(2, 0).to_text(0), "4");
        assert_eq!(dec("123.456").div_round(1, 1).to_text(1), "123.5");
        assert_eq!(dec("5").div_round(0, 2).to_text(2), "0.00");
    }

    #[test]
    fn averages_like_mariadb() {
        // Values printed by MariaDB 10.11 for AVG(x) of the rows x, 0, 0.
        for (sum, count, decimals, avg) in [
            ("0.00002", 3, 9, "0.000006666"),
            ("-0.00002", 3, 9, "-0.000006666"),
            ("0.02", 3, 6, "0.006667"),
            ("0.00000000000002", 3, 18, "0.000000000000006666"),
            ("2", 3, 4, "0.6667"),
            // One row of -0.01 (or -0.00001) and 29999 zeros.
            ("-0.01", 30_000, 6, "0.000000"),
            ("-0.00001", 30_000, 9, "-0.000000000"),
            ("0.00000", 30_000, 9, "0.000000000"),
            ("1.875", 1, 7, "1.8750000"),
        ] {
            assert_eq!(
                dec(sum).avg(count, decimals).to_text(decimals),
                avg,
                "{sum} / {count}"
            );
        }
    }

    #[test]
    fn formats_doubles_like_mariadb() {
        // Printed by MariaDB 10.11 for DOUBLE values.
        for (v, text) in [
            (1e20, "1e20"),
            (-1e20, "-1e20"),
            (1.234_567_890_123_456_8e20, "1.2345678901234568e20"),
            (1.5e-7, "0.00000015"),
            (0.1 + 0.2, "0.30000000000000004"),
            (0.3, "0.3"),
            (1e15, "1e15"),
            (123_456_789_012_345.0, "123456789012345"),
            (1_234_567_890_123_456.0, "1.234567890123456e15"),
            (1e-15, "0.000000000000001"),
            (1e-16, "1e-16"),
            (1e-5, "0.00001"),
            (1e-300, "1e-300"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e308"),
            (100.0, "100"),
            (3.0, "3"),
            (0.0001, "0.0001"),
            (-0.0, "0"),
            (0.0, "0"),
            (2.775_557_561_562_891_4e-17, "2.7755575615628914e-17"),
            (9.251_858_538_542_97e-18, "9.25185853854297e-18"),
            (f64::from(1e20f32), "1.0000000200408773e20"),
            (f64::from(-0.1f32), "-0.10000000149011612"),
            (f64::from(16_777_216f32), "16777216"),
            // Two shortest candidates equally near: the even one, as the server's dtoa.
            (1e15 + 0.25, "1000000000000000.2"),
            (-236_429_916_812_030.0 - 0.125, "-236429916812030.12"),
            (f64::from_bits(0x40a7_6ffe_6800_0000), "2999.9968872070312"),
            (1e15 + 0.75, "1000000000000000.8"),
        ] {
            assert_eq!(format_double(v), text, "{v:e}");
        }
    }

    #[test]
    fn formats_floats_like_mariadb() {
        // Printed by MariaDB 10.11 for FLOAT values.
        for (v, text) in [
            (1e20f32, "1e20"),
            (1.234_567_8, "1.23457"),
            (1.5e-7, "0.00000015"),
            (1e15, "1e15"),
            (0.1, "0.1"),
            (16_777_216.0, "16777200"),
            (1e-15, "0.000000000000001"),
            (3.4e38, "3.4e38"),
            (1.5, "1.5"),
            (2.5, "2.5"),
            (0.00001, "0.00001"),
            (1.175_494_4e-38, "1.17549e-38"),
            (123_456.5, "123456"),
            (1_234_567.0, "1234570"),
            (0.000_123_456_5, "0.000123456"),
            (-0.0, "0"),
            (999_999.5, "1000000"),
        ] {
            assert_eq!(format_float(v), text, "{v:e}");
        }
    }

    #[test]
    fn formats_fixed_doubles_like_mariadb() {
        // Printed by MariaDB 10.11 for DOUBLE results with fixed decimals.
        for (v, decimals, text) in [
            (-2.775_557_561_562_891_4e-17, 3, "-0.000"),
            (0.003_906_25, 7, "0.0039062"),
            (0.011_718_75, 7, "0.0117188"),
            (4.0, 3, "4.000"),
            (2.0, 7, "2.0000000"),
            (1.5, 3, "1.500"),
            (-0.0, 3, "0.000"),
            (0.0, 0, "0"),
            (2.5, 0, "2"),
            (3.5, 0, "4"),
            (0.0005, 3, "0.001"),
            (123.456, 1, "123.5"),
            (0.1 + 0.2, 31, "0.30000000000000004"),
            (1_152_921_504_606_846_976.0, 2, "1152921504606847000.00"),
            // From the server's my_fcvt source, not seen from a server.
            (0.3, 0, "0."),
            (-0.3, 0, "-0."),
            (0.7, 0, "1"),
        ] {
            assert_eq!(format_double_fixed(v, decimals), text, "{v:e} {decimals}");
        }
    }

    #[test]
    fn parses_doubles() {
        assert_eq!(parse_double(b"-1.5e-7"), Some(-1.5e-7));
        assert_eq!(parse_double(b"1e20"), Some(1e20));
        assert_eq!(parse_double(b"0.30000000000000004"), Some(0.1 + 0.2));
        assert_eq!(parse_double(b"+3"), Some(3.0));
        assert_eq!(parse_double(b"5e-324"), Some(5e-324));
        for bad in [
            "", "-", "e5", "1e", "inf", "NaN", "infinity", "1e400", "1.5x", " 1", "0x1p3",
        ] {
            assert_eq!(parse_double(bad.as_bytes()), None, "{bad:?}");
        }
    }

    fn finite_double() -> impl Strategy<Value = f64> {
        any::<u64>()
            .prop_map(f64::from_bits)
            .prop_filter("finite", |v| v.is_finite())
    }

    proptest! {
        #[test]
        fn text_round_trips(m in any::<i128>(), scale in 0u32..45, extra in 0u32..5) {
            let text = reference_text(m, scale);
            let value = dec(&text);
            prop_assert_eq!(value.to_text(scale), text.clone());
            let padded = value.to_text(scale + extra);
            prop_assert_eq!(dec(&padded), value);
        }

        #[test]
        fn adds_exactly(
            a in -10i128.pow(30)..10i128.pow(30),
            b in -10i128.pow(30)..10i128.pow(30),
            sa in 0u32..7,
            sb in 0u32..7,
        ) {
            let scale = sa.max(sb);
            let expected = a * 10i128.pow(scale - sa) + b * 10i128.pow(scale - sb);
            let sum = dec(&reference_text(a, sa)).add(&dec(&reference_text(b, sb)));
            prop_assert_eq!(sum.scale(), scale);
            prop_assert_eq!(sum.to_text(scale), reference_text(expected, scale));
        }

        #[test]
        fn divides_exactly(
            a in -10i128.pow(25)..10i128.pow(25),
            scale in 0u32..7,
            divisor in 1u64..=u64::from(u32::MAX),
            result_scale in 0u32..13,
        ) {
            let d = i128::from(divisor);
            let expected = if result_scale >= scale {
                reference_div_round(a * 10i128.pow(result_scale - scale), d)
            } else {
                reference_div_round(a, d * 10i128.pow(scale - result_scale))
            };
            let value = dec(&reference_text(a, scale));
            let quotient = value.div_round(divisor, result_scale);
            prop_assert_eq!(quotient.to_text(result_scale), reference_text(expected, result_scale));
            // AVG truncates when its decimals are a multiple of 9.
            let truncated = a * 10i128.pow(9) / (d * 10i128.pow(scale));
            let avg = value.avg(divisor, 9).to_text(9);
            if truncated == 0 && a < 0 {
                prop_assert_eq!(avg, "-0.000000000");
            } else {
                prop_assert_eq!(avg, reference_text(truncated, 9));
            }
        }

        #[test]
        fn divides_huge_values_by_huge_counts(
            digits in "[1-9][0-9]{0,80}",
            scale in 0u32..40,
            divisor in 1u64..,
            result_scale in 0u32..45,
        ) {
            // value = m / 10^scale, q = div_truncate(value) = q_m / 10^result_scale:
            // q_m × divisor × 10^scale ≤ m × 10^result_scale < (q_m + 1) × divisor × 10^scale.
            let value = Decimal::from_parts(false, magnitude_from_digits(digits.as_bytes()), scale);
            let quotient = value.div_truncate(divisor, result_scale);
            prop_assert_eq!(quotient.scale(), result_scale);
            let scaled_product = |q: &[u32]| {
                let mut product = multiply(q, divisor);
                shift_up(&mut product, scale);
                product
            };
            let mut numerator = value.magnitude.clone();
            shift_up(&mut numerator, result_scale);
            let below = scaled_product(&quotient.magnitude);
            prop_assert_ne!(compare_magnitudes(&below, &numerator), Ordering::Greater);
            let next = add_magnitudes(&quotient.magnitude, &[1]);
            prop_assert_eq!(compare_magnitudes(&scaled_product(&next), &numerator), Ordering::Greater);
            // Rounding moves the truncated quotient by at most one unit.
            let rounded = value.div_round(divisor, result_scale);
            prop_assert!(rounded == quotient || rounded == Decimal::from_parts(false, next, result_scale));
        }

        #[test]
        fn compares_like_i128(a in any::<i64>(), b in any::<i64>(), sa in 0u32..10, sb in 0u32..10) {
            let scale = sa.max(sb);
            let x = i128::from(a) * 10i128.pow(scale - sa);
            let y = i128::from(b) * 10i128.pow(scale - sb);
            let left = dec(&reference_text(i128::from(a), sa));
            let right = dec(&reference_text(i128::from(b), sb));
            prop_assert_eq!(left.cmp(&right), x.cmp(&y));
            prop_assert_eq!(left == right, x == y);
        }

        #[test]
        fn doubles_read_back_exactly(v in finite_double(), decimals in 0u32..31) {
            let text = format_double(v);
            prop_assert_eq!(parse_double(text.as_bytes()).map(f64::to_bits), Some((v + 0.0).to_bits()));
            let fixed = format_double_fixed(v, decimals);
            prop_assert!(parse_double(fixed.as_bytes()).is_some() || fixed.ends_with('.'), "{}", fixed);
        }

        #[test]
        fn floats_have_at_most_six_digits(bits in any::<u32>()) {
            let v = f32::from_bits(bits);
            prop_assume!(v.is_finite());
            let text = format_float(v);
            let mantissa = text.split('e').next().unwrap_or("");
            let significant = mantissa.trim_start_matches(['-', '0', '.']).replace('.', "");
            prop_assert!(significant.trim_end_matches('0').len() <= 6, "{}", text);
            let back = parse_double(text.as_bytes()).unwrap_or(f64::NAN);
            let relative = ((back - f64::from(v)) / f64::from(v)).abs();
            prop_assert!(v == 0.0 || relative <= 5e-6, "{} {}", v, text);
        }

        #[test]
        fn exact_expansion_reads_back(v in finite_double()) {
            prop_assume!(v != 0.0);
            let exact = Digits::exact(v);
            let text = format!(
                "0.{}e{}",
                String::from_utf8_lossy(&exact.digits),
                exact.decpt
            );
            prop_assert_eq!(text.parse::<f64>().map(f64::to_bits), Ok(v.abs().to_bits()));
        }
    }

    /// magnitude × factor, for the division property.
    fn multiply(magnitude: &[u32], factor: u64) -> Vec<u32> {
        let high = u32::try_from(factor >> 32).unwrap_or(0);
        let low = u32::try_from(factor & 0xFFFF_FFFF).unwrap_or(0);
        let mut high_part = magnitude.to_vec();
        mul_add_small(&mut high_part, high, 0);
        mul_add_small(&mut high_part, 1 << 16, 0);
        mul_add_small(&mut high_part, 1 << 16, 0);
        let mut low_part = magnitude.to_vec();
        mul_add_small(&mut low_part, low, 0);
        add_magnitudes(&low_part, &high_part)
    }
}
