//! The YAML model of a myshard configuration, exactly as written by the operator.
//!
//! Only shape and defaults live here; cross-field rules (unknown group names, duplicate
//! names, empty host lists) are checked in `validate`.

use std::fmt;

use serde::Deserialize;

/// Shown instead of a password wherever a model value is formatted with `{:?}`.
const REDACTED: &str = "<redacted>";

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the MySQL protocol listener binds, e.g. `127.0.0.1:3307`.
    pub listen: String,
    /// Clients beyond this many concurrent connections are refused with error 1040.
    #[serde(default = "default_max_client_connections")]
    pub max_client_connections: usize,
    /// Largest client packet accepted, in bytes (MySQL's `max_allowed_packet`).
    #[serde(default = "default_max_allowed_packet")]
    pub max_allowed_packet: usize,
    /// Version string announced to clients before any backend has been reached.
    /// Once a backend answers, its own version string is used.
    #[serde(default)]
    pub server_version: Option<String>,
    /// Accounts clients log in with.
    pub users: Vec<User>,
    /// Replication groups of backend hosts.
    pub groups: Vec<Group>,
    /// Logical schemas clients can `USE`.
    pub schemas: Vec<Schema>,
}

/// A client account of the proxy. Its `Debug` output never shows the password.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Plain-text password; the proxy needs it to verify both auth plugins.
    #[serde(default)]
    pub password: String,
    /// Logical schemas this user may use.
    pub schemas: Vec<String>,
}

/// A replication group: hosts that hold the same shards. Its `Debug` output never shows the
/// password.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Group name referenced by schemas.
    pub name: String,
    /// Account the proxy uses on this group's hosts.
    pub user: String,
    /// Password of that account.
    #[serde(default)]
    pub password: String,
    /// Candidates for the active write host, in priority order (`host:port`).
    pub write_hosts: Vec<String>,
    /// Replicas that serve reads (`host:port`).
    #[serde(default)]
    pub read_hosts: Vec<String>,
    /// Backend connection pool settings for each host of this group.
    #[serde(default)]
    pub pool: Pool,
}

/// Backend connection pool settings, per host.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Pool {
    /// Connections opened at start and kept open.
    pub min: usize,
    /// Hard upper bound of connections to one host.
    pub max: usize,
    /// Time allowed to open one backend connection, milliseconds.
    pub connect_timeout_ms: u64,
    /// Idle connections above `min` are closed after this long, milliseconds.
    pub idle_timeout_ms: u64,
    /// A connection idle for longer than this is pinged before it is handed out, milliseconds.
    pub check_after_idle_ms: u64,
    /// How long a statement waits for a free connection when the pool is full, milliseconds.
    pub checkout_timeout_ms: u64,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            min: 0,
            max: 64,
            connect_timeout_ms: 3_000,
            idle_timeout_ms: 600_000,
            check_after_idle_ms: 5_000,
            checkout_timeout_ms: 10_000,
        }
    }
}

/// A logical schema. At this stage every schema is unsharded: it lives in one physical
/// database on one group.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Name clients use (`USE shop`).
    pub name: String,
    /// Group holding the schema.
    pub group: String,
    /// Physical database name on that group; defaults to the logical name.
    #[serde(default)]
    pub database: Option<String>,
}

impl Config {
    /// The account named `name` (case-sensitive).
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|user| user.name == name)
    }

    /// The logical schema named `name`; case-sensitive, like MySQL database names on Linux.
    pub fn schema(&self, name: &str) -> Option<&Schema> {
        self.schemas.iter().find(|schema| schema.name == name)
    }

    /// The replication group named `name` (case-sensitive).
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|group| group.name == name)
    }
}

impl User {
    /// Whether this user may use logical schema `schema`; the entry `*` allows every schema.
    pub fn may_use(&self, schema: &str) -> bool {
        self.schemas
            .iter()
            .any(|allowed| allowed == "*" || allowed == schema)
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("password", &REDACTED)
            .field("schemas", &self.schemas)
            .finish()
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("name", &self.name)
            .field("user", &self.user)
            .field("password", &REDACTED)
            .field("write_hosts", &self.write_hosts)
            .field("read_hosts", &self.read_hosts)
            .field("pool", &self.pool)
            .finish()
    }
}

impl Schema {
    /// The physical database this schema maps to.
    pub fn physical_database(&self) -> &str {
        self.database.as_deref().unwrap_or(&self.name)
    }
}

fn default_max_client_connections() -> usize {
    10_000
}

fn default_max_allowed_packet() -> usize {
    64 * 1024 * 1024
}
