//! The soak benchmark's pieces (see `tests/soak.rs`): the knobs, the cluster (three MariaDB
//! servers and the `myshard` binary as its own process), the data, the clients' workload
//! and its checks, the fault injectors, and the report.

pub mod cluster;
pub mod data;
pub mod faults;
pub mod knobs;
pub mod report;
pub mod workload;
