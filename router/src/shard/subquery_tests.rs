//! Planner tests for subqueries, derived tables and INSERT … SELECT over shards: which
//! statements go to one shard whole, which scatter, which are refused (and the message).

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
      - {name: orders, shard_key: user_id}
      - {name: items, shard_key: user_id}
      - {name: users, shard_key: id, allow_full_scan_writes: true}
      - {name: tags, shard_key: tag, key_type: string}
      - {name: countries, global: true}
"#;

/// Integers hash to `|n| % shards`; anything else has no shard.
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
    let c = myshard_config::parse(YAML, "test.yaml").expect("config");
    let t = Topology::new(&c);
    let ctx = RouteContext {
        topology: &t,
        schema: Some("shop"),
    };
    match plan(sql, ctx) {
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

const ALL: [u32; 4] = [0, 1, 2, 3];

#[test]
fn the_issue_examples_go_to_one_shard_with_every_scope_renamed() {
    assert_eq!(
        route(
            "SELECT t.status, t.n FROM (SELECT status, COUNT(*) AS n FROM orders WHERE user_id = 42 GROUP BY status) AS t",
            &[]
        ),
        Ok(vec![(
            2,
            "SELECT t.status, t.n FROM (SELECT status, COUNT(*) AS n FROM `shop_0002`.`orders` WHERE user_id = 42 GROUP BY status) AS t".into()
        )])
    );
    assert_eq!(
        route(
            "SELECT name FROM users WHERE id = 42 AND EXISTS (SELECT 1 FROM orders o WHERE o.user_id = users.id AND o.total > 10)",
            &[]
        ),
        Ok(vec![(
            2,
            "SELECT name FROM `shop_0002`.`users` WHERE id = 42 AND EXISTS (SELECT 1 FROM `shop_0002`.`orders` o WHERE o.user_id = users.id AND o.total > 10)".into()
        )])
    );
    assert_eq!(
        shards(
            "SELECT * FROM orders WHERE user_id = 42 AND order_id IN (SELECT order_id FROM items WHERE user_id = 42)"
        ),
        vec![2]
    );
    // Placeholders bound at execute time pin it the same way.
    assert_eq!(
        route(
            "SELECT * FROM orders WHERE user_id = ? AND order_id IN (SELECT order_id FROM items WHERE user_id = ?)",
            &[Bound::Int(5), Bound::Int(9)]
        )
        .map(|v| v.into_iter().map(|(s, _)| s).collect::<Vec<_>>()),
        Ok(vec![1])
    );
}

#[test]
fn nesting_of_any_depth_and_global_tables_anywhere() {
    assert_eq!(
        shards(
            "SELECT * FROM (SELECT * FROM (SELECT o.*, c.name FROM orders o JOIN countries c ON c.code = o.cc WHERE o.user_id = 7) a) b WHERE b.x IN (SELECT code FROM countries)"
        ),
        vec![3]
    );
    assert_eq!(
        shards(
            "WITH mine AS (SELECT * FROM orders WHERE user_id = 3) SELECT COUNT(*) FROM mine WHERE EXISTS (SELECT 1 FROM items i WHERE i.user_id = 3 AND i.order_id = mine.order_id)"
        ),
        vec![3]
    );
    // A scalar subquery pinned by its own key, under an outer query pinned to the same shard.
    assert_eq!(
        shards(
            "SELECT u.id, (SELECT COUNT(*) FROM orders o WHERE o.user_id = 6) AS n FROM users u WHERE u.id = 2"
        ),
        vec![2]
    );
    // Subqueries over global tables only need no key at all.
    assert_eq!(
        shards(
            "SELECT (SELECT COUNT(*) FROM countries) AS n, x FROM (SELECT code AS x FROM countries) d"
        ),
        vec![1]
    );
}

#[test]
fn co_located_subqueries_scatter_and_merge() {
    assert_eq!(
        shards(
            "SELECT * FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id)"
        ),
        ALL
    );
    assert_eq!(
        shards(
            "SELECT * FROM users u WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id AND o.user_id = 3)"
        ),
        ALL,
        "a key condition inside a subquery does not limit the outer query"
    );
    assert_eq!(
        shards("SELECT * FROM users u WHERE u.id IN (SELECT user_id FROM orders WHERE total > 5)"),
        ALL
    );
    assert_eq!(
        shards(
            "SELECT id, (SELECT MAX(total) FROM orders o WHERE o.user_id = u.id) FROM users u WHERE u.id IN (1, 5)"
        ),
        vec![1]
    );
    // The outer ORDER BY / LIMIT is merged as in any scatter.
    let sql0 = &route(
        "SELECT u.id FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id) ORDER BY u.id LIMIT 3",
        &[],
    )
    .expect("route")[0]
        .1;
    assert!(sql0.contains("`shop_0000`.`orders` o"), "{sql0}");
    assert!(sql0.contains("LIMIT 3"), "{sql0}");
    // Derived table giving the same rows shard by shard, plain outer query.
    assert_eq!(
        shards(
            "SELECT d.user_id FROM (SELECT user_id, COUNT(*) AS n FROM orders GROUP BY user_id) d WHERE d.n > 1"
        ),
        ALL
    );
    // Writes: co-located and allowed to reach every shard.
    assert_eq!(
        shards(
            "DELETE FROM users WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = users.id)"
        ),
        ALL
    );
    refused(
        "DELETE FROM orders WHERE EXISTS (SELECT 1 FROM items i WHERE i.user_id = orders.user_id)",
        "allow_full_scan_writes",
    );
}

#[test]
fn writes_and_insert_select_pinned_to_one_shard() {
    assert_eq!(
        route(
            "UPDATE orders SET flag = 1 WHERE user_id = 5 AND order_id IN (SELECT order_id FROM items WHERE user_id = 5)",
            &[]
        ),
        Ok(vec![(
            1,
            "UPDATE `shop_0001`.`orders` SET flag = 1 WHERE user_id = 5 AND order_id IN (SELECT order_id FROM `shop_0001`.`items` WHERE user_id = 5)".into()
        )])
    );
    assert_eq!(
        shards(
            "DELETE FROM items WHERE user_id = 2 AND order_id NOT IN (SELECT order_id FROM orders WHERE user_id = 2)"
        ),
        vec![2]
    );
    assert_eq!(
        route("INSERT INTO orders (user_id, order_id) SELECT user_id, order_id FROM items WHERE user_id = 7", &[]),
        Ok(vec![(
            3,
            "INSERT INTO `shop_0003`.`orders` (user_id, order_id) SELECT user_id, order_id FROM `shop_0003`.`items` WHERE user_id = 7".into()
        )])
    );
    assert_eq!(
        shards(
            "INSERT INTO orders (order_id, user_id) SELECT 1, 6 FROM countries WHERE code = 'FR'"
        ),
        vec![2]
    );
    // Co-located copy: each shard copies its own rows.
    assert_eq!(
        shards("INSERT INTO orders (user_id, order_id) SELECT user_id, order_id FROM items"),
        ALL
    );
    refused(
        "INSERT INTO orders (user_id, n) SELECT user_id, COUNT(*) FROM items GROUP BY status",
        "INSERT … SELECT",
    );
    refused(
        "INSERT INTO orders (user_id, order_id) SELECT 5, order_id FROM items WHERE user_id = 6",
        "select different shards",
    );
    refused(
        "INSERT INTO orders (user_id, order_id) SELECT order_id, user_id FROM items",
        "neither a literal nor the shard key",
    );
    refused(
        "INSERT INTO orders SELECT * FROM items WHERE user_id = 1",
        "must list its columns",
    );
    refused(
        "INSERT INTO countries (code) SELECT cc FROM orders WHERE user_id = 1",
        "global table 'countries'",
    );
    refused(
        "UPDATE countries SET n = 1 WHERE code IN (SELECT cc FROM orders WHERE user_id = 1)",
        "global table 'countries'",
    );
    refused(
        "UPDATE orders SET user_id = 3 WHERE user_id = 1 AND EXISTS (SELECT 1 FROM items i WHERE i.user_id = 1)",
        "may not change the shard key",
    );
}

#[test]
fn everything_else_is_refused_naming_the_construct() {
    // Correlated on a column that is not the shard key.
    refused(
        "SELECT * FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.status = u.status)",
        "a subquery over sharded table 'orders' neither joined nor correlated",
    );
    // Uncorrelated subquery over a sharded table in a scatter.
    refused(
        "SELECT * FROM users WHERE name IN (SELECT name FROM orders)",
        "a subquery over sharded table 'orders'",
    );
    // NOT IN is not co-located: a match or a NULL on any shard changes it.
    refused(
        "SELECT * FROM users u WHERE u.id NOT IN (SELECT user_id FROM orders)",
        "a subquery over sharded table 'orders'",
    );
    // The only sharded table is in a subquery reaching several shards.
    refused(
        "SELECT (SELECT COUNT(*) FROM orders) AS n",
        "a subquery over sharded table 'orders' reaching several shards",
    );
    // Derived tables that are not the same rows shard by shard, or not a plain outer query.
    refused(
        "SELECT t.status, t.n FROM (SELECT status, COUNT(*) AS n FROM orders GROUP BY status) AS t",
        "GROUP BY without the shard key",
    );
    refused(
        "SELECT * FROM (SELECT * FROM orders ORDER BY total LIMIT 5) t",
        "LIMIT",
    );
    refused(
        "SELECT COUNT(*) FROM (SELECT user_id FROM orders) t",
        "in the outer query over a derived table",
    );
    refused(
        "SELECT * FROM users u JOIN (SELECT user_id, total FROM orders) t ON t.total = u.age",
        "neither joined nor correlated",
    );
    // Pinned to two different shards.
    refused(
        "SELECT * FROM orders WHERE user_id = 1 AND order_id IN (SELECT order_id FROM items WHERE user_id = 2)",
        "select different shards",
    );
    // Keys of different kinds are never co-located.
    refused(
        "SELECT * FROM users u WHERE EXISTS (SELECT 1 FROM tags t WHERE t.tag = u.id)",
        "neither joined nor correlated",
    );
    // An equality of two outer tables inside a subquery does not join them.
    refused(
        "SELECT * FROM users u, orders o WHERE NOT EXISTS (SELECT 1 FROM items i WHERE i.user_id = u.id AND u.id = o.user_id)",
        "neither joined nor correlated",
    );
    // A UNION whose branches all go to one shard is sent there whole (union.rs).
    assert_eq!(
        shards(
            "SELECT * FROM orders WHERE user_id = 1 UNION SELECT * FROM items WHERE user_id = 1"
        ),
        [1]
    );
    refused(
        "WITH RECURSIVE r AS (SELECT user_id FROM orders WHERE user_id = 1 UNION ALL SELECT user_id FROM r) SELECT * FROM r",
        "set operation",
    );
}

#[test]
fn merged_outer_queries_keep_subqueries_out_of_copied_expressions() {
    // The scalar subquery's COUNT is its own, not an aggregate of the outer query.
    let sql0 = &route(
        "SELECT id, (SELECT COUNT(*) FROM orders o WHERE o.user_id = u.id) AS n FROM users u ORDER BY id LIMIT 2",
        &[],
    )
    .expect("route")[1]
        .1;
    assert!(sql0.contains("FROM `shop_0001`.`orders` o"), "{sql0}");
    // Sorting on the subquery would copy it (unrenamed) into a hidden column: refused.
    refused(
        "SELECT id, (SELECT COUNT(*) FROM orders o WHERE o.user_id = u.id) AS n FROM users u ORDER BY 2",
        "a subquery inside an ORDER BY",
    );
    // Pinned to one shard, the same statement needs no merge.
    assert_eq!(
        shards(
            "SELECT id, (SELECT COUNT(*) FROM orders o WHERE o.user_id = u.id) AS n FROM users u WHERE id = 3 ORDER BY 2"
        ),
        vec![3]
    );
}
