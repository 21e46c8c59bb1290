//! The control plane's work on the servers of a group when its write host is switched:
//! choosing and promoting a replica ([`GtidPromoter`]) or moving to an already writable
//! candidate ([`WritableCandidate`]), fencing the old write host, rejoining it later
//! ([`rejoin`]), and the preconditions the proxy checks before failing over automatically
//! ([`check_domains`], [`semi_sync_status`] / [`lossless`]).
//!
//! Everything here talks to MariaDB through mysql_async with every step bounded in time; it
//! never touches the proxy's routing table (the proxy fences and publishes).

mod candidates;
mod domains;
mod fence;
pub mod gtid;
mod promote;
mod rejoin;
mod semi_sync;
mod server;
mod writable;

pub use candidates::{Candidate, Survey, choose, survey};
pub use domains::{Domains, check_domains, domain_per_group};
pub use promote::GtidPromoter;
pub use rejoin::{EXTRA_LISTED, RejoinError, rejoin};
pub use semi_sync::{SemiSyncStatus, lossless, semi_sync_status};
pub use server::{Server, heartbeat_period};
pub use writable::WritableCandidate;
