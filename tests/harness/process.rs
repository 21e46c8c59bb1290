//! The real `myshard` binary run as its own process, for tests that SIGKILL the proxy and
//! start it again: a temporary directory holding its configuration file, its state
//! directory and one log per start, a client port chosen once (so a restart listens where
//! the clients reconnect), and the running process SIGKILLed when dropped.
//!
//! ```ignore
//! let mut binary = MyshardBinary::new()?;
//! binary.write_config(&format!("listen: 127.0.0.1:{}\nstate_dir: '{}'\n…",
//!     binary.port(), binary.state_dir().display()))?;
//! let mut proxy = binary.start().await?;
//! proxy.kill()?;
//! let proxy = binary.start().await?; // the same configuration and state
//! ```

use super::MariaDb;
use super::proxy::{APP_PASSWORD, APP_USER};
use anyhow::{Context, Result, ensure};
use mysql_async::{Opts, OptsBuilder};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a start may take before the test fails (a restart settles the journal and XA
/// recovery before it serves; generous for a loaded machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The configuration, state and logs of the `myshard` binary a test runs.
pub struct MyshardBinary {
    dir: tempfile::TempDir,
    config: PathBuf,
    port: u16,
    starts: u64,
}

impl MyshardBinary {
    /// A fresh directory and a free client port; no configuration written yet.
    pub fn new() -> Result<MyshardBinary> {
        let dir = tempfile::tempdir().context("creating the myshard directory")?;
        let config = dir.path().join("myshard.yaml");
        let port = listen_port().context("finding a port for myshard")?;
        Ok(MyshardBinary {
            dir,
            config,
            port,
            starts: 0,
        })
    }

    /// The client port the configuration must listen on (`127.0.0.1:PORT`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The state directory the configuration should name (kept across restarts).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The configuration file.
    pub fn config(&self) -> &Path {
        &self.config
    }

    /// Writes the configuration file the next start reads.
    pub fn write_config(&self, yaml: &str) -> Result<()> {
        std::fs::write(&self.config, yaml)
            .with_context(|| format!("writing {}", self.config.display()))
    }

    /// How the `app` account reaches the proxy's client port, in `db`.
    pub fn client_opts(&self, db: &str) -> Opts {
        OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port)
            .user(Some(APP_USER))
            .pass(Some(APP_PASSWORD))
            .db_name(Some(db))
            .prefer_socket(false)
            .into()
    }

    /// Starts the binary on the configuration file and waits until it accepts connections
    /// on its client port.
    pub async fn start(&mut self) -> Result<RunningMyshard> {
        let port = self.port;
        self.start_until("accept connections", || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await
    }

    /// Starts the binary on the configuration file and waits until `ready` (polled every
    /// 50 ms) says it does `what`. Fails, with the process's log, when it exits first.
    pub async fn start_until<F, Fut>(&mut self, what: &str, mut ready: F) -> Result<RunningMyshard>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        self.starts += 1;
        let log_path = self.dir.path().join(format!("myshard-{}.log", self.starts));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let child = Command::new(env!("CARGO_BIN_EXE_myshard"))
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting myshard")?;
        let mut running = RunningMyshard { child };
        let deadline = Instant::now() + START_TIMEOUT;
        while !ready().await {
            let exited = running.child.try_wait()?;
            ensure!(
                exited.is_none(),
                "myshard exited ({exited:?}): {}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
            ensure!(Instant::now() < deadline, "myshard did not {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(running)
    }
}

/// A running `myshard` process, SIGKILLed when dropped.
pub struct RunningMyshard {
    child: Child,
}

impl RunningMyshard {
    /// SIGKILL, and reap the process.
    pub fn kill(&mut self) -> Result<()> {
        self.child.kill().context("killing myshard")?;
        self.child.wait().context("reaping myshard")?;
        Ok(())
    }
}

impl Drop for RunningMyshard {
    fn drop(&mut self) {
        // Already dead after `kill`: both calls then fail harmlessly.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One entry of a configuration's `groups:` list in YAML (block list, two-space indent):
/// group `name` writing to `server` as the harness's `myshard` account, a pool of at most
/// `pool_max` connections, no heartbeat.
pub fn group_yaml(name: &str, server: &MariaDb, pool_max: u32) -> String {
    format!(
        "  - {{name: {name}, user: {}, password: {}, write_hosts: ['{}'], \
         pool: {{max: {pool_max}}}, heartbeat: {{enabled: false}}}}\n",
        super::MYSHARD_USER,
        super::MYSHARD_PASSWORD,
        server.addr()
    )
}

/// A free port for the proxy below the kernel's range for outgoing connections. Clients
/// reconnect in a loop while the proxy is down; a connect to a closed port of that range
/// can pick the same port as its own source and connect to itself (TCP simultaneous
/// open), and then waits forever for a handshake.
fn listen_port() -> Result<u16> {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    if low > 12_000 {
        let span = u64::from(low - 12_000);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let first = u64::from(nanos) % span;
        for i in 0..200 {
            let port = 10_000 + ((first + i * 7919) % span) as u16;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
    }
    Ok(super::free_port()?)
}
