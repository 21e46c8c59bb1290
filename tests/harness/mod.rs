//! Test harness: real MariaDB servers for end-to-end tests (testing layer 3 of the
//! architecture).
//!
//! Integration tests of the root package use it with `mod harness;`.
//!
//! ```ignore
//! let db = harness::MariaDb::start().await?;
//! db.exec("CREATE DATABASE shop").await?;
//! let mut conn = db.myshard_conn().await?;
//! ```
//!
//! Every [`MariaDb`] is its own `mariadbd` process with a private data directory in a fresh
//! temporary directory (copied from a template made once by `mariadb-install-db`, see
//! [`template`]), listening on a free TCP port of 127.0.0.1 only. It is started with
//! `--no-defaults`, so no `my.cnf` of the machine applies and the system MariaDB service is
//! neither needed nor touched. Binary logging is on with `server_id` equal to the port, so
//! replication tests can pair any two servers. Dropping a [`MariaDb`] kills the server with
//! SIGKILL, waits for it and removes its directory; if the test process itself dies, a small
//! watchdog kills the server as soon as the process's end of a pipe closes.
//!
//! Accounts: `root` without a password, and [`MYSHARD_USER`] / [`MYSHARD_PASSWORD`] from any
//! host with all privileges and the grant option (`mysql_native_password`).

#![allow(dead_code)]

pub mod bank;
pub mod differential;
pub mod e2e;
pub mod migration;
pub mod process;
pub mod proxy;
pub mod raw;
pub mod replica_set;
pub mod replication;
mod template;

use std::collections::BTreeSet;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use mysql_async::prelude::{FromRow, Queryable};
use mysql_async::{Conn, Opts, OptsBuilder};
use tempfile::TempDir;

/// The administrator account (no password).
pub const ROOT_USER: &str = "root";
/// The account the proxy uses on backends in tests.
pub const MYSHARD_USER: &str = "myshard";
/// Password of [`MYSHARD_USER`].
pub const MYSHARD_PASSWORD: &str = "myshard";

/// How long a server may take to accept connections before the start fails.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How many fresh ports to try when another process grabs ours first.
const PORT_ATTEMPTS: usize = 5;
/// How long to wait for the server (and its watchdog) to exit after SIGKILL.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `mariadbd` (the arguments after the script) in the background and kills it with
/// SIGKILL when standard input reaches end of file, that is when the test process closes the
/// pipe or dies. Exits with the server's status when the server exits on its own.
const WATCHDOG_SCRIPT: &str = r#"
exec 3<&0 </dev/null
"$@" 3<&- &
server=$!
{ cat <&3 >/dev/null 3<&-; kill -9 "$server" 2>/dev/null; } &
watchdog=$!
exec 3<&-
wait "$server"
status=$?
kill "$watchdog" 2>/dev/null
exit "$status"
"#;

/// Ports handed out by [`free_port`] in this process, never handed out twice.
static HANDED_OUT_PORTS: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// Returns a TCP port of 127.0.0.1 that was free a moment ago and that this process has not
/// handed out before.
///
/// Another process may still take it before it is used; [`MariaDb::start`] retries with a new
/// port when that happens.
pub fn free_port() -> std::io::Result<u16> {
    let mut handed_out = HANDED_OUT_PORTS
        .lock()
        .map_err(|_| std::io::Error::other("the free port registry lock is poisoned"))?;
    for _ in 0..100 {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let port = listener.local_addr()?.port();
        if handed_out.insert(port) {
            return Ok(port);
        }
    }
    Err(std::io::Error::other(
        "the kernel kept offering ports this process already handed out",
    ))
}

/// A MariaDB server owned by a test; killed and deleted on drop.
#[derive(Debug)]
pub struct MariaDb {
    /// The watchdog shell running `mariadbd`; `None` while killed.
    process: Option<Child>,
    port: u16,
    mariadbd: PathBuf,
    as_root: bool,
    extra_args: Vec<String>,
    /// Size of the error log when the current process was launched.
    log_offset: u64,
    /// Holds the data directory, socket, pid file and logs; dropped (removed) last.
    dir: TempDir,
}

/// Why a start attempt did not produce a ready server.
enum StartError {
    /// Another process holds the port; a new port may succeed.
    PortInUse,
    /// Anything else.
    Failed(anyhow::Error),
}

impl MariaDb {
    /// Starts a server with the harness defaults and waits until it accepts connections.
    pub async fn start() -> Result<MariaDb> {
        Self::start_with_args(&[]).await
    }

    /// Starts a server with extra `mariadbd` options (e.g. `--read-only`), given after the
    /// harness defaults so they override them.
    pub async fn start_with_args(extra_args: &[&str]) -> Result<MariaDb> {
        let mut server = Self::prepare(extra_args).await?;
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port().context("finding a free port")?;
            match server.launch().await {
                Ok(()) => return Ok(server),
                Err(StartError::PortInUse) => server.kill()?,
                Err(StartError::Failed(err)) => return Err(err),
            }
        }
        bail!("MariaDB could not get a free port in {PORT_ATTEMPTS} attempts")
    }

    /// Starts a server with the harness defaults on `port` (for instance one a proxy was
    /// configured with while nothing listened there) and waits until it accepts
    /// connections. Fails when another process holds the port.
    pub async fn start_on_port(port: u16) -> Result<MariaDb> {
        let mut server = Self::prepare(&[]).await?;
        server.port = port;
        match server.launch().await {
            Ok(()) => Ok(server),
            Err(StartError::PortInUse) => {
                server.kill()?;
                bail!("MariaDB could not start: port {port} is taken by another process")
            }
            Err(StartError::Failed(err)) => Err(err),
        }
    }

    /// A server with its own copy of the template data directory, not yet launched.
    async fn prepare(extra_args: &[&str]) -> Result<MariaDb> {
        let template = tokio::task::spawn_blocking(template::template)
            .await
            .context("the MariaDB template task failed")??;
        let dir = tempfile::Builder::new()
            .prefix("myshard-mariadb-")
            .tempdir()
            .context("creating a temporary directory for a MariaDB server")?;
        let datadir = dir.path().join("data");
        let tmpdir = dir.path().join("tmp");
        let source = template.datadir.clone();
        tokio::task::spawn_blocking(move || {
            template::copy_tree(&source, &datadir)?;
            std::fs::create_dir(&tmpdir).with_context(|| format!("creating {}", tmpdir.display()))
        })
        .await
        .context("the datadir copy task failed")??;

        Ok(MariaDb {
            process: None,
            port: 0,
            mariadbd: template.mariadbd,
            as_root: template.as_root,
            extra_args: extra_args.iter().map(|arg| (*arg).to_owned()).collect(),
            log_offset: 0,
            dir,
        })
    }

    /// Starts `n` servers concurrently. On any failure the servers already started are
    /// killed and the first error is returned.
    pub async fn start_many(n: usize) -> Result<Vec<MariaDb>> {
        let mut tasks = tokio::task::JoinSet::new();
        for index in 0..n {
            tasks.spawn(async move { (index, MariaDb::start().await) });
        }
        let mut servers: Vec<Option<MariaDb>> = (0..n).map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            let (index, started) = joined.context("a MariaDB start task failed")?;
            let server = started.with_context(|| format!("starting MariaDB server {index}"))?;
            servers[index] = Some(server);
        }
        servers
            .into_iter()
            .map(|server| server.ok_or_else(|| anyhow!("a MariaDB start task vanished")))
            .collect()
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, the form configuration files use.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The server id, also used as the binary log's server id (equal to the port).
    pub fn server_id(&self) -> u32 {
        u32::from(self.port)
    }

    /// A `mysql://` URL for mysql_async (TCP only, no switch to the Unix socket).
    pub fn url(&self, user: &str, password: &str, db: Option<&str>) -> String {
        let credentials = if password.is_empty() {
            url_escape(user)
        } else {
            format!("{}:{}", url_escape(user), url_escape(password))
        };
        let db = db.map(url_escape).unwrap_or_default();
        format!(
            "mysql://{credentials}@127.0.0.1:{}/{db}?prefer_socket=false",
            self.port
        )
    }

    /// Connection options for mysql_async (TCP only, no switch to the Unix socket).
    pub fn opts(&self, user: &str, password: &str, db: Option<&str>) -> Opts {
        OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port)
            .user(Some(user))
            .pass(Some(password))
            .db_name(db)
            .prefer_socket(false)
            .into()
    }

    /// A connection as `root`, for test setup and inspection.
    pub async fn conn(&self) -> Result<Conn> {
        self.conn_as(ROOT_USER, "", None).await
    }

    /// A connection as the `myshard` account, the one the proxy uses.
    pub async fn myshard_conn(&self) -> Result<Conn> {
        self.conn_as(MYSHARD_USER, MYSHARD_PASSWORD, None).await
    }

    /// A connection as any account, optionally with a default database.
    pub async fn conn_as(&self, user: &str, password: &str, db: Option<&str>) -> Result<Conn> {
        Conn::new(self.opts(user, password, db))
            .await
            .with_context(|| format!("connecting to MariaDB at {} as {user}", self.addr()))
    }

    /// Runs one statement (or several separated by `;`) as root, discarding results.
    pub async fn exec(&self, sql: &str) -> Result<()> {
        let mut conn = self.conn().await?;
        conn.query_drop(sql)
            .await
            .with_context(|| format!("running `{sql}` on {}", self.addr()))?;
        conn.disconnect().await.context("disconnecting")?;
        Ok(())
    }

    /// Runs a query as root and returns all rows.
    pub async fn query<T: FromRow + Send + 'static>(&self, sql: &str) -> Result<Vec<T>> {
        let mut conn = self.conn().await?;
        let rows = conn
            .query(sql)
            .await
            .with_context(|| format!("running `{sql}` on {}", self.addr()))?;
        conn.disconnect().await.context("disconnecting")?;
        Ok(rows)
    }

    /// The data directory.
    pub fn datadir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The Unix socket the server also listens on.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("mariadbd.sock")
    }

    /// The server's error log.
    pub fn error_log(&self) -> PathBuf {
        self.dir.path().join("error.log")
    }

    /// Whether the server process is running (it may have been killed or crashed).
    pub fn is_running(&mut self) -> bool {
        match self.process.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the server with SIGKILL and waits for it, keeping its data for [`restart`].
    /// Does nothing when it is not running.
    ///
    /// [`restart`]: MariaDb::restart
    pub fn kill(&mut self) -> Result<()> {
        let Some(mut child) = self.process.take() else {
            return Ok(());
        };
        // Closing the watchdog's standard input makes it SIGKILL the server and exit.
        drop(child.stdin.take());
        let deadline = Instant::now() + KILL_TIMEOUT;
        loop {
            if child.try_wait().context("waiting for MariaDB")?.is_some() {
                break;
            }
            if Instant::now() >= deadline {
                // The watchdog did not react: kill both directly.
                self.kill_by_pid_file();
                child.kill().context("killing the MariaDB watchdog")?;
                child.wait().context("waiting for the MariaDB watchdog")?;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        for stale in [self.socket(), self.dir.path().join("mariadbd.pid")] {
            if stale.exists() {
                std::fs::remove_file(&stale)
                    .with_context(|| format!("removing {}", stale.display()))?;
            }
        }
        Ok(())
    }

    /// Starts the server again on the same port and data directory (after [`kill`], or
    /// killing it first), as after a crash: InnoDB recovers, binary logs continue.
    ///
    /// [`kill`]: MariaDb::kill
    pub async fn restart(&mut self) -> Result<()> {
        self.kill()?;
        match self.launch().await {
            Ok(()) => Ok(()),
            Err(StartError::PortInUse) => {
                self.kill()?;
                bail!(
                    "MariaDB could not restart: port {} is taken by another process",
                    self.port
                )
            }
            Err(StartError::Failed(err)) => Err(err),
        }
    }

    /// The `mariadbd` command line after `--no-defaults`.
    fn server_args(&self) -> Vec<String> {
        let dir = self.dir.path();
        let mut args = Vec::new();
        if self.as_root {
            args.push("--user=root".to_owned());
        }
        // Names the binary and relay logs independently of the host name. It must come before
        // the other log options, which it would otherwise override.
        args.push("--log-basename=mariadb".to_owned());
        let path_args = [
            ("datadir", dir.join("data")),
            ("tmpdir", dir.join("tmp")),
            ("socket", self.socket()),
            ("pid-file", dir.join("mariadbd.pid")),
            ("log-error", self.error_log()),
        ];
        for (name, path) in path_args {
            args.push(format!("--{name}={}", path.display()));
        }
        args.extend([
            format!("--port={}", self.port),
            "--bind-address=127.0.0.1".to_owned(),
            "--skip-name-resolve".to_owned(),
            // Debian's packaged defaults, so results match a stock installation.
            "--character-set-server=utf8mb4".to_owned(),
            "--collation-server=utf8mb4_general_ci".to_owned(),
            // Small and fast: tests hold little data and a SIGKILL of the process (not of the
            // machine) loses nothing the OS has already been handed.
            "--innodb-buffer-pool-size=32M".to_owned(),
            format!("--innodb-log-file-size={}", template::INNODB_LOG_FILE_SIZE),
            "--innodb-temp-data-file-path=ibtmp1:1M:autoextend".to_owned(),
            "--innodb-flush-log-at-trx-commit=2".to_owned(),
            "--innodb-doublewrite=0".to_owned(),
            "--innodb-use-native-aio=0".to_owned(),
            "--innodb-buffer-pool-load-at-startup=0".to_owned(),
            "--innodb-buffer-pool-dump-at-shutdown=0".to_owned(),
            "--performance-schema=0".to_owned(),
            "--table-open-cache=400".to_owned(),
            "--max-connections=500".to_owned(),
            "--max-allowed-packet=1G".to_owned(),
            // Replication-ready: any two harness servers can be paired.
            "--log-bin".to_owned(),
            "--binlog-format=ROW".to_owned(),
            "--log-slave-updates".to_owned(),
            format!("--server-id={}", self.server_id()),
        ]);
        args.extend(self.extra_args.iter().cloned());
        args
    }

    /// Spawns `mariadbd` under the watchdog and waits until it serves this port.
    async fn launch(&mut self) -> std::result::Result<(), StartError> {
        self.spawn().map_err(StartError::Failed)?;
        self.wait_ready().await
    }

    fn spawn(&mut self) -> Result<()> {
        let output_path = self.dir.path().join("mariadbd.out");
        let stdout = File::options()
            .create(true)
            .append(true)
            .open(&output_path)
            .with_context(|| format!("opening {}", output_path.display()))?;
        let stderr = stdout
            .try_clone()
            .with_context(|| format!("opening {}", output_path.display()))?;
        self.log_offset = std::fs::metadata(self.error_log()).map_or(0, |meta| meta.len());
        let child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .arg("mariadbd-watchdog")
            .arg(&self.mariadbd)
            .arg("--no-defaults")
            .args(self.server_args())
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", self.mariadbd.display()))?;
        self.process = Some(child);
        Ok(())
    }

    async fn wait_ready(&mut self) -> std::result::Result<(), StartError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let exited = match self.process.as_mut() {
                Some(child) => child
                    .try_wait()
                    .context("checking the MariaDB process")
                    .map_err(StartError::Failed)?,
                None => return Err(StartError::Failed(anyhow!("MariaDB is not running"))),
            };
            if let Some(status) = exited {
                if self.log_since_launch().contains("Address already in use") {
                    return Err(StartError::PortInUse);
                }
                return Err(StartError::Failed(anyhow!(
                    "MariaDB on port {} exited during startup ({status}); its log:\n{}",
                    self.port,
                    self.log_tail()
                )));
            }

            let attempt = tokio::time::timeout(Duration::from_secs(2), self.probe()).await;
            let last_error = match attempt {
                Ok(Ok(socket)) if Path::new(&socket) == self.socket() => return Ok(()),
                // Some other server answers on this port: ours cannot have bound it.
                Ok(Ok(_)) => return Err(StartError::PortInUse),
                Ok(Err(err)) => format!("{err:#}"),
                Err(_) => "connection attempt timed out".to_owned(),
            };
            if Instant::now() >= deadline {
                return Err(StartError::Failed(anyhow!(
                    "MariaDB on port {} did not accept connections within {:?} (last error: \
                     {last_error}); its log:\n{}",
                    self.port,
                    READY_TIMEOUT,
                    self.log_tail()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Logs in as `myshard` and returns the server's socket path, which identifies it.
    async fn probe(&self) -> Result<String> {
        let mut conn = Conn::new(self.opts(MYSHARD_USER, MYSHARD_PASSWORD, None)).await?;
        let socket: Option<String> = conn.query_first("SELECT @@socket").await?;
        conn.disconnect().await?;
        socket.context("@@socket returned no row")
    }

    /// What the error log gained since the current process was launched.
    fn log_since_launch(&self) -> String {
        let content = std::fs::read(self.error_log()).unwrap_or_default();
        let start = usize::try_from(self.log_offset)
            .unwrap_or(usize::MAX)
            .min(content.len());
        String::from_utf8_lossy(&content[start..]).into_owned()
    }

    /// The last lines of the server's error log and console output.
    fn log_tail(&self) -> String {
        let mut text = String::new();
        for path in [self.error_log(), self.dir.path().join("mariadbd.out")] {
            let content = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = content.lines().collect();
            let start = lines.len().saturating_sub(40);
            text.push_str(&format!("--- {} ---\n", path.display()));
            for line in &lines[start..] {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }

    /// Last resort when the watchdog does not react: SIGKILL the pid in the pid file.
    /// The `mariadbd` process id (from its pid file).
    pub fn pid(&self) -> Result<u32> {
        let pid_file = self.dir.path().join("mariadbd.pid");
        let text = std::fs::read_to_string(&pid_file)
            .with_context(|| format!("reading {}", pid_file.display()))?;
        text.trim()
            .parse()
            .with_context(|| format!("pid file {} holds {text:?}", pid_file.display()))
    }

    /// Pauses the server (SIGSTOP): connections stay open, nothing answers, as with a hung
    /// host. [`resume`] continues it; a paused server is still killed on drop.
    ///
    /// [`resume`]: MariaDb::resume
    pub fn pause(&self) -> Result<()> {
        self.signal("-STOP")
    }

    /// Continues a server stopped by [`pause`] (SIGCONT).
    ///
    /// [`pause`]: MariaDb::pause
    pub fn resume(&self) -> Result<()> {
        self.signal("-CONT")
    }

    fn signal(&self, which: &str) -> Result<()> {
        let pid = self.pid()?.to_string();
        let status = Command::new("kill")
            .args([which, pid.as_str()])
            .status()
            .context("running kill")?;
        if !status.success() {
            bail!("kill {which} {pid} failed: {status}");
        }
        Ok(())
    }

    fn kill_by_pid_file(&self) {
        let pid_file = self.dir.path().join("mariadbd.pid");
        if let Ok(pid) = std::fs::read_to_string(&pid_file) {
            let pid = pid.trim();
            if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
                // Best effort: the process may already be gone.
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        if let Err(err) = self.kill() {
            eprintln!("harness: stopping MariaDB on port {}: {err:#}", self.port);
        }
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn url_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            escaped.push(char::from(byte));
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}
