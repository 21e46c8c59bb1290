//! COM_QUERY and the path every forwarded command shares: take a backend connection
//! (pinned or from the pool), bring its session state in line, send, relay the response,
//! then keep the connection pinned or give it back.

use super::{Closed, Session};
use crate::backend::conn::ConnFlags;
use crate::backend::header::relay_with_header;
use crate::backend::{PooledConn, RelayFailure, Relayed, ResponseKind, relay};
use crate::error::SqlError;
use crate::packet;
use crate::routing::Intent;
use crate::server::Route;
use myshard_router::shard::plan::Route as ShardPlan;
use myshard_router::text::decode;
use myshard_router::{Classified, Kind, SetItem, classify};
use std::sync::Arc;

/// A session's route with what it was computed for (see [`Session::take_route`]).
#[derive(Debug)]
pub(super) struct CachedRoute {
    /// The logical schema.
    schema: Option<String>,
    /// The session's connection flags.
    flags: ConnFlags,
    /// The epoch of the routing table it was made from.
    generation: u64,
    /// The route.
    pub(super) route: Route,
}

impl Session {
    pub(super) async fn com_query(&mut self, payload: &[u8], seq: u8) -> Result<(), Closed> {
        // Exact text for the parser (bytes that are not UTF-8 travel as reserved characters);
        // `None` when the text holds the reserved characters themselves.
        let long = super::planner::is_long(payload.len());
        let (exact, lossy) = super::planner::off_worker(long, || {
            let exact = decode(&payload[1..]).ok();
            let lossy = exact
                .is_none()
                .then(|| String::from_utf8_lossy(&payload[1..]));
            (exact, lossy)
        });
        // Executable comments resolved and privileges checked before anything reads it.
        let admitted = match super::planner::off_worker(long, || {
            self.admit_restricted(exact.as_deref().or(lossy.as_deref()).unwrap_or(""))
        }) {
            Ok(t) => t,
            Err(e) => return self.send_err(&e, seq).await,
        };
        // information_schema restricted to the user's schemas: the restricted text is what
        // the backend runs, whichever way the statement goes.
        let restricted_payload = match (admitted.restricted, &exact) {
            (false, _) => None,
            (true, Some(_)) => {
                let mut p = vec![payload[0]];
                p.extend_from_slice(&myshard_router::text::encode(&admitted.text));
                Some(p)
            }
            (true, None) => {
                let e = SqlError::not_supported(
                    "bytes that are not UTF-8 in a statement reading information_schema",
                );
                return self.send_err(&e, seq).await;
            }
        };
        let payload = restricted_payload.as_deref().unwrap_or(payload);
        let admitted = admitted.text;
        if let Some(r) = self.consistency_statement(&admitted, seq).await {
            return r;
        }
        if let Some(r) = self.transaction_mode_statement(&admitted, seq).await {
            return r;
        }
        if let Some(r) = self.client_xa_statement(&admitted, seq).await {
            return r;
        }
        if let Some(r) = self.savepoint_statement(&admitted, seq).await {
            return r;
        }
        let c = super::planner::off_worker(long, || classify(&admitted));
        self.intent = self.intent_of(&admitted, &c);
        match &c.kind {
            Kind::Use(db) => {
                let db = db.clone();
                return self.use_schema(&db, seq).await;
            }
            Kind::Kill { query, id } => return self.kill(*id, *query, seq).await,
            Kind::Begin => {
                let text = String::from_utf8_lossy(&payload[1..])
                    .trim()
                    .trim_end_matches(';')
                    .to_string();
                return self.begin(text, seq).await;
            }
            Kind::Set(items)
                if !self.in_transaction() && c.pin.is_none() && is_autocommit_switch(items) =>
            {
                // Fast path: `SET autocommit = 0|1` outside a transaction changes only the
                // session state; it reaches a backend with the next statement.
                let items = items.clone();
                self.vars.apply(&items);
                return self.send_ok(seq).await;
            }
            Kind::ExplainRoute { offset } => {
                let offset = *offset;
                let text = admitted.to_string();
                let inner = text
                    .get(offset..)
                    .unwrap_or("")
                    .trim()
                    .trim_end_matches(';')
                    .to_string();
                return self.explain_route(&inner, seq).await;
            }
            Kind::Commit => return self.end_transaction("COMMIT", seq).await,
            Kind::Rollback => return self.end_transaction("ROLLBACK", seq).await,
            Kind::ConnectionId { column } => {
                let column = column.clone();
                return self.send_connection_id(&column, seq).await;
            }
            Kind::CurrentDatabase { column } => {
                let column = column.clone();
                return self.send_current_database(&column, false, seq).await;
            }
            _ => {}
        }
        // `SET @v = USER()`: the value the client reads back later is its own identity.
        if matches!(c.kind, Kind::Set(_))
            && exact.is_some()
            && let Some(sql) = self.database_calls(&admitted)
        {
            return self.set_with_session_calls(&sql, seq).await;
        }
        if c.kind == Kind::Other {
            let text = std::borrow::Cow::Borrowed(&*admitted);
            if let Some(r) = self.session_statement(&text, seq).await {
                return r;
            }
            if let Some(r) = self.sql_prepare(&text, seq).await {
                return r;
            }
            // SHOW DATABASES / TABLES / COLUMNS …, information_schema: logical names only.
            if let Some(i) = self.introspection_plan(&text, &c) {
                drop(text);
                return self.run_introspection(i, &payload[1..], seq, c).await;
            }
            let calls = super::planner::off_worker(super::planner::is_long(text.len()), || {
                self.database_calls(&text)
            });
            if let Some(sql) = calls {
                drop(text);
                return self
                    .run_with_database_calls(sql, &payload[1..], seq, c)
                    .await;
            }
            // Point reads by an integer shard key skip the planner.
            if let Some(r) = self.run_point_read(&text, payload, seq, &c).await {
                return r;
            }
            // DDL may change the columns an INSERT without a column list is completed with.
            let ddl = myshard_router::shard::columnless::may_change_columns(&text);
            if ddl {
                self.shared.column_orders.clear();
            }
            let text = match self.with_insert_columns(text).await {
                Ok(t) => t,
                Err(e) => return self.send_err(&e, seq).await,
            };
            let text = match self.with_sequence_values(text).await {
                Ok(t) => t,
                Err(e) => return self.send_err(&e, seq).await,
            };
            if let Some(r) = self.run_key_update(&text, seq).await {
                return r;
            }
            // An uncorrelated IN (SELECT …) may be evaluated first (subquery_values.rs).
            let (text, plan) = match self.plan_with_subquery_values(text).await {
                Ok(p) => p,
                Err(e) => return self.send_err(&e, seq).await,
            };
            match plan {
                ShardPlan::Passthrough => {}
                ShardPlan::Error(e) => {
                    return self.send_err(&super::shard::route_error(e), seq).await;
                }
                ShardPlan::Shard(_) if decode(&payload[1..]).is_err() => {
                    let e = SqlError::not_supported(
                        "characters U+10FF00-U+10FFFF in statements of sharded or renamed schemas",
                    );
                    return self.send_err(&e, seq).await;
                }
                ShardPlan::Shard(r) => {
                    drop(text);
                    let done = self.run_shard_query(&r, seq, c).await;
                    if ddl {
                        self.shared.column_orders.clear();
                    }
                    return done;
                }
            }
        }
        // A renamed schema's database is shown by its logical name.
        self.rename_database();
        let reads = self.intent == crate::routing::Intent::Read
            || crate::admin_http::reads_by_keyword(&payload[1..]);
        let passthrough = crate::admin_http::RouteKind::Passthrough;
        self.shared.board.metrics.statement(reads, passthrough);
        let r = self
            .forward(payload, seq, ResponseKind::Query, Some(c))
            .await;
        self.rename_schema.clear();
        r
    }

    /// Answers `SELECT CONNECTION_ID()` with this client's proxy connection id (the one
    /// in the greeting, which `KILL` takes), with the metadata MariaDB gives the column.
    async fn send_connection_id(&mut self, column: &str, seq: u8) -> Result<(), Closed> {
        use packet::column_flags::{BINARY, NOT_NULL, UNSIGNED};
        let eof = packet::eof_payload(self.status(), 0);
        let mut row = Vec::with_capacity(12);
        crate::wire::put_lenenc_str(&mut row, self.id.to_string().as_bytes());
        let def = self.computed_column(column, 63, 10, 0x03, NOT_NULL | UNSIGNED | BINARY, 0);
        let mut seq = packet::frame(&mut self.out, seq, &[1]);
        for p in [&def, &eof, &row, &eof] {
            seq = packet::frame(&mut self.out, seq, p);
        }
        self.write_out().await
    }

    /// Switches the session's logical schema (COM_INIT_DB and `USE`).
    pub(super) async fn use_schema(&mut self, db: &str, seq: u8) -> Result<(), Closed> {
        if let Err(e) =
            super::login::check_schema(&self.table.config, &self.account, &self.peer_host, db)
        {
            return self.send_err(&e, seq).await;
        }
        let physical = self
            .table
            .config
            .schema(db)
            .map(|s| s.physical_database().to_string());
        self.schema = Some(db.to_string());
        self.vars.database = physical;
        self.send_ok(seq).await
    }

    /// Where statements go when nothing in them says otherwise: the session schema's group
    /// (the home shard's for a sharded schema).
    pub(super) fn default_route(&self) -> Result<Route, SqlError> {
        self.table
            .target(self.schema.as_deref(), None, Intent::Write, self.flags)
    }

    /// The route of logical schema `other`, or with `None` the session's default route,
    /// which comes from the session's cache while the schema, the connection flags, the
    /// routing table and the host's epoch are those it was computed for (so that a
    /// statement costs no allocation and no pool lookup for it). Hand it back with
    /// [`Session::keep_route`].
    pub(super) fn take_route(&mut self, other: Option<String>) -> Result<CachedRoute, SqlError> {
        let generation = self.table.epoch;
        if self.intent == Intent::Write
            && other.is_none()
            && let Some(c) = self.route_cache.take()
            && c.generation == generation
            && c.flags == self.flags
            && c.schema == self.schema
            && c.route.epoch == c.route.host.epoch()
        {
            return Ok(c);
        }
        let schema = other.or_else(|| self.schema.clone());
        let route = self
            .table
            .target(schema.as_deref(), None, self.intent, self.flags)?;
        Ok(CachedRoute {
            schema,
            flags: self.flags,
            generation,
            route,
        })
    }

    /// Returns a route from [`Session::take_route`] to the cache if it is still the
    /// session's default route.
    pub(super) fn keep_route(&mut self, c: CachedRoute) {
        // A read's route is chosen per statement; the cache keeps the write host's.
        if c.route.intent == Intent::Write && c.schema == self.schema && c.flags == self.flags {
            self.route_cache = Some(c);
        }
    }

    /// A backend connection of `route`'s pool in line with this session's state: the one
    /// pinned to the session there, or one from the pool (reads go through
    /// [`Session::acquire_at`], which picks the host by the consistency mode). Inside a transaction a fresh
    /// connection first receives the client's `BEGIN`.
    pub(super) async fn acquire_conn(&mut self, route: &Route) -> Result<PooledConn, SqlError> {
        // A transaction never moves to another host.
        self.join_transaction(route)?;
        self.vars.database.clone_from(&route.database);
        let pinned = self
            .pinned
            .iter()
            .position(|c| Arc::ptr_eq(c.pool(), &route.pool));
        let (mut conn, fresh) = match pinned {
            Some(i) => (self.pinned.swap_remove(i), false),
            None => {
                // Waiting for a full pool, or connecting to a hung host, ends as any other
                // backend wait does (KILL, statement timeout, the client gone).
                let mut interrupter = self.interrupter();
                let conn = tokio::select! {
                    c = route.pool.checkout(self.id, &self.vars) => c?,
                    why = interrupter.wait() => return Err(why.error()),
                };
                (conn, true)
            }
        };
        conn.interrupter = Some(self.interrupter());
        if let Err(e) = sync_in_time(&mut conn, &self.vars).await {
            if !fresh {
                // The pinned state is lost with the connection.
                self.note_loss(Some(&conn), None);
                conn.broken = true;
                self.lose_pin();
            }
            return Err(e);
        }
        // A connection not yet in the client's transaction (fresh from the pool, or pinned
        // for other state) joins it first.
        if !conn.in_transaction
            && let Some(begin) = self.branch_begin(route)
        {
            conn.execute(&begin).await?;
            conn.in_transaction = true;
            self.replay_savepoints(&mut conn).await?;
        }
        conn.last_client = self.id;
        Ok(conn)
    }

    /// Another connection of `route`'s pool for a scatter outside any transaction or pinned
    /// state, if one is free right now (see [`crate::backend::HostPool::try_checkout`]).
    pub(super) async fn try_acquire_at(
        &mut self,
        route: &Route,
    ) -> Result<Option<PooledConn>, SqlError> {
        if !self.read_needs_no_check(route) {
            // Read-your-writes checked the group's first connection only.
            return Ok(None);
        }
        self.vars.database.clone_from(&route.database);
        let Some(mut conn) = route.pool.try_checkout(self.id, &self.vars).await? else {
            return Ok(None);
        };
        conn.interrupter = Some(self.interrupter());
        sync_in_time(&mut conn, &self.vars).await?;
        conn.last_client = self.id;
        Ok(Some(conn))
    }

    /// Keeps the connection for this session, or returns it to the pool.
    pub(super) fn finish(&mut self, conn: PooledConn) {
        if conn.in_transaction || self.pin_reason.is_some() {
            self.pinned.push(conn);
        }
        self.settle_participants();
    }

    /// Sends `payload` to the session's default route and relays the response.
    pub(super) async fn forward(
        &mut self,
        payload: &[u8],
        seq: u8,
        kind: ResponseKind,
        classified: Option<Classified>,
    ) -> Result<(), Closed> {
        match self.take_route_after_switch(None).await {
            Ok(c) => {
                // Statements naming no sharded table run in the schema's database (the home
                // shard's for a sharded schema): they pass its gate.
                let database = c.route.database.as_deref().unwrap_or_default();
                let epoch = self.table.epoch;
                let _passage = match self.pass_gate(database).await {
                    Ok(p) => p,
                    Err(e) => {
                        self.keep_route(c);
                        return self.send_err(&e, seq).await;
                    }
                };
                // Held at the gate during a cut-over: the schema may live elsewhere now.
                let c = match self.rerouted(epoch) {
                    true => match self.take_route(None) {
                        Ok(c) => c,
                        Err(e) => return self.send_err(&e, seq).await,
                    },
                    false => c,
                };
                let r = self
                    .forward_at(&c.route, payload, seq, kind, classified)
                    .await;
                self.keep_route(c);
                r
            }
            Err(e) => self.send_err(&e, seq).await,
        }
    }

    /// Sends `payload` to a backend of `route` and relays the response.
    pub(super) async fn forward_at(
        &mut self,
        route: &Route,
        payload: &[u8],
        seq: u8,
        kind: ResponseKind,
        classified: Option<Classified>,
    ) -> Result<(), Closed> {
        let request = super::shard_path::Request::Command(payload);
        self.run_on(
            route,
            request,
            super::shard_path::Answer::Relay,
            kind,
            classified,
            seq,
        )
        .await
    }

    /// Relays a response; on a backend failure reports it to the client and returns
    /// `None` (the connection keeps serving); a client failure closes the session.
    pub(super) async fn relay_from(
        &mut self,
        conn: &mut PooledConn,
        kind: ResponseKind,
        seq: u8,
    ) -> Result<Option<Relayed>, Closed> {
        // A renamed answer has only its header and errors rewritten, framed in the
        // session's (idle) output buffer; its rows are relayed as the plain relay does.
        let mut rename = std::mem::take(&mut self.rename_schema);
        let mut rewritten = std::mem::take(&mut self.out);
        let kills = self.kills_started();
        self.set_running(Some(conn));
        let r = if rename.is_active() {
            let client = &mut self.stream;
            relay_with_header(conn, kind, client, seq, &mut rewritten, &mut rename).await
        } else {
            relay(conn, kind, &mut self.stream, seq).await
        };
        self.set_running(None);
        rename.clear();
        self.rename_schema = rename;
        rewritten.clear();
        // Anything framed before the relay is kept (it is empty on every path today).
        if self.out.is_empty() {
            self.out = rewritten;
        }
        self.settle_kills_on(kills, conn).await;
        self.relay_outcome(conn, r).await
    }

    /// What a relay's outcome means for the session: a backend failure is reported to the
    /// client (`None`; the session keeps serving), a client failure closes the session.
    pub(super) async fn relay_outcome(
        &mut self,
        conn: &mut PooledConn,
        r: Result<Relayed, RelayFailure>,
    ) -> Result<Option<Relayed>, Closed> {
        match r {
            Ok(relayed) => Ok(Some(relayed)),
            Err(RelayFailure::Backend { error, next_seq }) => {
                // A read that failed before anything reached the client goes elsewhere.
                let error = match conn.interrupted {
                    None => match self.read_retry.catch(error, next_seq) {
                        Some(e) => e,
                        None => return Ok(None),
                    },
                    Some(_) => error,
                };
                tracing::warn!(host = %conn.host, error = %error, "backend failed during a statement");
                self.note_loss(Some(conn), None);
                self.lose_pin();
                self.send_err(&error, next_seq).await?;
                if conn.interrupted.is_some_and(|w| w.ends_session()) {
                    return Err(Closed);
                }
                Ok(None)
            }
            Err(RelayFailure::Client(_)) => {
                conn.broken = true;
                // Given up on a client that stopped reading: the backend may still be
                // sending the rest, so its thread is ended as for any interrupted statement.
                conn.interrupted = conn.interrupted.or(self.stream.stopped());
                Err(Closed)
            }
        }
    }

    /// A pinned connection broke: the transaction and the pinned state are gone, on every
    /// connection of the session (their transactions roll back as they close).
    pub(super) fn lose_pin(&mut self) {
        self.note_loss(None, None);
        self.unpin();
    }

    pub(super) fn set_running(&self, conn: Option<&PooledConn>) {
        if let Ok(mut r) = self.control.running.lock() {
            r.clear();
            if let Some(c) = conn {
                r.push((c.pool().clone(), c.thread_id));
            }
        }
    }

    /// Records the backend connections of a scatter as running (for `KILL QUERY`).
    pub(super) fn set_running_all(&self, conns: &[(Arc<crate::backend::HostPool>, u32)]) {
        if let Ok(mut r) = self.control.running.lock() {
            r.clear();
            r.extend_from_slice(conns);
        }
    }

    /// Updates session tracking from a completed response.
    pub(super) async fn after_response(
        &mut self,
        conn: &mut PooledConn,
        relayed: &Relayed,
        classified: Option<Classified>,
    ) {
        let t = &relayed.tracker;
        if t.last_insert_id != 0 {
            self.last_insert_id = t.last_insert_id;
            conn.last_insert_id = t.last_insert_id;
        }
        let in_trans = t.status & crate::packet::status::IN_TRANS != 0;
        if t.error {
            self.shared.board.metrics.backend_error(t.error_code);
            // An ERR carries no status flags: a failed statement leaves an open transaction
            // open (and with autocommit off may have started one), so the session stays on
            // this connection until an OK or EOF tells otherwise.
            conn.in_transaction |= in_trans || self.vars.autocommit_off();
        } else {
            conn.in_transaction = in_trans;
        }
        let Some(c) = classified else { return };
        if t.error {
            return;
        }
        if let Some(reason) = c.pin {
            self.pin_reason.get_or_insert(reason);
        }
        if let Kind::Set(items) = c.kind {
            match self.resolve(conn, items).await {
                Some(items) => {
                    self.vars.apply(&items);
                    conn.applied = self.vars.clone();
                }
                None => {
                    self.pin_reason
                        .get_or_insert("SET whose value could not be read back");
                }
            }
        }
    }

    /// Replaces expression values of SET items with the literal the backend computed.
    async fn resolve(&self, conn: &mut PooledConn, items: Vec<SetItem>) -> Option<Vec<SetItem>> {
        let mut out = Vec::with_capacity(items.len());
        for mut it in items {
            if it.needs_resolution {
                let rows = conn
                    .query_rows(&format!("SELECT @@session.{}", it.key))
                    .await
                    .ok()?;
                let value = rows.first()?.first()?.clone();
                it.sql = format!("{} = {}", it.key, sql_literal(value.as_deref()));
                it.needs_resolution = false;
            }
            out.push(it);
        }
        Some(out)
    }
}

/// Brings `conn` in line with `vars` within the pool's check timeout (a hung backend
/// fails it rather than holding the statement).
pub(super) async fn sync_in_time(
    conn: &mut PooledConn,
    vars: &crate::state::SessionVars,
) -> Result<(), SqlError> {
    let limit = conn.pool().check_timeout();
    match tokio::time::timeout(limit, conn.sync(vars)).await {
        Ok(r) => r,
        Err(_) => {
            conn.broken = true;
            Err(SqlError::backend_unreachable(
                &conn.host,
                "no answer to the session state sync within pool.check_timeout_ms",
            ))
        }
    }
}

/// Whether a SET only switches autocommit to a plain on/off literal.
fn is_autocommit_switch(items: &[SetItem]) -> bool {
    !items.is_empty()
        && items.iter().all(|it| {
            let value = it
                .sql
                .rsplit('=')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('\'');
            it.key == "autocommit"
                && !it.needs_resolution
                && ["0", "1", "on", "off", "true", "false"]
                    .iter()
                    .any(|v| value.eq_ignore_ascii_case(v))
        })
}

/// A value read back from the server as an SQL literal.
fn sql_literal(v: Option<&[u8]>) -> String {
    let Some(v) = v else { return "NULL".into() };
    let s = String::from_utf8_lossy(v);
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.parse::<f64>().is_ok()
    {
        return s.into_owned();
    }
    let mut q = String::with_capacity(s.len() + 2);
    q.push('\'');
    for ch in s.chars() {
        match ch {
            '\'' => q.push_str("''"),
            '\\' => q.push_str("\\\\"),
            c => q.push(c),
        }
    }
    q.push('\'');
    q
}

#[cfg(test)]
mod tests {
    use super::sql_literal;

    #[test]
    fn autocommit_switches() {
        use super::is_autocommit_switch;
        let set = |sql: &str| match myshard_router::classify(sql).kind {
            myshard_router::Kind::Set(items) => items,
            other => panic!("{other:?}"),
        };
        assert!(is_autocommit_switch(&set("SET autocommit=0")));
        assert!(is_autocommit_switch(&set(
            "set @@session.autocommit = 'ON'"
        )));
        assert!(!is_autocommit_switch(&set(
            "SET autocommit = 0, sql_mode = ''"
        )));
        assert!(!is_autocommit_switch(&set("SET autocommit = -1")));
        assert!(!is_autocommit_switch(&set("SET autocommit = @x")));
    }

    #[test]
    fn literals() {
        assert_eq!(sql_literal(None), "NULL");
        assert_eq!(sql_literal(Some(b"42")), "42");
        assert_eq!(sql_literal(Some(b"-1.5")), "-1.5");
        assert_eq!(
            sql_literal(Some(b"ANSI,NO_ZERO_DATE")),
            "'ANSI,NO_ZERO_DATE'"
        );
        assert_eq!(sql_literal(Some(b"it's\\")), "'it''s\\\\'");
        assert_eq!(sql_literal(Some(b"-")), "'-'");
    }
}
