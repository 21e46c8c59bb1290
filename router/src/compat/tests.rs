//! Recogniser tables: statement → how it is answered, the text sent and the renames.

use super::*;

const YAML: &str = r#"
listen: 127.0.0.1:3307
users: [{name: u, password: p, schemas: ["*"]}]
groups:
  - {name: g0, user: r, write_hosts: ["127.0.0.1:1"]}
  - {name: g1, user: r, write_hosts: ["127.0.0.1:2"]}
schemas:
  - name: shop
    shards: 4
    placement: [{group: g0, shards: "0-1"}, {group: g1, shards: "2-3"}]
    home_shard: 1
    tables:
      - {name: orders, shard_key: uid}
  - {name: crm, group: g1, database: crm_db}
  - {name: plain, group: g0}
"#;

fn topology() -> Topology {
    let c = myshard_config::parse(YAML, "test.yaml").expect("config");
    Topology::new(&c)
}

/// `(schema, shard, sql, rows)` of a rewritten plan, or a description of another outcome.
fn planned(sql: &str, schema: Option<&str>) -> String {
    let t = topology();
    match plan(
        sql,
        RouteContext {
            topology: &t,
            schema,
        },
    ) {
        None => "none".into(),
        Some(Introspection::Error(e)) => format!("error {}: {}", e.code, e.message),
        Some(Introspection::ShowDatabases(s)) => {
            format!("databases {:?} {:?}", s.column, s.pattern)
        }
        Some(Introspection::Rewritten(r)) => format!(
            "{}#{}{} {}",
            r.schema.as_deref().unwrap_or("-"),
            r.shard,
            if r.rows { " rows" } else { "" },
            r.sql
        ),
    }
}

#[test]
fn current_database() {
    let col = |s: &str| current_database_select(s);
    assert_eq!(col("SELECT DATABASE()").as_deref(), Some("DATABASE()"));
    assert_eq!(col("select database( ) ;").as_deref(), Some("database( )"));
    assert_eq!(col("SELECT SCHEMA()").as_deref(), Some("SCHEMA()"));
    assert_eq!(col("SELECT schema() AS s").as_deref(), Some("s"));
    assert_eq!(col("SELECT DATABASE() `my db`").as_deref(), Some("my db"));
    assert_eq!(col("SELECT DATABASE() AS 'x'").as_deref(), Some("x"));
    assert_eq!(
        col("/* driver */ SELECT DATABASE()").as_deref(),
        Some("DATABASE()")
    );
    for other in [
        "SELECT DATABASE(), 1",
        "SELECT DATABASE() FROM t",
        "SELECT DATABASE",
        "SELECT DATABASE() AS",
        "SELECT DATABASE(); SELECT 1",
        "SELECT DATABASES()",
        "SELECT 1",
    ] {
        assert_eq!(col(other), None, "{other}");
    }
}

#[test]
fn show_databases() {
    assert_eq!(
        planned("SHOW DATABASES", None),
        r#"databases "Database" None"#
    );
    assert_eq!(
        planned("show schemas like 's\\_%';", Some("shop")),
        r#"databases "Database (s\\_%)" Some("s\\_%")"#
    );
    assert!(planned("SHOW DATABASES WHERE `Database` = 'x'", None).starts_with("error 1235"));
    let like = |p: &str, n: &str| {
        ShowDatabases {
            column: String::new(),
            pattern: Some(p.into()),
        }
        .matches(n)
    };
    assert!(like("sh%", "shop"));
    assert!(!like("SH%", "shop"));
    assert!(like("INFORMATION%", "information_schema"));
    assert!(like("s_op", "shop"));
    assert!(!like("s\\_op", "shop"));
    assert!(like("a\\%b", "a%b"));
    assert!(like("%%o%%", "shop"));
    assert!(!like("%x%", "shop"));
}

#[test]
fn show_tables_and_status() {
    let cases = [
        (
            "SHOW TABLES",
            Some("shop"),
            "shop#1 SHOW TABLES FROM `shop_0001`",
        ),
        (
            "show full tables in shop like 'o%'",
            None,
            "shop#1 show full tables in `shop_0001` like 'o%'",
        ),
        (
            "SHOW TABLES WHERE Tables_in_shop = 'orders' OR `tables_in_shop` LIKE 'x%'",
            Some("shop"),
            "shop#1 SHOW TABLES FROM `shop_0001` WHERE `Tables_in_shop_0001` = 'orders' OR `Tables_in_shop_0001` LIKE 'x%'",
        ),
        (
            "SHOW TABLES FROM crm",
            Some("shop"),
            "crm#0 SHOW TABLES FROM `crm_db`",
        ),
        (
            "SHOW TABLE STATUS LIKE 'o%';",
            Some("shop"),
            "shop#1 SHOW TABLE STATUS FROM `shop_0001` LIKE 'o%';",
        ),
        (
            "SHOW TABLE STATUS FROM `shop` WHERE Rows > 0",
            Some("crm"),
            "shop#1 SHOW TABLE STATUS FROM `shop_0001` WHERE Rows > 0",
        ),
        // Not sharded or renamed, not configured, no schema: usual route.
        ("SHOW TABLES", Some("plain"), "none"),
        ("SHOW TABLES FROM mysql", Some("shop"), "none"),
        ("SHOW TABLES", None, "none"),
        // Malformed or other SHOW statements.
        ("SHOW TABLES LIKE", Some("shop"), "none"),
        ("SHOW TABLES FROM", Some("shop"), "none"),
        ("SHOW VARIABLES LIKE 'x'", Some("shop"), "none"),
        ("SHOW TABLES; SHOW TABLES", Some("shop"), "none"),
    ];
    for (sql, schema, want) in cases {
        assert_eq!(planned(sql, schema), want, "{sql}");
    }
}

#[test]
fn table_statements() {
    let cases = [
        (
            "SHOW CREATE TABLE orders",
            Some("shop"),
            "shop#1 SHOW CREATE TABLE `shop_0001`.`orders`",
        ),
        (
            "show create table shop.`my``t`",
            None,
            "shop#1 show create table `shop_0001`.`my``t`",
        ),
        (
            "SHOW FULL COLUMNS FROM orders FROM shop LIKE 'u%'",
            Some("crm"),
            "shop#1 SHOW FULL COLUMNS FROM `shop_0001`.`orders` FROM `shop_0001` LIKE 'u%'",
        ),
        (
            "SHOW FIELDS IN crm.t",
            Some("shop"),
            "crm#0 SHOW FIELDS IN `crm_db`.`t`",
        ),
        (
            "SHOW INDEX FROM orders",
            Some("shop"),
            "shop#1 SHOW INDEX FROM `shop_0001`.`orders`",
        ),
        (
            "show keys in orders where Key_name = 'PRIMARY'",
            Some("shop"),
            "shop#1 show keys in `shop_0001`.`orders` where Key_name = 'PRIMARY'",
        ),
        (
            "DESCRIBE orders",
            Some("shop"),
            "shop#1 DESCRIBE `shop_0001`.`orders`",
        ),
        (
            "desc shop.orders uid",
            None,
            "shop#1 desc `shop_0001`.`orders` uid",
        ),
        (
            "EXPLAIN `orders` 'u%'",
            Some("shop"),
            "shop#1 EXPLAIN `shop_0001`.`orders` 'u%'",
        ),
        ("DESCRIBE t", Some("plain"), "none"),
        ("DESCRIBE plain.t", Some("shop"), "none"),
        ("EXPLAIN SELECT * FROM orders", Some("shop"), "none"),
        ("DESC SELECT 1", Some("shop"), "none"),
        ("EXPLAIN ROUTE SELECT 1", Some("shop"), "none"),
        ("EXPLAIN FORMAT=JSON SELECT 1", Some("shop"), "none"),
        ("SHOW CREATE TABLE orders x", Some("shop"), "none"),
        ("SHOW CREATE VIEW v", Some("shop"), "none"),
        ("SHOW COLUMNS orders", Some("shop"), "none"),
    ];
    for (sql, schema, want) in cases {
        assert_eq!(planned(sql, schema), want, "{sql}");
    }
}

#[test]
fn information_schema_queries() {
    let cases = [
        (
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop'",
            Some("crm"),
            "shop#1 rows SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop_0001'",
        ),
        (
            "select * from INFORMATION_SCHEMA.COLUMNS c where c.table_schema = database() and TABLE_NAME = 'shop'",
            Some("shop"),
            "shop#1 rows select * from INFORMATION_SCHEMA.COLUMNS c where c.table_schema = 'shop_0001' and TABLE_NAME = 'shop'",
        ),
        (
            "SELECT * FROM `information_schema`.`TABLES` WHERE 'crm' = TABLE_SCHEMA",
            None,
            "crm#0 rows SELECT * FROM `information_schema`.`TABLES` WHERE 'crm_db' = TABLE_SCHEMA",
        ),
        (
            "SELECT * FROM information_schema.STATISTICS WHERE INDEX_SCHEMA LIKE 'shop' AND TABLE_SCHEMA NOT IN ('plain', \"shop\")",
            Some("plain"),
            "shop#1 rows SELECT * FROM information_schema.STATISTICS WHERE INDEX_SCHEMA LIKE 'shop_0001' AND TABLE_SCHEMA NOT IN ('plain', 'shop_0001')",
        ),
        (
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME <> 'crm'",
            Some("shop"),
            "crm#0 rows SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME <> 'crm_db'",
        ),
        // DATABASE() outside a comparison keeps its place; rows are renamed.
        (
            "SELECT DATABASE(), TABLE_NAME FROM information_schema.TABLES",
            Some("shop"),
            "-#0 rows SELECT DATABASE(), TABLE_NAME FROM information_schema.TABLES",
        ),
        // DATABASE() in an unsharded session that is not renamed: the backend knows it.
        (
            "SELECT * FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
            Some("plain"),
            "-#0 rows SELECT * FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
        ),
        (
            "SELECT * FROM information_schema.TABLES WHERE TABLE_SCHEMA IN ('shop', 'crm')",
            Some("shop"),
            "error 1235: an information_schema query naming logical schemas whose home shards are on different groups ('shop' and 'crm'); query one schema at a time",
        ),
        ("SELECT 'information_schema'", Some("shop"), "none"),
        ("SELECT * FROM orders", Some("shop"), "none"),
    ];
    for (sql, schema, want) in cases {
        assert_eq!(planned(sql, schema), want, "{sql}");
    }
}

#[test]
fn name_map() {
    let t = topology();
    let m = NameMap::for_topology(&t);
    assert_eq!(m.value(b"shop_0001"), ValueRename::Logical("shop"));
    assert_eq!(m.value(b"crm_db"), ValueRename::Logical("crm"));
    assert_eq!(m.value(b"shop_0002"), ValueRename::Hidden);
    assert_eq!(m.value(b"plain"), ValueRename::Keep);
    assert_eq!(m.value(b"shop"), ValueRename::Keep);
    let one = NameMap::single("shop_0001", "shop");
    assert_eq!(
        one.column_name(b"Tables_in_shop_0001"),
        Some(b"Tables_in_shop".to_vec())
    );
    assert_eq!(
        one.column_name(b"Tables_in_shop_0001 (o%)"),
        Some(b"Tables_in_shop (o%)".to_vec())
    );
    assert_eq!(one.column_name(b"Tables_in_shop_00012"), None);
    assert_eq!(one.column_name(b"Table_type"), None);
    assert_eq!(
        one.message("Table 'shop_0001.x' doesn't exist; shop_00012 stays"),
        "Table 'shop.x' doesn't exist; shop_00012 stays"
    );
    assert!(is_schema_column("TABLE_SCHEMA"));
    assert!(is_schema_column("referenced_table_schema"));
    assert!(is_schema_column("SCHEMA_NAME"));
    assert!(!is_schema_column("TABLE_NAME"));
}

#[test]
fn unescaping() {
    assert_eq!(unescape("'it''s'"), "it's");
    assert_eq!(unescape("\"a\\\"b\""), "a\"b");
    assert_eq!(unescape("'a\\_b\\%\\n'"), "a\\_b\\%\n");
    assert_eq!(unescape("'unterminated"), "unterminated");
}

#[test]
fn odd_input_does_not_panic() {
    for s in [
        "SHOW",
        "SHOW FULL",
        "SHOW TABLES FROM `",
        "DESC",
        "DESC `",
        "DESC a.",
        "SELECT * FROM information_schema.",
        "SELECT * FROM information_schema.t WHERE TABLE_SCHEMA = ",
        "SELECT * FROM information_schema.t WHERE ('shop'",
        "SHOW CREATE TABLE",
        "SELECT * FROM information_schema.t WHERE , 'shop'",
    ] {
        let _ = planned(s, Some("shop"));
    }
}

#[test]
fn prepared_schema_parameters() {
    let t = topology();
    let ctx = RouteContext {
        topology: &t,
        schema: Some("shop"),
    };
    let sql = "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ? AND TABLE_SCHEMA IN (?, 'x')";
    let Some(Introspection::Rewritten(r)) = plan(sql, ctx) else {
        panic!("planned")
    };
    assert_eq!(r.params, vec![0, 2]);
    assert_eq!(r.schema, None);
    let bind = |values: &[(usize, &str)]| {
        r.bind(&t, &|i| {
            values
                .iter()
                .find(|(j, _)| *j == i)
                .map(|(_, v)| v.to_string())
        })
    };
    assert_eq!(
        bind(&[(0, "crm"), (1, "crm"), (2, "plain")]),
        Ok(Binding {
            schema: Some("crm".into()),
            shard: 0,
            replace: vec![(0, "crm_db".into())],
        })
    );
    assert_eq!(
        bind(&[(0, "shop")]),
        Ok(Binding {
            schema: Some("shop".into()),
            shard: 1,
            replace: vec![(0, "shop_0001".into())],
        })
    );
    assert_eq!(
        bind(&[(0, "plain")]),
        Ok(Binding {
            schema: None,
            shard: 0,
            replace: vec![],
        })
    );
    assert!(bind(&[(0, "shop"), (2, "crm")]).is_err());
}

#[test]
fn classified_as_current_database() {
    assert_eq!(
        crate::classify("SELECT DATABASE() AS d").kind,
        crate::Kind::CurrentDatabase { column: "d".into() }
    );
    assert_eq!(
        crate::classify("SELECT DATABASE(); SELECT 1").kind,
        crate::Kind::Other
    );
}

#[test]
fn database_calls_in_other_statements() {
    let rw = |sql: &str| rewrite_database_calls(sql, Some("shop"));
    let cases = [
        (
            "SELECT DATABASE(), USER()",
            "SELECT IF(0, DATABASE(), 'shop') AS `DATABASE()`, USER()",
        ),
        (
            "select database() d, schema() as s, concat(database(), '.x') from t where db = database()",
            "select IF(0, DATABASE(), 'shop') d, IF(0, DATABASE(), 'shop') as s, concat(IF(0, DATABASE(), 'shop'), '.x') AS `concat(database(), '.x')` from t where db = IF(0, DATABASE(), 'shop')",
        ),
        (
            "SELECT DISTINCT DATABASE() IS NULL, (SELECT DATABASE()) LIMIT 1",
            "SELECT DISTINCT IF(0, DATABASE(), 'shop') IS NULL AS `DATABASE() IS NULL`, (SELECT IF(0, DATABASE(), 'shop')) AS `(SELECT DATABASE())` LIMIT 1",
        ),
        (
            "SELECT @@version_comment, @@x = DATABASE(), @v := database()",
            "SELECT @@version_comment, @@x = IF(0, DATABASE(), 'shop') AS `@@x = DATABASE()`, @v := IF(0, DATABASE(), 'shop') AS `@v := database()`",
        ),
        (
            "INSERT INTO t (db) VALUES (DATABASE())",
            "INSERT INTO t (db) VALUES (IF(0, DATABASE(), 'shop'))",
        ),
    ];
    for (sql, want) in cases {
        assert_eq!(rw(sql).as_deref(), Some(want), "{sql}");
    }
    assert_eq!(
        rewrite_database_calls("SELECT DATABASE(), 1", None).as_deref(),
        Some("SELECT IF(0, DATABASE(), NULL) AS `DATABASE()`, 1")
    );
    for none in [
        "SELECT 1",
        "SELECT 'database()'",
        "SELECT x.database() FROM t",
        "SELECT database FROM t",
    ] {
        assert_eq!(rw(none), None, "{none}");
    }
}

#[test]
fn session_calls_answer_the_client() {
    let v = SessionValues {
        database: None,
        client: Some(ClientIdentity {
            connection_id: 42,
            user: "app",
            host: "10.0.0.7",
        }),
    };
    let rw = |sql: &str| rewrite_session_calls(sql, &v);
    let cases = [
        (
            "SELECT CONNECTION_ID() + 0, user() AS u",
            "SELECT IF(0, CONNECTION_ID(), CAST(42 AS UNSIGNED)) + 0 AS `CONNECTION_ID() + 0`, IF(0, USER(), 'app@10.0.0.7') AS u",
        ),
        (
            "SELECT id FROM t WHERE owner = CURRENT_USER() OR x = session_user()",
            "SELECT id FROM t WHERE owner = IF(0, CURRENT_USER(), 'app@%') OR x = IF(0, USER(), 'app@10.0.0.7')",
        ),
        (
            "INSERT INTO log (who, conn) VALUES (SYSTEM_USER(), CONNECTION_ID())",
            "INSERT INTO log (who, conn) VALUES (IF(0, USER(), 'app@10.0.0.7'), IF(0, CONNECTION_ID(), CAST(42 AS UNSIGNED)))",
        ),
        // Each statement of a multi-statement text keeps its column names.
        (
            "SELECT 1; SELECT USER(), 2; SELECT CONNECTION_ID()",
            "SELECT 1; SELECT IF(0, USER(), 'app@10.0.0.7') AS `USER()`, 2; SELECT IF(0, CONNECTION_ID(), CAST(42 AS UNSIGNED)) AS `CONNECTION_ID()`",
        ),
        (
            "SET @v = USER(), @c = CONNECTION_ID()",
            "SET @v = IF(0, USER(), 'app@10.0.0.7'), @c = IF(0, CONNECTION_ID(), CAST(42 AS UNSIGNED))",
        ),
        // CURRENT_USER without parentheses is the function too.
        (
            "SELECT CURRENT_USER, current_user = 'x'",
            "SELECT IF(0, CURRENT_USER, 'app@%') AS `CURRENT_USER`, IF(0, CURRENT_USER, 'app@%') = 'x' AS `current_user = 'x'`",
        ),
        (
            "SET @w = CURRENT_USER",
            "SET @w = IF(0, CURRENT_USER, 'app@%')",
        ),
    ];
    for (sql, want) in cases {
        assert_eq!(rw(sql).as_deref(), Some(want), "{sql}");
    }
    // DATABASE() is left alone without a schema value; other texts are not touched.
    for none in [
        "SELECT DATABASE()",
        "SELECT 'user()'",
        "SELECT t.user() FROM t",
        "SELECT user FROM mysql.user",
        // Accounts named CURRENT_USER, not the function.
        "SHOW GRANTS FOR CURRENT_USER",
        "SET PASSWORD FOR CURRENT_USER = PASSWORD('x')",
        "CREATE DEFINER = CURRENT_USER VIEW v AS SELECT 1",
        "GRANT SELECT ON db.* TO CURRENT_USER",
        "SELECT t.current_user FROM t",
    ] {
        assert_eq!(rw(none), None, "{none}");
    }
}

#[test]
fn processlist_and_own_kill() {
    assert_eq!(show_processlist("SHOW PROCESSLIST"), Some(false));
    assert_eq!(show_processlist("show full processlist;"), Some(true));
    assert_eq!(show_processlist("SHOW PROCESSLIST x"), None);
    assert!(names_processlist_table(
        "SELECT * FROM information_schema.PROCESSLIST",
        false
    ));
    assert!(names_processlist_table(
        "select id from `processlist`",
        true
    ));
    assert!(!names_processlist_table(
        "select id from `processlist`",
        false
    ));
    assert!(!names_processlist_table("SHOW PROCESSLIST", true));
    assert!(!names_processlist_table(
        "SELECT 'processlist' FROM information_schema.tables",
        false
    ));
    assert_eq!(kill_own_connection("KILL CONNECTION_ID()"), Some(false));
    assert_eq!(
        kill_own_connection("kill query connection_id();"),
        Some(true)
    );
    assert_eq!(
        kill_own_connection("KILL CONNECTION CONNECTION_ID()"),
        Some(false)
    );
    assert_eq!(kill_own_connection("KILL 5"), None);
    assert_eq!(kill_own_connection("KILL CONNECTION_ID() + 1"), None);
}

#[test]
fn message_names_cover_every_shard() {
    let t = topology();
    let m = NameMap::for_messages(&t);
    assert_eq!(
        m.message("Table 'shop_0002.countries' doesn't exist"),
        "Table 'shop.countries' doesn't exist"
    );
    assert_eq!(
        m.message("Unknown table 'crm_db.x' in shop_00000"),
        "Unknown table 'crm.x' in shop_00000"
    );
}
