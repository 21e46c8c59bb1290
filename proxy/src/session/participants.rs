//! The hosts an open transaction runs on: one participant per group, with the host that
//! took the transaction's first statement there and that host's epoch then.
//!
//! A transaction is never continued on another host: when the group's route now leads to
//! another host, or the host changed state since (fenced, down, draining — its epoch moved),
//! the statement fails, the transaction's connections close (the servers roll it back) and
//! the session reports the transaction lost until the client ends it. `COMMIT` checks every
//! participant the same way before committing anywhere. This is where XA will plug in.
//!
//! A session pinned for other state (user variables, temporary tables, …) is tracked the
//! same way: when a host holding that state is replaced, the statement fails once saying
//! the state was lost, and the session continues afresh.

use super::Session;
use crate::error::SqlError;
use crate::failover::OpenTransaction;
use crate::routing::{Host, Route};
use std::sync::Arc;

/// One group a transaction has run statements on.
#[derive(Debug, Clone)]
pub(crate) struct Participant {
    /// The group.
    pub group: Arc<str>,
    /// The host the transaction runs on there.
    pub host: Arc<Host>,
    /// The host's epoch when the transaction joined it.
    pub epoch: u64,
    /// Counts the transaction as open on the host (a switchover lets it finish); none
    /// while the session is only pinned.
    pub open: Option<crate::failover::OpenTransaction>,
}

impl Participant {
    /// Why the transaction may not go on with `now` as its host for this group, if so.
    fn moved(&self, now: Option<&Arc<Host>>) -> Option<String> {
        let state = self.host.state();
        let cause = match now {
            Some(h) if !Arc::ptr_eq(h, &self.host) => format!(
                "the write host of group '{}' changed from {} to {} during the transaction",
                self.group,
                self.host.addr(),
                h.addr()
            ),
            None => format!(
                "group '{}' has no write host any more (was {})",
                self.group,
                self.host.addr()
            ),
            _ if !state.serves() || self.host.epoch() != self.epoch => format!(
                "the write host {} of group '{}' became {} during the transaction",
                self.host.addr(),
                self.group,
                state.name()
            ),
            _ => return None,
        };
        Some(cause)
    }
}

impl Session {
    /// Checks `route` against the open transaction's participant of its group, and joins
    /// the group to the transaction if it is new. The error aborts the transaction.
    pub(super) fn join_transaction(&mut self, route: &Route) -> Result<(), SqlError> {
        let transaction = self.in_transaction() || self.vars.autocommit_off();
        // State the session is pinned for lives on its hosts just like a transaction. The
        // host is recorded for every statement, since any statement may start a transaction
        // or pin the session; without either, what was recorded before no longer matters.
        if !transaction && self.pin_reason.is_none() {
            self.participants.clear();
        }
        // The transaction mode decides whether another group may join.
        self.join_group(route, transaction)?;
        let open = &self.shared.failover.open;
        match self
            .participants
            .iter_mut()
            .find(|p| p.group == route.group)
        {
            Some(p) => match p.moved(Some(&route.host)) {
                Some(cause) if transaction => Err(self.abort_transaction(cause)),
                Some(cause) => Err(self.abort_pinned_state(cause)),
                None => {
                    if transaction && p.open.is_none() {
                        p.open = Some(OpenTransaction::new(open, p.host.addr()));
                    }
                    Ok(())
                }
            },
            None => {
                let open = transaction.then(|| OpenTransaction::new(open, route.host.addr()));
                self.participants.push(Participant {
                    group: route.group.clone(),
                    host: route.host.clone(),
                    epoch: route.epoch,
                    open,
                });
                Ok(())
            }
        }
    }

    /// Before `COMMIT`: every participant must still be its group's write host, at the
    /// epoch the transaction joined it. The error aborts (rolls back) the transaction.
    pub(super) fn check_participants(&mut self) -> Result<(), SqlError> {
        let table = self.shared.table();
        let cause = self.participants.iter().find_map(|p| {
            let now = table.group(&p.group).and_then(|g| g.write.as_ref());
            p.moved(now)
        });
        let Some(cause) = cause else {
            return Ok(());
        };
        self.abort_transaction(cause.clone());
        // The failed COMMIT ends the transaction, as on a server.
        self.forget_loss();
        Err(SqlError::new(
            1180,
            b"HY000",
            format!(
                "Got error during COMMIT: {cause}; the transaction was rolled back and committed nowhere"
            ),
        ))
    }

    /// Whether the session has a transaction open in `group` (it may finish while a
    /// switchover of the group drains).
    pub(super) fn open_in(&self, group: &str) -> bool {
        self.participants
            .iter()
            .any(|p| p.open.is_some() && &*p.group == group)
    }

    /// Forgets the participants once no transaction is open and nothing pins the session.
    pub(super) fn settle_participants(&mut self) {
        if !self.in_transaction() && !self.vars.autocommit_off() && self.pin_reason.is_none() {
            self.participants.clear();
        }
    }
}
