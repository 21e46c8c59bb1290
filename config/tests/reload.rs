//! Hot reload, configuration side: every change a reload refuses (with the path, line and
//! reason), every change it accepts (and how the plan describes it), and the errors of
//! `load_for_reload` for invalid, unreadable and refused files.

use std::io::Write;

use myshard_config::{
    Config, HostChange, HostRef, HostRole, HostSetting, Pool, PoolChange, RefusalReason,
    ReloadError, ReloadPlan, ReloadRefusal, TableRef, WriteHostSwitch, compare, load_for_reload,
    parse, parse_for_reload,
};

/// The running configuration: an unsharded schema, a sharded one over two groups, and a
/// group no schema uses yet.
const RUNNING: &str = r#"listen: 127.0.0.1:3307
max_client_connections: 100
users:
  - {name: app, password: app-pw, schemas: [shop, orders]}
  - {name: report, password: report-pw, schemas: ["*"], read_only: true}
groups:
  - name: g1
    user: proxy
    password: backend-pw
    write_hosts: [db1:3306, db2:3306]
    read_hosts: [db3:3306]
    pool: {min: 1, max: 32}
  - name: g2
    user: proxy
    password: backend-pw
    write_hosts: [db4:3306]
  - name: spare
    user: proxy
    write_hosts: [db9:3306]
schemas:
  - name: shop
    group: g1
    database: shop_prod
  - name: orders
    shards: 8
    placement:
      - {group: g1, shards: "0-3"}
      - {group: g2, shards: "4-7"}
    tables:
      - {name: orders, shard_key: customer_id}
      - {name: customers, shard_key: email, key_type: string, collation: utf8mb4_general_ci}
      - {name: payments, shard_key: paid_at, key_type: 'decimal(10,2)'}
      - {name: countries, global: true}
"#;

fn config(text: &str) -> Config {
    match parse(text, "test.yaml") {
        Ok(config) => config,
        Err(errors) => panic!("test configuration must be valid:\n{errors}\n{text}"),
    }
}

/// `RUNNING` with each `(from, to)` replaced; `from` must occur exactly once, so that a
/// change to `RUNNING` cannot silently turn an edit into a no-op.
fn edited(edits: &[(&str, &str)]) -> String {
    let mut text = RUNNING.to_owned();
    for (from, to) in edits {
        assert_eq!(text.matches(from).count(), 1, "`{from}` must occur once");
        text = text.replacen(from, to, 1);
    }
    text
}

/// 1-based line of the only line of `text` starting with `needle` (indentation included).
fn line_of(text: &str, needle: &str) -> usize {
    let found: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, line)| line.starts_with(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(found.len(), 1, "`{needle}` must be on exactly one line");
    found[0]
}

/// The plan of reloading `RUNNING` with `edits` applied.
fn plan(edits: &[(&str, &str)]) -> ReloadPlan {
    let new = config(&edited(edits));
    match compare(&config(RUNNING), &new) {
        Ok(plan) => plan,
        Err(refusals) => panic!("reload must be accepted, got {refusals:?}"),
    }
}

/// The refusals of reloading `RUNNING` with `edits` applied, located in the new text.
fn refusals(edits: &[(&str, &str)]) -> Vec<ReloadRefusal> {
    match parse_for_reload(&edited(edits), "new.yaml", &config(RUNNING)) {
        Ok((_, plan)) => panic!("reload must be refused, got {plan:?}"),
        Err(ReloadError::Refused { file, refusals }) => {
            assert_eq!(file, "new.yaml");
            refusals
        }
        Err(other) => panic!("expected refusals, got {other}"),
    }
}

/// The single refusal of `edits`; checks its path, line (of `line_needle` in the new text)
/// and reason, and that the message says why.
fn only_refusal(
    edits: &[(&str, &str)],
    path: &str,
    line_needle: &str,
    reason: RefusalReason,
) -> ReloadRefusal {
    let list = refusals(edits);
    assert_eq!(list.len(), 1, "{list:#?}");
    let refusal = list[0].clone();
    assert_eq!(refusal.path, path);
    assert_eq!(
        refusal.line,
        Some(line_of(&edited(edits), line_needle)),
        "{refusal}"
    );
    assert_eq!(refusal.reason, reason);
    let why = match reason {
        RefusalReason::Migration => "migration's job",
        RefusalReason::Restart => "restart myshard",
    };
    assert!(refusal.message.contains(why), "{refusal}");
    refusal
}

fn host(group: &str, address: &str, role: HostRole) -> HostRef {
    HostRef {
        group: group.into(),
        address: address.into(),
        role,
    }
}

// ---- refused: placement of existing shards ----

#[test]
fn shard_count_change_is_refused() {
    let refusal = only_refusal(
        &[("shards: 8", "shards: 16"), ("\"4-7\"", "\"4-15\"")],
        "schemas[1].shards",
        "    shards: 16",
        RefusalReason::Migration,
    );
    assert!(refusal.message.contains("from 8 to 16 shards"), "{refusal}");
}

#[test]
fn shard_moving_to_another_group_is_refused() {
    let refusal = only_refusal(
        &[("\"0-3\"", "\"0-2\""), ("\"4-7\"", "\"3-7\"")],
        "schemas[1].placement",
        "    placement:",
        RefusalReason::Migration,
    );
    assert!(
        refusal.message.contains("shard 3 from group `g1` to `g2`"),
        "{refusal}"
    );
}

#[test]
fn shards_swapped_between_groups_are_listed_in_one_refusal() {
    let refusal = only_refusal(
        &[
            ("group: g1, shards", "group: g2, shards"),
            ("group: g2, shards: \"4-7\"", "group: g1, shards: \"4-7\""),
        ],
        "schemas[1].placement",
        "    placement:",
        RefusalReason::Migration,
    );
    assert!(
        refusal
            .message
            .contains("shards 0-3 from group `g1` to `g2`")
            && refusal
                .message
                .contains("shards 4-7 from group `g2` to `g1`"),
        "{refusal}"
    );
}

#[test]
fn physical_database_rename_of_a_sharded_schema_is_refused() {
    let refusal = only_refusal(
        &[(
            "    shards: 8\n",
            "    shards: 8\n    database: \"o_{shard}\"\n",
        )],
        "schemas[1].database",
        "    database: \"o_{shard}\"",
        RefusalReason::Migration,
    );
    assert!(
        refusal
            .message
            .contains("shard 0: `orders_0000` → `o_0` and 7 more shards"),
        "{refusal}"
    );
}

#[test]
fn home_shard_change_is_refused() {
    only_refusal(
        &[("    shards: 8\n", "    shards: 8\n    home_shard: 5\n")],
        "schemas[1].home_shard",
        "    home_shard: 5",
        RefusalReason::Migration,
    );
}

#[test]
fn shard_key_change_is_refused() {
    let refusal = only_refusal(
        &[("shard_key: customer_id", "shard_key: order_id")],
        "schemas[1].tables[0].shard_key",
        "      - {name: orders,",
        RefusalReason::Migration,
    );
    assert!(
        refusal.message.contains("`customer_id` to `order_id`"),
        "{refusal}"
    );
}

#[test]
fn key_type_change_is_refused() {
    let refusal = only_refusal(
        &[("'decimal(10,2)'", "'decimal(10,3)'")],
        "schemas[1].tables[2].key_type",
        "      - {name: payments,",
        RefusalReason::Migration,
    );
    assert!(
        refusal.message.contains("decimal(10,2) to decimal(10,3)"),
        "{refusal}"
    );
}

#[test]
fn key_collation_change_is_refused() {
    only_refusal(
        &[("collation: utf8mb4_general_ci", "collation: utf8mb4_bin")],
        "schemas[1].tables[1].collation",
        "      - {name: customers,",
        RefusalReason::Migration,
    );
}

#[test]
fn global_table_becoming_sharded_is_refused() {
    only_refusal(
        &[(
            "{name: countries, global: true}",
            "{name: countries, shard_key: code}",
        )],
        "schemas[1].tables[3]",
        "      - {name: countries,",
        RefusalReason::Migration,
    );
}

#[test]
fn table_no_longer_listed_is_refused() {
    let refusal = only_refusal(
        &[("      - {name: countries, global: true}\n", "")],
        "schemas[1].tables",
        "    tables:",
        RefusalReason::Migration,
    );
    assert!(refusal.message.contains("`countries`"), "{refusal}");
}

#[test]
fn unsharded_schema_moving_to_another_group_is_refused() {
    let refusal = only_refusal(
        &[("    group: g1\n", "    group: g2\n")],
        "schemas[0].group",
        "    group: g2",
        RefusalReason::Migration,
    );
    assert!(
        refusal.message.contains("from group `g1` to `g2`"),
        "{refusal}"
    );
}

#[test]
fn unsharded_schema_moving_to_another_database_is_refused() {
    only_refusal(
        &[("database: shop_prod", "database: shop_v2")],
        "schemas[0].database",
        "    database: shop_v2",
        RefusalReason::Migration,
    );
}

#[test]
fn unsharded_schema_becoming_sharded_is_refused() {
    only_refusal(
        &[(
            "    group: g1\n    database: shop_prod\n",
            "    shards: 2\n    placement: [{group: g1, shards: \"0-1\"}]\n",
        )],
        "schemas[0]",
        "  - name: shop",
        RefusalReason::Migration,
    );
}

#[test]
fn removed_schema_is_refused() {
    let refusal = only_refusal(
        &[
            ("schemas: [shop, orders]", "schemas: [orders]"),
            (
                "  - name: shop\n    group: g1\n    database: shop_prod\n",
                "",
            ),
        ],
        "schemas",
        "schemas:",
        RefusalReason::Restart,
    );
    assert!(refusal.message.contains("`shop`"), "{refusal}");
}

// ---- refused: the listener ----

#[test]
fn listen_address_change_needs_a_restart() {
    let refusal = only_refusal(
        &[("listen: 127.0.0.1:3307", "listen: 127.0.0.1:3308")],
        "listen",
        "listen:",
        RefusalReason::Restart,
    );
    assert!(refusal.message.contains("cannot rebind"), "{refusal}");
}

#[test]
fn listen_socket_change_needs_a_restart() {
    only_refusal(
        &[(
            "listen: 127.0.0.1:3307\n",
            "listen: 127.0.0.1:3307\nlisten_socket: /run/myshard/myshard.sock\n",
        )],
        "listen_socket",
        "listen_socket:",
        RefusalReason::Restart,
    );
}

#[test]
fn every_refused_change_is_reported_at_once() {
    let list = refusals(&[
        ("listen: 127.0.0.1:3307", "listen: 0.0.0.0:3307"),
        ("database: shop_prod", "database: shop_v2"),
        ("shard_key: customer_id", "shard_key: id"),
    ]);
    let paths: Vec<&str> = list.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "listen",
            "schemas[0].database",
            "schemas[1].tables[0].shard_key"
        ]
    );
}

// ---- accepted ----

#[test]
fn unchanged_file_has_an_empty_plan() {
    let plan = plan(&[]);
    assert!(plan.is_empty(), "{plan:?}");
    assert_eq!(plan.to_string(), "reload: no changes");
}

#[test]
fn same_placement_written_differently_is_accepted() {
    let plan = plan(&[
        ("\"0-3\"", "[0, 1, 2, 3]"),
        (
            "    shards: 8\n",
            "    shards: 8\n    database: \"{schema}_{shard:04}\"\n    home_shard: 0\n",
        ),
        ("shard_key: customer_id", "shard_key: CUSTOMER_ID"),
    ]);
    // Only the key's spelling differs: nothing to act on but the new rules.
    assert_eq!(plan.schemas_changed, ["orders"]);
    assert!(plan.tables_added.is_empty() && plan.hosts_changed.is_empty());
}

#[test]
fn new_schema_is_accepted() {
    let plan = plan(&[(
        "schemas:\n",
        "schemas:\n  - name: audit\n    shards: 2\n    placement: [{group: spare, shards: \"0-1\"}]\n",
    )]);
    assert_eq!(plan.schemas_added, ["audit"]);
    assert!(plan.hosts_added.is_empty() && plan.schemas_changed.is_empty());
}

#[test]
fn new_group_and_its_hosts_are_accepted() {
    let plan = plan(&[(
        "schemas:\n",
        "  - name: g3\n    user: proxy\n    write_hosts: [db5:3306]\n    read_hosts: [db6:3306, db5:3306]\nschemas:\n",
    )]);
    assert_eq!(plan.groups_added, ["g3"]);
    assert_eq!(
        plan.hosts_added,
        [
            host("g3", "db5:3306", HostRole::WriteAndRead),
            host("g3", "db6:3306", HostRole::Read)
        ]
    );
    assert!(plan.write_host_switches.is_empty());
}

#[test]
fn unused_group_removed_drains_its_hosts() {
    let plan = plan(&[(
        "  - name: spare\n    user: proxy\n    write_hosts: [db9:3306]\n",
        "",
    )]);
    assert_eq!(plan.groups_removed, ["spare"]);
    assert_eq!(
        plan.hosts_removed,
        [host("spare", "db9:3306", HostRole::Write)]
    );
}

#[test]
fn new_table_is_accepted() {
    let plan = plan(&[(
        "      - {name: countries, global: true}\n",
        "      - {name: countries, global: true}\n      - {name: invoices, shard_key: customer_id}\n",
    )]);
    assert_eq!(
        plan.tables_added,
        [TableRef {
            schema: "orders".into(),
            table: "invoices".into()
        }]
    );
    assert_eq!(plan.schemas_changed, ["orders"]);
}

#[test]
fn full_scan_write_policy_change_is_accepted() {
    let plan = plan(&[(
        "shard_key: customer_id}",
        "shard_key: customer_id, allow_full_scan_writes: true}",
    )]);
    assert_eq!(plan.schemas_changed, ["orders"]);
    assert!(plan.tables_added.is_empty());
}

#[test]
fn users_added_removed_and_changed() {
    let plan = plan(&[
        ("app-pw", "new-app-pw"),
        (
            "  - {name: report, password: report-pw, schemas: [\"*\"], read_only: true}\n",
            "  - {name: ops, password: ops-pw, schemas: [shop], admin: true}\n",
        ),
    ]);
    assert_eq!(plan.users_added, ["ops"]);
    assert_eq!(plan.users_removed, ["report"]);
    assert_eq!(plan.users_changed, ["app"]);
    let line = plan.to_string();
    assert!(
        line.contains("users added: ops") && line.contains("users changed: app"),
        "{line}"
    );
    assert!(
        !line.contains("pw"),
        "a plan must never show a password: {line}"
    );
    assert!(!format!("{plan:?}").contains("pw"));
}

#[test]
fn user_schemas_change_is_accepted() {
    let plan = plan(&[("schemas: [shop, orders]", "schemas: [shop]")]);
    assert_eq!(plan.users_changed, ["app"]);
}

#[test]
fn write_host_order_switches_the_active_write_host() {
    let plan = plan(&[("[db1:3306, db2:3306]", "[db2:3306, db1:3306]")]);
    assert_eq!(
        plan.write_host_switches,
        [WriteHostSwitch {
            group: "g1".into(),
            from: "db1:3306".into(),
            to: "db2:3306".into()
        }]
    );
    // Same hosts, same roles: their pools stay.
    assert!(plan.hosts_changed.is_empty() && plan.hosts_added.is_empty());
    assert!(
        plan.to_string()
            .contains("active write host: g1 db1:3306 → db2:3306")
    );
}

#[test]
fn host_lists_change() {
    let plan = plan(&[
        (
            "write_hosts: [db1:3306, db2:3306]",
            "write_hosts: [db1:3306, db3:3306]",
        ),
        ("read_hosts: [db3:3306]", "read_hosts: [db7:3306]"),
    ]);
    assert_eq!(plan.hosts_added, [host("g1", "db7:3306", HostRole::Read)]);
    assert_eq!(
        plan.hosts_removed,
        [host("g1", "db2:3306", HostRole::Write)]
    );
    assert_eq!(
        plan.hosts_changed,
        [HostChange {
            host: host("g1", "db3:3306", HostRole::Write),
            changes: vec![HostSetting::Role {
                from: HostRole::Read
            }],
        }]
    );
    assert!(plan.write_host_switches.is_empty());
}

#[test]
fn host_moving_to_another_group_is_removed_and_added() {
    let plan = plan(&[
        ("    read_hosts: [db3:3306]\n", ""),
        (
            "write_hosts: [db4:3306]",
            "write_hosts: [db4:3306]\n    read_hosts: [db3:3306]",
        ),
    ]);
    assert_eq!(plan.hosts_removed, [host("g1", "db3:3306", HostRole::Read)]);
    assert_eq!(plan.hosts_added, [host("g2", "db3:3306", HostRole::Read)]);
}

#[test]
fn pool_settings_change_applies_to_every_host_of_the_group() {
    let plan = plan(&[("pool: {min: 1, max: 32}", "pool: {min: 1, max: 8}")]);
    let to = Pool {
        max: 8,
        ..config(RUNNING).groups[0].pool.clone()
    };
    assert_eq!(
        plan.pool_changes,
        [PoolChange {
            group: "g1".into(),
            from: config(RUNNING).groups[0].pool.clone(),
            to,
        }]
    );
    let changed: Vec<(&str, &[HostSetting])> = plan
        .hosts_changed
        .iter()
        .map(|c| (c.host.address.as_str(), c.changes.as_slice()))
        .collect();
    assert_eq!(
        changed,
        [
            ("db1:3306", &[HostSetting::Pool][..]),
            ("db2:3306", &[HostSetting::Pool][..]),
            ("db3:3306", &[HostSetting::Pool][..]),
        ]
    );
}

#[test]
fn backend_account_change_marks_the_group_hosts() {
    let plan = plan(&[
        (
            "    write_hosts: [db4:3306]\n",
            "    write_hosts: [db4:3306]\n    pool: {max: 4}\n",
        ),
        (
            "  - name: g2\n    user: proxy\n",
            "  - name: g2\n    user: proxy2\n",
        ),
    ]);
    assert_eq!(
        plan.hosts_changed,
        [HostChange {
            host: host("g2", "db4:3306", HostRole::Write),
            changes: vec![HostSetting::Account, HostSetting::Pool],
        }]
    );
}

#[test]
fn limits_merge_and_other_settings_are_accepted() {
    let plan = plan(&[(
        "max_client_connections: 100\n",
        "max_client_connections: 200\nmax_allowed_packet: 1048576\nserver_version: 10.11-x\n\
         merge: {connections_per_group: 4}\nlimits: {statement_timeout_ms: 500}\n",
    )]);
    assert_eq!(
        plan.settings_changed,
        [
            "max_client_connections",
            "max_allowed_packet",
            "merge",
            "limits",
            "server_version"
        ]
    );
}

// ---- load_for_reload ----

fn write_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = match tempfile::Builder::new().suffix(".yaml").tempfile() {
        Ok(file) => file,
        Err(err) => panic!("temp file: {err}"),
    };
    if let Err(err) = file.write_all(text.as_bytes()) {
        panic!("write temp file: {err}");
    }
    file
}

#[test]
fn load_for_reload_returns_the_new_configuration_and_its_plan() {
    let text = edited(&[("[db1:3306, db2:3306]", "[db2:3306, db1:3306]")]);
    let file = write_file(&text);
    match load_for_reload(file.path(), &config(RUNNING)) {
        Ok((new, plan)) => {
            assert_eq!(new, config(&text));
            assert_eq!(plan.write_host_switches.len(), 1, "{plan}");
        }
        Err(err) => panic!("{err}"),
    }
}

#[test]
fn invalid_file_reports_validation_errors_with_path_and_line() {
    let text = edited(&[("pool: {min: 1, max: 32}", "pool: {min: 1, max: 0}")]);
    let file = write_file(&text);
    let name = file.path().display().to_string();
    let err = match load_for_reload(file.path(), &config(RUNNING)) {
        Ok(_) => panic!("an invalid file must not reload"),
        Err(err) => err,
    };
    let ReloadError::Invalid(errors) = &err else {
        panic!("expected validation errors, got {err}");
    };
    // The same errors `load` reports for the file.
    let loaded = match myshard_config::load(file.path()) {
        Ok(_) => panic!("load must fail too"),
        Err(errors) => errors,
    };
    assert_eq!(*errors, loaded);
    let line = line_of(&text, "    pool: {min: 1, max: 0}");
    let shown = err.to_string();
    assert!(shown.contains("running one stays in force"), "{shown}");
    assert!(
        shown.contains(&format!(
            "{name}:{line}: groups[0].pool.max: must be at least 1"
        )),
        "{shown}"
    );
}

#[test]
fn unreadable_file_is_an_invalid_reload() {
    let path = std::path::Path::new("/nonexistent/myshard.yaml");
    let err = match load_for_reload(path, &config(RUNNING)) {
        Ok(_) => panic!("a missing file must not reload"),
        Err(err) => err,
    };
    assert!(matches!(err, ReloadError::Invalid(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("/nonexistent/myshard.yaml: cannot read configuration"),
        "{err}"
    );
}

#[test]
fn refused_reload_names_file_line_and_path() {
    let text = edited(&[
        ("shards: 8", "shards: 4"),
        ("      - {group: g2, shards: \"4-7\"}\n", ""),
    ]);
    let file = write_file(&text);
    let name = file.path().display().to_string();
    let err = match load_for_reload(file.path(), &config(RUNNING)) {
        Ok((_, plan)) => panic!("must be refused, got {plan}"),
        Err(err) => err,
    };
    let line = line_of(&text, "    shards: 4");
    let shown = err.to_string();
    assert!(shown.contains("running one stays in force"), "{shown}");
    assert!(
        shown.contains(&format!(
            "{name}:{line}: schemas[1].shards: schema `orders` would change"
        )),
        "{shown}"
    );
    assert_eq!(
        shown.lines().count(),
        2,
        "one header and one line per refusal: {shown}"
    );
}
