//! Prepared point statements of a sharded schema (`… WHERE id = ?`) are routed from the
//! bound key's bytes without the general resolver (proxy/src/session/point_execute.rs).
//! Every shard holds a decoy row for each key, so an execute that reached any shard but
//! the key's own would answer with the decoy. NULL and keys of other types take the general
//! path and answer as the same statement in the text protocol does.

mod harness;

use anyhow::{Result, ensure};
use harness::proxy::ShardedCluster as Cluster;
use harness::proxy::app_conn;
use mysql_async::Conn;
use mysql_async::Value;
use mysql_async::prelude::Queryable;

const SHARDS: u32 = 8;

/// The physical database and group a point select of `id` goes to, as the planner says.
async fn shard_of(conn: &mut Conn, id: &str) -> Result<(String, String)> {
    let route: Vec<(String, String, String, String, String)> = conn
        .query(format!("EXPLAIN ROUTE SELECT v FROM t WHERE id = {id}"))
        .await?;
    ensure!(route.len() == 1, "one shard expected for {id}: {route:?}");
    Ok((route[0].3.clone(), route[0].1.clone()))
}

/// Puts row `id` on every shard: `right:<database>` on its own, `decoy:<database>` on the
/// others (written on the servers directly, as the proxy would refuse the decoys).
async fn plant(c: &Cluster, conn: &mut Conn, id: &str) -> Result<String> {
    let (own, _) = shard_of(conn, id).await?;
    for shard in 0..SHARDS {
        let database = format!("shop_{shard:04}");
        let server = if shard < SHARDS / 2 { &c.g0 } else { &c.g1 };
        let v = if database == own { "right" } else { "decoy" };
        server
            .exec(&format!(
                "INSERT INTO `{database}`.t VALUES ({id}, '{v}:{database}')"
            ))
            .await?;
    }
    Ok(format!("right:{own}"))
}

/// The keys: both groups, negative, zero, the extremes of BIGINT.
const KEYS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "5",
    "8",
    "13",
    "100",
    "4242",
    "-7",
    "-9223372036854775808",
    "9223372036854775807",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_key_reaches_its_own_shard_and_nothing_else() -> Result<()> {
    let c = Cluster::start(SHARDS, &["{name: t, shard_key: id}"], |_| {}).await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop("CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR(64))")
        .await?;
    let mut groups = std::collections::BTreeSet::new();
    let mut want = Vec::new();
    for id in KEYS {
        groups.insert(shard_of(&mut conn, id).await?.1);
        want.push(plant(&c, &mut conn, id).await?);
    }
    ensure!(groups.len() == 2, "the keys cover both groups: {groups:?}");
    let select = conn.prep("SELECT v FROM t WHERE id = ?").await?;
    // Twice: the second round finds each shard's text and backend statement kept.
    for _ in 0..2 {
        for (id, want) in KEYS.iter().zip(&want) {
            let key: i64 = id.parse()?;
            let got: Vec<String> = conn.exec(&select, (key,)).await?;
            assert_eq!(got, vec![want.clone()], "key {id}");
        }
    }
    // The same keys bound unsigned where they fit.
    for (id, want) in KEYS.iter().zip(&want) {
        if let Ok(key) = id.parse::<u64>() {
            let got: Vec<String> = conn.exec(&select, (key,)).await?;
            assert_eq!(got, vec![want.clone()], "unsigned key {id}");
        }
    }
    // The key after another parameter; a write by the key.
    let two = conn
        .prep("SELECT v FROM t WHERE v LIKE ? AND id = ?")
        .await?;
    let got: Vec<String> = conn.exec(&two, ("%", 13i64)).await?;
    assert_eq!(got, vec![want[6].clone()]);
    conn.exec_drop("UPDATE t SET v = ? WHERE id = ?", ("updated", 4242i64))
        .await?;
    assert_eq!(conn.affected_rows(), 1);
    let (own, group) = shard_of(&mut conn, "4242").await?;
    let on_shards: Vec<(String,)> = {
        let mut all = Vec::new();
        for shard in 0..SHARDS {
            let database = format!("shop_{shard:04}");
            let server = if shard < SHARDS / 2 { &c.g0 } else { &c.g1 };
            let rows: Vec<(String,)> = server
                .query(&format!("SELECT v FROM `{database}`.t WHERE id = 4242"))
                .await?;
            all.extend(rows);
        }
        all
    };
    let updated: Vec<_> = on_shards.iter().filter(|(v,)| v == "updated").collect();
    ensure!(
        updated.len() == 1 && on_shards.len() == SHARDS as usize,
        "only {own} on {group} updated: {on_shards:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_and_keys_of_other_types_answer_as_the_text_protocol() -> Result<()> {
    let c = Cluster::start(SHARDS, &["{name: t, shard_key: id}"], |_| {}).await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop("CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR(64))")
        .await?;
    let want = plant(&c, &mut conn, "7").await?;
    let select = conn.prep("SELECT v FROM t WHERE id = ? ORDER BY v").await?;
    // (bound value, the same statement as text)
    let cases: Vec<(Value, &str)> = vec![
        (Value::NULL, "NULL"),
        (Value::Bytes(b"7".to_vec()), "'7'"),
        (Value::Double(7.0), "7e0"),
        (Value::Bytes(b"x".to_vec()), "'x'"),
    ];
    for (bound, literal) in cases {
        let text: std::result::Result<Vec<String>, _> = conn
            .query(format!("SELECT v FROM t WHERE id = {literal} ORDER BY v"))
            .await;
        let prepared: std::result::Result<Vec<String>, _> =
            conn.exec(&select, vec![bound.clone()]).await;
        match (&text, &prepared) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{literal}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{literal}"),
            _ => panic!("{literal}: text {text:?}, prepared {prepared:?}"),
        }
        if literal == "NULL" {
            assert_eq!(
                prepared.as_ref().ok(),
                Some(&Vec::new()),
                "no row has a NULL key"
            );
        }
        if literal == "'7'" {
            assert_eq!(
                prepared.as_ref().ok(),
                Some(&vec![want.clone()]),
                "'7' is key 7"
            );
        }
    }
    // The connection goes on, and an integer key still takes its shard.
    let got: Vec<String> = conn.exec(&select, (7i64,)).await?;
    assert_eq!(got, vec![want]);
    Ok(())
}
