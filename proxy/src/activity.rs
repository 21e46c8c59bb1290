//! What each client session is doing now, as `SHOW PROCESSLIST` shows it: written by the
//! session at the start and end of every command, read by sessions listing the processes.
//! It holds no backend state (backend threads are never shown to clients).

use std::time::Instant;

/// One client session's current command.
#[derive(Debug, Clone)]
pub struct Activity {
    /// The client's host as the proxy sees it.
    pub host: String,
    /// The session's logical schema.
    pub schema: Option<String>,
    /// MariaDB's name for the command running (`Query`, `Execute`, …), `Sleep` between
    /// commands.
    pub command: &'static str,
    /// When the session entered its current command (or went idle).
    pub since: Instant,
    /// The statement text of the running command, empty when there is none.
    pub info: String,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            host: String::new(),
            schema: None,
            command: "Connect",
            since: Instant::now(),
            info: String::new(),
        }
    }
}

/// MariaDB's process list name of a command byte.
pub fn command_name(cmd: u8) -> &'static str {
    match cmd {
        0x01 => "Quit",
        0x02 => "Init DB",
        0x03 => "Query",
        0x04 => "Field List",
        0x09 => "Statistics",
        0x0C => "Processlist",
        0x0E => "Ping",
        0x11 => "Change user",
        0x16 => "Prepare",
        0x17 => "Execute",
        0x18 => "Long Data",
        0x19 => "Close stmt",
        0x1A => "Reset stmt",
        0x1B => "Set option",
        0x1F => "Reset connection",
        _ => "Error",
    }
}
