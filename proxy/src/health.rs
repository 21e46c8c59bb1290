//! The health monitor's link to the routing table: the monitor (failover crate) runs the
//! heartbeats and decides states; this module finds the host objects it means in the table
//! in force and sets their state, starts the monitor with the proxy and restarts it after a
//! reload.
//!
//! Only *down* applies to a group's write host: a primary has no replication to catch up
//! with, so *catching up* leaves it serving writes. Hosts a reload drains, and fenced hosts,
//! are left as they are: the monitor never brings them back.

use crate::routing::Host;
use crate::server::Shared;
use myshard_failover::HostState;
use myshard_failover::monitor::{HostRecord, HostStates, Monitor, MonitorTarget, Role};
use std::sync::{Arc, Weak};

/// Sets host states in the routing table of a proxy (held weakly: a stopped proxy's monitor
/// changes nothing).
struct TableStates {
    shared: Weak<Shared>,
}

impl TableStates {
    fn host(&self, target: &MonitorTarget) -> Option<Arc<Host>> {
        let shared = self.shared.upgrade()?;
        let table = shared.table();
        let group = table.group(&target.group)?;
        let mut hosts = match target.role {
            Role::Write => Box::new(group.write.iter()) as Box<dyn Iterator<Item = _>>,
            Role::Read => Box::new(group.reads.iter()),
        };
        hosts.find(|h| **h.addr() == *target.login.addr).cloned()
    }
}

impl HostStates for TableStates {
    fn set(&self, target: &MonitorTarget, state: HostState) {
        let Some(host) = self.host(target) else {
            return;
        };
        if matches!(host.state(), HostState::Draining | HostState::Fenced) {
            return;
        }
        let state = match (target.role, state) {
            (Role::Write, HostState::CatchingUp) => HostState::Up,
            (_, state) => state,
        };
        host.set_state(state);
    }

    fn current(&self, target: &MonitorTarget) -> Option<HostState> {
        self.host(target).map(|h| h.state())
    }
}

impl Shared {
    /// Starts the health monitor for every host of the routing table in force, replacing a
    /// running one (whose records are kept for hosts still monitored). Needs a tokio runtime.
    pub fn start_monitor(self: &Arc<Shared>) {
        let mut slot = self.monitor.lock().unwrap_or_else(|e| e.into_inner());
        let previous = slot.take().map(|m| {
            m.stop();
            m.snapshot()
        });
        let targets = crate::failover::monitor_targets(&self.table());
        let states = Arc::new(TableStates {
            shared: Arc::downgrade(self),
        });
        *slot = Some(Monitor::start(
            targets,
            states,
            previous.as_deref().unwrap_or(&[]),
        ));
    }

    /// Restarts a running health monitor for the routing table in force now (after a
    /// reload changed hosts or heartbeat settings); does nothing when none runs or outside a
    /// tokio runtime (the running one then stays).
    pub fn restart_monitor(&self) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let mut slot = self.monitor.lock().unwrap_or_else(|e| e.into_inner());
        let Some(old) = slot.take() else {
            return;
        };
        old.stop();
        let targets = crate::failover::monitor_targets(&self.table());
        *slot = Some(Monitor::start(targets, old.states(), &old.snapshot()));
    }

    /// Stops the health monitor, if running; host states stay as they are.
    pub fn stop_monitor(&self) {
        let monitor = self
            .monitor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(m) = monitor {
            m.stop();
        }
    }

    /// What the health monitor knows about every monitored host (empty when it does not
    /// run), for the status endpoint.
    pub fn host_records(&self) -> Vec<HostRecord> {
        self.monitor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(Monitor::snapshot)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use myshard_config::Config;

    fn shared() -> Arc<Shared> {
        let yaml = "listen: 127.0.0.1:0
users: []
groups:
  - {name: g0, user: u, password: p, write_hosts: ['10.0.0.1:3306'], read_hosts: ['10.0.0.2:3306']}
schemas: []
";
        let config: Config = myshard_config::parse(yaml, "test").unwrap_or_else(|e| panic!("{e}"));
        Shared::new(config)
    }

    fn target(shared: &Shared, role: Role) -> MonitorTarget {
        MonitorTarget::of_config(&shared.config())
            .into_iter()
            .find(|t| t.role == role)
            .unwrap_or_else(|| panic!("no {role:?} target"))
    }

    fn state(shared: &Shared, addr: &str) -> HostState {
        let table = shared.table();
        let host = table.hosts().find(|h| &**h.addr() == addr).cloned();
        host.map(|h| h.state())
            .unwrap_or_else(|| panic!("no host {addr}"))
    }

    #[test]
    fn only_down_applies_to_the_write_host() {
        let shared = shared();
        let states = TableStates {
            shared: Arc::downgrade(&shared),
        };
        let (write, read) = (target(&shared, Role::Write), target(&shared, Role::Read));
        states.set(&write, HostState::CatchingUp);
        assert_eq!(state(&shared, "10.0.0.1:3306"), HostState::Up);
        states.set(&read, HostState::CatchingUp);
        assert_eq!(state(&shared, "10.0.0.2:3306"), HostState::CatchingUp);
        assert_eq!(states.current(&read), Some(HostState::CatchingUp));
        states.set(&write, HostState::Down);
        assert_eq!(state(&shared, "10.0.0.1:3306"), HostState::Down);
        states.set(&write, HostState::Up);
        assert_eq!(state(&shared, "10.0.0.1:3306"), HostState::Up);
    }

    #[test]
    fn drained_and_fenced_hosts_are_left_alone() {
        let shared = shared();
        let states = TableStates {
            shared: Arc::downgrade(&shared),
        };
        let read = target(&shared, Role::Read);
        for held in [HostState::Draining, HostState::Fenced] {
            let table = shared.table();
            let host = table
                .hosts()
                .find(|h| &**h.addr() == "10.0.0.2:3306")
                .cloned();
            let host = host.unwrap_or_else(|| panic!("no read host"));
            host.set_state(held);
            states.set(&read, HostState::Up);
            assert_eq!(host.state(), held);
        }
        // A stopped proxy's monitor changes nothing.
        let write = target(&shared, Role::Write);
        drop(shared);
        states.set(&write, HostState::Down);
        assert_eq!(states.current(&write), None);
    }
}
