//! myshard's MySQL wire-protocol side: the client-facing server (handshake, commands,
//! sessions), backend connections and their pools, and relaying responses.
//!
//! It must not parse SQL itself beyond what `myshard_router` offers, and must not decode
//! rows of single-backend responses: those are relayed byte for byte.
#![warn(missing_docs)]

pub mod activity;
pub mod admin_http;
pub mod admission;
pub mod auth;
pub mod backend;
pub mod caps;
pub mod column_orders;
pub mod error;
pub mod failover;
pub mod health;
pub mod login_brake;
pub mod migration;
pub mod net;
pub mod packet;
pub mod params;
pub mod reload;
pub mod routing;
pub mod sequence;
pub mod server;
pub mod session;
pub mod sharding;
pub mod state;
pub mod stmt_cache;
pub mod wire;
pub mod xa;

pub use error::{Side, SqlError};
pub use server::{ProxyHandle, Shared, start};
