//! Point selects of a sharded schema (text point reads and prepared point executes) reuse
//! their shard's route between statements (proxy/src/session/point_routes.rs). A reused
//! route must still be what the routing table gives: a write host the monitor marks down
//! is refused, and serves again once it is back up on the same session; the other group's shards keep answering meanwhile; the answers and their column
//! definitions (the logical schema) are the same on every repetition.

mod harness;

use anyhow::{Context, Result, ensure};
use harness::proxy::ShardedCluster as Cluster;
use harness::proxy::app_conn;
use myshard_failover::HostState;
use myshard_proxy::ProxyHandle;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

const SHARDS: u32 = 8;
const KEYS: i64 = 24;

/// Puts the host at `addr` of the proxy's routing table in `state`.
fn set_state(proxy: &ProxyHandle, addr: &str, state: HostState) -> Result<()> {
    let table = proxy.shared().table();
    let host = table
        .hosts()
        .find(|h| &**h.addr() == addr)
        .with_context(|| format!("host {addr} in the routing table"))?;
    host.set_state(state);
    Ok(())
}

/// The group a point select of `id` goes to, as the planner says.
async fn group_of(conn: &mut Conn, id: i64) -> Result<String> {
    let route: Vec<(String, String, String, String, String)> = conn
        .query(format!("EXPLAIN ROUTE SELECT v FROM t WHERE id = {id}"))
        .await?;
    ensure!(route.len() == 1, "one shard expected for {id}: {route:?}");
    Ok(route[0].1.clone())
}

/// Text and prepared point selects of `id`: the value and the schema and table of its
/// column as the client sees them, or the error.
async fn both(
    conn: &mut Conn,
    stmt: &mysql_async::Statement,
    id: i64,
) -> [Result<(String, String, String), String>; 2] {
    let one = |r: std::result::Result<Vec<Row>, mysql_async::Error>| match r {
        Ok(rows) if rows.len() == 1 => {
            let col = &rows[0].columns_ref()[0];
            Ok((
                rows[0].get::<String, _>(0).unwrap_or_default(),
                col.schema_str().into_owned(),
                col.table_str().into_owned(),
            ))
        }
        Ok(rows) => Err(format!("{} rows", rows.len())),
        Err(e) => Err(e.to_string()),
    };
    let text = conn
        .query::<Row, _>(format!("SELECT v FROM t WHERE id = {id}"))
        .await;
    let text = one(text);
    let prepared = conn.exec::<Row, _, _>(stmt, (id,)).await;
    [text, one(prepared)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_point_routes_follow_the_host_state() -> Result<()> {
    let c = Cluster::start(SHARDS, &["{name: t, shard_key: id}"], |_| {}).await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop("CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR(64))")
        .await?;
    let mut groups = Vec::new();
    for id in 0..KEYS {
        conn.query_drop(format!("INSERT INTO t VALUES ({id}, 'v{id}')"))
            .await?;
        groups.push(group_of(&mut conn, id).await?);
    }
    ensure!(
        groups.iter().any(|g| g == "g0") && groups.iter().any(|g| g == "g1"),
        "the keys cover both groups: {groups:?}"
    );
    let stmt = conn.prep("SELECT v FROM t WHERE id = ?").await?;
    let want = |id: i64| Ok((format!("v{id}"), "shop".to_string(), "t".to_string()));
    // Several rounds: the later ones take the kept routes and statements.
    for _ in 0..3 {
        for id in 0..KEYS {
            let got = both(&mut conn, &stmt, id).await;
            assert_eq!(got, [want(id), want(id)], "key {id}");
        }
    }
    // g1's write host marked down: its shards are refused, g0's keep answering.
    set_state(&c.proxy, &c.g1.addr(), HostState::Down)?;
    for id in 0..KEYS {
        let got = both(&mut conn, &stmt, id).await;
        if groups[id as usize] == "g1" {
            for r in &got {
                let e = r.as_ref().err().with_context(|| {
                    format!("key {id} on the host marked down answered: {got:?}")
                })?;
                ensure!(e.contains("down"), "key {id}: {e}");
            }
        } else {
            assert_eq!(got, [want(id), want(id)], "key {id} on g0");
        }
    }
    // Back in service: every key answers again, on the same session.
    set_state(&c.proxy, &c.g1.addr(), HostState::Up)?;
    for id in 0..KEYS {
        let got = both(&mut conn, &stmt, id).await;
        assert_eq!(
            got,
            [want(id), want(id)],
            "key {id} after the host came back"
        );
    }
    Ok(())
}
