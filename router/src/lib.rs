//! myshard's SQL side: tokenizing, classifying statements for session handling, and
//! (as the router grows) route planning and rewriting. Pure: no sockets, no clocks.
#![warn(missing_docs)]

pub mod classify;
pub mod lexer;
pub mod set;

pub use classify::{Classified, Kind, classify};
pub use set::{CHARSET_KEYS, SetItem};
