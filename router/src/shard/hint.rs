//! Operator hints: a comment `/* myshard: shard=N */` anywhere in a statement sends it to
//! shard N of its logical schema, whatever its shard key conditions say (for maintenance
//! and repair; the statement is still rewritten to that shard's database).
//!
//! A hinted read is allowed to every user of the schema. A hinted write can put rows where
//! their key does not lead or change a shard without its key, so it is refused (1227)
//! unless the user is configured with `shard_hint_writes`. The hint is looked for in the
//! text after executable comments are resolved ([`crate::exec_comment`]).

use super::plan::{Route, RouteError};

/// A routing hint found in a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint {
    /// The forced shard.
    pub shard: u32,
}

/// Finds a `/* myshard: shard=N */` comment (spaces optional, case-insensitive) outside
/// string literals and quoted identifiers.
pub fn find_hint(sql: &str) -> Option<Hint> {
    if !sql.contains("/*") {
        return None;
    }
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' && q != b'`' { 2 } else { 1 };
                }
                i += 1;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let body_start = i + 2;
                let end = sql.get(body_start..)?.find("*/")? + body_start;
                if let Some(h) = sql
                    .get(body_start..end)
                    .and_then(|body| parse_body(body.trim()))
                {
                    return Some(h);
                }
                i = end + 2;
            }
            _ => i += 1,
        }
    }
    None
}

/// `route` (a hinted plan) if the user may run it: reads always, writes only with
/// `hint_writes`.
pub fn permit(route: Route, sql: &str, hint_writes: bool) -> Route {
    match route {
        Route::Shard(r) if !r.read_only && !hint_writes && !reads(sql) => {
            Route::Error(RouteError {
                code: 1227,
                state: "42000",
                message: format!(
                    "Access denied; a {} with a shard hint needs the user setting shard_hint_writes",
                    r.verb
                ),
            })
        }
        other => other,
    }
}

/// Whether a statement the planner could not classify (it could not parse it) starts as a
/// read.
fn reads(sql: &str) -> bool {
    let first = crate::lexer::Lexer::new(sql).next();
    matches!(first, Some(crate::lexer::Token::Word(w))
        if ["SELECT", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "WITH", "VALUES", "TABLE"]
            .iter()
            .any(|k| w.eq_ignore_ascii_case(k)))
}

fn parse_body(body: &str) -> Option<Hint> {
    let lower = body.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("myshard")?
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let value = rest
        .strip_prefix("shard")?
        .trim_start()
        .strip_prefix('=')?
        .trim();
    value.parse().ok().map(|shard| Hint { shard })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints() {
        assert_eq!(
            find_hint("/* myshard: shard=3 */ SELECT 1"),
            Some(Hint { shard: 3 })
        );
        assert_eq!(
            find_hint("SELECT /*MYSHARD:SHARD = 12*/ * FROM t"),
            Some(Hint { shard: 12 })
        );
        assert_eq!(
            find_hint("SELECT 1 /* other */ /* myshard:shard=0 */"),
            Some(Hint { shard: 0 })
        );
        assert_eq!(find_hint("SELECT '/* myshard: shard=3 */' FROM t"), None);
        assert_eq!(
            find_hint("SELECT 'it''s', \"a\\\"b\" /* myshard: shard=2 */"),
            Some(Hint { shard: 2 })
        );
        assert_eq!(find_hint("/* myshard: shard=x */ SELECT 1"), None);
        assert_eq!(find_hint("SELECT 1"), None);
    }
}
