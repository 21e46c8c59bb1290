//! The proxy-wide prepared statement cache: after a statement text has been prepared once
//! for a schema, later COM_STMT_PREPAREs of it are answered from here without a backend
//! round trip. Each backend connection prepares it lazily at its first EXECUTE there.
//! The cache is bounded by bytes (`limits.statement_cache_bytes`).

use crate::backend::conn::ConnFlags;
use hashbrown::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

/// What a COM_STMT_PREPARE answered, shared by every session preparing the same text.
#[derive(Debug)]
pub struct StmtMeta {
    /// Proxy-wide statement id (backend connections map it to their own ids).
    pub global_id: u32,
    /// The statement text, as the client sent it.
    pub sql: Vec<u8>,
    /// Result columns.
    pub columns: u16,
    /// Parameters.
    pub params: u16,
    /// Parameter definition packets.
    pub param_defs: Vec<Vec<u8>>,
    /// Column definition packets.
    pub column_defs: Vec<Vec<u8>>,
    /// For statements of sharded (or renamed) schemas: the route, planned once.
    pub route: Option<Arc<myshard_router::shard::plan::ShardRoute>>,
    /// Transaction control (`BEGIN`, `COMMIT`, `ROLLBACK`) and `SELECT DATABASE()`, which
    /// the proxy handles itself.
    pub control: myshard_router::Kind,
    /// Introspection statements (`SHOW …`, information_schema queries) answered with
    /// logical schema names: how they run at execute time.
    pub introspection: Option<Arc<myshard_router::compat::Introspection>>,
}

/// Cache key: host object identity and connection flags (which shape the column
/// definitions), physical database, statement text.
type Key = (PoolId, Option<String>, Vec<u8>);

/// The connections a statement's metadata was learned on: the host object's identity
/// ([`crate::routing::Host::id`], never reused) and the connection flags.
pub type PoolId = (u64, ConnFlags);

/// Bytes an entry costs besides its texts and definitions (key, map slot, `StmtMeta`).
const ENTRY_OVERHEAD: usize = 256;

/// A cached statement and what keeping it costs.
#[derive(Debug)]
struct Entry {
    meta: Arc<StmtMeta>,
    bytes: usize,
    /// Tick of the last lookup or insert (least recently used entries go first).
    used: u64,
}

/// The entries and their total size.
#[derive(Debug, Default)]
struct Entries {
    map: HashMap<Key, Entry>,
    bytes: usize,
    clock: u64,
}

/// The cache, bounded by bytes: beyond the limit, least recently used entries are evicted,
/// those no client has open first. An evicted statement stays usable by the clients that
/// have it open (they hold its metadata); the next PREPARE of its text asks a backend again.
#[derive(Debug)]
pub struct StmtCache {
    entries: Mutex<Entries>,
    next_id: AtomicU32,
    max_bytes: usize,
}

impl Default for StmtCache {
    fn default() -> Self {
        Self::new(64 * 1024 * 1024)
    }
}

impl StmtCache {
    /// A cache keeping at most `max_bytes` of statements.
    pub fn new(max_bytes: usize) -> Self {
        StmtCache {
            entries: Mutex::new(Entries::default()),
            next_id: AtomicU32::new(0),
            max_bytes,
        }
    }

    /// Looks a statement up.
    pub fn get(&self, pool: PoolId, db: &Option<String>, sql: &[u8]) -> Option<Arc<StmtMeta>> {
        let mut guard = self.entries.lock().ok()?;
        let entries = &mut *guard;
        entries.clock += 1;
        let e = entries.map.get_mut(&(pool, db.clone(), sql.to_vec()))?;
        e.used = entries.clock;
        Some(e.meta.clone())
    }

    /// A fresh proxy-wide id.
    pub fn next_id(&self) -> u32 {
        self.next_id.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
    }

    /// Stores metadata learned from a backend, evicting others to stay within the limit
    /// (a statement larger than the whole limit is not kept).
    pub fn insert(&self, pool: PoolId, db: Option<String>, meta: Arc<StmtMeta>) {
        let bytes = entry_bytes(&meta, db.as_deref());
        if bytes > self.max_bytes {
            return;
        }
        let Ok(mut guard) = self.entries.lock() else {
            return;
        };
        let entries = &mut *guard;
        entries.clock += 1;
        let key = (pool, db, meta.sql.clone());
        let entry = Entry {
            meta,
            bytes,
            used: entries.clock,
        };
        if let Some(old) = entries.map.insert(key, entry) {
            entries.bytes -= old.bytes;
        }
        entries.bytes += bytes;
        if entries.bytes > self.max_bytes {
            // Down to 90 %: the sort of all entries is paid once per tenth of turnover,
            // not at every insert.
            evict(entries, self.max_bytes - self.max_bytes / 10);
        }
    }

    /// Bytes the cached statements take (estimated: texts, definitions, and a fixed
    /// overhead per entry).
    pub fn bytes(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.bytes)
    }

    /// Statements cached.
    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.map.len())
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Evicts entries until `entries` fit in `max_bytes`: first those no client has open,
/// then the others, least recently used first within each kind.
fn evict(entries: &mut Entries, max_bytes: usize) {
    let mut order: Vec<(bool, u64, Key)> = entries
        .map
        .iter()
        .map(|(k, e)| (Arc::strong_count(&e.meta) > 1, e.used, k.clone()))
        .collect();
    order.sort_unstable_by_key(|(held, used, _)| (*held, *used));
    for (_, _, key) in order {
        if entries.bytes <= max_bytes {
            break;
        }
        if let Some(e) = entries.map.remove(&key) {
            entries.bytes -= e.bytes;
        }
    }
}

/// What keeping `meta` costs: the text twice (key and metadata), the definitions, the
/// database name, and a fixed overhead.
fn entry_bytes(meta: &StmtMeta, db: Option<&str>) -> usize {
    let defs: usize = meta
        .param_defs
        .iter()
        .chain(meta.column_defs.iter())
        .map(|d| d.len() + std::mem::size_of::<Vec<u8>>())
        .sum();
    2 * meta.sql.len() + defs + db.map_or(0, str::len) + ENTRY_OVERHEAD
}
