//! Where the clauses of one SELECT text are, found with the lexer at parenthesis depth 0:
//! the shard SQL of a merged statement is the original text with a few clauses edited
//! (hidden columns inserted before `FROM`, `LIMIT` rewritten, `HAVING` / `ORDER BY`
//! removed), so everything else stays exactly as the client wrote it.

use crate::lexer::{Lexer, Token};
use std::ops::Range;

/// Byte positions of the clauses of a single SELECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clauses {
    /// Start of the top-level `FROM` keyword (hidden columns go just before it).
    pub from: usize,
    /// `HAVING …` up to the next clause.
    pub having: Option<Range<usize>>,
    /// `ORDER BY …` up to the next clause.
    pub order: Option<Range<usize>>,
    /// `LIMIT …` up to the next clause.
    pub limit: Option<Range<usize>>,
    /// `GROUP BY …` up to the next clause.
    pub group: Option<Range<usize>>,
    /// Where a GROUP BY clause would go: the start of the first clause after WHERE (or the
    /// end of the statement).
    pub group_at: usize,
}

/// Keywords that start a clause after the select list (or end the statement).
const BOUNDARIES: [&str; 10] = [
    "WHERE",
    "GROUP",
    "HAVING",
    "WINDOW",
    "ORDER",
    "LIMIT",
    "PROCEDURE",
    "INTO",
    "FOR",
    "LOCK",
];

fn token_start(src: &str, lexer: &Lexer<'_>, token: &Token<'_>) -> usize {
    let slice_start = |s: &str| s.as_ptr() as usize - src.as_ptr() as usize;
    match token {
        Token::Word(s) | Token::Str(s) | Token::Number(s) => slice_start(s),
        // Without the back-quote / at-signs in front of the slice.
        Token::QuotedIdent(s) => slice_start(s).saturating_sub(1),
        Token::UserVar(s) => slice_start(s).saturating_sub(1),
        Token::SysVar(s) => slice_start(s).saturating_sub(2),
        Token::Semicolon | Token::Placeholder | Token::Punct(_) => lexer.offset().saturating_sub(1),
    }
}

/// Finds the clauses of `sql`, a single SELECT; `None` without a top-level `FROM`.
pub fn find(sql: &str) -> Option<Clauses> {
    let mut lexer = Lexer::new(sql);
    let mut depth = 0usize;
    let mut from = None;
    // (keyword, start) of each top-level boundary after FROM.
    let mut marks: Vec<(&'static str, usize)> = Vec::new();
    while let Some(token) = lexer.next() {
        let start = token_start(sql, &lexer, &token);
        match token {
            Token::Punct(b'(') => depth += 1,
            Token::Punct(b')') => depth = depth.saturating_sub(1),
            Token::Semicolon if depth == 0 && from.is_some() => marks.push((";", start)),
            Token::Word(w) if depth == 0 => {
                if from.is_none() {
                    if w.eq_ignore_ascii_case("FROM") {
                        from = Some(start);
                    }
                } else if let Some(k) = BOUNDARIES.iter().find(|k| k.eq_ignore_ascii_case(w)) {
                    marks.push((k, start));
                }
            }
            _ => {}
        }
    }
    let from = from?;
    let range_of = |keyword: &str| -> Option<Range<usize>> {
        let i = marks.iter().position(|(k, _)| *k == keyword)?;
        let start = marks[i].1;
        let end = marks.get(i + 1).map_or(sql.len(), |m| m.1);
        Some(start..end)
    };
    let group_at = marks
        .iter()
        .find(|(k, _)| !matches!(*k, "WHERE" | "GROUP"))
        .map_or(sql.len(), |m| m.1);
    Some(Clauses {
        from,
        having: range_of("HAVING"),
        order: range_of("ORDER"),
        limit: range_of("LIMIT"),
        group: range_of("GROUP"),
        group_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(sql: &str, r: &Option<Range<usize>>) -> Option<String> {
        r.clone().map(|r| sql[r].to_string())
    }

    #[test]
    fn finds_top_level_clauses() {
        let sql = "SELECT a, TRIM(LEADING 'x' FROM b), (SELECT 1 FROM t2 LIMIT 1) FROM t \
                   WHERE c = 'ORDER' GROUP BY a HAVING COUNT(*) > 1 ORDER BY a DESC LIMIT 3, 4 FOR UPDATE";
        let c = find(sql).expect("clauses");
        assert_eq!(&sql[c.from..c.from + 6], "FROM t");
        assert_eq!(
            text(sql, &c.having).as_deref(),
            Some("HAVING COUNT(*) > 1 ")
        );
        assert_eq!(text(sql, &c.order).as_deref(), Some("ORDER BY a DESC "));
        assert_eq!(text(sql, &c.limit).as_deref(), Some("LIMIT 3, 4 "));
        assert_eq!(text(sql, &c.group).as_deref(), Some("GROUP BY a "));
        assert_eq!(&sql[c.group_at..c.group_at + 6], "HAVING");
    }

    #[test]
    fn quoted_and_commented_keywords_do_not_count() {
        let sql = "SELECT `from`, 'LIMIT' FROM `order` /* ORDER BY x */ WHERE x = 1 LIMIT 5;";
        let c = find(sql).expect("clauses");
        assert_eq!(&sql[c.from..c.from + 4], "FROM");
        assert_eq!(c.order, None);
        assert_eq!(text(sql, &c.limit).as_deref(), Some("LIMIT 5"));
        assert_eq!(&sql[c.group_at..c.group_at + 5], "LIMIT");
        assert!(find("SELECT 1").is_none());
    }
}
