//! A pool of backend connections to one host (for one CLIENT_FOUND_ROWS setting).
//!
//! At most `max` connections exist at any time, idle or busy. A checkout prefers the
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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

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
}

/// The connections to one host.
#[derive(Debug)]
pub struct HostPool {
    target: HostTarget,
    settings: PoolSettings,
    idle: Mutex<Vec<BackendConn>>,
    open: AtomicUsize,
    returned: Notify,
}

/// A checked-out connection; it goes back to its pool when dropped (or is closed if it
/// broke).
#[derive(Debug)]
pub struct PooledConn {
    conn: Option<BackendConn>,
    pool: Arc<HostPool>,
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
    /// An empty pool; connections open on demand.
    pub fn new(target: HostTarget, settings: PoolSettings) -> Arc<HostPool> {
        Arc::new(HostPool {
            target,
            settings,
            idle: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
            returned: Notify::new(),
        })
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
        let deadline = Instant::now() + self.settings.checkout_timeout;
        loop {
            if let Some(mut conn) = self.take_idle(client, wanted) {
                if conn.last_used.elapsed() >= self.settings.check_after_idle && !conn.ping().await
                {
                    self.forget();
                    continue;
                }
                if wanted.database.is_none() && conn.applied.database.is_some() {
                    // A selected database cannot be unselected: open a fresh connection.
                    drop(conn);
                    self.forget();
                } else {
                    return Ok(self.wrap(conn));
                }
            }
            if self.reserve() {
                return match BackendConn::connect(&self.target, wanted.database.as_deref()).await {
                    Ok(conn) => Ok(self.wrap(conn)),
                    Err(e) => {
                        self.forget();
                        Err(e)
                    }
                };
            }
            let wait = deadline.saturating_duration_since(Instant::now());
            if wait.is_zero()
                || tokio::time::timeout(wait, self.returned.notified())
                    .await
                    .is_err()
            {
                return Err(SqlError::new(
                    1040,
                    b"08004",
                    format!(
                        "Too many connections: backend pool for '{}' is exhausted",
                        self.target.addr
                    ),
                ));
            }
        }
    }

    fn wrap(self: &Arc<Self>, conn: BackendConn) -> PooledConn {
        PooledConn {
            conn: Some(conn),
            pool: self.clone(),
        }
    }

    fn take_idle(&self, client: u64, wanted: &SessionVars) -> Option<BackendConn> {
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

    fn reserve(&self) -> bool {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.settings.max).then_some(n + 1)
            })
            .is_ok()
    }

    fn forget(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        self.returned.notify_one();
    }

    fn give_back(&self, mut conn: BackendConn) {
        if conn.broken {
            drop(conn);
            self.forget();
            return;
        }
        conn.last_used = Instant::now();
        match self.idle.lock() {
            Ok(mut idle) => idle.push(conn),
            Err(_) => {
                self.forget();
                return;
            }
        }
        self.returned.notify_one();
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
        }
    }

    /// Opens connections until `min` exist (best effort; failures are left to the next
    /// statement to report).
    pub async fn fill_min(self: &Arc<Self>) {
        while self.open.load(Ordering::Acquire) < self.settings.min && self.reserve() {
            match BackendConn::connect(&self.target, None).await {
                Ok(c) => self.give_back(c),
                Err(_) => {
                    self.forget();
                    return;
                }
            }
        }
    }
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
