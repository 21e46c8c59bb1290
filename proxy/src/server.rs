//! The listener and what all sessions share: configuration, backend pools, the prepared
//! statement cache, the registry of client connections (for KILL), and limits.

use crate::admission::Admission;
use crate::backend::conn::{ConnFlags, HostTarget};
use crate::backend::pool::{HostPool, PoolSettings};
use crate::error::SqlError;
use crate::login_brake::LoginBrake;
use crate::net::Stream;
use crate::packet;
use crate::session::Session;
use crate::stmt_cache::StmtCache;
use hashbrown::HashMap;
use myshard_config::{Config, SchemaTopology, Topology};
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

/// Where a session's statements go.
#[derive(Debug, Clone)]
pub struct Route {
    /// Group name.
    pub group: Arc<str>,
    /// Pool of the group's active write host.
    pub pool: Arc<HostPool>,
    /// Physical database, if a schema is selected.
    pub database: Option<String>,
}

/// A pool map key borrowed from a host name, to look a pool up without allocating. It
/// hashes like the owned key `(String, ConnFlags)`.
#[derive(Hash)]
struct PoolKey<'a>(&'a str, ConnFlags);

impl hashbrown::Equivalent<(String, ConnFlags)> for PoolKey<'_> {
    fn equivalent(&self, key: &(String, ConnFlags)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

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
    /// The configuration in force.
    pub config: Arc<Config>,
    /// Where every logical schema's physical databases live.
    pub topology: Topology,
    pools: Mutex<HashMap<(String, ConnFlags), Arc<HostPool>>>,
    /// The name of each configured group (same order as `config.groups`), shared by routes.
    group_names: Vec<Arc<str>>,
    /// Bumped whenever the routes computed so far may be stale (a changed write host or
    /// placement); sessions drop the routes they cached under an older value.
    route_generation: AtomicU64,
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
    /// Live client connections by proxy connection id.
    pub registry: Mutex<HashMap<u64, Arc<ConnControl>>>,
    next_conn_id: AtomicU64,
    /// Connections in the handshake, logged-in clients, open prepared statements.
    pub admission: Admission,
    /// Failed-login counts per address, and the limit on their log lines.
    pub login_brake: LoginBrake,
}

impl Shared {
    /// Shared state for `config`.
    pub fn new(config: Config) -> Arc<Shared> {
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
        let group_names = config
            .groups
            .iter()
            .map(|g| Arc::from(g.name.as_str()))
            .collect();
        Arc::new(Shared {
            topology: Topology::new(&config),
            config: Arc::new(config),
            pools: Mutex::new(HashMap::new()),
            group_names,
            route_generation: AtomicU64::new(0),
            backend_ext_caps: AtomicU32::new(0),
            backend_version: AtomicU32::new(0),
            server_version: RwLock::new(version),
            stmt_cache,
            registry: Mutex::new(HashMap::new()),
            next_conn_id: AtomicU64::new(1),
            admission: Admission::default(),
            login_brake,
        })
    }

    /// See [`Shared::invalidate_routes`].
    pub fn route_generation(&self) -> u64 {
        self.route_generation.load(Ordering::Acquire)
    }

    /// Makes sessions recompute the routes they cached (call after anything that changes
    /// where a schema's statements go: a write host switch, a placement change).
    pub fn invalidate_routes(&self) {
        self.route_generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The route for a session in logical schema `schema` (or none): its group (a sharded
    /// schema's home shard group) and the database connections there use.
    pub fn route(&self, schema: Option<&str>, flags: ConnFlags) -> Result<Route, SqlError> {
        match schema {
            Some(s) => match self
                .topology
                .schema(s)
                .ok_or_else(|| SqlError::unknown_db(s))?
            {
                SchemaTopology::Unsharded { group, database } => {
                    self.route_to(group, Some(database.clone()), flags)
                }
                SchemaTopology::Sharded(sh) => {
                    let group = sh.group_of(sh.home_shard).unwrap_or_default().to_string();
                    let database = self.group_database(s, &group);
                    self.route_to(&group, database, flags)
                }
            },
            None => {
                let g = self
                    .config
                    .groups
                    .first()
                    .ok_or_else(|| SqlError::internal("no groups configured"))?;
                self.route_to(&g.name, None, flags)
            }
        }
    }

    /// The route to `group_name`'s active write host, with `database` selected.
    pub fn route_to(
        &self,
        group_name: &str,
        database: Option<String>,
        flags: ConnFlags,
    ) -> Result<Route, SqlError> {
        let index = self
            .config
            .groups
            .iter()
            .position(|g| g.name == group_name)
            .ok_or_else(|| SqlError::internal(format!("group '{group_name}' is not configured")))?;
        let group = &self.config.groups[index];
        let host = myshard_failover::active_write_host(group)
            .ok_or_else(|| SqlError::internal(format!("group '{group_name}' has no write host")))?;
        let pool = self.pool(group, host, flags);
        Ok(Route {
            group: self.group_names[index].clone(),
            pool,
            database,
        })
    }

    /// The database backend connections of sharded schema `schema` select on `group`: the
    /// home shard's there, else the group's first shard. Statements name each table's shard
    /// database explicitly, so this stays the same whatever shard a statement targets and
    /// connections do not switch databases between statements.
    pub fn group_database(&self, schema: &str, group: &str) -> Option<String> {
        let Some(SchemaTopology::Sharded(sh)) = self.topology.schema(schema) else {
            return None;
        };
        let home = sh.home_shard;
        let shard = if sh.group_of(home) == Some(group) {
            Some(home)
        } else {
            sh.shards_of(group).next()
        };
        shard.and_then(|s| sh.database(s)).map(str::to_string)
    }

    fn pool(&self, group: &myshard_config::Group, host: &str, flags: ConnFlags) -> Arc<HostPool> {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = pools.get(&PoolKey(host, flags)) {
            return pool.clone();
        }
        // The pools of one host (one per set of flags) share its connection limit.
        let budget = pools
            .iter()
            .find(|((h, _), _)| h == host)
            .map(|(_, pool)| pool.budget().clone());
        pools
            .entry((host.to_string(), flags))
            .or_insert_with(|| {
                let p = &group.pool;
                HostPool::sharing(
                    HostTarget {
                        addr: Arc::from(host),
                        user: group.user.clone(),
                        password: group.password.clone(),
                        flags,
                        connect_timeout: Duration::from_millis(p.connect_timeout_ms),
                    },
                    PoolSettings {
                        min: p.min,
                        max: p.max,
                        idle_timeout: Duration::from_millis(p.idle_timeout_ms),
                        check_after_idle: Duration::from_millis(p.check_after_idle_ms),
                        checkout_timeout: Duration::from_millis(p.checkout_timeout_ms),
                        check_timeout: Duration::from_millis(p.check_timeout_ms.max(1)),
                    },
                    budget,
                )
            })
            .clone()
    }

    /// Every pool created so far.
    pub fn pools(&self) -> Vec<Arc<HostPool>> {
        self.pools
            .lock()
            .map(|p| p.values().cloned().collect())
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

    /// Stops accepting connections.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
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
    let shared = Shared::new(config);
    let (stop, stop_rx) = watch::channel(false);
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
    tokio::spawn(maintenance(shared.clone(), stop_rx));
    learn_server_version(&shared).await;
    Ok(ProxyHandle {
        addr,
        socket,
        shared,
        stop,
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
    if shared.config.server_version.is_some() {
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
            .try_handshake(shared.config.limits.max_handshakes)
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
        for pool in shared.pools() {
            pool.reap();
            pool.fill_min().await;
        }
    }
}
