//! The configuration side of hot reload: read and validate the new file, refuse what a
//! running proxy cannot change, and describe what it can as a [`ReloadPlan`].
//!
//! A reload may change accounts, limits, pool settings, host lists and the active write
//! host, merge and log settings, and add groups, schemas and tables. It may not move existing
//! data (shard counts, placement, physical database names, how a table's rows hash to
//! shards, where an unsharded schema lives: that is migration's job), remove a schema, or
//! rebind the listener (a restart is needed). Applying the plan, and deciding when to
//! reload, belong to the proxy; nothing here opens sockets or touches pools.

mod changes;
mod plan;
mod refuse;

use std::fmt;
use std::path::Path;

pub use plan::{
    HostChange, HostRef, HostRole, HostSetting, PoolChange, ReloadPlan, TableRef, WriteHostSwitch,
};

use crate::error::{ConfigError, ConfigErrors};
use crate::lines::LineIndex;
use crate::load::parse;
use crate::model::Config;

/// Why a reload refuses a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// The change would move existing data; that is migration's job.
    Migration,
    /// The change needs a restart (the listener, removing a schema).
    Restart,
}

/// One change of the new file that a reload does not make. The running configuration stays
/// in force as a whole when there is any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadRefusal {
    /// YAML path in the new file, e.g. `schemas[1].placement`.
    pub path: String,
    /// 1-based line of `path` in the new file, when known ([`compare`] has no file: `None`).
    pub line: Option<usize>,
    /// Whether migration or a restart is the way to make the change.
    pub reason: RefusalReason,
    /// What would change, and why a reload does not do it.
    pub message: String,
}

impl fmt::Display for ReloadRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The same `line N: path: message` layout (and escaping) as validation errors.
        fmt::Display::fmt(&self.as_config_error(), f)
    }
}

impl ReloadRefusal {
    fn as_config_error(&self) -> ConfigError {
        ConfigError::new(self.path.clone(), self.line, self.message.clone())
    }
}

/// Why a reload left the running configuration in force.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReloadError {
    /// The new file cannot be read or is not a valid configuration; the errors are those
    /// [`load`](crate::load) reports, with path and line.
    #[error(
        "configuration not reloaded, the running one stays in force; the new file is not \
         valid:\n{0}"
    )]
    Invalid(ConfigErrors),
    /// The new file is valid but changes what a reload cannot change.
    #[error(
        "configuration not reloaded, the running one stays in force; the new file changes \
         what a reload cannot:\n{}",
        ConfigErrors::new(file.clone(), refusals.iter().map(ReloadRefusal::as_config_error).collect())
    )]
    Refused {
        /// The new file, as given.
        file: String,
        /// Every refused change, in file order.
        refusals: Vec<ReloadRefusal>,
    },
}

/// Compares the running configuration with a new one, both valid: the plan of what changes,
/// or every change a reload refuses (placement of existing shards, the listener, removed
/// schemas), each saying why. Refusals carry paths in `new` but no lines.
pub fn compare(running: &Config, new: &Config) -> Result<ReloadPlan, Vec<ReloadRefusal>> {
    let running_topology = running.topology();
    let new_topology = new.topology();
    let mut refusals = refuse::Refusals { list: Vec::new() };
    refusals.listener(running, new);
    refusals.schemas(new, &running_topology, &new_topology);
    if !refusals.list.is_empty() {
        return Err(refusals.list);
    }
    Ok(changes::plan(
        running,
        new,
        &running_topology,
        &new_topology,
    ))
}

/// Reads the file at `path` for a reload of `running`: the new configuration and its plan,
/// or why the running configuration stays (the file's validation errors, or the refused
/// changes located by path and line in the file).
pub fn load_for_reload(path: &Path, running: &Config) -> Result<(Config, ReloadPlan), ReloadError> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse_for_reload(&text, &file, running),
        Err(err) => Err(ReloadError::Invalid(ConfigErrors::one(
            file,
            ConfigError::new("", None, format!("cannot read configuration: {err}")),
        ))),
    }
}

/// Like [`load_for_reload`] for configuration `text`; `source` names it in errors (a file
/// name, or something like `<admin reload>`).
pub fn parse_for_reload(
    text: &str,
    source: &str,
    running: &Config,
) -> Result<(Config, ReloadPlan), ReloadError> {
    let new = parse(text, source).map_err(ReloadError::Invalid)?;
    match compare(running, &new) {
        Ok(plan) => Ok((new, plan)),
        Err(mut refusals) => {
            let index = LineIndex::build(text);
            for refusal in &mut refusals {
                refusal.line = index.line_of(&refusal.path);
            }
            // In file order, like validation errors; `None` (never expected) first.
            refusals.sort_by_key(|refusal| refusal.line);
            Err(ReloadError::Refused {
                file: source.to_owned(),
                refusals,
            })
        }
    }
}
