//! Differential test of subqueries and derived tables over shards: random statements of
//! four families run against one plain MariaDB holding all the data and through myshard
//! with `shop` sharded over 16 shards on two groups, and must give the same results
//! (column metadata, rows as a multiset unless ORDER BY fixes the order, affected rows and
//! the written table after a write).
//!
//! Families (the construct names printed with their counts):
//! - `nested_single_shard…`: every sharded table pinned to one shard by its own key
//!   condition or by correlation on the key — derived tables, EXISTS, IN, scalar
//!   subqueries, WITH, nested two and three levels, global tables anywhere; UPDATE and
//!   DELETE with such subqueries.
//! - `colocated_exists…`: EXISTS / NOT EXISTS / scalar subqueries correlated on the shard
//!   key under an outer query reaching every shard, with the outer ORDER BY / LIMIT /
//!   aggregates merged.
//! - `colocated_in…`: `key IN (SELECT key …)` under a scatter.
//! - `colocated_derived`: a derived table grouped by the key (or a co-located join) under a
//!   plain outer projection and filter.
//! - `uncorrelated_in`: `[NOT] IN (SELECT …)` over a sharded table on a non-key column,
//!   evaluated first by the proxy (NULLs among the values included); `…_prepared` as
//!   server-side prepared statements, the subquery's values bound.
//!
//! Every generated statement is one the proxy is meant to answer: a refusal fails the test
//! like a mismatch. Knobs: `MYSHARD_SUBQ_DIFF_SEED`, `MYSHARD_SUBQ_DIFF_STATEMENTS`.

mod harness;

use anyhow::{Context, Result, bail};
use harness::differential::{
    Count, Failures, Lit, Outcome, Rng, Servers, Sql, Stmt, canonical, env_or, insert_batches,
    mismatch_report, print_counts, run,
};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use std::collections::BTreeMap;
use std::time::Instant;

const SHARDS: u32 = 16;
const DEFAULT_SEED: u64 = 0x7375_6271_7565_7279;
const DEFAULT_STATEMENTS: usize = 400;
/// Users 1..=USERS; a few have no orders.
const USERS: i64 = 60;

const TABLES: &[&str] = &[
    "{name: users, shard_key: id}",
    "{name: orders, shard_key: user_id}",
    "{name: items, shard_key: user_id}",
    "{name: countries, global: true}",
];

const DDL: &[&str] = &[
    "CREATE TABLE users (id BIGINT PRIMARY KEY, name VARCHAR(30) NOT NULL, city VARCHAR(20) NULL, \
     age INT NULL, cc CHAR(2) NULL) DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci",
    "CREATE TABLE orders (id INT PRIMARY KEY, user_id BIGINT NOT NULL, status VARCHAR(10) NOT NULL, \
     total DECIMAL(10,2) NOT NULL, cc CHAR(2) NULL, KEY (user_id)) \
     DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci",
    "CREATE TABLE items (id INT PRIMARY KEY, user_id BIGINT NOT NULL, order_id INT NOT NULL, \
     qty INT NULL, KEY (user_id)) DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci",
    "CREATE TABLE countries (code CHAR(2) PRIMARY KEY, name VARCHAR(20) NOT NULL) \
     DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci",
];

const CITIES: &[&str] = &["Paris", "Lyon", "Nantes", "Lille"];
const STATUSES: &[&str] = &["open", "paid", "shipped", "void"];
const CCS: &[&str] = &["FR", "DE", "IT", "ES"];

fn data(rng: &mut Rng) -> Vec<Stmt> {
    let mut out = Vec::new();
    let countries = CCS
        .iter()
        .map(|c| vec![Lit::Str(c.to_string()), Lit::Str(format!("land {c}"))])
        .collect();
    out.extend(insert_batches(
        rng,
        "countries",
        "(code, name)",
        countries,
        4,
    ));
    let users = (1..=USERS)
        .map(|id| {
            let city = rng.str_of(CITIES);
            let age = Lit::Int(rng.range(18, 80));
            let cc = rng.str_of(CCS);
            vec![
                Lit::Int(id),
                Lit::Str(format!("user {id:02}")),
                rng.maybe(10, city),
                rng.maybe(10, age),
                rng.maybe(10, cc),
            ]
        })
        .collect();
    out.extend(insert_batches(
        rng,
        "users",
        "(id, name, city, age, cc)",
        users,
        8,
    ));
    let mut orders = Vec::new();
    let mut items = Vec::new();
    for id in 1..=240 {
        // Users above 50 get no orders: NOT EXISTS and NOT IN have rows to find.
        let user = rng.range(1, 50);
        let cc = rng.str_of(CCS);
        orders.push(vec![
            Lit::Int(id),
            Lit::Int(user),
            rng.str_of(STATUSES),
            Lit::Dec(rng.dec(1, 500)),
            rng.maybe(15, cc),
        ]);
        for _ in 0..rng.range(0, 2) {
            let qty = Lit::Int(rng.range(1, 9));
            items.push(vec![
                Lit::Int(items.len() as i64 + 1),
                Lit::Int(user),
                Lit::Int(id),
                rng.maybe(10, qty),
            ]);
        }
    }
    out.extend(insert_batches(
        rng,
        "orders",
        "(id, user_id, status, total, cc)",
        orders,
        10,
    ));
    out.extend(insert_batches(
        rng,
        "items",
        "(id, user_id, order_id, qty)",
        items,
        10,
    ));
    out
}

/// The statement generator.
struct Gen {
    rng: Rng,
}

impl Gen {
    fn user(&mut self) -> Lit {
        Lit::Int(self.rng.range(1, USERS))
    }

    fn total(&mut self) -> Lit {
        Lit::Dec(self.rng.dec(1, 500))
    }

    fn status(&mut self) -> Lit {
        self.rng.str_of(STATUSES)
    }

    fn statement(&mut self) -> Stmt {
        match self.rng.below(11) {
            0..=3 => self.nested_single_shard(),
            4 | 5 => self.colocated_exists(),
            6 | 7 => self.colocated_in(),
            8 => self.colocated_derived(),
            9 => self.uncorrelated_in(),
            _ => self.pinned_write(),
        }
    }

    /// Evaluated first by the proxy, its values written in.
    fn uncorrelated_in(&mut self) -> Stmt {
        let not = if self.rng.chance(40) { "NOT " } else { "" };
        let prepared = self.rng.chance(30);
        let mut q = Sql::new(prepared);
        if self.rng.chance(50) {
            let qty = Lit::Int(self.rng.range(1, 10));
            q.s("SELECT id, status FROM orders WHERE id ")
                .s(not)
                .s("IN (SELECT order_id FROM items WHERE qty > ")
                .l(&qty)
                .s(")");
        } else {
            // orders.cc holds NULLs: NOT IN then matches nothing.
            let x = self.total();
            q.s("SELECT code FROM countries WHERE code ")
                .s(not)
                .s("IN (SELECT cc FROM orders WHERE total > ")
                .l(&x)
                .s(")");
        }
        let construct = if prepared {
            "uncorrelated_in_prepared"
        } else {
            "uncorrelated_in"
        };
        q.select(construct, false)
    }

    fn nested_single_shard(&mut self) -> Stmt {
        let prepared = self.rng.chance(30);
        let construct = if prepared {
            "nested_single_shard_prepared"
        } else {
            "nested_single_shard"
        };
        let mut q = Sql::new(prepared);
        let k = self.user();
        let x = self.total();
        match self.rng.below(8) {
            0 => {
                q.s("SELECT t.status, t.n, t.s FROM (SELECT status, COUNT(*) AS n, SUM(total) AS s FROM orders WHERE user_id = ")
                    .l(&k)
                    .s(" GROUP BY status) AS t");
            }
            1 => {
                q.s("SELECT name, city FROM users WHERE id = ")
                    .l(&k)
                    .s(" AND EXISTS (SELECT 1 FROM orders o WHERE o.user_id = users.id AND o.total > ")
                    .l(&x)
                    .s(")");
            }
            2 => {
                let qty = Lit::Int(self.rng.range(1, 9));
                q.s("SELECT id, status, total FROM orders WHERE user_id = ")
                    .l(&k)
                    .s(" AND id IN (SELECT order_id FROM items WHERE user_id = ")
                    .l(&k)
                    .s(" AND qty >= ")
                    .l(&qty)
                    .s(")");
            }
            3 => {
                q.s(
                    "SELECT u.name, (SELECT COUNT(*) FROM orders o WHERE o.user_id = u.id) AS n, \
                     (SELECT MAX(total) FROM orders WHERE user_id = ",
                )
                .l(&k)
                .s(") AS m FROM users u WHERE u.id = ")
                .l(&k);
            }
            4 => {
                q.s(
                    "SELECT e.id, e.total, e.name FROM (SELECT d.id, d.total, c.name FROM \
                     (SELECT id, total, cc FROM orders WHERE user_id = ",
                )
                .l(&k)
                .s(") d LEFT JOIN countries c ON c.code = d.cc) e WHERE e.total > ")
                .l(&x);
            }
            5 => {
                q.s("WITH mine AS (SELECT id, total FROM orders WHERE user_id = ")
                    .l(&k)
                    .s(") SELECT COUNT(*), SUM(total) FROM mine WHERE total > ")
                    .l(&x);
            }
            6 => {
                let s = self.status();
                q.s("SELECT id, order_id FROM items WHERE user_id = ")
                    .l(&k)
                    .s(" AND order_id NOT IN (SELECT id FROM orders WHERE user_id = ")
                    .l(&k)
                    .s(" AND status = ")
                    .l(&s)
                    .s(")");
            }
            _ => {
                // Three levels, the innermost correlated with the middle one.
                q.s("SELECT id FROM users WHERE id = ")
                    .l(&k)
                    .s(" AND id IN (SELECT o.user_id FROM orders o WHERE o.user_id = ")
                    .l(&k)
                    .s(" AND EXISTS (SELECT 1 FROM items i WHERE i.user_id = o.user_id AND i.order_id = o.id))");
            }
        }
        q.select(construct, false)
    }

    fn colocated_exists(&mut self) -> Stmt {
        let s = self.status();
        let mut q = Sql::new(self.rng.chance(20));
        let not = if self.rng.chance(30) { "NOT " } else { "" };
        let exists = |q: &mut Sql, s: &Lit| {
            q.s(not)
                .s("EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id AND o.status = ")
                .l(s)
                .s(")");
        };
        let (construct, ordered) = match self.rng.below(5) {
            0 => {
                q.s("SELECT u.id, u.name FROM users u WHERE ");
                exists(&mut q, &s);
                ("colocated_exists", false)
            }
            1 => {
                let n = Lit::Int(self.rng.range(1, 20));
                q.s("SELECT u.id, u.name FROM users u WHERE ");
                exists(&mut q, &s);
                q.s(" ORDER BY u.id DESC LIMIT ").s(&n.sql());
                ("colocated_exists_ordered", true)
            }
            2 => {
                let a = Lit::Int(self.rng.range(18, 80));
                q.s("SELECT u.id, (SELECT COUNT(*) FROM orders o WHERE o.user_id = u.id) AS n, \
                     (SELECT SUM(qty) FROM items i WHERE i.user_id = u.id) AS q FROM users u WHERE u.age > ")
                    .l(&a);
                if self.rng.chance(50) {
                    let n = self.rng.range(1, 20);
                    q.s(&format!(" ORDER BY u.id LIMIT {n}"));
                    ("colocated_scalar_ordered", true)
                } else {
                    ("colocated_scalar", false)
                }
            }
            3 => {
                q.s("SELECT COUNT(*) FROM users u WHERE ");
                exists(&mut q, &s);
                ("colocated_exists_aggregate", false)
            }
            _ => {
                q.s("SELECT u.city, COUNT(*) AS n FROM users u WHERE ");
                exists(&mut q, &s);
                q.s(" GROUP BY u.city ORDER BY u.city");
                ("colocated_exists_grouped", true)
            }
        };
        let construct = if q.prepared {
            format!("{construct}_prepared")
        } else {
            construct.to_string()
        };
        q.select(&construct, ordered)
    }

    fn colocated_in(&mut self) -> Stmt {
        let x = self.total();
        let mut q = Sql::new(self.rng.chance(20));
        let ordered = match self.rng.below(3) {
            0 => {
                q.s("SELECT id, name FROM users WHERE id IN (SELECT user_id FROM orders WHERE total > ")
                    .l(&x)
                    .s(")");
                false
            }
            1 => {
                let n = self.rng.range(1, 30);
                q.s("SELECT id, name, age FROM users WHERE id IN (SELECT user_id FROM orders WHERE total < ")
                    .l(&x)
                    .s(&format!(") ORDER BY name, id LIMIT {n}"));
                true
            }
            _ => {
                let s = self.status();
                let qty = Lit::Int(self.rng.range(1, 9));
                q.s("SELECT o.id, o.total FROM orders o WHERE o.user_id IN (SELECT user_id FROM items WHERE qty > ")
                    .l(&qty)
                    .s(") AND o.status = ")
                    .l(&s);
                false
            }
        };
        let construct = if q.prepared {
            "colocated_in_prepared"
        } else {
            "colocated_in"
        };
        q.select(construct, ordered)
    }

    fn colocated_derived(&mut self) -> Stmt {
        let mut q = Sql::new(false);
        if self.rng.chance(50) {
            let n = Lit::Int(self.rng.range(1, 8));
            q.s("SELECT d.user_id, d.n, d.s FROM (SELECT user_id, COUNT(*) AS n, SUM(total) AS s FROM orders GROUP BY user_id) d WHERE d.n > ")
                .l(&n);
        } else {
            let x = self.total();
            q.s("SELECT * FROM (SELECT o.id, o.user_id, u.name FROM orders o JOIN users u ON u.id = o.user_id WHERE o.total > ")
                .l(&x)
                .s(") d");
        }
        q.select("colocated_derived", false)
    }

    fn pinned_write(&mut self) -> Stmt {
        let k = self.user();
        let mut q = Sql::new(self.rng.chance(30));
        match self.rng.below(3) {
            0 => {
                let x = self.total();
                q.s("UPDATE orders SET status = 'paid' WHERE user_id = ")
                    .l(&k)
                    .s(" AND id IN (SELECT order_id FROM items WHERE user_id = ")
                    .l(&k)
                    .s(") AND total > ")
                    .l(&x);
                q.write("nested_single_shard_write", "orders")
            }
            1 => {
                q.s("UPDATE users SET age = (SELECT COUNT(*) FROM orders o WHERE o.user_id = users.id) WHERE id = ")
                    .l(&k);
                q.write("nested_single_shard_write", "users")
            }
            _ => {
                q.s("DELETE FROM items WHERE user_id = ")
                    .l(&k)
                    .s(" AND order_id IN (SELECT id FROM orders WHERE user_id = ")
                    .l(&k)
                    .s(" AND status = 'void')");
                q.write("nested_single_shard_write", "items")
            }
        }
    }
}

async fn both(proxy: &mut Conn, plain: &mut Conn, s: &Stmt) -> Result<(Outcome, Outcome)> {
    let p = canonical(run(plain, s).await?, s.ordered);
    let x = canonical(run(proxy, s).await?, s.ordered);
    Ok((p, x))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subqueries_over_shards_equal_a_single_server() -> Result<()> {
    let started = Instant::now();
    let seed: u64 = env_or("MYSHARD_SUBQ_DIFF_SEED", DEFAULT_SEED);
    let statements: usize = env_or("MYSHARD_SUBQ_DIFF_STATEMENTS", DEFAULT_STATEMENTS);
    let servers = Servers::start(SHARDS, TABLES).await?;
    let mut proxy = servers.proxy_conn().await?;
    let mut plain = servers.plain_conn().await?;
    for ddl in DDL {
        proxy.query_drop(*ddl).await.context(*ddl)?;
        plain.query_drop(*ddl).await.context(*ddl)?;
    }
    let mut rng = Rng::new(seed);
    for s in data(&mut rng) {
        let (p, x) = both(&mut proxy, &mut plain, &s).await?;
        if p != x {
            bail!("{}", mismatch_report(&s, "loading differs", &p, &x));
        }
    }
    let mut generator = Gen {
        rng: Rng::new(rng.next()),
    };
    let mut counts: BTreeMap<String, Count> = BTreeMap::new();
    let mut mismatches = Vec::new();
    let mut rejected = Vec::new();
    for n in 0..statements {
        let s = generator.statement();
        let (p, x) = both(&mut proxy, &mut plain, &s).await?;
        let c = counts.entry(s.construct.clone()).or_default();
        c.run += 1;
        c.prepared += usize::from(s.prepared);
        match (&p, &x) {
            (Outcome::Error { .. }, _) => {
                rejected.push(format!(
                    "statement {n}: {}",
                    mismatch_report(&s, "plain rejects", &p, &x)
                ));
                continue;
            }
            (
                _,
                Outcome::Error {
                    code: 1235,
                    message,
                },
            ) => {
                c.refuse(&s, message);
                continue;
            }
            _ => {}
        }
        c.compared += 1;
        if matches!(&p, Outcome::Rows { rows, .. } if !rows.is_empty()) {
            c.with_rows += 1;
        }
        if p != x {
            mismatches.push(format!(
                "statement {n}, seed {seed:#x}: {}",
                mismatch_report(&s, "results differ", &p, &x)
            ));
        }
        if let Some(table) = s.writes {
            let read = Stmt::read("check", format!("SELECT * FROM {table}"));
            let (p, x) = both(&mut proxy, &mut plain, &read).await?;
            if p != x {
                mismatches.push(format!(
                    "statement {n}, seed {seed:#x}: {}",
                    mismatch_report(&s, "the written table differs afterwards", &p, &x)
                ));
            }
        }
        if mismatches.len() >= 10 {
            break;
        }
    }
    println!(
        "differential subquery test: seed {seed:#x}, {statements} statements over {SHARDS} shards, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let total = print_counts(&counts);
    let mut failures = Failures::default();
    failures.list("mismatch(es)", &mismatches, "\n\n");
    failures.list(
        "statement(s) the plain server rejects (fix the generator)",
        &rejected,
        "\n\n",
    );
    // Every family is meant to be answered.
    failures.refusals(&total, 0.0);
    failures.result()
}
