//! Works out the [`ReloadPlan`] of a reload that the refusal rules accepted: which hosts,
//! groups, accounts, schemas and settings differ between the running configuration and the
//! new file.

use crate::model::{Config, Group};
use crate::topology::{SchemaTopology, Topology};

use super::plan::{
    HostChange, HostRef, HostRole, HostSetting, PoolChange, ReloadPlan, TableRef, WriteHostSwitch,
};

/// The plan taking `running` to `new`; both valid, and the reload not refused.
pub(super) fn plan(
    running: &Config,
    new: &Config,
    running_topology: &Topology,
    new_topology: &Topology,
) -> ReloadPlan {
    let mut plan = ReloadPlan::default();
    groups(running, new, &mut plan);
    hosts(running, new, &mut plan);
    users(running, new, &mut plan);
    schemas(running_topology, new_topology, &mut plan);
    settings(running, new, &mut plan);
    plan
}

fn groups(running: &Config, new: &Config, plan: &mut ReloadPlan) {
    for group in &new.groups {
        let Some(old) = running.group(&group.name) else {
            plan.groups_added.push(group.name.clone());
            continue;
        };
        if let (Some(from), Some(to)) = (old.write_hosts.first(), group.write_hosts.first())
            && from != to
        {
            plan.write_host_switches.push(WriteHostSwitch {
                group: group.name.clone(),
                from: from.clone(),
                to: to.clone(),
            });
        }
        if old.pool != group.pool {
            plan.pool_changes.push(PoolChange {
                group: group.name.clone(),
                from: old.pool.clone(),
                to: group.pool.clone(),
            });
        }
    }
    plan.groups_removed = running
        .groups
        .iter()
        .filter(|group| new.group(&group.name).is_none())
        .map(|group| group.name.clone())
        .collect();
}

/// Hosts are identified by (group, address): the same address in another group has other
/// credentials and pool settings, so it is another host as far as pools go.
fn hosts(running: &Config, new: &Config, plan: &mut ReloadPlan) {
    let old_hosts = host_list(running);
    let new_hosts = host_list(new);
    let find = |list: &[HostRef], host: &HostRef| {
        list.iter()
            .find(|h| h.group == host.group && h.address == host.address)
            .map(|h| h.role)
    };
    for host in &new_hosts {
        let Some(old_role) = find(&old_hosts, host) else {
            plan.hosts_added.push(host.clone());
            continue;
        };
        let (Some(old_group), Some(group)) = (running.group(&host.group), new.group(&host.group))
        else {
            continue;
        };
        let mut changes = Vec::new();
        if old_group.user != group.user || old_group.password != group.password {
            changes.push(HostSetting::Account);
        }
        if old_group.pool != group.pool {
            changes.push(HostSetting::Pool);
        }
        if old_role != host.role {
            changes.push(HostSetting::Role { from: old_role });
        }
        if !changes.is_empty() {
            plan.hosts_changed.push(HostChange {
                host: host.clone(),
                changes,
            });
        }
    }
    plan.hosts_removed = old_hosts
        .iter()
        .filter(|host| find(&new_hosts, host).is_none())
        .cloned()
        .collect();
}

/// Every (group, address) of `config` once, write hosts first, in file order.
fn host_list(config: &Config) -> Vec<HostRef> {
    let mut list: Vec<HostRef> = Vec::new();
    for group in &config.groups {
        let start = list.len();
        for (address, role) in listed(group) {
            match list[start..].iter_mut().find(|h| h.address == *address) {
                Some(seen) if seen.role != role => seen.role = HostRole::WriteAndRead,
                Some(_) => {}
                None => list.push(HostRef {
                    group: group.name.clone(),
                    address: address.clone(),
                    role,
                }),
            }
        }
    }
    list
}

fn listed(group: &Group) -> impl Iterator<Item = (&String, HostRole)> {
    let write = group.write_hosts.iter().map(|h| (h, HostRole::Write));
    let read = group.read_hosts.iter().map(|h| (&h.host, HostRole::Read));
    write.chain(read)
}

fn users(running: &Config, new: &Config, plan: &mut ReloadPlan) {
    for user in &new.users {
        match running.user(&user.name) {
            None => plan.users_added.push(user.name.clone()),
            Some(old) if old != user => plan.users_changed.push(user.name.clone()),
            Some(_) => {}
        }
    }
    plan.users_removed = running
        .users
        .iter()
        .filter(|user| new.user(&user.name).is_none())
        .map(|user| user.name.clone())
        .collect();
}

fn schemas(running: &Topology, new: &Topology, plan: &mut ReloadPlan) {
    for (name, schema) in new.schemas() {
        let Some(old) = running.schema(name) else {
            plan.schemas_added.push(name.to_owned());
            continue;
        };
        if old == schema {
            continue;
        }
        plan.schemas_changed.push(name.to_owned());
        if let (SchemaTopology::Sharded(old), SchemaTopology::Sharded(now)) = (old, schema) {
            let mut added: Vec<&String> = now
                .tables
                .keys()
                .filter(|table| old.table(table).is_none())
                .collect();
            // The topology keeps tables in a map; sort so that the plan reads the same each time.
            added.sort();
            plan.tables_added
                .extend(added.into_iter().map(|table| TableRef {
                    schema: name.to_owned(),
                    table: table.clone(),
                }));
        }
    }
}

fn settings(running: &Config, new: &Config, plan: &mut ReloadPlan) {
    let changed = [
        (
            "max_client_connections",
            running.max_client_connections != new.max_client_connections,
        ),
        (
            "max_allowed_packet",
            running.max_allowed_packet != new.max_allowed_packet,
        ),
        ("merge", running.merge != new.merge),
        ("limits", running.limits != new.limits),
        (
            "server_version",
            running.server_version != new.server_version,
        ),
    ];
    plan.settings_changed = changed
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(name, _)| name)
        .collect();
}
