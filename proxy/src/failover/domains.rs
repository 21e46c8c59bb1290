//! The GTID domain rule, checked before any automatic failover: the hosts of every group
//! with failover enabled must share one `gtid_domain_id`, and no two such groups may share
//! one (positions are compared per domain; two histories in one domain cannot be told
//! apart). Checked once when the detector starts and again after every reload; a group
//! breaking the rule is not failed over automatically, with the reason in `/status`
//! (`failover.domain_check`) and the log. Unreachable hosts are skipped (checked next time).

use crate::server::Shared;
use hashbrown::HashMap;
use myshard_config::{Config, FailoverMode};
use myshard_failover::check_domains;
use myshard_failover::monitor::Login;
use std::sync::Arc;
use std::time::Duration;

/// Bound on connecting to a host and reading its domain.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Checks the domain rule over `config`'s groups with failover enabled (and GTID servers)
/// and records the refusals in `shared`'s failover state.
pub(super) async fn check(shared: &Arc<Shared>, config: &Config) {
    let groups: Vec<(String, Vec<Login>)> = config
        .groups
        .iter()
        .filter(|g| g.failover.mode != FailoverMode::Off && g.gtid)
        .map(|g| {
            let hosts = g
                .write_hosts
                .iter()
                .chain(g.read_hosts.iter().map(|r| &r.host));
            let mut logins: Vec<Login> = Vec::new();
            for h in hosts {
                if !logins.iter().any(|l| l.addr == *h) {
                    logins.push(super::switch::login(g, h));
                }
            }
            (g.name.clone(), logins)
        })
        .collect();
    let mut refusals = HashMap::new();
    match check_domains(&groups, CHECK_TIMEOUT).await {
        Ok(found) => {
            for (addr, why) in &found.unreachable {
                tracing::info!(host = %addr, %why, "GTID domain not checked: host unreachable");
            }
        }
        Err(why) => {
            let named: Vec<&String> = groups
                .iter()
                .map(|(g, _)| g)
                .filter(|g| names(&why, g))
                .collect();
            let refused: Vec<&String> = if named.is_empty() {
                groups.iter().map(|(g, _)| g).collect()
            } else {
                named
            };
            for g in refused {
                tracing::error!(group = %g, "automatic failover refused: {why}");
                refusals.insert(g.clone(), why.clone());
            }
        }
    }
    shared.failover.set_domain_refusals(refusals);
}

/// Whether the control plane's message `why` names `group` (`group g0:` or `groups g0 and
/// g1 share`).
fn names(why: &str, group: &str) -> bool {
    why.starts_with(&format!("group {group}:"))
        || why.starts_with(&format!("groups {group} and "))
        || why.contains(&format!(" and {group} share "))
}

#[cfg(test)]
mod tests {
    use super::names;

    #[test]
    fn the_groups_a_refusal_names() {
        let shared = "groups g0 and g1 share gtid_domain_id 1: each group needs its own";
        assert!(names(shared, "g0") && names(shared, "g1") && !names(shared, "g"));
        let mixed = "group g2: its hosts are in different GTID domains";
        assert!(names(mixed, "g2") && !names(mixed, "g0"));
    }
}
