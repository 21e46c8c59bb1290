//! Recovery of XA branches this proxy left prepared: at start and then periodically,
//! `XA RECOVER` on every group's write host (the one in force, so after a failover the new
//! one); a branch whose gtrid is this proxy's is committed when the decision log holds the
//! commit decision, rolled back otherwise. Transactions a session of this process is still
//! driving are left alone. A decided transaction whose branches are all gone is marked done
//! in the log (which compacts it).
//!
//! A group that cannot be reached keeps its branches until a later pass: a decided
//! transaction stays pending in the log until every group has confirmed.

use crate::backend::conn::{CONNECT_NAMES, ConnFlags};
use crate::server::Shared;
use crate::state::SessionVars;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Time between recovery passes.
pub const INTERVAL: Duration = Duration::from_secs(2);

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Branches committed (`gtrid/bqual`).
    pub committed: Vec<String>,
    /// Branches rolled back.
    pub rolled_back: Vec<String>,
    /// Groups whose write host could not be asked.
    pub unreachable: Vec<String>,
}

/// Runs recovery now and every [`INTERVAL`] until `stop` changes.
pub async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        if shared.xa.has_log() && !shared.xa.crashed() {
            let pass = recover(&shared).await;
            if !pass.committed.is_empty() || !pass.rolled_back.is_empty() {
                tracing::info!(committed = ?pass.committed, rolled_back = ?pass.rolled_back,
                    "XA recovery finished prepared branches");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(INTERVAL) => {}
            _ = stop.changed() => return,
        }
    }
}

/// One recovery pass over every group's write host.
pub async fn recover(shared: &Shared) -> Pass {
    let mut pass = Pass::default();
    let table = shared.table();
    // Decided before the pass: a transaction decided during it may have branches the pass
    // did not see yet.
    let decided: BTreeSet<String> = shared.xa.pending().into_iter().collect();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut all_reached = true;
    for group in &table.config.groups {
        let Some(host) = table.group(&group.name).and_then(|g| g.write.clone()) else {
            all_reached = false;
            pass.unreachable.push(group.name.clone());
            continue;
        };
        match recover_on(shared, &host, &mut seen, &mut pass).await {
            Ok(()) => {}
            Err(e) => {
                tracing::warn!(group = %group.name, host = %host.addr(), error = %e,
                    "XA recovery could not reach the write host");
                all_reached = false;
                pass.unreachable.push(group.name.clone());
            }
        }
    }
    if all_reached {
        for gtrid in decided {
            if !seen.contains(&gtrid) && !shared.xa.is_active(&gtrid) {
                // Every branch is committed: the transaction is done.
                if let Err(e) = shared.xa.log_done(&gtrid) {
                    tracing::warn!(gtrid, error = %e, "XA completion could not be logged");
                }
            }
        }
    }
    pass
}

/// Finishes this proxy's prepared branches on `host`; `seen` collects the gtrids of the
/// branches left there.
async fn recover_on(
    shared: &Shared,
    host: &crate::routing::Host,
    seen: &mut BTreeSet<String>,
    pass: &mut Pass,
) -> Result<(), crate::error::SqlError> {
    let pool = host.pool(ConnFlags::default())?;
    let vars = SessionVars::new(None, CONNECT_NAMES.into(), false);
    let mut conn = tokio::time::timeout(pool.check_timeout() * 2, pool.checkout(0, &vars))
        .await
        .map_err(|_| {
            crate::error::SqlError::backend_unreachable(host.addr(), "no connection for recovery")
        })??;
    let rows = conn.query_rows("XA RECOVER").await?;
    for row in rows {
        let Some((gtrid, bqual)) = xid_of(&row) else {
            continue;
        };
        if !shared.xa.owns(&gtrid) || shared.xa.is_active(&gtrid) {
            continue;
        }
        let xid = super::branch_xid(&gtrid, &bqual);
        let commit = shared.xa.decided_commit(&gtrid);
        let verb = if commit { "COMMIT" } else { "ROLLBACK" };
        match conn.execute(&format!("XA {verb} {xid}")).await {
            Ok(_) => {
                let name = format!("{gtrid}/{bqual}");
                if commit {
                    pass.committed.push(name);
                } else {
                    pass.rolled_back.push(name);
                }
            }
            // Finished meanwhile by someone else.
            Err(e) if e.code == 1397 => {}
            Err(e) => {
                seen.insert(gtrid);
                return Err(e);
            }
        }
    }
    Ok(())
}

/// The gtrid and bqual of an `XA RECOVER` row (formatID, gtrid_length, bqual_length, data).
fn xid_of(row: &[Option<Vec<u8>>]) -> Option<(String, String)> {
    let number = |i: usize| -> Option<usize> {
        std::str::from_utf8(row.get(i)?.as_deref()?)
            .ok()?
            .parse()
            .ok()
    };
    let gtrid_len = number(1)?;
    let bqual_len = number(2)?;
    let data = row.get(3)?.as_deref()?;
    let gtrid = data.get(..gtrid_len)?;
    let bqual = data.get(gtrid_len..gtrid_len + bqual_len)?;
    Some((
        String::from_utf8(gtrid.to_vec()).ok()?,
        String::from_utf8(bqual.to_vec()).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::xid_of;

    #[test]
    fn xids_of_recover_rows() {
        let row = |f: &str, g: &str, b: &str, d: &[u8]| {
            vec![
                Some(f.as_bytes().to_vec()),
                Some(g.as_bytes().to_vec()),
                Some(b.as_bytes().to_vec()),
                Some(d.to_vec()),
            ]
        };
        assert_eq!(
            xid_of(&row("1", "5", "2", b"abcdeg0")),
            Some(("abcde".into(), "g0".into()))
        );
        assert_eq!(xid_of(&row("1", "9", "2", b"abcdeg0")), None);
        assert_eq!(xid_of(&row("1", "x", "2", b"abcdeg0")), None);
        assert_eq!(xid_of(&[None]), None);
    }
}
