//! A backend host as the data path sees it: one object per address, owning its connection
//! pools (one per set of connection flags, all under one connection limit) and carrying the
//! state the control plane gives it.
//!
//! A host that does not serve (down, draining, fenced) refuses checkouts with an error that
//! says nothing was sent, so a retry elsewhere is safe. Its pools are kept, so that it can
//! come back without losing its settings; maintenance skips it.

use crate::backend::conn::{ConnFlags, HostTarget};
use crate::backend::pool::{HostPool, PoolSettings};
use crate::error::SqlError;
use hashbrown::HashMap;
use myshard_config::Group;
use myshard_failover::{HostState, HostStatus};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Identifies a host object for the life of the proxy (caches are keyed by it: an address
/// can come back as a new host with other credentials).
static NEXT_HOST_ID: AtomicU64 = AtomicU64::new(1);

/// How the proxy logs in to a host; a change makes a new host object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLogin {
    /// Account on the backend.
    pub user: String,
    /// Its password (never logged).
    pub password: String,
    /// Time allowed to connect and authenticate.
    pub connect_timeout: Duration,
}

impl HostLogin {
    /// The login the hosts of `group` use.
    pub fn of(group: &Group) -> HostLogin {
        HostLogin {
            user: group.user.clone(),
            password: group.password.clone(),
            connect_timeout: Duration::from_millis(group.pool.connect_timeout_ms),
        }
    }
}

/// The pool settings a group's configuration gives its hosts.
pub fn pool_settings(group: &Group) -> PoolSettings {
    let p = &group.pool;
    PoolSettings {
        min: p.min,
        max: p.max,
        idle_timeout: Duration::from_millis(p.idle_timeout_ms),
        check_after_idle: Duration::from_millis(p.check_after_idle_ms),
        checkout_timeout: Duration::from_millis(p.checkout_timeout_ms),
        check_timeout: Duration::from_millis(p.check_timeout_ms.max(1)),
    }
}

/// One backend host.
#[derive(Debug)]
pub struct Host {
    id: u64,
    addr: Arc<str>,
    login: HostLogin,
    settings: Mutex<PoolSettings>,
    status: HostStatus,
    /// When the state last changed (or the host was made), ms since the Unix epoch.
    since_ms: AtomicU64,
    pools: Mutex<HashMap<ConnFlags, Arc<HostPool>>>,
    /// Reads sent to this host (for `/metrics`).
    reads: AtomicU64,
}

impl Host {
    /// A serving host at `addr` with the login and pool settings of `group`.
    pub fn new(addr: &str, group: &Group) -> Arc<Host> {
        Arc::new(Host {
            id: NEXT_HOST_ID.fetch_add(1, Ordering::Relaxed),
            addr: Arc::from(addr),
            login: HostLogin::of(group),
            settings: Mutex::new(pool_settings(group)),
            status: HostStatus::new(HostState::Up),
            since_ms: AtomicU64::new(unix_ms()),
            pools: Mutex::new(HashMap::new()),
            reads: AtomicU64::new(0),
        })
    }

    /// Counts a read sent to this host.
    pub fn note_read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads sent to this host so far.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// This host object's identity (not reused by another host object).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// `host:port` or `unix:/path`.
    pub fn addr(&self) -> &Arc<str> {
        &self.addr
    }

    /// How the proxy logs in to it.
    pub fn login(&self) -> &HostLogin {
        &self.login
    }

    /// Its state now.
    pub fn state(&self) -> HostState {
        self.status.state()
    }

    /// The epoch of its last state change.
    pub fn epoch(&self) -> u64 {
        self.status.epoch()
    }

    /// Since when it is in its state (or exists, if that never changed), seconds since the
    /// Unix epoch.
    pub fn since(&self) -> f64 {
        self.since_ms.load(Ordering::Relaxed) as f64 / 1000.0
    }

    /// Puts the host in `state` (the control plane and reload call this). Returns whether
    /// the state changed. Leaving service retires the pools: checkouts fail (nothing sent),
    /// idle connections close now and busy ones when returned; coming back reopens them.
    pub fn set_state(&self, state: HostState) -> bool {
        let changed = self.status.set(state);
        if changed {
            self.since_ms.store(unix_ms(), Ordering::Relaxed);
            for pool in self.pools() {
                if state.serves() {
                    pool.reopen();
                } else {
                    pool.retire(state.name());
                }
            }
        }
        changed
    }

    /// Puts new pool settings in force, in the live pools too (limits and timeouts; the
    /// connect timeout is part of the login, whose change makes a new host object).
    pub fn update_settings(&self, settings: PoolSettings) {
        if let Ok(mut s) = self.settings.lock() {
            if s.min == settings.min
                && s.max == settings.max
                && s.idle_timeout == settings.idle_timeout
                && s.check_after_idle == settings.check_after_idle
                && s.checkout_timeout == settings.checkout_timeout
                && s.check_timeout == settings.check_timeout
            {
                return;
            }
            *s = settings.clone();
        }
        for pool in self.pools() {
            pool.update_settings(settings.clone());
        }
    }

    /// The pool settings in force.
    pub fn settings(&self) -> PoolSettings {
        self.settings
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// The pool for connections with `flags`, made on first use; refused (nothing sent, a
    /// retry elsewhere is safe) while the host does not serve.
    pub fn pool(&self, flags: ConnFlags) -> Result<Arc<HostPool>, SqlError> {
        let state = self.state();
        if !state.serves() {
            return Err(SqlError::host_not_serving(&self.addr, state.name()));
        }
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = pools.get(&flags) {
            return Ok(pool.clone());
        }
        // The pools of one host (one per set of flags) share its connection limit.
        let budget = pools.values().next().map(|p| p.budget().clone());
        let pool = HostPool::sharing(
            HostTarget {
                addr: self.addr.clone(),
                user: self.login.user.clone(),
                password: self.login.password.clone(),
                flags,
                connect_timeout: self.login.connect_timeout,
            },
            self.settings(),
            budget,
        );
        pools.insert(flags, pool.clone());
        Ok(pool)
    }

    /// The pools made so far.
    pub fn pools(&self) -> Vec<Arc<HostPool>> {
        self.pools
            .lock()
            .map(|p| p.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// Milliseconds since the Unix epoch now (0 if the clock is before it).
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The host object for `addr` as `group` configures it: the one in `hosts` with the same
/// address and login, else a new one (added to `hosts`).
pub fn host_for(hosts: &mut Vec<Arc<Host>>, addr: &str, group: &Group) -> Arc<Host> {
    let login = HostLogin::of(group);
    if let Some(h) = hosts.iter().find(|h| &*h.addr == addr && h.login == login) {
        return h.clone();
    }
    let h = Host::new(addr, group);
    hosts.push(h.clone());
    h
}
