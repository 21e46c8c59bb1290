//! Backend connections give back the memory a large response made their read buffer grow
//! when they return to the pool (found by the soak: a pool of idle connections that had
//! relayed 300 KB rows held their buffers for good).

mod harness;

use anyhow::Result;
use harness::MariaDb;
use myshard_proxy::backend::HostPool;
use myshard_proxy::backend::conn::{ConnFlags, HostTarget};
use myshard_proxy::backend::pool::PoolSettings;
use myshard_proxy::state::SessionVars;
use std::time::Duration;

#[tokio::test]
async fn idle_connections_release_large_read_buffers() -> Result<()> {
    let db = MariaDb::start().await?;
    let pool = HostPool::new(
        HostTarget {
            addr: db.addr().into(),
            user: harness::MYSHARD_USER.into(),
            password: harness::MYSHARD_PASSWORD.into(),
            flags: ConnFlags::default(),
            connect_timeout: Duration::from_secs(5),
        },
        PoolSettings {
            min: 0,
            max: 1,
            idle_timeout: Duration::from_secs(600),
            check_after_idle: Duration::from_secs(600),
            checkout_timeout: Duration::from_secs(5),
            check_timeout: Duration::from_secs(5),
        },
    );
    let vars = SessionVars::new(None, "NAMES utf8mb4".into(), false);
    let mut conn = pool.checkout(1, &vars).await?;
    let thread = conn.thread_id;
    let rows = conn.query_rows("SELECT REPEAT('x', 1000000)").await?;
    assert_eq!(rows[0][0].as_ref().map(Vec::len), Some(1_000_000));
    assert!(
        conn.read_buffer_capacity() > 128 * 1024,
        "the big row went through the read buffer ({} bytes)",
        conn.read_buffer_capacity()
    );
    drop(conn);
    // max 1: the same connection comes back.
    let mut conn = pool.checkout(1, &vars).await?;
    assert_eq!(conn.thread_id, thread);
    assert!(
        conn.read_buffer_capacity() <= 128 * 1024,
        "idle connection kept a {} byte read buffer",
        conn.read_buffer_capacity()
    );
    // It still works.
    let rows = conn.query_rows("SELECT 7").await?;
    assert_eq!(rows[0][0].as_deref(), Some(&b"7"[..]));
    Ok(())
}
