//! `SHOW [FULL] PROCESSLIST` answered by the proxy: this proxy's client sessions (their
//! proxy ids, which `KILL` takes, logical schemas, commands and statements), never the
//! backends' threads. A user that is not an administrator sees only its own sessions, as
//! MySQL shows them to a user without the PROCESS privilege.

use super::{Closed, Session};
use crate::activity::command_name;
use crate::packet::{self, column_flags::NOT_NULL};
use crate::wire::put_lenenc_str;
use std::sync::Arc;
use std::time::Instant;

/// Bytes of a statement kept for `SHOW FULL PROCESSLIST`.
const MAX_INFO: usize = 64 * 1024;
/// Characters of `Info` that `SHOW PROCESSLIST` without `FULL` shows.
const SHORT_INFO: usize = 100;

/// MYSQL_TYPE_LONGLONG, MYSQL_TYPE_LONG, MYSQL_TYPE_NEWDECIMAL, MYSQL_TYPE_VAR_STRING.
const LONGLONG: u8 = 0x08;
const LONG: u8 = 0x03;
const NEWDECIMAL: u8 = 0xF6;
const VAR_STRING: u8 = 0xFD;
/// utf8mb4_general_ci.
const UTF8MB4: u16 = 45;

/// One row of the list.
struct Process {
    id: u64,
    user: String,
    host: String,
    schema: Option<String>,
    command: &'static str,
    seconds: u64,
    info: Option<String>,
}

impl Session {
    /// Records the command the session starts (before it is dispatched).
    pub(super) fn note_command(&self, payload: &[u8]) {
        let Some(&cmd) = payload.first() else { return };
        if let Ok(mut a) = self.control.activity.lock() {
            if a.host.is_empty() {
                a.host.clone_from(&self.peer_host);
            }
            a.command = command_name(cmd);
            a.since = Instant::now();
            a.info.clear();
            if cmd == 0x03 {
                // The buffer is reused from statement to statement; a huge statement is
                // shown by its beginning only, so that listing it costs no second copy.
                let text = &payload[1..];
                let shown = &text[..text.len().min(MAX_INFO)];
                a.info.push_str(&String::from_utf8_lossy(shown));
            }
        }
    }

    /// Records that the session waits for its next command.
    pub(super) fn note_idle(&self) {
        if let Ok(mut a) = self.control.activity.lock() {
            a.command = "Sleep";
            a.since = Instant::now();
            if a.info.capacity() > 4096 {
                a.info = String::new();
            } else {
                a.info.clear();
            }
            if a.schema != self.schema {
                a.schema.clone_from(&self.schema);
            }
        }
    }

    /// The sessions this user may see, by id.
    fn processes(&self) -> Vec<Process> {
        let admin = self.account.admin;
        let controls: Vec<(u64, Arc<crate::server::ConnControl>)> = self
            .shared
            .registry
            .lock()
            .map(|r| r.iter().map(|(id, c)| (*id, c.clone())).collect())
            .unwrap_or_default();
        let mut out = Vec::with_capacity(controls.len());
        for (id, c) in controls {
            let user = c.user.lock().map(|u| u.clone()).unwrap_or_default();
            // Connections still logging in have no user yet.
            if user.is_empty() || (!admin && user != self.user) {
                continue;
            }
            let Ok(a) = c.activity.lock() else { continue };
            let (schema, command, info) = if id == self.id {
                // This statement, with the schema it runs in.
                (self.schema.clone(), "Query", Some(a.info.clone()))
            } else {
                let info = (!a.info.is_empty()).then(|| a.info.clone());
                (a.schema.clone(), a.command, info)
            };
            out.push(Process {
                id,
                user,
                host: a.host.clone(),
                schema,
                command,
                seconds: a.since.elapsed().as_secs(),
                info,
            });
        }
        out.sort_by_key(|p| p.id);
        out
    }

    /// Answers `SHOW [FULL] PROCESSLIST` with MariaDB's columns.
    pub(super) async fn send_processlist(&mut self, full: bool, seq: u8) -> Result<(), Closed> {
        let columns: [(&str, u8, u32, u16, u8); 9] = [
            ("Id", LONGLONG, 21, NOT_NULL, 0),
            ("User", VAR_STRING, 128 * 4, NOT_NULL, 0),
            ("Host", VAR_STRING, 64 * 4, NOT_NULL, 0),
            ("db", VAR_STRING, 64 * 4, 0, 0),
            ("Command", VAR_STRING, 16 * 4, NOT_NULL, 0),
            ("Time", LONG, 7, NOT_NULL, 0),
            ("State", VAR_STRING, 30 * 4, 0, 0),
            ("Info", VAR_STRING, 100 * 4, 0, 0),
            ("Progress", NEWDECIMAL, 7, NOT_NULL, 3),
        ];
        let rows = self.processes();
        let eof = packet::eof_payload(self.status(), 0);
        let mut seq = packet::frame(&mut self.out, seq, &[columns.len() as u8]);
        for (name, t, len, flags, decimals) in columns {
            let charset = if t == VAR_STRING { UTF8MB4 } else { 63 };
            let def = self.computed_column(name, charset, len, t, flags, decimals);
            seq = packet::frame(&mut self.out, seq, &def);
        }
        seq = packet::frame(&mut self.out, seq, &eof);
        let mut row = Vec::new();
        for p in rows {
            row.clear();
            put_lenenc_str(&mut row, p.id.to_string().as_bytes());
            put_lenenc_str(&mut row, p.user.as_bytes());
            put_lenenc_str(&mut row, p.host.as_bytes());
            opt(&mut row, p.schema.as_deref());
            put_lenenc_str(&mut row, p.command.as_bytes());
            put_lenenc_str(&mut row, p.seconds.min(9_999_999).to_string().as_bytes());
            let state = if p.command == "Sleep" {
                ""
            } else {
                "executing"
            };
            put_lenenc_str(&mut row, state.as_bytes());
            let info = p.info.as_deref().map(|i| {
                if full {
                    i
                } else {
                    i.char_indices()
                        .nth(SHORT_INFO)
                        .map_or(i, |(at, _)| &i[..at])
                }
            });
            opt(&mut row, info);
            put_lenenc_str(&mut row, b"0.000");
            seq = packet::frame(&mut self.out, seq, &row);
        }
        packet::frame(&mut self.out, seq, &eof);
        self.write_out().await
    }
}

/// A nullable text value.
fn opt(row: &mut Vec<u8>, v: Option<&str>) {
    match v {
        Some(s) => put_lenenc_str(row, s.as_bytes()),
        None => row.push(0xFB),
    }
}
