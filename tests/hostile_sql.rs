//! Hostile and unlucky SQL end to end (issue 8): statements whose expressions are too deep
//! for the router get error 1436 instead of crashing the proxy, as text and through
//! COM_STMT_PREPARE, and every connection keeps working; a 20,000-row INSERT lands every
//! row on its shard; a client's `SELECT 1` stays fast while others send huge INSERTs
//! (planned off the async workers).

mod harness;

#[path = "../router/src/hash.rs"]
#[allow(dead_code)]
mod hash;

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use harness::MariaDb;
use harness::e2e::server_err;
use harness::proxy::ShardedCluster as Cluster;
use harness::proxy::{APP_PASSWORD, APP_USER, app_conn, proxy_opts};
use hash::{KeyType, KeyValue, shard_of};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

const SHARDS: u32 = 4;
const OTHER_USER: &str = "crm_only";
const OTHER_PASSWORD: &str = "crm-secret";

/// Two servers, `shop` sharded over 4 shards with table `t` keyed on `id`, and a user
/// allowed only in the unsharded schema `crm`.
async fn cluster() -> Result<Cluster> {
    let tables = ["{name: t, shard_key: id}", "{name: t2, shard_key: id}"];
    let cluster = Cluster::start(SHARDS, &tables, |config| {
        config.users.push(myshard_config::User::new(
            OTHER_USER,
            OTHER_PASSWORD,
            &["crm"],
        ));
    })
    .await?;
    let mut conn = app_conn(&cluster.proxy, Some("shop")).await?;
    for t in ["t", "t2"] {
        conn.query_drop(format!(
            "CREATE TABLE {t} (id BIGINT PRIMARY KEY, v VARCHAR(20))"
        ))
        .await?;
    }
    Ok(cluster)
}

impl Cluster {
    fn server(&self, shard: u32) -> &MariaDb {
        if shard < SHARDS / 2 {
            &self.g0
        } else {
            &self.g1
        }
    }
}

fn chain(head: &str, term: impl Fn(usize) -> String, sep: &str, n: usize) -> String {
    let mut s = String::from(head);
    for i in 0..n {
        if i > 0 {
            s.push_str(sep);
        }
        s.push_str(&term(i));
    }
    s
}

/// The statements of issue 8 that aborted the proxy on a stack overflow.
fn crash_statements() -> Vec<(&'static str, String)> {
    vec![
        (
            "7,000 OR terms",
            chain(
                "SELECT * FROM t WHERE ",
                |i| format!("id = {i}"),
                " OR ",
                7_000,
            ),
        ),
        (
            "10,000 AND terms",
            chain(
                "SELECT * FROM t WHERE ",
                |i| format!("id = {i}"),
                " AND ",
                10_000,
            ),
        ),
        (
            "SELECT 1+1+… with 100,000 terms",
            chain("SELECT ", |_| "1".into(), "+", 100_000),
        ),
        (
            "WHERE id = 1+1+…",
            chain("SELECT * FROM t WHERE id = ", |_| "1".into(), "+", 20_000),
        ),
    ]
}

fn assert_depth_error(what: &str, e: (u16, String, String)) {
    let (code, state, message) = e;
    assert_eq!((code, state.as_str()), (1436, "HY000"), "{what}: {message}");
    assert!(
        message.contains("limits.max_expression_depth"),
        "{what}: {message}"
    );
}

async fn select_1(conn: &mut Conn) -> Result<()> {
    let one: Option<i64> = conn.query_first("SELECT 1").await?;
    ensure!(one == Some(1), "SELECT 1 gave {one:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_statements_get_an_error_and_every_connection_keeps_working() -> Result<()> {
    let c = cluster().await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    let mut bystander = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop("INSERT INTO t (id, v) VALUES (1, 'one'), (2, 'two')")
        .await?;
    for (what, sql) in crash_statements() {
        assert_depth_error(what, server_err(conn.query_drop(&sql).await)?);
        select_1(&mut conn).await?;
        assert_depth_error(
            &format!("{what} (prepared)"),
            server_err(conn.prep(&sql).await)?,
        );
        select_1(&mut conn).await?;
        select_1(&mut bystander).await?;
    }
    // Below the limit, a long OR chain still routes exactly.
    let ok = chain(
        "SELECT v FROM t WHERE ",
        |i| format!("id = {}", i + 1),
        " OR ",
        3_000,
    );
    let mut rows: Vec<String> = conn.query(&ok).await?;
    rows.sort();
    assert_eq!(rows, ["one", "two"]);

    // A user of another schema naming `shop.t`: an error, never a crash.
    let mut other = Conn::new(proxy_opts(
        &c.proxy,
        OTHER_USER,
        OTHER_PASSWORD,
        Some("crm"),
    ))
    .await?;
    let qualified = chain(
        "SELECT * FROM shop.t WHERE ",
        |i| format!("id = {i}"),
        " OR ",
        7_000,
    );
    let (code, _, message) = server_err(other.query_drop(&qualified).await)?;
    assert!(
        code == 1436 || code == 1044 || code == 1142,
        "{code} {message}"
    );
    let (code, _, message) = server_err(other.prep(&qualified).await)?;
    assert!(
        code == 1436 || code == 1044 || code == 1142,
        "{code} {message}"
    );
    select_1(&mut other).await?;
    select_1(&mut conn).await?;
    select_1(&mut bystander).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_insert_lands_every_row_on_its_shard() -> Result<()> {
    let c = cluster().await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    let rows = 20_000usize;
    let key = |i: usize| i as i64 * 7919 - 50_000_000;
    let sql = chain(
        "INSERT INTO t (id, v) VALUES ",
        |i| format!("({}, 'r{i}')", key(i)),
        ", ",
        rows,
    );
    conn.query_drop(&sql).await?;
    assert_eq!(conn.affected_rows(), rows as u64);
    let mut seen = 0;
    for s in 0..SHARDS {
        let ids: Vec<i64> = c
            .server(s)
            .query(&format!("SELECT id FROM shop_{s:04}.t"))
            .await?;
        for id in &ids {
            let want = shard_of(&KeyType::Integer, &KeyValue::Int(*id), SHARDS)?;
            ensure!(
                want == Some(s),
                "id {id} is on shard {s}, belongs on {want:?}"
            );
        }
        ensure!(!ids.is_empty(), "shard {s} got no rows");
        seen += ids.len();
    }
    assert_eq!(seen, rows);
    // The same through a prepared statement with every value bound.
    let n = 2_000usize;
    let prepared = chain(
        "INSERT INTO t2 (id, v) VALUES ",
        |_| "(?, ?)".into(),
        ", ",
        n,
    );
    let params: Vec<mysql_async::Value> = (0..n)
        .flat_map(|i| [key(i).into(), format!("p{i}").into()])
        .collect();
    conn.exec_drop(&prepared, params).await?;
    let mut seen = 0;
    for s in 0..SHARDS {
        let ids: Vec<i64> = c
            .server(s)
            .query(&format!("SELECT id FROM shop_{s:04}.t2"))
            .await?;
        for id in &ids {
            let want = shard_of(&KeyType::Integer, &KeyValue::Int(*id), SHARDS)?;
            ensure!(
                want == Some(s),
                "id {id} is on shard {s}, belongs on {want:?}"
            );
        }
        seen += ids.len();
    }
    assert_eq!(seen, n);
    Ok(())
}

/// The proxy gets one async worker: router work done on it would hold up the probe's
/// session for seconds (another client's `SELECT 1` took 13 s in issue 8), so this shows
/// that big statements are read, planned and placed elsewhere. The writers' client runs
/// on a runtime of its own, so that encoding their statements does not count.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn select_1_stays_fast_while_others_insert_100k_rows() -> Result<()> {
    let c = cluster().await?;
    let rows = 100_000usize;
    let insert = |offset: i64| {
        chain(
            "INSERT INTO t (id, v) VALUES ",
            |i| format!("({}, 'v')", offset + i as i64),
            ", ",
            rows,
        )
    };
    let mut probe = app_conn(&c.proxy, Some("shop")).await?;
    select_1(&mut probe).await?;
    let opts = proxy_opts(&c.proxy, APP_USER, APP_PASSWORD, Some("shop"));
    let ready: Vec<_> = (0..2i64)
        .map(|w| (opts.clone(), insert(w * 1_000_000)))
        .collect();
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let writers: Vec<_> = ready
        .into_iter()
        .map(|(opts, sql)| {
            clients.spawn(async move {
                let mut conn = Conn::new(opts).await?;
                conn.query_drop(&sql).await?;
                anyhow::Ok(conn.affected_rows())
            })
        })
        .collect();
    // The gap between two answers, pause included: a stall of the worker shows up here
    // whether it hits the query or the pause.
    let mut worst = Duration::ZERO;
    let mut probes = 0;
    let mut last = Instant::now();
    while writers.iter().any(|w| !w.is_finished()) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        select_1(&mut probe).await?;
        worst = worst.max(last.elapsed());
        last = Instant::now();
        probes += 1;
    }
    for w in writers {
        assert_eq!(w.await??, rows as u64);
    }
    clients.shutdown_background();
    assert!(probes > 1, "the inserts finished before the first probe");
    // Generous for a debug build on a loaded machine (a few hundred ms seen at load 11 on
    // 2 CPUs); planning on the worker made it 9 s.
    assert!(
        worst < Duration::from_secs(2),
        "SELECT 1 took {worst:?} while two 100,000-row inserts ran"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_expressions_with_thousands_of_arms_answer() -> Result<()> {
    let c = cluster().await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop("INSERT INTO t (id, v) VALUES (1, 'one'), (2, 'two')")
        .await?;
    // Thousands of arms are siblings, not nesting: no depth error.
    let flat = chain(
        "SELECT CASE ",
        |i| format!("WHEN v = 'v{i}' THEN {i}"),
        " ",
        5_000,
    ) + " WHEN v = 'one' THEN -1 ELSE -2 END FROM t WHERE id = 1";
    let n: Vec<i64> = conn.query(&flat).await?;
    assert_eq!(n, [-1]);
    let n: Vec<i64> = conn.exec(&flat, ()).await?;
    assert_eq!(n, [-1]);
    select_1(&mut conn).await?;
    Ok(())
}
