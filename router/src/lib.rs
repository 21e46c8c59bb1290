//! myshard's SQL side: tokenizing, classifying statements for session handling, and
//! (as the router grows) route planning and rewriting. Pure: no sockets, no clocks.
#![warn(missing_docs)]

pub mod classify;
pub mod compat;
pub mod exec_comment;
pub mod hash;
pub mod lexer;
pub mod limits;
pub mod merge;
pub mod prepare;
pub mod privilege;
pub mod reads;
pub mod set;
pub mod shard;
pub mod text;

pub use classify::{Classified, Kind, classify};
pub use hash::{Charset, Collation, HashError, KeyType, KeyValue, key_hash, shard_of};
pub use set::{CHARSET_KEYS, SetItem};
