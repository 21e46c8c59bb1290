//! The promoter of `promotion: false` groups: the switch goes to the first candidate (or
//! the operator's target) that answers and is already writable (`read_only=OFF`); nothing
//! is changed on it. The old write host is then fenced on the server with
//! `read_only=ON`, bounded by the request's fence timeout (a dead or hung host is left to
//! the routing table's fence).

use myshard_failover::monitor::Login;
use myshard_failover::switch::PromotionFuture;
use myshard_failover::{Fence, Promoter, Promotion, PromotionRequest};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};
use std::time::Duration;

/// How long a candidate may take to answer whether it is writable.
const CANDIDATE_TIMEOUT: Duration = Duration::from_secs(2);

/// Switches to a candidate that is already writable.
#[derive(Debug, Clone, Copy, Default)]
pub struct WritableCandidate;

impl Promoter for WritableCandidate {
    fn promote<'a>(&'a self, request: &'a PromotionRequest) -> PromotionFuture<'a> {
        Box::pin(async move {
            let candidates: Vec<&Login> = match &request.target {
                Some(t) => request.candidates.iter().filter(|c| &c.addr == t).collect(),
                None => request.candidates.iter().collect(),
            };
            if candidates.is_empty() {
                return Err(match &request.target {
                    Some(t) => format!("{t} is not a candidate of group '{}'", request.group),
                    None => format!("group '{}' has no other candidate", request.group),
                });
            }
            let mut refused = Vec::new();
            let mut chosen = None;
            for c in candidates {
                match writable(c).await {
                    Ok(true) => {
                        chosen = Some(c);
                        break;
                    }
                    Ok(false) => refused.push(format!("{} is read_only", c.addr)),
                    Err(e) => refused.push(format!("{}: {e}", c.addr)),
                }
            }
            let Some(chosen) = chosen else {
                return Err(format!("no writable candidate ({})", refused.join("; ")));
            };
            let fence = fence(&request.old, request.fence_timeout).await;
            Ok(Promotion {
                new_write_host: chosen.addr.clone(),
                gtid_position: None,
                old_gtid_position: None,
                repointed: Vec::new(),
                not_repointed: Vec::new(),
                fence,
            })
        })
    }
}

/// Whether `login`'s host answers with `read_only=OFF`.
async fn writable(login: &Login) -> Result<bool, String> {
    let answer = tokio::time::timeout(CANDIDATE_TIMEOUT, async {
        let mut conn = Conn::new(opts(login)).await.map_err(|e| e.to_string())?;
        let ro: Option<u8> = conn
            .query_first("SELECT @@read_only")
            .await
            .map_err(|e| e.to_string())?;
        let _ = conn.disconnect().await;
        Ok::<_, String>(ro == Some(0))
    })
    .await;
    answer.unwrap_or_else(|_| {
        Err(format!(
            "no answer within {} ms",
            CANDIDATE_TIMEOUT.as_millis()
        ))
    })
}

/// Sets `read_only=ON` on the old write host, within `timeout`.
pub async fn fence(old: &Login, timeout: Duration) -> Fence {
    let done = tokio::time::timeout(timeout, async {
        let mut conn = Conn::new(opts(old)).await.map_err(|e| e.to_string())?;
        conn.query_drop("SET GLOBAL read_only = ON")
            .await
            .map_err(|e| e.to_string())?;
        let _ = conn.disconnect().await;
        Ok::<_, String>(())
    })
    .await;
    match done {
        Ok(Ok(())) => Fence::ReadOnly,
        Ok(Err(e)) => Fence::NotReached(e),
        Err(_) => Fence::NotReached(format!("no answer within {} ms", timeout.as_millis())),
    }
}

/// Connection options for `login` (TCP, or a Unix socket for `unix:` addresses).
pub fn opts(login: &Login) -> Opts {
    let builder = OptsBuilder::default()
        .user(Some(login.user.clone()))
        .pass(Some(login.password.clone()))
        .prefer_socket(false)
        .wait_timeout(Some(60));
    match login.addr.strip_prefix("unix:") {
        Some(path) => builder.socket(Some(path.to_owned())),
        None => {
            let (host, port) = match login.addr.rsplit_once(':') {
                Some((host, port)) => (host, port.parse().unwrap_or(3306)),
                None => (login.addr.as_str(), 3306),
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            builder.ip_or_hostname(host.to_owned()).tcp_port(port)
        }
    }
    .into()
}
