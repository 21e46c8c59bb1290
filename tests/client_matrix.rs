//! The client matrix run through myshard: every real client library of tests/clients (the
//! mariadb CLI, PyMySQL, mysql-connector-python, Go go-sql-driver, MariaDB Connector/J,
//! node mysql2, sysbench) checks exact type round trips, affected rows, insert ids,
//! errors, transactions and a 5 MiB value against a real MariaDB behind the proxy.
//!
//! The client programs are installed and built by tests/clients/setup.sh, which this test
//! runs first (it is idempotent and quick once done).

mod harness;

use anyhow::{Context, Result, bail};
use harness::MariaDb;
use harness::proxy::{APP_PASSWORD, APP_USER, config_for, start_proxy};
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

async fn run_client(client: &str) -> Result<()> {
    setup_clients()?;
    let db = MariaDb::start().await?;
    db.exec("CREATE DATABASE cm_physical").await?;
    let mut config = config_for(&[&db]);
    config
        .schemas
        .push(Schema::unsharded(SCHEMA, "g0", Some("cm_physical")));
    let proxy = start_proxy(config).await?;
    let port = proxy.addr().port().to_string();
    let out = tokio::task::spawn_blocking({
        let client = client.to_string();
        move || {
            Command::new("bash")
                .arg(clients_dir().join("run.sh"))
                .arg(&client)
                .env("MYSHARD_HOST", "127.0.0.1")
                .env("MYSHARD_PORT", &port)
                .env("MYSHARD_USER", APP_USER)
                .env("MYSHARD_PASSWORD", APP_PASSWORD)
                .env("MYSHARD_DB", SCHEMA)
                .output()
        }
    })
    .await??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    if !out.status.success() {
        bail!(
            "client matrix for {client} failed ({})\n{stdout}\n{stderr}",
            out.status
        );
    }
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
