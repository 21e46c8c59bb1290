//! Hot reload: a new configuration file is validated, compared with the one in force, and
//! put in force as a new routing table without closing any client connection.
//!
//! Hosts whose address and login did not change keep their pools and connections (changed
//! pool limits apply to the live pools); hosts no longer routed to drain: they refuse new
//! checkouts, their idle connections close, and the connections in use close when returned.
//! Users, passwords and schemas apply to new logins; sessions keep the account they logged
//! in with. Changes of where an existing shard lives are refused: moving data is migration's
//! job.

use crate::routing::{RoutingTable, host_for, pool_settings};
use crate::server::Shared;
use myshard_config::{Config, ReloadError, ReloadPlan};
use myshard_failover::HostState;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// What a reload did: the epoch of the routing table it put in force and the changes.
#[derive(Debug, Clone)]
pub struct ReloadReport {
    /// The epoch of the routing table put in force.
    pub epoch: u64,
    /// What changed.
    pub plan: ReloadPlan,
}

impl fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "routing table epoch {}: {}", self.epoch, self.plan)
    }
}

impl Shared {
    /// Reads the configuration file at `path` and puts it in force (SIGHUP and the status
    /// endpoint call this). On any error the running configuration stays.
    pub fn reload_from(&self, path: &Path) -> Result<ReloadReport, ReloadError> {
        let _one_at_a_time = self.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.table();
        let result = myshard_config::load_for_reload(path, &old.config)
            .map(|(config, plan)| self.put_in_force(&old, config, plan));
        self.board.record_reload(&result);
        result
    }

    /// Puts `config` in force as a new routing table, unless it is not valid or changes
    /// what a reload may not change.
    pub fn reload(&self, config: Config) -> Result<ReloadReport, ReloadError> {
        let _one_at_a_time = self.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.table();
        let result = myshard_config::validate(&config)
            .map_err(ReloadError::Invalid)
            .and_then(|()| {
                myshard_config::compare(&old.config, &config).map_err(|refusals| {
                    ReloadError::Refused {
                        file: "<reload>".into(),
                        refusals,
                    }
                })
            })
            .map(|plan| self.put_in_force(&old, config, plan));
        self.board.record_reload(&result);
        result
    }

    fn put_in_force(&self, old: &RoutingTable, config: Config, plan: ReloadPlan) -> ReloadReport {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        // Decided write hosts stay unless the new file removed them.
        self.failover.forget_removed(&config);
        let table = RoutingTable::build(
            Arc::new(config),
            old.epoch + 1,
            Some(old),
            &|g| self.failover.active_for(g),
            &mut |a, g| {
                let h = host_for(&mut hosts, a, g);
                h.update_settings(pool_settings(g));
                h
            },
        );
        self.failover.apply_fences(&table);
        for h in table.hosts() {
            // A host drained by an earlier reload and routed to again.
            if h.state() == HostState::Draining {
                h.set_state(HostState::Up);
            }
        }
        for h in hosts.iter() {
            // A fenced former write host stays fenced.
            if !table.hosts().any(|t| Arc::ptr_eq(t, h)) && h.state() != HostState::Fenced {
                h.set_state(HostState::Draining);
            }
        }
        drop(hosts);
        let report = ReloadReport {
            epoch: table.epoch,
            plan,
        };
        self.table.store(Arc::new(table));
        tracing::info!("configuration reloaded: {report}");
        self.restart_monitor();
        report
    }
}
