//! A session's transaction mode and, in `xa` mode, the two-phase commit of a transaction
//! that reached several groups.
//!
//! Modes (`users[].transaction_mode`, `SET myshard_transaction_mode`):
//! - `single`: a transaction stays on its first group; a statement that would bring
//!   another group in fails before anything is sent, and the transaction goes on.
//! - `best_effort`: each group commits in turn (see `tx.rs`).
//! - `xa`: each group's part of an explicit transaction (`BEGIN` / `START TRANSACTION`)
//!   runs as an XA branch, started lazily with `XA START` where `BEGIN` would be sent.
//!   MariaDB cannot turn a running plain transaction into a branch, so every branch is
//!   one from its start; a transaction that touched one group ends with `XA END` + `XA
//!   COMMIT … ONE PHASE` (one extra round trip, no prepare, no log write). Across groups:
//!   `XA END` + `XA PREPARE` on every branch, the decision fsynced to the decision log,
//!   then `XA COMMIT` on every branch and `done` in the log. A failure before the decision
//!   rolls every branch back and the client learns nothing was committed.
//!   `START TRANSACTION READ ONLY` stays a plain transaction (nothing to commit atomically).
//!   With `autocommit=0` each group's first statement starts its branch the same way.

use super::consistency::{ModeStatement, mode_statement_of};
use super::{Closed, Session};
use crate::backend::{HostPool, PooledConn};
use crate::error::SqlError;
use crate::routing::Route;
use crate::xa::{Fault, branch_xid};
use myshard_config::TransactionMode;
use myshard_router::shard::resolve::Target;
use std::sync::Arc;

/// The session variable that holds the mode.
const VARIABLE: &str = "myshard_transaction_mode";

/// A session's transaction mode and what its open transaction reached.
#[derive(Debug)]
pub(super) struct TxState {
    /// The mode in force.
    pub(super) mode: TransactionMode,
    /// The groups the open transaction joined, in order.
    groups: Vec<Arc<str>>,
    /// In `xa` mode, the open transaction's id once a branch started.
    gtrid: Option<String>,
    /// The XA branches started: the pool of the branch's connection and its group.
    branches: Vec<(Arc<HostPool>, Arc<str>)>,
    /// The open transaction's savepoints, oldest first (see `savepoints.rs`).
    pub(super) savepoints: Vec<String>,
}

impl TxState {
    /// A session starting in `mode`.
    pub(super) fn new(mode: TransactionMode) -> TxState {
        TxState {
            mode,
            groups: Vec::new(),
            gtrid: None,
            branches: Vec::new(),
            savepoints: Vec::new(),
        }
    }

    /// Forgets the transaction (it ended, or its connections closed).
    pub(super) fn reset(&mut self) {
        self.groups.clear();
        self.gtrid = None;
        self.branches.clear();
        self.savepoints.clear();
    }

    fn group_of(&self, conn: &PooledConn) -> Option<Arc<str>> {
        self.branches
            .iter()
            .find(|(p, _)| Arc::ptr_eq(p, conn.pool()))
            .map(|(_, g)| g.clone())
    }
}

/// Whether a `BEGIN` text starts a read-only transaction.
fn read_only(begin: &str) -> bool {
    let upper = begin.to_ascii_uppercase();
    upper.contains("READ ONLY") && !upper.contains("READ WRITE")
}

impl Session {
    /// Answers a statement that sets or reads `myshard_transaction_mode`; `None` for any
    /// other.
    pub(super) async fn transaction_mode_statement(
        &mut self,
        sql: &str,
        seq: u8,
    ) -> Option<Result<(), Closed>> {
        let first = sql.trim_start().as_bytes().first()?.to_ascii_uppercase();
        if first != b'S' {
            return None;
        }
        let statement = mode_statement_of(sql, VARIABLE)?;
        let result = match statement {
            ModeStatement::Set(value) => match TransactionMode::parse(&value) {
                _ if self.in_transaction() => Err(SqlError::new(
                    1568,
                    b"25001",
                    format!(
                        "Transaction characteristics can't be changed while a transaction is in progress ({VARIABLE})"
                    ),
                )),
                Some(TransactionMode::Xa) if !self.shared.xa.has_log() => Err(SqlError::new(
                    1231,
                    b"42000",
                    format!(
                        "Variable '{VARIABLE}' can't be set to the value of 'xa' (the proxy has no state_dir for its decision log)"
                    ),
                )),
                Some(mode) => {
                    self.tx.mode = mode;
                    Ok(None)
                }
                None => Err(SqlError::new(
                    1231,
                    b"42000",
                    format!(
                        "Variable '{VARIABLE}' can't be set to the value of '{value}' \
                         (single, best_effort or xa)"
                    ),
                )),
            },
            ModeStatement::SetGlobal => Err(SqlError::new(
                1228,
                b"HY000",
                format!(
                    "Variable '{VARIABLE}' is a SESSION variable and can't be used with SET \
                     GLOBAL (set users[].transaction_mode in the configuration)"
                ),
            )),
            ModeStatement::Select(column) => Ok(Some(column)),
            ModeStatement::Other => Err(SqlError::not_supported(format!(
                "{VARIABLE} in this statement (use SET {VARIABLE} = '…' or SELECT @@{VARIABLE} alone)"
            ))),
        };
        Some(match result {
            Ok(None) => self.send_ok(seq).await,
            Ok(Some(column)) => {
                let value = self.tx.mode.name();
                self.send_mode_value(&column, value, seq).await
            }
            Err(e) => self.send_err(&e, seq).await,
        })
    }

    /// Refuses a client's own `XA …` statement in a sharded schema (where the proxy runs
    /// XA itself across groups); `None` for any other statement.
    pub(super) async fn client_xa_statement(
        &mut self,
        sql: &str,
        seq: u8,
    ) -> Option<Result<(), Closed>> {
        let b = sql.trim_start().as_bytes();
        let is_xa = b.len() > 2 && b[..2].eq_ignore_ascii_case(b"XA") && b[2].is_ascii_whitespace();
        if !is_xa {
            return None;
        }
        let schema = self.schema.as_deref()?;
        if !self.table.config.schema(schema)?.is_sharded() {
            return None;
        }
        let e = SqlError::new(
            1235,
            b"42000",
            format!(
                "XA statements from clients are not supported in sharded schema '{schema}':                  the proxy runs XA itself across groups (SET myshard_transaction_mode = xa,                  then BEGIN … COMMIT)"
            ),
        );
        Some(self.send_err(&e, seq).await)
    }

    /// Records that the open transaction (if `transaction`) reaches `route`'s group; in
    /// `single` mode a second group is refused, and nothing of the statement is sent.
    pub(super) fn join_group(&mut self, route: &Route, transaction: bool) -> Result<(), SqlError> {
        if !transaction {
            self.tx.groups.clear();
            return Ok(());
        }
        if self.tx.groups.contains(&route.group) {
            return Ok(());
        }
        if self.tx.mode == TransactionMode::Single
            && let Some(first) = self.tx.groups.first()
        {
            return Err(SqlError::new(
                1235,
                b"42000",
                format!(
                    "this transaction runs on group '{first}' and myshard_transaction_mode is \
                     single: the statement would bring group '{}' into it and was not sent \
                     (the transaction goes on; COMMIT or ROLLBACK it, or use best_effort or xa)",
                    route.group
                ),
            ));
        }
        self.tx.groups.push(route.group.clone());
        Ok(())
    }

    /// What a connection of `route` not yet in the client's open transaction is sent
    /// before its first statement there: the client's `BEGIN`, or in `xa` mode the
    /// `XA START` of the group's branch.
    pub(super) fn branch_begin(&mut self, route: &Route) -> Option<String> {
        let xa = self.tx.mode == TransactionMode::Xa && self.shared.xa.has_log();
        match self.tx_begin.as_deref() {
            Some(begin) if !xa || read_only(begin) => return Some(begin.to_string()),
            Some(_) => {}
            // With autocommit off every statement is in a transaction: in xa mode it
            // starts as a branch too.
            None if xa && self.vars.autocommit_off() => {}
            None => return None,
        }
        let gtrid = self
            .tx
            .gtrid
            .get_or_insert_with(|| self.shared.xa.new_gtrid())
            .clone();
        if !self
            .tx
            .branches
            .iter()
            .any(|(p, _)| Arc::ptr_eq(p, &route.pool))
        {
            self.tx
                .branches
                .push((route.pool.clone(), route.group.clone()));
        }
        Some(format!("XA START {}", branch_xid(&gtrid, &route.group)))
    }

    /// Whether `BEGIN` is replayed on already pinned connections at once (not in `xa`
    /// mode: there each branch starts at its group's first statement).
    pub(super) fn begins_eagerly(&self, begin: &str) -> bool {
        self.tx.mode != TransactionMode::Xa || read_only(begin) || !self.shared.xa.has_log()
    }

    /// Whether the open transaction runs as XA branches.
    pub(super) fn in_xa(&self) -> bool {
        self.tx.gtrid.is_some()
    }

    /// Before an autocommit `verb` (INSERT, REPLACE, UPDATE, DELETE) planned to `targets`:
    /// in `xa` mode, when they lie on two groups or more, the statement runs as one XA
    /// transaction of its own (see [`Session::end_statement_xa`]); `true` when it does. A
    /// write on one group, or in another mode, runs as before (each group commits its part
    /// on its own); so does DDL, which commits implicitly and cannot run in a branch.
    pub(super) fn begin_statement_xa(&mut self, verb: &str, targets: &[Target]) -> bool {
        let xa = self.tx.mode == TransactionMode::Xa && self.shared.xa.has_log();
        let dml = matches!(verb, "INSERT" | "REPLACE" | "UPDATE" | "DELETE");
        if !xa || !dml || self.in_transaction() || self.vars.autocommit_off() {
            return false;
        }
        let Some(first) = targets.first() else {
            return false;
        };
        if targets.iter().all(|t| t.group == first.group) {
            return false;
        }
        self.tx.reset();
        self.tx_begin = Some("BEGIN".into());
        true
    }

    /// After the statement of [`Session::begin_statement_xa`]: its branches commit in two
    /// phases, or, when it failed on a shard (`failure`), roll back everywhere and the
    /// client gets the shard's error. `Err(None)`: an injected crash, no answer.
    pub(super) async fn end_statement_xa(
        &mut self,
        failure: Option<SqlError>,
    ) -> Result<(), Option<SqlError>> {
        let Some(mut e) = failure else {
            return self.finish_xa("COMMIT").await;
        };
        // Nothing of the statement stays: a branch whose connection broke rolled back
        // when it closed, the others roll back now.
        if let Err(Some(r)) = self.finish_xa("ROLLBACK").await {
            tracing::warn!(error = %r.message, "XA rollback of a statement failed");
        }
        self.unpin_if_idle();
        self.forget_loss();
        e.message = format!(
            "{} (the statement spans groups and ran as one XA transaction: rolled back on \
             every group)",
            e.message
        );
        Err(Some(e))
    }

    /// Drops what a failed statement transaction left of the session's transaction state.
    fn unpin_if_idle(&mut self) {
        self.tx_begin = None;
        self.tx.reset();
        if self.pin_reason.is_none() {
            self.participants.clear();
        }
    }

    /// `COMMIT` / `ROLLBACK` (`verb`) of a transaction made of XA branches. `Err(None)`:
    /// an injected fault crashed the proxy, the client gets no answer.
    pub(super) async fn finish_xa(&mut self, verb: &str) -> Result<(), Option<SqlError>> {
        if verb == "COMMIT" {
            self.check_participants().map_err(Some)?;
        }
        let Some(gtrid) = self.tx.gtrid.take() else {
            return Ok(());
        };
        let mut branches = Vec::new();
        for conn in std::mem::take(&mut self.pinned) {
            match self.tx.group_of(&conn) {
                Some(group) if conn.in_transaction => branches.push((group, conn)),
                _ => self.pinned.push(conn),
            }
        }
        self.tx_begin = None;
        self.participants.clear();
        self.tx.reset();
        if self.shared.xa.crashed() {
            return Err(self.crash(branches));
        }
        if verb != "COMMIT" {
            for (group, conn) in branches {
                let xid = branch_xid(&gtrid, &group);
                let mut conn = conn;
                let ended = conn.execute(&format!("XA END {xid}")).await;
                let rolled = match ended {
                    Ok(_) => conn.execute(&format!("XA ROLLBACK {xid}")).await.map(drop),
                    Err(e) => Err(e),
                };
                // A branch not prepared rolls back when its connection closes.
                self.branch_finished(conn, rolled.is_ok());
            }
            return Ok(());
        }
        if branches.len() == 1 {
            return self.commit_one_phase(&gtrid, branches).await;
        }
        // Recovery leaves the transaction alone while this session drives it.
        self.shared.xa.set_active(&gtrid, true);
        let r = self.commit_two_phase(&gtrid, branches).await;
        self.shared.xa.set_active(&gtrid, false);
        r
    }

    /// One branch: no prepare, no decision to log.
    async fn commit_one_phase(
        &mut self,
        gtrid: &str,
        branches: Vec<(Arc<str>, PooledConn)>,
    ) -> Result<(), Option<SqlError>> {
        for (group, mut conn) in branches {
            let xid = branch_xid(gtrid, &group);
            let r = match conn.execute(&format!("XA END {xid}")).await {
                Ok(_) => conn
                    .execute(&format!("XA COMMIT {xid} ONE PHASE"))
                    .await
                    .map(drop),
                Err(e) => Err(e),
            };
            let ok = r.is_ok();
            if ok {
                self.after_commit(&mut conn).await;
            }
            self.branch_finished(conn, ok);
            r.map_err(Some)?;
        }
        Ok(())
    }

    /// Prepare everywhere, log the decision, commit everywhere.
    async fn commit_two_phase(
        &mut self,
        gtrid: &str,
        branches: Vec<(Arc<str>, PooledConn)>,
    ) -> Result<(), Option<SqlError>> {
        // Phase one.
        let mut prepared: Vec<(Arc<str>, PooledConn)> = Vec::new();
        let mut failure: Option<SqlError> = None;
        let mut unprepared = Vec::new();
        for (group, mut conn) in branches {
            if failure.is_some() {
                unprepared.push((group, conn));
                continue;
            }
            let xid = branch_xid(gtrid, &group);
            let r = match conn.execute(&format!("XA END {xid}")).await {
                Ok(_) => conn.execute(&format!("XA PREPARE {xid}")).await,
                Err(e) => Err(e),
            };
            match r {
                Ok(_) => prepared.push((group, conn)),
                Err(e) => {
                    failure = Some(SqlError::new(
                        1180,
                        b"HY000",
                        format!(
                            "Got error during COMMIT: group '{group}' could not prepare ({}); the \
                             transaction was rolled back on every group and committed nowhere",
                            e.message
                        ),
                    ));
                    unprepared.push((group, conn));
                }
            }
        }
        if failure.is_none() && self.shared.xa.crashes_at(Fault::AfterPrepare) {
            prepared.extend(unprepared);
            return Err(self.crash(prepared));
        }
        // The decision, durable before any branch commits.
        if failure.is_none() {
            let groups: Vec<&str> = prepared.iter().map(|(g, _)| &**g).collect();
            let logged = crate::xa::Coordinator::log_commit_async(&self.shared, gtrid, &groups);
            if let Err(e) = logged.await {
                tracing::error!(gtrid, error = %e, "XA decision could not be logged");
                failure = Some(SqlError::new(
                    1180,
                    b"HY000",
                    format!(
                        "Got error during COMMIT: the commit decision could not be written to the \
                         proxy's decision log ({e}); the transaction was rolled back on every \
                         group and committed nowhere"
                    ),
                ));
            }
        }
        if let Some(e) = failure {
            self.roll_back_all(gtrid, prepared, unprepared).await;
            return Err(Some(e));
        }
        if self.shared.xa.crashes_at(Fault::AfterDecision) {
            return Err(self.crash(prepared));
        }
        self.shared.xa.decided();
        // Phase two.
        let mut unfinished = Vec::new();
        for (group, mut conn) in prepared {
            let xid = branch_xid(gtrid, &group);
            let ok = conn.execute(&format!("XA COMMIT {xid}")).await.is_ok();
            if ok {
                self.after_commit(&mut conn).await;
            } else {
                unfinished.push(group.to_string());
            }
            self.branch_finished(conn, ok);
        }
        if unfinished.is_empty() {
            if let Err(e) = self.shared.xa.log_done(gtrid) {
                tracing::warn!(gtrid, error = %e, "XA completion could not be logged");
            }
            return Ok(());
        }
        Err(Some(SqlError::new(
            1180,
            b"HY000",
            format!(
                "Got error during COMMIT: the transaction is decided committed (xid '{gtrid}') \
                 but group(s) {} did not confirm; it is in doubt there and recovery will \
                 complete it",
                unfinished.join(", ")
            ),
        )))
    }

    /// After a failure before the decision: every branch rolls back. A branch whose
    /// connection failed is rolled back from another connection, since its prepare may
    /// have reached the server.
    async fn roll_back_all(
        &mut self,
        gtrid: &str,
        prepared: Vec<(Arc<str>, PooledConn)>,
        unprepared: Vec<(Arc<str>, PooledConn)>,
    ) {
        for (group, mut conn) in prepared {
            let xid = branch_xid(gtrid, &group);
            let ok = conn.execute(&format!("XA ROLLBACK {xid}")).await.is_ok();
            if !ok {
                self.roll_back_elsewhere(&conn, &xid).await;
            }
            self.branch_finished(conn, ok);
        }
        for (group, conn) in unprepared {
            let xid = branch_xid(gtrid, &group);
            if conn.broken {
                self.roll_back_elsewhere(&conn, &xid).await;
            }
            // Not prepared: closing the connection rolls the branch back.
            self.branch_finished(conn, false);
        }
    }

    /// `XA ROLLBACK` of `xid` on a fresh connection of `conn`'s pool (an unknown xid
    /// means there is nothing left to roll back).
    async fn roll_back_elsewhere(&mut self, conn: &PooledConn, xid: &str) {
        let pool = conn.pool().clone();
        let vars = self.vars.clone();
        if let Ok(mut other) = pool.checkout(self.id, &vars).await
            && let Err(e) = other.execute(&format!("XA ROLLBACK {xid}")).await
            && e.code != 1397
        {
            tracing::warn!(xid, error = %e, "XA branch left for recovery");
        }
    }

    /// A branch's connection after its end: back to the session or the pool when `clean`,
    /// closed otherwise.
    fn branch_finished(&mut self, mut conn: PooledConn, clean: bool) {
        if !clean || conn.broken {
            conn.discard();
            return;
        }
        conn.in_transaction = false;
        if self.pin_reason.is_some() {
            self.pinned.push(conn);
        }
    }

    /// An injected crash: the connections close without another word (prepared branches
    /// stay prepared on the servers) and the client gets no answer.
    fn crash(&mut self, branches: Vec<(Arc<str>, PooledConn)>) -> Option<SqlError> {
        for (_, conn) in branches {
            conn.discard();
        }
        self.unpin();
        None
    }
}
