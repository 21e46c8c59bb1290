//! The client matrix run through myshard: every real client library of tests/clients (the
//! mariadb CLI, PyMySQL, mysql-connector-python, Go go-sql-driver, MariaDB Connector/J,
//! node mysql2, sysbench) checks exact type round trips, affected rows, insert ids,
//! errors, transactions and a 5 MiB value against a real MariaDB behind the proxy.
//!
//! The client programs are installed and built by tests/clients/setup.sh, which this test
//! runs first (it is idempotent and quick once done).
//!
//! The `*_sharded` tests run the Go driver (server-side prepared statements, routed by bound
//! values) and sysbench against a schema sharded over 16 shards on two groups, then check on
//! the backends where every row landed. `paging_sharded` runs the paging scenario of
//! tests/clients/PAGING.md with every driver that prepares server-side, each page compared
//! with a plain MariaDB's.

mod harness;

use anyhow::{Context, Result, bail};
use harness::MariaDb;
use harness::proxy::{
    APP_PASSWORD, APP_USER, config_for, create_shard_databases, sharded_config, start_proxy,
};
use myshard_config::Schema;
use std::path::Path;
use std::process::Command;

/// Logical schema the clients use; it lives in a physical database of another name, so a
/// client that saw the physical name would fail its checks.
const SCHEMA: &str = "cm";

fn clients_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients"))
}

/// Runs setup.sh under a file lock (tests may run in parallel processes).
fn setup_clients() -> Result<()> {
    let dir = clients_dir();
    let status = Command::new("flock")
        .arg(dir.join(".setup.lock"))
        .arg("bash")
        .arg(dir.join("setup.sh"))
        .status()
        .context("running tests/clients/setup.sh")?;
    if !status.success() {
        bail!("tests/clients/setup.sh failed: {status}");
    }
    Ok(())
}

/// Runs `bash tests/clients/SCRIPT ARGS…` against the proxy at `port` in schema `db`, with
/// extra environment `env`; returns its standard output, or fails with all of its output.
async fn run_script(
    script: &str,
    args: &[&str],
    port: u16,
    db: &str,
    env: &[(&str, &str)],
) -> Result<String> {
    let mut cmd = Command::new("bash");
    cmd.arg(clients_dir().join(script))
        .args(args)
        .env("MYSHARD_HOST", "127.0.0.1")
        .env("MYSHARD_PORT", port.to_string())
        .env("MYSHARD_USER", APP_USER)
        .env("MYSHARD_PASSWORD", APP_PASSWORD)
        .env("MYSHARD_DB", db);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output()).await??;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    if !out.status.success() {
        bail!(
            "{script} {args:?} failed ({})\n{stdout}\n{stderr}",
            out.status
        );
    }
    Ok(stdout)
}

async fn run_client(client: &str) -> Result<()> {
    setup_clients()?;
    let db = MariaDb::start().await?;
    db.exec("CREATE DATABASE cm_physical").await?;
    let mut config = config_for(&[&db]);
    config
        .schemas
        .push(Schema::unsharded(SCHEMA, "g0", Some("cm_physical")));
    let proxy = start_proxy(config).await?;
    run_script("run.sh", &[client], proxy.addr().port(), SCHEMA, &[]).await?;
    // The rows really are in the physical database behind the logical schema.
    let tables: Vec<String> = db
        .query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'cm_physical'",
        )
        .await?;
    if client != "sysbench" && !tables.iter().any(|t| t.starts_with("cm_")) {
        bail!("no client table landed in cm_physical: {tables:?}");
    }
    Ok(())
}

macro_rules! client_test {
    ($name:ident, $client:literal) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() -> Result<()> {
            run_client($client).await
        }
    };
}

client_test!(mariadb_cli, "cli");
client_test!(pymysql, "pymysql");
client_test!(mysql_connector_python, "connector");
client_test!(go_sql_driver, "go");
client_test!(connector_j, "java");
client_test!(node_mysql2, "node");
client_test!(sysbench_oltp_read_write, "sysbench");

// ---- against a sharded schema ----------------------------------------------------------------

/// Shards of the sharded schema `shop` (0-7 on g0, 8-15 on g1).
const SHARDS: u32 = 16;

/// The tables the sharded client programs use.
const SHARDED_TABLES: &[&str] = &[
    "{name: sbtest1, shard_key: id}",
    "{name: cm_go_sharded, shard_key: k}",
    "{name: cm_go_sharded_s, shard_key: name, key_type: string, collation: utf8mb4_general_ci}",
    "{name: cm_paging_go, shard_key: id}",
    "{name: cm_paging_java, shard_key: id}",
    "{name: cm_paging_mysql2, shard_key: id}",
    "{name: cm_paging_connector, shard_key: id}",
    "{name: cm_paging_connector_cext, shard_key: id}",
];

/// The paging runs of tests/clients/run.sh (mode of `paging-sharded`) and the table each fills.
const PAGING_RUNS: &[(&str, &str)] = &[
    ("go-prepared", "cm_paging_go"),
    ("java-server-prep", "cm_paging_java"),
    ("node-execute", "cm_paging_mysql2"),
    ("connector-prepared", "cm_paging_connector"),
    ("connector-cext-prepared", "cm_paging_connector_cext"),
];

/// Two servers (groups g0 and g1) and the proxy with `shop` sharded over them.
struct ShardedCluster {
    proxy: myshard_proxy::ProxyHandle,
    g0: MariaDb,
    g1: MariaDb,
}

impl ShardedCluster {
    async fn start() -> Result<ShardedCluster> {
        let mut servers = MariaDb::start_many(2).await?;
        let g1 = servers.remove(1);
        let g0 = servers.remove(0);
        let config = sharded_config(&g0, &g1, SHARDS, SHARDED_TABLES);
        create_shard_databases(&config, &[&g0, &g1]).await?;
        let proxy = start_proxy(config).await?;
        Ok(ShardedCluster { proxy, g0, g1 })
    }

    fn server(&self, shard: u32) -> &MariaDb {
        if shard < SHARDS / 2 {
            &self.g0
        } else {
            &self.g1
        }
    }

    /// Runs `sql` (with `{db}` standing for the shard's database) on every shard.
    async fn per_shard<T: mysql_async::prelude::FromRow + Send + 'static>(
        &self,
        sql: &str,
    ) -> Result<Vec<Vec<T>>> {
        let mut out = Vec::new();
        for s in 0..SHARDS {
            let q = sql.replace("{db}", &format!("shop_{s:04}"));
            out.push(self.server(s).query(&q).await?);
        }
        Ok(out)
    }

    /// Checks that every row of integer-keyed `table` sits on shard |key| mod 16 and that
    /// both groups hold some; returns the keys, all shards together.
    async fn check_integer_placement(&self, table: &str, key: &str) -> Result<Vec<i64>> {
        let per_shard: Vec<Vec<i64>> = self
            .per_shard(&format!("SELECT {key} FROM {{db}}.{table}"))
            .await?;
        let mut all = Vec::new();
        for (s, keys) in per_shard.iter().enumerate() {
            for k in keys {
                if k.unsigned_abs() % u64::from(SHARDS) != s as u64 {
                    bail!("{table}: a row with {key} {k} is on shard {s}");
                }
            }
            all.extend(keys);
        }
        let half = SHARDS as usize / 2;
        let on_g0: usize = per_shard[..half].iter().map(Vec::len).sum();
        let on_g1: usize = per_shard[half..].iter().map(Vec::len).sum();
        if on_g0 == 0 || on_g1 == 0 {
            bail!("{table}: rows are not spread over both groups ({on_g0} on g0, {on_g1} on g1)");
        }
        Ok(all)
    }

    /// Whether `table` exists on every shard (true) or on none (false); fails otherwise.
    async fn table_everywhere(&self, table: &str) -> Result<bool> {
        let found: Vec<Vec<String>> = self
            .per_shard(&format!(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = '{{db}}' AND table_name = '{table}'"
            ))
            .await?;
        let n = found.iter().filter(|f| !f.is_empty()).count();
        match n {
            0 => Ok(false),
            n if n == SHARDS as usize => Ok(true),
            n => bail!("{table} exists on {n} of {SHARDS} shards"),
        }
    }
}

/// The number before `word` in `text` ("… (41 rows in cm_go_sharded, …" → 41).
fn count_before(text: &str, word: &str) -> Option<usize> {
    let at = text.find(word)?;
    text[..at]
        .split_whitespace()
        .last()?
        .trim_start_matches('(')
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_sql_driver_sharded() -> Result<()> {
    setup_clients()?;
    let c = ShardedCluster::start().await?;
    let out = run_script(
        "run.sh",
        &["go-sharded"],
        c.proxy.addr().port(),
        "shop",
        &[],
    )
    .await?;
    // The tables were created on every shard, and each row lives where its key hashes.
    for t in ["cm_go_sharded", "cm_go_sharded_s"] {
        if !c.table_everywhere(t).await? {
            bail!("{t} was not created on the shards");
        }
    }
    let keys = c.check_integer_placement("cm_go_sharded", "k").await?;
    let reported = count_before(&out, "rows in cm_go_sharded,")
        .with_context(|| format!("no row count in the program's output: {out}"))?;
    if keys.len() != reported {
        bail!(
            "the shards hold {} rows of cm_go_sharded, the program saw {reported}",
            keys.len()
        );
    }
    for k in [i64::MIN, i64::MAX, -100, 0, 15, 16, 1 << 40] {
        if !keys.contains(&k) {
            bail!("no row with key {k} on any shard: {keys:?}");
        }
    }
    // String keys: spellings equal under the collation (same weight string) share a shard.
    let weights: Vec<Vec<String>> = c
        .per_shard("SELECT HEX(WEIGHT_STRING(name)) FROM {db}.cm_go_sharded_s")
        .await?;
    let mut shard_of_weight = std::collections::HashMap::new();
    let mut rows = 0;
    for (s, ws) in weights.iter().enumerate() {
        for w in ws {
            rows += 1;
            if let Some(other) = shard_of_weight.insert(w.clone(), s)
                && other != s
            {
                bail!("names with weight {w} are on shards {other} and {s}");
            }
        }
    }
    let reported = count_before(&out, "rows in cm_go_sharded_s")
        .with_context(|| format!("no row count in the program's output: {out}"))?;
    if rows != reported || shard_of_weight.len() < 4 {
        bail!(
            "cm_go_sharded_s: {rows} rows with {} distinct names on the shards, the program saw {reported}",
            shard_of_weight.len()
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysbench_oltp_read_write_sharded() -> Result<()> {
    setup_clients()?;
    let c = ShardedCluster::start().await?;
    // A transaction touching shards on both groups can deadlock with another one across the
    // two servers, which neither InnoDB sees: it ends only by a lock wait timeout (1205, which
    // sysbench retries), 50 s by default. Keep that short so the run ends on time.
    for server in [&c.g0, &c.g1] {
        server
            .exec("SET GLOBAL innodb_lock_wait_timeout = 2")
            .await?;
    }
    let port = c.proxy.addr().port();
    // prepare (CREATE TABLE, multi-row INSERTs, CREATE INDEX) and 10 s of oltp_read_write,
    // all through the proxy; the table is kept for inspection.
    run_script(
        "run.sh",
        &["sysbench-sharded"],
        port,
        "shop",
        &[("MYSHARD_SYSBENCH_KEEP", "1")],
    )
    .await?;
    let mut ids = c.check_integer_placement("sbtest1", "id").await?;
    ids.sort_unstable();
    if ids != (1..=1000).collect::<Vec<i64>>() {
        bail!(
            "sbtest1 should hold ids 1..=1000 once each, the shards hold {} rows",
            ids.len()
        );
    }
    let indexes: Vec<Vec<String>> = c
        .per_shard(
            "SELECT index_name FROM information_schema.statistics WHERE table_schema = '{db}' AND table_name = 'sbtest1' AND index_name = 'k_1'",
        )
        .await?;
    if let Some(s) = indexes.iter().position(Vec::is_empty) {
        bail!("the secondary index k_1 is missing on shard {s}");
    }
    // sysbench's cleanup drops the table on every shard.
    run_script("sysbench.sh", &["sharded", "cleanup"], port, "shop", &[]).await?;
    if c.table_everywhere("sbtest1").await? {
        bail!("sbtest1 is still on the shards after sysbench cleanup");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_sharded() -> Result<()> {
    setup_clients()?;
    let c = ShardedCluster::start().await?;
    // The plain MariaDB every page is compared with.
    let reference = MariaDb::start().await?;
    reference.exec("CREATE DATABASE shop_ref").await?;
    let ref_port = reference.port().to_string();
    let out = run_script(
        "run.sh",
        &["paging-sharded"],
        c.proxy.addr().port(),
        "shop",
        &[
            ("MYSHARD_REF_PORT", &ref_port),
            ("MYSHARD_REF_USER", harness::MYSHARD_USER),
            ("MYSHARD_REF_PASSWORD", harness::MYSHARD_PASSWORD),
            ("MYSHARD_REF_DB", "shop_ref"),
        ],
    )
    .await?;
    let inserted: Vec<i64> = (-20..=300).collect();
    for (mode, table) in PAGING_RUNS {
        // Each driver ran (a missing one fails run.sh, and so this test), and says how many
        // rows its table holds through the proxy.
        let line = out
            .lines()
            .find(|l| l.starts_with("PASS") && l.split_whitespace().nth(2) == Some(mode))
            .with_context(|| format!("no PASS line for paging {mode}: {out}"))?;
        let reported = count_before(line, &format!("rows in {table};"))
            .with_context(|| format!("no row count for {table} in: {line}"))?;
        let mut keys = c.check_integer_placement(table, "id").await?;
        keys.sort_unstable();
        if keys != inserted || reported != keys.len() {
            bail!(
                "{table}: the shards hold {} rows (the program saw {reported}), expected ids -20..=300 once each",
                keys.len()
            );
        }
        let on_reference: Vec<i64> = reference
            .query(&format!("SELECT COUNT(*) FROM shop_ref.{table}"))
            .await?;
        if on_reference != [keys.len() as i64] {
            bail!("{table}: the plain MariaDB holds {on_reference:?} rows");
        }
    }
    Ok(())
}
