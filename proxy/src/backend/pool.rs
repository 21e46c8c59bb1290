//! A pool of backend connections to one host (for one set of connection flags, such as
//! CLIENT_FOUND_ROWS).
//!
//! At most `max` connections to the host exist at any time, idle or busy, counted over all
//! its pools (a [`HostBudget`] they share): when the host is full, a checkout closes an idle
//! connection of another of the host's pools rather than exceed the limit. A checkout prefers the
//! connection the same client used last (affinity keeps the backend's caches warm), then
//! one whose session state already matches, then the most recently used. Connections idle
//! for longer than `check_after_idle` are pinged first; idle ones beyond `min` are closed
//! after `idle_timeout`. Connections are opened lazily, so an unreachable host only fails
//! the statements that need it.

use crate::backend::conn::{BackendConn, HostTarget};
use crate::error::SqlError;
use crate::state::SessionVars;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Pool limits and timeouts.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Connections kept open even when idle.
    pub min: usize,
    /// Hard cap of open connections.
    pub max: usize,
    /// Idle connections above `min` are closed after this long.
    pub idle_timeout: Duration,
    /// Idle longer than this → ping before use.
    pub check_after_idle: Duration,
    /// How long a checkout waits when all `max` connections are busy.
    pub checkout_timeout: Duration,
    /// How long a liveness ping or a session state sync may take before the connection
    /// is given up as hung.
    pub check_timeout: Duration,
}

/// The connection limit of one host, shared by its pools.
#[derive(Debug)]
pub struct HostBudget {
    /// Open connections to the host, over all its pools.
    open: AtomicUsize,
    max: usize,
    /// Woken when any of the host's pools gets a connection back or closes one.
    changed: Notify,
    /// One permit per connection that may be checked out at once, handed out first come,
    /// first served: a checkout waiting for a connection is not overtaken by later ones,
    /// and a scatter's extra connections (taken only without waiting) never jump the queue.
    checkouts: Arc<Semaphore>,
    /// The host's pools, to close an idle connection of one when another needs room.
    pools: Mutex<Vec<Weak<HostPool>>>,
}

/// The connections to one host (for one set of connection flags).
#[derive(Debug)]
pub struct HostPool {
    target: HostTarget,
    settings: PoolSettings,
    /// Boxed: a checkout and a return move the connection, and a pointer is cheaper to
    /// move than the whole connection.
    #[allow(clippy::vec_box)]
    idle: Mutex<Vec<Box<BackendConn>>>,
    /// Open connections of this pool.
    open: AtomicUsize,
    budget: Arc<HostBudget>,
}

/// A checked-out connection; it goes back to its pool when dropped (or is closed if it
/// broke).
#[derive(Debug)]
pub struct PooledConn {
    conn: Option<Box<BackendConn>>,
    pool: Arc<HostPool>,
    /// Released after the connection is back in its pool (fields drop after `drop`).
    _permit: OwnedSemaphorePermit,
}

/// Pool counters for the status endpoint and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections, idle or busy.
    pub open: usize,
    /// Idle connections.
    pub idle: usize,
}

impl HostPool {
    /// An empty pool with a host limit of its own; connections open on demand.
    pub fn new(target: HostTarget, settings: PoolSettings) -> Arc<HostPool> {
        Self::sharing(target, settings, None)
    }

    /// An empty pool under `budget`, the limit of another pool of the same host (`None`
    /// for a new limit of `settings.max`).
    pub fn sharing(
        target: HostTarget,
        settings: PoolSettings,
        budget: Option<Arc<HostBudget>>,
    ) -> Arc<HostPool> {
        let budget = budget.unwrap_or_else(|| {
            Arc::new(HostBudget {
                open: AtomicUsize::new(0),
                max: settings.max,
                changed: Notify::new(),
                checkouts: Arc::new(Semaphore::new(settings.max)),
                pools: Mutex::new(Vec::new()),
            })
        });
        let pool = Arc::new(HostPool {
            target,
            settings,
            idle: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
            budget,
        });
        if let Ok(mut pools) = pool.budget.pools.lock() {
            pools.retain(|p| p.strong_count() > 0);
            pools.push(Arc::downgrade(&pool));
        }
        pool
    }

    /// The host limit this pool counts against.
    pub fn budget(&self) -> &Arc<HostBudget> {
        &self.budget
    }

    /// The host this pool connects to.
    pub fn target(&self) -> &HostTarget {
        &self.target
    }

    /// Current counters.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            open: self.open.load(Ordering::Relaxed),
            idle: self.idle.lock().map(|v| v.len()).unwrap_or(0),
        }
    }

    /// Takes a connection for `client`, preferring one whose state matches `wanted`.
    pub async fn checkout(
        self: &Arc<Self>,
        client: u64,
        wanted: &SessionVars,
    ) -> Result<PooledConn, SqlError> {
        match self.checkout_or_not(client, wanted, true).await? {
            Some(conn) => Ok(conn),
            None => Err(SqlError::internal("a waiting checkout came back empty")),
        }
    }

    /// Like [`HostPool::checkout`], but `None` at once when every connection is busy and
    /// the host has no room for another: for the extra connections of a scatter, which
    /// must not wait while holding others (two statements could each hold what the other
    /// waits for).
    pub async fn try_checkout(
        self: &Arc<Self>,
        client: u64,
        wanted: &SessionVars,
    ) -> Result<Option<PooledConn>, SqlError> {
        self.checkout_or_not(client, wanted, false).await
    }

    async fn checkout_or_not(
        self: &Arc<Self>,
        client: u64,
        wanted: &SessionVars,
        wait: bool,
    ) -> Result<Option<PooledConn>, SqlError> {
        let permit = if wait {
            let queue = self.budget.checkouts.clone().acquire_owned();
            match tokio::time::timeout(self.settings.checkout_timeout, queue).await {
                Ok(Ok(p)) => p,
                Ok(Err(_)) => return Err(SqlError::internal("backend pool closed")),
                Err(_) => return Err(self.exhausted()),
            }
        } else {
            match self.budget.checkouts.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => return Ok(None),
            }
        };
        // Only computed when the checkout has to wait.
        let mut deadline = None;
        loop {
            if let Some(mut conn) = self.take_idle(client, wanted) {
                // Counted as open until handed out (also if this checkout is cancelled
                // while it pings).
                let slot = Slot::new(self);
                // A connection the backend closed while it sat idle (a restart, wait_timeout,
                // KILL) is noticed without a round trip; long-idle ones are also pinged.
                if conn.closed_by_peer()
                    || (conn.last_used.elapsed() >= self.settings.check_after_idle
                        && !self.ping(&mut conn).await)
                {
                    continue;
                }
                if wanted.database.is_none() && conn.applied.database.is_some() {
                    // A selected database cannot be unselected: open a fresh connection.
                    drop(conn);
                } else {
                    slot.keep();
                    return Ok(Some(self.wrap(conn, permit)));
                }
            }
            if self.reserve() || (self.evict_other_idle() && self.reserve()) {
                let slot = Slot::new(self);
                let conn = BackendConn::connect(&self.target, wanted.database.as_deref()).await?;
                slot.keep();
                return Ok(Some(self.wrap(Box::new(conn), permit)));
            }
            if !wait {
                return Ok(None);
            }
            let deadline =
                *deadline.get_or_insert_with(|| Instant::now() + self.settings.checkout_timeout);
            let wait = deadline.saturating_duration_since(Instant::now());
            let timed_out = wait.is_zero()
                || tokio::time::timeout(wait, self.budget.changed.notified())
                    .await
                    .is_err();
            if timed_out {
                return Err(self.exhausted());
            }
        }
    }

    /// A liveness ping bounded by `check_timeout`: a paused backend fails it.
    async fn ping(&self, conn: &mut BackendConn) -> bool {
        tokio::time::timeout(self.settings.check_timeout, conn.ping())
            .await
            .unwrap_or(false)
    }

    /// How long a liveness check or a state sync may take.
    pub fn check_timeout(&self) -> Duration {
        self.settings.check_timeout
    }

    fn exhausted(&self) -> SqlError {
        SqlError::new(
            1040,
            b"08004",
            format!(
                "Too many connections: backend pool for '{}' is exhausted",
                self.target.addr
            ),
        )
    }

    fn wrap(self: &Arc<Self>, conn: Box<BackendConn>, permit: OwnedSemaphorePermit) -> PooledConn {
        PooledConn {
            conn: Some(conn),
            pool: self.clone(),
            _permit: permit,
        }
    }

    fn take_idle(&self, client: u64, wanted: &SessionVars) -> Option<Box<BackendConn>> {
        let mut idle = self.idle.lock().ok()?;
        let mut best: Option<(usize, u8)> = None;
        // The vector is ordered by return time, so iterating backwards prefers the most
        // recently used on ties.
        for (i, c) in idle.iter().enumerate().rev() {
            let score = u8::from(c.last_client == client) * 4
                + u8::from(c.applied.database == wanted.database) * 2
                + u8::from(c.applied.items == wanted.items);
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((i, score));
                if score == 7 {
                    break;
                }
            }
        }
        best.map(|(i, _)| idle.remove(i))
    }

    /// Counts one more connection against the host limit, if there is room.
    fn reserve(&self) -> bool {
        let reserved = self
            .budget
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.budget.max).then_some(n + 1)
            })
            .is_ok();
        if reserved {
            self.open.fetch_add(1, Ordering::AcqRel);
        }
        reserved
    }

    /// Closes the longest idle connection of another pool of this host, making room under
    /// the host limit. Returns whether one was closed.
    fn evict_other_idle(&self) -> bool {
        let pools: Vec<Arc<HostPool>> = match self.budget.pools.lock() {
            Ok(p) => p.iter().filter_map(Weak::upgrade).collect(),
            Err(_) => return false,
        };
        for pool in pools {
            if std::ptr::eq(Arc::as_ptr(&pool), self) {
                continue;
            }
            let victim = pool
                .idle
                .lock()
                .ok()
                .and_then(|mut idle| (!idle.is_empty()).then(|| idle.remove(0)));
            if let Some(conn) = victim {
                drop(conn);
                pool.forget();
                return true;
            }
        }
        false
    }

    fn forget(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        self.budget.open.fetch_sub(1, Ordering::AcqRel);
        self.budget.changed.notify_one();
    }

    fn give_back(&self, mut conn: Box<BackendConn>) {
        // The session's interrupter (and the client socket it watches) stays with the
        // session.
        conn.interrupter = None;
        if conn.broken {
            if let Some(why) = conn.interrupted {
                // The backend may still be running the statement we gave up on (or be
                // paused): end its thread as soon as it can listen.
                tracing::info!(host = %conn.host, thread = conn.thread_id, ?why, "backend connection discarded after an interrupted statement");
                kill_backend_thread(&self.target, conn.thread_id);
            }
            drop(conn);
            self.forget();
            return;
        }
        conn.last_used = Instant::now();
        conn.shrink_buffers();
        match self.idle.lock() {
            Ok(mut idle) => idle.push(conn),
            Err(_) => {
                self.forget();
                return;
            }
        }
        self.budget.changed.notify_one();
    }

    /// Closes idle connections beyond `min` that have been idle too long. Called
    /// periodically by the server.
    pub fn reap(&self) {
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        let open = self.open.load(Ordering::Acquire);
        let mut excess = open.saturating_sub(self.settings.min);
        let before = idle.len();
        idle.retain(|c| {
            let expired = c.last_used.elapsed() >= self.settings.idle_timeout;
            if expired && excess > 0 {
                excess -= 1;
                false
            } else {
                true
            }
        });
        let closed = before - idle.len();
        drop(idle);
        if closed > 0 {
            self.open.fetch_sub(closed, Ordering::AcqRel);
            self.budget.open.fetch_sub(closed, Ordering::AcqRel);
            self.budget.changed.notify_one();
        }
    }

    /// Opens connections until `min` exist (best effort; failures are left to the next
    /// statement to report).
    pub async fn fill_min(self: &Arc<Self>) {
        while self.open.load(Ordering::Acquire) < self.settings.min && self.reserve() {
            match BackendConn::connect(&self.target, None).await {
                Ok(c) => self.give_back(Box::new(c)),
                Err(_) => {
                    self.forget();
                    return;
                }
            }
        }
    }
}

/// A connection counted as open that is not yet handed out: forgotten (the count given
/// back) when dropped, unless kept — so a checkout cancelled while it pings or connects
/// (its statement killed or timed out) never leaks a place in the pool.
struct Slot<'a> {
    pool: &'a HostPool,
    kept: bool,
}

impl<'a> Slot<'a> {
    fn new(pool: &'a HostPool) -> Self {
        Slot { pool, kept: false }
    }

    /// The connection is handed out: it stays counted.
    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.pool.forget();
        }
    }
}

/// Asks the host, over a connection of its own, to end backend thread `thread` (best
/// effort, in the background: the host may be the one that does not answer).
pub fn kill_backend_thread(target: &HostTarget, thread: u32) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let target = target.clone();
    rt.spawn(async move {
        if let Ok(mut c) = BackendConn::connect(&target, None).await {
            let _ = tokio::time::timeout(
                target.connect_timeout,
                c.query_rows(&format!("KILL {thread}")),
            )
            .await;
        }
    });
}

impl PooledConn {
    /// Closes the connection instead of returning it (after a protocol problem, or state
    /// that must not leak to another client).
    pub fn discard(mut self) {
        if let Some(mut c) = self.conn.take() {
            c.broken = true;
            self.pool.give_back(c);
        }
    }

    /// The pool it belongs to.
    pub fn pool(&self) -> &Arc<HostPool> {
        &self.pool
    }
}

impl Deref for PooledConn {
    type Target = BackendConn;
    fn deref(&self) -> &BackendConn {
        // The Option is only None after `discard` consumed self.
        self.conn
            .as_ref()
            .unwrap_or_else(|| unreachable!("connection taken"))
    }
}

impl DerefMut for PooledConn {
    fn deref_mut(&mut self) -> &mut BackendConn {
        self.conn
            .as_mut()
            .unwrap_or_else(|| unreachable!("connection taken"))
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            self.pool.give_back(c);
        }
    }
}
