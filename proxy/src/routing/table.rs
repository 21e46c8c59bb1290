//! The routing table: the one place that says where a statement goes. It holds the
//! configuration in force, the placement of every shard, for each group the active write
//! host and the read hosts, the gate of every shard, and an epoch. It is published whole
//! through `arc-swap` ([`crate::server::Shared::table`]); a statement loads it once and
//! plans, resolves keys and picks its targets with that one snapshot.

use super::gate::ShardGate;
use super::host::Host;
use super::reads::ReadRotation;
use super::{Intent, Route};
use crate::backend::conn::ConnFlags;
use crate::error::SqlError;
use crate::migration::Placement;
use hashbrown::HashMap;
use myshard_config::{Config, SchemaTopology, Topology};
use std::sync::Arc;

/// The hosts of one replication group.
#[derive(Debug)]
pub struct GroupRoute {
    /// Group name (shared by the routes to it).
    pub name: Arc<str>,
    /// The host taking writes now, if the group has one.
    pub write: Option<Arc<Host>>,
    /// Hosts serving reads (replicas).
    pub reads: Vec<Arc<Host>>,
    /// Where autocommit reads go, by policy and weight.
    pub rotation: ReadRotation,
}

/// A consistent view of where everything is.
#[derive(Debug)]
pub struct RoutingTable {
    /// Increases with every table published.
    pub epoch: u64,
    /// The configuration in force.
    pub config: Arc<Config>,
    /// Where every logical schema's physical databases live: the configuration's
    /// placement with `placement` applied.
    pub topology: Topology,
    /// Shards migrations moved off the group the configuration names.
    pub placement: Arc<Placement>,
    /// In configuration order.
    groups: Vec<GroupRoute>,
    by_group: HashMap<Arc<str>, usize>,
    /// The gate of every physical database.
    gates: HashMap<String, Arc<ShardGate>>,
    /// Whether some group sends reads elsewhere than its write host (else no statement
    /// needs its read intent worked out).
    routes_reads: bool,
}

impl RoutingTable {
    /// The table for `config`, at `epoch`: `active` names each group's active write host
    /// (state the proxy owns: see `crate::failover`), `host` gives the host object for an
    /// address of a group (reusing the running one where nothing changed); gates are
    /// carried over from `previous` for databases it has, so that a closed gate stays closed.
    pub fn build(
        config: Arc<Config>,
        epoch: u64,
        previous: Option<&RoutingTable>,
        active: &dyn Fn(&myshard_config::Group) -> Option<String>,
        host: &mut dyn FnMut(&str, &myshard_config::Group) -> Arc<Host>,
    ) -> RoutingTable {
        let placement = previous.map(|p| p.placement.clone()).unwrap_or_default();
        RoutingTable::build_placed(config, epoch, previous, placement, active, host)
    }

    /// [`RoutingTable::build`] with shards placed by `placement` over the configuration.
    pub fn build_placed(
        config: Arc<Config>,
        epoch: u64,
        previous: Option<&RoutingTable>,
        placement: Arc<Placement>,
        active: &dyn Fn(&myshard_config::Group) -> Option<String>,
        host: &mut dyn FnMut(&str, &myshard_config::Group) -> Arc<Host>,
    ) -> RoutingTable {
        let mut topology = Topology::new(&config);
        for s in placement.shards() {
            // Restoring checked the file against the configuration, and reloads refuse
            // changes of shards, so every moved shard exists.
            if !topology.place(&s.schema, s.shard, &s.group) {
                tracing::error!(
                    "moved shard {} of '{}' is not configured",
                    s.shard,
                    s.schema
                );
            }
        }
        let mut groups = Vec::with_capacity(config.groups.len());
        let mut by_group = HashMap::with_capacity(config.groups.len());
        for g in &config.groups {
            let name: Arc<str> = Arc::from(g.name.as_str());
            let write = active(g).map(|a| host(&a, g));
            let reads: Vec<_> = g.read_hosts.iter().map(|r| host(&r.host, g)).collect();
            let rotation = ReadRotation::of(g, &reads, write.as_ref());
            by_group.entry(name.clone()).or_insert(groups.len());
            groups.push(GroupRoute {
                name,
                write,
                reads,
                rotation,
            });
        }
        let mut gates = HashMap::new();
        for db in topology.physical_databases() {
            let gate = previous
                .and_then(|p| p.gates.get(db.database))
                .cloned()
                .unwrap_or_default();
            gates.insert(db.database.to_string(), gate);
        }
        let routes_reads = groups
            .iter()
            .any(|g| g.rotation.policy != myshard_config::ReadPolicy::Primary);
        RoutingTable {
            epoch,
            config,
            topology,
            placement,
            groups,
            by_group,
            gates,
            routes_reads,
        }
    }

    /// The group named `name`.
    pub fn group(&self, name: &str) -> Option<&GroupRoute> {
        self.by_group.get(name).map(|&i| &self.groups[i])
    }

    /// Whether some group's read policy sends reads elsewhere than its write host.
    pub fn routes_reads(&self) -> bool {
        self.routes_reads
    }

    /// Every group, in configuration order.
    pub fn groups(&self) -> &[GroupRoute] {
        &self.groups
    }

    /// Every host the table routes to (a host of several groups once per group).
    pub fn hosts(&self) -> impl Iterator<Item = &Arc<Host>> {
        self.groups
            .iter()
            .flat_map(|g| g.write.iter().chain(g.reads.iter()))
    }

    /// The gate of physical database `database`.
    pub fn gate(&self, database: &str) -> Option<&Arc<ShardGate>> {
        self.gates.get(database)
    }

    /// Where a statement goes: in logical schema `schema` (none: no schema selected), on
    /// shard `shard` of a sharded schema (none: where statements naming no sharded table
    /// go, the home shard's group), for `intent`, with connections of `flags`. Every route
    /// of the proxy comes from here.
    pub fn target(
        &self,
        schema: Option<&str>,
        shard: Option<u32>,
        intent: Intent,
        flags: ConnFlags,
    ) -> Result<Route, SqlError> {
        let Some(s) = schema else {
            let g = self
                .groups
                .first()
                .ok_or_else(|| SqlError::internal("no groups configured"))?;
            return self.group_route(g, None, intent, flags);
        };
        match self
            .topology
            .schema(s)
            .ok_or_else(|| SqlError::unknown_db(s))?
        {
            SchemaTopology::Unsharded { group, database } => {
                self.route_to(group, Some(database.clone()), intent, flags)
            }
            SchemaTopology::Sharded(sh) => {
                let shard = shard.unwrap_or(sh.home_shard);
                let group = sh.group_of(shard).ok_or_else(|| {
                    SqlError::internal(format!("shard {shard} of '{s}' is not placed"))
                })?;
                let database = self
                    .group_database(s, group)
                    .or_else(|| sh.database(shard).map(str::to_string));
                self.route_to(group, database, intent, flags)
            }
        }
    }

    /// The route to group `group` with `database` selected.
    pub fn route_to(
        &self,
        group: &str,
        database: Option<String>,
        intent: Intent,
        flags: ConnFlags,
    ) -> Result<Route, SqlError> {
        let g = self
            .group(group)
            .ok_or_else(|| SqlError::internal(format!("group '{group}' is not configured")))?;
        self.group_route(g, database, intent, flags)
    }

    fn group_route(
        &self,
        g: &GroupRoute,
        database: Option<String>,
        intent: Intent,
        flags: ConnFlags,
    ) -> Result<Route, SqlError> {
        let host = match intent {
            Intent::Write => None,
            Intent::Read => read_host(g, None)?,
        };
        self.route_on(g, host, database, intent, flags)
    }

    /// Another host for a read whose `failed` route failed before anything reached the
    /// client: another serving candidate of its group, else the write host where the
    /// group's policy lets reads fall back to it (and it was not the one that failed).
    pub fn read_retry(&self, failed: &Route, flags: ConnFlags) -> Result<Route, SqlError> {
        let g = self.group(&failed.group).ok_or_else(|| {
            SqlError::internal(format!("group '{}' is not configured", failed.group))
        })?;
        let host = read_host(g, Some(failed.host.id()))?;
        if host.is_none() && g.write.as_ref().is_some_and(|w| w.id() == failed.host.id()) {
            return Err(SqlError::host_not_serving(
                &format!("the hosts of group '{}'", g.name),
                "not serving",
            ));
        }
        self.route_on(g, host, failed.database.clone(), Intent::Read, flags)
    }

    /// The route to `host` of `g` (none: its write host).
    fn route_on(
        &self,
        g: &GroupRoute,
        host: Option<Arc<Host>>,
        database: Option<String>,
        intent: Intent,
        flags: ConnFlags,
    ) -> Result<Route, SqlError> {
        let host = match host {
            Some(h) => h,
            None => g.write.clone().ok_or_else(|| {
                SqlError::internal(format!("group '{}' has no write host", g.name))
            })?,
        };
        let epoch = host.epoch();
        let pool = host.pool(flags)?;
        Ok(Route {
            group: g.name.clone(),
            host,
            epoch,
            pool,
            database,
            intent,
        })
    }

    /// The database backend connections of sharded schema `schema` select on `group`: the
    /// home shard's there, else the group's first shard. Statements name each table's shard
    /// database explicitly, so this stays the same whatever shard a statement targets and
    /// connections do not switch databases between statements.
    pub fn group_database(&self, schema: &str, group: &str) -> Option<String> {
        let Some(SchemaTopology::Sharded(sh)) = self.topology.schema(schema) else {
            return None;
        };
        let home = sh.home_shard;
        let shard = if sh.group_of(home) == Some(group) {
            Some(home)
        } else {
            sh.shards_of(group).next()
        };
        shard.and_then(|s| sh.database(s)).map(str::to_string)
    }
}

/// The host of `g` a read goes to, other than host `except`: a serving candidate of the
/// group's rotation, or `None` for the write host where the policy allows it; an error
/// (nothing sent, a retry is safe) when the policy allows only read hosts and none serves.
fn read_host(g: &GroupRoute, except: Option<u64>) -> Result<Option<Arc<Host>>, SqlError> {
    if let Some(h) = g.rotation.pick(except) {
        return Ok(Some(h.clone()));
    }
    if g.rotation.falls_back_to_write_host() {
        return Ok(None);
    }
    Err(SqlError::host_not_serving(
        &format!("the read hosts of group '{}'", g.name),
        "not serving",
    ))
}
