//! Transaction boundaries. `BEGIN` is answered by the proxy and replayed lazily on each
//! backend connection the transaction touches (a transaction may span several groups);
//! `COMMIT` / `ROLLBACK` go to every connection the transaction holds. Across groups this
//! is not atomic in `best_effort` mode: each group commits on its own, in order, and a
//! failure is reported with the groups that did commit. In `xa` mode the groups' parts are
//! XA branches committed in two phases (see `xa.rs`).

use super::{Closed, Session};
use crate::error::SqlError;

impl Session {
    /// `BEGIN` / `START TRANSACTION`: an open transaction is committed first, as MySQL
    /// does; the new one starts on each backend at its first statement there.
    pub(super) async fn begin(&mut self, text: String, seq: u8) -> Result<(), Closed> {
        if self.in_transaction() {
            match self.finish_transaction("COMMIT").await {
                Ok(()) => {}
                Err(Some(e)) => return self.send_err(&e, seq).await,
                Err(None) => return Err(Closed),
            }
        }
        // Shards of a transaction that ended implicitly (DDL, autocommit) are not this one's.
        self.tx_shards.clear();
        self.tx.reset();
        if !self.begins_eagerly(&text) {
            // XA branches start at each group's first statement.
            self.tx_begin = Some(text);
            return self.send_ok(seq).await;
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
            Err(Some(e)) => self.send_err(&e, seq).await,
            // An injected crash: no answer.
            Err(None) => Err(Closed),
        }
    }

    /// Sends `verb` to every pinned connection in a transaction; connections pinned only
    /// for the transaction go back to the pool.
    pub(super) async fn finish_transaction(&mut self, verb: &str) -> Result<(), Option<SqlError>> {
        // A shard the transaction wrote must not have moved (tx_shards.rs).
        let _passages = match verb {
            "COMMIT" => self.commit_gates().await.map_err(Some)?,
            _ => {
                self.tx_shards.clear();
                Vec::new()
            }
        };
        if self.in_xa() {
            return self.finish_xa(verb).await;
        }
        if verb == "COMMIT" {
            // Never commit a transaction whose hosts changed under it.
            self.check_participants()?;
        }
        self.tx_begin = None;
        // Counted as open until the verb has run (a draining switchover waits for it).
        let _ending = std::mem::take(&mut self.participants);
        self.tx.reset();
        let mut done: Vec<String> = Vec::new();
        let mut failure: Option<SqlError> = None;
        let conns = std::mem::take(&mut self.pinned);
        let groups = conns.iter().filter(|c| c.in_transaction).count();
        let mut conns = conns.into_iter();
        while let Some(mut conn) = conns.next() {
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
                            // The test fault "crash between two groups' commits".
                            if done.len() < groups
                                && self.shared.xa.crashes_at(crate::xa::Fault::AfterDecision)
                            {
                                conn.discard();
                                conns.for_each(|c| c.discard());
                                self.unpin();
                                return Err(None);
                            }
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
                Err(Some(e))
            }
            Some(e) => Err(Some(e)),
        }
    }
}
