//! Routing.
#![warn(missing_docs)]
