//! The replication control plane: which host of a group takes writes and which serve
//! reads, and the state of every host ([`HostStatus`]), which the proxy reads from its routing
//! table, and the health monitor ([`Monitor`]) that sets those states from heartbeats. At
//! this stage the active write host is the first candidate of the group's `write_hosts`
//! list; switching builds on this interface.
#![warn(missing_docs)]

mod host_state;
pub mod monitor;
pub mod promotion;
pub mod switch;

pub use host_state::{HostState, HostStatus};
pub use monitor::{HostRecord, HostStates, Monitor, MonitorTarget, Role};
pub use promotion::{
    GtidPromoter, RejoinError, SemiSyncStatus, WritableCandidate, check_domains, lossless, rejoin,
    semi_sync_status,
};
pub use switch::{Fence, Promoter, Promotion, PromotionRequest, ReplicationLogin, SwitchReason};

use myshard_config::Group;

/// The host currently taking writes for `group`: its first write host candidate.
pub fn active_write_host(group: &Group) -> Option<&str> {
    group.write_hosts.first().map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_candidate_is_active() {
        let g = Group::new("g0", "u", "", &["10.0.0.1:3306", "10.0.0.2:3306"]);
        assert_eq!(active_write_host(&g), Some("10.0.0.1:3306"));
        let empty = Group {
            write_hosts: vec![],
            ..g
        };
        assert_eq!(active_write_host(&empty), None);
    }
}
