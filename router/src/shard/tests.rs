//! Table-driven planner tests: statement → targets and per-shard SQL, on a 4-shard schema
//! with a simple integer hash (the real hash has its own tests).

use super::keys::Literal;
use super::plan::{Route, RouteContext, RouteError, plan};
use super::resolve::{Bound, KeyInput};
use myshard_config::{TableRule, Topology};

const YAML: &str = r#"
listen: 127.0.0.1:3307
users: [{name: u, password: p, schemas: ["*"]}]
groups:
  - {name: g0, user: r, write_hosts: ["127.0.0.1:1"]}
  - {name: g1, user: r, write_hosts: ["127.0.0.1:2"]}
schemas:
  - name: shop
    shards: 4
    placement: [{group: g0, shards: "0-1"}, {group: g1, shards: "2-3"}]
    home_shard: 1
    tables:
      - {name: orders, shard_key: uid}
      - {name: items, shard_key: uid}
      - {name: users, shard_key: id, allow_full_scan_writes: true}
      - {name: countries, global: true}
  - {name: crm, group: g1, database: crm_db}
"#;

fn topology() -> Topology {
    let c = myshard_config::parse(YAML, "test.yaml").expect("config");
    Topology::new(&c)
}

fn hash(_: &TableRule, n: u32, v: KeyInput<'_>) -> Result<Option<u32>, RouteError> {
    let x: i64 = match v {
        KeyInput::Literal(Literal::Number(s)) => {
            s.parse().map_err(|_| RouteError::refused("nan"))?
        }
        KeyInput::Bound(Bound::Int(i)) => *i,
        _ => return Ok(None),
    };
    Ok(Some((x.unsigned_abs() % u64::from(n)) as u32))
}

fn route(sql: &str, params: &[Bound]) -> Result<Vec<(u32, String)>, String> {
    let t = topology();
    match plan(
        sql,
        RouteContext {
            topology: &t,
            schema: Some("shop"),
        },
    ) {
        Route::Passthrough => Ok(vec![(99, sql.to_string())]),
        Route::Error(e) => Err(e.message),
        Route::Shard(r) => r
            .resolve(&t, params, &hash, &|b| format!("{b:?}"))
            .map(|ts| ts.into_iter().map(|t| (t.shard, t.sql)).collect())
            .map_err(|e| e.message),
    }
}

fn shards(sql: &str) -> Vec<u32> {
    route(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(|(s, _)| s)
        .collect()
}

fn refused(sql: &str, part: &str) {
    match route(sql, &[]) {
        Err(m) => assert!(m.contains(part), "{sql}: message {m:?} lacks {part:?}"),
        Ok(t) => panic!("{sql}: expected refusal, got {t:?}"),
    }
}

#[test]
fn key_equality_routes_to_one_shard() {
    assert_eq!(
        route("SELECT * FROM orders WHERE uid = 6", &[]),
        Ok(vec![(
            2,
            "SELECT * FROM `shop_0002`.`orders` WHERE uid = 6".into()
        )])
    );
    assert_eq!(
        shards("SELECT * FROM shop.orders o WHERE o.uid = -5"),
        vec![1]
    );
    assert_eq!(
        shards("SELECT * FROM orders WHERE uid IN (1, 2, 5) AND x = 1"),
        vec![1, 2]
    );
    assert_eq!(
        shards("SELECT * FROM orders WHERE uid = 1 OR uid = 3"),
        vec![1, 3]
    );
    assert_eq!(
        shards("SELECT * FROM orders WHERE uid > 3"),
        vec![0, 1, 2, 3]
    );
    assert_eq!(
        route("SELECT * FROM orders WHERE uid = ?", &[Bound::Int(7)]).map(|v| v[0].0),
        Ok(3)
    );
}

#[test]
fn joins() {
    assert_eq!(
        shards("SELECT * FROM orders o JOIN items i ON o.uid = i.uid WHERE o.uid = 3"),
        vec![3]
    );
    assert_eq!(
        shards("SELECT * FROM orders o JOIN countries c ON o.cc = c.code WHERE o.uid = 2"),
        vec![2]
    );
    assert_eq!(
        shards("SELECT * FROM orders o JOIN items i ON o.uid = i.uid"),
        vec![0, 1, 2, 3]
    );
    refused(
        "SELECT * FROM orders o JOIN items i ON o.id = i.oid",
        "not joined on their shard keys",
    );
    assert_eq!(
        shards("SELECT * FROM orders o JOIN items i ON o.id = i.oid WHERE o.uid = 1 AND i.uid = 5"),
        vec![1]
    );
    refused(
        "SELECT * FROM orders o JOIN other x ON o.id = x.id WHERE o.uid = 1",
        "unsharded table 'other'",
    );
    refused(
        "SELECT * FROM orders WHERE id IN (SELECT oid FROM items)",
        "subquery",
    );
}

#[test]
fn global_and_unsharded_tables() {
    assert_eq!(shards("SELECT * FROM countries"), vec![1]);
    assert_eq!(
        shards("UPDATE countries SET name = 'x' WHERE code = 'FR'"),
        vec![0, 1, 2, 3]
    );
    assert_eq!(
        shards("INSERT INTO countries (code) VALUES ('DE')"),
        vec![0, 1, 2, 3]
    );
    assert_eq!(
        route("SELECT * FROM notes", &[]),
        Ok(vec![(1, "SELECT * FROM `shop_0001`.`notes`".into())])
    );
    assert_eq!(shards("SELECT 1"), vec![1]);
    refused(
        "UPDATE countries c JOIN notes n ON c.code = n.code SET c.name = n.x",
        "global table 'countries'",
    );
    refused(
        "INSERT INTO countries (code) SELECT code FROM notes",
        "global table 'countries'",
    );
    assert_eq!(
        shards("INSERT INTO notes (code) SELECT code FROM countries"),
        vec![1]
    );
}

#[test]
fn writes() {
    assert_eq!(shards("UPDATE orders SET x = 1 WHERE uid = 5"), vec![1]);
    refused(
        "UPDATE orders SET uid = 2 WHERE uid = 5",
        "may not change the shard key",
    );
    refused(
        "UPDATE orders SET x = 1",
        "without a condition on its shard key",
    );
    assert_eq!(
        shards("DELETE FROM users WHERE name = 'a'"),
        vec![0, 1, 2, 3]
    );
    refused("DELETE FROM users ORDER BY id LIMIT 1", "ORDER BY or LIMIT");
}

#[test]
fn inserts() {
    assert_eq!(
        route("INSERT INTO orders (uid, x) VALUES (2, 'a')", &[]),
        Ok(vec![(
            2,
            "INSERT INTO `shop_0002`.`orders` (uid, x) VALUES (2, 'a')".into()
        )])
    );
    assert_eq!(
        route("INSERT INTO orders (x, uid) VALUES ('a', 1), ('b', 2), ('c', 5) ON DUPLICATE KEY UPDATE x = VALUES(x)", &[]),
        Ok(vec![
            (1, "INSERT INTO `shop_0001`.`orders` (x, uid) VALUES ('a', 1), ('c', 5) ON DUPLICATE KEY UPDATE x = VALUES(x)".into()),
            (2, "INSERT INTO `shop_0002`.`orders` (x, uid) VALUES ('b', 2) ON DUPLICATE KEY UPDATE x = VALUES(x)".into()),
        ])
    );
    assert_eq!(
        route(
            "INSERT INTO orders (uid, x) VALUES (?, ?), (?, ?)",
            &[Bound::Int(1), Bound::Int(10), Bound::Int(2), Bound::Int(20)]
        ),
        Ok(vec![
            (
                1,
                "INSERT INTO `shop_0001`.`orders` (uid, x) VALUES (Int(1), Int(10))".into()
            ),
            (
                2,
                "INSERT INTO `shop_0002`.`orders` (uid, x) VALUES (Int(2), Int(20))".into()
            ),
        ])
    );
    assert_eq!(shards("INSERT INTO orders SET uid = 3, x = 1"), vec![3]);
    refused(
        "INSERT INTO orders (x) VALUES (1)",
        "must set its shard key 'uid'",
    );
    refused("INSERT INTO orders VALUES (1, 2)", "must list its columns");
    refused("INSERT INTO orders (uid) VALUES (NULL)", "is NULL");
    refused(
        "INSERT INTO orders (uid) VALUES (1) ON DUPLICATE KEY UPDATE uid = 2",
        "may not change the shard key",
    );
    refused(
        "INSERT INTO orders (uid) SELECT x FROM items",
        "INSERT … SELECT",
    );
}

/// The SQL shard 0 runs for a statement reaching every shard.
fn shard0_sql(sql: &str) -> String {
    route(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .remove(0)
        .1
}

#[test]
fn multi_shard_selects_run_their_merge_form() {
    assert_eq!(
        shards("SELECT a, b FROM orders WHERE x = 1"),
        vec![0, 1, 2, 3]
    );
    // Concatenation: the text unchanged.
    assert_eq!(
        shard0_sql("SELECT a, b FROM orders WHERE x = 1"),
        "SELECT a, b FROM `shop_0000`.`orders` WHERE x = 1"
    );
    // ORDER BY keys not selected, and the collation of every key, come as hidden columns;
    // LIMIT widens to offset + count.
    assert_eq!(
        shard0_sql("SELECT a AS k, b FROM orders ORDER BY k DESC, c LIMIT 5, 10"),
        "SELECT a AS k, b , COLLATION(a), c, COLLATION(c) FROM `shop_0000`.`orders` ORDER BY k DESC, c LIMIT 15 "
    );
    // Grouped: HAVING, ORDER BY and LIMIT are the merge's; AVG brings SUM and COUNT.
    assert_eq!(
        shard0_sql(
            "SELECT x, AVG(y), MAX(z) FROM orders GROUP BY x HAVING COUNT(*) > 1 ORDER BY 2 DESC LIMIT 3"
        ),
        "SELECT x, AVG(y), MAX(z) , COLLATION(x), SUM(y), COUNT(y), COLLATION(MAX(z)), COUNT(*), COLLATION(COUNT(*)), COLLATION(AVG(y)) FROM `shop_0000`.`orders` GROUP BY x "
    );
    // Key conditions selecting one shard need no merge.
    assert_eq!(
        route(
            "SELECT COUNT(*) FROM orders WHERE uid = 1 ORDER BY 1 LIMIT 3",
            &[]
        )
        .expect("route")[0]
            .1,
        "SELECT COUNT(*) FROM `shop_0001`.`orders` WHERE uid = 1 ORDER BY 1 LIMIT 3"
    );
    assert_eq!(
        shards("SELECT COUNT(*) FROM orders WHERE uid IN (1, 5)"),
        vec![1]
    );
}

#[test]
fn contradictory_key_conditions_go_to_one_shard() {
    // The home shard (1 here) answers: no row meets the condition anywhere.
    assert_eq!(
        shards("SELECT * FROM orders WHERE uid = 1 AND uid = 2"),
        vec![1]
    );
    assert_eq!(
        shards("SELECT COUNT(*) FROM orders WHERE uid IN (1, 2) AND uid = 3"),
        vec![1]
    );
    assert_eq!(
        shards("DELETE FROM orders WHERE uid = 1 AND uid IN (2, 6)"),
        vec![1]
    );
}

#[test]
fn merges_that_would_be_inexact_are_refused() {
    // COUNT(DISTINCT x) over another column: shards also group by x and return it.
    assert_eq!(
        shard0_sql("SELECT g, COUNT(DISTINCT x) FROM orders WHERE y > 1 GROUP BY g ORDER BY g"),
        "SELECT g, COUNT(DISTINCT x) , COLLATION(g), x, COLLATION(x) FROM `shop_0000`.`orders` WHERE y > 1 GROUP BY g , x "
    );
    assert_eq!(
        shard0_sql("SELECT COUNT(DISTINCT x) FROM orders LIMIT 1"),
        "SELECT COUNT(DISTINCT x) , x, COLLATION(x) FROM `shop_0000`.`orders`  GROUP BY x "
    );
    refused("SELECT GROUP_CONCAT(x) FROM orders", "GROUP_CONCAT");
    refused(
        "SELECT SUM(x) / COUNT(*) FROM orders",
        "expression over an aggregate",
    );
    // Paging parameters keep their placeholders in the shards' statement (the values are
    // set at execute, see merge::paging); other parameters stay where they are.
    let sqls = |sql: &str| -> Vec<String> {
        route(sql, &[])
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .into_iter()
            .map(|(_, s)| s)
            .collect()
    };
    let paged = sqls("SELECT * FROM orders ORDER BY uid LIMIT 5, ?");
    assert!(
        paged.len() > 1 && paged[0].ends_with("ORDER BY uid LIMIT ? "),
        "{paged:?}"
    );
    let paged = sqls("SELECT uid, COUNT(*) FROM orders GROUP BY uid LIMIT ? OFFSET ?");
    assert!(
        paged[0].ends_with("GROUP BY uid LIMIT ? OFFSET ? "),
        "{paged:?}"
    );
    refused("SELECT x FROM orders GROUP BY x WITH ROLLUP", "ROLLUP");
    refused(
        "SELECT SQL_CALC_FOUND_ROWS * FROM orders LIMIT 1",
        "SQL_CALC_FOUND_ROWS",
    );
    refused(
        "DELETE FROM users WHERE id IN (1, 2) LIMIT 1",
        "ORDER BY or LIMIT",
    );
    // COUNT(DISTINCT key) is exact: a key value lives on one shard only.
    assert_eq!(shards("SELECT COUNT(DISTINCT uid) FROM orders").len(), 4);
}

#[test]
fn ddl_broadcast() {
    assert_eq!(
        shards("CREATE TABLE orders (uid INT, x INT)"),
        vec![0, 1, 2, 3]
    );
    assert_eq!(
        route("ALTER TABLE shop.orders ADD COLUMN y INT", &[]).map(|v| v[3].1.clone()),
        Ok("ALTER TABLE `shop_0003`.`orders` ADD COLUMN y INT".into())
    );
    assert_eq!(shards("CREATE TABLE notes (id INT)"), vec![1]);
    assert_eq!(shards("DROP TABLE IF EXISTS countries"), vec![0, 1, 2, 3]);
    assert_eq!(shards("CREATE INDEX i ON orders (x)"), vec![0, 1, 2, 3]);
    assert_eq!(shards("TRUNCATE TABLE orders"), vec![0, 1, 2, 3]);
}

#[test]
fn hints_force_a_shard() {
    assert_eq!(
        route("/* myshard: shard=3 */ SELECT * FROM orders", &[]),
        Ok(vec![(
            3,
            "/* myshard: shard=3 */ SELECT * FROM `shop_0003`.`orders`".into()
        )])
    );
    assert_eq!(
        shards("SELECT * FROM orders WHERE uid = 1 /* myshard: shard=2 */"),
        vec![2]
    );
    assert_eq!(
        shards("SELECT * FROM orders ORDER BY id /*myshard:shard=0*/"),
        vec![0]
    );
    assert_eq!(
        shards("/* myshard: shard=2 */ SELECT * FROM orders LOCK IN SHARE MODE"),
        vec![2]
    );
    refused("/* myshard: shard=4 */ SELECT 1", "has shards 0 to 3");
}

#[test]
fn other_schemas_and_unparsable() {
    let t = topology();
    let crm = RouteContext {
        topology: &t,
        schema: Some("crm"),
    };
    // An unsharded schema whose physical name differs gets its references renamed.
    match plan("SELECT * FROM crm.t", crm) {
        Route::Shard(r) => assert_eq!(
            r.resolve(&t, &[], &hash, &|_| String::new())
                .expect("targets")[0]
                .sql,
            "SELECT * FROM `crm_db`.`t`"
        ),
        other => panic!("{other:?}"),
    }
    let plain = RouteContext {
        topology: &t,
        schema: None,
    };
    assert_eq!(plan("SELECT 1", plain), Route::Passthrough);
    refused(
        "SELECT * FROM shop.orders JOIN crm.t",
        "two logical schemas",
    );
    // sqlparser cannot parse LOCK IN SHARE MODE: the home shard when no sharded table is named.
    assert_eq!(shards("SELECT * FROM notes LOCK IN SHARE MODE"), vec![1]);
    refused("SELECT * FROM orders LOCK IN SHARE MODE", "cannot parse");
}

#[test]
fn hinted_writes_need_the_user_setting() {
    use super::plan::plan_hinted;
    let t = topology();
    let ctx = RouteContext {
        topology: &t,
        schema: Some("shop"),
    };
    for sql in [
        "/* myshard: shard=2 */ DELETE FROM orders",
        "/* myshard: shard=2 */ INSERT INTO orders (uid) VALUES (1)",
        "/* myshard: shard=2 */ UPDATE orders SET x = 5",
        "/* myshard: shard=2 */ DELETE FROM orders LOCK IN SHARE MODE",
    ] {
        match plan(sql, ctx) {
            Route::Error(e) => {
                assert_eq!(e.code, 1227, "{sql}");
                assert!(e.message.contains("shard_hint_writes"), "{}", e.message);
            }
            other => panic!("{sql}: {other:?}"),
        }
        assert!(
            matches!(plan_hinted(sql, ctx, true), Route::Shard(_)),
            "{sql}"
        );
    }
    // Hinted reads stay open to every user.
    assert!(matches!(
        plan("/* myshard: shard=2 */ SELECT * FROM orders", ctx),
        Route::Shard(_)
    ));
}
