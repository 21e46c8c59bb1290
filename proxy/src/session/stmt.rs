//! Binary prepared statements (COM_STMT_*). PREPARE is answered from the proxy-wide
//! cache after the first time; EXECUTE prepares lazily on whichever backend connection
//! serves it, rewrites the statement id and always sends parameter types (libmariadb sends
//! them only on a statement's first execute, which may have gone to another connection).

use super::{Closed, Session};
use crate::admission::Slot;
use crate::backend::conn::stmt_key;
use crate::backend::conn::{BackendStmt, MAX_STMTS_PER_CONN};
use crate::backend::relay::read_internal;
use crate::backend::rewrite::ColumnDef;
use crate::backend::{PooledConn, ResponseKind};
use crate::error::SqlError;
use crate::packet;
use crate::params::{parse_execute, rebuild_execute_into, stmt_id};
use crate::server::Route;
use crate::stmt_cache::StmtMeta;
use myshard_config::SchemaTopology;
use myshard_router::shard::plan::{Route as ShardPlan, ShardRoute, Targets};
use myshard_router::text::{decode, encode};
use myshard_router::{Kind, classify};
use std::sync::Arc;

/// Where a statement is prepared to learn its metadata, the text prepared there, and its
/// shard route.
type PreparePlan = (Route, Vec<u8>, Option<Arc<ShardRoute>>);

/// A statement prepared by this client.
#[derive(Debug)]
pub(super) struct ClientStmt {
    meta: Arc<StmtMeta>,
    /// The logical schema it was prepared in: it executes there whatever the session's
    /// schema is by then, as MySQL runs a statement in its prepare-time database.
    schema: Option<String>,
    /// Parameter types from the last execute that sent them (shared, so that an execute
    /// borrows them without a copy).
    types: Option<Arc<[u8]>>,
    /// COM_STMT_SEND_LONG_DATA chunks by parameter.
    long_data: Vec<(u16, Vec<u8>)>,
    /// Their total size, bounded by `max_allowed_packet`.
    long_data_bytes: usize,
    /// The error the next EXECUTE answers: long data for a parameter the statement does
    /// not have, or more of it than `max_allowed_packet` (COM_STMT_SEND_LONG_DATA has no
    /// response, so MySQL reports it there).
    long_data_error: Option<SqlError>,
    /// Counts this statement against `limits.max_prepared_statements` while it is open.
    _slot: Slot,
    /// Routed by one integer key parameter: executes skip the general resolver.
    point: Option<super::point_execute::PointExecute>,
    /// Executes run as text statements with the bound values written in: an INSERT that
    /// may leave numbers to a global sequence (sequence_fill.rs), or an UPDATE moving rows
    /// to the shard of a new key (prepared_key_move.rs).
    as_text: bool,
    /// Its `IN (SELECT …)` subqueries are evaluated at each execute (prepared_prefetch.rs).
    prefetched: bool,
    /// The statement the last such execute ran.
    last_prefetch: super::prepared_prefetch::LastPrefetch,
}

impl ClientStmt {
    /// Forgets the long data sent so far (after an EXECUTE, or a COM_STMT_RESET).
    fn clear_long_data(&mut self) {
        self.long_data = Vec::new();
        self.long_data_bytes = 0;
        self.long_data_error = None;
    }
}

/// 1461, as MySQL answers a PREPARE beyond `max_prepared_stmt_count`; `setting` names the
/// limit reached (the proxy-wide one, or the one per client).
fn too_many_statements(setting: &str, value: usize) -> SqlError {
    SqlError::new(
        1461,
        b"42000",
        format!("Can't create more than {setting} statements (current value: {value})"),
    )
}

impl Session {
    pub(super) async fn com_stmt_prepare(&mut self, payload: &[u8], seq: u8) -> Result<(), Closed> {
        let sql = &payload[1..];
        let text = String::from_utf8_lossy(sql);
        // information_schema restricted to the user's schemas: prepared in that form.
        let restricted = match self.admit_restricted(&text) {
            Ok(a) if a.restricted && std::str::from_utf8(sql).is_err() => {
                let e = SqlError::not_supported(
                    "bytes that are not UTF-8 in a statement reading information_schema",
                );
                return self.send_err(&e, seq).await;
            }
            Ok(a) => a.restricted.then(|| a.text.into_owned().into_bytes()),
            Err(e) => return self.send_err(&e, seq).await,
        };
        let sql = restricted.as_deref().unwrap_or(sql);
        let slot = match self.statement_slot() {
            Ok(s) => s,
            Err(e) => return self.send_err(&e, seq).await,
        };
        // SELECT DATABASE(), SHOW …, information_schema: logical names only.
        match self.prepare_introspection(sql).await {
            Some(Ok(meta)) => return self.reply_prepared(meta, seq, slot).await,
            Some(Err(e)) => return self.send_err(&e, seq).await,
            None => {}
        }
        // CONNECTION_ID(), USER(), …: answered by a text of this client's own (the cache
        // key is the text, so such statements are not shared with other clients).
        let own = match self.prepared_session_calls(sql) {
            Ok(own) => own,
            Err(e) => return self.send_err(&e, seq).await,
        };
        let sql = own.as_deref().unwrap_or(sql);
        let planned = match self.plan_prepared(sql).await {
            Ok(p) => p,
            Err(e) => return self.send_err(&e, seq).await,
        };
        let (route, text, shard_route) = planned;
        let meta = match self
            .shared
            .stmt_cache
            .get(route.pool_id(), &route.database, sql)
        {
            Some(m) => m,
            None => match self
                .prepare_on_backend(&route, sql, &text, shard_route)
                .await
            {
                Ok(m) => {
                    self.shared.stmt_cache.insert(
                        route.pool_id(),
                        route.database.clone(),
                        m.clone(),
                    );
                    m
                }
                Err(e) => return self.send_err(&e, seq).await,
            },
        };
        self.reply_prepared(meta, seq, slot).await
    }

    /// A slot for one more prepared statement of this client, or error 1461 when the
    /// client or all clients together have as many open as allowed.
    fn statement_slot(&self) -> Result<Slot, SqlError> {
        let limits = &self.table.config.limits;
        let per_client = limits.max_prepared_statements_per_client;
        if self.stmts.len() >= per_client {
            return Err(too_many_statements(
                "max_prepared_statements_per_client",
                per_client,
            ));
        }
        let total = limits.max_prepared_statements;
        self.shared
            .admission
            .try_statement(total)
            .ok_or_else(|| too_many_statements("max_prepared_stmt_count", total))
    }

    /// Answers COM_STMT_PREPARE with `meta` under a new client statement id.
    async fn reply_prepared(
        &mut self,
        meta: Arc<StmtMeta>,
        seq: u8,
        slot: Slot,
    ) -> Result<(), Closed> {
        let prefetched = meta.route.is_some() && self.prepared_prefetches(&meta.sql).await;
        let id = self.next_stmt_id;
        self.next_stmt_id = self.next_stmt_id.wrapping_add(1).max(1);
        let mut ok = vec![0x00];
        ok.extend_from_slice(&id.to_le_bytes());
        ok.extend_from_slice(&meta.columns.to_le_bytes());
        ok.extend_from_slice(&meta.params.to_le_bytes());
        ok.extend_from_slice(&[0, 0, 0]);
        let mut seq = packet::frame(&mut self.out, seq, &ok);
        let eof = packet::eof_payload(self.status(), 0);
        for defs in [&meta.param_defs, &meta.column_defs] {
            if !defs.is_empty() {
                for d in defs.iter() {
                    seq = packet::frame(&mut self.out, seq, d);
                }
                seq = packet::frame(&mut self.out, seq, &eof);
            }
        }
        self.stmts.insert(
            id,
            ClientStmt {
                schema: self.schema.clone(),
                types: None,
                long_data: Vec::new(),
                long_data_bytes: 0,
                long_data_error: None,
                _slot: slot,
                as_text: self.prepared_leaves_numbers(&meta.sql)
                    || self.prepared_moves_keys(&meta.sql),
                prefetched,
                last_prefetch: Default::default(),
                point: meta
                    .route
                    .as_deref()
                    .and_then(super::point_execute::PointExecute::of),
                meta,
            },
        );
        self.write_out().await
    }

    /// Where a statement being prepared learns its metadata, the text prepared there, and
    /// its shard route if its schema is sharded or renamed.
    async fn plan_prepared(&mut self, sql: &[u8]) -> Result<PreparePlan, SqlError> {
        let text = match decode(sql) {
            Ok(t) => t,
            Err(_) => String::from_utf8_lossy(sql),
        };
        let text = super::privilege::resolve_comments(&self.shared, &text)?;
        let text = self.with_insert_columns(text).await?;
        let text = self.prepared_numbering_text(text)?;
        let mut plan = self.plan_statement(&text).await;
        // IN (SELECT …) evaluated at each execute: metadata from a stand-in.
        if let ShardPlan::Error(e) = &plan
            && e.code == 1235
            && let Some(stand_in) = self.prefetch_stand_in(&text)
        {
            plan = self.plan_statement(&stand_in).await;
        }
        // A shard-key UPDATE: its executes move rows as text statements.
        if let ShardPlan::Error(_) = &plan
            && let Some(stand_in) = self.key_move_stand_in(&text)
        {
            plan = self.plan_statement(&stand_in).await;
        }
        match plan {
            ShardPlan::Passthrough => Ok((self.default_route()?, sql.to_vec(), None)),
            ShardPlan::Error(e) => Err(super::shard::route_error(e)),
            ShardPlan::Shard(r) => {
                let schema = self
                    .table
                    .topology
                    .schema(&r.schema)
                    .ok_or_else(|| SqlError::unknown_db(&r.schema))?;
                // Metadata comes from one representative shard: all shards have the same tables.
                let shard = match (&r.targets, schema) {
                    (Targets::Shards(s), _) if !s.is_empty() => s[0],
                    (_, SchemaTopology::Sharded(sh)) => sh.home_shard,
                    _ => 0,
                };
                let (Some(db), Some(group)) = (schema.database(shard), schema.group_of(shard))
                else {
                    return Err(SqlError::internal(format!(
                        "shard {shard} of '{}' is not placed",
                        r.schema
                    )));
                };
                let database = self
                    .table
                    .group_database(&r.schema, group)
                    .or_else(|| Some(db.to_string()));
                let route = self.table.route_to(
                    group,
                    database,
                    crate::routing::Intent::Write,
                    self.flags,
                )?;
                if decode(sql).is_err() {
                    return Err(SqlError::not_supported(
                        "characters U+10FF00-U+10FFFF in statements of sharded or renamed schemas",
                    ));
                }
                let text = encode(&r.template.render(db)).into_owned();
                Ok((route, text, Some(Arc::new(*r))))
            }
        }
    }

    /// Prepares `text` on a backend of `route` to learn the metadata of the client's
    /// `sql`; the connection keeps the statement for later executes.
    pub(super) async fn prepare_on_backend(
        &mut self,
        route: &Route,
        sql: &[u8],
        text: &[u8],
        shard_route: Option<Arc<ShardRoute>>,
    ) -> Result<Arc<StmtMeta>, SqlError> {
        let mut conn = self.acquire_at(route).await?;
        let global_id = self.shared.stmt_cache.next_id();
        let (packets, backend_id, columns, params) = prepare(&mut conn, text).await?;
        let shard = shard_route.as_ref().and_then(|r| match &r.targets {
            Targets::Shards(s) if s.len() == 1 => Some(s[0]),
            _ => None,
        });
        if shard_route.is_none() || shard.is_some() {
            remember(&mut conn, stmt_key(global_id, shard), backend_id).await;
        }
        let params_usize = usize::from(params);
        let param_defs = packets
            .get(1..1 + params_usize)
            .map(<[Vec<u8>]>::to_vec)
            .unwrap_or_default();
        let col_start = 1 + params_usize + usize::from(params > 0);
        let mut column_defs = packets
            .get(col_start..col_start + usize::from(columns))
            .map(<[Vec<u8>]>::to_vec)
            .unwrap_or_default();
        if let Some(r) = &shard_route {
            self.logical_column_schema(&r.schema, &mut column_defs);
        }
        self.finish(conn);
        let control = match classify(&String::from_utf8_lossy(sql)).kind {
            k @ (Kind::Begin | Kind::Commit | Kind::Rollback) => k,
            _ => Kind::Other,
        };
        Ok(Arc::new(StmtMeta {
            global_id,
            sql: sql.to_vec(),
            columns,
            params,
            param_defs,
            column_defs,
            route: shard_route,
            control,
            introspection: None,
        }))
    }

    /// Column definitions naming a physical database of logical schema `logical` name the
    /// logical schema instead, as one server would.
    fn logical_column_schema(&self, logical: &str, defs: &mut [Vec<u8>]) {
        let physical: &[String] = match self.table.topology.schema(logical) {
            Some(SchemaTopology::Sharded(s)) => &s.databases,
            Some(SchemaTopology::Unsharded { database, .. }) => std::slice::from_ref(database),
            None => return,
        };
        for d in defs.iter_mut() {
            let is_physical = |s: &[u8]| physical.iter().any(|p| p.as_bytes() == s);
            if let Some(r) = ColumnDef::with_logical_schema(d, is_physical, logical) {
                *d = r;
            }
        }
    }

    pub(super) async fn com_stmt_execute(&mut self, body: &[u8], seq: u8) -> Result<(), Closed> {
        let Some(id) = stmt_id(body) else {
            return self
                .send_err(&SqlError::malformed_packet("COM_STMT_EXECUTE"), seq)
                .await;
        };
        let Some(stmt) = self.stmts.get_mut(&id) else {
            return self
                .send_err(&SqlError::unknown_stmt(id, "mysqld_stmt_execute"), seq)
                .await;
        };
        let n = usize::from(stmt.meta.params);
        let Some(req) = parse_execute(body, n) else {
            return self
                .send_err(&SqlError::malformed_packet("COM_STMT_EXECUTE"), seq)
                .await;
        };
        if let Some(t) = req.types
            && stmt.types.as_deref() != Some(t)
        {
            stmt.types = Some(Arc::from(t));
        }
        if let Some(e) = stmt.long_data_error.take() {
            stmt.clear_long_data();
            return self.send_err(&e, seq).await;
        }
        let types = match (&stmt.types, n) {
            (_, 0) => None,
            (Some(t), _) => Some(t.clone()),
            (None, _) => {
                return self
                    .send_err(&SqlError::wrong_arguments("mysqld_stmt_execute"), seq)
                    .await;
            }
        };
        let types: &[u8] = types.as_deref().unwrap_or_default();
        let long_data = std::mem::take(&mut stmt.long_data);
        stmt.long_data_bytes = 0;
        let meta = stmt.meta.clone();
        let point = match (&meta.route, &mut stmt.point) {
            (Some(r), Some(p)) => p.target(&self.table.topology, r, &req, types, n, &long_data),
            _ => None,
        };
        match meta.control {
            Kind::Begin => {
                let text = String::from_utf8_lossy(&meta.sql)
                    .trim()
                    .trim_end_matches(';')
                    .to_string();
                return self.begin(text, seq).await;
            }
            Kind::Commit => return self.end_transaction("COMMIT", seq).await,
            Kind::Rollback => return self.end_transaction("ROLLBACK", seq).await,
            Kind::CurrentDatabase { ref column } => {
                return self.send_current_database(column, true, seq).await;
            }
            _ => {}
        }
        if let Some(intro) = meta.introspection.clone() {
            return self
                .execute_introspection(&intro, &meta, &req, types, &long_data, seq)
                .await;
        }
        // Prepared in another schema than the session's current one: it runs there.
        // Prepared without a schema, or in the current one: the session's default route.
        let other_schema = match &stmt.schema {
            Some(s) if self.schema.as_deref() != Some(s.as_str()) => Some(s.clone()),
            _ => None,
        };
        if stmt.as_text {
            let params = crate::sharding::bound_params(&req, types, n, &long_data);
            let schema = stmt.schema.clone();
            return self.execute_as_text(&meta.sql, params, schema, seq).await;
        }
        if stmt.prefetched {
            let params = crate::sharding::bound_params(&req, types, n, &long_data);
            let schema = stmt.schema.clone();
            let last = std::mem::take(&mut stmt.last_prefetch);
            let (last, r) = self
                .execute_prefetched(&meta, params, schema, last, seq)
                .await;
            if let Some(stmt) = self.stmts.get_mut(&id) {
                stmt.last_prefetch = last;
            }
            return r;
        }
        let malformed = || SqlError::malformed_packet("COM_STMT_EXECUTE parameters");
        self.intent = self.prepared_intent(&meta.sql);
        if let (Some(point), Some(route)) = (point, &meta.route) {
            return self
                .execute_point(route, &meta, &point, &req, types, seq)
                .await;
        }
        if let Some(shard_route) = meta.route.clone() {
            let mut packet = Vec::new();
            let at = packet::begin_packet(&mut packet);
            if rebuild_execute_into(&mut packet, &req, 0, types, n, &long_data).is_none() {
                return self.send_err(&malformed(), seq).await;
            }
            packet::finish_packet(&mut packet, at, 0);
            return self
                .execute_sharded(&shard_route, &meta, &req, types, &long_data, packet, seq)
                .await;
        }
        // The backend packet is built framed in the output buffer (free until the
        // response is relayed); the backend's statement id is patched in once known.
        let mut framed = std::mem::take(&mut self.out);
        framed.clear();
        let at = packet::begin_packet(&mut framed);
        if rebuild_execute_into(&mut framed, &req, 0, types, n, &long_data).is_none() {
            self.restore_out(framed);
            return self.send_err(&malformed(), seq).await;
        }
        packet::finish_packet(&mut framed, at, 0);
        let mut route = match self.take_route_after_switch(other_schema.clone()).await {
            Ok(r) => r,
            Err(e) => {
                self.restore_out(framed);
                return self.send_err(&e, seq).await;
            }
        };
        // As a text statement naming no sharded table: it passes the gate of the schema's
        // database, and one held there during a cut-over re-routes.
        let epoch = self.table.epoch;
        let database = route.route.database.clone().unwrap_or_default();
        let _passage = match self.pass_gate(&database).await {
            Ok(p) => p,
            Err(e) => {
                self.restore_out(framed);
                return self.send_err(&e, seq).await;
            }
        };
        if self.rerouted(epoch) {
            route = match self.take_route(other_schema) {
                Ok(r) => r,
                Err(e) => {
                    self.restore_out(framed);
                    return self.send_err(&e, seq).await;
                }
            };
        }
        let r = self.execute_at(&route.route, &meta, framed, seq).await;
        self.keep_route(route);
        r
    }

    /// Runs a prepared statement of an unsharded schema on a backend of `route` and relays
    /// the response. `framed` is its COM_STMT_EXECUTE packet with statement id 0.
    async fn execute_at(
        &mut self,
        route: &Route,
        meta: &StmtMeta,
        mut framed: Vec<u8>,
        seq: u8,
    ) -> Result<(), Closed> {
        let reads = route.intent == crate::routing::Intent::Read
            || crate::admin_http::reads_by_keyword(&meta.sql);
        let passthrough = crate::admin_http::RouteKind::Passthrough;
        self.shared.board.metrics.statement(reads, passthrough);
        let request = super::shard_path::Request::Execute {
            packet: &mut framed,
            key: stmt_key(meta.global_id, None),
            text: &meta.sql,
        };
        let r = self
            .run_on(
                route,
                request,
                super::shard_path::Answer::Relay,
                ResponseKind::Query,
                None,
                seq,
            )
            .await;
        self.restore_out(framed);
        r
    }

    /// COM_STMT_SEND_LONG_DATA: kept only for a parameter the statement has, and only up
    /// to `max_allowed_packet` bytes in all; otherwise nothing is stored and the next
    /// EXECUTE fails (1210 or 1153), as in MySQL.
    pub(super) fn com_stmt_send_long_data(&mut self, body: &[u8]) {
        let max = self.table.config.max_allowed_packet;
        let (Some(id), Some(param)) = (stmt_id(body), body.get(4..6)) else {
            return;
        };
        let param = u16::from_le_bytes([param[0], param[1]]);
        let Some(stmt) = self.stmts.get_mut(&id) else {
            return;
        };
        if stmt.long_data_error.is_some() {
            return;
        }
        if param >= stmt.meta.params {
            stmt.clear_long_data();
            stmt.long_data_error = Some(SqlError::wrong_arguments("mysqld_stmt_send_long_data"));
            return;
        }
        let data = &body[6..];
        if stmt.long_data_bytes + data.len() > max {
            stmt.clear_long_data();
            stmt.long_data_error = Some(SqlError::packet_too_large());
            return;
        }
        stmt.long_data_bytes += data.len();
        match stmt.long_data.iter_mut().find(|(p, _)| *p == param) {
            Some((_, buf)) => buf.extend_from_slice(data),
            None => stmt.long_data.push((param, data.to_vec())),
        }
    }

    pub(super) fn com_stmt_close(&mut self, body: &[u8]) {
        if let Some(id) = stmt_id(body) {
            self.stmts.remove(&id);
        }
    }

    pub(super) async fn com_stmt_reset(&mut self, body: &[u8], seq: u8) -> Result<(), Closed> {
        let id = stmt_id(body).unwrap_or(0);
        match self.stmts.get_mut(&id) {
            Some(s) => {
                s.clear_long_data();
                self.send_ok(seq).await
            }
            None => {
                self.send_err(&SqlError::unknown_stmt(id, "mysqld_stmt_reset"), seq)
                    .await
            }
        }
    }
}

/// COM_STMT_PREPARE on `conn`: (response packets, backend id, columns, params).
async fn prepare(
    conn: &mut PooledConn,
    sql: &[u8],
) -> Result<(Vec<Vec<u8>>, u32, u16, u16), SqlError> {
    match prepare_once(conn, sql).await {
        // The server's `max_prepared_stmt_count` is one budget for all its connections
        // (the proxy's and others'): this connection's least used statements make room,
        // they are prepared again when next executed.
        Err(e) if e.code == ER_MAX_PREPARED_STMT_COUNT_REACHED && !conn.stmts.is_empty() => {
            close_least_used(conn, conn.stmts.len().div_ceil(2)).await;
            prepare_once(conn, sql).await
        }
        r => r,
    }
}

/// MariaDB's answer to a PREPARE beyond the server's `max_prepared_stmt_count`.
const ER_MAX_PREPARED_STMT_COUNT_REACHED: u16 = 1461;

/// Closes the `n` least recently used backend statements of `conn`.
async fn close_least_used(conn: &mut PooledConn, n: usize) {
    let mut by_use: Vec<(u64, u64, u32)> =
        conn.stmts.iter().map(|(k, s)| (s.used, *k, s.id)).collect();
    by_use.sort_unstable();
    for (_, key, id) in by_use.into_iter().take(n) {
        conn.stmts.remove(&key);
        let mut p = vec![0x19];
        p.extend_from_slice(&id.to_le_bytes());
        // COM_STMT_CLOSE has no response.
        let _ = conn.send(&p).await;
    }
}

async fn prepare_once(
    conn: &mut PooledConn,
    sql: &[u8],
) -> Result<(Vec<Vec<u8>>, u32, u16, u16), SqlError> {
    let mut p = Vec::with_capacity(sql.len() + 1);
    p.push(0x16);
    p.extend_from_slice(sql);
    conn.send(&p).await?;
    let packets = read_internal(conn, ResponseKind::Prepare).await?;
    if let Some(e) = packets.first().and_then(|p| packet::parse_err(p)) {
        return Err(e);
    }
    let mut r = crate::wire::Reader::new(packets.first().map_or(&[][..], Vec::as_slice));
    r.u8();
    let malformed = || SqlError::internal("malformed COM_STMT_PREPARE response from backend");
    let id = r.u32().ok_or_else(malformed)?;
    let columns = r.u16().ok_or_else(malformed)?;
    let params = r.u16().ok_or_else(malformed)?;
    Ok((packets, id, columns, params))
}

/// The backend id of statement `key` on `conn` if it is prepared there (marked as just
/// used).
pub(super) fn prepared_id(conn: &mut PooledConn, key: u64) -> Option<u32> {
    conn.stmt_clock += 1;
    let now = conn.stmt_clock;
    let s = conn.stmts.get_mut(&key)?;
    s.used = now;
    Some(s.id)
}

/// The backend id of statement `key` (text `sql`) on `conn`, preparing it there first if
/// needed.
pub(super) async fn ensure_prepared(
    conn: &mut PooledConn,
    key: u64,
    sql: &[u8],
) -> Result<u32, SqlError> {
    if let Some(id) = prepared_id(conn, key) {
        return Ok(id);
    }
    let (_, id, _, _) = prepare(conn, sql).await?;
    remember(conn, key, id).await;
    Ok(id)
}

/// Records a backend statement, closing the least recently used one beyond the cap.
async fn remember(conn: &mut PooledConn, key: u64, backend_id: u32) {
    if conn.stmts.len() >= MAX_STMTS_PER_CONN {
        close_least_used(conn, 1).await;
    }
    let used = conn.stmt_clock;
    conn.stmts.insert(
        key,
        BackendStmt {
            id: backend_id,
            used,
        },
    );
}
