//! The soak's fault injectors besides the clients' own short timeouts: a task that sends
//! `KILL QUERY <id>` or `KILL <id>` for random clients' connections, and a raw client that
//! reads the start of a big result and hangs up in the middle of it.

use crate::harness::differential::Rng;
use crate::harness::proxy::{APP_PASSWORD, APP_USER};
use crate::harness::raw::{Login, RawConn, parse_err};
use crate::soak::report::{LOST_CONNECTION, Tally};
use anyhow::{Result, bail};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// The proxy-side connection id of each client (0 while it has none), for the killer.
pub type Victims = Arc<Vec<AtomicU32>>;

/// Sends a KILL to a random client every `every` until `stop`; returns what it saw.
pub async fn killer(
    opts: Opts,
    victims: Victims,
    stop: Arc<AtomicBool>,
    every: Duration,
    seed: u64,
    stall: Duration,
) -> Tally {
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    let mut conn: Option<Conn> = None;
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(every).await;
        let Some(c) = conn.as_mut() else {
            match tokio::time::timeout(stall, Conn::new(opts.clone())).await {
                Ok(Ok(c)) => conn = Some(c),
                Ok(Err(e)) => tally.error("kill_connect", LOST_CONNECTION, &e.to_string()),
                Err(_) => tally.stall("kill_connect", "the killer's login".into()),
            }
            continue;
        };
        let victim = victims[rng.below(victims.len())].load(Ordering::Relaxed);
        if victim == 0 {
            continue;
        }
        let (kind, sql) = if rng.chance(50) {
            ("kill_query", format!("KILL QUERY {victim}"))
        } else {
            ("kill_connection", format!("KILL {victim}"))
        };
        match tokio::time::timeout(stall, c.query_drop(&sql)).await {
            Ok(Ok(())) => tally.right(kind),
            Ok(Err(mysql_async::Error::Server(e))) => tally.error(kind, e.code, &e.message),
            Ok(Err(e)) => {
                tally.error(kind, LOST_CONNECTION, &e.to_string());
                conn = None;
            }
            Err(_) => {
                tally.stall(kind, format!("`{sql}` got no answer within {stall:?}"));
                conn = None;
            }
        }
    }
    if let Some(c) = conn {
        // The run is over; a failed goodbye changes nothing.
        let _ = c.disconnect().await;
    }
    tally
}

/// Logs in with a raw client, sends `sql`, reads `packets` packets of the response and
/// drops the socket. Returns the error when the response is an ERR packet.
pub async fn hang_up_mid_result(
    addr: SocketAddr,
    sql: &str,
    packets: usize,
) -> Result<Option<(u16, String)>> {
    let mut conn =
        match RawConn::login(addr, &Login::new(APP_USER, APP_PASSWORD, Some("shop"))).await? {
            Ok(conn) => conn,
            Err(e) => return Ok(Some((e.code, e.message))),
        };
    let mut command = vec![0x03];
    command.extend_from_slice(sql.as_bytes());
    conn.send(&command).await?;
    // A short result may end before `packets`: stop at its final EOF (reading on would
    // wait for packets that never come).
    let mut eofs = 0;
    for n in 0..packets {
        let p = conn.read_packet().await?;
        if let Some(e) = parse_err(&p) {
            return Ok(Some((e.code, e.message)));
        }
        if n == 0 && p.first() == Some(&0x00) {
            bail!("`{sql}` answered OK instead of rows");
        }
        if p.first() == Some(&0xFE) && p.len() < 9 {
            eofs += 1;
            if eofs == 2 {
                break;
            }
        }
    }
    drop(conn);
    Ok(None)
}

/// How a statement sent with a short client-side timeout ended.
pub enum Abandoned {
    /// No answer within the limit: the socket was dropped mid-statement.
    TimedOut,
    /// The answer came first.
    Answered(crate::harness::raw::Response),
    /// The login was refused.
    LoginRefused(u16, String),
}

/// Logs in with a raw client, sends `sql` and waits at most `limit` for the answer; on
/// timeout the socket is dropped at once (mysql_async would drain the result politely
/// first, which is not what a client whose deadline passed does).
pub async fn abandon_after(addr: SocketAddr, sql: &str, limit: Duration) -> Result<Abandoned> {
    let mut conn =
        match RawConn::login(addr, &Login::new(APP_USER, APP_PASSWORD, Some("shop"))).await? {
            Ok(conn) => conn,
            Err(e) => return Ok(Abandoned::LoginRefused(e.code, e.message)),
        };
    match tokio::time::timeout(limit, conn.query(sql)).await {
        Ok(answer) => Ok(Abandoned::Answered(answer?)),
        Err(_) => Ok(Abandoned::TimedOut),
    }
}
