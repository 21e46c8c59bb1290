//! The replication control plane: which host of a group takes writes and which serve
//! reads, and the state of every host ([`HostStatus`]), which the proxy reads from its routing
//! table. At this stage the active write host is the first candidate of the group's
//! `write_hosts` list; health checks and switching build on this interface.
#![warn(missing_docs)]

mod host_state;

pub use host_state::{HostState, HostStatus};

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
        let g = Group {
            name: "g0".into(),
            user: "u".into(),
            password: String::new(),
            write_hosts: vec!["10.0.0.1:3306".into(), "10.0.0.2:3306".into()],
            read_hosts: vec![],
            read_policy: Default::default(),
            read_weights: Default::default(),
            pool: Default::default(),
        };
        assert_eq!(active_write_host(&g), Some("10.0.0.1:3306"));
        let empty = Group {
            write_hosts: vec![],
            ..g
        };
        assert_eq!(active_write_host(&empty), None);
    }
}
