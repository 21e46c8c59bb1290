//! The GTID domain rule failover depends on: every host of a group shares one
//! `gtid_domain_id` (its history is one sequence), and no two groups share one (a replica
//! that ever receives both would mix two histories). Positions are compared per domain, so
//! a group whose domain is not its own cannot be failed over safely.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::monitor::Login;

use super::server::Server;

/// What the domain check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Domains {
    /// Each group's `gtid_domain_id` (groups none of whose hosts answered are missing).
    pub by_group: BTreeMap<String, u32>,
    /// Hosts that did not answer (`host:port`, why); they were not checked.
    pub unreachable: Vec<(String, String)>,
}

/// Reads `@@gtid_domain_id` of every host of every group (bounded by `timeout` each, all at
/// once) and checks the rule; the error is the reason failover must be refused.
pub async fn check_domains(
    groups: &[(String, Vec<Login>)],
    timeout: Duration,
) -> Result<Domains, String> {
    let mut tasks = tokio::task::JoinSet::new();
    for (group, hosts) in groups {
        for login in hosts {
            let (group, login) = (group.clone(), login.clone());
            tasks.spawn(async move {
                let answer = async {
                    let mut server = Server::connect(&login, timeout).await?;
                    server.first::<u32>("SELECT @@gtid_domain_id").await
                }
                .await;
                (group, login.addr, answer)
            });
        }
    }
    let mut seen = Vec::new();
    let mut unreachable = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((group, addr, Ok(domain))) => seen.push((group, addr, domain)),
            Ok((_, addr, Err(why))) => unreachable.push((addr, why)),
            Err(e) => unreachable.push(("?".into(), format!("check task failed: {e}"))),
        }
    }
    seen.sort();
    unreachable.sort();
    let by_group = domain_per_group(&seen)?;
    Ok(Domains {
        by_group,
        unreachable,
    })
}

/// Checks the rule on `(group, host, gtid_domain_id)` triples; returns each group's domain.
pub fn domain_per_group(seen: &[(String, String, u32)]) -> Result<BTreeMap<String, u32>, String> {
    let mut by_group: BTreeMap<String, (u32, &str)> = BTreeMap::new();
    for (group, host, domain) in seen {
        match by_group.get(group) {
            Some((first, first_host)) if first != domain => {
                return Err(format!(
                    "group {group}: its hosts are in different GTID domains ({first_host} has \
                     gtid_domain_id {first}, {host} has {domain}); failover refused"
                ));
            }
            Some(_) => {}
            None => {
                by_group.insert(group.clone(), (*domain, host));
            }
        }
    }
    let mut owner: BTreeMap<u32, &str> = BTreeMap::new();
    for (group, (domain, _)) in &by_group {
        if let Some(other) = owner.insert(*domain, group) {
            return Err(format!(
                "groups {other} and {group} share gtid_domain_id {domain}: each group needs \
                 its own domain or their positions cannot be compared; failover refused"
            ));
        }
    }
    Ok(by_group.into_iter().map(|(g, (d, _))| (g, d)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(group: &str, host: &str, domain: u32) -> (String, String, u32) {
        (group.into(), host.into(), domain)
    }

    #[test]
    fn one_domain_per_group_and_group_per_domain() {
        let good = [t("g0", "a", 1), t("g0", "b", 1), t("g1", "c", 2)];
        let domains = domain_per_group(&good);
        assert_eq!(domains.map(|d| d.get("g1").copied()), Ok(Some(2)));
        let mixed = [t("g0", "a", 1), t("g0", "b", 3)];
        let err = domain_per_group(&mixed).err().unwrap_or_default();
        assert!(err.contains("different GTID domains"), "{err}");
        let shared = [t("g0", "a", 1), t("g1", "b", 1)];
        let err = domain_per_group(&shared).err().unwrap_or_default();
        assert!(err.contains("share gtid_domain_id 1"), "{err}");
    }
}
