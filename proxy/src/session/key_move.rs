//! `UPDATE t SET key = … WHERE …` on a sharded table: the matching rows move to the shard
//! of their new key. When every shard involved is on one group, one backend connection runs
//! the move in one transaction (the client's own if one is open, under a savepoint):
//! lock the rows (`SELECT … FOR UPDATE`), copy them changed into the new shard
//! (`INSERT … SELECT`), delete them from the old one. Rows already on the new shard are
//! updated in place. Rows moving to another group: see `key_move_groups.rs` (a transaction
//! over both groups, in the session's transaction mode).

use super::key_move_groups::Crashed;
use super::shard::route_error;
use super::{Closed, Session};
use crate::error::SqlError;
use crate::packet;
use crate::routing::Intent;
use myshard_config::{SchemaTopology, TableRule};
use myshard_router::shard::columnless::ColumnlessInsert;
use myshard_router::shard::key_update::{KeyUpdate, key_update};
use myshard_router::shard::plan::{Route as ShardPlan, RouteError};
use myshard_router::shard::resolve::Target;
use myshard_router::shard::template::quote_ident;

impl Session {
    /// Runs `text` if it is an UPDATE of a sharded table's shard key (or refuses it);
    /// `None` for any other statement.
    pub(super) async fn run_key_update(
        &mut self,
        text: &str,
        seq: u8,
    ) -> Option<Result<(), Closed>> {
        let k = self.key_update_of(text)?;
        let r = match k {
            Ok(k) => match self.move_rows(&k).await {
                Ok(r) => r,
                Err(Crashed) => return Some(Err(Closed)),
            },
            Err(why) => Err(route_error(RouteError::unsupported(why))),
        };
        Some(match r {
            Ok(affected) => {
                let p = packet::ok_payload(affected, 0, self.status(), 0);
                packet::frame(&mut self.out, seq, &p);
                self.write_out().await
            }
            Err(e) => self.send_err(&e, seq).await,
        })
    }

    /// `text` as an UPDATE of a sharded table's shard key: `None` for any other statement
    /// (cheaply, without parsing, for most), `Some(Err)` for one that cannot be moved.
    pub(super) fn key_update_of(&self, text: &str) -> Option<Result<KeyUpdate, String>> {
        let topology = &self.table.topology;
        let session_schema = self.schema.as_deref();
        // Only UPDATEs in a sharded schema, or naming a schema, are parsed here.
        let in_sharded = session_schema
            .and_then(|s| topology.schema(s))
            .is_some_and(|s| s.is_sharded());
        let head = text.trim_start().get(..6)?;
        if !head.eq_ignore_ascii_case("UPDATE") || (!in_sharded && !text.contains('.')) {
            return None;
        }
        key_update(text, |schema, table| {
            let schema = schema.or(session_schema)?;
            match topology.schema(schema)? {
                SchemaTopology::Sharded(sh) => match sh.table(table)? {
                    TableRule::Sharded { key, .. } => Some(key.clone()),
                    TableRule::Global => None,
                },
                _ => None,
            }
        })
    }

    /// The targets of `sql` planned in the session's schema.
    async fn plan_targets(&self, sql: &str) -> Result<Vec<Target>, SqlError> {
        match self.plan_statement(sql).await {
            ShardPlan::Shard(r) => self.targets(&r, &[]),
            ShardPlan::Error(e) => Err(route_error(e)),
            ShardPlan::Passthrough => Err(SqlError::new(
                1105,
                b"HY000",
                "the shard-key UPDATE could not be planned",
            )),
        }
    }

    /// Moves the rows of `k`; the affected-row count as one server would report it.
    /// `Err(Crashed)`: an injected crash of the commit protocol, no answer.
    async fn move_rows(&mut self, k: &KeyUpdate) -> Result<Result<u64, SqlError>, Crashed> {
        let (old, new, columns) = match self.move_plan(k).await {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        if old.iter().any(|t| t.group != new.group) {
            let mut all = old.clone();
            all.push(new.clone());
            let _passages = match self.pass_gates(&all).await {
                Ok(p) => p,
                Err(e) => return Ok(Err(e)),
            };
            return self.move_rows_across_groups(k, &columns, &old, &new).await;
        }
        Ok(self.move_in_group(k, &columns, &old, &new).await)
    }

    /// Where `k`'s rows are (the old shards), where they go, and the table's columns.
    async fn move_plan(
        &mut self,
        k: &KeyUpdate,
    ) -> Result<(Vec<Target>, Target, std::sync::Arc<[String]>), SqlError> {
        let written = match &k.schema {
            Some(s) => format!("{}.{}", quote_ident(s), quote_ident(&k.table)),
            None => quote_ident(&k.table),
        };
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
        let key = &k.key;
        let new = self
            .plan_targets(&format!(
                "SELECT 1 FROM {written} WHERE {} = {}",
                quote_ident(key),
                k.key_value
            ))
            .await?;
        let [new] = new.as_slice() else {
            return Err(SqlError::new(
                1105,
                b"HY000",
                "the new shard key value does not name one shard",
            ));
        };
        // Where the rows are now: a DELETE with the same condition is planned under the
        // same full-scan rules as the UPDATE; with an alias, a SELECT.
        let old = if k.alias.is_none() {
            self.plan_targets(&format!("DELETE FROM {written}{filter}"))
                .await?
        } else {
            self.plan_targets(&format!("SELECT 1 FROM {written}{alias}{filter}"))
                .await?
        };
        let schema = k
            .schema
            .clone()
            .or_else(|| self.schema.clone())
            .unwrap_or_default();
        let columns = match self.shared.column_orders.get(&schema, &k.table) {
            Some(c) => c,
            None => {
                let ins = ColumnlessInsert {
                    schema: k.schema.clone(),
                    table: k.table.clone(),
                    at: 0,
                };
                // Learnt on the home shard, whose group `learn_columns` asks.
                let home = match self.table.topology.schema(&schema) {
                    Some(SchemaTopology::Sharded(sh)) => sh.database(sh.home_shard),
                    _ => None,
                }
                .unwrap_or(&new.database)
                .to_string();
                let c = self.learn_columns(&schema, &home, &ins).await?;
                self.shared
                    .column_orders
                    .insert(&schema, &k.table, c.clone());
                c
            }
        };
        Ok((old, new.clone(), columns))
    }

    /// Moves `k`'s rows when every shard involved is on `new`'s group: one connection, one
    /// transaction (or a savepoint in the client's).
    async fn move_in_group(
        &mut self,
        k: &KeyUpdate,
        columns: &[String],
        old: &[Target],
        new: &Target,
    ) -> Result<u64, SqlError> {
        let mut all = old.to_vec();
        all.push(new.clone());
        let _passages = self.pass_gates(&all).await?;
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
        let route = self.table.route_to(
            &new.group,
            Some(new.database.clone()),
            Intent::Write,
            self.flags,
        )?;
        let mut conn = self.acquire_at(&route).await?;
        // The client's transaction (or autocommit off) holds the move; else its own.
        let in_client_tx = conn.in_transaction || self.vars.autocommit_off();
        let (open, undo, done) = if in_client_tx {
            (
                "SAVEPOINT myshard_key_move",
                "ROLLBACK TO SAVEPOINT myshard_key_move",
                "RELEASE SAVEPOINT myshard_key_move",
            )
        } else {
            ("START TRANSACTION", "ROLLBACK", "COMMIT")
        };
        let statements = move_statements(k, columns, old, new, &alias, &filter);
        let run = async |conn: &mut crate::backend::PooledConn| -> Result<u64, SqlError> {
            conn.execute(open).await?;
            let mut affected = 0;
            for step in &statements {
                match step {
                    Step::Lock(sql) => {
                        conn.query_rows(sql).await?;
                    }
                    Step::Count(sql) => affected += conn.execute(sql).await?.affected_rows,
                    Step::Plain(sql) => {
                        conn.execute(sql).await?;
                    }
                }
            }
            conn.execute(done).await?;
            Ok(affected)
        };
        let r = run(&mut conn).await;
        if r.is_err() && !conn.broken && conn.execute(undo).await.is_err() {
            conn.broken = true;
        }
        conn.in_transaction = in_client_tx;
        if conn.broken {
            self.release_failed(conn);
        } else {
            self.finish(conn);
        }
        r
    }
}

/// How a moved row's columns are read from its old shard `from` (a physical table): the
/// new value of each assigned column (the last assignment wins, as in MySQL), the old
/// column otherwise; with the qualifier the columns are read through (the alias if any).
pub(super) fn new_row_values(
    k: &KeyUpdate,
    columns: &[String],
    from: &str,
) -> (String, Vec<String>) {
    let qualifier = match &k.alias {
        Some(a) => quote_ident(a),
        None => from.to_string(),
    };
    let values = columns
        .iter()
        .map(|c| {
            k.assignments
                .iter()
                .rev()
                .find(|(a, _)| a.eq_ignore_ascii_case(c))
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| format!("{qualifier}.{}", quote_ident(c)))
        })
        .collect();
    (qualifier, values)
}

/// One statement of a move.
enum Step {
    /// Locks rows (`SELECT … FOR UPDATE`).
    Lock(String),
    /// Its affected rows count.
    Count(String),
    /// Its affected rows do not count (the copy; the delete counts the rows moved).
    Plain(String),
}

/// The statements that move `k`'s rows from the `old` shards to `new`, all on one server.
fn move_statements(
    k: &KeyUpdate,
    columns: &[String],
    old: &[Target],
    new: &Target,
    alias: &str,
    filter: &str,
) -> Vec<Step> {
    let physical = |t: &Target| format!("{}.{}", quote_ident(&t.database), quote_ident(&k.table));
    let set: Vec<String> = k
        .assignments
        .iter()
        .map(|(c, v)| format!("{} = {v}", quote_ident(c)))
        .collect();
    let list: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let mut out = Vec::new();
    // Rows staying on their shard first: the rows copied in must not be updated again.
    let (here, away): (Vec<&Target>, Vec<&Target>) = old.iter().partition(|t| t.shard == new.shard);
    for t in here.into_iter().chain(away) {
        let from = physical(t);
        if t.shard == new.shard {
            out.push(Step::Count(format!(
                "UPDATE {from}{alias} SET {}{filter}",
                set.join(", ")
            )));
            continue;
        }
        let (qualifier, values) = new_row_values(k, columns, &from);
        out.push(Step::Lock(format!(
            "SELECT 1 FROM {from}{alias}{filter} FOR UPDATE"
        )));
        out.push(Step::Plain(format!(
            "INSERT INTO {} ({}) SELECT {} FROM {from}{alias}{filter}",
            physical(new),
            list.join(", "),
            values.join(", ")
        )));
        out.push(Step::Count(format!(
            "DELETE {qualifier} FROM {from}{alias}{filter}"
        )));
    }
    out
}
