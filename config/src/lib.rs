//! myshard configuration: the YAML model, loading with precise error locations,
//! validation, and the live snapshot shared by the proxy.
#![warn(missing_docs)]

mod model;

pub use model::{Config, Group, Pool, Schema, User};
