//! One client connection: the connection phase, then a loop reading commands and
//! dispatching each to its handler. Handlers live in sibling modules by command family.

mod admin;
mod client_socket;
mod compat;
mod consistency;
mod explain;
mod faults;
mod gates;
pub mod handshake;
mod insert_columns;
mod key_move;
mod key_move_groups;
mod kill_settle;
mod login;
mod merge;
mod merge_buffer;
mod names;
mod paging;
mod participants;
mod planner;
pub mod point_execute;
pub mod point_read;
mod point_routes;
mod prepared_key_move;
mod prepared_prefetch;
mod privilege;
mod processlist;
mod query;
mod read_intent;
mod savepoints;
mod scatter;
mod scatter_retry;
mod schema_filter;
mod select_limit;
mod sequence_fill;
mod shard;
mod shard_path;
mod sql_prepare;
mod statement_timeout;
mod stmt;
mod subquery_values;
mod switch_wait;
mod tx;
mod tx_shards;
mod union_columns;
mod xa;

use crate::backend::PooledConn;
use crate::error::SqlError;
use crate::net::Stream;
use crate::packet::{self, PacketReader, ReadError, status};
use crate::server::{ConnControl, Shared};
use crate::state::SessionVars;
use hashbrown::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use stmt::ClientStmt;
use tokio::io::AsyncWriteExt;

/// Buffers above this size are released after the command that needed them.
const KEEP_BUFFER: usize = 64 * 1024;

/// A client connection after login.
pub struct Session {
    shared: Arc<Shared>,
    /// The client's connection; writes to it give up when the statement is interrupted.
    stream: client_socket::ClientSocket,
    reader: PacketReader,
    out: Vec<u8>,
    /// The buffer commands are read into.
    command: Vec<u8>,
    /// The default route of the last statement, reused while still valid.
    route_cache: Option<query::CachedRoute>,
    /// The routes of point statements by shard, reused while still valid.
    point_routes: point_routes::PointRoutes,
    /// The routing table of the running statement (loaded once per command).
    table: Arc<crate::routing::RoutingTable>,
    /// The user's account as configured when the client logged in (a reload changes
    /// accounts for new logins only).
    account: Arc<myshard_config::User>,
    id: u64,
    control: Arc<ConnControl>,
    peer_host: String,
    user: String,
    capabilities: u32,
    /// Backend connection options this client's responses need.
    flags: crate::backend::conn::ConnFlags,
    /// Logical schema in use.
    schema: Option<String>,
    /// Backend session state wanted for this client.
    vars: SessionVars,
    /// Character set state from the handshake (what COM_RESET_CONNECTION returns to).
    initial_names: String,
    /// Connections this session is tied to, at most one per host pool (open transaction
    /// or state that cannot be replayed).
    pinned: Vec<PooledConn>,
    pin_reason: Option<&'static str>,
    /// `BEGIN` / `START TRANSACTION` the client issued: answered by the proxy and sent to
    /// each backend connection the transaction then touches, before its first statement.
    tx_begin: Option<String>,
    /// The groups the open transaction has run on, with their hosts.
    participants: Vec<participants::Participant>,
    /// The shards the open transaction ran on, with their group then (tx_shards.rs).
    tx_shards: Vec<(String, std::sync::Arc<str>)>,
    last_insert_id: u64,
    /// For the response being relayed: the physical database to show as the logical
    /// schema in its error and column definitions (a single shard's answer).
    rename_schema: names::Rename,
    stmts: HashMap<u32, ClientStmt>,
    /// SQL `PREPARE`d statements the proxy plans at each `EXECUTE`, by lower-cased name.
    sql_prepared: HashMap<String, sql_prepare::SqlStatement>,
    next_stmt_id: u32,
    /// Interruptions and state lost with backend connections.
    faults: faults::Faults,
    /// Whether the running statement may go to a read host.
    intent: crate::routing::Intent,
    /// The retry of a read that failed before its answer reached the client.
    read_retry: read_intent::ReadRetry,
    /// The consistency mode and the GTIDs of the session's last writes per group.
    consistency: consistency::SessionConsistency,
    /// The transaction mode and what the open transaction reached (XA branches).
    tx: xa::TxState,
}

/// Ends the command loop: the client connection is closed.
#[derive(Debug)]
pub(crate) struct Closed;

impl Session {
    /// Runs a client connection to its end; `peer` is `None` for a client of the Unix
    /// socket. `handshake` is the connection's place in the handshake (given back after login);
    /// the client slot taken at login is held until the session ends.
    pub async fn serve(
        shared: Arc<Shared>,
        stream: Stream,
        peer: Option<SocketAddr>,
        handshake: crate::admission::Handshake,
    ) {
        let Some((mut session, _client_slot)) = login::login(shared, stream, peer, handshake).await
        else {
            return;
        };
        session.run().await;
        session.close();
    }

    async fn run(&mut self) {
        loop {
            self.trim_buffers();
            let control = self.control.clone();
            // Every command is read into the same buffer (taken out while it is handled).
            let mut payload = std::mem::take(&mut self.command);
            let read = tokio::select! {
                r = self.reader.read_into(&mut self.stream, self.table.config.max_allowed_packet, &mut payload) => r,
                _ = control.wake.notified() => {
                    if self.control.killed.load(Ordering::Acquire) { return; }
                    self.command = payload;
                    continue;
                }
            };
            let seq = match read {
                Ok(seq) => seq,
                Err(ReadError::TooLarge) => {
                    let _ = self.send_err(&SqlError::packet_too_large(), 1).await;
                    return;
                }
                Err(ReadError::TimedOut) => {
                    let _ = self
                        .send_err(&crate::admission::read_timeout_error(), 1)
                        .await;
                    return;
                }
                Err(ReadError::Truncated) => {
                    let _ = self
                        .send_err(&SqlError::malformed_packet("truncated packet"), 1)
                        .await;
                    return;
                }
                Err(_) => return,
            };
            // A command that raced with a KILL of this connection is not run.
            if self.control.killed.load(Ordering::Acquire) {
                return;
            }
            let next = seq.wrapping_add(1);
            // One routing table for the whole command.
            self.table = self.shared.table();
            self.intent = crate::routing::Intent::Write;
            self.note_command(&payload);
            let started = std::time::Instant::now();
            let r = self.dispatch(&payload, next).await;
            let metrics = &self.shared.board.metrics;
            metrics.command(payload.first().copied(), started.elapsed());
            self.note_idle();
            if payload.capacity() <= KEEP_BUFFER {
                self.command = payload;
            }
            if r.is_err() {
                return;
            }
            if self.control.killed.load(Ordering::Acquire) {
                return;
            }
        }
    }

    async fn dispatch(&mut self, payload: &[u8], seq: u8) -> Result<(), Closed> {
        let Some(&cmd) = payload.first() else {
            return self
                .send_err(&SqlError::malformed_packet("empty command packet"), seq)
                .await;
        };
        if let Some(answered) = self.start_command(payload, seq).await {
            return answered;
        }
        match cmd {
            0x01 => Err(Closed),                                // COM_QUIT
            0x02 => self.com_init_db(&payload[1..], seq).await, // COM_INIT_DB
            0x03 => self.com_query(payload, seq).await,         // COM_QUERY
            0x04 => self.com_field_list(payload, seq).await,    // COM_FIELD_LIST
            0x09 => {
                self.forward(payload, seq, crate::backend::ResponseKind::Simple, None)
                    .await
            } // COM_STATISTICS
            0x0C => self.com_process_kill(&payload[1..], seq).await, // COM_PROCESS_KILL
            0x0E => self.send_ok(seq).await,                    // COM_PING
            0x11 => self.com_change_user(&payload[1..], seq).await, // COM_CHANGE_USER
            0x16 => self.com_stmt_prepare(payload, seq).await,  // COM_STMT_PREPARE
            0x17 => self.com_stmt_execute(&payload[1..], seq).await, // COM_STMT_EXECUTE
            0x18 => {
                self.com_stmt_send_long_data(&payload[1..]);
                Ok(())
            }
            0x19 => {
                self.com_stmt_close(&payload[1..]);
                Ok(())
            }
            0x1A => self.com_stmt_reset(&payload[1..], seq).await, // COM_STMT_RESET
            0x1B => self.com_set_option(&payload[1..], seq).await, // COM_SET_OPTION
            0x1F => self.com_reset_connection(seq).await,          // COM_RESET_CONNECTION
            other => self.send_err(&SqlError::unknown_command(other), seq).await,
        }
    }

    /// Server status flags for packets the proxy builds.
    fn status(&self) -> u16 {
        let mut s = 0;
        if !self.vars.autocommit_off() {
            s |= status::AUTOCOMMIT;
        }
        if self.in_transaction() {
            s |= status::IN_TRANS;
        }
        s
    }

    /// Puts back the output buffer a handler took to build a backend packet in.
    fn restore_out(&mut self, mut buf: Vec<u8>) {
        buf.clear();
        self.out = buf;
    }

    async fn write_out(&mut self) -> Result<(), Closed> {
        let r = self.stream.write_all(&self.out).await;
        self.out.clear();
        r.map_err(|_| Closed)
    }

    async fn send_ok(&mut self, seq: u8) -> Result<(), Closed> {
        let p = packet::ok_payload(0, 0, self.status(), 0);
        packet::frame(&mut self.out, seq, &p);
        self.write_out().await
    }

    async fn send_err(&mut self, e: &SqlError, seq: u8) -> Result<(), Closed> {
        self.shared.board.metrics.error(e.code);
        packet::frame(&mut self.out, seq, &packet::err_payload(e));
        self.write_out().await
    }

    fn trim_buffers(&mut self) {
        if self.out.capacity() > KEEP_BUFFER {
            self.out = Vec::new();
        }
        if !self.reader.has_buffered() {
            self.reader.shrink(KEEP_BUFFER);
        }
    }

    /// Whether a transaction is open for the client.
    fn in_transaction(&self) -> bool {
        self.tx_begin.is_some() || self.pinned.iter().any(|c| c.in_transaction)
    }

    /// Drops the pinned connections: state that must not reach another client (open
    /// transaction, locks, temporary tables) closes them.
    fn unpin(&mut self) {
        for c in self.pinned.drain(..) {
            c.discard();
        }
        self.pin_reason = None;
        self.tx_begin = None;
        self.participants.clear();
        self.tx_shards.clear();
        self.tx.reset();
    }

    fn close(&mut self) {
        self.unpin();
        self.shared.unregister(self.id);
    }
}
