//! Logging a client in: greeting, password check, schema checks, session setup.
//!
//! Until it has authenticated, a connection holds only a handshake slot, buffers at most
//! [`MAX_HANDSHAKE_PACKET`] bytes and has `limits.handshake_timeout_ms` to finish; its
//! client slot (`max_client_connections`) is taken once the password is right. Failed
//! logins feed the per-address brake and a rate-limited log.

use super::Session;
use super::handshake::{self, AuthStep, HandshakeError};
use crate::admission::{Handshake, Slot};
use crate::auth::{self, Plugin};
use crate::backend::conn::{CONNECT_NAMES, ConnFlags};
use crate::caps;
use crate::error::SqlError;
use crate::login_brake::Verdict;
use crate::net::Stream;
use crate::packet::{self, PacketReader};
use crate::server::Shared;
use crate::state::SessionVars;
use hashbrown::HashMap;
use myshard_config::{Config, User};
use mysql_common::collations::{Collation, CollationId};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// Largest packet a client may send before it is logged in: a handshake response or an
/// auth switch response is a few hundred bytes (connection attributes included).
pub const MAX_HANDSHAKE_PACKET: usize = 16 * 1024;

/// Runs the connection phase; `None` when the client was refused or went away. The
/// handshake slot is given back when it returns; a logged-in session comes with its
/// client slot.
pub(super) async fn login(
    shared: Arc<Shared>,
    mut stream: Stream,
    peer: Option<SocketAddr>,
    handshake: Handshake,
) -> Option<(Session, Slot)> {
    let ip = peer.map(|p| p.ip());
    if let Some(ip) = ip
        && let Err(e) = shared.login_brake.check(ip, Instant::now())
    {
        drop(handshake);
        crate::server::refuse_at_once(stream, e).await;
        return None;
    }
    let table = shared.table();
    let limits = &table.config.limits;
    let handshake_timeout = millis(limits.handshake_timeout_ms).unwrap_or(Duration::MAX);
    let read_timeout = millis(limits.read_timeout_ms);
    let nonce = auth::nonce();
    let (id, control) = shared.register("");
    let offered_ext = shared
        .backend_ext_caps
        .load(std::sync::atomic::Ordering::Acquire);
    let version = shared
        .server_version
        .read()
        .map(|v| v.clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    packet::frame(
        &mut out,
        0,
        &handshake::greeting(&version, id as u32, &nonce, offered_ext),
    );
    let mut reader = PacketReader::new();
    let result = tokio::time::timeout(handshake_timeout, async {
        stream.write_all(&out).await.ok()?;
        // Until the client speaks, a newcomer may take this connection's place.
        tokio::select! {
            r = reader.buffer_some(&mut stream) => if !r.ok()? { return None },
            _ = handshake.silence.evicted() => return None,
        }
        handshake.silence.spoke();
        let (seq, payload) = match reader.read(&mut stream, MAX_HANDSHAKE_PACKET).await {
            Ok(p) => p,
            Err(packet::ReadError::TooLarge) => {
                // Not a MySQL client (an HTTP request announces a multi-megabyte packet),
                // or one trying to make the proxy buffer before it has logged in.
                failed_login(&shared, ip, None);
                refuse(
                    &mut stream,
                    &SqlError::new(1043, b"08S01", "Bad handshake"),
                    2,
                )
                .await;
                return None;
            }
            Err(_) => return None,
        };
        let mut seq = seq.wrapping_add(1);
        // A client of the Unix socket is on this machine, as MySQL says for its own socket.
        let peer_host = peer.map_or_else(|| "localhost".to_string(), |p| p.ip().to_string());
        let resp = match handshake::parse_response(&payload) {
            Ok(r) => r,
            Err(e) => {
                let err = match e {
                    HandshakeError::SslRequested => {
                        SqlError::new(1043, b"08S01", "Bad handshake: myshard does not offer TLS")
                    }
                    HandshakeError::OldProtocol => SqlError::new(
                        1043,
                        b"08S01",
                        "Bad handshake: pre-4.1 protocol is not supported",
                    ),
                    HandshakeError::Malformed => SqlError::new(1043, b"08S01", "Bad handshake"),
                };
                failed_login(&shared, ip, None);
                refuse(&mut stream, &err, seq).await;
                return None;
            }
        };
        let (plugin, nonce_used, response) = match handshake::auth_step(&resp) {
            AuthStep::Verify(p) => (p, nonce, resp.auth.clone()),
            AuthStep::Switch => {
                let fresh = auth::nonce();
                out.clear();
                packet::frame(
                    &mut out,
                    seq,
                    &handshake::auth_switch(Plugin::Native, &fresh),
                );
                stream.write_all(&out).await.ok()?;
                let (s, data) = reader.read(&mut stream, MAX_HANDSHAKE_PACKET).await.ok()?;
                seq = s.wrapping_add(1);
                (Plugin::Native, fresh, data)
            }
        };
        let user = table.config.user(&resp.user);
        let password_ok =
            user.is_some_and(|u| auth::verify(plugin, &nonce_used, &u.password, &response));
        let Some(user) = user.filter(|_| password_ok) else {
            failed_login(&shared, ip, Some((&resp.user, peer)));
            refuse(
                &mut stream,
                &SqlError::access_denied(&resp.user, &peer_host, !response.is_empty()),
                seq,
            )
            .await;
            return None;
        };
        if let Some(ip) = ip {
            shared.login_brake.succeeded(ip);
        }
        out.clear();
        if plugin == Plugin::CachingSha2 {
            seq = packet::frame(&mut out, seq, handshake::FAST_AUTH_OK);
        }
        if let Some(db) = &resp.database
            && let Err(e) = check_schema(&table.config, user, &peer_host, db)
        {
            stream.write_all(&out).await.ok()?;
            refuse(&mut stream, &e, seq).await;
            return None;
        }
        // Only an authenticated client takes one of the max_client_connections slots.
        let Some(client_slot) = shared
            .admission
            .try_client(table.config.max_client_connections)
        else {
            stream.write_all(&out).await.ok()?;
            refuse(&mut stream, &SqlError::too_many_connections(), seq).await;
            return None;
        };
        let names = names_for_collation(resp.collation);
        let multi = resp.capabilities & caps::MULTI_STATEMENTS != 0;
        let database = resp
            .database
            .as_deref()
            .and_then(|d| table.config.schema(d))
            .map(|s| s.physical_database().to_string());
        let vars = SessionVars::new(database, names.clone(), multi);
        packet::frame(&mut out, seq, &handshake::login_ok(true));
        stream.write_all(&out).await.ok()?;
        if let Ok(mut u) = control.user.lock() {
            u.clone_from(&user.name);
        }
        reader.set_read_timeout(read_timeout);
        let session = Session {
            shared: shared.clone(),
            stream: super::client_socket::ClientSocket::new(stream),
            reader,
            out: Vec::new(),
            command: Vec::new(),
            route_cache: None,
            point_routes: Default::default(),
            participants: Vec::new(),
            tx_shards: Vec::new(),
            account: Arc::new(user.clone()),
            table: table.clone(),
            id,
            control: control.clone(),
            peer_host,
            user: user.name.clone(),
            capabilities: resp.capabilities,
            flags: ConnFlags {
                found_rows: resp.capabilities & caps::FOUND_ROWS != 0,
                ext_metadata: resp.mariadb_ext_caps & offered_ext & caps::MARIADB_EXT_METADATA != 0,
            },
            schema: resp.database.clone(),
            vars,
            initial_names: names,
            pinned: Vec::new(),
            pin_reason: None,
            tx_begin: None,
            last_insert_id: 0,
            rename_schema: Default::default(),
            stmts: HashMap::new(),
            sql_prepared: HashMap::new(),
            next_stmt_id: 1,
            faults: Default::default(),
            intent: crate::routing::Intent::Write,
            read_retry: Default::default(),
            consistency: super::consistency::SessionConsistency::new(user.consistency),
            tx: super::xa::TxState::new(table.config.transaction_mode_of(user)),
        };
        Some((session, client_slot))
    })
    .await
    .ok()
    .flatten();
    if result.is_none() {
        shared.unregister(id);
    }
    drop(handshake);
    result
}

/// A limit in milliseconds from the configuration; 0 means none.
fn millis(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

/// Counts a failed login against its address and logs it, at most
/// [`crate::login_brake::LOG_LINES`] lines per interval with a summary of the rest.
/// `who` is the user and peer of a wrong password (`None`: a bad handshake).
pub(super) fn failed_login(
    shared: &Shared,
    ip: Option<IpAddr>,
    who: Option<(&str, Option<SocketAddr>)>,
) {
    let now = Instant::now();
    if let Some(ip) = ip
        && shared.login_brake.failed(ip, now) == Verdict::Blocked
    {
        tracing::warn!(
            address = %ip,
            max_connect_errors = shared.config().limits.max_connect_errors,
            "address blocked after too many failed logins"
        );
    }
    let (log, suppressed) = shared.login_brake.log_admit(now);
    if suppressed > 0 {
        tracing::info!(suppressed, "{suppressed} more failed logins suppressed");
    }
    if !log {
        return;
    }
    match who {
        Some((user, peer)) => tracing::info!(
            user = %user,
            peer = %peer.map_or_else(|| "unix socket".to_string(), |p| p.to_string()),
            "login refused: wrong user or password"
        ),
        None => tracing::info!(
            peer = %ip.map_or_else(|| "unix socket".to_string(), |p| p.to_string()),
            "login refused: bad handshake"
        ),
    }
}

async fn refuse(stream: &mut Stream, e: &SqlError, seq: u8) {
    let mut out = Vec::new();
    packet::frame(&mut out, seq, &packet::err_payload(e));
    let _ = stream.write_all(&out).await;
}

/// 1049 for a schema that does not exist, 1044 for one the user may not use.
pub(super) fn check_schema(
    config: &Config,
    account: &User,
    host: &str,
    db: &str,
) -> Result<(), SqlError> {
    if config.schema(db).is_none() {
        return Err(SqlError::unknown_db(db));
    }
    if !account.may_use(db) {
        return Err(SqlError::db_access_denied(&account.name, host, db));
    }
    Ok(())
}

/// The `SET NAMES` equivalent of a handshake collation id. Collations the backends
/// (MariaDB) do not know, such as MySQL 8's utf8mb4_0900_* (255 and up), fall back to
/// utf8mb4 with its default collation.
pub(super) fn names_for_collation(id: u8) -> String {
    if id == 0 || id == 255 || id == crate::backend::conn::CONNECT_COLLATION {
        return CONNECT_NAMES.to_string();
    }
    let cid = CollationId::from(u16::from(id));
    if cid == CollationId::UNKNOWN_COLLATION_ID {
        return CONNECT_NAMES.to_string();
    }
    let c = Collation::from(cid);
    format!("NAMES {} COLLATE {}", c.charset(), c.collation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collation_names() {
        assert_eq!(names_for_collation(45), CONNECT_NAMES);
        assert_eq!(names_for_collation(255), CONNECT_NAMES);
        assert_eq!(
            names_for_collation(8),
            "NAMES latin1 COLLATE latin1_swedish_ci"
        );
        assert_eq!(
            names_for_collation(33),
            "NAMES utf8mb3 COLLATE utf8mb3_general_ci"
        );
        assert_eq!(
            names_for_collation(224),
            "NAMES utf8mb4 COLLATE utf8mb4_unicode_ci"
        );
    }
}
