//! The commonest statement of a sharded schema, recognised without the SQL parser:
//! `SELECT columns FROM table WHERE key = integer` (sysbench's and most applications'
//! point read in the text protocol). Parsing and planning it the general way costs more
//! than relaying it; its plan is known from its tokens alone. Anything else — a function,
//! a parenthesis, a qualifier, another condition, a clause after the condition — is left to
//! the planner. A property test checks that this path and the planner agree.

use crate::lexer::{Lexer, Token};
use std::ops::Range;

/// A recognised point read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointSelect<'a> {
    /// The table name as written (unquoted; back-quoted names with a back-quote inside are
    /// not recognised).
    pub table: &'a str,
    /// Where the table name sits in the text (replaced by the shard's qualified name).
    pub table_range: Range<usize>,
    /// The key column as written.
    pub column: &'a str,
    /// The integer compared with it, as written (an optional `-` then digits).
    pub value: String,
}

/// Words that change what a select list means or where the statement runs.
const NOT_IN_SELECT_LIST: &[&str] = &[
    "INTO",
    "FROM",
    "SQL_CALC_FOUND_ROWS",
    "UNION",
    "FOR",
    "LOCK",
    "WHERE",
    "SELECT",
];

/// An identifier token: its text and whether it was back-quoted.
fn ident<'a>(t: Token<'a>) -> Option<(&'a str, bool)> {
    match t {
        Token::Word(w) => Some((w, false)),
        Token::QuotedIdent(q) if !q.contains('`') => Some((q, true)),
        _ => None,
    }
}

/// `sql` as a point read, if it has exactly that shape.
pub fn point_select(sql: &str) -> Option<PointSelect<'_>> {
    let mut lexer = Lexer::new(sql);
    match lexer.next()? {
        Token::Word(w) if w.eq_ignore_ascii_case("SELECT") => {}
        _ => return None,
    }
    // The select list: column names, `*`, aliases, commas; nothing else.
    let mut items = 0usize;
    loop {
        match lexer.next()? {
            Token::Word(w) if w.eq_ignore_ascii_case("FROM") => break,
            Token::Word(w) if NOT_IN_SELECT_LIST.iter().any(|k| w.eq_ignore_ascii_case(k)) => {
                return None;
            }
            Token::Word(_) | Token::Punct(b',') | Token::Punct(b'*') => items += 1,
            Token::QuotedIdent(q) if !q.contains('`') => items += 1,
            _ => return None,
        }
    }
    if items == 0 {
        return None;
    }
    let start_of_table = lexer.offset();
    let (table, quoted) = ident(lexer.next()?)?;
    let end_of_table = lexer.offset();
    // The token's exact place: after any whitespace or comment following FROM.
    let written = if quoted {
        format!("`{table}`")
    } else {
        table.to_string()
    };
    let at = start_of_table + sql[start_of_table..end_of_table].find(&written)?;
    let table_range = at..at + written.len();
    match lexer.next()? {
        Token::Word(w) if w.eq_ignore_ascii_case("WHERE") => {}
        _ => return None,
    }
    let (column, _) = ident(lexer.next()?)?;
    if lexer.next()? != Token::Punct(b'=') {
        return None;
    }
    let value = match lexer.next()? {
        Token::Number(n) => n.to_string(),
        Token::Punct(b'-') => match lexer.next()? {
            Token::Number(n) => format!("-{n}"),
            _ => return None,
        },
        _ => return None,
    };
    if !value
        .trim_start_matches('-')
        .bytes()
        .all(|b| b.is_ascii_digit())
        || value.len() > 20
    {
        return None;
    }
    match lexer.next() {
        None => {}
        Some(Token::Semicolon) if lexer.next().is_none() => {}
        _ => return None,
    }
    Some(PointSelect {
        table,
        table_range,
        column,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_point_read() {
        let sql = "SELECT c FROM sbtest1 WHERE id=5017";
        let p = point_select(sql).unwrap_or_else(|| panic!("not recognised"));
        assert_eq!(
            (p.table, p.column, p.value.as_str()),
            ("sbtest1", "id", "5017")
        );
        assert_eq!(&sql[p.table_range], "sbtest1");
        let sql = "select a, `b` x, * from /* c */ `t` where `k` = -3;";
        let p = point_select(sql).unwrap_or_else(|| panic!("not recognised"));
        assert_eq!((p.table, p.column, p.value.as_str()), ("t", "k", "-3"));
        assert_eq!(&sql[p.table_range], "`t`");
    }

    #[test]
    fn leaves_everything_else_to_the_planner() {
        for sql in [
            "SELECT c FROM t WHERE id = 1 FOR UPDATE",
            "SELECT c FROM t WHERE id = 1 AND x = 2",
            "SELECT c FROM t WHERE id = 1.5",
            "SELECT c FROM t WHERE id = '1'",
            "SELECT c FROM t WHERE id = ?",
            "SELECT COUNT(*) FROM t WHERE id = 1",
            "SELECT c FROM s.t WHERE id = 1",
            "SELECT c FROM t WHERE t.id = 1",
            "SELECT c INTO @x FROM t WHERE id = 1",
            "SELECT c FROM t, u WHERE id = 1",
            "SELECT c FROM t WHERE id = 1 LIMIT 1",
            "SELECT c FROM t WHERE id = 1; SELECT 2",
            "SELECT FROM t WHERE id = 1",
            "SELECT c FROM t WHERE id = 123456789012345678901234",
            "SELECT c FROM t WHERE id = 0x10",
            "SELECT c FROM t WHERE id = 1e3",
            "SELECT 1 FROM t WHERE id = 1",
            "SELECT @a FROM t WHERE id = 1",
        ] {
            assert_eq!(point_select(sql), None, "{sql}");
        }
    }
}
