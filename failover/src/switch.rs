//! Switching a group's write host: what a switch is asked to do, what came of it, and the
//! step that makes the chosen host the group's primary ([`Promoter`]).
//!
//! The proxy decides *when* a group switches (a failover after its write host was found dead,
//! or an operator's planned switchover) and publishes the outcome in its routing table; a
//! [`Promoter`] does the work on the servers. Two kinds exist: promotion of the most advanced
//! replica (GTID), and — with `failover.promotion: false` — a move to the next candidate that
//! is already writable, changing nothing on the servers.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::monitor::Login;

/// Why a group's write host is switched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwitchReason {
    /// The write host was found dead (refused, timed out or hung), and its replicas agree.
    Failover {
        /// What the heartbeats saw.
        detail: String,
    },
    /// An operator asked for it while the write host was alive.
    Switchover,
}

/// The account replicas use to replicate from a promoted host.
#[derive(Clone)]
pub struct ReplicationLogin {
    /// Account.
    pub user: String,
    /// Its password (never logged).
    pub password: String,
}

impl std::fmt::Debug for ReplicationLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicationLogin")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// What a [`Promoter`] is asked to do for one group.
#[derive(Debug, Clone)]
pub struct PromotionRequest {
    /// Group name.
    pub group: String,
    /// Why.
    pub reason: SwitchReason,
    /// The write host being replaced.
    pub old: Login,
    /// The hosts that may take over (write host candidates and read hosts other than `old`,
    /// in configured priority order); the promoter picks among those serving.
    pub candidates: Vec<Login>,
    /// The host the operator chose (a planned switchover `--to`); none: the promoter picks.
    pub target: Option<String>,
    /// How replicas connect to the new primary.
    pub replication: ReplicationLogin,
    /// How long the chosen host may take to apply what it has received (its relay log, or
    /// for a switchover everything the old primary wrote).
    pub apply_timeout: Duration,
    /// How long setting `read_only=ON` on the old write host may take (it can hang behind
    /// locks, or the host can be gone).
    pub fence_timeout: Duration,
}

/// What became of the old write host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fence {
    /// `read_only=ON` was set on it.
    ReadOnly,
    /// It could not be reached or did not answer in time; it stays fenced in the routing
    /// table, which is what keeps writes away from it.
    NotReached(String),
}

/// What a switch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    /// `host:port` of the new write host.
    pub new_write_host: String,
    /// Its `@@gtid_current_pos` when it became writable (GTID groups).
    pub gtid_position: Option<String>,
    /// The old write host's last known `@@gtid_current_pos` (GTID groups, when known).
    pub old_gtid_position: Option<String>,
    /// Replicas now replicating from the new write host.
    pub repointed: Vec<String>,
    /// Replicas that could not be repointed, and why.
    pub not_repointed: Vec<(String, String)>,
    /// What became of the old write host.
    pub fence: Fence,
}

/// A boxed future of a promotion (the trait is used as `dyn Promoter`).
pub type PromotionFuture<'a> = Pin<Box<dyn Future<Output = Result<Promotion, String>> + Send + 'a>>;

/// Makes one of a group's hosts its write host on the servers. An error says why nothing
/// was switched; the routing table is then left as it was (old host still fenced when the
/// switch was a failover).
pub trait Promoter: Send + Sync {
    /// Carries out `request`.
    fn promote<'a>(&'a self, request: &'a PromotionRequest) -> PromotionFuture<'a>;
}
