//! Shared pieces of the end-to-end protocol tests: servers plus a proxy in front of them,
//! error helpers, and waiting for a condition instead of sleeping.

use super::MariaDb;
use super::proxy::{config_for, create_databases, start_proxy};
use anyhow::{Result, bail};
use myshard_config::Config;
use myshard_proxy::ProxyHandle;
use std::future::Future;
use std::time::{Duration, Instant};

/// Servers and the proxy in front of them (fields drop in order: proxy first).
pub struct Env {
    pub proxy: ProxyHandle,
    pub dbs: Vec<MariaDb>,
}

impl Env {
    /// `n` servers with schema `s{i}` → `s{i}_db` on group `g{i}`; `tweak` edits the
    /// configuration before the proxy starts.
    pub async fn start(n: usize, tweak: impl FnOnce(&mut Config)) -> Result<Env> {
        Self::start_groups(n, n, tweak).await
    }

    /// `servers` servers and `groups` groups, group `g{i}` (with schema `s{i}`) on server
    /// `i % servers`.
    pub async fn start_groups(
        servers: usize,
        groups: usize,
        tweak: impl FnOnce(&mut Config),
    ) -> Result<Env> {
        let dbs = MariaDb::start_many(servers).await?;
        let refs: Vec<&MariaDb> = (0..groups).map(|i| &dbs[i % servers]).collect();
        create_databases(&refs).await?;
        let mut config = config_for(&refs);
        tweak(&mut config);
        let proxy = start_proxy(config).await?;
        Ok(Env { proxy, dbs })
    }

    /// Open backend connections over all of the proxy's pools.
    pub fn open_backend_conns(&self) -> usize {
        self.proxy
            .shared()
            .pools()
            .iter()
            .map(|p| p.stats().open)
            .sum()
    }
}

/// The server error of a mysql_async result: (code, SQLSTATE, message).
pub fn server_err<T: std::fmt::Debug>(
    r: std::result::Result<T, mysql_async::Error>,
) -> Result<(u16, String, String)> {
    match r {
        Err(mysql_async::Error::Server(e)) => Ok((e.code, e.state, e.message)),
        Err(other) => bail!("expected a server error, got {other:?}"),
        Ok(v) => bail!("expected a server error, got success: {v:?}"),
    }
}

/// Polls `check` until it yields `Some`, failing after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
