//! Online shard migration: moving a shard's physical database to another group through
//! replication, and the placement that records where migrated shards live.
//!
//! This module owns the placement state (persisted, restored at start, published as a new
//! routing table) and the migration phases; it never routes statements itself: sessions
//! see the move only through the routing table and the shard's gate.

pub mod abort;
pub mod copy;
pub mod cutover;
mod domain_guard;
mod drain;
pub mod durable;
mod finish;
pub mod journal;
mod lag;
pub mod placement;
pub mod preflight;
pub mod progress;
mod publish;
pub mod read_only;
pub mod rebalance;
pub mod rebalance_run;
pub mod replicate;
pub mod repoint;
pub mod run;
pub mod verify;
mod verify_consistent;

pub use cutover::{CutOver, CutOverError, CutOverReport};
pub use journal::{MigrationRecord, Phase};
pub use placement::{PlacedShard, Placement, PlacementError};
pub use preflight::Preflight;
pub use run::Bounds;
