//! Binary prepared statements (COM_STMT_*). PREPARE is answered from the proxy-wide
//! cache after the first time; EXECUTE prepares lazily on whichever backend connection
//! serves it, rewrites the statement id and always sends parameter types (libmariadb sends
//! them only on a statement's first execute, which may have gone to another connection).

use super::{Closed, Session};
use crate::backend::conn::{BackendStmt, MAX_STMTS_PER_CONN};
use crate::backend::relay::read_internal;
use crate::backend::{PooledConn, ResponseKind};
use crate::error::SqlError;
use crate::packet;
use crate::params::{parse_execute, rebuild_execute, stmt_id};
use crate::stmt_cache::StmtMeta;
use std::sync::Arc;

/// A statement prepared by this client.
#[derive(Debug)]
pub(super) struct ClientStmt {
    meta: Arc<StmtMeta>,
    /// Parameter types from the last execute that sent them.
    types: Option<Vec<u8>>,
    /// COM_STMT_SEND_LONG_DATA chunks by parameter.
    long_data: Vec<(u16, Vec<u8>)>,
    long_data_too_large: bool,
}

impl Session {
    pub(super) async fn com_stmt_prepare(
        &mut self,
        payload: Vec<u8>,
        seq: u8,
    ) -> Result<(), Closed> {
        let sql = &payload[1..];
        let route = match self.shared.route(self.schema.as_deref(), self.flags) {
            Ok(r) => r,
            Err(e) => return self.send_err(&e, seq).await,
        };
        let meta = match self
            .shared
            .stmt_cache
            .get(&route.pool, &self.vars.database, sql)
        {
            Some(m) => m,
            None => match self.prepare_on_backend(sql).await {
                Ok(m) => {
                    self.shared.stmt_cache.insert(
                        &route.pool,
                        self.vars.database.clone(),
                        m.clone(),
                    );
                    m
                }
                Err(e) => return self.send_err(&e, seq).await,
            },
        };
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
                meta,
                types: None,
                long_data: Vec::new(),
                long_data_too_large: false,
            },
        );
        self.write_out().await
    }

    /// Prepares `sql` on a backend to learn its metadata; the connection keeps the
    /// statement for later executes.
    async fn prepare_on_backend(&mut self, sql: &[u8]) -> Result<Arc<StmtMeta>, SqlError> {
        let mut conn = self.acquire().await?;
        let global_id = self.shared.stmt_cache.next_id();
        let (packets, backend_id, columns, params) = prepare(&mut conn, sql).await?;
        remember(&mut conn, global_id, backend_id).await;
        let params_usize = usize::from(params);
        let param_defs = packets
            .get(1..1 + params_usize)
            .map(<[Vec<u8>]>::to_vec)
            .unwrap_or_default();
        let col_start = 1 + params_usize + usize::from(params > 0);
        let column_defs = packets
            .get(col_start..col_start + usize::from(columns))
            .map(<[Vec<u8>]>::to_vec)
            .unwrap_or_default();
        self.finish(conn);
        Ok(Arc::new(StmtMeta {
            global_id,
            sql: sql.to_vec(),
            columns,
            params,
            param_defs,
            column_defs,
        }))
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
        if let Some(t) = req.types {
            stmt.types = Some(t.to_vec());
        }
        if stmt.long_data_too_large {
            stmt.long_data.clear();
            stmt.long_data_too_large = false;
            return self.send_err(&SqlError::packet_too_large(), seq).await;
        }
        let types = match (&stmt.types, n) {
            (_, 0) => Vec::new(),
            (Some(t), _) => t.clone(),
            (None, _) => {
                return self
                    .send_err(&SqlError::wrong_arguments("mysqld_stmt_execute"), seq)
                    .await;
            }
        };
        let long_data = std::mem::take(&mut stmt.long_data);
        let meta = stmt.meta.clone();
        let Some(backend_payload_tail) = rebuild_execute(&req, 0, &types, n, &long_data) else {
            return self
                .send_err(
                    &SqlError::malformed_packet("COM_STMT_EXECUTE parameters"),
                    seq,
                )
                .await;
        };
        let mut conn = match self.acquire().await {
            Ok(c) => c,
            Err(e) => return self.send_err(&e, seq).await,
        };
        let backend_id = match ensure_prepared(&mut conn, &meta).await {
            Ok(b) => b,
            Err(e) => {
                self.finish(conn);
                return self.send_err(&e, seq).await;
            }
        };
        let mut payload = backend_payload_tail;
        payload[1..5].copy_from_slice(&backend_id.to_le_bytes());
        if let Err(e) = conn.send(&payload).await {
            return self.send_err(&e, seq).await;
        }
        drop(payload);
        let Some(relayed) = self.relay_from(&mut conn, ResponseKind::Query, seq).await? else {
            return Ok(());
        };
        self.after_response(&mut conn, &relayed, None).await;
        self.finish(conn);
        Ok(())
    }

    pub(super) fn com_stmt_send_long_data(&mut self, body: &[u8]) {
        let max = self.shared.config.max_allowed_packet;
        let (Some(id), Some(param)) = (stmt_id(body), body.get(4..6)) else {
            return;
        };
        let param = u16::from_le_bytes([param[0], param[1]]);
        let Some(stmt) = self.stmts.get_mut(&id) else {
            return;
        };
        let data = &body[6..];
        match stmt.long_data.iter_mut().find(|(p, _)| *p == param) {
            Some((_, buf)) if buf.len() + data.len() > max => stmt.long_data_too_large = true,
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
                s.long_data.clear();
                s.long_data_too_large = false;
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

/// The backend id of `meta` on `conn`, preparing it there first if needed.
async fn ensure_prepared(conn: &mut PooledConn, meta: &StmtMeta) -> Result<u32, SqlError> {
    conn.stmt_clock += 1;
    let now = conn.stmt_clock;
    if let Some(s) = conn.stmts.get_mut(&meta.global_id) {
        s.used = now;
        return Ok(s.id);
    }
    let (_, id, _, _) = prepare(conn, &meta.sql).await?;
    remember(conn, meta.global_id, id).await;
    Ok(id)
}

/// Records a backend statement, closing the least recently used one beyond the cap.
async fn remember(conn: &mut PooledConn, global_id: u32, backend_id: u32) {
    if conn.stmts.len() >= MAX_STMTS_PER_CONN {
        let oldest = conn
            .stmts
            .iter()
            .min_by_key(|(_, s)| s.used)
            .map(|(k, s)| (*k, s.id));
        if let Some((k, id)) = oldest {
            conn.stmts.remove(&k);
            let mut p = vec![0x19];
            p.extend_from_slice(&id.to_le_bytes());
            // COM_STMT_CLOSE has no response.
            let _ = conn.send(&p).await;
        }
    }
    let used = conn.stmt_clock;
    conn.stmts.insert(
        global_id,
        BackendStmt {
            id: backend_id,
            used,
        },
    );
}
