//! Admission of client connections: how many may be in the handshake at once, and how many
//! may be logged in. A connection holds a [`Slot`] of the first kind from accept until its
//! login ends, and one of the second kind only once it has authenticated, so that sockets
//! that never log in (a scan, a flood of silent reconnects) cannot crowd out real clients.
//!
//! When all handshake slots are taken, the oldest connection that has not sent a single
//! byte since its greeting gives its slot up to the newcomer (it is closed): a flood of
//! silent sockets cannot keep real clients from logging in. Only when every connection in
//! the handshake has spoken is a newcomer refused.
//!
//! Prepared statements are counted here too (all clients together), each held by its
//! client's statement.
//!
//! This module only counts; the accept loop and the login decide what to answer.

use crate::error::SqlError;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::Notify;

/// The counters of connections and statements admitted.
#[derive(Debug, Default)]
pub struct Admission {
    handshakes: Arc<AtomicUsize>,
    clients: Arc<AtomicUsize>,
    statements: Arc<AtomicUsize>,
    /// Connections in the handshake, oldest first (some may have spoken or ended since).
    queue: Mutex<VecDeque<Weak<Silence>>>,
}

/// Whether a connection in the handshake has sent anything yet, and how it is told to give
/// its slot up.
#[derive(Debug, Default)]
pub struct Silence {
    spoke: AtomicBool,
    evicted: Notify,
}

impl Silence {
    /// The client has sent something: its slot is no longer given up to newcomers.
    pub fn spoke(&self) {
        self.spoke.store(true, Ordering::Release);
    }

    /// Completes when a newcomer took this connection's place.
    pub async fn evicted(&self) {
        self.evicted.notified().await;
    }
}

/// A connection's place in the handshake.
#[derive(Debug)]
pub struct Handshake {
    /// Counts it against `limits.max_handshakes`.
    pub slot: Slot,
    /// Its silence, watched by newcomers.
    pub silence: Arc<Silence>,
}

/// One admitted connection; the count goes down when it is dropped.
#[derive(Debug)]
pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    /// A place for a connection entering the handshake: a free slot, or the slot of the
    /// oldest connection still silent (which is told to leave); `None` when `max` are
    /// there and all have spoken.
    pub fn try_handshake(&self, max: usize) -> Option<Handshake> {
        let slot = match take(&self.handshakes, max) {
            Some(s) => s,
            None => {
                if !self.evict_oldest_silent() {
                    return None;
                }
                // The evicted connection gives its slot back as it ends, a moment later;
                // the newcomer counts from now.
                self.handshakes.fetch_add(1, Ordering::AcqRel);
                Slot(self.handshakes.clone())
            }
        };
        let silence = Arc::new(Silence::default());
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.len() >= 2 * max.max(16) {
            // Drop the entries of connections that ended or spoke (amortized: the queue
            // at least halves).
            queue.retain(|w| {
                w.upgrade()
                    .is_some_and(|s| !s.spoke.load(Ordering::Acquire))
            });
        }
        queue.push_back(Arc::downgrade(&silence));
        Some(Handshake { slot, silence })
    }

    /// Tells the oldest silent connection in the handshake to leave; false if none is.
    fn evict_oldest_silent(&self) -> bool {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(w) = queue.pop_front() {
            if let Some(s) = w.upgrade()
                && !s.spoke.load(Ordering::Acquire)
            {
                s.evicted.notify_one();
                return true;
            }
        }
        false
    }

    /// A slot for an authenticated client, unless `max` are logged in already.
    pub fn try_client(&self, max: usize) -> Option<Slot> {
        take(&self.clients, max)
    }

    /// A slot for a prepared statement, unless `max` are open over all clients.
    pub fn try_statement(&self, max: usize) -> Option<Slot> {
        take(&self.statements, max)
    }

    /// Prepared statements open now (all clients).
    pub fn statements(&self) -> usize {
        self.statements.load(Ordering::Acquire)
    }

    /// Connections in the handshake now.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::Acquire)
    }

    /// Logged-in clients now.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Acquire)
    }
}

fn take(counter: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .ok()
        .map(|_| Slot(counter.clone()))
}

/// 1159: a client stopped in the middle of a packet for longer than `read_timeout_ms`
/// (what MySQL reports for `net_read_timeout`).
pub fn read_timeout_error() -> SqlError {
    SqlError::new(1159, b"08S01", "Got timeout reading communication packets")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_returned_on_drop() {
        let a = Admission::default();
        let first = a.try_client(2);
        let second = a.try_client(2);
        assert!(first.is_some() && second.is_some());
        assert!(a.try_client(2).is_none(), "a third is over the limit");
        assert_eq!(a.clients(), 2);
        drop(first);
        assert_eq!(a.clients(), 1);
        assert!(a.try_client(2).is_some());
        assert_eq!(a.handshakes(), 0, "the kinds are counted apart");
        assert!(a.try_statement(0).is_none());
    }

    #[tokio::test]
    async fn a_newcomer_takes_the_place_of_the_oldest_silent_handshake() {
        let a = Admission::default();
        let old = a.try_handshake(2).expect("first");
        let young = a.try_handshake(2).expect("second");
        let newcomer = a.try_handshake(2).expect("the oldest silent one gives way");
        // The oldest was told to leave, the younger one was not.
        tokio::time::timeout(std::time::Duration::from_secs(1), old.silence.evicted())
            .await
            .expect("oldest evicted");
        drop(old);
        assert_eq!(a.handshakes(), 2);
        young.silence.spoke();
        newcomer.silence.spoke();
        assert!(
            a.try_handshake(2).is_none(),
            "refused when all in the handshake have spoken"
        );
        drop(young);
        assert!(a.try_handshake(2).is_some());
    }
}
