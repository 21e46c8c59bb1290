//! End-to-end tests of binary prepared statements (COM_STMT_*) through the proxy against
//! real MariaDB servers: parameters of every common type, statements shared by clients
//! over a small pool (lazy prepare on other backend connections, remembered parameter
//! types), schemas on different groups, long data, reset, close and malformed executes.

mod harness;

use anyhow::{Context, Result};
use harness::e2e::{Env, server_err};
use harness::proxy::{APP_PASSWORD, APP_USER, app_conn};
use harness::raw::{Login, Prepared, RawConn, parse_err, put_lenenc};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

const MYSQL_TYPE_LONG: u8 = 0x03;
const MYSQL_TYPE_NULL: u8 = 0x06;
const MYSQL_TYPE_BLOB: u8 = 0xFC;
const MYSQL_TYPE_VAR_STRING: u8 = 0xFD;

/// A parameter for a raw COM_STMT_EXECUTE: type and value (None = NULL, or sent as long
/// data when the type says so and the caller leaves the value out).
#[derive(Clone)]
enum Param {
    Long(i32),
    Str(&'static [u8]),
    Null,
    /// A BLOB whose value was sent with COM_STMT_SEND_LONG_DATA.
    LongData,
}

/// A COM_STMT_EXECUTE payload; `bound` = send the parameter types.
fn execute(id: u32, params: &[Param], bound: bool) -> Vec<u8> {
    let mut p = vec![0x17];
    p.extend_from_slice(&id.to_le_bytes());
    p.push(0);
    p.extend_from_slice(&1u32.to_le_bytes());
    if params.is_empty() {
        return p;
    }
    let mut bitmap = vec![0u8; params.len().div_ceil(8)];
    for (i, v) in params.iter().enumerate() {
        if matches!(v, Param::Null) {
            bitmap[i / 8] |= 1 << (i % 8);
        }
    }
    p.extend_from_slice(&bitmap);
    p.push(u8::from(bound));
    if bound {
        for v in params {
            let t = match v {
                Param::Long(_) => MYSQL_TYPE_LONG,
                Param::Str(_) => MYSQL_TYPE_VAR_STRING,
                Param::Null => MYSQL_TYPE_NULL,
                Param::LongData => MYSQL_TYPE_BLOB,
            };
            p.extend_from_slice(&[t, 0]);
        }
    }
    for v in params {
        match v {
            Param::Long(n) => p.extend_from_slice(&n.to_le_bytes()),
            Param::Str(s) => {
                put_lenenc(&mut p, s.len() as u64);
                p.extend_from_slice(s);
            }
            Param::Null | Param::LongData => {}
        }
    }
    p
}

/// COM_STMT_SEND_LONG_DATA (no response).
async fn send_long_data(raw: &mut RawConn, id: u32, param: u16, data: &[u8]) -> Result<()> {
    let mut p = vec![0x18];
    p.extend_from_slice(&id.to_le_bytes());
    p.extend_from_slice(&param.to_le_bytes());
    p.extend_from_slice(data);
    raw.send(&p).await
}

async fn raw_login(env: &Env, db: &str) -> Result<RawConn> {
    RawConn::login(
        env.proxy.addr(),
        &Login::new(APP_USER, APP_PASSWORD, Some(db)),
    )
    .await?
    .map_err(|e| anyhow::anyhow!("login refused: {e:?}"))
}

async fn prepare(raw: &mut RawConn, sql: &str) -> Result<Prepared> {
    raw.prepare(sql)
        .await?
        .map_err(|e| anyhow::anyhow!("prepare of {sql} failed: {e:?}"))
}

/// Sends an execute and expects an OK.
async fn execute_ok(raw: &mut RawConn, id: u32, params: &[Param], bound: bool) -> Result<()> {
    raw.send(&execute(id, params, bound)).await?;
    let p = raw.read_packet().await?;
    anyhow::ensure!(
        p.first() == Some(&0x00),
        "execute failed: {:?}",
        parse_err(&p)
    );
    Ok(())
}

/// Sends a command and expects an ERR.
async fn expect_err(raw: &mut RawConn, payload: &[u8]) -> Result<harness::raw::ErrPacket> {
    raw.send(payload).await?;
    let p = raw.read_packet().await?;
    parse_err(&p).with_context(|| format!("expected ERR, got {p:?}"))
}

fn every_type_params() -> Vec<Value> {
    vec![
        Value::Int(-128),
        Value::UInt(65535),
        Value::Int(i64::MIN),
        Value::UInt(u64::MAX),
        Value::Float(1.5),
        Value::Double(-2.25e100),
        Value::Bytes(b"-12345678901234.123456".to_vec()),
        Value::Date(2024, 2, 29, 23, 59, 59, 999_999),
        Value::Date(1000, 1, 1, 0, 0, 0, 0),
        Value::Time(true, 34, 22, 59, 59, 0),
        Value::Time(true, 0, 1, 2, 3, 4),
        Value::Bytes("héllo ✓".as_bytes().to_vec()),
        Value::Bytes(vec![0, 1, 0, 0xFF, 0]),
        Value::NULL,
    ]
}

const PARAMS_TABLE: &str = "CREATE TABLE p (
    id INT PRIMARY KEY AUTO_INCREMENT,
    ti TINYINT, si SMALLINT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED, f FLOAT, d DOUBLE,
    dec_ DECIMAL(20,6), dt DATETIME(6), da DATE, tm TIME, tm6 TIME(6), vc VARCHAR(20),
    bl BLOB, nul INT
)";

const PARAMS_INSERT: &str =
    "INSERT INTO p (ti, si, bi, bu, f, d, dec_, dt, da, tm, tm6, vc, bl, nul)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_of_every_type_round_trip() -> Result<()> {
    let env = Env::start(1, |_| {}).await?;
    let mut conn = app_conn(&env.proxy, Some("s0")).await?;
    conn.query_drop(PARAMS_TABLE).await?;
    conn.exec_drop(PARAMS_INSERT, every_type_params()).await?;
    assert_eq!((conn.affected_rows(), conn.last_insert_id()), (1, Some(1)));

    // What MariaDB stored, read directly as text.
    let mut direct = env.dbs[0].conn_as("root", "", Some("s0_db")).await?;
    let stored: Row = direct
        .query_first("SELECT ti, si, bi, bu, f, d, dec_, dt, da, tm, tm6, vc, HEX(bl), nul FROM p")
        .await?
        .context("row")?;
    let text = |s: &str| Value::Bytes(s.as_bytes().to_vec());
    assert_eq!(
        stored.unwrap(),
        vec![
            text("-128"),
            text("65535"),
            text("-9223372036854775808"),
            text("18446744073709551615"),
            text("1.5"),
            text("-2.25e100"),
            text("-12345678901234.123456"),
            text("2024-02-29 23:59:59.999999"),
            text("1000-01-01"),
            text("-838:59:59"),
            text("-01:02:03.000004"),
            text("héllo ✓"),
            text("000100FF00"),
            Value::NULL,
        ]
    );
    // Binary rows and metadata through the proxy equal MariaDB's own.
    let sql = "SELECT * FROM p WHERE id = ?";
    let via_proxy: Row = conn.exec_first(sql, (1,)).await?.context("row")?;
    let want: Row = direct.exec_first(sql, (1,)).await?.context("row")?;
    assert_eq!(via_proxy.columns_ref(), want.columns_ref());
    assert_eq!(via_proxy.clone().unwrap(), want.unwrap());
    assert_eq!(via_proxy.get::<u64, _>("bu"), Some(u64::MAX));
    // Parameters echoed back: same values and types as from MariaDB directly.
    let echo = format!("SELECT {}", vec!["?"; every_type_params().len()].join(", "));
    let via_proxy: Row = conn
        .exec_first(&echo, every_type_params())
        .await?
        .context("row")?;
    let want: Row = direct
        .exec_first(&echo, every_type_params())
        .await?
        .context("row")?;
    assert_eq!(via_proxy.columns_ref(), want.columns_ref());
    assert_eq!(via_proxy.unwrap(), want.unwrap());
    Ok(())
}

/// The server's `max_prepared_stmt_count` is one budget for every connection: a backend
/// connection that keeps many statements makes room on 1461 (its least used ones are
/// closed and prepared again when executed) instead of failing the client's statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_statement_budget_is_shared_by_making_room() -> Result<()> {
    let env = Env::start(1, |c| c.groups[0].pool.max = 1).await?;
    env.dbs[0]
        .exec("SET GLOBAL max_prepared_stmt_count = 10")
        .await?;
    let mut conn = app_conn(&env.proxy, Some("s0")).await?;
    let mut stmts = Vec::new();
    for k in 0..25i64 {
        let stmt = conn.prep(format!("SELECT ? + {k}")).await?;
        let v: Option<i64> = conn.exec_first(&stmt, (1i64,)).await?;
        anyhow::ensure!(v == Some(1 + k), "statement {k}: {v:?}");
        stmts.push((k, stmt));
    }
    // Every statement still runs, those closed on the backend prepared there again.
    for (k, stmt) in &stmts {
        let v: Option<i64> = conn.exec_first(stmt, (2i64,)).await?;
        anyhow::ensure!(v == Some(2 + k), "statement {k} again: {v:?}");
    }
    let held: Vec<i64> = env.dbs[0]
        .query("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'PREPARED_STMT_COUNT'")
        .await?;
    anyhow::ensure!(held.first().is_some_and(|&n| n <= 10), "{held:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_shared_by_clients_over_a_small_pool() -> Result<()> {
    let env = Env::start(1, |c| c.groups[0].pool.max = 2).await?;
    let mut setup = app_conn(&env.proxy, Some("s0")).await?;
    setup
        .query_drop("CREATE TABLE t (c INT, n INT, s VARCHAR(20), PRIMARY KEY (c, n))")
        .await?;
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..5 {
        let mut conn = app_conn(&env.proxy, Some("s0")).await?;
        tasks.spawn(async move {
            let insert = conn
                .prep("INSERT INTO t (c, n, s) VALUES (?, ?, ?)")
                .await?;
            let select = conn
                .prep("SELECT n, s FROM t WHERE c = ? ORDER BY n")
                .await?;
            for n in 0..20 {
                conn.exec_drop(&insert, (client, n, format!("c{client}-{n}")))
                    .await?;
                let rows: Vec<(i32, String)> = conn.exec(&select, (client,)).await?;
                let want: Vec<(i32, String)> =
                    (0..=n).map(|i| (i, format!("c{client}-{i}"))).collect();
                anyhow::ensure!(rows == want, "client {client} after {n}: {rows:?}");
            }
            conn.close(insert).await?;
            conn.close(select).await?;
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    assert!(env.open_backend_conns() <= 2);
    let n: Vec<i64> = env.dbs[0].query("SELECT COUNT(*) FROM s0_db.t").await?;
    assert_eq!(n, [100]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameter_types_are_remembered_for_other_backend_connections() -> Result<()> {
    let env = Env::start(1, |c| c.groups[0].pool.max = 2).await?;
    let mut setup = app_conn(&env.proxy, Some("s0")).await?;
    setup
        .query_drop("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
        .await?;
    drop(setup);
    let mut raw = raw_login(&env, "s0").await?;
    let stmt = prepare(&mut raw, "INSERT INTO t (id, v) VALUES (?, ?)").await?;
    assert_eq!((stmt.params, stmt.columns), (2, 0));
    // First execute sends the types (as libmariadb does) …
    execute_ok(
        &mut raw,
        stmt.id,
        &[Param::Long(1), Param::Str(b"one")],
        true,
    )
    .await?;
    // … then another client holds that backend connection in a transaction, so the next
    // executes, without types, run on a connection where the statement is new.
    let mut holder = app_conn(&env.proxy, Some("s0")).await?;
    holder.query_drop("BEGIN").await?;
    holder.query_drop("SELECT COUNT(*) FROM t").await?;
    execute_ok(
        &mut raw,
        stmt.id,
        &[Param::Long(2), Param::Str(b"two")],
        false,
    )
    .await?;
    execute_ok(&mut raw, stmt.id, &[Param::Long(3), Param::Null], false).await?;
    assert_eq!(env.open_backend_conns(), 2);
    holder.query_drop("COMMIT").await?;
    // New types replace the remembered ones.
    execute_ok(
        &mut raw,
        stmt.id,
        &[Param::Str(b"4"), Param::Long(44)],
        true,
    )
    .await?;
    execute_ok(
        &mut raw,
        stmt.id,
        &[Param::Str(b"5"), Param::Long(55)],
        false,
    )
    .await?;
    let rows: Vec<(i32, Option<String>)> = env.dbs[0]
        .query("SELECT id, v FROM s0_db.t ORDER BY id")
        .await?;
    assert_eq!(
        rows,
        vec![
            (1, Some("one".into())),
            (2, Some("two".into())),
            (3, None),
            (4, Some("44".into())),
            (5, Some("55".into())),
        ]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_text_in_schemas_on_different_groups() -> Result<()> {
    let env = Env::start(2, |_| {}).await?;
    let mut a = app_conn(&env.proxy, Some("s0")).await?;
    let mut b = app_conn(&env.proxy, Some("s1")).await?;
    for (c, name) in [(&mut a, "zero"), (&mut b, "one")] {
        c.query_drop("CREATE TABLE t (id INT PRIMARY KEY, src VARCHAR(10))")
            .await?;
        c.exec_drop("INSERT INTO t VALUES (?, ?)", (1, name))
            .await?;
    }
    for (c, name) in [(&mut a, "zero"), (&mut b, "one")] {
        let src: Option<String> = c.exec_first("SELECT src FROM t WHERE id = ?", (1,)).await?;
        assert_eq!(src.as_deref(), Some(name));
    }
    let on0: Vec<String> = env.dbs[0].query("SELECT src FROM s0_db.t").await?;
    let on1: Vec<String> = env.dbs[1].query("SELECT src FROM s1_db.t").await?;
    assert_eq!(
        (on0, on1),
        (vec!["zero".to_string()], vec!["one".to_string()])
    );

    // One client, one text, prepared in each schema (raw: mysql_async caches statements
    // by text alone): each statement keeps the schema it was prepared in, as on a single
    // server, where tables are resolved at prepare time.
    let mut raw = raw_login(&env, "s0").await?;
    let sql = "INSERT INTO t VALUES (?, ?)";
    let in_s0 = prepare(&mut raw, sql).await?;
    raw.query("USE s1").await?.results()?;
    let in_s1 = prepare(&mut raw, sql).await?;
    assert_ne!(in_s0.id, in_s1.id);
    execute_ok(
        &mut raw,
        in_s1.id,
        &[Param::Long(2), Param::Str(b"s1 stmt")],
        true,
    )
    .await?;
    execute_ok(
        &mut raw,
        in_s0.id,
        &[Param::Long(3), Param::Str(b"s0 stmt")],
        true,
    )
    .await?;
    let on0: Vec<(i32, String)> = env.dbs[0]
        .query("SELECT id, src FROM s0_db.t ORDER BY id")
        .await?;
    let on1: Vec<(i32, String)> = env.dbs[1]
        .query("SELECT id, src FROM s1_db.t ORDER BY id")
        .await?;
    assert_eq!(
        on0,
        vec![(1, "zero".to_string()), (3, "s0 stmt".to_string())],
        "statement prepared in s0 ran elsewhere"
    );
    assert_eq!(
        on1,
        vec![(1, "one".to_string()), (2, "s1 stmt".to_string())]
    );
    drop(raw);

    // Both schemas on one server (one pool): the statement cache must keep them apart,
    // also right after a statement of the other schema ran.
    let env = Env::start_groups(1, 2, |_| {}).await?;
    env.dbs[0]
        .exec("CREATE TABLE s0_db.t (id INT PRIMARY KEY, src VARCHAR(10)); CREATE TABLE s1_db.t LIKE s0_db.t")
        .await?;
    let mut raw = raw_login(&env, "s0").await?;
    let in_s0 = prepare(&mut raw, sql).await?;
    raw.query("USE s1").await?.results()?;
    execute_ok(
        &mut raw,
        in_s0.id,
        &[Param::Long(1), Param::Str(b"s0 stmt")],
        true,
    )
    .await?;
    let in_s1 = prepare(&mut raw, sql).await?;
    execute_ok(
        &mut raw,
        in_s1.id,
        &[Param::Long(2), Param::Str(b"s1 stmt")],
        true,
    )
    .await?;
    raw.query("INSERT INTO t VALUES (3, 's1 query')")
        .await?
        .results()?;
    let rows: Vec<(String, i32, String)> = env.dbs[0]
        .query("SELECT 's0', id, src FROM s0_db.t UNION ALL SELECT 's1', id, src FROM s1_db.t ORDER BY 2")
        .await?;
    let row = |db: &str, id: i32, src: &str| (db.to_string(), id, src.to_string());
    assert_eq!(
        rows,
        vec![
            row("s0", 1, "s0 stmt"),
            row("s1", 2, "s1 stmt"),
            row("s1", 3, "s1 query")
        ]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_data_reset_close_and_malformed_executes() -> Result<()> {
    let env = Env::start(1, |_| {}).await?;
    env.dbs[0]
        .exec("CREATE TABLE s0_db.t (id INT PRIMARY KEY, b BLOB)")
        .await?;
    let mut raw = raw_login(&env, "s0").await?;
    let stmt = prepare(&mut raw, "INSERT INTO t (id, b) VALUES (?, ?)").await?;

    // COM_STMT_SEND_LONG_DATA in several chunks, binary data included.
    for chunk in [&b"hello "[..], b"\x00long\x00 ", b"data"] {
        send_long_data(&mut raw, stmt.id, 1, chunk).await?;
    }
    execute_ok(&mut raw, stmt.id, &[Param::Long(1), Param::LongData], true).await?;
    // Long data is consumed by the execute.
    execute_ok(
        &mut raw,
        stmt.id,
        &[Param::Long(2), Param::Str(b"inline")],
        true,
    )
    .await?;
    // COM_STMT_RESET drops long data sent before it.
    send_long_data(&mut raw, stmt.id, 1, b"junk").await?;
    raw.send(&[0x1A, stmt.id as u8, 0, 0, 0]).await?;
    let ok = raw.read_packet().await?;
    assert_eq!(ok.first(), Some(&0x00), "{:?}", parse_err(&ok));
    send_long_data(&mut raw, stmt.id, 1, b"after reset").await?;
    execute_ok(&mut raw, stmt.id, &[Param::Long(3), Param::LongData], true).await?;
    // Long data and the execute pipelined in one write.
    let mut long_data = vec![0x18];
    long_data.extend_from_slice(&stmt.id.to_le_bytes());
    long_data.extend_from_slice(&1u16.to_le_bytes());
    long_data.extend_from_slice(b"piped");
    let exec = execute(stmt.id, &[Param::Long(4), Param::LongData], true);
    let mut pipelined = Vec::new();
    for p in [long_data, exec] {
        pipelined.extend_from_slice(&(p.len() as u32).to_le_bytes()[..3]);
        pipelined.push(0);
        pipelined.extend_from_slice(&p);
    }
    raw.write_raw(&pipelined).await?;
    let ok = raw.read_packet().await?;
    assert_eq!(ok.first(), Some(&0x00), "{:?}", parse_err(&ok));
    let rows: Vec<(i32, Vec<u8>)> = env.dbs[0]
        .query("SELECT id, b FROM s0_db.t ORDER BY id")
        .await?;
    assert_eq!(
        rows,
        vec![
            (1, b"hello \x00long\x00 data".to_vec()),
            (2, b"inline".to_vec()),
            (3, b"after reset".to_vec()),
            (4, b"piped".to_vec()),
        ]
    );

    // Malformed executes: an error each, and the connection keeps working.
    let e = expect_err(&mut raw, &[0x17, 1, 0]).await?;
    assert_eq!(e.code, 1835, "{e:?}");
    let mut truncated = execute(stmt.id, &[Param::Long(9), Param::Str(b"x")], true);
    truncated.truncate(truncated.len() - 3);
    let e = expect_err(&mut raw, &truncated).await?;
    assert_eq!(e.code, 1835, "{e:?}");
    let lying = execute(stmt.id, &[Param::Long(9), Param::Str(b"abc")], true);
    let mut lying = lying[..lying.len() - 4].to_vec();
    lying.extend_from_slice(&[200, b'a']);
    let e = expect_err(&mut raw, &lying).await?;
    assert_eq!(e.code, 1835, "{e:?}");
    let fresh = prepare(&mut raw, "SELECT ? + 1").await?;
    let e = expect_err(&mut raw, &execute(fresh.id, &[Param::Long(1)], false)).await?;
    assert_eq!(
        (e.code, e.message.as_str()),
        (1210, "Incorrect arguments to mysqld_stmt_execute"),
        "an execute that never sent parameter types"
    );
    assert_eq!(raw.query("SELECT 1").await?.text_rows()?, vec![vec!["1"]]);

    // Close, then execute or reset: 1243.
    raw.send(&[0x19, stmt.id as u8, 0, 0, 0]).await?;
    let e = expect_err(
        &mut raw,
        &execute(stmt.id, &[Param::Long(4), Param::Null], true),
    )
    .await?;
    assert_eq!(
        (e.code, e.state.as_str(), e.message.as_str()),
        (
            1243,
            "HY000",
            format!(
                "Unknown prepared statement handler ({}) given to mysqld_stmt_execute",
                stmt.id
            )
            .as_str()
        )
    );
    let e = expect_err(&mut raw, &[0x1A, stmt.id as u8, 0, 0, 0]).await?;
    assert_eq!(e.code, 1243);
    // Long data for an unknown statement has no answer; the next command is served.
    send_long_data(&mut raw, 999, 0, b"x").await?;
    assert_eq!(raw.query("SELECT 2").await?.text_rows()?, vec![vec!["2"]]);
    // A prepare error is relayed.
    let e = raw
        .prepare("SELEC ?")
        .await?
        .err()
        .context("bad SQL prepared")?;
    assert_eq!((e.code, e.state.as_str()), (1064, "42000"));
    // COM_RESET_CONNECTION closes every statement.
    raw.send(&[0x1F]).await?;
    assert_eq!(raw.read_packet().await?.first(), Some(&0x00));
    let e = expect_err(&mut raw, &execute(fresh.id, &[Param::Long(1)], true)).await?;
    assert_eq!(e.code, 1243);
    assert_eq!(
        env.dbs[0]
            .query::<i64>("SELECT COUNT(*) FROM s0_db.t")
            .await?,
        [4]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_in_transactions_and_procedures() -> Result<()> {
    let env = Env::start(1, |c| c.groups[0].pool.max = 2).await?;
    let mut a = app_conn(&env.proxy, Some("s0")).await?;
    a.query_drop("CREATE TABLE t (id INT PRIMARY KEY)").await?;
    a.query_drop(
        "CREATE PROCEDURE two_sets(IN n INT) BEGIN SELECT n AS first; SELECT id FROM t WHERE id <= n ORDER BY id; END",
    )
    .await?;
    let insert = a.prep("INSERT INTO t VALUES (?)").await?;
    a.query_drop("BEGIN").await?;
    for i in 1..=3 {
        a.exec_drop(&insert, (i,)).await?;
    }
    let mut other: Conn = app_conn(&env.proxy, Some("s0")).await?;
    let seen: Vec<i32> = other.exec("SELECT id FROM t", ()).await?;
    assert!(seen.is_empty(), "uncommitted rows visible: {seen:?}");
    let (code, _, _) = server_err(a.exec_drop(&insert, (2,)).await)?;
    assert_eq!(code, 1062);
    a.exec_drop(&insert, (4,)).await?;
    a.query_drop("ROLLBACK").await?;
    assert!(
        env.dbs[0]
            .query::<i32>("SELECT id FROM s0_db.t")
            .await?
            .is_empty()
    );
    a.exec_drop(&insert, (5,)).await?;
    a.exec_drop(&insert, (6,)).await?;

    // CALL through the binary protocol: two result sets and the final OK.
    let mut r = a.exec_iter("CALL two_sets(?)", (6,)).await?;
    let mut sets: Vec<Vec<Value>> = Vec::new();
    while !r.is_empty() {
        let rows: Vec<Row> = r.collect().await?;
        for row in rows {
            sets.push(row.unwrap());
        }
    }
    drop(r);
    assert_eq!(
        sets,
        vec![
            vec![Value::Int(6)],
            vec![Value::Int(5)],
            vec![Value::Int(6)]
        ]
    );
    let one: Option<i64> = a.exec_first("SELECT ?", (1,)).await?;
    assert_eq!(one, Some(1));
    Ok(())
}
