//! A session's answer to unlucky backends: what each statement may be interrupted by
//! (KILL, KILL QUERY, the statement timeout, the client hanging up), and what a session
//! that lost its transaction or pinned state with a backend connection tells its client.
//!
//! A lost transaction is never continued in autocommit: the statement that hit the loss
//! fails (2013), and every later statement fails with 1105 saying the transaction was
//! lost, until the client ends it — `ROLLBACK` then succeeds, `COMMIT` fails with 1180;
//! both end it. A session pinned for other state (user variables, temporary tables, SQL
//! `PREPARE`, locks) that loses it gets one 1105 error saying so, then continues afresh.

use super::statement_timeout::TimeoutKill;
use super::{Closed, Session};
use crate::backend::BackendConn;
use crate::backend::interrupt::{ClientWatch, Interrupter, OnTimeout, Why};
use crate::error::SqlError;
use myshard_router::{Kind, classify};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Per-session fault state.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// State lost with a backend connection, not yet acknowledged by the client.
    lost: Option<Lost>,
    /// The client socket watch shared by the statement's backend waits (made on first use).
    client: Option<Arc<ClientWatch>>,
    /// When the running statement times out.
    deadline: Option<Instant>,
    /// When the running statement's waits first saw its `KILL QUERY` (shared by all of
    /// them, so the grace is counted once for the statement).
    kill_query_seen: Arc<std::sync::Mutex<Option<Instant>>>,
    /// The running statement's timeout action (with a deadline only).
    timeout_kill: Option<Arc<TimeoutKill>>,
}

/// What was lost with a backend connection.
#[derive(Debug)]
struct Lost {
    /// An open transaction (else state the session was pinned for).
    transaction: bool,
    /// The host the loss happened on, when known.
    host: Option<String>,
    /// Why the session was pinned (for the message).
    reason: Option<&'static str>,
    /// What took the transaction, when it was not a broken connection (e.g. its group's
    /// write host changed).
    cause: Option<String>,
}

impl Lost {
    fn on(&self) -> String {
        if let Some(c) = &self.cause {
            return c.clone();
        }
        match &self.host {
            Some(h) => format!("its backend connection to {h}"),
            None => "one of its backend connections".to_string(),
        }
    }

    /// The error of a statement refused after a lost transaction.
    fn transaction_error(&self) -> SqlError {
        SqlError::new(
            1105,
            b"HY000",
            format!(
                "the transaction was lost with {} and rolled back there; ROLLBACK to end it",
                self.on()
            ),
        )
    }

    /// The error of `COMMIT` after a lost transaction.
    fn commit_error(&self) -> SqlError {
        SqlError::new(
            1180,
            b"HY000",
            format!(
                "Got error 2013 \"Lost connection to backend\" during COMMIT: the transaction was lost with {} and rolled back",
                self.on()
            ),
        )
    }

    /// The error once after lost pinned state.
    fn state_error(&self) -> SqlError {
        let why = self.reason.map_or(String::new(), |r| format!(" ({r})"));
        SqlError::new(
            1105,
            b"HY000",
            format!(
                "the session state held on a backend connection{why} was lost with {}; the session continues without it",
                self.on()
            ),
        )
    }
}

impl Session {
    /// Run before every command: clears a `KILL QUERY` meant for the previous statement,
    /// starts the statement timeout, notices pinned connections the backend closed, and
    /// refuses what a session with a lost transaction must not run. `Some` when the command
    /// has been answered here.
    pub(super) async fn start_command(
        &mut self,
        payload: &[u8],
        seq: u8,
    ) -> Option<Result<(), Closed>> {
        self.control.interrupt.send_if_modified(|w| {
            let stale = *w == Some(Why::KillQuery);
            if stale {
                *w = None;
            }
            stale
        });
        self.faults.deadline = self.statement_timeout().map(|t| Instant::now() + t);
        self.faults.timeout_kill = self
            .faults
            .deadline
            .map(|_| Arc::new(TimeoutKill::new(self.control.clone())));
        self.faults.kill_query_seen = Arc::default();
        // A client that stops reading the answer cannot hold the session past the same limits.
        let guard = self.interrupter();
        self.stream.guard(guard);
        if !self.pinned.is_empty() {
            self.probe_pinned();
            let interrupter = self.interrupter();
            for c in &mut self.pinned {
                c.interrupter = Some(interrupter.clone());
            }
        }
        let lost = self.faults.lost.as_ref()?;
        let cmd = *payload.first()?;
        match cmd {
            // COM_QUERY and COM_STMT_EXECUTE run statements.
            0x03 | 0x17 => {}
            // COM_CHANGE_USER and COM_RESET_CONNECTION start afresh.
            0x11 | 0x1F => {
                self.faults.lost = None;
                return None;
            }
            _ => return None,
        }
        if !lost.transaction {
            let e = lost.state_error();
            self.faults.lost = None;
            return Some(self.send_err(&e, seq).await);
        }
        let kind = (cmd == 0x03).then(|| classify(&String::from_utf8_lossy(&payload[1..])).kind);
        match kind {
            Some(Kind::Rollback) => {
                self.faults.lost = None;
                self.unpin();
                Some(self.send_ok(seq).await)
            }
            Some(Kind::Commit) => {
                let e = lost.commit_error();
                self.faults.lost = None;
                self.unpin();
                Some(self.send_err(&e, seq).await)
            }
            // KILL concerns other sessions.
            Some(Kind::Kill { .. }) => None,
            _ => {
                let e = lost.transaction_error();
                Some(self.send_err(&e, seq).await)
            }
        }
    }

    /// The statement timeout of this session's user (`0` = none).
    fn statement_timeout(&self) -> Option<Duration> {
        let config = &self.table.config;
        let ms = config
            .user(&self.user)
            .and_then(|u| u.statement_timeout_ms)
            .unwrap_or(config.limits.statement_timeout_ms);
        (ms > 0).then(|| Duration::from_millis(ms))
    }

    /// What the running statement's backend waits are cut short by.
    pub(super) fn interrupter(&mut self) -> Interrupter {
        if self.faults.client.is_none() {
            self.faults.client = ClientWatch::new(self.stream.stream()).map(Arc::new);
        }
        Interrupter {
            signal: self.control.interrupt.subscribe(),
            deadline: self.faults.deadline,
            client: self.faults.client.clone(),
            kill_query_seen: self.faults.kill_query_seen.clone(),
            on_timeout: self
                .faults
                .timeout_kill
                .clone()
                .map(|t| t as Arc<dyn OnTimeout>),
        }
    }

    /// Whether the running statement's timeout has fired (its backends were sent kills).
    pub(super) fn timed_out(&self) -> bool {
        self.faults.timeout_kill.as_ref().is_some_and(|t| t.fired())
    }

    /// A pinned connection the backend closed since the last statement (a restart, a
    /// killed thread) loses the session's pinned state before anything is sent on it.
    fn probe_pinned(&mut self) {
        let closed = self
            .pinned
            .iter_mut()
            .find_map(|c| c.closed_by_peer().then(|| c.host.to_string()));
        if let Some(host) = closed {
            tracing::warn!(host = %host, "a pinned backend connection was closed by the backend");
            self.note_loss(None, Some(host));
            self.unpin();
        }
    }

    /// Records what a broken backend connection takes with it (`conn`: the connection
    /// that broke, if the caller has it), before the session unpins.
    pub(super) fn note_loss(&mut self, conn: Option<&BackendConn>, host: Option<String>) {
        let transaction = self.in_transaction() || conn.is_some_and(|c| c.in_transaction);
        let pinned = self.pin_reason.is_some() || !self.pinned.is_empty();
        if !transaction && !pinned {
            return;
        }
        if self
            .faults
            .lost
            .as_ref()
            .is_some_and(|l| l.transaction || !transaction)
        {
            return;
        }
        let host = host.or_else(|| conn.map(|c| c.host.to_string()));
        self.faults.lost = Some(Lost {
            transaction,
            host,
            reason: self.pin_reason,
            cause: None,
        });
    }

    /// Drops the state the session is pinned for (user variables, temporary tables, …)
    /// because of `cause` (the host holding it was replaced); returns the statement's error,
    /// after which the session continues afresh.
    pub(super) fn abort_pinned_state(&mut self, cause: String) -> SqlError {
        let lost = Lost {
            transaction: false,
            host: None,
            reason: self.pin_reason,
            cause: Some(cause),
        };
        tracing::warn!(
            session = self.id,
            "pinned session state dropped: {}",
            lost.on()
        );
        self.unpin();
        lost.state_error()
    }

    /// Forgets a recorded loss (the client's `COMMIT` that reported it ended the
    /// transaction).
    pub(super) fn forget_loss(&mut self) {
        self.faults.lost = None;
    }

    /// Ends the open transaction because of `cause` (a change of the hosts it ran on): its
    /// connections close, so the servers roll it back; later statements fail until the
    /// client ends it, as after a lost connection. Returns the statement's error.
    pub(super) fn abort_transaction(&mut self, cause: String) -> SqlError {
        tracing::warn!(session = self.id, "transaction aborted: {cause}");
        let e = SqlError::new(
            1105,
            b"HY000",
            format!("the transaction was aborted and rolled back: {cause}; ROLLBACK to end it"),
        );
        self.faults.lost = Some(Lost {
            transaction: true,
            host: None,
            reason: self.pin_reason,
            cause: Some(cause),
        });
        self.unpin();
        e
    }
}
