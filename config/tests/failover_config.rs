//! The failover settings of a group and the state directory: every wrong value is reported
//! at its YAML path and line, and a reload may change failover settings but not where the
//! proxy keeps its decisions.

use myshard_config::{ConfigErrors, FailoverMode, ReloadError, parse, parse_for_reload};

/// A valid file with one automatic group; tests replace the `failover:` line (line 9).
fn file(failover: &str, heartbeat: &str, write_hosts: &str) -> String {
    format!(
        "listen: 127.0.0.1:3307
state_dir: /var/lib/myshard
users: [{{name: app, password: p, schemas: ['*']}}]
groups:
  - name: g0
    user: u
    write_hosts: [{write_hosts}]
    heartbeat: {heartbeat}
    failover: {failover}
schemas: [{{name: s, group: g0}}]
"
    )
}

fn errors_of(text: &str) -> ConfigErrors {
    match parse(text, "f.yaml") {
        Ok(config) => panic!("expected errors, got {config:?}"),
        Err(errors) => errors,
    }
}

#[test]
fn automatic_failover_parses_with_heartbeats_and_two_hosts() {
    let text = file(
        "{mode: automatic, promotion: false, max_hold_ms: 2000, min_interval_ms: 5000}",
        "{enabled: true}",
        "'db1:3306', 'db2:3306'",
    );
    let config = parse(&text, "f.yaml").unwrap_or_else(|e| panic!("{e}"));
    let f = &config.groups[0].failover;
    assert_eq!(f.mode, FailoverMode::Automatic);
    assert!(!f.promotion);
    assert_eq!((f.max_hold_ms, f.min_interval_ms), (2000, 5000));
    assert_eq!(config.state_dir.as_deref(), Some("/var/lib/myshard"));
}

#[test]
fn automatic_failover_needs_heartbeats_and_another_host() {
    let text = file(
        "{mode: automatic, promotion: false}",
        "{enabled: false}",
        "'db1:3306'",
    );
    let errors = errors_of(&text);
    let at_mode: Vec<_> = errors
        .iter()
        .filter(|e| e.path == "groups[0].failover.mode")
        .collect();
    assert_eq!(at_mode.len(), 2, "{errors}");
    assert!(at_mode.iter().all(|e| e.line == Some(9)), "{errors}");
    assert!(
        at_mode
            .iter()
            .any(|e| e.message.contains("heartbeat.enabled")),
        "{errors}"
    );
    assert!(
        at_mode
            .iter()
            .any(|e| e.message.contains("at least 2 hosts") && e.message.contains("has 1")),
        "{errors}"
    );
    // Manual switching needs neither.
    let manual = file("{mode: manual}", "{enabled: false}", "'db1:3306'");
    assert!(parse(&manual, "f.yaml").is_ok());
}

#[test]
fn bounds_must_be_positive() {
    let text = file(
        "{max_hold_ms: 0, min_interval_ms: 0}",
        "{enabled: true}",
        "'db1:3306'",
    );
    let errors = errors_of(&text);
    for key in ["max_hold_ms", "min_interval_ms"] {
        let path = format!("groups[0].failover.{key}");
        let e = errors
            .iter()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("no error at {path}: {errors}"));
        assert!(e.message.contains("at least 1"), "{e}");
    }
    let empty = file("{}", "{}", "'db1:3306'").replace("/var/lib/myshard", "''");
    let found = errors_of(&empty);
    assert!(
        found
            .iter()
            .any(|e| e.path == "state_dir" && e.line == Some(2)),
        "{found}"
    );
}

#[test]
fn reload_changes_failover_settings_but_not_the_state_directory() {
    let before = file("{mode: manual}", "{}", "'db1:3306', 'db2:3306'");
    let running = parse(&before, "f.yaml").unwrap_or_else(|e| panic!("{e}"));
    let after = file(
        "{mode: automatic, promotion: false}",
        "{}",
        "'db1:3306', 'db2:3306'",
    );
    let (config, _) =
        parse_for_reload(&after, "f.yaml", &running).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.groups[0].failover.mode, FailoverMode::Automatic);
    let moved = before.replace("/var/lib/myshard", "/tmp/elsewhere");
    match parse_for_reload(&moved, "f.yaml", &running) {
        Err(ReloadError::Refused { refusals, .. }) => {
            assert_eq!(refusals.len(), 1, "{refusals:?}");
            assert_eq!(refusals[0].path, "state_dir");
            assert_eq!(refusals[0].line, Some(2));
            assert!(refusals[0].message.contains("restart"), "{}", refusals[0]);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
