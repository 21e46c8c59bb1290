//! The cut-over of a migration: the moment a shard's writes switch from the source group to
//! the target group, all or nothing. The shard's gate closes (new statements wait, running
//! ones finish, bounded; late ones are interrupted, see [`super::drain`]), the source write host's GTID position is read, the target write
//! host must apply it within a bound (`MASTER_GTID_WAIT`); only then is the new placement
//! persisted and published, and the gate reopens so the held statements run on the target.
//! If the target does not catch up in time, the gate reopens with the placement unchanged.

use super::placement::PlacementError;
use crate::server::Shared;
use myshard_failover::monitor::Login;
use myshard_failover::promotion::Server;
use myshard_failover::promotion::gtid::parse_list;
use std::time::{Duration, Instant};

/// What to switch, and the bounds of the write hold.
#[derive(Debug, Clone)]
pub struct CutOver {
    /// Logical schema.
    pub schema: String,
    /// Shard number (0 for an unsharded schema).
    pub shard: u32,
    /// Target group.
    pub to: String,
    /// How long running statements on the shard may take to finish once the gate closes.
    pub drain: Duration,
    /// How long the target write host may take to apply the source's position.
    pub catch_up: Duration,
    /// The copy's GTID position on the source, when known: the source must not have
    /// logged its own writes in the target's domain since (`domain_guard.rs`).
    pub snapshot: Option<String>,
}

/// A cut-over that happened.
#[derive(Debug, Clone)]
pub struct CutOverReport {
    /// The source group.
    pub from: String,
    /// The source write host's GTID position the target applied.
    pub position: String,
    /// From gate closed to gate reopened.
    pub hold: Duration,
    /// Epoch of the routing table with the new placement.
    pub epoch: u64,
}

/// Why a cut-over did not happen (the shard stayed on its source group, its gate open).
#[derive(Debug, thiserror::Error)]
pub enum CutOverError {
    /// The shard, a group or a write host is not what the cut-over needs.
    #[error("cut-over of shard {shard} of '{schema}': {reason}")]
    Refused {
        /// Logical schema.
        schema: String,
        /// Shard.
        shard: u32,
        /// Why.
        reason: String,
    },
    /// Statements on the shard did not finish within the drain bound, nor shortly after
    /// being interrupted.
    #[error("cut-over: statements on {database} still running after {ms} ms; nothing changed")]
    Busy {
        /// Physical database.
        database: String,
        /// The bound.
        ms: u128,
    },
    /// A write host could not be reached or answered with an error.
    #[error("cut-over: {0}; nothing changed")]
    Backend(String),
    /// The target did not apply the source's position within the bound.
    #[error(
        "cut-over: target group '{to}' did not reach source position {position} within {ms} ms{replication}; the shard stays on '{from}'"
    )]
    NotCaughtUp {
        /// Source group.
        from: String,
        /// Target group.
        to: String,
        /// Position waited for.
        position: String,
        /// The bound.
        ms: u128,
        /// The replication connection's state on the target, when it shows why
        /// (`; replication: …`), else empty.
        replication: String,
    },
    /// The new placement could not be persisted (nothing published).
    #[error("cut-over: {0}; nothing changed")]
    Placement(#[from] PlacementError),
}

/// Bound of connecting and of the statements other than the catch-up wait.
const STEP: Duration = Duration::from_secs(5);

impl Shared {
    /// Switches `c.shard` of `c.schema` to group `c.to`, all or nothing (see the module).
    pub async fn cut_over(&self, c: &CutOver) -> Result<CutOverReport, CutOverError> {
        let refused = |reason: String| CutOverError::Refused {
            schema: c.schema.clone(),
            shard: c.shard,
            reason,
        };
        let table = self.table();
        let config = table.config.clone();
        let database = table
            .topology
            .physical_database(&c.schema, c.shard)
            .ok_or_else(|| refused("no such schema or shard".into()))?
            .to_string();
        let from = table
            .topology
            .group_of(&c.schema, c.shard)
            .ok_or_else(|| refused("the shard is not placed".into()))?
            .to_string();
        if from == c.to {
            return Err(refused(format!("it is already on group '{from}'")));
        }
        let source = write_login(self, &from).map_err(&refused)?;
        let target = write_login(self, &c.to).map_err(&refused)?;
        if config.state_dir.is_none() {
            return Err(refused(
                "no state_dir configured to persist the placement".into(),
            ));
        }
        // Connections first: the write hold should not include connecting.
        let mut source = Server::connect(&source, STEP)
            .await
            .map_err(CutOverError::Backend)?;
        let mut target = Server::connect(&target, STEP)
            .await
            .map_err(CutOverError::Backend)?;
        // The target's own domain is not waited for (unless the source writes it too): the
        // source's log may hold the target's events (a shard that moved from the target to
        // the source earlier), which the target, their origin, does not apply again.
        let domain_of = async |server: &mut Server| -> Result<u32, CutOverError> {
            server
                .var("gtid_domain_id")
                .await
                .map_err(CutOverError::Backend)?
                .parse()
                .map_err(|_| CutOverError::Backend("gtid_domain_id is not a number".into()))
        };
        let own = domain_of(&mut target).await?;
        let skipped = (own != domain_of(&mut source).await?).then_some(own);
        // What the source must not have logged in the skipped domain since the copy.
        let guard = match (skipped, &c.snapshot) {
            (Some(domain), Some(snapshot)) => Some((
                domain,
                snapshot,
                super::domain_guard::server_id(&mut source)
                    .await
                    .map_err(CutOverError::Backend)?,
            )),
            _ => None,
        };
        let gate = table
            .gate(&database)
            .ok_or_else(|| refused(format!("database {database} has no gate")))?
            .clone();
        let closure = super::drain::close_draining(&gate, &mut source, &database, c.drain).await?;
        let closed = Instant::now();
        let logged = source
            .var("gtid_binlog_pos")
            .await
            .map_err(CutOverError::Backend)?;
        if let Some((domain, snapshot, source_server)) = guard
            && let Err(reason) =
                super::domain_guard::wrote_in_domain(snapshot, &logged, source_server, domain)
        {
            drop(closure);
            return Err(refused(reason));
        }
        let position = parse_list(&logged)
            .map_err(CutOverError::Backend)?
            .into_iter()
            .filter(|g| Some(g.domain) != skipped)
            .map(|g| g.to_string())
            .collect::<Vec<_>>()
            .join(",");
        target.set_timeout(c.catch_up + STEP);
        let wait = format!(
            "SELECT MASTER_GTID_WAIT('{}', {:.3})",
            position.replace('\'', ""),
            c.catch_up.as_secs_f64()
        );
        let reached: Option<i64> = target.first(&wait).await.map_err(CutOverError::Backend)?;
        if reached != Some(0) {
            drop(closure);
            let replication = super::replicate::replication_problem(&mut target, &database).await;
            return Err(CutOverError::NotCaughtUp {
                from,
                to: c.to.clone(),
                position,
                ms: c.catch_up.as_millis(),
                replication,
            });
        }
        // A group that switched its write host meanwhile: the position was reached on a
        // host that may no longer replicate to the new one (the migration repoints).
        for (group, server) in [(&from, &source), (&c.to, &target)] {
            if self.write_addr(group).as_deref() != Some(server.addr.as_str()) {
                drop(closure);
                return Err(CutOverError::Backend(format!(
                    "group '{group}' switched its write host away from {} during the cut-over",
                    server.addr
                )));
            }
        }
        let mut placement = (*table.placement).clone();
        placement.place(&config, &c.schema, c.shard, &c.to);
        let epoch = self.persist_placement(placement)?;
        drop(closure);
        let hold = closed.elapsed();
        tracing::info!(
            "cut-over: shard {} of '{}' moved from '{from}' to '{}' (write hold {} ms)",
            c.shard,
            c.schema,
            c.to,
            hold.as_millis()
        );
        Ok(CutOverReport {
            from,
            position,
            hold,
            epoch,
        })
    }
}

/// The login to group `group`'s write host in the table in force.
pub(super) fn write_login(shared: &Shared, group: &str) -> Result<Login, String> {
    let table = shared.table();
    let route = table
        .group(group)
        .ok_or_else(|| format!("group '{group}' is not configured"))?;
    let host = route
        .write
        .as_ref()
        .ok_or_else(|| format!("group '{group}' has no write host"))?;
    let g = table
        .config
        .groups
        .iter()
        .find(|g| g.name == group)
        .ok_or_else(|| format!("group '{group}' is not configured"))?;
    Ok(Login {
        addr: host.addr().to_string(),
        user: g.user.clone(),
        password: g.password.clone(),
        gtid: true,
    })
}
