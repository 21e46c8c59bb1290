//! Which statements may go to a read host (a replica): plain reads only. A statement that
//! locks rows, changes anything, reads or sets state held by one backend connection, or
//! whose answer depends on the write host's latest state stays on the write host.
//!
//! The rule errs towards the write host: a word that could be a locking clause, a side
//! effect or a sequence function anywhere in the text (even as a column name) keeps the
//! statement there. Whether the session is in a transaction, has autocommit off or is
//! pinned is the session's to add; this module looks at the text only.

use crate::lexer::{Lexer, Token};

/// The hint that sends a statement to the write host whatever it is:
/// `/* myshard: primary */` (case and spaces inside the comment do not matter).
pub const PRIMARY_HINT: &str = "myshard:primary";

/// First words of statements that only read.
const READ_STATEMENTS: &[&str] = &["SELECT", "SHOW", "DESCRIBE", "DESC", "WITH", "VALUES"];

/// Words that lock (`FOR UPDATE`, `LOCK IN SHARE MODE`, `FOR SHARE`), write (`INTO`
/// OUTFILE / DUMPFILE / variables) or call functions with side effects or with answers only
/// the write host's connection knows (locks, insert ids, sequences, row counts).
const WRITE_WORDS: &[&str] = &[
    "UPDATE",
    "SHARE",
    "LOCK",
    "INTO",
    "GET_LOCK",
    "RELEASE_LOCK",
    "RELEASE_ALL_LOCKS",
    "IS_USED_LOCK",
    "IS_FREE_LOCK",
    "LAST_INSERT_ID",
    "NEXTVAL",
    "LASTVAL",
    "SETVAL",
    "NEXT",
    "PREVIOUS",
    "FOUND_ROWS",
    "ROW_COUNT",
    "SQL_CALC_FOUND_ROWS",
    "SLEEP",
    "MASTER_GTID_WAIT",
    "MASTER_POS_WAIT",
];

/// System variables whose value belongs to the connection that wrote.
const WRITE_SYSVARS: &[&str] = &["last_insert_id", "identity", "insert_id", "last_gtid"];

/// Whether `sql` (one statement, executable comments already resolved) only reads and
/// carries no primary hint, so that outside a transaction it may run on a read host.
pub fn may_read_from_replica(sql: &str) -> bool {
    let mut lexer = Lexer::new(sql);
    let Some(first) = lexer.next() else {
        return false;
    };
    let starts_read = match first {
        Token::Word(w) => READ_STATEMENTS.iter().any(|k| w.eq_ignore_ascii_case(k)),
        // `(SELECT …) UNION (SELECT …)`
        Token::Punct(b'(') => true,
        _ => false,
    };
    if !starts_read || has_primary_hint(sql) {
        return false;
    }
    let mut ended = false;
    for t in lexer {
        if ended {
            // More than one statement.
            return false;
        }
        match t {
            Token::Semicolon => ended = true,
            Token::UserVar(_) => return false,
            Token::SysVar(v) => {
                let name = v.rsplit('.').next().unwrap_or(v);
                if WRITE_SYSVARS.iter().any(|k| name.eq_ignore_ascii_case(k)) {
                    return false;
                }
            }
            Token::Word(w) if WRITE_WORDS.iter().any(|k| w.eq_ignore_ascii_case(k)) => {
                return false;
            }
            _ => {}
        }
    }
    true
}

/// Whether a `/* … */` comment of `sql` says [`PRIMARY_HINT`].
pub fn has_primary_hint(sql: &str) -> bool {
    let mut rest = sql;
    while let Some(start) = rest.find("/*") {
        let body = &rest[start + 2..];
        let Some(end) = body.find("*/") else {
            return false;
        };
        let mut hint = body[..end].chars().filter(|c| !c.is_whitespace());
        if PRIMARY_HINT
            .chars()
            .all(|h| hint.next().is_some_and(|c| c.eq_ignore_ascii_case(&h)))
            && hint.next().is_none()
        {
            return true;
        }
        rest = &body[end + 2..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::{has_primary_hint, may_read_from_replica};

    #[test]
    fn plain_reads_may_go_to_replicas() {
        for sql in [
            "SELECT @@server_id",
            "select * from t where id = 1",
            "SELECT a FROM t ORDER BY a LIMIT 3;",
            "SHOW TABLES",
            "show slave status",
            "DESCRIBE t",
            "(SELECT 1) UNION (SELECT 2)",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "SELECT 'FOR UPDATE' AS s",
            "SELECT /* a comment */ 1",
            "SELECT @@session.sql_mode",
        ] {
            assert!(may_read_from_replica(sql), "{sql}");
        }
    }

    #[test]
    fn locking_side_effects_and_hints_stay_on_the_write_host() {
        for sql in [
            "SELECT * FROM t WHERE id = 1 FOR UPDATE",
            "SELECT * FROM t LOCK IN SHARE MODE",
            "SELECT * FROM t FOR SHARE",
            "SELECT GET_LOCK('a', 1)",
            "select release_lock('a')",
            "SELECT LAST_INSERT_ID()",
            "SELECT @@last_insert_id",
            "SELECT @x := 1",
            "SELECT @x",
            "SELECT a INTO @v FROM t",
            "SELECT * FROM t INTO OUTFILE '/tmp/x'",
            "SELECT NEXTVAL(s)",
            "SELECT NEXT VALUE FOR s",
            "SELECT SQL_CALC_FOUND_ROWS * FROM t",
            "SELECT FOUND_ROWS()",
            "SELECT SLEEP(1)",
            "SELECT 1; SELECT 2",
            "/* myshard: primary */ SELECT 1",
            "SELECT /*MYSHARD:PRIMARY*/ 1",
            "INSERT INTO t VALUES (1)",
            "UPDATE t SET a = 1",
            "DELETE FROM t",
            "CALL p()",
            "",
        ] {
            assert!(!may_read_from_replica(sql), "{sql}");
        }
    }

    #[test]
    fn the_hint_is_a_whole_comment() {
        assert!(has_primary_hint("SELECT /* myshard : primary */ 1"));
        assert!(!has_primary_hint("SELECT /* myshard: primary please */ 1"));
        assert!(!has_primary_hint("SELECT /* myshard: primary 1"));
        assert!(!has_primary_hint("SELECT 1 -- myshard: primary"));
    }
}
