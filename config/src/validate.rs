//! Rules a configuration must satisfy beyond its YAML shape: addresses that parse, names
//! that are unique and refer to something, limits in range.
//!
//! Every rule runs and every failure is reported, so that an operator fixes a file in one
//! pass. Nothing here touches the network or the file system.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{Ipv6Addr, SocketAddr};

use crate::error::{ConfigError, ConfigErrors};
use crate::lines::{index_path, key_path};
use crate::model::{Config, FailoverMode, Group, Placement, ReadPolicy, Schema, Table};
use crate::sharding::{
    DEFAULT_DATABASE_PATTERN, DatabasePattern, KeyType, MAX_DATABASE_NAME_CHARS, MAX_SHARDS,
    SUPPORTED_COLLATIONS, format_shards, shard_count, supported_collation,
};

/// Smallest accepted `max_allowed_packet`, bytes (MySQL's own lower bound).
pub const MIN_ALLOWED_PACKET: usize = 1024;
/// Largest accepted `max_allowed_packet`, bytes (1 GiB, MySQL's own upper bound).
pub const MAX_ALLOWED_PACKET: usize = 1 << 30;

/// Largest weight of a read host.
pub const MAX_READ_WEIGHT: u32 = 1_000;

/// Longest accepted `read_your_writes_max_wait_ms` (a read waits at most this long for a
/// read host to apply the session's write).
pub const MAX_READ_YOUR_WRITES_WAIT_MS: u64 = 60_000;

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
    for (path, message) in crate::sequence_rules::problems(config) {
        check.fail(path, message);
    }
    check.transactions(config);
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

    fn admin_http(&mut self, admin: &crate::AdminHttp) {
        if admin.listen.parse::<SocketAddr>().is_err() {
            self.fail(
                "admin_http.listen".into(),
                format!(
                    "`{}` is not a socket address; expected ip:port such as {}",
                    admin.listen,
                    crate::DEFAULT_ADMIN_HTTP_LISTEN
                ),
            );
        }
        if let Some(token) = &admin.token
            && (token.trim().is_empty() || token.chars().any(|c| c.is_control()))
        {
            self.fail(
                "admin_http.token".into(),
                "must not be empty or contain control characters; remove it to refuse \
                 every state-changing request"
                    .into(),
            );
        }
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
        if let Some(path) = &config.listen_socket
            && let Err(problem) = check_socket_path(path)
        {
            self.fail("listen_socket".into(), problem);
        }
        if let Some(admin) = &config.admin_http {
            self.admin_http(admin);
        }
        if config
            .state_dir
            .as_deref()
            .is_some_and(|d| d.trim().is_empty())
        {
            self.fail(
                "state_dir".into(),
                "must not be empty; remove it to keep no decisions across restarts".into(),
            );
        }
        if let Some(name) = &config.cluster_name
            && (name.trim().is_empty() || name.chars().any(char::is_control))
        {
            self.fail(
                "cluster_name".into(),
                "must not be empty or contain control characters".into(),
            );
        }
        if config.max_client_connections < 1 {
            self.fail("max_client_connections".into(), "must be at least 1".into());
        }
        if config.merge.connections_per_group < 1 {
            self.fail(
                "merge.connections_per_group".into(),
                "must be at least 1".into(),
            );
        }
        if config.merge.max_groups < 1 {
            self.fail("merge.max_groups".into(), "must be at least 1".into());
        }
        if config.merge.max_buffered_bytes < 1 {
            self.fail(
                "merge.max_buffered_bytes".into(),
                "must be at least 1".into(),
            );
        }
        let l = &config.limits;
        for (key, value) in [
            ("limits.max_statement_bytes", l.max_statement_bytes),
            ("limits.max_expression_depth", l.max_expression_depth),
            ("limits.max_handshakes", l.max_handshakes),
            (
                "limits.max_prepared_statements_per_client",
                l.max_prepared_statements_per_client,
            ),
            ("limits.max_prepared_statements", l.max_prepared_statements),
            ("limits.statement_cache_bytes", l.statement_cache_bytes),
            ("limits.max_subquery_rows", l.max_subquery_rows),
        ] {
            if value < 1 {
                self.fail(key.into(), "must be at least 1".into());
            }
        }
        if l.handshake_timeout_ms < 1 {
            self.fail(
                "limits.handshake_timeout_ms".into(),
                "must be at least 1".into(),
            );
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
                .map(|(k, h)| (&read_hosts, k, &h.host)),
        );
        for (list, k, host) in hosts {
            if let Err(problem) = check_host(host) {
                self.fail(
                    index_path(list, k),
                    format!("invalid host `{host}`: {problem}"),
                );
            }
        }
        self.replication(path, group);
        self.failover(path, group);
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

    /// The failover settings: automatic switching needs heartbeats to detect a dead write
    /// host and another host to switch to; bounds must be positive.
    fn failover(&mut self, path: &str, group: &Group) {
        let failover = key_path(path, "failover");
        let f = &group.failover;
        for (key, value) in [
            ("max_hold_ms", f.max_hold_ms),
            ("min_interval_ms", f.min_interval_ms),
        ] {
            if value < 1 {
                self.fail(key_path(&failover, key), "must be at least 1".into());
            }
        }
        if f.mode != FailoverMode::Automatic {
            return;
        }
        let mode = key_path(&failover, "mode");
        if !group.heartbeat.enabled {
            self.fail(
                mode.clone(),
                "mode `automatic` needs `heartbeat.enabled: true`: without heartbeats a \
                 dead write host is never detected"
                    .into(),
            );
        }
        let hosts = group.write_hosts.len()
            + if f.promotion {
                group.read_hosts.len()
            } else {
                0
            };
        if hosts < 2 {
            self.fail(
                mode,
                format!(
                    "mode `automatic` needs at least 2 hosts to switch between ({}); the group \
                     has {hosts}",
                    if f.promotion {
                        "write hosts and read hosts"
                    } else {
                        "write hosts, since `promotion: false`"
                    }
                ),
            );
        }
    }

    /// Read hosts' weights, the read policy and the health monitor's settings.
    fn replication(&mut self, path: &str, group: &Group) {
        let read_hosts = key_path(path, "read_hosts");
        for (k, read) in group.read_hosts.iter().enumerate() {
            if !(1..=MAX_READ_WEIGHT).contains(&read.weight) {
                self.fail(
                    key_path(&index_path(&read_hosts, k), "weight"),
                    format!(
                        "weight {} is out of range; must be between 1 and {MAX_READ_WEIGHT}",
                        read.weight
                    ),
                );
            }
        }
        if group.read_policy == ReadPolicy::Replicas && group.read_hosts.is_empty() {
            self.fail(
                key_path(path, "read_policy"),
                "read_policy `replicas` needs at least one read host".into(),
            );
        }
        if group.read_your_writes_max_wait_ms > MAX_READ_YOUR_WRITES_WAIT_MS {
            self.fail(
                key_path(path, "read_your_writes_max_wait_ms"),
                format!(
                    "{} is out of range; must be at most {MAX_READ_YOUR_WRITES_WAIT_MS} ms",
                    group.read_your_writes_max_wait_ms
                ),
            );
        }
        let beat = key_path(path, "heartbeat");
        let hb = &group.heartbeat;
        for (key, value) in [
            ("interval_ms", hb.interval_ms),
            ("timeout_ms", hb.timeout_ms),
            ("fall", u64::from(hb.fall)),
            ("rise", u64::from(hb.rise)),
        ] {
            if value < 1 {
                self.fail(key_path(&beat, key), "must be at least 1".into());
            }
        }
    }

    fn schemas(&mut self, config: &Config) {
        self.names(
            "schemas",
            "schema",
            config.schemas.iter().map(|s| s.name.as_str()),
        );
        let mut databases = DatabaseOwners::default();
        for (i, schema) in config.schemas.iter().enumerate() {
            let path = index_path("schemas", i);
            if schema.is_sharded() {
                self.sharded_schema(config, &path, i, schema, &mut databases);
            } else {
                self.unsharded_schema(config, &path, i, schema, &mut databases);
            }
        }
    }

    /// A schema with `group`: one physical database, no sharding fields.
    fn unsharded_schema<'c>(
        &mut self,
        config: &'c Config,
        path: &str,
        index: usize,
        schema: &'c Schema,
        databases: &mut DatabaseOwners<'c>,
    ) {
        let group = match &schema.group {
            None => {
                self.fail(
                    path.to_owned(),
                    "a schema needs either `group` (unsharded) or `shards` and `placement` \
                     (sharded)"
                        .into(),
                );
                None
            }
            Some(group) if config.group(group).is_none() => {
                self.fail(key_path(path, "group"), format!("unknown group `{group}`"));
                None
            }
            Some(group) => Some(group.as_str()),
        };
        for (field, set) in [
            ("home_shard", schema.home_shard.is_some()),
            (
                "allow_full_scan_writes",
                schema.allow_full_scan_writes.is_some(),
            ),
            ("tables", !schema.tables.is_empty()),
        ] {
            if set {
                self.fail(
                    key_path(path, field),
                    format!(
                        "`{field}` applies only to sharded schemas (with `shards` and \
                         `placement`)"
                    ),
                );
            }
        }
        let database_path = key_path(path, "database");
        let database = schema.physical_database();
        if database.contains(['{', '}']) {
            self.fail(
                database_path,
                format!(
                    "`{database}` contains a placeholder; placeholders such as {{shard}} are \
                     only allowed in sharded schemas"
                ),
            );
        } else if let Err(problem) = check_database_name(database) {
            self.fail(database_path, problem);
        } else {
            let owner = DatabaseOwner {
                schema: index,
                shard: None,
                group,
            };
            self.claim(config, databases, path, database, owner);
        }
    }

    /// A schema with `shards` and `placement`.
    fn sharded_schema<'c>(
        &mut self,
        config: &'c Config,
        path: &str,
        index: usize,
        schema: &'c Schema,
        databases: &mut DatabaseOwners<'c>,
    ) {
        if schema.group.is_some() {
            self.fail(
                key_path(path, "group"),
                "a schema is either unsharded (`group`) or sharded (`shards` and `placement`), \
                 not both"
                    .into(),
            );
        }
        let shards = match schema.shards {
            None => {
                self.fail(
                    path.to_owned(),
                    "missing field `shards`: a sharded schema needs its number of shards".into(),
                );
                None
            }
            Some(n) if !(1..=MAX_SHARDS).contains(&n) => {
                self.fail(
                    key_path(path, "shards"),
                    format!("{n} is out of range; a schema has between 1 and {MAX_SHARDS} shards"),
                );
                None
            }
            Some(n) => Some(n),
        };
        let shard_groups = match &schema.placement {
            None => {
                self.fail(
                    path.to_owned(),
                    "missing field `placement`: a sharded schema needs to say which group \
                     holds which shards"
                        .into(),
                );
                None
            }
            Some(placement) => {
                self.placement(config, &key_path(path, "placement"), placement, shards)
            }
        };
        if let (Some(home), Some(n)) = (schema.home_shard, shards)
            && home >= n
        {
            self.fail(
                key_path(path, "home_shard"),
                format!("home shard {home} is out of range: {}", shard_count(n)),
            );
        }
        let database_path = key_path(path, "database");
        let text = schema
            .database
            .as_deref()
            .unwrap_or(DEFAULT_DATABASE_PATTERN);
        match DatabasePattern::parse(text) {
            Err(problem) => self.fail(database_path, problem),
            Ok(pattern) if !pattern.has_shard() => self.fail(
                database_path,
                format!(
                    "`{text}` has no {{shard}} placeholder, so every shard would get the same \
                     database; write e.g. `{{schema}}_{{shard:04}}`"
                ),
            ),
            Ok(pattern) => {
                if let Some(n) = shards {
                    self.shard_databases(
                        config,
                        databases,
                        path,
                        index,
                        schema,
                        &pattern,
                        n,
                        shard_groups.as_deref(),
                    );
                }
            }
        }
        let tables = key_path(path, "tables");
        self.names(
            &tables,
            "table",
            schema.tables.iter().map(|t| t.name.as_str()),
        );
        for (k, table) in schema.tables.iter().enumerate() {
            self.table(&index_path(&tables, k), table);
        }
    }

    /// Checks every placement entry and that each shard is placed exactly once. Returns the
    /// group of each shard when all of that holds and `shards` is known.
    fn placement<'c>(
        &mut self,
        config: &'c Config,
        path: &str,
        placement: &'c [Placement],
        shards: Option<u32>,
    ) -> Option<Vec<&'c str>> {
        // Every entry parsed (so unplaced shards are really unplaced) / everything is valid.
        let mut parsed = true;
        let mut complete = true;
        // The placement entry holding each shard, once `shards` is known.
        let mut owner: Vec<Option<usize>> = vec![None; shards.map_or(0, |n| n as usize)];
        for (k, entry) in placement.iter().enumerate() {
            let entry_path = index_path(path, k);
            if config.group(&entry.group).is_none() {
                self.fail(
                    key_path(&entry_path, "group"),
                    format!("unknown group `{}`", entry.group),
                );
                complete = false;
            }
            let shards_path = key_path(&entry_path, "shards");
            let ranges = match entry.shards.ranges(shards) {
                Ok(ranges) => ranges,
                Err(problem) => {
                    self.fail(shards_path, problem);
                    parsed = false;
                    continue;
                }
            };
            if shards.is_none() {
                continue;
            }
            // Shards placed again, by the entry that placed them first.
            let mut again: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
            for shard in ranges.into_iter().flatten() {
                match &mut owner[shard as usize] {
                    slot @ None => *slot = Some(k),
                    Some(first) => again.entry(*first).or_default().push(shard),
                }
            }
            for (first, mut list) in again {
                list.sort_unstable();
                list.dedup();
                let (what, verb) = if list.len() == 1 {
                    (format!("shard {}", list[0]), "is")
                } else {
                    (format!("shards {}", format_shards(&list)), "are")
                };
                let message = if first == k {
                    format!(
                        "{what} {verb} listed twice in {}",
                        index_path("placement", k)
                    )
                } else {
                    format!(
                        "{what} {verb} placed twice: {} and {}",
                        index_path("placement", first),
                        index_path("placement", k)
                    )
                };
                self.fail(shards_path.clone(), message);
                complete = false;
            }
        }
        if shards.is_none() || !parsed {
            return None;
        }
        let unplaced: Vec<u32> = (0..)
            .zip(&owner)
            .filter(|(_, slot)| slot.is_none())
            .map(|(shard, _)| shard)
            .collect();
        match unplaced.len() {
            0 if !complete => None,
            0 => Some(
                owner
                    .iter()
                    .filter_map(|slot| slot.map(|k| placement[k].group.as_str()))
                    .collect(),
            ),
            1 => {
                self.fail(
                    path.to_owned(),
                    format!("shard {} is not placed", unplaced[0]),
                );
                None
            }
            _ => {
                self.fail(
                    path.to_owned(),
                    format!("shards {} are not placed", format_shards(&unplaced)),
                );
                None
            }
        }
    }

    /// Checks the physical database of every shard and claims it.
    #[allow(clippy::too_many_arguments)]
    fn shard_databases<'c>(
        &mut self,
        config: &'c Config,
        databases: &mut DatabaseOwners<'c>,
        path: &str,
        index: usize,
        schema: &Schema,
        pattern: &DatabasePattern,
        shards: u32,
        groups: Option<&[&'c str]>,
    ) {
        // Names only grow with the shard number: checking the last shard covers them all.
        let longest = pattern.format(&schema.name, shards - 1);
        let shortest = pattern.format(&schema.name, 0);
        for name in [&shortest, &longest] {
            if let Err(problem) = check_database_name(name) {
                self.fail(key_path(path, "database"), problem);
                return;
            }
        }
        for shard in 0..shards {
            let owner = DatabaseOwner {
                schema: index,
                shard: Some(shard),
                group: groups.and_then(|groups| groups.get(shard as usize).copied()),
            };
            let name = pattern.format(&schema.name, shard);
            self.claim(config, databases, path, &name, owner);
        }
    }

    /// Records that `owner` uses physical database `name`, failing (once per pair of schemas)
    /// when another schema's database of the same name would collide with it: on the same
    /// group, or anywhere when either is a shard (shards move between groups).
    fn claim<'c>(
        &mut self,
        config: &'c Config,
        databases: &mut DatabaseOwners<'c>,
        path: &str,
        name: &str,
        owner: DatabaseOwner<'c>,
    ) {
        let owners = databases.owners.entry(name.to_owned()).or_default();
        let clash = owners.iter().find(|other| {
            other.shard.is_some()
                || owner.shard.is_some()
                || (other.group.is_some() && other.group == owner.group)
        });
        if let Some(other) = clash.copied()
            && databases.reported.insert((owner.schema, other.schema))
        {
            let same_group = owner.group.filter(|group| Some(*group) == other.group);
            let reason = match same_group {
                Some(group) => format!(" on group `{group}`"),
                None => "; shard databases must be unique across all groups, since shards can \
                         move between groups"
                    .to_owned(),
            };
            let message = format!(
                "database `{name}` of {} is also the database of {} ({}){reason}",
                owner.describe(config),
                other.describe(config),
                index_path("schemas", other.schema),
            );
            self.fail(key_path(path, "database"), message);
        }
        owners.push(owner);
    }

    /// One table of a sharded schema.
    fn table(&mut self, path: &str, table: &Table) {
        let global = table.global;
        match (&table.shard_key, global) {
            (Some(_), true) => self.fail(
                key_path(path, "global"),
                "a table is either sharded (`shard_key`) or global (`global: true`), not both"
                    .into(),
            ),
            (None, false) => self.fail(
                path.to_owned(),
                "a table needs `shard_key` (sharded table) or `global: true` (global table)".into(),
            ),
            (Some(key), false) if key.is_empty() => self.fail(
                key_path(path, "shard_key"),
                "shard key column must not be empty".into(),
            ),
            _ => {}
        }
        let sharded = table.shard_key.is_some() && !global;
        if !sharded {
            for (field, set) in [
                ("key_type", table.key_type.is_some()),
                ("collation", table.collation.is_some()),
                (
                    "allow_full_scan_writes",
                    table.allow_full_scan_writes.is_some(),
                ),
            ] {
                if set {
                    self.fail(
                        key_path(path, field),
                        format!("`{field}` applies only to sharded tables (with `shard_key`)"),
                    );
                }
            }
            return;
        }
        let key_type = match table.key_type.as_deref().map(KeyType::parse) {
            None => Some(KeyType::default()),
            Some(Ok(key_type)) => Some(key_type),
            Some(Err(problem)) => {
                self.fail(key_path(path, "key_type"), problem);
                None
            }
        };
        // With an invalid key type, whether a collation belongs is unknown.
        if let (Some(collation), Some(key_type)) = (&table.collation, key_type) {
            if key_type != KeyType::String {
                self.fail(
                    key_path(path, "collation"),
                    format!("`collation` applies only to key_type string (this key is {key_type})"),
                );
            } else if supported_collation(collation).is_none() {
                self.fail(
                    key_path(path, "collation"),
                    format!(
                        "unsupported collation `{collation}`; supported: {}",
                        SUPPORTED_COLLATIONS.join(", ")
                    ),
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

impl Checker<'_> {
    /// `state_dir`, `proxy_id` and the users' transaction modes (the `xa` mode needs the
    /// decision log in `state_dir`).
    fn transactions(&mut self, config: &Config) {
        if config
            .state_dir
            .as_deref()
            .is_some_and(|d| d.trim().is_empty())
        {
            self.fail("state_dir".into(), "must not be empty".into());
        }
        if let Some(id) = &config.proxy_id {
            let valid = id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if id.is_empty() || !valid || id.len() > crate::MAX_PROXY_ID_CHARS {
                self.fail(
                    "proxy_id".into(),
                    format!(
                        "`{id}` is not a proxy identity: 1 to {} letters, digits, `_` or `-`",
                        crate::MAX_PROXY_ID_CHARS
                    ),
                );
            }
        }
        if config.state_dir.is_some() {
            return;
        }
        for (i, user) in config.users.iter().enumerate() {
            if user.transaction_mode == Some(crate::TransactionMode::Xa) {
                self.fail(
                    key_path(&index_path("users", i), "transaction_mode"),
                    "`xa` needs `state_dir` (the decision log of two-phase commits lives there)"
                        .into(),
                );
            }
        }
    }
}

/// Which schema (and shard) uses each physical database name seen so far.
#[derive(Default)]
struct DatabaseOwners<'c> {
    owners: HashMap<String, Vec<DatabaseOwner<'c>>>,
    /// Pairs of schemas (this, earlier) already reported as colliding.
    reported: HashSet<(usize, usize)>,
}

#[derive(Clone, Copy)]
struct DatabaseOwner<'c> {
    /// Index in `schemas`.
    schema: usize,
    /// The shard, for sharded schemas.
    shard: Option<u32>,
    /// The group holding the database, when known.
    group: Option<&'c str>,
}

impl DatabaseOwner<'_> {
    fn describe(&self, config: &Config) -> String {
        let name = config
            .schemas
            .get(self.schema)
            .map_or("?", |schema| schema.name.as_str());
        match self.shard {
            Some(shard) => format!("shard {shard} of schema `{name}`"),
            None => format!("schema `{name}`"),
        }
    }
}

/// A physical database name MySQL accepts: not empty, at most 64 characters.
fn check_database_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("physical database name must not be empty".into());
    }
    if name.chars().count() > MAX_DATABASE_NAME_CHARS {
        return Err(format!(
            "physical database name `{name}` is longer than {MAX_DATABASE_NAME_CHARS} characters"
        ));
    }
    Ok(())
}

/// How a host on the same machine is written: `unix:` then the absolute path of the
/// server's socket file, e.g. `unix:/run/mysqld/mysqld.sock`.
pub const UNIX_SOCKET_PREFIX: &str = "unix:";

/// Longest Unix socket path, bytes: `sun_path` holds 108 bytes including the final NUL.
pub const MAX_UNIX_SOCKET_PATH: usize = 107;

/// The socket path of a host written `unix:/path`, or `None` for a `host:port` address.
/// The path is not checked here (validation does that).
pub fn unix_socket_path(host: &str) -> Option<&str> {
    host.strip_prefix(UNIX_SOCKET_PREFIX)
}

/// Checks a Unix socket path (from `unix:/path` or `listen_socket`): absolute, no NUL,
/// short enough for `sun_path`. The file itself is not looked at.
fn check_socket_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("missing socket path; expected an absolute path such as \
                    /run/mysqld/mysqld.sock"
            .into());
    }
    if !path.starts_with('/') {
        return Err(format!(
            "socket path `{path}` is not absolute; expected a path starting with `/`"
        ));
    }
    if path.contains('\0') {
        return Err("socket path contains a NUL character".into());
    }
    if path.ends_with('/') {
        return Err(format!("socket path `{path}` names a directory"));
    }
    if path.len() > MAX_UNIX_SOCKET_PATH {
        return Err(format!(
            "socket path is {} bytes long; Unix sockets allow at most {MAX_UNIX_SOCKET_PATH}",
            path.len()
        ));
    }
    Ok(())
}

/// Checks a backend address written as `host:port` (`[v6]:port` for IPv6 literals) or
/// `unix:/path/to/mysqld.sock`.
fn check_host(host: &str) -> Result<(), String> {
    if let Some(path) = unix_socket_path(host) {
        return check_socket_path(path);
    }
    check_tcp_host(host).map_err(|e| {
        if host.starts_with('/') {
            format!("{e}; a Unix socket is written `unix:{host}`")
        } else {
            e.into()
        }
    })
}

/// Checks a backend address written as `host:port` (`[v6]:port` for IPv6 literals).
fn check_tcp_host(host: &str) -> Result<(), &'static str> {
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
        assert_eq!(check_host("unix:/run/mysqld/mysqld.sock"), Ok(()));
        assert_eq!(check_host(&format!("unix:/{}", "s".repeat(106))), Ok(()));
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
            "unix:",
            "unix:mysqld.sock",
            "unix:/tmp/",
            "unix:/tmp/a\0b",
            "/run/mysqld/mysqld.sock",
        ] {
            assert!(check_host(bad).is_err(), "{bad}");
        }
        let long = format!("unix:/{}", "s".repeat(107));
        assert!(check_host(&long).is_err_and(|e| e.contains("at most 107")));
        assert!(
            check_host("unix:run/mysqld.sock").is_err_and(|e| e.contains("not absolute")),
            "relative paths are refused"
        );
        assert!(
            check_host("/run/mysqld/mysqld.sock").is_err_and(|e| e.contains("unix:/run")),
            "a bare path gets a hint"
        );
        assert_eq!(unix_socket_path("unix:/a.sock"), Some("/a.sock"));
        assert_eq!(unix_socket_path("db1:3306"), None);
    }
}
