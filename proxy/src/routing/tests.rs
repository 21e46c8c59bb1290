//! Unit tests of the routing table: targets, host reuse across tables, gates carried over.

use super::*;
use crate::backend::conn::ConnFlags;
use myshard_config::Config;
use myshard_failover::HostState;
use std::sync::Arc;

fn config(g0_hosts: &str) -> Config {
    let yaml = format!(
        "listen: 127.0.0.1:0
users: [{{name: app, password: pw, schemas: ['*']}}]
groups:
  - {{name: g0, user: u, password: p, write_hosts: [{g0_hosts}]}}
  - {{name: g1, user: u, password: p, write_hosts: ['10.0.0.9:3306'], read_hosts: ['10.0.0.10:3306']}}
schemas:
  - name: shop
    shards: 4
    placement: [{{group: g0, shards: '0-1'}}, {{group: g1, shards: '2-3'}}]
  - {{name: crm, group: g1, database: crm_db}}
"
    );
    myshard_config::parse(&yaml, "test").unwrap_or_else(|e| panic!("{e}"))
}

fn build(
    config: Config,
    epoch: u64,
    previous: Option<&RoutingTable>,
    hosts: &mut Vec<Arc<Host>>,
) -> RoutingTable {
    RoutingTable::build(Arc::new(config), epoch, previous, &mut |a, g| {
        host_for(hosts, a, g)
    })
}

#[test]
fn every_statement_target_comes_from_one_function() {
    let mut hosts = Vec::new();
    let t = build(
        config("'10.0.0.1:3306', '10.0.0.2:3306'"),
        1,
        None,
        &mut hosts,
    );
    let flags = ConnFlags::default();
    let r = t
        .target(Some("shop"), Some(3), Intent::Write, flags)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((&*r.group, &**r.host.addr()), ("g1", "10.0.0.9:3306"));
    // Connections of a group select the group's usual database, whatever the shard.
    assert_eq!(r.database.as_deref(), Some("shop_0002"));
    let r = t
        .target(Some("shop"), None, Intent::Read, flags)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (&*r.group, &**r.host.addr()),
        ("g0", "10.0.0.1:3306"),
        "home shard, first candidate"
    );
    let r = t
        .target(Some("crm"), None, Intent::Write, flags)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((&*r.group, r.database.as_deref()), ("g1", Some("crm_db")));
    let r = t
        .target(None, None, Intent::Write, flags)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(&*r.group, "g0");
    let e = t
        .target(Some("nope"), None, Intent::Write, flags)
        .expect_err("unknown schema");
    assert_eq!(e.code, 1049);
    assert_eq!(t.hosts().count(), 3, "active write hosts and read hosts");
}

#[test]
fn a_new_table_keeps_unchanged_hosts_and_closed_gates() {
    let mut hosts = Vec::new();
    let t1 = build(
        config("'10.0.0.1:3306', '10.0.0.2:3306'"),
        1,
        None,
        &mut hosts,
    );
    let flags = ConnFlags::default();
    let before = t1
        .target(Some("crm"), None, Intent::Write, flags)
        .unwrap_or_else(|e| panic!("{e}"));
    let gate = t1
        .gate("shop_0001")
        .cloned()
        .unwrap_or_else(|| panic!("gate"));
    let closed = gate.try_pass().is_some();
    assert!(closed, "open gate passes");
    let t2 = build(
        config("'10.0.0.2:3306', '10.0.0.1:3306'"),
        2,
        Some(&t1),
        &mut hosts,
    );
    let after = t2
        .target(Some("crm"), None, Intent::Write, flags)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(Arc::ptr_eq(&before.host, &after.host), "same host object");
    assert!(Arc::ptr_eq(&before.pool, &after.pool), "same pool");
    let g0 = t2
        .target(Some("shop"), Some(0), Intent::Write, flags)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(&**g0.host.addr(), "10.0.0.2:3306", "switched write host");
    assert!(
        t2.gate("shop_0001").is_some_and(|g| Arc::ptr_eq(g, &gate)),
        "gate carried over"
    );
}

#[test]
fn a_host_out_of_service_refuses_checkouts_as_retry_safe() {
    let mut hosts = Vec::new();
    let t = build(config("'10.0.0.1:3306'"), 1, None, &mut hosts);
    let flags = ConnFlags::default();
    let r = t
        .target(Some("shop"), Some(0), Intent::Write, flags)
        .unwrap_or_else(|e| panic!("{e}"));
    let epoch = r.host.epoch();
    assert!(r.host.set_state(HostState::Fenced));
    assert!(r.host.epoch() > epoch, "a state change moves the epoch");
    assert!(r.pool.is_retired(), "its pools are retired");
    let e = t
        .target(Some("shop"), Some(0), Intent::Write, flags)
        .expect_err("fenced");
    assert_eq!(e.code, 2003);
    assert!(e.retry_safe(), "{e}");
    assert!(e.message.contains("fenced"), "{e}");
    assert!(r.host.set_state(HostState::Up));
    assert!(!r.pool.is_retired());
    assert!(
        t.target(Some("shop"), Some(0), Intent::Write, flags)
            .is_ok()
    );
}
