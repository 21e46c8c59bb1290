//! What an accepted reload changes, in the terms the proxy acts on: hosts to open, drain or
//! reconfigure, groups whose active write host or pool settings change, accounts and schemas
//! that appear or go.
//!
//! Only describes; applying a plan (pools, routing table swap) belongs to the proxy. Nothing
//! here ever holds or prints a password.

use std::fmt;

use crate::error::Clean;
use crate::model::Pool;

/// Everything an accepted reload changes compared with the running configuration. Lists
/// follow the order of the new file (removals the order of the running one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadPlan {
    /// Hosts (group, address) in the new file only: their pools are to be created.
    pub hosts_added: Vec<HostRef>,
    /// Hosts (group, address) of the running configuration that the new file drops: they
    /// are to drain. A host moved to another group is removed from one and added to the other.
    pub hosts_removed: Vec<HostRef>,
    /// Hosts kept in their group whose settings change; the others keep their pools and
    /// connections untouched.
    pub hosts_changed: Vec<HostChange>,
    /// Groups whose active write host (the first of `write_hosts`) changes.
    pub write_host_switches: Vec<WriteHostSwitch>,
    /// Groups whose per-host pool settings change.
    pub pool_changes: Vec<PoolChange>,
    /// Groups in the new file only.
    pub groups_added: Vec<String>,
    /// Groups the new file drops (no schema of the running configuration used them, or the
    /// reload would have been refused).
    pub groups_removed: Vec<String>,
    /// Accounts in the new file only.
    pub users_added: Vec<String>,
    /// Accounts the new file drops: they can no longer log in.
    pub users_removed: Vec<String>,
    /// Accounts whose password, schemas or rights change (for connections made after the
    /// reload).
    pub users_changed: Vec<String>,
    /// Logical schemas in the new file only.
    pub schemas_added: Vec<String>,
    /// Existing logical schemas whose routing rules change without moving any data: new
    /// tables, `allow_full_scan_writes`.
    pub schemas_changed: Vec<String>,
    /// Tables newly listed in an existing sharded schema, by schema then table name.
    pub tables_added: Vec<TableRef>,
    /// Top-level settings that change: `max_client_connections`, `max_allowed_packet`,
    /// `merge`, `limits`, `server_version`.
    pub settings_changed: Vec<&'static str>,
}

/// A backend host as the configuration names it: an address in a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRef {
    /// The group it belongs to.
    pub group: String,
    /// `host:port` or `unix:/path`, as written.
    pub address: String,
    /// Whether it is a write host candidate, a read host, or listed as both.
    pub role: HostRole,
}

/// Which lists of its group a host is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostRole {
    /// In `write_hosts` only.
    Write,
    /// In `read_hosts` only.
    Read,
    /// In both lists.
    WriteAndRead,
}

/// A host kept in its group whose settings change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostChange {
    /// The host, with its role in the new file.
    pub host: HostRef,
    /// What changes, at least one item.
    pub changes: Vec<HostSetting>,
}

/// One setting of a host that a reload changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostSetting {
    /// The group's backend account (`user` or `password`): pooled connections are logged in
    /// with the old one and should be replaced.
    Account,
    /// The group's pool settings.
    Pool,
    /// The host moves between `write_hosts` and `read_hosts`.
    Role {
        /// Its role in the running configuration.
        from: HostRole,
    },
}

/// A group whose active write host changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteHostSwitch {
    /// The group.
    pub group: String,
    /// The active write host of the running configuration.
    pub from: String,
    /// The active write host of the new file.
    pub to: String,
}

/// A group whose pool settings change (they apply to each of its hosts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolChange {
    /// The group.
    pub group: String,
    /// Settings of the running configuration.
    pub from: Pool,
    /// Settings of the new file.
    pub to: Pool,
}

/// A table of a sharded schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// The logical schema.
    pub schema: String,
    /// The table.
    pub table: String,
}

impl ReloadPlan {
    /// Whether the new file changes nothing the proxy acts on.
    pub fn is_empty(&self) -> bool {
        *self == ReloadPlan::default()
    }
}

impl fmt::Display for HostRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostRole::Write => "write host",
            HostRole::Read => "read host",
            HostRole::WriteAndRead => "write and read host",
        })
    }
}

impl fmt::Display for HostRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.group, self.address, self.role)
    }
}

impl fmt::Display for HostSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostSetting::Account => f.write_str("backend account"),
            HostSetting::Pool => f.write_str("pool"),
            HostSetting::Role { from } => write!(f, "was {from}"),
        }
    }
}

/// One log line: `reload: hosts added: g2 db5:3306 (read host); write host of g1: a → b; …`,
/// or `reload: no changes`.
impl fmt::Display for ReloadPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        let mut list = |label: &str, items: Vec<String>| {
            if !items.is_empty() {
                parts.push(format!("{label}: {}", items.join(", ")));
            }
        };
        let names = |items: &[String]| items.to_vec();
        list("groups added", names(&self.groups_added));
        list("groups removed", names(&self.groups_removed));
        list("hosts added", strings(&self.hosts_added));
        list("hosts removed", strings(&self.hosts_removed));
        list(
            "hosts changed",
            self.hosts_changed
                .iter()
                .map(|change| format!("{} [{}]", change.host, strings(&change.changes).join(", ")))
                .collect(),
        );
        list(
            "active write host",
            self.write_host_switches
                .iter()
                .map(|s| format!("{} {} → {}", s.group, s.from, s.to))
                .collect(),
        );
        list(
            "pool settings",
            self.pool_changes.iter().map(|p| p.group.clone()).collect(),
        );
        list("users added", names(&self.users_added));
        list("users removed", names(&self.users_removed));
        list("users changed", names(&self.users_changed));
        list("schemas added", names(&self.schemas_added));
        list("schemas changed", names(&self.schemas_changed));
        list(
            "tables added",
            self.tables_added
                .iter()
                .map(|t| format!("{}.{}", t.schema, t.table))
                .collect(),
        );
        list(
            "settings changed",
            self.settings_changed
                .iter()
                .map(|s| s.to_string())
                .collect(),
        );
        if parts.is_empty() {
            f.write_str("reload: no changes")
        } else {
            // Names come from the file: escape control characters so one plan stays one line.
            write!(f, "reload: {}", Clean(&parts.join("; ")))
        }
    }
}

fn strings<T: fmt::Display>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}
