//! The proxy-wide prepared statement cache: after a statement text has been prepared once
//! for a schema, later COM_STMT_PREPAREs of it are answered from here without a backend
//! round trip. Each backend connection prepares it lazily at its first EXECUTE there.

use crate::backend::HostPool;
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

/// Cache key: pool (host and connection flags, which shape the column definitions),
/// physical database, statement text.
type Key = (usize, Option<String>, Vec<u8>);

/// Entries kept before the cache is emptied and rebuilt (statements in use stay alive
/// through their sessions' `Arc`s).
const MAX_ENTRIES: usize = 20_000;

/// The cache.
#[derive(Debug, Default)]
pub struct StmtCache {
    map: Mutex<HashMap<Key, Arc<StmtMeta>>>,
    next_id: AtomicU32,
}

impl StmtCache {
    /// Looks a statement up.
    pub fn get(
        &self,
        pool: &Arc<HostPool>,
        db: &Option<String>,
        sql: &[u8],
    ) -> Option<Arc<StmtMeta>> {
        let map = self.map.lock().ok()?;
        map.get(&(pool_key(pool), db.clone(), sql.to_vec()))
            .cloned()
    }

    /// A fresh proxy-wide id.
    pub fn next_id(&self) -> u32 {
        self.next_id.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
    }

    /// Stores metadata learned from a backend.
    pub fn insert(&self, pool: &Arc<HostPool>, db: Option<String>, meta: Arc<StmtMeta>) {
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert((pool_key(pool), db, meta.sql.clone()), meta);
        }
    }
}

/// Pools live as long as the proxy, so their address identifies them.
fn pool_key(pool: &Arc<HostPool>) -> usize {
    Arc::as_ptr(pool) as usize
}
