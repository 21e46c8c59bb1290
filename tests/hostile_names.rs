//! Physical names and backend identities never reach clients, and SQL-level PREPARE /
//! EXECUTE in a sharded schema answers what one server answers (issue 8, items 4 and 11).
//! `shop` is sharded over 16 shards on two groups; `crm` is an unsharded schema renamed
//! to database `crm_db`. A database `shop` on g0, outside the proxy's configuration, is
//! the plain MariaDB the answers are compared with.

mod harness;

use anyhow::Result;
use harness::e2e::{server_err, wait_for};
use harness::proxy::ShardedCluster as Cluster;
use harness::proxy::{APP_PASSWORD, APP_USER, app_conn, proxy_opts};
use myshard_config::User;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};
use std::time::Duration;

const TABLES: &[&str] = &[
    "{name: users, shard_key: id}",
    "{name: orders, shard_key: user_id}",
];

/// A user that is not an administrator, allowed in `shop` only.
const VIEWER: &str = "viewer";
const VIEWER_PASSWORD: &str = "viewer-secret";

async fn cluster() -> Result<Cluster> {
    let cluster = Cluster::start(16, TABLES, |config| {
        for u in &mut config.users {
            u.admin = true;
        }
        config
            .users
            .push(User::new(VIEWER, VIEWER_PASSWORD, &["shop"]));
    })
    .await?;
    cluster.g0.exec("CREATE DATABASE shop").await?;
    Ok(cluster)
}

impl Cluster {
    async fn plain(&self) -> Result<Conn> {
        self.g0.conn_as("root", "", Some("shop")).await
    }

    async fn viewer(&self) -> Result<Conn> {
        Ok(Conn::new(proxy_opts(
            &self.proxy,
            VIEWER,
            VIEWER_PASSWORD,
            Some("shop"),
        ))
        .await?)
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::NULL => "NULL".into(),
        other => format!("{other:?}"),
    }
}

/// Runs `sql` on both connections and asserts the same error (errno and message).
async fn same_error(proxy: &mut Conn, plain: &mut Conn, sql: &str) -> Result<(u16, String)> {
    let (pc, _, pm) = server_err(proxy.query_drop(sql).await)?;
    let (mc, _, mm) = server_err(plain.query_drop(sql).await)?;
    assert_eq!((pc, &pm), (mc, &mm), "{sql}");
    assert!(!pm.contains("shop_0"), "{pm}");
    Ok((pc, pm))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_logical_schemas_and_alike_failures_give_one_error() -> Result<()> {
    let c = cluster().await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    let mut plain = c.plain().await?;
    // Keys on every shard.
    let keys: Vec<String> = (1..=200).map(|k| k.to_string()).collect();
    let keyed_delete = format!("DELETE FROM users WHERE id IN ({})", keys.join(", "));
    // No table anywhere: a scatter, a single-shard read and write, and a write on every
    // shard each give the one error a single server gives.
    for sql in [
        "SELECT * FROM users",
        "SELECT * FROM users WHERE id = 7",
        "INSERT INTO users (id, name) VALUES (7, 'x')",
        &keyed_delete,
        "SELECT * FROM countries",
    ] {
        let (code, message) = same_error(&mut conn, &mut plain, sql).await?;
        assert_eq!(code, 1146, "{sql}");
        assert!(message.contains("'shop."), "{message}");
    }
    // A failure on some shards only keeps the summary, with logical names.
    conn.query_drop("CREATE TABLE users (id BIGINT PRIMARY KEY, name VARCHAR(20))")
        .await?;
    c.g0.exec("DROP TABLE shop_0003.users").await?;
    let (code, _, message) = server_err(conn.query_drop(&keyed_delete).await)?;
    assert_eq!(code, 1146);
    assert!(
        message
            .starts_with("1 of 16 shards failed (shard 3 on g0: Table 'shop.users' doesn't exist)"),
        "{message}"
    );
    assert!(!message.contains("shop_0"), "{message}");
    // A read merged across shards names the one shard that failed, by logical names.
    let (code, _, message) = server_err(conn.query_drop("SELECT * FROM users").await)?;
    assert_eq!(code, 1146);
    assert_eq!(
        message,
        "Table 'shop.users' doesn't exist (shard 3 on group g0)"
    );
    // Unknown column on every shard: one error without a shard note.
    c.g0.exec("CREATE TABLE shop_0003.users (id BIGINT PRIMARY KEY, name VARCHAR(20))")
        .await?;
    plain
        .query_drop("CREATE TABLE users (id BIGINT PRIMARY KEY, name VARCHAR(20))")
        .await?;
    let (code, message) = same_error(
        &mut conn,
        &mut plain,
        "SELECT nope FROM users WHERE id > 20",
    )
    .await?;
    assert_eq!(code, 1054, "{message}");
    // The renamed unsharded schema: its database is shown by the logical name.
    let mut crm = app_conn(&c.proxy, Some("crm")).await?;
    let (code, _, message) = server_err(crm.query_drop("SELECT * FROM missing").await)?;
    assert_eq!(code, 1146);
    assert_eq!(message, "Table 'crm.missing' doesn't exist");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_show_proxy_ids_users_and_processes() -> Result<()> {
    let c = cluster().await?;
    let mut admin = app_conn(&c.proxy, Some("shop")).await?;
    let mut viewer = c.viewer().await?;
    let admin_id = u64::from(admin.id());
    let viewer_id = u64::from(viewer.id());

    // CONNECTION_ID() and the account functions inside expressions, in every kind of schema.
    for db in [Some("shop"), Some("crm"), None] {
        let mut conn = app_conn(&c.proxy, db).await?;
        let row: Row = conn
            .query_first("SELECT CONNECTION_ID() + 0, USER() AS u, CURRENT_USER(), SESSION_USER(), SYSTEM_USER()")
            .await?
            .expect("a row");
        let columns: Vec<String> = row
            .columns_ref()
            .iter()
            .map(|c| c.name_str().into_owned())
            .collect();
        assert_eq!(
            columns,
            [
                "CONNECTION_ID() + 0",
                "u",
                "CURRENT_USER()",
                "SESSION_USER()",
                "SYSTEM_USER()"
            ]
        );
        let values: Vec<String> = row.unwrap().iter().map(text).collect();
        let host = "127.0.0.1";
        assert_eq!(
            values,
            [
                conn.id().to_string(),
                format!("{APP_USER}@{host}"),
                format!("{APP_USER}@%"),
                format!("{APP_USER}@{host}"),
                format!("{APP_USER}@{host}"),
            ],
            "{db:?}"
        );
    }

    // The id read from an expression is the one KILL takes, from another connection…
    let mut victim = app_conn(&c.proxy, Some("shop")).await?;
    let id: Option<u64> = victim.query_first("SELECT CONNECTION_ID() * 1").await?;
    assert_eq!(id, Some(u64::from(victim.id())));
    admin
        .query_drop(format!("KILL {}", id.unwrap_or(0)))
        .await?;
    assert!(victim.query_drop("SELECT 1").await.is_err(), "killed");
    // …and KILL [QUERY] CONNECTION_ID() acts on the client's own session.
    let mut own = app_conn(&c.proxy, Some("shop")).await?;
    own.query_drop("KILL QUERY CONNECTION_ID()").await?;
    own.query_drop("SELECT 1").await?;
    let (code, _, _) = server_err(own.query_drop("KILL CONNECTION_ID()").await)?;
    assert_eq!(code, 1927);

    // SHOW PROCESSLIST: the proxy's sessions with their logical schemas and statements.
    let busy = tokio::spawn({
        let opts = proxy_opts(&c.proxy, VIEWER, VIEWER_PASSWORD, Some("shop"));
        async move {
            let mut conn = Conn::new(opts).await?;
            conn.query_drop("SELECT SLEEP(3)").await?;
            anyhow::Ok(())
        }
    });
    let rows = wait_for(
        "the sleeping statement in the process list",
        Duration::from_secs(5),
        || {
            let opts = proxy_opts(&c.proxy, APP_USER, APP_PASSWORD, Some("shop"));
            async move {
                let mut conn = Conn::new(opts).await?;
                let rows: Vec<Row> = conn.query("SHOW FULL PROCESSLIST").await?;
                let rows: Vec<Vec<String>> = rows
                    .into_iter()
                    .map(|r| r.unwrap().iter().map(text).collect())
                    .collect();
                let sleeping = rows
                    .iter()
                    .any(|r| r[7] == "SELECT SLEEP(3)" && r[4] == "Query");
                anyhow::Ok(sleeping.then_some(rows))
            }
        },
    )
    .await?;
    let ids: Vec<u64> = rows.iter().map(|r| r[0].parse().unwrap_or(0)).collect();
    assert!(
        ids.contains(&admin_id) && ids.contains(&viewer_id),
        "{rows:?}"
    );
    let viewer_row = rows
        .iter()
        .find(|r| r[0] == viewer_id.to_string())
        .expect("viewer row");
    assert_eq!(
        viewer_row[1..5],
        [
            VIEWER.to_string(),
            "127.0.0.1".into(),
            "shop".into(),
            "Sleep".into()
        ]
    );
    assert_eq!(viewer_row[7], "NULL");
    // No backend thread, account or physical database anywhere.
    for r in &rows {
        assert!(r[1] == APP_USER || r[1] == VIEWER, "{r:?}");
        assert!(!r[3].contains("shop_0"), "{r:?}");
    }
    let own_row: Row = viewer
        .query_first("SHOW PROCESSLIST")
        .await?
        .expect("a row");
    let columns: Vec<String> = own_row
        .columns_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    assert_eq!(
        columns,
        [
            "Id", "User", "Host", "db", "Command", "Time", "State", "Info", "Progress"
        ]
    );
    // A user that is not an administrator sees its own sessions only.
    let seen: Vec<Row> = viewer.query("SHOW PROCESSLIST").await?;
    let seen: Vec<Vec<String>> = seen
        .into_iter()
        .map(|r| r.unwrap().iter().map(text).collect())
        .collect();
    assert!(seen.len() >= 2, "{seen:?}");
    assert!(seen.iter().all(|r| r[1] == VIEWER), "{seen:?}");
    assert!(
        seen.iter()
            .any(|r| r[0] == viewer_id.to_string() && r[7] == "SHOW PROCESSLIST"),
        "{seen:?}"
    );
    busy.await??;
    // information_schema.PROCESSLIST would list backend threads: refused.
    let (code, _, message) = server_err(
        admin
            .query_drop("SELECT * FROM information_schema.PROCESSLIST")
            .await,
    )?;
    assert_eq!(code, 1235, "{message}");
    assert!(message.contains("SHOW PROCESSLIST"), "{message}");
    Ok(())
}

/// Rows of `sql` on a connection, as text.
async fn rows(conn: &mut Conn, sql: &str) -> Result<Vec<Vec<String>>> {
    let rows: Vec<Row> = conn.query(sql).await?;
    Ok(rows
        .into_iter()
        .map(|r| r.unwrap().iter().map(text).collect())
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_prepare_in_a_sharded_schema_answers_like_one_server() -> Result<()> {
    let c = cluster().await?;
    let mut proxy = app_conn(&c.proxy, Some("shop")).await?;
    let mut plain = c.plain().await?;
    let setup = [
        "CREATE TABLE users (id BIGINT PRIMARY KEY, name VARCHAR(20))",
        "CREATE TABLE orders (id BIGINT PRIMARY KEY, user_id BIGINT, amount DECIMAL(8,2))",
        "INSERT INTO users (id, name) VALUES (1,'a'),(2,'b'),(3,'c'),(4,'d'),(5,'e'),(6,'f'),(7,'g'),(8,'h'),(9,'i'),(10,'j')",
        "INSERT INTO orders (id, user_id, amount) VALUES (1,3,10),(2,3,20),(3,3,30),(4,3,40),(5,3,50),(6,3,5),(7,4,100),(8,5,7)",
    ];
    for sql in setup {
        proxy.query_drop(sql).await?;
        plain.query_drop(sql).await?;
    }
    // The two statements of the report, then more forms; each compared with one server.
    let script: &[(&str, Option<usize>)] = &[
        (
            "SET @a = 2, @b = 7, @u = 3, @m = 6.5, @name = 'it''s', @sql = 'SELECT name FROM users WHERE id = ?'",
            None,
        ),
        (
            "PREPARE s FROM 'SELECT id, name FROM users WHERE id BETWEEN ? AND ? ORDER BY id'",
            None,
        ),
        ("EXECUTE s USING @a, @b", Some(6)),
        (
            "PREPARE t FROM 'SELECT id FROM orders WHERE user_id = ? AND amount > ? ORDER BY id'",
            None,
        ),
        ("EXECUTE t USING @u, @m", Some(5)),
        ("EXECUTE t USING 3, 25", Some(3)),
        ("PREPARE p FROM @sql", None),
        ("EXECUTE p USING @b", Some(1)),
        (
            "EXECUTE IMMEDIATE 'SELECT COUNT(*) FROM orders WHERE amount > ?' USING @m",
            Some(1),
        ),
        (
            "PREPARE w FROM 'INSERT INTO users (id, name) VALUES (?, ?)'",
            None,
        ),
        ("SET @new = 42", None),
        ("EXECUTE w USING @new, @name", None),
        ("SELECT id, name FROM users WHERE id = 42", Some(1)),
        (
            "PREPARE g FROM 'SELECT user_id, SUM(amount) FROM orders GROUP BY user_id ORDER BY user_id'",
            None,
        ),
        ("EXECUTE g", Some(3)),
        ("DEALLOCATE PREPARE s", None),
    ];
    for (sql, want) in script {
        let p = rows(&mut proxy, sql).await?;
        let m = rows(&mut plain, sql).await?;
        assert_eq!(p, m, "{sql}");
        if let Some(n) = want {
            assert_eq!(p.len(), *n, "{sql}: {p:?}");
        }
    }
    // Errors as one server gives them.
    for sql in [
        "EXECUTE s USING @a, @b",
        "EXECUTE t USING @u",
        "PREPARE x FROM @undefined",
        "PREPARE x FROM 'EXECUTE t'",
    ] {
        let (pc, _, pm) = server_err(proxy.query_drop(sql).await)?;
        let (mc, _, _) = server_err(plain.query_drop(sql).await)?;
        assert_eq!(pc, mc, "{sql}: {pm}");
    }
    // The executed statement is the client's: session functions answer for the client.
    proxy
        .query_drop("PREPARE f FROM 'SELECT USER(), CONNECTION_ID() = ? FROM users WHERE id = ?'")
        .await?;
    let id = proxy.id();
    let got = rows(&mut proxy, &format!("EXECUTE f USING {id}, @a")).await?;
    assert_eq!(
        got,
        vec![vec![format!("{APP_USER}@127.0.0.1"), "1".to_string()]]
    );
    // An expression as argument is refused in a sharded schema, never run on one shard.
    let (code, _, message) = server_err(proxy.query_drop("EXECUTE t USING @u + 0, @m").await)?;
    assert_eq!(code, 1235, "{message}");
    Ok(())
}

/// What the README says of malformed packets: an empty command packet, or a COM_STMT_EXECUTE
/// body that does not parse, gets 1835 and the connection stays usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packets_get_1835_and_the_connection_stays() -> Result<()> {
    use harness::raw::{Login, RawConn};
    let c = cluster().await?;
    let login = Login::new(APP_USER, APP_PASSWORD, Some("shop"));
    let mut raw = RawConn::login(c.proxy.addr(), &login)
        .await?
        .map_err(|e| anyhow::anyhow!("login: {e:?}"))?;
    for payload in [&b""[..], &[0x17, 0x01]] {
        raw.send(payload).await?;
        let e = raw.read_response().await?.err()?;
        assert_eq!(
            (e.code, e.state.as_str()),
            (1835, "HY000"),
            "{payload:?}: {e:?}"
        );
        assert!(
            e.message.starts_with("Malformed communication packet"),
            "{e:?}"
        );
        let rows = raw.query("SELECT 1 + 1").await?.text_rows()?;
        assert_eq!(rows, vec![vec!["2".to_string()]]);
    }
    Ok(())
}

/// Column names and values of each result set of a (multi-statement) text.
async fn result_sets(conn: &mut Conn, sql: &str) -> Result<Vec<(Vec<String>, Vec<String>)>> {
    let mut result = conn.query_iter(sql).await?;
    let mut sets = Vec::new();
    while !result.is_empty() {
        let rows: Vec<Row> = result.collect().await?;
        for row in rows {
            let columns = row
                .columns_ref()
                .iter()
                .map(|c| c.name_str().into_owned())
                .collect();
            sets.push((columns, row.unwrap().iter().map(text).collect()));
        }
    }
    Ok(sets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_functions_answer_in_prepared_multi_and_set_statements() -> Result<()> {
    let c = cluster().await?;
    let user = format!("{APP_USER}@127.0.0.1");
    let account = format!("{APP_USER}@%");
    let mut plain = c.plain().await?;
    for db in [Some("shop"), Some("crm"), None] {
        let mut first = app_conn(&c.proxy, db).await?;
        let mut second = app_conn(&c.proxy, db).await?;
        for conn in [&mut first, &mut second] {
            let id = conn.id().to_string();
            // Prepared (COM_STMT_PREPARE): the same text in two clients, each its own id.
            let sql = "SELECT CONNECTION_ID(), USER(), CURRENT_USER, SESSION_USER(), ? + 1";
            let row: Row = conn.exec_first(sql, (1,)).await?.expect("a row");
            let values: Vec<String> = row
                .clone()
                .unwrap()
                .iter()
                .map(|v| match v {
                    Value::Int(i) => i.to_string(),
                    Value::UInt(u) => u.to_string(),
                    v => text(v),
                })
                .collect();
            assert_eq!(
                values,
                [
                    id.clone(),
                    user.clone(),
                    account.clone(),
                    user.clone(),
                    "2".into()
                ],
                "{db:?}"
            );
            let plain_row: Row = plain.exec_first(sql, (1,)).await?.expect("a row");
            let names = |r: &Row| -> Vec<String> {
                r.columns_ref()
                    .iter()
                    .map(|c| c.name_str().into_owned())
                    .collect()
            };
            assert_eq!(names(&row), names(&plain_row));
            let types =
                |r: &Row| -> Vec<_> { r.columns_ref().iter().map(|c| c.column_type()).collect() };
            assert_eq!(types(&row), types(&plain_row));

            // SET @v = USER() and the others, read back later.
            conn.query_drop("SET @u = USER(), @c = CONNECTION_ID(), @a = CURRENT_USER")
                .await?;
            let back = rows(conn, "SELECT @u, @c, @a").await?;
            assert_eq!(
                back,
                [[user.clone(), id.clone(), account.clone()]],
                "{db:?}"
            );

            // SQL-level PREPARE / EXECUTE [IMMEDIATE] of such a text.
            conn.query_drop("PREPARE own FROM 'SELECT CONNECTION_ID(), USER(), ?'")
                .await?;
            let executed = rows(conn, "EXECUTE own USING 'x'").await?;
            assert_eq!(executed, [[id.clone(), user.clone(), "x".into()]], "{db:?}");
            let immediate = rows(conn, "EXECUTE IMMEDIATE 'SELECT CURRENT_USER'").await?;
            assert_eq!(immediate, [[account.clone()]], "{db:?}");

            // A multi-statement text: every statement answers, with its column names
            // (sharded schemas take one statement at a time).
            let multi = "SELECT 1; SELECT CONNECTION_ID() AS id, USER(); SELECT CURRENT_USER";
            if db == Some("shop") {
                let (code, _, _) = server_err(conn.query_drop(multi).await)?;
                assert_eq!(code, 1235);
                continue;
            }
            let sets = result_sets(conn, multi).await?;
            let plain_sets = result_sets(&mut plain, multi).await?;
            let columns: Vec<&Vec<String>> = sets.iter().map(|(c, _)| c).collect();
            let plain_columns: Vec<&Vec<String>> = plain_sets.iter().map(|(c, _)| c).collect();
            assert_eq!(columns, plain_columns, "{db:?}");
            let values: Vec<&Vec<String>> = sets.iter().map(|(_, v)| v).collect();
            assert_eq!(
                values,
                [
                    &vec!["1".to_string()],
                    &vec![id.clone(), user.clone()],
                    &vec![account.clone()]
                ],
                "{db:?}"
            );
        }
    }
    // Accounts named CURRENT_USER are left to the backend (no rewrite breaks them).
    let mut conn = app_conn(&c.proxy, None).await?;
    let grants = rows(&mut conn, "SHOW GRANTS FOR CURRENT_USER").await?;
    assert!(!grants.is_empty());
    Ok(())
}
