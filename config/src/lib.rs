//! myshard configuration: the YAML model, loading with precise error locations,
//! validation, and the live snapshot shared by the proxy.
//!
//! [`load`] and [`parse`] either return a [`Config`] that passed every rule or
//! [`ConfigErrors`] listing every problem found, each as `FILE:LINE: PATH: MESSAGE`.
//! Nothing here opens sockets or talks to backends.
#![warn(missing_docs)]

mod error;
mod lines;
mod live;
mod load;
mod model;
mod validate;

pub use error::{ConfigError, ConfigErrors};
pub use live::LiveConfig;
pub use load::{load, parse};
pub use model::{Config, Group, Pool, Schema, User};
pub use validate::{MAX_ALLOWED_PACKET, MIN_ALLOWED_PACKET, validate};
