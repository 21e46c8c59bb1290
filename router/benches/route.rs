//! Router cost per statement on a 16-shard schema: `plan` + `resolve` for each kind of
//! statement the sharding router handles, `resolve` alone for a prepared statement (planned
//! once, resolved at every execute), the SQL parser alone (most of `plan`), `classify` alone,
//! and the unsharded passthrough.
//!
//! Run with `cargo bench -p myshard-router --bench route` (release profile). Each case is
//! warmed up, then timed in several rounds of many iterations with `std::time::Instant`; the
//! median round and the fastest one are reported in µs per statement. On a machine shared
//! with other work the fastest round is the better estimate of the router's own cost.
//!
//! The hash is the real placement function (`hash::shard_of`) behind the same glue the
//! proxy uses: key values from literals and bound parameters mapped to `KeyValue`s.

use std::error::Error;
use std::hint::black_box;
use std::time::{Duration, Instant};

use myshard_config::{KeyType as ConfigKeyType, TableRule, Topology};
use myshard_router::classify;
use myshard_router::hash::{Collation, KeyType, KeyValue, shard_of};
use myshard_router::shard::keys::Literal;
use myshard_router::shard::plan::{Route, RouteContext, RouteError, ShardRoute, plan};
use myshard_router::shard::resolve::{Bound, KeyInput, Target};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

const CONFIG: &str = r#"
listen: 127.0.0.1:3307
users: [{name: app, password: pw, schemas: ["*"]}]
groups:
  - {name: g0, user: u, write_hosts: ["127.0.0.1:3310"]}
  - {name: g1, user: u, write_hosts: ["127.0.0.1:3311"]}
schemas:
  - name: shop
    shards: 16
    placement: [{group: g0, shards: "0-7"}, {group: g1, shards: "8-15"}]
    tables:
      - {name: orders, shard_key: customer_id}
      - {name: customers, shard_key: email, key_type: string}
      - {name: countries, global: true}
  - {name: crm, group: g1, database: crm}
"#;

/// Rounds per case; the median and the fastest are reported.
const ROUNDS: usize = 15;
/// Time one round should take, roughly.
const ROUND_TIME: Duration = Duration::from_millis(100);

/// The proxy's mapping from a table rule and a key value to the placement hash, without
/// the proxy: integer, string, decimal, date and datetime keys.
fn hasher(rule: &TableRule, shards: u32, input: KeyInput<'_>) -> Result<Option<u32>, RouteError> {
    let TableRule::Sharded {
        key_type,
        collation,
        ..
    } = rule
    else {
        return Err(RouteError::refused("a global table has no shard key"));
    };
    let key_type = match key_type {
        ConfigKeyType::Integer => KeyType::Integer,
        ConfigKeyType::Date => KeyType::Date,
        ConfigKeyType::Decimal { precision, scale } => KeyType::Decimal {
            precision: *precision,
            scale: *scale,
        },
        ConfigKeyType::Datetime { fsp } => KeyType::DateTime { fsp: *fsp },
        ConfigKeyType::String => KeyType::String {
            collation: collation
                .and_then(Collation::from_name)
                .ok_or_else(|| RouteError::refused("unsupported collation"))?,
        },
    };
    let value = match input {
        KeyInput::Literal(Literal::Number(n)) => match n.parse::<i64>() {
            Ok(i) => KeyValue::Int(i),
            Err(_) => KeyValue::Decimal(n),
        },
        KeyInput::Literal(Literal::Str(s)) => KeyValue::Str(s.as_bytes()),
        KeyInput::Literal(Literal::Bytes(b)) => KeyValue::Str(b),
        KeyInput::Literal(Literal::Bool(b)) => KeyValue::Int(i64::from(*b)),
        KeyInput::Literal(Literal::Null) | KeyInput::Bound(Bound::Null) => KeyValue::Null,
        KeyInput::Bound(Bound::Int(i)) => KeyValue::Int(*i),
        KeyInput::Bound(Bound::UInt(u)) => KeyValue::UInt(*u),
        KeyInput::Bound(Bound::Double(d)) => KeyValue::Float(*d),
        KeyInput::Bound(Bound::Decimal(d)) => KeyValue::Decimal(d),
        KeyInput::Bound(Bound::Text(t)) => KeyValue::Str(t),
    };
    shard_of(&key_type, &value, shards).map_err(|e| RouteError::refused(e.to_string()))
}

/// How bound parameters are written into split INSERTs (not exercised: no case splits a
/// prepared insert).
fn literal(b: &Bound) -> String {
    format!("{b:?}")
}

fn context<'a>(topology: &'a Topology, schema: &'a str) -> RouteContext<'a> {
    RouteContext {
        topology,
        schema: Some(schema),
    }
}

/// Plans `sql` in `schema`; an error for anything but a shard route.
fn shard_route(topology: &Topology, schema: &str, sql: &str) -> Result<ShardRoute, String> {
    match plan(sql, context(topology, schema)) {
        Route::Shard(route) => Ok(*route),
        other => Err(format!("{sql}: expected a shard route, got {other:?}")),
    }
}

fn resolve(
    topology: &Topology,
    route: &ShardRoute,
    params: &[Bound],
) -> Result<Vec<Target>, String> {
    route
        .resolve(topology, params, &hasher, &literal)
        .map_err(|e| e.message)
}

/// Plans and resolves `sql`; the number of targets.
fn plan_and_resolve(topology: &Topology, sql: &str) -> Result<usize, String> {
    let route = shard_route(topology, "shop", sql)?;
    Ok(resolve(topology, &route, &[])?.len())
}

/// One measured case: median and fastest round, µs per statement.
struct Measured {
    median_us: f64,
    best_us: f64,
}

/// Times `f`: warm-up, an iteration count filling `ROUND_TIME`, then `ROUNDS` rounds.
fn measure(mut f: impl FnMut() -> Result<usize, String>) -> Result<Measured, String> {
    let warm = Instant::now();
    let mut warm_iters = 0u64;
    while warm.elapsed() < ROUND_TIME / 3 || warm_iters < 100 {
        black_box(f()?);
        warm_iters += 1;
    }
    let per_iter = warm.elapsed().as_secs_f64() / warm_iters as f64;
    let iters = ((ROUND_TIME.as_secs_f64() / per_iter) as u64).max(100);
    let mut rounds = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(f()?);
        }
        rounds.push(start.elapsed().as_secs_f64() * 1e6 / iters as f64);
    }
    rounds.sort_by(f64::total_cmp);
    Ok(Measured {
        median_us: rounds[ROUNDS / 2],
        best_us: rounds[0],
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let config = myshard_config::parse(CONFIG, "bench config")?;
    let topology = Topology::new(&config);
    let t = &topology;

    let point = "SELECT id, status, total FROM orders WHERE customer_id = 4711";
    let in_list = "SELECT id, status FROM orders WHERE customer_id IN \
                   (1001, 1018, 1035, 1052, 1069, 1086, 1103, 1120, 1137, 1154)";
    let scatter = "SELECT id, status FROM orders WHERE status = 'shipped'";
    let insert_one =
        "INSERT INTO orders (id, customer_id, status, total) VALUES (1, 4711, 'new', 10.50)";
    let insert_ten = "INSERT INTO orders (id, customer_id, status, total) VALUES \
                      (1, 1, 'new', 1.00), (2, 2, 'new', 2.00), (3, 3, 'new', 3.00), \
                      (4, 4, 'new', 4.00), (5, 5, 'new', 5.00), (6, 6, 'new', 6.00), \
                      (7, 7, 'new', 7.00), (8, 8, 'new', 8.00), (9, 9, 'new', 9.00), \
                      (10, 10, 'new', 10.00)";
    let update = "UPDATE orders SET status = 'paid' WHERE customer_id = 4711 AND id = 17";
    let join = "SELECT o.id, c.name FROM orders o JOIN countries c ON o.country = c.code \
                WHERE o.customer_id = 4711";
    let ddl = "ALTER TABLE orders ADD COLUMN note VARCHAR(64) NULL";
    let unsharded = "SELECT id, name FROM accounts WHERE id = 4711";

    // The prepared point select: planned once, resolved for each bound value.
    let prepared = shard_route(
        t,
        "shop",
        "SELECT id, status, total FROM orders WHERE customer_id = ?",
    )?;
    let params = [Bound::Int(4711)];

    // Expected target counts: a wrong plan must not be timed as if it were right.
    for (sql, targets) in [
        (point, 1),
        (in_list, 10),
        (scatter, 16),
        (insert_one, 1),
        (insert_ten, 10),
        (update, 1),
        (join, 1),
        (ddl, 16),
    ] {
        let got = plan_and_resolve(t, sql)?;
        if got != targets {
            return Err(format!("{sql}: {got} targets, expected {targets}").into());
        }
    }
    if resolve(t, &prepared, &params)?.len() != 1 {
        return Err("prepared point select: expected one target".into());
    }
    if plan(unsharded, context(t, "crm")) != Route::Passthrough {
        return Err("unsharded statement: expected Passthrough".into());
    }

    type Case<'a> = (&'a str, Box<dyn FnMut() -> Result<usize, String> + 'a>);
    let cases: Vec<Case<'_>> = vec![
        (
            "point select by key (text): plan + resolve",
            Box::new(|| plan_and_resolve(t, black_box(point))),
        ),
        (
            "point select, bound parameter: resolve only",
            Box::new(|| Ok(resolve(t, &prepared, black_box(&params))?.len())),
        ),
        (
            "IN list of 10 keys: plan + resolve",
            Box::new(|| plan_and_resolve(t, black_box(in_list))),
        ),
        (
            "scatter select (16 shards): plan + resolve",
            Box::new(|| plan_and_resolve(t, black_box(scatter))),
        ),
        (
            "single-row INSERT: plan + resolve",
            Box::new(|| plan_and_resolve(t, black_box(insert_one))),
        ),
        (
            "10-row INSERT over 10 shards: plan + resolve",
            Box::new(|| plan_and_resolve(t, black_box(insert_ten))),
        ),
        (
            "UPDATE by key: plan + resolve",
            Box::new(|| plan_and_resolve(t, black_box(update))),
        ),
        (
            "join with a global table: plan + resolve",
            Box::new(|| plan_and_resolve(t, black_box(join))),
        ),
        (
            "DDL broadcast (16 shards): plan + resolve",
            Box::new(|| plan_and_resolve(t, black_box(ddl))),
        ),
        (
            "sqlparser parse alone (point select)",
            Box::new(|| {
                Parser::parse_sql(&MySqlDialect {}, black_box(point))
                    .map(|statements| statements.len())
                    .map_err(|e| e.to_string())
            }),
        ),
        (
            "classify alone (point select)",
            Box::new(|| Ok(usize::from(black_box(classify(black_box(point))).multi))),
        ),
        (
            "unsharded schema: plan → Passthrough",
            Box::new(|| {
                Ok(usize::from(
                    plan(black_box(unsharded), context(t, "crm")) == Route::Passthrough,
                ))
            }),
        ),
    ];

    println!("router cost per statement, 16-shard schema ({ROUNDS} rounds of ~{ROUND_TIME:?})");
    println!("{:<48} {:>12} {:>12}", "statement", "median µs", "best µs");
    for (name, mut f) in cases {
        let m = measure(&mut f)?;
        println!("{name:<48} {:>12.2} {:>12.2}", m.median_us, m.best_us);
    }
    Ok(())
}
