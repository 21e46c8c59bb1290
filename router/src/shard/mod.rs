//! Routing statements of sharded schemas: analysis of the parsed statement (tables, shard
//! key constraints, inserted rows), the route plan, and rewriting table references to the
//! physical database of each target shard.

pub mod columnless;
pub mod hint;
pub mod insert;
pub mod key_update;
pub mod keys;
pub mod plan;
pub mod point;
pub mod point_param;
pub mod prefetch;
pub mod resolve;
pub mod scopes;
pub mod sequence;
pub mod span;
pub mod subquery;
#[cfg(test)]
mod subquery_tests;
pub mod tables;
pub mod template;
#[cfg(test)]
mod tests;
pub mod union;
