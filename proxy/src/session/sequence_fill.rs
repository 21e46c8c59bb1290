//! INSERTs into a table with a global sequence: the numbers the statement leaves to the
//! proxy (a missing sequence column, NULL or 0) are written in before it is planned, so a
//! row whose shard key is the sequence column is routed by its number.

use super::Session;
use crate::error::SqlError;
use myshard_config::{SchemaTopology, Sequence};
use myshard_router::shard::sequence::{SequenceSlots, insert_target, sequence_slots};
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

    /// Refuses to prepare an INSERT that leaves numbers to a sequence: numbers are given
    /// per execute, which prepared statements do not do yet (the rows would otherwise get
    /// each shard's own AUTO_INCREMENT, which collide).
    pub(super) fn refuse_unnumbered_prepare(&self, text: &str) -> Result<(), SqlError> {
        match self.numbering(text) {
            Some(n) => Err(SqlError::new(
                1235,
                b"42000",
                format!(
                    "a prepared INSERT into '{}' that leaves column '{}' to its global sequence; give the column a value, or send the INSERT as text",
                    n.table, n.spec.column
                ),
            )),
            None => Ok(()),
        }
    }

    fn numbering(&self, text: &str) -> Option<Numbering> {
        let (schema, table) = insert_target(text)?;
        let schema = schema.or_else(|| self.schema.clone())?;
        let spec = self
            .table
            .config
            .schema(&schema)?
            .tables
            .iter()
            .find(|t| t.name == table)?
            .sequence
            .clone()?;
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
