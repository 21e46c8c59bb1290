//! The rules of what a reload may not change: where existing data lives (placement, shard
//! counts, physical database names, how rows hash to shards) and the listener.
//!
//! Moving data is migration's job, and a reload that pretended to do it would route
//! statements to databases that do not hold the rows. Every rule that fails adds one
//! refusal naming the YAML path in the new file and saying why and what to do instead.

use std::collections::BTreeMap;

use crate::lines::{index_path, key_path};
use crate::model::{Config, Table};
use crate::sharding::format_shards;
use crate::topology::{SchemaTopology, ShardedSchema, TableRule, Topology};

use super::{RefusalReason, ReloadRefusal};

/// Ends every refusal about data placement.
const MIGRATION: &str = "moving data between shards, groups or databases is migration's job; \
                         a reload cannot do it";

/// Collects the refusals of one comparison.
pub(super) struct Refusals {
    pub(super) list: Vec<ReloadRefusal>,
}

impl Refusals {
    fn migration(&mut self, path: String, what: String) {
        self.list.push(ReloadRefusal {
            path,
            line: None,
            reason: RefusalReason::Migration,
            message: format!("{what}: {MIGRATION}"),
        });
    }

    fn restart(&mut self, path: String, what: String) {
        self.list.push(ReloadRefusal {
            path,
            line: None,
            reason: RefusalReason::Restart,
            message: what,
        });
    }

    /// The listener is bound once at start: a reload cannot rebind it.
    pub(super) fn listener(&mut self, running: &Config, new: &Config) {
        if running.listen != new.listen {
            self.restart(
                "listen".into(),
                format!(
                    "the listener address changes (`{}` → `{}`) but a running proxy cannot \
                     rebind it; restart myshard to listen elsewhere",
                    running.listen, new.listen
                ),
            );
        }
        let admin = |c: &Config| c.admin_http.as_ref().map(|a| a.listen.clone());
        if admin(running) != admin(new) {
            let show = |a: &Option<String>| a.as_deref().map_or("off".into(), |a| format!("`{a}`"));
            self.restart(
                "admin_http".into(),
                format!(
                    "the status endpoint address changes ({} → {}) but a running proxy cannot \
                     rebind it; restart myshard to change it (a new token needs no restart)",
                    show(&admin(running)),
                    show(&admin(new))
                ),
            );
        }
        for (key, before, after) in [
            ("state_dir", &running.state_dir, &new.state_dir),
            ("cluster_name", &running.cluster_name, &new.cluster_name),
        ] {
            if before != after {
                let show =
                    |v: &Option<String>| v.as_deref().map_or("none".into(), |v| format!("`{v}`"));
                self.restart(
                    key.into(),
                    format!(
                        "`{key}` changes ({} → {}) but the running proxy keeps its decisions \
                         where it started; restart myshard to change it",
                        show(before),
                        show(after)
                    ),
                );
            }
        }
        if running.listen_socket != new.listen_socket {
            let show = |socket: &Option<String>| match socket {
                Some(path) => format!("`{path}`"),
                None => "none".to_owned(),
            };
            self.restart(
                "listen_socket".into(),
                format!(
                    "the listener socket changes ({} → {}) but a running proxy cannot rebind \
                     it; restart myshard to change it",
                    show(&running.listen_socket),
                    show(&new.listen_socket)
                ),
            );
        }
    }

    /// Every schema of the running configuration must still be there and live where it did.
    pub(super) fn schemas(&mut self, new: &Config, running: &Topology, next: &Topology) {
        for (name, old) in running.schemas() {
            let Some(index) = new.schemas.iter().position(|s| s.name == name) else {
                self.restart(
                    "schemas".into(),
                    format!(
                        "schema `{name}` is missing from the new file; a reload cannot remove a \
                         schema clients may be using (its databases stay on the backends); \
                         restart myshard to remove it"
                    ),
                );
                continue;
            };
            let path = index_path("schemas", index);
            let Some(now) = next.schema(name) else {
                // Only an invalid schema resolves to nothing, and invalid files never get here.
                self.restart(
                    path,
                    format!("schema `{name}` cannot be resolved in the new file"),
                );
                continue;
            };
            match (old, now) {
                (
                    SchemaTopology::Unsharded {
                        group: old_group,
                        database: old_database,
                    },
                    SchemaTopology::Unsharded { group, database },
                ) => {
                    if old_group != group {
                        self.migration(
                            key_path(&path, "group"),
                            format!(
                                "schema `{name}` would move from group `{old_group}` to \
                                 `{group}`"
                            ),
                        );
                    }
                    if old_database != database {
                        self.migration(
                            key_path(&path, "database"),
                            format!(
                                "schema `{name}` would move from database `{old_database}` to \
                                 `{database}`"
                            ),
                        );
                    }
                }
                (SchemaTopology::Sharded(old), SchemaTopology::Sharded(now)) => {
                    self.sharded(&path, name, old, now, &new.schemas[index].tables);
                }
                (SchemaTopology::Unsharded { .. }, SchemaTopology::Sharded(_)) => self.migration(
                    path,
                    format!("schema `{name}` would change from unsharded to sharded"),
                ),
                (SchemaTopology::Sharded(_), SchemaTopology::Unsharded { .. }) => self.migration(
                    path,
                    format!("schema `{name}` would change from sharded to unsharded"),
                ),
            }
        }
    }

    /// `listed` is the schema's `tables` in the new file, to name paths in it.
    fn sharded(
        &mut self,
        path: &str,
        name: &str,
        old: &ShardedSchema,
        now: &ShardedSchema,
        listed: &[Table],
    ) {
        if old.shards != now.shards {
            // Every shard's data and placement would differ: one refusal says it all.
            self.migration(
                key_path(path, "shards"),
                format!(
                    "schema `{name}` would change from {} to {} shards (rows hash to shards \
                     by the shard count)",
                    old.shards, now.shards
                ),
            );
            return;
        }
        self.placement(path, name, old, now);
        self.databases(path, name, old, now);
        if old.home_shard != now.home_shard {
            self.migration(
                key_path(path, "home_shard"),
                format!(
                    "the home shard of schema `{name}` (which holds its unlisted tables) would \
                     change from {} to {}",
                    old.home_shard, now.home_shard
                ),
            );
        }
        self.tables(path, name, old, now, listed);
    }

    /// One refusal per schema listing every shard that would change group.
    fn placement(&mut self, path: &str, name: &str, old: &ShardedSchema, now: &ShardedSchema) {
        let mut moves: BTreeMap<(&str, &str), Vec<u32>> = BTreeMap::new();
        for shard in 0..old.shards {
            if let (Some(from), Some(to)) = (old.group_of(shard), now.group_of(shard))
                && from != to
            {
                moves.entry((from, to)).or_default().push(shard);
            }
        }
        if moves.is_empty() {
            return;
        }
        let list: Vec<String> = moves
            .iter()
            .map(|((from, to), shards)| {
                let noun = if shards.len() == 1 { "shard" } else { "shards" };
                format!(
                    "{noun} {} from group `{from}` to `{to}`",
                    format_shards(shards)
                )
            })
            .collect();
        self.migration(
            key_path(path, "placement"),
            format!(
                "the placement of schema `{name}` would move {}",
                list.join(", ")
            ),
        );
    }

    /// One refusal per schema naming the first renamed shard database and how many follow.
    fn databases(&mut self, path: &str, name: &str, old: &ShardedSchema, now: &ShardedSchema) {
        let renamed: Vec<(u32, &String, &String)> = (0..old.shards)
            .zip(old.databases.iter().zip(&now.databases))
            .filter(|(_, (from, to))| from != to)
            .map(|(shard, (from, to))| (shard, from, to))
            .collect();
        let Some((shard, from, to)) = renamed.first() else {
            return;
        };
        let more = match renamed.len() - 1 {
            0 => String::new(),
            1 => " and 1 more shard".to_owned(),
            n => format!(" and {n} more shards"),
        };
        self.migration(
            key_path(path, "database"),
            format!(
                "the physical databases of schema `{name}` would be renamed (shard {shard}: \
                 `{from}` → `{to}`{more})"
            ),
        );
    }

    /// Listed tables keep their rule: a changed key, key type or collation sends rows to other
    /// shards, and an unlisted table lives on the home shard only.
    fn tables(
        &mut self,
        path: &str,
        name: &str,
        old: &ShardedSchema,
        now: &ShardedSchema,
        listed: &[Table],
    ) {
        let tables_path = key_path(path, "tables");
        let mut names: Vec<&String> = old.tables.keys().collect();
        names.sort();
        for table in names {
            let Some(rule) = old.table(table) else {
                continue;
            };
            let Some(next) = now.table(table) else {
                self.migration(
                    tables_path.clone(),
                    format!(
                        "table `{table}` of schema `{name}` is no longer listed, so its rows \
                         would be looked for on the home shard only"
                    ),
                );
                continue;
            };
            let at = match listed.iter().position(|t| t.name == *table) {
                Some(j) => index_path(&tables_path, j),
                None => tables_path.clone(),
            };
            self.table(&at, name, table, rule, next);
        }
    }

    /// `path` is the table's entry in the new file.
    fn table(&mut self, path: &str, schema: &str, table: &str, old: &TableRule, now: &TableRule) {
        let at = |field: Option<&str>| field.map_or(path.to_owned(), |field| key_path(path, field));
        let what = |change: String| format!("table `{table}` of schema `{schema}`: {change}");
        match (old, now) {
            (TableRule::Global, TableRule::Global) => {}
            (TableRule::Global, TableRule::Sharded { .. }) => self.migration(
                at(None),
                what("would change from global (a copy on every shard) to sharded".into()),
            ),
            (TableRule::Sharded { .. }, TableRule::Global) => self.migration(
                at(None),
                what("would change from sharded to global (a copy on every shard)".into()),
            ),
            (
                TableRule::Sharded {
                    key: old_key,
                    key_type: old_type,
                    collation: old_collation,
                    ..
                },
                TableRule::Sharded {
                    key,
                    key_type,
                    collation,
                    ..
                },
            ) => {
                // Column names are case-insensitive in MySQL: `ID` and `id` hash alike.
                if !old_key.eq_ignore_ascii_case(key) {
                    self.migration(
                        at(Some("shard_key")),
                        what(format!(
                            "the shard key would change from `{old_key}` to `{key}`"
                        )),
                    );
                }
                if old_type != key_type {
                    self.migration(
                        at(Some("key_type")),
                        what(format!(
                            "the key type would change from {} to {} (the shard of a row \
                             depends on how its key is hashed)",
                            old_type, key_type
                        )),
                    );
                }
                if old_collation != collation {
                    self.migration(
                        at(Some("collation")),
                        what(format!(
                            "the key collation would change from {} to {} (string keys are \
                             hashed under it)",
                            old_collation.unwrap_or("none"),
                            collation.unwrap_or("none")
                        )),
                    );
                }
            }
        }
    }
}
