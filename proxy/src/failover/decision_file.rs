//! The persisted decision: each group's active write host after a switch, kept in
//! `<state_dir>/write_hosts.json` so that a restarted proxy keeps writing where the last
//! switch put the writes (never back to a fenced old primary).
//!
//! The file is replaced atomically before a new write host is used: written to a temporary
//! file, synced, renamed over the old one, and the directory synced, so that a crash leaves
//! either the old decision or the new one. At start a file that does not parse, has another
//! format, or belongs to another cluster is refused: the proxy does not start.

use hashbrown::HashMap;
use myshard_config::Config;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The file name inside `state_dir`.
pub const FILE_NAME: &str = "write_hosts.json";

/// The format written (a file of another format is refused).
const FORMAT: u32 = 1;

/// One group's decided write host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// `host:port` of the write host.
    pub write_host: String,
    /// Switches of the group so far (1 after the first).
    pub epoch: u64,
    /// When it was decided, ms since the Unix epoch.
    pub at_unix_ms: u64,
    /// Why: `failover` or `switchover`.
    pub reason: String,
    /// Former write hosts of the group, fenced: they stay fenced after a restart.
    #[serde(default)]
    pub fenced: Vec<String>,
}

/// The whole file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Contents {
    format: u32,
    cluster: String,
    groups: std::collections::BTreeMap<String, Decision>,
}

/// Where the decisions of one cluster are kept.
#[derive(Debug, Clone)]
pub struct DecisionFile {
    path: PathBuf,
    cluster: String,
}

/// The identity written into the file: `cluster_name` when set, else a digest of the group
/// names and their hosts (a file written for other groups or hosts is refused).
pub fn cluster_identity(config: &Config) -> String {
    if let Some(name) = &config.cluster_name {
        return format!("name:{name}");
    }
    let mut hasher = Sha256::new();
    let mut groups: Vec<_> = config.groups.iter().collect();
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    for g in groups {
        let mut hosts: Vec<&str> = g.write_hosts.iter().map(String::as_str).collect();
        hosts.extend(g.read_hosts.iter().map(|r| r.host.as_str()));
        hosts.sort_unstable();
        hasher.update(g.name.as_bytes());
        hasher.update([0]);
        for h in hosts {
            hasher.update(h.as_bytes());
            hasher.update([1]);
        }
        hasher.update([2]);
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("hosts:{hex}")
}

impl DecisionFile {
    /// The decision file of `config` (none without `state_dir`), with the decisions it holds
    /// for groups and hosts the configuration still has. The directory is created if
    /// missing. A file that cannot be read, does not parse or names another cluster is an
    /// error naming the file and why.
    pub fn open(config: &Config) -> io::Result<Option<(DecisionFile, HashMap<String, Decision>)>> {
        let Some(dir) = &config.state_dir else {
            return Ok(None);
        };
        fs::create_dir_all(dir).map_err(|e| {
            io::Error::new(e.kind(), format!("state_dir {dir}: cannot create it: {e}"))
        })?;
        let file = DecisionFile {
            path: Path::new(dir).join(FILE_NAME),
            cluster: cluster_identity(config),
        };
        let decisions = file.load(config)?;
        Ok(Some((file, decisions)))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn refuse(&self, why: impl std::fmt::Display) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "decision file {}: {why}; the proxy does not start rather than guess where \
                 writes go (fix the file, or remove it to start from the configuration's first \
                 write host candidates)",
                self.path.display()
            ),
        )
    }

    fn load(&self, config: &Config) -> io::Result<HashMap<String, Decision>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashMap::new()),
            Err(e) => return Err(self.refuse(format!("cannot read it: {e}"))),
        };
        let contents: Contents = serde_json::from_str(&text)
            .map_err(|e| self.refuse(format!("corrupt (not the expected JSON: {e})")))?;
        if contents.format != FORMAT {
            return Err(self.refuse(format!(
                "format {} is not the format {FORMAT} this proxy writes",
                contents.format
            )));
        }
        if contents.cluster != self.cluster {
            return Err(self.refuse(format!(
                "it belongs to another cluster (`{}`, this configuration is `{}`); set the \
                 same `cluster_name` if the groups or hosts were changed on purpose",
                contents.cluster, self.cluster
            )));
        }
        let mut decisions = HashMap::new();
        for (group, decision) in contents.groups {
            let known = config.group(&group).is_some_and(|g| {
                g.write_hosts.contains(&decision.write_host)
                    || g.read_hosts.iter().any(|r| r.host == decision.write_host)
            });
            if known {
                decisions.insert(group, decision);
            } else {
                tracing::warn!(
                    file = %self.path.display(),
                    %group,
                    host = %decision.write_host,
                    "the decided write host is no longer a host of the group in the configuration; \
                     using the group's first write host candidate"
                );
            }
        }
        Ok(decisions)
    }

    /// Replaces the file with `decisions`, atomically and durably (temporary file, fsync,
    /// rename, fsync of the directory).
    pub fn save(&self, decisions: &HashMap<String, Decision>) -> io::Result<()> {
        let contents = Contents {
            format: FORMAT,
            cluster: self.cluster.clone(),
            groups: decisions
                .iter()
                .map(|(g, d)| (g.clone(), d.clone()))
                .collect(),
        };
        let text = serde_json::to_vec_pretty(&contents).map_err(io::Error::other)?;
        let tmp = self.path.with_extension("json.tmp");
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, name: Option<&str>) -> Config {
        let yaml = format!(
            "listen: 127.0.0.1:0
state_dir: '{}'
users: []
groups:
  - {{name: g0, user: u, write_hosts: ['10.0.0.1:3306', '10.0.0.2:3306']}}
schemas: []
",
            dir.display()
        );
        let mut c = myshard_config::parse(&yaml, "t").unwrap_or_else(|e| panic!("{e}"));
        c.cluster_name = name.map(str::to_owned);
        c
    }

    fn decision(host: &str) -> Decision {
        Decision {
            write_host: host.into(),
            epoch: 1,
            at_unix_ms: 5,
            reason: "failover".into(),
            fenced: vec!["10.0.0.1:3306".into()],
        }
    }

    #[test]
    fn saved_decisions_load_back_and_foreign_or_corrupt_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("myshard-decisions-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let c = config(&dir, None);
        let (file, loaded) = DecisionFile::open(&c)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no file"));
        assert!(loaded.is_empty());
        let mut d = HashMap::new();
        d.insert("g0".to_string(), decision("10.0.0.2:3306"));
        file.save(&d).unwrap_or_else(|e| panic!("{e}"));
        let (_, loaded) = DecisionFile::open(&c)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no file"));
        assert_eq!(loaded.get("g0"), Some(&decision("10.0.0.2:3306")));
        assert!(!dir.join("write_hosts.json.tmp").exists());

        // Another cluster's file.
        let other = config(&dir, Some("other"));
        let e = DecisionFile::open(&other)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert!(e.to_string().contains("another cluster"), "{e}");
        assert!(e.to_string().contains("write_hosts.json"), "{e}");

        // A decided host the configuration no longer has is ignored, not used.
        let mut d = HashMap::new();
        d.insert("g0".to_string(), decision("10.9.9.9:3306"));
        file.save(&d).unwrap_or_else(|e| panic!("{e}"));
        let (_, loaded) = DecisionFile::open(&c)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no file"));
        assert!(loaded.is_empty());

        fs::write(dir.join(FILE_NAME), "{\"format\": 1, \"clus").unwrap_or_else(|e| panic!("{e}"));
        let e = DecisionFile::open(&c)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert!(e.to_string().contains("corrupt"), "{e}");
        let _ = fs::remove_dir_all(&dir);
    }
}
