//! The catch-up lag of a migration, sampled for its progress: a task started when the copy
//! ends watches the `myshard_<database>` replication connection on the target write host
//! (`Seconds_Behind_Master`) and the GTID distance in the source's domain (source
//! `gtid_binlog_pos` minus target `gtid_slave_pos`) until the connection is removed after
//! the cut-over (or on abort). It only reads; the phases never wait for it.

use super::replicate::connection_name;
use myshard_failover::monitor::Login;
use myshard_failover::promotion::Server;
use myshard_failover::promotion::gtid::GtidPos;
use std::time::{Duration, Instant};

/// Time between two samples.
const EVERY: Duration = Duration::from_millis(250);
/// Bound of each connection and statement.
const STEP: Duration = Duration::from_secs(2);
/// How long the connection may take to appear after the copy.
const APPEAR: Duration = Duration::from_secs(30);
/// Failed samples in a row after which the watch ends (a host gone for good).
const FAILURES: u32 = 8;

/// One sample: seconds behind (none when the server does not know) and GTID distance.
type Sample = (Option<u64>, u64);

/// Watches the catch-up of `database` from `source` to `target` in the background.
pub(super) fn watch(database: String, source: Login, target: Login, source_domain: u32) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let started = Instant::now();
        let (mut seen, mut failures) = (false, 0u32);
        let mut servers = None;
        loop {
            tokio::time::sleep(EVERY).await;
            let taken = match servers.take() {
                Some(s) => Ok(s),
                None => connect(&source, &target).await,
            };
            let sampled = match taken {
                Ok(mut s) => {
                    let r = sample(&database, &mut s, source_domain).await;
                    // A connection that failed is opened again for the next sample.
                    if r.is_ok() {
                        servers = Some(s);
                    }
                    r
                }
                Err(e) => Err(e),
            };
            match sampled {
                Ok(Some((seconds, distance))) => {
                    seen = true;
                    failures = 0;
                    super::progress::update(&database, |p| {
                        p.lag_seconds = seconds;
                        p.gtid_distance = Some(distance);
                    });
                }
                // Removed after the cut-over or the abort: caught up or gone.
                Ok(None) if seen => break,
                Ok(None) if started.elapsed() > APPEAR => break,
                Ok(None) => {}
                Err(e) => {
                    failures += 1;
                    if failures >= FAILURES {
                        tracing::debug!("lag of the migration of {database}: {e}");
                        break;
                    }
                }
            }
        }
    });
}

/// Connections to the source and the target write hosts.
async fn connect(source: &Login, target: &Login) -> Result<(Server, Server), String> {
    Ok((
        Server::connect(source, STEP).await?,
        Server::connect(target, STEP).await?,
    ))
}

/// The connection's lag; `None` while it does not exist.
async fn sample(
    database: &str,
    (on_source, on_target): &mut (Server, Server),
    domain: u32,
) -> Result<Option<Sample>, String> {
    let rows = on_target
        .rows(&format!(
            "SHOW SLAVE '{}' STATUS",
            connection_name(database)
        ))
        .await
        .unwrap_or_default();
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let seconds = row
        .get_opt::<Option<u64>, _>("Seconds_Behind_Master")
        .and_then(Result::ok)
        .flatten();
    let applied = GtidPos::parse(&on_target.var("gtid_slave_pos").await?)?;
    let logged = GtidPos::parse(&on_source.var("gtid_binlog_pos").await?)?;
    Ok(Some((
        seconds,
        logged.seq(domain).saturating_sub(applied.seq(domain)),
    )))
}
