//! INSERTs into a table with a global sequence: the numbers the statement leaves to the
//! proxy (a missing sequence column, NULL or 0) are written in before it is planned, so a
//! row whose shard key is the sequence column is routed by its number.

use super::Session;
use crate::error::SqlError;
use myshard_config::SchemaTopology;
use myshard_router::shard::sequence::{insert_target, sequence_slots};
use std::borrow::Cow;

impl Session {
    /// `text` with the sequence numbers written in, if it is an INSERT / REPLACE into a
    /// table with a sequence that leaves numbers to the proxy; else `text` unchanged.
    pub(super) async fn with_sequence_values<'a>(
        &mut self,
        text: Cow<'a, str>,
    ) -> Result<Cow<'a, str>, SqlError> {
        let Some((schema, table)) = insert_target(&text) else {
            return Ok(text);
        };
        let Some(schema) = schema.or_else(|| self.schema.clone()) else {
            return Ok(text);
        };
        let config = self.table.config.clone();
        let Some(spec) = config
            .schema(&schema)
            .and_then(|s| s.tables.iter().find(|t| t.name == table))
            .and_then(|t| t.sequence.as_ref())
        else {
            return Ok(text);
        };
        let home_group = match self.table.topology.schema(&schema) {
            Some(SchemaTopology::Sharded(sh)) => sh.group_of(sh.home_shard).map(str::to_string),
            _ => None,
        };
        let Some(group) = spec.group.clone().or(home_group) else {
            return Ok(text);
        };
        let Some(slots) = sequence_slots(&text, &spec.column) else {
            return Ok(text);
        };
        let values = self
            .shared
            .sequences
            .take(&self.shared, &schema, &table, spec, &group, slots.count())
            .await?;
        Ok(Cow::Owned(slots.render(&values)))
    }
}
