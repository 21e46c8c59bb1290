//! The old copy of a migrated shard is read-only to the proxy: once a shard lives on its
//! target group, nothing the proxy sends may write to the copy left on the source group
//! until cleanup drops it (a write there would be lost: nothing replicates it anywhere).
//!
//! Statements reach a shard's group through the routing table, which follows the placement;
//! the ways a statement can still reach the old copy all name the physical database itself
//! (`shop_0007.t` or `USE shop_0007` in a passthrough text of an administrator, a prepared
//! text prepared before the cut-over). So the rule, checked on the one path to a backend:
//! a write sent to group G may not name a shard's physical database that lives on another
//! group than G. Reads of the old copy stay allowed (verify and repairs read it).

use super::journal::{self, Phase};
use crate::error::SqlError;
use crate::routing::RoutingTable;
use myshard_router::lexer::{Lexer, Token};
use std::borrow::Cow;

/// Statements starting with these words only read.
const READS: &[&str] = &[
    "SELECT", "SHOW", "DESC", "DESCRIBE", "EXPLAIN", "WITH", "TABLE", "VALUES", "HELP",
];

/// Words after which an identifier is a database name.
const NAMES_DATABASE: &[&str] = &["USE", "DATABASE", "SCHEMA"];

/// Refuses `text`, sent to group `group` with `database` selected, when one of its writing
/// statements names a shard's physical database (a qualifier, `USE`, `DATABASE`/`SCHEMA`)
/// living on another group: 1290/HY000 naming the migration and the shard's group.
pub fn check_write(
    table: &RoutingTable,
    group: &str,
    database: Option<&str>,
    text: &[u8],
) -> Result<(), SqlError> {
    let text = String::from_utf8_lossy(text);
    if let Some(db) = database
        && !starts_reading(&text)
    {
        refuse_elsewhere(table, group, db)?;
    }
    let mut reading = false;
    let mut first = true;
    let mut previous: Option<Token<'_>> = None;
    for token in Lexer::new(&text) {
        match token {
            Token::Semicolon => {
                first = true;
                previous = None;
                continue;
            }
            Token::Word(w) if first => {
                reading = READS.iter().any(|r| w.eq_ignore_ascii_case(r));
                first = false;
            }
            Token::Punct(b'(') if first => {}
            _ => first = false,
        }
        if !reading {
            let named = match (previous, token) {
                // `db.t`: the identifier before the dot.
                (Some(Token::Word(w) | Token::QuotedIdent(w)), Token::Punct(b'.')) => Some(w),
                // `USE db`, `DROP DATABASE db`, …
                (Some(Token::Word(k)), Token::Word(w) | Token::QuotedIdent(w))
                    if NAMES_DATABASE.iter().any(|n| k.eq_ignore_ascii_case(n)) =>
                {
                    Some(w)
                }
                _ => None,
            };
            if let Some(name) = named
                && Some(name) != database
            {
                refuse_elsewhere(table, group, &unquote(name))?;
            }
        }
        previous = Some(token);
    }
    Ok(())
}

fn starts_reading(text: &str) -> bool {
    let mut lexer = Lexer::new(text);
    loop {
        match lexer.next() {
            Some(Token::Punct(b'(')) => continue,
            Some(Token::Word(w)) => return READS.iter().any(|r| w.eq_ignore_ascii_case(r)),
            _ => return false,
        }
    }
}

/// A back-quoted identifier's doubled back quotes undone.
fn unquote(name: &str) -> Cow<'_, str> {
    if name.contains("``") {
        Cow::Owned(name.replace("``", "`"))
    } else {
        Cow::Borrowed(name)
    }
}

/// The refusal when physical database `name` belongs to a shard living on another group
/// than `group`.
fn refuse_elsewhere(table: &RoutingTable, group: &str, name: &str) -> Result<(), SqlError> {
    // Only a shard's database has a gate: other names cost one lookup.
    if table.gate(name).is_none() {
        return Ok(());
    }
    let Some(db) = table
        .topology
        .physical_databases()
        .find(|d| d.database == name)
    else {
        return Ok(());
    };
    if db.group == group {
        return Ok(());
    }
    let shard = db.shard.unwrap_or(0);
    let migration = journal::migrations(&table.config)
        .ok()
        .and_then(|list| {
            list.into_iter().rev().find(|m| {
                m.schema == db.schema
                    && m.shard == shard
                    && m.from == group
                    && m.to == db.group
                    && !m.phase.before_cut_over()
                    && m.phase != Phase::Aborted
            })
        })
        .map(|m| format!(" by migration {}", m.id))
        .unwrap_or_default();
    Err(SqlError::new(
        1290,
        b"HY000",
        format!(
            "shard {shard} of '{}' was moved to group '{}'{migration}: its database {name} on \
             group '{group}' is read-only to the proxy (the old copy, kept until cleanup); \
             write through schema '{}'",
            db.schema, db.group, db.schema
        ),
    ))
}
