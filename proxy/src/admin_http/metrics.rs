//! Counters the data path bumps (lock-free atomics: a statement pays a few relaxed adds) and
//! their rendering in the Prometheus text format, together with gauges read from the routing
//! table (hosts, pools) at scrape time.

use crate::routing::RoutingTable;
use crate::server::Shared;
use myshard_failover::HostState;
use std::fmt::Write;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// Where a statement of a sharded schema went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// Exactly one shard.
    SingleShard,
    /// A read over several shards, merged.
    Scatter,
    /// A write to several shards, one after the other.
    Broadcast,
    /// Refused by the router (no shard could be chosen, or a rule forbids it).
    Refused,
    /// Passed through unplanned to one group: statements of unsharded schemas (or with no
    /// schema), and those of sharded schemas naming no sharded table.
    Passthrough,
}

const ROUTES: [(RouteKind, &str); 5] = [
    (RouteKind::SingleShard, "single_shard"),
    (RouteKind::Scatter, "scatter"),
    (RouteKind::Broadcast, "broadcast"),
    (RouteKind::Refused, "refused"),
    (RouteKind::Passthrough, "passthrough"),
];

/// Client commands counted by name; everything else is `other`.
const COMMANDS: [(u8, &str); 6] = [
    (0x03, "query"),
    (0x16, "prepare"),
    (0x17, "execute"),
    (0x0E, "ping"),
    (0x02, "init_db"),
    (0x00, "other"),
];

/// Upper bounds of the latency histogram's buckets, seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Distinct error codes counted separately; more distinct codes share the `code="other"` row.
const ERROR_SLOTS: usize = 128;

/// Counts per MySQL error number, lock-free: (code, count) slots claimed by
/// compare-and-swap of the code (0 = free); more distinct codes than slots share `other`.
#[derive(Debug)]
struct CodeCounts {
    codes: [AtomicU32; ERROR_SLOTS],
    counts: [AtomicU64; ERROR_SLOTS],
    other: AtomicU64,
}

impl Default for CodeCounts {
    fn default() -> Self {
        CodeCounts {
            codes: std::array::from_fn(|_| AtomicU32::new(0)),
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            other: AtomicU64::new(0),
        }
    }
}

impl CodeCounts {
    fn add(&self, code: u16) {
        let code = u32::from(code) + 1; // 0 marks a free slot
        let start = (code as usize * 31) % ERROR_SLOTS;
        for n in 0..ERROR_SLOTS {
            let i = (start + n) % ERROR_SLOTS;
            let slot = &self.codes[i];
            let taken = match slot.compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => true,
                Err(existing) => existing == code,
            };
            if taken {
                self.counts[i].fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        self.other.fetch_add(1, Ordering::Relaxed);
    }

    /// One series per code seen, then `code="other"`.
    fn render(&self, out: &mut String, name: &str) {
        for i in 0..ERROR_SLOTS {
            let code = self.codes[i].load(Ordering::Acquire);
            if code != 0 {
                let v = self.counts[i].load(Ordering::Relaxed);
                let _ = writeln!(out, "{name}{{code=\"{}\"}} {v}", code - 1);
            }
        }
        let other = self.other.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}{{code=\"other\"}} {other}");
    }
}

/// The proxy's counters.
#[derive(Debug)]
pub struct Metrics {
    /// [read, write] × route.
    statements: [[AtomicU64; ROUTES.len()]; 2],
    commands: [AtomicU64; COMMANDS.len()],
    /// Non-cumulative bucket counts; the last one is +Inf.
    latency: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_sum_us: AtomicU64,
    /// Errors the proxy sent clients.
    errors: CodeCounts,
    /// Errors backends answered statements with, relayed to clients.
    backend_errors: CodeCounts,
    /// Reads sent again to another host after their host failed before answering.
    read_retries: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            statements: Default::default(),
            commands: Default::default(),
            latency: Default::default(),
            latency_sum_us: AtomicU64::new(0),
            errors: CodeCounts::default(),
            backend_errors: CodeCounts::default(),
            read_retries: AtomicU64::new(0),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// A statement of a sharded schema was routed (`read`: it only reads).
    pub fn statement(&self, read: bool, route: RouteKind) {
        let r = ROUTES.iter().position(|(k, _)| *k == route).unwrap_or(0);
        self.statements[usize::from(!read)][r].fetch_add(1, Ordering::Relaxed);
    }

    /// A client command (first payload byte `command`) was answered after `took`.
    pub fn command(&self, command: Option<u8>, took: Duration) {
        let i = COMMANDS
            .iter()
            .position(|(c, _)| Some(*c) == command)
            .unwrap_or(COMMANDS.len() - 1);
        self.commands[i].fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        let b = LATENCY_BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.latency[b].fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// The proxy sent the client an error with MySQL error number `code`.
    pub fn error(&self, code: u16) {
        self.errors.add(code);
    }

    /// A backend answered a statement with error number `code` (relayed to the client).
    pub fn backend_error(&self, code: u16) {
        self.backend_errors.add(code);
    }

    /// A read was sent again to another host.
    pub fn read_retry(&self) {
        self.read_retries.fetch_add(1, Ordering::Relaxed);
    }

    /// A reload ended (`ok`: put in force).
    pub fn reload(&self, ok: bool) {
        let c = if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Writes a metric's `# HELP` and `# TYPE` lines.
fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value (backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

const STATES: [HostState; 5] = [
    HostState::Up,
    HostState::Down,
    HostState::CatchingUp,
    HostState::Draining,
    HostState::Fenced,
];

/// Every metric, in the Prometheus text exposition format (version 0.0.4).
pub fn render(shared: &Shared) -> String {
    let m = &shared.board.metrics;
    let mut out = String::with_capacity(8 * 1024);
    head(
        &mut out,
        "myshard_statements_total",
        "counter",
        "Statements by kind (read/write) and route.",
    );
    for (k, kind) in ["read", "write"].iter().enumerate() {
        for (r, (_, route)) in ROUTES.iter().enumerate() {
            let v = m.statements[k][r].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "myshard_statements_total{{kind=\"{kind}\",route=\"{route}\"}} {v}"
            );
        }
    }
    head(
        &mut out,
        "myshard_commands_total",
        "counter",
        "Client commands answered, by command.",
    );
    for (i, (_, name)) in COMMANDS.iter().enumerate() {
        let v = m.commands[i].load(Ordering::Relaxed);
        let _ = writeln!(out, "myshard_commands_total{{command=\"{name}\"}} {v}");
    }
    head(
        &mut out,
        "myshard_command_duration_seconds",
        "histogram",
        "Time from reading a client command to finishing its answer.",
    );
    let mut cumulative = 0u64;
    for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
        cumulative += m.latency[i].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "myshard_command_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
        );
    }
    cumulative += m.latency[LATENCY_BUCKETS.len()].load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "myshard_command_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
    );
    let sum = m.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
    let _ = writeln!(out, "myshard_command_duration_seconds_sum {sum}");
    let _ = writeln!(out, "myshard_command_duration_seconds_count {cumulative}");
    head(
        &mut out,
        "myshard_errors_total",
        "counter",
        "Error packets the proxy itself sent clients, by MySQL error number.",
    );
    m.errors.render(&mut out, "myshard_errors_total");
    head(
        &mut out,
        "myshard_backend_errors_total",
        "counter",
        "Error packets backends answered statements with, by MySQL error number.",
    );
    m.backend_errors
        .render(&mut out, "myshard_backend_errors_total");
    head(
        &mut out,
        "myshard_read_retries_total",
        "counter",
        "Reads sent again to another host after theirs failed before answering.",
    );
    let retries = m.read_retries.load(Ordering::Relaxed);
    let _ = writeln!(out, "myshard_read_retries_total {retries}");
    head(
        &mut out,
        "myshard_reloads_total",
        "counter",
        "Configuration reloads (SIGHUP or POST /reload) by result.",
    );
    for (result, c) in [("ok", &m.reloads_ok), ("failed", &m.reloads_failed)] {
        let v = c.load(Ordering::Relaxed);
        let _ = writeln!(out, "myshard_reloads_total{{result=\"{result}\"}} {v}");
    }
    head(
        &mut out,
        "myshard_client_sessions",
        "gauge",
        "Logged-in client connections.",
    );
    let _ = writeln!(out, "myshard_client_sessions {}", shared.client_count());
    head(
        &mut out,
        "myshard_routing_table_epoch",
        "gauge",
        "Epoch of the routing table in force (raised by every reload).",
    );
    let table = shared.table();
    let _ = writeln!(out, "myshard_routing_table_epoch {}", table.epoch);
    render_hosts(&mut out, &table);
    super::switch_routes::render_failover(&mut out, shared);
    crate::migration::progress::write_metrics(shared, &mut out);
    out
}

/// Host states and pool gauges, one series per host of each group.
fn render_hosts(out: &mut String, table: &RoutingTable) {
    let hosts: Vec<_> = table
        .groups()
        .iter()
        .flat_map(|g| {
            let write = g.write.iter().map(move |h| (g, h, "write"));
            let reads = g.reads.iter().map(move |h| (g, h, "read"));
            write.chain(reads)
        })
        .collect();
    head(
        out,
        "myshard_host_state",
        "gauge",
        "1 for the state each host is in, 0 for the others.",
    );
    for (g, h, role) in &hosts {
        let now = h.state();
        for s in STATES {
            let _ = writeln!(
                out,
                "myshard_host_state{{group=\"{}\",host=\"{}\",role=\"{role}\",state=\"{}\"}} {}",
                label(&g.name),
                label(h.addr()),
                s.name().replace(' ', "_"),
                u8::from(s == now)
            );
        }
    }
    head(
        out,
        "myshard_host_reads_total",
        "counter",
        "Reads routed as such (autocommit reads) sent to each host.",
    );
    for (g, h, role) in &hosts {
        let _ = writeln!(
            out,
            "myshard_host_reads_total{{group=\"{}\",host=\"{}\",role=\"{role}\"}} {}",
            label(&g.name),
            label(h.addr()),
            h.reads()
        );
    }
    let pools: Vec<_> = hosts
        .iter()
        .map(|(g, h, role)| (g, h, role, super::status::PoolUsage::of(h)))
        .collect();
    type Gauge = (
        &'static str,
        &'static str,
        &'static str,
        fn(&super::status::PoolUsage) -> u64,
    );
    let gauges: [Gauge; 5] = [
        (
            "myshard_pool_open_connections",
            "gauge",
            "Backend connections open to the host, idle or in use.",
            |p| p.open as u64,
        ),
        (
            "myshard_pool_idle_connections",
            "gauge",
            "Idle backend connections to the host.",
            |p| p.idle as u64,
        ),
        (
            "myshard_pool_max_connections",
            "gauge",
            "The host's connection limit (pool.max).",
            |p| p.max as u64,
        ),
        (
            "myshard_pool_checkout_waits_total",
            "counter",
            "Checkouts that found the host at its limit and queued.",
            |p| p.waits,
        ),
        (
            "myshard_pool_checkout_timeouts_total",
            "counter",
            "Queued checkouts that got no connection within checkout_timeout (error 1040).",
            |p| p.wait_timeouts,
        ),
    ];
    for (name, kind, help, value) in gauges {
        head(out, name, kind, help);
        for (g, h, role, p) in &pools {
            let _ = writeln!(
                out,
                "{name}{{group=\"{}\",host=\"{}\",role=\"{role}\"}} {}",
                label(&g.name),
                label(h.addr()),
                value(p)
            );
        }
    }
}

/// Whether a passed-through statement only reads, by its first keyword (a cheap guess for
/// counting: no lexer pass on the statement path).
pub fn reads_by_keyword(sql: &[u8]) -> bool {
    let start = sql
        .iter()
        .position(|b| !b.is_ascii_whitespace() && *b != b'(')
        .unwrap_or(sql.len());
    let word: Vec<u8> = sql[start..]
        .iter()
        .take_while(|b| b.is_ascii_alphabetic())
        .map(u8::to_ascii_uppercase)
        .collect();
    matches!(
        word.as_slice(),
        b"SELECT" | b"SHOW" | b"DESC" | b"DESCRIBE" | b"EXPLAIN" | b"WITH" | b"TABLE" | b"VALUES"
    )
}

#[cfg(test)]
mod tests {
    use super::reads_by_keyword;

    #[test]
    fn first_keyword_tells_reads() {
        assert!(reads_by_keyword(b"  select 1"));
        assert!(reads_by_keyword(b"(SELECT 1) UNION (SELECT 2)"));
        assert!(reads_by_keyword(b"show tables"));
        assert!(!reads_by_keyword(b"INSERT INTO t VALUES (1)"));
        assert!(!reads_by_keyword(b"selected"));
        assert!(!reads_by_keyword(b""));
    }
}
