//! A client's HandshakeResponse41, the first bytes an unauthenticated client sends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myshard_proxy::session::handshake::{auth_step, parse_response};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = parse_response(data) {
        let _ = auth_step(&r);
    }
});
