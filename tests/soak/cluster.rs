//! The soak's servers: two groups (`g0`, `g1`) holding schema `shop` sharded over 16
//! shards, one plain reference MariaDB holding the same data in database `shop`, and the
//! `myshard` binary running as its own process (so its RSS is the proxy's alone) with a
//! generated YAML configuration. Also what the end of the run inspects: the proxy's RSS and
//! the state of its backend connections on each group's server.

use crate::harness::proxy::{APP_PASSWORD, APP_USER, create_shard_databases};
use crate::harness::{MYSHARD_PASSWORD, MYSHARD_USER, MariaDb, free_port};
use anyhow::{Context, Result, bail};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Shards of schema `shop`, half on each group.
pub const SHARDS: u32 = 16;

/// Options of all three servers. READ COMMITTED takes no gap locks, so clients writing only
/// their own keys never wait for each other; otherwise a DELETE of a missing key at the edge
/// of one client's range could lock part of the next client's range, and a wait cycle
/// through the proxy and the reference (each client runs its transaction on both) would
/// look like a stall. The answers compared do not depend on the isolation level: a client
/// reads only static rows and its own. The short lock wait ends any wait that still
/// happens on a group's server with an explicit error before the stall limit.
const SERVER_ARGS: &[&str] = &[
    "--transaction-isolation=READ-COMMITTED",
    "--innodb-lock-wait-timeout=5",
];

/// How long the proxy process may take to accept a login.
const PROXY_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The servers and the proxy process (fields drop in order: the proxy first).
pub struct Cluster {
    pub proxy: ProxyProcess,
    pub g0: MariaDb,
    pub g1: MariaDb,
    pub reference: MariaDb,
}

impl Cluster {
    /// Starts the three servers, creates the shard databases and the reference's `shop`,
    /// and starts the proxy with `pool_max` backend connections per host.
    pub async fn start(pool_max: u32) -> Result<Cluster> {
        let (g0, g1, reference) = tokio::try_join!(
            MariaDb::start_with_args(SERVER_ARGS),
            MariaDb::start_with_args(SERVER_ARGS),
            MariaDb::start_with_args(SERVER_ARGS),
        )?;
        let yaml = config_yaml(&g0, &g1, pool_max)?;
        let config = myshard_config::parse(&yaml.text, "soak config")
            .map_err(|e| anyhow::anyhow!("soak config: {e}"))?;
        create_shard_databases(&config, &[&g0, &g1]).await?;
        reference.exec("CREATE DATABASE shop").await?;
        let proxy = ProxyProcess::spawn(&yaml).await?;
        Ok(Cluster {
            proxy,
            g0,
            g1,
            reference,
        })
    }

    /// A connection to `shop` on the reference server.
    pub async fn reference_conn(&self) -> Result<Conn> {
        self.reference.conn_as("root", "", Some("shop")).await
    }
}

/// The generated configuration and the address it makes the proxy listen on.
struct ProxyYaml {
    text: String,
    addr: SocketAddr,
}

fn config_yaml(g0: &MariaDb, g1: &MariaDb, pool_max: u32) -> Result<ProxyYaml> {
    let port = free_port().context("a port for the proxy")?;
    let half = SHARDS / 2;
    let text = format!(
        "listen: 127.0.0.1:{port}
users: [{{name: {APP_USER}, password: {APP_PASSWORD}, schemas: ['*'], admin: true}}]
groups:
  - {{name: g0, user: {MYSHARD_USER}, password: {MYSHARD_PASSWORD}, write_hosts: ['{a0}'], pool: {{max: {pool_max}}}}}
  - {{name: g1, user: {MYSHARD_USER}, password: {MYSHARD_PASSWORD}, write_hosts: ['{a1}'], pool: {{max: {pool_max}}}}}
schemas:
  - name: shop
    shards: {SHARDS}
    placement: [{{group: g0, shards: '0-{h0}'}}, {{group: g1, shards: '{half}-{last}'}}]
    tables:
      - {{name: users, shard_key: id}}
      - {{name: orders, shard_key: user_id}}
      - {{name: countries, global: true}}
",
        a0 = g0.addr(),
        a1 = g1.addr(),
        h0 = half - 1,
        last = SHARDS - 1,
    );
    Ok(ProxyYaml {
        text,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    })
}

/// The `myshard` binary running with the soak's configuration; killed on drop.
pub struct ProxyProcess {
    child: Child,
    /// Where the proxy listens.
    pub addr: SocketAddr,
    /// The proxy's standard error (its log).
    pub log: PathBuf,
    /// Holds the configuration and the log; removed last.
    _dir: TempDir,
}

impl ProxyProcess {
    async fn spawn(yaml: &ProxyYaml) -> Result<ProxyProcess> {
        let dir = tempfile::Builder::new()
            .prefix("myshard-soak-")
            .tempdir()
            .context("a directory for the proxy's configuration")?;
        let config = dir.path().join("myshard.yaml");
        std::fs::write(&config, &yaml.text).context("writing the proxy's configuration")?;
        let log = dir.path().join("myshard.log");
        let stderr = std::fs::File::create(&log).context("creating the proxy's log")?;
        let child = Command::new(env!("CARGO_BIN_EXE_myshard"))
            .arg("--config")
            .arg(&config)
            // Faults make the proxy log a line per killed session; warnings are what matters.
            .env(
                "RUST_LOG",
                std::env::var("MYSHARD_SOAK_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .context("starting the myshard binary")?;
        let mut proxy = ProxyProcess {
            child,
            addr: yaml.addr,
            log,
            _dir: dir,
        };
        proxy.wait_ready().await?;
        Ok(proxy)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + PROXY_READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "myshard exited during startup ({status}); its log:\n{}",
                    self.log_tail()
                );
            }
            match Conn::new(self.opts()).await {
                Ok(conn) => {
                    conn.disconnect().await?;
                    return Ok(());
                }
                Err(e) if Instant::now() >= deadline => {
                    bail!(
                        "myshard did not accept a login within {PROXY_READY_TIMEOUT:?}: {e}; its log:\n{}",
                        self.log_tail()
                    )
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// mysql_async options for a client of `shop` through the proxy.
    pub fn opts(&self) -> Opts {
        OptsBuilder::default()
            .ip_or_hostname(self.addr.ip().to_string())
            .tcp_port(self.addr.port())
            .user(Some(APP_USER))
            .pass(Some(APP_PASSWORD))
            .db_name(Some("shop"))
            .prefer_socket(false)
            .into()
    }

    /// Whether the process still runs (a crash fails the soak).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The resident set size (VmRSS) and its peak (VmHWM), in KiB.
    pub fn rss_kib(&self) -> Result<(u64, u64)> {
        let path = format!("/proc/{}/status", self.child.id());
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let field = |name: &str| -> Result<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("{name} in {path}"))
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// The last lines of the proxy's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        // Best effort: the process may have exited already.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one group's server shows of the proxy's backend connections.
#[derive(Debug, Clone)]
pub struct BackendState {
    /// `(id, command, seconds, statement)` of each connection of the proxy's account.
    pub connections: Vec<(u64, String, u64, String)>,
    /// Open InnoDB transactions (of anyone: nothing else uses the group's server).
    pub open_transactions: u64,
}

impl BackendState {
    /// Every connection sleeps and no transaction is open.
    pub fn idle(&self) -> bool {
        self.open_transactions == 0 && self.connections.iter().all(|c| c.1 == "Sleep")
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        let busy: Vec<String> = self
            .connections
            .iter()
            .filter(|c| c.1 != "Sleep")
            .map(|c| format!("#{} {} {} s `{}`", c.0, c.1, c.2, c.3))
            .collect();
        format!(
            "{} connection(s), {} busy{}, {} open transaction(s)",
            self.connections.len(),
            busy.len(),
            if busy.is_empty() {
                String::new()
            } else {
                format!(" ({})", busy.join("; "))
            },
            self.open_transactions
        )
    }
}

/// The proxy's connections on `server` and its open transactions.
pub async fn backend_state(server: &MariaDb) -> Result<BackendState> {
    let mut conn = server.conn().await?;
    let connections: Vec<(u64, String, u64, Option<String>)> = conn
        .exec(
            "SELECT ID, COMMAND, TIME, INFO FROM information_schema.PROCESSLIST WHERE USER = ?",
            (MYSHARD_USER,),
        )
        .await?;
    let open_transactions: Option<u64> = conn
        .query_first("SELECT COUNT(*) FROM information_schema.INNODB_TRX")
        .await?;
    conn.disconnect().await?;
    Ok(BackendState {
        connections: connections
            .into_iter()
            .map(|(id, command, time, info)| (id, command, time, info.unwrap_or_default()))
            .collect(),
        open_transactions: open_transactions.unwrap_or(0),
    })
}
