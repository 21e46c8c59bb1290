//! Client authentication: nonces and the two password plugins the proxy verifies.
//!
//! The proxy knows every user's plain-text password, so it computes the scramble the
//! client should have sent and compares in constant time. caching_sha2_password is
//! answered with "fast auth success" and never needs RSA or TLS.
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_caching_sha2_authentication_exchanges.html>

use mysql_common::scramble::{scramble_native, scramble_sha256};
use rand::Rng;

/// The MySQL 8 default plugin, advertised first.
pub const CACHING_SHA2: &str = "caching_sha2_password";
/// The classic plugin, accepted too.
pub const NATIVE: &str = "mysql_native_password";

/// A password plugin the proxy verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plugin {
    /// caching_sha2_password (32-byte scramble).
    CachingSha2,
    /// mysql_native_password (20-byte scramble).
    Native,
}

impl Plugin {
    /// Recognises a plugin name sent by a client.
    pub fn from_name(name: &[u8]) -> Option<Plugin> {
        match name {
            b"caching_sha2_password" => Some(Plugin::CachingSha2),
            b"mysql_native_password" => Some(Plugin::Native),
            _ => None,
        }
    }

    /// The plugin's wire name.
    pub fn name(self) -> &'static str {
        match self {
            Plugin::CachingSha2 => CACHING_SHA2,
            Plugin::Native => NATIVE,
        }
    }
}

/// A fresh 20-byte nonce of printable characters (MySQL avoids NUL and '$' in nonces).
pub fn nonce() -> [u8; 20] {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = rand::rng();
    let mut n = [0u8; 20];
    for b in &mut n {
        *b = ALPHABET[rng.random_range(0..ALPHABET.len())];
    }
    n
}

/// Whether `response` is what a client knowing `password` sends for `nonce` under `plugin`.
pub fn verify(plugin: Plugin, nonce: &[u8], password: &str, response: &[u8]) -> bool {
    // Some clients append the trailing NUL of the scramble; an empty password is an empty
    // response for both plugins.
    let response = match response {
        [head @ .., 0] if head.len() == 20 || head.len() == 32 => head,
        r => r,
    };
    if password.is_empty() {
        return response.is_empty();
    }
    match plugin {
        Plugin::Native => scramble_native(nonce, password.as_bytes())
            .is_some_and(|want| constant_time_eq(&want, response)),
        Plugin::CachingSha2 => scramble_sha256(nonce, password.as_bytes())
            .is_some_and(|want| constant_time_eq(&want, response)),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_known_vector() {
        // Scramble of password "pass" with a fixed nonce, computed as
        // SHA1(pw) XOR SHA1(nonce + SHA1(SHA1(pw))).
        let nonce = b"abcdefghijklmnopqrst";
        let resp = scramble_native(nonce, b"pass").expect("scramble");
        assert!(verify(Plugin::Native, nonce, "pass", &resp));
        assert!(!verify(Plugin::Native, nonce, "pasS", &resp));
        assert!(!verify(Plugin::Native, nonce, "pass", &resp[..19]));
    }

    #[test]
    fn sha2_round_trip_and_mismatch() {
        let nonce = nonce();
        let resp = scramble_sha256(&nonce, b"s3cret").expect("scramble");
        assert_eq!(resp.len(), 32);
        assert!(verify(Plugin::CachingSha2, &nonce, "s3cret", &resp));
        assert!(!verify(Plugin::CachingSha2, &nonce, "s3cret!", &resp));
        assert!(!verify(Plugin::Native, &nonce, "s3cret", &resp));
    }

    #[test]
    fn empty_password() {
        assert!(verify(Plugin::CachingSha2, b"x", "", b""));
        assert!(!verify(Plugin::CachingSha2, b"x", "", b"\x01"));
        assert!(!verify(Plugin::Native, b"x", "pw", b""));
    }

    #[test]
    fn nonce_is_printable_and_varies() {
        let a = nonce();
        assert!(a.iter().all(|b| b.is_ascii_graphic() && *b != b'$'));
        assert_ne!(a, nonce());
    }
}
