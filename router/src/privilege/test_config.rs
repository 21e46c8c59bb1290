//! The configuration the privilege tests check against: a sharded `shop` (home shard
//! database `shop_0000`), an unsharded `crm` and a renamed `legacy` (`legacy_db`).

use myshard_config::Topology;

const YAML: &str = r#"
listen: 127.0.0.1:3307
users: [{name: u, password: p, schemas: ["*"]}]
groups:
  - {name: g0, user: r, write_hosts: ["127.0.0.1:1"]}
schemas:
  - name: shop
    shards: 2
    placement: [{group: g0, shards: "0-1"}]
    tables:
      - {name: orders, shard_key: uid}
  - {name: crm, group: g0}
  - {name: legacy, group: g0, database: legacy_db}
"#;

pub(super) fn topology() -> Topology {
    match myshard_config::parse(YAML, "test.yaml") {
        Ok(c) => Topology::new(&c),
        Err(e) => panic!("{e:?}"),
    }
}
