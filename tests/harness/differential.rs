//! Shared pieces of the differential tests (testing layer 5): a seeded random generator,
//! statements with literals written inline or bound as parameters, running a statement on a
//! connection and capturing what it produced (column metadata, rows, affected rows or the
//! error), the per-construct counts table, and the servers: one plain MariaDB holding all the
//! data in database `shop`, and myshard in front of two groups with `shop` sharded.
//!
//! It only runs and records; what counts as equal is up to each test.

use super::MariaDb;
use super::proxy::{app_conn, create_shard_databases, sharded_config, start_proxy};
use anyhow::{Context, Result};
use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Row, Value};
use std::collections::BTreeMap;

// ---- deterministic randomness ----------------------------------------------------------------

/// xorshift64* (Vigna): small, fast, and the same on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }

    /// True with probability `pct` %.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i + 1);
            xs.swap(i, j);
        }
    }

    /// A decimal with two digits after the point in `lo..=hi`, as text.
    pub fn dec(&mut self, lo: i64, hi: i64) -> String {
        let cents = self.range(lo * 100, hi * 100);
        let sign = if cents < 0 { "-" } else { "" };
        format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
    }

    /// A date of a year in `y0..=y1` (days 1 to 28, so every month has them).
    pub fn date(&mut self, y0: i64, y1: i64) -> Lit {
        Lit::Date(
            self.range(y0, y1) as u16,
            self.range(1, 12) as u8,
            self.range(1, 28) as u8,
        )
    }

    /// A date and time of a year in `y0..=y1`, whole seconds.
    pub fn datetime(&mut self, y0: i64, y1: i64) -> Lit {
        Lit::DateTime(
            self.range(y0, y1) as u16,
            self.range(1, 12) as u8,
            self.range(1, 28) as u8,
            self.range(0, 23) as u8,
            self.range(0, 59) as u8,
            self.range(0, 59) as u8,
        )
    }

    /// `lit`, or NULL with probability `pct_null` %.
    pub fn maybe(&mut self, pct_null: u64, lit: Lit) -> Lit {
        if self.chance(pct_null) {
            Lit::Null
        } else {
            lit
        }
    }

    /// One of `xs` as a string literal.
    pub fn str_of(&mut self, xs: &[&str]) -> Lit {
        Lit::Str(self.pick(xs).to_string())
    }
}

// ---- data ------------------------------------------------------------------------------------

/// E-mail local parts: mixed case, accents, a quote, 'ß'.
pub const EMAIL_PREFIXES: &[&str] = &[
    "alice",
    "Bob.Smith",
    "jérôme",
    "ÉLODIE",
    "zoë",
    "o'neil",
    "Straße",
    "ñandú",
    "li",
    "MIXED.Case",
];
/// E-mail domains, one in mixed case, one accented.
pub const EMAIL_DOMAINS: &[&str] = &["example.com", "Example.ORG", "exämple.fr", "mail.test"];

// ---- statements ------------------------------------------------------------------------------

/// A literal of a generated statement: written inline, or bound as a parameter.
#[derive(Debug, Clone)]
pub enum Lit {
    Null,
    Int(i64),
    /// DECIMAL as text.
    Dec(String),
    Double(f64),
    Str(String),
    Date(u16, u8, u8),
    DateTime(u16, u8, u8, u8, u8, u8),
}

impl Lit {
    pub fn sql(&self) -> String {
        match self {
            Lit::Null => "NULL".into(),
            Lit::Int(i) => i.to_string(),
            Lit::Dec(d) => d.clone(),
            // The shortest text that reads back as the same double; the exponent keeps the
            // server from taking it for a DECIMAL.
            Lit::Double(d) => format!("{d:e}"),
            Lit::Str(s) => quote(s),
            Lit::Date(y, m, d) => format!("'{y:04}-{m:02}-{d:02}'"),
            Lit::DateTime(y, mo, d, h, mi, s) => {
                format!("'{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}'")
            }
        }
    }

    /// The value bound for a `?`. Decimals go as text, the way most drivers send them.
    pub fn value(&self) -> Value {
        match self {
            Lit::Null => Value::NULL,
            Lit::Int(i) => Value::Int(*i),
            Lit::Dec(d) => Value::Bytes(d.clone().into_bytes()),
            Lit::Double(d) => Value::Double(*d),
            Lit::Str(s) => Value::Bytes(s.clone().into_bytes()),
            Lit::Date(y, m, d) => Value::Date(*y, *m, *d, 0, 0, 0, 0),
            Lit::DateTime(y, mo, d, h, mi, s) => Value::Date(*y, *mo, *d, *h, *mi, *s, 0),
        }
    }
}

/// An SQL string literal; quotes doubled, backslashes escaped.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// One generated statement.
#[derive(Debug, Clone)]
pub struct Stmt {
    /// What it exercises, for the counts.
    pub construct: String,
    pub sql: String,
    pub params: Vec<Value>,
    /// Sent as a server-side prepared statement.
    pub prepared: bool,
    /// Run through SQL-level `PREPARE` / `EXECUTE … USING` instead.
    pub sql_prepare: SqlPrepare,
    /// ORDER BY fully determines the row order.
    pub ordered: bool,
    /// For writes: the table whose contents are compared afterwards.
    pub writes: Option<&'static str>,
}

/// How a statement runs through SQL-level `PREPARE` / `EXECUTE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlPrepare {
    /// It does not (text or a server-side prepared statement).
    No,
    /// `SET @myshard_p0 = …, …` then `EXECUTE … USING @myshard_p0, …`.
    Variables,
    /// `EXECUTE … USING` the literals.
    Literals,
}

impl Stmt {
    /// The same prepared statement run through SQL-level `PREPARE` / `EXECUTE` with its
    /// parameters as user variables or literals (construct `<construct>_sql_prepare`);
    /// `None` for a statement that is not prepared.
    pub fn sql_prepare_twin(&self, how: SqlPrepare) -> Option<Stmt> {
        if !self.prepared || how == SqlPrepare::No {
            return None;
        }
        Some(Stmt {
            construct: format!("{}_sql_prepare", self.construct),
            prepared: false,
            sql_prepare: how,
            ..self.clone()
        })
    }

    /// A plain-text read.
    pub fn read(construct: &str, sql: impl Into<String>) -> Stmt {
        Stmt {
            construct: construct.into(),
            sql: sql.into(),
            params: vec![],
            prepared: false,
            sql_prepare: SqlPrepare::No,
            ordered: false,
            writes: None,
        }
    }
}

/// Builds a statement's text, literals inline or as `?` parameters.
pub struct Sql {
    pub text: String,
    pub params: Vec<Value>,
    pub prepared: bool,
}

impl Sql {
    pub fn new(prepared: bool) -> Sql {
        Sql {
            text: String::new(),
            params: Vec::new(),
            prepared,
        }
    }

    pub fn s(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    pub fn l(&mut self, lit: &Lit) -> &mut Sql {
        if self.prepared {
            self.text.push('?');
            self.params.push(lit.value());
        } else {
            self.text.push_str(&lit.sql());
        }
        self
    }

    /// `(a, b, c)`.
    pub fn list(&mut self, lits: &[Lit]) -> &mut Sql {
        self.s("(");
        for (i, l) in lits.iter().enumerate() {
            if i > 0 {
                self.s(", ");
            }
            self.l(l);
        }
        self.s(")")
    }

    pub fn select(self, construct: &str, ordered: bool) -> Stmt {
        Stmt {
            construct: construct.into(),
            sql: self.text,
            params: self.params,
            prepared: self.prepared,
            sql_prepare: SqlPrepare::No,
            ordered,
            writes: None,
        }
    }

    pub fn write(self, construct: &str, table: &'static str) -> Stmt {
        Stmt {
            construct: construct.into(),
            sql: self.text,
            params: self.params,
            prepared: self.prepared,
            sql_prepare: SqlPrepare::No,
            ordered: false,
            writes: Some(table),
        }
    }
}

/// `rows` as multi-row INSERTs of 1 to `max_rows` rows each, a quarter of them sent as
/// prepared statements; constructs `insert_single`, `insert_multi` and their `_prepared`.
pub fn insert_batches(
    rng: &mut Rng,
    table: &'static str,
    columns: &str,
    mut rows: Vec<Vec<Lit>>,
    max_rows: i64,
) -> Vec<Stmt> {
    let mut out = Vec::new();
    while !rows.is_empty() {
        let n = rng.range(1, max_rows) as usize;
        let batch: Vec<Vec<Lit>> = rows.drain(..n.min(rows.len())).collect();
        let prepared = rng.chance(25);
        let mut sql = Sql::new(prepared);
        sql.s(&format!("INSERT INTO {table} {columns} VALUES "));
        for (i, r) in batch.iter().enumerate() {
            if i > 0 {
                sql.s(", ");
            }
            sql.list(r);
        }
        let construct = match (prepared, batch.len()) {
            (false, 1) => "insert_single",
            (false, _) => "insert_multi",
            (true, 1) => "insert_single_prepared",
            (true, _) => "insert_multi_prepared",
        };
        out.push(sql.write(construct, table));
    }
    out
}

// ---- running -----------------------------------------------------------------------------------

/// One result column's metadata. The schema is the logical schema through the proxy (its
/// physical shard databases are renamed), the database itself on the plain server: both
/// are `shop`.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub schema: String,
    pub name: String,
    pub org_name: String,
    pub table: String,
    pub org_table: String,
    pub column_type: ColumnType,
    pub flags: ColumnFlags,
    pub decimals: u8,
    pub length: u32,
    /// The collation id.
    pub charset: u16,
}

impl Column {
    fn of(c: &mysql_async::Column) -> Column {
        Column {
            schema: c.schema_str().into_owned(),
            name: c.name_str().into_owned(),
            org_name: c.org_name_str().into_owned(),
            table: c.table_str().into_owned(),
            org_table: c.org_table_str().into_owned(),
            column_type: c.column_type(),
            flags: c.flags(),
            decimals: c.decimals(),
            length: c.column_length(),
            charset: c.character_set(),
        }
    }

    /// The metadata on one line, for reports.
    pub fn described(&self) -> String {
        format!(
            "{} (schema {}, org {}, table {}/{}, type {:?}, flags {:?}, decimals {}, length {}, charset {})",
            self.name,
            self.schema,
            self.org_name,
            self.table,
            self.org_table,
            self.column_type,
            self.flags,
            self.decimals,
            self.length,
            self.charset
        )
    }

    /// DOUBLE or FLOAT: values compared with a tolerance.
    pub fn is_float(&self) -> bool {
        matches!(
            self.column_type,
            ColumnType::MYSQL_TYPE_DOUBLE | ColumnType::MYSQL_TYPE_FLOAT
        )
    }
}

/// What a statement produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Rows {
        columns: Vec<Column>,
        rows: Vec<Vec<Value>>,
    },
    Affected(u64),
    Error {
        code: u16,
        message: String,
    },
}

/// Runs `s` (prepared or as text); a server error becomes [`Outcome::Error`], anything else
/// (a lost connection) fails.
pub async fn run(conn: &mut Conn, s: &Stmt) -> Result<Outcome> {
    let outcome = if s.sql_prepare != SqlPrepare::No {
        run_sql_prepare(conn, s).await
    } else if s.prepared {
        match conn
            .exec_iter(s.sql.as_str(), Params::Positional(s.params.clone()))
            .await
        {
            Ok(r) => outcome_of(r).await,
            Err(e) => Err(e),
        }
    } else {
        match conn.query_iter(s.sql.as_str()).await {
            Ok(r) => outcome_of(r).await,
            Err(e) => Err(e),
        }
    };
    match outcome {
        Ok(o) => Ok(o),
        Err(mysql_async::Error::Server(e)) => Ok(Outcome::Error {
            code: e.code,
            message: e.message,
        }),
        Err(e) => Err(e).with_context(|| format!("running {}", s.sql)),
    }
}

/// Runs `s` through SQL-level `PREPARE` and `EXECUTE … USING`.
async fn run_sql_prepare(conn: &mut Conn, s: &Stmt) -> mysql_async::Result<Outcome> {
    let values: Vec<String> = s.params.iter().map(|v| v.as_sql(false)).collect();
    let args: Vec<String> = match s.sql_prepare {
        SqlPrepare::Variables => {
            let names: Vec<String> = (0..values.len())
                .map(|i| format!("@myshard_p{i}"))
                .collect();
            if !values.is_empty() {
                let sets: Vec<String> = names
                    .iter()
                    .zip(&values)
                    .map(|(n, v)| format!("{n} = {v}"))
                    .collect();
                conn.query_drop(format!("SET {}", sets.join(", "))).await?;
            }
            names
        }
        _ => values,
    };
    conn.query_drop(format!("PREPARE myshard_diff FROM {}", quote(&s.sql)))
        .await?;
    let using = if args.is_empty() {
        String::new()
    } else {
        format!(" USING {}", args.join(", "))
    };
    let result = conn
        .query_iter(format!("EXECUTE myshard_diff{using}"))
        .await?;
    outcome_of(result).await
}

async fn outcome_of<P: mysql_async::prelude::Protocol>(
    mut result: mysql_async::QueryResult<'_, '_, P>,
) -> mysql_async::Result<Outcome> {
    let columns: Vec<Column> = result.columns_ref().iter().map(Column::of).collect();
    if columns.is_empty() {
        let n = result.affected_rows();
        result.drop_result().await?;
        return Ok(Outcome::Affected(n));
    }
    let rows: Vec<Row> = result.collect().await?;
    result.drop_result().await?;
    Ok(Outcome::Rows {
        columns,
        rows: rows.into_iter().map(Row::unwrap).collect(),
    })
}

/// A value's exact text form, for sorting (Value's Debug form shortens long byte strings).
pub fn value_key(v: &Value) -> String {
    match v {
        Value::Bytes(b) => format!("B{}", b.escape_ascii()),
        other => format!("{other:?}"),
    }
}

/// A row's exact text form, for sorting.
pub fn sort_key(row: &[Value]) -> String {
    let mut key = String::new();
    for v in row {
        key.push_str(&value_key(v));
        key.push('\u{1}');
    }
    key
}

/// Rows in a canonical order when the statement does not fix one.
pub fn canonical(o: Outcome, ordered: bool) -> Outcome {
    match o {
        Outcome::Rows { columns, mut rows } if !ordered => {
            rows.sort_by_cached_key(|r| sort_key(r));
            Outcome::Rows { columns, rows }
        }
        other => other,
    }
}

/// An outcome for a failure report: metadata and the first 40 rows.
pub fn show(o: &Outcome) -> String {
    match o {
        Outcome::Rows { columns, rows } => {
            let mut s = format!("{} rows; columns:\n", rows.len());
            for c in columns {
                s.push_str(&format!("      {}\n", c.described()));
            }
            for r in rows.iter().take(40) {
                let vals: Vec<String> = r.iter().map(|v| v.as_sql(false)).collect();
                s.push_str(&format!("      ({})\n", vals.join(", ")));
            }
            if rows.len() > 40 {
                s.push_str("      …\n");
            }
            s
        }
        other => format!("{other:?}"),
    }
}

/// A mismatch report: the statement, its parameters and both outcomes.
pub fn mismatch_report(s: &Stmt, what: &str, plain: &Outcome, proxy: &Outcome) -> String {
    format!(
        "[{}] {what}\n  SQL: {}\n  params: {:?}\n  plain MariaDB: {}\n  through myshard: {}",
        s.construct,
        s.sql,
        s.params,
        show(plain),
        show(proxy)
    )
}

// ---- counting --------------------------------------------------------------------------------

/// What happened to the statements of one construct.
#[derive(Default)]
pub struct Count {
    pub run: usize,
    /// Sent as server-side prepared statements.
    pub prepared: usize,
    pub compared: usize,
    /// Compared SELECTs that returned rows (an empty result proves little).
    pub with_rows: usize,
    pub refused: usize,
    pub first_refusal: Option<String>,
}

impl Count {
    /// Counts a refusal of `s` with `message`, keeping the first one as an example.
    pub fn refuse(&mut self, s: &Stmt, message: &str) {
        self.refused += 1;
        self.first_refusal
            .get_or_insert_with(|| format!("{message}\n      SQL: {}", s.sql));
    }
}

/// Prints the counts per construct as a table, then an example of each construct's
/// refusals; returns the totals.
pub fn print_counts(counts: &BTreeMap<String, Count>) -> Count {
    let mut total = Count::default();
    let line = |name: &str, c: &Count| {
        println!(
            "  {name:<34} {:>6} {:>9} {:>9} {:>10} {:>8}",
            c.run, c.prepared, c.compared, c.with_rows, c.refused
        );
    };
    println!(
        "  {:<34} {:>6} {:>9} {:>9} {:>10} {:>8}",
        "construct", "run", "prepared", "compared", "with rows", "refused"
    );
    for (name, c) in counts {
        line(name, c);
        total.run += c.run;
        total.prepared += c.prepared;
        total.compared += c.compared;
        total.with_rows += c.with_rows;
        total.refused += c.refused;
    }
    line("total", &total);
    for (name, c) in counts {
        if let Some(m) = &c.first_refusal {
            println!("  refused {name}: {m}");
        }
    }
    total
}

/// What went wrong in a run, reported all at once at its end.
#[derive(Default)]
pub struct Failures(Vec<String>);

impl Failures {
    pub fn push(&mut self, failure: String) {
        self.0.push(failure);
    }

    /// `items`, if any, under the heading `{count} {what}:`, separated by `separator`.
    pub fn list(&mut self, what: &str, items: &[String], separator: &str) {
        if !items.is_empty() {
            self.push(format!(
                "{} {what}:{separator}{}",
                items.len(),
                items.join(separator)
            ));
        }
    }

    /// Fails when the proxy refused more than `max_share` of the statements counted in
    /// `total`.
    pub fn refusals(&mut self, total: &Count, max_share: f64) {
        let share = total.refused as f64 / total.run.max(1) as f64;
        if share > max_share {
            self.push(format!(
                "the proxy refused {} of {} statements ({:.1} %, at most {:.1} % allowed)",
                total.refused,
                total.run,
                share * 100.0,
                max_share * 100.0
            ));
        }
    }

    /// An error listing every failure, if there is any.
    pub fn result(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            anyhow::bail!("{}", self.0.join("\n\n"))
        }
    }
}

/// An environment variable parsed as `T` (integers also in `0x` hex), or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| {
            let v = v.trim();
            match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok()?.to_string().parse().ok(),
                None => v.parse().ok(),
            }
        })
        .unwrap_or(default)
}

// ---- servers ---------------------------------------------------------------------------------

/// The two groups' servers, the plain server and the proxy (fields drop in order: the
/// proxy first).
pub struct Servers {
    pub proxy: myshard_proxy::ProxyHandle,
    pub g0: MariaDb,
    pub g1: MariaDb,
    pub plain: MariaDb,
}

impl Servers {
    /// Three servers: `shop` sharded over `shards` shards (half on each group's server) with
    /// the `tables` rules (YAML flow mappings), and an empty `shop` on the plain server.
    pub async fn start(shards: u32, tables: &[&str]) -> Result<Servers> {
        Self::start_with(shards, tables, |_| {}).await
    }

    /// [`Servers::start`] with the proxy's configuration changed by `tweak` first.
    pub async fn start_with(
        shards: u32,
        tables: &[&str],
        tweak: impl FnOnce(&mut myshard_config::Config),
    ) -> Result<Servers> {
        let mut servers = MariaDb::start_many(3).await?;
        let plain = servers.remove(2);
        let g1 = servers.remove(1);
        let g0 = servers.remove(0);
        let mut config = sharded_config(&g0, &g1, shards, tables);
        tweak(&mut config);
        create_shard_databases(&config, &[&g0, &g1]).await?;
        let proxy = start_proxy(config).await?;
        plain.exec("CREATE DATABASE shop").await?;
        Ok(Servers {
            proxy,
            g0,
            g1,
            plain,
        })
    }

    /// A connection to `shop` through the proxy.
    pub async fn proxy_conn(&self) -> Result<Conn> {
        app_conn(&self.proxy, Some("shop")).await
    }

    /// A connection to `shop` on the plain server.
    pub async fn plain_conn(&self) -> Result<Conn> {
        self.plain.conn_as("root", "", Some("shop")).await
    }
}
