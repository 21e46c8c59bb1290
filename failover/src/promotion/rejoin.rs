//! Rejoining a returned old write host as a replica of the new primary (an operator's
//! command; a returning host stays fenced until then).
//!
//! Safe only when the old host's history in the group's domain is a prefix of the new
//! primary's: its last GTID there must be one the new primary holds (`@@gtid_binlog_state`
//! keeps the last `seq_no` of every server that wrote in a domain). Then it is set
//! `read_only`, its `gtid_slave_pos` is set to where its own binlog ends, and it replicates
//! from the new primary with `MASTER_USE_GTID=slave_pos`. Otherwise it holds transactions
//! the new primary never saw (written after the split, or never replicated before a crash):
//! they are listed from its binlog (`SHOW BINLOG EVENTS`) and nothing is changed.

use std::fmt;
use std::time::Duration;

use mysql_async::Row;

use crate::monitor::Login;
use crate::switch::ReplicationLogin;

use super::gtid::{BinlogState, Gtid, GtidPos};
use super::server::{Server, change_master};

/// How many extra transactions a [`RejoinError::Diverged`] lists at most.
pub const EXTRA_LISTED: usize = 1000;

/// Why the old host was not rejoined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejoinError {
    /// Its history is not a prefix of the new primary's.
    Diverged {
        /// The group's `gtid_domain_id`.
        domain: u32,
        /// Its `@@gtid_binlog_pos`.
        old_position: String,
        /// The new primary's `@@gtid_binlog_pos`.
        new_position: String,
        /// The GTIDs of the domain it holds and the new primary does not (binlog order, at
        /// most [`EXTRA_LISTED`]).
        extra: Vec<String>,
    },
    /// A host did not answer or refused a statement.
    Failed(String),
}

impl fmt::Display for RejoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejoinError::Diverged {
                domain,
                old_position,
                new_position,
                extra,
            } => write!(
                f,
                "diverged: in GTID domain {domain} the old write host (at {old_position}) holds \
                 {} transaction(s) the new primary (at {new_position}) does not: {}",
                extra.len(),
                extra.join(", ")
            ),
            RejoinError::Failed(why) => write!(f, "rejoin failed: {why}"),
        }
    }
}

impl From<String> for RejoinError {
    fn from(why: String) -> Self {
        RejoinError::Failed(why)
    }
}

/// Makes `old` a replica of `new_primary` when its history allows; returns the
/// `gtid_slave_pos` it continues from. It gets heartbeats every `heartbeat_period` seconds
/// (the period of the group's other replicas; 0: the server's default) unless it had a
/// period of its own. Every step is bounded by `timeout`.
pub async fn rejoin(
    old: &Login,
    new_primary: &Login,
    replication: &ReplicationLogin,
    heartbeat_period: f64,
    timeout: Duration,
) -> Result<String, RejoinError> {
    let mut new = Server::connect(new_primary, timeout).await?;
    let (domain, new_position, new_state): (u32, String, String) = new
        .first("SELECT @@gtid_domain_id, @@gtid_binlog_pos, @@gtid_binlog_state")
        .await?;
    let new_state = BinlogState::parse(&new_state)?;
    let mut server = Server::connect(old, timeout).await?;
    let (old_domain, old_binlog, old_slave): (u32, String, String) = server
        .first("SELECT @@gtid_domain_id, @@gtid_binlog_pos, @@gtid_slave_pos")
        .await?;
    if old_domain != domain {
        return Err(RejoinError::Failed(format!(
            "{} is in GTID domain {old_domain}, the new primary {} in {domain}",
            old.addr, new_primary.addr
        )));
    }
    let binlog = GtidPos::parse(&old_binlog)?;
    let holds_all = binlog
        .get(domain)
        .is_none_or(|last| new_state.contains(last));
    if !holds_all {
        let extra = extra_transactions(&mut server, domain, &new_state).await?;
        return Err(RejoinError::Diverged {
            domain,
            old_position: old_binlog,
            new_position,
            extra,
        });
    }
    let from = GtidPos::parse(&old_slave)?.max(&binlog).to_string();
    let own_period = match server.replica_status().await? {
        Some(status) => status.heartbeat_period,
        None => 0.0,
    };
    let period = if own_period > 0.0 {
        own_period
    } else {
        heartbeat_period
    };
    let change = change_master(
        &new_primary.addr,
        &replication.user,
        &replication.password,
        period,
    )?;
    server
        .exec(&format!(
            "SET GLOBAL read_only=ON; STOP SLAVE; SET GLOBAL gtid_slave_pos='{from}'; {change}; \
             START SLAVE"
        ))
        .await?;
    tracing::info!(old = %old.addr, new = %new_primary.addr, %from, "rejoined as a replica");
    Ok(from)
}

/// The GTIDs of `domain` in `server`'s binlogs that `state` does not hold.
async fn extra_transactions(
    server: &mut Server,
    domain: u32,
    state: &BinlogState,
) -> Result<Vec<String>, String> {
    let logs = server.rows("SHOW BINARY LOGS").await?;
    let names: Vec<String> = logs
        .iter()
        .filter_map(|row| row.get_opt::<String, _>(0).and_then(Result::ok))
        .collect();
    let mut extra = Vec::new();
    for name in names {
        let escaped = name.replace('\'', "''");
        let events = server
            .rows(&format!("SHOW BINLOG EVENTS IN '{escaped}'"))
            .await?;
        for gtid in events.iter().filter_map(gtid_of_event) {
            if gtid.domain == domain && !state.contains(gtid) && extra.len() < EXTRA_LISTED {
                extra.push(gtid.to_string());
            }
        }
    }
    Ok(extra)
}

/// The GTID a `Gtid` event starts (its Info reads `BEGIN GTID d-s-n …` or `GTID d-s-n …`).
fn gtid_of_event(row: &Row) -> Option<Gtid> {
    let kind: String = row.get_opt("Event_type")?.ok()?;
    if kind != "Gtid" {
        return None;
    }
    let info: String = row.get_opt("Info")?.ok()?;
    let mut words = info.split_whitespace();
    words.find(|w| *w == "GTID")?;
    Gtid::parse(words.next()?).ok()
}
