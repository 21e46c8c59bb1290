//! The backend side of the data path: connections to MariaDB/MySQL hosts, their pools, and
//! relaying responses.

pub mod budget;
pub mod conn;
pub mod header;
pub mod interrupt;
pub mod kills;
pub mod pool;
pub mod relay;
pub mod rewrite;

pub use conn::{BackendConn, HostTarget};
pub use pool::{HostPool, PooledConn};
pub use relay::{Class, RelayFailure, Relayed, ResponseKind, Tracker, relay};
