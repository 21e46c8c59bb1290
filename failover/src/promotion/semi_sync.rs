//! Semi-synchronous replication as failover needs it: a primary acknowledges a commit only
//! after a replica wrote it to its relay log, and with the wait point `AFTER_SYNC` no
//! client sees the commit before that — the only mode in which promoting the most advanced
//! replica loses no acknowledged write. After `rpl_semi_sync_master_timeout` without an
//! acknowledgement the primary silently falls back to asynchronous replication
//! (`Rpl_semi_sync_master_status=OFF`), so the status is read, not just the settings.

use std::time::Duration;

use mysql_async::Row;

use crate::monitor::Login;

use super::server::Server;

/// The semi-sync settings and state of one host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SemiSyncStatus {
    /// `host:port`.
    pub addr: String,
    /// `@@rpl_semi_sync_master_enabled`.
    pub master_enabled: bool,
    /// `Rpl_semi_sync_master_status`: the primary currently waits for acknowledgements.
    pub master_active: bool,
    /// `@@rpl_semi_sync_master_wait_point` (`AFTER_SYNC` or `AFTER_COMMIT`).
    pub wait_point: String,
    /// `@@rpl_semi_sync_slave_enabled`.
    pub slave_enabled: bool,
}

/// Reads `login`'s semi-sync settings and state, bounded by `timeout` per step.
pub async fn semi_sync_status(login: &Login, timeout: Duration) -> Result<SemiSyncStatus, String> {
    let mut server = Server::connect(login, timeout).await?;
    let (master_enabled, wait_point, slave_enabled): (u8, String, u8) = server
        .first(
            "SELECT @@rpl_semi_sync_master_enabled, @@rpl_semi_sync_master_wait_point, \
             @@rpl_semi_sync_slave_enabled",
        )
        .await?;
    let rows: Vec<Row> = server
        .rows("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'")
        .await?;
    let master_active = rows
        .first()
        .and_then(|row| row.get_opt::<String, _>(1))
        .and_then(Result::ok)
        .is_some_and(|v| v.eq_ignore_ascii_case("ON"));
    Ok(SemiSyncStatus {
        addr: login.addr.clone(),
        master_enabled: master_enabled != 0,
        master_active,
        wait_point,
        slave_enabled: slave_enabled != 0,
    })
}

/// Whether the group runs lossless semi-sync: the primary has it enabled and active with
/// wait point `AFTER_SYNC`, and at least one replica acknowledges. The error is the reason
/// automatic promotion is refused when `require_semi_sync` is set.
pub fn lossless(primary: &SemiSyncStatus, replicas: &[SemiSyncStatus]) -> Result<(), String> {
    let addr = &primary.addr;
    if !primary.master_enabled {
        return Err(format!(
            "{addr}: semi-synchronous replication is off (rpl_semi_sync_master_enabled=OFF)"
        ));
    }
    if !primary.wait_point.eq_ignore_ascii_case("AFTER_SYNC") {
        return Err(format!(
            "{addr}: rpl_semi_sync_master_wait_point is {}, not AFTER_SYNC: acknowledged \
             writes can be lost",
            primary.wait_point
        ));
    }
    if !primary.master_active {
        return Err(format!(
            "{addr}: semi-sync fell back to asynchronous replication \
             (Rpl_semi_sync_master_status=OFF)"
        ));
    }
    if !replicas.iter().any(|r| r.slave_enabled) {
        return Err(format!(
            "{addr}: no replica has rpl_semi_sync_slave_enabled=ON"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lossless_needs_after_sync_active_and_an_acknowledging_replica() {
        let primary = SemiSyncStatus {
            addr: "p:1".into(),
            master_enabled: true,
            master_active: true,
            wait_point: "AFTER_SYNC".into(),
            slave_enabled: false,
        };
        let replica = SemiSyncStatus {
            addr: "r:1".into(),
            slave_enabled: true,
            ..SemiSyncStatus::default()
        };
        assert_eq!(lossless(&primary, std::slice::from_ref(&replica)), Ok(()));
        assert!(lossless(&primary, &[]).is_err());
        let after_commit = SemiSyncStatus {
            wait_point: "AFTER_COMMIT".into(),
            ..primary.clone()
        };
        assert!(lossless(&after_commit, std::slice::from_ref(&replica)).is_err());
        let fell_back = SemiSyncStatus {
            master_active: false,
            ..primary
        };
        assert!(lossless(&fell_back, &[replica]).is_err());
    }
}
