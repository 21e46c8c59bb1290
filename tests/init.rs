//! `myshard init` against two real MariaDB servers: every physical database is created on
//! the right server and nowhere else, a second run changes nothing, and an unreachable group
//! fails the run with the group and host named (after the reachable groups are done).

mod harness;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use anyhow::{Context, Result, ensure};
use harness::{MYSHARD_PASSWORD, MYSHARD_USER, MariaDb};

/// A configuration with a sharded schema `shop` (16 shards: 0-7 on g0, 8-15 on g1) and an
/// unsharded schema `crm` (database `crm_main` on g1).
fn config_yaml(g0: &str, g1: &str) -> String {
    format!(
        r#"listen: 127.0.0.1:0
users:
  - {{name: app, password: app-secret, schemas: ["*"]}}
groups:
  - {{name: g0, user: {MYSHARD_USER}, password: {MYSHARD_PASSWORD}, write_hosts: ["{g0}"], pool: {{connect_timeout_ms: 3000}}}}
  - {{name: g1, user: {MYSHARD_USER}, password: {MYSHARD_PASSWORD}, write_hosts: ["{g1}"], pool: {{connect_timeout_ms: 3000}}}}
schemas:
  - name: shop
    shards: 16
    placement:
      - {{group: g0, shards: "0-7"}}
      - {{group: g1, shards: "8-15"}}
    tables:
      - {{name: orders, shard_key: customer_id}}
  - name: crm
    group: g1
    database: crm_main
"#
    )
}

/// Runs `myshard init --config FILE` with `yaml` as FILE.
async fn run_init(dir: &Path, yaml: String) -> Result<Output> {
    let path = dir.join("myshard.yaml");
    std::fs::write(&path, yaml).context("writing the configuration")?;
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_myshard"))
            .arg("init")
            .arg("--config")
            .arg(&path)
            .env("RUST_BACKTRACE", "1")
            .output()
            .context("running myshard init")
    })
    .await?
}

async fn databases(server: &MariaDb) -> Result<BTreeSet<String>> {
    Ok(server
        .query::<String>("SHOW DATABASES")
        .await?
        .into_iter()
        .collect())
}

fn shards(range: std::ops::Range<u32>) -> impl Iterator<Item = String> {
    range.map(|shard| format!("shop_{shard:04}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_creates_every_database_where_it_belongs() -> Result<()> {
    let servers = MariaDb::start_many(2).await?;
    let (s0, s1) = (&servers[0], &servers[1]);
    let before0 = databases(s0).await?;
    let before1 = databases(s1).await?;
    // One shard database exists already: it must be reported, not recreated.
    s0.exec("CREATE DATABASE shop_0003").await?;
    let dir = tempfile::tempdir()?;

    let out = run_init(dir.path(), config_yaml(&s0.addr(), &s1.addr())).await?;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    ensure!(
        out.status.success(),
        "init failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let expected0: BTreeSet<String> = before0.iter().cloned().chain(shards(0..8)).collect();
    let expected1: BTreeSet<String> = before1
        .iter()
        .cloned()
        .chain(shards(8..16))
        .chain(["crm_main".to_owned()])
        .collect();
    ensure!(
        databases(s0).await? == expected0,
        "g0 holds {:?}",
        databases(s0).await?
    );
    ensure!(
        databases(s1).await? == expected1,
        "g1 holds {:?}",
        databases(s1).await?
    );

    let lines: Vec<&str> = stdout.lines().collect();
    ensure!(
        lines.len() == 18,
        "17 database lines and a summary expected:\n{stdout}"
    );
    let g0 = s0.addr();
    let g1 = s1.addr();
    for expected in [
        format!("shop_0000 on group g0 ({g0}): created"),
        format!("shop_0003 on group g0 ({g0}): already existed"),
        format!("shop_0007 on group g0 ({g0}): created"),
        format!("shop_0008 on group g1 ({g1}): created"),
        format!("shop_0015 on group g1 ({g1}): created"),
        format!("crm_main on group g1 ({g1}): created"),
        "myshard init: 17 databases ready".to_owned(),
    ] {
        ensure!(
            lines.contains(&expected.as_str()),
            "missing `{expected}` in:\n{stdout}"
        );
    }

    // Idempotent: a second run succeeds and finds everything in place.
    let out = run_init(dir.path(), config_yaml(&s0.addr(), &s1.addr())).await?;
    let stdout = text(&out.stdout);
    ensure!(
        out.status.success(),
        "second init failed: {}\n{stdout}\n{}",
        out.status,
        text(&out.stderr)
    );
    ensure!(
        stdout.matches(": already existed").count() == 17 && !stdout.contains(": created"),
        "second run must only find existing databases:\n{stdout}"
    );
    ensure!(databases(s0).await? == expected0, "second run changed g0");
    ensure!(databases(s1).await? == expected1, "second run changed g1");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_group_fails_naming_group_and_host() -> Result<()> {
    let server = MariaDb::start().await?;
    let before = databases(&server).await?;
    // Nothing listens on a port handed out and never used.
    let dead = format!("127.0.0.1:{}", harness::free_port()?);
    let dir = tempfile::tempdir()?;

    let out = run_init(dir.path(), config_yaml(&server.addr(), &dead)).await?;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    ensure!(
        !out.status.success(),
        "init must fail when a group is unreachable:\n{stdout}\n{stderr}"
    );
    ensure!(out.status.code() == Some(1), "exit status {}", out.status);
    ensure!(
        stderr.contains(&format!("group g1 ({dead}): cannot connect")),
        "the group and host must be named:\n{stderr}"
    );
    for database in shards(8..16).chain(["crm_main".to_owned()]) {
        ensure!(
            stderr.contains(&database),
            "`{database}` not listed as failed:\n{stderr}"
        );
    }
    ensure!(
        stderr.contains("9 of 17 databases could not be created"),
        "summary missing:\n{stderr}"
    );
    ensure!(!stderr.contains("panicked"), "{stderr}");
    // The reachable group was still initialised.
    let expected: BTreeSet<String> = before.iter().cloned().chain(shards(0..8)).collect();
    ensure!(
        databases(&server).await? == expected,
        "g0 holds {:?}",
        databases(&server).await?
    );
    ensure!(
        stdout.matches(": created").count() == 8,
        "g0's shards must be created:\n{stdout}"
    );
    Ok(())
}
