//! Failover.
#![warn(missing_docs)]
