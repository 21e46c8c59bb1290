//! Global sequences: the numbers the proxy assigns to a configured key column of a sharded
//! or global table when an INSERT leaves it out or gives NULL or 0 (see
//! `schemas[].tables[].sequence`). One generator per table, made on first use and made
//! anew when the table's sequence settings change (hot reload). Time sequences record
//! their horizon in `state_dir` (see `time.rs`), one file per table.

mod segment;
mod time;

use crate::error::SqlError;
use crate::server::Shared;
use hashbrown::HashMap;
use myshard_config::{Sequence, SequenceKind};
use std::path::{Path, PathBuf};
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
        let routing = shared.table();
        let state_dir = routing.config.state_dir.as_deref();
        let generator = self.generator(schema, table, spec, group, state_dir)?;
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
        state_dir: Option<&str>,
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
            SequenceKind::Time => {
                let t = TimeSequence::new(
                    spec.instance_id.unwrap_or_default(),
                    spec.epoch_ms,
                    spec.max_clock_wait_ms,
                    Clock::system(),
                );
                let t = match state_dir {
                    Some(dir) => t
                        .recorded_in(horizon_file(Path::new(dir), schema, table))
                        .map_err(|why| {
                            SqlError::new(
                                1105,
                                b"HY000",
                                format!("global sequence of {schema}.{table}: {why}"),
                            )
                        })?,
                    None => t,
                };
                Source::Time(t)
            }
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

/// The file in `state_dir` holding the horizon of `schema.table`'s time sequence:
/// `sequence-time.<schema>.<table>`, bytes other than letters, digits, `_` and `-` written
/// as `%XX` so that any name makes one plain file name.
fn horizon_file(state_dir: &Path, schema: &str, table: &str) -> PathBuf {
    let escape = |name: &str| -> String {
        name.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    state_dir.join(format!(
        "sequence-time.{}.{}",
        escape(schema),
        escape(table)
    ))
}

#[cfg(test)]
mod tests {
    use super::horizon_file;
    use std::path::Path;

    #[test]
    fn horizon_files_are_plain_names_in_the_state_dir() {
        let f = horizon_file(Path::new("/st"), "shop", "ev/../x y");
        assert_eq!(f, Path::new("/st/sequence-time.shop.ev%2F%2E%2E%2Fx%20y"));
        assert_ne!(
            horizon_file(Path::new("/st"), "a.b", "c"),
            horizon_file(Path::new("/st"), "a", "b.c")
        );
    }
}
