//! Connection-level commands: COM_INIT_DB, KILL, COM_CHANGE_USER, COM_RESET_CONNECTION,
//! COM_SET_OPTION.

use super::{Closed, Session};
use crate::auth::{self, Plugin};
use crate::backend::interrupt::Why;
use crate::caps;
use crate::error::SqlError;
use crate::packet;
use crate::state::SessionVars;
use crate::wire::Reader;
use std::sync::Arc;
use std::sync::atomic::Ordering;

impl Session {
    pub(super) async fn com_init_db(&mut self, body: &[u8], seq: u8) -> Result<(), Closed> {
        let db = String::from_utf8_lossy(body).into_owned();
        self.use_schema(&db, seq).await
    }

    pub(super) async fn com_process_kill(&mut self, body: &[u8], seq: u8) -> Result<(), Closed> {
        match Reader::new(body).u32() {
            Some(id) => self.kill(u64::from(id), false, seq).await,
            None => {
                self.send_err(&SqlError::malformed_packet("COM_PROCESS_KILL"), seq)
                    .await
            }
        }
    }

    /// `KILL [QUERY] id` on proxy connection ids.
    pub(super) async fn kill(&mut self, id: u64, query_only: bool, seq: u8) -> Result<(), Closed> {
        let target = self
            .shared
            .registry
            .lock()
            .ok()
            .and_then(|r| r.get(&id).cloned());
        let Some(target) = target else {
            return self.send_err(&SqlError::no_such_thread(id), seq).await;
        };
        let owner = target.user.lock().map(|u| u.clone()).unwrap_or_default();
        if owner != self.user {
            return self.send_err(&SqlError::kill_denied(id), seq).await;
        }
        // Interrupt the backend statements through separate connections.
        super::statement_timeout::kill_backend_queries(&target);
        // Waits on a backend that does not answer (even to the KILL QUERY above) are cut
        // short by the session itself.
        if query_only {
            target.interrupt.send_replace(Some(Why::KillQuery));
            return self.send_ok(seq).await;
        }
        target.killed.store(true, Ordering::Release);
        target.interrupt.send_replace(Some(Why::Killed));
        target.wake.notify_one();
        if id == self.id {
            let e = SqlError::new(1927, b"70100", "Connection was killed");
            let _ = self.send_err(&e, seq).await;
            return Err(Closed);
        }
        self.send_ok(seq).await
    }

    pub(super) async fn com_set_option(&mut self, body: &[u8], seq: u8) -> Result<(), Closed> {
        match Reader::new(body).u16() {
            Some(0) => self.vars.multi_statements = true,
            Some(1) => self.vars.multi_statements = false,
            _ => return self.send_err(&SqlError::unknown_command(0x1B), seq).await,
        }
        let eof = packet::eof_payload(self.status(), 0);
        packet::frame(&mut self.out, seq, &eof);
        self.write_out().await
    }

    pub(super) async fn com_reset_connection(&mut self, seq: u8) -> Result<(), Closed> {
        self.reset_session();
        self.send_ok(seq).await
    }

    /// Back to a freshly logged-in state (schema kept); backend state held for this
    /// client is dropped with its connection.
    fn reset_session(&mut self) {
        self.unpin();
        self.stmts.clear();
        self.sql_prepared.clear();
        self.last_insert_id = 0;
        self.consistency.mode = self.account.consistency;
        self.tx.mode = self.table.config.transaction_mode_of(&self.account);
        let multi = self.vars.multi_statements;
        self.vars = SessionVars::new(
            self.vars.database.clone(),
            self.initial_names.clone(),
            multi,
        );
    }

    /// COM_CHANGE_USER: re-authenticate (always via an AuthSwitchRequest with a fresh
    /// nonce), then reset the session.
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_change_user.html>
    pub(super) async fn com_change_user(&mut self, body: &[u8], seq: u8) -> Result<(), Closed> {
        let mut r = Reader::new(body);
        let parsed = (|| {
            let user = String::from_utf8_lossy(r.nul_str()?).into_owned();
            let auth_len = usize::from(r.u8()?);
            r.bytes(auth_len)?;
            let db = r
                .nul_str()
                .map(|d| String::from_utf8_lossy(d).into_owned())
                .unwrap_or_default();
            let collation = r.u16().map(|c| c as u8);
            let plugin = if self.capabilities & caps::PLUGIN_AUTH != 0 {
                r.nul_str().and_then(Plugin::from_name)
            } else {
                None
            };
            Some((user, db, collation, plugin))
        })();
        let Some((user, db, collation, plugin)) = parsed else {
            let _ = self
                .send_err(&SqlError::malformed_packet("COM_CHANGE_USER"), seq)
                .await;
            return Err(Closed);
        };
        let plugin = plugin.unwrap_or(Plugin::Native);
        // The login brake covers re-authentication too: a blocked address may not try,
        // a wrong password counts, a good one resets the count.
        let ip = self.peer_host.parse::<std::net::IpAddr>().ok();
        if let Some(ip) = ip
            && let Err(e) = self.shared.login_brake.check(ip, std::time::Instant::now())
        {
            let _ = self.send_err(&e, seq).await;
            return Err(Closed);
        }
        let nonce = auth::nonce();
        packet::frame(
            &mut self.out,
            seq,
            &super::handshake::auth_switch(plugin, &nonce),
        );
        self.write_out().await?;
        let (s, response) = self
            .reader
            .read(&mut self.stream, 1 << 16)
            .await
            .map_err(|_| Closed)?;
        let mut seq = s.wrapping_add(1);
        // The new user is looked up in the configuration in force now.
        self.table = self.shared.table();
        let account = self
            .table
            .config
            .user(&user)
            .filter(|u| auth::verify(plugin, &nonce, &u.password, &response))
            .cloned();
        let Some(account) = account else {
            // The client's port is not kept after login: 0 in the log line.
            let peer = ip.map(|ip| std::net::SocketAddr::new(ip, 0));
            super::login::failed_login(&self.shared, ip, Some((&user, peer)));
            let e = SqlError::access_denied(&user, &self.peer_host, !response.is_empty());
            let _ = self.send_err(&e, seq).await;
            return Err(Closed);
        };
        if !db.is_empty()
            && let Err(e) =
                super::login::check_schema(&self.table.config, &account, &self.peer_host, &db)
        {
            let _ = self.send_err(&e, seq).await;
            return Err(Closed);
        }
        if let Some(ip) = ip {
            self.shared.login_brake.succeeded(ip);
        }
        if plugin == Plugin::CachingSha2 {
            seq = packet::frame(&mut self.out, seq, super::handshake::FAST_AUTH_OK);
        }
        self.user = user.clone();
        self.account = Arc::new(account);
        if let Ok(mut u) = self.control.user.lock() {
            *u = user;
        }
        if let Some(c) = collation {
            self.initial_names = super::login::names_for_collation(c);
        }
        self.schema = (!db.is_empty()).then_some(db.clone());
        self.vars.database = self
            .schema
            .as_deref()
            .and_then(|d| self.table.config.schema(d))
            .map(|s| s.physical_database().to_string());
        self.reset_session();
        self.send_ok(seq).await
    }
}
