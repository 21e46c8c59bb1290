//! Privilege checks on a configuration with a sharded `shop` and an unsharded `crm`.

use super::{Grants, check};

use super::test_config::topology;

/// The errno `sql` gets from a user allowed `crm` only (`None`: allowed).
#[test]
fn own_processlist_and_kill_are_answered_by_the_proxy() {
    for sql in [
        "SHOW PROCESSLIST",
        "SHOW FULL PROCESSLIST",
        "KILL 12",
        "KILL QUERY 7",
    ] {
        assert_eq!(crm_user(sql), None, "{sql}");
    }
}

fn crm_user(sql: &str) -> Option<u16> {
    as_user(sql, false, false, &["crm"])
}

fn as_user(sql: &str, admin: bool, read_only: bool, schemas: &[&str]) -> Option<u16> {
    let t = topology();
    let schemas: Vec<String> = schemas.iter().map(|s| s.to_string()).collect();
    let g = Grants {
        user: "u",
        host: "h",
        admin,
        read_only,
        schemas: &schemas,
        topology: &t,
        server_version: 101119,
    };
    check(sql, &g).err().map(|e| e.code)
}

#[test]
fn own_schema_and_information_schema_are_allowed() {
    for sql in [
        "SELECT * FROM t WHERE id = 1",
        "SELECT t.a, x.b FROM t JOIN u x ON t.id = x.id",
        "SELECT crm.t.a FROM crm.t",
        "INSERT INTO crm.t VALUES (1)",
        "SELECT * FROM information_schema.tables WHERE table_schema = 'crm'",
        "SHOW TABLES FROM crm",
        "SHOW COLUMNS FROM t FROM crm",
        "USE crm",
        "CREATE TABLE user (id INT)",
        "CREATE DATABASE IF NOT EXISTS crm",
        "PREPARE s FROM 'SELECT * FROM crm.t'",
        "SELECT 1; SELECT 2",
        "KILL 12",
        "SET @x = 1",
        "SET sql_mode = DEFAULT, @password = 'x'",
        "SET NAMES utf8mb4",
        "SELECT @@global.max_connections",
        "SHOW FULL COLUMNS FROM t FROM crm",
        "SHOW GLOBAL STATUS",
        "/*!40101 SET @OLD_SQL_MODE = @@SQL_MODE */",
        "LOCK TABLES t WRITE",
        "SELECT x.a FROM t x LOCK IN SHARE MODE",
        "SELECT 1.5, 'mysql.user'",
        "SELECT 'it\\'s', 'a\\\\b' FROM t",
        "CALL p()",
        "SELECT mysql.a FROM t mysql",
        "EXECUTE IMMEDIATE 'SELECT ?' USING 1",
        "SELECT * FROM information_schema.tables WHERE table_schema LIKE 'c%'",
        "SELECT * FROM information_schema.tables WHERE table_schema NOT IN ('mysql', 'sys', 'performance_schema')",
        "SELECT * FROM information_schema.tables WHERE table_schema <> 'mysql' AND table_schema != 'sys' AND table_schema NOT LIKE 'shop'",
    ] {
        assert_eq!(crm_user(sql), None, "{sql}");
    }
}

#[test]
fn other_schemas_are_refused_in_every_syntax() {
    for (sql, code) in [
        ("SELECT * FROM shop.orders", 1142),
        ("SELECT * FROM `mysql`.`user`", 1142),
        ("SELECT u.password FROM mysql.user u", 1142),
        ("SELECT * FROM shop_0001.orders", 1142),
        ("SELECT * FROM legacy_db.t", 1142),
        ("SELECT * FROM t JOIN performance_schema.threads p", 1142),
        ("SELECT * FROM (SELECT * FROM sys.x) d", 1142),
        ("DELETE FROM shop.orders", 1142),
        ("UPDATE t, shop.orders o SET t.a = o.a", 1142),
        ("DROP TABLE shop.orders", 1142),
        ("CALL shop.p()", 1142),
        ("SELECT shop.f(1)", 1142),
        ("SELECT NEXTVAL(shop.seq)", 1142),
        ("HANDLER shop.orders OPEN", 1142),
        ("SELECT * FROM mysql.user LOCK IN SHARE MODE", 1142),
        ("SELECT * FROM other.t LOCK IN SHARE MODE", 1142),
        (
            "SELECT * FROM information_schema.tables WHERE table_schema = 'mysql'",
            1044,
        ),
        (
            "SELECT * FROM information_schema.columns WHERE table_schema = 'shop'",
            1044,
        ),
        ("SHOW TABLES FROM shop", 1044),
        ("SHOW TABLES IN mysql", 1044),
        ("SHOW COLUMNS FROM user FROM mysql", 1044),
        ("SHOW COLUMNS FROM mysql.user", 1142),
        ("SHOW CREATE DATABASE shop", 1044),
        ("SELECT 1; USE shop", 1044),
        ("SELECT 1; SELECT * FROM mysql.user", 1142),
        ("CREATE DATABASE evil", 1044),
        ("DROP DATABASE shop", 1044),
        ("DROP SCHEMA IF EXISTS mysql", 1044),
        ("PREPARE s FROM 'SELECT * FROM mysql.user'", 1142),
        ("PREPARE s FROM @q", 1227),
        ("EXECUTE IMMEDIATE 'SHUTDOWN'", 1227),
        (
            "PREPARE s FROM 'SELECT 1 /*!100000 FROM mysql.user */'",
            1142,
        ),
        (
            "SET STATEMENT max_statement_time = 1 FOR SELECT * FROM mysql.user",
            1142,
        ),
        // sql_mode ANSI_QUOTES and NO_BACKSLASH_ESCAPES, which the session may have set.
        ("SELECT * FROM \"mysql\".\"user\"", 1142),
        (
            "SELECT '\\', (SELECT 1 FROM mysql.user LIMIT 1), '\\'",
            1142,
        ),
        ("SELECT '\\' /*!, (SELECT 1 FROM mysql.user) */, '\\'", 1142),
        ("SELECT '\\'; SHUTDOWN; SELECT '\\'", 1227),
    ] {
        assert_eq!(crm_user(sql), Some(code), "{sql}");
    }
}

#[test]
fn administration_needs_an_administrator() {
    for sql in [
        "SHUTDOWN",
        "shutdown wait for all slaves",
        "SET GLOBAL max_connections = 1",
        "SET @@global.read_only = 1",
        "SET PASSWORD = PASSWORD('x')",
        "SET DEFAULT ROLE r",
        "SET @@global . max_connections = 1",
        "SET @@GLOBAL.max_connections = 1",
        "SHOW EXPLAIN FOR 12",
        "EXPLAIN FOR CONNECTION 12",
        "SET sql_mode = '', GLOBAL max_connections = 1",
        "CREATE USER x IDENTIFIED BY 'y'",
        "DROP USER x",
        "GRANT ALL ON *.* TO x",
        "REVOKE ALL ON *.* FROM x",
        "KILL 12; SELECT 1",
        "KILL USER root",
        "SELECT LOAD_FILE('/etc/passwd')",
        "SELECT * FROM t INTO OUTFILE '/tmp/x'",
        "SELECT a INTO DUMPFILE '/tmp/x' FROM t",
        "LOAD DATA INFILE '/etc/passwd' INTO TABLE t",
        "FLUSH PRIVILEGES",
        "SELECT 1; SHOW PROCESSLIST",
        "PREPARE s FROM 'SHOW PROCESSLIST'",
        "PREPARE s FROM 'KILL 12'",
        "SHOW GRANTS FOR root",
        "CREATE PROCEDURE p() SELECT * FROM mysql.user",
        "CREATE DEFINER = root@localhost VIEW v AS SELECT 1",
        "STOP SLAVE",
        "INSTALL SONAME 'x'",
        "BEGIN NOT ATOMIC SHUTDOWN; END",
        "IF 1 THEN SELECT * FROM mysql.user; END IF",
        "l: LOOP SHUTDOWN; END LOOP",
        "SELECT info FROM information_schema.PROCESSLIST",
        "SELECT * FROM INFORMATION_SCHEMA.user_privileges",
    ] {
        assert_eq!(crm_user(sql), Some(1227), "{sql}");
        assert_eq!(as_user(sql, true, false, &[]), None, "admin: {sql}");
    }
}

#[test]
fn read_only_users_only_read() {
    let ro = |sql: &str| as_user(sql, false, true, &["crm"]);
    for sql in [
        "SELECT * FROM t",
        "SHOW TABLES",
        "BEGIN",
        "SET NAMES utf8mb4",
        "PREPARE s FROM 'SELECT 1'",
        "DROP PREPARE s",
    ] {
        assert_eq!(ro(sql), None, "{sql}");
    }
    for sql in [
        "INSERT INTO t VALUES (1)",
        "update t set a = 1",
        "DELETE FROM t",
        "REPLACE INTO t VALUES (1)",
        "CREATE TABLE x (id INT)",
        "TRUNCATE t",
        "SELECT 1; DELETE FROM t",
        "PREPARE s FROM 'DELETE FROM t'",
        "CALL p()",
        "BEGIN NOT ATOMIC DELETE FROM t; END",
        "WHILE 1 DO DELETE FROM t; END WHILE",
        "SET STATEMENT max_statement_time = 1 FOR DELETE FROM t",
    ] {
        assert_eq!(ro(sql), Some(1142), "{sql}");
        assert_eq!(as_user(sql, true, true, &["*"]), Some(1142), "admin: {sql}");
    }
}
