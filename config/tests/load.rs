//! Loading and validating whole files: every error must name its YAML path and exact line.

use myshard_config::{Config, ConfigError, ConfigErrors, Group, Pool, Schema, User, parse};

/// A valid configuration. Tests change single lines of it, so line numbers below are stable.
const VALID: &str = r#"listen: 127.0.0.1:3307
max_client_connections: 100
max_allowed_packet: 16777216
server_version: 8.0.36-myshard
users:
  - name: app
    password: s3cret-app
    schemas: [shop]
  - name: admin
    password: s3cret-admin
    schemas: ["*"]
groups:
  - name: g1
    user: proxy
    password: s3cret-backend
    write_hosts: [db1:3306, db2:3306]
    read_hosts:
      - db3:3306
    pool:
      min: 2
      max: 32
schemas:
  - name: shop
    group: g1
    database: shop_prod
"#;

/// `VALID` with 1-based line `line` replaced by `text` (which may span several lines).
fn with_line(line: usize, text: &str) -> String {
    let mut lines: Vec<&str> = VALID.lines().collect();
    lines[line - 1] = text;
    lines.join("\n") + "\n"
}

/// `VALID` with 1-based line `line` removed.
fn without_line(line: usize) -> String {
    let mut lines: Vec<&str> = VALID.lines().collect();
    lines.remove(line - 1);
    lines.join("\n") + "\n"
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

/// The error at `path` among those `text` produces.
fn error_at(text: &str, path: &str) -> ConfigError {
    let errors = errors(text);
    match errors.iter().find(|error| error.path == path) {
        Some(error) => error.clone(),
        None => panic!("no error at {path} in:\n{errors}"),
    }
}

fn assert_error(error: &ConfigError, path: &str, line: usize, fragment: &str) {
    assert_eq!(error.path, path, "{error}");
    assert_eq!(error.line, Some(line), "{error}");
    assert!(error.message.contains(fragment), "{error}");
}

#[test]
fn valid_file_round_trips() {
    let config = match parse(VALID, "test.yaml") {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    };
    let expected = Config {
        listen: "127.0.0.1:3307".into(),
        listen_socket: None,
        max_client_connections: 100,
        max_allowed_packet: 16 * 1024 * 1024,
        merge: Default::default(),
        limits: Default::default(),
        server_version: Some("8.0.36-myshard".into()),
        admin_http: None,
        state_dir: None,
        users: vec![
            User::new("app", "s3cret-app", &["shop"]),
            User::new("admin", "s3cret-admin", &["*"]),
        ],
        groups: vec![Group {
            read_hosts: vec!["db3:3306".into()],
            read_policy: Default::default(),
            pool: Pool {
                min: 2,
                max: 32,
                ..Pool::default()
            },
            ..Group::new("g1", "proxy", "s3cret-backend", &["db1:3306", "db2:3306"])
        }],
        schemas: vec![Schema::unsharded("shop", "g1", Some("shop_prod"))],
    };
    assert_eq!(config, expected);
    assert_eq!(myshard_config::validate(&config), Ok(()));
}

#[test]
fn defaults_apply_to_a_minimal_file() {
    let text = "listen: 0.0.0.0:3306\nusers: []\ngroups:\n  - {name: g, user: u, write_hosts: [h:1]}\nschemas: []\n";
    let config = match parse(text, "min.yaml") {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    };
    assert_eq!(config.max_client_connections, 10_000);
    assert_eq!(config.max_allowed_packet, 64 * 1024 * 1024);
    assert_eq!(config.groups[0].pool, Pool::default());
    assert_eq!(config.groups[0].password, "");
}

#[test]
fn lookups_are_case_sensitive_and_star_allows_all() {
    let Ok(config) = parse(VALID, "test.yaml") else {
        panic!("VALID must parse");
    };
    assert_eq!(
        config.schema("shop").map(Schema::physical_database),
        Some("shop_prod")
    );
    assert!(config.schema("SHOP").is_none());
    assert_eq!(config.group("g1").map(|g| g.user.as_str()), Some("proxy"));
    assert!(config.group("G1").is_none());
    let (Some(app), Some(admin)) = (config.user("app"), config.user("admin")) else {
        panic!("both users exist");
    };
    assert!(config.user("App").is_none());
    assert!(app.may_use("shop"));
    assert!(!app.may_use("Shop"));
    assert!(!app.may_use("other"));
    assert!(admin.may_use("anything"));
}

#[test]
fn debug_output_hides_passwords() {
    let Ok(config) = parse(VALID, "test.yaml") else {
        panic!("VALID must parse");
    };
    let shown = format!("{config:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains(r#"password: "<redacted>""#), "{shown}");
    assert!(shown.contains("db1:3306"), "{shown}");
    let pretty = format!("{config:#?}");
    assert!(!pretty.contains("s3cret"));
}

#[test]
fn listen_must_be_a_socket_address() {
    let error = only_error(&with_line(1, "listen: localhost"));
    assert_error(&error, "listen", 1, "not a socket address");
}

#[test]
fn listen_socket_and_unix_socket_hosts() {
    let text = with_line(
        1,
        "listen: 127.0.0.1:3307\nlisten_socket: /run/myshard.sock",
    )
    .replace(
        "[db1:3306, db2:3306]",
        "['unix:/run/mysqld/mysqld.sock', db2:3306]",
    );
    let config = match parse(&text, "t") {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    };
    assert_eq!(config.listen_socket.as_deref(), Some("/run/myshard.sock"));
    assert_eq!(
        myshard_config::unix_socket_path(&config.groups[0].write_hosts[0]),
        Some("/run/mysqld/mysqld.sock")
    );

    let error = only_error(&with_line(
        1,
        "listen: 127.0.0.1:3307\nlisten_socket: myshard.sock",
    ));
    assert_error(&error, "listen_socket", 2, "not absolute");

    // Line 16 is `write_hosts: [db1:3306, db2:3306]`.
    let error = only_error(&with_line(
        16,
        "    write_hosts: ['unix:mysqld.sock', db2:3306]",
    ));
    assert_error(
        &error,
        "groups[0].write_hosts[0]",
        16,
        "invalid host `unix:mysqld.sock`: socket path `mysqld.sock` is not absolute",
    );
    let error = only_error(&with_line(16, "    write_hosts: ['unix:', db2:3306]"));
    assert_error(
        &error,
        "groups[0].write_hosts[0]",
        16,
        "missing socket path",
    );
    let long = format!("/{}", "x".repeat(120));
    let error = only_error(&with_line(16, &format!("    write_hosts: ['unix:{long}']")));
    assert_error(&error, "groups[0].write_hosts[0]", 16, "at most 107");
    let error = only_error(&with_line(18, "      - /run/mysqld/mysqld.sock"));
    assert_error(
        &error,
        "groups[0].read_hosts[0]",
        18,
        "a Unix socket is written `unix:/run/mysqld/mysqld.sock`",
    );
}

#[test]
fn max_client_connections_at_least_one() {
    let error = only_error(&with_line(2, "max_client_connections: 0"));
    assert_error(&error, "max_client_connections", 2, "at least 1");
}

#[test]
fn merge_max_buffered_bytes_defaults_to_64_mib_and_is_at_least_one() {
    let config = match parse(VALID, "test.yaml") {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    };
    assert_eq!(config.merge.max_buffered_bytes, 64 * 1024 * 1024);
    let text = with_line(
        2,
        "max_client_connections: 100\nmerge:\n  max_buffered_bytes: 0",
    );
    let error = only_error(&text);
    assert_error(&error, "merge.max_buffered_bytes", 4, "at least 1");
}

#[test]
fn max_allowed_packet_range() {
    for bad in ["1023", "1073741825"] {
        let error = only_error(&with_line(3, &format!("max_allowed_packet: {bad}")));
        assert_error(
            &error,
            "max_allowed_packet",
            3,
            "between 1024 and 1073741824",
        );
    }
    for good in ["1024", "1073741824"] {
        let text = with_line(3, &format!("max_allowed_packet: {good}"));
        assert!(parse(&text, "t").is_ok(), "{good}");
    }
}

#[test]
fn user_names_non_empty_and_unique() {
    let error = only_error(&with_line(9, r#"  - name: """#));
    assert_error(&error, "users[1].name", 9, "must not be empty");
    let error = only_error(&with_line(9, "  - name: app"));
    assert_error(
        &error,
        "users[1].name",
        9,
        "duplicate user name `app` (first at users[0])",
    );
}

#[test]
fn user_schemas_must_exist() {
    let error = only_error(&with_line(8, "    schemas: [shop, nope]"));
    assert_error(&error, "users[0].schemas[1]", 8, "unknown schema `nope`");
    let error = only_error(&with_line(8, "    schemas: [Shop]"));
    assert_error(&error, "users[0].schemas[0]", 8, "unknown schema `Shop`");
}

#[test]
fn star_must_stand_alone() {
    let error = only_error(&with_line(11, r#"    schemas: ["*", shop]"#));
    assert_error(&error, "users[1].schemas[0]", 11, "must be the only entry");
}

#[test]
fn schema_group_must_exist() {
    let error = only_error(&with_line(24, "    group: g2"));
    assert_error(&error, "schemas[0].group", 24, "unknown group `g2`");
}

#[test]
fn schema_names_non_empty_and_unique() {
    let error = error_at(&with_line(23, r#"  - name: """#), "schemas[0].name");
    assert_error(&error, "schemas[0].name", 23, "must not be empty");
    let text = format!("{VALID}  - name: shop\n    group: g1\n");
    let error = only_error(&text);
    assert_error(
        &error,
        "schemas[1].name",
        26,
        "duplicate schema name `shop`",
    );
}

#[test]
fn group_names_non_empty_and_unique() {
    let error = error_at(&with_line(13, r#"  - name: """#), "groups[0].name");
    assert_error(&error, "groups[0].name", 13, "must not be empty");
    let text = with_line(
        21,
        "      max: 32\n  - name: g1\n    user: u\n    write_hosts: [db9:3306]",
    );
    let error = only_error(&text);
    assert_error(&error, "groups[1].name", 22, "duplicate group name `g1`");
}

#[test]
fn group_needs_a_write_host() {
    let error = only_error(&with_line(16, "    write_hosts: []"));
    assert_error(
        &error,
        "groups[0].write_hosts",
        16,
        "at least one write host",
    );
}

#[test]
fn hosts_need_a_valid_port() {
    let error = only_error(&with_line(16, "    write_hosts: [db1:3306, db2]"));
    assert_error(&error, "groups[0].write_hosts[1]", 16, "invalid host `db2`");
    let error = only_error(&with_line(18, "      - db3:99999"));
    assert_error(&error, "groups[0].read_hosts[0]", 18, "between 1 and 65535");
}

#[test]
fn pool_min_not_above_max() {
    let error = only_error(&with_line(20, "      min: 40"));
    assert_error(
        &error,
        "groups[0].pool.min",
        20,
        "min (40) must not exceed max (32)",
    );
}

#[test]
fn pool_max_at_least_one() {
    let text = with_line(20, "      min: 0");
    let text = text.replace("      max: 32", "      max: 0");
    let error = only_error(&text);
    assert_error(&error, "groups[0].pool.max", 21, "at least 1");
}

#[test]
fn unknown_key_names_its_path_and_line() {
    let error = only_error(&with_line(20, "      mn: 2"));
    assert_error(&error, "groups[0].pool.mn", 20, "unknown field `mn`");
    let error = only_error(&with_line(4, "server_versoin: x"));
    assert_error(
        &error,
        "server_versoin",
        4,
        "unknown field `server_versoin`",
    );
}

#[test]
fn type_error_names_its_path_and_line() {
    let error = only_error(&with_line(21, "      max: lots"));
    assert_error(&error, "groups[0].pool.max", 21, "");
    let error = only_error(&with_line(8, "    schemas: shop"));
    assert_error(&error, "users[0].schemas", 8, "");
}

#[test]
fn missing_field_names_the_mapping_and_line() {
    let error = only_error(&without_line(14));
    assert_error(&error, "groups[0]", 13, "missing field `user`");
    let error = only_error(&without_line(1));
    assert_error(&error, "", 1, "missing field `listen`");
}

#[test]
fn syntax_error_reports_a_line() {
    let error = only_error(&with_line(10, "    password: s3cret: admin"));
    assert_eq!(error.line, Some(10), "{error}");
    assert!(error.message.contains("not allowed"), "{error}");
    let error = only_error(&with_line(16, "    write_hosts: [db1:3306, db2:3306"));
    assert!(error.line.is_some_and(|line| line >= 16), "{error}");
}

#[test]
fn duplicate_keys_are_errors() {
    let error = only_error(&with_line(21, "      min: 3"));
    assert_error(&error, "groups[0].pool", 21, "duplicate mapping key");
}

#[test]
fn every_validation_error_is_listed_in_line_order() {
    let text = VALID
        .replace("listen: 127.0.0.1:3307", "listen: nowhere")
        .replace("max_client_connections: 100", "max_client_connections: 0")
        .replace("schemas: [shop]", "schemas: [shop, nope]")
        .replace("write_hosts: [db1:3306, db2:3306]", "write_hosts: []")
        .replace("      max: 32", "      max: 0")
        .replace("group: g1", "group: g2");
    let errors = errors(&text);
    let found: Vec<(&str, Option<usize>)> = errors
        .iter()
        .map(|error| (error.path.as_str(), error.line))
        .collect();
    assert_eq!(
        found,
        [
            ("listen", Some(1)),
            ("max_client_connections", Some(2)),
            ("users[0].schemas[1]", Some(8)),
            ("groups[0].write_hosts", Some(16)),
            ("groups[0].pool.min", Some(20)),
            ("groups[0].pool.max", Some(21)),
            ("schemas[0].group", Some(24)),
        ]
    );
    let shown = errors.to_string();
    assert_eq!(shown.lines().count(), 7, "{shown}");
    assert!(shown.starts_with("test.yaml:1: listen: `nowhere` is not a socket address"));
    assert!(shown.contains("\ntest.yaml:24: schemas[0].group: unknown group `g2`"));
}

#[test]
fn load_reads_a_file_and_names_it_in_errors() {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => panic!("tempdir: {err}"),
    };
    let path = dir.path().join("myshard.yaml");
    if let Err(err) = std::fs::write(&path, VALID) {
        panic!("write: {err}");
    }
    assert!(myshard_config::load(&path).is_ok());
    if let Err(err) = std::fs::write(&path, with_line(24, "    group: g2")) {
        panic!("write: {err}");
    }
    let Err(errors) = myshard_config::load(&path) else {
        panic!("an unknown group must not load");
    };
    let expected = format!(
        "{}:24: schemas[0].group: unknown group `g2`",
        path.display()
    );
    assert_eq!(errors.to_string(), expected);
}
