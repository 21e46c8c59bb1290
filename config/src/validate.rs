//! Rules a configuration must satisfy beyond its YAML shape: addresses that parse, names
//! that are unique and refer to something, limits in range.
//!
//! Every rule runs and every failure is reported, so that an operator fixes a file in one
//! pass. Nothing here touches the network or the file system.

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddr};

use crate::error::{ConfigError, ConfigErrors};
use crate::lines::{index_path, key_path};
use crate::model::{Config, Group};

/// Smallest accepted `max_allowed_packet`, bytes (MySQL's own lower bound).
pub const MIN_ALLOWED_PACKET: usize = 1024;
/// Largest accepted `max_allowed_packet`, bytes (1 GiB, MySQL's own upper bound).
pub const MAX_ALLOWED_PACKET: usize = 1 << 30;

/// Checks a configuration built in code, or re-checks a loaded one. Errors carry paths but
/// no lines, since there is no file to point into.
pub fn validate(config: &Config) -> Result<(), ConfigErrors> {
    let errors = validate_with(config, |_| None);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors::new("", errors))
    }
}

/// Runs every rule, locating each error with `line_of(path)`.
pub(crate) fn validate_with(
    config: &Config,
    line_of: impl Fn(&str) -> Option<usize>,
) -> Vec<ConfigError> {
    let mut check = Checker {
        line_of: &line_of,
        errors: Vec::new(),
    };
    check.limits(config);
    check.groups(config);
    check.schemas(config);
    check.users(config);
    check.errors.sort_by_key(|error| error.line);
    check.errors
}

struct Checker<'a> {
    line_of: &'a dyn Fn(&str) -> Option<usize>,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    fn fail(&mut self, path: String, message: String) {
        let line = (self.line_of)(&path);
        self.errors.push(ConfigError::new(path, line, message));
    }

    fn limits(&mut self, config: &Config) {
        if config.listen.parse::<SocketAddr>().is_err() {
            self.fail(
                "listen".into(),
                format!(
                    "`{}` is not a socket address; expected ip:port such as 127.0.0.1:3307",
                    config.listen
                ),
            );
        }
        if config.max_client_connections < 1 {
            self.fail("max_client_connections".into(), "must be at least 1".into());
        }
        let packet = config.max_allowed_packet;
        if !(MIN_ALLOWED_PACKET..=MAX_ALLOWED_PACKET).contains(&packet) {
            self.fail(
                "max_allowed_packet".into(),
                format!(
                    "{packet} is out of range; must be between {MIN_ALLOWED_PACKET} and \
                     {MAX_ALLOWED_PACKET} bytes"
                ),
            );
        }
    }

    /// Names must be non-empty and unique within their list.
    fn names<'c>(&mut self, list: &str, what: &str, names: impl Iterator<Item = &'c str>) {
        let mut first_seen: HashMap<&str, usize> = HashMap::new();
        for (i, name) in names.enumerate() {
            let path = key_path(&index_path(list, i), "name");
            if name.is_empty() {
                self.fail(path, format!("{what} name must not be empty"));
            } else if let Some(first) = first_seen.get(name) {
                let first = index_path(list, *first);
                self.fail(
                    path,
                    format!("duplicate {what} name `{name}` (first at {first})"),
                );
            } else {
                first_seen.insert(name, i);
            }
        }
    }

    fn groups(&mut self, config: &Config) {
        self.names(
            "groups",
            "group",
            config.groups.iter().map(|g| g.name.as_str()),
        );
        for (i, group) in config.groups.iter().enumerate() {
            self.group(&index_path("groups", i), group);
        }
    }

    fn group(&mut self, path: &str, group: &Group) {
        let write_hosts = key_path(path, "write_hosts");
        if group.write_hosts.is_empty() {
            self.fail(
                write_hosts.clone(),
                "at least one write host is required".into(),
            );
        }
        let read_hosts = key_path(path, "read_hosts");
        let hosts = (group
            .write_hosts
            .iter()
            .enumerate()
            .map(|(k, h)| (&write_hosts, k, h)))
        .chain(
            group
                .read_hosts
                .iter()
                .enumerate()
                .map(|(k, h)| (&read_hosts, k, h)),
        );
        for (list, k, host) in hosts {
            if let Err(problem) = check_host(host) {
                self.fail(
                    index_path(list, k),
                    format!("invalid host `{host}`: {problem}"),
                );
            }
        }
        let pool = key_path(path, "pool");
        if group.pool.max < 1 {
            self.fail(key_path(&pool, "max"), "must be at least 1".into());
        }
        if group.pool.min > group.pool.max {
            self.fail(
                key_path(&pool, "min"),
                format!(
                    "min ({}) must not exceed max ({})",
                    group.pool.min, group.pool.max
                ),
            );
        }
    }

    fn schemas(&mut self, config: &Config) {
        self.names(
            "schemas",
            "schema",
            config.schemas.iter().map(|s| s.name.as_str()),
        );
        for (i, schema) in config.schemas.iter().enumerate() {
            if config.group(&schema.group).is_none() {
                self.fail(
                    key_path(&index_path("schemas", i), "group"),
                    format!("unknown group `{}`", schema.group),
                );
            }
        }
    }

    fn users(&mut self, config: &Config) {
        self.names(
            "users",
            "user",
            config.users.iter().map(|u| u.name.as_str()),
        );
        for (i, user) in config.users.iter().enumerate() {
            let schemas = key_path(&index_path("users", i), "schemas");
            let shared = user.schemas.len() > 1;
            for (k, schema) in user.schemas.iter().enumerate() {
                if schema == "*" {
                    if shared {
                        self.fail(
                            index_path(&schemas, k),
                            "`*` (all schemas) must be the only entry".into(),
                        );
                    }
                } else if config.schema(schema).is_none() {
                    self.fail(
                        index_path(&schemas, k),
                        format!("unknown schema `{schema}`"),
                    );
                }
            }
        }
    }
}

/// Checks a backend address written as `host:port` (`[v6]:port` for IPv6 literals).
fn check_host(host: &str) -> Result<(), &'static str> {
    let Some((name, port)) = host.rsplit_once(':') else {
        return Err("expected host:port");
    };
    match port.parse::<u16>() {
        Ok(port) if port > 0 => {}
        _ => return Err("port must be a number between 1 and 65535"),
    }
    if let Some(v6) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return match v6.parse::<Ipv6Addr>() {
            Ok(_) => Ok(()),
            Err(_) => Err("not a valid IPv6 address"),
        };
    }
    if name.is_empty() {
        return Err("missing host name");
    }
    if name.contains(':') {
        return Err("IPv6 addresses must be in brackets, e.g. [::1]:3306");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    if !name.chars().all(allowed) {
        return Err("host names may only contain letters, digits, `-`, `.` and `_`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for good in [
            "db1:3306",
            "10.0.0.1:3306",
            "[::1]:3306",
            "db-1.example_x.com:1",
        ] {
            assert_eq!(check_host(good), Ok(()), "{good}");
        }
        for bad in [
            "db1",
            "db1:",
            ":3306",
            "db1:0",
            "db1:65536",
            "db1:x",
            "::1:3306",
            "[zz]:3306",
            "db 1:3306",
        ] {
            assert!(check_host(bad).is_err(), "{bad}");
        }
    }
}
