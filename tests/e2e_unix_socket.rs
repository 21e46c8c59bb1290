//! End-to-end tests of Unix-domain sockets on both sides of the proxy: backends written
//! `unix:/path/to/mysqld.sock` (a proxy on the same machine as its server skips loopback
//! TCP), and clients of the proxy's own `listen_socket`.

mod harness;

use anyhow::{Context, Result, ensure};
use harness::MariaDb;
use harness::proxy::{APP_PASSWORD, APP_USER, app_conn, config_for, create_databases, start_proxy};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use std::path::Path;

/// A client of the proxy's Unix socket.
async fn socket_conn(socket: &Path, db: Option<&str>) -> Result<Conn> {
    let opts = OptsBuilder::default()
        .socket(Some(socket.to_string_lossy()))
        .user(Some(APP_USER))
        .pass(Some(APP_PASSWORD))
        .db_name(db);
    Conn::new(opts)
        .await
        .with_context(|| format!("connecting to the proxy at {}", socket.display()))
}

/// Text queries, prepared statements and a transaction over `conn`, against table `t`.
async fn exercise(conn: &mut Conn, base: i64) -> Result<()> {
    conn.query_drop(format!("INSERT INTO t VALUES ({base}, 'text')"))
        .await?;
    conn.exec_drop("INSERT INTO t VALUES (?, ?)", (base + 1, "prepared"))
        .await?;
    let v: Option<String> = conn
        .exec_first("SELECT v FROM t WHERE id = ?", (base + 1,))
        .await?;
    ensure!(v.as_deref() == Some("prepared"), "prepared read: {v:?}");
    let v: Option<String> = conn
        .query_first(format!("SELECT v FROM t WHERE id = {base}"))
        .await?;
    ensure!(v.as_deref() == Some("text"), "text read: {v:?}");
    conn.query_drop("BEGIN").await?;
    conn.exec_drop("UPDATE t SET v = 'rolled back' WHERE id = ?", (base,))
        .await?;
    conn.query_drop("ROLLBACK").await?;
    let v: Option<String> = conn
        .query_first(format!("SELECT v FROM t WHERE id = {base}"))
        .await?;
    ensure!(v.as_deref() == Some("text"), "after rollback: {v:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_backend_and_listener() -> Result<()> {
    let db = MariaDb::start().await?;
    create_databases(&[&db]).await?;
    db.exec("CREATE TABLE s0_db.t (id INT PRIMARY KEY, v VARCHAR(20))")
        .await?;
    let dir = tempfile::tempdir()?;
    let listen_socket = dir.path().join("myshard.sock");
    let mut config = config_for(&[&db]);
    config.groups[0].write_hosts = vec![format!("unix:{}", db.socket().display())];
    config.listen_socket = Some(listen_socket.to_string_lossy().into_owned());
    myshard_config::validate(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let proxy = start_proxy(config.clone()).await?;
    ensure!(proxy.socket() == Some(listen_socket.as_path()));

    // A TCP client, the backend over its socket.
    let mut conn = app_conn(&proxy, Some("s0")).await?;
    exercise(&mut conn, 10).await?;
    // Every backend connection went to the socket.
    let targets: Vec<String> = proxy
        .shared()
        .pools()
        .iter()
        .map(|p| p.target().addr.to_string())
        .collect();
    ensure!(
        targets.iter().all(|t| t.starts_with("unix:")),
        "pools: {targets:?}"
    );
    conn.disconnect().await?;

    // A client of the proxy's socket.
    let mut conn = socket_conn(&listen_socket, Some("s0")).await?;
    exercise(&mut conn, 20).await?;
    let n: Option<i64> = conn.query_first("SELECT COUNT(*) FROM t").await?;
    ensure!(n == Some(4), "rows: {n:?}");
    // A wrong password is refused over the socket too, naming localhost.
    let bad = OptsBuilder::default()
        .socket(Some(listen_socket.to_string_lossy()))
        .user(Some(APP_USER))
        .pass(Some("wrong"));
    match Conn::new(bad).await {
        Err(mysql_async::Error::Server(e)) => {
            ensure!(e.code == 1045, "{e:?}");
            ensure!(e.message.contains("@'localhost'"), "{}", e.message);
        }
        other => anyhow::bail!("expected access denied, got {other:?}"),
    }

    // The socket is in use while the proxy runs: a second proxy refuses to take it.
    let second = myshard_proxy::start(config.clone()).await;
    ensure!(
        second
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::AddrInUse),
        "second proxy on the same socket: {:?}",
        second.map(|p| p.addr())
    );
    conn.disconnect().await?;
    drop(proxy);
    ensure!(
        !listen_socket.exists(),
        "the socket file is removed at stop"
    );

    // A stale socket file (its process died) is replaced.
    drop(std::os::unix::net::UnixListener::bind(&listen_socket)?);
    ensure!(listen_socket.exists());
    let proxy = start_proxy(config.clone()).await?;
    let mut conn = socket_conn(&listen_socket, Some("s0")).await?;
    let n: Option<i64> = conn.query_first("SELECT COUNT(*) FROM t").await?;
    ensure!(n == Some(4), "rows: {n:?}");
    conn.disconnect().await?;
    drop(proxy);

    // A file that is not a socket is left alone.
    std::fs::write(&listen_socket, b"not a socket")?;
    let refused = start_proxy(config).await;
    ensure!(refused.is_err(), "a regular file must not be replaced");
    ensure!(std::fs::read(&listen_socket)? == b"not a socket");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_unix_socket_backend_is_a_clean_error() -> Result<()> {
    let db = MariaDb::start().await?;
    create_databases(&[&db]).await?;
    let dir = tempfile::tempdir()?;
    let mut config = config_for(&[&db]);
    config.groups[0].write_hosts = vec![format!("unix:{}", dir.path().join("none.sock").display())];
    let proxy = start_proxy(config).await?;
    // mysql_async's own setup queries already need the backend.
    let r = async {
        let mut conn = app_conn(&proxy, Some("s0")).await?;
        let v: Option<i64> = conn.query_first("SELECT 1").await?;
        anyhow::Ok(v)
    }
    .await;
    let message = format!("{:#}", r.err().context("expected an error")?);
    ensure!(
        message.contains("2003") && message.contains("none.sock"),
        "{message}"
    );
    Ok(())
}
