//! Starting myshard in-process in front of harness servers, for end-to-end tests.

use super::{MYSHARD_PASSWORD, MYSHARD_USER, MariaDb};
use anyhow::Result;
use myshard_config::{Config, Group, Heartbeat, Pool, Schema, User};
use mysql_async::{Conn, Opts, OptsBuilder};

/// Proxy account used by tests.
pub const APP_USER: &str = "app";
/// Its password.
pub const APP_PASSWORD: &str = "app-secret";

/// A configuration with one group per server (`g0`, `g1`, …) and one unsharded schema
/// per group (`s0` → database `s0_db` on g0, …), user `app` allowed on all of them.
pub fn config_for(servers: &[&MariaDb]) -> Config {
    let groups: Vec<Group> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| Group {
            pool: Pool {
                max: 16,
                ..Pool::default()
            },
            heartbeat: no_heartbeat(),
            ..Group::new(
                &format!("g{i}"),
                MYSHARD_USER,
                MYSHARD_PASSWORD,
                &[&s.addr()],
            )
        })
        .collect();
    let schemas = (0..servers.len())
        .map(|i| {
            Schema::unsharded(
                &format!("s{i}"),
                &format!("g{i}"),
                Some(&format!("s{i}_db")),
            )
        })
        .collect();
    Config {
        listen: "127.0.0.1:0".into(),
        listen_socket: None,
        max_client_connections: 1000,
        max_allowed_packet: 64 * 1024 * 1024,
        merge: Default::default(),
        limits: Default::default(),
        server_version: None,
        admin_http: None,
        state_dir: None,
        cluster_name: None,
        users: vec![User {
            admin: true,
            ..User::new(APP_USER, APP_PASSWORD, &["*"])
        }],
        groups,
        schemas,
        proxy_id: None,
    }
}

/// Creates each schema's physical database on its server.
pub async fn create_databases(servers: &[&MariaDb]) -> Result<()> {
    for (i, s) in servers.iter().enumerate() {
        s.exec(&format!("CREATE DATABASE IF NOT EXISTS s{i}_db"))
            .await?;
    }
    Ok(())
}

/// Starts the proxy with `config`.
pub async fn start_proxy(config: Config) -> Result<myshard_proxy::ProxyHandle> {
    Ok(myshard_proxy::start(config).await?)
}

/// mysql_async options for a proxy connection.
pub fn proxy_opts(
    proxy: &myshard_proxy::ProxyHandle,
    user: &str,
    password: &str,
    db: Option<&str>,
) -> Opts {
    OptsBuilder::default()
        .ip_or_hostname(proxy.addr().ip().to_string())
        .tcp_port(proxy.addr().port())
        .user(Some(user))
        .pass(Some(password))
        .db_name(db)
        .prefer_socket(false)
        .into()
}

/// Connects to the proxy as `app` in `db`.
pub async fn app_conn(proxy: &myshard_proxy::ProxyHandle, db: Option<&str>) -> Result<Conn> {
    Ok(Conn::new(proxy_opts(proxy, APP_USER, APP_PASSWORD, db)).await?)
}

/// Heartbeat settings that leave the health monitor off: the tests built on these
/// configurations count the proxy's backend connections and pause servers, and expect
/// neither a heartbeat connection nor a host marked down. Tests of the monitor turn it on.
pub fn no_heartbeat() -> Heartbeat {
    Heartbeat {
        enabled: false,
        ..Heartbeat::default()
    }
}

/// A configuration for two servers with logical schema `shop` sharded over `shards`
/// shards (`shop_0000`…), the first half on g0 and the rest on g1, home shard 0, and the
/// `tables` rules given as YAML flow mappings (e.g. `{name: orders, shard_key: uid}`).
/// Also an unsharded schema `crm` on g1 (database `crm_db`).
pub fn sharded_config(g0: &MariaDb, g1: &MariaDb, shards: u32, tables: &[&str]) -> Config {
    let half = shards / 2;
    let yaml = format!(
        "listen: 127.0.0.1:0
users: [{{name: {APP_USER}, password: {APP_PASSWORD}, schemas: ['*'], admin: true, shard_hint_writes: true}}]
groups:
  - {{name: g0, user: {MYSHARD_USER}, password: {MYSHARD_PASSWORD}, write_hosts: ['{a0}'], pool: {{max: 16}}, heartbeat: {{enabled: false}}}}
  - {{name: g1, user: {MYSHARD_USER}, password: {MYSHARD_PASSWORD}, write_hosts: ['{a1}'], pool: {{max: 16}}, heartbeat: {{enabled: false}}}}
schemas:
  - name: shop
    shards: {shards}
    placement: [{{group: g0, shards: '0-{h0}'}}, {{group: g1, shards: '{half}-{last}'}}]
    tables: [{tables}]
  - {{name: crm, group: g1, database: crm_db}}
",
        a0 = g0.addr(),
        a1 = g1.addr(),
        h0 = half - 1,
        last = shards - 1,
        tables = tables.join(", "),
    );
    myshard_config::parse(&yaml, "sharded test config")
        .unwrap_or_else(|e| panic!("test config: {e}"))
}

/// Creates every physical database of `config` on its server (what `myshard init` does).
pub async fn create_shard_databases(config: &Config, servers: &[&MariaDb]) -> Result<()> {
    let topology = myshard_config::Topology::new(config);
    for db in topology.physical_databases() {
        let i: usize = db.group.trim_start_matches('g').parse()?;
        servers[i]
            .exec(&format!("CREATE DATABASE IF NOT EXISTS `{}`", db.database))
            .await?;
    }
    Ok(())
}

/// Two servers (groups g0 and g1) holding [`sharded_config`]'s schemas, with every physical
/// database created, behind an in-process proxy.
pub struct ShardedCluster {
    /// The server of group g0 (the first half of the shards).
    pub g0: MariaDb,
    /// The server of group g1 (the other half, and `crm`).
    pub g1: MariaDb,
    /// The proxy.
    pub proxy: myshard_proxy::ProxyHandle,
}

impl ShardedCluster {
    /// Starts the servers and the proxy on [`sharded_config`]`(shards, tables)` as changed
    /// by `tweak` (users, limits, pools, …).
    pub async fn start(
        shards: u32,
        tables: &[&str],
        tweak: impl FnOnce(&mut Config),
    ) -> Result<ShardedCluster> {
        Self::start_in_domains(shards, tables, tweak, None).await
    }

    /// [`ShardedCluster::start`] with g1 writing GTID domain `g1_domain` (when given) from
    /// before the proxy connects: a session keeps the domain it started with, so a domain
    /// set later does not reach the proxy's pooled connections.
    pub async fn start_in_domains(
        shards: u32,
        tables: &[&str],
        tweak: impl FnOnce(&mut Config),
        g1_domain: Option<u32>,
    ) -> Result<ShardedCluster> {
        let mut servers = MariaDb::start_many(2).await?;
        let g1 = servers.remove(1);
        let g0 = servers.remove(0);
        if let Some(domain) = g1_domain {
            g1.exec(&format!("SET GLOBAL gtid_domain_id = {domain}"))
                .await?;
        }
        let mut config = sharded_config(&g0, &g1, shards, tables);
        tweak(&mut config);
        create_shard_databases(&config, &[&g0, &g1]).await?;
        let proxy = start_proxy(config).await?;
        Ok(ShardedCluster { g0, g1, proxy })
    }
}
