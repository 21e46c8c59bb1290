//! One heartbeat against one host through mysql_async: `SELECT @@read_only` (and
//! `@@gtid_current_pos` on GTID hosts), then the replication status
//! (`SHOW ALL SLAVES STATUS` on MariaDB with GTID, `SHOW SLAVE STATUS` otherwise).
//!
//! The connection is kept between heartbeats and dropped after any failure, so a host that
//! was killed or restarted is reconnected to on the next one.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row};

/// What a heartbeat learnt from a host that answered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probe {
    /// `@@read_only`.
    pub read_only: bool,
    /// `@@gtid_current_pos` (GTID hosts only).
    pub gtid_current_pos: Option<String>,
    /// One entry per replication connection (empty: the host replicates from nothing).
    pub sources: Vec<SourceStatus>,
}

/// The state of one replication connection of a host (one row of `SHOW … SLAVE STATUS`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceStatus {
    /// `host:port` it replicates from.
    pub source: String,
    /// `Slave_IO_Running`: `Yes`, `No` or `Connecting`.
    pub io_thread: String,
    /// `Slave_SQL_Running`: `Yes` or `No`.
    pub sql_thread: String,
    /// `Seconds_Behind_Master`; none while the SQL thread is stopped.
    pub lag_seconds: Option<u64>,
    /// `Gtid_Slave_Pos` (GTID hosts only).
    pub gtid_slave_pos: Option<String>,
    /// `Last_IO_Error` / `Last_SQL_Error`, when set.
    pub last_error: Option<String>,
}

impl SourceStatus {
    /// Whether both threads run.
    pub fn running(&self) -> bool {
        self.io_thread == "Yes" && self.sql_thread == "Yes"
    }
}

/// How to reach a host for heartbeats.
#[derive(Debug, Clone)]
pub struct Login {
    /// `host:port` or `unix:/path`.
    pub addr: String,
    /// Account.
    pub user: String,
    /// Its password (never logged).
    pub password: String,
    /// Whether the host has GTID positions (MariaDB).
    pub gtid: bool,
}

/// The heartbeat connection of one host.
pub struct Prober {
    login: Login,
    conn: Option<Conn>,
}

impl Prober {
    /// A prober not yet connected.
    pub fn new(login: Login) -> Prober {
        Prober { login, conn: None }
    }

    /// One heartbeat, connect included, bounded by `timeout`; an error says why it failed.
    pub async fn probe(&mut self, timeout: Duration) -> Result<Probe, String> {
        let result = match tokio::time::timeout(timeout, self.run()).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        };
        if result.is_err() {
            // A half-used connection is worth nothing: the next heartbeat connects anew.
            // Dropping it closes the socket without waiting for a hung server.
            self.conn = None;
        }
        result
    }

    async fn run(&mut self) -> Result<Probe, String> {
        if self.conn.is_none() {
            let conn = Conn::new(opts(&self.login))
                .await
                .map_err(|e| format!("connect: {e}"))?;
            self.conn = Some(conn);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err("no connection".into());
        };
        let mut probe = Probe::default();
        if self.login.gtid {
            let row: Option<(u8, String)> = conn
                .query_first("SELECT @@read_only, @@gtid_current_pos")
                .await
                .map_err(|e| e.to_string())?;
            let (read_only, pos) = row.ok_or("no answer to SELECT @@read_only")?;
            probe.read_only = read_only != 0;
            probe.gtid_current_pos = Some(pos);
        } else {
            let row: Option<u8> = conn
                .query_first("SELECT @@read_only")
                .await
                .map_err(|e| e.to_string())?;
            probe.read_only = row.ok_or("no answer to SELECT @@read_only")? != 0;
        }
        let status = if self.login.gtid {
            "SHOW ALL SLAVES STATUS"
        } else {
            "SHOW SLAVE STATUS"
        };
        let rows: Vec<Row> = conn.query(status).await.map_err(|e| e.to_string())?;
        probe.sources = rows.iter().map(source_status).collect();
        Ok(probe)
    }
}

/// Connection options for `login`: TCP (no switch to a socket) or a Unix socket.
pub fn opts(login: &Login) -> Opts {
    let builder = OptsBuilder::default()
        .user(Some(login.user.clone()))
        .pass(Some(login.password.clone()))
        .prefer_socket(false)
        // The heartbeat connection must not hold server resources when the proxy stops.
        .wait_timeout(Some(60));
    match login.addr.strip_prefix("unix:") {
        Some(path) => builder.socket(Some(path.to_owned())),
        None => {
            let (host, port) = match login.addr.rsplit_once(':') {
                Some((host, port)) => (host, port.parse().unwrap_or(3306)),
                None => (login.addr.as_str(), 3306),
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            builder.ip_or_hostname(host.to_owned()).tcp_port(port)
        }
    }
    .into()
}

fn text(row: &Row, column: &str) -> Option<String> {
    row.get_opt::<Option<String>, _>(column)
        .and_then(Result::ok)
        .flatten()
}

fn source_status(row: &Row) -> SourceStatus {
    let host = text(row, "Master_Host").unwrap_or_default();
    let port = text(row, "Master_Port").unwrap_or_default();
    let errors: Vec<String> = ["Last_IO_Error", "Last_SQL_Error"]
        .iter()
        .filter_map(|c| text(row, c))
        .filter(|e| !e.is_empty())
        .collect();
    SourceStatus {
        source: format!("{host}:{port}"),
        io_thread: text(row, "Slave_IO_Running").unwrap_or_default(),
        sql_thread: text(row, "Slave_SQL_Running").unwrap_or_default(),
        lag_seconds: text(row, "Seconds_Behind_Master").and_then(|s| s.parse().ok()),
        gtid_slave_pos: text(row, "Gtid_Slave_Pos"),
        last_error: (!errors.is_empty()).then(|| errors.join("; ")),
    }
}
