//! Read routing in the session: whether a statement is an autocommit read that may go to a
//! read host, and the transparent retry of such a read on another host when its host
//! failed before any byte of the answer reached the client.
//!
//! A read goes to a read host only when nothing ties the session to the write host: no
//! transaction (explicit or with autocommit off), no pinned connection or pinning state,
//! and a text that only reads ([`myshard_router::reads`]). A read failing mid-answer is
//! reported to the client as an error: a partial answer is never passed off as whole.

use super::shard_path::{Answer, Request};
use super::{Closed, Session};
use crate::backend::ResponseKind;
use crate::error::{Side, SqlError};
use crate::routing::{Intent, Route};
use myshard_router::Classified;

/// The state of the read being relayed, for [`Session::relay_outcome`].
#[derive(Debug, Default)]
pub(super) struct ReadRetry {
    /// The client sequence id the answer starts at, while a failure may still be retried.
    armed: Option<u8>,
    /// The failure of the attempt, when nothing of its answer reached the client.
    failed: Option<SqlError>,
}

impl ReadRetry {
    /// Takes a backend failure that ended a relay at `next_seq` if the read may be retried
    /// (nothing reached the client); otherwise gives it back.
    pub(super) fn catch(&mut self, error: SqlError, next_seq: u8) -> Option<SqlError> {
        if self.armed.take() == Some(next_seq) {
            self.failed = Some(error);
            None
        } else {
            Some(error)
        }
    }
}

/// A read's request, which may be sent twice.
pub(super) enum ReadRequest<'a> {
    /// A command payload.
    Command(&'a [u8]),
    /// A COM_STMT_EXECUTE (see [`Request::Execute`]; its statement id is set per host).
    Execute {
        /// The framed packet.
        packet: &'a mut [u8],
        /// The connection's key of the prepared statement.
        key: u64,
        /// The statement text, if it must be prepared.
        text: &'a [u8],
    },
}

impl<'a> ReadRequest<'a> {
    /// The read of `request`.
    pub(super) fn of(request: Request<'a>) -> ReadRequest<'a> {
        match request {
            Request::Command(p) => ReadRequest::Command(p),
            Request::Execute { packet, key, text } => ReadRequest::Execute { packet, key, text },
        }
    }

    /// The request for one attempt.
    fn request(&mut self) -> Request<'_> {
        match self {
            ReadRequest::Command(p) => Request::Command(p),
            ReadRequest::Execute { packet, key, text } => Request::Execute {
                packet,
                key: *key,
                text,
            },
        }
    }
}

/// Whether a failure of a read on a host allows sending it to another: the request never
/// left, or the connection failed (a read changes nothing, so sending it again is safe).
fn retryable(e: &SqlError) -> bool {
    matches!(e.side, Side::NotSent | Side::SentNoAnswer)
}

impl Session {
    /// The intent of text statement `sql` classified as `c`.
    pub(super) fn intent_of(&self, sql: &str, c: &Classified) -> Intent {
        let routed = self.table.routes_reads();
        if routed
            && c.pin.is_none()
            && !c.multi
            && !c.reads_last_insert_id
            && self.pin_reason.is_none()
            && self.pinned.is_empty()
            && !self.in_transaction()
            && !self.vars.autocommit_off()
            && myshard_router::reads::may_read_from_replica(sql)
        {
            Intent::Read
        } else {
            Intent::Write
        }
    }

    /// The intent of prepared statement text `sql` at execute time.
    pub(super) fn prepared_intent(&self, sql: &[u8]) -> Intent {
        let routed = self.table.routes_reads();
        match std::str::from_utf8(sql) {
            Ok(text) if routed => self.intent_of(text, &myshard_router::classify(text)),
            _ => Intent::Write,
        }
    }

    /// Runs a read on `route`, and once more on another serving host of its group if the
    /// first failed before anything reached the client.
    pub(super) async fn run_read(
        &mut self,
        route: &Route,
        mut read: ReadRequest<'_>,
        answer: Answer<'_>,
        kind: ResponseKind,
        classified: Option<Classified>,
        seq: u8,
    ) -> Result<(), Closed> {
        let rename = self.rename_schema.clone();
        let request = read.request();
        self.read_retry.failed = None;
        route.host.note_read();
        let first = self
            .attempt_on(route, request, answer, kind, classified.clone(), seq, true)
            .await?;
        let Some(error) = first.or_else(|| self.read_retry.failed.take()) else {
            return Ok(());
        };
        let retry = match self.table.read_retry(route, self.flags) {
            Ok(r) => r,
            Err(_) => return self.send_err(&error, seq).await,
        };
        tracing::info!(host = %route.host.addr(), to = %retry.host.addr(), error = %error,
            "read retried on another host");
        self.shared.board.metrics.read_retry();
        retry.host.note_read();
        self.rename_schema = rename;
        let request = read.request();
        match self
            .attempt_on(&retry, request, answer, kind, classified, seq, false)
            .await?
        {
            Some(e) => self.send_err(&e, seq).await,
            None => Ok(()),
        }
    }

    /// A failure of an attempt: kept for a retry (`Some`) when `retry` and the read may go
    /// elsewhere, else sent to the client.
    pub(super) async fn attempt_failed(
        &mut self,
        e: SqlError,
        seq: u8,
        retry: bool,
    ) -> Result<Option<SqlError>, Closed> {
        if retry && retryable(&e) {
            return Ok(Some(e));
        }
        self.send_err(&e, seq).await.map(|()| None)
    }

    /// Arms catching a relay failure of the read about to be relayed from `seq` (a failure
    /// of an earlier attempt is forgotten).
    pub(super) fn arm_read_retry(&mut self, seq: u8) {
        self.read_retry.armed = Some(seq);
        self.read_retry.failed = None;
    }

    /// Stops catching relay failures (the relay ended; a failure caught stays for
    /// [`Session::run_read`]).
    pub(super) fn disarm_read_retry(&mut self) {
        self.read_retry.armed = None;
    }
}
