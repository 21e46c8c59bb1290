//! information_schema restriction on a configuration with a sharded `shop` (home shard
//! database `shop_0000`), an unsharded `crm` and a renamed `legacy` (`legacy_db`).

use super::{hex, restrict};
use crate::privilege::Grants;

use crate::privilege::test_config::topology;

/// `sql` as a user of `schemas` sends it: `Ok(None)` unchanged, or the rewritten text, or
/// the errno.
fn as_user(sql: &str, schemas: &[&str], admin: bool, in_is: bool) -> Result<Option<String>, u16> {
    let t = topology();
    let schemas: Vec<String> = schemas.iter().map(|s| s.to_string()).collect();
    let g = Grants {
        user: "u",
        host: "h",
        admin,
        read_only: false,
        schemas: &schemas,
        topology: &t,
        server_version: 101119,
    };
    restrict(sql, &g, in_is).map_err(|e| e.code)
}

fn crm(sql: &str) -> String {
    match as_user(sql, &["crm"], false, false) {
        Ok(Some(s)) => s,
        other => panic!("{sql}: {other:?}"),
    }
}

/// The derived table for `TABLES` as a crm user sees it, without its alias.
fn crm_tables() -> String {
    format!(
        "(SELECT * FROM information_schema.`TABLES` WHERE BINARY TABLE_SCHEMA IN ({}, {}))",
        hex(b"information_schema"),
        hex(b"crm")
    )
}

#[test]
fn aggregates_subqueries_and_copies_read_only_the_users_schemas() {
    let d = crm_tables();
    assert_eq!(
        crm("SELECT COUNT(*) FROM information_schema.TABLES"),
        format!("SELECT COUNT(*) FROM {d} AS `TABLES`")
    );
    assert_eq!(
        crm("SELECT TABLE_SCHEMA, COUNT(*) FROM `information_schema` . `tables` t GROUP BY 1"),
        format!(
            "SELECT TABLE_SCHEMA, COUNT(*) FROM {} t GROUP BY 1",
            d.replace("`TABLES`", "`tables`")
        )
    );
    assert_eq!(
        crm("SELECT 1 FROM t WHERE (SELECT COUNT(*) FROM information_schema.TABLES AS x) > 3"),
        format!("SELECT 1 FROM t WHERE (SELECT COUNT(*) FROM {d} AS x) > 3")
    );
    assert_eq!(
        crm("INSERT INTO t SELECT TABLE_NAME FROM information_schema.TABLES WHERE 1"),
        format!("INSERT INTO t SELECT TABLE_NAME FROM {d} AS `TABLES` WHERE 1")
    );
    assert_eq!(
        crm("CREATE TABLE x AS SELECT * FROM information_schema.TABLES"),
        format!("CREATE TABLE x AS SELECT * FROM {d} AS `TABLES`")
    );
    assert_eq!(
        crm("SET @n = (SELECT COUNT(*) FROM information_schema.TABLES)"),
        format!("SET @n = (SELECT COUNT(*) FROM {d} AS `TABLES`)")
    );
    // Every statement of a multi-statement text; a column named with the table is left.
    assert_eq!(
        crm("SELECT 1; SELECT information_schema.TABLES.TABLE_NAME FROM information_schema.TABLES"),
        format!("SELECT 1; SELECT information_schema.TABLES.TABLE_NAME FROM {d} AS `TABLES`")
    );
}

#[test]
fn every_schema_column_is_restricted_to_the_home_databases() {
    let s = match as_user(
        "SELECT * FROM information_schema.KEY_COLUMN_USAGE",
        &["shop", "legacy"],
        false,
        false,
    ) {
        Ok(Some(s)) => s,
        other => panic!("{other:?}"),
    };
    let list = format!(
        "{}, {}, {}",
        hex(b"information_schema"),
        hex(b"shop_0000"),
        hex(b"legacy_db")
    );
    assert_eq!(
        s,
        format!(
            "SELECT * FROM (SELECT * FROM information_schema.`KEY_COLUMN_USAGE` WHERE \
             BINARY TABLE_SCHEMA IN ({list}) AND (CONSTRAINT_SCHEMA IS NULL OR BINARY \
             CONSTRAINT_SCHEMA IN ({list})) AND (REFERENCED_TABLE_SCHEMA IS NULL OR BINARY \
             REFERENCED_TABLE_SCHEMA IN ({list}))) AS `KEY_COLUMN_USAGE`"
        )
    );
}

#[test]
fn bare_names_in_information_schema_and_prepared_texts() {
    let d = crm_tables();
    assert_eq!(
        as_user(
            "SELECT COUNT(*) FROM TABLES JOIN ENGINES",
            &["crm"],
            false,
            true
        ),
        Ok(Some(format!(
            "SELECT COUNT(*) FROM {} AS `TABLES` JOIN ENGINES",
            d
        )))
    );
    // A SHOW condition reads rows.
    assert_eq!(
        crm("SHOW TABLES WHERE (SELECT COUNT(*) FROM information_schema.TABLES) > 9"),
        format!("SHOW TABLES WHERE (SELECT COUNT(*) FROM {d} AS `TABLES`) > 9")
    );
    // Outside information_schema a bare TABLES is the user's own table.
    assert_eq!(
        as_user("SELECT COUNT(*) FROM TABLES", &["crm"], false, false),
        Ok(None)
    );
    let inner = format!("SELECT COUNT(*) FROM {d} AS `TABLES`").replace('\'', "''");
    assert_eq!(
        crm("PREPARE s FROM 'SELECT COUNT(*) FROM information_schema.TABLES'"),
        format!("PREPARE s FROM '{inner}'")
    );
    assert_eq!(
        crm("EXECUTE IMMEDIATE 'SELECT COUNT(*) FROM information_schema.TABLES'"),
        format!("EXECUTE IMMEDIATE '{inner}'")
    );
    assert_eq!(
        as_user(
            r"PREPARE s FROM 'SELECT ''\\'' FROM information_schema.TABLES'",
            &["crm"],
            false,
            false
        ),
        Err(1142)
    );
}

#[test]
fn what_needs_no_restriction_and_what_is_refused() {
    for sql in [
        "SELECT * FROM information_schema.ENGINES",
        "SELECT * FROM information_schema.COLLATIONS c WHERE c.ID = 8",
        "SHOW COLUMNS FROM information_schema.TABLES",
        "DESCRIBE information_schema.TABLES",
        "SELECT 'information_schema.TABLES'",
        "SELECT 1",
    ] {
        assert_eq!(as_user(sql, &["crm"], false, false), Ok(None), "{sql}");
    }
    // Administrators see everything.
    assert_eq!(
        as_user(
            "SELECT COUNT(*) FROM information_schema.TABLES",
            &["*"],
            true,
            false
        ),
        Ok(None)
    );
    for (sql, code) in [
        ("SELECT * FROM information_schema.INNODB_SYS_TABLES", 1227),
        ("SELECT COUNT(*) FROM INNODB_TRX", 1227),
        ("SELECT * FROM information_schema.QUERY_CACHE_INFO", 1142),
    ] {
        assert_eq!(as_user(sql, &["crm"], false, true), Err(code), "{sql}");
    }
    // A backslash that hides the reference from one reading of the text.
    assert_eq!(
        as_user(
            r"SELECT 'a\', (SELECT COUNT(*) FROM information_schema.TABLES), ''",
            &["crm"],
            false,
            false
        ),
        Err(1142)
    );
}
