//! Sharded schemas: parsing, every validation rule with its exact path and line, and the
//! derived topology.

use std::sync::Arc;

use myshard_config::{
    ConfigError, ConfigErrors, KeyType, Placement, Schema, SchemaTopology, ShardSpec, Table,
    TableRule, Topology, parse,
};

/// A valid configuration with an unsharded and a sharded schema. Tests change single lines
/// of it, so line numbers below are stable.
const VALID: &str = r#"listen: 127.0.0.1:3307
users:
  - {name: app, password: pw, schemas: ["*"]}
groups:
  - {name: g0, user: u, write_hosts: [db0:3306]}
  - {name: g1, user: u, write_hosts: [db1:3306]}
schemas:
  - name: crm
    group: g1
    database: crm
  - name: shop
    shards: 16
    database: "shop_{shard:04}"
    placement:
      - {group: g0, shards: "0-7"}
      - {group: g1, shards: "8-15"}
    home_shard: 0
    allow_full_scan_writes: false
    tables:
      - {name: orders, shard_key: customer_id}
      - {name: customers, shard_key: email, key_type: string, collation: utf8mb4_general_ci, allow_full_scan_writes: true}
      - {name: countries, global: true}
"#;

/// `VALID` with 1-based line `line` replaced by `text` (which may span several lines).
fn with_line(line: usize, text: &str) -> String {
    with_lines(&[(line, text)])
}

/// `VALID` with several 1-based lines replaced.
fn with_lines(changes: &[(usize, &str)]) -> String {
    let mut lines: Vec<&str> = VALID.lines().collect();
    for (line, text) in changes {
        lines[line - 1] = text;
    }
    lines.join("\n") + "\n"
}

/// `VALID` without the 1-based lines in `range`.
fn without_lines(range: std::ops::RangeInclusive<usize>) -> String {
    let lines: Vec<&str> = VALID
        .lines()
        .enumerate()
        .filter(|(i, _)| !range.contains(&(i + 1)))
        .map(|(_, line)| line)
        .collect();
    lines.join("\n") + "\n"
}

fn config(text: &str) -> myshard_config::Config {
    match parse(text, "test.yaml") {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    }
}

fn errors(text: &str) -> ConfigErrors {
    match parse(text, "test.yaml") {
        Ok(config) => panic!("expected errors, got {config:?}"),
        Err(errors) => errors,
    }
}

/// The single error `text` produces.
fn only_error(text: &str) -> ConfigError {
    let errors = errors(text);
    assert_eq!(errors.errors.len(), 1, "{errors}");
    errors.errors[0].clone()
}

fn assert_error(error: &ConfigError, path: &str, line: usize, message: &str) {
    assert_eq!(error.path, path, "{error}");
    assert_eq!(error.line, Some(line), "{error}");
    assert!(error.message.contains(message), "{error}");
}

fn sharded<'t>(topology: &'t Topology, name: &str) -> &'t myshard_config::ShardedSchema {
    match topology.schema(name) {
        Some(SchemaTopology::Sharded(sharded)) => sharded,
        other => panic!("{name} is not sharded: {other:?}"),
    }
}

#[test]
fn sharded_schema_parses() {
    let config = config(VALID);
    assert_eq!(
        config.schemas[0],
        Schema::unsharded("crm", "g1", Some("crm"))
    );
    let shop = &config.schemas[1];
    assert!(shop.is_sharded());
    assert!(!config.schemas[0].is_sharded());
    let expected = Schema {
        name: "shop".into(),
        group: None,
        database: Some("shop_{shard:04}".into()),
        shards: Some(16),
        placement: Some(vec![
            Placement {
                group: "g0".into(),
                shards: ShardSpec::Text("0-7".into()),
            },
            Placement {
                group: "g1".into(),
                shards: ShardSpec::Text("8-15".into()),
            },
        ]),
        home_shard: Some(0),
        allow_full_scan_writes: Some(false),
        tables: vec![
            Table {
                name: "orders".into(),
                shard_key: Some("customer_id".into()),
                key_type: None,
                collation: None,
                allow_full_scan_writes: None,
                global: false,
                sequence: None,
            },
            Table {
                name: "customers".into(),
                shard_key: Some("email".into()),
                key_type: Some("string".into()),
                collation: Some("utf8mb4_general_ci".into()),
                allow_full_scan_writes: Some(true),
                global: false,
                sequence: None,
            },
            Table {
                name: "countries".into(),
                shard_key: None,
                key_type: None,
                collation: None,
                allow_full_scan_writes: None,
                global: true,
                sequence: None,
            },
        ],
    };
    assert_eq!(*shop, expected);
    assert_eq!(myshard_config::validate(&config), Ok(()));
}

#[test]
fn topology_lookups() {
    let config = config(VALID);
    let topology = Topology::new(&config);
    assert_eq!(topology, config.topology());
    assert_eq!(
        topology.schema("crm"),
        Some(&SchemaTopology::Unsharded {
            group: Arc::from("g1"),
            database: "crm".into(),
        })
    );
    assert!(topology.schema("Shop").is_none());
    assert!(topology.schema("nope").is_none());

    assert_eq!(topology.physical_database("shop", 0), Some("shop_0000"));
    assert_eq!(topology.physical_database("shop", 7), Some("shop_0007"));
    assert_eq!(topology.physical_database("shop", 15), Some("shop_0015"));
    assert_eq!(topology.physical_database("shop", 16), None);
    assert_eq!(topology.group_of("shop", 0), Some("g0"));
    assert_eq!(topology.group_of("shop", 7), Some("g0"));
    assert_eq!(topology.group_of("shop", 8), Some("g1"));
    assert_eq!(topology.group_of("shop", 15), Some("g1"));
    assert_eq!(topology.group_of("shop", 16), None);
    assert_eq!(topology.physical_database("crm", 0), Some("crm"));
    assert_eq!(topology.group_of("crm", 0), Some("g1"));
    assert_eq!(topology.physical_database("crm", 1), None);
    assert_eq!(topology.group_of("nope", 0), None);

    let shop = sharded(&topology, "shop");
    assert_eq!(shop.shards, 16);
    assert_eq!(shop.databases.len(), 16);
    assert_eq!(shop.groups.len(), 16);
    assert_eq!(shop.home_shard, 0);
    assert!(!shop.allow_full_scan_writes);
    assert_eq!(
        shop.shards_of("g1").collect::<Vec<_>>(),
        (8..16).collect::<Vec<_>>()
    );
    assert_eq!(shop.shards_of("g9").count(), 0);
    assert_eq!(
        shop.table("orders"),
        Some(&TableRule::Sharded {
            key: "customer_id".into(),
            key_type: KeyType::Integer,
            collation: None,
            allow_full_scan_writes: false,
        })
    );
    assert_eq!(
        shop.table("customers"),
        Some(&TableRule::Sharded {
            key: "email".into(),
            key_type: KeyType::String,
            collation: Some("utf8mb4_general_ci"),
            allow_full_scan_writes: true,
        })
    );
    assert_eq!(shop.table("countries"), Some(&TableRule::Global));
    // Not listed: unsharded, on the home shard.
    assert_eq!(shop.table("audit"), None);

    let all: Vec<_> = topology.physical_databases().collect();
    assert_eq!(all.len(), 17);
    assert_eq!(
        (all[0].schema, all[0].shard, all[0].group, all[0].database),
        ("crm", None, "g1", "crm")
    );
    assert_eq!(
        (all[9].schema, all[9].shard, all[9].group, all[9].database),
        ("shop", Some(8), "g1", "shop_0008")
    );
    let names: Vec<_> = topology.schemas().map(|(name, _)| name).collect();
    assert_eq!(names, ["crm", "shop"]);
}

#[test]
fn defaults_of_a_minimal_sharded_schema() {
    let text = "listen: 127.0.0.1:3307\nusers: []\ngroups:\n  - {name: g, user: u, write_hosts: [h:1]}\nschemas:\n  - {name: shop, shards: 4, placement: [{group: g, shards: 0-3}]}\n";
    let topology = Topology::new(&config(text));
    let shop = sharded(&topology, "shop");
    assert_eq!(
        shop.databases,
        ["shop_0000", "shop_0001", "shop_0002", "shop_0003"]
    );
    assert_eq!(shop.home_shard, 0);
    assert!(!shop.allow_full_scan_writes);
    assert!(shop.tables.is_empty());
}

#[test]
fn default_key_types_and_collations() {
    let text = with_lines(&[
        (
            20,
            "      - {name: orders, shard_key: customer_id, key_type: decimal}",
        ),
        (
            21,
            "      - {name: customers, shard_key: email, key_type: string}",
        ),
    ]);
    let topology = Topology::new(&config(&text));
    let shop = sharded(&topology, "shop");
    assert_eq!(
        shop.table("orders"),
        Some(&TableRule::Sharded {
            key: "customer_id".into(),
            key_type: KeyType::Decimal {
                precision: 10,
                scale: 0,
            },
            collation: None,
            allow_full_scan_writes: false,
        })
    );
    assert_eq!(
        shop.table("customers"),
        Some(&TableRule::Sharded {
            key: "email".into(),
            key_type: KeyType::String,
            collation: Some("utf8mb4_general_ci"),
            allow_full_scan_writes: false,
        })
    );
    for (written, key_type) in [
        ("integer", KeyType::Integer),
        ("date", KeyType::Date),
        ("datetime", KeyType::Datetime { fsp: 0 }),
        (
            "'decimal(10,2)'",
            KeyType::Decimal {
                precision: 10,
                scale: 2,
            },
        ),
        (
            "\"DECIMAL(65, 30)\"",
            KeyType::Decimal {
                precision: 65,
                scale: 30,
            },
        ),
        (
            "'decimal(12)'",
            KeyType::Decimal {
                precision: 12,
                scale: 0,
            },
        ),
        ("'datetime(6)'", KeyType::Datetime { fsp: 6 }),
        ("'datetime(3)'", KeyType::Datetime { fsp: 3 }),
    ] {
        let text = with_line(
            20,
            &format!("      - {{name: orders, shard_key: d, key_type: {written}}}"),
        );
        let topology = Topology::new(&config(&text));
        let Some(TableRule::Sharded { key_type: got, .. }) =
            sharded(&topology, "shop").table("orders").cloned()
        else {
            panic!("orders is sharded");
        };
        assert_eq!(got, key_type);
    }
    // The schema-wide setting is every sharded table's default; collation names are
    // case-insensitive and resolved to their canonical spelling.
    let text = with_lines(&[
        (18, "    allow_full_scan_writes: true"),
        (
            21,
            "      - {name: customers, shard_key: email, key_type: string, collation: UTF8MB4_BIN}",
        ),
    ]);
    let topology = Topology::new(&config(&text));
    let shop = sharded(&topology, "shop");
    assert!(shop.allow_full_scan_writes);
    assert_eq!(
        shop.table("customers"),
        Some(&TableRule::Sharded {
            key: "email".into(),
            key_type: KeyType::String,
            collation: Some("utf8mb4_bin"),
            allow_full_scan_writes: true,
        })
    );
}

#[test]
fn database_patterns() {
    let shop_databases = |text: &str| {
        sharded(&Topology::new(&config(text)), "shop")
            .databases
            .clone()
    };
    // Default pattern.
    let databases = shop_databases(&without_lines(13..=13));
    assert_eq!(databases[0], "shop_0000");
    assert_eq!(databases[15], "shop_0015");
    // Unpadded, and the schema name placeholder.
    let databases = shop_databases(&with_line(13, "    database: \"{schema}{shard}\""));
    assert_eq!(databases[7], "shop7");
    assert_eq!(databases[15], "shop15");
    let databases = shop_databases(&with_line(13, "    database: \"s_{shard:02}_{schema}\""));
    assert_eq!(databases[7], "s_07_shop");
}

#[test]
fn placement_forms() {
    let forms: [(&str, &str); 5] = [
        ("\"0-7\"", "\"8-15\""),
        ("0-7", "8-15"),
        ("\"0-3, 4,5-7\"", "[8, 9, 10, 11, 12, 13, 14, 15]"),
        ("[0, 1, 2, 3, 4, 5, 6, 7]", "\"8,9,10-15\""),
        ("\"7,6,5,4,3,2,1,0\"", "8-15"),
    ];
    for (first, second) in forms {
        let text = with_lines(&[
            (15, &format!("      - {{group: g0, shards: {first}}}")),
            (16, &format!("      - {{group: g1, shards: {second}}}")),
        ]);
        let topology = Topology::new(&config(&text));
        let shop = sharded(&topology, "shop");
        for shard in 0..16 {
            let group = if shard < 8 { "g0" } else { "g1" };
            assert_eq!(shop.group_of(shard), Some(group), "{first} / {second}");
        }
    }
    // A single YAML number, and several entries for the same group.
    let text = with_lines(&[
        (
            15,
            "      - {group: g0, shards: 0}\n      - {group: g1, shards: \"1-7\"}",
        ),
        (16, "      - {group: g0, shards: \"8-15\"}"),
    ]);
    let topology = Topology::new(&config(&text));
    let shop = sharded(&topology, "shop");
    assert_eq!(shop.group_of(0), Some("g0"));
    assert_eq!(shop.group_of(1), Some("g1"));
    assert_eq!(shop.group_of(8), Some("g0"));
    assert_eq!(
        shop.shards_of("g0").collect::<Vec<_>>(),
        [0, 8, 9, 10, 11, 12, 13, 14, 15]
    );
}

#[test]
fn shard_counts_at_the_limits() {
    let text = with_lines(&[
        (12, "    shards: 1"),
        (15, "      - {group: g0, shards: 0}"),
        (16, ""),
    ]);
    let topology = Topology::new(&config(&text));
    assert_eq!(sharded(&topology, "shop").databases, ["shop_0000"]);
    let text = with_lines(&[
        (12, "    shards: 65536"),
        (15, "      - {group: g0, shards: 0-32767}"),
        (16, "      - {group: g1, shards: 32768-65535}"),
    ]);
    let topology = Topology::new(&config(&text));
    let shop = sharded(&topology, "shop");
    assert_eq!(shop.database(65535), Some("shop_65535"));
    assert_eq!(shop.group_of(65535), Some("g1"));
}

#[test]
fn group_and_shards_are_exclusive() {
    let error = only_error(&with_line(11, "  - name: shop\n    group: g0"));
    assert_error(
        &error,
        "schemas[1].group",
        12,
        "either unsharded (`group`) or sharded (`shards` and `placement`), not both",
    );
    let text = format!("{VALID}  - name: empty\n");
    let error = only_error(&text);
    assert_error(
        &error,
        "schemas[2]",
        23,
        "needs either `group` (unsharded) or `shards` and `placement` (sharded)",
    );
}

#[test]
fn sharded_schemas_need_shards_and_placement() {
    let error = only_error(&without_lines(12..=12));
    assert_error(&error, "schemas[1]", 11, "missing field `shards`");
    let error = only_error(&without_lines(14..=16));
    assert_error(&error, "schemas[1]", 11, "missing field `placement`");
}

#[test]
fn shard_count_in_range() {
    for bad in ["0", "65537"] {
        let errors = errors(&with_line(12, &format!("    shards: {bad}")));
        assert_error(
            &errors.errors[0],
            "schemas[1].shards",
            12,
            &format!("{bad} is out of range; a schema has between 1 and 65536 shards"),
        );
    }
    let error = only_error(&with_line(12, "    shards: -1"));
    assert_error(&error, "schemas[1].shards", 12, "");
}

#[test]
fn placement_groups_must_exist() {
    let error = only_error(&with_line(15, "      - {group: g7, shards: \"0-7\"}"));
    assert_error(
        &error,
        "schemas[1].placement[0].group",
        15,
        "unknown group `g7`",
    );
}

#[test]
fn shards_placed_twice() {
    let error = only_error(&with_line(16, "      - {group: g1, shards: \"5,8-15\"}"));
    assert_error(
        &error,
        "schemas[1].placement[1].shards",
        16,
        "shard 5 is placed twice: placement[0] and placement[1]",
    );
    let error = only_error(&with_line(16, "      - {group: g1, shards: \"4-15\"}"));
    assert_eq!(
        error.message,
        "shards 4-7 are placed twice: placement[0] and placement[1]"
    );
    let error = only_error(&with_line(16, "      - {group: g1, shards: \"8-15, 9\"}"));
    assert_error(
        &error,
        "schemas[1].placement[1].shards",
        16,
        "shard 9 is listed twice in placement[1]",
    );
}

#[test]
fn shards_not_placed() {
    let error = only_error(&with_line(16, "      - {group: g1, shards: \"12-15\"}"));
    assert_error(
        &error,
        "schemas[1].placement",
        14,
        "shards 8-11 are not placed",
    );
    assert_eq!(error.message, "shards 8-11 are not placed");
    let error = only_error(&with_line(16, "      - {group: g1, shards: \"8-12,14\"}"));
    assert_eq!(error.message, "shards 13, 15 are not placed");
    let error = only_error(&with_line(16, "      - {group: g1, shards: \"8-14\"}"));
    assert_eq!(error.message, "shard 15 is not placed");
    let error = only_error(&with_lines(&[
        (14, "    placement: []"),
        (15, ""),
        (16, ""),
    ]));
    assert_error(
        &error,
        "schemas[1].placement",
        14,
        "shards 0-15 are not placed",
    );
}

#[test]
fn shard_specs_must_parse() {
    let cases = [
        ("\"7-3\"", "`7-3` is not a valid range: 7 is greater than 3"),
        (
            "\"0-16\"",
            "shard 16 is out of range: the schema has 16 shards (0-15)",
        ),
        (
            "[16]",
            "shard 16 is out of range: the schema has 16 shards (0-15)",
        ),
        ("\"zero\"", "`zero` is not a shard number or range"),
        ("\"0,,1\"", "empty entry"),
        ("\"\"", "lists no shards"),
        ("[]", "lists no shards"),
    ];
    for (spec, message) in cases {
        // Unplaced shards are not reported on top of a list that does not parse.
        let error = only_error(&with_line(
            15,
            &format!("      - {{group: g0, shards: {spec}}}"),
        ));
        assert_error(&error, "schemas[1].placement[0].shards", 15, message);
    }
    // Negative numbers are not shard numbers at all.
    let error = only_error(&with_line(15, "      - {group: g0, shards: [-1]}"));
    assert_eq!(error.line, Some(15), "{error}");
    assert!(
        error.path.starts_with("schemas[1].placement[0].shards"),
        "{error}"
    );
    let error = only_error(&with_line(
        15,
        "      - {group: g0, shards: \"0-7\", weight: 1}",
    ));
    assert_error(
        &error,
        "schemas[1].placement[0].weight",
        15,
        "unknown field `weight`",
    );
}

#[test]
fn database_pattern_rules() {
    let error = only_error(&with_line(13, "    database: shop"));
    assert_error(
        &error,
        "schemas[1].database",
        13,
        "`shop` has no {shard} placeholder",
    );
    let error = only_error(&with_line(13, "    database: \"shop_{shrd}\""));
    assert_error(
        &error,
        "schemas[1].database",
        13,
        "unknown placeholder `{shrd}`",
    );
    let error = only_error(&with_line(13, "    database: \"shop_{shard:4}\""));
    assert_error(
        &error,
        "schemas[1].database",
        13,
        "not a valid shard placeholder",
    );
    let error = only_error(&with_line(13, "    database: \"shop_{shard\""));
    assert_error(&error, "schemas[1].database", 13, "without a matching `}`");
    let long = "x".repeat(61);
    let error = only_error(&with_line(
        13,
        &format!("    database: \"{long}{{shard:04}}\""),
    ));
    assert_error(
        &error,
        "schemas[1].database",
        13,
        "is longer than 64 characters",
    );
    // 62 characters + `15` = 64 characters for the last shard is fine.
    let fits = "y".repeat(62);
    assert!(
        parse(
            &with_line(13, &format!("    database: \"{fits}{{shard}}\"")),
            "t"
        )
        .is_ok()
    );
}

#[test]
fn unsharded_database_takes_no_placeholders() {
    let error = only_error(&with_line(10, "    database: \"crm_{shard}\""));
    assert_error(
        &error,
        "schemas[0].database",
        10,
        "only allowed in sharded schemas",
    );
    let error = only_error(&with_line(10, "    database: \"\""));
    assert_error(&error, "schemas[0].database", 10, "must not be empty");
}

#[test]
fn physical_databases_do_not_collide() {
    // An unsharded schema using a shard's database.
    let error = only_error(&with_line(10, "    database: shop_0003"));
    assert_error(
        &error,
        "schemas[1].database",
        13,
        "database `shop_0003` of shard 3 of schema `shop` is also the database of schema `crm` \
         (schemas[0]); shard databases must be unique across all groups",
    );
    // Two unsharded schemas on the same group; on different groups they may share a name.
    let text = format!("{VALID}  - {{name: crm2, group: g1, database: crm}}\n");
    let error = only_error(&text);
    assert_error(
        &error,
        "schemas[2].database",
        23,
        "database `crm` of schema `crm2` is also the database of schema `crm` (schemas[0]) on \
         group `g1`",
    );
    let text = format!("{VALID}  - {{name: crm2, group: g0, database: crm}}\n");
    assert!(parse(&text, "t").is_ok());
    // Two sharded schemas with the same pattern: one error for the pair, not one per shard.
    let text = format!(
        "{VALID}  - {{name: shop2, shards: 2, database: \"shop_{{shard:04}}\", placement: [{{group: g1, shards: 0-1}}]}}\n"
    );
    let error = only_error(&text);
    assert_error(
        &error,
        "schemas[2].database",
        23,
        "database `shop_0000` of shard 0 of schema `shop2` is also the database of shard 0 of \
         schema `shop` (schemas[1])",
    );
}

#[test]
fn home_shard_in_range() {
    let error = only_error(&with_line(17, "    home_shard: 16"));
    assert_error(
        &error,
        "schemas[1].home_shard",
        17,
        "home shard 16 is out of range: the schema has 16 shards (0-15)",
    );
    let text = with_line(17, "    home_shard: 15");
    assert_eq!(
        sharded(&Topology::new(&config(&text)), "shop").home_shard,
        15
    );
}

#[test]
fn sharding_fields_only_on_sharded_schemas() {
    let text = with_line(
        10,
        "    database: crm\n    home_shard: 0\n    allow_full_scan_writes: true\n    tables: [{name: t, global: true}]",
    );
    let errors = errors(&text);
    let found: Vec<(&str, Option<usize>)> = errors
        .iter()
        .map(|error| (error.path.as_str(), error.line))
        .collect();
    assert_eq!(
        found,
        [
            ("schemas[0].home_shard", Some(11)),
            ("schemas[0].allow_full_scan_writes", Some(12)),
            ("schemas[0].tables", Some(13)),
        ]
    );
    assert!(
        errors.errors[2]
            .message
            .contains("`tables` applies only to sharded schemas")
    );
}

#[test]
fn table_names_unique_and_non_empty() {
    let error = only_error(&with_line(22, "      - {name: orders, global: true}"));
    assert_error(
        &error,
        "schemas[1].tables[2].name",
        22,
        "duplicate table name `orders` (first at schemas[1].tables[0])",
    );
    let error = only_error(&with_line(22, "      - {name: \"\", global: true}"));
    assert_error(
        &error,
        "schemas[1].tables[2].name",
        22,
        "table name must not be empty",
    );
}

#[test]
fn table_is_sharded_or_global() {
    let error = only_error(&with_line(
        22,
        "      - {name: countries, shard_key: id, global: true}",
    ));
    assert_error(
        &error,
        "schemas[1].tables[2].global",
        22,
        "either sharded (`shard_key`) or global (`global: true`), not both",
    );
    let error = only_error(&with_line(22, "      - {name: countries}"));
    assert_error(
        &error,
        "schemas[1].tables[2]",
        22,
        "needs `shard_key` (sharded table) or `global: true`",
    );
    let error = only_error(&with_line(22, "      - {name: countries, global: false}"));
    assert_error(&error, "schemas[1].tables[2]", 22, "needs `shard_key`");
    let error = only_error(&with_line(20, "      - {name: orders, shard_key: \"\"}"));
    assert_error(
        &error,
        "schemas[1].tables[0].shard_key",
        20,
        "must not be empty",
    );
    let error = only_error(&with_line(
        22,
        "      - {name: countries, global: true, key_type: integer}",
    ));
    assert_error(
        &error,
        "schemas[1].tables[2].key_type",
        22,
        "`key_type` applies only to sharded tables",
    );
    let error = only_error(&with_line(
        22,
        "      - {name: countries, global: true, allow_full_scan_writes: true}",
    ));
    assert_error(
        &error,
        "schemas[1].tables[2].allow_full_scan_writes",
        22,
        "applies only to sharded tables",
    );
}

#[test]
fn collation_rules() {
    let error = only_error(&with_line(
        20,
        "      - {name: orders, shard_key: customer_id, collation: utf8mb4_bin}",
    ));
    assert_error(
        &error,
        "schemas[1].tables[0].collation",
        20,
        "`collation` applies only to key_type string (this key is integer)",
    );
    let error = only_error(&with_line(
        20,
        "      - {name: orders, shard_key: d, key_type: date, collation: utf8mb4_bin}",
    ));
    assert_error(
        &error,
        "schemas[1].tables[0].collation",
        20,
        "(this key is date)",
    );
    let error = only_error(&with_line(
        21,
        "      - {name: customers, shard_key: email, key_type: string, collation: latin1_swedish_ci}",
    ));
    assert_error(
        &error,
        "schemas[1].tables[1].collation",
        21,
        "unsupported collation `latin1_swedish_ci`; supported: binary, utf8mb4_bin, \
         utf8mb4_general_ci, utf8mb4_unicode_ci, utf8mb3_bin, utf8mb3_general_ci, \
         utf8mb3_unicode_ci, utf8_bin, utf8_general_ci, utf8_unicode_ci",
    );
    let error = only_error(&with_line(
        22,
        "      - {name: countries, global: true, collation: binary}",
    ));
    assert_error(
        &error,
        "schemas[1].tables[2].collation",
        22,
        "applies only to sharded tables",
    );
}

#[test]
fn unknown_key_type_is_a_located_error() {
    let error = only_error(&with_line(
        20,
        "      - {name: orders, shard_key: id, key_type: uuid}",
    ));
    assert_error(&error, "schemas[1].tables[0].key_type", 20, "uuid");
}

#[test]
fn key_type_precision_errors_are_located() {
    for (written, message) in [
        (
            "'decimal(70,2)'",
            "key_type decimal(70,2): precision must be 1 to 65",
        ),
        (
            "'decimal(10,39)'",
            "key_type decimal(10,39): scale must be 0 to 38",
        ),
        (
            "'decimal(4,5)'",
            "key_type decimal(4,5): scale must not exceed the precision (4)",
        ),
        (
            "'datetime(7)'",
            "key_type datetime(7): fractional seconds precision must be 0 to 6",
        ),
        ("timestamp", "TIMESTAMP shard keys are not supported"),
        ("'binary(16)'", "BINARY(n) shard keys are not supported"),
        ("float", "FLOAT and DOUBLE shard keys are not supported"),
    ] {
        let error = only_error(&with_line(
            20,
            &format!("      - {{name: orders, shard_key: k, key_type: {written}}}"),
        ));
        assert_error(&error, "schemas[1].tables[0].key_type", 20, message);
    }
    // Unquoted in a flow mapping, the comma splits the type: the error says to quote it.
    let error = only_error(&with_line(
        20,
        "      - {name: orders, shard_key: k, key_type: decimal(10,2)}",
    ));
    assert_eq!(error.line, Some(20), "{error}");
    assert!(error.message.contains("unknown field `2)`"), "{error}");
    assert!(
        error
            .message
            .contains("quote types with a scale: key_type: 'decimal(10,2)'"),
        "{error}"
    );
    // Block style needs no quotes.
    let error = only_error(&with_lines(&[
        (20, "      - name: orders"),
        (21, "        shard_key: k"),
        (22, "        key_type: decimal(66,2)"),
    ]));
    assert_error(
        &error,
        "schemas[1].tables[0].key_type",
        22,
        "key_type decimal(66,2): precision must be 1 to 65",
    );
    // Every table's problem is reported, and an invalid key type does not also complain
    // about its collation.
    let errors = errors(&with_lines(&[
        (
            20,
            "      - {name: orders, shard_key: k, key_type: 'datetime(9)'}",
        ),
        (
            21,
            "      - {name: customers, shard_key: email, key_type: 'strin', collation: utf8mb4_bin}",
        ),
    ]));
    let found: Vec<(&str, Option<usize>)> = errors
        .iter()
        .map(|error| (error.path.as_str(), error.line))
        .collect();
    assert_eq!(
        found,
        [
            ("schemas[1].tables[0].key_type", Some(20)),
            ("schemas[1].tables[1].key_type", Some(21)),
        ],
        "{errors}"
    );
    assert_eq!(
        errors.to_string(),
        "test.yaml:20: schemas[1].tables[0].key_type: key_type datetime(9): fractional \
         seconds precision must be 0 to 6\n\
         test.yaml:21: schemas[1].tables[1].key_type: unknown key_type `strin`; expected \
         integer, string, date, decimal(P,S) or datetime(F)"
    );
    // Collation rules name the full key type.
    let error = only_error(&with_line(
        20,
        "      - {name: orders, shard_key: k, key_type: 'decimal(10,2)', collation: binary}",
    ));
    assert_error(
        &error,
        "schemas[1].tables[0].collation",
        20,
        "(this key is decimal(10,2))",
    );
}

#[test]
fn key_types_resolve_in_the_topology() {
    let text = with_lines(&[
        (
            20,
            "      - {name: orders, shard_key: amount, key_type: 'decimal(10,2)'}",
        ),
        (
            21,
            "      - {name: customers, shard_key: seen, key_type: 'datetime(3)'}",
        ),
    ]);
    let topology = Topology::new(&config(&text));
    let shop = sharded(&topology, "shop");
    assert_eq!(
        shop.table("orders"),
        Some(&TableRule::Sharded {
            key: "amount".into(),
            key_type: KeyType::Decimal {
                precision: 10,
                scale: 2,
            },
            collation: None,
            allow_full_scan_writes: false,
        })
    );
    assert_eq!(
        shop.table("customers"),
        Some(&TableRule::Sharded {
            key: "seen".into(),
            key_type: KeyType::Datetime { fsp: 3 },
            collation: None,
            allow_full_scan_writes: false,
        })
    );
    // A configuration built in code that skipped validation leaves an invalid schema out
    // instead of routing anywhere wrong.
    let mut bad = config(&text);
    bad.schemas[1].tables[0].key_type = Some("decimal(70,2)".into());
    assert!(Topology::new(&bad).schema("shop").is_none());
    assert!(myshard_config::validate(&bad).is_err());
}

#[test]
fn every_sharding_error_is_listed_in_line_order() {
    let text = with_lines(&[
        (10, "    database: \"crm{shard}\""),
        (12, "    shards: 16"),
        (13, "    database: shop"),
        (15, "      - {group: gx, shards: \"0-8\"}"),
        (16, "      - {group: g1, shards: \"8-14\"}"),
        (17, "    home_shard: 99"),
        (22, "      - {name: countries}"),
    ]);
    let errors = errors(&text);
    let found: Vec<(&str, Option<usize>)> = errors
        .iter()
        .map(|error| (error.path.as_str(), error.line))
        .collect();
    assert_eq!(
        found,
        [
            ("schemas[0].database", Some(10)),
            ("schemas[1].database", Some(13)),
            ("schemas[1].placement", Some(14)),
            ("schemas[1].placement[0].group", Some(15)),
            ("schemas[1].placement[1].shards", Some(16)),
            ("schemas[1].home_shard", Some(17)),
            ("schemas[1].tables[2]", Some(22)),
        ],
        "{errors}"
    );
    let shown = errors.to_string();
    assert!(shown.contains(
        "test.yaml:16: schemas[1].placement[1].shards: shard 8 is placed twice: placement[0] and placement[1]"
    ), "{shown}");
    assert!(
        shown.contains("test.yaml:14: schemas[1].placement: shard 15 is not placed"),
        "{shown}"
    );
}

#[test]
fn schemas_built_in_code_validate() {
    let mut config = config(VALID);
    config.schemas.push(Schema::unsharded("extra", "g0", None));
    assert_eq!(myshard_config::validate(&config), Ok(()));
    let topology = Topology::checked(&config).unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(topology.physical_database("extra", 0), Some("extra"));
    assert_eq!(topology.group_of("extra", 0), Some("g0"));

    config.schemas[1].home_shard = Some(16);
    let Err(errors) = Topology::checked(&config) else {
        panic!("an invalid home shard must not pass");
    };
    assert_eq!(errors.errors[0].path, "schemas[1].home_shard");
    assert_eq!(errors.errors[0].line, None);
    // Without validation, an invalid schema is left out rather than resolved wrongly.
    let topology = Topology::new(&config);
    assert!(topology.schema("shop").is_none());
    assert!(topology.schema("crm").is_some());
}
