//! The connection phase with a client: greeting, HandshakeResponse41, password check
//! (caching_sha2_password fast path or mysql_native_password, AuthSwitchRequest for other
//! plugins), and the schema checks that follow.
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase.html>

use crate::auth::{self, Plugin};
use crate::caps;
use crate::packet::{self, status};
use crate::wire::Reader;

/// Collation announced in the greeting (utf8mb4_general_ci).
pub const GREETING_COLLATION: u8 = 45;

/// Builds the HandshakeV10 payload.
///
/// `mariadb_ext_caps` non-zero offers MariaDB extended capabilities, which requires
/// clearing CLIENT_MYSQL (bit 0) as MariaDB servers do.
pub fn greeting(
    server_version: &str,
    conn_id: u32,
    nonce: &[u8; 20],
    mariadb_ext_caps: u32,
) -> Vec<u8> {
    let server_caps = if mariadb_ext_caps != 0 {
        caps::SERVER & !caps::LONG_PASSWORD
    } else {
        caps::SERVER
    };
    let mut p = Vec::with_capacity(128);
    p.push(10);
    p.extend_from_slice(server_version.as_bytes());
    p.push(0);
    p.extend_from_slice(&conn_id.to_le_bytes());
    p.extend_from_slice(&nonce[..8]);
    p.push(0);
    p.extend_from_slice(&(server_caps as u16).to_le_bytes());
    p.push(GREETING_COLLATION);
    p.extend_from_slice(&status::AUTOCOMMIT.to_le_bytes());
    p.extend_from_slice(&((server_caps >> 16) as u16).to_le_bytes());
    p.push(21);
    p.extend_from_slice(&[0u8; 6]);
    p.extend_from_slice(&mariadb_ext_caps.to_le_bytes());
    p.extend_from_slice(&nonce[8..]);
    p.push(0);
    p.extend_from_slice(auth::CACHING_SHA2.as_bytes());
    p.push(0);
    p
}

/// The fields of a client's HandshakeResponse41 the proxy uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse {
    /// Client capabilities (already intersected with the proxy's).
    pub capabilities: u32,
    /// Collation id the client asked for.
    pub collation: u8,
    /// MariaDB extended capabilities the client asked for (not yet intersected).
    pub mariadb_ext_caps: u32,
    /// User name.
    pub user: String,
    /// Auth response bytes.
    pub auth: Vec<u8>,
    /// Schema to start in.
    pub database: Option<String>,
    /// Auth plugin the response was computed with.
    pub plugin: Option<String>,
}

/// Why a handshake response was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// The packet is truncated or inconsistent.
    Malformed,
    /// The client asked for TLS, which the proxy did not offer.
    SslRequested,
    /// Pre-4.1 protocol.
    OldProtocol,
}

/// Parses a HandshakeResponse41 payload.
pub fn parse_response(p: &[u8]) -> Result<HandshakeResponse, HandshakeError> {
    let mut r = Reader::new(p);
    let raw_caps = r.u32().ok_or(HandshakeError::Malformed)?;
    if raw_caps & caps::PROTOCOL_41 == 0 {
        return Err(HandshakeError::OldProtocol);
    }
    if raw_caps & caps::SSL != 0 && p.len() == 32 {
        return Err(HandshakeError::SslRequested);
    }
    let capabilities = raw_caps & caps::SERVER;
    r.u32().ok_or(HandshakeError::Malformed)?;
    let collation = r.u8().ok_or(HandshakeError::Malformed)?;
    let filler = r.bytes(23).ok_or(HandshakeError::Malformed)?;
    let mariadb_ext_caps = if raw_caps & caps::LONG_PASSWORD == 0 {
        u32::from_le_bytes([filler[19], filler[20], filler[21], filler[22]])
    } else {
        0
    };
    let user = r.nul_str().ok_or(HandshakeError::Malformed)?;
    let auth = if capabilities & caps::PLUGIN_AUTH_LENENC != 0 {
        r.lenenc_str()
    } else if capabilities & caps::SECURE_CONNECTION != 0 {
        r.u8().and_then(|n| r.bytes(usize::from(n)))
    } else {
        r.nul_str()
    }
    .ok_or(HandshakeError::Malformed)?;
    let mut database = None;
    if capabilities & caps::CONNECT_WITH_DB != 0 && r.remaining() > 0 {
        let db = r.nul_str().ok_or(HandshakeError::Malformed)?;
        if !db.is_empty() {
            database = Some(String::from_utf8_lossy(db).into_owned());
        }
    }
    let mut plugin = None;
    if capabilities & caps::PLUGIN_AUTH != 0 && r.remaining() > 0 {
        let rest = r.nul_str().unwrap_or_else(|| r.rest());
        plugin = Some(String::from_utf8_lossy(rest).into_owned());
    }
    Ok(HandshakeResponse {
        capabilities,
        collation,
        mariadb_ext_caps,
        user: String::from_utf8_lossy(user).into_owned(),
        auth: auth.to_vec(),
        database,
        plugin,
    })
}

/// How the password check continues after the handshake response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStep {
    /// Verify the response with this plugin now.
    Verify(Plugin),
    /// Ask the client to switch to mysql_native_password (its plugin is unknown to us).
    Switch,
}

/// Decides how to check a client's first auth response.
pub fn auth_step(resp: &HandshakeResponse) -> AuthStep {
    match resp.plugin.as_deref() {
        Some(name) => Plugin::from_name(name.as_bytes()).map_or(AuthStep::Switch, AuthStep::Verify),
        // Without CLIENT_PLUGIN_AUTH the 4.1 response is a native scramble.
        None => AuthStep::Verify(Plugin::Native),
    }
}

/// AuthSwitchRequest payload.
pub fn auth_switch(plugin: Plugin, nonce: &[u8; 20]) -> Vec<u8> {
    let mut p = vec![0xFE];
    p.extend_from_slice(plugin.name().as_bytes());
    p.push(0);
    p.extend_from_slice(nonce);
    p.push(0);
    p
}

/// caching_sha2_password's "fast auth success" (AuthMoreData 0x03).
pub const FAST_AUTH_OK: &[u8] = &[0x01, 0x03];

/// OK packet payload sent when login succeeds.
pub fn login_ok(autocommit: bool) -> Vec<u8> {
    packet::ok_payload(0, 0, if autocommit { status::AUTOCOMMIT } else { 0 }, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A HandshakeResponse41 as PyMySQL sends it (user "app", db "shop", 32-byte sha2
    /// scramble replaced by 0x11 bytes).
    fn pymysql_like() -> Vec<u8> {
        let mut p = Vec::new();
        let c = caps::PROTOCOL_41
            | caps::SECURE_CONNECTION
            | caps::PLUGIN_AUTH
            | caps::CONNECT_WITH_DB
            | caps::PLUGIN_AUTH_LENENC
            | caps::MULTI_RESULTS;
        p.extend_from_slice(&c.to_le_bytes());
        p.extend_from_slice(&(1u32 << 24).to_le_bytes());
        p.push(45);
        p.extend_from_slice(&[0; 23]);
        p.extend_from_slice(b"app\0");
        p.push(32);
        p.extend_from_slice(&[0x11; 32]);
        p.extend_from_slice(b"shop\0caching_sha2_password\0");
        p
    }

    #[test]
    fn parses_response() {
        let r = parse_response(&pymysql_like()).expect("parse");
        assert_eq!(r.user, "app");
        assert_eq!(r.auth, vec![0x11; 32]);
        assert_eq!(r.database.as_deref(), Some("shop"));
        assert_eq!(r.plugin.as_deref(), Some("caching_sha2_password"));
        assert_eq!(auth_step(&r), AuthStep::Verify(Plugin::CachingSha2));
    }

    #[test]
    fn unknown_plugin_switches() {
        let mut r = parse_response(&pymysql_like()).expect("parse");
        r.plugin = Some("client_ed25519".into());
        assert_eq!(auth_step(&r), AuthStep::Switch);
    }

    #[test]
    fn refusals() {
        let p = pymysql_like();
        assert_eq!(parse_response(&p[..40]), Err(HandshakeError::Malformed));
        let mut ssl = vec![0u8; 32];
        ssl[..4].copy_from_slice(&(caps::PROTOCOL_41 | caps::SSL).to_le_bytes());
        assert_eq!(parse_response(&ssl), Err(HandshakeError::SslRequested));
        assert_eq!(
            parse_response(&[0, 0, 0, 0]),
            Err(HandshakeError::OldProtocol)
        );
    }

    #[test]
    fn greeting_golden_layout() {
        let nonce = *b"ABCDEFGHijklmnopqrst";
        let g = greeting("5.5.5-10.11.19-MariaDB", 7, &nonce, 0);
        let mut r = Reader::new(&g);
        assert_eq!(r.u8(), Some(10));
        assert_eq!(r.nul_str(), Some(&b"5.5.5-10.11.19-MariaDB"[..]));
        assert_eq!(r.u32(), Some(7));
        assert_eq!(r.bytes(8), Some(&b"ABCDEFGH"[..]));
        assert_eq!(r.u8(), Some(0));
        let low = u32::from(r.u16().expect("caps"));
        assert_eq!(r.u8(), Some(45));
        assert_eq!(r.u16(), Some(status::AUTOCOMMIT));
        let high = u32::from(r.u16().expect("caps"));
        assert_eq!(low | high << 16, caps::SERVER);
        assert_eq!(r.u8(), Some(21));
        assert_eq!(r.bytes(10), Some(&[0u8; 10][..]));
        assert_eq!(r.bytes(13), Some(&b"ijklmnopqrst\0"[..]));
        assert_eq!(r.rest(), b"caching_sha2_password\0");
        let g = greeting("v", 7, &nonce, caps::MARIADB_EXT_METADATA);
        let low = u16::from_le_bytes([g[16], g[17]]);
        assert_eq!(
            low & 1,
            0,
            "CLIENT_MYSQL cleared when offering MariaDB capabilities"
        );
        assert_eq!(&g[30..34], &caps::MARIADB_EXT_METADATA.to_le_bytes());
    }

    proptest! {
        #[test]
        fn response_parser_never_panics(p in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = parse_response(&p);
        }
    }
}
