//! Privileges and executable comments on real MariaDB servers: a sharded `shop` (4 shards
//! over two servers) and an unsharded `crm` (physical database `crm_db`), one user per rule,
//! each rule tried with every syntax that can reach another schema or the server itself.

mod harness;

use anyhow::Result;
use harness::e2e::server_err;
use harness::proxy::ShardedCluster as Cluster;
use harness::proxy::{app_conn, proxy_opts};
use myshard_config::User;
use mysql_async::prelude::Queryable;
use mysql_async::{ChangeUserOpts, Conn};

const PW: &str = "pw";

/// Users: `crm_only` (crm), `ro` (crm and shop, read_only), `boss` (admin), `shopper`
/// (shop), `hinter` (shop, shard_hint_writes).
async fn cluster() -> Result<Cluster> {
    let cluster = Cluster::start(4, &["{name: orders, shard_key: id}"], |config| {
        // The announced version must not decide which executable comments run: the
        // backends' (10.11) does.
        config.server_version = Some("5.7.99-announced".into());
        config.users.push(User::new("crm_only", PW, &["crm"]));
        config.users.push(User {
            read_only: true,
            ..User::new("ro", PW, &["crm", "shop"])
        });
        config.users.push(User {
            admin: true,
            ..User::new("boss", PW, &["*"])
        });
        config.users.push(User::new("shopper", PW, &["shop"]));
        config.users.push(User {
            shard_hint_writes: true,
            ..User::new("hinter", PW, &["shop"])
        });
    })
    .await?;
    let mut app = app_conn(&cluster.proxy, Some("shop")).await?;
    app.query_drop("CREATE TABLE orders (id BIGINT PRIMARY KEY, note VARCHAR(20))")
        .await?;
    app.query_drop("INSERT INTO orders (id, note) VALUES (1,'a'),(2,'b'),(3,'c'),(4,'d'),(5,'e'),(6,'f'),(7,'g'),(8,'h')")
        .await?;
    app.query_drop("USE crm").await?;
    app.query_drop("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
        .await?;
    app.query_drop("INSERT INTO t VALUES (1, 10), (2, 20)")
        .await?;
    Ok(cluster)
}

impl Cluster {
    async fn conn(&self, user: &str, db: Option<&str>) -> Result<Conn> {
        Ok(Conn::new(proxy_opts(&self.proxy, user, PW, db)).await?)
    }

    /// (shard, id) of every order row, read on the backends directly.
    async fn order_rows(&self) -> Result<Vec<(u32, i64)>> {
        let mut out = Vec::new();
        for s in 0..4u32 {
            let server = if s < 2 { &self.g0 } else { &self.g1 };
            let ids: Vec<i64> = server
                .query(&format!("SELECT id FROM shop_{s:04}.orders ORDER BY id"))
                .await?;
            out.extend(ids.into_iter().map(|id| (s, id)));
        }
        Ok(out)
    }

    async fn crm_rows(&self) -> Result<u64> {
        let n: Vec<u64> = self.g1.query("SELECT COUNT(*) FROM crm_db.t").await?;
        Ok(n[0])
    }
}

/// Asserts that `sql` is refused with `code` and SQLSTATE `state`.
async fn refused(conn: &mut Conn, sql: &str, code: u16, state: &str) -> Result<()> {
    let (c, s, m) =
        server_err(conn.query_drop(sql).await).map_err(|e| anyhow::anyhow!("{sql}: {e}"))?;
    assert_eq!((c, s.as_str()), (code, state), "{sql}: {m}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crm_user_reaches_nothing_else_whatever_the_syntax() -> Result<()> {
    let mut c = cluster().await?;
    let mut u = c.conn("crm_only", Some("crm")).await?;
    // Its own schema works, qualified or not, and information_schema about it.
    let v: Vec<i32> = u.query("SELECT v FROM t ORDER BY id").await?;
    assert_eq!(v, vec![10, 20]);
    let v: Vec<i32> = u.query("SELECT crm.t.v FROM crm.t WHERE id = 2").await?;
    assert_eq!(v, vec![20]);
    u.query_drop("INSERT INTO crm.t VALUES (3, 30)").await?;
    let n: Vec<u64> = u
        .query("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'crm'")
        .await?;
    assert_eq!(n.len(), 1);
    u.query_drop("PREPARE s FROM 'SELECT v FROM t'").await?;
    u.query_drop("SELECT 1; SELECT 2").await?;
    for (sql, code) in [
        ("SELECT * FROM shop.orders", 1142),
        ("SELECT * FROM crm_db.t", 1142),
        ("SELECT * FROM shop_0001.orders", 1142),
        ("SELECT User, Password FROM mysql.user", 1142),
        ("SELECT u.Password FROM `mysql`.`user` u", 1142),
        ("SELECT * FROM t JOIN performance_schema.threads p", 1142),
        ("SELECT * FROM mysql.user LOCK IN SHARE MODE", 1142),
        ("SELECT 1 /*!100000 FROM mysql.user */", 1142),
        ("SELECT 1 /*M! FROM mysql.user */", 1142),
        (
            "SELECT * FROM information_schema.tables WHERE table_schema = 'mysql'",
            1044,
        ),
        (
            "SELECT * FROM information_schema.columns WHERE table_schema = 'shop_0000'",
            1044,
        ),
        ("SELECT info FROM information_schema.PROCESSLIST", 1227),
        ("SELECT 1; SHOW PROCESSLIST", 1227),
        ("SHOW TABLES FROM shop", 1044),
        ("SHOW TABLES IN mysql", 1044),
        ("SHOW COLUMNS FROM user FROM mysql", 1044),
        ("SHOW CREATE DATABASE shop", 1044),
        ("PREPARE s FROM 'SELECT * FROM mysql.user'", 1142),
        ("PREPARE s FROM @q", 1227),
        ("EXECUTE IMMEDIATE 'SELECT * FROM shop_0002.orders'", 1142),
        ("SELECT 1; SELECT * FROM mysql.user", 1142),
        ("SELECT 1; USE shop", 1044),
        ("CALL mysql.p()", 1142),
        ("SELECT shop.f()", 1142),
        ("HANDLER mysql.user OPEN", 1142),
        ("SELECT LOAD_FILE('/etc/passwd')", 1227),
        ("SELECT * FROM t INTO OUTFILE '/tmp/myshard-priv'", 1227),
        ("LOAD DATA INFILE '/etc/passwd' INTO TABLE t", 1227),
        ("SHUTDOWN", 1227),
        ("/*M! SHUTDOWN */", 1227),
        ("BEGIN NOT ATOMIC SHUTDOWN; END", 1227),
        ("SET GLOBAL max_connections = 5", 1227),
        ("SET @@global.read_only = 1", 1227),
        ("CREATE USER evil IDENTIFIED BY 'x'", 1227),
        ("DROP USER myshard", 1227),
        ("GRANT ALL ON *.* TO evil", 1227),
        ("KILL 1; SELECT 1", 1227),
        ("CREATE DATABASE evil", 1044),
        ("DROP DATABASE shop_0000", 1044),
        ("DROP SCHEMA IF EXISTS mysql", 1044),
    ] {
        refused(&mut u, sql, code, "42000").await?;
    }
    // Whatever the session's sql_mode makes of quotes and backslashes.
    u.query_drop("SET sql_mode = 'ANSI_QUOTES,NO_BACKSLASH_ESCAPES'")
        .await?;
    refused(&mut u, r#"SELECT * FROM "mysql"."user""#, 1142, "42000").await?;
    refused(
        &mut u,
        r"SELECT '', (SELECT COUNT(*) FROM mysql.user), ''",
        1142,
        "42000",
    )
    .await?;
    u.query_drop("SET sql_mode = DEFAULT").await?;
    // Prepared statements are checked the same way.
    let (code, state, _) = server_err(u.prep("SELECT * FROM mysql.user").await)?;
    assert_eq!((code, state.as_str()), (1142, "42000"));
    // COM_INIT_DB and the login database.
    let (code, _, _) = server_err(u.query_drop("USE shop").await)?;
    assert_eq!(code, 1044);
    let (code, _, _) =
        server_err(Conn::new(proxy_opts(&c.proxy, "crm_only", PW, Some("shop"))).await)?;
    assert_eq!(code, 1044);
    // The backends are still up, their users unchanged, no database created.
    assert!(c.g0.is_running() && c.g1.is_running());
    let mut app = app_conn(&c.proxy, Some("crm")).await?;
    let n: Vec<u64> = app.query("SELECT COUNT(*) FROM t").await?;
    assert_eq!(n, vec![3]);
    let evil: Vec<u64> =
        c.g1.query("SELECT COUNT(*) FROM mysql.user WHERE User = 'evil'")
            .await?;
    assert_eq!(evil, vec![0]);
    let max: Vec<u64> = c.g1.query("SELECT @@global.max_connections").await?;
    assert_ne!(max, vec![5]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_and_read_only_users() -> Result<()> {
    let c = cluster().await?;
    let mut boss = c.conn("boss", None).await?;
    let n: Vec<u64> = boss.query("SELECT COUNT(*) FROM mysql.user").await?;
    assert!(n[0] >= 1);
    boss.query_drop("CREATE USER evil IDENTIFIED BY 'x'")
        .await?;
    boss.query_drop("DROP USER evil").await?;
    boss.query_drop("SET GLOBAL max_connections = @@global.max_connections")
        .await?;
    boss.query_drop("CREATE DATABASE scratch").await?;
    boss.query_drop("DROP DATABASE scratch").await?;
    // After COM_CHANGE_USER the new user's rights apply to every statement.
    boss.change_user(
        ChangeUserOpts::default()
            .with_user(Some("crm_only".into()))
            .with_pass(Some(PW.into()))
            .with_db_name(Some("crm".into())),
    )
    .await?;
    refused(&mut boss, "SELECT COUNT(*) FROM mysql.user", 1142, "42000").await?;
    refused(&mut boss, "SHUTDOWN", 1227, "42000").await?;

    let mut ro = c.conn("ro", Some("crm")).await?;
    let v: Vec<i32> = ro.query("SELECT v FROM t WHERE id = 1").await?;
    assert_eq!(v, vec![10]);
    let n: Vec<u64> = ro.query("SELECT COUNT(*) FROM shop.orders").await?;
    assert_eq!(n, vec![8]);
    for sql in [
        "INSERT INTO t VALUES (9, 90)",
        "UPDATE t SET v = 0",
        "DELETE FROM t",
        "REPLACE INTO t VALUES (1, 1)",
        "CREATE TABLE x (id INT)",
        "TRUNCATE t",
        "DELETE FROM shop.orders",
        "SELECT 1; DELETE FROM t",
        "PREPARE s FROM 'DELETE FROM t'",
        "/*!100000 DELETE FROM t */",
        "BEGIN NOT ATOMIC DELETE FROM t; END",
    ] {
        refused(&mut ro, sql, 1142, "42000").await?;
    }
    let (code, _, _) = server_err(ro.prep("DELETE FROM t").await)?;
    assert_eq!(code, 1142);
    assert_eq!(c.crm_rows().await?, 2);
    assert_eq!(c.order_rows().await?.len(), 8);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executable_comments_are_planned_as_the_server_runs_them() -> Result<()> {
    let c = cluster().await?;
    let mut u = c.conn("shopper", Some("shop")).await?;
    let before = c.order_rows().await?;
    // Executed forms: the router sees the unkeyed DELETE, and refuses.
    for sql in [
        "DELETE FROM orders WHERE id = 3 /*M! OR id > 0 */",
        "DELETE FROM orders WHERE id = 3 /*! OR id > 0 */",
        "DELETE FROM orders WHERE id = 3 /*M!100400 OR id > 0 */",
        "DELETE FROM orders WHERE id = 3 /*!100400 OR id > 0 */",
    ] {
        let r = u.query_drop(sql).await;
        assert!(r.is_err(), "{sql} was run");
    }
    assert_eq!(c.order_rows().await?, before);
    // ... and the shard-key change, which moves the row to its new shard (2 is on shard 2,
    // 100 on shard 0); read as a comment it would change the key in place on shard 2.
    u.query_drop("UPDATE orders SET note = 'x' /*M! , id = 100 */ WHERE id = 2")
        .await?;
    let moved = c.order_rows().await?;
    assert!(
        moved.contains(&(0, 100)) && !moved.iter().any(|&(_, id)| id == 2),
        "{moved:?}"
    );
    u.query_drop("UPDATE orders SET note = 'b' /*! , id = 2 */ WHERE id = 100")
        .await?;
    assert_eq!(c.order_rows().await?, before);
    // An inserted row in an executable comment goes to its own shard.
    u.query_drop("INSERT INTO orders (id, note) VALUES /*M! (105, 'm'), */ (55, 'n')")
        .await?;
    u.query_drop("INSERT INTO orders (id, note) VALUES /*!100000 (106, 'm'), */ (56, 'n')")
        .await?;
    for id in [105, 55, 106, 56] {
        let n: Vec<String> = u
            .query(format!("SELECT note FROM orders WHERE id = {id}"))
            .await?;
        assert_eq!(n.len(), 1, "row {id} is reachable by its key");
    }
    // Skipped forms (a newer version, MySQL 5.7+ syntax) stay comments, as on the server.
    for sql in [
        "DELETE FROM orders WHERE id = 3 /*M!999999 OR id > 0 */",
        "DELETE FROM orders WHERE id = 4 /*!999999 OR id > 0 */",
        "DELETE FROM orders WHERE id = 5 /*!50700 OR id > 0 */",
    ] {
        u.query_drop(sql).await?;
    }
    let ids: Vec<i64> = c
        .order_rows()
        .await?
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert!(!ids.contains(&3) && !ids.contains(&4) && !ids.contains(&5));
    assert_eq!(ids.len(), 8 + 4 - 3);
    // What the server rejects as a syntax error is rejected before planning.
    for sql in [
        "DELETE FROM orders WHERE id = 3 /*! OR id > 0",
        "DELETE FROM orders WHERE id = 3 /*! OR /*! id > 0 */ */",
    ] {
        refused(&mut u, sql, 1064, "42000").await?;
    }
    // Prepared statements see the same text.
    let before = c.order_rows().await?;
    let r = u
        .exec_drop("DELETE FROM orders WHERE id = ? /*M! OR id > 0 */", (6,))
        .await;
    assert!(r.is_err(), "prepared unkeyed DELETE was run");
    assert_eq!(c.order_rows().await?, before);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_hints_write_only_for_users_allowed_to() -> Result<()> {
    let c = cluster().await?;
    let mut u = c.conn("shopper", Some("shop")).await?;
    for sql in [
        "/* myshard: shard=1 */ DELETE FROM orders",
        "/* myshard: shard=1 */ INSERT INTO orders (id, note) VALUES (1000, 'h')",
        "/*M! /* myshard: shard=1 */ */ DELETE FROM orders",
    ] {
        let (code, state, msg) = server_err(u.query_drop(sql).await)?;
        assert_eq!((code, state.as_str()), (1227, "42000"), "{sql}");
        assert!(msg.contains("shard_hint_writes"), "{msg}");
    }
    let (code, _, msg) = server_err(
        u.exec_drop(
            "/* myshard: shard=1 */ DELETE FROM orders WHERE note <> ?",
            ("z",),
        )
        .await,
    )?;
    assert_eq!(code, 1227, "prepared hinted write: {msg}");
    assert_eq!(c.order_rows().await?.len(), 8);
    // A hinted read is fine: it counts shard 1 only.
    let on_one = c
        .order_rows()
        .await?
        .iter()
        .filter(|(s, _)| *s == 1)
        .count() as u64;
    let n: Vec<u64> = u
        .query("/* myshard: shard=1 */ SELECT COUNT(*) FROM orders")
        .await?;
    assert_eq!(n, vec![on_one]);
    // The configured user may put a row on a chosen shard.
    let mut h = c.conn("hinter", Some("shop")).await?;
    h.query_drop("/* myshard: shard=1 */ INSERT INTO orders (id, note) VALUES (1000, 'h')")
        .await?;
    assert!(c.order_rows().await?.contains(&(1, 1000)));
    Ok(())
}

/// The distinct values of column `column` in the answer to `sql`: a text query, or with
/// `prepared` a COM_STMT_PREPARE / COM_STMT_EXECUTE (binary rows).
async fn schemas_in(
    conn: &mut Conn,
    sql: &str,
    column: &str,
    prepared: bool,
) -> Result<std::collections::BTreeSet<String>> {
    let rows: Vec<mysql_async::Row> = if prepared {
        conn.exec(sql, ()).await?
    } else {
        conn.query(sql).await?
    };
    let mut out = std::collections::BTreeSet::new();
    for row in rows {
        let v: Option<String> = row
            .get(column)
            .ok_or_else(|| anyhow::anyhow!("{sql}: no column {column}"))?;
        out.extend(v);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn information_schema_shows_only_the_users_schemas() -> Result<()> {
    let c = cluster().await?;
    // A database outside every schema, with a table and a routine, on both servers.
    for server in [&c.g0, &c.g1] {
        server.exec("CREATE DATABASE other_db").await?;
        server.exec("CREATE TABLE other_db.secret (id INT)").await?;
        server
            .exec("CREATE PROCEDURE other_db.p() SELECT 1")
            .await?;
    }
    c.g1.exec("CREATE PROCEDURE crm_db.p() SELECT 1").await?;
    let queries = [
        ("SELECT * FROM information_schema.TABLES", "TABLE_SCHEMA"),
        ("SELECT * FROM information_schema.SCHEMATA", "SCHEMA_NAME"),
        ("SELECT * FROM information_schema.COLUMNS", "TABLE_SCHEMA"),
        (
            "SELECT * FROM information_schema.ROUTINES",
            "ROUTINE_SCHEMA",
        ),
        (
            "SELECT table_schema AS s, table_name FROM information_schema.tables",
            "s",
        ),
    ];
    let forbidden = [
        "shop",
        "shop_0000",
        "shop_0003",
        "crm_db",
        "mysql",
        "sys",
        "other_db",
    ];
    for db in [Some("crm"), None] {
        let mut u = c.conn("crm_only", db).await?;
        for (sql, column) in queries {
            for prepared in [false, true] {
                let seen = schemas_in(&mut u, sql, column, prepared).await?;
                let what = format!("{sql} (prepared: {prepared}, db {db:?}): {seen:?}");
                // Without a schema the query runs on the first group, where crm is not.
                assert!(db.is_none() || seen.contains("crm"), "{what}");
                assert!(
                    seen.iter().all(|s| s == "crm" || s == "information_schema"),
                    "{what}"
                );
                assert!(!forbidden.iter().any(|f| seen.contains(*f)), "{what}");
            }
        }
    }
    // Other query forms.
    let mut u = c.conn("crm_only", Some("crm")).await?;
    for sql in [
        "(SELECT * FROM information_schema.SCHEMATA)",
        "WITH x AS (SELECT * FROM information_schema.SCHEMATA) SELECT * FROM x",
    ] {
        let seen = schemas_in(&mut u, sql, "SCHEMA_NAME", false).await?;
        assert!(seen.contains("crm"), "{sql}: {seen:?}");
        assert!(
            !forbidden.iter().any(|f| seen.contains(*f)),
            "{sql}: {seen:?}"
        );
    }
    // Another user sees its own schema and not crm.
    let mut s = c.conn("shopper", Some("shop")).await?;
    let seen = schemas_in(&mut s, queries[0].0, "TABLE_SCHEMA", false).await?;
    assert!(seen.contains("shop") && !seen.contains("crm"), "{seen:?}");
    assert!(
        seen.iter()
            .all(|s| s == "shop" || s == "information_schema"),
        "{seen:?}"
    );
    // The administrator sees every database of the server it reaches.
    let mut boss = c.conn("boss", Some("crm")).await?;
    for prepared in [false, true] {
        let seen = schemas_in(&mut boss, queries[0].0, "TABLE_SCHEMA", prepared).await?;
        for want in ["crm", "mysql", "other_db", "information_schema"] {
            assert!(seen.contains(want), "admin misses {want}: {seen:?}");
        }
        let seen = schemas_in(&mut boss, queries[3].0, "ROUTINE_SCHEMA", prepared).await?;
        assert!(
            seen.contains("other_db") && seen.contains("crm"),
            "{seen:?}"
        );
    }
    // Several statements at once cannot be filtered: refused for non-administrators.
    let mut u = c.conn("crm_only", Some("crm")).await?;
    refused(
        &mut u,
        "SELECT 1; SELECT * FROM information_schema.SCHEMATA",
        1235,
        "42000",
    )
    .await?;
    Ok(())
}

/// One number from `sql`, as a text query or (with `prepared`) a prepared statement.
async fn number(conn: &mut Conn, sql: &str, prepared: bool) -> Result<i64> {
    let n: Option<i64> = if prepared {
        conn.exec_first(sql, ()).await?
    } else {
        conn.query_first(sql).await?
    };
    n.ok_or_else(|| anyhow::anyhow!("{sql}: no row"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn information_schema_aggregates_and_copies_count_only_the_users_schemas() -> Result<()> {
    let c = cluster().await?;
    for server in [&c.g0, &c.g1] {
        server.exec("CREATE DATABASE other_db").await?;
        server.exec("CREATE TABLE other_db.secret (id INT)").await?;
    }
    // What the crm user may see on its server (g1): crm's database and information_schema.
    let visible: Vec<i64> =
        c.g1.query(
            "SELECT COUNT(*) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA IN ('crm_db', 'information_schema')",
        )
        .await?;
    let all: Vec<i64> =
        c.g1.query("SELECT COUNT(*) FROM information_schema.TABLES")
            .await?;
    assert!(all[0] > visible[0]);
    let mut u = c.conn("crm_only", Some("crm")).await?;
    for prepared in [false, true] {
        let n = number(
            &mut u,
            "SELECT COUNT(*) FROM information_schema.TABLES",
            prepared,
        )
        .await?;
        assert_eq!(n, visible[0], "COUNT(*) (prepared: {prepared})");
        for sql in [
            // The name of another database's table, in no schema column of the result.
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = 'secret'",
            "SELECT COUNT(*) FROM (SELECT TABLE_NAME FROM information_schema.TABLES) x \
             WHERE TABLE_NAME = 'secret'",
            "SELECT COUNT(*) FROM information_schema.COLUMNS c \
             JOIN information_schema.TABLES t USING (TABLE_SCHEMA, TABLE_NAME) \
             WHERE t.TABLE_NAME = 'secret'",
            "SELECT EXISTS (SELECT 1 FROM information_schema.TABLES WHERE TABLE_NAME = 'secret')",
            "SELECT COUNT(*) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA NOT IN ('crm', 'information_schema')",
            "SELECT COUNT(DISTINCT TABLE_SCHEMA) - 2 FROM information_schema.TABLES",
        ] {
            assert_eq!(
                number(&mut u, sql, prepared).await?,
                0,
                "{sql} (prepared: {prepared})"
            );
        }
    }
    let names: Vec<String> = u
        .query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_NAME LIKE 'sec%'")
        .await?;
    assert!(names.is_empty(), "{names:?}");
    let groups: Vec<(String, i64)> = u
        .query("SELECT TABLE_SCHEMA, COUNT(*) FROM information_schema.TABLES GROUP BY TABLE_SCHEMA ORDER BY 1")
        .await?;
    let schemas: Vec<&str> = groups.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(schemas, ["crm", "information_schema"]);
    // Copies: INSERT … SELECT, CREATE TABLE … AS SELECT, a user variable, SQL PREPARE.
    u.query_drop(
        "INSERT INTO t (id, v) SELECT 100, COUNT(*) FROM information_schema.TABLES \
         WHERE TABLE_NAME = 'secret'",
    )
    .await?;
    u.query_drop(
        "CREATE TABLE copy AS SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES",
    )
    .await?;
    let copied: Vec<String> =
        c.g1.query("SELECT DISTINCT TABLE_SCHEMA FROM crm_db.copy ORDER BY 1")
            .await?;
    assert_eq!(copied, ["crm_db", "information_schema"]);
    let v: Vec<i64> = c.g1.query("SELECT v FROM crm_db.t WHERE id = 100").await?;
    assert_eq!(v, [0]);
    u.query_drop(
        "SET @n = (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = 'secret')",
    )
    .await?;
    assert_eq!(number(&mut u, "SELECT @n", false).await?, 0);
    u.query_drop(
        "PREPARE s FROM 'SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = ''secret'''",
    )
    .await?;
    assert_eq!(number(&mut u, "EXECUTE s", false).await?, 0);
    refused(
        &mut u,
        "SELECT NAME FROM information_schema.INNODB_SYS_TABLES",
        1227,
        "42000",
    )
    .await?;
    // A sharded schema counts its home shard, not every shard's database on the server.
    let mut s = c.conn("shopper", Some("shop")).await?;
    let n = number(
        &mut s,
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = 'orders'",
        false,
    )
    .await?;
    assert_eq!(n, 1);
    // The administrator counts every database.
    let mut boss = c.conn("boss", Some("crm")).await?;
    let n = number(
        &mut boss,
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = 'secret'",
        false,
    )
    .await?;
    assert_eq!(n, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engines_and_directories_reaching_beyond_the_schema_need_an_administrator() -> Result<()> {
    let c = cluster().await?;
    let mut u = c.conn("crm_only", Some("crm")).await?;
    for sql in [
        "CREATE TABLE fed (id INT) ENGINE=FEDERATED CONNECTION='mysql://root@127.0.0.1:1/x/y'",
        "CREATE TABLE fed (id INT) /*!ENGINE=CONNECT*/ TABLE_TYPE=CSV FILE_NAME='/etc/passwd'",
        "CREATE TABLE fed (id INT) /*M!100000 ENGINE = 'spider' */",
        "CREATE TABLE fed (id INT) DATA DIRECTORY = '/tmp'",
        "CREATE TABLE fed (id INT) INDEX DIRECTORY '/tmp' ENGINE=MyISAM",
        "ALTER TABLE t ENGINE=CONNECT",
        "ALTER TABLE t CONNECTION='mysql://root@127.0.0.1:1/x/y'",
        "SET default_storage_engine = CONNECT",
        "SET STATEMENT default_storage_engine = FEDERATED FOR CREATE TABLE fed (id INT)",
        "SELECT 1; CREATE TABLE fed (id INT) ENGINE=FEDERATED",
        "PREPARE s FROM 'CREATE TABLE fed (id INT) DATA DIRECTORY=''/tmp'''",
    ] {
        refused(&mut u, sql, 1227, "42000").await?;
    }
    let (code, _, m) = server_err(u.prep("CREATE TABLE fed (id INT) ENGINE=FEDERATED").await)?;
    assert_eq!(code, 1227);
    assert!(m.contains("ENGINE=FEDERATED"), "{m}");
    let (_, _, m) = server_err(
        u.query_drop("CREATE TABLE fed (id INT) DATA DIRECTORY='/tmp'")
            .await,
    )?;
    assert!(m.contains("DATA DIRECTORY"), "{m}");
    // Ordinary engines pass, and nothing was created.
    u.query_drop("CREATE TABLE plain (id INT) ENGINE=InnoDB")
        .await?;
    let fed: Vec<i64> =
        c.g1.query("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = 'fed'")
            .await?;
    assert_eq!(fed, [0]);
    // Administrators keep them (the server decides).
    let dir = std::env::temp_dir().join(format!("myshard-data-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut boss = c.conn("boss", Some("crm")).await?;
    boss.query_drop(format!(
        "CREATE TABLE elsewhere (id INT) DATA DIRECTORY = '{}'",
        dir.display()
    ))
    .await?;
    boss.query_drop("DROP TABLE elsewhere").await?;
    let r = boss
        .query_drop("CREATE TABLE fed (id INT) ENGINE=FEDERATED")
        .await;
    if let Err(mysql_async::Error::Server(e)) = &r {
        assert_ne!(e.code, 1227, "{e:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_text_from_an_expression_answers_like_the_plain_statement() -> Result<()> {
    let c = cluster().await?;
    let mut boss = c.conn("boss", Some("crm")).await?;
    let id = i64::from(boss.id());
    let user: Option<String> = boss.query_first("SELECT USER()").await?;
    let user = user.ok_or_else(|| anyhow::anyhow!("no USER()"))?;
    assert!(user.starts_with("boss@"), "{user}");
    boss.query_drop("SET @q = 'SELECT CONNECTION_ID(), USER()'")
        .await?;
    for prepare in [
        "PREPARE s FROM CONCAT('SELECT CONNECTION_ID()', ', USER()')",
        "PREPARE s FROM @q",
        "PREPARE s FROM CONCAT(@q, '')",
    ] {
        boss.query_drop(prepare).await?;
        let row: Option<(i64, String)> = boss.query_first("EXECUTE s").await?;
        assert_eq!(row, Some((id, user.clone())), "{prepare}");
    }
    let row: Option<(i64, String)> = boss
        .query_first("EXECUTE IMMEDIATE CONCAT('SELECT CONNECTION_ID(), ', 'USER()')")
        .await?;
    assert_eq!(row, Some((id, user.clone())));
    // A text without session calls is prepared by the backend, once.
    boss.query_drop("SET @k = 0").await?;
    boss.query_drop("PREPARE p FROM CONCAT('SELECT ', @k := @k + 1, ' + ?')")
        .await?;
    let n: Option<i64> = boss.query_first("EXECUTE p USING 10").await?;
    assert_eq!(n, Some(11));
    assert_eq!(number(&mut boss, "SELECT @k", false).await?, 1);
    // In a sharded schema such a text is planned by the router like any other.
    boss.query_drop("USE shop").await?;
    boss.query_drop("PREPARE o FROM CONCAT('SELECT COUNT(*) FROM ', 'orders')")
        .await?;
    assert_eq!(number(&mut boss, "EXECUTE o", false).await?, 8);
    let n: Option<i64> = boss
        .query_first(
            "EXECUTE IMMEDIATE CONCAT('SELECT COUNT(*) FROM orders WHERE id > ', '?') USING 6",
        )
        .await?;
    assert_eq!(n, Some(2));
    // Users who are not administrators may not prepare a text the proxy cannot check.
    let mut u = c.conn("crm_only", Some("crm")).await?;
    refused(&mut u, "PREPARE s FROM CONCAT('SELECT 1')", 1227, "42000").await?;
    Ok(())
}
