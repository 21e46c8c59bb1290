//! The router's statement classifier, on COM_QUERY text as the proxy decodes it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = myshard_router::classify(&String::from_utf8_lossy(data));
});
