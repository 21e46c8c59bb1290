//! Statement classification for session handling: what a statement does to the
//! connection's session state, whether the proxy answers it itself, and whether it
//! creates state that only the backend connection that ran it holds (which pins the
//! client to that connection).

use crate::lexer::{Lexer, Token};
use crate::set::{SetItem, parse_set};

/// What the proxy must do about one COM_QUERY text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// The statement's kind.
    pub kind: Kind,
    /// Why the session must stay on its current backend connection from now on, if it must.
    pub pin: Option<&'static str>,
    /// The statement reads `LAST_INSERT_ID()`, so the backend connection must first be told
    /// the session's last insert id.
    pub reads_last_insert_id: bool,
    /// The text holds more than one statement.
    pub multi: bool,
}

/// Statement kinds the proxy treats specially; everything else is `Other`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `USE db`.
    Use(String),
    /// `SET …` of session state; items the proxy tracks and replays.
    Set(Vec<SetItem>),
    /// `KILL [CONNECTION | QUERY] id`.
    Kill {
        /// `KILL QUERY`: stop the statement, keep the connection.
        query: bool,
        /// Proxy connection id.
        id: u64,
    },
    /// Exactly `SELECT CONNECTION_ID() [[AS] alias]`: answered by the proxy with the
    /// client's proxy connection id (the id `KILL` takes), not a backend thread id.
    ConnectionId {
        /// The result column's name (the alias, or `CONNECTION_ID()` as written).
        column: String,
    },
    /// Exactly `SELECT DATABASE()` or `SELECT SCHEMA()` `[[AS] alias]`: answered by the
    /// proxy with the session's logical schema, never a shard's physical database.
    CurrentDatabase {
        /// The result column's name (the alias, or the function call as written).
        column: String,
    },
    /// `BEGIN [WORK]` or `START TRANSACTION [characteristics]`.
    Begin,
    /// `COMMIT [WORK]`.
    Commit,
    /// `ROLLBACK [WORK]` (not `ROLLBACK TO SAVEPOINT`).
    Rollback,
    /// `EXPLAIN ROUTE <statement>`: the proxy shows where the statement would go.
    ExplainRoute {
        /// Byte offset of the explained statement in the text.
        offset: usize,
    },
    /// Any other statement.
    Other,
}

/// Classifies a COM_QUERY text.
pub fn classify(sql: &str) -> Classified {
    let mut lexer = Lexer::new(sql);
    let first = lexer.clone().next();
    let mut out = Classified {
        kind: Kind::Other,
        pin: None,
        reads_last_insert_id: false,
        multi: false,
    };
    if let Some(Token::Word(w)) = first {
        if w.eq_ignore_ascii_case("USE") {
            out.kind = use_target(lexer.clone()).map_or(Kind::Other, Kind::Use);
        } else if w.eq_ignore_ascii_case("SET") {
            let (items, pin) = parse_set(lexer.clone());
            out.pin = pin;
            out.kind = Kind::Set(items);
        } else if w.eq_ignore_ascii_case("KILL") {
            if let Some(k) = kill_target(lexer.clone()) {
                out.kind = k;
            }
        } else if w.eq_ignore_ascii_case("EXPLAIN")
            && let Some(offset) = explain_route(lexer.clone())
        {
            out.kind = Kind::ExplainRoute { offset };
            return out;
        } else if let Some(k) = transaction_control(w, lexer.clone()) {
            out.kind = k;
        } else if w.eq_ignore_ascii_case("SELECT") {
            if let Some(column) = connection_id_select(sql, lexer.clone()) {
                out.kind = Kind::ConnectionId { column };
            } else if let Some(column) = crate::compat::current_database_select(sql) {
                out.kind = Kind::CurrentDatabase { column };
            }
        } else {
            out.pin = pin_by_first_word(w, lexer.clone());
        }
    }
    scan(&mut lexer, &mut out);
    if out.multi && out.kind != Kind::Other {
        // Session changes inside multi-statement text are not tracked one by one: the
        // whole text goes to the backend and the session stays on that connection.
        out.kind = Kind::Other;
        out.pin = Some("session change inside a multi-statement");
    }
    out
}

fn scan(lexer: &mut Lexer<'_>, out: &mut Classified) {
    let mut prev: Option<Token<'_>> = None;
    let mut after_semicolon = false;
    let mut statement_start = true;
    while let Some(t) = lexer.next() {
        if after_semicolon {
            out.multi = true;
            after_semicolon = false;
        }
        match t {
            Token::Semicolon => {
                after_semicolon = true;
                statement_start = true;
                prev = Some(t);
                continue;
            }
            Token::UserVar(_) => {
                out.pin.get_or_insert("user variables");
            }
            Token::Word(w) => {
                if statement_start && out.multi {
                    if let Some(reason) = pin_by_first_word(w, lexer.clone()) {
                        out.pin.get_or_insert(reason);
                    }
                    if ["USE", "SET"].iter().any(|k| w.eq_ignore_ascii_case(k)) {
                        out.pin
                            .get_or_insert("session change inside a multi-statement");
                    }
                }
                if w.eq_ignore_ascii_case("SQL_CALC_FOUND_ROWS") {
                    out.pin.get_or_insert("SQL_CALC_FOUND_ROWS");
                } else if w.eq_ignore_ascii_case("TEMPORARY") && is_word(prev, "CREATE") {
                    out.pin.get_or_insert("temporary tables");
                } else if is_call(w, "GET_LOCK", lexer) {
                    out.pin.get_or_insert("GET_LOCK");
                } else if is_call(w, "LAST_INSERT_ID", lexer) {
                    let mut ahead = lexer.clone();
                    ahead.next();
                    if ahead.next() == Some(Token::Punct(b')')) {
                        out.reads_last_insert_id = true;
                    } else {
                        out.pin.get_or_insert("LAST_INSERT_ID(expr)");
                    }
                }
            }
            _ => {}
        }
        statement_start = false;
        prev = Some(t);
    }
}

fn is_word(t: Option<Token<'_>>, w: &str) -> bool {
    matches!(t, Some(Token::Word(x)) if x.eq_ignore_ascii_case(w))
}

fn is_call(w: &str, name: &str, lexer: &Lexer<'_>) -> bool {
    w.eq_ignore_ascii_case(name) && lexer.clone().next() == Some(Token::Punct(b'('))
}

/// Statements whose effect lives on the backend connection beyond the statement itself.
fn pin_by_first_word(w: &str, mut rest: Lexer<'_>) -> Option<&'static str> {
    let is = |k: &str| w.eq_ignore_ascii_case(k);
    if is("LOCK") {
        Some("LOCK TABLES")
    } else if is("PREPARE") || is("EXECUTE") || is("DEALLOCATE") {
        Some("SQL-level prepared statements")
    } else if is("HANDLER") {
        Some("HANDLER")
    } else if is("XA") {
        Some("XA transactions")
    } else if is("FLUSH") {
        rest.next();
        let lock = rest.any(|t| matches!(t, Token::Word(x) if x.eq_ignore_ascii_case("LOCK")));
        lock.then_some("FLUSH … WITH READ LOCK")
    } else {
        None
    }
}

fn use_target(mut lexer: Lexer<'_>) -> Option<String> {
    lexer.next();
    let name = match lexer.next()? {
        Token::Word(w) => w.to_string(),
        Token::QuotedIdent(q) => q.replace("``", "`"),
        _ => return None,
    };
    match lexer.next() {
        None | Some(Token::Semicolon) if lexer.next().is_none() => Some(name),
        _ => None,
    }
}

/// The column name of `SELECT CONNECTION_ID() [[AS] alias] [;]`, if that is the text.
fn connection_id_select(sql: &str, mut lexer: Lexer<'_>) -> Option<String> {
    lexer.next();
    let start = lexer.offset();
    let Some(Token::Word(f)) = lexer.next() else {
        return None;
    };
    if !f.eq_ignore_ascii_case("CONNECTION_ID")
        || lexer.next() != Some(Token::Punct(b'('))
        || lexer.next() != Some(Token::Punct(b')'))
    {
        return None;
    }
    // MariaDB names the column after the expression as written.
    let written = sql.get(start..lexer.offset())?.trim_start().to_string();
    let mut column = None;
    let mut t = lexer.next();
    if matches!(t, Some(Token::Word(w)) if w.eq_ignore_ascii_case("AS")) {
        t = lexer.next();
        t?;
    }
    match t {
        Some(Token::Word(w)) => {
            column = Some(w.to_string());
            t = lexer.next();
        }
        Some(Token::QuotedIdent(q)) => {
            column = Some(q.replace("``", "`"));
            t = lexer.next();
        }
        _ => {}
    }
    match t {
        None | Some(Token::Semicolon) if lexer.next().is_none() => Some(column.unwrap_or(written)),
        _ => None,
    }
}

/// `BEGIN [WORK]`, `START TRANSACTION …`, `COMMIT [WORK]`, `ROLLBACK [WORK]`; chained or
/// releasing forms and savepoints are not transaction boundaries the proxy handles.
fn transaction_control(first: &str, mut lexer: Lexer<'_>) -> Option<Kind> {
    // Checked first: every statement comes through here.
    let is = |k: &str| first.eq_ignore_ascii_case(k);
    if !(is("BEGIN") || is("START") || is("COMMIT") || is("ROLLBACK")) {
        return None;
    }
    lexer.next();
    let rest: Vec<Token<'_>> = lexer.take_while(|t| *t != Token::Semicolon).collect();
    let only_work = match rest.as_slice() {
        [] => true,
        [Token::Word(w)] => w.eq_ignore_ascii_case("WORK"),
        _ => false,
    };
    match first.to_ascii_uppercase().as_str() {
        "BEGIN" if only_work => Some(Kind::Begin),
        "START" if matches!(rest.first(), Some(Token::Word(w)) if w.eq_ignore_ascii_case("TRANSACTION")) => {
            Some(Kind::Begin)
        }
        "COMMIT" if only_work => Some(Kind::Commit),
        "ROLLBACK" if only_work => Some(Kind::Rollback),
        _ => None,
    }
}

/// The offset of the statement after `EXPLAIN ROUTE`.
fn explain_route(mut lexer: Lexer<'_>) -> Option<usize> {
    lexer.next();
    match lexer.next() {
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("ROUTE") => Some(lexer.offset()),
        _ => None,
    }
}

fn kill_target(mut lexer: Lexer<'_>) -> Option<Kind> {
    lexer.next();
    let mut query = false;
    let mut t = lexer.next()?;
    if let Token::Word(w) = t {
        if w.eq_ignore_ascii_case("QUERY") {
            query = true;
        } else if !w.eq_ignore_ascii_case("CONNECTION") {
            return None;
        }
        t = lexer.next()?;
    }
    let Token::Number(n) = t else { return None };
    let id = n.parse().ok()?;
    match lexer.next() {
        None | Some(Token::Semicolon) if lexer.next().is_none() => Some(Kind::Kill { query, id }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(classify("use shop").kind, Kind::Use("shop".into()));
        assert_eq!(classify("USE `my``db`;").kind, Kind::Use("my`db".into()));
        assert_eq!(
            classify("KILL QUERY 12").kind,
            Kind::Kill {
                query: true,
                id: 12
            }
        );
        assert_eq!(
            classify("kill connection 7").kind,
            Kind::Kill {
                query: false,
                id: 7
            }
        );
        assert_eq!(
            classify("kill 7").kind,
            Kind::Kill {
                query: false,
                id: 7
            }
        );
        let conn_id = |c: &str| Kind::ConnectionId { column: c.into() };
        assert_eq!(
            classify("SELECT CONNECTION_ID()").kind,
            conn_id("CONNECTION_ID()")
        );
        assert_eq!(
            classify("select connection_id() ;").kind,
            conn_id("connection_id()")
        );
        assert_eq!(classify("SELECT CONNECTION_ID() AS id").kind, conn_id("id"));
        assert_eq!(
            classify("SELECT CONNECTION_ID() `my id`").kind,
            conn_id("my id")
        );
        for other in [
            "SELECT CONNECTION_ID() + 1",
            "SELECT CONNECTION_ID(), 1",
            "SELECT CONNECTION_ID() FROM t",
            "SELECT CONNECTION_ID(); SELECT 1",
            "SELECT CONNECTION_ID() AS",
            "SELECT CONNECTION_ID",
        ] {
            assert_eq!(classify(other).kind, Kind::Other, "{other}");
        }
        assert_eq!(classify("SELECT 1").kind, Kind::Other);
        assert_eq!(classify("user_table_select").kind, Kind::Other);
    }

    #[test]
    fn explain_route() {
        let sql = "EXPLAIN ROUTE SELECT * FROM t WHERE k = 1";
        match classify(sql).kind {
            Kind::ExplainRoute { offset } => {
                assert_eq!(sql[offset..].trim(), "SELECT * FROM t WHERE k = 1")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(classify("EXPLAIN SELECT 1").kind, Kind::Other);
    }

    #[test]
    fn transaction_control_kinds() {
        for (sql, k) in [
            ("BEGIN", Kind::Begin),
            ("begin work;", Kind::Begin),
            ("START TRANSACTION READ ONLY", Kind::Begin),
            ("COMMIT", Kind::Commit),
            ("commit work", Kind::Commit),
            ("ROLLBACK", Kind::Rollback),
            ("ROLLBACK TO SAVEPOINT a", Kind::Other),
            ("COMMIT AND CHAIN", Kind::Other),
            ("BEGIN NOT ATOMIC SELECT 1; END", Kind::Other),
        ] {
            assert_eq!(classify(sql).kind, k, "{sql}");
        }
    }

    #[test]
    fn pins() {
        let cases = [
            ("SELECT @x", Some("user variables")),
            ("SELECT @@version", None),
            ("select 'a@b'", None),
            ("CREATE TEMPORARY TABLE t (a int)", Some("temporary tables")),
            ("select get_lock('a', 1)", Some("GET_LOCK")),
            ("LOCK TABLES t WRITE", Some("LOCK TABLES")),
            (
                "SELECT SQL_CALC_FOUND_ROWS * FROM t",
                Some("SQL_CALC_FOUND_ROWS"),
            ),
            (
                "PREPARE s FROM 'select 1'",
                Some("SQL-level prepared statements"),
            ),
            (
                "FLUSH TABLES WITH READ LOCK",
                Some("FLUSH … WITH READ LOCK"),
            ),
            ("FLUSH TABLES", None),
            ("SELECT LAST_INSERT_ID(5)", Some("LAST_INSERT_ID(expr)")),
            (
                "SELECT 1; USE x",
                Some("session change inside a multi-statement"),
            ),
            ("SELECT 1; LOCK TABLES t READ", Some("LOCK TABLES")),
        ];
        for (sql, want) in cases {
            assert_eq!(classify(sql).pin, want, "{sql}");
        }
    }

    #[test]
    fn last_insert_id_and_multi() {
        let c = classify("SELECT last_insert_id()");
        assert!(c.reads_last_insert_id && c.pin.is_none() && !c.multi);
        assert!(classify("select 1; select 2").multi);
        assert!(!classify("select 1;").multi);
        assert!(!classify("select 1; -- trailing").multi);
        assert!(!classify("select ';'").multi);
    }
}
