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
//!
//! A live pool can change at run time (for a reload or a host taken out of service):
//! - [`HostPool::update_settings`] applies new limits and timeouts at once. A lower `max`
//!   closes idle connections beyond it now and in-use ones as they come back, until the
//!   host is within it; a higher one lets more checkouts through at once.
//! - [`HostPool::retire`] takes the host out of service (fenced, down, removed): checkouts
//!   fail at once with a [`Side::NotSent`] error (safe to send elsewhere), idle connections
//!   close now, in-use ones close when returned, and maintenance leaves the pool alone.
//!   [`HostPool::reopen`] puts it back in service.

pub use crate::backend::budget::HostBudget;
use crate::backend::budget::PermitGuard;
use crate::backend::conn::{BackendConn, HostTarget};
use crate::error::{Side, SqlError};
use crate::state::SessionVars;
use arc_swap::ArcSwap;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, TryAcquireError};

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

/// The connections to one host (for one set of connection flags).
#[derive(Debug)]
pub struct HostPool {
    target: HostTarget,
    /// Swapped whole by [`HostPool::update_settings`]; read on every checkout.
    settings: ArcSwap<PoolSettings>,
    /// Boxed: a checkout and a return move the connection, and a pointer is cheaper to
    /// move than the whole connection.
    #[allow(clippy::vec_box)]
    idle: Mutex<Vec<Box<BackendConn>>>,
    /// Open connections of this pool.
    open: AtomicUsize,
    budget: Arc<HostBudget>,
    /// Out of service: see [`HostPool::retire`].
    retired: AtomicBool,
    /// Why it was retired (for the error checkouts get).
    retire_reason: Mutex<String>,
    /// Wakes checkouts waiting for a connection when the pool is retired.
    retiring: Notify,
    /// Checkouts that had to queue for a connection, and those that gave up waiting.
    waits: AtomicU64,
    wait_timeouts: AtomicU64,
    /// Bumped by [`HostPool::sever`]: the checked-out connections watch it.
    severed: tokio::sync::watch::Sender<u64>,
}

/// A checked-out connection; it goes back to its pool when dropped (or is closed if it
/// broke).
#[derive(Debug)]
pub struct PooledConn {
    conn: Option<Box<BackendConn>>,
    pool: Arc<HostPool>,
    /// Given back (or retired, after the host limit was lowered) once the connection is
    /// back in its pool.
    permit: Option<OwnedSemaphorePermit>,
}

/// Pool counters for the status endpoint and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections, idle or busy.
    pub open: usize,
    /// Idle connections.
    pub idle: usize,
    /// The host's connection limit now (shared by its pools).
    pub max: usize,
    /// Whether the pool is retired (refusing checkouts).
    pub retired: bool,
    /// Checkouts so far that found the host at its limit and queued.
    pub waits: u64,
    /// Queued checkouts so far that got no connection within `checkout_timeout`.
    pub wait_timeouts: u64,
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
        let budget = budget.unwrap_or_else(|| Arc::new(HostBudget::new(settings.max)));
        let pool = Arc::new(HostPool {
            target,
            settings: ArcSwap::from_pointee(settings),
            idle: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
            budget,
            retired: AtomicBool::new(false),
            retire_reason: Mutex::new(String::new()),
            retiring: Notify::new(),
            waits: AtomicU64::new(0),
            wait_timeouts: AtomicU64::new(0),
            severed: tokio::sync::watch::Sender::new(0),
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
            max: self.budget.max(),
            retired: self.is_retired(),
            waits: self.waits.load(Ordering::Relaxed),
            wait_timeouts: self.wait_timeouts.load(Ordering::Relaxed),
        }
    }

    /// The settings in force now.
    pub fn settings(&self) -> PoolSettings {
        PoolSettings::clone(&self.settings.load())
    }

    /// Applies new limits and timeouts to the live pool, and its `max` to the host's
    /// shared limit (all pools of a host share one `max`). A lower `max` closes idle
    /// connections of the host beyond it now; connections in use close when they come
    /// back, until the host is within it, and checkouts beyond it wait. A higher `max`
    /// lets waiting checkouts through at once. A new `min` is filled or reaped by the next
    /// maintenance round; new timeouts apply to the next checkout.
    pub fn update_settings(&self, settings: PoolSettings) {
        let max = settings.max;
        self.settings.store(Arc::new(settings));
        self.budget.set_max(max);
        self.trim_host();
    }

    /// Closes idle connections of the host's pools while more are open than its limit.
    fn trim_host(&self) {
        let pools: Vec<Arc<HostPool>> = match self.budget.pools.lock() {
            Ok(p) => p.iter().filter_map(Weak::upgrade).collect(),
            Err(_) => return,
        };
        for pool in pools {
            while self.budget.over_limit() && pool.close_oldest_idle() {}
        }
    }

    /// Closes the longest idle connection; whether there was one.
    fn close_oldest_idle(&self) -> bool {
        let victim = self
            .idle
            .lock()
            .ok()
            .and_then(|mut idle| (!idle.is_empty()).then(|| idle.remove(0)));
        match victim {
            Some(conn) => {
                drop(conn);
                self.forget();
                true
            }
            None => false,
        }
    }

    /// Takes the pool out of service (its host is fenced, down, or removed by a reload;
    /// `reason` says which, for the error). From now on checkouts fail at once, also those
    /// already waiting, with a [`Side::NotSent`] error: the statement may go to another
    /// host. Idle connections close now; connections in use close when they come back
    /// (never idle again); [`HostPool::reap`] and [`HostPool::fill_min`] do nothing.
    pub fn retire(&self, reason: &str) {
        if let Ok(mut r) = self.retire_reason.lock() {
            reason.clone_into(&mut r);
        }
        self.retired.store(true, Ordering::Release);
        self.retiring.notify_waiters();
        while self.close_oldest_idle() {}
    }

    /// Cuts every statement waiting on a checked-out connection of the pool now (a
    /// failover declared the host dead or hung): the waits end as if the connection was
    /// lost, the statements' clients are told they may have been applied, and the
    /// connections close instead of waiting for TCP timeouts.
    pub fn sever(&self) {
        self.severed.send_modify(|n| *n += 1);
    }

    /// Puts a retired pool back in service (its host came back); connections open on
    /// demand again.
    pub fn reopen(&self) {
        self.retired.store(false, Ordering::Release);
    }

    /// Whether the pool is out of service.
    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    /// The error a checkout of a retired pool gets.
    fn retired_error(&self) -> SqlError {
        let reason = self
            .retire_reason
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default();
        SqlError::host_retired(&self.target.addr, &reason)
    }

    /// Returns once the pool is retired (for racing against a wait).
    async fn until_retired(&self) {
        loop {
            let signal = self.retiring.notified();
            tokio::pin!(signal);
            // Registered before the flag is read, so a retire in between still wakes it.
            signal.as_mut().enable();
            if self.is_retired() {
                return;
            }
            signal.await;
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
            None => Err(SqlError::internal("a waiting checkout came back empty").on(Side::NotSent)),
        }
    }

    /// Like [`HostPool::checkout`], but `None` at once when every connection is busy and
    /// the host has no room for another: for the extra connections of a scatter, which
    /// must not wait while holding others (two statements could each hold what the other
    /// waits for). A retired pool still answers with its error.
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
        if self.is_retired() {
            return Err(self.retired_error());
        }
        let permit = match self.budget.checkouts.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(TryAcquireError::NoPermits) if wait => self.queue_for_permit().await?,
            Err(TryAcquireError::NoPermits) => return Ok(None),
            Err(TryAcquireError::Closed) => return Err(pool_closed()),
        };
        // Settled with the host's limit however this checkout ends without a connection.
        let permit = PermitGuard::new(&self.budget, permit);
        let settings = self.settings.load_full();
        // Only computed when the checkout has to wait.
        let mut deadline = None;
        loop {
            if self.is_retired() {
                return Err(self.retired_error());
            }
            if let Some(mut conn) = self.take_idle(client, wanted) {
                // Counted as open until handed out (also if this checkout is cancelled
                // while it pings).
                let slot = Slot::new(self);
                // A connection the backend closed while it sat idle (a restart, wait_timeout,
                // KILL) is noticed without a round trip; long-idle ones are also pinged.
                if conn.closed_by_peer()
                    || (conn.last_used.elapsed() >= settings.check_after_idle
                        && !self.ping(&mut conn).await)
                    || self.is_retired()
                {
                    continue;
                }
                if wanted.database.is_none() && conn.applied.database.is_some() {
                    // A selected database cannot be unselected: open a fresh connection.
                    drop(conn);
                } else {
                    slot.keep();
                    return Ok(Some(self.wrap(conn, permit.take())));
                }
            }
            if self.reserve() || (self.evict_other_idle() && self.reserve()) {
                let slot = Slot::new(self);
                let conn = BackendConn::connect(&self.target, wanted.database.as_deref()).await?;
                if self.is_retired() {
                    // Retired while connecting: the new connection closes (the slot
                    // forgets it) and the loop reports the retirement.
                    continue;
                }
                slot.keep();
                return Ok(Some(self.wrap(Box::new(conn), permit.take())));
            }
            if !wait {
                return Ok(None);
            }
            let deadline =
                *deadline.get_or_insert_with(|| Instant::now() + settings.checkout_timeout);
            let wait = deadline.saturating_duration_since(Instant::now());
            let timed_out = wait.is_zero()
                || tokio::select! {
                    r = tokio::time::timeout(wait, self.budget.changed.notified()) => r.is_err(),
                    () = self.until_retired() => false,
                };
            if timed_out {
                return Err(self.exhausted());
            }
        }
    }

    /// Waits in line for a checkout permit, up to `checkout_timeout`, or until the pool is
    /// retired.
    async fn queue_for_permit(&self) -> Result<OwnedSemaphorePermit, SqlError> {
        let queue = self.budget.checkouts.clone().acquire_owned();
        let limit = self.settings.load().checkout_timeout;
        self.waits.fetch_add(1, Ordering::Relaxed);
        tokio::select! {
            r = tokio::time::timeout(limit, queue) => match r {
                Ok(Ok(p)) => Ok(p),
                Ok(Err(_)) => Err(pool_closed()),
                Err(_) => {
                    self.wait_timeouts.fetch_add(1, Ordering::Relaxed);
                    Err(self.exhausted())
                }
            },
            () = self.until_retired() => Err(self.retired_error()),
        }
    }

    /// A liveness ping bounded by `check_timeout`: a paused backend fails it.
    async fn ping(&self, conn: &mut BackendConn) -> bool {
        tokio::time::timeout(self.check_timeout(), conn.ping())
            .await
            .unwrap_or(false)
    }

    /// How long a liveness check or a state sync may take.
    pub fn check_timeout(&self) -> Duration {
        self.settings.load().check_timeout
    }

    /// 1040 when no connection became free within `checkout_timeout`; nothing was sent.
    fn exhausted(&self) -> SqlError {
        SqlError::new(
            1040,
            b"08004",
            format!(
                "Too many connections: backend pool for '{}' is exhausted",
                self.target.addr
            ),
        )
        .on(Side::NotSent)
    }

    fn wrap(
        self: &Arc<Self>,
        conn: Box<BackendConn>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> PooledConn {
        let mut conn = conn;
        conn.severed = Some(self.severed.subscribe());
        conn.was_severed = false;
        PooledConn {
            conn: Some(conn),
            pool: self.clone(),
            permit,
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
        let reserved = self.budget.reserve();
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
            // Read under the idle lock: `retire` sets the flag before it empties the idle
            // list under the same lock, so a connection coming back meanwhile is either
            // refused here or closed there, never left idle in a retired pool.
            Ok(idle) if self.is_retired() || self.budget.over_limit() => {
                // Out of service, or beyond a lowered host limit: close rather than keep.
                drop(idle);
                drop(conn);
                self.forget();
                return;
            }
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
        if self.is_retired() {
            return;
        }
        let settings = self.settings.load();
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        let open = self.open.load(Ordering::Acquire);
        let mut excess = open.saturating_sub(settings.min);
        let before = idle.len();
        idle.retain(|c| {
            let expired = c.last_used.elapsed() >= settings.idle_timeout;
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
    /// statement to report). Nothing while retired.
    pub async fn fill_min(self: &Arc<Self>) {
        while !self.is_retired()
            && self.open.load(Ordering::Acquire) < self.settings.load().min
            && self.reserve()
        {
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

/// The semaphore of a host's checkouts is never closed; should it be, nothing was sent.
fn pool_closed() -> SqlError {
    SqlError::internal("backend pool closed").on(Side::NotSent)
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
        // After the connection is back, so the next checkout finds it.
        if let Some(p) = self.permit.take() {
            self.pool.budget.settle(p);
        }
    }
}
