//! Router cost of one multi-row INSERT into a sharded table (issue 8): `plan` (parse, key
//! of every row) plus `resolve` (placing every row, printing each shard's statement), which
//! is all the CPU the proxy spends on such a statement besides copying bytes.
//!
//! Run with `cargo run --release -p myshard-router --example big_insert -- 10000 100000`
//! (row counts; the default is 10,000 to 100,000). Rows look like `(123456, 'ab')`, about
//! 13 bytes each, so 100,000 rows make a 1.3 MB statement as in the issue.

use std::time::{Duration, Instant};

use myshard_config::{TableRule, Topology};
use myshard_router::hash::{KeyType, KeyValue, shard_of};
use myshard_router::shard::keys::Literal;
use myshard_router::shard::plan::{Route, RouteContext, RouteError, plan};
use myshard_router::shard::resolve::{Bound, KeyInput};

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
"#;

/// Integer keys only: what this statement needs.
fn hasher(_: &TableRule, shards: u32, input: KeyInput<'_>) -> Result<Option<u32>, RouteError> {
    let value = match input {
        KeyInput::Literal(Literal::Number(n)) => KeyValue::Int(
            n.parse()
                .map_err(|_| RouteError::refused("not an integer"))?,
        ),
        KeyInput::Bound(Bound::Int(i)) => KeyValue::Int(*i),
        _ => return Err(RouteError::refused("not an integer")),
    };
    shard_of(&KeyType::Integer, &value, shards).map_err(|e| RouteError::refused(e.to_string()))
}

/// CPU time this thread has run, from the scheduler's accounting (Linux): the machine may
/// be shared, so wall time would overstate the router's cost.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn main() -> Result<(), String> {
    let config = myshard_config::parse(CONFIG, "big_insert").map_err(|e| e.to_string())?;
    let topology = Topology::new(&config);
    let mut sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if sizes.is_empty() {
        sizes = vec![10_000, 20_000, 40_000, 100_000];
    }
    for rows in sizes {
        let mut sql = String::from("INSERT INTO orders (customer_id, note) VALUES ");
        for i in 0..rows {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("({}, 'ab')", 100_000 + i));
        }
        let started = Instant::now();
        let cpu_started = thread_cpu();
        let ctx = RouteContext {
            topology: &topology,
            schema: Some("shop"),
        };
        let route = match plan(&sql, ctx) {
            Route::Shard(r) => r,
            other => {
                return Err(format!(
                    "{rows} rows: expected a shard route, got {other:?}"
                ));
            }
        };
        let planned = started.elapsed();
        let targets = route
            .resolve(&topology, &[], &hasher, &|b| format!("{b:?}"))
            .map_err(|e| e.message)?;
        let total = started.elapsed();
        let cpu = thread_cpu()
            .zip(cpu_started)
            .map_or(f64::NAN, |(b, a)| (b - a).as_secs_f64() * 1e3);
        println!(
            "{rows:>7} rows, {:>9} bytes: plan+resolve CPU {cpu:>9.1} ms (wall: plan {:>9.1} ms, plan+resolve {:>9.1} ms), {} shard statements",
            sql.len(),
            planned.as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e3,
            targets.len()
        );
    }
    Ok(())
}
