//! What clients see instead of physical names and backend identities: errors quoting a
//! shard's (or a renamed schema's) database name the logical schema, a statement that
//! failed alike on every shard gives the one error a single server would, and the
//! session functions (`CONNECTION_ID()`, `USER()`, …) answer with the client's proxy id
//! and account. Also the statements about sessions the proxy answers itself
//! (`SHOW PROCESSLIST`, `KILL CONNECTION_ID()`).

use super::scatter::{Msg, Streams};
use super::{Closed, Session};
use crate::backend::header::HeaderEdit;
use crate::backend::rewrite::{ColumnDef, Edit};
use crate::backend::{Class, ResponseKind};
use crate::error::SqlError;
use myshard_config::SchemaTopology;
use myshard_router::compat::{
    ClientIdentity, NameMap, kill_own_connection, names_processlist_table, show_processlist,
};
use myshard_router::text::{decode, encode};
use std::time::Duration;

/// How long a failed scatter waits for the other shards' first answers to learn whether
/// they all failed alike (errors of the statement itself come back at once).
const ALIKE_WAIT: Duration = Duration::from_millis(500);

/// A physical database to show as its logical schema in the next relayed response: in its
/// errors, and (for a single shard's answer) in the column definitions of each of its
/// result sets. Rows are relayed untouched. Kept in the session and reused, so that
/// setting it allocates nothing once its strings have grown.
#[derive(Debug, Default, Clone)]
pub(super) struct Rename {
    /// The database the statement runs in.
    physical: String,
    /// The logical schema clients know.
    logical: String,
    /// Column definitions are renamed too (not only an error message).
    columns: bool,
    /// Applies to the next relayed response.
    active: bool,
}

impl Rename {
    /// Shows `physical` as `logical` in the next relayed response (in its column
    /// definitions too when `columns`).
    pub(super) fn set(&mut self, physical: &str, logical: &str, columns: bool) {
        self.physical.clear();
        self.physical.push_str(physical);
        self.logical.clear();
        self.logical.push_str(logical);
        self.columns = columns;
        self.active = true;
    }

    /// Renames nothing in the next relayed response.
    pub(super) fn clear(&mut self) {
        self.active = false;
    }

    /// Whether the next relayed response is renamed.
    pub(super) fn is_active(&self) -> bool {
        self.active
    }
}

impl HeaderEdit for Rename {
    fn edit(&mut self, class: Class, packet: &[u8], out: &mut Vec<u8>) -> bool {
        match class {
            Class::Err => {
                let names = NameMap::single(&self.physical, &self.logical);
                match super::compat::rename_err(packet, &names) {
                    Edit::Replace(p) => {
                        out.extend_from_slice(&p);
                        true
                    }
                    Edit::Keep | Edit::Drop => false,
                }
            }
            Class::ColumnDef if self.columns => ColumnDef::rename_schema_into(
                packet,
                self.physical.as_bytes(),
                self.logical.as_bytes(),
                out,
            ),
            _ => false,
        }
    }
}

/// A scatter error's message without the ` (shard N on group g)` note.
fn without_shard_note(m: &str) -> &str {
    match m.rfind(" (shard ") {
        Some(at) if m.ends_with(')') => &m[..at],
        _ => m,
    }
}

impl Session {
    /// The client as the proxy knows it, for the session functions.
    pub(super) fn client_identity(&self) -> ClientIdentity<'_> {
        ClientIdentity {
            connection_id: self.id,
            user: &self.user,
            host: &self.peer_host,
        }
    }

    /// A prepared statement's text with its session function calls answering as the
    /// proxy does (executable comments resolved first, as the backend would run them), or
    /// `None` when it has none. The text then holds this client's id and account as
    /// literals, which also keeps it out of other clients' cached statements.
    pub(super) fn prepared_session_calls(&self, sql: &[u8]) -> Result<Option<Vec<u8>>, SqlError> {
        // Texts with the reserved characters or that are not UTF-8 cannot be rewritten
        // exactly; they hold no call the cheap test finds in valid text either way.
        let Ok(text) = decode(sql) else {
            return Ok(None);
        };
        let text = super::privilege::resolve_comments(&self.shared, &text)?;
        Ok(self
            .database_calls(&text)
            .map(|rewritten| encode(&rewritten).into_owned()))
    }

    /// Runs a `SET` whose values call session functions, with the proxy's answers as
    /// values (a user variable set so reads the client's identity back later).
    pub(super) async fn set_with_session_calls(
        &mut self,
        sql: &str,
        seq: u8,
    ) -> Result<(), Closed> {
        let mut payload = Vec::with_capacity(sql.len() + 1);
        payload.push(0x03);
        payload.extend_from_slice(&encode(sql));
        let c = myshard_router::classify(sql);
        self.forward(&payload, seq, ResponseKind::Query, Some(c))
            .await
    }

    /// A backend error as the client sees it: physical database names shown as logical
    /// schemas.
    pub(super) fn logical_error(&self, mut e: SqlError) -> SqlError {
        let names = NameMap::for_messages(&self.table.topology);
        if let std::borrow::Cow::Owned(m) = names.message(&e.message) {
            e.message = m;
        }
        e
    }

    /// The error a scatter over `targets` shards stopped with, as the client sees it:
    /// logical names, and when no answer reached the client yet (`header_sent` false) and
    /// every other shard's first answer is the same error, that one error without the note
    /// of the shard that reported it, as one server gives it.
    pub(super) async fn scatter_error(
        &self,
        e: SqlError,
        streams: &mut Streams,
        targets: usize,
        header_sent: bool,
    ) -> SqlError {
        let mut e = self.logical_error(e);
        let (code, message) = (e.code, without_shard_note(&e.message).to_string());
        let alike = |other: &SqlError| {
            let other = self.logical_error(other.clone());
            other.code == code && without_shard_note(&other.message) == message
        };
        if header_sent || targets < 2 {
            return e;
        }
        let others = tokio::time::timeout(ALIKE_WAIT, async {
            let mut failed = 0usize;
            match streams {
                Streams::Shared(rx) => {
                    while failed + 1 < targets {
                        match rx.recv().await {
                            Some((_, Msg::Failed(o))) if alike(&o) => failed += 1,
                            _ => return false,
                        }
                    }
                }
                Streams::Each(rx) => {
                    for r in rx.iter_mut() {
                        match r.recv().await {
                            Some(Msg::Failed(o)) if alike(&o) => failed += 1,
                            // The stream whose failure stopped the merge.
                            None => {}
                            Some(_) => return false,
                        }
                    }
                }
            }
            failed + 1 == targets
        })
        .await;
        if others == Ok(true) {
            e.message = message;
        }
        e
    }

    /// The error for a statement that failed on `failed` of `total` shards (shard,
    /// group, error): when every shard failed with the same error (after renaming), that
    /// one error; otherwise the failures by message, with the shards that gave each.
    pub(super) fn shard_failures(
        &self,
        failed: &[(u32, String, SqlError)],
        total: usize,
    ) -> Option<SqlError> {
        let names = NameMap::for_messages(&self.table.topology);
        let mut kinds: Vec<(SqlError, Vec<String>)> = Vec::new();
        for (shard, group, e) in failed {
            let mut e = e.clone();
            if let std::borrow::Cow::Owned(m) = names.message(&e.message) {
                e.message = m;
            }
            let at = format!("{shard} on {group}");
            match kinds
                .iter_mut()
                .find(|(k, _)| k.code == e.code && k.message == e.message)
            {
                Some((_, shards)) => shards.push(at),
                None => kinds.push((e, vec![at])),
            }
        }
        let (first, _) = kinds.first()?;
        if kinds.len() == 1 && failed.len() == total {
            return Some(first.clone());
        }
        let mut e = first.clone();
        let list: Vec<String> = kinds
            .iter()
            .map(|(k, shards)| {
                let noun = if shards.len() == 1 { "shard" } else { "shards" };
                format!("{noun} {}: {}", shards.join(", "), k.message)
            })
            .collect();
        let others = if failed.len() < total {
            "; the others applied the statement"
        } else {
            ""
        };
        e.message = format!(
            "{} of {} shards failed ({}){others}",
            failed.len(),
            total,
            list.join("; ")
        );
        Some(e)
    }

    /// For a statement sent unplanned to a renamed unsharded schema's database: renames
    /// its error (column definitions are relayed untouched, as the database answers them).
    pub(super) fn rename_database(&mut self) {
        let Some(schema) = self.schema.as_deref() else {
            return;
        };
        if let Some(SchemaTopology::Unsharded { database, .. }) = self.table.topology.schema(schema)
            && database != schema
        {
            self.rename_schema.set(database, schema, false);
        }
    }

    /// Answers the statements about sessions the proxy knows and the backends do not:
    /// `SHOW [FULL] PROCESSLIST`, `KILL [QUERY] CONNECTION_ID()`, and refuses the
    /// backends' `information_schema.PROCESSLIST`. `None` for any other statement.
    pub(super) async fn session_statement(
        &mut self,
        sql: &str,
        seq: u8,
    ) -> Option<Result<(), Closed>> {
        let first = sql.trim_start().as_bytes().first()?.to_ascii_uppercase();
        if first == b'S'
            && let Some(full) = show_processlist(sql)
        {
            return Some(self.send_processlist(full, seq).await);
        }
        if first == b'K'
            && let Some(query) = kill_own_connection(sql)
        {
            return Some(self.kill(self.id, query, seq).await);
        }
        let in_information_schema = self
            .schema
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("information_schema"));
        if names_processlist_table(sql, in_information_schema) {
            let e = SqlError::not_supported(
                "information_schema.PROCESSLIST through myshard (it lists backend threads); \
                 use SHOW PROCESSLIST",
            );
            return Some(self.send_err(&e, seq).await);
        }
        None
    }
}
