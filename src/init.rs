//! `myshard init --config FILE`: creates every physical database of every logical schema
//! (one per shard for sharded schemas) on the active write host of the group holding it.
//!
//! Idempotent: databases that exist already are left alone and reported as such. Groups are
//! handled concurrently, each over one control-plane connection; every failure is reported,
//! not just the first.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow};
use myshard_config::{Config, Group};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};

/// What happened to one physical database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `CREATE DATABASE` created it.
    Created,
    /// It was there already.
    AlreadyExisted,
    /// It could not be created (or the host could not be reached); the reason.
    Failed(String),
}

/// One physical database and what `init` did with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseReport {
    /// Group holding it.
    pub group: String,
    /// The group's active write host (`host:port`), or a note when it has none.
    pub host: String,
    /// Physical database name.
    pub database: String,
    /// The result.
    pub outcome: Outcome,
}

/// The databases one group must hold.
struct GroupWork {
    group: Group,
    databases: Vec<String>,
    /// Its active write host (the decided one after a switch), or why it is not known.
    write_host: Result<Option<String>, String>,
}

/// Creates every physical database of `config`; one report per database, groups in
/// configuration order, databases in schema and shard order within each group.
pub async fn init(config: &Config) -> Vec<DatabaseReport> {
    // A switch may have moved a group's writes: the decision file says where.
    let decisions = myshard_proxy::failover::FailoverState::load(config).map_err(|e| e.to_string());
    let topology = config.topology();
    let mut work: Vec<GroupWork> = Vec::new();
    for db in topology.physical_databases() {
        match work.iter_mut().find(|w| w.group.name == db.group) {
            Some(w) => w.databases.push(db.database.to_owned()),
            None => {
                let Some(group) = config.group(db.group) else {
                    continue;
                };
                work.push(GroupWork {
                    group: group.clone(),
                    databases: vec![db.database.to_owned()],
                    write_host: decisions
                        .as_ref()
                        .map(|d| d.active_for(group))
                        .map_err(Clone::clone),
                });
            }
        }
    }
    // Configuration order of groups, whatever order schemas mention them in.
    work.sort_by_key(|w| config.groups.iter().position(|g| g.name == w.group.name));

    let mut tasks = tokio::task::JoinSet::new();
    for (index, w) in work.into_iter().enumerate() {
        tasks.spawn(async move { (index, init_group(w).await) });
    }
    let mut per_group: Vec<(usize, Vec<DatabaseReport>)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(done) => per_group.push(done),
            Err(err) => per_group.push((
                usize::MAX,
                vec![DatabaseReport {
                    group: "?".into(),
                    host: "?".into(),
                    database: "?".into(),
                    outcome: Outcome::Failed(format!("internal error: {err}")),
                }],
            )),
        }
    }
    per_group.sort_by_key(|(index, _)| *index);
    per_group.into_iter().flat_map(|(_, r)| r).collect()
}

/// Creates one group's databases over one connection to its active write host.
async fn init_group(work: GroupWork) -> Vec<DatabaseReport> {
    let group = &work.group;
    let report = |host: &str, database: &str, outcome: Outcome| DatabaseReport {
        group: group.name.clone(),
        host: host.to_owned(),
        database: database.to_owned(),
        outcome,
    };
    let host = match &work.write_host {
        Ok(host) => host.clone(),
        Err(e) => {
            return work
                .databases
                .iter()
                .map(|db| report("unknown", db, Outcome::Failed(e.clone())))
                .collect();
        }
    };
    let Some(host) = host else {
        return work
            .databases
            .iter()
            .map(|db| {
                report(
                    "no write host",
                    db,
                    Outcome::Failed("the group has no write host".into()),
                )
            })
            .collect();
    };
    let host = host.as_str();
    let mut conn = match connect(group, host).await {
        Ok(conn) => conn,
        Err(err) => {
            let reason = format!("cannot connect: {err}");
            return work
                .databases
                .iter()
                .map(|db| report(host, db, Outcome::Failed(reason.clone())))
                .collect();
        }
    };
    let mut reports = Vec::with_capacity(work.databases.len());
    for database in &work.databases {
        let sql = format!(
            "CREATE DATABASE IF NOT EXISTS {}",
            quote_identifier(database)
        );
        let outcome = match conn.query_drop(sql).await {
            // CREATE DATABASE reports one affected row when it created the database; with
            // IF NOT EXISTS an existing one gives none (and a note-level warning).
            Ok(()) if conn.affected_rows() > 0 => Outcome::Created,
            Ok(()) => Outcome::AlreadyExisted,
            Err(err) => Outcome::Failed(err.to_string()),
        };
        reports.push(report(host, database, outcome));
    }
    // The work is done; a failed goodbye changes nothing.
    let _ = conn.disconnect().await;
    reports
}

/// Opens a control-plane connection to `host` (`host:port` or `unix:/path`) with the
/// group's account, within the group's connect timeout.
async fn connect(group: &Group, host: &str) -> anyhow::Result<Conn> {
    let timeout = Duration::from_millis(group.pool.connect_timeout_ms);
    if let Some(path) = myshard_config::unix_socket_path(host) {
        let opts = OptsBuilder::default()
            .socket(Some(path))
            .user(Some(&group.user))
            .pass(Some(&group.password));
        return match tokio::time::timeout(timeout, Conn::new(opts)).await {
            Ok(conn) => Ok(conn?),
            Err(_) => Err(anyhow!("timed out after {} ms", timeout.as_millis())),
        };
    }
    let (name, port) = host
        .rsplit_once(':')
        .ok_or_else(|| anyhow!("`{host}` is not host:port"))?;
    let port: u16 = port
        .parse()
        .with_context(|| format!("bad port in `{host}`"))?;
    let name = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    let opts = OptsBuilder::default()
        .ip_or_hostname(name)
        .tcp_port(port)
        .user(Some(&group.user))
        .pass(Some(&group.password))
        .prefer_socket(false);
    match tokio::time::timeout(timeout, Conn::new(opts)).await {
        Ok(conn) => Ok(conn?),
        Err(_) => Err(anyhow!("timed out after {} ms", timeout.as_millis())),
    }
}

/// `name` as a backquoted MySQL identifier.
fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Runs `init` for the `myshard init` command: one line per database on standard output,
/// every failure on standard error, exit status 1 if anything failed.
pub fn run(config: &Config) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("myshard init: starting the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    let reports = runtime.block_on(init(config));
    // Failures with the same cause on the same group (typically an unreachable host) are
    // reported once, naming every database they hit.
    let mut failures: Vec<(&str, &str, &str, Vec<&str>)> = Vec::new();
    for report in &reports {
        let DatabaseReport {
            group,
            host,
            database,
            outcome,
        } = report;
        match outcome {
            Outcome::Created => println!("{database} on group {group} ({host}): created"),
            Outcome::AlreadyExisted => {
                println!("{database} on group {group} ({host}): already existed")
            }
            Outcome::Failed(reason) => {
                let same = |f: &&mut (&str, &str, &str, Vec<&str>)| {
                    f.0 == group && f.1 == host && f.2 == reason
                };
                match failures.iter_mut().find(same) {
                    Some(failure) => failure.3.push(database),
                    None => failures.push((group, host, reason, vec![database])),
                }
            }
        }
    }
    if failures.is_empty() {
        println!("myshard init: {} databases ready", reports.len());
        return ExitCode::SUCCESS;
    }
    let mut failed = 0;
    for (group, host, reason, databases) in &failures {
        failed += databases.len();
        eprintln!(
            "myshard init: group {group} ({host}): {reason}; not created: {}",
            databases.join(", ")
        );
    }
    eprintln!(
        "myshard init: {failed} of {} databases could not be created",
        reports.len()
    );
    ExitCode::from(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_identifier("shop_0001"), "`shop_0001`");
        assert_eq!(quote_identifier("a`b"), "`a``b`");
    }
}
