//! Global sequences end to end (2 groups × 8 shards): INSERTs that leave the key column to
//! the proxy get numbers no other proxy, client or restart hands out again, routed by them;
//! the OK packet and `LAST_INSERT_ID()` report the first, as MySQL does for AUTO_INCREMENT.

mod harness;

use anyhow::{Result, ensure};
use harness::MariaDb;
use harness::proxy::{
    ShardedCluster as Cluster, app_conn, create_shard_databases, sharded_config, start_proxy,
};
use mysql_async::prelude::Queryable;
use std::collections::BTreeSet;

const SHARDS: u32 = 8;

const TABLES: &[&str] = &[
    "{name: orders, shard_key: id, sequence: {column: id, kind: segment, block_size: 20}}",
    "{name: notes, shard_key: uid, sequence: {column: id, kind: time, instance_id: 1}}",
    "{name: tags, global: true, sequence: {column: id, kind: segment, block_size: 5}}",
    "{name: sbtest1, shard_key: id, sequence: {column: id, kind: segment, block_size: 100}}",
];

const CREATE_ORDERS: &str =
    "CREATE TABLE orders (id BIGINT NOT NULL PRIMARY KEY, note VARCHAR(20) NOT NULL DEFAULT '')";

impl Cluster {
    fn server(&self, shard: u32) -> &MariaDb {
        if shard < SHARDS / 2 {
            &self.g0
        } else {
            &self.g1
        }
    }

    /// Every id of `table` in the physical shards, with duplicates.
    async fn physical_ids(&self, table: &str) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        for s in 0..SHARDS {
            let ids: Vec<u64> = self
                .server(s)
                .query(&format!("SELECT id FROM shop_{s:04}.{table}"))
                .await?;
            out.extend(ids);
        }
        Ok(out)
    }

    /// Another proxy on the same servers, with the tables' settings changed by `tweak`.
    async fn second_proxy(&self, tables: &[&str]) -> Result<myshard_proxy::ProxyHandle> {
        let config = sharded_config(&self.g0, &self.g1, SHARDS, tables);
        create_shard_databases(&config, &[&self.g0, &self.g1]).await?;
        start_proxy(config).await
    }
}

/// Each id of `ids` is found through the proxy by a point select (routed by the key), so
/// it lies on the shard its value hashes to.
async fn routed_right(conn: &mut mysql_async::Conn, table: &str, ids: &[u64]) -> Result<()> {
    for id in ids {
        let n: Option<u64> = conn
            .query_first(format!("SELECT COUNT(*) FROM {table} WHERE id = {id}"))
            .await?;
        ensure!(n == Some(1), "{table} id {id} not on its shard");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_get_distinct_ids_routed_by_them_and_last_insert_id_reports_the_first() -> Result<()>
{
    let c = Cluster::start(SHARDS, TABLES, |_| {}).await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop(CREATE_ORDERS).await?;

    // A multi-row insert without the key column spans shards.
    let rows: Vec<String> = (0..12).map(|i| format!("('r{i}')")).collect();
    conn.query_drop(format!(
        "INSERT INTO orders (note) VALUES {}",
        rows.join(", ")
    ))
    .await?;
    let first = conn.last_insert_id().unwrap_or(0);
    let lid: Option<u64> = conn.query_first("SELECT LAST_INSERT_ID()").await?;
    ensure!(
        lid == Some(first),
        "LAST_INSERT_ID() {lid:?}, OK packet {first}"
    );
    let r0: Option<u64> = conn
        .query_first("SELECT id FROM orders WHERE note = 'r0'")
        .await?;
    ensure!(
        r0 == Some(first),
        "first row holds {r0:?}, reported {first}"
    );
    let ids = c.physical_ids("orders").await?;
    let distinct: BTreeSet<u64> = ids.iter().copied().collect();
    ensure!(ids.len() == 12 && distinct.len() == 12, "{ids:?}");
    let shards_used = {
        let mut used = 0;
        for s in 0..SHARDS {
            let n: Vec<u64> = c
                .server(s)
                .query(&format!("SELECT COUNT(*) FROM shop_{s:04}.orders"))
                .await?;
            used += usize::from(n[0] > 0);
        }
        used
    };
    ensure!(shards_used > 1, "12 rows on {shards_used} shard(s)");
    routed_right(&mut conn, "orders", &ids).await?;

    // NULL and 0 ask for a number, an explicit value is kept; INSERT … SET; no column list.
    conn.query_drop(
        "INSERT INTO orders (id, note) VALUES (NULL, 'null'), (777, 'explicit'), (0, 'zero')",
    )
    .await?;
    let null_id = conn.last_insert_id().unwrap_or(0);
    conn.query_drop("INSERT INTO orders SET note = 'set'")
        .await?;
    let set_id = conn.last_insert_id().unwrap_or(0);
    conn.query_drop("INSERT INTO orders VALUES (NULL, 'columnless')")
        .await?;
    let columnless_id = conn.last_insert_id().unwrap_or(0);
    let lid: Option<u64> = conn.query_first("SELECT LAST_INSERT_ID()").await?;
    ensure!(lid == Some(columnless_id), "{lid:?} vs {columnless_id}");
    for (note, id) in [
        ("null", null_id),
        ("explicit", 777),
        ("set", set_id),
        ("columnless", columnless_id),
    ] {
        let got: Option<u64> = conn
            .query_first(format!("SELECT id FROM orders WHERE note = '{note}'"))
            .await?;
        ensure!(
            got == Some(id) && id != 0,
            "{note}: row {got:?}, reported {id}"
        );
    }
    // An explicit value does not set the insert id (as for AUTO_INCREMENT).
    conn.query_drop("INSERT INTO orders (id, note) VALUES (778, 'x')")
        .await?;
    ensure!(conn.last_insert_id().unwrap_or(0) == 0);
    let ids = c.physical_ids("orders").await?;
    let distinct: BTreeSet<u64> = ids.iter().copied().collect();
    ensure!(ids.len() == 18 && distinct.len() == 18, "{ids:?}");
    routed_right(&mut conn, "orders", &ids).await?;

    // Prepared: an explicit value is routed by it and does not set the insert id.
    conn.exec_drop(
        "INSERT INTO orders (id, note) VALUES (?, ?)",
        (900u64, "prepared"),
    )
    .await?;
    ensure!(conn.last_insert_id().unwrap_or(0) == 0);
    routed_right(&mut conn, "orders", &[900]).await?;

    // A global table: one number for the row on every shard.
    conn.query_drop("CREATE TABLE tags (id BIGINT PRIMARY KEY, t VARCHAR(10))")
        .await?;
    conn.query_drop("INSERT INTO tags (t) VALUES ('a'), ('b')")
        .await?;
    let tags = c.physical_ids("tags").await?;
    let distinct: BTreeSet<u64> = tags.iter().copied().collect();
    ensure!(
        tags.len() == 2 * SHARDS as usize && distinct.len() == 2,
        "{tags:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_through_two_proxies_never_share_an_id() -> Result<()> {
    let c = Cluster::start(SHARDS, TABLES, |_| {}).await?;
    let other = c.second_proxy(TABLES).await?;
    app_conn(&c.proxy, Some("shop"))
        .await?
        .query_drop(CREATE_ORDERS)
        .await?;
    let mut tasks = Vec::new();
    for client in 0..12 {
        let mut conn = if client % 2 == 0 {
            app_conn(&c.proxy, Some("shop")).await?
        } else {
            app_conn(&other, Some("shop")).await?
        };
        tasks.push(tokio::spawn(async move {
            for i in 0..15 {
                // Single and multi-row inserts; a duplicate would fail on its shard's key.
                let sql = if i % 3 == 0 {
                    "INSERT INTO orders (note) VALUES ('a'), ('b'), ('c')".to_string()
                } else {
                    format!("INSERT INTO orders (note) VALUES ('c{client}')")
                };
                conn.query_drop(sql).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let ids = c.physical_ids("orders").await?;
    let distinct: BTreeSet<u64> = ids.iter().copied().collect();
    // 12 clients × (5 inserts of 3 rows + 10 of 1).
    ensure!(ids.len() == 12 * 25, "{} rows", ids.len());
    ensure!(distinct.len() == ids.len(), "duplicate ids");
    Ok(())
}

/// The id the row with `note` holds, read through the proxy.
async fn id_of(conn: &mut mysql_async::Conn, note: &str) -> Result<u64> {
    let id: Option<u64> = conn
        .exec_first("SELECT id FROM orders WHERE note = ?", (note,))
        .await?;
    id.ok_or_else(|| anyhow::anyhow!("no row '{note}'"))
}

/// Prepared INSERTs (binary protocol and `PREPARE … EXECUTE … USING`) that leave the key to
/// the sequence, by omitting it or binding NULL or 0, get numbers at each EXECUTE, are
/// routed by them, and report the first as last-insert-id; explicit values are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_inserts_are_numbered_at_each_execute() -> Result<()> {
    let c = Cluster::start(SHARDS, TABLES, |_| {}).await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop(CREATE_ORDERS).await?;

    // Key column omitted, multi-row: distinct numbers, the first reported.
    let stmt = conn
        .prep("INSERT INTO orders (note) VALUES (?), (?), (?)")
        .await?;
    let mut firsts = Vec::new();
    for round in 0..4 {
        let notes: Vec<String> = (0..3).map(|i| format!("m{round}.{i}")).collect();
        conn.exec_drop(&stmt, (&notes[0], &notes[1], &notes[2]))
            .await?;
        let first = conn.last_insert_id().unwrap_or(0);
        ensure!(first != 0, "no last-insert-id");
        ensure!(id_of(&mut conn, &notes[0]).await? == first, "round {round}");
        let lid: Option<u64> = conn.query_first("SELECT LAST_INSERT_ID()").await?;
        ensure!(lid == Some(first), "LAST_INSERT_ID() {lid:?}, OK {first}");
        firsts.push(first);
    }
    // Key bound as NULL, 0, or a value of its own.
    let stmt = conn
        .prep("INSERT INTO orders (id, note) VALUES (?, ?)")
        .await?;
    conn.exec_drop(&stmt, (Option::<u64>::None, "bound-null"))
        .await?;
    let null_id = conn.last_insert_id().unwrap_or(0);
    conn.exec_drop(&stmt, (0u64, "bound-zero")).await?;
    let zero_id = conn.last_insert_id().unwrap_or(0);
    conn.exec_drop(&stmt, (5000u64, "bound-explicit")).await?;
    ensure!(conn.last_insert_id().unwrap_or(0) == 0);
    ensure!(null_id != 0 && zero_id != 0 && null_id != zero_id);
    ensure!(id_of(&mut conn, "bound-null").await? == null_id);
    ensure!(id_of(&mut conn, "bound-zero").await? == zero_id);
    ensure!(id_of(&mut conn, "bound-explicit").await? == 5000);
    let lid: Option<u64> = conn.query_first("SELECT LAST_INSERT_ID()").await?;
    ensure!(lid == Some(zero_id), "an explicit value kept {lid:?}");

    // SQL PREPARE: omitted and bound NULL.
    conn.query_drop("PREPARE ins FROM 'INSERT INTO orders (note) VALUES (?), (?)'")
        .await?;
    conn.query_drop("SET @a = 'sql-a', @b = 'sql-b'").await?;
    conn.query_drop("EXECUTE ins USING @a, @b").await?;
    let sql_first = conn.last_insert_id().unwrap_or(0);
    ensure!(sql_first != 0 && id_of(&mut conn, "sql-a").await? == sql_first);
    conn.query_drop("PREPARE ins2 FROM 'INSERT INTO orders (id, note) VALUES (?, ?)'")
        .await?;
    conn.query_drop("EXECUTE ins2 USING NULL, 'sql-null'")
        .await?;
    let sql_null = conn.last_insert_id().unwrap_or(0);
    ensure!(sql_null != 0 && id_of(&mut conn, "sql-null").await? == sql_null);

    // A prepared INSERT … RETURNING that may leave the key to the sequence: refused.
    let e = conn
        .prep("INSERT INTO orders (note) VALUES (?) RETURNING id")
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    ensure!(e.contains("1235") && e.contains("RETURNING"), "{e}");

    let ids = c.physical_ids("orders").await?;
    let distinct: BTreeSet<u64> = ids.iter().copied().collect();
    ensure!(ids.len() == 18 && distinct.len() == 18, "{ids:?}");
    routed_right(&mut conn, "orders", &ids).await?;
    Ok(())
}

/// Prepared numbered inserts from many clients of two proxies at once: no id twice, each
/// row on the shard of its id, each client's last-insert-id the id of its first row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_prepared_inserts_never_share_an_id() -> Result<()> {
    let c = Cluster::start(SHARDS, TABLES, |_| {}).await?;
    let other = c.second_proxy(TABLES).await?;
    app_conn(&c.proxy, Some("shop"))
        .await?
        .query_drop(CREATE_ORDERS)
        .await?;
    let mut tasks = Vec::new();
    for client in 0..8 {
        let mut conn = if client % 2 == 0 {
            app_conn(&c.proxy, Some("shop")).await?
        } else {
            app_conn(&other, Some("shop")).await?
        };
        tasks.push(tokio::spawn(async move {
            let pair = conn
                .prep("INSERT INTO orders (note) VALUES (?), (?)")
                .await?;
            let keyed = conn
                .prep("INSERT INTO orders (id, note) VALUES (?, ?)")
                .await?;
            for i in 0..10 {
                let a = format!("c{client}.{i}a");
                if i % 2 == 0 {
                    conn.exec_drop(&pair, (&a, format!("c{client}.{i}b")))
                        .await?;
                } else {
                    conn.exec_drop(&keyed, (Option::<u64>::None, &a)).await?;
                }
                let first = conn.last_insert_id().unwrap_or(0);
                ensure!(
                    id_of(&mut conn, &a).await? == first,
                    "{a}: reported {first}"
                );
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let ids = c.physical_ids("orders").await?;
    let distinct: BTreeSet<u64> = ids.iter().copied().collect();
    // 8 clients × (5 inserts of 2 rows + 5 of 1).
    ensure!(ids.len() == 8 * 15, "{} rows", ids.len());
    ensure!(distinct.len() == ids.len(), "duplicate ids");
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    routed_right(&mut conn, "orders", &ids).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_or_crashed_proxy_never_reuses_an_id() -> Result<()> {
    let c = Cluster::start(SHARDS, TABLES, |_| {}).await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop(CREATE_ORDERS).await?;
    conn.query_drop("INSERT INTO orders (note) VALUES ('a'), ('b'), ('c')")
        .await?;
    let before: BTreeSet<u64> = c.physical_ids("orders").await?.into_iter().collect();
    drop(conn);
    // Restart: a new proxy on the same servers (the first one's blocks are not returned).
    let restarted = c.second_proxy(TABLES).await?;
    let mut conn = app_conn(&restarted, Some("shop")).await?;
    conn.query_drop("INSERT INTO orders (note) VALUES ('d'), ('e')")
        .await?;
    drop(conn);
    // Crash: the proxy is stopped with its block half used and never told.
    restarted.stop();
    std::mem::forget(restarted);
    let again = c.second_proxy(TABLES).await?;
    let mut conn = app_conn(&again, Some("shop")).await?;
    conn.query_drop("INSERT INTO orders (note) VALUES ('f')")
        .await?;
    // The first proxy still serves, from the block it holds.
    let mut first = app_conn(&c.proxy, Some("shop")).await?;
    first
        .query_drop("INSERT INTO orders (note) VALUES ('g')")
        .await?;
    let all = c.physical_ids("orders").await?;
    let distinct: BTreeSet<u64> = all.iter().copied().collect();
    ensure!(all.len() == 7 && distinct.len() == 7, "{all:?}");
    let max_before = before.iter().max().copied().unwrap_or(0);
    for note in ["d", "e", "f"] {
        let id: Option<u64> = conn
            .query_first(format!("SELECT id FROM orders WHERE note = '{note}'"))
            .await?;
        ensure!(
            id.is_some_and(|id| id > max_before && !before.contains(&id)),
            "{note}: {id:?} after {before:?}"
        );
    }
    // The sequence table on the home shard's group moved past every block handed out.
    let next: Vec<u64> =
        c.g0.query("SELECT next_value FROM myshard.myshard_sequences WHERE name = 'shop.orders'")
            .await?;
    ensure!(
        next.first()
            .is_some_and(|n| distinct.iter().all(|id| id < n)),
        "{next:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_sequences_of_two_proxies_differ_and_increase() -> Result<()> {
    let c = Cluster::start(SHARDS, TABLES, |_| {}).await?;
    let tables2: Vec<String> = TABLES
        .iter()
        .map(|t| t.replace("instance_id: 1", "instance_id: 2"))
        .collect();
    let tables2: Vec<&str> = tables2.iter().map(String::as_str).collect();
    let other = c.second_proxy(&tables2).await?;
    let mut a = app_conn(&c.proxy, Some("shop")).await?;
    let mut b = app_conn(&other, Some("shop")).await?;
    a.query_drop("CREATE TABLE notes (id BIGINT PRIMARY KEY, uid INT NOT NULL)")
        .await?;
    let mut last = (0u64, 0u64);
    for i in 0..20 {
        a.query_drop(format!(
            "INSERT INTO notes (uid) VALUES ({i}), ({})",
            i + 100
        ))
        .await?;
        let ia = a.last_insert_id().unwrap_or(0);
        b.query_drop(format!("INSERT INTO notes (uid) VALUES ({})", i + 200))
            .await?;
        let ib = b.last_insert_id().unwrap_or(0);
        ensure!(
            ia > last.0 && ib > last.1,
            "not increasing: {ia} {ib} after {last:?}"
        );
        ensure!(
            (ia >> 12) & 1023 == 1 && (ib >> 12) & 1023 == 2,
            "{ia} {ib}"
        );
        last = (ia, ib);
    }
    let ids = c.physical_ids("notes").await?;
    let distinct: BTreeSet<u64> = ids.iter().copied().collect();
    ensure!(ids.len() == 60 && distinct.len() == 60, "{ids:?}");
    Ok(())
}

/// sysbench `prepare` with its default AUTO_INCREMENT key (no `--auto_inc=off`) loads a
/// table sharded on that key: the proxy numbers the rows, each lands on its shard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysbench_prepare_loads_a_table_sharded_on_its_auto_increment_key() -> Result<()> {
    if std::process::Command::new("sysbench")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("sysbench is not installed; skipped");
        return Ok(());
    }
    let c = Cluster::start(SHARDS, TABLES, |_| {}).await?;
    let addr = c.proxy.addr();
    let port = addr.port();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sysbench")
            .args([
                "oltp_read_write",
                "--db-driver=mysql",
                "--mysql-host=127.0.0.1",
                &format!("--mysql-port={port}"),
                &format!("--mysql-user={}", harness::proxy::APP_USER),
                &format!("--mysql-password={}", harness::proxy::APP_PASSWORD),
                "--mysql-db=shop",
                "--tables=1",
                "--table-size=300",
                "prepare",
            ])
            .output()
    })
    .await??;
    ensure!(
        out.status.success(),
        "sysbench prepare: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ids = c.physical_ids("sbtest1").await?;
    let distinct: BTreeSet<u64> = ids.iter().copied().collect();
    ensure!(
        ids.len() == 300 && distinct.len() == 300,
        "{} rows",
        ids.len()
    );
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    let sample: Vec<u64> = ids.iter().step_by(15).copied().collect();
    routed_right(&mut conn, "sbtest1", &sample).await?;
    Ok(())
}

#[test]
fn sequence_settings_are_checked_with_path_and_line() {
    let yaml = "listen: 127.0.0.1:0
users: [{name: app, password: x, schemas: ['*']}]
groups: [{name: g0, user: u, write_hosts: ['127.0.0.1:1']}]
schemas:
  - name: shop
    shards: 2
    placement: [{group: g0, shards: '0-1'}]
    tables:
      - {name: a, shard_key: id, sequence: {column: id, kind: time}}
      - {name: b, shard_key: id, sequence: {column: id, kind: segment, block_size: 0, group: nope}}
      - {name: c, shard_key: id, key_type: string, sequence: {column: id, kind: time, instance_id: 1024}}
";
    let e = myshard_config::parse(yaml, "t.yaml")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    for want in [
        "schemas[0].tables[0].sequence",
        "missing field `instance_id`",
        "schemas[0].tables[1].sequence.block_size",
        "schemas[0].tables[1].sequence.group",
        "unknown group `nope`",
        "schemas[0].tables[2].sequence.instance_id",
        "1024 is out of range",
        "has key_type string",
        ":9",
        ":10",
    ] {
        assert!(e.contains(want), "{want} not in:\n{e}");
    }
}
