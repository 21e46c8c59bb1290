//! `router/src/merge/number.rs` against a real MariaDB: the merge must print numbers exactly
//! as one server holding every row would.
//!
//! * DOUBLE and FLOAT text: many random and edge values are stored with their exact bits
//!   (binary-protocol parameters), then every DOUBLE/FLOAT cell of several queries (columns,
//!   expressions, MIN/MAX/SUM/AVG, DOUBLE(m,d) columns with fixed decimals) is read twice:
//!   as text (the bytes the server sends) and through the binary protocol (the exact value).
//!   `format_double` / `format_float` / `format_double_fixed` of the value must give the text.
//! * DECIMAL arithmetic: SUM, COUNT and AVG over integer and DECIMAL(p,s) columns, per group,
//!   computed by the server over all rows and over three "shards" (`id % 3`). The partial
//!   sums added with `Decimal::add` must print as the total SUM, and `Decimal::avg` of the
//!   total with the AVG column's `decimals` must print as AVG.
//! * The result types the module documents (type, `decimals`, length) are checked on the
//!   column definitions.
//!
//! Values come from a fixed seed; set `NUMBER_FORMAT_SEED` to try others. Every failure
//! reports the count of disagreements and the first one.

mod harness;

use anyhow::{Context, Result, bail, ensure};
use harness::MariaDb;
use myshard_router::merge::number::{
    Decimal, format_double, format_double_fixed, format_float, parse_double,
};
use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::prelude::Queryable;
use mysql_async::{Column, Conn, Row, Value};

// ---- helpers -------------------------------------------------------------------------------

/// SplitMix64: small, seeded, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    /// Inclusive range of small integers.
    fn range(&mut self, low: i64, high: i64) -> i64 {
        low + i64::try_from(self.below(high.abs_diff(low) + 1)).unwrap_or(0)
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + u8::try_from(self.below(10)).unwrap_or(0)))
            .collect()
    }
}

fn seed() -> u64 {
    std::env::var("NUMBER_FORMAT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_2024)
}

async fn setup(db: &MariaDb) -> Result<Conn> {
    db.exec("CREATE DATABASE numbers").await?;
    db.conn_as(harness::ROOT_USER, "", Some("numbers")).await
}

/// Columns and cells (raw bytes, None for NULL) of a text-protocol query.
async fn text_rows(conn: &mut Conn, sql: &str) -> Result<(Vec<Column>, Vec<Vec<Option<Vec<u8>>>>)> {
    let mut result = conn.query_iter(sql).await.with_context(|| sql.to_owned())?;
    let columns = result.columns().map(|c| c.to_vec()).unwrap_or_default();
    let rows: Vec<Row> = result.collect().await?;
    let mut cells = Vec::with_capacity(rows.len());
    for row in rows {
        let mut out = Vec::with_capacity(row.len());
        for i in 0..row.len() {
            match row.as_ref(i) {
                Some(Value::NULL) => out.push(None),
                Some(Value::Bytes(bytes)) => out.push(Some(bytes.clone())),
                other => bail!("{sql}: text cell {i} is {other:?}"),
            }
        }
        cells.push(out);
    }
    Ok((columns, cells))
}

/// Columns and values of the same query through the binary protocol.
async fn binary_rows(conn: &mut Conn, sql: &str) -> Result<(Vec<Column>, Vec<Vec<Value>>)> {
    let mut result = conn
        .exec_iter(sql, ())
        .await
        .with_context(|| sql.to_owned())?;
    let columns = result.columns().map(|c| c.to_vec()).unwrap_or_default();
    let rows: Vec<Row> = result.collect().await?;
    let values = rows
        .into_iter()
        .map(|row| {
            (0..row.len())
                .map(|i| row.as_ref(i).cloned().unwrap_or(Value::NULL))
                .collect()
        })
        .collect();
    Ok((columns, values))
}

fn show(cell: &Option<Vec<u8>>) -> String {
    cell.as_ref().map_or("NULL".to_owned(), |b| {
        String::from_utf8_lossy(b).into_owned()
    })
}

/// Fails with the number of disagreements and the first few.
fn verdict(what: &str, checked: usize, mismatches: &[String]) -> Result<()> {
    eprintln!(
        "{what}: {checked} values checked, {} disagreements",
        mismatches.len()
    );
    if let Some(first) = mismatches.first() {
        let more: Vec<&String> = mismatches.iter().skip(1).take(9).collect();
        bail!(
            "{what}: {} of {checked} values disagree with MariaDB (seed {}); first: {first}\nnext: {more:#?}",
            mismatches.len(),
            seed()
        );
    }
    Ok(())
}

/// A column's type, decimals and flags, for the result-type facts.
fn describe(column: &Column) -> (ColumnType, u8, bool) {
    (
        column.column_type(),
        column.decimals(),
        column.flags().contains(ColumnFlags::UNSIGNED_FLAG),
    )
}

// ---- DOUBLE and FLOAT text -----------------------------------------------------------------

/// Doubles that stress every branch of the server's formatting: random bits, short decimals,
/// powers of ten around the fixed/scientific switch, integers, quotients, subnormals.
fn sample_doubles(rng: &mut Rng) -> Vec<f64> {
    let mut out = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.1,
        0.1 + 0.2,
        1e20,
        1.5e-7,
        123_456_789_012_345_680_000.0,
        f64::MAX,
        -f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        -5e-324,
        2.225_073_858_507_201e-308,
        9_007_199_254_740_993.0,
        1e23,
        5e-310,
    ];
    for k in -30..=30 {
        let p = 10f64.powi(k);
        out.extend([
            p,
            -p,
            p * (1.0 + f64::EPSILON),
            p * (1.0 - f64::EPSILON / 2.0),
            1.5 * p,
        ]);
        out.extend([p * 9.999_999_999_999_999, p * 1.234_567_890_123_456_7]);
    }
    for _ in 0..6000 {
        let v = f64::from_bits(rng.next());
        if v.is_finite() {
            out.push(v);
        }
    }
    for _ in 0..4000 {
        // Short decimal literals, the values people store.
        let len = usize::try_from(rng.range(1, 17)).unwrap_or(1);
        let text = format!("{}e{}", rng.digits(len), rng.range(-40, 40));
        if let Ok(v) = text.parse::<f64>() {
            out.push(if rng.percent(30) { -v } else { v });
        }
    }
    for _ in 0..2000 {
        let bits = rng.range(1, 62);
        let v = (rng.next() >> (64 - bits)) as f64;
        out.push(if rng.percent(30) { -v } else { v });
    }
    for _ in 0..2000 {
        let a = rng.range(-100_000, 100_000) as f64;
        let b = rng.range(1, 1000) as f64;
        out.push(a / b);
        out.push(a / b * 10f64.powi(i32::try_from(rng.range(-20, 20)).unwrap_or(0)));
    }
    for _ in 0..500 {
        out.push(f64::from_bits(rng.below(1 << 52))); // subnormals
    }
    out
}

/// Floats likewise, with ties and carries at the 6th significant digit.
fn sample_floats(rng: &mut Rng) -> Vec<f32> {
    let mut out = vec![
        0.0,
        -0.0,
        0.1,
        1.234_567_8,
        16_777_216.0,
        3.4e38,
        f32::MAX,
        f32::MIN_POSITIVE,
        1e-45,
        123_456.5,
        999_999.5,
        9_999_995.0,
        1_000_005.0,
        1_234_565.0,
        0.000_123_456_5,
    ];
    for k in -40..=38 {
        let p = 10f32.powi(k);
        out.extend([p, -p, p * 1.000_001, p * 0.999_999, p * 9.999_995, 2.5 * p]);
    }
    for _ in 0..6000 {
        let v = f32::from_bits(u32::try_from(rng.next() >> 32).unwrap_or(0));
        if v.is_finite() {
            out.push(v);
        }
    }
    for _ in 0..4000 {
        let len = usize::try_from(rng.range(1, 9)).unwrap_or(1);
        let text = format!("{}e{}", rng.digits(len), rng.range(-40, 30));
        if let Ok(v) = text.parse::<f32>() {
            out.push(if rng.percent(30) { -v } else { v });
        }
    }
    for _ in 0..2000 {
        // 7 and 8 digit integers ending in 5 or 50: exact ties at the 6th digit.
        let v = rng.range(100_000, 9_999_999) * 10 + 5;
        let v = if rng.percent(50) { v } else { v * 10 };
        out.push(v as f32);
    }
    out.retain(|v| v.is_finite());
    out
}

/// Inserts rows through multi-row prepared statements (binary parameters: exact bits).
async fn insert_values(conn: &mut Conn, table: &str, rows: &[Vec<Value>]) -> Result<()> {
    for chunk in rows.chunks(400) {
        let width = chunk.first().map_or(0, Vec::len);
        let row = format!("({})", vec!["?"; width].join(","));
        let sql = format!(
            "INSERT INTO {table} VALUES {}",
            vec![row; chunk.len()].join(",")
        );
        let params: Vec<Value> = chunk.iter().flatten().cloned().collect();
        conn.exec_drop(sql.as_str(), params)
            .await
            .with_context(|| format!("inserting into {table}"))?;
    }
    Ok(())
}

/// What the module prints for a DOUBLE/FLOAT value of a column, or None for other columns.
fn expected_real_text(column: &Column, value: &Value) -> Option<Result<String>> {
    let decimals = u32::from(column.decimals());
    let text = match (column.column_type(), value) {
        (ColumnType::MYSQL_TYPE_DOUBLE | ColumnType::MYSQL_TYPE_FLOAT, Value::NULL) => {
            "NULL".to_owned()
        }
        (ColumnType::MYSQL_TYPE_DOUBLE, Value::Double(v)) if decimals >= 31 => format_double(*v),
        (ColumnType::MYSQL_TYPE_DOUBLE, Value::Double(v)) => format_double_fixed(*v, decimals),
        (ColumnType::MYSQL_TYPE_FLOAT, Value::Float(v)) if decimals >= 31 => format_float(*v),
        (ColumnType::MYSQL_TYPE_FLOAT, Value::Float(v)) => {
            format_double_fixed(f64::from(*v), decimals)
        }
        (ColumnType::MYSQL_TYPE_DOUBLE | ColumnType::MYSQL_TYPE_FLOAT, other) => {
            return Some(Err(anyhow::anyhow!("binary value {other:?}")));
        }
        _ => return None,
    };
    Some(Ok(text))
}

/// Compares every DOUBLE/FLOAT cell of `sql` as text with the module's text of the exact
/// value read through the binary protocol. Returns the number of cells checked.
async fn compare_real_cells(
    conn: &mut Conn,
    sql: &str,
    mismatches: &mut Vec<String>,
) -> Result<usize> {
    let (text_columns, text) = text_rows(conn, sql).await?;
    let (binary_columns, binary) = binary_rows(conn, sql).await?;
    ensure!(
        text.len() == binary.len(),
        "{sql}: {} text rows, {} binary rows",
        text.len(),
        binary.len()
    );
    for (t, b) in text_columns.iter().zip(&binary_columns) {
        ensure!(
            describe(t) == describe(b),
            "{sql}: text column {t:?} binary column {b:?}"
        );
    }
    let mut checked = 0;
    for (text_row, binary_row) in text.iter().zip(&binary) {
        for ((column, cell), value) in text_columns.iter().zip(text_row).zip(binary_row) {
            let Some(expected) = expected_real_text(column, value) else {
                continue;
            };
            let expected = expected.with_context(|| format!("{sql}: {}", column.name_str()))?;
            checked += 1;
            let got = show(cell);
            if got != expected {
                mismatches.push(format!(
                    "{sql}: column {} ({:?}, decimals {}), value {value:?} (bits {:#x}): server {got:?}, module {expected:?}",
                    column.name_str(),
                    column.column_type(),
                    column.decimals(),
                    match value {
                        Value::Double(v) => v.to_bits(),
                        Value::Float(v) => u64::from(v.to_bits()),
                        _ => 0,
                    }
                ));
            }
            // The shortest form reads back as the exact value.
            if column.decimals() >= 31
                && let (Some(bytes), Value::Double(v)) = (cell, value)
            {
                let back = parse_double(bytes);
                if back.map(f64::to_bits) != Some((v + 0.0).to_bits()) {
                    mismatches.push(format!(
                        "{sql}: parse_double({got:?}) = {back:?}, value {v:e}"
                    ));
                }
            }
        }
    }
    Ok(checked)
}

#[tokio::test]
async fn doubles_and_floats_print_as_mariadb_prints_them() -> Result<()> {
    let db = MariaDb::start().await?;
    let mut conn = setup(&db).await?;
    let mut rng = Rng(seed());
    let doubles = sample_doubles(&mut rng);
    let floats = sample_floats(&mut rng);
    let count = doubles.len().max(floats.len());
    conn.query_drop("CREATE TABLE nums (id INT PRIMARY KEY, d DOUBLE, f FLOAT)")
        .await?;
    let rows: Vec<Vec<Value>> = (0..count)
        .map(|i| {
            vec![
                Value::Int(i64::try_from(i).unwrap_or(0)),
                Value::Double(doubles[i % doubles.len()]),
                Value::Float(floats[i % floats.len()]),
            ]
        })
        .collect();
    insert_values(&mut conn, "nums", &rows).await?;

    // The stored bits are the sent bits, except that a DOUBLE or FLOAT column stores -0 as 0.
    let (_, stored) = binary_rows(&mut conn, "SELECT id, d, f FROM nums ORDER BY id").await?;
    ensure!(
        stored.len() == count,
        "{} rows stored of {count}",
        stored.len()
    );
    let mut changed = Vec::new();
    for (i, row) in stored.iter().enumerate() {
        let (d, f) = (doubles[i % doubles.len()], floats[i % floats.len()]);
        match (&row[1], &row[2]) {
            (Value::Double(sd), Value::Float(sf)) => {
                let d_ok = sd.to_bits() == d.to_bits() || (d == 0.0 && *sd == 0.0);
                let f_ok = sf.to_bits() == f.to_bits() || (f == 0.0 && *sf == 0.0);
                if !d_ok || !f_ok {
                    changed.push(format!("row {i}: sent {d:e} {f:e}, stored {sd:e} {sf:e}"));
                }
            }
            other => changed.push(format!("row {i}: stored {other:?}")),
        }
    }
    ensure!(
        changed.is_empty(),
        "stored values differ from sent ones: {changed:#?}"
    );
    let negative_zeros = stored
        .iter()
        .filter(|row| matches!(row[1], Value::Double(v) if v == 0.0 && v.is_sign_negative()))
        .count();
    eprintln!("-0.0 stored in DOUBLE reads back negative in {negative_zeros} rows");

    let mut mismatches = Vec::new();
    let mut checked = 0;
    for sql in [
        "SELECT d, f FROM nums ORDER BY id",
        "SELECT -d, -f, d / 7, f * 3, f + 0e0 FROM nums ORDER BY id",
        "SELECT MIN(d), MAX(d), MIN(f), MAX(f), SUM(f), AVG(f) FROM nums GROUP BY id % 97 ORDER BY id % 97",
        "SELECT SUM(d), AVG(d) FROM nums WHERE ABS(d) < 1e300 GROUP BY id % 89 ORDER BY id % 89",
    ] {
        checked += compare_real_cells(&mut conn, sql, &mut mismatches).await?;
    }

    // DOUBLE(m,d) and FLOAT(m,d): values and expressions printed with fixed decimals.
    conn.query_drop(
        "CREATE TABLE fx (id INT PRIMARY KEY, g INT, x3 DOUBLE(255,3), x0 DOUBLE(255,0), \
         x10 DOUBLE(255,10), x30 DOUBLE(255,30), f2 FLOAT(30,2))",
    )
    .await?;
    let mut rows = Vec::new();
    let mut id = 0i64;
    let mut push = |rows: &mut Vec<Vec<Value>>, g: i64, x: f64, f: f32| {
        id += 1;
        rows.push(vec![
            Value::Int(id),
            Value::Int(g),
            Value::Double(x),
            Value::Double(x),
            Value::Double(x),
            Value::Double(x),
            Value::Float(f),
        ]);
    };
    for _ in 0..6000 {
        let len = usize::try_from(rng.range(1, 17)).unwrap_or(1);
        let text = format!("{}e{}", rng.digits(len), rng.range(-35, 60));
        let x = text.parse::<f64>().unwrap_or(0.0) * if rng.percent(40) { -1.0 } else { 1.0 };
        let f = (rng.range(-99_999_999, 99_999_999) as f32) / 100.0;
        push(&mut rows, rng.range(0, 400), x, f);
    }
    // Groups whose AVG is a tie at its 8th decimal (k / 256 for odd k): half to even.
    for g in 1000..1040 {
        let k = rng.range(-4000, 4000) * 2 + 1;
        push(&mut rows, g, k as f64 * 0.125, 0.0);
        for _ in 0..31 {
            push(&mut rows, g, 0.0, 0.0);
        }
    }
    insert_values(&mut conn, "fx", &rows).await?;
    for sql in [
        "SELECT x3, x0, x10, x30, f2 FROM fx ORDER BY id",
        "SELECT x3 / 7, x0 / 3, x10 / 7, x30 / 7, f2 / 7, -x3, x3 * 1.1, x3 * 1.0001, x0 * 0.5 FROM fx ORDER BY id",
        "SELECT g, SUM(x3), AVG(x3), AVG(x0), SUM(x10), AVG(x10), AVG(x30), AVG(f2), MIN(f2), MAX(x30) \
         FROM fx GROUP BY g ORDER BY g",
    ] {
        checked += compare_real_cells(&mut conn, sql, &mut mismatches).await?;
    }

    // Result types of the DOUBLE/FLOAT aggregates (documented in number.rs).
    let (columns, _) = text_rows(
        &mut conn,
        "SELECT SUM(d), AVG(d), SUM(f), AVG(f), MIN(f), MAX(d) FROM nums WHERE 0",
    )
    .await?;
    let (fixed, _) = text_rows(
        &mut conn,
        "SELECT SUM(x3), AVG(x3), MIN(x3), MIN(f2), SUM(f2), AVG(f2), SUM(x30), AVG(x30) FROM fx WHERE 0",
    )
    .await?;
    use ColumnType::{MYSQL_TYPE_DOUBLE as DOUBLE, MYSQL_TYPE_FLOAT as FLOAT};
    let got: Vec<_> = columns.iter().chain(&fixed).map(describe).collect();
    let want = vec![
        (DOUBLE, 31, false),
        (DOUBLE, 31, false),
        (DOUBLE, 31, false),
        (DOUBLE, 31, false),
        (FLOAT, 31, false),
        (DOUBLE, 31, false),
        (DOUBLE, 3, false),
        (DOUBLE, 7, false),
        (DOUBLE, 3, false),
        (FLOAT, 2, false),
        (DOUBLE, 2, false),
        (DOUBLE, 6, false),
        (DOUBLE, 30, false),
        (DOUBLE, 31, false),
    ];
    ensure!(
        got == want,
        "DOUBLE/FLOAT aggregate types: got {got:?}, want {want:?}"
    );

    verdict("DOUBLE/FLOAT text", checked, &mismatches)
}

// ---- SUM, COUNT and AVG over integers and DECIMAL ------------------------------------------

/// An aggregated column: name, SQL type, digits before and after the point (integers: the
/// range), and the MIN/MAX type.
struct Spec {
    name: &'static str,
    sql_type: &'static str,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Signed {
        min: i64,
        max: i64,
        digits: u32,
        min_max: ColumnType,
    },
    Unsigned64,
    Decimal {
        precision: u32,
        scale: u32,
    },
}

const SPECS: &[Spec] = &[
    Spec {
        name: "i8",
        sql_type: "TINYINT",
        kind: Kind::Signed {
            min: -128,
            max: 127,
            digits: 3,
            min_max: ColumnType::MYSQL_TYPE_TINY,
        },
    },
    Spec {
        name: "i32",
        sql_type: "INT",
        kind: Kind::Signed {
            min: i32::MIN as i64,
            max: i32::MAX as i64,
            digits: 10,
            min_max: ColumnType::MYSQL_TYPE_LONG,
        },
    },
    Spec {
        name: "i64",
        sql_type: "BIGINT",
        kind: Kind::Signed {
            min: i64::MIN,
            max: i64::MAX,
            digits: 19,
            min_max: ColumnType::MYSQL_TYPE_LONGLONG,
        },
    },
    Spec {
        name: "u64",
        sql_type: "BIGINT UNSIGNED",
        kind: Kind::Unsigned64,
    },
    Spec {
        name: "d10_2",
        sql_type: "DECIMAL(10,2)",
        kind: Kind::Decimal {
            precision: 10,
            scale: 2,
        },
    },
    Spec {
        name: "d10_5",
        sql_type: "DECIMAL(10,5)",
        kind: Kind::Decimal {
            precision: 10,
            scale: 5,
        },
    },
    Spec {
        name: "d12_0",
        sql_type: "DECIMAL(12,0)",
        kind: Kind::Decimal {
            precision: 12,
            scale: 0,
        },
    },
    Spec {
        name: "d20_9",
        sql_type: "DECIMAL(20,9)",
        kind: Kind::Decimal {
            precision: 20,
            scale: 9,
        },
    },
    Spec {
        name: "d30_14",
        sql_type: "DECIMAL(30,14)",
        kind: Kind::Decimal {
            precision: 30,
            scale: 14,
        },
    },
    Spec {
        name: "d40_23",
        sql_type: "DECIMAL(40,23)",
        kind: Kind::Decimal {
            precision: 40,
            scale: 23,
        },
    },
    Spec {
        name: "d50_32",
        sql_type: "DECIMAL(50,32)",
        kind: Kind::Decimal {
            precision: 50,
            scale: 32,
        },
    },
    Spec {
        name: "d65_30",
        sql_type: "DECIMAL(65,30)",
        kind: Kind::Decimal {
            precision: 65,
            scale: 30,
        },
    },
    Spec {
        name: "d65_33",
        sql_type: "DECIMAL(65,33)",
        kind: Kind::Decimal {
            precision: 65,
            scale: 33,
        },
    },
    Spec {
        name: "d65_36",
        sql_type: "DECIMAL(65,36)",
        kind: Kind::Decimal {
            precision: 65,
            scale: 36,
        },
    },
    Spec {
        name: "d65_0",
        sql_type: "DECIMAL(65,0)",
        kind: Kind::Decimal {
            precision: 65,
            scale: 0,
        },
    },
    Spec {
        name: "d38_38",
        sql_type: "DECIMAL(38,38)",
        kind: Kind::Decimal {
            precision: 38,
            scale: 38,
        },
    },
];

impl Kind {
    fn scale(self) -> u32 {
        match self {
            Kind::Decimal { scale, .. } => scale,
            _ => 0,
        }
    }

    /// Digits of the column's type (the server's `decimal_precision()`).
    fn precision(self) -> u32 {
        match self {
            Kind::Signed { digits, .. } => digits,
            Kind::Unsigned64 => 20,
            Kind::Decimal { precision, .. } => precision,
        }
    }

    /// A random SQL literal for the column; `tiny` gives 0 or ±1 unit of the last place.
    fn literal(self, rng: &mut Rng, tiny: bool) -> String {
        if rng.percent(4) {
            return "NULL".to_owned();
        }
        let negative = rng.percent(40);
        match self {
            Kind::Signed { min, max, .. } => {
                let v = if tiny {
                    rng.range(-1, 1)
                } else if rng.percent(15) {
                    if negative { min } else { max }
                } else if rng.percent(40) {
                    rng.range(min.max(-1000), max.min(1000))
                } else {
                    let span = max.abs_diff(min);
                    let offset = if span == u64::MAX {
                        rng.next()
                    } else {
                        rng.below(span + 1)
                    };
                    min.wrapping_add(offset as i64)
                };
                v.clamp(min, max).to_string()
            }
            Kind::Unsigned64 => {
                let v = if tiny {
                    rng.below(2)
                } else if rng.percent(20) {
                    u64::MAX - rng.below(1000)
                } else if rng.percent(30) {
                    rng.below(1000)
                } else {
                    rng.next()
                };
                v.to_string()
            }
            Kind::Decimal { precision, scale } => {
                let sign = if negative { "-" } else { "" };
                if tiny {
                    if rng.percent(70) {
                        return "0".to_owned();
                    }
                    return if scale == 0 {
                        format!("{sign}1")
                    } else {
                        format!("{sign}0.{}1", "0".repeat(scale as usize - 1))
                    };
                }
                // A grouped SUM is clipped to its 65 digits (see number.rs): keep sums of up to
                // 10^4 rows inside them.
                let int_max = (precision - scale).min(65 - scale - 4) as usize;
                let int_len = match rng.below(10) {
                    0..=2 => int_max,
                    3..=5 => (rng.below(4) as usize).min(int_max),
                    _ => rng.below(int_max as u64 + 1) as usize,
                };
                let int_part = if rng.percent(5) {
                    "9".repeat(int_max)
                } else {
                    rng.digits(int_len)
                };
                let int_part = if int_part.is_empty() {
                    "0".to_owned()
                } else {
                    int_part
                };
                if scale == 0 {
                    return format!("{sign}{int_part}");
                }
                let frac_len = if rng.percent(50) {
                    scale as usize
                } else {
                    rng.below(u64::from(scale) + 1) as usize
                };
                if frac_len == 0 {
                    format!("{sign}{int_part}")
                } else {
                    format!("{sign}{int_part}.{}", rng.digits(frac_len))
                }
            }
        }
    }
}

#[tokio::test]
async fn sum_count_and_avg_merge_exactly() -> Result<()> {
    let db = MariaDb::start().await?;
    let mut conn = setup(&db).await?;
    let mut rng = Rng(seed());

    let columns: Vec<String> = SPECS
        .iter()
        .map(|s| format!("{} {}", s.name, s.sql_type))
        .collect();
    conn.query_drop(format!(
        "CREATE TABLE agg (id INT PRIMARY KEY, g INT, {})",
        columns.join(", ")
    ))
    .await?;

    // Group sizes: random ones, powers of two and 5 (AVG digits that end in a 5: rounding
    // ties), and a big group of zeros with a few last-place units (quotients near zero).
    let mut groups: Vec<(usize, bool)> = (0..300)
        .map(|_| (rng.range(1, 40) as usize, false))
        .collect();
    groups.extend(std::iter::repeat_n((32, false), 60));
    groups.extend(std::iter::repeat_n((64, false), 10));
    groups.extend(std::iter::repeat_n((160, false), 5));
    groups.extend(std::iter::repeat_n((625, false), 2));
    groups.extend(std::iter::repeat_n((40, true), 20));
    groups.push((3000, true));
    let mut rows = Vec::new();
    for (g, &(size, tiny)) in groups.iter().enumerate() {
        for _ in 0..size {
            let id = rows.len();
            let values: Vec<String> = SPECS
                .iter()
                .map(|s| {
                    // A few ordinary values among the tiny ones.
                    let tiny_value = tiny && rng.below(200) != 0;
                    s.kind.literal(&mut rng, tiny_value)
                })
                .collect();
            rows.push(format!("({id}, {g}, {})", values.join(", ")));
        }
    }
    for chunk in rows.chunks(500) {
        conn.query_drop(format!("INSERT INTO agg VALUES {}", chunk.join(", ")))
            .await?;
    }

    // Result types (documented in number.rs).
    let mut facts = Vec::new();
    for spec in SPECS {
        let c = spec.name;
        let (cols, _) = text_rows(
            &mut conn,
            &format!("SELECT SUM({c}), AVG({c}), COUNT({c}), MIN({c}), MAX({c}), COUNT(*) FROM agg WHERE 0"),
        )
        .await?;
        let scale = spec.kind.scale();
        let scale_u8 = u8::try_from(scale)?;
        let newdecimal = ColumnType::MYSQL_TYPE_NEWDECIMAL;
        let (min_max_type, unsigned) = match spec.kind {
            Kind::Signed { min_max, .. } => (min_max, false),
            Kind::Unsigned64 => (ColumnType::MYSQL_TYPE_LONGLONG, true),
            Kind::Decimal { .. } => (newdecimal, false),
        };
        let want = vec![
            (newdecimal, scale_u8, false),
            (newdecimal, u8::try_from((scale + 4).min(38))?, false),
            (ColumnType::MYSQL_TYPE_LONGLONG, 0, false),
            (min_max_type, scale_u8, unsigned),
            (min_max_type, scale_u8, unsigned),
            (ColumnType::MYSQL_TYPE_LONGLONG, 0, false),
        ];
        let got: Vec<_> = cols.iter().map(describe).collect();
        if got != want {
            facts.push(format!("{}: got {got:?}, want {want:?}", spec.sql_type));
        }
        // SUM's precision: the column's digits + 22, at most 65 (length = precision + sign
        // + point).
        let precision = (spec.kind.precision() + 22).min(65);
        let length = precision + 1 + u32::from(scale > 0);
        if cols[0].column_length() != length {
            facts.push(format!(
                "{}: SUM length {}, want {length}",
                spec.sql_type,
                cols[0].column_length()
            ));
        }
    }
    ensure!(
        facts.is_empty(),
        "result types differ from number.rs: {facts:#?}"
    );

    // Totals per group, and partial results per group and "shard" (id % 3).
    let aggregates: Vec<String> = SPECS
        .iter()
        .map(|s| format!("SUM({0}), COUNT({0}), AVG({0})", s.name))
        .collect();
    let (total_columns, totals) = text_rows(
        &mut conn,
        &format!(
            "SELECT g, {} FROM agg GROUP BY g ORDER BY g",
            aggregates.join(", ")
        ),
    )
    .await?;
    let partial_aggregates: Vec<String> = SPECS
        .iter()
        .map(|s| format!("SUM({0}), COUNT({0})", s.name))
        .collect();
    let (_, partials) = text_rows(
        &mut conn,
        &format!(
            "SELECT g, id % 3, {} FROM agg GROUP BY g, id % 3 ORDER BY g, id % 3",
            partial_aggregates.join(", ")
        ),
    )
    .await?;
    ensure!(
        totals.len() == groups.len(),
        "{} groups of {}",
        totals.len(),
        groups.len()
    );

    let parse_u64 = |cell: &Option<Vec<u8>>| -> Result<u64> {
        Ok(std::str::from_utf8(cell.as_deref().context("NULL count")?)?.parse()?)
    };
    let parse_decimal = |cell: &Option<Vec<u8>>| -> Result<Option<Decimal>> {
        match cell {
            None => Ok(None),
            Some(bytes) => Decimal::parse(bytes)
                .map(Some)
                .with_context(|| format!("Decimal::parse({:?})", String::from_utf8_lossy(bytes))),
        }
    };

    let mut mismatches = Vec::new();
    let mut checked = 0;
    let mut truncations = 0;
    let mut ties = 0;
    let mut truncations_round_differs = 0;
    let mut partial_rows = partials.iter().peekable();
    for total in &totals {
        let g = show(&total[0]);
        let mut shard_rows = Vec::new();
        while let Some(row) = partial_rows.next_if(|row| show(&row[0]) == g) {
            shard_rows.push(row);
        }
        for (i, spec) in SPECS.iter().enumerate() {
            let (sum_at, count_at, avg_at) = (1 + 3 * i, 2 + 3 * i, 3 + 3 * i);
            let sum_decimals = u32::from(total_columns[sum_at].decimals());
            let avg_decimals = u32::from(total_columns[avg_at].decimals());
            let context = format!("group {g}, {} ({})", spec.name, spec.sql_type);

            // The merge: add the shards' partial sums and counts.
            let mut merged: Option<Decimal> = None;
            let mut merged_count = 0u64;
            for row in &shard_rows {
                if let Some(partial) = parse_decimal(&row[2 + 2 * i])? {
                    merged = Some(match merged {
                        Some(sum) => sum.add(&partial),
                        None => partial,
                    });
                }
                merged_count += parse_u64(&row[3 + 2 * i])?;
            }
            let count = parse_u64(&total[count_at])?;
            checked += 3;
            if merged_count != count {
                mismatches.push(format!("{context}: COUNT {count}, merged {merged_count}"));
            }
            let server_sum = show(&total[sum_at]);
            let server_avg = show(&total[avg_at]);
            let (our_sum, our_avg) = match &merged {
                None => ("NULL".to_owned(), "NULL".to_owned()),
                Some(sum) => (
                    sum.to_text(sum_decimals),
                    sum.avg(merged_count, avg_decimals).to_text(avg_decimals),
                ),
            };
            if our_sum != server_sum {
                mismatches.push(format!("{context}: SUM {server_sum}, merged {our_sum}"));
            }
            if our_avg != server_avg {
                mismatches.push(format!(
                    "{context}: AVG {server_avg} (decimals {avg_decimals}), from SUM {server_sum} / COUNT {count}: {our_avg}"
                ));
            }
            // div_round alone is AVG except when the decimals are a multiple of 9.
            if let Some(sum) = parse_decimal(&total[sum_at])? {
                // An exact half at the first dropped digit, rounded away from zero.
                let longer = sum
                    .div_round(count, avg_decimals + 12)
                    .to_text(avg_decimals + 12);
                let dropped = &longer[longer.len() - 12..];
                ties += usize::from(dropped == "500000000000" && !avg_decimals.is_multiple_of(9));
                let rounded = sum.div_round(count, avg_decimals).to_text(avg_decimals);
                if avg_decimals.is_multiple_of(9) {
                    truncations += 1;
                    truncations_round_differs += usize::from(rounded != server_avg);
                } else if rounded != server_avg {
                    mismatches.push(format!(
                        "{context}: AVG {server_avg}, div_round({server_sum}, {count}, {avg_decimals}) = {rounded}"
                    ));
                }
            }
        }
    }
    eprintln!(
        "AVG with decimals a multiple of 9: {truncations} groups, {truncations_round_differs} where rounding \
         instead of truncating would have been wrong"
    );
    eprintln!("AVG exactly half way between two results: {ties} groups");
    ensure!(
        truncations_round_differs > 0,
        "no group showed AVG's truncation; the data is too tame"
    );
    ensure!(ties > 0, "no AVG was a tie; the data is too tame");
    verdict("SUM/COUNT/AVG merge", checked, &mismatches)
}

/// A DECIMAL SUM past its 65 digits: kept exactly (as `Decimal::add` does) when the query
/// has no GROUP BY, clipped to the largest DECIMAL(65,s) at each row when it groups through
/// a temporary table, which a merge of partial sums cannot reproduce.
#[tokio::test]
async fn sums_past_65_digits() -> Result<()> {
    let db = MariaDb::start().await?;
    let mut conn = setup(&db).await?;
    let nines = "9".repeat(65);
    conn.query_drop(format!(
        "CREATE TABLE big (g INT, x DECIMAL(65,0)); INSERT INTO big VALUES (1, {nines}), (1, {nines}), (1, -5)"
    ))
    .await?;
    let (_, whole) = text_rows(&mut conn, "SELECT SUM(x), AVG(x), COUNT(x) FROM big").await?;
    let nine = Decimal::parse(nines.as_bytes()).context("65 nines")?;
    let merged = nine.add(&nine).add(&Decimal::from_i64(-5));
    let want = vec![
        Some(merged.to_text(0).into_bytes()),
        Some(merged.avg(3, 4).to_text(4).into_bytes()),
        Some(b"3".to_vec()),
    ];
    ensure!(
        whole == vec![want.clone()],
        "ungrouped: server {:?}, merged {:?}",
        whole
            .first()
            .map(|row| row.iter().map(show).collect::<Vec<_>>()),
        want.iter().map(show).collect::<Vec<_>>()
    );
    let (_, grouped) = text_rows(&mut conn, "SELECT SUM(x) FROM big GROUP BY g").await?;
    let clipped = format!("{}4", "9".repeat(64));
    ensure!(
        grouped == vec![vec![Some(clipped.clone().into_bytes())]],
        "grouped: server {:?}, expected the clipped {clipped}",
        grouped
            .first()
            .map(|row| row.iter().map(show).collect::<Vec<_>>())
    );
    Ok(())
}
