//! A shard-key UPDATE whose rows move to a shard of another group. No server can copy rows
//! to another server, so the proxy does: on each old shard it reads the rows with their new
//! values (`SELECT … FOR UPDATE`, locked until the end), writes them into the new shard
//! (`INSERT … VALUES`), and deletes them from the old one, checking that it deleted as many
//! rows as it read. All of it is one transaction over both groups, run by the session's
//! transaction machinery in the session's `myshard_transaction_mode`:
//! - `xa`: XA branches committed in two phases: the row is on exactly one group afterwards,
//!   whatever fails;
//! - `best_effort`: each group commits in turn: a failure between the two commits can leave
//!   the row on both groups (the new one committed first) or, if the old group commits
//!   first, on neither; the error names the groups that committed;
//! - `single`: refused, naming the mode.
//!
//! Outside a client transaction the move is its own transaction; inside one it joins it,
//! under a savepoint on each connection, so that a failed move leaves the transaction as it
//! was.

use super::Session;
use crate::error::SqlError;
use crate::routing::Intent;
use myshard_config::TransactionMode;
use myshard_router::shard::key_update::KeyUpdate;
use myshard_router::shard::resolve::Target;
use myshard_router::shard::template::quote_ident;
use std::fmt::Write as _;

/// The savepoint a move inside a client transaction rolls back to when it fails.
const SAVEPOINT: &str = "myshard_key_move";

/// Rows per INSERT into the new shard.
const ROWS_PER_INSERT: usize = 500;

/// Why a cross-group move ended without an answer for the client: an injected crash of the
/// commit protocol (tests), after which the proxy says nothing more.
pub(super) struct Crashed;

impl Session {
    /// Moves `k`'s rows from the `old` shards to `new` (on another group than some of
    /// them); the affected-row count as one server would report it.
    pub(super) async fn move_rows_across_groups(
        &mut self,
        k: &KeyUpdate,
        columns: &[String],
        old: &[Target],
        new: &Target,
    ) -> Result<Result<u64, SqlError>, Crashed> {
        let far = old
            .iter()
            .find(|t| t.group != new.group)
            .map_or("", |t| t.group.as_str());
        if self.tx.mode == TransactionMode::Single {
            return Ok(Err(SqlError::new(
                1235,
                b"42000",
                format!(
                    "UPDATE of shard key '{}' of sharded table '{}' may move rows from group '{far}' to group '{}', \
                     which needs a transaction over two groups; myshard_transaction_mode is single \
                     (SET myshard_transaction_mode = xa, or best_effort)",
                    k.key, k.table, new.group
                ),
            )));
        }
        let joined = self.in_transaction() || self.vars.autocommit_off();
        if joined {
            let mut touched = Vec::new();
            let r = self
                .copy_and_delete(k, columns, old, new, Some(&mut touched))
                .await;
            let end = match r {
                Ok(_) => format!("RELEASE SAVEPOINT {SAVEPOINT}"),
                Err(_) => format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}"),
            };
            for t in &touched {
                if let Err(e) = self.on_group(t, &end).await {
                    tracing::warn!(group = %t.group, error = %e, "key move: savepoint not ended");
                }
            }
            return Ok(r);
        }
        // Its own transaction: BEGIN as the client would have sent it.
        self.tx.reset();
        self.tx_begin = Some("START TRANSACTION".to_string());
        let r = self.copy_and_delete(k, columns, old, new, None).await;
        let verb = if r.is_ok() { "COMMIT" } else { "ROLLBACK" };
        match self.finish_transaction(verb).await {
            Ok(()) => Ok(r),
            Err(None) => Err(Crashed),
            Err(Some(e)) if r.is_ok() => Ok(Err(e)),
            Err(Some(e)) => {
                tracing::warn!(error = %e, "key move: rollback failed");
                Ok(r)
            }
        }
    }

    /// The statements of the move, each on the connection of its shard's group in the open
    /// transaction. `touched` (inside a client transaction) collects the groups where a
    /// savepoint was set.
    async fn copy_and_delete(
        &mut self,
        k: &KeyUpdate,
        columns: &[String],
        old: &[Target],
        new: &Target,
        mut touched: Option<&mut Vec<Target>>,
    ) -> Result<u64, SqlError> {
        let physical =
            |t: &Target| format!("{}.{}", quote_ident(&t.database), quote_ident(&k.table));
        let alias = k
            .alias
            .as_ref()
            .map(|a| format!(" AS {}", quote_ident(a)))
            .unwrap_or_default();
        let filter = k
            .selection
            .as_ref()
            .map(|w| format!(" WHERE {w}"))
            .unwrap_or_default();
        let set: Vec<String> = k
            .assignments
            .iter()
            .map(|(c, v)| format!("{} = {v}", quote_ident(c)))
            .collect();
        let list: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
        let mut affected = 0;
        // Rows staying on their shard first: the rows copied in must not be updated again.
        let (here, away): (Vec<&Target>, Vec<&Target>) =
            old.iter().partition(|t| t.shard == new.shard);
        for t in here {
            self.savepoint(&mut touched, t).await?;
            let sql = format!(
                "UPDATE {}{alias} SET {}{filter}",
                physical(t),
                set.join(", ")
            );
            affected += self.on_group(t, &sql).await?;
        }
        for t in away {
            let from = physical(t);
            let (qualifier, values) = super::key_move::new_row_values(k, columns, &from);
            self.savepoint(&mut touched, t).await?;
            let read = format!(
                "SELECT {} FROM {from}{alias}{filter} FOR UPDATE",
                values.join(", ")
            );
            let rows = self.rows_on_group(t, &read).await?;
            if !rows.is_empty() {
                self.savepoint(&mut touched, new).await?;
            }
            for chunk in rows.chunks(ROWS_PER_INSERT) {
                let mut sql = format!(
                    "INSERT INTO {} ({}) VALUES ",
                    physical(new),
                    list.join(", ")
                );
                for (n, row) in chunk.iter().enumerate() {
                    sql.push_str(if n == 0 { "(" } else { ", (" });
                    for (i, v) in row.iter().enumerate() {
                        if i > 0 {
                            sql.push_str(", ");
                        }
                        push_literal(&mut sql, v.as_deref());
                    }
                    sql.push(')');
                }
                self.on_group(new, &sql).await?;
            }
            let delete = format!("DELETE {qualifier} FROM {from}{alias}{filter}");
            let deleted = self.on_group(t, &delete).await?;
            if deleted != rows.len() as u64 {
                return Err(SqlError::new(
                    1105,
                    b"HY000",
                    format!(
                        "shard-key UPDATE of '{}': {} row(s) copied from shard {} but {deleted} deleted; the move was undone",
                        k.table,
                        rows.len(),
                        t.shard
                    ),
                ));
            }
            affected += deleted;
        }
        Ok(affected)
    }

    /// Runs `sql` on the write connection of `t`'s group in the open transaction; its
    /// affected rows.
    async fn on_group(&mut self, t: &Target, sql: &str) -> Result<u64, SqlError> {
        let route = self.table.route_to(
            &t.group,
            Some(t.database.clone()),
            Intent::Write,
            self.flags,
        )?;
        let mut conn = self.acquire_at(&route).await?;
        let r = conn.execute(sql).await;
        self.release_failed(conn);
        Ok(r?.affected_rows)
    }

    /// Inside a client transaction (`touched` is `Some`): sets the savepoint on `t`'s
    /// group unless the move set it there already.
    async fn savepoint(
        &mut self,
        touched: &mut Option<&mut Vec<Target>>,
        t: &Target,
    ) -> Result<(), SqlError> {
        let Some(touched) = touched else {
            return Ok(());
        };
        if touched.iter().any(|x| x.group == t.group) {
            return Ok(());
        }
        self.on_group(t, &format!("SAVEPOINT {SAVEPOINT}")).await?;
        touched.push(t.clone());
        Ok(())
    }

    /// The rows `sql` reads on the write connection of `t`'s group.
    async fn rows_on_group(
        &mut self,
        t: &Target,
        sql: &str,
    ) -> Result<Vec<Vec<Option<Vec<u8>>>>, SqlError> {
        let route = self.table.route_to(
            &t.group,
            Some(t.database.clone()),
            Intent::Write,
            self.flags,
        )?;
        let mut conn = self.acquire_at(&route).await?;
        let r = conn.query_rows(sql).await;
        self.release_failed(conn);
        r
    }
}

/// A value read in the text protocol as a literal the same connection reads back as that
/// value: text as a quoted string (numbers, dates and text convert back exactly); text
/// with a backslash or NUL (whose quoting depends on the sql_mode) and bytes that are not
/// UTF-8 as a hex literal, which a string column stores byte for byte.
fn push_literal(sql: &mut String, v: Option<&[u8]>) {
    let Some(v) = v else {
        sql.push_str("NULL");
        return;
    };
    match std::str::from_utf8(v) {
        Ok(s) if !s.contains(['\\', '\0']) => {
            sql.push('\'');
            sql.push_str(&s.replace('\'', "''"));
            sql.push('\'');
        }
        _ => {
            sql.push_str("X'");
            for b in v {
                let _ = write!(sql, "{b:02X}");
            }
            sql.push('\'');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::push_literal;

    #[test]
    fn literals_read_back_as_the_value() {
        let lit = |v: Option<&[u8]>| {
            let mut s = String::new();
            push_literal(&mut s, v);
            s
        };
        assert_eq!(lit(None), "NULL");
        assert_eq!(lit(Some(b"12")), "'12'");
        assert_eq!(lit(Some(b"a'b")), "'a''b'");
        assert_eq!(lit(Some(b"a\\b")), "X'615C62'");
        assert_eq!(lit(Some(&[0xff, 0x00])), "X'FF00'");
    }
}
