//! The backend response tracker, fed arbitrary chunk sequences.
//!
//! Input layout: 1 byte response kind, then chunks, each 1 byte of flags (bit 0: the chunk
//! is a full 0xFFFFFF-byte one; bits 1-7: extra announced length), 1 byte payload length, and
//! the payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myshard_proxy::backend::{ResponseKind, Tracker};
use myshard_proxy::packet::MAX_CHUNK;

fuzz_target!(|data: &[u8]| {
    let Some((&k, mut rest)) = data.split_first() else {
        return;
    };
    let kind = match k % 4 {
        0 => ResponseKind::Query,
        1 => ResponseKind::FieldList,
        2 => ResponseKind::Prepare,
        _ => ResponseKind::Simple,
    };
    let mut t = Tracker::new(kind);
    while rest.len() >= 2 {
        let flags = rest[0];
        let n = usize::from(rest[1]).min(rest.len() - 2);
        let payload = &rest[2..2 + n];
        rest = &rest[2 + n..];
        let len = if flags & 1 != 0 { MAX_CHUNK } else { n + usize::from(flags >> 1) };
        let was_done = t.done();
        let r = t.chunk(&payload[..payload.len().min(len)], len);
        if was_done {
            assert!(r.is_err(), "data after the end of a response was accepted");
        }
        if r.is_err() {
            break;
        }
    }
});
