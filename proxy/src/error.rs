//! Errors the proxy reports to clients, each carrying its MySQL errno, SQLSTATE and message.
//!
//! Codes and states follow the server error reference:
//! <https://mariadb.com/kb/en/mariadb-error-codes/>.
//!
//! Each error also records its [`Side`]: how far the request got towards a backend when it
//! failed. Failover uses [`SqlError::retry_safe`] to decide whether a statement may be sent
//! to another host; the side never reaches the client (the ERR packet carries only the errno,
//! SQLSTATE and message).

use std::fmt;

/// How far a request got towards a backend when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Side {
    /// Made by the proxy itself about the client's request (bad input, a refusal, a limit):
    /// no backend is involved, so another host would answer the same.
    #[default]
    Proxy,
    /// The request never reached a backend: the checkout was refused (pool exhausted, host
    /// retired), connecting failed, or the connection was found closed before any byte of
    /// the request was written. Safe to send elsewhere.
    NotSent,
    /// The request was (at least partly) written and the connection was lost, or the wait
    /// cut short, before a complete answer came back: the backend may have applied it, so
    /// it must never be sent again.
    SentNoAnswer,
    /// The backend answered with an ERR packet.
    Answered,
}

/// An error that becomes an ERR packet for the client.
///
/// Build it with [`SqlError::new`] or one of the named constructors (their side is
/// [`Side::Proxy`]) and set where it happened with [`SqlError::on`].
#[derive(Debug, Clone, PartialEq, Eq, Default, thiserror::Error)]
pub struct SqlError {
    /// MySQL error number.
    pub code: u16,
    /// Five-character SQLSTATE.
    pub state: [u8; 5],
    /// Human-readable message naming the problem.
    pub message: String,
    /// How far the request got towards a backend (not sent to the client).
    pub side: Side,
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ERROR {} ({}): {}",
            self.code,
            String::from_utf8_lossy(&self.state),
            self.message
        )
    }
}

impl SqlError {
    /// Builds an error from its parts.
    pub fn new(code: u16, state: &[u8; 5], message: impl Into<String>) -> Self {
        SqlError {
            code,
            state: *state,
            message: message.into(),
            side: Side::Proxy,
        }
    }

    /// The same error, recorded as having happened on `side`.
    #[must_use]
    pub fn on(mut self, side: Side) -> Self {
        self.side = side;
        self
    }

    /// Whether the request certainly did not reach a backend, so sending it to another host
    /// cannot apply it twice. Only [`Side::NotSent`] is: a proxy-made error would recur
    /// anywhere, an answered one was executed (and failed) there, and one sent without an
    /// answer may have been applied. (Whether the surrounding transaction may move is the
    /// caller's concern.)
    pub fn retry_safe(&self) -> bool {
        self.side == Side::NotSent
    }

    /// 1040: too many client connections.
    pub fn too_many_connections() -> Self {
        Self::new(1040, b"08004", "Too many connections")
    }

    /// 1044: the user may not use this schema.
    pub fn db_access_denied(user: &str, host: &str, db: &str) -> Self {
        Self::new(
            1044,
            b"42000",
            format!("Access denied for user '{user}'@'{host}' to database '{db}'"),
        )
    }

    /// 1045: wrong user or password.
    pub fn access_denied(user: &str, host: &str, used_password: bool) -> Self {
        let yes = if used_password { "YES" } else { "NO" };
        Self::new(
            1045,
            b"28000",
            format!("Access denied for user '{user}'@'{host}' (using password: {yes})"),
        )
    }

    /// 1046: a statement needs a schema and none is selected.
    pub fn no_db_selected() -> Self {
        Self::new(1046, b"3D000", "No database selected")
    }

    /// 1047: a command byte the proxy does not implement.
    pub fn unknown_command(cmd: u8) -> Self {
        Self::new(1047, b"08S01", format!("Unknown command 0x{cmd:02x}"))
    }

    /// 1049: the logical schema does not exist.
    pub fn unknown_db(db: &str) -> Self {
        Self::new(1049, b"42000", format!("Unknown database '{db}'"))
    }

    /// 1094: KILL of a connection id that does not exist.
    pub fn no_such_thread(id: u64) -> Self {
        Self::new(1094, b"HY000", format!("Unknown thread id: {id}"))
    }

    /// 1095: KILL of another user's connection.
    pub fn kill_denied(id: u64) -> Self {
        Self::new(1095, b"HY000", format!("You are not owner of thread {id}"))
    }

    /// 1153: a client packet larger than `max_allowed_packet`.
    pub fn packet_too_large() -> Self {
        Self::new(
            1153,
            b"08S01",
            "Got a packet bigger than 'max_allowed_packet' bytes",
        )
    }

    /// 1243: unknown prepared statement id.
    pub fn unknown_stmt(id: u32, command: &str) -> Self {
        Self::new(
            1243,
            b"HY000",
            format!("Unknown prepared statement handler ({id}) given to {command}"),
        )
    }

    /// 1210: wrong arguments to a command (e.g. a malformed COM_STMT_EXECUTE).
    pub fn wrong_arguments(command: &str) -> Self {
        Self::new(1210, b"HY000", format!("Incorrect arguments to {command}"))
    }

    /// 1235: SQL the proxy deliberately refuses.
    pub fn not_supported(what: impl fmt::Display) -> Self {
        Self::new(
            1235,
            b"42000",
            format!("This version of myshard doesn't yet support '{what}'"),
        )
    }

    /// 1317: the statement was interrupted by `KILL QUERY`.
    pub fn query_interrupted() -> Self {
        Self::new(1317, b"70100", "Query execution was interrupted")
    }

    /// 2003: a backend host cannot be reached (so nothing was sent: [`Side::NotSent`]).
    pub fn backend_unreachable(host: &str, detail: impl fmt::Display) -> Self {
        Self::new(
            2003,
            b"HY000",
            format!("Can't connect to backend MySQL server on '{host}' ({detail})"),
        )
        .on(Side::NotSent)
    }

    /// 2003: the pool of a host that was taken out of service (fenced, down, removed by a
    /// reload) refuses checkouts; nothing was sent ([`Side::NotSent`]), so the statement
    /// may go to another host.
    pub fn host_retired(host: &str, reason: &str) -> Self {
        Self::new(
            2003,
            b"HY000",
            format!(
                "Can't connect to backend MySQL server on '{host}' (host {reason}; the statement was not sent, a retry on another host is safe)"
            ),
        )
        .on(Side::NotSent)
    }

    /// 2013: a backend connection was lost while a statement ran. Its side is
    /// [`Side::SentNoAnswer`]; the caller sets [`Side::NotSent`] when it knows no byte of
    /// the request left.
    pub fn backend_lost(host: &str) -> Self {
        Self::new(
            2013,
            b"HY000",
            format!(
                "Lost connection to backend MySQL server '{host}' during query (the statement may have been applied; it is not resent)"
            ),
        )
        .on(Side::SentNoAnswer)
    }

    /// 2013: a backend connection found lost before any byte of the request left
    /// ([`Side::NotSent`]): the statement was not applied.
    pub fn backend_lost_unsent(host: &str) -> Self {
        Self::new(
            2013,
            b"HY000",
            format!(
                "Lost connection to backend MySQL server '{host}' before the statement was sent (it was not applied; a retry is safe)"
            ),
        )
        .on(Side::NotSent)
    }

    /// 2003: a backend host that does not serve now (down, draining, fenced); nothing was
    /// sent to it.
    pub fn host_not_serving(host: &str, state: &str) -> Self {
        Self::new(
            2003,
            b"HY000",
            format!(
                "Can't connect to backend MySQL server on '{host}' (the host is {state}; nothing was sent, a retry is safe)"
            ),
        )
        .on(Side::NotSent)
    }

    /// 1835: a malformed packet from a client (MySQL's ER_MALFORMED_PACKET).
    pub fn malformed_packet(what: &str) -> Self {
        Self::new(
            1835,
            b"HY000",
            format!("Malformed communication packet: {what}"),
        )
    }

    /// 1105: an internal failure of the proxy or a protocol violation by a backend.
    pub fn internal(what: impl fmt::Display) -> Self {
        Self::new(1105, b"HY000", format!("myshard: {what}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_that_never_left_are_retry_safe() {
        assert!(!SqlError::no_db_selected().retry_safe(), "proxy-made");
        assert_eq!(SqlError::internal("x").side, Side::Proxy);
        let unreachable = SqlError::backend_unreachable("h:1", "refused");
        assert_eq!(unreachable.side, Side::NotSent);
        assert!(unreachable.retry_safe());
        let retired = SqlError::host_retired("h:1", "fenced");
        assert!(retired.retry_safe());
        assert_eq!((retired.code, &retired.state), (2003, b"HY000"));
        assert!(retired.message.contains("fenced") && retired.message.contains("h:1"));
        let lost = SqlError::backend_lost("h:1");
        assert_eq!(lost.side, Side::SentNoAnswer);
        assert!(!lost.retry_safe(), "maybe applied: never resend");
        assert!(lost.clone().on(Side::NotSent).retry_safe());
        assert!(!lost.on(Side::Answered).retry_safe());
    }

    #[test]
    fn the_side_changes_nothing_the_client_sees() {
        let e = SqlError::backend_lost("h:1");
        let moved = e.clone().on(Side::NotSent);
        assert_eq!(
            (moved.code, moved.state, &moved.message, moved.to_string()),
            (e.code, e.state, &e.message, e.to_string())
        );
        assert_eq!(
            crate::packet::err_payload(&moved),
            crate::packet::err_payload(&e)
        );
    }

    #[test]
    fn literal_sites_default_to_the_proxy_side() {
        let e = SqlError {
            code: 1064,
            state: *b"42000",
            message: "syntax".into(),
            ..SqlError::default()
        };
        assert_eq!(e.side, Side::Proxy);
        assert!(!e.retry_safe());
    }
}
