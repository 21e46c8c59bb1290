//! Deep and long statements through the planner: refused with the limit's error past
//! `limits.max_expression_depth`, planned correctly below it on a thread with the stack the
//! proxy gives its planner threads, and never a crash for generated shapes (proptest).

use myshard_config::Topology;
use myshard_router::limits::planner_stack_bytes;
use myshard_router::shard::plan::{Route, RouteContext, Targets, plan};
use proptest::prelude::*;

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
    tables:
      - {name: t, shard_key: id}
  - {name: crm, group: g1, database: crm_db}
"#;

fn topology() -> Topology {
    let c = myshard_config::parse(YAML, "test.yaml").expect("config");
    Topology::new(&c)
}

/// Runs `f` on a thread with the planner's stack for the default depth limit, as the
/// proxy does for large or deep statements.
fn on_planner_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let limit = myshard_config::Limits::default().max_expression_depth;
    std::thread::Builder::new()
        .stack_size(planner_stack_bytes(limit))
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("planner thread")
}

fn plan_in(sql: String, schema: Option<&'static str>) -> Route {
    on_planner_stack(move || {
        let t = topology();
        plan(
            &sql,
            RouteContext {
                topology: &t,
                schema,
            },
        )
    })
}

fn chain(head: &str, term: impl Fn(usize) -> String, sep: &str, n: usize) -> String {
    let mut s = String::from(head);
    for i in 0..n {
        if i > 0 {
            s.push_str(sep);
        }
        s.push_str(&term(i));
    }
    s
}

fn assert_too_deep(r: &Route, what: &str) {
    match r {
        Route::Error(e) => {
            assert_eq!((e.code, e.state), (1436, "HY000"), "{what}: {e:?}");
            assert!(
                e.message.contains("limits.max_expression_depth"),
                "{what}: {}",
                e.message
            );
        }
        other => panic!("{what}: expected the depth error, got {other:?}"),
    }
}

/// The statements of issue 8 that overflowed the stack.
#[test]
fn crash_statements_are_refused() {
    let cases = [
        (
            "7,000 OR terms",
            chain(
                "SELECT * FROM t WHERE ",
                |i| format!("id = {i}"),
                " OR ",
                7_000,
            ),
            Some("shop"),
        ),
        (
            "10,000 AND terms",
            chain(
                "SELECT * FROM t WHERE ",
                |i| format!("id = {i}"),
                " AND ",
                10_000,
            ),
            Some("shop"),
        ),
        (
            "SELECT 1+1+… 100,000 terms",
            chain("SELECT ", |_| "1".into(), "+", 100_000),
            Some("shop"),
        ),
        (
            "WHERE id = 1+1+…",
            chain("SELECT * FROM t WHERE id = ", |_| "1".into(), "+", 20_000),
            Some("shop"),
        ),
        (
            "30,000 UNIONs",
            chain(
                "",
                |i| format!("SELECT id FROM t WHERE id = {i}"),
                " UNION ",
                30_000,
            ),
            Some("shop"),
        ),
        (
            "qualified shop.t from another schema",
            chain(
                "SELECT * FROM shop.t WHERE ",
                |i| format!("id = {i}"),
                " OR ",
                7_000,
            ),
            Some("crm"),
        ),
        (
            "qualified shop.t without a schema",
            chain(
                "SELECT * FROM shop.t WHERE ",
                |i| format!("id = {i}"),
                " OR ",
                7_000,
            ),
            None,
        ),
    ];
    for (what, sql, schema) in cases {
        assert_too_deep(&plan_in(sql, schema), what);
    }
}

/// Just below the limit, the deepest chains plan correctly on the planner's stack (this is
/// what sizes [`planner_stack_bytes`]: a debug build, the largest frames).
#[test]
fn chains_below_the_limit_plan() {
    let n = myshard_config::Limits::default().max_expression_depth - 10;
    let sql = chain("SELECT * FROM t WHERE ", |i| format!("id = {i}"), " OR ", n);
    match plan_in(sql, Some("shop")) {
        Route::Shard(r) => match &r.targets {
            Targets::ByKey(groups) => {
                let c = format!("{:?}", groups[0].constraint);
                assert!(c.starts_with("Values(") && c.matches("Literal").count() == n);
            }
            other => panic!("targets {other:?}"),
        },
        other => panic!("expected a route, got {other:?}"),
    }
    let deep = [
        chain(
            "SELECT * FROM t WHERE id = 1 AND ",
            |_| "2".into(),
            " + ",
            n - 4,
        ),
        chain("SELECT COUNT(*) + ", |_| "1".into(), " + ", n - 2) + " FROM t ORDER BY 1",
        chain(
            "UPDATE t SET v = 1 WHERE id = 3 AND (",
            |i| format!("v = {i}"),
            " OR ",
            n - 4,
        ) + ")",
        chain(
            "DELETE FROM t WHERE id = 3 AND ",
            |i| format!("v <> {i}"),
            " AND ",
            n / 2 - 2,
        ),
    ];
    for sql in deep {
        let head = sql[..40].to_string();
        match plan_in(sql, Some("shop")) {
            Route::Shard(_) | Route::Error(_) => {}
            Route::Passthrough => panic!("{head}: passthrough in a sharded schema"),
        }
    }
}

/// A CASE with thousands of arms is flat (the parser keeps the arms in a vector) and plans;
/// CASEs nested inside one another past the limit are refused, never a crash.
#[test]
fn long_case_plans_and_nested_case_is_refused() {
    let arms = 5_000;
    let flat = chain(
        "SELECT id, CASE ",
        |i| format!("WHEN v = {i} THEN {i}"),
        " ",
        arms,
    ) + " ELSE -1 END FROM t WHERE id = 7";
    match plan_in(flat, Some("shop")) {
        Route::Shard(r) => assert!(matches!(r.targets, Targets::ByKey(_)), "{r:?}"),
        other => panic!("flat CASE: expected a route, got {other:?}"),
    }
    let n = myshard_config::Limits::default().max_expression_depth + 50;
    let nested = format!(
        "SELECT * FROM t WHERE id = {}1{}",
        "CASE WHEN v = 1 THEN ".repeat(n),
        " END".repeat(n)
    );
    assert_too_deep(&plan_in(nested, Some("shop")), "nested CASE");
}

/// A 100,000-row INSERT plans in time linear in its size (it was quadratic: every row's
/// offset was counted from the start of its line).
#[test]
fn long_insert_plans_every_row() {
    let rows = 100_000;
    let sql = chain(
        "INSERT INTO t (id, v) VALUES ",
        |i| format!("({i}, 'v{i}')"),
        ", ",
        rows,
    );
    let started = std::time::Instant::now();
    let r = plan_in(sql, Some("shop"));
    let took = started.elapsed();
    match r {
        Route::Shard(r) => {
            assert!(matches!(&r.targets, Targets::Rows { keys, .. } if keys.len() == rows));
            let split = r.split.as_ref().expect("split");
            let one = split.render("shop_0003", &[99_999], None);
            assert!(one.ends_with("VALUES (99999, 'v99999')"), "{one}");
        }
        other => panic!("expected a route, got {other:?}"),
    }
    // Generous for a debug build on a busy machine; the quadratic version took minutes.
    assert!(took.as_secs() < 20, "planning took {took:?}");
}

/// One generated expression: chains, nesting, unary operators, CASE, IN lists, subqueries.
fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (0u32..1000).prop_map(|n| n.to_string()),
        Just("id".to_string()),
        Just("v".to_string()),
        Just("?".to_string()),
        Just("'s'".to_string()),
        Just("NULL".to_string()),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            (
                prop::collection::vec(inner.clone(), 1..6),
                prop::sample::select(vec![
                    " OR ", " AND ", " + ", " - ", " * ", " = ", " <> ", " XOR ", " || "
                ]),
                1usize..3000,
            )
                .prop_map(|(terms, op, repeat)| {
                    let mut s = String::new();
                    for i in 0..repeat {
                        if i > 0 {
                            s.push_str(op);
                        }
                        s.push_str(&terms[i % terms.len()]);
                    }
                    s
                }),
            inner.clone().prop_map(|e| format!("({e})")),
            inner.clone().prop_map(|e| format!("NOT {e}")),
            inner.clone().prop_map(|e| format!("-{e}")),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| format!("CASE WHEN {a} THEN {b} ELSE {a} END")),
            // Many arms (siblings), and CASEs nested without parentheses.
            (inner.clone(), inner.clone(), 1usize..3000).prop_map(|(a, b, arms)| {
                let mut s = String::from("CASE");
                for i in 0..arms {
                    s.push_str(&format!(" WHEN {a} = {i} THEN {b}"));
                }
                s + " END"
            }),
            (inner.clone(), 1usize..3000).prop_map(|(e, depth)| {
                format!(
                    "{}{e}{}",
                    "CASE WHEN id = 1 THEN ".repeat(depth),
                    " ELSE 0 END".repeat(depth)
                )
            }),
            prop::collection::vec(inner.clone(), 1..20)
                .prop_map(|v| format!("id IN ({})", v.join(", "))),
            inner
                .clone()
                .prop_map(|e| format!("EXISTS (SELECT 1 FROM t WHERE {e})")),
        ]
    })
}

fn statement() -> impl Strategy<Value = (String, Option<&'static str>)> {
    let shape = prop::sample::select(vec![
        "SELECT * FROM t WHERE {}",
        "SELECT {} FROM t",
        "SELECT {} FROM shop.t WHERE id = 1",
        "UPDATE t SET v = {} WHERE id = 2",
        "DELETE FROM t WHERE {}",
        "INSERT INTO t (id, v) VALUES (1, {})",
        "SELECT COUNT(*), {} FROM t GROUP BY 2 ORDER BY 2",
    ]);
    let schema = prop::sample::select(vec![Some("shop"), Some("crm"), None]);
    (shape, expr(), schema).prop_map(|(s, e, schema)| (s.replace("{}", &e), schema))
}

/// Generated deep and long statements: plan() returns a route or an error, never a crash.
#[test]
fn generated_statements_never_crash() {
    on_planner_stack(|| {
        let t = topology();
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 64,
            ..ProptestConfig::default()
        });
        runner
            .run(&statement(), |(sql, schema)| {
                let r = plan(
                    &sql,
                    RouteContext {
                        topology: &t,
                        schema,
                    },
                );
                prop_assert!(matches!(
                    r,
                    Route::Passthrough | Route::Shard(_) | Route::Error(_)
                ));
                if let Route::Error(e) = &r {
                    prop_assert!(e.code != 0 && !e.message.is_empty());
                }
                Ok(())
            })
            .expect("no crash");
    });
}
