//! Introspection statements through the proxy show logical names only: `shop` is sharded
//! over 16 physical databases on two servers and `crm` lives in `crm_db`, yet
//! `SELECT DATABASE()`, `SHOW DATABASES`, `SHOW TABLES`, `SHOW COLUMNS`, `DESCRIBE`,
//! `SHOW INDEX`, `SHOW CREATE TABLE`, `SHOW TABLE STATUS` and information_schema queries
//! answer exactly what a plain MariaDB holding real `shop` and `crm` databases answers
//! (column metadata as mysql_async decodes it, and values).

mod harness;

use anyhow::Result;
use harness::MariaDb;
use harness::proxy::{app_conn, create_shard_databases, sharded_config, start_proxy};
use harness::raw::{Login, RawConn};
use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::prelude::Queryable;
use mysql_async::{Column, Conn, Row, Value};

const TABLES: &[&str] = &[
    "{name: orders, shard_key: uid}",
    "{name: countries, global: true}",
];

/// The same tables, created through the proxy and directly on the reference server.
const DDL: &[&str] = &[
    "CREATE TABLE orders (id INT PRIMARY KEY, uid BIGINT NOT NULL, note VARCHAR(20), KEY by_uid (uid)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE countries (code CHAR(2) PRIMARY KEY, name VARCHAR(40) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE notes (id INT AUTO_INCREMENT PRIMARY KEY, body TEXT) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
];

const CRM_DDL: &str = "CREATE TABLE contacts (id INT PRIMARY KEY, email VARCHAR(64) UNIQUE) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

/// One column's metadata as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Col {
    name: String,
    org_name: String,
    schema: String,
    table: String,
    org_table: String,
    column_type: ColumnType,
    charset: u16,
    length: u32,
    flags: ColumnFlags,
    decimals: u8,
}

impl From<&Column> for Col {
    fn from(c: &Column) -> Self {
        Col {
            name: c.name_str().into_owned(),
            org_name: c.org_name_str().into_owned(),
            schema: c.schema_str().into_owned(),
            table: c.table_str().into_owned(),
            org_table: c.org_table_str().into_owned(),
            column_type: c.column_type(),
            charset: c.character_set(),
            length: c.column_length(),
            flags: c.flags(),
            decimals: c.decimals(),
        }
    }
}

type Answer = (Vec<Col>, Vec<Vec<String>>);

fn text(v: &Value) -> String {
    match v {
        Value::NULL => "NULL".into(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => other.as_sql(true),
    }
}

fn values(rows: &[Row]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.as_ref(i).map_or("?".into(), text))
                .collect()
        })
        .collect()
}

/// Columns and rows of a text query.
async fn answer(conn: &mut Conn, sql: &str) -> Result<Answer> {
    let mut r = conn.query_iter(sql).await?;
    let cols = r
        .columns()
        .map(|c| c.iter().map(Col::from).collect())
        .unwrap_or_default();
    let rows: Vec<Row> = r.collect().await?;
    Ok((cols, values(&rows)))
}

/// Columns at prepare, columns at execute and rows of a prepared statement.
async fn prepared_answer(conn: &mut Conn, sql: &str) -> Result<(Vec<Col>, Answer)> {
    prepared_with(conn, sql, Vec::new()).await
}

/// [`prepared_answer`] with bound parameters.
async fn prepared_with(
    conn: &mut Conn,
    sql: &str,
    params: Vec<Value>,
) -> Result<(Vec<Col>, Answer)> {
    let stmt = conn.prep(sql).await?;
    let prepared: Vec<Col> = stmt.columns().iter().map(Col::from).collect();
    let mut r = conn.exec_iter(&stmt, params).await?;
    let cols = r
        .columns()
        .map(|c| c.iter().map(Col::from).collect())
        .unwrap_or_default();
    let rows: Vec<Row> = r.collect().await?;
    Ok((prepared, (cols, values(&rows))))
}

fn names(cols: &[Col]) -> Vec<&str> {
    cols.iter().map(|c| c.name.as_str()).collect()
}

struct Setup {
    _g0: MariaDb,
    _g1: MariaDb,
    reference: MariaDb,
    proxy: myshard_proxy::ProxyHandle,
}

async fn setup() -> Result<Setup> {
    let mut servers = MariaDb::start_many(3).await?;
    let reference = servers.remove(2);
    let g1 = servers.remove(1);
    let g0 = servers.remove(0);
    let config = sharded_config(&g0, &g1, 16, TABLES);
    create_shard_databases(&config, &[&g0, &g1]).await?;
    let proxy = start_proxy(config).await?;
    let mut shop = app_conn(&proxy, Some("shop")).await?;
    let mut crm = app_conn(&proxy, Some("crm")).await?;
    reference
        .exec("CREATE DATABASE shop; CREATE DATABASE crm")
        .await?;
    let mut ref_shop = reference.conn_as("root", "", Some("shop")).await?;
    for ddl in DDL {
        shop.query_drop(*ddl).await?;
        ref_shop.query_drop(*ddl).await?;
    }
    crm.query_drop(CRM_DDL).await?;
    reference.exec(&format!("USE crm; {CRM_DDL}")).await?;
    Ok(Setup {
        _g0: g0,
        _g1: g1,
        reference,
        proxy,
    })
}

impl Setup {
    /// A proxy connection and a reference connection in `db`.
    async fn pair(&self, db: Option<&str>) -> Result<(Conn, Conn)> {
        Ok((
            app_conn(&self.proxy, db).await?,
            self.reference.conn_as("root", "", db).await?,
        ))
    }
}

/// Asserts that `sql` answers the same through the proxy and on the reference server.
async fn same(proxy: &mut Conn, reference: &mut Conn, sql: &str) -> Result<Answer> {
    let got = answer(proxy, sql).await?;
    let want = answer(reference, sql).await?;
    assert_eq!(got, want, "{sql}");
    Ok(got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_shows_logical_names() -> Result<()> {
    let s = setup().await?;
    let (mut p, mut r) = s.pair(Some("shop")).await?;

    // SELECT DATABASE(): text and prepared, with and without alias.
    for sql in [
        "SELECT DATABASE()",
        "select database( )",
        "SELECT SCHEMA() AS s",
        "SELECT DATABASE() `the db`;",
    ] {
        let (cols, rows) = same(&mut p, &mut r, sql).await?;
        assert_eq!(rows, vec![vec!["shop".to_string()]], "{sql}");
        assert_eq!(cols[0].column_type, ColumnType::MYSQL_TYPE_VAR_STRING);
        let got = prepared_answer(&mut p, sql).await?;
        let want = prepared_answer(&mut r, sql).await?;
        assert_eq!(got, want, "prepared {sql}");
    }
    let db: Option<String> = p.exec_first("SELECT DATABASE()", ()).await?;
    assert_eq!(db.as_deref(), Some("shop"));
    // DATABASE() inside other statements reports the logical name too, with the column
    // name MariaDB gives the item (the CLI's `status` sends `SELECT DATABASE(), USER()`).
    for sql in [
        "SELECT DATABASE(), 1",
        "SELECT CONCAT(DATABASE(), '.x'), SCHEMA() AS s, DATABASE() IS NULL",
        "INSERT INTO notes (body) VALUES (DATABASE())",
        // (Only computed columns: a table column's definition names the shard's database
        // in its schema field, which ordinary queries relay untouched.)
        "SELECT DATABASE(), LENGTH(body), body = 'shop' FROM notes",
        "SELECT id + 0 FROM notes WHERE body = DATABASE()",
    ] {
        same(&mut p, &mut r, sql).await?;
    }
    // The column follows the results character set.
    for set in [
        "SET NAMES latin1",
        "SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci",
        "SET character_set_results = NULL",
        "SET NAMES utf8mb4",
    ] {
        p.query_drop(set).await?;
        r.query_drop(set).await?;
        same(&mut p, &mut r, "SELECT DATABASE()").await?;
    }

    // SHOW TABLES and its variants: the header names the logical schema.
    for sql in [
        "SHOW TABLES",
        "SHOW FULL TABLES",
        "SHOW TABLES LIKE 'o%'",
        "SHOW TABLES FROM shop",
        "show full tables in `shop` like '%s'",
        "SHOW TABLES WHERE Tables_in_shop LIKE 'c%'",
        "SHOW FULL TABLES FROM shop WHERE Table_type = 'BASE TABLE'",
        "SHOW TABLES FROM crm",
    ] {
        let (cols, _) = same(&mut p, &mut r, sql).await?;
        assert!(!cols.iter().any(|c| c.name.contains("_00")), "{sql}");
    }
    let (cols, rows) = answer(&mut p, "SHOW TABLES").await?;
    assert_eq!(names(&cols), vec!["Tables_in_shop"]);
    assert_eq!(
        rows,
        vec![vec!["countries"], vec!["notes"], vec!["orders"]]
            .into_iter()
            .map(|r| r.into_iter().map(String::from).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    );

    // Table statements, sharded, global and unsharded tables alike.
    for sql in [
        "SHOW CREATE TABLE orders",
        "SHOW CREATE TABLE shop.countries",
        "SHOW CREATE TABLE `notes`",
        "SHOW COLUMNS FROM orders",
        "SHOW FULL COLUMNS FROM orders FROM shop",
        "SHOW FIELDS IN shop.countries LIKE 'n%'",
        "DESCRIBE orders",
        "DESC notes body",
        "EXPLAIN countries",
        "SHOW INDEX FROM orders",
        "SHOW INDEXES FROM countries FROM shop",
        "SHOW KEYS IN shop.orders WHERE Key_name = 'by_uid'",
        "SHOW COLUMNS FROM crm.contacts",
    ] {
        same(&mut p, &mut r, sql).await?;
    }
    // TABLE STATUS: times and sizes differ between servers; names and metadata do not.
    for sql in [
        "SHOW TABLE STATUS",
        "SHOW TABLE STATUS LIKE 'o%'",
        "SHOW TABLE STATUS FROM shop WHERE Name = 'notes'",
    ] {
        let (got_cols, got) = answer(&mut p, sql).await?;
        let (want_cols, want) = answer(&mut r, sql).await?;
        assert_eq!(got_cols, want_cols, "{sql}");
        let first = |rows: &[Vec<String>]| rows.iter().map(|r| r[0].clone()).collect::<Vec<_>>();
        assert_eq!(first(&got), first(&want), "{sql}");
    }
    // Errors name the logical schema.
    let e = p
        .query_drop("SHOW COLUMNS FROM nosuch")
        .await
        .expect_err("no such table");
    let want = r
        .query_drop("SHOW COLUMNS FROM nosuch")
        .await
        .expect_err("no such table");
    assert_eq!(e.to_string(), want.to_string());

    // information_schema queries drivers send (JDBC getTables/getColumns, SQLAlchemy).
    for sql in [
        "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_CATALOG, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop' ORDER BY TABLE_NAME",
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
        "SELECT TABLE_SCHEMA TABLE_CAT, NULL TABLE_SCHEM, TABLE_NAME, IF(TABLE_TYPE='BASE TABLE', 'TABLE', TABLE_TYPE) as TABLE_TYPE, TABLE_COMMENT REMARKS FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'shop' AND TABLE_NAME LIKE '%' ORDER BY TABLE_TYPE, TABLE_SCHEMA, TABLE_NAME",
        "SELECT TABLE_CATALOG, TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, DATA_TYPE, IS_NULLABLE, COLUMN_KEY FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION",
        "select column_name, data_type from information_schema.columns where table_schema = 'shop' and table_name = 'orders' order by ordinal_position",
        "SELECT INDEX_SCHEMA, TABLE_NAME, INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA IN ('shop') ORDER BY TABLE_NAME, INDEX_NAME",
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'crm'",
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop' AND TABLE_NAME = 'orders'",
        // No filter naming the schema: other shards' databases are left out.
        "SELECT DISTINCT TABLE_SCHEMA FROM information_schema.TABLES WHERE TABLE_SCHEMA LIKE 'shop%'",
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'sh%'",
    ] {
        same(&mut p, &mut r, sql).await?;
    }

    // SHOW DATABASES: the logical schemas and information_schema, in MariaDB's order,
    // with MariaDB's metadata.
    for (sql, want) in [
        ("SHOW DATABASES", vec!["crm", "information_schema", "shop"]),
        ("SHOW SCHEMAS LIKE 's%'", vec!["shop"]),
        (
            "show databases like 'INFORMATION%'",
            vec!["information_schema"],
        ),
        ("SHOW DATABASES LIKE 'x'", vec![]),
    ] {
        let (got_cols, got) = answer(&mut p, sql).await?;
        let (want_cols, _) = answer(&mut r, sql).await?;
        assert_eq!(got_cols, want_cols, "{sql}");
        let got: Vec<&str> = got.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(got, want, "{sql}");
    }

    // Prepared statements (mysql2 execute(), sqlx, go-sql-driver with arguments, GORM's
    // HasTable): metadata at prepare and execute, binary rows, bound schema names.
    for (sql, params) in [
        ("SHOW TABLES", vec![]),
        ("SHOW FULL TABLES FROM shop LIKE 'o%'", vec![]),
        ("SHOW COLUMNS FROM orders", vec![]),
        ("DESCRIBE countries", vec![]),
        ("SHOW INDEX FROM orders", vec![]),
        ("SHOW CREATE TABLE notes", vec![]),
        (
            "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ROWS IS NULL FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
            vec![],
        ),
        (
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ? AND table_type = ?",
            vec![
                Value::from("shop"),
                Value::from("orders"),
                Value::from("BASE TABLE"),
            ],
        ),
        (
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            vec![Value::from("crm"), Value::from("contacts")],
        ),
        (
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA IN (?, ?) ORDER BY TABLE_NAME",
            vec![Value::from("shop"), Value::from("nosuch")],
        ),
    ] {
        let got = prepared_with(&mut p, sql, params.clone()).await?;
        let want = prepared_with(&mut r, sql, params).await?;
        assert_eq!(got, want, "prepared {sql}");
    }
    let (_, (_, rows)) = prepared_answer(&mut p, "SHOW DATABASES").await?;
    assert_eq!(
        rows,
        vec![
            vec!["crm".to_string()],
            vec!["information_schema".into()],
            vec!["shop".into()]
        ]
    );
    let (got, _) = prepared_answer(&mut p, "SHOW DATABASES").await?;
    let (want, _) = prepared_answer(&mut r, "SHOW DATABASES").await?;
    assert_eq!(got, want, "prepared SHOW DATABASES metadata");

    // COM_FIELD_LIST (the CLI's column completion): the same packets, logical schema.
    let addr: std::net::SocketAddr = s.reference.addr().parse()?;
    let mut raw_p = RawConn::login(
        s.proxy.addr(),
        &Login::new(
            harness::proxy::APP_USER,
            harness::proxy::APP_PASSWORD,
            Some("shop"),
        ),
    )
    .await?
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut raw_r = RawConn::login(addr, &Login::new("root", "", Some("shop")))
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    for table in ["orders\0", "notes\0b%", "nosuch\0"] {
        let mut cmd = vec![0x04];
        cmd.extend_from_slice(table.as_bytes());
        let mut answers = Vec::new();
        for raw in [&mut raw_p, &mut raw_r] {
            raw.send(&cmd).await?;
            let mut packets = Vec::new();
            loop {
                let p = raw.read_packet().await?;
                let end = p.first() == Some(&0xFF) || (p.first() == Some(&0xFE) && p.len() < 9);
                packets.push(p);
                if end {
                    break;
                }
            }
            answers.push(packets);
        }
        assert_eq!(answers[0], answers[1], "COM_FIELD_LIST {table:?}");
    }

    // The renamed unsharded schema.
    let (mut p, mut r) = s.pair(Some("crm")).await?;
    for sql in [
        "SELECT DATABASE()",
        "SELECT DATABASE(), 2 AS two",
        "SHOW TABLES",
        "SHOW FULL TABLES LIKE 'c%'",
        "DESCRIBE contacts",
        "SHOW INDEX FROM contacts",
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
    ] {
        same(&mut p, &mut r, sql).await?;
    }

    // No schema selected.
    let (mut p, mut r) = s.pair(None).await?;
    same(&mut p, &mut r, "SELECT DATABASE()").await?;
    let got = prepared_answer(&mut p, "SELECT DATABASE()").await?;
    let want = prepared_answer(&mut r, "SELECT DATABASE()").await?;
    assert_eq!(got, want);
    for sql in ["SHOW TABLES FROM shop", "SHOW COLUMNS FROM shop.orders"] {
        same(&mut p, &mut r, sql).await?;
    }
    let e = p.query_drop("SHOW TABLES").await.expect_err("no database");
    assert!(e.to_string().contains("No database selected"), "{e}");
    Ok(())
}
