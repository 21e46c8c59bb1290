//! Read-your-writes settings: a user's `consistency` and a group's
//! `read_your_writes_max_wait_ms` — their defaults, accepted values, and errors that name
//! the YAML path and line.

use myshard_config::{ConfigErrors, Consistency, MAX_READ_YOUR_WRITES_WAIT_MS, parse};

/// A file with one user written with `user` as its body lines and one group with `group`
/// as its body lines (each indented 4 spaces). The user starts at line 3, the group's
/// body right after its `- name: g1` line.
fn file(user: &str, group: &str) -> String {
    format!(
        "listen: 127.0.0.1:3307\nusers:\n  - name: app\n{user}\n    schemas: []\ngroups:\n  - name: g1\n    user: u\n    write_hosts: [db1:3306]\n{group}\nschemas: []\n"
    )
}

fn errors_of(text: &str) -> ConfigErrors {
    match parse(text, "t.yaml") {
        Ok(config) => panic!("accepted: {config:?}"),
        Err(errors) => errors,
    }
}

#[test]
fn defaults_are_eventual_and_half_a_second() {
    let config = parse(&file("    password: p", "    gtid: true"), "t.yaml")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.users[0].consistency, Consistency::Eventual);
    assert_eq!(config.groups[0].read_your_writes_max_wait_ms, 500);
}

#[test]
fn read_your_writes_and_a_wait_bound_are_read() {
    let config = parse(
        &file(
            "    consistency: read_your_writes",
            "    read_your_writes_max_wait_ms: 0",
        ),
        "t.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.users[0].consistency, Consistency::ReadYourWrites);
    assert_eq!(config.groups[0].read_your_writes_max_wait_ms, 0);
    assert_eq!(
        Consistency::parse("READ_YOUR_WRITES"),
        Some(Consistency::ReadYourWrites)
    );
    assert_eq!(Consistency::parse("strong"), None);
}

#[test]
fn bad_values_name_path_and_line() {
    let errors = errors_of(&file("    consistency: strong", "    gtid: true"));
    let e = &errors.errors[0];
    assert_eq!(e.path, "users[0].consistency", "{errors}");
    assert_eq!(e.line, Some(4), "{errors}");
    assert!(errors.to_string().contains("strong"), "{errors}");

    let too_long = MAX_READ_YOUR_WRITES_WAIT_MS + 1;
    let errors = errors_of(&file(
        "    password: p",
        &format!("    read_your_writes_max_wait_ms: {too_long}"),
    ));
    assert_eq!(errors.errors.len(), 1, "{errors}");
    let e = &errors.errors[0];
    assert_eq!(e.path, "groups[0].read_your_writes_max_wait_ms", "{errors}");
    assert_eq!(e.line, Some(10), "{errors}");
    assert!(e.message.contains("at most"), "{errors}");
}
