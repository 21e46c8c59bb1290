//! The listener and what all sessions share: configuration, backend pools, the prepared
//! statement cache, the registry of client connections (for KILL), and limits.

use crate::admission::Admission;
use crate::backend::conn::ConnFlags;
use crate::backend::pool::HostPool;
use crate::error::SqlError;
use crate::login_brake::LoginBrake;
use crate::net::Stream;
use crate::packet;
use crate::routing::{Host, Intent, RoutingTable, host_for};
use crate::session::Session;
use crate::stmt_cache::StmtCache;
use arc_swap::ArcSwap;
use hashbrown::HashMap;
use myshard_config::Config;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Notify, watch};

/// Version announced before any backend has answered.
pub const DEFAULT_SERVER_VERSION: &str = "5.7.0-myshard";

pub use crate::routing::Route;

/// Per-client-connection handle other sessions use to KILL it.
#[derive(Debug)]
pub struct ConnControl {
    /// Login user (only the same user may kill it).
    pub user: Mutex<String>,
    /// Set when the connection has been killed.
    pub killed: AtomicBool,
    /// Wakes the session when killed while idle.
    pub wake: Notify,
    /// The backend statements running now (several for a scatter): (host's pool, backend
    /// thread id). The pool is shared rather than its target copied: this is set and cleared
    /// for every statement.
    pub running: Mutex<Vec<(Arc<HostPool>, u32)>>,
    /// What the session is doing, for `SHOW PROCESSLIST`.
    pub activity: Mutex<crate::activity::Activity>,
    /// `KILL` / `KILL QUERY` requests, seen by every backend wait of the session's
    /// statement (see [`crate::backend::interrupt`]); cleared when a statement starts.
    pub interrupt: tokio::sync::watch::Sender<Option<crate::backend::interrupt::Why>>,
    /// Backend `KILL QUERY`s sent for `running` and not yet done (see
    /// [`crate::backend::kills`]).
    pub backend_kills: Arc<crate::backend::kills::BackendKills>,
}

/// State shared by all sessions.
#[derive(Debug)]
pub struct Shared {
    /// The routing table in force (configuration, placement, hosts, gates).
    pub(crate) table: ArcSwap<RoutingTable>,
    /// Every host object made so far that is still routed to or draining.
    pub(crate) hosts: Mutex<Vec<Arc<Host>>>,
    /// Held by a reload while it builds and publishes a table.
    pub(crate) reload_lock: Mutex<()>,
    /// MariaDB extended capabilities the backends offer, learned from the first backend
    /// greeting (0 until then, and for MySQL backends).
    pub backend_ext_caps: AtomicU32,
    /// The backends' version as MariaDB compares it with executable comments (101119 for
    /// 10.11.19); 0 until a backend has been reached. Learned even when `server_version`
    /// is configured, since the backend, not the announced string, decides what runs.
    pub backend_version: AtomicU32,
    /// Server version string clients see (copied from a backend once one answers).
    pub server_version: RwLock<String>,
    /// Prepared statement metadata.
    pub stmt_cache: StmtCache,
    /// Column orders of sharded and global tables (INSERT without a column list).
    pub column_orders: crate::column_orders::ColumnOrders,
    /// Global sequences of tables that have one.
    pub sequences: crate::sequence::Sequences,
    /// Live client connections by proxy connection id.
    pub registry: Mutex<HashMap<u64, Arc<ConnControl>>>,
    next_conn_id: AtomicU64,
    /// Connections in the handshake, logged-in clients, open prepared statements.
    pub admission: Admission,
    /// Failed-login counts per address, and the limit on their log lines.
    pub login_brake: LoginBrake,
    /// Counters, reload history and host reports for the status endpoint.
    pub board: crate::admin_http::StatusBoard,
    /// The health monitor of the hosts, while the proxy runs (see `health`).
    pub(crate) monitor: Mutex<Option<myshard_failover::Monitor>>,
    /// Each group's active write host, fenced hosts, switches (see `failover`).
    pub failover: crate::failover::FailoverState,
    /// The coordinator of transactions across groups (`xa` mode).
    pub xa: crate::xa::Coordinator,
}

impl Shared {
    /// Shared state for `config`, each group writing to its first write host candidate.
    pub fn new(config: Config) -> Arc<Shared> {
        Shared::with_failover(config, crate::failover::FailoverState::new())
    }

    /// Shared state for `config`, with the write host decisions of `failover`.
    pub fn with_failover(config: Config, failover: crate::failover::FailoverState) -> Arc<Shared> {
        let version = config
            .server_version
            .clone()
            .unwrap_or_else(|| DEFAULT_SERVER_VERSION.into());
        let limits = &config.limits;
        let stmt_cache = StmtCache::new(limits.statement_cache_bytes);
        let login_brake = LoginBrake::new(
            limits.max_connect_errors,
            Duration::from_millis(limits.connect_errors_block_ms),
        );
        let xa = crate::xa::Coordinator::new(config.proxy_identity());
        let mut hosts = Vec::new();
        let table = RoutingTable::build(
            Arc::new(config),
            1,
            None,
            &|g| failover.active_for(g),
            &mut |addr, group| host_for(&mut hosts, addr, group),
        );
        Arc::new(Shared {
            table: ArcSwap::from_pointee(table),
            hosts: Mutex::new(hosts),
            reload_lock: Mutex::new(()),
            backend_ext_caps: AtomicU32::new(0),
            backend_version: AtomicU32::new(0),
            server_version: RwLock::new(version),
            stmt_cache,
            column_orders: Default::default(),
            sequences: Default::default(),
            registry: Mutex::new(HashMap::new()),
            next_conn_id: AtomicU64::new(1),
            admission: Admission::default(),
            login_brake,
            board: Default::default(),
            monitor: Mutex::new(None),
            failover,
            xa,
        })
    }

    /// The routing table in force now; keep it for the whole statement.
    pub fn table(&self) -> Arc<RoutingTable> {
        self.table.load_full()
    }

    /// The configuration in force now.
    pub fn config(&self) -> Arc<Config> {
        self.table.load().config.clone()
    }

    /// The default route of logical schema `schema` (or of no schema) in the table in force.
    pub fn route(&self, schema: Option<&str>, flags: ConnFlags) -> Result<Route, SqlError> {
        self.table.load().target(schema, None, Intent::Write, flags)
    }

    /// Drops the hosts `table` no longer routes to once none of their connections is
    /// open (a draining host closes its connections as they come back).
    fn forget_drained_hosts(&self, table: &RoutingTable) {
        if let Ok(mut hosts) = self.hosts.lock() {
            hosts.retain(|h| {
                table.hosts().any(|t| Arc::ptr_eq(t, h))
                    || h.pools().iter().any(|p| p.stats().open > 0)
            });
        }
    }

    /// Every pool of every host made so far.
    pub fn pools(&self) -> Vec<Arc<HostPool>> {
        self.hosts
            .lock()
            .map(|h| h.iter().flat_map(|h| h.pools()).collect())
            .unwrap_or_default()
    }

    /// Registers a new client connection and returns its id.
    pub fn register(&self, user: &str) -> (u64, Arc<ConnControl>) {
        let id = self.next_conn_id.fetch_add(1, Ordering::Relaxed);
        let control = Arc::new(ConnControl {
            user: Mutex::new(user.to_string()),
            killed: AtomicBool::new(false),
            wake: Notify::new(),
            running: Mutex::new(Vec::new()),
            activity: Mutex::new(crate::activity::Activity::default()),
            interrupt: tokio::sync::watch::Sender::new(None),
            backend_kills: Arc::default(),
        });
        if let Ok(mut r) = self.registry.lock() {
            r.insert(id, control.clone());
        }
        (id, control)
    }

    /// Removes a closed client connection.
    pub fn unregister(&self, id: u64) {
        if let Ok(mut r) = self.registry.lock() {
            r.remove(&id);
        }
    }

    /// Logged-in client connections now.
    pub fn client_count(&self) -> usize {
        self.admission.clients()
    }

    /// Connections in the handshake (not logged in yet) now.
    pub fn handshake_count(&self) -> usize {
        self.admission.handshakes()
    }
}

/// A running proxy; dropping it stops the listener (open sessions finish on their own).
#[derive(Debug)]
pub struct ProxyHandle {
    addr: SocketAddr,
    socket: Option<PathBuf>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    admin_addr: Option<SocketAddr>,
}

impl ProxyHandle {
    /// The address the MySQL listener is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Unix socket the MySQL listener is also bound to (`listen_socket`), if any.
    pub fn socket(&self) -> Option<&Path> {
        self.socket.as_deref()
    }

    /// Shared state (pools, registry), for status reporting and tests.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The address the HTTP status endpoint is bound to, if configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The configuration file `POST /reload` reads (the one the proxy was started from).
    pub fn set_config_path(&self, path: impl Into<PathBuf>) {
        self.shared.board.set_config_path(Some(path.into()));
    }

    /// Stops accepting connections, the status endpoint and the health monitor.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
        self.shared.stop_monitor();
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.stop();
        if let Some(path) = &self.socket {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Binds the listeners of `config` (TCP, and the Unix socket if configured) and serves
/// clients on the current tokio runtime.
pub async fn start(config: Config) -> io::Result<ProxyHandle> {
    let listener = TcpListener::bind(&config.listen).await?;
    let addr = listener.local_addr()?;
    let unix = match &config.listen_socket {
        Some(path) => Some((bind_unix(Path::new(path))?, PathBuf::from(path))),
        None => None,
    };
    let admin_listen = config.admin_http.as_ref().map(|a| a.listen.clone());
    // A corrupt or foreign decision file stops the start here, naming the file.
    let failover = crate::failover::FailoverState::load(&config)?;
    let shared = Shared::with_failover(config, failover);
    if let Some(dir) = shared.table().config.state_dir.clone() {
        // A decision log that cannot be read (another proxy's, corrupt) stops the start:
        // committing without it could contradict decisions it holds.
        shared.xa.open_log(Path::new(&dir))?;
    }
    shared
        .restore_placement()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    for problem in shared.recover_migrations().await {
        tracing::error!("{problem}");
    }
    let (stop, stop_rx) = watch::channel(false);
    let admin_addr = match admin_listen {
        Some(listen) => Some(
            crate::admin_http::start(&listen, shared.clone(), stop_rx.clone())
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("status endpoint {listen}: {e}")))?,
        ),
        None => None,
    };
    tokio::spawn(accept_loop(
        Listener::Tcp(listener),
        shared.clone(),
        stop_rx.clone(),
    ));
    let socket = unix.map(|(l, path)| {
        tokio::spawn(accept_loop(
            Listener::Unix(l),
            shared.clone(),
            stop_rx.clone(),
        ));
        path
    });
    if shared.xa.has_log() {
        // Branches a previous run left prepared are finished before long.
        tokio::spawn(crate::xa::recovery::run(shared.clone(), stop_rx.clone()));
    }
    tokio::spawn(maintenance(shared.clone(), stop_rx.clone()));
    shared.start_monitor();
    crate::failover::start_detector(&shared, stop_rx);
    learn_server_version(&shared).await;
    Ok(ProxyHandle {
        addr,
        socket,
        shared,
        stop,
        admin_addr,
    })
}

/// Binds the Unix socket at `path`. A socket file nobody accepts on (left by a process
/// that died) is replaced; a live one, or a file that is not a socket, is an error.
fn bind_unix(path: &Path) -> io::Result<UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{} is in use by another process", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    // Like mysqld's socket: any local user may connect; the MySQL login checks them.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777))?;
    Ok(listener)
}

/// A bound client listener.
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// The next client: its stream, and its address (`None` on the Unix socket).
    async fn accept(&self) -> io::Result<(Stream, Option<SocketAddr>)> {
        match self {
            Listener::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok((Stream::Tcp(s), Some(peer)))
            }
            Listener::Unix(l) => {
                let (s, _) = l.accept().await?;
                Ok((Stream::Unix(s), None))
            }
        }
    }
}

/// Copies the first backend's version string and MariaDB capabilities (unless a version
/// string is configured) and learns its version id: one attempt now, retries in the
/// background while the backend is unreachable.
async fn learn_server_version(shared: &Arc<Shared>) {
    if try_learn_server_version(shared).await {
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        for attempt in 0..600u64 {
            tokio::time::sleep(Duration::from_millis(200 * attempt.min(25) + 100)).await;
            if try_learn_server_version(&shared).await {
                return;
            }
        }
    });
}

async fn try_learn_server_version(shared: &Shared) -> bool {
    let Ok(route) = shared.route(None, ConnFlags::default()) else {
        return false;
    };
    // A connection of the pool (it stays there for the first client), so that learning the
    // version never opens a connection beyond the pool's budget.
    let vars =
        crate::state::SessionVars::new(None, crate::backend::conn::CONNECT_NAMES.into(), true);
    let Ok(conn) = route.pool.checkout(0, &vars).await else {
        return false;
    };
    let id = myshard_router::exec_comment::version_id(&conn.server_version).unwrap_or(0);
    shared.backend_version.store(id, Ordering::Release);
    if shared.config().server_version.is_some() {
        return true;
    }
    if let Ok(mut v) = shared.server_version.write() {
        *v = conn.server_version.clone();
    }
    shared.backend_ext_caps.store(
        conn.mariadb_ext_caps & crate::caps::MARIADB_EXT_METADATA,
        Ordering::Release,
    );
    true
}

async fn accept_loop(listener: Listener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Logged-in clients are counted at the end of the login; here only the
        // connections still in the handshake, so that silent sockets do not take the
        // slots of clients.
        let Some(handshake) = shared
            .admission
            .try_handshake(shared.config().limits.max_handshakes)
        else {
            tokio::spawn(refuse_at_once(stream, SqlError::too_many_connections()));
            continue;
        };
        tokio::spawn(Session::serve(shared.clone(), stream, peer, handshake));
    }
}

/// How long a refused connection may take to take its error.
const REFUSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Refuses a connection before the handshake with `e`, in the layout servers use before
/// the handshake (no SQLSTATE), and closes it: under a flood this costs one small write.
pub(crate) async fn refuse_at_once(mut stream: Stream, e: SqlError) {
    let mut out = Vec::new();
    let mut p = packet::err_payload(&e);
    p.drain(3..9);
    packet::frame(&mut out, 0, &p);
    let _ = tokio::time::timeout(REFUSE_TIMEOUT, stream.write_all(&out)).await;
}

async fn maintenance(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = stop.changed() => return,
        }
        let suppressed = shared
            .login_brake
            .take_suppressed(std::time::Instant::now());
        if suppressed > 0 {
            tracing::info!(suppressed, "{suppressed} more failed logins suppressed");
        }
        // Only hosts the routing table sends statements to are kept warm.
        let table = shared.table();
        for host in table.hosts() {
            if !host.state().serves() {
                continue;
            }
            for pool in host.pools() {
                pool.reap();
                pool.fill_min().await;
            }
        }
        shared.forget_drained_hosts(&table);
    }
}
