//! Rules for `schemas[].tables[].sequence`: the global sequences the proxy assigns to a key
//! column. Kept apart from the other rules; `validate` reports what this finds.

use crate::lines::{index_path, key_path};
use crate::model::{Config, SequenceKind};

/// Largest `block_size` of a segment sequence.
pub const MAX_SEQUENCE_BLOCK: u64 = 1_000_000_000;
/// Largest `instance_id` of a time sequence (10 bits).
pub const MAX_SEQUENCE_INSTANCE: u32 = 1023;
/// Largest `max_clock_wait_ms` of a time sequence.
pub const MAX_CLOCK_WAIT_MS: u64 = 60_000;

/// Every problem of every table's sequence, as (path, message).
pub(crate) fn problems(config: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, schema) in config.schemas.iter().enumerate() {
        for (k, table) in schema.tables.iter().enumerate() {
            let Some(seq) = &table.sequence else { continue };
            let path = key_path(
                &index_path(&key_path(&index_path("schemas", i), "tables"), k),
                "sequence",
            );
            let mut fail = |field: &str, message: String| {
                let p = if field.is_empty() {
                    path.clone()
                } else {
                    key_path(&path, field)
                };
                out.push((p, message));
            };
            if seq.column.trim().is_empty() {
                fail("column", "the sequence column must not be empty".into());
            }
            let is_key = table
                .shard_key
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case(&seq.column));
            if is_key
                && table
                    .key_type
                    .as_deref()
                    .is_some_and(|t| !t.eq_ignore_ascii_case("integer"))
            {
                fail(
                    "column",
                    format!(
                        "the sequence assigns integers, but shard key `{}` has key_type {}",
                        seq.column,
                        table.key_type.as_deref().unwrap_or_default()
                    ),
                );
            }
            match seq.kind {
                SequenceKind::Segment => {
                    if !(1..=MAX_SEQUENCE_BLOCK).contains(&seq.block_size) {
                        fail(
                            "block_size",
                            format!(
                                "{} is out of range; a block holds 1 to {MAX_SEQUENCE_BLOCK} numbers",
                                seq.block_size
                            ),
                        );
                    }
                    if let Some(g) = &seq.group
                        && config.group(g).is_none()
                    {
                        fail("group", format!("unknown group `{g}`"));
                    }
                    if seq.group.is_none() && !schema.is_sharded() && schema.group.is_none() {
                        fail("group", "a segment sequence needs `group`".into());
                    }
                    if let Err(why) = database_name(&seq.database) {
                        fail("database", why);
                    }
                    if seq.instance_id.is_some() {
                        fail(
                            "instance_id",
                            "`instance_id` applies only to kind time".into(),
                        );
                    }
                }
                SequenceKind::Time => match seq.instance_id {
                    None => fail(
                        "",
                        format!(
                            "missing field `instance_id`: a time sequence needs this proxy's id \
                             (0 to {MAX_SEQUENCE_INSTANCE}, different on every proxy)"
                        ),
                    ),
                    Some(id) if id > MAX_SEQUENCE_INSTANCE => fail(
                        "instance_id",
                        format!(
                            "{id} is out of range; an instance id is 0 to {MAX_SEQUENCE_INSTANCE}"
                        ),
                    ),
                    Some(_) => {}
                },
            }
            if seq.kind == SequenceKind::Time && seq.max_clock_wait_ms > MAX_CLOCK_WAIT_MS {
                fail(
                    "max_clock_wait_ms",
                    format!(
                        "{} is out of range; at most {MAX_CLOCK_WAIT_MS} ms",
                        seq.max_clock_wait_ms
                    ),
                );
            }
        }
    }
    out
}

/// Whether `name` can be the sequence table's database.
fn database_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 64 {
        return Err(format!(
            "database name `{name}` must have 1 to 64 characters"
        ));
    }
    if name
        .chars()
        .any(|c| c == '`' || c == '\0' || c == '/' || c == '\\' || c == '.')
    {
        return Err(format!(
            "database name `{name}` may not contain a back-quote, NUL, '/', '\\\\' or '.'"
        ));
    }
    Ok(())
}
