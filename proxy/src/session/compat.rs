//! Answering the introspection statements drivers and ORMs send with logical schema names
//! (recognised and planned by `myshard_router::compat`):
//!
//! - `SELECT DATABASE()` / `SELECT SCHEMA()` and `SHOW DATABASES`: answered by the proxy,
//!   with the column metadata MariaDB gives them.
//! - `SHOW TABLES`, `SHOW COLUMNS`, `DESCRIBE`, `SHOW INDEX`, `SHOW CREATE TABLE`,
//!   `SHOW TABLE STATUS` and information_schema queries: run on the home shard, their
//!   answer relayed with physical names in column definitions, error messages and (for
//!   information_schema) row values shown as logical names.
//!
//! All of them work as text queries and as prepared statements (binary rows; bound
//! parameters compared with a schema column, `TABLE_SCHEMA = ?`, are bound logical names).

use super::schema_filter::SchemaFilter;
use super::shard::route_error;
use super::shard_path::{Answer, Request};
use super::{Closed, Session};
use crate::backend::conn::stmt_key;
use crate::backend::rewrite::{ColumnDef, Edit, field, relay_rewritten, text_row, text_row_values};
use crate::backend::{Class, PooledConn, Relayed, ResponseKind};
use crate::error::SqlError;
use crate::packet;
use crate::params::{ExecuteRequest, rebuild_execute, split_values, value_len};
use crate::server::Route;
use crate::sharding::bound_params;
use crate::state::SessionVars;
use crate::stmt_cache::StmtMeta;
use crate::wire::{Reader, put_lenenc_str};
use myshard_config::SchemaTopology;
use myshard_router::compat::{
    Binding, Introspection, NameMap, Rewritten, SessionValues, ShowDatabases, ValueRename,
    current_database_select, is_schema_column, rewrite_session_calls,
};
use myshard_router::shard::plan::{Route as ShardPlan, RouteContext};
use myshard_router::shard::resolve::Bound;
use myshard_router::text::{decode, encode};
use myshard_router::{Classified, Kind};
use mysql_common::collations::{Collation, CollationId};
use std::sync::Arc;

/// MYSQL_TYPE_VAR_STRING.
const VAR_STRING: u8 = 0xFD;
/// NOT_NULL_FLAG | NO_DEFAULT_VALUE_FLAG: information_schema's `SCHEMA_NAME`.
const SCHEMA_NAME_FLAGS: u16 = 0x1001;
/// Decimals MariaDB reports for string functions (NOT_FIXED_DEC).
const NOT_FIXED_DEC: u8 = 39;
/// Characters in a database name (NAME_CHAR_LEN).
const NAME_CHARS: u32 = 64;
/// utf8mb3_general_ci, the system character set: metadata when results are not converted
/// (`character_set_results = NULL`).
const SYSTEM_COLLATION: (u16, u32) = (33, 3);

impl Session {
    /// The plan for an introspection statement in COM_QUERY text, if `sql` is one.
    pub(super) fn introspection_plan(&self, sql: &str, c: &Classified) -> Option<Introspection> {
        if c.multi {
            return self.filtered_information_schema(sql, true);
        }
        myshard_router::compat::plan(
            sql,
            RouteContext {
                topology: &self.table.topology,
                schema: self.schema.as_deref(),
            },
        )
        .or_else(|| self.filtered_information_schema(sql, false))
    }

    /// `sql` with its session function calls answering as the proxy does, if it has any:
    /// in a session whose schema is sharded or renamed `DATABASE()` gives the logical
    /// name; `CONNECTION_ID()` and `USER()` (and the other account functions) always give
    /// the client's proxy id and account (statements other than the exact
    /// `SELECT DATABASE()` / `SELECT CONNECTION_ID()` the proxy answers itself).
    /// Every statement of a multi-statement text is rewritten, and `SET` values too.
    pub(super) fn database_calls(&self, sql: &str) -> Option<String> {
        // DATABASE() is answered where the backend's database is not the logical schema;
        // the client's id and account always.
        let schema = self.schema.as_deref();
        let special = schema.is_some_and(|s| match self.table.topology.schema(s) {
            Some(SchemaTopology::Sharded(_)) => true,
            Some(SchemaTopology::Unsharded { database, .. }) => database != s,
            None => false,
        });
        let values = SessionValues {
            database: special.then_some(schema),
            client: Some(self.client_identity()),
        };
        rewrite_session_calls(sql, &values)
    }

    /// Runs `sql`, the client's text (`raw`) with its `DATABASE()` calls rewritten, on the
    /// route the planner gives it.
    pub(super) async fn run_with_database_calls(
        &mut self,
        sql: String,
        raw: &[u8],
        seq: u8,
        c: Classified,
    ) -> Result<(), Closed> {
        if decode(raw).is_err() {
            let e = SqlError::not_supported(
                "characters U+10FF00-U+10FFFF in statements of sharded or renamed schemas",
            );
            return self.send_err(&e, seq).await;
        }
        match self.plan_statement(&sql).await {
            ShardPlan::Passthrough => {
                let mut payload = Vec::with_capacity(sql.len() + 1);
                payload.push(0x03);
                payload.extend_from_slice(&encode(&sql));
                self.forward(&payload, seq, ResponseKind::Query, Some(c))
                    .await
            }
            ShardPlan::Error(e) => self.send_err(&route_error(e), seq).await,
            ShardPlan::Shard(r) => self.run_shard_query(&r, seq, c).await,
        }
    }

    /// COM_FIELD_LIST (the CLI's column completion): in a sharded or renamed schema the
    /// column definitions name the logical schema.
    pub(super) async fn com_field_list(&mut self, payload: &[u8], seq: u8) -> Result<(), Closed> {
        let names = self
            .schema
            .as_deref()
            .and_then(|s| NameMap::for_schema(&self.table.topology, s));
        let Some(names) = names else {
            return self
                .forward(payload, seq, ResponseKind::FieldList, None)
                .await;
        };
        let route = match self.default_route() {
            Ok(route) => route,
            Err(e) => return self.send_err(&e, seq).await,
        };
        self.run_on(
            &route,
            Request::Command(payload),
            Answer::FieldList(&names),
            ResponseKind::FieldList,
            None,
            seq,
        )
        .await
    }

    /// Runs a planned introspection statement. `raw` is the client's text (its bytes
    /// decide whether the rewritten text can be sent exactly).
    pub(super) async fn run_introspection(
        &mut self,
        plan: Introspection,
        raw: &[u8],
        seq: u8,
        c: Classified,
    ) -> Result<(), Closed> {
        match plan {
            Introspection::Error(e) => self.send_err(&route_error(e), seq).await,
            Introspection::ShowDatabases(s) => self.send_show_databases(&s, false, seq).await,
            Introspection::Rewritten(_) if decode(raw).is_err() => {
                let e = SqlError::not_supported(
                    "characters U+10FF00-U+10FFFF in statements of sharded or renamed schemas",
                );
                self.send_err(&e, seq).await
            }
            Introspection::Rewritten(r) => self.run_rewritten(&r, seq, c).await,
        }
    }

    /// Answers `SELECT DATABASE()` with the session's logical schema (NULL without one),
    /// as a text result set or, for an executed prepared statement, a binary one.
    pub(super) async fn send_current_database(
        &mut self,
        column: &str,
        binary: bool,
        seq: u8,
    ) -> Result<(), Closed> {
        let def = self.current_database_def(column);
        let value = self.schema.clone();
        let mut row = Vec::with_capacity(24);
        if binary {
            // Header, then the NULL bitmap (offset 2: column 0 is bit 2).
            row.push(0x00);
            row.push(if value.is_none() { 0x04 } else { 0x00 });
            if let Some(v) = &value {
                put_lenenc_str(&mut row, v.as_bytes());
            }
        } else {
            match &value {
                Some(v) => put_lenenc_str(&mut row, v.as_bytes()),
                None => row.push(0xFB),
            }
        }
        let eof = packet::eof_payload(self.status(), 0);
        let mut seq = packet::frame(&mut self.out, seq, &[1]);
        for p in [&def, &eof, &row, &eof] {
            seq = packet::frame(&mut self.out, seq, p);
        }
        self.write_out().await
    }

    /// The statement metadata of a prepared `SELECT DATABASE()`, answered by the proxy at
    /// every execute; `None` for any other statement.
    fn prepare_locally(&self, text: &str) -> Option<Arc<StmtMeta>> {
        let column = current_database_select(text)?;
        let sql = text.as_bytes();
        Some(Arc::new(StmtMeta {
            global_id: self.shared.stmt_cache.next_id(),
            sql: sql.to_vec(),
            columns: 1,
            params: 0,
            param_defs: Vec::new(),
            column_defs: vec![self.current_database_def(&column)],
            route: None,
            control: Kind::CurrentDatabase { column },
            introspection: None,
        }))
    }

    /// Prepares an introspection statement: `None` if `sql` is not one (it takes the usual
    /// path). `SELECT DATABASE()` and `SHOW DATABASES` are answered by the proxy; the others
    /// are prepared in rewritten form where they run, their column definitions renamed.
    pub(super) async fn prepare_introspection(
        &mut self,
        sql: &[u8],
    ) -> Option<Result<Arc<StmtMeta>, SqlError>> {
        // Texts that are not UTF-8 take the usual path.
        let text = std::str::from_utf8(sql).ok()?;
        if let Some(meta) = self.prepare_locally(text) {
            return Some(Ok(meta));
        }
        let plan = myshard_router::compat::plan(
            text,
            RouteContext {
                topology: &self.table.topology,
                schema: self.schema.as_deref(),
            },
        )
        .or_else(|| self.filtered_information_schema(text, false))?;
        Some(match plan {
            Introspection::Error(e) => Err(route_error(e)),
            Introspection::ShowDatabases(s) => Ok(Arc::new(StmtMeta {
                global_id: self.shared.stmt_cache.next_id(),
                sql: sql.to_vec(),
                columns: 1,
                params: 0,
                param_defs: Vec::new(),
                column_defs: vec![self.show_databases_def(&s)],
                route: None,
                control: Kind::Other,
                introspection: Some(Arc::new(Introspection::ShowDatabases(s))),
            })),
            Introspection::Rewritten(_) if decode(sql).is_err() => Err(SqlError::not_supported(
                "characters U+10FF00-U+10FFFF in statements of sharded or renamed schemas",
            )),
            Introspection::Rewritten(r) => self.prepare_rewritten(sql, r).await,
        })
    }

    async fn prepare_rewritten(
        &mut self,
        sql: &[u8],
        r: Box<Rewritten>,
    ) -> Result<Arc<StmtMeta>, SqlError> {
        let route = self.home_route(r.schema.as_deref(), r.shard)?;
        let text = encode(&r.sql).into_owned();
        let meta = self.prepare_on_backend(&route, sql, &text, None).await?;
        let column_defs = meta
            .column_defs
            .iter()
            .map(|d| match rename_column_def(d, &r.names).0 {
                Edit::Replace(p) => p,
                _ => d.clone(),
            })
            .collect();
        Ok(Arc::new(StmtMeta {
            global_id: meta.global_id,
            sql: meta.sql.clone(),
            columns: meta.columns,
            params: meta.params,
            param_defs: meta.param_defs.clone(),
            column_defs,
            route: None,
            control: Kind::Other,
            introspection: Some(Arc::new(Introspection::Rewritten(r))),
        }))
    }

    /// COM_STMT_EXECUTE of a prepared introspection statement.
    pub(super) async fn execute_introspection(
        &mut self,
        intro: &Introspection,
        meta: &StmtMeta,
        req: &ExecuteRequest<'_>,
        types: &[u8],
        long_data: &[(u16, Vec<u8>)],
        seq: u8,
    ) -> Result<(), Closed> {
        let r = match intro {
            Introspection::ShowDatabases(s) => return self.send_show_databases(s, true, seq).await,
            Introspection::Error(e) => return self.send_err(&route_error(e.clone()), seq).await,
            Introspection::Rewritten(r) => r,
        };
        let n = usize::from(meta.params);
        let binding = if r.params.is_empty() {
            Binding {
                schema: r.schema.clone(),
                shard: r.shard,
                replace: Vec::new(),
            }
        } else {
            let Some(params) = bound_params(req, types, n, long_data) else {
                let e = SqlError::malformed_packet("COM_STMT_EXECUTE parameters");
                return self.send_err(&e, seq).await;
            };
            let value = |i: usize| match params.get(i) {
                Some(Bound::Text(t)) => String::from_utf8(t.clone()).ok(),
                _ => None,
            };
            match r.bind(&self.table.topology, &value) {
                Ok(b) => b,
                Err(e) => return self.send_err(&route_error(e), seq).await,
            }
        };
        let Some(payload) = execute_payload(req, types, n, long_data, &binding.replace) else {
            let e = SqlError::malformed_packet("COM_STMT_EXECUTE parameters");
            return self.send_err(&e, seq).await;
        };
        let route = match self.home_route(binding.schema.as_deref(), binding.shard) {
            Ok(route) => route,
            Err(e) => return self.send_err(&e, seq).await,
        };
        let mut framed = Vec::with_capacity(payload.len() + 4);
        packet::frame(&mut framed, 0, &payload);
        drop(payload);
        let text = encode(&r.sql);
        let request = Request::Execute {
            packet: &mut framed,
            key: stmt_key(meta.global_id, None),
            text: &text,
        };
        let answer = Answer::Renamed {
            names: &r.names,
            rows: r.rows,
            binary: true,
        };
        self.run_on(&route, request, answer, ResponseKind::Query, None, seq)
            .await
    }

    /// The column definition MariaDB sends for `DATABASE()`: a nullable VAR_STRING of 64
    /// characters in the results character set.
    pub(super) fn current_database_def(&self, column: &str) -> Vec<u8> {
        let (charset, mbmaxlen) = results_charset(&self.vars);
        let strings: [&[u8]; 6] = [b"def", b"", b"", b"", column.as_bytes(), b""];
        self.column_def(
            strings,
            charset,
            NAME_CHARS * mbmaxlen,
            VAR_STRING,
            0,
            NOT_FIXED_DEC,
        )
    }

    /// A column definition in the layout this client negotiated (with MariaDB's extended
    /// metadata, an empty one).
    fn column_def(
        &self,
        strings: [&[u8]; 6],
        charset: u16,
        length: u32,
        column_type: u8,
        flags: u16,
        decimals: u8,
    ) -> Vec<u8> {
        let mut p = Vec::with_capacity(48);
        for s in strings {
            put_lenenc_str(&mut p, s);
        }
        if self.flags.ext_metadata {
            p.push(0);
        }
        p.push(0x0C);
        p.extend_from_slice(&charset.to_le_bytes());
        p.extend_from_slice(&length.to_le_bytes());
        p.push(column_type);
        p.extend_from_slice(&flags.to_le_bytes());
        p.push(decimals);
        p.extend_from_slice(&[0, 0]);
        p
    }

    /// The column definition of `SHOW DATABASES`: MariaDB's for
    /// `information_schema.SCHEMATA.SCHEMA_NAME`.
    fn show_databases_def(&self, s: &ShowDatabases) -> Vec<u8> {
        let (charset, mbmaxlen) = results_charset(&self.vars);
        let strings: [&[u8]; 6] = [
            b"def",
            b"information_schema",
            b"SCHEMATA",
            b"SCHEMATA",
            s.column.as_bytes(),
            b"SCHEMA_NAME",
        ];
        self.column_def(
            strings,
            charset,
            NAME_CHARS * mbmaxlen,
            VAR_STRING,
            SCHEMA_NAME_FLAGS,
            0,
        )
    }

    /// `SHOW DATABASES [LIKE …]`: `information_schema` and the logical schemas this user
    /// may use, in byte order as MariaDB lists them (text rows, or binary rows for an
    /// executed prepared statement).
    async fn send_show_databases(
        &mut self,
        s: &ShowDatabases,
        binary: bool,
        seq: u8,
    ) -> Result<(), Closed> {
        let mut names: Vec<&str> = self
            .table
            .topology
            .schemas()
            .map(|(name, _)| name)
            .filter(|name| self.account.may_use(name))
            .collect();
        names.push("information_schema");
        names.retain(|n| s.matches(n));
        names.sort_unstable();
        names.dedup();
        let def = self.show_databases_def(s);
        let eof = packet::eof_payload(self.status(), 0);
        let mut seq = packet::frame(&mut self.out, seq, &[1]);
        seq = packet::frame(&mut self.out, seq, &def);
        seq = packet::frame(&mut self.out, seq, &eof);
        let mut row = Vec::new();
        for n in names {
            row.clear();
            if binary {
                // Header and an empty NULL bitmap.
                row.extend_from_slice(&[0x00, 0x00]);
            }
            put_lenenc_str(&mut row, n.as_bytes());
            seq = packet::frame(&mut self.out, seq, &row);
        }
        packet::frame(&mut self.out, seq, &eof);
        self.write_out().await
    }

    /// Where a rewritten statement runs: the home shard of `schema` (`shard`), or without
    /// one the session's usual route.
    fn home_route(&self, schema: Option<&str>, shard: u32) -> Result<Route, SqlError> {
        let Some(schema) = schema else {
            return self.default_route();
        };
        let topology = self
            .table
            .topology
            .schema(schema)
            .ok_or_else(|| SqlError::unknown_db(schema))?;
        let (Some(group), Some(db)) = (topology.group_of(shard), topology.database(shard)) else {
            return Err(SqlError::internal(format!(
                "shard {shard} of '{schema}' is not placed"
            )));
        };
        let database = self
            .table
            .group_database(schema, group)
            .or_else(|| Some(db.to_string()));
        self.table
            .route_to(group, database, crate::routing::Intent::Write, self.flags)
    }

    /// Runs a rewritten introspection statement and relays its answer renamed.
    async fn run_rewritten(&mut self, r: &Rewritten, seq: u8, c: Classified) -> Result<(), Closed> {
        let route = match self.home_route(r.schema.as_deref(), r.shard) {
            Ok(route) => route,
            Err(e) => return self.send_err(&e, seq).await,
        };
        let mut payload = Vec::with_capacity(r.sql.len() + 1);
        payload.push(0x03);
        payload.extend_from_slice(&encode(&r.sql));
        let answer = Answer::Renamed {
            names: &r.names,
            rows: r.rows,
            binary: false,
        };
        self.run_on(
            &route,
            Request::Command(&payload),
            answer,
            ResponseKind::Query,
            Some(c),
            seq,
        )
        .await
    }

    /// Relays the response on `conn` with physical names renamed: column definitions and
    /// error messages always, rows (text or binary) when `rows` is set. `None` when the
    /// backend failed (already reported to the client).
    pub(super) async fn relay_renamed(
        &mut self,
        conn: &mut PooledConn,
        names: &NameMap,
        rows: bool,
        binary: bool,
        seq: u8,
    ) -> Result<Option<Relayed>, Closed> {
        // Users who may not see every database get only rows about their schemas.
        let filter = if rows { self.schema_filter() } else { None };
        let filter = filter.as_ref();
        // Per column of the current result set: whether it holds schema names, and its type.
        let mut columns: Vec<(bool, u8)> = Vec::new();
        let mut edit = |class: Class, p: &[u8]| -> Edit {
            match class {
                Class::ColumnCount => {
                    columns.clear();
                    Edit::Keep
                }
                Class::ColumnDef => {
                    let (edit, schema) = rename_column_def(p, names);
                    columns.push((schema, column_type(p)));
                    edit
                }
                Class::Row if rows && binary => rename_binary_row(p, names, &columns, filter),
                Class::Row if rows => rename_row(p, names, &columns, filter),
                Class::Err => rename_err(p, names),
                _ => Edit::Keep,
            }
        };
        self.relay_edited(conn, ResponseKind::Query, seq, &mut edit)
            .await
    }

    /// Relays the response on `conn` through `edit`. `None` when the backend failed (the
    /// error is reported to the client).
    pub(super) async fn relay_edited(
        &mut self,
        conn: &mut PooledConn,
        kind: ResponseKind,
        seq: u8,
        edit: &mut (dyn FnMut(Class, &[u8]) -> Edit + Send),
    ) -> Result<Option<Relayed>, Closed> {
        let kills = self.kills_started();
        self.set_running(Some(conn));
        let relayed = relay_rewritten(conn, kind, &mut self.stream, seq, edit).await;
        self.set_running(None);
        self.settle_kills_on(kills, conn).await;
        self.relay_outcome(conn, relayed).await
    }
}

/// The type of a column definition (from its fixed-length tail, which follows MariaDB's
/// extended metadata when there is some).
fn column_type(def: &[u8]) -> u8 {
    def.len()
        .checked_sub(6)
        .and_then(|i| def.get(i))
        .copied()
        .unwrap_or(0xFD)
}

/// Whether values of a column type travel as length-encoded strings in binary rows.
fn is_lenenc_type(t: u8) -> bool {
    !matches!(
        t,
        0x01..=0x05 | 0x06 | 0x07 | 0x08 | 0x09 | 0x0a | 0x0b | 0x0c | 0x0d | 0x0e | 0x11..=0x13
    )
}

/// A COM_STMT_EXECUTE payload (statement id 0, patched by the caller) with parameter types
/// always sent, and `replace`d parameters bound as strings.
fn execute_payload(
    req: &ExecuteRequest<'_>,
    types: &[u8],
    n: usize,
    long_data: &[(u16, Vec<u8>)],
    replace: &[(usize, String)],
) -> Option<Vec<u8>> {
    if replace.is_empty() {
        return rebuild_execute(req, 0, types, n, long_data);
    }
    let find = |i: usize| long_data.iter().find(|(k, _)| usize::from(*k) == i);
    let values = split_values(req, types, n, |i| find(i).is_some())?;
    let replaced = |i: usize| replace.iter().find(|(j, _)| *j == i).map(|(_, v)| v);
    let mut p = Vec::with_capacity(16 + types.len() + req.values.len());
    p.push(0x17);
    p.extend_from_slice(&0u32.to_le_bytes());
    p.push(0);
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(req.null_bitmap);
    p.push(1);
    for i in 0..n {
        match replaced(i) {
            Some(_) => p.extend_from_slice(&[0xFD, 0x00]),
            None => p.extend_from_slice(types.get(i * 2..i * 2 + 2)?),
        }
    }
    for (i, v) in values.into_iter().enumerate() {
        match (replaced(i), v, find(i)) {
            (Some(db), _, _) => put_lenenc_str(&mut p, db.as_bytes()),
            (None, Some(v), _) => p.extend_from_slice(v),
            (None, None, Some((_, data))) => put_lenenc_str(&mut p, data),
            (None, None, None) => {}
        }
    }
    Some(p)
}

/// A column definition with physical names renamed, and whether the column holds schema
/// names (an information_schema column such as `TABLE_SCHEMA`).
pub(super) fn rename_column_def(p: &[u8], names: &NameMap) -> (Edit, bool) {
    let Some(def) = ColumnDef::parse(p) else {
        return (Edit::Keep, false);
    };
    let schema_column = !def.strings[field::ORG_TABLE].is_empty()
        && std::str::from_utf8(def.strings[field::ORG_NAME]).is_ok_and(is_schema_column);
    let mut replace: Vec<(usize, &[u8])> = Vec::new();
    if let ValueRename::Logical(l) = names.value(def.strings[field::SCHEMA]) {
        replace.push((field::SCHEMA, l.as_bytes()));
    }
    let name = names.column_name(def.strings[field::NAME]);
    if let Some(n) = &name {
        replace.push((field::NAME, n));
    }
    let org_name = names.column_name(def.strings[field::ORG_NAME]);
    if let Some(n) = &org_name {
        replace.push((field::ORG_NAME, n));
    }
    if replace.is_empty() {
        return (Edit::Keep, schema_column);
    }
    (Edit::Replace(def.encode(&replace)), schema_column)
}

/// A text row with physical database names shown as logical ones; rows about another
/// shard's database, or (with a `filter`) a schema the user may not see, in a schema
/// column are left out.
fn rename_row(
    p: &[u8],
    names: &NameMap,
    columns: &[(bool, u8)],
    filter: Option<&SchemaFilter>,
) -> Edit {
    let Some(mut values) = text_row_values(p) else {
        return Edit::Keep;
    };
    let mut changed = false;
    for (i, v) in values.iter_mut().enumerate() {
        let Some(bytes) = v else { continue };
        let schema = columns.get(i).is_some_and(|c| c.0);
        let shown = match names.value(bytes) {
            ValueRename::Keep => *bytes,
            ValueRename::Logical(l) => {
                *v = Some(l.as_bytes());
                changed = true;
                l.as_bytes()
            }
            ValueRename::Hidden if schema => return Edit::Drop,
            ValueRename::Hidden => continue,
        };
        if schema && filter.is_some_and(|f| !f.allows(shown)) {
            return Edit::Drop;
        }
    }
    if changed {
        Edit::Replace(text_row(&values))
    } else {
        Edit::Keep
    }
}

/// A binary-protocol row with physical database names shown as logical ones; rows about
/// another shard's database, or (with a `filter`) a schema the user may not see, in a
/// schema column are left out.
/// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_binary_resultset.html>
fn rename_binary_row(
    p: &[u8],
    names: &NameMap,
    columns: &[(bool, u8)],
    filter: Option<&SchemaFilter>,
) -> Edit {
    let bitmap_len = (columns.len() + 7 + 2) / 8;
    if p.first() != Some(&0x00) || p.len() < 1 + bitmap_len {
        return Edit::Keep;
    }
    let bitmap = &p[1..1 + bitmap_len];
    let mut pos = 1 + bitmap_len;
    // (value range, new value) for renamed values.
    let mut renamed: Vec<(std::ops::Range<usize>, &str)> = Vec::new();
    for (i, &(schema, t)) in columns.iter().enumerate() {
        let bit = i + 2;
        if bitmap[bit / 8] & (1 << (bit % 8)) != 0 {
            continue;
        }
        let Some(len) = p.get(pos..).and_then(|rest| value_len(t, rest)) else {
            return Edit::Keep;
        };
        let range = pos..pos + len;
        pos += len;
        if !is_lenenc_type(t) {
            continue;
        }
        let Some(value) = Reader::new(&p[range.clone()]).lenenc_str() else {
            return Edit::Keep;
        };
        let shown = match names.value(value) {
            ValueRename::Keep => value,
            ValueRename::Logical(l) => {
                renamed.push((range, l));
                l.as_bytes()
            }
            ValueRename::Hidden if schema => return Edit::Drop,
            ValueRename::Hidden => continue,
        };
        if schema && filter.is_some_and(|f| !f.allows(shown)) {
            return Edit::Drop;
        }
    }
    if renamed.is_empty() {
        return Edit::Keep;
    }
    let mut out = Vec::with_capacity(p.len());
    let mut at = 0;
    for (range, l) in renamed {
        out.extend_from_slice(&p[at..range.start]);
        put_lenenc_str(&mut out, l.as_bytes());
        at = range.end;
    }
    out.extend_from_slice(&p[at..]);
    Edit::Replace(out)
}

/// An ERR packet whose message names a physical database, renamed.
pub(super) fn rename_err(p: &[u8], names: &NameMap) -> Edit {
    let Some(e) = packet::parse_err(p) else {
        return Edit::Keep;
    };
    match names.message(&e.message) {
        std::borrow::Cow::Borrowed(_) => Edit::Keep,
        std::borrow::Cow::Owned(m) => {
            Edit::Replace(packet::err_payload(&SqlError { message: m, ..e }))
        }
    }
}

/// The collation id and the maximum bytes per character of the character set result
/// metadata is reported in (`character_set_results`), from the session's tracked `SET
/// NAMES` / `SET CHARACTER SET` / `SET character_set_results` state. Without conversion
/// (`NULL`), MariaDB reports the system character set (utf8mb3).
pub(super) fn results_charset(vars: &SessionVars) -> (u16, u32) {
    let mut results: Option<(u16, u32)> = Some(MARIADB_DEFAULT);
    for (key, sql) in &vars.items {
        let words: Vec<&str> = sql.split_whitespace().collect();
        match key.as_str() {
            "names" => {
                let cs = words.get(1).copied().unwrap_or("default");
                let collation = match (words.get(2), words.get(3)) {
                    (Some(w), Some(c)) if w.eq_ignore_ascii_case("COLLATE") => Some(*c),
                    _ => None,
                };
                results = Some(
                    collation
                        .and_then(by_collation)
                        .or_else(|| by_charset(cs))
                        .unwrap_or(MARIADB_DEFAULT),
                );
            }
            "character set" => {
                let cs = words.last().copied().unwrap_or("default");
                results = Some(by_charset(cs).unwrap_or(MARIADB_DEFAULT));
            }
            "character_set_results" => {
                let value = sql.split_once('=').map_or("", |(_, v)| v.trim());
                let v = unquote(value);
                results = if v.eq_ignore_ascii_case("null") {
                    None
                } else {
                    Some(by_charset(value).unwrap_or(MARIADB_DEFAULT))
                };
            }
            _ => {}
        }
    }
    results.unwrap_or(SYSTEM_COLLATION)
}

/// utf8mb4_general_ci: MariaDB's default for utf8mb4 and the proxy's connection default.
const MARIADB_DEFAULT: (u16, u32) = (45, 4);

fn unquote(s: &str) -> &str {
    s.trim_matches(|c| c == '\'' || c == '"' || c == '`')
}

/// The MariaDB name for MySQL's `utf8` alias.
fn canonical(name: &str) -> String {
    let n = unquote(name).to_ascii_lowercase();
    match n.strip_prefix("utf8") {
        Some("") => "utf8mb3".into(),
        Some(rest) if rest.starts_with('_') => format!("utf8mb3{rest}"),
        _ => n,
    }
}

fn by_collation(name: &str) -> Option<(u16, u32)> {
    let id = CollationId::from(canonical(name).as_str());
    if id == CollationId::UNKNOWN_COLLATION_ID {
        return None;
    }
    let c = Collation::resolve(id);
    Some((id as u16, u32::from(c.max_len())))
}

/// The default collation MariaDB gives character set `name`.
fn by_charset(name: &str) -> Option<(u16, u32)> {
    let cs = canonical(name);
    match cs.as_str() {
        "default" => return Some(MARIADB_DEFAULT),
        // MySQL 8 (whose table mysql_common carries) defaults utf8mb4 to a 0900 collation
        // MariaDB does not have.
        "utf8mb4" => return Some(MARIADB_DEFAULT),
        _ => {}
    }
    (1u16..255).find_map(|id| {
        let c = Collation::resolve(CollationId::from(id));
        (c.charset() == cs && c.is_default()).then_some((id, u32::from(c.max_len())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(items: &[(&str, &str)]) -> SessionVars {
        let mut v = SessionVars::new(None, crate::backend::conn::CONNECT_NAMES.into(), false);
        for (k, s) in items {
            v.items.push((k.to_string(), s.to_string()));
        }
        v
    }

    #[test]
    fn results_charsets() {
        // Values MariaDB 10.11 reports for `SELECT DATABASE()` after each SET.
        assert_eq!(results_charset(&vars(&[])), (45, 4));
        type Items<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Items<'_>, (u16, u32))] = &[
            (
                &[("names", "NAMES utf8mb4 COLLATE utf8mb4_unicode_ci")],
                (224, 4),
            ),
            (&[("names", "NAMES utf8")], (33, 3)),
            (&[("names", "NAMES 'latin1'")], (8, 1)),
            (&[("names", "NAMES binary")], (63, 1)),
            (&[("names", "NAMES big5")], (1, 2)),
            (&[("character set", "CHARACTER SET latin1")], (8, 1)),
            (
                &[("character_set_results", "character_set_results = NULL")],
                (33, 3),
            ),
            (
                &[
                    ("names", "NAMES latin1"),
                    ("character_set_results", "character_set_results = utf16"),
                ],
                (54, 4),
            ),
            (
                &[("character_set_results", "character_set_results = 'utf8mb4'")],
                (45, 4),
            ),
        ];
        for (items, want) in cases {
            assert_eq!(results_charset(&vars(items)), *want, "{items:?}");
        }
    }

    #[test]
    fn renames_rows_and_definitions() {
        let names = NameMap::single("shop_0000", "shop");
        let def = b"\x03def\x12information_schema\x06TABLES\x06TABLES\x0cTABLE_SCHEMA\x0cTABLE_SCHEMA\x0c\x2d\x00\x00\x01\x00\x00\xfd\x01\x10\x00\x00\x00";
        let (e, schema) = rename_column_def(def, &names);
        assert_eq!(e, Edit::Keep);
        assert!(schema);
        let show = b"\x03def\x12information_schema\x0bTABLE_NAMES\x0bTABLE_NAMES\x13Tables_in_shop_0000\x0aTABLE_NAME\x0c\x2d\x00\x24\x01\x00\x00\xfd\x01\x10\x00\x00\x00";
        let (e, schema) = rename_column_def(show, &names);
        assert!(!schema);
        let Edit::Replace(p) = e else {
            panic!("renamed")
        };
        assert_eq!(
            ColumnDef::parse(&p).expect("def").strings[field::NAME],
            b"Tables_in_shop"
        );
        let cols = [(true, 0xFD), (false, 0xFD)];
        assert_eq!(
            rename_row(b"\x09shop_0000\x01t", &names, &cols, None),
            Edit::Replace(b"\x04shop\x01t".to_vec())
        );
        assert_eq!(rename_row(b"\x01x\xfb", &names, &cols, None), Edit::Keep);
        let all = NameMap::for_topology(&myshard_config::Topology::new(
            &myshard_config::parse(
                "listen: 127.0.0.1:1
users: []
groups: [{name: g, user: u, write_hosts: ['127.0.0.1:2']}]
schemas: [{name: shop, shards: 2, placement: [{group: g, shards: '0-1'}]}]
",
                "t",
            )
            .expect("config"),
        ));
        assert_eq!(
            rename_row(b"\x09shop_0001\x01t", &all, &cols, None),
            Edit::Drop
        );
        assert_eq!(
            rename_row(b"\x01t\x09shop_0001", &all, &cols, None),
            Edit::Keep,
            "only schema columns hide rows"
        );
    }

    #[test]
    fn renames_binary_rows() {
        let names = NameMap::single("shop_0000", "shop");
        // (LONGLONG, VAR_STRING, VAR_STRING) = (7, 'shop_0000', NULL)
        let cols = [(false, 0x08), (true, 0xFD), (false, 0xFD)];
        let mut row = vec![0x00, 0b0001_0000];
        row.extend_from_slice(&7u64.to_le_bytes());
        row.extend_from_slice(b"\x09shop_0000");
        let mut want = vec![0x00, 0b0001_0000];
        want.extend_from_slice(&7u64.to_le_bytes());
        want.extend_from_slice(b"\x04shop");
        assert_eq!(
            rename_binary_row(&row, &names, &cols, None),
            Edit::Replace(want)
        );
        assert_eq!(
            rename_binary_row(&row[..5], &names, &cols, None),
            Edit::Keep
        );
    }

    #[test]
    fn execute_payloads_bind_physical_names() {
        // `… WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?` with ('shop', 'orders').
        let body: &[u8] =
            b"\x01\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\xfe\x00\xfe\x00\x04shop\x06orders";
        let req = crate::params::parse_execute(body, 2).expect("parse");
        let types = req.types.expect("types").to_vec();
        let p = execute_payload(&req, &types, 2, &[], &[(0, "shop_0000".into())]).expect("payload");
        let want: &[u8] = b"\x17\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\xfd\x00\xfe\x00\x09shop_0000\x06orders";
        assert_eq!(p, want);
    }
}
