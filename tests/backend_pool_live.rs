//! Backend pools that change while connections are in use, and errors that know how far a
//! request got, against a real MariaDB server (issue 10, the building blocks the routing
//! table's hosts use):
//! - `update_settings` lowers and raises a live pool's limit;
//! - `retire` takes a host out of service: checkouts fail at once (safe to retry
//!   elsewhere), its connections on the server close as they become idle; `reopen` undoes it;
//! - a backend killed with SIGKILL between statements or during one gives an error whose
//!   side says whether the statement may be sent again.

mod harness;

use anyhow::{Context, Result, ensure};
use harness::MariaDb;
use myshard_proxy::backend::conn::{ConnFlags, HostTarget};
use myshard_proxy::backend::pool::{PoolSettings, PoolStats};
use myshard_proxy::backend::{HostPool, PooledConn};
use myshard_proxy::state::SessionVars;
use myshard_proxy::{Side, SqlError};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn settings(max: usize, checkout_timeout: Duration) -> PoolSettings {
    PoolSettings {
        min: 0,
        max,
        idle_timeout: Duration::from_secs(600),
        check_after_idle: Duration::from_secs(600),
        checkout_timeout,
        check_timeout: Duration::from_secs(5),
    }
}

fn pool(db: &MariaDb, settings: PoolSettings) -> Arc<HostPool> {
    HostPool::new(
        HostTarget {
            addr: db.addr().into(),
            user: harness::MYSHARD_USER.into(),
            password: harness::MYSHARD_PASSWORD.into(),
            flags: ConnFlags::default(),
            connect_timeout: Duration::from_secs(5),
        },
        settings,
    )
}

fn vars() -> SessionVars {
    SessionVars::new(None, "NAMES utf8mb4".into(), true)
}

async fn checkout(pool: &Arc<HostPool>, client: u64) -> Result<PooledConn> {
    Ok(pool.checkout(client, &vars()).await?)
}

/// Whether a checkout succeeds now without waiting.
async fn can_check_out(pool: &Arc<HostPool>) -> Result<Option<PooledConn>> {
    Ok(pool.try_checkout(99, &vars()).await?)
}

fn counts(pool: &HostPool) -> (usize, usize, usize) {
    let PoolStats {
        open, idle, max, ..
    } = pool.stats();
    (open, idle, max)
}

/// Waits until the server shows `want` connections of the proxy's account (it notices a
/// closed connection a moment after the proxy closes it).
async fn expect_server_connections(db: &MariaDb, want: i64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n: Vec<i64> = db
            .query(&format!(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{}'",
                harness::MYSHARD_USER
            ))
            .await?;
        let n = n.first().copied().unwrap_or(-1);
        if n == want {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "the server shows {n} connections of the proxy, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_live_pool_takes_a_lower_and_a_higher_max() -> Result<()> {
    let db = MariaDb::start().await?;
    let pool = pool(&db, settings(4, Duration::from_secs(10)));
    let mut held = Vec::new();
    for client in 0..4 {
        held.push(checkout(&pool, client).await?);
    }
    ensure!(
        can_check_out(&pool).await?.is_none(),
        "max 4 allows a fifth"
    );
    // Three come back idle, one stays in use.
    held.truncate(1);
    ensure!(counts(&pool) == (4, 3, 4), "{:?}", pool.stats());
    expect_server_connections(&db, 4).await?;

    // Lower to 2: idle connections beyond it close now.
    pool.update_settings(settings(2, Duration::from_secs(10)));
    ensure!(
        counts(&pool) == (2, 1, 2),
        "after max 2: {:?}",
        pool.stats()
    );
    expect_server_connections(&db, 2).await?;
    held.push(checkout(&pool, 1).await?);
    ensure!(
        can_check_out(&pool).await?.is_none(),
        "max 2 allows a third"
    );

    // Lower to 1 while both are in use: the first one back closes, the second stays.
    pool.update_settings(settings(1, Duration::from_secs(10)));
    ensure!(counts(&pool) == (2, 0, 1), "in-use ones stay open");
    held.pop();
    ensure!(
        counts(&pool) == (1, 0, 1),
        "returned beyond max: {:?}",
        pool.stats()
    );
    expect_server_connections(&db, 1).await?;
    held.pop();
    ensure!(
        counts(&pool) == (1, 1, 1),
        "within max it idles: {:?}",
        pool.stats()
    );
    let one = can_check_out(&pool).await?.context("max 1 allows one")?;
    ensure!(
        can_check_out(&pool).await?.is_none(),
        "max 1 allows a second"
    );

    // A checkout waiting at max 1 goes through as soon as max is raised.
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { checkout(&pool, 7).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    ensure!(
        !waiter.is_finished(),
        "the waiter had a connection at max 1"
    );
    let raised = Instant::now();
    pool.update_settings(settings(3, Duration::from_secs(10)));
    let second = tokio::time::timeout(Duration::from_secs(3), waiter).await???;
    ensure!(
        raised.elapsed() < Duration::from_secs(3),
        "the waiter was not let through by the higher max"
    );
    let third = can_check_out(&pool)
        .await?
        .context("max 3 allows a third")?;
    ensure!(
        can_check_out(&pool).await?.is_none(),
        "max 3 allows a fourth"
    );
    ensure!(counts(&pool) == (3, 0, 3), "{:?}", pool.stats());
    expect_server_connections(&db, 3).await?;
    drop((one, second, third));
    Ok(())
}

#[tokio::test]
async fn a_retired_pool_refuses_checkouts_and_closes_its_connections() -> Result<()> {
    let db = MariaDb::start().await?;
    let pool = pool(&db, settings(1, Duration::from_secs(30)));
    let mut in_use = checkout(&pool, 1).await?;

    // A checkout waiting for a connection fails at once when the host is retired.
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.checkout(2, &vars()).await.map(drop) })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    ensure!(
        !waiter.is_finished(),
        "the waiter had a connection at max 1"
    );
    pool.retire("fenced");
    let refused = tokio::time::timeout(Duration::from_secs(2), waiter)
        .await
        .context("the waiting checkout still waits after retire")??;
    check_retired_error(refused, "fenced")?;
    pool.reopen();

    // Three connections: one in use, two idle.
    pool.update_settings(settings(3, Duration::from_secs(30)));
    let b = checkout(&pool, 2).await?;
    let c = checkout(&pool, 3).await?;
    drop((b, c));
    ensure!(counts(&pool) == (3, 2, 3), "{:?}", pool.stats());
    expect_server_connections(&db, 3).await?;

    pool.retire("removed by reload");
    ensure!(pool.stats().retired && counts(&pool) == (1, 0, 3));
    expect_server_connections(&db, 1).await?;
    let started = Instant::now();
    check_retired_error(
        pool.checkout(4, &vars()).await.map(drop),
        "removed by reload",
    )?;
    check_retired_error(
        pool.try_checkout(4, &vars()).await.map(drop),
        "removed by reload",
    )?;
    ensure!(
        started.elapsed() < Duration::from_secs(1),
        "checkouts waited"
    );
    // Maintenance leaves it alone.
    pool.update_settings(PoolSettings {
        min: 2,
        idle_timeout: Duration::ZERO,
        ..settings(3, Duration::from_secs(30))
    });
    pool.fill_min().await;
    pool.reap();
    ensure!(
        counts(&pool) == (1, 0, 3),
        "maintenance touched a retired pool"
    );

    // The connection in use still works, and closes when it comes back.
    let rows = in_use.query_rows("SELECT 1").await?;
    ensure!(rows.len() == 1, "{rows:?}");
    drop(in_use);
    ensure!(counts(&pool) == (0, 0, 3), "{:?}", pool.stats());
    expect_server_connections(&db, 0).await?;

    // Back in service.
    pool.reopen();
    let d = checkout(&pool, 5).await?;
    ensure!(!pool.stats().retired && counts(&pool).0 == 1);
    expect_server_connections(&db, 1).await?;
    drop(d);
    Ok(())
}

fn check_retired_error(r: Result<(), SqlError>, reason: &str) -> Result<()> {
    let Err(e) = r else {
        anyhow::bail!("a retired pool gave a connection");
    };
    ensure!(
        e.code == 2003 && e.side == Side::NotSent && e.retry_safe(),
        "{e:?}"
    );
    ensure!(e.message.contains(reason), "{e}");
    Ok(())
}

#[tokio::test]
async fn a_killed_backend_fails_statements_with_the_side_they_reached() -> Result<()> {
    let mut db = MariaDb::start().await?;
    db.exec("CREATE DATABASE shop").await?;
    db.exec("CREATE TABLE shop.t (id INT PRIMARY KEY) ENGINE=InnoDB")
        .await?;
    let pool = pool(&db, settings(2, Duration::from_secs(5)));

    // Killed between two statements of a transaction on one connection: the next one is
    // refused before a byte is written.
    let mut pinned = checkout(&pool, 1).await?;
    pinned.execute("BEGIN").await?;
    pinned.execute("INSERT INTO shop.t VALUES (1)").await?;
    db.kill()?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let e = pinned
        .execute("INSERT INTO shop.t VALUES (2)")
        .await
        .err()
        .context("a statement on a dead backend succeeded")?;
    ensure!(e.code == 2013 && e.side == Side::NotSent, "{e:?}");
    drop(pinned);
    // No connection can be made: refused before sending.
    let e = pool
        .checkout(2, &vars())
        .await
        .err()
        .context("checkout from a dead host")?;
    ensure!(e.code == 2003 && e.retry_safe(), "{e:?}");

    // Killed while a statement runs: it may have been applied, never to be resent.
    db.restart().await?;
    let mut conn = checkout(&pool, 3).await?;
    let running = tokio::spawn(async move { conn.execute("SELECT SLEEP(20)").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    db.kill()?;
    let e = tokio::time::timeout(Duration::from_secs(5), running)
        .await??
        .err()
        .context("a statement survived its backend")?;
    ensure!(
        e.code == 2013 && e.side == Side::SentNoAnswer && !e.retry_safe(),
        "{e:?}"
    );

    // An error the backend answers with is Answered.
    db.restart().await?;
    let mut conn = checkout(&pool, 4).await?;
    let e = conn
        .execute("INSERT INTO shop.nope VALUES (1)")
        .await
        .err()
        .context("insert into a missing table")?;
    ensure!(e.code == 1146 && e.side == Side::Answered, "{e:?}");
    Ok(())
}
