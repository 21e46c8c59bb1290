//! The YAML model of a myshard configuration, exactly as written by the operator.
//!
//! Only shape and defaults live here; cross-field rules (unknown group names, duplicate
//! names, empty host lists, shard placement) are checked in `validate`.

use std::fmt;

use serde::Deserialize;

use crate::sharding::ShardSpec;

/// Shown instead of a password wherever a model value is formatted with `{:?}`.
const REDACTED: &str = "<redacted>";

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the MySQL protocol listener binds, e.g. `127.0.0.1:3307`.
    pub listen: String,
    /// Unix socket file the MySQL protocol listener also binds, for clients on the same
    /// machine (e.g. `/run/myshard/myshard.sock`; clients connect with `--socket`). A stale
    /// socket file left by a previous run is replaced; one in use is an error at start.
    #[serde(default)]
    pub listen_socket: Option<String>,
    /// Clients beyond this many concurrent connections are refused with error 1040.
    #[serde(default = "default_max_client_connections")]
    pub max_client_connections: usize,
    /// Largest client packet accepted, in bytes (MySQL's `max_allowed_packet`).
    #[serde(default = "default_max_allowed_packet")]
    pub max_allowed_packet: usize,
    /// How statements reaching several shards are merged.
    #[serde(default)]
    pub merge: Merge,
    /// Bounds on what one client may make the proxy hold or wait for.
    #[serde(default)]
    pub limits: Limits,
    /// Version string announced to clients before any backend has been reached.
    /// Once a backend answers, its own version string is used.
    #[serde(default)]
    pub server_version: Option<String>,
    /// The HTTP status endpoint (`/status`, `/metrics`, `/health`, `/reload`); off when
    /// absent.
    #[serde(default)]
    pub admin_http: Option<AdminHttp>,
    /// Directory where the proxy keeps what it decided at run time (each group's active
    /// write host after a switch, in `write_hosts.json`; the XA decision log; the placement of
    /// migrated shards and migrations in progress), so that a
    /// restarted proxy keeps it; none: decisions are not kept across restarts and migrations are refused. A reload
    /// cannot change it.
    #[serde(default)]
    pub state_dir: Option<String>,
    /// Names this cluster in the state directory's files, so that a file of another cluster
    /// is refused; none: the cluster is identified by its groups and their hosts. A reload
    /// cannot change it.
    #[serde(default)]
    pub cluster_name: Option<String>,
    /// Accounts clients log in with.
    pub users: Vec<User>,
    /// Replication groups of backend hosts.
    pub groups: Vec<Group>,
    /// Logical schemas clients can `USE`.
    pub schemas: Vec<Schema>,
    /// This proxy's identity in the XA transaction ids it creates (letters, digits, `_`,
    /// `-`, at most 20 characters); default `myshard`. Two proxies sharing backends need
    /// different identities.
    #[serde(default)]
    pub proxy_id: Option<String>,
}

/// The identity of a proxy without `proxy_id`.
pub const DEFAULT_PROXY_ID: &str = "myshard";

/// Longest accepted `proxy_id` (an XA gtrid holds it with a transaction number, 64 bytes
/// at most).
pub const MAX_PROXY_ID_CHARS: usize = 20;

impl Config {
    /// This proxy's identity in XA transaction ids.
    pub fn proxy_identity(&self) -> &str {
        self.proxy_id.as_deref().unwrap_or(DEFAULT_PROXY_ID)
    }

    /// The transaction mode `user`'s sessions start in.
    pub fn transaction_mode_of(&self, user: &User) -> TransactionMode {
        match user.transaction_mode {
            Some(m) => m,
            None if self.state_dir.is_some() => TransactionMode::Xa,
            None => TransactionMode::BestEffort,
        }
    }
}

/// Limits of cross-shard merging.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Merge {
    /// Backend connections one statement may use at once per group; a statement reaching
    /// more of a group's shards runs the rest one after another on those connections.
    #[serde(default = "default_connections_per_group")]
    pub connections_per_group: usize,
    /// Groups (GROUP BY, DISTINCT) one statement may hold while merging; more is an error.
    #[serde(default = "default_max_groups")]
    pub max_groups: usize,
    /// Bytes of rows one ORDER BY merge may buffer for shards queued behind another on the
    /// same backend connection (inside a transaction or pinned session); more is an error.
    #[serde(default = "default_max_buffered_bytes")]
    pub max_buffered_bytes: usize,
}

impl Default for Merge {
    fn default() -> Self {
        Merge {
            connections_per_group: default_connections_per_group(),
            max_groups: default_max_groups(),
            max_buffered_bytes: default_max_buffered_bytes(),
        }
    }
}

/// Bounds on what clients may make the proxy buffer, plan, hold or wait for. Every field has
/// a default; `0` in a `*_timeout_ms` field means no timeout.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest statement the router plans (sharded or renamed schemas), bytes; longer ones
    /// get an error naming the limit.
    pub max_statement_bytes: usize,
    /// Deepest expression the router walks (terms of one AND/OR/arithmetic chain plus
    /// nesting); deeper statements get error 1436 instead of overflowing the stack.
    pub max_expression_depth: usize,
    /// Connections still in the handshake (not logged in); more are refused at once. They do
    /// not count against `max_client_connections`.
    pub max_handshakes: usize,
    /// Time a connection has to complete the handshake and login, milliseconds.
    pub handshake_timeout_ms: u64,
    /// Time a client may take to send the rest of a packet it has started, milliseconds
    /// (MySQL's `net_read_timeout`).
    pub read_timeout_ms: u64,
    /// Prepared statements one client may hold open (MySQL error 1461 beyond it).
    pub max_prepared_statements_per_client: usize,
    /// Prepared statements all clients together may hold open (MySQL's
    /// `max_prepared_stmt_count`, error 1461 beyond it).
    pub max_prepared_statements: usize,
    /// Bytes of statement text and metadata the proxy-wide prepared-statement cache keeps;
    /// least recently used entries not in use are evicted beyond it.
    pub statement_cache_bytes: usize,
    /// Longest a statement may run on a backend before it is ended with error 1969,
    /// milliseconds (like `max_statement_time`: the backends are sent `KILL QUERY`, and only
    /// a backend that does not answer has its connection discarded); 0 = no limit. Users
    /// may override it.
    pub statement_timeout_ms: u64,
    /// Failed logins from one address in a row after which that address is refused
    /// (error 1129) for `connect_errors_block_ms`; 0 = never (MySQL's `max_connect_errors`).
    pub max_connect_errors: u32,
    /// How long an address stays blocked after `max_connect_errors` failed logins, ms.
    pub connect_errors_block_ms: u64,
    /// Distinct values an uncorrelated `IN (SELECT …)` over several shards may give when the
    /// proxy evaluates it first and writes its values into the statement; more is an error
    /// naming this setting.
    pub max_subquery_rows: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_statement_bytes: 16 * 1024 * 1024,
            max_expression_depth: 4_000,
            max_handshakes: 256,
            handshake_timeout_ms: 5_000,
            read_timeout_ms: 30_000,
            max_prepared_statements_per_client: 1_024,
            max_prepared_statements: 16_382,
            statement_cache_bytes: 64 * 1024 * 1024,
            statement_timeout_ms: 0,
            max_connect_errors: 100,
            connect_errors_block_ms: 60_000,
            max_subquery_rows: 10_000,
        }
    }
}

/// Default address of the HTTP status endpoint: loopback only, so that nothing outside the
/// machine reaches it unless the operator says so.
pub const DEFAULT_ADMIN_HTTP_LISTEN: &str = "127.0.0.1:9307";

/// The HTTP status endpoint. Its `Debug` output never shows the token.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AdminHttp {
    /// Address it binds (`ip:port`; default [`DEFAULT_ADMIN_HTTP_LISTEN`], loopback).
    #[serde(default = "default_admin_http_listen")]
    pub listen: String,
    /// Bearer token required by requests that change state (`POST /reload`); without one
    /// those requests are refused.
    #[serde(default)]
    pub token: Option<String>,
}

impl fmt::Debug for AdminHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminHttp")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| REDACTED))
            .finish()
    }
}

fn default_admin_http_listen() -> String {
    DEFAULT_ADMIN_HTTP_LISTEN.into()
}

fn default_connections_per_group() -> usize {
    16
}

fn default_max_groups() -> usize {
    1_000_000
}

fn default_max_buffered_bytes() -> usize {
    64 * 1024 * 1024
}

/// A client account of the proxy. Its `Debug` output never shows the password.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Plain-text password; the proxy needs it to verify both auth plugins.
    #[serde(default)]
    pub password: String,
    /// Logical schemas this user may use.
    pub schemas: Vec<String>,
    /// Server administration (SHUTDOWN, SET GLOBAL, GRANT, users, databases outside
    /// `schemas`, files on the server) is allowed only to administrators.
    #[serde(default)]
    pub admin: bool,
    /// Only reads are allowed (writes get error 1290/1142).
    #[serde(default)]
    pub read_only: bool,
    /// Whether writes may carry the `/* myshard: shard=N */` hint (reads may always).
    #[serde(default)]
    pub shard_hint_writes: bool,
    /// Overrides `limits.statement_timeout_ms` for this user (0 = no limit).
    #[serde(default)]
    pub statement_timeout_ms: Option<u64>,
    /// What this user's sessions read from read hosts at first (`SET myshard_consistency`
    /// changes it per session).
    #[serde(default)]
    pub consistency: Consistency,
    /// How this user's transactions that reach several groups commit at first (`SET
    /// myshard_transaction_mode` changes it per session). Absent: `xa` when `state_dir` is
    /// set (the decision log lives there), `best_effort` otherwise.
    #[serde(default)]
    pub transaction_mode: Option<TransactionMode>,
}

/// How a transaction that reaches several groups commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionMode {
    /// A transaction stays on one group: a statement that would bring a second group into
    /// it fails (and is not sent).
    Single,
    /// Each group commits on its own, one after another: a failure between two groups'
    /// commits leaves the transaction committed on some groups only.
    BestEffort,
    /// Two-phase commit with XA branches and the proxy's decision log: all groups commit
    /// or none does.
    Xa,
}

impl TransactionMode {
    /// The name used in configuration and in `SET myshard_transaction_mode`.
    pub fn name(self) -> &'static str {
        match self {
            TransactionMode::Single => "single",
            TransactionMode::BestEffort => "best_effort",
            TransactionMode::Xa => "xa",
        }
    }

    /// The mode named `name` (case-insensitive).
    pub fn parse(name: &str) -> Option<TransactionMode> {
        [
            TransactionMode::Single,
            TransactionMode::BestEffort,
            TransactionMode::Xa,
        ]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(name))
    }
}

/// What a session's autocommit reads may see when they go to a read host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consistency {
    /// Whatever the read host has applied (it may lag behind the session's own writes).
    #[default]
    Eventual,
    /// At least the session's own writes: a read host serves a read only once it has
    /// applied the session's last write to that group, else the write host does.
    ReadYourWrites,
}

impl Consistency {
    /// The name used in configuration and in `SET myshard_consistency`.
    pub fn name(self) -> &'static str {
        match self {
            Consistency::Eventual => "eventual",
            Consistency::ReadYourWrites => "read_your_writes",
        }
    }

    /// The mode named `name` (case-insensitive).
    pub fn parse(name: &str) -> Option<Consistency> {
        [Consistency::Eventual, Consistency::ReadYourWrites]
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }
}

/// A replication group: hosts that hold the same shards. Its `Debug` output never shows the
/// password.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Group name referenced by schemas.
    pub name: String,
    /// Account the proxy uses on this group's hosts.
    pub user: String,
    /// Password of that account.
    #[serde(default)]
    pub password: String,
    /// Candidates for the active write host, in priority order (`host:port`).
    pub write_hosts: Vec<String>,
    /// Replicas that serve reads: `'host:port'` (weight 1) or `{host: 'host:port', weight: N}`.
    #[serde(default)]
    pub read_hosts: Vec<ReadHost>,
    /// Which hosts serve reads (default: the write host only).
    #[serde(default)]
    pub read_policy: ReadPolicy,
    /// A replica lagging more than this (milliseconds, measured in whole seconds as the
    /// server reports it) stops serving reads until it has caught up; 0 = no bound.
    #[serde(default = "default_max_replica_lag_ms")]
    pub max_replica_lag_ms: u64,
    /// For sessions in `read_your_writes` mode: how long a read host may take to apply
    /// the session's last write before the read goes to the write host instead, ms
    /// (0 = never wait: such reads go to the write host until a heartbeat saw the write
    /// applied there).
    #[serde(default = "default_read_your_writes_max_wait_ms")]
    pub read_your_writes_max_wait_ms: u64,
    /// How the health monitor checks this group's hosts.
    #[serde(default)]
    pub heartbeat: Heartbeat,
    /// Whether the hosts are MariaDB servers with GTID positions (`@@gtid_current_pos`,
    /// `SHOW ALL SLAVES STATUS`); off for servers without them.
    #[serde(default = "default_gtid")]
    pub gtid: bool,
    /// Backend connection pool settings for each host of this group.
    #[serde(default)]
    pub pool: Pool,
    /// Whether and how the group's write host is switched when it fails.
    #[serde(default)]
    pub failover: Failover,
}

/// A read host of a group and its share of the reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "ReadHostForm")]
pub struct ReadHost {
    /// `host:port` or `unix:/path`.
    pub host: String,
    /// Relative share of the reads sent to the group's read hosts (default 1).
    pub weight: u32,
}

impl From<&str> for ReadHost {
    fn from(host: &str) -> ReadHost {
        ReadHost {
            host: host.to_owned(),
            weight: 1,
        }
    }
}

/// The two ways a read host may be written.
#[derive(Deserialize)]
#[serde(untagged)]
enum ReadHostForm {
    Plain(String),
    Weighted(WeightedReadHost),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightedReadHost {
    host: String,
    #[serde(default = "default_weight")]
    weight: u32,
}

fn default_weight() -> u32 {
    1
}

impl From<ReadHostForm> for ReadHost {
    fn from(form: ReadHostForm) -> ReadHost {
        match form {
            ReadHostForm::Plain(host) => ReadHost { host, weight: 1 },
            ReadHostForm::Weighted(w) => ReadHost {
                host: w.host,
                weight: w.weight,
            },
        }
    }
}

/// Which hosts of a group serve autocommit reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadPolicy {
    /// The write host only (Mycat `balance: 0`).
    #[default]
    Primary,
    /// Read hosts only; no read host serving is an error (Mycat `balance: 3`).
    Replicas,
    /// Read hosts, the write host when none serves (Mycat `balance: 2` without the
    /// write host in the rotation).
    ReplicasThenPrimary,
    /// Read hosts and the write host together, by weight (Mycat `balance: 1`/`2`).
    All,
}

/// How the health monitor checks a group's hosts; a host changes state only after
/// `fall` failed or `rise` good checks in a row.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Heartbeat {
    /// Whether the hosts are checked at all; without checks they stay serving unless a
    /// reload (or a failover) changes them.
    pub enabled: bool,
    /// Time between two checks of one host, milliseconds.
    pub interval_ms: u64,
    /// Time one check (connect and queries) may take before it counts as failed, ms.
    pub timeout_ms: u64,
    /// Failed checks in a row that mark a host down.
    pub fall: u32,
    /// Good checks in a row that bring a host back into service.
    pub rise: u32,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat {
            enabled: true,
            interval_ms: 1_000,
            timeout_ms: 1_000,
            fall: 3,
            rise: 2,
        }
    }
}

fn default_max_replica_lag_ms() -> u64 {
    10_000
}

fn default_read_your_writes_max_wait_ms() -> u64 {
    500
}

fn default_gtid() -> bool {
    true
}

/// When a group's write host is switched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailoverMode {
    /// Never: a dead write host leaves the group without one until an operator acts.
    #[default]
    Off,
    /// Only on an operator's command (`myshard switch`, `POST /switch`).
    Manual,
    /// On its own once the write host is found dead, and on command.
    Automatic,
}

/// How a group's write host is switched. Its `Debug` output never shows the password.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Failover {
    /// When switches happen.
    pub mode: FailoverMode,
    /// On: the chosen replica is promoted (made writable, the other replicas repointed to
    /// it). Off: the switch goes to the next write host candidate that is already writable.
    pub promotion: bool,
    /// Least time between two automatic switches of the group, milliseconds.
    pub min_interval_ms: u64,
    /// How long statements for the group wait while its write host is switched, ms.
    pub max_hold_ms: u64,
    /// Account replicas use to replicate from a promoted host (default: the group's).
    pub replication_user: Option<String>,
    /// Its password.
    pub replication_password: Option<String>,
    /// Automatic promotion only when the group runs semi-synchronous replication.
    pub require_semi_sync: bool,
}

impl Default for Failover {
    fn default() -> Self {
        Failover {
            mode: FailoverMode::Off,
            promotion: true,
            min_interval_ms: 60_000,
            max_hold_ms: 10_000,
            replication_user: None,
            replication_password: None,
            require_semi_sync: false,
        }
    }
}

impl fmt::Debug for Failover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failover")
            .field("mode", &self.mode)
            .field("promotion", &self.promotion)
            .field("min_interval_ms", &self.min_interval_ms)
            .field("max_hold_ms", &self.max_hold_ms)
            .field("replication_user", &self.replication_user)
            .field("replication_password", &REDACTED)
            .field("require_semi_sync", &self.require_semi_sync)
            .finish()
    }
}

/// Backend connection pool settings, per host.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Pool {
    /// Connections opened at start and kept open.
    pub min: usize,
    /// Hard upper bound of connections to one host.
    pub max: usize,
    /// Time allowed to open one backend connection, milliseconds.
    pub connect_timeout_ms: u64,
    /// Idle connections above `min` are closed after this long, milliseconds.
    pub idle_timeout_ms: u64,
    /// A connection idle for longer than this is pinged before it is handed out, milliseconds.
    pub check_after_idle_ms: u64,
    /// How long a statement waits for a free connection when the pool is full, milliseconds.
    pub checkout_timeout_ms: u64,
    /// How long the liveness check of an idle connection (and the session-state replay
    /// before a statement) may take before the connection is discarded, milliseconds.
    pub check_timeout_ms: u64,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            min: 0,
            max: 64,
            connect_timeout_ms: 3_000,
            idle_timeout_ms: 600_000,
            check_after_idle_ms: 5_000,
            checkout_timeout_ms: 10_000,
            check_timeout_ms: 2_000,
        }
    }
}

/// A logical schema, either unsharded or sharded.
///
/// - Unsharded: `group` is set; the schema lives in one physical database (`database`,
///   defaulting to the name) on that group.
/// - Sharded: `shards` and `placement` are set; the schema is split over `shards` pre-split
///   physical databases named by the `database` pattern (default
///   [`DEFAULT_DATABASE_PATTERN`](crate::DEFAULT_DATABASE_PATTERN)), each held by the group
///   `placement` assigns it to. `tables` says how each table is spread; tables not listed
///   live on the home shard.
///
/// Which fields may be combined is checked by validation; [`Topology`](crate::Topology)
/// gives the resolved view.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Name clients use (`USE shop`).
    pub name: String,
    /// Group holding an unsharded schema; `None` for a sharded one.
    #[serde(default)]
    pub group: Option<String>,
    /// Unsharded: the physical database name (defaults to the logical name). Sharded: the
    /// physical database name pattern, with `{schema}`, `{shard}` and `{shard:0W}`
    /// placeholders.
    #[serde(default)]
    pub database: Option<String>,
    /// Sharded: the number of shards, fixed at creation (1 to 65536).
    #[serde(default)]
    pub shards: Option<u32>,
    /// Sharded: which group holds which shards; every shard exactly once.
    #[serde(default)]
    pub placement: Option<Vec<Placement>>,
    /// Sharded: the shard holding tables not listed in `tables` (default 0).
    #[serde(default)]
    pub home_shard: Option<u32>,
    /// Sharded: whether UPDATE/DELETE without the shard key may go to every shard
    /// (default false); tables may override it.
    #[serde(default)]
    pub allow_full_scan_writes: Option<bool>,
    /// Sharded: sharded and global tables.
    #[serde(default)]
    pub tables: Vec<Table>,
}

/// One entry of a sharded schema's `placement`: `group` holds `shards`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// The group holding these shards.
    pub group: String,
    /// The shards, e.g. `"0-7"`, `"0-3,8,10-11"`, `5` or `[0, 1, 2]`.
    pub shards: ShardSpec,
}

/// A table of a sharded schema: sharded on `shard_key`, or global (`global: true`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// Table name, as clients write it.
    pub name: String,
    /// Column whose value picks the shard of a row (sharded tables).
    #[serde(default)]
    pub shard_key: Option<String>,
    /// The key column's type as written (sharded tables; default `integer`): `integer`,
    /// `string`, `date`, `decimal(P,S)` or `datetime(F)`. Checked by validation and resolved
    /// by [`KeyType::parse`](crate::KeyType::parse).
    #[serde(default)]
    pub key_type: Option<String>,
    /// Collation string keys are compared under (key_type string only; default
    /// utf8mb4_general_ci).
    #[serde(default)]
    pub collation: Option<String>,
    /// Overrides the schema's `allow_full_scan_writes` for this table (sharded tables).
    #[serde(default)]
    pub allow_full_scan_writes: Option<bool>,
    /// A small table copied to every shard: reads stay local, writes go to every shard.
    #[serde(default)]
    pub global: bool,
    /// A global sequence the proxy assigns to a key column of the table (INSERTs that omit
    /// it or pass NULL or 0).
    #[serde(default)]
    pub sequence: Option<Sequence>,
}

/// How the proxy numbers a table's key column: `schemas[].tables[].sequence`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Sequence {
    /// The column the proxy assigns (often the shard key).
    pub column: String,
    /// Where the numbers come from.
    pub kind: SequenceKind,
    /// Segment: the group holding the sequence table (default: the group of the schema's
    /// home shard).
    #[serde(default)]
    pub group: Option<String>,
    /// Segment: the database of the sequence table `myshard_sequences` (created if missing).
    #[serde(default = "default_sequence_database")]
    pub database: String,
    /// Segment: how many numbers one reservation takes (default 1000).
    #[serde(default = "default_sequence_block")]
    pub block_size: u64,
    /// Time: this proxy's instance id, 0 to 1023, different on every proxy of the cluster.
    #[serde(default)]
    pub instance_id: Option<u32>,
    /// Time: the epoch, milliseconds since 1970-01-01 UTC (default 2024-01-01).
    #[serde(default = "default_sequence_epoch")]
    pub epoch_ms: u64,
    /// Time: how long an insert waits for a clock that went back before failing (ms).
    #[serde(default = "default_clock_wait")]
    pub max_clock_wait_ms: u64,
}

/// The kinds of global sequence.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SequenceKind {
    /// Blocks of numbers reserved from a table on a group.
    Segment,
    /// Milliseconds since an epoch, the proxy's instance id and a counter.
    Time,
}

fn default_sequence_database() -> String {
    "myshard".into()
}

fn default_sequence_block() -> u64 {
    1000
}

fn default_sequence_epoch() -> u64 {
    // 2024-01-01T00:00:00Z
    1_704_067_200_000
}

fn default_clock_wait() -> u64 {
    1000
}

impl Config {
    /// The account named `name` (case-sensitive).
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|user| user.name == name)
    }

    /// The logical schema named `name`; case-sensitive, like MySQL database names on Linux.
    pub fn schema(&self, name: &str) -> Option<&Schema> {
        self.schemas.iter().find(|schema| schema.name == name)
    }

    /// The replication group named `name` (case-sensitive).
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|group| group.name == name)
    }

    /// The resolved topology: where each schema's physical databases live and how its
    /// tables are spread. Builds it anew on every call; keep the result.
    pub fn topology(&self) -> crate::Topology {
        crate::Topology::new(self)
    }
}

impl User {
    /// A user with a password and schemas, and every other setting at its default (not an
    /// administrator, writes allowed, no shard hints for writes, the global statement timeout).
    pub fn new(name: &str, password: &str, schemas: &[&str]) -> User {
        User {
            name: name.into(),
            password: password.into(),
            schemas: schemas.iter().map(|s| s.to_string()).collect(),
            admin: false,
            read_only: false,
            shard_hint_writes: false,
            statement_timeout_ms: None,
            consistency: Consistency::Eventual,
            transaction_mode: None,
        }
    }

    /// Whether this user may use logical schema `schema`; the entry `*` allows every schema.
    pub fn may_use(&self, schema: &str) -> bool {
        self.schemas
            .iter()
            .any(|allowed| allowed == "*" || allowed == schema)
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("password", &REDACTED)
            .field("schemas", &self.schemas)
            .finish()
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("name", &self.name)
            .field("user", &self.user)
            .field("password", &REDACTED)
            .field("write_hosts", &self.write_hosts)
            .field("read_hosts", &self.read_hosts)
            .field("read_policy", &self.read_policy)
            .field("max_replica_lag_ms", &self.max_replica_lag_ms)
            .field(
                "read_your_writes_max_wait_ms",
                &self.read_your_writes_max_wait_ms,
            )
            .field("heartbeat", &self.heartbeat)
            .field("gtid", &self.gtid)
            .field("pool", &self.pool)
            .field("failover", &self.failover)
            .finish()
    }
}

impl Group {
    /// A group `name` whose hosts the proxy logs in to as `user` with `password`, taking
    /// writes on `write_hosts`, with no read host and every other setting at its default.
    pub fn new(name: &str, user: &str, password: &str, write_hosts: &[&str]) -> Group {
        Group {
            name: name.to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
            write_hosts: write_hosts.iter().map(|h| h.to_string()).collect(),
            read_hosts: Vec::new(),
            read_policy: ReadPolicy::default(),
            max_replica_lag_ms: default_max_replica_lag_ms(),
            read_your_writes_max_wait_ms: default_read_your_writes_max_wait_ms(),
            heartbeat: Heartbeat::default(),
            gtid: default_gtid(),
            pool: Pool::default(),
            failover: Failover::default(),
        }
    }
}

impl Schema {
    /// An unsharded schema `name` in `database` (default: `name`) on `group`.
    pub fn unsharded(name: &str, group: &str, database: Option<&str>) -> Schema {
        Schema {
            name: name.to_owned(),
            group: Some(group.to_owned()),
            database: database.map(str::to_owned),
            shards: None,
            placement: None,
            home_shard: None,
            allow_full_scan_writes: None,
            tables: Vec::new(),
        }
    }

    /// Whether the schema is sharded (it sets `shards` or `placement`).
    pub fn is_sharded(&self) -> bool {
        self.shards.is_some() || self.placement.is_some()
    }

    /// The physical database of an unsharded schema: `database`, or the logical name.
    /// For a sharded schema this is the name pattern, not a database; use
    /// [`Topology`](crate::Topology) for shard databases.
    pub fn physical_database(&self) -> &str {
        self.database.as_deref().unwrap_or(&self.name)
    }
}

fn default_max_client_connections() -> usize {
    10_000
}

fn default_max_allowed_packet() -> usize {
    64 * 1024 * 1024
}
