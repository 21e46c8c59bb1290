//! Differential test of single-shard and concatenation queries: the same statements run
//! against one plain MariaDB holding all the data in database `shop`, and through myshard
//! with `shop` sharded over 16 shards on two groups (three harness servers in all). Every
//! result must be the same: column metadata (all but the physical schema name), rows (as a
//! multiset unless ORDER BY fully determines the order), affected rows, and after every
//! write the whole written table.
//!
//! The statements come from a seeded xorshift generator (set `MYSHARD_DIFF_SEED` to explore
//! other seeds, `MYSHARD_DIFF_SELECTS` for more statements). It produces only statements the
//! router is meant to accept: key equality, IN and OR of equalities, scans without a key
//! (concatenation: no ORDER BY, LIMIT or aggregate), joins of co-located sharded tables on
//! their keys, joins with the global table, the unsharded table, ORDER BY / LIMIT /
//! aggregates under a single-shard key condition, and writes by key. Some run as server-side
//! prepared statements with the key bound as a parameter; each of those runs again through
//! SQL-level `PREPARE` / `EXECUTE … USING @vars` (constructs `…_sql_prepare`, on a second
//! connection pair). Statements the proxy refuses are
//! counted per construct and printed; more than a small share of them fails the test.

mod harness;

use anyhow::{Context, Result, bail};
use harness::differential::{
    Count, EMAIL_DOMAINS, EMAIL_PREFIXES, Failures, Lit, Outcome, Rng, Servers, Sql, SqlPrepare,
    Stmt, canonical, env_or, insert_batches, mismatch_report, print_counts, run,
};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};
use std::collections::BTreeMap;

const SHARDS: u32 = 16;
const DEFAULT_SEED: u64 = 0x6d79_7368_6172_6421;
/// SELECTs generated (writes come on top, one after every few SELECTs).
const DEFAULT_SELECTS: usize = 600;
/// A write after this many SELECTs.
const SELECTS_PER_WRITE: usize = 6;
/// The largest share of generated statements the proxy may refuse.
const MAX_REFUSED_SHARE: f64 = 0.02;

const TABLES: &[&str] = &[
    "{name: customers, shard_key: id}",
    "{name: orders, shard_key: customer_id}",
    "{name: accounts, shard_key: email, key_type: string, collation: utf8mb4_general_ci}",
    "{name: logins, shard_key: email, key_type: string, collation: utf8mb4_general_ci}",
    "{name: countries, global: true}",
    "{name: latin_notes, shard_key: k}",
];

/// `settings` is not listed: an unsharded table on the home shard.
const DDL: &[&str] = &[
    "CREATE TABLE customers (id BIGINT PRIMARY KEY, name VARCHAR(40) NOT NULL, \
     city VARCHAR(30) NULL, balance DECIMAL(10,2) NULL, born DATE NULL, country CHAR(2) NULL, \
     vip TINYINT NOT NULL DEFAULT 0) DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci",
    "CREATE TABLE orders (id INT PRIMARY KEY, customer_id BIGINT NOT NULL, \
     amount DECIMAL(10,2) NOT NULL, qty INT NULL, status VARCHAR(12) NOT NULL, \
     created DATE NOT NULL, note VARCHAR(40) NULL, KEY (customer_id)) \
     DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci",
    "CREATE TABLE accounts (email VARCHAR(64) PRIMARY KEY, customer_id BIGINT NULL, \
     score INT NULL, nick VARCHAR(30) NULL, since DATETIME NULL) \
     DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci",
    "CREATE TABLE logins (id INT PRIMARY KEY, email VARCHAR(64) NOT NULL, at DATETIME NOT NULL, \
     ok TINYINT NULL, ip VARCHAR(15) NULL, KEY (email)) \
     DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci",
    "CREATE TABLE countries (code CHAR(2) PRIMARY KEY, name VARCHAR(40) NOT NULL, \
     region VARCHAR(20) NULL, vat DECIMAL(4,2) NULL) \
     DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci",
    "CREATE TABLE settings (name VARCHAR(20) PRIMARY KEY, value VARCHAR(40) NULL, n INT NULL) \
     DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci",
];

const ALL_TABLES: &[&str] = &[
    "customers",
    "orders",
    "accounts",
    "logins",
    "countries",
    "settings",
];

// ---- the data and statement generator --------------------------------------------------------

const NAMES: &[&str] = &[
    "Alice",
    "alice",
    "ALICE",
    "Élodie",
    "elodie",
    "Zoë",
    "zoe",
    "José",
    "JOSE",
    "Straße",
    "strase",
    "O'Brien",
    "Łukasz",
    "Ångström",
    "ñandú",
    "Nandu",
    "Ωmega",
    "李雷",
    "back\\slash",
    "smile 😀",
    "trailing  ",
    "Bob",
];
const CITIES: &[&str] = &[
    "Paris",
    "paris",
    "Lyon",
    "Köln",
    "KÖLN",
    "São Paulo",
    "Zürich",
];
const COUNTRY_CODES: &[&str] = &["FR", "DE", "ES", "IS", "JP", "US", "GB", "ZZ"];
const STATUSES: &[&str] = &["new", "paid", "PAID", "shipped", "cancelled", "Pending"];
const NOTES: &[&str] = &[
    "gift",
    "Gift wrap",
    "café au lait",
    "CAFE",
    "déjà vu",
    "100% cotton",
    "under_score",
    "naïve",
];

struct Gen {
    rng: Rng,
    customer_ids: Vec<i64>,
    /// Customer ids that orders refer to (some without a customer).
    order_customers: Vec<i64>,
    emails: Vec<String>,
    next_customer: i64,
    next_order: i64,
    next_login: i64,
    next_account: usize,
    next_country: usize,
}

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen {
            rng: Rng::new(seed),
            customer_ids: Vec::new(),
            order_customers: Vec::new(),
            emails: Vec::new(),
            next_customer: 1000,
            next_order: 1,
            next_login: 1,
            next_account: 1,
            next_country: 0,
        }
    }

    // -- rows

    fn customer_row(&mut self, id: i64) -> Vec<Lit> {
        let name = self.rng.str_of(NAMES);
        let city = self.rng.str_of(CITIES);
        let city = self.rng.maybe(20, city);
        let balance = Lit::Dec(self.rng.dec(-1000, 1000));
        let balance = self.rng.maybe(15, balance);
        let born = self.rng.date(1940, 2006);
        let born = self.rng.maybe(15, born);
        let country = self.rng.str_of(COUNTRY_CODES);
        let country = self.rng.maybe(10, country);
        let vip = Lit::Int(self.rng.range(0, 1));
        vec![Lit::Int(id), name, city, balance, born, country, vip]
    }

    fn order_row(&mut self, id: i64) -> Vec<Lit> {
        let customer = if self.rng.chance(93) && !self.customer_ids.is_empty() {
            *self.rng.pick(&self.customer_ids)
        } else {
            self.rng.range(-600, 600)
        };
        self.order_customers.push(customer);
        let amount = Lit::Dec(self.rng.dec(-20, 900));
        let qty = Lit::Int(self.rng.range(0, 9));
        let qty = self.rng.maybe(20, qty);
        let status = self.rng.str_of(STATUSES);
        let created = self.rng.date(2020, 2024);
        let note = self.rng.str_of(NOTES);
        let note = self.rng.maybe(40, note);
        vec![
            Lit::Int(id),
            Lit::Int(customer),
            amount,
            qty,
            status,
            created,
            note,
        ]
    }

    fn account_row(&mut self) -> Vec<Lit> {
        let n = self.next_account;
        self.next_account += 1;
        let email = format!(
            "{}{n}@{}",
            self.rng.pick(EMAIL_PREFIXES),
            self.rng.pick(EMAIL_DOMAINS)
        );
        self.emails.push(email.clone());
        let customer = if self.customer_ids.is_empty() {
            Lit::Null
        } else {
            Lit::Int(*self.rng.pick(&self.customer_ids))
        };
        let customer = self.rng.maybe(15, customer);
        let score = Lit::Int(self.rng.range(-50, 100));
        let score = self.rng.maybe(20, score);
        let nick = self.rng.str_of(NAMES);
        let nick = self.rng.maybe(30, nick);
        let since = self.rng.datetime(2021, 2024);
        let since = self.rng.maybe(20, since);
        vec![Lit::Str(email), customer, score, nick, since]
    }

    fn login_row(&mut self, id: i64) -> Vec<Lit> {
        // Mostly an account's email, often written in another case or without accents: the
        // same key under utf8mb4_general_ci, so the same shard.
        let email = if self.rng.chance(90) && !self.emails.is_empty() {
            let e = self.rng.pick(&self.emails).clone();
            self.variant(&e, false)
        } else {
            format!("nobody{}@mail.test", self.rng.range(1, 40))
        };
        let at = self.rng.datetime(2021, 2024);
        let ok = Lit::Int(self.rng.range(0, 1));
        let ok = self.rng.maybe(20, ok);
        let ip = Lit::Str(format!(
            "{}.{}.{}.{}",
            self.rng.pick(&[10, 192, 172, 8]),
            self.rng.range(0, 255),
            self.rng.range(0, 255),
            self.rng.range(1, 254)
        ));
        let ip = self.rng.maybe(15, ip);
        vec![Lit::Int(id), Lit::Str(email), at, ok, ip]
    }

    /// `email` with letters in another case, accents removed, maybe trailing spaces (which
    /// PAD SPACE collations ignore): equal under utf8mb4_general_ci.
    fn variant(&mut self, email: &str, spaces: bool) -> String {
        let mut out = String::new();
        for c in email.chars() {
            let c = if self.rng.chance(40) {
                match c {
                    'é' | 'è' | 'ë' => 'E',
                    'É' => 'e',
                    'ô' => 'o',
                    'ä' => 'A',
                    'ñ' => 'N',
                    'ß' => 's',
                    _ => c,
                }
            } else {
                c
            };
            if self.rng.chance(30) {
                if c.is_lowercase() {
                    out.extend(c.to_uppercase());
                } else {
                    out.extend(c.to_lowercase());
                }
            } else {
                out.push(c);
            }
        }
        if spaces && self.rng.chance(15) {
            out.push_str("  ");
        }
        out
    }

    // -- keys to look up

    fn customer_key(&mut self) -> i64 {
        if self.rng.chance(88) {
            *self.rng.pick(&self.customer_ids)
        } else {
            self.rng.range(-300, 300)
        }
    }

    fn order_key(&mut self) -> i64 {
        if self.rng.chance(90) {
            *self.rng.pick(&self.order_customers)
        } else {
            self.rng.range(-300, 300)
        }
    }

    fn email_key(&mut self) -> String {
        if self.rng.chance(90) {
            let e = self.rng.pick(&self.emails).clone();
            self.variant(&e, true)
        } else {
            format!("nobody{}@mail.test", self.rng.range(1, 60))
        }
    }

    /// A key of `table`'s shard key, as a literal.
    fn key(&mut self, table: &str) -> Lit {
        match table {
            "customers" => Lit::Int(self.customer_key()),
            "orders" => Lit::Int(self.order_key()),
            _ => Lit::Str(self.email_key()),
        }
    }

    fn keys(&mut self, table: &str, n: usize) -> Vec<Lit> {
        (0..n).map(|_| self.key(table)).collect()
    }

    // -- the initial data

    fn insert_statements(&mut self) -> Vec<Stmt> {
        let mut out = Vec::new();
        let countries: &[(&str, &str, Option<&str>, Option<&str>)] = &[
            ("FR", "France", Some("Europe"), Some("20.00")),
            ("DE", "Deutschland", Some("Europe"), Some("19.00")),
            ("ES", "España", Some("europe"), Some("21.00")),
            ("IS", "Ísland", Some("Nordic"), None),
            ("JP", "日本", Some("Asia"), Some("10.00")),
            ("US", "United States", Some("Americas"), None),
            ("GB", "United Kingdom", None, Some("20.00")),
            ("BR", "Brasil", Some("Americas"), Some("17.50")),
        ];
        let mut sql = Sql::new(false);
        sql.s("INSERT INTO countries (code, name, region, vat) VALUES ");
        for (i, (code, name, region, vat)) in countries.iter().enumerate() {
            if i > 0 {
                sql.s(", ");
            }
            sql.list(&[
                Lit::Str(code.to_string()),
                Lit::Str(name.to_string()),
                region.map_or(Lit::Null, |r| Lit::Str(r.into())),
                vat.map_or(Lit::Null, |v| Lit::Dec(v.into())),
            ]);
        }
        out.push(sql.write("insert_global", "countries"));

        let mut sql = Sql::new(false);
        sql.s("INSERT INTO settings (name, value, n) VALUES ");
        for i in 0..25 {
            if i > 0 {
                sql.s(", ");
            }
            let value = self.rng.str_of(NOTES);
            let value = self.rng.maybe(25, value);
            let n = Lit::Int(self.rng.range(-5, 20));
            let n = self.rng.maybe(15, n);
            sql.list(&[Lit::Str(format!("{}{i}", self.rng.pick(NAMES))), value, n]);
        }
        out.push(sql.write("insert_unsharded", "settings"));

        // Customers: negative ids, 0, the extremes of BIGINT and values beyond 2^53.
        let mut ids: Vec<i64> = (-200..=400).collect();
        self.rng.shuffle(&mut ids);
        ids.truncate(150);
        ids.extend([i64::MIN, i64::MAX, (1 << 53) + 1, -(1 << 53) - 3]);
        self.customer_ids = ids.clone();
        let rows: Vec<Vec<Lit>> = ids.iter().map(|&id| self.customer_row(id)).collect();
        out.extend(self.batches(
            "customers",
            "(id, name, city, balance, born, country, vip)",
            rows,
        ));

        let rows: Vec<Vec<Lit>> = (0..360)
            .map(|_| {
                let id = self.next_order;
                self.next_order += 1;
                self.order_row(id)
            })
            .collect();
        out.extend(self.batches(
            "orders",
            "(id, customer_id, amount, qty, status, created, note)",
            rows,
        ));

        let rows: Vec<Vec<Lit>> = (0..90).map(|_| self.account_row()).collect();
        out.extend(self.batches("accounts", "(email, customer_id, score, nick, since)", rows));

        let rows: Vec<Vec<Lit>> = (0..240)
            .map(|_| {
                let id = self.next_login;
                self.next_login += 1;
                self.login_row(id)
            })
            .collect();
        out.extend(self.batches("logins", "(id, email, at, ok, ip)", rows));
        out
    }

    fn batches(&mut self, table: &'static str, columns: &str, rows: Vec<Vec<Lit>>) -> Vec<Stmt> {
        insert_batches(&mut self.rng, table, columns, rows, 30)
    }

    // -- SELECTs

    fn select(&mut self) -> Stmt {
        match self.rng.below(100) {
            0..=11 => self.key_lookup("customers"),
            12..=23 => self.key_lookup("orders"),
            24..=33 => self.key_lookup("accounts"),
            34..=39 => self.key_lookup("logins"),
            40..=51 => self.scan(),
            52..=61 => self.colocated_join(true),
            62..=65 => self.colocated_join(false),
            66..=73 => self.global_join(),
            74..=79 => self.unsharded_or_global(),
            80..=91 => self.keyed_merge(),
            _ => self.same_shard_in(),
        }
    }

    /// A select list over `table`, columns prefixed with `p` (an alias and a dot, or
    /// nothing); `*` now and then when `star`.
    fn projection(&mut self, table: &str, p: &str, star: bool) -> String {
        let list: &[&str] = match table {
            "customers" => &[
                "{p}id, {p}name",
                "{p}id, UPPER({p}name) AS up, LOWER({p}city) AS low",
                "{p}id, {p}balance * 2 AS dbl, ROUND({p}balance / 3, 4) AS third",
                "{p}id, CONCAT({p}name, ' / ', COALESCE({p}city, '?')) AS label",
                "{p}id, YEAR({p}born) AS y, DATE_ADD({p}born, INTERVAL 10 DAY) AS later",
                "{p}id, CASE WHEN {p}balance < 0 THEN 'debt' WHEN {p}balance IS NULL THEN 'none' ELSE 'ok' END AS state",
                "{p}id, LENGTH({p}name) AS bytes, CHAR_LENGTH({p}name) AS chars",
                "{p}id + 1000 AS shifted, -{p}id AS neg, {p}vip",
                "{p}name, {p}name = 'alice' AS is_alice, {p}born",
                "{p}country, IFNULL({p}balance, 0) AS bal, {p}id",
            ],
            "orders" => &[
                "{p}id, {p}amount",
                "{p}id, {p}amount * IFNULL({p}qty, 1) AS total",
                "{p}id, {p}status, DATE_FORMAT({p}created, '%Y-%m') AS ym",
                "{p}id, DATEDIFF({p}created, '2020-01-01') AS days, {p}qty",
                "{p}customer_id, {p}id, UPPER({p}status) AS st",
                "{p}id, COALESCE({p}note, '(none)') AS note2, {p}amount - 0.5 AS less",
                "{p}id, {p}created, {p}note",
            ],
            "accounts" => &[
                "{p}email, {p}score",
                "LOWER({p}email) AS e, {p}score * 10 AS s10",
                "{p}email, HOUR({p}since) AS h, {p}nick",
                "{p}email, {p}customer_id, {p}since",
            ],
            _ => &[
                "{p}id, {p}email, {p}at",
                "{p}id, DATE({p}at) AS d, IFNULL({p}ok, -1) AS okk",
                "{p}id, {p}ip, {p}ok",
            ],
        };
        if star && self.rng.chance(15) {
            return if p.is_empty() {
                "*".into()
            } else {
                format!("{p}*")
            };
        }
        self.rng.pick(list).replace("{p}", p)
    }

    /// A condition on other columns than the key (or a range on the key, which routes
    /// nowhere in particular).
    fn condition(&mut self, table: &str, p: &str) -> String {
        let amount = self.rng.dec(-10, 800);
        let low = self.rng.dec(-500, 200);
        let high = self.rng.dec(200, 900);
        let year = self.rng.range(1950, 2005);
        let n = self.rng.range(-2, 9);
        let k = self.rng.range(-100, 300);
        let conds: Vec<String> = match table {
            "customers" => vec![
                "{p}name LIKE 'al%'".into(),
                "{p}name LIKE '%e%'".into(),
                "{p}name LIKE '_o%'".into(),
                "{p}name = 'alice'".into(),
                "{p}name = 'jose'".into(),
                "{p}city IS NULL".into(),
                "{p}city IS NOT NULL".into(),
                "{p}city = 'koln'".into(),
                format!("{{p}}balance > {amount}"),
                format!("{{p}}balance BETWEEN {low} AND {high}"),
                "{p}balance < 0".into(),
                format!("{{p}}born >= '{year}-01-01'"),
                format!("YEAR({{p}}born) < {year}"),
                "{p}country IN ('FR', 'DE')".into(),
                "{p}country = 'ZZ'".into(),
                "{p}vip = 1".into(),
                format!("{{p}}id > {k}"),
                format!("{{p}}id BETWEEN {} AND {}", k - 50, k),
                "NOT ({p}city = 'Paris')".into(),
                "({p}city = 'Paris' OR {p}balance IS NULL)".into(),
            ],
            "orders" => vec![
                format!("{{p}}amount > {amount}"),
                format!("{{p}}amount BETWEEN {low} AND {high}"),
                "{p}status = 'paid'".into(),
                "{p}status IN ('new', 'shipped')".into(),
                "{p}status <> 'cancelled'".into(),
                "{p}qty IS NULL".into(),
                format!("{{p}}qty >= {n}"),
                "{p}created >= '2022-01-01'".into(),
                "{p}created BETWEEN '2021-01-01' AND '2021-12-31'".into(),
                "{p}note LIKE '%e%'".into(),
                "{p}note LIKE 'CAF%'".into(),
                "{p}note IS NOT NULL".into(),
                format!("{{p}}id % 7 = {}", n.rem_euclid(7)),
                "MONTH({p}created) = 5".into(),
                format!("({{p}}qty > {n} OR {{p}}note IS NULL)"),
                format!("{{p}}customer_id > {k}"),
            ],
            "accounts" => vec![
                format!("{{p}}score > {n}"),
                "{p}score IS NULL".into(),
                "{p}nick LIKE 'a%'".into(),
                "{p}nick IS NOT NULL".into(),
                "{p}since >= '2022-06-01 00:00:00'".into(),
                "{p}customer_id IS NOT NULL".into(),
                "{p}email LIKE 'j%'".into(),
            ],
            _ => vec![
                "{p}ok = 1".into(),
                "{p}ok IS NULL".into(),
                "{p}at >= '2023-06-01'".into(),
                "{p}ip LIKE '10.%'".into(),
                "{p}ip IS NULL".into(),
                format!("{{p}}id < {}", k.max(1)),
            ],
        };
        self.rng.pick(&conds).replace("{p}", p)
    }

    fn key_column(table: &str) -> &'static str {
        match table {
            "customers" => "id",
            "orders" => "customer_id",
            _ => "email",
        }
    }

    /// Key equality, IN or OR of equalities, maybe with another condition.
    fn key_lookup(&mut self, table: &'static str) -> Stmt {
        let prepared = self.rng.chance(25);
        let alias = self.rng.chance(30);
        let p = if alias { "t." } else { "" };
        let key = format!("{p}{}", Self::key_column(table));
        let mut sql = Sql::new(prepared);
        let proj = self.projection(table, p, true);
        sql.s(&format!("SELECT {proj} FROM {table}"));
        if alias {
            sql.s(" t");
        }
        sql.s(" WHERE ");
        let construct;
        match self.rng.below(3) {
            0 => {
                construct = "key_eq";
                let k = self.key(table);
                if self.rng.chance(20) {
                    sql.l(&k).s(&format!(" = {key}"));
                } else {
                    sql.s(&format!("{key} = ")).l(&k);
                }
            }
            1 => {
                construct = "key_in";
                let n = self.rng.range(1, 6) as usize;
                let ks = self.keys(table, n);
                sql.s(&format!("{key} IN ")).list(&ks);
            }
            _ => {
                construct = "key_or";
                let n = self.rng.range(2, 4) as usize;
                sql.s("(");
                for i in 0..n {
                    if i > 0 {
                        sql.s(" OR ");
                    }
                    let k = self.key(table);
                    sql.s(&format!("{key} = ")).l(&k);
                }
                sql.s(")");
            }
        }
        if self.rng.chance(45) {
            let c = self.condition(table, p);
            sql.s(&format!(" AND {c}"));
        }
        let construct = match (construct, prepared) {
            ("key_eq", true) => "key_eq_prepared",
            ("key_in", true) => "key_in_prepared",
            ("key_or", true) => "key_or_prepared",
            (c, _) => c,
        };
        sql.select(construct, false)
    }

    /// No key: every shard, rows concatenated.
    fn scan(&mut self) -> Stmt {
        let table = *self
            .rng
            .pick(&["customers", "orders", "accounts", "logins"]);
        let proj = self.projection(table, "", true);
        let mut sql = Sql::new(false);
        sql.s(&format!("SELECT {proj} FROM {table}"));
        if self.rng.chance(80) {
            let c = self.condition(table, "");
            sql.s(&format!(" WHERE {c}"));
            if self.rng.chance(30) {
                let c = self.condition(table, "");
                sql.s(&format!(" AND {c}"));
            }
        }
        sql.select("scan", false)
    }

    /// customers ⋈ orders on customer_id = id, or accounts ⋈ logins on email; with a key
    /// condition (`keyed`) or scanning every shard.
    fn colocated_join(&mut self, keyed: bool) -> Stmt {
        let prepared = keyed && self.rng.chance(20);
        let mut sql = Sql::new(prepared);
        let left = self.rng.chance(30);
        let join = if left { "LEFT JOIN" } else { "JOIN" };
        let (a, b, on, ta, tb) = if self.rng.chance(60) {
            ("customers", "orders", "o.customer_id = c.id", "c.", "o.")
        } else {
            ("accounts", "logins", "l.email = a.email", "a.", "l.")
        };
        let pa = self.projection(a, ta, false);
        let pb = self.projection(b, tb, false);
        let (aa, ab) = (&ta[..1], &tb[..1]);
        sql.s(&format!(
            "SELECT {pa}, {pb} FROM {a} {aa} {join} {b} {ab} ON {on}"
        ));
        if left && self.rng.chance(40) {
            let c = self.condition(b, tb);
            sql.s(&format!(" AND {c}"));
        }
        if keyed {
            // The key condition on either table of the pair.
            let (t, p) = if self.rng.chance(50) {
                (a, ta)
            } else {
                (b, tb)
            };
            let col = format!("{p}{}", Self::key_column(t));
            // Both tables' keys are the same value: draw it from the left table.
            sql.s(" WHERE ");
            if self.rng.chance(60) {
                let k = self.key(a);
                sql.s(&format!("{col} = ")).l(&k);
            } else {
                let n = self.rng.range(2, 4) as usize;
                let ks = self.keys(a, n);
                sql.s(&format!("{col} IN ")).list(&ks);
            }
            if self.rng.chance(40) {
                let c = self.condition(a, ta);
                sql.s(&format!(" AND {c}"));
            }
        } else {
            let c = self.condition(b, tb);
            sql.s(&format!(" WHERE {c}"));
        }
        let construct = match (keyed, left) {
            (true, false) => "join_colocated_key",
            (true, true) => "left_join_colocated_key",
            (false, false) => "join_colocated_scan",
            (false, true) => "left_join_colocated_scan",
        };
        sql.select(construct, false)
    }

    /// A sharded table joined with the global table (each shard joins its own copy).
    fn global_join(&mut self) -> Stmt {
        let mut sql = Sql::new(false);
        let left = self.rng.chance(40);
        let join = if left { "LEFT JOIN" } else { "JOIN" };
        let three = self.rng.chance(25);
        let pc = self.projection("customers", "c.", false);
        sql.s(&format!(
            "SELECT {pc}, ct.name AS country_name, ct.vat * 2 AS vat2"
        ));
        if three {
            sql.s(", o.id AS order_id, o.amount");
        }
        sql.s(&format!(
            " FROM customers c {join} countries ct ON ct.code = c.country"
        ));
        if three {
            sql.s(" JOIN orders o ON o.customer_id = c.id");
        }
        let keyed = self.rng.chance(50);
        if keyed {
            let n = self.rng.range(1, 3) as usize;
            let ks = self.keys("customers", n);
            sql.s(" WHERE c.id IN ").list(&ks);
        } else {
            let c = self.condition("customers", "c.");
            sql.s(&format!(" WHERE {c}"));
            if self.rng.chance(40) {
                sql.s(" AND ct.region IS NOT NULL");
            }
        }
        sql.select(
            if three {
                "join_global_3way"
            } else {
                "join_global"
            },
            false,
        )
    }

    /// The global table read alone and the unsharded table: one shard, anything goes.
    fn unsharded_or_global(&mut self) -> Stmt {
        let n = self.rng.range(-3, 15);
        let limit = self.rng.range(1, 8);
        let (sql, ordered, construct) = match self.rng.below(9) {
            0 => ("SELECT * FROM settings".to_string(), false, "unsharded"),
            1 => (
                format!("SELECT name, value FROM settings WHERE n > {n} ORDER BY name"),
                true,
                "unsharded",
            ),
            2 => (
                "SELECT COUNT(*), SUM(n), MAX(value), MIN(name) FROM settings".into(),
                true,
                "unsharded",
            ),
            3 => (
                format!(
                    "SELECT name, n * 2 AS n2 FROM settings WHERE value LIKE '%a%' ORDER BY n DESC, name LIMIT {limit}"
                ),
                true,
                "unsharded",
            ),
            4 => (
                "SELECT value, COUNT(*) AS c FROM settings GROUP BY value ORDER BY value".into(),
                true,
                "unsharded",
            ),
            5 => ("SELECT * FROM countries".into(), false, "global"),
            6 => (
                "SELECT region, COUNT(*), SUM(vat) FROM countries GROUP BY region ORDER BY region"
                    .into(),
                true,
                "global",
            ),
            7 => (
                format!("SELECT code, name FROM countries ORDER BY name LIMIT {limit}"),
                true,
                "global",
            ),
            _ => (
                "SELECT DISTINCT region FROM countries WHERE vat IS NOT NULL".into(),
                false,
                "global",
            ),
        };
        let mut s = Sql::new(false);
        s.s(&sql);
        s.select(construct, ordered)
    }

    /// ORDER BY, LIMIT, aggregates, GROUP BY, DISTINCT under a single-key condition: one
    /// shard answers, so they are fair game.
    fn keyed_merge(&mut self) -> Stmt {
        let prepared = self.rng.chance(25);
        let mut sql = Sql::new(prepared);
        let limit = self.rng.range(1, 5);
        let offset = self.rng.range(0, 2);
        let (ordered, construct) = match self.rng.below(8) {
            0 => {
                let k = self.key("orders");
                let dir = *self.rng.pick(&["", " DESC"]);
                sql.s("SELECT id, amount, status FROM orders WHERE customer_id = ")
                    .l(&k)
                    .s(&format!(" ORDER BY id{dir} LIMIT {limit}"));
                (true, "key_order_limit")
            }
            1 => {
                let k = self.key("orders");
                sql.s("SELECT id, amount FROM orders WHERE customer_id = ")
                    .l(&k)
                    .s(&format!(
                        " ORDER BY amount DESC, id LIMIT {limit} OFFSET {offset}"
                    ));
                (true, "key_order_limit")
            }
            2 => {
                let k = self.key("orders");
                sql.s("SELECT COUNT(*), SUM(amount), MIN(created), MAX(qty), AVG(amount), COUNT(note) FROM orders WHERE customer_id = ")
                    .l(&k);
                (true, "key_aggregate")
            }
            3 => {
                let k = self.key("orders");
                sql.s("SELECT status, COUNT(*), SUM(amount) FROM orders WHERE customer_id = ")
                    .l(&k)
                    .s(" GROUP BY status");
                (false, "key_group_by")
            }
            4 => {
                let k = self.key("orders");
                sql.s("SELECT DISTINCT status FROM orders WHERE customer_id = ")
                    .l(&k);
                (false, "key_distinct")
            }
            5 => {
                let k = self.key("orders");
                sql.s("SELECT status, COUNT(*) AS n FROM orders WHERE customer_id = ")
                    .l(&k)
                    .s(" GROUP BY status HAVING n > 1");
                (false, "key_group_by")
            }
            6 => {
                let k = self.key("logins");
                sql.s("SELECT COUNT(*), MAX(at), SUM(ok) FROM logins WHERE email = ")
                    .l(&k);
                (true, "key_aggregate")
            }
            _ => {
                let k = self.key("accounts");
                sql.s("SELECT a.email, COUNT(l.id) AS n FROM accounts a LEFT JOIN logins l ON l.email = a.email WHERE a.email = ")
                    .l(&k)
                    .s(" GROUP BY a.email");
                (false, "key_join_aggregate")
            }
        };
        sql.select(construct, ordered)
    }

    /// IN of integer keys that all live on one shard (|k| mod 16 equal): ORDER BY and
    /// LIMIT are then fine.
    fn same_shard_in(&mut self) -> Stmt {
        let base = self.customer_key();
        let r = (base.unsigned_abs() % u64::from(SHARDS)) as i64;
        let mut ks = vec![Lit::Int(base)];
        for _ in 0..self.rng.range(1, 3) {
            // Another key on the same shard: same remainder, either sign.
            let m = self.rng.range(0, 25);
            let v = r + i64::from(SHARDS) * m;
            ks.push(Lit::Int(if self.rng.chance(40) { -v } else { v }));
        }
        let prepared = self.rng.chance(25);
        let mut sql = Sql::new(prepared);
        if self.rng.chance(50) {
            sql.s("SELECT id, name, balance FROM customers WHERE id IN ")
                .list(&ks)
                .s(" ORDER BY id DESC");
        } else {
            let limit = self.rng.range(1, 6);
            sql.s("SELECT customer_id, id, amount FROM orders WHERE customer_id IN ")
                .list(&ks)
                .s(&format!(" ORDER BY customer_id, id LIMIT {limit}"));
        }
        sql.select("same_shard_in_ordered", true)
    }

    // -- writes

    fn write(&mut self) -> Stmt {
        let prepared = self.rng.chance(30);
        let mut sql = Sql::new(prepared);
        match self.rng.below(14) {
            0 | 1 => {
                let k = self.key("orders");
                let delta = self.rng.dec(0, 5);
                let status = *self.rng.pick(STATUSES);
                sql.s(&format!(
                    "UPDATE orders SET status = '{status}', amount = amount + {delta} WHERE customer_id = "
                ))
                .l(&k);
                if self.rng.chance(50) {
                    let c = self.condition("orders", "");
                    sql.s(&format!(" AND {c}"));
                }
                sql.write("update_key", "orders")
            }
            2 => {
                let n = self.rng.range(1, 4) as usize;
                let ks = self.keys("customers", n);
                let city = self.rng.str_of(CITIES);
                sql.s("UPDATE customers SET city = ")
                    .l(&city)
                    .s(", balance = balance - 1 WHERE id IN ")
                    .list(&ks);
                sql.write("update_key_in", "customers")
            }
            3 => {
                let k = self.key("accounts");
                let nick = self.rng.str_of(NAMES);
                sql.s("UPDATE accounts SET score = IFNULL(score, 0) + 1, nick = ")
                    .l(&nick)
                    .s(" WHERE email = ")
                    .l(&k);
                sql.write("update_string_key", "accounts")
            }
            4 => {
                let k = self.key("orders");
                let status = *self.rng.pick(STATUSES);
                sql.s("DELETE FROM orders WHERE customer_id = ")
                    .l(&k)
                    .s(&format!(" AND status = '{status}'"));
                sql.write("delete_key", "orders")
            }
            5 => {
                let n = self.rng.range(1, 3) as usize;
                let ks = self.keys("logins", n);
                sql.s("DELETE FROM logins WHERE email IN ").list(&ks);
                sql.write("delete_key", "logins")
            }
            6 | 7 => {
                let n = self.rng.range(1, 8);
                sql.s("INSERT INTO orders (id, customer_id, amount, qty, status, created, note) VALUES ");
                for i in 0..n {
                    if i > 0 {
                        sql.s(", ");
                    }
                    let id = self.next_order;
                    self.next_order += 1;
                    let row = self.order_row(id);
                    sql.list(&row);
                }
                let construct = match (prepared, n) {
                    (false, 1) => "insert_single",
                    (false, _) => "insert_multi",
                    (true, 1) => "insert_single_prepared",
                    (true, _) => "insert_multi_prepared",
                };
                sql.write(construct, "orders")
            }
            8 => {
                let id = self.next_customer;
                self.next_customer += 1 + self.rng.range(0, 20);
                let id = if self.rng.chance(40) { -id } else { id };
                self.customer_ids.push(id);
                let row = self.customer_row(id);
                sql.s(
                    "INSERT INTO customers (id, name, city, balance, born, country, vip) VALUES ",
                )
                .list(&row);
                sql.write(
                    if prepared {
                        "insert_single_prepared"
                    } else {
                        "insert_single"
                    },
                    "customers",
                )
            }
            9 => {
                // An existing email in another spelling: the same row under the collation,
                // so ON DUPLICATE KEY UPDATE updates it (2 affected rows).
                let k = self.email_key();
                let k = k.trim_end().to_string();
                let score = Lit::Int(self.rng.range(1, 9));
                sql.s("INSERT INTO accounts (email, score) VALUES (")
                    .l(&Lit::Str(k))
                    .s(", ")
                    .l(&score)
                    .s(") ON DUPLICATE KEY UPDATE score = IFNULL(score, 0) + VALUES(score)");
                sql.write("insert_on_duplicate", "accounts")
            }
            10 => {
                let n = self.rng.range(2, 6);
                let rows: Vec<Vec<Lit>> = (0..n).map(|_| self.account_row()).collect();
                sql.s("INSERT INTO accounts (email, customer_id, score, nick, since) VALUES ");
                for (i, r) in rows.iter().enumerate() {
                    if i > 0 {
                        sql.s(", ");
                    }
                    sql.list(r);
                }
                sql.write(
                    if prepared {
                        "insert_multi_prepared"
                    } else {
                        "insert_multi"
                    },
                    "accounts",
                )
            }
            11 => {
                let code = format!("Q{}", (b'A' + (self.next_country % 26) as u8) as char);
                self.next_country += 1;
                let vat = Lit::Dec(self.rng.dec(0, 30));
                sql.s("INSERT INTO countries (code, name, region, vat) VALUES (")
                    .l(&Lit::Str(code))
                    .s(", 'Nouveau pays', NULL, ")
                    .l(&vat)
                    .s(")");
                sql.write("write_global", "countries")
            }
            12 => {
                let code = *self.rng.pick(COUNTRY_CODES);
                let mut s = Sql::new(false);
                s.s(&format!(
                    "UPDATE countries SET vat = IFNULL(vat, 0) + 0.5, region = UPPER(region) WHERE code = '{code}'"
                ));
                s.write("write_global", "countries")
            }
            _ => {
                let mut s = Sql::new(false);
                let n = self.rng.range(-5, 20);
                s.s(&format!(
                    "UPDATE settings SET n = IFNULL(n, 0) + 1, value = CONCAT(IFNULL(value, ''), 'é') WHERE n < {n}"
                ));
                s.write("write_unsharded", "settings")
            }
        }
    }
}

// ---- running and comparing -------------------------------------------------------------------

/// A router refusal, as opposed to an error the backend would also give.
fn is_refusal(code: u16) -> bool {
    code == 1235 || code == 1105
}

struct Diff {
    proxy: Conn,
    plain: Conn,
    /// The connections SQL-level PREPARE runs on (user variables pin a proxy session to
    /// its backend connections; the others stay unpinned).
    sql_proxy: Conn,
    sql_plain: Conn,
    counts: BTreeMap<String, Count>,
    mismatches: Vec<String>,
}

impl Diff {
    async fn new(servers: &Servers) -> Result<Diff> {
        Ok(Diff {
            proxy: servers.proxy_conn().await?,
            plain: servers.plain_conn().await?,
            sql_proxy: servers.proxy_conn().await?,
            sql_plain: servers.plain_conn().await?,
            counts: BTreeMap::new(),
            mismatches: Vec::new(),
        })
    }

    fn mismatch(&mut self, s: &Stmt, what: &str, plain: &Outcome, proxy: &Outcome) {
        self.mismatches.push(mismatch_report(s, what, plain, proxy));
    }

    /// Runs `s` on both sides and compares. Returns whether the statement was compared (not
    /// refused).
    async fn check(&mut self, s: &Stmt) -> Result<bool> {
        let count = self.counts.entry(s.construct.clone()).or_default();
        count.run += 1;
        count.prepared += usize::from(s.prepared);
        // A write is sent to the proxy first so a refused one is not applied to the plain
        // server alone.
        let proxy = canonical(run(&mut self.proxy, s).await?, s.ordered);
        if let Outcome::Error { code, message } = &proxy
            && is_refusal(*code)
        {
            let plain = if s.writes.is_none() {
                Some(canonical(run(&mut self.plain, s).await?, s.ordered))
            } else {
                None
            };
            if !matches!(plain, Some(Outcome::Error { .. })) {
                self.counts
                    .entry(s.construct.clone())
                    .or_default()
                    .refuse(s, message);
                return Ok(false);
            }
        }
        let plain = canonical(run(&mut self.plain, s).await?, s.ordered);
        let count = self.counts.entry(s.construct.clone()).or_default();
        count.compared += 1;
        if matches!(&plain, Outcome::Rows { rows, .. } if !rows.is_empty()) {
            count.with_rows += 1;
        }
        match (&plain, &proxy) {
            (Outcome::Error { code: a, .. }, Outcome::Error { code: b, .. }) if a == b => {}
            (a, b) if a == b => {}
            _ => self.mismatch(s, "different results", &plain, &proxy),
        }
        if let Some(table) = s.writes {
            self.compare_table(table, s).await?;
        }
        Ok(true)
    }

    /// Runs a prepared statement again through SQL-level `PREPARE` / `EXECUTE … USING`
    /// user variables, on the connections kept for that, and compares.
    async fn check_sql_prepare(&mut self, s: &Stmt) -> Result<()> {
        let Some(twin) = s.sql_prepare_twin(SqlPrepare::Variables) else {
            return Ok(());
        };
        std::mem::swap(&mut self.proxy, &mut self.sql_proxy);
        std::mem::swap(&mut self.plain, &mut self.sql_plain);
        let r = self.check(&twin).await;
        std::mem::swap(&mut self.proxy, &mut self.sql_proxy);
        std::mem::swap(&mut self.plain, &mut self.sql_plain);
        r.map(|_| ())
    }

    /// The whole table, through the proxy (every shard) and on the plain server.
    async fn compare_table(&mut self, table: &str, after: &Stmt) -> Result<()> {
        let read = Stmt::read("recheck", format!("SELECT * FROM {table}"));
        let proxy = canonical(run(&mut self.proxy, &read).await?, false);
        let plain = canonical(run(&mut self.plain, &read).await?, false);
        if proxy != plain {
            self.mismatch(
                after,
                &format!("table {table} differs after this write"),
                &plain,
                &proxy,
            );
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_results_equal_a_single_server() -> Result<()> {
    let started = std::time::Instant::now();
    let seed: u64 = env_or("MYSHARD_DIFF_SEED", DEFAULT_SEED);
    let selects: usize = env_or("MYSHARD_DIFF_SELECTS", DEFAULT_SELECTS);
    let servers = Servers::start(SHARDS, TABLES).await?;
    let (g0, g1) = (&servers.g0, &servers.g1);
    let mut diff = Diff::new(&servers).await?;
    for ddl in DDL {
        diff.proxy.query_drop(*ddl).await.context(*ddl)?;
        diff.plain.query_drop(*ddl).await.context(*ddl)?;
    }

    let mut generator = Gen::new(seed);
    let inserts = generator.insert_statements();
    let mut statements = inserts.len();
    for s in &inserts {
        diff.check(s).await?;
        if !diff.mismatches.is_empty() {
            break;
        }
    }
    let data_rows: u64 = {
        let mut n = 0;
        for t in ALL_TABLES {
            let c: Vec<u64> = diff
                .plain
                .query(format!("SELECT COUNT(*) FROM {t}"))
                .await?;
            n += c[0];
        }
        n
    };

    if diff.mismatches.is_empty() {
        for i in 0..selects {
            let s = generator.select();
            diff.check(&s).await?;
            diff.check_sql_prepare(&s).await?;
            statements += 1 + usize::from(s.prepared);
            if (i + 1) % SELECTS_PER_WRITE == 0 {
                let w = generator.write();
                let before = diff.mismatches.len();
                diff.check(&w).await?;
                diff.check_sql_prepare(&w).await?;
                statements += 1 + usize::from(w.prepared);
                if diff.mismatches.len() > before {
                    // The two sides now hold different data: later results mean nothing.
                    break;
                }
            }
            if diff.mismatches.len() >= 20 {
                break;
            }
        }
    }

    // Every copy of the global table equals the plain server's, and every row of an
    // integer-keyed table sits on shard |key| mod 16.
    let plain_countries: Vec<Row> = diff
        .plain
        .query("SELECT * FROM countries ORDER BY code")
        .await?;
    let plain_countries: Vec<Vec<Value>> = plain_countries.into_iter().map(Row::unwrap).collect();
    let mut misplaced = Vec::new();
    for shard in 0..SHARDS {
        let server = if shard < SHARDS / 2 { g0 } else { g1 };
        let copy: Vec<Row> = server
            .query(&format!(
                "SELECT * FROM shop_{shard:04}.countries ORDER BY code"
            ))
            .await?;
        let copy: Vec<Vec<Value>> = copy.into_iter().map(Row::unwrap).collect();
        if copy != plain_countries {
            misplaced.push(format!("shop_{shard:04}.countries differs: {copy:?}"));
        }
        for (table, key) in [("customers", "id"), ("orders", "customer_id")] {
            let keys: Vec<i64> = server
                .query(&format!("SELECT {key} FROM shop_{shard:04}.{table}"))
                .await?;
            for k in keys {
                if k.unsigned_abs() % u64::from(SHARDS) != u64::from(shard) {
                    misplaced.push(format!("{table} row with {key} {k} on shard {shard}"));
                }
            }
        }
    }

    println!(
        "differential sharding test: seed {seed:#x}, {data_rows} rows of data, {statements} statements, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let total = print_counts(&diff.counts);

    let mut failures = Failures::default();
    failures.list("mismatch(es)", &diff.mismatches, "\n\n");
    failures.list("placement problem(s)", &misplaced, "\n");
    failures.refusals(&total, MAX_REFUSED_SHARE);
    if total.compared < selects / 2 {
        failures.push(format!("only {} statements were compared", total.compared));
    }
    failures.result()
}

/// A prepared multi-row INSERT spanning shards is split by the proxy, which writes the bound
/// values into each shard's statement as literals. A string bound for a latin1 column must
/// arrive as the same characters the server itself would store for the parameter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_prepared_insert_into_latin1_column() -> Result<()> {
    let servers = Servers::start(SHARDS, TABLES).await?;
    let mut diff = Diff::new(&servers).await?;
    let ddl = "CREATE TABLE latin_notes (k BIGINT NOT NULL, t VARCHAR(20) CHARACTER SET latin1, \
               b VARBINARY(20), PRIMARY KEY (k))";
    diff.proxy.query_drop(ddl).await?;
    diff.plain.query_drop(ddl).await?;
    let insert = Stmt {
        construct: "insert_multi_prepared".into(),
        sql: "INSERT INTO latin_notes (k, t, b) VALUES (?, ?, ?), (?, ?, ?)".into(),
        params: vec![
            Value::Int(1),
            Value::Bytes("café".into()),
            Value::Bytes(vec![0xff, 0x00, 0xc3]),
            Value::Int(9),
            Value::Bytes("naïve".into()),
            Value::Bytes("é".into()),
        ],
        prepared: true,
        sql_prepare: SqlPrepare::No,
        ordered: false,
        writes: Some("latin_notes"),
    };
    diff.check(&insert).await?;
    let read = Stmt::read(
        "read",
        "SELECT k, t, HEX(t), HEX(b) FROM latin_notes WHERE k IN (1, 9)",
    );
    diff.check(&read).await?;
    if !diff.mismatches.is_empty() {
        bail!("{}", diff.mismatches.join("\n\n"));
    }
    Ok(())
}
