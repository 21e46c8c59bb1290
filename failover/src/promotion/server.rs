//! One administrative connection to a host of a group, every step bounded in time: the
//! statements promotion, fencing and rejoin run, and what they read back (variables, the
//! replica status of the default replication connection).

use std::future::Future;
use std::time::Duration;

use mysql_async::prelude::{FromRow, Queryable};
use mysql_async::{Conn, Row};

use crate::monitor::{Login, opts};

/// An open connection to one host, with the bound every statement gets.
pub struct Server {
    /// `host:port` (for messages).
    pub addr: String,
    conn: Conn,
    timeout: Duration,
}

/// Runs `step` for at most `timeout`; the error names `what` and `addr`.
pub async fn bounded<T, E: std::fmt::Display>(
    addr: &str,
    what: &str,
    timeout: Duration,
    step: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, step).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(format!("{addr}: {what}: {err}")),
        Err(_) => Err(format!(
            "{addr}: {what}: no answer within {} ms",
            timeout.as_millis()
        )),
    }
}

impl Server {
    /// Connects to `login`'s host within `timeout`; every later statement gets `timeout` too.
    pub async fn connect(login: &Login, timeout: Duration) -> Result<Server, String> {
        let conn = bounded(&login.addr, "connect", timeout, Conn::new(opts(login))).await?;
        Ok(Server {
            addr: login.addr.clone(),
            conn,
            timeout,
        })
    }

    /// Changes the bound of later statements (a long `MASTER_GTID_WAIT`).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Runs `sql` (one or more statements), discarding results.
    pub async fn exec(&mut self, sql: &str) -> Result<(), String> {
        let what = first_words(sql);
        bounded(&self.addr, &what, self.timeout, self.conn.query_drop(sql)).await
    }

    /// The first row of `sql`.
    pub async fn first<T: FromRow + Send + 'static>(&mut self, sql: &str) -> Result<T, String> {
        let what = first_words(sql);
        let row: Option<T> =
            bounded(&self.addr, &what, self.timeout, self.conn.query_first(sql)).await?;
        row.ok_or_else(|| format!("{}: {what}: no row", self.addr))
    }

    /// Every row of `sql`.
    pub async fn rows(&mut self, sql: &str) -> Result<Vec<Row>, String> {
        let what = first_words(sql);
        bounded(&self.addr, &what, self.timeout, self.conn.query(sql)).await
    }

    /// A global variable as text (`SELECT @@name`); empty when NULL.
    pub async fn var(&mut self, name: &str) -> Result<String, String> {
        let value: Option<String> = self.first(&format!("SELECT @@{name}")).await?;
        Ok(value.unwrap_or_default())
    }

    /// The default replication connection's status; none when the host replicates from
    /// nothing. (`SHOW ALL SLAVES STATUS`: only it has `Slave_heartbeat_period`.)
    pub async fn replica_status(&mut self) -> Result<Option<ReplicaStatus>, String> {
        let rows = self.rows("SHOW ALL SLAVES STATUS").await?;
        Ok(rows
            .iter()
            .find(|row| {
                row.get_opt::<Option<String>, _>("Connection_name")
                    .and_then(Result::ok)
                    .flatten()
                    .unwrap_or_default()
                    .is_empty()
            })
            .map(ReplicaStatus::from_row))
    }
}

/// The first words of a statement, to name it in an error without its secrets.
fn first_words(sql: &str) -> String {
    sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// What `SHOW SLAVE STATUS` says about the default replication connection.
#[derive(Debug, Clone, Default)]
pub struct ReplicaStatus {
    /// `Master_Host`.
    pub source_host: String,
    /// `Master_Port`.
    pub source_port: u16,
    /// `Using_Gtid`: `No`, `Slave_Pos` or `Current_Pos`.
    pub using_gtid: String,
    /// `Gtid_IO_Pos`: the last GTIDs received into the relay log.
    pub gtid_io_pos: String,
    /// `Slave_IO_Running`.
    pub io_thread: String,
    /// `Slave_SQL_Running`.
    pub sql_thread: String,
    /// `Last_SQL_Error`.
    pub sql_error: String,
    /// `Slave_heartbeat_period` in seconds (0: none). A `CHANGE MASTER` without
    /// `MASTER_HEARTBEAT_PERIOD` resets it to `slave_net_timeout / 2`, so a repoint passes
    /// it on (see [`change_master`]).
    pub heartbeat_period: f64,
}

impl ReplicaStatus {
    fn from_row(row: &Row) -> ReplicaStatus {
        let text = |column: &str| -> String {
            row.get_opt::<Option<String>, _>(column)
                .and_then(Result::ok)
                .flatten()
                .unwrap_or_default()
        };
        ReplicaStatus {
            source_host: text("Master_Host"),
            source_port: text("Master_Port").parse().unwrap_or(0),
            using_gtid: text("Using_Gtid"),
            gtid_io_pos: text("Gtid_IO_Pos"),
            io_thread: text("Slave_IO_Running"),
            sql_thread: text("Slave_SQL_Running"),
            sql_error: text("Last_SQL_Error"),
            heartbeat_period: text("Slave_heartbeat_period")
                .parse::<f64>()
                .ok()
                .filter(|p| p.is_finite() && *p > 0.0)
                .unwrap_or(0.0),
        }
    }

    /// Whether it replicates from `addr` (`host:port`); loopback names are one host.
    pub fn follows(&self, addr: &str) -> bool {
        let Ok((host, port)) = host_port(addr) else {
            return false;
        };
        port == self.source_port && same_host(&host, &self.source_host)
    }

    /// Whether it uses GTID positions.
    pub fn uses_gtid(&self) -> bool {
        self.using_gtid.eq_ignore_ascii_case("slave_pos")
            || self.using_gtid.eq_ignore_ascii_case("current_pos")
    }
}

fn same_host(a: &str, b: &str) -> bool {
    let loopback = |h: &str| matches!(h, "127.0.0.1" | "localhost" | "::1");
    a.eq_ignore_ascii_case(b) || (loopback(a) && loopback(b))
}

/// Splits `host:port` (IPv6 in brackets allowed); Unix sockets cannot be replication sources.
pub fn host_port(addr: &str) -> Result<(String, u16), String> {
    if addr.starts_with("unix:") {
        return Err(format!(
            "{addr} is a Unix socket: replicas cannot replicate from it"
        ));
    }
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("{addr} has no port"))?;
    let port = port
        .parse()
        .map_err(|_| format!("{addr}: {port:?} is not a port"))?;
    Ok((
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
    ))
}

/// `text` as an SQL string literal.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `CHANGE MASTER TO` the host at `source` with GTID `slave_pos`, as `user`/`password`,
/// keeping `heartbeat_period` seconds between the source's heartbeats when it is positive:
/// without it MariaDB resets the period to `slave_net_timeout / 2` (30 s by default), and
/// the detector, which takes a replica's silence beyond twice that period as the proof of
/// a hung primary, would need a minute to confirm the next failure.
pub fn change_master(
    source: &str,
    user: &str,
    password: &str,
    heartbeat_period: f64,
) -> Result<String, String> {
    let (host, port) = host_port(source)?;
    let heartbeat = if heartbeat_period.is_finite() && heartbeat_period > 0.0 {
        format!(", MASTER_HEARTBEAT_PERIOD={heartbeat_period:.3}")
    } else {
        String::new()
    };
    Ok(format!(
        "CHANGE MASTER TO MASTER_HOST={}, MASTER_PORT={port}, MASTER_USER={}, \
         MASTER_PASSWORD={}, MASTER_USE_GTID=slave_pos{heartbeat}",
        quote(&host),
        quote(user),
        quote(password)
    ))
}

/// The `Slave_heartbeat_period` (seconds) of `login`'s default replication connection; 0
/// when it replicates from nothing or does not answer within `timeout`.
pub async fn heartbeat_period(login: &Login, timeout: Duration) -> f64 {
    let Ok(mut server) = Server::connect(login, timeout).await else {
        return 0.0;
    };
    match server.replica_status().await {
        Ok(Some(status)) => status.heartbeat_period,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_literals() {
        assert_eq!(quote("a'b\\c"), "'a''b\\\\c'");
    }

    #[test]
    fn splits_addresses() {
        assert_eq!(host_port("127.0.0.1:3307"), Ok(("127.0.0.1".into(), 3307)));
        assert_eq!(host_port("[::1]:3307"), Ok(("::1".into(), 3307)));
        assert!(host_port("unix:/tmp/s.sock").is_err());
        assert!(host_port("db1").is_err());
    }

    #[test]
    fn change_master_keeps_a_heartbeat_period() {
        let with = change_master("127.0.0.1:3307", "r", "p", 0.5).unwrap_or_default();
        assert!(with.ends_with("MASTER_HEARTBEAT_PERIOD=0.500"), "{with}");
        let without = change_master("127.0.0.1:3307", "r", "p", 0.0).unwrap_or_default();
        assert!(!without.contains("HEARTBEAT"), "{without}");
    }

    #[test]
    fn follows_matches_loopback_names() {
        let status = ReplicaStatus {
            source_host: "localhost".into(),
            source_port: 3307,
            ..ReplicaStatus::default()
        };
        assert!(status.follows("127.0.0.1:3307"));
        assert!(!status.follows("127.0.0.1:3308"));
        assert!(!status.follows("10.0.0.1:3307"));
    }
}
