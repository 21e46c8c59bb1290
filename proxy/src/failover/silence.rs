//! "The replicas receive nothing": a hung (SIGSTOPped, frozen) primary keeps its replicas'
//! connections open, so their IO thread says `Yes` until `slave_net_timeout` (60 s by
//! default) runs out. But a primary sends a heartbeat event every
//! `MASTER_HEARTBEAT_PERIOD` seconds when it has nothing else to send: a replica whose
//! received position and heartbeat count (`Slave_received_heartbeats`) did not move for
//! more than twice its `Slave_heartbeat_period` has lost its primary as surely as one
//! whose IO thread stopped. Sampled only while the write host is down and a replica still
//! claims to receive; without a heartbeat period (0) silence proves nothing.

use hashbrown::HashMap;
use myshard_config::Group;
use myshard_failover::monitor::opts;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use std::time::{Duration, Instant};

/// Bound on a replica's answer.
const STEP_TIMEOUT: Duration = Duration::from_secs(1);

/// What a replica last received, and since when it has not changed.
#[derive(Debug)]
struct Seen {
    received: String,
    period: Duration,
    since: Instant,
}

/// The detector's memory of what each replica received (by group and address).
#[derive(Debug, Default)]
pub(super) struct Silence {
    seen: HashMap<(String, String), Seen>,
}

impl Silence {
    /// Forgets `group`'s replicas (its write host serves again).
    pub(super) fn forget(&mut self, group: &str) {
        self.seen.retain(|(g, _), _| g != group);
    }

    /// Samples `replicas` of `group` now; returns those silent for more than twice their
    /// heartbeat period, each with what it showed.
    pub(super) async fn silent(
        &mut self,
        group: &Group,
        replicas: &[String],
    ) -> Vec<(String, String)> {
        let mut silent = Vec::new();
        for addr in replicas {
            let login = super::switch::login(group, addr);
            let Ok(Ok(Some((received, period)))) =
                tokio::time::timeout(STEP_TIMEOUT, sample(&login)).await
            else {
                continue;
            };
            let key = (group.name.clone(), addr.clone());
            let now = Instant::now();
            let seen = self.seen.entry(key).or_insert_with(|| Seen {
                received: received.clone(),
                period,
                since: now,
            });
            if seen.received != received || seen.period != period {
                *seen = Seen {
                    received,
                    period,
                    since: now,
                };
                continue;
            }
            let quiet = now.duration_since(seen.since);
            if !period.is_zero() && quiet > period * 2 {
                let what = format!(
                    "{addr} (IO thread Yes, but nothing received for {} ms, heartbeat period \
                     {} ms)",
                    quiet.as_millis(),
                    period.as_millis()
                );
                silent.push((addr.clone(), what));
            }
        }
        silent
    }
}

/// What `login`'s replication received (position, GTID and heartbeat count) and its
/// heartbeat period.
async fn sample(
    login: &myshard_failover::monitor::Login,
) -> Result<Option<(String, Duration)>, mysql_async::Error> {
    let mut conn = Conn::new(opts(login)).await?;
    let rows: Vec<Row> = conn.query("SHOW ALL SLAVES STATUS").await?;
    let _ = conn.disconnect().await;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let text = |name: &str| -> String {
        row.get_opt::<Option<String>, _>(name)
            .and_then(Result::ok)
            .flatten()
            .unwrap_or_default()
    };
    let received = format!(
        "{}:{} {} beats {}",
        text("Master_Log_File"),
        text("Read_Master_Log_Pos"),
        text("Gtid_IO_Pos"),
        text("Slave_received_heartbeats")
    );
    let period = text("Slave_heartbeat_period")
        .parse::<f64>()
        .ok()
        .filter(|p| p.is_finite() && *p >= 0.0)
        .map_or(Duration::ZERO, Duration::from_secs_f64);
    Ok(Some((received, period)))
}
