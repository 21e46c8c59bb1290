//! Cross-shard merge operators: how the rows of several shards become the one result a
//! single server would have returned. Pure: rows come in as protocol payloads, rows go out
//! as payloads; no sockets.
//!
//! - [`plan`] decides, for a SELECT reaching several shards, what each shard runs (hidden
//!   columns, widened LIMIT) and how the answers combine ([`plan::MergePlan`]);
//! - [`row`] locates cells in text and binary rows; [`value`] compares them as MySQL does
//!   ([`collate`] for strings, [`number`] for exact decimals and MariaDB's number formats);
//! - [`sort`] is the k-way merge of sorted shard streams, [`group`] the grouped merge, and
//!   [`having`] evaluates HAVING on merged groups.

pub mod clauses;
pub mod collate;
pub mod group;
pub mod having;
pub mod number;
pub mod paging;
pub mod plan;
pub mod row;
pub mod sort;
pub mod union;
pub mod value;
