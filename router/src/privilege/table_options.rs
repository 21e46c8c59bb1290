//! Table options that reach beyond the user's schemas: storage engines that connect to
//! other servers or read and write files (`ENGINE=CONNECT`, `FEDERATED`, `SPIDER`), the
//! `CONNECTION=` string those engines follow, and `DATA DIRECTORY` / `INDEX DIRECTORY`,
//! which put a table's files anywhere the backend's account may write. The backends run
//! them with the proxy's account, so only administrators may use them: in `CREATE TABLE`,
//! `ALTER TABLE` (partition definitions included) and as the session's default engine
//! (`SET default_storage_engine = CONNECT`, which a plain `CREATE TABLE` would then use).
//!
//! The check reads tokens of the text after executable comments are resolved, so
//! `/*!ENGINE=CONNECT*/` is seen as the server runs it.

use super::{is, needs, word};
use crate::lexer::Token;
use crate::shard::plan::RouteError;

/// Engines that reach other servers or the file system.
const OUTWARD_ENGINES: &[&str] = &["CONNECT", "FEDERATED", "FEDERATEDX", "SPIDER"];

/// Session variables naming the engine of tables created without `ENGINE=`.
const ENGINE_VARIABLES: &[&str] = &[
    "default_storage_engine",
    "storage_engine",
    "default_tmp_storage_engine",
];

/// An engine name as written: a word, a back-quoted name or a string.
fn engine_name<'a>(t: Option<&Token<'a>>) -> Option<&'a str> {
    match t? {
        Token::Word(w) | Token::QuotedIdent(w) => Some(w),
        Token::Str(s) => s.get(1..s.len().checked_sub(1)?),
        _ => None,
    }
}

fn outward(name: &str) -> Option<&'static str> {
    OUTWARD_ENGINES
        .iter()
        .find(|e| e.eq_ignore_ascii_case(name))
        .copied()
}

/// The value after `i` (`name [=] value`), skipping the optional `=`.
fn value_at(t: &[Token<'_>], i: usize) -> usize {
    if t.get(i + 1) == Some(&Token::Punct(b'=')) {
        i + 2
    } else {
        i + 1
    }
}

/// Refuses, for non-administrators, `CREATE|ALTER … ENGINE [=] <outward engine>`,
/// `CONNECTION [=] '…'`, `DATA|INDEX DIRECTORY [=] '…'`, and `SET` of the default engine
/// to an outward one.
pub(super) fn check(verb: &str, t: &[Token<'_>]) -> Result<(), RouteError> {
    match verb {
        "CREATE" | "ALTER" => {
            for (i, x) in t.iter().enumerate() {
                if is(Some(x), "ENGINE")
                    && let Some(e) = engine_name(t.get(value_at(t, i))).and_then(outward)
                {
                    return Err(refused(&format!(
                        "ENGINE={e} reaches other servers or server files"
                    )));
                }
                if (is(Some(x), "DATA") || is(Some(x), "INDEX"))
                    && is(t.get(i + 1), "DIRECTORY")
                    && matches!(t.get(value_at(t, i + 1)), Some(Token::Str(_)))
                {
                    let kind = word(Some(x)).unwrap_or("DATA").to_ascii_uppercase();
                    return Err(refused(&format!(
                        "{kind} DIRECTORY puts table files outside the server's data directory"
                    )));
                }
                // `CONNECTION = '…'` / `CONNECTION '…'` as a table option (a string follows).
                if is(Some(x), "CONNECTION") && matches!(t.get(value_at(t, i)), Some(Token::Str(_)))
                {
                    return Err(refused(
                        "CONNECTION= names another server for a FEDERATED, CONNECT or SPIDER table",
                    ));
                }
            }
        }
        "SET" => {
            for (i, x) in t.iter().enumerate() {
                let variable = match x {
                    Token::Word(w) => Some(*w),
                    // `@@default_storage_engine`, `@@session.default_storage_engine`.
                    Token::SysVar(v) => Some(v.rsplit('.').next().unwrap_or(v)),
                    _ => None,
                };
                let Some(variable) = variable else { continue };
                if !ENGINE_VARIABLES
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(variable))
                {
                    continue;
                }
                let at = match t.get(i + 1) {
                    Some(Token::Punct(b'=')) => i + 2,
                    // `:=`
                    Some(Token::Punct(b':')) if t.get(i + 2) == Some(&Token::Punct(b'=')) => i + 3,
                    _ => continue,
                };
                if let Some(e) = engine_name(t.get(at)).and_then(outward) {
                    return Err(refused(&format!(
                        "{variable} = {e}: ENGINE={e} reaches other servers or server files"
                    )));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn refused(what: &str) -> RouteError {
    needs("SUPER", what)
}

#[cfg(test)]
mod tests {
    use super::check;
    use crate::lexer::{Lexer, Token};

    fn run(sql: &str) -> Result<(), u16> {
        let t: Vec<Token<'_>> = Lexer::new(sql).collect();
        let verb = match t.first() {
            Some(Token::Word(w)) => w.to_ascii_uppercase(),
            _ => String::new(),
        };
        check(&verb, &t).map_err(|e| e.code)
    }

    #[test]
    fn outward_engines_and_directories_are_refused() {
        for sql in [
            "CREATE TABLE x (a INT) ENGINE=CONNECT TABLE_TYPE=MYSQL CONNECTION='mysql://u@h/db/t'",
            "CREATE TABLE x (a INT) ENGINE = federated",
            "CREATE TABLE x (a INT) engine `Spider`",
            "CREATE TABLE x (a INT) ENGINE='CONNECT' table_type=CSV file_name='/etc/passwd'",
            "CREATE OR REPLACE TEMPORARY TABLE x ENGINE=FEDERATEDX AS SELECT 1",
            "ALTER TABLE t ENGINE=CONNECT",
            "ALTER TABLE t CONNECTION = 'mysql://u@h/db/t'",
            "CREATE TABLE x (a INT) DATA DIRECTORY = '/tmp'",
            "CREATE TABLE x (a INT) INDEX DIRECTORY '/tmp'",
            "CREATE TABLE x (a INT) PARTITION BY HASH (a) (PARTITION p0 DATA DIRECTORY='/tmp')",
            "SET default_storage_engine = CONNECT",
            "SET SESSION storage_engine = 'federated'",
            "SET @@session.default_tmp_storage_engine := CONNECT",
            "SET @@default_storage_engine = SPIDER",
        ] {
            assert_eq!(run(sql), Err(1227), "{sql}");
        }
    }

    #[test]
    fn ordinary_tables_pass() {
        for sql in [
            "CREATE TABLE x (engine VARCHAR(10), data INT, connection INT) ENGINE=InnoDB",
            "CREATE TABLE x (a INT) ENGINE=Aria",
            "ALTER TABLE t ENGINE = InnoDB",
            "SET default_storage_engine = InnoDB",
            "SET @connect = 1",
            "CREATE INDEX directory ON t (a)",
            "SELECT * FROM t WHERE engine = 'CONNECT'",
        ] {
            assert_eq!(run(sql), Ok(()), "{sql}");
        }
    }
}
