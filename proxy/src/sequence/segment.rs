//! Segment sequences: blocks of numbers reserved from the table `myshard_sequences` on a
//! group's write host, one transaction per block (`SELECT … FOR UPDATE`, then `UPDATE`), so
//! that several proxies never get the same block and a restart never reuses one (numbers of
//! a block that was not used up are a gap). The next block is reserved in the background
//! once half of what is left in hand is gone, so inserts do not wait for it.

use crate::backend::PooledConn;
use crate::backend::conn::{CONNECT_NAMES, ConnFlags};
use crate::routing::Intent;
use crate::server::Shared;
use crate::state::SessionVars;
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

/// The table holding each sequence's next free number.
pub const SEQUENCE_TABLE: &str = "myshard_sequences";

/// A segment sequence of one table.
#[derive(Debug)]
pub struct Segment {
    /// The sequence's row in the table: `schema.table`.
    name: String,
    group: String,
    database: String,
    block: u64,
    state: tokio::sync::Mutex<Blocks>,
}

#[derive(Debug, Default)]
struct Blocks {
    /// Reserved numbers not yet handed out, oldest block first.
    ready: VecDeque<Range<u64>>,
    /// A background reservation is running.
    refilling: bool,
    /// The sequence table and row are known to exist.
    prepared: bool,
}

impl Blocks {
    fn left(&self) -> u64 {
        self.ready.iter().map(|r| r.end - r.start).sum()
    }

    fn pop(&mut self) -> Option<u64> {
        while let Some(b) = self.ready.front_mut() {
            if b.start < b.end {
                let v = b.start;
                b.start += 1;
                return Some(v);
            }
            self.ready.pop_front();
        }
        None
    }
}

impl Segment {
    /// The sequence `name` kept in `database.myshard_sequences` on `group`, reserved
    /// `block` numbers at a time.
    pub fn new(name: String, group: String, database: String, block: u64) -> Segment {
        Segment {
            name,
            group,
            database,
            block: block.max(1),
            state: Default::default(),
        }
    }

    /// `count` distinct numbers, in increasing order within a block.
    pub async fn take(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        count: usize,
    ) -> Result<Vec<u64>, String> {
        let mut out = Vec::with_capacity(count);
        let mut state = self.state.lock().await;
        while out.len() < count {
            match state.pop() {
                Some(v) => out.push(v),
                None => {
                    // Nothing in hand (first use, or a burst bigger than the blocks):
                    // this insert waits for a block.
                    let prepared = state.prepared;
                    let block = self.reserve(shared, prepared).await?;
                    state.prepared = true;
                    state.ready.push_back(block);
                }
            }
        }
        if state.left() <= self.block / 2 && !state.refilling {
            state.refilling = true;
            let me = self.clone();
            let shared = shared.clone();
            tokio::spawn(async move {
                let r = me.reserve(&shared, true).await;
                let mut state = me.state.lock().await;
                state.refilling = false;
                match r {
                    Ok(b) => state.ready.push_back(b),
                    Err(why) => {
                        tracing::warn!(sequence = %me.name, %why, "reserving the next block of a global sequence failed")
                    }
                }
            });
        }
        Ok(out)
    }

    /// Reserves the next block in its own transaction on the group's write host.
    async fn reserve(&self, shared: &Shared, prepared: bool) -> Result<Range<u64>, String> {
        let table = shared.table();
        let route = table
            .route_to(&self.group, None, Intent::Write, ConnFlags::default())
            .map_err(|e| format!("group {}: {e}", self.group))?;
        let vars = SessionVars::new(None, CONNECT_NAMES.into(), false);
        let mut conn = route
            .pool
            .checkout(0, &vars)
            .await
            .map_err(|e| format!("group {}: {e}", self.group))?;
        let r = self.reserve_on(&mut conn, &vars, prepared).await;
        if r.is_err() {
            // Maybe inside the transaction: never given to anyone else.
            conn.broken = true;
        }
        r.map_err(|e| format!("reserving a block on group {}: {e}", self.group))
    }

    async fn reserve_on(
        &self,
        conn: &mut PooledConn,
        vars: &SessionVars,
        prepared: bool,
    ) -> Result<Range<u64>, crate::SqlError> {
        conn.sync(vars).await?;
        let table = format!("`{}`.`{SEQUENCE_TABLE}`", self.database.replace('`', "``"));
        let name = quote(&self.name);
        if !prepared {
            conn.execute(&format!(
                "CREATE DATABASE IF NOT EXISTS `{}`",
                self.database.replace('`', "``")
            ))
            .await?;
            conn.execute(&format!(
                "CREATE TABLE IF NOT EXISTS {table} (name VARCHAR(191) NOT NULL PRIMARY KEY, \
                 next_value BIGINT UNSIGNED NOT NULL) ENGINE=InnoDB"
            ))
            .await?;
            conn.execute(&format!(
                "INSERT IGNORE INTO {table} (name, next_value) VALUES ({name}, 1)"
            ))
            .await?;
        }
        conn.execute("START TRANSACTION").await?;
        let rows = conn
            .query_rows(&format!(
                "SELECT next_value FROM {table} WHERE name = {name} FOR UPDATE"
            ))
            .await?;
        let start = rows
            .first()
            .and_then(|r| r.first())
            .and_then(|v| v.as_deref())
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse::<u64>().ok());
        let Some(start) = start else {
            conn.execute("ROLLBACK").await?;
            return Err(crate::SqlError::new(
                1105,
                b"HY000",
                format!("no row {name} in {table}"),
            ));
        };
        let end = start
            .checked_add(self.block)
            .ok_or_else(|| crate::SqlError::new(1467, b"HY000", "the sequence is exhausted"))?;
        conn.execute(&format!(
            "UPDATE {table} SET next_value = {end} WHERE name = {name}"
        ))
        .await?;
        conn.execute("COMMIT").await?;
        Ok(start..end)
    }
}

/// `s` as a string literal.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}
