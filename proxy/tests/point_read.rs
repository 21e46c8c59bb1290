//! The point-read path (routed from tokens) and the planner agree: for every generated
//! point read, the same shard, the same database and the same text; for near misses the
//! point path declines and the planner decides.

use myshard_config::Topology;
use myshard_proxy::session::point_read::point_route;
use myshard_proxy::sharding::{hash_key, literal_in};
use myshard_router::shard::plan::{Route, RouteContext, plan};
use proptest::prelude::*;

const YAML: &str = r#"
listen: 127.0.0.1:3307
users: [{name: u, password: p, schemas: ["*"]}]
groups:
  - {name: g0, user: r, write_hosts: ["127.0.0.1:1"]}
  - {name: g1, user: r, write_hosts: ["127.0.0.1:2"]}
schemas:
  - name: shop
    shards: 16
    placement: [{group: g0, shards: "0-7"}, {group: g1, shards: "8-15"}]
    tables:
      - {name: sbtest1, shard_key: id}
      - {name: orders, shard_key: uid}
      - {name: names, shard_key: name, key_type: string}
      - {name: countries, global: true}
"#;

fn topology() -> Topology {
    match myshard_config::parse(YAML, "test.yaml") {
        Ok(c) => Topology::new(&c),
        Err(e) => panic!("{e}"),
    }
}

/// The planner's single target for `sql`: (shard, database, text).
fn planned(t: &Topology, sql: &str) -> Option<(u32, String, String)> {
    let ctx = RouteContext {
        topology: t,
        schema: Some("shop"),
    };
    let Route::Shard(r) = plan(sql, ctx) else {
        return None;
    };
    let targets = r
        .resolve(t, &[], &hash_key, &|b| literal_in(b, None))
        .ok()?;
    match targets.as_slice() {
        [one] => Some((one.shard, one.database.clone(), one.sql.clone())),
        _ => None,
    }
}

/// Whitespace runs as one space (the planner may keep the text's own spacing).
fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn point_reads() -> impl Strategy<Value = String> {
    let column = prop::sample::select(vec!["c", "k", "`c`", "pad", "*", "c AS x", "c, k"]);
    let table = prop::sample::select(vec![
        ("sbtest1", "id"),
        ("orders", "uid"),
        ("`orders`", "`uid`"),
    ]);
    let select = prop::sample::select(vec!["SELECT", "select", "Select"]);
    let space = prop::sample::select(vec![" ", "  ", "\n", " /* x */ "]);
    let eq = prop::sample::select(vec!["=", " = "]);
    let end = prop::sample::select(vec!["", ";", " ;"]);
    (
        select,
        column,
        table,
        space,
        eq,
        -100_000i64..10_000_000,
        end,
    )
        .prop_map(|(s, c, (t, k), sp, eq, v, end)| {
            format!("{s} {c} FROM{sp}{t} WHERE {k}{eq}{v}{end}")
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn the_point_path_routes_as_the_planner(sql in point_reads()) {
        let t = topology();
        let fast = point_route(&t, "shop", &sql);
        let slow = planned(&t, &sql);
        let fast = fast.map(|p| (p.shard, p.database, squeeze(&p.sql).replace(" ;", ";")));
        let slow = slow.map(|(s, d, q)| (s, d, squeeze(&q).replace(" ;", ";")));
        prop_assert!(fast.is_some(), "not recognised: {}", sql);
        prop_assert_eq!(fast, slow, "{}", sql);
    }
}

#[test]
fn near_misses_are_left_to_the_planner() {
    let t = topology();
    for sql in [
        "SELECT c FROM names WHERE name = 5",
        "SELECT c FROM countries WHERE code = 5",
        "SELECT c FROM unlisted WHERE id = 5",
        "SELECT c FROM sbtest1 WHERE k = 5",
        "SELECT c FROM sbtest1 WHERE id = 5 OR id = 6",
        "SELECT c FROM SBTEST1 WHERE id = 5",
    ] {
        assert_eq!(point_route(&t, "shop", sql), None, "{sql}");
    }
    assert_eq!(
        point_route(&t, "nope", "SELECT c FROM sbtest1 WHERE id = 5"),
        None
    );
}
