//! The prepared point path (the key read from the execute's bytes) and the general resolver
//! (every parameter bound, the route resolved) agree: for generated statements and bound
//! values of every integer width, the same shard, database, group and text; for NULL and
//! keys of other types the point path declines and the resolver decides.

use myshard_config::Topology;
use myshard_proxy::params::parse_execute;
use myshard_proxy::session::point_execute::PointExecute;
use myshard_proxy::sharding::{bound_params, hash_key, literal_in};
use myshard_router::shard::plan::{Route, RouteContext, ShardRoute, plan};
use proptest::prelude::*;
use std::sync::LazyLock;

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
"#;

fn topology() -> Topology {
    match myshard_config::parse(YAML, "test.yaml") {
        Ok(c) => Topology::new(&c),
        Err(e) => panic!("{e}"),
    }
}

/// The topology and each statement's route, made once (parsing is the slow part in debug
/// builds, and is not what is tested here).
static PLANNED: LazyLock<(Topology, Vec<ShardRoute>)> = LazyLock::new(|| {
    let t = topology();
    let routes = STATEMENTS
        .iter()
        .map(|(sql, _, _)| *route(&t, sql))
        .collect();
    (t, routes)
});

fn route(t: &Topology, sql: &str) -> Box<ShardRoute> {
    let ctx = RouteContext {
        topology: t,
        schema: Some("shop"),
    };
    match plan(sql, ctx) {
        Route::Shard(r) => r,
        other => panic!("{sql}: {other:?}"),
    }
}

/// Point statements: text, number of parameters, index of the key.
const STATEMENTS: &[(&str, usize, usize)] = &[
    ("SELECT c FROM sbtest1 WHERE id = ?", 1, 0),
    ("SELECT c, pad FROM sbtest1 WHERE c = ? AND id = ?", 2, 1),
    ("UPDATE sbtest1 SET c = ? WHERE id = ?", 2, 1),
    ("DELETE FROM orders WHERE uid = ?", 1, 0),
    ("SELECT * FROM `orders` WHERE ? = uid AND note <> ?", 2, 0),
];

/// One bound parameter: type, flags, value bytes (None: NULL).
type Param = (u8, u8, Option<Vec<u8>>);

/// An integer of one of the widths the binary protocol has, signed or unsigned.
fn integer() -> impl Strategy<Value = Param> {
    let unsigned = prop::sample::select(vec![0u8, 0x80]);
    prop_oneof![
        (any::<u8>(), unsigned.clone()).prop_map(|(v, f)| (0x01, f, Some(vec![v]))),
        (any::<u16>(), unsigned.clone()).prop_map(|(v, f)| (
            0x02,
            f,
            Some(v.to_le_bytes().to_vec())
        )),
        (any::<u16>(), unsigned.clone()).prop_map(|(v, f)| (
            0x0d,
            f,
            Some(v.to_le_bytes().to_vec())
        )),
        (any::<u32>(), unsigned.clone()).prop_map(|(v, f)| (
            0x03,
            f,
            Some(v.to_le_bytes().to_vec())
        )),
        (any::<u32>(), unsigned.clone()).prop_map(|(v, f)| (
            0x09,
            f,
            Some(v.to_le_bytes().to_vec())
        )),
        (any::<u64>(), unsigned.clone()).prop_map(|(v, f)| (
            0x08,
            f,
            Some(v.to_le_bytes().to_vec())
        )),
        (-1000i64..1000, unsigned).prop_map(|(v, f)| (0x08, f, Some(v.to_le_bytes().to_vec()))),
    ]
}

/// A length-encoded string (short).
fn text(s: &[u8]) -> Vec<u8> {
    let mut v = vec![s.len() as u8];
    v.extend_from_slice(s);
    v
}

/// Values of other types a client may bind to the key.
fn other() -> impl Strategy<Value = Param> {
    prop_oneof![
        Just((0x06, 0, None)),
        Just((0x08, 0, None)),
        "-?[0-9]{1,19}".prop_map(|s| (0xfd, 0, Some(text(s.as_bytes())))),
        "-?[0-9]{1,5}\\.[0-9]{1,3}".prop_map(|s| (0xf6, 0, Some(text(s.as_bytes())))),
        any::<f64>().prop_map(|d| (0x05, 0, Some(d.to_le_bytes().to_vec()))),
        any::<f32>().prop_map(|d| (0x04, 0, Some(d.to_le_bytes().to_vec()))),
    ]
}

/// A COM_STMT_EXECUTE body (after the command byte) with types bound.
fn body(params: &[Param]) -> Vec<u8> {
    let mut b = vec![1, 0, 0, 0, 0, 1, 0, 0, 0];
    let mut bitmap = vec![0u8; params.len().div_ceil(8)];
    for (i, (_, _, v)) in params.iter().enumerate() {
        if v.is_none() {
            bitmap[i / 8] |= 1 << (i % 8);
        }
    }
    b.extend_from_slice(&bitmap);
    b.push(1);
    for (t, f, _) in params {
        b.extend_from_slice(&[*t, *f]);
    }
    for (_, _, v) in params {
        b.extend_from_slice(v.as_deref().unwrap_or_default());
    }
    b
}

/// (shard, database, group, text) from the general resolver, if it gives one target.
type Picked = (u32, String, String, String);

/// Both paths for statement `s` with `key` bound to its key and `filler` to the other
/// parameter: (point path, resolver).
fn both(s: usize, key: &Param, filler: &Param) -> (Option<Picked>, Option<Picked>) {
    let (sql, n, index) = STATEMENTS[s];
    let (t, routes) = &*PLANNED;
    let r = &routes[s];
    let params: Vec<Param> = (0..n)
        .map(|i| {
            if i == index {
                key.clone()
            } else {
                filler.clone()
            }
        })
        .collect();
    let b = body(&params);
    let Some(req) = parse_execute(&b, n) else {
        panic!("unreadable execute")
    };
    let types = req.types.unwrap_or_default();
    let general = bound_params(&req, types, n, &[])
        .and_then(|bound| {
            r.resolve(t, &bound, &hash_key, &|b| literal_in(b, None))
                .ok()
        })
        .and_then(|targets| match targets.as_slice() {
            [one] => Some((
                one.shard,
                one.database.clone(),
                one.group.clone(),
                one.sql.clone(),
            )),
            _ => None,
        });
    let Some(mut point) = PointExecute::of(r) else {
        panic!("{sql}: not a point statement")
    };
    let fast = point.target(t, r, &req, types, n, &[]).map(|p| {
        let one = &p.target;
        assert_eq!(
            p.text,
            one.sql.as_bytes(),
            "the backend text is the target's"
        );
        (
            one.shard,
            one.database.clone(),
            one.group.clone(),
            one.sql.clone(),
        )
    });
    // Asked again: the kept target is the same.
    let again = point
        .target(t, r, &req, types, n, &[])
        .map(|p| p.target.sql.clone());
    assert_eq!(again, fast.as_ref().map(|f| f.3.clone()));
    (fast, general)
}

fn filler() -> impl Strategy<Value = Param> {
    prop_oneof![
        Just((0x06, 0, None)),
        "[a-z%]{0,10}".prop_map(|s| (0xfd, 0, Some(text(s.as_bytes())))),
        integer(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn integer_keys_route_as_the_resolver(
        s in 0..STATEMENTS.len(),
        key in integer(),
        filler in filler(),
    ) {
        let (fast, general) = both(s, &key, &filler);
        prop_assert!(fast.is_some(), "integer key not taken: {:?}", key);
        prop_assert!(general.is_some(), "the resolver gives one target");
        prop_assert_eq!(fast, general);
    }

    #[test]
    fn other_keys_are_left_to_the_resolver(
        s in 0..STATEMENTS.len(),
        key in other(),
        filler in filler(),
    ) {
        let (fast, _) = both(s, &key, &filler);
        prop_assert!(fast.is_none(), "taken: {:?}", key);
    }
}

#[test]
fn other_statements_have_no_point_path() {
    let t = topology();
    for sql in [
        "SELECT c FROM sbtest1 WHERE id IN (?, ?)",
        "SELECT c FROM sbtest1 WHERE id = ? OR id = ?",
        "SELECT c FROM sbtest1 WHERE c = ?",
        "INSERT INTO sbtest1 (id, c) VALUES (?, ?)",
        "SELECT c FROM sbtest1 WHERE id = 5",
    ] {
        assert!(PointExecute::of(&route(&t, sql)).is_none(), "{sql}");
    }
}
