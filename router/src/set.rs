//! Parsing `SET` statements into the session-state items the proxy tracks and replays on
//! whichever backend connection serves the session next.
//!
//! Grammar handled: `SET [GLOBAL|SESSION|LOCAL|PERSIST|PERSIST_ONLY] item [, item …]` where
//! an item is `NAMES cs [COLLATE c]`, `CHARACTER SET cs`, `CHARSET cs`,
//! `[@@[session.|local.|global.]]name {=|:=} expr`, `@user = expr`, or
//! `[SESSION] TRANSACTION characteristics`.

use crate::lexer::{Lexer, Token};

/// One tracked piece of session state set by a `SET` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetItem {
    /// Identity of the state: a lower-case variable name, or `names` / `transaction`.
    pub key: String,
    /// The item as it is replayed after `SET ` (e.g. `sql_mode = 'ANSI'`).
    pub sql: String,
    /// The value is an expression, not a literal: its result must be read back from the
    /// backend (`SELECT @@session.key`) before the item can be replayed elsewhere.
    pub needs_resolution: bool,
}

/// Keys that alias one another: setting one changes the others.
pub const CHARSET_KEYS: &[&str] = &[
    "names",
    "character set",
    "character_set_client",
    "character_set_connection",
    "character_set_results",
    "collation_connection",
];

/// Parses a `SET` statement (the lexer positioned at `SET`). Returns the session items and,
/// if some part cannot be tracked, the reason the session must be pinned.
pub fn parse_set(mut lexer: Lexer<'_>) -> (Vec<SetItem>, Option<&'static str>) {
    let src_lexer = lexer.clone();
    let _ = src_lexer;
    lexer.next(); // SET
    let tokens: Vec<Token<'_>> = lexer.collect();
    let mut items = Vec::new();
    let mut pin = None;
    let mut default_scope = Scope::Session;
    let mut i = 0;
    // A statement-level scope word applies to every item that has none of its own.
    if let Some(s) = tokens.first().and_then(scope_word) {
        default_scope = s;
        i = 1;
    }
    while i < tokens.len() {
        let end = item_end(&tokens, i);
        let item = &tokens[i..end];
        match parse_item(item, default_scope, i == 0) {
            Parsed::Item(it) => items.push(it),
            Parsed::Global => {}
            Parsed::Pin(reason) => {
                pin.get_or_insert(reason);
            }
        }
        i = end + 1;
    }
    (items, pin)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Session,
    Global,
}

enum Parsed {
    Item(SetItem),
    Global,
    Pin(&'static str),
}

fn scope_word(t: &Token<'_>) -> Option<Scope> {
    let Token::Word(w) = t else { return None };
    match w.to_ascii_uppercase().as_str() {
        "SESSION" | "LOCAL" => Some(Scope::Session),
        "GLOBAL" | "PERSIST" | "PERSIST_ONLY" => Some(Scope::Global),
        _ => None,
    }
}

/// End (exclusive) of the item starting at `start`: the next comma outside parentheses,
/// except that `TRANSACTION` characteristics run to the end of the statement.
fn item_end(tokens: &[Token<'_>], start: usize) -> usize {
    let mut depth = 0i32;
    let is_transaction = tokens[start..]
        .iter()
        .take(2)
        .any(|t| matches!(t, Token::Word(w) if w.eq_ignore_ascii_case("TRANSACTION")));
    for (j, t) in tokens.iter().enumerate().skip(start) {
        match t {
            Token::Punct(b'(') => depth += 1,
            Token::Punct(b')') => depth -= 1,
            Token::Punct(b',') if depth == 0 && !is_transaction => return j,
            Token::Semicolon => return j,
            _ => {}
        }
    }
    tokens.len()
}

fn parse_item(item: &[Token<'_>], default_scope: Scope, statement_start: bool) -> Parsed {
    let (scope, rest) = match item.first().and_then(scope_word) {
        Some(s) => (s, &item[1..]),
        None => (default_scope, item),
    };
    let Some(head) = rest.first() else {
        return Parsed::Pin("unrecognised SET");
    };
    match head {
        Token::UserVar(_) => Parsed::Pin("user variables"),
        Token::SysVar(name) => {
            let lower = name.to_ascii_lowercase();
            if let Some(n) = lower.strip_prefix("global.") {
                let _ = n;
                return Parsed::Global;
            }
            let n = lower
                .strip_prefix("session.")
                .or_else(|| lower.strip_prefix("local."))
                .unwrap_or(&lower)
                .to_string();
            if scope == Scope::Global {
                return Parsed::Global;
            }
            assignment(n, &rest[1..])
        }
        Token::Word(w) => {
            let upper = w.to_ascii_uppercase();
            match upper.as_str() {
                "TRANSACTION" => {
                    if scope == Scope::Global {
                        Parsed::Global
                    } else if item.len() == rest.len() && statement_start {
                        // `SET TRANSACTION …` without a scope affects only the next
                        // transaction, on this connection.
                        Parsed::Pin("SET TRANSACTION for the next transaction")
                    } else {
                        Parsed::Item(SetItem {
                            key: "transaction".into(),
                            sql: format!("SESSION {}", join(rest)),
                            needs_resolution: false,
                        })
                    }
                }
                "NAMES" => Parsed::Item(SetItem {
                    key: "names".into(),
                    sql: join(rest),
                    needs_resolution: false,
                }),
                "CHARSET" | "CHARACTER" => Parsed::Item(SetItem {
                    key: "character set".into(),
                    sql: join(rest),
                    needs_resolution: false,
                }),
                _ if scope == Scope::Global => Parsed::Global,
                _ => assignment(w.to_ascii_lowercase(), &rest[1..]),
            }
        }
        Token::QuotedIdent(q) if scope == Scope::Session => {
            assignment(q.to_ascii_lowercase(), &rest[1..])
        }
        Token::QuotedIdent(_) => Parsed::Global,
        _ => Parsed::Pin("unrecognised SET"),
    }
}

fn assignment(name: String, after_name: &[Token<'_>]) -> Parsed {
    let value = match after_name {
        [Token::Punct(b'='), v @ ..] | [Token::Punct(b':'), Token::Punct(b'='), v @ ..] => v,
        _ => return Parsed::Pin("unrecognised SET"),
    };
    if value.is_empty() {
        return Parsed::Pin("unrecognised SET");
    }
    let literal = matches!(
        value,
        [Token::Str(_) | Token::Number(_) | Token::Word(_)]
            | [Token::Punct(b'-'), Token::Number(_)]
    );
    Parsed::Item(SetItem {
        sql: format!("{name} = {}", join(value)),
        key: name,
        needs_resolution: !literal,
    })
}

/// Re-joins tokens with single spaces; string and identifier tokens keep their exact text.
fn join(tokens: &[Token<'_>]) -> String {
    let mut s = String::new();
    for t in tokens {
        if !s.is_empty() {
            s.push(' ');
        }
        match t {
            Token::Word(w) | Token::Str(w) | Token::Number(w) => s.push_str(w),
            Token::QuotedIdent(q) => {
                s.push('`');
                s.push_str(q);
                s.push('`');
            }
            Token::UserVar(v) => {
                s.push('@');
                s.push_str(v);
            }
            Token::SysVar(v) => {
                s.push_str("@@");
                s.push_str(v);
            }
            Token::Semicolon => s.push(';'),
            Token::Placeholder => s.push('?'),
            Token::Punct(c) => s.push(char::from(*c)),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(sql: &str) -> (Vec<(String, String, bool)>, Option<&'static str>) {
        let (items, pin) = parse_set(Lexer::new(sql));
        (
            items
                .into_iter()
                .map(|i| (i.key, i.sql, i.needs_resolution))
                .collect(),
            pin,
        )
    }

    fn item(k: &str, s: &str, r: bool) -> (String, String, bool) {
        (k.into(), s.into(), r)
    }

    #[test]
    fn tracked_items() {
        assert_eq!(
            set("SET autocommit=0"),
            (vec![item("autocommit", "autocommit = 0", false)], None)
        );
        assert_eq!(
            set("set @@session.sql_mode = 'ANSI', time_zone='+00:00'"),
            (
                vec![
                    item("sql_mode", "sql_mode = 'ANSI'", false),
                    item("time_zone", "time_zone = '+00:00'", false)
                ],
                None
            )
        );
        assert_eq!(
            set("SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci"),
            (
                vec![item(
                    "names",
                    "NAMES utf8mb4 COLLATE utf8mb4_unicode_ci",
                    false
                )],
                None
            )
        );
        assert_eq!(
            set("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED, READ ONLY"),
            (
                vec![item(
                    "transaction",
                    "SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED , READ ONLY",
                    false
                )],
                None
            )
        );
        assert_eq!(
            set("SET sql_mode = CONCAT(@@sql_mode, ',STRICT_TRANS_TABLES'), autocommit = -1"),
            (
                vec![
                    item(
                        "sql_mode",
                        "sql_mode = CONCAT ( @@sql_mode , ',STRICT_TRANS_TABLES' )",
                        true
                    ),
                    item("autocommit", "autocommit = - 1", false)
                ],
                None
            )
        );
    }

    #[test]
    fn global_and_pins() {
        assert_eq!(set("SET GLOBAL max_connections = 10"), (vec![], None));
        assert_eq!(
            set("SET @@global.x = 1, y = 2").0,
            vec![item("y", "y = 2", false)]
        );
        assert_eq!(set("SET @a = 1").1, Some("user variables"));
        assert_eq!(
            set("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE").1,
            Some("SET TRANSACTION for the next transaction")
        );
        assert_eq!(set("SET x").1, Some("unrecognised SET"));
    }
}
