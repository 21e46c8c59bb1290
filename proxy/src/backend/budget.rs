//! The connection limit of one backend host, shared by its pools (one per set of connection
//! flags): how many connections may be open and how many may be checked out at once.
//!
//! The limit can change while connections are in use (`HostBudget::set_max`, through
//! [`HostPool::update_settings`](crate::backend::HostPool::update_settings)). Raising it
//! lets more checkouts through at once. Lowering it cannot take back permits that checked-out
//! connections hold: the shortfall is recorded as owed, and each permit given back while
//! something is owed is retired instead of released, until the host is within its new limit.
//! Closing the connections beyond the limit is the pools' part (see `pool`).

use crate::backend::pool::HostPool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// The connection limit of one host, shared by its pools.
#[derive(Debug)]
pub struct HostBudget {
    /// Open connections to the host, over all its pools.
    pub(crate) open: AtomicUsize,
    /// The current limit.
    max: AtomicUsize,
    /// Checkout permits still to retire after the limit was lowered while they were held.
    owed: AtomicUsize,
    /// Serializes limit changes (the permit arithmetic of two at once would interleave).
    resizing: Mutex<()>,
    /// Woken when any of the host's pools gets a connection back or closes one, or when
    /// the limit is raised.
    pub(crate) changed: Notify,
    /// One permit per connection that may be checked out at once, handed out first come,
    /// first served: a checkout waiting for a connection is not overtaken by later ones,
    /// and a scatter's extra connections (taken only without waiting) never jump the queue.
    pub(crate) checkouts: Arc<Semaphore>,
    /// The host's pools, to close an idle connection of one when another needs room.
    pub(crate) pools: Mutex<Vec<Weak<HostPool>>>,
}

impl HostBudget {
    /// A budget of `max` connections, none open.
    pub(crate) fn new(max: usize) -> HostBudget {
        HostBudget {
            open: AtomicUsize::new(0),
            max: AtomicUsize::new(max),
            owed: AtomicUsize::new(0),
            resizing: Mutex::new(()),
            changed: Notify::new(),
            checkouts: Arc::new(Semaphore::new(max)),
            pools: Mutex::new(Vec::new()),
        }
    }

    /// The current limit.
    pub fn max(&self) -> usize {
        self.max.load(Ordering::Acquire)
    }

    /// Open connections to the host, over all its pools.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Whether more connections are open than the limit allows (after it was lowered).
    pub(crate) fn over_limit(&self) -> bool {
        self.open() > self.max()
    }

    /// Counts one more open connection, if there is room under the limit.
    pub(crate) fn reserve(&self) -> bool {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max()).then_some(n + 1)
            })
            .is_ok()
    }

    /// Changes the limit. Raised: more checkouts may proceed at once, and waiting ones are
    /// woken. Lowered: free permits are retired now, held ones as they come back
    /// ([`HostBudget::settle`]).
    pub(crate) fn set_max(&self, new: usize) {
        let _one_at_a_time = self.resizing.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.max.swap(new, Ordering::AcqRel);
        if new > old {
            // Cancel what is still owed first; only the rest becomes new permits.
            let mut grow = new - old;
            let paid = self
                .owed
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |o| {
                    Some(o - o.min(grow))
                })
                .unwrap_or(0)
                .min(grow);
            grow -= paid;
            self.checkouts.add_permits(grow);
            self.changed.notify_waiters();
        } else if new < old {
            let cut = old - new;
            let retired = self.checkouts.forget_permits(cut);
            self.owed.fetch_add(cut - retired, Ordering::AcqRel);
            // A permit given back between the two steps above is free again: retire it too.
            let owed = self.owed.load(Ordering::Acquire);
            if owed > 0 {
                let late = self.checkouts.forget_permits(owed);
                self.owed.fetch_sub(late, Ordering::AcqRel);
            }
        }
    }

    /// Gives a checkout permit back, or retires it while the lowered limit is still owed
    /// permits.
    pub(crate) fn settle(&self, permit: OwnedSemaphorePermit) {
        if self.owed.load(Ordering::Acquire) == 0 {
            drop(permit);
            return;
        }
        let paid = self
            .owed
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |o| o.checked_sub(1))
            .is_ok();
        if paid {
            permit.forget();
        }
    }

    /// Checkouts that may be made now without waiting (tests and the status endpoint).
    pub fn free_checkouts(&self) -> usize {
        self.checkouts.available_permits()
    }
}

/// A checkout permit held while a checkout looks for a connection: settled with its
/// budget ([`HostBudget::settle`]) if the checkout fails or is cancelled, or taken out
/// with the connection it was for.
pub(crate) struct PermitGuard<'a> {
    budget: &'a HostBudget,
    permit: Option<OwnedSemaphorePermit>,
}

impl<'a> PermitGuard<'a> {
    /// Guards `permit` of `budget`.
    pub(crate) fn new(budget: &'a HostBudget, permit: OwnedSemaphorePermit) -> Self {
        PermitGuard {
            budget,
            permit: Some(permit),
        }
    }

    /// The permit, for the connection it was taken for.
    pub(crate) fn take(mut self) -> Option<OwnedSemaphorePermit> {
        self.permit.take()
    }
}

impl Drop for PermitGuard<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.permit.take() {
            self.budget.settle(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lowering_retires_free_permits_now_and_held_ones_on_return() {
        let b = HostBudget::new(4);
        let held: Vec<_> = (0..3)
            .map(|_| b.checkouts.clone().try_acquire_owned())
            .collect::<Result<_, _>>()
            .expect("permits");
        b.set_max(1);
        assert_eq!(b.max(), 1);
        assert_eq!(b.free_checkouts(), 0, "the free permit is retired at once");
        let mut held = held.into_iter();
        for p in held.by_ref().take(2) {
            b.settle(p);
            assert_eq!(b.free_checkouts(), 0, "owed permits are retired on return");
        }
        for p in held {
            b.settle(p);
        }
        assert_eq!(
            b.free_checkouts(),
            1,
            "within the new limit permits flow again"
        );
    }

    #[tokio::test]
    async fn raising_cancels_what_is_owed_first() {
        let b = HostBudget::new(3);
        let held: Vec<_> = (0..3)
            .map(|_| b.checkouts.clone().try_acquire_owned())
            .collect::<Result<_, _>>()
            .expect("permits");
        b.set_max(1);
        b.set_max(5);
        assert_eq!(
            b.free_checkouts(),
            2,
            "two new permits beyond the three held"
        );
        for p in held {
            b.settle(p);
        }
        assert_eq!(b.free_checkouts(), 5);
    }

    #[test]
    fn reserve_respects_the_current_limit() {
        let b = HostBudget::new(1);
        assert!(b.reserve());
        assert!(!b.reserve());
        b.set_max(2);
        assert!(b.reserve());
        b.set_max(1);
        assert!(b.over_limit());
    }
}
