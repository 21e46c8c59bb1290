//! MariaDB's executable comments, interpreted as the server interprets them, so that the
//! router plans exactly the statement the server will run.
//!
//! Observed on MariaDB 10.11 (and matching its lexer):
//! - `/*!` and `/*M!` followed by fewer than 5 digits: the content is code (any 1–4 digits
//!   stay as code).
//! - Followed by 5 or 6 digits (a version `NNNNN[N]`): code when the version is at most the
//!   server's (`10.11.19` is 101119) and, for the `/*!` form, outside MySQL's 50700–99999
//!   range (MariaDB skips those as MySQL 5.7+ syntax); `/*M!` has no such exception.
//! - A skipped versioned comment may hold one level of nested `/* … */`; quotes are not
//!   special inside it. Inside executed content, quotes, line comments and plain comments
//!   work as in code, a nested executed comment is a syntax error, and a nested skipped one
//!   is a comment.
//! - `/*m!` (lower case) is a plain comment; an unterminated executable comment is a syntax
//!   error.
//!
//! [`normalize`] rewrites a text without changing any byte offset: the markers of executed
//! comments become spaces (their content becomes plain code) and skipped ones become plain
//! comments `/*   */` of the same length, so the lexer, the classifier and sqlparser all
//! see what the server runs.

use std::borrow::Cow;

/// The version MariaDB compares with (`MYSQL_VERSION_ID`), from a server version string
/// such as `10.11.19-MariaDB` or `5.5.5-10.11.19-MariaDB-log`; `None` if it has no
/// `major.minor.patch` prefix.
pub fn version_id(server_version: &str) -> Option<u32> {
    let v = server_version
        .strip_prefix("5.5.5-")
        .unwrap_or(server_version);
    let mut parts = v.splitn(3, '.');
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    let patch_text = parts.next()?;
    let digits = patch_text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(patch_text.len());
    let patch: u32 = patch_text.get(..digits)?.parse().ok()?;
    (minor < 100 && patch < 100).then_some(major * 10000 + minor * 100 + patch)
}

/// Why a text cannot be interpreted (the server would reject it as a syntax error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentError(pub &'static str);

/// `sql` with executable comments resolved for a server of version `server` (see the
/// module documentation). Borrowed unchanged when it holds no executable comment.
pub fn normalize(sql: &str, server: u32) -> Result<Cow<'_, str>, CommentError> {
    if !sql.contains("/*!") && !sql.contains("/*M!") {
        return Ok(Cow::Borrowed(sql));
    }
    let mut out = sql.as_bytes().to_vec();
    let b = sql.as_bytes();
    let mut i = 0;
    let mut in_executed = false;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => i = skip_quoted(b, i, q),
            b'#' => i = skip_line(b, i),
            b'-' if b.get(i + 1) == Some(&b'-')
                && matches!(b.get(i + 2), None | Some(b' ' | b'\t' | b'\n' | b'\r')) =>
            {
                i = skip_line(b, i)
            }
            b'*' if in_executed && b.get(i + 1) == Some(&b'/') => {
                out[i] = b' ';
                out[i + 1] = b' ';
                in_executed = false;
                i += 2;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => match marker(b, i) {
                None => i = skip_plain_comment(b, i),
                Some(m) => {
                    let executes = m.version.is_none_or(|v| {
                        v <= server && (m.mariadb || !(50700..=99999).contains(&v))
                    });
                    if !executes {
                        let end = skip_versioned_comment(b, i + m.len)
                            .ok_or(CommentError("unterminated executable comment"))?;
                        blank(&mut out[i..end]);
                        i = end;
                    } else if in_executed {
                        return Err(CommentError("executable comment inside another"));
                    } else {
                        out[i..i + m.len].fill(b' ');
                        in_executed = true;
                        i += m.len;
                    }
                }
            },
            _ => i += 1,
        }
    }
    if in_executed {
        return Err(CommentError("unterminated executable comment"));
    }
    // Only ASCII bytes were replaced by ASCII bytes, outside multi-byte characters.
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| CommentError("invalid text"))
}

/// An executable comment opening: its length (with the version digits) and version.
struct Marker {
    len: usize,
    version: Option<u32>,
    mariadb: bool,
}

fn marker(b: &[u8], i: usize) -> Option<Marker> {
    let (mariadb, start) = match (b.get(i + 2), b.get(i + 3)) {
        (Some(b'!'), _) => (false, i + 3),
        (Some(b'M'), Some(b'!')) => (true, i + 4),
        _ => return None,
    };
    let digits = b[start..]
        .iter()
        .take(6)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if digits < 5 {
        return Some(Marker {
            len: start - i,
            version: None,
            mariadb,
        });
    }
    let version = b[start..start + digits]
        .iter()
        .fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
    Some(Marker {
        len: start - i + digits,
        version: Some(version),
        mariadb,
    })
}

fn skip_quoted(b: &[u8], start: usize, q: u8) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        if b[i] == b'\\' && q != b'`' {
            i += 2;
        } else if b[i] == q {
            if b.get(i + 1) == Some(&q) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

fn skip_line(b: &[u8], start: usize) -> usize {
    b[start..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |p| start + p)
}

/// A plain comment ends at its first `*/` (plain comments do not nest).
fn skip_plain_comment(b: &[u8], start: usize) -> usize {
    find_close(b, start + 2).unwrap_or(b.len())
}

fn find_close(b: &[u8], from: usize) -> Option<usize> {
    b.get(from..)?
        .windows(2)
        .position(|w| w == b"*/")
        .map(|p| from + p + 2)
}

/// The end of a skipped versioned comment whose body starts at `body`: one level of
/// nested `/* … */` is allowed (MariaDB's `consume_comment` with one recursion).
fn skip_versioned_comment(b: &[u8], body: usize) -> Option<usize> {
    let mut i = body;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i = find_close(b, i + 2)?;
        } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
            return Some(i + 2);
        } else {
            i += 1;
        }
    }
    None
}

/// `/*`, spaces, `*/`: a plain comment of the same length, keeping line breaks.
fn blank(span: &mut [u8]) {
    for c in span.iter_mut() {
        if *c != b'\n' {
            *c = b' ';
        }
    }
    let n = span.len();
    if n >= 4 {
        span[..2].copy_from_slice(b"/*");
        span[n - 2..].copy_from_slice(b"*/");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: u32 = 101119;

    fn n(s: &str) -> String {
        normalize(s, V)
            .map(|c| c.into_owned())
            .unwrap_or_else(|e| format!("ERR {}", e.0))
    }

    /// After resolution the lexer, the classifier and sqlparser agree with the server on
    /// what is code.
    #[test]
    fn every_reader_sees_the_same_statement() {
        use sqlparser::dialect::MySqlDialect;
        use sqlparser::parser::Parser;
        let skipped = n("SELECT 1 /*!999999 ; DROP TABLE t */");
        assert!(!crate::classify(&skipped).multi);
        assert_eq!(
            Parser::parse_sql(&MySqlDialect {}, &skipped).map(|s| s.len()),
            Ok(1)
        );
        let ran = n("SELECT 1 /*M! ; DROP TABLE t */");
        assert!(crate::classify(&ran).multi);
        assert_eq!(
            Parser::parse_sql(&MySqlDialect {}, &ran).map(|s| s.len()),
            Ok(2)
        );
        let set = n("/*!40101 SET @x = 1 */");
        assert!(matches!(crate::classify(&set).kind, crate::Kind::Set(_)));
        // Nested skipped comment: the lexer sees no code inside it.
        let nested = n("SELECT 1 /*!999999 /* x */ ; DELETE FROM t */");
        assert!(!crate::classify(&nested).multi);
    }

    #[test]
    fn versions() {
        assert_eq!(version_id("5.5.5-10.11.19-MariaDB"), Some(101119));
        assert_eq!(version_id("10.11.19-MariaDB-0+deb12u1"), Some(101119));
        assert_eq!(version_id("10.4.3"), Some(100403));
        assert_eq!(version_id("x"), None);
    }

    /// Each case was run on MariaDB 10.11.19: `SELECT 1 <comment>` gave 2 when the
    /// comment's `+1` ran and 1 when it did not.
    #[test]
    fn as_mariadb_10_11_runs_them() {
        let runs = |c: &str| {
            let sql = format!("SELECT 1 {c}");
            let out = n(&sql);
            assert!(!out.starts_with("ERR"), "{sql}: {out}");
            assert_eq!(out.len(), sql.len());
            !out.contains("/*")
        };
        for c in [
            "/*! +1 */",
            "/*!10000 +1 */",
            "/*M!50700 +1 */",
            "/*!100400 +1 */",
            "/*!101119 +1 */",
            "/*M!100400 +1 */",
            "/*M! +1 */",
            "/*!10000+1 */",
        ] {
            assert!(runs(c), "{c} runs");
        }
        for c in [
            "/*!50700 +1 */",
            "/*!99999 +1 */",
            "/*!101120 +1 */",
            "/*M!999999 +1 */",
            "/*!101200+1 */",
            "/*m! +1 */",
        ] {
            assert!(!runs(c), "{c} is skipped");
        }
    }

    #[test]
    fn markers_become_spaces() {
        assert_eq!(n("SELECT 1 /*!100400 +1 */"), "SELECT 1           +1   ");
        assert_eq!(n("SELECT 1 /*M!1004 +1 */"), "SELECT 1     1004 +1   ");
        assert_eq!(
            n("DELETE FROM t WHERE id = 3 /*M! OR id > 0 */"),
            "DELETE FROM t WHERE id = 3      OR id > 0   "
        );
        assert_eq!(
            n("SELECT 1 /*!999999 +1 */ +2"),
            "SELECT 1 /*           */ +2"
        );
    }

    #[test]
    fn nesting_quotes_and_errors() {
        // Skipped comment with one nested comment: 1 + 4 on the server.
        assert_eq!(
            n("SELECT 1 /*!999999 +1 /* x */ +2 */ +4"),
            "SELECT 1 /*                      */ +4"
        );
        // Executed comment holding a skipped one: 1 + 1 + 4 + 8.
        assert_eq!(
            n("SELECT 1 /*! +1 /*!999999 +2 */ +4 */ +8"),
            "SELECT 1     +1 /*           */ +4    +8"
        );
        // A quote inside executed content is a string: its `*/` does not close.
        assert_eq!(n("SELECT /*! '*/' */"), "SELECT     '*/'   ");
        // A quote in a skipped comment is not special.
        assert_eq!(n("SELECT 1 /*!999999 '*/ +1"), "SELECT 1 /*         */ +1");
        assert!(n("SELECT 1 /*! +1 /*! +2 */ +4 */").starts_with("ERR"));
        assert!(n("SELECT 1 /*! +1").starts_with("ERR"));
        assert!(n("SELECT 1 /*!999999 +1").starts_with("ERR"));
        // In a string or a line comment nothing happens.
        assert_eq!(n("SELECT '/*! x */'"), "SELECT '/*! x */'");
        assert_eq!(n("SELECT 1 -- /*! +1 */\n+2"), "SELECT 1 -- /*! +1 */\n+2");
        assert_eq!(n("SELECT 1 /*!*/ +2"), "SELECT 1       +2");
    }
}
