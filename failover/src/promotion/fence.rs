//! Fencing the old write host on the server: `SET GLOBAL read_only=ON`, bounded. The
//! statement waits for other sessions' table locks (and the host may be gone or hung), so
//! both the server-side lock wait and the whole attempt are bounded; the routing table's
//! fence is what keeps writes away in the meantime.

use std::time::Duration;

use crate::monitor::Login;
use crate::switch::Fence;

use super::server::Server;

/// Sets `read_only=ON` on `old` within `timeout` and reads its `@@gtid_current_pos`
/// (GTID hosts) once fenced.
pub async fn fence(old: &Login, timeout: Duration) -> (Fence, Option<String>) {
    match tokio::time::timeout(timeout, read_only_on(old, timeout)).await {
        Ok(Ok(position)) => (Fence::ReadOnly, position),
        Ok(Err(why)) => (Fence::NotReached(why), None),
        Err(_) => (
            Fence::NotReached(format!(
                "{}: read_only=ON not set within {} ms",
                old.addr,
                timeout.as_millis()
            )),
            None,
        ),
    }
}

async fn read_only_on(old: &Login, timeout: Duration) -> Result<Option<String>, String> {
    let mut server = Server::connect(old, timeout).await?;
    // Whole seconds, at least one: the server's own bound on waiting for table locks, so
    // that an abandoned attempt does not flip the host read-only much later.
    let lock_wait = timeout.as_secs().max(1);
    server
        .exec(&format!(
            "SET SESSION lock_wait_timeout={lock_wait}; SET GLOBAL read_only=ON"
        ))
        .await?;
    if !old.gtid {
        return Ok(None);
    }
    Ok(Some(server.var("gtid_current_pos").await?))
}

/// Sets `read_only=OFF` on `old` again (a switchover that could not complete), bounded.
pub async fn unfence(old: &Login, timeout: Duration) -> Result<(), String> {
    let mut server = Server::connect(old, timeout).await?;
    server.exec("SET GLOBAL read_only=OFF").await
}
