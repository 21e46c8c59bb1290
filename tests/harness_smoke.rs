//! Smoke test of the MariaDB test harness: servers start, answer as both accounts, and are
//! gone once dropped.

mod harness;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use harness::MariaDb;
use mysql_async::prelude::Queryable;

#[tokio::test(flavor = "multi_thread")]
async fn two_servers_answer_and_dropping_one_closes_its_port() -> Result<()> {
    let started = Instant::now();
    let mut servers = MariaDb::start_many(2).await?;
    eprintln!("two servers started in {:?}", started.elapsed());
    ensure!(
        servers[0].port() != servers[1].port(),
        "both servers got port {}",
        servers[0].port()
    );

    for server in &servers {
        for mut conn in [server.conn().await?, server.myshard_conn().await?] {
            let version: Option<String> = conn.query_first("SELECT @@version").await?;
            let version = version.context("SELECT @@version returned no row")?;
            ensure!(
                version.contains("MariaDB"),
                "unexpected version {version:?} on {}",
                server.addr()
            );
            let one: Option<i64> = conn.query_first("SELECT 1").await?;
            ensure!(
                one == Some(1),
                "SELECT 1 returned {one:?} on {}",
                server.addr()
            );
            conn.disconnect().await?;
        }
        let binlog: Vec<(String, String)> = server.query("SHOW VARIABLES LIKE 'log_bin'").await?;
        ensure!(
            binlog == [("log_bin".to_owned(), "ON".to_owned())],
            "binary log not on: {binlog:?}"
        );
    }

    // The myshard account may create databases and grant.
    let mut conn = servers[1].myshard_conn().await?;
    conn.query_drop("CREATE DATABASE shop").await?;
    conn.query_drop("CREATE USER 'probe'@'%' IDENTIFIED BY 'probe'")
        .await?;
    conn.query_drop("GRANT SELECT ON shop.* TO 'probe'@'%'")
        .await?;
    conn.disconnect().await?;

    let dropped = servers.remove(0);
    let port = dropped.port();
    let datadir = dropped.datadir();
    drop(dropped);
    match std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    ) {
        Ok(_) => anyhow::bail!("port {port} still accepts connections after drop"),
        Err(err) => ensure!(
            err.kind() == ErrorKind::ConnectionRefused,
            "port {port}: expected a refused connection, got {err}"
        ),
    }
    ensure!(!datadir.exists(), "{} was not removed", datadir.display());

    // The other server is unaffected.
    servers[0].exec("SELECT 1").await?;
    Ok(())
}

// The default current-thread runtime works as well.
#[tokio::test]
async fn killed_server_restarts_with_its_data() -> Result<()> {
    let mut server = MariaDb::start().await?;
    server
        .exec("CREATE DATABASE kept; CREATE TABLE kept.t (id INT PRIMARY KEY); INSERT INTO kept.t VALUES (7)")
        .await?;
    server.kill()?;
    ensure!(!server.is_running(), "server still running after kill");
    ensure!(
        server.conn().await.is_err(),
        "a killed server accepted a connection"
    );
    server.restart().await?;
    let ids: Vec<i32> = server.query("SELECT id FROM kept.t").await?;
    ensure!(ids == [7], "rows after restart: {ids:?}");
    Ok(())
}
