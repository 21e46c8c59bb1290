//! The column order of sharded and global tables, learned from the home shard's
//! `information_schema` the first time an INSERT without a column list names the table, and
//! forgotten whenever a statement that may change columns (ALTER, CREATE, DROP, RENAME) runs.
//! Only tables listed in the configuration are kept, so its size is bounded by it.

use hashbrown::HashMap;
use std::sync::{Arc, Mutex};

/// The columns of one table, in order.
pub type Columns = Arc<[String]>;

/// Column orders by (logical schema, table).
#[derive(Debug, Default)]
pub struct ColumnOrders {
    map: Mutex<HashMap<(String, String), Columns>>,
}

impl ColumnOrders {
    /// The learned columns of `schema.table`, in order.
    pub fn get(&self, schema: &str, table: &str) -> Option<Arc<[String]>> {
        let map = self.map.lock().ok()?;
        map.get(&(schema.to_string(), table.to_string())).cloned()
    }

    /// Records the columns of `schema.table`.
    pub fn insert(&self, schema: &str, table: &str, columns: Arc<[String]>) {
        if let Ok(mut map) = self.map.lock() {
            map.insert((schema.to_string(), table.to_string()), columns);
        }
    }

    /// Forgets everything learned (a table's columns may have changed).
    pub fn clear(&self) {
        if let Ok(mut map) = self.map.lock() {
            map.clear();
        }
    }
}
