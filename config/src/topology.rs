//! The topology derived from a validated configuration: for every logical schema, where
//! each of its physical databases lives and how each of its tables is spread. Built once per
//! configuration so that the router and the proxy look things up without re-reading YAML
//! shapes (shard lists, name patterns, defaults).

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::ConfigErrors;
use crate::model::{Config, Schema, Table};
use crate::sharding::{
    DEFAULT_COLLATION, DEFAULT_DATABASE_PATTERN, DatabasePattern, KeyType, MAX_SHARDS,
    supported_collation,
};
use crate::validate::validate;

/// Every logical schema of a configuration, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    /// In configuration order.
    schemas: Vec<(String, SchemaTopology)>,
    by_name: HashMap<String, usize>,
    /// Whether some schema is sharded or renamed (see [`Topology::renames_schemas`]).
    renames: bool,
    /// The configuration's limits (the router reads the planning ones).
    limits: crate::model::Limits,
}

/// Where one logical schema lives.
#[derive(Debug, Clone, PartialEq)]
pub enum SchemaTopology {
    /// One physical database on one group.
    Unsharded {
        /// The group holding it.
        group: Arc<str>,
        /// The physical database.
        database: String,
    },
    /// Pre-split physical databases spread over groups.
    Sharded(ShardedSchema),
}

/// A sharded logical schema, resolved: one physical database and one group per shard, and
/// the rule of every listed table.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardedSchema {
    /// Number of shards (1 to 65536); shards are numbered from 0.
    pub shards: u32,
    /// Physical database of each shard, indexed by shard number.
    pub databases: Vec<String>,
    /// Group holding each shard, indexed by shard number.
    pub groups: Vec<Arc<str>>,
    /// The shard holding tables not listed in `tables`.
    pub home_shard: u32,
    /// Schema-wide default: UPDATE/DELETE without the shard key may go to every shard.
    pub allow_full_scan_writes: bool,
    /// Sharded and global tables by name (case-sensitive); tables not listed are unsharded
    /// and live on the home shard.
    pub tables: HashMap<String, TableRule>,
}

/// How one listed table of a sharded schema is spread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableRule {
    /// Rows are placed by `hash(key) mod shards`.
    Sharded {
        /// The shard key column.
        key: String,
        /// The key column's type, with DECIMAL precision and scale and DATETIME fractional
        /// seconds precision: how the key is hashed.
        key_type: KeyType,
        /// Collation string keys are compared under (canonical lower-case name, one of
        /// [`SUPPORTED_COLLATIONS`](crate::SUPPORTED_COLLATIONS)); `None` for other key
        /// types.
        collation: Option<&'static str>,
        /// Whether UPDATE/DELETE without the key may go to every shard (the table's own
        /// setting, else the schema's).
        allow_full_scan_writes: bool,
    },
    /// A copy on every shard: reads go to one shard, writes to all.
    Global,
}

/// One physical database of the configuration and where it lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhysicalDatabase<'a> {
    /// Logical schema it belongs to.
    pub schema: &'a str,
    /// Shard number, for sharded schemas.
    pub shard: Option<u32>,
    /// Group holding it.
    pub group: &'a str,
    /// Physical database name.
    pub database: &'a str,
}

impl Topology {
    /// The topology of `config`, which should have passed validation ([`crate::load`] and
    /// [`crate::parse`] only return valid configurations). A schema that is not valid anyway
    /// is left out, so lookups of it fail instead of routing anywhere wrong.
    pub fn new(config: &Config) -> Topology {
        let mut schemas = Vec::with_capacity(config.schemas.len());
        let mut by_name = HashMap::with_capacity(config.schemas.len());
        for schema in &config.schemas {
            if by_name.contains_key(&schema.name) {
                continue;
            }
            if let Some(resolved) = resolve(config, schema) {
                by_name.insert(schema.name.clone(), schemas.len());
                schemas.push((schema.name.clone(), resolved));
            }
        }
        let renames = schemas.iter().any(|(name, schema)| match schema {
            SchemaTopology::Sharded(_) => true,
            SchemaTopology::Unsharded { database, .. } => database != name,
        });
        Topology {
            schemas,
            by_name,
            renames,
            limits: config.limits.clone(),
        }
    }

    /// The configuration's `limits` section.
    pub fn limits(&self) -> &crate::model::Limits {
        &self.limits
    }

    /// Whether some logical schema is sharded or lives in a database of another name, so
    /// that statement text naming it must be rewritten. When none is, statements outside
    /// sharded schemas go to the backend as written (the router skips looking at them).
    pub fn renames_schemas(&self) -> bool {
        self.renames
    }

    /// Validates `config`, then builds its topology.
    pub fn checked(config: &Config) -> Result<Topology, ConfigErrors> {
        validate(config)?;
        Ok(Topology::new(config))
    }

    /// The logical schema named `name` (case-sensitive).
    pub fn schema(&self, name: &str) -> Option<&SchemaTopology> {
        self.by_name.get(name).map(|&i| &self.schemas[i].1)
    }

    /// Every logical schema, in configuration order.
    pub fn schemas(&self) -> impl Iterator<Item = (&str, &SchemaTopology)> {
        self.schemas
            .iter()
            .map(|(name, schema)| (name.as_str(), schema))
    }

    /// Physical database of `shard` of logical schema `schema`; an unsharded schema has only
    /// shard 0.
    pub fn physical_database(&self, schema: &str, shard: u32) -> Option<&str> {
        self.schema(schema)?.database(shard)
    }

    /// Group holding `shard` of logical schema `schema`; an unsharded schema has only
    /// shard 0.
    pub fn group_of(&self, schema: &str, shard: u32) -> Option<&str> {
        self.schema(schema)?.group_of(shard)
    }

    /// Moves `shard` of logical schema `schema` to group `group` (a migration's placement
    /// overriding the configuration's); `false` when the schema or shard does not exist.
    pub fn place(&mut self, schema: &str, shard: u32, group: &str) -> bool {
        let Some(&i) = self.by_name.get(schema) else {
            return false;
        };
        let slot = match &mut self.schemas[i].1 {
            SchemaTopology::Unsharded { group, .. } if shard == 0 => group,
            SchemaTopology::Unsharded { .. } => return false,
            SchemaTopology::Sharded(sh) => match sh.groups.get_mut(shard as usize) {
                Some(slot) => slot,
                None => return false,
            },
        };
        *slot = Arc::from(group);
        true
    }

    /// Every physical database, schema by schema in configuration order, shards in order.
    pub fn physical_databases(&self) -> impl Iterator<Item = PhysicalDatabase<'_>> {
        self.schemas.iter().flat_map(|(name, schema)| {
            let shards = schema.shard_count();
            (0..shards).filter_map(move |shard| {
                Some(PhysicalDatabase {
                    schema: name,
                    shard: schema.is_sharded().then_some(shard),
                    group: schema.group_of(shard)?,
                    database: schema.database(shard)?,
                })
            })
        })
    }
}

impl SchemaTopology {
    /// Whether the schema is sharded.
    pub fn is_sharded(&self) -> bool {
        matches!(self, SchemaTopology::Sharded(_))
    }

    /// Number of shards; 1 for an unsharded schema.
    pub fn shard_count(&self) -> u32 {
        match self {
            SchemaTopology::Unsharded { .. } => 1,
            SchemaTopology::Sharded(sharded) => sharded.shards,
        }
    }

    /// Physical database of `shard` (only shard 0 for an unsharded schema).
    pub fn database(&self, shard: u32) -> Option<&str> {
        match self {
            SchemaTopology::Unsharded { database, .. } => (shard == 0).then_some(database),
            SchemaTopology::Sharded(sharded) => sharded.database(shard),
        }
    }

    /// Group holding `shard` (only shard 0 for an unsharded schema).
    pub fn group_of(&self, shard: u32) -> Option<&str> {
        match self {
            SchemaTopology::Unsharded { group, .. } => (shard == 0).then_some(group),
            SchemaTopology::Sharded(sharded) => sharded.group_of(shard),
        }
    }
}

impl ShardedSchema {
    /// Physical database of `shard`.
    pub fn database(&self, shard: u32) -> Option<&str> {
        self.databases.get(shard as usize).map(String::as_str)
    }

    /// Group holding `shard`.
    pub fn group_of(&self, shard: u32) -> Option<&str> {
        self.groups.get(shard as usize).map(|group| &**group)
    }

    /// The rule of table `name`; `None` for a table not listed, which is unsharded and lives
    /// on [`home_shard`](Self::home_shard).
    pub fn table(&self, name: &str) -> Option<&TableRule> {
        self.tables.get(name)
    }

    /// The shards held by `group`, in order.
    pub fn shards_of<'a>(&'a self, group: &'a str) -> impl Iterator<Item = u32> + 'a {
        (0..self.shards).filter(move |&shard| self.group_of(shard) == Some(group))
    }
}

/// Resolves one schema; `None` if it breaks a rule validation enforces.
fn resolve(config: &Config, schema: &Schema) -> Option<SchemaTopology> {
    if !schema.is_sharded() {
        let group = schema.group.as_deref()?;
        config.group(group)?;
        let database = schema.physical_database();
        if database.contains(['{', '}']) {
            return None;
        }
        return Some(SchemaTopology::Unsharded {
            group: Arc::from(group),
            database: database.to_owned(),
        });
    }
    if schema.group.is_some() {
        return None;
    }
    let shards = schema.shards.filter(|n| (1..=MAX_SHARDS).contains(n))?;
    let home_shard = schema.home_shard.unwrap_or(0);
    if home_shard >= shards {
        return None;
    }
    let pattern = DatabasePattern::parse(
        schema
            .database
            .as_deref()
            .unwrap_or(DEFAULT_DATABASE_PATTERN),
    )
    .ok()
    .filter(DatabasePattern::has_shard)?;
    let mut groups: Vec<Option<Arc<str>>> = vec![None; shards as usize];
    for entry in schema.placement.as_deref()? {
        config.group(&entry.group)?;
        let group: Arc<str> = Arc::from(entry.group.as_str());
        for shard in entry
            .shards
            .ranges(Some(shards))
            .ok()?
            .into_iter()
            .flatten()
        {
            let slot = groups.get_mut(shard as usize)?;
            if slot.is_some() {
                return None;
            }
            *slot = Some(group.clone());
        }
    }
    let groups: Vec<Arc<str>> = groups.into_iter().collect::<Option<_>>()?;
    let allow_full_scan_writes = schema.allow_full_scan_writes.unwrap_or(false);
    let mut tables = HashMap::with_capacity(schema.tables.len());
    for table in &schema.tables {
        let rule = table_rule(table, allow_full_scan_writes)?;
        if tables.insert(table.name.clone(), rule).is_some() {
            return None;
        }
    }
    Some(SchemaTopology::Sharded(ShardedSchema {
        shards,
        databases: (0..shards)
            .map(|shard| pattern.format(&schema.name, shard))
            .collect(),
        groups,
        home_shard,
        allow_full_scan_writes,
        tables,
    }))
}

fn table_rule(table: &Table, schema_allows_full_scan_writes: bool) -> Option<TableRule> {
    match (&table.shard_key, table.global) {
        (None, true) => Some(TableRule::Global),
        (Some(key), false) if !key.is_empty() => {
            let key_type = match &table.key_type {
                None => KeyType::default(),
                Some(text) => KeyType::parse(text).ok()?,
            };
            let collation = match (key_type, &table.collation) {
                (KeyType::String, Some(name)) => Some(supported_collation(name)?),
                (KeyType::String, None) => Some(DEFAULT_COLLATION),
                (_, Some(_)) => return None,
                (_, None) => None,
            };
            Some(TableRule::Sharded {
                key: key.clone(),
                key_type,
                collation,
                allow_full_scan_writes: table
                    .allow_full_scan_writes
                    .unwrap_or(schema_allows_full_scan_writes),
            })
        }
        _ => None,
    }
}
