//! A group's replication settings: read hosts with weights, the read policy, the replica lag
//! bound, the health monitor's heartbeat and GTID use — their defaults, both spellings of a
//! read host, and errors that name the YAML path and line.

use myshard_config::{ConfigErrors, Heartbeat, ReadHost, ReadPolicy, parse};

/// A group written with `group` as its body lines (indented 4 spaces), line 5 onwards.
fn file(group: &str) -> String {
    format!("listen: 127.0.0.1:3307\nusers: []\ngroups:\n  - name: g1\n{group}\nschemas: []\n")
}

fn errors_of(text: &str) -> ConfigErrors {
    match parse(text, "t.yaml") {
        Ok(config) => panic!("accepted: {config:?}"),
        Err(errors) => errors,
    }
}

#[test]
fn defaults_keep_reads_on_the_write_host() {
    let config = parse(
        &file("    user: u\n    write_hosts: [db1:3306]\n    read_hosts: [db2:3306]"),
        "t.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let g = &config.groups[0];
    assert_eq!(g.read_policy, ReadPolicy::Primary);
    assert_eq!(g.read_hosts, vec![ReadHost::from("db2:3306")]);
    assert_eq!(g.read_hosts[0].weight, 1);
    assert_eq!(g.max_replica_lag_ms, 10_000);
    assert_eq!(g.heartbeat, Heartbeat::default());
    assert!(g.gtid);
}

#[test]
fn read_hosts_plain_and_weighted_with_every_setting() {
    let config = parse(
        &file(
            "    user: u\n    write_hosts: [db1:3306]\n    read_hosts:\n      - db2:3306\n      \
             - {host: 'db3:3306', weight: 3}\n    read_policy: replicas_then_primary\n    \
             max_replica_lag_ms: 2500\n    heartbeat: {interval_ms: 200, timeout_ms: 150, fall: \
             4, rise: 5}\n    gtid: false",
        ),
        "t.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let g = &config.groups[0];
    let hosts: Vec<(&str, u32)> = g
        .read_hosts
        .iter()
        .map(|r| (r.host.as_str(), r.weight))
        .collect();
    assert_eq!(hosts, vec![("db2:3306", 1), ("db3:3306", 3)]);
    assert_eq!(g.read_policy, ReadPolicy::ReplicasThenPrimary);
    assert_eq!(g.max_replica_lag_ms, 2500);
    assert_eq!(
        g.heartbeat,
        Heartbeat {
            enabled: true,
            interval_ms: 200,
            timeout_ms: 150,
            fall: 4,
            rise: 5
        }
    );
    assert!(!g.gtid);
}

#[test]
fn bad_settings_name_path_and_line() {
    let errors = errors_of(&file(
        "    user: u\n    write_hosts: [db1:3306]\n    read_hosts:\n      - db2:3306\n      \
         - {host: 'db3:3306', weight: 0}\n      - {host: 'nope', weight: 2}\n    heartbeat:\n      \
         fall: 0\n      interval_ms: 0",
    ));
    let found: Vec<(&str, Option<usize>)> =
        errors.iter().map(|e| (e.path.as_str(), e.line)).collect();
    assert_eq!(
        found,
        vec![
            ("groups[0].read_hosts[1].weight", Some(9)),
            ("groups[0].read_hosts[2]", Some(10)),
            ("groups[0].heartbeat.fall", Some(12)),
            ("groups[0].heartbeat.interval_ms", Some(13)),
        ],
        "{errors}"
    );
    assert!(
        errors.errors[0].message.contains("between 1 and"),
        "{errors}"
    );
}

#[test]
fn replicas_policy_needs_a_read_host() {
    let errors = errors_of(&file(
        "    user: u\n    write_hosts: [db1:3306]\n    read_policy: replicas",
    ));
    assert_eq!(errors.errors.len(), 1, "{errors}");
    assert_eq!(errors.errors[0].path, "groups[0].read_policy");
    assert_eq!(errors.errors[0].line, Some(7));
}

#[test]
fn unknown_policy_and_read_host_fields_are_refused() {
    let errors = errors_of(&file(
        "    user: u\n    write_hosts: [db1:3306]\n    read_policy: sometimes",
    ));
    assert!(errors.to_string().contains("read_policy"), "{errors}");
    let errors = errors_of(&file(
        "    user: u\n    write_hosts: [db1:3306]\n    read_hosts:\n      - {host: 'db3:3306', wieght: 2}",
    ));
    assert!(errors.to_string().contains("read_hosts"), "{errors}");
}
