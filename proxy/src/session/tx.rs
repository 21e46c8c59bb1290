//! Transaction boundaries. `BEGIN` is answered by the proxy and replayed lazily on each
//! backend connection the transaction touches (a transaction may span several groups);
//! `COMMIT` / `ROLLBACK` go to every connection the transaction holds. Across groups this
//! is not atomic: each group commits on its own, in order, and a failure is reported with
//! the groups that did commit.

use super::{Closed, Session};
use crate::error::SqlError;

impl Session {
    /// `BEGIN` / `START TRANSACTION`: an open transaction is committed first, as MySQL
    /// does; the new one starts on each backend at its first statement there.
    pub(super) async fn begin(&mut self, text: String, seq: u8) -> Result<(), Closed> {
        if self.in_transaction()
            && let Err(e) = self.finish_transaction("COMMIT").await
        {
            return self.send_err(&e, seq).await;
        }
        // Connections the session is already bound to (user variables, temporary tables)
        // start the transaction now: later statements reuse them without a fresh BEGIN.
        let mut failed = None;
        for conn in &mut self.pinned {
            if let Err(e) = conn.execute(&text).await {
                failed = Some(e);
                break;
            }
        }
        if let Some(e) = failed {
            self.lose_pin();
            return self.send_err(&e, seq).await;
        }
        self.tx_begin = Some(text);
        self.send_ok(seq).await
    }

    /// `COMMIT` / `ROLLBACK` (`verb`) of the whole transaction.
    pub(super) async fn end_transaction(&mut self, verb: &str, seq: u8) -> Result<(), Closed> {
        match self.finish_transaction(verb).await {
            Ok(()) => self.send_ok(seq).await,
            Err(e) => self.send_err(&e, seq).await,
        }
    }

    /// Sends `verb` to every pinned connection in a transaction; connections pinned only
    /// for the transaction go back to the pool.
    async fn finish_transaction(&mut self, verb: &str) -> Result<(), SqlError> {
        if verb == "COMMIT" {
            // Never commit a transaction whose hosts changed under it.
            self.check_participants()?;
        }
        self.tx_begin = None;
        self.participants.clear();
        let mut done: Vec<String> = Vec::new();
        let mut failure: Option<SqlError> = None;
        for mut conn in std::mem::take(&mut self.pinned) {
            if conn.in_transaction {
                if failure.is_some() && verb == "COMMIT" {
                    // After a failed commit the remaining groups roll back (they close).
                    conn.discard();
                    continue;
                }
                match conn.execute(verb).await {
                    Ok(_) => {
                        done.push(conn.host.to_string());
                        if verb == "COMMIT" {
                            self.after_commit(&mut conn).await;
                        }
                    }
                    Err(e) => {
                        conn.broken = true;
                        failure.get_or_insert(e);
                        continue;
                    }
                }
            }
            if self.pin_reason.is_some() {
                self.pinned.push(conn);
            }
        }
        match failure {
            None => Ok(()),
            Some(mut e) if !done.is_empty() => {
                e.message = format!(
                    "{} (already done on {}; the rest rolled back)",
                    e.message,
                    done.join(", ")
                );
                Err(e)
            }
            Some(e) => Err(e),
        }
    }
}
