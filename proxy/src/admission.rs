//! Admission of client connections: how many may be in the handshake at once, and how many
//! may be logged in. A connection holds a [`Slot`] of the first kind from accept until its
//! login ends, and one of the second kind only once it has authenticated, so that sockets
//! that never log in (a scan, a flood of silent reconnects) cannot crowd out real clients.
//!
//! Prepared statements are counted here too (all clients together), each held by its
//! client's statement.
//!
//! This module only counts; the accept loop and the login decide what to answer.

use crate::error::SqlError;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The two counters of connections admitted.
#[derive(Debug, Default)]
pub struct Admission {
    handshakes: Arc<AtomicUsize>,
    clients: Arc<AtomicUsize>,
    statements: Arc<AtomicUsize>,
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
    /// A slot for a connection entering the handshake, unless `max` are there already.
    pub fn try_handshake(&self, max: usize) -> Option<Slot> {
        take(&self.handshakes, max)
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
        let first = a.try_handshake(2);
        let second = a.try_handshake(2);
        assert!(first.is_some() && second.is_some());
        assert!(a.try_handshake(2).is_none(), "a third is over the limit");
        assert_eq!(a.handshakes(), 2);
        drop(first);
        assert_eq!(a.handshakes(), 1);
        assert!(a.try_handshake(2).is_some());
        assert_eq!(a.clients(), 0, "the two kinds are counted apart");
        assert!(a.try_client(0).is_none());
    }
}
