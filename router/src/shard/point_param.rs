//! The prepared counterpart of [`super::point`]: a planned statement whose only routing
//! input is one parameter compared with an integer shard key (`… FROM t WHERE id = ?`,
//! possibly with conditions on other columns). Such a statement goes to the shard of that
//! one bound value, so an execute can be routed from the parameter's bytes without binding
//! every parameter and resolving the route's key groups (see the proxy's
//! `session::point_execute`). Anything else — several key groups (joins), key lists,
//! `OR`, literals, multi-row inserts, non-integer keys — is resolved the general way.

use super::keys::{Constraint, Operand};
use super::plan::{ShardRoute, Targets};
use myshard_config::{KeyType, TableRule};

/// The routing input of a prepared point statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointParam<'a> {
    /// Index of the parameter compared with the shard key.
    pub index: usize,
    /// The sharded table's rule (an integer key), as the planner hashes it.
    pub rule: &'a TableRule,
}

/// The one parameter `route` is routed by, if that is all it is routed by.
pub fn point_param(route: &ShardRoute) -> Option<PointParam<'_>> {
    if route.split.is_some() {
        return None;
    }
    let Targets::ByKey(groups) = &route.targets else {
        return None;
    };
    let [group] = groups.as_slice() else {
        return None;
    };
    if group.tables.len() != 1 {
        return None;
    }
    let TableRule::Sharded {
        key_type: KeyType::Integer,
        ..
    } = &group.rule
    else {
        return None;
    };
    match &group.constraint {
        Constraint::Values(values) => match values.as_slice() {
            [Operand::Param(index)] => Some(PointParam {
                index: *index,
                rule: &group.rule,
            }),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::plan::{Route, RouteContext, plan};
    use myshard_config::Topology;

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
      - {name: t, shard_key: id}
      - {name: u, shard_key: id}
      - {name: names, shard_key: name, key_type: string}
      - {name: countries, global: true}
"#;

    fn index_of(sql: &str) -> Option<usize> {
        let topology = match myshard_config::parse(YAML, "test.yaml") {
            Ok(c) => Topology::new(&c),
            Err(e) => panic!("{e}"),
        };
        let ctx = RouteContext {
            topology: &topology,
            schema: Some("shop"),
        };
        match plan(sql, ctx) {
            Route::Shard(r) => point_param(&r).map(|p| p.index),
            other => panic!("{sql}: not planned to shards: {other:?}"),
        }
    }

    #[test]
    fn the_key_parameter_is_found() {
        assert_eq!(index_of("SELECT c FROM t WHERE id = ?"), Some(0));
        assert_eq!(index_of("SELECT c FROM t WHERE ? = id"), Some(0));
        assert_eq!(index_of("SELECT c FROM t WHERE c = ? AND id = ?"), Some(1));
        assert_eq!(index_of("UPDATE t SET c = ? WHERE id = ?"), Some(1));
        assert_eq!(index_of("DELETE FROM t WHERE id = ?"), Some(0));
    }

    #[test]
    fn other_routing_inputs_are_left_to_the_resolver() {
        for sql in [
            "SELECT c FROM t WHERE id = 5",
            "SELECT c FROM t WHERE id IN (?, ?)",
            "SELECT c FROM t WHERE id = ? OR id = ?",
            "SELECT c FROM t WHERE id = ? AND id = ?",
            "SELECT c FROM t WHERE c = ?",
            "SELECT c FROM names WHERE name = ?",
            "SELECT c FROM countries WHERE id = ?",
            "INSERT INTO t (id, c) VALUES (?, ?)",
            "SELECT t.c FROM t JOIN u ON t.id = u.id WHERE t.id = ?",
        ] {
            assert_eq!(index_of(sql), None, "{sql}");
        }
    }
}
