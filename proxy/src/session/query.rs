//! COM_QUERY and the path every forwarded command shares: take a backend connection
//! (pinned or from the pool), bring its session state in line, send, relay the response,
//! then keep the connection pinned or give it back.

use super::{Closed, Session};
use crate::backend::{PooledConn, RelayFailure, Relayed, ResponseKind, relay};
use crate::error::SqlError;
use crate::packet;
use myshard_router::{Classified, Kind, SetItem, classify};

impl Session {
    pub(super) async fn com_query(&mut self, payload: Vec<u8>, seq: u8) -> Result<(), Closed> {
        let text = String::from_utf8_lossy(&payload[1..]);
        let c = classify(&text);
        drop(text);
        match &c.kind {
            Kind::Use(db) => {
                let db = db.clone();
                return self.use_schema(&db, seq).await;
            }
            Kind::Kill { query, id } => return self.kill(*id, *query, seq).await,
            _ => {}
        }
        self.forward(payload, seq, ResponseKind::Query, Some(c))
            .await
    }

    /// Switches the session's logical schema (COM_INIT_DB and `USE`).
    pub(super) async fn use_schema(&mut self, db: &str, seq: u8) -> Result<(), Closed> {
        if let Err(e) = super::login::check_schema(&self.shared, &self.user, &self.peer_host, db) {
            return self.send_err(&e, seq).await;
        }
        let physical = self
            .shared
            .config
            .schema(db)
            .map(|s| s.physical_database().to_string());
        self.schema = Some(db.to_string());
        self.vars.database = physical;
        self.send_ok(seq).await
    }

    /// A backend connection in line with this session's state.
    pub(super) async fn acquire(&mut self) -> Result<PooledConn, SqlError> {
        let route = self.shared.route(self.schema.as_deref(), self.flags)?;
        let mut conn = match self.pinned.take() {
            Some(c) if std::sync::Arc::ptr_eq(c.pool(), &route.pool) => c,
            Some(c) => {
                self.pinned = Some(c);
                return Err(SqlError::not_supported(format!(
                    "switching to schema on group '{}' while the session is bound to one backend connection ({})",
                    route.group,
                    self.pin_reason.unwrap_or("open transaction")
                )));
            }
            None => route.pool.checkout(self.id, &self.vars).await?,
        };
        if let Err(e) = conn.sync(&self.vars).await {
            if self.pin_reason.is_some() || self.in_transaction {
                // The pinned state is lost with the connection.
                self.pinned = None;
                self.pin_reason = None;
                self.in_transaction = false;
            }
            return Err(e);
        }
        conn.last_client = self.id;
        Ok(conn)
    }

    /// Keeps the connection for this session, or returns it to the pool.
    pub(super) fn finish(&mut self, conn: PooledConn) {
        if self.in_transaction || self.pin_reason.is_some() {
            self.pinned = Some(conn);
        }
    }

    /// Sends `payload` to a backend and relays the response.
    pub(super) async fn forward(
        &mut self,
        payload: Vec<u8>,
        seq: u8,
        kind: ResponseKind,
        classified: Option<Classified>,
    ) -> Result<(), Closed> {
        let mut conn = match self.acquire().await {
            Ok(c) => c,
            Err(e) => return self.send_err(&e, seq).await,
        };
        if classified.as_ref().is_some_and(|c| c.reads_last_insert_id)
            && let Err(e) = conn.sync_last_insert_id(self.last_insert_id).await
        {
            return self.send_err(&e, seq).await;
        }
        let mut framed = std::mem::take(&mut self.out);
        framed.clear();
        packet::frame(&mut framed, 0, &payload);
        drop(payload);
        let sent = conn.send_framed(&framed).await;
        framed.clear();
        self.out = framed;
        if let Err(e) = sent {
            self.lose_pin();
            return self.send_err(&e, seq).await;
        }
        let relayed = self.relay_from(&mut conn, kind, seq).await?;
        let Some(relayed) = relayed else {
            return Ok(());
        };
        self.after_response(&mut conn, &relayed, classified).await;
        self.finish(conn);
        Ok(())
    }

    /// Relays a response; on a backend failure reports it to the client and returns
    /// `None` (the connection keeps serving); a client failure closes the session.
    pub(super) async fn relay_from(
        &mut self,
        conn: &mut PooledConn,
        kind: ResponseKind,
        seq: u8,
    ) -> Result<Option<Relayed>, Closed> {
        self.set_running(Some(conn));
        let r = relay(conn, kind, &mut self.stream, seq).await;
        self.set_running(None);
        match r {
            Ok(relayed) => Ok(Some(relayed)),
            Err(RelayFailure::Backend { error, next_seq }) => {
                tracing::warn!(host = %conn.host, error = %error, "backend failed during a statement");
                self.lose_pin();
                self.send_err(&error, next_seq).await?;
                Ok(None)
            }
            Err(RelayFailure::Client(_)) => {
                conn.broken = true;
                Err(Closed)
            }
        }
    }

    /// The pinned connection broke: its transaction and pinned state are gone.
    fn lose_pin(&mut self) {
        self.pinned = None;
        self.pin_reason = None;
        self.in_transaction = false;
    }

    fn set_running(&self, conn: Option<&PooledConn>) {
        if let Ok(mut r) = self.control.running.lock() {
            *r = conn.map(|c| (c.pool().target().clone(), c.thread_id));
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
        self.in_transaction = t.status & crate::packet::status::IN_TRANS != 0;
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
