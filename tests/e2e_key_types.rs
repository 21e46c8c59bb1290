//! DECIMAL and DATETIME shard keys end to end: 2 groups × 16 shards on real MariaDB servers.
//! Rows are inserted through the proxy as text, as prepared statements with string and
//! temporal parameters (mysql_async) and with DECIMAL parameters (raw COM_STMT_EXECUTE with
//! type NEWDECIMAL). Every row must sit on the shard the placement hash gives its *stored*
//! value (`1.555` is stored in `DECIMAL(10,2)` as `1.56`), and a SELECT by key must find it.

mod harness;

use anyhow::{Context, Result, ensure};
use harness::MariaDb;
use harness::proxy::ShardedCluster as Cluster;
use harness::proxy::{APP_PASSWORD, APP_USER, app_conn};
use harness::raw::{Login, RawConn, parse_err, put_lenenc};
use myshard_router::hash::{KeyType, KeyValue, shard_of};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};

const SHARDS: u32 = 16;

const TABLES: &[&str] = &[
    "{name: amounts, shard_key: k, key_type: 'decimal(10,2)'}",
    "{name: whole, shard_key: k, key_type: decimal}",
    "{name: events, shard_key: k, key_type: 'datetime(3)'}",
    "{name: days, shard_key: k, key_type: date}",
];

const MYSQL_TYPE_LONG: u8 = 0x03;
const MYSQL_TYPE_NEWDECIMAL: u8 = 0xF6;

async fn cluster() -> Result<Cluster> {
    Cluster::start(SHARDS, TABLES, |_| {}).await
}

impl Cluster {
    /// The server holding `shard` (0-7 on g0, 8-15 on g1).
    fn server(&self, shard: u32) -> &MariaDb {
        if shard < SHARDS / 2 {
            &self.g0
        } else {
            &self.g1
        }
    }

    /// Every row of `table` read from the physical databases: (shard, id, stored key as
    /// the server prints it).
    async fn rows(&self, table: &str) -> Result<Vec<(u32, i32, String)>> {
        let mut out = Vec::new();
        for s in 0..SHARDS {
            let rows: Vec<(i32, String)> = self
                .server(s)
                .query(&format!(
                    "SELECT id, CAST(k AS CHAR) FROM shop_{s:04}.{table} ORDER BY id"
                ))
                .await?;
            out.extend(rows.into_iter().map(|(id, k)| (s, id, k)));
        }
        out.sort_by_key(|(_, id, _)| *id);
        Ok(out)
    }
}

/// The shard the placement hash gives a stored value, printed by the server.
fn placed(key_type: &KeyType, stored: &str) -> Result<u32> {
    let value = match key_type {
        KeyType::Decimal { .. } => KeyValue::Decimal(stored),
        _ => KeyValue::Str(stored.as_bytes()),
    };
    shard_of(key_type, &value, SHARDS)
        .with_context(|| format!("{key_type:?} {stored}"))?
        .with_context(|| format!("the stored value {stored} has no shard"))
}

/// Checks that every row of `table` is on the shard of its stored key, that the stored keys
/// are `expected` (by id), and that a SELECT by key through the proxy finds each row, with
/// the key as a literal and as a string parameter.
async fn check_placement(
    c: &Cluster,
    conn: &mut Conn,
    table: &str,
    key_type: &KeyType,
    expected: &[(i32, &str)],
) -> Result<()> {
    let rows = c.rows(table).await?;
    let found: Vec<(i32, &str)> = rows.iter().map(|(_, id, k)| (*id, k.as_str())).collect();
    assert_eq!(found, expected, "stored keys of {table}");
    let mut shards_used = std::collections::BTreeSet::new();
    for (shard, id, stored) in &rows {
        assert_eq!(
            *shard,
            placed(key_type, stored)?,
            "{table} row {id} (key {stored}) is on the wrong shard"
        );
        shards_used.insert(*shard);
        assert_eq!(
            explain_shards(
                conn,
                &format!("SELECT id FROM {table} WHERE k = '{stored}'")
            )
            .await?,
            vec![*shard],
            "{table}: route of key {stored}"
        );
        // (Several rows may share a key; `id` picks one without widening the route.)
        let by_text: Vec<i32> = conn
            .query(format!(
                "SELECT id FROM {table} WHERE k = '{stored}' AND id = {id}"
            ))
            .await?;
        assert_eq!(by_text, vec![*id], "{table}: SELECT by key {stored}");
        let by_param: Vec<i32> = conn
            .exec(
                format!("SELECT id FROM {table} WHERE k = ? AND id = ?"),
                (stored.as_str(), *id),
            )
            .await?;
        assert_eq!(
            by_param,
            vec![*id],
            "{table}: prepared SELECT by key {stored}"
        );
    }
    ensure!(
        shards_used.len() > 2,
        "{table}: rows should spread over several shards, got {shards_used:?}"
    );
    Ok(())
}

/// The shards `EXPLAIN ROUTE` lists for `sql`.
async fn explain_shards(conn: &mut Conn, sql: &str) -> Result<Vec<u32>> {
    let rows: Vec<(String, String, String, String, String)> =
        conn.query(format!("EXPLAIN ROUTE {sql}")).await?;
    rows.into_iter()
        .map(|(shard, ..)| shard.parse().with_context(|| format!("shard {shard}")))
        .collect()
}

/// A COM_STMT_EXECUTE payload binding (INT id, NEWDECIMAL key) pairs, types sent.
fn execute_decimals(stmt: u32, rows: &[(i32, &str)]) -> Vec<u8> {
    let mut p = vec![0x17];
    p.extend_from_slice(&stmt.to_le_bytes());
    p.push(0);
    p.extend_from_slice(&1u32.to_le_bytes());
    let params = rows.len() * 2;
    p.extend(std::iter::repeat_n(0u8, params.div_ceil(8)));
    p.push(1);
    for _ in rows {
        p.extend_from_slice(&[MYSQL_TYPE_LONG, 0, MYSQL_TYPE_NEWDECIMAL, 0]);
    }
    for (id, key) in rows {
        p.extend_from_slice(&id.to_le_bytes());
        put_lenenc(&mut p, key.len() as u64);
        p.extend_from_slice(key.as_bytes());
    }
    p
}

/// Prepares `sql` on a raw connection and executes it with `rows`; the OK's affected rows.
async fn insert_decimals(raw: &mut RawConn, sql: &str, rows: &[(i32, &str)]) -> Result<u64> {
    let stmt = raw
        .prepare(sql)
        .await?
        .map_err(|e| anyhow::anyhow!("prepare of {sql} failed: {e:?}"))?;
    ensure!(
        usize::from(stmt.params) == rows.len() * 2,
        "{sql}: {stmt:?}"
    );
    raw.send(&execute_decimals(stmt.id, rows)).await?;
    let ok = raw.read_packet().await?;
    ensure!(
        ok.first() == Some(&0x00),
        "{sql} {rows:?} failed: {:?}",
        parse_err(&ok)
    );
    let mut pos = 1;
    harness::raw::lenenc(&ok, &mut pos).context("affected rows")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decimal_keys_are_placed_by_their_stored_value() -> Result<()> {
    let c = cluster().await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop("CREATE TABLE amounts (id INT PRIMARY KEY, k DECIMAL(10,2) NOT NULL)")
        .await?;
    conn.query_drop("CREATE TABLE whole (id INT PRIMARY KEY, k DECIMAL NOT NULL)")
        .await?;

    // Text: single rows and a multi-row insert spanning shards, numbers and strings, values
    // the column rounds (with a note) and values it keeps.
    conn.query_drop("INSERT INTO amounts (id, k) VALUES (1, 1.555)")
        .await?;
    conn.query_drop("INSERT INTO amounts SET id = 2, k = -1.555")
        .await?;
    conn.query_drop(
        "INSERT INTO amounts (id, k) VALUES (3, '2.345'), (4, 0.005), (5, 12), (6, 99999999.99), \
         (7, -0.004), (8, 1.56), (9, '  7.10 ')",
    )
    .await?;
    assert_eq!(conn.affected_rows(), 7);
    // Prepared through mysql_async: strings and integers as parameters.
    conn.exec_drop("INSERT INTO amounts (id, k) VALUES (?, ?)", (10, "3.14159"))
        .await?;
    conn.exec_drop(
        "INSERT INTO amounts (id, k) VALUES (?, ?), (?, ?), (?, ?)",
        (11, 42, 12, "-8.125", 13, "0.1"),
    )
    .await?;
    // Prepared with DECIMAL (NEWDECIMAL) parameters: one row, then rows spanning shards
    // (split into one statement per shard with the values as literals).
    let mut raw = RawConn::login(
        c.proxy.addr(),
        &Login::new(APP_USER, APP_PASSWORD, Some("shop")),
    )
    .await?
    .map_err(|e| anyhow::anyhow!("login refused: {e:?}"))?;
    let one = "INSERT INTO amounts (id, k) VALUES (?, ?)";
    assert_eq!(insert_decimals(&mut raw, one, &[(14, "-7.005")]).await?, 1);
    let three = "INSERT INTO amounts (id, k) VALUES (?, ?), (?, ?), (?, ?)";
    let rows = [(15, "5.555"), (16, "1000.499"), (17, "0.3")];
    assert_eq!(insert_decimals(&mut raw, three, &rows).await?, 3);

    let expected = [
        (1, "1.56"),
        (2, "-1.56"),
        (3, "2.35"),
        (4, "0.01"),
        (5, "12.00"),
        (6, "99999999.99"),
        (7, "0.00"),
        (8, "1.56"),
        (9, "7.10"),
        (10, "3.14"),
        (11, "42.00"),
        (12, "-8.13"),
        (13, "0.10"),
        (14, "-7.01"),
        (15, "5.56"),
        (16, "1000.50"),
        (17, "0.30"),
    ];
    let decimal_10_2 = KeyType::Decimal {
        precision: 10,
        scale: 2,
    };
    check_placement(&c, &mut conn, "amounts", &decimal_10_2, &expected).await?;
    // Rows 1 and 8 were written differently and hold the same value: one shard, which is
    // where another insert of 1.555 goes.
    let rows = c.rows("amounts").await?;
    assert_eq!(rows[0].0, rows[7].0);
    assert_eq!(
        explain_shards(&mut conn, "INSERT INTO amounts (id, k) VALUES (50, 1.555)").await?,
        vec![rows[0].0]
    );
    // A key with more fraction digits than the scale equals no stored value: the lookup
    // goes to every shard and finds nothing (it does not find 1.56).
    let none: Vec<i32> = conn.query("SELECT id FROM amounts WHERE k = 1.555").await?;
    assert!(none.is_empty(), "{none:?}");
    let both: Vec<i32> = conn
        .query("SELECT id FROM amounts WHERE k IN (1.56, -1.56) AND id < 3")
        .await?;
    let mut both = both;
    both.sort();
    assert_eq!(both, vec![1, 2]);
    // A value the column cannot hold has no shard: refused before reaching any server.
    let e = conn
        .query_drop("INSERT INTO amounts (id, k) VALUES (99, 99999999.995)")
        .await
        .expect_err("out of range key");
    assert!(e.to_string().contains("does not determine a shard"), "{e}");
    let e = conn
        .query_drop("INSERT INTO amounts (id, k) VALUES (99, 1.5e0)")
        .await
        .expect_err("approximate key");
    assert!(e.to_string().contains("does not determine a shard"), "{e}");

    // Bare `decimal` is DECIMAL(10,0): 2.5 is stored as 3.
    conn.query_drop("INSERT INTO whole (id, k) VALUES (1, 2.5), (2, 3), (3, -2.5), (4, 17.49)")
        .await?;
    conn.exec_drop(
        "INSERT INTO whole (id, k) VALUES (?, ?), (?, ?)",
        (5, "40.5", 6, 1234567890),
    )
    .await?;
    let decimal_10_0 = KeyType::Decimal {
        precision: 10,
        scale: 0,
    };
    check_placement(
        &c,
        &mut conn,
        "whole",
        &decimal_10_0,
        &[
            (1, "3"),
            (2, "3"),
            (3, "-3"),
            (4, "17"),
            (5, "41"),
            (6, "1234567890"),
        ],
    )
    .await?;
    let rows = c.rows("whole").await?;
    assert_eq!(rows[0].0, rows[1].0, "2.5 is stored as 3, on 3's shard");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datetime_and_date_keys_are_placed_by_their_stored_value() -> Result<()> {
    let c = cluster().await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop("CREATE TABLE events (id INT PRIMARY KEY, k DATETIME(3) NOT NULL)")
        .await?;
    conn.query_drop("CREATE TABLE days (id INT PRIMARY KEY, k DATE NOT NULL)")
        .await?;

    conn.query_drop(
        "INSERT INTO events (id, k) VALUES (1, '2024-01-05 10:20:30.5'), \
         (2, '2024-01-05T10:20:30'), (3, 20240105102031), (4, '24-1-5 1:2:3.123'), \
         (5, '2023/12/31 23:59:59.999')",
    )
    .await?;
    // Binary DATETIME parameters, with and without microseconds.
    conn.exec_drop(
        "INSERT INTO events (id, k) VALUES (?, ?)",
        (6, Value::Date(2024, 2, 29, 13, 5, 9, 250_000)),
    )
    .await?;
    conn.exec_drop(
        "INSERT INTO events (id, k) VALUES (?, ?), (?, ?)",
        (
            7,
            Value::Date(1999, 1, 1, 0, 0, 0, 0),
            8,
            "2030-06-15 08:00:00.001",
        ),
    )
    .await?;
    check_placement(
        &c,
        &mut conn,
        "events",
        &KeyType::DateTime { fsp: 3 },
        &[
            (1, "2024-01-05 10:20:30.500"),
            (2, "2024-01-05 10:20:30.000"),
            (3, "2024-01-05 10:20:31.000"),
            (4, "2024-01-05 01:02:03.123"),
            (5, "2023-12-31 23:59:59.999"),
            (6, "2024-02-29 13:05:09.250"),
            (7, "1999-01-01 00:00:00.000"),
            (8, "2030-06-15 08:00:00.001"),
        ],
    )
    .await?;
    // Lookups with other spellings of a stored value, as text and as a binary parameter.
    let id: Vec<i32> = conn
        .query("SELECT id FROM events WHERE k = '2024-01-05 10:20:30.500000'")
        .await?;
    assert_eq!(id, vec![1]);
    let id: Option<i32> = conn
        .exec_first(
            "SELECT id FROM events WHERE k = ?",
            (Value::Date(2024, 2, 29, 13, 5, 9, 250_000),),
        )
        .await?;
    assert_eq!(id, Some(6));
    // More fraction digits than the column keeps: MariaDB truncates, MySQL rounds, so the
    // row has no certain shard and the insert is refused.
    let e = conn
        .query_drop("INSERT INTO events (id, k) VALUES (99, '2024-01-05 10:20:30.1234')")
        .await
        .expect_err("too many fraction digits");
    assert!(e.to_string().contains("does not determine a shard"), "{e}");

    conn.query_drop(
        "INSERT INTO days (id, k) VALUES (1, '2024-01-05'), (2, '2024-1-6'), (3, 20240107), \
         (4, '240108'), (5, '2000-02-29')",
    )
    .await?;
    conn.exec_drop(
        "INSERT INTO days (id, k) VALUES (?, ?)",
        (6, Value::Date(2031, 12, 24, 0, 0, 0, 0)),
    )
    .await?;
    check_placement(
        &c,
        &mut conn,
        "days",
        &KeyType::Date,
        &[
            (1, "2024-01-05"),
            (2, "2024-01-06"),
            (3, "2024-01-07"),
            (4, "2024-01-08"),
            (5, "2000-02-29"),
            (6, "2031-12-24"),
        ],
    )
    .await?;
    Ok(())
}
