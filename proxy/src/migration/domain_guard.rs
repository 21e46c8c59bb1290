//! A source that writes into the target's GTID domain. The cut-over does not wait for the
//! target's own domain in the source's log (those events came from the target, which
//! does not apply them again), and the verify runs the target until the source's domain
//! only. Both are right only while the source writes its own domain. A session keeps the
//! `gtid_domain_id` it started with: after `SET GLOBAL gtid_domain_id` on the source,
//! connections opened before (the proxy's pooled ones among them) still log the old
//! domain, and if that is the target's, their writes would be neither waited for nor
//! compared, and a cut-over could leave them behind. So each of those steps first checks
//! that the source's own server id has not logged into the target's domain since the
//! copy's snapshot, and stops the migration naming the domain if it has.

use myshard_failover::promotion::Server;
use myshard_failover::promotion::gtid::GtidPos;

/// `Err` naming the problem when the server `source` (the source write host) logged its
/// own transactions in `target_domain` after `snapshot` (the copy's GTID position).
pub(super) async fn check(
    source: &mut Server,
    snapshot: &str,
    target_domain: u32,
) -> Result<(), String> {
    let server_id = server_id(source).await?;
    let now = source.var("gtid_binlog_pos").await?;
    wrote_in_domain(snapshot, &now, server_id, target_domain)
}

/// The `server_id` of `server`.
pub(super) async fn server_id(server: &mut Server) -> Result<u32, String> {
    server
        .var("server_id")
        .await?
        .parse()
        .map_err(|_| "server_id is not a number".to_string())
}

/// The check of [`check`] on positions: `now` against `snapshot` in `target_domain`.
pub(super) fn wrote_in_domain(
    snapshot: &str,
    now: &str,
    server_id: u32,
    target_domain: u32,
) -> Result<(), String> {
    let before = GtidPos::parse(snapshot)?.seq(target_domain);
    let Some(last) = GtidPos::parse(now)?.get(target_domain) else {
        return Ok(());
    };
    if last.server == server_id && last.seq > before {
        return Err(format!(
            "the source write host (server_id {server_id}) logged transactions in GTID domain \
             {target_domain}, the target group's domain, after the copy's snapshot (now \
             {last}): sessions opened before a SET GLOBAL gtid_domain_id keep their old \
             domain, and the target cannot tell those writes from its own; set \
             gtid_domain_id in the server's configuration and restart it (or reconnect every \
             session), then migrate again"
        ));
    }
    Ok(())
}

impl crate::server::Shared {
    /// [`check`] on the write host of `pre`'s source group.
    pub(super) async fn guard_domains(
        &self,
        pre: &super::preflight::Preflight,
        snapshot: &str,
    ) -> Result<(), String> {
        let login = super::cutover::write_login(self, &pre.from)?;
        let mut source = Server::connect(&login, std::time::Duration::from_secs(5)).await?;
        check(&mut source, snapshot, pre.target_domain).await
    }
}

#[cfg(test)]
mod tests {
    use super::wrote_in_domain;

    #[test]
    fn the_sources_own_writes_in_the_targets_domain_stop_the_migration() {
        // The source (server 7, domain 1) wrote domain 0 after the snapshot.
        let e = wrote_in_domain("0-7-10,1-7-3", "0-7-12,1-7-5", 7, 0);
        assert!(e.is_err_and(|e| e.contains("GTID domain 0")));
        // The target's own events that reached the source earlier: not the source's.
        assert!(wrote_in_domain("0-9-10,1-7-3", "0-9-10,1-7-9", 7, 0).is_ok());
        // Old writes of the source in that domain, none since the snapshot.
        assert!(wrote_in_domain("0-7-10,1-7-3", "0-7-10,1-7-9", 7, 0).is_ok());
        // No entry in the target's domain at all.
        assert!(wrote_in_domain("1-7-3", "1-7-9", 7, 0).is_ok());
        // A domain absent from the snapshot, written since.
        assert!(wrote_in_domain("1-7-3", "0-7-1,1-7-9", 7, 0).is_err());
    }
}
