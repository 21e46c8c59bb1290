//! The state of one backend host as the control plane sees it, shared with the data path.
//!
//! The proxy keeps one [`HostStatus`] per host address and reads it on every checkout; the
//! control plane (health checks, failover, reload) is the only writer. Every change of state
//! bumps the host's epoch, so that anything that started on the host under an older epoch —
//! a transaction in particular — can tell that the host it relies on is no longer the same.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// What a host may be used for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostState {
    /// Serving: statements may be sent to it.
    Up,
    /// Unreachable or failing its checks: checkouts are refused.
    Down,
    /// Reachable, but its replication is stopped, broken or lagging more than allowed: it
    /// serves nothing until it has caught up (a returning replica passes through this state).
    CatchingUp,
    /// Leaving (removed by a reload, or moved out of a group): new checkouts are refused,
    /// statements running there finish, connections close as they are returned.
    Draining,
    /// Must not receive anything any more (a former write host after a switch): checkouts
    /// are refused and connections close as soon as they are returned.
    Fenced,
}

impl HostState {
    /// Whether new statements may go to a host in this state.
    pub fn serves(self) -> bool {
        self == HostState::Up
    }

    /// Lower-case name for logs, errors and the status endpoint.
    pub fn name(self) -> &'static str {
        match self {
            HostState::Up => "up",
            HostState::Down => "down",
            HostState::CatchingUp => "catching up",
            HostState::Draining => "draining",
            HostState::Fenced => "fenced",
        }
    }

    fn code(self) -> u8 {
        match self {
            HostState::Up => 0,
            HostState::Down => 1,
            HostState::Draining => 2,
            HostState::Fenced => 3,
            HostState::CatchingUp => 4,
        }
    }

    fn from_code(code: u8) -> HostState {
        match code {
            0 => HostState::Up,
            1 => HostState::Down,
            2 => HostState::Draining,
            4 => HostState::CatchingUp,
            _ => HostState::Fenced,
        }
    }
}

/// A host's state and the epoch of its last change; read without locks.
#[derive(Debug)]
pub struct HostStatus {
    state: AtomicU8,
    epoch: AtomicU64,
}

impl Default for HostStatus {
    fn default() -> Self {
        HostStatus::new(HostState::Up)
    }
}

impl HostStatus {
    /// A host starting in `state`, at epoch 1.
    pub fn new(state: HostState) -> HostStatus {
        HostStatus {
            state: AtomicU8::new(state.code()),
            epoch: AtomicU64::new(1),
        }
    }

    /// The state now.
    pub fn state(&self) -> HostState {
        HostState::from_code(self.state.load(Ordering::Acquire))
    }

    /// The epoch now: bumped by every change of state.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Puts the host in `state`; returns whether that changed anything (a change bumps the
    /// epoch, setting the same state again does not).
    pub fn set(&self, state: HostState) -> bool {
        let old = self.state.swap(state.code(), Ordering::AcqRel);
        if old == state.code() {
            return false;
        }
        self.epoch.fetch_add(1, Ordering::AcqRel);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_bumps_the_epoch_and_only_a_change() {
        let s = HostStatus::default();
        assert_eq!((s.state(), s.epoch()), (HostState::Up, 1));
        assert!(!s.set(HostState::Up));
        assert_eq!(s.epoch(), 1);
        assert!(s.set(HostState::Fenced));
        assert_eq!((s.state(), s.epoch()), (HostState::Fenced, 2));
        assert!(!s.state().serves());
        assert!(s.set(HostState::Up));
        assert_eq!((s.state(), s.epoch()), (HostState::Up, 3));
        for st in [HostState::Down, HostState::Draining, HostState::CatchingUp] {
            assert!(s.set(st));
            assert_eq!(s.state(), st);
        }
    }
}
