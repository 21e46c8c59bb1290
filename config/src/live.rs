//! The configuration snapshot in force, shared by every connection.
//!
//! Readers take an `Arc` of the whole snapshot and keep it for as long as they need a
//! consistent view; a reload swaps in a new snapshot without blocking them. Deciding when to
//! reload, and what to rebuild afterwards, belongs to the proxy.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::model::Config;

/// The configuration currently in force; cheap to read from many tasks at once.
#[derive(Debug)]
pub struct LiveConfig(ArcSwap<Config>);

impl LiveConfig {
    /// Starts with `config` in force.
    pub fn new(config: Config) -> Self {
        LiveConfig(ArcSwap::from_pointee(config))
    }

    /// The snapshot in force now; later `store`s do not change it.
    pub fn load(&self) -> Arc<Config> {
        self.0.load_full()
    }

    /// Puts `config` in force for every later `load`.
    pub fn store(&self, config: Config) {
        self.0.store(Arc::new(config));
    }
}
