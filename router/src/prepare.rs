//! SQL-level prepared statements (`PREPARE name FROM …`, `EXECUTE name [USING …]`,
//! `EXECUTE IMMEDIATE …`, `DEALLOCATE | DROP PREPARE name`): recognising them, and binding
//! a prepared text's `?` placeholders to literal values so that the router plans the
//! statement with the values it will run with. Pure: reading the values of user variables
//! is the proxy's job.

use crate::compat::unescape;
use crate::lexer::{Lexer, Token};

/// Where a `PREPARE` takes its statement text from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A string literal, unescaped.
    Text(String),
    /// A user variable (`PREPARE s FROM @sql`), by name without the `@`.
    Variable(String),
    /// Any other expression (`PREPARE s FROM CONCAT('SELECT ', @c)`), as written: its
    /// value is the text, which only the server can compute.
    Expression(String),
}

/// One argument of `EXECUTE … USING`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Argument {
    /// `@name`: a user variable, by name without the `@` (quotes removed).
    Variable(String),
    /// A literal as written (number, string, `NULL`, `TRUE`, `FALSE`).
    Literal(String),
}

/// A SQL-level prepared statement command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlPrepare {
    /// `PREPARE name FROM source`.
    Prepare {
        /// Statement name, lower-cased (names are case-insensitive).
        name: String,
        /// The statement text.
        source: Source,
    },
    /// `EXECUTE name [USING args]`.
    Execute {
        /// Statement name, lower-cased.
        name: String,
        /// The `USING` arguments in order.
        args: Vec<Argument>,
    },
    /// `EXECUTE IMMEDIATE source [USING args]`.
    Immediate {
        /// The statement text.
        source: Source,
        /// The `USING` arguments in order.
        args: Vec<Argument>,
    },
    /// `DEALLOCATE PREPARE name` / `DROP PREPARE name`.
    Deallocate {
        /// Statement name, lower-cased.
        name: String,
    },
}

/// Recognises a SQL prepared-statement command. `None` for any other statement, and for
/// forms this module does not understand (an expression as source or argument): the
/// caller decides whether those may pass.
pub fn parse(sql: &str) -> Option<SqlPrepare> {
    let mut lx = Lexer::new(sql);
    let first = word(lx.next()?)?;
    let out = if first.eq_ignore_ascii_case("PREPARE") {
        let name = name(lx.next()?)?;
        if !word(lx.next()?)?.eq_ignore_ascii_case("FROM") {
            return None;
        }
        SqlPrepare::Prepare {
            name,
            source: source_from(&mut lx, sql, false)?,
        }
    } else if first.eq_ignore_ascii_case("EXECUTE") {
        let mut ahead = lx.clone();
        let t = ahead.next()?;
        if word(t).is_some_and(|w| w.eq_ignore_ascii_case("IMMEDIATE"))
            && let Some(s) = source_from(&mut ahead, sql, true)
        {
            lx = ahead;
            SqlPrepare::Immediate {
                source: s,
                args: arguments(&mut lx)?,
            }
        } else {
            let name = name(lx.next()?)?;
            SqlPrepare::Execute {
                name,
                args: arguments(&mut lx)?,
            }
        }
    } else if first.eq_ignore_ascii_case("DEALLOCATE") || first.eq_ignore_ascii_case("DROP") {
        if !word(lx.next()?)?.eq_ignore_ascii_case("PREPARE") {
            return None;
        }
        SqlPrepare::Deallocate {
            name: name(lx.next()?)?,
        }
    } else {
        return None;
    };
    end(&mut lx).then_some(out)
}

/// Whether `sql` starts like a SQL prepared-statement command (`PREPARE`, `EXECUTE`,
/// `DEALLOCATE PREPARE`, `DROP PREPARE`), whether or not [`parse`] understands it.
pub fn is_prepare_command(sql: &str) -> bool {
    let mut lx = Lexer::new(sql);
    let Some(Token::Word(w)) = lx.next() else {
        return false;
    };
    let is = |k: &str| w.eq_ignore_ascii_case(k);
    is("PREPARE")
        || is("EXECUTE")
        || is("DEALLOCATE")
        || (is("DROP")
            && matches!(lx.next(), Some(Token::Word(p)) if p.eq_ignore_ascii_case("PREPARE")))
}

/// The number of `?` placeholders in a statement text.
pub fn placeholder_count(text: &str) -> usize {
    Lexer::new(text)
        .filter(|t| *t == Token::Placeholder)
        .count()
}

/// `text` with its `?` placeholders replaced, in order, by `literals` (each an SQL
/// literal); `None` when the counts differ.
pub fn bind(text: &str, literals: &[String]) -> Option<String> {
    let mut lx = Lexer::new(text);
    let mut out =
        String::with_capacity(text.len() + literals.iter().map(String::len).sum::<usize>());
    let mut at = 0;
    let mut values = literals.iter();
    while let Some(t) = lx.next() {
        if t == Token::Placeholder {
            let end = lx.offset();
            let start = end.checked_sub(1)?;
            out.push_str(text.get(at..start)?);
            // Spaces keep a literal from fusing with neighbouring tokens (`-?` → `- -1`).
            out.push(' ');
            out.push_str(values.next()?);
            out.push(' ');
            at = end;
        }
    }
    if values.next().is_some() {
        return None;
    }
    out.push_str(text.get(at..)?);
    Some(out)
}

fn word(t: Token<'_>) -> Option<&str> {
    match t {
        Token::Word(w) => Some(w),
        _ => None,
    }
}

fn name(t: Token<'_>) -> Option<String> {
    match t {
        Token::Word(w) => Some(w.to_ascii_lowercase()),
        Token::QuotedIdent(q) => Some(q.replace("``", "`").to_ascii_lowercase()),
        _ => None,
    }
}

fn source(t: Token<'_>) -> Option<Source> {
    match t {
        Token::Str(s) => Some(Source::Text(unescape(s))),
        Token::UserVar(v) => Some(Source::Variable(var_name(v))),
        _ => None,
    }
}

/// The statement text source after `FROM` (`immediate`: after `EXECUTE IMMEDIATE`, where
/// `USING` may follow): a string literal or a user variable alone, or else the expression
/// up to `USING` or `;` outside parentheses (or the end). `lx` is left before what follows.
fn source_from(lx: &mut Lexer<'_>, sql: &str, immediate: bool) -> Option<Source> {
    let is_using =
        |t: &Token<'_>| immediate && word(*t).is_some_and(|w| w.eq_ignore_ascii_case("USING"));
    let start = lx.offset();
    let mut ahead = lx.clone();
    let first = ahead.next()?;
    let mut after = ahead.clone();
    let alone = match after.next() {
        None | Some(Token::Semicolon) => true,
        Some(t) => is_using(&t),
    };
    if alone && let Some(s) = source(first) {
        *lx = ahead;
        return Some(s);
    }
    let mut depth = 0usize;
    loop {
        let before = lx.clone();
        match lx.next() {
            None => break,
            Some(Token::Punct(b'(')) => depth += 1,
            Some(Token::Punct(b')')) => depth = depth.saturating_sub(1),
            Some(t) if depth == 0 && (t == Token::Semicolon || is_using(&t)) => {
                *lx = before;
                break;
            }
            Some(_) => {}
        }
    }
    let text = sql.get(start..lx.offset())?.trim();
    (!text.is_empty()).then(|| Source::Expression(text.to_string()))
}

/// A user variable's name from its token (`@a`, `@'a'`, `` @`a` ``), lower-cased (user
/// variable names are case-insensitive).
fn var_name(v: &str) -> String {
    let v = v.strip_prefix('@').unwrap_or(v);
    let unquoted = match v.chars().next() {
        Some(q @ ('\'' | '"' | '`')) => v
            .strip_prefix(q)
            .and_then(|s| s.strip_suffix(q))
            .unwrap_or(v),
        _ => v,
    };
    unquoted.to_ascii_lowercase()
}

/// `[USING arg {, arg}]`.
fn arguments(lx: &mut Lexer<'_>) -> Option<Vec<Argument>> {
    let mut ahead = lx.clone();
    match ahead.next() {
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("USING") => *lx = ahead,
        _ => return Some(Vec::new()),
    }
    let mut args = Vec::new();
    loop {
        let arg = match lx.next()? {
            Token::UserVar(v) => Argument::Variable(var_name(v)),
            Token::Number(n) => Argument::Literal(n.to_string()),
            Token::Str(s) => Argument::Literal(s.to_string()),
            Token::Word(w)
                if ["NULL", "TRUE", "FALSE"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                Argument::Literal(w.to_string())
            }
            Token::Punct(b'-') => match lx.next()? {
                Token::Number(n) => Argument::Literal(format!("-{n}")),
                _ => return None,
            },
            _ => return None,
        };
        args.push(arg);
        let mut ahead = lx.clone();
        match ahead.next() {
            Some(Token::Punct(b',')) => *lx = ahead,
            _ => return Some(args),
        }
    }
}

/// Nothing but an optional `;` follows.
fn end(lx: &mut Lexer<'_>) -> bool {
    match lx.next() {
        None => true,
        Some(Token::Semicolon) => lx.next().is_none(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_commands() {
        assert_eq!(
            parse("PREPARE S1 FROM 'SELECT * FROM t WHERE id = ?'"),
            Some(SqlPrepare::Prepare {
                name: "s1".into(),
                source: Source::Text("SELECT * FROM t WHERE id = ?".into()),
            })
        );
        assert_eq!(
            parse("prepare `my s` from @Q;"),
            Some(SqlPrepare::Prepare {
                name: "my s".into(),
                source: Source::Variable("q".into()),
            })
        );
        assert_eq!(
            parse("EXECUTE s USING @a, @'B', 5, -2.5, 'x', NULL"),
            Some(SqlPrepare::Execute {
                name: "s".into(),
                args: vec![
                    Argument::Variable("a".into()),
                    Argument::Variable("b".into()),
                    Argument::Literal("5".into()),
                    Argument::Literal("-2.5".into()),
                    Argument::Literal("'x'".into()),
                    Argument::Literal("NULL".into()),
                ],
            })
        );
        assert_eq!(
            parse("EXECUTE s"),
            Some(SqlPrepare::Execute {
                name: "s".into(),
                args: vec![],
            })
        );
        assert_eq!(
            parse("EXECUTE IMMEDIATE 'SELECT ?' USING 1"),
            Some(SqlPrepare::Immediate {
                source: Source::Text("SELECT ?".into()),
                args: vec![Argument::Literal("1".into())],
            })
        );
        assert_eq!(
            parse("DEALLOCATE PREPARE s"),
            Some(SqlPrepare::Deallocate { name: "s".into() })
        );
        assert_eq!(
            parse("drop prepare S"),
            Some(SqlPrepare::Deallocate { name: "s".into() })
        );
        // Forms not understood: the caller decides.
        assert_eq!(parse("EXECUTE s USING @a + 1"), None);
        assert_eq!(
            parse("PREPARE s FROM CONCAT('SELECT ', 1);"),
            Some(SqlPrepare::Prepare {
                name: "s".into(),
                source: Source::Expression("CONCAT('SELECT ', 1)".into()),
            })
        );
        assert_eq!(
            parse("PREPARE s FROM @a || 'x'"),
            Some(SqlPrepare::Prepare {
                name: "s".into(),
                source: Source::Expression("@a || 'x'".into()),
            })
        );
        assert_eq!(
            parse("EXECUTE IMMEDIATE CONCAT('SELECT ', CONVERT(? USING utf8mb4)) USING 1"),
            Some(SqlPrepare::Immediate {
                source: Source::Expression("CONCAT('SELECT ', CONVERT(? USING utf8mb4))".into()),
                args: vec![Argument::Literal("1".into())],
            })
        );
        assert_eq!(parse("PREPARE s FROM CONCAT('a'); SELECT 1"), None);
        assert_eq!(parse("PREPARE s FROM"), None);
        assert_eq!(parse("EXECUTE s; SELECT 1"), None);
        assert!(is_prepare_command("EXECUTE s USING @a + 1"));
        assert!(is_prepare_command("drop PREPARE s"));
        assert!(!is_prepare_command("DROP TABLE s"));
        assert!(!is_prepare_command("SELECT 1"));
    }

    #[test]
    fn binds_placeholders_outside_strings_and_comments() {
        let text = "SELECT '?', `?` FROM t /* ? */ WHERE a = ? AND b BETWEEN ? AND-?";
        assert_eq!(placeholder_count(text), 3);
        let lits = ["1".to_string(), "'x'".to_string(), "-2".to_string()];
        assert_eq!(
            bind(text, &lits).as_deref(),
            Some("SELECT '?', `?` FROM t /* ? */ WHERE a =  1  AND b BETWEEN  'x'  AND- -2 ")
        );
        assert_eq!(bind(text, &lits[..2]), None);
        assert_eq!(bind("SELECT 1", &lits[..1]), None);
        assert_eq!(bind("SELECT 1", &[]).as_deref(), Some("SELECT 1"));
    }
}
