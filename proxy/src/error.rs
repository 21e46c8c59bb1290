//! Errors the proxy reports to clients, each carrying its MySQL errno, SQLSTATE and message.
//!
//! Codes and states follow the server error reference:
//! <https://mariadb.com/kb/en/mariadb-error-codes/>.

use std::fmt;

/// An error that becomes an ERR packet for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SqlError {
    /// MySQL error number.
    pub code: u16,
    /// Five-character SQLSTATE.
    pub state: [u8; 5],
    /// Human-readable message naming the problem.
    pub message: String,
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
        }
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

    /// 2003: a backend host cannot be reached.
    pub fn backend_unreachable(host: &str, detail: impl fmt::Display) -> Self {
        Self::new(
            2003,
            b"HY000",
            format!("Can't connect to backend MySQL server on '{host}' ({detail})"),
        )
    }

    /// 2013: a backend connection was lost while a statement ran.
    pub fn backend_lost(host: &str) -> Self {
        Self::new(
            2013,
            b"HY000",
            format!("Lost connection to backend MySQL server '{host}' during query"),
        )
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
