//! The schema and data of the merge differential test: four sharded tables (`users` by
//! `id`; `orders` and `events` by `user_id`, co-located with `users`; `accounts` by a
//! `utf8mb4_general_ci` e-mail) and one global table (`countries`).
//!
//! Every column is described once ([`Col`]): its SQL type, its type for comparisons, how
//! often it is NULL and where its values come from. The same description makes the DDL, the
//! rows and the literals of the generated queries. The values are made to trip merges up:
//! NULLs, many duplicates, strings equal under a collation but not byte for byte ('abc',
//! 'ABC', 'Abc ', 'é'/'E', 'ß'/'ss', emoji), negative numbers, decimals, dates and doubles
//! whose sums depend on the order of addition.

use crate::harness::differential::{
    EMAIL_DOMAINS, EMAIL_PREFIXES, Lit, Rng, SqlPrepare, Stmt, insert_batches,
};
use myshard_router::hash::{Charset, Collation};

pub const GENERAL_CI: Collation = Collation::GeneralCi {
    charset: Charset::Utf8mb4,
};
pub const BIN: Collation = Collation::Bin {
    charset: Charset::Utf8mb4,
};
pub const UNICODE_CI: Collation = Collation::UnicodeCi {
    charset: Charset::Utf8mb4,
};

/// The sharding rules of schema `shop`.
pub const RULES: &[&str] = &[
    "{name: users, shard_key: id}",
    "{name: orders, shard_key: user_id}",
    "{name: events, shard_key: user_id}",
    "{name: accounts, shard_key: email, key_type: string, collation: utf8mb4_general_ci}",
    "{name: countries, global: true}",
];

/// A column's type as far as comparing and generating go.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ty {
    Int,
    Dec,
    Double,
    Date,
    DateTime,
    Str(Collation),
}

/// Where a column's values come from.
#[derive(Debug, Clone, Copy)]
pub enum Dom {
    /// 1, 2, 3, …: a unique key.
    Serial,
    /// `users.id`: distinct, negative and beyond 2^53 too.
    UserId,
    /// Some user's id, now and then of no user.
    UserRef,
    /// A unique e-mail address (unique under the collation too).
    Email,
    Ints(i64, i64),
    /// Two digits after the point.
    Decs(i64, i64),
    /// Three decimal digits (not exact in binary), at most this magnitude.
    Doubles(i64),
    /// Years.
    Dates(i64, i64),
    /// Years.
    DateTimes(i64, i64),
    Strs(&'static [&'static str]),
    /// A `countries` code, or one of no country, in mixed case.
    Codes,
}

pub struct Col {
    pub name: &'static str,
    pub sql_type: &'static str,
    pub ty: Ty,
    /// Percentage of NULLs; 0 makes the column NOT NULL.
    pub null_pct: u64,
    pub dom: Dom,
}

pub struct Table {
    pub name: &'static str,
    pub alias: &'static str,
    /// The shard key, `None` for the global table.
    pub key: Option<&'static str>,
    /// The primary key (one column).
    pub unique: &'static str,
    pub cols: &'static [Col],
    /// Rows generated (the global table's are fixed).
    pub rows: usize,
}

const fn col(name: &'static str, sql_type: &'static str, ty: Ty, null_pct: u64, dom: Dom) -> Col {
    Col {
        name,
        sql_type,
        ty,
        null_pct,
        dom,
    }
}

pub const NAMES: &[&str] = &[
    "abc",
    "ABC",
    "Abc ",
    "abd",
    "é",
    "E",
    "e",
    "è",
    "ß",
    "ss",
    "SS",
    "s",
    "😀",
    "🙂",
    "😀 smile",
    "Zoë",
    "zoe",
    "ZOE",
    "Ångström",
    "angstrom",
    "straße",
    "STRASSE",
    "O'Brien",
    "ñandú",
    "Nandu",
    "",
    " ",
    "a b",
    "Ωmega",
    "李雷",
    "back\\slash",
    "100%",
    "under_score",
    "-1",
    "Z",
    "z",
];
const CITIES: &[&str] = &[
    "Paris",
    "paris",
    "PARIS ",
    "Köln",
    "koln",
    "KÖLN",
    "São Paulo",
    "Sao Paulo",
    "Zürich",
    "Straße",
    "strasse",
    "Łódź",
    "Lodz",
    "東京",
    "🏙 City",
];
const STATUSES: &[&str] = &[
    "new",
    "NEW",
    "paid",
    "Paid",
    "PAID",
    "shipped",
    "cancelled",
    "Pending",
    "pending ",
];
const TAGS: &[&str] = &[
    "a", "A", "a ", "b", "B", "é", "e", "ß", "ss", "x😀", "x🙂", "", "Ω", "z",
];
const NOTES: &[&str] = &[
    "gift",
    "Gift",
    "GIFT ",
    "café",
    "cafe",
    "CAFÉ",
    "déjà vu",
    "deja vu",
    "naïve",
    "naive",
    "ß",
    "ss",
    "SS",
    "Straße",
    "strasse",
    "😀",
    "🙂",
];
const KINDS: &[&str] = &[
    "click", "Click", "CLICK", "view", "vïew", "VIEW", "buy", "büy", "ß", "ss", "😀", "🙂", "ﬁ",
    "fi",
];
/// Country codes of rows: most in `countries`, some in lower case (equal under the
/// collation), some of no country.
const CODES: &[&str] = &[
    "FR", "fr", "DE", "ES", "IS", "JP", "US", "GB", "ZZ", "BR", "pt",
];
const COUNTRY_NAMES: &[&str] = &["France", "espana", "Deutschland", "日本", "Brasil"];
const REGIONS: &[&str] = &["Europe", "europe", "Asia", "Americas", "Nordic"];

const GEN: Ty = Ty::Str(GENERAL_CI);
const BINS: Ty = Ty::Str(BIN);
const UNI: Ty = Ty::Str(UNICODE_CI);

pub const USERS: Table = Table {
    name: "users",
    alias: "u",
    key: Some("id"),
    unique: "id",
    rows: 700,
    cols: &[
        col("id", "BIGINT", Ty::Int, 0, Dom::UserId),
        col("name", "VARCHAR(30)", GEN, 0, Dom::Strs(NAMES)),
        col(
            "nick",
            "VARCHAR(30) COLLATE utf8mb4_bin",
            BINS,
            25,
            Dom::Strs(NAMES),
        ),
        col(
            "city",
            "VARCHAR(30) COLLATE utf8mb4_unicode_ci",
            UNI,
            20,
            Dom::Strs(CITIES),
        ),
        col("score", "INT", Ty::Int, 15, Dom::Ints(-100, 100)),
        col(
            "balance",
            "DECIMAL(12,2)",
            Ty::Dec,
            15,
            Dom::Decs(-5000, 5000),
        ),
        col("ratio", "DOUBLE", Ty::Double, 20, Dom::Doubles(1000)),
        col("born", "DATE", Ty::Date, 15, Dom::Dates(1950, 2010)),
        col(
            "joined",
            "DATETIME",
            Ty::DateTime,
            0,
            Dom::DateTimes(2015, 2024),
        ),
        col("country", "CHAR(2)", GEN, 10, Dom::Codes),
        col("vip", "TINYINT", Ty::Int, 0, Dom::Ints(0, 1)),
    ],
};

pub const ORDERS: Table = Table {
    name: "orders",
    alias: "o",
    key: Some("user_id"),
    unique: "id",
    rows: 2000,
    cols: &[
        col("id", "INT", Ty::Int, 0, Dom::Serial),
        col("user_id", "BIGINT", Ty::Int, 0, Dom::UserRef),
        col("amount", "DECIMAL(10,2)", Ty::Dec, 0, Dom::Decs(-50, 2000)),
        col("qty", "INT", Ty::Int, 20, Dom::Ints(0, 20)),
        col("weight", "DOUBLE", Ty::Double, 25, Dom::Doubles(100)),
        col("status", "VARCHAR(12)", GEN, 0, Dom::Strs(STATUSES)),
        col(
            "tag",
            "VARCHAR(20) COLLATE utf8mb4_bin",
            BINS,
            30,
            Dom::Strs(TAGS),
        ),
        col(
            "note",
            "VARCHAR(40) COLLATE utf8mb4_unicode_ci",
            UNI,
            35,
            Dom::Strs(NOTES),
        ),
        col("placed", "DATE", Ty::Date, 0, Dom::Dates(2019, 2024)),
        col(
            "shipped",
            "DATETIME",
            Ty::DateTime,
            30,
            Dom::DateTimes(2019, 2024),
        ),
    ],
};

pub const EVENTS: Table = Table {
    name: "events",
    alias: "e",
    key: Some("user_id"),
    unique: "id",
    rows: 1500,
    cols: &[
        col("id", "INT", Ty::Int, 0, Dom::Serial),
        col("user_id", "BIGINT", Ty::Int, 0, Dom::UserRef),
        col(
            "kind",
            "VARCHAR(16) COLLATE utf8mb4_unicode_ci",
            UNI,
            0,
            Dom::Strs(KINDS),
        ),
        col("label", "VARCHAR(30)", GEN, 30, Dom::Strs(NAMES)),
        col("n", "INT", Ty::Int, 20, Dom::Ints(-10, 10)),
        col("val", "DOUBLE", Ty::Double, 20, Dom::Doubles(10000)),
        col("cost", "DECIMAL(8,3)", Ty::Dec, 20, Dom::Decs(-100, 900)),
        col("day", "DATE", Ty::Date, 15, Dom::Dates(2020, 2024)),
        col(
            "at",
            "DATETIME",
            Ty::DateTime,
            0,
            Dom::DateTimes(2020, 2024),
        ),
    ],
};

pub const ACCOUNTS: Table = Table {
    name: "accounts",
    alias: "a",
    key: Some("email"),
    unique: "email",
    rows: 400,
    cols: &[
        col("email", "VARCHAR(64)", GEN, 0, Dom::Email),
        col("user_id", "BIGINT", Ty::Int, 15, Dom::UserRef),
        col(
            "handle",
            "VARCHAR(30) COLLATE utf8mb4_bin",
            BINS,
            25,
            Dom::Strs(NAMES),
        ),
        col("points", "INT", Ty::Int, 20, Dom::Ints(-50, 500)),
        col("level", "DECIMAL(6,2)", Ty::Dec, 20, Dom::Decs(0, 99)),
        col(
            "since",
            "DATETIME",
            Ty::DateTime,
            20,
            Dom::DateTimes(2010, 2024),
        ),
        col("country", "CHAR(2)", GEN, 15, Dom::Codes),
    ],
};

pub const COUNTRIES: Table = Table {
    name: "countries",
    alias: "c",
    key: None,
    unique: "code",
    rows: 0,
    cols: &[
        col("code", "CHAR(2)", GEN, 0, Dom::Codes),
        col("name", "VARCHAR(40)", GEN, 0, Dom::Strs(COUNTRY_NAMES)),
        col("region", "VARCHAR(20)", GEN, 10, Dom::Strs(REGIONS)),
        col("vat", "DECIMAL(4,2)", Ty::Dec, 10, Dom::Decs(0, 30)),
        col("pop", "DOUBLE", Ty::Double, 10, Dom::Doubles(1000)),
    ],
};

pub const SHARDED: [&Table; 4] = [&USERS, &ORDERS, &EVENTS, &ACCOUNTS];

/// `CREATE TABLE` for `t`: its columns, its primary key, an index on its shard key.
pub fn ddl(t: &Table) -> String {
    let mut parts: Vec<String> = t
        .cols
        .iter()
        .map(|c| {
            let null = if c.null_pct == 0 {
                " NOT NULL"
            } else {
                " NULL"
            };
            format!("{} {}{null}", c.name, c.sql_type)
        })
        .collect();
    parts.push(format!("PRIMARY KEY ({})", t.unique));
    if let Some(key) = t.key.filter(|k| *k != t.unique) {
        parts.push(format!("KEY ({key})"));
    }
    format!(
        "CREATE TABLE {} ({}) DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci",
        t.name,
        parts.join(", ")
    )
}

/// The generated data: the INSERTs that load it, and the keys queries look up.
pub struct Data {
    pub inserts: Vec<Stmt>,
    pub rows: usize,
    pub user_ids: Vec<i64>,
    pub emails: Vec<String>,
}

/// A double with three decimal digits of magnitude at most `max`; a fifth of them from a
/// few values, for duplicates.
pub fn double(rng: &mut Rng, max: i64) -> f64 {
    if rng.chance(20) {
        return *rng.pick(&[1.5, 0.1, -2.25, 1000.0, 0.3]);
    }
    rng.range(-max * 1000, max * 1000) as f64 / 1000.0
}

/// A literal of column `c` as a query would compare it with (user ids and e-mails from
/// `data`).
pub fn value(rng: &mut Rng, c: &Col, user_ids: &[i64], emails: &[String]) -> Lit {
    match c.dom {
        Dom::Serial => Lit::Int(rng.range(1, 2000)),
        Dom::UserId | Dom::UserRef => Lit::Int(if rng.chance(85) {
            *rng.pick(user_ids)
        } else {
            rng.range(-3000, 6000)
        }),
        Dom::Email if rng.chance(30) => Lit::Str(rng.pick(emails).to_uppercase()),
        Dom::Email => Lit::Str(rng.pick(emails).clone()),
        Dom::Ints(lo, hi) => Lit::Int(rng.range(lo, hi)),
        Dom::Decs(lo, hi) => Lit::Dec(rng.dec(lo, hi)),
        Dom::Doubles(max) => Lit::Double(double(rng, max)),
        Dom::Dates(y0, y1) => rng.date(y0, y1),
        Dom::DateTimes(y0, y1) => rng.datetime(y0, y1),
        Dom::Strs(xs) => rng.str_of(xs),
        Dom::Codes => rng.str_of(CODES),
    }
}

/// Generates every table's rows as multi-row INSERTs (global table first).
pub fn generate(rng: &mut Rng) -> Data {
    let mut ids: Vec<i64> = (-3000..=6000).collect();
    rng.shuffle(&mut ids);
    ids.truncate(USERS.rows - 5);
    ids.extend([i64::MIN, i64::MAX, (1 << 53) + 1, -(1 << 53) - 3, 0]);
    let mut emails = Vec::new();
    for n in 0..ACCOUNTS.rows {
        emails.push(format!(
            "{}{n}@{}",
            rng.pick(EMAIL_PREFIXES),
            rng.pick(EMAIL_DOMAINS)
        ));
    }
    let mut inserts = vec![countries_insert()];
    let mut rows = 9;
    for t in SHARDED {
        let mut table_rows = Vec::with_capacity(t.rows);
        for i in 0..t.rows {
            let row = t
                .cols
                .iter()
                .map(|c| {
                    let v = match c.dom {
                        Dom::Serial => Lit::Int(i as i64 + 1),
                        Dom::UserId => Lit::Int(ids[i]),
                        Dom::Email => Lit::Str(emails[i].clone()),
                        Dom::UserRef if rng.chance(95) => Lit::Int(*rng.pick(&ids)),
                        _ => value(rng, c, &ids, &emails),
                    };
                    rng.maybe(c.null_pct, v)
                })
                .collect();
            table_rows.push(row);
        }
        let names: Vec<&str> = t.cols.iter().map(|c| c.name).collect();
        let columns = format!("({})", names.join(", "));
        rows += table_rows.len();
        inserts.extend(insert_batches(rng, t.name, &columns, table_rows, 150));
    }
    Data {
        inserts,
        rows,
        user_ids: ids,
        emails,
    }
}

fn countries_insert() -> Stmt {
    Stmt {
        construct: "insert_global".into(),
        sql: "INSERT INTO countries (code, name, region, vat, pop) VALUES \
              ('FR', 'France', 'Europe', 20.00, 6.8e7), ('DE', 'Deutschland', 'Europe', 19.00, 8.3e7), \
              ('ES', 'España', 'europe', 21.00, 4.7e7), ('IS', 'Ísland', 'Nordic', NULL, 3.7e5), \
              ('JP', '日本', 'Asia', 10.00, 1.25e8), ('US', 'United States', 'Americas', NULL, 3.3e8), \
              ('GB', 'United Kingdom', NULL, 20.00, 6.7e7), ('BR', 'Brasil', 'Americas', 17.50, NULL), \
              ('PT', 'Portugal', 'EUROPE ', 23.00, 1.03e7)"
            .into(),
        params: vec![],
        prepared: false,
        sql_prepare: SqlPrepare::No,
        ordered: false,
        writes: Some("countries"),
    }
}
