//! Global sequences: the numbers the proxy assigns to a configured key column of a sharded
//! or global table when an INSERT leaves it out or gives NULL or 0 (see
//! `schemas[].tables[].sequence`). One generator per table, made on first use and made
//! anew when the table's sequence settings change (hot reload).

mod segment;
mod time;

use crate::error::SqlError;
use crate::server::Shared;
use hashbrown::HashMap;
use myshard_config::{Sequence, SequenceKind};
use std::sync::{Arc, Mutex};

pub use segment::{SEQUENCE_TABLE, Segment};
pub use time::{Clock, TimeSequence};

/// The generators of every table with a sequence, by (logical schema, table).
#[derive(Debug, Default)]
pub struct Sequences {
    map: Mutex<HashMap<(String, String), Arc<Generator>>>,
}

/// One table's generator and the settings it was made for.
#[derive(Debug)]
struct Generator {
    spec: Sequence,
    source: Source,
}

#[derive(Debug)]
enum Source {
    Segment(Arc<Segment>),
    Time(TimeSequence),
}

impl Sequences {
    /// `count` distinct numbers for `schema.table`, whose sequence is `spec` and whose
    /// segment table lives on `group` (when `spec` names none).
    pub async fn take(
        &self,
        shared: &Arc<Shared>,
        schema: &str,
        table: &str,
        spec: &Sequence,
        group: &str,
        count: usize,
    ) -> Result<Vec<u64>, SqlError> {
        let generator = self.generator(schema, table, spec, group)?;
        let r = match &generator.source {
            Source::Segment(s) => s.take(shared, count).await,
            Source::Time(t) => t.take(count).await,
        };
        r.map_err(|why| {
            SqlError::new(
                1105,
                b"HY000",
                format!("global sequence of {schema}.{table}: {why}"),
            )
        })
    }

    fn generator(
        &self,
        schema: &str,
        table: &str,
        spec: &Sequence,
        group: &str,
    ) -> Result<Arc<Generator>, SqlError> {
        let mut map = self
            .map
            .lock()
            .map_err(|_| SqlError::new(1105, b"HY000", "global sequences unavailable"))?;
        let key = (schema.to_string(), table.to_string());
        let previous = map.get(&key).cloned();
        if let Some(g) = &previous
            && g.spec == *spec
        {
            return Ok(g.clone());
        }
        let source = match spec.kind {
            SequenceKind::Segment => Source::Segment(Arc::new(Segment::new(
                format!("{schema}.{table}"),
                spec.group.clone().unwrap_or_else(|| group.to_string()),
                spec.database.clone(),
                spec.block_size,
            ))),
            SequenceKind::Time => Source::Time(TimeSequence::new(
                spec.instance_id.unwrap_or_default(),
                spec.epoch_ms,
                spec.max_clock_wait_ms,
                Clock::system(),
            )),
        };
        // Reloaded settings: a time sequence goes on from where the old one was.
        let source = match (source, previous.as_deref()) {
            (
                Source::Time(t),
                Some(Generator {
                    source: Source::Time(old),
                    ..
                }),
            ) => Source::Time(t.continue_after(old)),
            (s, _) => s,
        };
        let g = Arc::new(Generator {
            spec: spec.clone(),
            source,
        });
        map.insert(key, g.clone());
        Ok(g)
    }
}
