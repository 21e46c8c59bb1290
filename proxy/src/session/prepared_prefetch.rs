//! Server-side prepared statements with an uncorrelated `IN (SELECT …)` over a sharded
//! table that the router can only run once the subquery's values are known (see
//! `subquery_values.rs` for text statements). At PREPARE the metadata is learnt from a
//! stand-in text whose subqueries are replaced by their own placeholders, so the parameter
//! count is the client's. At each EXECUTE the bound values are written into the text, the
//! subqueries are evaluated first and their values substituted, and the resulting statement
//! (no parameters left) is prepared and executed on the shards it reaches, so the client
//! gets binary rows, merged like any prepared scatter. Each EXECUTE whose subquery values
//! differ from the statement's previous one prepares once more on those shards (backend
//! statements are capped per connection, least recently used closed first).

use super::{Closed, Session};
use crate::error::SqlError;
use crate::packet;
use crate::params::{parse_execute, rebuild_execute_into};
use crate::sharding::literal_in;
use crate::stmt_cache::StmtMeta;
use myshard_router::prepare::{bind, placeholder_count};
use myshard_router::shard::plan::{Route as ShardPlan, RouteContext};
use myshard_router::shard::prefetch::{prefetches, substitute};
use myshard_router::shard::resolve::Bound;
use myshard_router::text::decode;
use std::borrow::Cow;
use std::sync::Arc;

/// The statement an EXECUTE of a prefetching statement ran last: its text and the
/// proxy-wide id it is prepared under on the shards.
#[derive(Debug, Default)]
pub(super) struct LastPrefetch(Option<(String, u32)>);

impl Session {
    /// For a statement being prepared whose plan is refused as unsupported: the text
    /// that gives its metadata when its uncorrelated `IN (SELECT …)` subqueries are
    /// evaluated at each EXECUTE; `None` when it has none.
    pub(super) fn prefetch_stand_in(&self, text: &str) -> Option<String> {
        let found = {
            let ctx = RouteContext {
                topology: &self.table.topology,
                schema: self.schema.as_deref(),
            };
            prefetches(text, ctx)
        };
        if found.is_empty() {
            return None;
        }
        let lists: Vec<Vec<String>> = found
            .iter()
            .map(|p| match placeholder_count(&p.sql) {
                0 => vec!["NULL".to_string()],
                n => vec!["?".to_string(); n],
            })
            .collect();
        Some(substitute(text, &found, &lists))
    }

    /// Whether prepared statement `sql` evaluates `IN (SELECT …)` subqueries at each
    /// EXECUTE (its own plan is refused, the stand-in's is not).
    pub(super) async fn prepared_prefetches(&self, sql: &[u8]) -> bool {
        let text = String::from_utf8_lossy(sql);
        // Cheaply: no second SELECT, no subquery.
        let upper = text.to_ascii_uppercase();
        if upper.matches("SELECT").count() < 2 || !upper.contains("IN") {
            return false;
        }
        match self.plan_statement(&text).await {
            ShardPlan::Error(e) if e.code == 1235 => self.prefetch_stand_in(&text).is_some(),
            _ => false,
        }
    }

    /// Runs an EXECUTE of a statement whose subqueries are evaluated first.
    pub(super) async fn execute_prefetched(
        &mut self,
        meta: &StmtMeta,
        params: Option<Vec<Bound>>,
        schema: Option<String>,
        last: LastPrefetch,
        seq: u8,
    ) -> (LastPrefetch, Result<(), Closed>) {
        let own = match schema {
            Some(s) if self.schema.as_deref() != Some(s.as_str()) => Some(self.schema.replace(s)),
            _ => None,
        };
        let (last, r) = match self.prefetched_statement(meta, params, last).await {
            Ok((last, stmt)) => {
                let r = self.execute_rewritten(&stmt, seq).await;
                (last, r)
            }
            Err((last, e)) => (last, self.send_err(&e, seq).await),
        };
        if let Some(own) = own {
            self.schema = own;
        }
        (last, r)
    }

    /// The statement an EXECUTE runs: bound, its subqueries evaluated and substituted,
    /// planned, under the id it is prepared with on the shards.
    async fn prefetched_statement(
        &mut self,
        meta: &StmtMeta,
        params: Option<Vec<Bound>>,
        last: LastPrefetch,
    ) -> Result<(LastPrefetch, StmtMeta), (LastPrefetch, SqlError)> {
        let Some(params) = params else {
            let e = SqlError::malformed_packet("COM_STMT_EXECUTE parameters");
            return Err((last, e));
        };
        let charset = self.vars.client_charset();
        let literals: Vec<String> = params.iter().map(|b| literal_in(b, charset)).collect();
        let text = match decode(&meta.sql) {
            Ok(t) => t,
            Err(_) => String::from_utf8_lossy(&meta.sql),
        };
        let Some(bound) = bind(&text, &literals) else {
            return Err((last, SqlError::wrong_arguments("mysqld_stmt_execute")));
        };
        let (rewritten, plan) = match self.plan_with_subquery_values(Cow::Owned(bound)).await {
            Ok(p) => p,
            Err(e) => return Err((last, e)),
        };
        let route = match plan {
            ShardPlan::Shard(r) => r,
            ShardPlan::Error(e) => return Err((last, super::shard::route_error(e))),
            ShardPlan::Passthrough => {
                let e = SqlError::internal("a prepared IN (SELECT …) statement lost its route");
                return Err((last, e));
            }
        };
        let rewritten = rewritten.into_owned();
        let global_id = match last.0 {
            Some((t, id)) if t == rewritten => id,
            _ => self.shared.stmt_cache.next_id(),
        };
        let stmt = StmtMeta {
            global_id,
            sql: rewritten.clone().into_bytes(),
            columns: meta.columns,
            params: 0,
            param_defs: Vec::new(),
            column_defs: meta.column_defs.clone(),
            route: Some(Arc::new(*route)),
            control: myshard_router::Kind::Other,
            introspection: None,
        };
        Ok((LastPrefetch(Some((rewritten, global_id))), stmt))
    }

    /// Executes `stmt` (no parameters) on its shards as a prepared statement.
    async fn execute_rewritten(&mut self, stmt: &StmtMeta, seq: u8) -> Result<(), Closed> {
        let Some(route) = stmt.route.clone() else {
            return Ok(());
        };
        // stmt id, flags, iteration count: what COM_STMT_EXECUTE carries for no parameters.
        let mut body = Vec::with_capacity(9);
        body.extend_from_slice(&stmt.global_id.to_le_bytes());
        body.push(0);
        body.extend_from_slice(&1u32.to_le_bytes());
        let Some(req) = parse_execute(&body, 0) else {
            return Ok(());
        };
        let mut framed = Vec::new();
        let at = packet::begin_packet(&mut framed);
        if rebuild_execute_into(&mut framed, &req, 0, &[], 0, &[]).is_none() {
            let e = SqlError::malformed_packet("COM_STMT_EXECUTE");
            return self.send_err(&e, seq).await;
        }
        packet::finish_packet(&mut framed, at, 0);
        self.execute_sharded(&route, stmt, &req, &[], &[], framed, seq)
            .await
    }
}
