//! COM_STMT_EXECUTE parameter blocks: parsed, split and rebuilt for a backend.
//!
//! Input layout: 2 bytes parameter count (little endian, as the statement's metadata would
//! say), 1 byte selecting long-data parameters, then the payload after the 0x17 byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myshard_proxy::params::{parse_execute, rebuild_execute, split_values};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let n = usize::from(u16::from_le_bytes([data[0], data[1]]));
    let long_mask = data[2];
    let payload = &data[3..];
    let Some(req) = parse_execute(payload, n) else {
        return;
    };
    // Types remembered from an earlier execute when this one sends none.
    let types = req
        .types
        .map(<[u8]>::to_vec)
        .unwrap_or_else(|| payload.iter().rev().copied().chain(std::iter::repeat(0xFD)).take(n * 2).collect());
    let long: Vec<(u16, Vec<u8>)> = (0..8u16)
        .filter(|i| long_mask & (1 << i) != 0)
        .map(|i| (i, vec![b'x'; usize::from(i) * 3]))
        .collect();
    let _ = split_values(&req, &types, n, |i| i < 8 && long_mask & (1 << i) != 0);
    if let Some(out) = rebuild_execute(&req, 7, &types, n, &long) {
        assert_eq!(out[0], 0x17);
        assert_eq!(out[5], 0, "cursor flags must be cleared");
        let again = parse_execute(&out[1..], n).expect("a rebuilt execute parses");
        if n > 0 {
            assert_eq!(again.types, Some(&types[..n * 2]));
        }
    }
});
