//! Proxy.
#![warn(missing_docs)]
