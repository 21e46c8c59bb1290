//! End-to-end tests of text-protocol queries through the proxy against real MariaDB
//! servers: result sets and their metadata, affected rows and insert ids, errors,
//! multi-statements, stored procedures, values larger than one packet, the packet size
//! limit, and the last insert id of clients sharing a small pool. Transactions and pooled
//! session state are in `e2e_pooling.rs`.

mod harness;

use anyhow::{Context, Result, ensure};
use harness::e2e::{Env, server_err};
use harness::proxy::{APP_PASSWORD, APP_USER, app_conn};
use harness::raw::{Login, OkPacket, RawConn, ResultPart};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

const TYPES_TABLE: &str = "CREATE TABLE types (
    id INT PRIMARY KEY AUTO_INCREMENT,
    ti TINYINT, si SMALLINT UNSIGNED, mi MEDIUMINT, i INT, bi BIGINT, bu BIGINT UNSIGNED,
    f FLOAT, d DOUBLE, dec_ DECIMAL(20,6), bits BIT(10),
    dt DATETIME(6), ts TIMESTAMP(3) NULL, da DATE, tm TIME(6), yr YEAR,
    c CHAR(5), vc VARCHAR(100), bin VARBINARY(16), tx TEXT, bl BLOB,
    en ENUM('a','b','c'), st SET('x','y','z'), js JSON, nul INT NULL
)";

const TYPES_ROWS: &str = "INSERT INTO types VALUES
 (1, -128, 65535, -8388608, -2147483648, -9223372036854775808, 18446744073709551615,
  1.5, -2.25e100, '-12345678901234.123456', b'1010101010',
  '2024-02-29 23:59:59.999999', '2001-01-01 00:00:00.123', '1000-01-01', '-838:59:59.000000', 2155,
  'abc', 'héllo wörld ✓', x'00ff00ff', REPEAT('t', 1000), x'0001020300fffe',
  'b', 'x,z', '{\"k\": [1, 2]}', NULL),
 (2, 127, 0, 8388607, 2147483647, 9223372036854775807, 0,
  0, 0, '0.000001', b'0',
  '1970-01-01 00:00:00', NULL, '9999-12-31', '00:00:00.000001', 1901,
  '', '', '', '', '',
  'a', '', 'null', 7)";

/// Rows and column metadata of `sql`, text protocol.
async fn text_result(
    conn: &mut Conn,
    sql: &str,
) -> Result<(Vec<mysql_async::Column>, Vec<Vec<Value>>)> {
    let rows: Vec<Row> = conn.query(sql).await?;
    let cols = rows.first().context("no rows")?.columns_ref().to_vec();
    Ok((cols, rows.into_iter().map(Row::unwrap).collect()))
}

/// Rows and column metadata of `sql`, binary protocol.
async fn binary_result(
    conn: &mut Conn,
    sql: &str,
) -> Result<(Vec<mysql_async::Column>, Vec<Vec<Value>>)> {
    let rows: Vec<Row> = conn.exec(sql, ()).await?;
    let cols = rows.first().context("no rows")?.columns_ref().to_vec();
    Ok((cols, rows.into_iter().map(Row::unwrap).collect()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_sets_of_every_common_type_match_the_backend() -> Result<()> {
    let env = Env::start(1, |_| {}).await?;
    let mut conn = app_conn(&env.proxy, Some("s0")).await?;
    conn.query_drop(TYPES_TABLE).await?;
    conn.query_drop(TYPES_ROWS).await?;
    assert_eq!(conn.affected_rows(), 2);
    let mut direct = env.dbs[0].conn_as("root", "", Some("s0_db")).await?;
    let sql = "SELECT * FROM types ORDER BY id";
    let via_proxy = text_result(&mut conn, sql).await?;
    let want = text_result(&mut direct, sql).await?;
    assert_eq!(via_proxy, want);
    assert_eq!(via_proxy.0.len(), 25);
    let via_proxy = binary_result(&mut conn, sql).await?;
    let want = binary_result(&mut direct, sql).await?;
    assert_eq!(via_proxy, want);

    // A few exact values, so the comparison is not between two equally wrong answers.
    let row: Row = conn
        .query_first("SELECT bu, dec_, tm, vc, bl, nul FROM types WHERE id = 1")
        .await?
        .context("row")?;
    let v = row.unwrap();
    assert_eq!(v[0], Value::Bytes(b"18446744073709551615".to_vec()));
    assert_eq!(v[1], Value::Bytes(b"-12345678901234.123456".to_vec()));
    assert_eq!(v[2], Value::Bytes(b"-838:59:59.000000".to_vec()));
    assert_eq!(v[3], Value::Bytes("héllo wörld ✓".as_bytes().to_vec()));
    assert_eq!(v[4], Value::Bytes(vec![0, 1, 2, 3, 0, 0xff, 0xfe]));
    assert_eq!(v[5], Value::NULL);
    let row: Row = conn
        .exec_first("SELECT bu, tm, dt FROM types WHERE id = 1", ())
        .await?
        .context("row")?;
    let v = row.unwrap();
    assert_eq!(v[0], Value::UInt(u64::MAX));
    assert_eq!(v[1], Value::Time(true, 34, 22, 59, 59, 0));
    assert_eq!(v[2], Value::Date(2024, 2, 29, 23, 59, 59, 999_999));
    // Empty result set keeps its columns.
    let r = conn
        .query_iter("SELECT id, vc FROM types WHERE id < 0")
        .await?;
    let cols: Vec<String> = r
        .columns_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    assert_eq!(cols, ["id", "vc"]);
    r.drop_result().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn affected_rows_errors_multi_statements_and_procedures() -> Result<()> {
    let env = Env::start(1, |_| {}).await?;
    let mut conn = app_conn(&env.proxy, Some("s0")).await?;
    conn.query_drop("CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(20) UNIQUE)")
        .await?;
    conn.query_drop("INSERT INTO t (v) VALUES ('a'), ('b'), ('c')")
        .await?;
    assert_eq!((conn.affected_rows(), conn.last_insert_id()), (3, Some(1)));
    conn.query_drop("INSERT INTO t (v) VALUES ('d')").await?;
    assert_eq!((conn.affected_rows(), conn.last_insert_id()), (1, Some(4)));
    conn.query_drop("UPDATE t SET v = CONCAT(v, '!') WHERE id <= 2")
        .await?;
    assert_eq!(conn.affected_rows(), 2);
    assert_eq!(conn.info(), "Rows matched: 2  Changed: 2  Warnings: 0");
    conn.query_drop("DELETE FROM t WHERE id = 4").await?;
    assert_eq!(conn.affected_rows(), 1);

    // Errors, with the connection usable after each.
    let (code, state, msg) = server_err(conn.query_drop("SELEC 1").await)?;
    assert_eq!((code, state.as_str()), (1064, "42000"));
    assert_eq!(
        msg,
        "You have an error in your SQL syntax; check the manual that corresponds to your \
         MariaDB server version for the right syntax to use near 'SELEC 1' at line 1"
    );
    let one: Option<i64> = conn.query_first("SELECT 1").await?;
    assert_eq!(one, Some(1));
    let (code, state, msg) = server_err(conn.query_drop("INSERT INTO t (v) VALUES ('c')").await)?;
    assert_eq!(
        (code, state.as_str(), msg.as_str()),
        (1062, "23000", "Duplicate entry 'c' for key 'v'")
    );
    let (code, state, msg) = server_err(conn.query_drop("INSERT INTO t (id) VALUES (1)").await)?;
    assert_eq!(
        (code, state.as_str(), msg.as_str()),
        (1062, "23000", "Duplicate entry '1' for key 'PRIMARY'")
    );
    let (code, state, _) = server_err(conn.query_drop("SELECT nope FROM t").await)?;
    assert_eq!((code, state.as_str()), (1054, "42S22"));
    let n: Option<i64> = conn.query_first("SELECT COUNT(*) FROM t").await?;
    assert_eq!(n, Some(3));

    // Multi-statements: several result sets and OKs in one response (mysql_async sets
    // CLIENT_MULTI_STATEMENTS).
    let mut r = conn
        .query_iter("SELECT 1 AS a; SELECT v FROM t ORDER BY id; UPDATE t SET v = 'z' WHERE id = 3; SELECT 'end'")
        .await?;
    let mut sets: Vec<Vec<Vec<Value>>> = Vec::new();
    while !r.is_empty() {
        let rows: Vec<Row> = r.collect().await?;
        sets.push(rows.into_iter().map(Row::unwrap).collect());
    }
    drop(r);
    let b = |s: &str| Value::Bytes(s.as_bytes().to_vec());
    assert_eq!(
        sets,
        vec![
            vec![vec![b("1")]],
            vec![vec![b("a!")], vec![b("b!")], vec![b("c")]],
            vec![],
            vec![vec![b("end")]],
        ]
    );
    // The same through raw bytes, to see each part, and an error in the middle.
    let mut raw = RawConn::login(
        env.proxy.addr(),
        &Login::new(APP_USER, APP_PASSWORD, Some("s0")),
    )
    .await?
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let parts = raw
        .query("UPDATE t SET v = 'y' WHERE id = 3; SELECT 2; INSERT INTO t (v) VALUES ('e')")
        .await?
        .results()?;
    assert_eq!(parts.len(), 3);
    assert!(matches!(
        parts[0],
        ResultPart::Ok(OkPacket {
            affected_rows: 1,
            ..
        })
    ));
    assert!(
        matches!(&parts[1], ResultPart::Rows { rows, .. } if rows == &vec![vec![Some(b"2".to_vec())]])
    );
    // The failed INSERTs above used up auto-increment values: ask the backend.
    let e_id: Vec<u64> = env.dbs[0]
        .query("SELECT id FROM s0_db.t WHERE v = 'e'")
        .await?;
    assert!(
        matches!(parts[2], ResultPart::Ok(OkPacket { affected_rows: 1, last_insert_id, .. }) if [last_insert_id] == e_id[..]),
        "{parts:?}, id {e_id:?}"
    );
    match raw.query("SELECT 3; SELEC 4; SELECT 5").await? {
        harness::raw::Response::Err(before, e) => {
            assert_eq!(before.len(), 1);
            assert_eq!(e.code, 1064);
        }
        other => anyhow::bail!("expected an error after one result: {other:?}"),
    }
    assert_eq!(raw.query("SELECT 6").await?.text_rows()?, vec![vec!["6"]]);

    // A stored procedure with two result sets.
    conn.query_drop(
        "CREATE PROCEDURE two_sets(IN n INT) BEGIN SELECT n AS first; SELECT v, id FROM t WHERE id <= n ORDER BY id; END",
    )
    .await?;
    let mut r = conn.query_iter("CALL two_sets(2)").await?;
    let mut sets: Vec<(Vec<String>, Vec<Vec<Value>>)> = Vec::new();
    while !r.is_empty() {
        let cols: Vec<String> = r
            .columns_ref()
            .iter()
            .map(|c| c.name_str().into_owned())
            .collect();
        let rows: Vec<Row> = r.collect().await?;
        if !cols.is_empty() {
            sets.push((cols, rows.into_iter().map(Row::unwrap).collect()));
        }
    }
    drop(r);
    assert_eq!(
        sets,
        vec![
            (vec!["first".to_string()], vec![vec![b("2")]]),
            (
                vec!["v".to_string(), "id".to_string()],
                vec![vec![b("a!"), b("1")], vec![b("b!"), b("2")]]
            ),
        ]
    );
    let parts = raw.query("CALL two_sets(1)").await?.results()?;
    assert_eq!(
        parts.len(),
        3,
        "two result sets and the final OK: {parts:?}"
    );
    assert!(matches!(parts[2], ResultPart::Ok(_)));
    let n: Option<i64> = conn.query_first("SELECT COUNT(*) FROM t").await?;
    assert_eq!(n, Some(4));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_insert_id_follows_each_client_over_a_small_pool() -> Result<()> {
    let env = Env::start(1, |c| c.groups[0].pool.max = 2).await?;
    let mut setup = app_conn(&env.proxy, Some("s0")).await?;
    setup
        .query_drop("CREATE TABLE ai (id BIGINT PRIMARY KEY AUTO_INCREMENT, who VARCHAR(10))")
        .await?;
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..6 {
        let mut conn = app_conn(&env.proxy, Some("s0")).await?;
        tasks.spawn(async move {
            let me = format!("c{client}");
            for round in 0..15 {
                conn.exec_drop("INSERT INTO ai (who) VALUES (?)", (&me,))
                    .await?;
                let id = conn.last_insert_id().context("no insert id")?;
                if round % 2 == 0 {
                    // Another statement in between, which may run elsewhere.
                    conn.query_drop("SELECT 1").await?;
                }
                let got: Option<u64> = conn.query_first("SELECT LAST_INSERT_ID()").await?;
                ensure!(
                    got == Some(id),
                    "{me} round {round}: LAST_INSERT_ID() {got:?}, inserted {id}"
                );
                let who: Option<String> = conn
                    .query_first("SELECT who FROM ai WHERE id = LAST_INSERT_ID()")
                    .await?;
                ensure!(
                    who.as_deref() == Some(me.as_str()),
                    "{me}: row of LAST_INSERT_ID() is {who:?}"
                );
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    assert!(env.open_backend_conns() <= 2);
    let n: Option<i64> = setup.query_first("SELECT COUNT(*) FROM ai").await?;
    assert_eq!(n, Some(90));
    // A fresh client has no last insert id, whatever the pooled connection saw.
    let mut fresh = app_conn(&env.proxy, Some("s0")).await?;
    let got: Option<u64> = fresh.query_first("SELECT LAST_INSERT_ID()").await?;
    assert_eq!(got, Some(0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_larger_than_one_packet_and_the_packet_limit() -> Result<()> {
    const SIZE: usize = 17 * 1024 * 1024 + 11;
    let env = Env::start(1, |c| c.max_allowed_packet = 40 * 1024 * 1024).await?;
    let mut conn = app_conn(&env.proxy, Some("s0")).await?;
    conn.query_drop("CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB)")
        .await?;
    let value: String = (0..SIZE).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    // Text protocol both ways: the query and the row are both over 16 MiB.
    conn.query_drop(format!("INSERT INTO big VALUES (1, '{value}')"))
        .await?;
    let back: Option<Vec<u8>> = conn.query_first("SELECT b FROM big WHERE id = 1").await?;
    ensure!(
        back.as_deref() == Some(value.as_bytes()),
        "text round trip differs"
    );
    // Binary protocol: mysql_async sends the parameter with COM_STMT_SEND_LONG_DATA.
    let mut bytes = value.clone().into_bytes();
    bytes[5] = 0;
    bytes[SIZE - 1] = 0xFF;
    conn.exec_drop("INSERT INTO big VALUES (2, ?)", (bytes.clone(),))
        .await?;
    let back: Option<Vec<u8>> = conn
        .exec_first("SELECT b FROM big WHERE id = ?", (2,))
        .await?;
    ensure!(
        back.as_deref() == Some(&bytes[..]),
        "binary round trip differs"
    );
    let lens: Vec<(i32, u64, Vec<u8>)> = env.dbs[0]
        .query("SELECT id, LENGTH(b), SUBSTRING(b, 1, 8) FROM s0_db.big ORDER BY id")
        .await?;
    assert_eq!(
        lens,
        vec![
            (1, SIZE as u64, b"abcdefgh".to_vec()),
            (2, SIZE as u64, b"abcde\0gh".to_vec())
        ]
    );
    let one: Option<i64> = conn.query_first("SELECT 1").await?;
    assert_eq!(one, Some(1));
    drop(conn);

    // Over the proxy's limit: 1153, then the connection is closed.
    let env = Env::start(1, |c| c.max_allowed_packet = 1024 * 1024).await?;
    let mut raw = RawConn::login(
        env.proxy.addr(),
        &Login::new(APP_USER, APP_PASSWORD, Some("s0")),
    )
    .await?
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let near = format!("SELECT LENGTH('{}')", "x".repeat(1024 * 1024 - 100));
    assert_eq!(
        raw.query(&near).await?.text_rows()?,
        vec![vec![(1024 * 1024 - 100).to_string()]]
    );
    let len = 2 * 1024 * 1024u32;
    let mut header = len.to_le_bytes()[..3].to_vec();
    header.push(0);
    header.extend_from_slice(b"\x03SELECT '");
    raw.write_raw(&header).await?;
    let p = raw.read_packet().await?;
    let e = harness::raw::parse_err(&p).context("expected ERR")?;
    assert_eq!(
        (e.code, e.state.as_str(), e.message.as_str()),
        (
            1153,
            "08S01",
            "Got a packet bigger than 'max_allowed_packet' bytes"
        )
    );
    assert_eq!(raw.last_seq, 1);
    assert!(raw.closed_by_server().await?);
    Ok(())
}
