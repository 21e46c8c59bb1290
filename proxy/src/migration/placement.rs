//! The placement of migrated shards: which group holds a shard when a migration moved it
//! away from the group the configuration names. The routing table applies it over the
//! configuration's placement; it is persisted in `<state_dir>/placement.json` and restored
//! at start. A file that cannot be read, or that belongs to another cluster (another set of
//! groups and schemas), stops the start: routing by a wrong placement would lose writes.

use super::durable::write_atomic;
use myshard_config::{Config, SchemaTopology};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Name of the placement file in the state directory.
pub const PLACEMENT_FILE: &str = "placement.json";

/// Shards placed elsewhere than the configuration says, by (logical schema, shard).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    moved: BTreeMap<(String, u32), String>,
}

/// One moved shard, as the file holds it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PlacedShard {
    /// Logical schema.
    pub schema: String,
    /// Shard number (0 for an unsharded schema).
    pub shard: u32,
    /// Group holding it now.
    pub group: String,
}

/// The placement file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlacementFileBody {
    /// Fingerprint of the cluster the file belongs to (see [`cluster_id`]).
    cluster: String,
    /// Moved shards.
    shards: Vec<PlacedShard>,
}

/// Why a placement cannot be restored or saved.
#[derive(Debug, thiserror::Error)]
pub enum PlacementError {
    /// The file could not be read or written.
    #[error("placement file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a placement file.
    #[error("placement file {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file was written for another set of groups and schemas.
    #[error(
        "placement file {path} belongs to another cluster (cluster {found}, this configuration is {expected})"
    )]
    OtherCluster {
        /// The file.
        path: PathBuf,
        /// Its cluster.
        found: String,
        /// This configuration's.
        expected: String,
    },
}

impl Placement {
    /// The group holding `shard` of `schema` if a migration moved it.
    pub fn group_of(&self, schema: &str, shard: u32) -> Option<&str> {
        self.moved
            .get(&(schema.to_string(), shard))
            .map(String::as_str)
    }

    /// Records that `shard` of `schema` lives on `group`; placing it back on the group
    /// the configuration names removes the override.
    pub fn place(&mut self, config: &Config, schema: &str, shard: u32, group: &str) {
        let configured = config
            .topology()
            .group_of(schema, shard)
            .map(str::to_string);
        if configured.as_deref() == Some(group) {
            self.moved.remove(&(schema.to_string(), shard));
        } else {
            self.moved
                .insert((schema.to_string(), shard), group.to_string());
        }
    }

    /// Every moved shard.
    pub fn shards(&self) -> impl Iterator<Item = PlacedShard> + '_ {
        self.moved
            .iter()
            .map(|((schema, shard), group)| PlacedShard {
                schema: schema.clone(),
                shard: *shard,
                group: group.clone(),
            })
    }

    /// Whether no shard moved.
    pub fn is_empty(&self) -> bool {
        self.moved.is_empty()
    }

    /// Reads the placement of `config`'s state directory; empty when there is none or no
    /// file yet.
    pub fn restore(config: &Config) -> Result<Placement, PlacementError> {
        let Some(dir) = &config.state_dir else {
            return Ok(Placement::default());
        };
        let path = Path::new(dir).join(PLACEMENT_FILE);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Placement::default());
            }
            Err(source) => return Err(PlacementError::Io { path, source }),
        };
        let body: PlacementFileBody =
            serde_json::from_slice(&text).map_err(|e| PlacementError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        let expected = cluster_id(config);
        if body.cluster != expected {
            return Err(PlacementError::OtherCluster {
                path,
                found: body.cluster,
                expected,
            });
        }
        let topology = config.topology();
        let mut placement = Placement::default();
        for s in body.shards {
            let known_shard = topology.group_of(&s.schema, s.shard).is_some();
            let known_group = config.groups.iter().any(|g| g.name == s.group);
            if !known_shard || !known_group {
                return Err(PlacementError::Corrupt {
                    path,
                    reason: format!(
                        "shard {} of schema '{}' on group '{}' is not in the configuration",
                        s.shard, s.schema, s.group
                    ),
                });
            }
            placement.moved.insert((s.schema, s.shard), s.group);
        }
        Ok(placement)
    }

    /// Persists the placement in `config`'s state directory (atomically).
    pub fn save(&self, config: &Config) -> Result<(), PlacementError> {
        let Some(dir) = &config.state_dir else {
            return Err(PlacementError::Io {
                path: PathBuf::from(PLACEMENT_FILE),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no state_dir configured: a placement cannot be persisted",
                ),
            });
        };
        let path = Path::new(dir).join(PLACEMENT_FILE);
        let body = PlacementFileBody {
            cluster: cluster_id(config),
            shards: self.shards().collect(),
        };
        let bytes = serde_json::to_vec_pretty(&body).map_err(|e| PlacementError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        std::fs::create_dir_all(dir)
            .and_then(|()| write_atomic(&path, &bytes))
            .map_err(|source| PlacementError::Io { path, source })
    }
}

/// A fingerprint of the cluster `config` describes: its group names and, per logical
/// schema, the physical databases. A placement file of another cluster must not be applied.
pub fn cluster_id(config: &Config) -> String {
    let mut h = Sha256::new();
    let mut groups: Vec<&str> = config.groups.iter().map(|g| g.name.as_str()).collect();
    groups.sort_unstable();
    for g in groups {
        h.update(b"group\0");
        h.update(g.as_bytes());
        h.update(b"\0");
    }
    let topology = config.topology();
    let mut schemas: Vec<(&str, &SchemaTopology)> = topology.schemas().collect();
    schemas.sort_unstable_by_key(|(name, _)| *name);
    for (name, schema) in schemas {
        h.update(b"schema\0");
        h.update(name.as_bytes());
        for shard in 0..schema.shard_count() {
            h.update(b"\0");
            h.update(schema.database(shard).unwrap_or_default().as_bytes());
        }
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}
