//! Uncorrelated `IN (SELECT …)` over sharded tables in a statement that cannot run shard by
//! shard: the proxy evaluates the subquery first (as a statement of its own, through its
//! usual shard path) and writes its distinct values into the statement as a literal list,
//! which may then even route the statement by its key (`WHERE user_id IN (SELECT …)`).
//!
//! `x IN (v1, v2, …)` answers like `x IN (SELECT …)` giving those values, NULL included (no
//! match and a NULL among the values: NULL), and `NOT IN` likewise; an empty result becomes
//! a subquery with no rows, since `IN ()` is not SQL.

use super::plan::RouteContext;
use super::span::LineIndex;
use myshard_config::SchemaTopology;
use sqlparser::ast::{Expr, ObjectName, Query, Spanned, TableFactor, Visit, Visitor};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use std::collections::HashSet;
use std::ops::{ControlFlow, Range};

/// One subquery to evaluate first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefetch {
    /// Where the subquery's text is (inside its parentheses).
    pub range: Range<usize>,
    /// The subquery as a statement of its own.
    pub sql: String,
}

/// What replaces a subquery that gave no rows.
pub const NO_ROWS: &str = "SELECT NULL FROM DUAL WHERE 0";

/// The outermost `IN (SELECT …)` subqueries of `sql` that read a sharded table of the
/// session's schema and refer to no table outside themselves (by qualifier; an unqualified
/// outer column makes the subquery fail on its own, never answer wrongly).
pub fn prefetches(sql: &str, ctx: RouteContext<'_>) -> Vec<Prefetch> {
    let Some(SchemaTopology::Sharded(schema)) = ctx.schema.and_then(|s| ctx.topology.schema(s))
    else {
        return Vec::new();
    };
    let Ok(stmts) = Parser::parse_sql(&MySqlDialect {}, sql) else {
        return Vec::new();
    };
    let idx = LineIndex::new(sql);
    let mut found = InSubqueries {
        idx: &idx,
        queries: Vec::new(),
    };
    for s in &stmts {
        let _ = s.visit(&mut found);
    }
    let mut out: Vec<Prefetch> = Vec::new();
    for (q, range) in found.queries {
        let Some(range) = range else { continue };
        if out
            .iter()
            .any(|p| p.range.start <= range.start && range.end <= p.range.end)
        {
            continue;
        }
        let mut names = Names::default();
        let _ = q.visit(&mut names);
        let sharded = names.tables.iter().any(|t| {
            matches!(
                schema.table(t),
                Some(myshard_config::TableRule::Sharded { .. })
            )
        });
        let correlated = names
            .qualifiers
            .iter()
            .any(|q| !names.sources.contains(&q.to_ascii_lowercase()));
        if sharded && !correlated {
            let Some(text) = sql.get(range.clone()) else {
                continue;
            };
            out.push(Prefetch {
                sql: text.to_string(),
                range,
            });
        }
    }
    // Outermost first may have let an inner one in before its outer one: drop those.
    let all = out.clone();
    out.retain(|p| {
        !all.iter().any(|o| {
            o.range != p.range && o.range.start <= p.range.start && p.range.end <= o.range.end
        })
    });
    out
}

/// `sql` with each prefetched subquery replaced by its values (`lists[i]` for
/// `prefetches[i]`, already written as SQL literals).
pub fn substitute(sql: &str, prefetches: &[Prefetch], lists: &[Vec<String>]) -> String {
    let mut edits: Vec<(Range<usize>, String)> = prefetches
        .iter()
        .zip(lists)
        .map(|(p, l)| {
            let text = if l.is_empty() {
                NO_ROWS.to_string()
            } else {
                l.join(", ")
            };
            (p.range.clone(), text)
        })
        .collect();
    edits.sort_by_key(|(r, _)| r.start);
    super::span::splice(sql, edits)
}

/// Every `IN (SELECT …)` with the text range of its subquery.
struct InSubqueries<'i> {
    idx: &'i LineIndex<'i>,
    queries: Vec<(Query, Option<Range<usize>>)>,
}

impl Visitor for InSubqueries<'_> {
    type Break = ();
    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if let Expr::InSubquery { subquery, .. } = e {
            let range = self
                .idx
                .range(subquery.span())
                .and_then(|r| to_closing_paren(self.idx.text(), r.start));
            self.queries.push((subquery.as_ref().clone(), range));
        }
        ControlFlow::Continue(())
    }
}

/// From `start` (just inside an opening parenthesis) to the parenthesis closing it: the
/// parser's span of a query stops short of closing parentheses of its own subqueries.
fn to_closing_paren(sql: &str, start: usize) -> Option<Range<usize>> {
    let rest = sql.get(start..)?;
    let mut lexer = crate::lexer::Lexer::new(rest);
    let mut depth = 0usize;
    while let Some(t) = lexer.next() {
        match t {
            crate::lexer::Token::Punct(b'(') => depth += 1,
            crate::lexer::Token::Punct(b')') => {
                if depth == 0 {
                    let end = start + lexer.offset() - 1;
                    return Some(start..end.max(start));
                }
                depth -= 1;
            }
            _ => {}
        }
    }
    None
}

/// Table names, the names a query's columns may be qualified with, and the qualifiers used.
#[derive(Default)]
struct Names {
    tables: Vec<String>,
    sources: HashSet<String>,
    qualifiers: Vec<String>,
}

impl Visitor for Names {
    type Break = ();
    fn pre_visit_relation(&mut self, r: &ObjectName) -> ControlFlow<()> {
        if let Some(t) = r.0.last().and_then(|p| p.as_ident()) {
            self.tables.push(t.value.clone());
            self.sources.insert(t.value.to_ascii_lowercase());
        }
        ControlFlow::Continue(())
    }
    fn pre_visit_table_factor(&mut self, f: &TableFactor) -> ControlFlow<()> {
        let alias = match f {
            TableFactor::Table { alias, .. } | TableFactor::Derived { alias, .. } => alias.as_ref(),
            _ => None,
        };
        if let Some(a) = alias {
            self.sources.insert(a.name.value.to_ascii_lowercase());
        }
        ControlFlow::Continue(())
    }
    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if let Some(w) = &q.with {
            for c in &w.cte_tables {
                self.sources.insert(c.alias.name.value.to_ascii_lowercase());
            }
        }
        ControlFlow::Continue(())
    }
    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if let Expr::CompoundIdentifier(parts) = e
            && parts.len() >= 2
        {
            // `t.c` or `schema.t.c`: the table part.
            self.qualifiers.push(parts[parts.len() - 2].value.clone());
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use myshard_config::Topology;

    const YAML: &str = r#"
listen: 127.0.0.1:3307
users: [{name: u, password: p, schemas: ["*"]}]
groups:
  - {name: g0, user: r, write_hosts: ["127.0.0.1:1"]}
schemas:
  - name: shop
    shards: 4
    placement: [{group: g0, shards: "0-3"}]
    tables:
      - {name: orders, shard_key: user_id}
      - {name: users, shard_key: id}
      - {name: countries, global: true}
"#;

    fn found(sql: &str) -> Vec<String> {
        let c = myshard_config::parse(YAML, "t.yaml").expect("config");
        let t = Topology::new(&c);
        let ctx = RouteContext {
            topology: &t,
            schema: Some("shop"),
        };
        prefetches(sql, ctx).into_iter().map(|p| p.sql).collect()
    }

    #[test]
    fn finds_outermost_uncorrelated_in_subqueries_over_sharded_tables() {
        assert_eq!(
            found(
                "SELECT * FROM users WHERE name IN (SELECT o.name FROM orders o WHERE o.total > 5) AND x = 1"
            ),
            vec!["SELECT o.name FROM orders o WHERE o.total > 5"]
        );
        assert_eq!(
            found(
                "DELETE FROM users WHERE id NOT IN (SELECT user_id FROM orders WHERE status IN (SELECT s FROM orders))"
            ),
            vec!["SELECT user_id FROM orders WHERE status IN (SELECT s FROM orders)"]
        );
        // Correlated by qualifier, or over global tables only: nothing to fetch.
        assert!(found("SELECT * FROM users u WHERE u.name IN (SELECT o.name FROM orders o WHERE o.user_id <> u.id)").is_empty());
        assert!(found("SELECT * FROM users WHERE cc IN (SELECT code FROM countries)").is_empty());
    }

    #[test]
    fn substitutes_values_or_an_empty_subquery() {
        let sql = "SELECT * FROM users WHERE id IN (SELECT user_id FROM orders) OR id IN (SELECT user_id FROM orders WHERE 0)";
        let c = myshard_config::parse(YAML, "t.yaml").expect("config");
        let t = Topology::new(&c);
        let ctx = RouteContext {
            topology: &t,
            schema: Some("shop"),
        };
        let p = prefetches(sql, ctx);
        assert_eq!(p.len(), 2);
        assert_eq!(
            substitute(sql, &p, &[vec!["1".into(), "NULL".into()], vec![]]),
            "SELECT * FROM users WHERE id IN (1, NULL) OR id IN (SELECT NULL FROM DUAL WHERE 0)"
        );
    }
}
