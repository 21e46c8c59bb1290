//! The one path from a statement to a backend and back: acquire a connection for the
//! route (the session's pinned one there, or one from the pool, joined to the open
//! transaction), bring its session state in line, send the request, relay the answer,
//! update the session from it, then keep the connection pinned or give it back.
//!
//! Unsharded, single-shard, prepared and introspection statements all run through
//! [`Session::run_on`]; scatters acquire and send through the same
//! [`Session::acquire_at`] and [`send_request`] and merge the answers themselves.

use super::{Closed, Session};
use crate::backend::rewrite::Edit;
use crate::backend::{Class, PooledConn, ResponseKind};
use crate::error::SqlError;
use crate::packet;
use crate::routing::{Intent, Route};
use myshard_router::Classified;
use myshard_router::compat::NameMap;

/// What is sent to the backend.
pub(super) enum Request<'a> {
    /// A command payload (command byte first, no header).
    Command(&'a [u8]),
    /// A COM_STMT_EXECUTE packet with its header, for the statement the connection has
    /// prepared under `key` (prepared from `text` first if it has not); its statement id
    /// is set to the connection's.
    Execute {
        /// The framed packet.
        packet: &'a mut [u8],
        /// The connection's key of the prepared statement.
        key: u64,
        /// The statement text, if it must be prepared.
        text: &'a [u8],
    },
}

/// How the answer reaches the client.
#[derive(Clone, Copy)]
pub(super) enum Answer<'a> {
    /// As the backend sends it (a single shard's answer with its column definitions
    /// renamed, when the session set [`Session::rename_schema`]).
    Relay,
    /// Physical names shown as logical ones in column definitions and errors, and in rows
    /// (text or `binary`) when `rows`.
    Renamed {
        /// The names to replace.
        names: &'a NameMap,
        /// Whether rows hold names too.
        rows: bool,
        /// Binary (COM_STMT_EXECUTE) rows.
        binary: bool,
    },
    /// A COM_FIELD_LIST answer with its column definitions renamed.
    FieldList(&'a NameMap),
}

/// The statement text of `request`: a COM_QUERY's, or a prepared statement's at execute.
fn request_text<'a>(request: &Request<'a>) -> Option<&'a [u8]> {
    match *request {
        Request::Command(payload) => match payload.split_first() {
            Some((0x03, text)) => Some(text),
            _ => None,
        },
        Request::Execute { text, .. } => Some(text),
    }
}

/// Sends `request` on `conn`; `out` is a scratch buffer for framing a command.
pub(super) async fn send_request(
    conn: &mut PooledConn,
    request: Request<'_>,
    out: &mut Vec<u8>,
) -> Result<(), SqlError> {
    match request {
        Request::Command(payload) => {
            out.clear();
            packet::frame(out, 0, payload);
            let sent = conn.send_framed(out).await;
            out.clear();
            sent
        }
        Request::Execute { packet, key, text } => {
            let id = match super::stmt::prepared_id(conn, key) {
                Some(id) => id,
                None => super::stmt::ensure_prepared(conn, key, text).await?,
            };
            // Header (4 bytes), command byte, then the statement id.
            packet[5..9].copy_from_slice(&id.to_le_bytes());
            conn.send_framed(packet).await
        }
    }
}

impl Session {
    /// Runs one statement on a backend of `route` and relays its answer to the client (a
    /// read routed as one is retried on another host if it fails before answering).
    pub(super) async fn run_on(
        &mut self,
        route: &Route,
        request: Request<'_>,
        answer: Answer<'_>,
        kind: ResponseKind,
        classified: Option<Classified>,
        seq: u8,
    ) -> Result<(), Closed> {
        // A write whose host was switched away goes to the new write host.
        let switched = self.route_after_switch(route, false).await;
        let route = switched.as_ref().unwrap_or(route);
        if route.intent == Intent::Read {
            let read = super::read_intent::ReadRequest::of(request);
            return self
                .run_read(route, read, answer, kind, classified, seq)
                .await;
        }
        self.attempt_on(route, request, answer, kind, classified, seq, false)
            .await
            .map(drop)
    }

    /// One attempt of [`Session::run_on`]; with `retry`, a failure that lets the read go
    /// to another host is returned instead of sent (see [`Session::run_read`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn attempt_on(
        &mut self,
        route: &Route,
        request: Request<'_>,
        answer: Answer<'_>,
        kind: ResponseKind,
        classified: Option<Classified>,
        seq: u8,
        retry: bool,
    ) -> Result<Option<SqlError>, Closed> {
        // The old copy of a migrated shard is read-only to the proxy (migration/read_only.rs).
        if route.intent == Intent::Write
            && let Some(text) = request_text(&request)
            && let Err(e) = crate::migration::read_only::check_write(
                &self.table,
                &route.group,
                route.database.as_deref(),
                text,
            )
        {
            return self.attempt_failed(e, seq, false).await;
        }
        let mut conn = match self.acquire_at(route).await {
            Ok(c) => c,
            // A write host fenced under the statement's feet: the new one, once switched.
            Err(e) => match self.acquire_after_switch(route, e).await {
                Ok(c) => c,
                Err(e) => return self.attempt_failed(e, seq, retry).await,
            },
        };
        if classified.as_ref().is_some_and(|c| c.reads_last_insert_id)
            && let Err(e) = conn.sync_last_insert_id(self.last_insert_id).await
        {
            self.release_failed(conn);
            return self.attempt_failed(e, seq, retry).await;
        }
        let mut out = std::mem::take(&mut self.out);
        let sent = send_request(&mut conn, request, &mut out).await;
        self.restore_out(out);
        if let Err(e) = sent {
            self.release_failed(conn);
            return self.attempt_failed(e, seq, retry).await;
        }
        if retry {
            self.arm_read_retry(seq);
        }
        let relayed = match answer {
            Answer::Relay => self.relay_from(&mut conn, kind, seq).await?,
            Answer::Renamed {
                names,
                rows,
                binary,
            } => {
                self.relay_renamed(&mut conn, names, rows, binary, seq)
                    .await?
            }
            Answer::FieldList(names) => {
                let mut edit = |class: Class, p: &[u8]| -> Edit {
                    match class {
                        Class::Err => super::compat::rename_err(p, names),
                        _ if p.first() == Some(&0xFE) && p.len() < 9 => Edit::Keep,
                        _ => super::compat::rename_column_def(p, names).0,
                    }
                };
                self.relay_edited(&mut conn, kind, seq, &mut edit).await?
            }
        };
        self.disarm_read_retry();
        let Some(relayed) = relayed else {
            return Ok(None);
        };
        self.after_response(&mut conn, &relayed, classified).await;
        self.after_write(&mut conn, &relayed.tracker).await;
        self.finish(conn);
        Ok(None)
    }

    /// A connection whose request failed before its answer: a broken one takes the
    /// session's pinned state with it; a working one (the backend refused to prepare the
    /// statement, say) is kept or given back as usual.
    pub(super) fn release_failed(&mut self, conn: PooledConn) {
        if conn.broken {
            self.lose_pin();
        } else {
            self.finish(conn);
        }
    }
}
