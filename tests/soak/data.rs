//! The soak's schema and its static data. `users` (shard key `id`) and `orders` (shard key
//! `user_id`, co-located) are sharded, `countries` is global. Ids `1..=STATIC_USERS` are
//! loaded once and never written, so cross-shard reads of them have one right answer
//! however the clients' writes interleave; each client writes only inside its own key
//! range (see `workload::Range`), far above them.

use crate::harness::differential::{Rng, quote};
use anyhow::{Context, Result, bail};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

/// Users with ids `1..=STATIC_USERS` (and their orders) are never written.
pub const STATIC_USERS: i64 = 2_000;
/// Orders per user get ids `user_id * ORDER_IDS + n`, `n < ORDER_IDS`.
pub const ORDER_IDS: i64 = 100;
/// Order statuses (ASCII, so MIN/MAX and GROUP BY have one right answer).
pub const STATUSES: &[&str] = &["new", "paid", "sent", "done", "lost"];
/// Country codes of the global table.
pub const COUNTRIES: &[(&str, &str)] = &[
    ("de", "germany"),
    ("fr", "france"),
    ("it", "italy"),
    ("jp", "japan"),
    ("nl", "netherlands"),
    ("us", "united states"),
];

/// The tables, created through the proxy (on every shard) and on the reference.
pub const DDL: &[&str] = &[
    "CREATE TABLE users (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(40) NOT NULL, \
     score INT NOT NULL, grp INT NOT NULL, note VARCHAR(200) NOT NULL)",
    "CREATE TABLE orders (id BIGINT NOT NULL PRIMARY KEY, user_id BIGINT NOT NULL, \
     amount DECIMAL(10,2) NOT NULL, status VARCHAR(10) NOT NULL, KEY (user_id))",
    "CREATE TABLE countries (code CHAR(2) NOT NULL PRIMARY KEY, name VARCHAR(40) NOT NULL)",
];

/// The VALUES tuple of a user row.
pub fn user_values(rng: &mut Rng, id: i64) -> String {
    let name = format!("user{:03}", rng.below(500));
    let note = format!("note {id} {}", "x".repeat(rng.below(120)));
    format!(
        "({id}, {}, {}, {}, {})",
        quote(&name),
        rng.range(-500, 5_000),
        rng.below(12),
        quote(&note)
    )
}

/// The VALUES tuple of order `n` of user `user_id`.
pub fn order_values(rng: &mut Rng, user_id: i64, n: i64) -> String {
    let amount = rng.dec(0, 900);
    let status = *rng.pick(STATUSES);
    format!(
        "({}, {user_id}, {amount}, {})",
        user_id * ORDER_IDS + n,
        quote(status)
    )
}

/// Creates the tables and loads the static rows through the proxy and into the reference,
/// then checks that both hold the same rows.
pub async fn load(proxy: &mut Conn, reference: &mut Conn, seed: u64) -> Result<()> {
    for ddl in DDL {
        proxy.query_drop(*ddl).await.context(*ddl)?;
        reference.query_drop(*ddl).await.context(*ddl)?;
    }
    let mut rng = Rng::new(seed);
    let mut statements = Vec::new();
    let countries: Vec<String> = COUNTRIES
        .iter()
        .map(|(code, name)| format!("({}, {})", quote(code), quote(name)))
        .collect();
    statements.push(format!(
        "INSERT INTO countries (code, name) VALUES {}",
        countries.join(", ")
    ));
    for chunk in (1..=STATIC_USERS).collect::<Vec<_>>().chunks(200) {
        let users: Vec<String> = chunk.iter().map(|&id| user_values(&mut rng, id)).collect();
        statements.push(format!(
            "INSERT INTO users (id, name, score, grp, note) VALUES {}",
            users.join(", ")
        ));
        let mut orders = Vec::new();
        for &id in chunk {
            for n in 0..rng.range(0, 4) {
                orders.push(order_values(&mut rng, id, n));
            }
        }
        statements.push(format!(
            "INSERT INTO orders (id, user_id, amount, status) VALUES {}",
            orders.join(", ")
        ));
    }
    for sql in &statements {
        proxy
            .query_drop(sql)
            .await
            .context("loading through the proxy")?;
        reference
            .query_drop(sql)
            .await
            .context("loading the reference")?;
    }
    for check in [
        "SELECT COUNT(*), SUM(score), SUM(LENGTH(note)) FROM users",
        "SELECT COUNT(*), SUM(amount) FROM orders",
        "SELECT COUNT(*) FROM countries",
    ] {
        let through_proxy: Vec<mysql_async::Row> = proxy.query(check).await?;
        let in_reference: Vec<mysql_async::Row> = reference.query(check).await?;
        let unwrap = |rows: Vec<mysql_async::Row>| -> Vec<Vec<mysql_async::Value>> {
            rows.into_iter().map(mysql_async::Row::unwrap).collect()
        };
        let (a, b) = (unwrap(through_proxy), unwrap(in_reference));
        if a != b {
            bail!(
                "the loaded data differs: `{check}` gives {a:?} through the proxy, {b:?} on the reference"
            );
        }
    }
    Ok(())
}

/// Checks that the static rows are the same through the proxy as on the reference (a
/// write that strayed outside its client's range would show here).
pub async fn check_static(proxy: &mut Conn, reference: &mut Conn) -> Result<()> {
    for check in [
        format!(
            "SELECT COUNT(*), SUM(score), SUM(LENGTH(note)), SUM(grp) FROM users WHERE id <= {STATIC_USERS}"
        ),
        format!("SELECT COUNT(*), SUM(amount) FROM orders WHERE user_id <= {STATIC_USERS}"),
        "SELECT COUNT(*) FROM countries".to_string(),
    ] {
        let through_proxy: Vec<mysql_async::Row> = proxy.query(&check).await?;
        let in_reference: Vec<mysql_async::Row> = reference.query(&check).await?;
        let unwrap = |rows: Vec<mysql_async::Row>| -> Vec<Vec<mysql_async::Value>> {
            rows.into_iter().map(mysql_async::Row::unwrap).collect()
        };
        let (a, b) = (unwrap(through_proxy), unwrap(in_reference));
        if a != b {
            bail!(
                "the static rows differ: `{check}` gives {a:?} through the proxy, {b:?} on the reference"
            );
        }
    }
    Ok(())
}
