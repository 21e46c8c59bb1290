//! Switching a group's write host, proxy side: which host of each group takes writes (state
//! the proxy owns and persists, not configuration), the switch itself (fence, hold,
//! promote, persist, publish, release), automatic detection of a dead write host, and the
//! history the status endpoint shows.
//!
//! The work on the servers is a [`Promoter`]'s (`myshard_failover`); the proxy chooses one
//! per group in [`promoter_for`].

mod decision_file;
mod detect;
mod domains;
mod drain;
mod history;
mod hold;
mod rejoin;
mod semi_sync;
mod silence;
mod switch;

pub use decision_file::{Decision, DecisionFile, cluster_identity};
pub use detect::{replicas_confirm, start_detector};
pub use drain::{OpenTransaction, OpenTransactions};
pub use history::{SwitchCounts, SwitchRecord};
pub use rejoin::rejoin;
pub use switch::SwitchError;

use crate::routing::RoutingTable;
use hashbrown::{HashMap, HashSet};
use myshard_config::{Config, Group};
use myshard_failover::Promoter;
use myshard_failover::monitor::{MonitorTarget, Role};
use myshard_failover::promotion::{GtidPromoter, WritableCandidate};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::watch;

/// The promoter of `group`: the one place that chooses it. `promotion: true` promotes the
/// most advanced replica (GTID); `false` moves to the next candidate already writable.
pub fn promoter_for(group: &Group) -> Arc<dyn Promoter> {
    if group.failover.promotion {
        Arc::new(GtidPromoter::default())
    } else {
        Arc::new(WritableCandidate::default())
    }
}

/// A semi-sync sample: the write host it was taken of, and whether the group ran lossless
/// semi-synchronous replication then (or why not).
pub type SemiSyncSample = (String, Result<(), String>);

/// What the proxy decided about its groups' write hosts, shared by its sessions, the
/// detector and the status endpoint.
#[derive(Debug)]
pub struct FailoverState {
    /// Each group's write host as decided by a switch (or the decision file at start);
    /// groups never switched follow their first write host candidate.
    decided: Mutex<HashMap<String, Decision>>,
    /// Former write hosts per group: fenced, never routed to again until an operator acts.
    fenced: Mutex<HashMap<String, HashSet<String>>>,
    /// Where decisions are persisted (none: `state_dir` unset).
    file: Option<DecisionFile>,
    /// One switch at a time per group.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Groups being switched now.
    switching: Mutex<HashSet<String>>,
    /// Bumped whenever a switch starts or ends (held statements watch it).
    changed: watch::Sender<u64>,
    /// When each group last switched (for `min_interval_ms`).
    last_switch: Mutex<HashMap<String, Instant>>,
    /// Groups the GTID domain rule refuses automatic failover, with why.
    domain_refusals: Mutex<HashMap<String, String>>,
    /// The last semi-sync verdict per group, with the write host it was taken of.
    semi_sync_seen: Mutex<HashMap<String, SemiSyncSample>>,
    /// Switches done and refused, for `/status` and `/metrics`.
    pub history: history::History,
    /// Transactions open per write host (a switchover lets them finish first).
    pub open: Arc<OpenTransactions>,
    /// Groups whose switchover waits for their open transactions.
    draining: drain::Draining,
}

impl FailoverState {
    /// No decisions yet and no file: every group starts on its first candidate.
    pub fn new() -> FailoverState {
        FailoverState::with(None, HashMap::new())
    }

    /// The state of `config`: the decisions its `state_dir` holds (an unreadable, corrupt or
    /// foreign decision file is an error naming it).
    pub fn load(config: &Config) -> std::io::Result<FailoverState> {
        Ok(match DecisionFile::open(config)? {
            Some((file, decisions)) => {
                for (group, d) in &decisions {
                    tracing::info!(%group, host = %d.write_host, epoch = d.epoch,
                        "write host from the decision file");
                }
                FailoverState::with(Some(file), decisions)
            }
            None => FailoverState::new(),
        })
    }

    fn with(file: Option<DecisionFile>, decided: HashMap<String, Decision>) -> FailoverState {
        let fenced = decided
            .iter()
            .map(|(g, d)| (g.clone(), d.fenced.iter().cloned().collect()))
            .collect();
        FailoverState {
            decided: Mutex::new(decided),
            fenced: Mutex::new(fenced),
            file,
            locks: Mutex::default(),
            switching: Mutex::default(),
            changed: watch::Sender::new(0),
            last_switch: Mutex::default(),
            domain_refusals: Mutex::default(),
            semi_sync_seen: Mutex::default(),
            history: history::History::default(),
            open: Arc::default(),
            draining: drain::Draining::default(),
        }
    }

    /// The active write host of `group`: the decided one while the configuration still
    /// has it, else the first write host candidate.
    pub fn active_for(&self, group: &Group) -> Option<String> {
        let decided = self.decided.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = decided.get(&group.name)
            && is_host_of(group, &d.write_host)
        {
            return Some(d.write_host.clone());
        }
        group.write_hosts.first().cloned()
    }

    /// The decision of `group`, if a switch made one.
    pub fn decision(&self, group: &str) -> Option<Decision> {
        let decided = self.decided.lock().unwrap_or_else(|e| e.into_inner());
        decided.get(group).cloned()
    }

    /// Forgets decisions and fences of hosts `config` no longer has (a reload removed
    /// them).
    pub fn forget_removed(&self, config: &Config) {
        let mut decided = self.decided.lock().unwrap_or_else(|e| e.into_inner());
        decided.retain(|g, d| {
            config
                .group(g)
                .is_some_and(|g| is_host_of(g, &d.write_host))
        });
        drop(decided);
        let mut fenced = self.fenced.lock().unwrap_or_else(|e| e.into_inner());
        for (g, hosts) in fenced.iter_mut() {
            hosts.retain(|h| config.group(g).is_some_and(|g| is_host_of(g, h)));
        }
    }

    /// Sets every fenced host `table` routes to fenced again (a reload or a switch made a
    /// new host object for it): the monitor never brings them back.
    pub fn apply_fences(&self, table: &RoutingTable) {
        let fenced = self.fenced.lock().unwrap_or_else(|e| e.into_inner());
        for g in table.groups() {
            let Some(hosts) = fenced.get(&*g.name) else {
                continue;
            };
            for h in g.write.iter().chain(g.reads.iter()) {
                if hosts.contains(&**h.addr()) {
                    h.set_state(myshard_failover::HostState::Fenced);
                }
            }
        }
    }

    /// The fenced former write hosts of `group`.
    pub fn fenced_hosts(&self, group: &str) -> Vec<String> {
        let fenced = self.fenced.lock().unwrap_or_else(|e| e.into_inner());
        let mut hosts: Vec<String> = fenced
            .get(group)
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default();
        hosts.sort();
        hosts
    }

    /// Why the GTID domain rule refuses automatic failover of `group`, if it does.
    pub fn domain_refusal(&self, group: &str) -> Option<String> {
        let refusals = self
            .domain_refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        refusals.get(group).cloned()
    }

    fn set_domain_refusals(&self, refusals: HashMap<String, String>) {
        let mut slot = self
            .domain_refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *slot = refusals;
    }

    /// The last semi-sync verdict of `group` taken while `write` was its write host.
    fn semi_sync_seen(&self, group: &str, write: &str) -> Option<Result<(), String>> {
        let seen = self
            .semi_sync_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        seen.get(group)
            .filter(|(w, _)| w == write)
            .map(|(_, v)| v.clone())
    }

    /// The last semi-sync sample of `group`: the write host it was taken of, and whether
    /// the group ran lossless semi-synchronous replication then (or why not).
    pub fn last_semi_sync(&self, group: &str) -> Option<SemiSyncSample> {
        let seen = self
            .semi_sync_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        seen.get(group).cloned()
    }

    fn set_semi_sync_seen(&self, group: &str, write: &str, verdict: Result<(), String>) {
        let mut seen = self
            .semi_sync_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        seen.insert(group.to_owned(), (write.to_owned(), verdict));
    }

    /// Whether `group` is being switched now.
    pub fn is_switching(&self, group: &str) -> bool {
        let switching = self.switching.lock().unwrap_or_else(|e| e.into_inner());
        switching.contains(group)
    }

    /// A receiver woken whenever a switch starts or ends.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn lock_of(&self, group: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(group.to_owned()).or_default().clone()
    }

    fn set_switching(&self, group: &str, on: bool) {
        {
            let mut switching = self.switching.lock().unwrap_or_else(|e| e.into_inner());
            if on {
                switching.insert(group.to_owned());
            } else {
                switching.remove(group);
            }
        }
        self.changed.send_modify(|n| *n += 1);
    }

    fn fence(&self, group: &str, addr: &str) {
        let mut fenced = self.fenced.lock().unwrap_or_else(|e| e.into_inner());
        fenced
            .entry(group.to_owned())
            .or_default()
            .insert(addr.to_owned());
    }

    fn unfence(&self, group: &str, addr: &str) {
        let mut fenced = self.fenced.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hosts) = fenced.get_mut(group) {
            hosts.remove(addr);
        }
    }

    /// Persists every decision with each group's fenced hosts as they are now (a rejoin
    /// lifted a fence).
    fn persist(&self) -> std::io::Result<()> {
        let mut decided = self.decided.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = decided.clone();
        for (group, d) in next.iter_mut() {
            let write = d.write_host.clone();
            d.fenced = self
                .fenced_hosts(group)
                .into_iter()
                .filter(|h| *h != write)
                .collect();
        }
        if let Some(file) = &self.file {
            file.save(&next)?;
        }
        *decided = next;
        Ok(())
    }

    /// Time since `group` last switched, if it did.
    fn since_last_switch(&self, group: &str) -> Option<std::time::Duration> {
        let last = self.last_switch.lock().unwrap_or_else(|e| e.into_inner());
        last.get(group).map(Instant::elapsed)
    }

    /// Records `decision` for `group` and persists every decision (before the new write
    /// host is used). On a write failure nothing changes.
    fn decide(&self, group: &str, mut decision: Decision) -> std::io::Result<()> {
        decision.fenced = self
            .fenced_hosts(group)
            .into_iter()
            .filter(|h| *h != decision.write_host)
            .collect();
        let mut decided = self.decided.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = decided.clone();
        next.insert(group.to_owned(), decision);
        if let Some(file) = &self.file {
            file.save(&next)?;
        }
        *decided = next;
        drop(decided);
        let mut last = self.last_switch.lock().unwrap_or_else(|e| e.into_inner());
        last.insert(group.to_owned(), Instant::now());
        Ok(())
    }
}

impl Default for FailoverState {
    fn default() -> Self {
        FailoverState::new()
    }
}

/// Whether `addr` is a write host candidate or read host of `group`.
fn is_host_of(group: &Group, addr: &str) -> bool {
    group.write_hosts.iter().any(|h| h == addr) || group.read_hosts.iter().any(|r| r.host == addr)
}

/// The health monitor's targets for `table`: each group's active write host (as the table
/// has it, which a switch may have changed) and its other read hosts. A read host that is
/// now the write host is watched as the write host only, so that its replication being
/// stopped (it was promoted) does not take it out of service.
pub fn monitor_targets(table: &RoutingTable) -> Vec<MonitorTarget> {
    let mut targets = MonitorTarget::of_config(&table.config);
    targets.retain_mut(|t| {
        let Some(write) = table.group(&t.group).and_then(|g| g.write.as_ref()) else {
            return true;
        };
        match t.role {
            Role::Write => {
                t.login.addr = write.addr().to_string();
                true
            }
            Role::Read => t.login.addr != **write.addr(),
        }
    });
    targets
}
