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
    let first = |g: &myshard_config::Group| g.write_hosts.first().cloned();
    RoutingTable::build(Arc::new(config), epoch, previous, &first, &mut |a, g| {
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

/// A table with one group of write host `10.0.1.1` and read hosts `.2` (weight 3) and
/// `.3` (weight 1) under `policy`.
fn read_table(policy: &str, hosts: &mut Vec<Arc<Host>>) -> RoutingTable {
    let yaml = format!(
        "listen: 127.0.0.1:0
users: [{{name: app, password: pw, schemas: ['*']}}]
groups:
  - name: g0
    user: u
    write_hosts: ['10.0.1.1:3306']
    read_hosts: [{{host: '10.0.1.2:3306', weight: 3}}, '10.0.1.3:3306']
    read_policy: {policy}
schemas:
  - {{name: crm, group: g0}}
"
    );
    let config = myshard_config::parse(&yaml, "test").unwrap_or_else(|e| panic!("{e}"));
    build(config, 1, None, hosts)
}

/// Where `n` reads of schema `crm` go: host address → count (errors as "error").
fn spread(t: &RoutingTable, n: usize) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for _ in 0..n {
        let key = match t.target(Some("crm"), None, Intent::Read, ConnFlags::default()) {
            Ok(r) => r.host.addr().to_string(),
            Err(_) => "error".into(),
        };
        *out.entry(key).or_insert(0) += 1;
    }
    out
}

fn counts(pairs: &[(&str, usize)]) -> std::collections::BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn reads_follow_policy_weights_and_host_states() {
    let mut hosts = Vec::new();
    let t = read_table("replicas_then_primary", &mut hosts);
    assert_eq!(
        spread(&t, 400),
        counts(&[("10.0.1.2:3306", 300), ("10.0.1.3:3306", 100)])
    );
    let w = t
        .target(Some("crm"), None, Intent::Write, ConnFlags::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        &**w.host.addr(),
        "10.0.1.1:3306",
        "writes stay on the write host"
    );
    let heavy = hosts
        .iter()
        .find(|h| &**h.addr() == "10.0.1.2:3306")
        .cloned()
        .unwrap_or_else(|| panic!("host"));
    heavy.set_state(HostState::Down);
    assert_eq!(spread(&t, 100), counts(&[("10.0.1.3:3306", 100)]));
    for h in &hosts {
        if &**h.addr() == "10.0.1.3:3306" {
            h.set_state(HostState::CatchingUp);
        }
    }
    assert_eq!(
        spread(&t, 10),
        counts(&[("10.0.1.1:3306", 10)]),
        "no replica serves: the write host"
    );
    heavy.set_state(HostState::Up);
    assert_eq!(spread(&t, 10), counts(&[("10.0.1.2:3306", 10)]));
}

#[test]
fn read_policies_choose_their_hosts() {
    let mut hosts = Vec::new();
    let t = read_table("primary", &mut hosts);
    assert_eq!(spread(&t, 20), counts(&[("10.0.1.1:3306", 20)]));
    let mut hosts = Vec::new();
    let t = read_table("all", &mut hosts);
    assert_eq!(
        spread(&t, 500),
        counts(&[
            ("10.0.1.1:3306", 100),
            ("10.0.1.2:3306", 300),
            ("10.0.1.3:3306", 100)
        ])
    );
    let mut hosts = Vec::new();
    let t = read_table("replicas", &mut hosts);
    for h in &hosts {
        if &**h.addr() != "10.0.1.1:3306" {
            h.set_state(HostState::Down);
        }
    }
    let e = t
        .target(Some("crm"), None, Intent::Read, ConnFlags::default())
        .expect_err("no read host serves");
    assert!(e.retry_safe() && e.message.contains("g0"), "{e}");
}

#[test]
fn a_failed_read_is_retried_on_another_host() {
    let mut hosts = Vec::new();
    let t = read_table("replicas_then_primary", &mut hosts);
    let flags = ConnFlags::default();
    for _ in 0..8 {
        let r = t
            .target(Some("crm"), None, Intent::Read, flags)
            .unwrap_or_else(|e| panic!("{e}"));
        let again = t.read_retry(&r, flags).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(r.host.id(), again.host.id());
        assert_eq!(again.intent, Intent::Read);
    }
    // The write host failing a read (no replica serving) has nowhere else to go.
    for h in &hosts {
        if &**h.addr() != "10.0.1.1:3306" {
            h.set_state(HostState::Down);
        }
    }
    let r = t
        .target(Some("crm"), None, Intent::Read, flags)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(t.read_retry(&r, flags).is_err());
}
