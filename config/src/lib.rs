//! myshard configuration: the YAML model, loading with precise error locations,
//! validation, and what a hot reload may change
//! ([`load_for_reload`]).
//!
//! [`load`] and [`parse`] either return a [`Config`] that passed every rule or
//! [`ConfigErrors`] listing every problem found, each as `FILE:LINE: PATH: MESSAGE`.
//! Nothing here opens sockets or talks to backends.
#![warn(missing_docs)]

mod error;
mod lines;
mod load;
mod model;
mod reload;
mod sequence_rules;
mod sharding;
mod topology;
mod validate;

pub use error::{ConfigError, ConfigErrors};
pub use load::{load, parse};
pub use model::{
    AdminHttp, Config, Consistency, DEFAULT_ADMIN_HTTP_LISTEN, Failover, FailoverMode, Group,
    Heartbeat, Limits, Placement, Pool, ReadHost, ReadPolicy, Schema, Sequence, SequenceKind,
    Table, TransactionMode, User,
};
pub use model::{DEFAULT_PROXY_ID, MAX_PROXY_ID_CHARS};
pub use reload::{
    HostChange, HostRef, HostRole, HostSetting, PoolChange, RefusalReason, ReloadError, ReloadPlan,
    ReloadRefusal, TableRef, WriteHostSwitch, compare, load_for_reload, parse_for_reload,
};
pub use sequence_rules::{MAX_CLOCK_WAIT_MS, MAX_SEQUENCE_BLOCK, MAX_SEQUENCE_INSTANCE};
pub use sharding::{
    DEFAULT_COLLATION, DEFAULT_DATABASE_PATTERN, DEFAULT_DECIMAL_PRECISION, DatabasePattern,
    KeyType, MAX_DATABASE_NAME_CHARS, MAX_DATETIME_FSP, MAX_DECIMAL_PRECISION, MAX_DECIMAL_SCALE,
    MAX_SHARDS, SUPPORTED_COLLATIONS, ShardSpec, supported_collation,
};
pub use topology::{PhysicalDatabase, SchemaTopology, ShardedSchema, TableRule, Topology};
pub use validate::{
    MAX_ALLOWED_PACKET, MAX_READ_YOUR_WRITES_WAIT_MS, MAX_UNIX_SOCKET_PATH, MIN_ALLOWED_PACKET,
    UNIX_SOCKET_PREFIX, unix_socket_path, validate,
};
