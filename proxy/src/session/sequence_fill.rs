//! INSERTs into a table with a global sequence: the numbers the statement leaves to the
//! proxy (a missing sequence column, NULL or 0) are written in before it is planned, so a
//! row whose shard key is the sequence column is routed by its number. A prepared INSERT
//! that may leave numbers to the proxy runs each EXECUTE as that text statement.

use super::{Closed, Session};
use crate::error::SqlError;
use crate::sharding::literal_in;
use myshard_config::{SchemaTopology, Sequence};
use myshard_router::prepare::bind;
use myshard_router::shard::resolve::Bound;
use myshard_router::shard::sequence::{
    SequenceSlots, insert_target, prepared_numbering, sequence_slots,
};
use myshard_router::text::encode;
use std::borrow::Cow;

/// A statement that leaves numbers to a table's sequence.
struct Numbering {
    schema: String,
    table: String,
    spec: Sequence,
    /// The group of the segment table when the sequence names none.
    group: String,
    slots: SequenceSlots,
}

impl Session {
    /// `text` with the sequence numbers written in, if it is an INSERT / REPLACE into a
    /// table with a sequence that leaves numbers to the proxy; else `text` unchanged.
    pub(super) async fn with_sequence_values<'a>(
        &mut self,
        text: Cow<'a, str>,
    ) -> Result<Cow<'a, str>, SqlError> {
        let Some(n) = self.numbering(&text) else {
            return Ok(text);
        };
        let values = self
            .shared
            .sequences
            .take(
                &self.shared,
                &n.schema,
                &n.table,
                &n.spec,
                &n.group,
                n.slots.count(),
            )
            .await?;
        Ok(Cow::Owned(n.slots.render(&values)))
    }

    /// The text a prepared INSERT is planned and prepared with to learn its metadata: one
    /// that leaves numbers to a sequence gets stand-in numbers (the values are assigned at
    /// each EXECUTE, which runs the statement as text: [`Session::execute_as_text`]). A
    /// RETURNING clause is refused there: its rows would come back in the text protocol.
    pub(super) fn prepared_numbering_text<'a>(
        &self,
        text: Cow<'a, str>,
    ) -> Result<Cow<'a, str>, SqlError> {
        if let Some(spec) = self.sequence_of(&text)
            && prepared_numbering(&text, &spec.column).is_some_and(|p| p.returning)
        {
            return Err(SqlError::new(
                1235,
                b"42000",
                format!(
                    "a prepared INSERT … RETURNING that may leave column '{}' to its global sequence; send it as text",
                    spec.column
                ),
            ));
        }
        Ok(match self.numbering(&text) {
            Some(n) => Cow::Owned(n.slots.render(&vec![1; n.slots.count()])),
            None => text,
        })
    }

    /// Whether prepared statement `sql` may leave numbers to a table's sequence at
    /// execute (its key column missing, or given as a parameter, NULL or 0).
    pub(super) fn prepared_leaves_numbers(&self, sql: &[u8]) -> bool {
        let text = String::from_utf8_lossy(sql);
        self.sequence_of(&text)
            .is_some_and(|spec| prepared_numbering(&text, &spec.column).is_some())
    }

    /// Whether SQL-prepared `text` (`PREPARE … FROM`) leaves numbers to a sequence with
    /// its key column missing: its plan waits for the numbers of each EXECUTE.
    pub(super) fn sql_prepare_leaves_numbers(&self, text: &str) -> bool {
        self.numbering(text).is_some()
    }

    /// Runs an EXECUTE of a prepared statement that runs as text (an INSERT that may leave
    /// numbers to a sequence, an UPDATE moving rows to another shard): the bound values
    /// are written into the text as literals, and the statement runs as the client's text
    /// statement would (numbered and routed by its numbers, or moving its rows), in the
    /// schema it was prepared in. Its answer is an OK or error packet, the same in both
    /// protocols.
    pub(super) async fn execute_as_text(
        &mut self,
        sql: &[u8],
        params: Option<Vec<Bound>>,
        schema: Option<String>,
        seq: u8,
    ) -> Result<(), Closed> {
        let Some(params) = params else {
            let e = SqlError::malformed_packet("COM_STMT_EXECUTE parameters");
            return self.send_err(&e, seq).await;
        };
        let charset = self.vars.client_charset();
        let literals: Vec<String> = params.iter().map(|b| literal_in(b, charset)).collect();
        let text = String::from_utf8_lossy(sql);
        let Some(bound) = bind(&text, &literals) else {
            let e = SqlError::wrong_arguments("mysqld_stmt_execute");
            return self.send_err(&e, seq).await;
        };
        let raw = encode(&bound);
        let mut payload = Vec::with_capacity(raw.len() + 1);
        payload.push(0x03);
        payload.extend_from_slice(&raw);
        // Run in the prepare-time schema, then back to the session's own.
        let own = match schema {
            Some(s) if self.schema.as_deref() != Some(s.as_str()) => Some(self.schema.replace(s)),
            _ => None,
        };
        let r = self.com_query(&payload, seq).await;
        if let Some(own) = own {
            self.schema = own;
        }
        r
    }

    /// The sequence of the table `text` inserts into, if it has one.
    fn sequence_of(&self, text: &str) -> Option<Sequence> {
        let (schema, table) = insert_target(text)?;
        let schema = schema.or_else(|| self.schema.clone())?;
        self.table
            .config
            .schema(&schema)?
            .tables
            .iter()
            .find(|t| t.name == table)?
            .sequence
            .clone()
    }

    fn numbering(&self, text: &str) -> Option<Numbering> {
        let (schema, table) = insert_target(text)?;
        let schema = schema.or_else(|| self.schema.clone())?;
        let spec = self.sequence_of(text)?;
        let home_group = match self.table.topology.schema(&schema) {
            Some(SchemaTopology::Sharded(sh)) => sh.group_of(sh.home_shard).map(str::to_string),
            _ => None,
        };
        let group = spec.group.clone().or(home_group)?;
        let slots = sequence_slots(text, &spec.column)?;
        Some(Numbering {
            schema,
            table,
            spec,
            group,
            slots,
        })
    }
}
