//! Executing statements of sharded schemas: one target is relayed like any statement;
//! reads reaching several targets are scattered and merged (`scatter`, `merge`), writes run
//! on one target after the other with their OKs summed into one.

use super::shard_path::{Answer, Request, send_request};
use super::{Closed, Session};
use crate::backend::conn::{merge_stmt_key, stmt_key};
use crate::backend::interrupt::Why;
use crate::backend::{PooledConn, ResponseKind};
use crate::error::SqlError;
use crate::packet;
use crate::params::ExecuteRequest;
use crate::server::Route;
use crate::sharding::bound_params;
use crate::sharding::{hash_key, literal_in};
use crate::stmt_cache::StmtMeta;
use myshard_router::Classified;
use myshard_router::shard::plan::{Merge, RouteError, ShardRoute, Targets};
use myshard_router::shard::resolve::{Bound, Target};
use myshard_router::text::encode;

/// A router refusal as the client's error.
pub(super) fn route_error(e: RouteError) -> SqlError {
    let mut state = [0u8; 5];
    state.copy_from_slice(&e.state.as_bytes()[..5]);
    SqlError {
        code: e.code,
        state,
        message: e.message,
        ..SqlError::default()
    }
}

/// How each target is run.
pub(super) enum Exec {
    /// COM_QUERY with the target's SQL.
    Text,
    /// COM_STMT_EXECUTE of a prepared statement: the execute packet, framed (its statement
    /// id is replaced by the backend's), and the proxy-wide statement id.
    Prepared {
        /// COM_STMT_EXECUTE packet with its header.
        packet: Vec<u8>,
        /// Proxy-wide statement id.
        global_id: u32,
    },
}

impl Session {
    /// The targets of `route` for `params`.
    pub(super) fn targets(
        &self,
        route: &ShardRoute,
        params: &[Bound],
    ) -> Result<Vec<Target>, SqlError> {
        let charset = self.vars.client_charset();
        super::planner::off_worker(super::planner::is_heavy(route), || {
            route.resolve(&self.table.topology, params, &hash_key, &|b| {
                literal_in(b, charset)
            })
        })
        .map_err(route_error)
    }

    /// Counts where a statement to run went (for `/metrics`).
    fn note_route(&self, route: &ShardRoute, targets: &Result<Vec<Target>, SqlError>) {
        use crate::admin_http::RouteKind;
        let kind = match targets {
            Err(_) => RouteKind::Refused,
            Ok(t) if t.len() <= 1 => RouteKind::SingleShard,
            Ok(_) if route.merge == Merge::Concat => RouteKind::Scatter,
            Ok(_) => RouteKind::Broadcast,
        };
        self.shared.board.metrics.statement(route.read_only, kind);
    }

    /// Where a target's statement goes.
    pub(super) fn target_route(&self, route: &ShardRoute, t: &Target) -> Result<Route, SqlError> {
        // The group in the table in force: a target resolved before its gate was passed
        // may name the group a migration just moved the shard away from.
        let group = (self
            .table
            .topology
            .physical_database(&route.schema, t.shard)
            == Some(t.database.as_str()))
        .then(|| self.table.topology.group_of(&route.schema, t.shard))
        .flatten()
        .unwrap_or(&t.group);
        // Statements naming their tables' databases run in the group's usual database;
        // verbatim ones (nothing to rename, or unparsable) in their shard's.
        let database = if route.template.is_verbatim() {
            Some(t.database.clone())
        } else {
            self.table
                .group_database(&route.schema, group)
                .or_else(|| Some(t.database.clone()))
        };
        self.table
            .route_to(group, database, self.intent, self.flags)
    }

    /// Runs a text statement planned to shards.
    pub(super) async fn run_shard_query(
        &mut self,
        route: &ShardRoute,
        seq: u8,
        c: Classified,
    ) -> Result<(), Closed> {
        let targets = self.targets(route, &[]);
        self.note_route(route, &targets);
        let targets = match targets {
            Ok(t) => t,
            Err(e) => return self.send_err(&e, seq).await,
        };
        let epoch = self.table.epoch;
        let _passages = match self.pass_gates(&targets).await {
            Ok(p) => p,
            Err(e) => return self.send_err(&e, seq).await,
        };
        // Held at a gate during a cut-over: the same shards, maybe on other groups now.
        let targets = match self.rerouted(epoch) {
            true => match self.targets(route, &[]) {
                Ok(t) => t,
                Err(e) => return self.send_err(&e, seq).await,
            },
            false => targets,
        };
        if let [t] = targets.as_slice() {
            let dest = match self.target_route_after_switch(route, t).await {
                Ok(d) => d,
                Err(e) => return self.send_err(&e, seq).await,
            };
            let mut payload = Vec::with_capacity(t.sql.len() + 1);
            payload.push(0x03);
            payload.extend_from_slice(&encode(&t.sql));
            rename_for(&mut self.rename_schema, route, t);
            let r = self
                .forward_at(&dest, &payload, seq, ResponseKind::Query, Some(c))
                .await;
            self.rename_schema.clear();
            return r;
        }
        self.run_targets(route, &targets, seq, &mut Exec::Text)
            .await
    }

    /// Runs a statement on several shards and merges the answers: reads (the only
    /// statements planned to concatenate) through the scatter and its merges, writes one
    /// shard after the other.
    pub(super) async fn run_targets(
        &mut self,
        route: &ShardRoute,
        targets: &[Target],
        seq: u8,
        exec: &mut Exec,
    ) -> Result<(), Closed> {
        match route.merge {
            Merge::Concat => {
                self.run_merge(route, route.merge_plan.as_deref(), targets, seq, exec)
                    .await
            }
            Merge::SumAffected | Merge::FirstResult => {
                self.merge_writes(route, targets, seq, exec).await
            }
        }
    }

    async fn target_conn(
        &mut self,
        route: &ShardRoute,
        t: &Target,
    ) -> Result<PooledConn, SqlError> {
        let dest = self.target_route_after_switch(route, t).await?;
        self.acquire_switched(dest).await.map(|(_, c)| c)
    }

    /// Sends a target's statement; `merge_form`: the text is the target's merge form (with
    /// hidden columns), prepared under its own key.
    pub(super) async fn send_target(
        conn: &mut PooledConn,
        t: &Target,
        exec: &mut Exec,
        merge_form: bool,
    ) -> Result<(), SqlError> {
        let text = encode(&t.sql);
        let mut scratch = Vec::new();
        match exec {
            Exec::Text => {
                let mut payload = Vec::with_capacity(text.len() + 1);
                payload.push(0x03);
                payload.extend_from_slice(&text);
                send_request(conn, Request::Command(&payload), &mut scratch).await
            }
            Exec::Prepared { packet, global_id } => {
                let key = if merge_form {
                    merge_stmt_key(*global_id, t.shard)
                } else {
                    stmt_key(*global_id, Some(t.shard))
                };
                let request = Request::Execute {
                    packet,
                    key,
                    text: &text,
                };
                send_request(conn, request, &mut scratch).await
            }
        }
    }

    /// Writes on several shards: affected rows summed (or, for the copies of a global
    /// table, the first shard's), one OK; failures name the shards.
    async fn merge_writes(
        &mut self,
        route: &ShardRoute,
        targets: &[Target],
        seq: u8,
        exec: &mut Exec,
    ) -> Result<(), Closed> {
        let mut affected = 0u64;
        let mut first_affected: Option<u64> = None;
        let mut insert_id = 0u64;
        let mut warnings = 0u16;
        let mut failed: Vec<(u32, String, SqlError)> = Vec::new();
        // In xa mode a write over several groups is one XA transaction (session/xa.rs).
        let statement_xa = self.begin_statement_xa(route.verb, targets);
        for t in targets {
            if statement_xa && !failed.is_empty() {
                break;
            }
            // Shards not yet started when the statement timed out are not started.
            if self.timed_out() {
                failed.push((t.shard, t.group.clone(), Why::TimedOut.error()));
                continue;
            }
            let mut conn = match self.target_conn(route, t).await {
                Ok(c) => c,
                Err(e) => {
                    failed.push((t.shard, t.group.clone(), e));
                    continue;
                }
            };
            // Running, so that KILL QUERY and the statement timeout reach it.
            let kills = self.kills_started();
            self.set_running(Some(&conn));
            let r = match Self::send_target(&mut conn, t, exec, false).await {
                Ok(()) => conn.read_ok().await,
                Err(e) => Err(e),
            };
            self.set_running(None);
            self.settle_kills_on(kills, &mut conn).await;
            let r = r.map_err(|e| self.timeout_error(e));
            match r {
                Ok(ok) => {
                    affected += ok.affected_rows;
                    first_affected.get_or_insert(ok.affected_rows);
                    if insert_id == 0 {
                        insert_id = ok.last_insert_id;
                    }
                    warnings = warnings.saturating_add(ok.warnings);
                    self.after_commit(&mut conn).await;
                }
                Err(e) => {
                    if conn.broken {
                        self.lose_pin();
                    }
                    failed.push((t.shard, t.group.clone(), e));
                }
            }
            self.finish(conn);
        }
        if insert_id != 0 {
            self.last_insert_id = insert_id;
        }
        let failure = match statement_xa {
            // The first failure is the statement's (nothing else was applied).
            true => match self
                .end_statement_xa(self.shard_failures(&failed, failed.len()))
                .await
            {
                Ok(()) => None,
                Err(Some(e)) => Some(e),
                Err(None) => return Err(Closed),
            },
            false => self.shard_failures(&failed, targets.len()),
        };
        if let Some(e) = failure {
            return self.send_err(&e, seq).await;
        }
        let affected = if route.merge == Merge::FirstResult {
            first_affected.unwrap_or(0)
        } else {
            affected
        };
        let p = packet::ok_payload(affected, insert_id, self.status(), warnings);
        packet::frame(&mut self.out, seq, &p);
        self.write_out().await
    }
}

impl Session {
    /// COM_STMT_EXECUTE of a statement of a sharded schema: routed by the bound values.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn execute_sharded(
        &mut self,
        route: &ShardRoute,
        meta: &StmtMeta,
        req: &ExecuteRequest<'_>,
        types: &[u8],
        long_data: &[(u16, Vec<u8>)],
        packet: Vec<u8>,
        seq: u8,
    ) -> Result<(), Closed> {
        let n = usize::from(meta.params);
        let Some(params) = bound_params(req, types, n, long_data) else {
            return self
                .send_err(
                    &SqlError::malformed_packet("COM_STMT_EXECUTE parameters"),
                    seq,
                )
                .await;
        };
        let targets = self.targets(route, &params);
        self.note_route(route, &targets);
        let targets = match targets {
            Ok(t) => t,
            Err(e) => return self.send_err(&e, seq).await,
        };
        let epoch = self.table.epoch;
        let _passages = match self.pass_gates(&targets).await {
            Ok(p) => p,
            Err(e) => return self.send_err(&e, seq).await,
        };
        // Held at a gate during a cut-over: the same shards, maybe on other groups now.
        let targets = match self.rerouted(epoch) {
            true => match self.targets(route, &params) {
                Ok(t) => t,
                Err(e) => return self.send_err(&e, seq).await,
            },
            false => targets,
        };
        let paged = self.execute_paged(
            route,
            &params,
            req,
            types,
            long_data,
            meta.global_id,
            &targets,
            seq,
        );
        if let Some(r) = paged.await {
            return r;
        }
        if matches!(route.targets, Targets::Rows { .. }) && targets.len() > 1 {
            // A multi-row INSERT split over shards: each shard gets its rows as text.
            return self
                .run_targets(route, &targets, seq, &mut Exec::Text)
                .await;
        }
        let mut exec = Exec::Prepared {
            packet,
            global_id: meta.global_id,
        };
        if let [t] = targets.as_slice() {
            let dest = match self.target_route_after_switch(route, t).await {
                Ok(d) => d,
                Err(e) => return self.send_err(&e, seq).await,
            };
            let Exec::Prepared { packet, global_id } = &mut exec else {
                return Ok(());
            };
            let text = encode(&t.sql);
            let request = Request::Execute {
                packet,
                key: stmt_key(*global_id, Some(t.shard)),
                text: &text,
            };
            rename_for(&mut self.rename_schema, route, t);
            let r = self
                .run_on(
                    &dest,
                    request,
                    Answer::Relay,
                    ResponseKind::Query,
                    None,
                    seq,
                )
                .await;
            self.rename_schema.clear();
            return r;
        }
        self.run_targets(route, &targets, seq, &mut exec).await
    }
}

/// The renaming a single shard's answer needs: a SELECT's column definitions, and any
/// statement's error message, name the shard's physical database where one server would
/// name the logical schema.
fn rename_for(rename: &mut super::names::Rename, route: &ShardRoute, t: &Target) {
    if t.database != route.schema {
        rename.set(&t.database, &route.schema, true);
    }
}
