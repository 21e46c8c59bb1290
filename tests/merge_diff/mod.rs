//! The pieces of the cross-shard merge differential test (`tests/differential_merge.rs`):
//! the schema and its data, the query generator, and the result comparison.

pub mod compare;
pub mod data;
pub mod query;
pub mod source;
