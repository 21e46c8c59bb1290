//! `UNION` / `UNION ALL` of SELECTs over sharded tables. Each branch is planned like a
//! standalone SELECT (its own key conditions choose its shards). When every branch goes
//! to the same single shard, the statement goes there whole, whatever its form (ORDER BY /
//! LIMIT on top, parenthesised branches, UNION DISTINCT: the server answers it exactly).
//! Otherwise the branches' rows (each branch scattered like a SELECT of its own) are
//! concatenated (`UNION ALL`) or merged by the proxy (`UNION` distinct rows, ORDER BY /
//! LIMIT on top: see [`crate::merge::union`]); what that cannot answer exactly is refused,
//! naming the construct.

use super::keys::Placeholders;
use super::plan::Route;
use super::plan::{Merge, RouteContext, RouteError, ShardRoute, Targets, plan};
use super::resolve::{Bound, KeyHasher, Target};
use super::template::SqlTemplate;
use myshard_config::Topology;
use sqlparser::ast::{Query, Select, SelectItem, SetExpr, SetOperator, SetQuantifier};
use std::ops::Range;

/// One branch of a UNION, planned as a SELECT of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    /// Its route.
    pub route: ShardRoute,
    /// The statement's parameters that are the branch's (in text order).
    pub params: Range<usize>,
    /// The branch's shard statement when the UNION is merged by the proxy (hidden
    /// `COLLATION()` columns, its own ORDER BY / LIMIT); `None`: as written.
    pub merged: Option<SqlTemplate>,
}

/// A UNION over sharded tables.
#[derive(Debug, Clone, PartialEq)]
pub struct UnionPlan {
    /// The branches, in order.
    pub branches: Vec<Branch>,
    /// Why the branches may not be answered by several shards, when they are not all
    /// answered by the same one (UNION DISTINCT, ORDER BY / LIMIT on top, …).
    pub whole_only: Option<RouteError>,
}

/// MySQL's 1222.
fn column_count_mismatch() -> RouteError {
    RouteError {
        code: 1222,
        state: "21000",
        message: "The used SELECT statements have a different number of columns".into(),
    }
}

/// Plans a UNION query `q` of text `sql`; `route` is the whole statement's route (its
/// template renames every table), completed here.
pub(super) fn plan_union(
    sql: &str,
    q: &Query,
    ctx: RouteContext<'_>,
    mut route: ShardRoute,
) -> Result<Route, RouteError> {
    let mut bodies: Vec<&SetExpr> = Vec::new();
    let (mut distinct, mut all) = (false, false);
    flatten(q.body.as_ref(), &mut bodies, &mut distinct, &mut all)?;
    let mut whole_only = None;
    let mut refuse = |what: &str| {
        whole_only.get_or_insert_with(|| {
            RouteError::unsupported(format!(
                "{what} over several shards (a UNION is supported over several shards as UNION ALL of plain SELECTs, or when all its branches go to the same shard)"
            ))
        });
    };
    if distinct && all {
        refuse("a UNION mixing ALL and DISTINCT");
    }
    if q.fetch.is_some() {
        refuse("FETCH on top of a UNION");
    }
    if q.with.is_some() {
        refuse("WITH (common table expressions)");
    }
    // The branches as the client wrote them (printing the parsed branch could change a
    // literal's meaning, e.g. backslash escapes).
    let located = branch_texts(sql);
    if located.len() != bodies.len() {
        return Err(RouteError::unsupported(
            "a UNION whose branches myshard cannot locate in the text",
        ));
    }
    let mut texts = located.into_iter();
    let mut branches = Vec::with_capacity(bodies.len());
    let mut selects: Vec<(&Select, String)> = Vec::with_capacity(bodies.len());
    let mut columns: Option<usize> = None;
    let mut next_param = 0usize;
    for body in bodies {
        let Some(text) = texts.next() else {
            return Err(RouteError::unsupported(
                "a UNION whose branches myshard cannot locate in the text",
            ));
        };
        let (text, select) = match body {
            SetExpr::Select(s) => (text, Some(s)),
            SetExpr::Query(inner) => {
                refuse("a parenthesised UNION branch (with its own ORDER BY / LIMIT)");
                let select = match inner.body.as_ref() {
                    SetExpr::Select(s) => Some(s),
                    _ => None,
                };
                (text, select)
            }
            _ => {
                return Err(RouteError::unsupported(
                    "a UNION branch that is not a SELECT over sharded tables",
                ));
            }
        };
        let Some(select) = select else {
            return Err(RouteError::unsupported(
                "a nested set operation inside a UNION over sharded tables",
            ));
        };
        let n = select.projection.len();
        let wildcard = select.projection.iter().any(|i| {
            matches!(
                i,
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
            )
        });
        if !wildcard {
            match columns {
                Some(c) if c != n => return Err(column_count_mismatch()),
                _ => columns = Some(n),
            }
        }
        let count = Placeholders::scan(&text).len();
        let branch_route = match plan(&text, ctx) {
            Route::Shard(r) => *r,
            Route::Error(e) => return Err(e),
            Route::Passthrough => {
                return Err(RouteError::unsupported(
                    "a UNION branch outside the sharded schema",
                ));
            }
        };
        selects.push((select, text));
        branches.push(Branch {
            route: branch_route,
            params: next_param..next_param + count,
            merged: None,
        });
        next_param += count;
    }
    if next_param != Placeholders::scan(sql).len() {
        refuse("parameters outside the branches of a UNION");
    }
    if let (Some(columns), Some((first, _))) = (columns, selects.first()) {
        let merge =
            crate::merge::union::plan(q, first, columns, distinct && !all, route.template.clone());
        match merge {
            Ok(Some(m)) => {
                for (b, (select, text)) in branches.iter_mut().zip(&selects) {
                    match merged_branch(text, select, &m, ctx) {
                        Ok(t) => b.merged = Some(t),
                        // Still answered whole when every branch goes to one shard.
                        Err(e) => {
                            whole_only.get_or_insert(e);
                        }
                    }
                }
                route.merge_plan = Some(Box::new(m.plan));
            }
            Ok(None) => {}
            Err(e) => {
                whole_only.get_or_insert(e);
            }
        }
    } else if distinct || q.order_by.is_some() || q.limit_clause.is_some() {
        refuse("SELECT * in a UNION with DISTINCT, ORDER BY or LIMIT");
    }
    route.targets = Targets::Union(Box::new(UnionPlan {
        branches,
        whole_only,
    }));
    route.merge = Merge::Concat;
    route.read_only = true;
    Ok(Route::Shard(Box::new(route)))
}

/// The template of a branch's shard statement when the proxy merges the UNION: its text
/// with `COLLATION()` of each column appended to the select list, and the merge's tail.
fn merged_branch(
    text: &str,
    select: &Select,
    m: &crate::merge::union::UnionMerge,
    ctx: RouteContext<'_>,
) -> Result<SqlTemplate, RouteError> {
    let mut hidden = String::new();
    for item in select.projection.iter().take(m.hidden_items) {
        let e = match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
            _ => {
                return Err(RouteError::unsupported(
                    "SELECT * in a UNION with DISTINCT, ORDER BY or LIMIT over several shards",
                ));
            }
        };
        hidden.push_str(&format!(", COLLATION({e})"));
    }
    let at = crate::merge::clauses::find(text).map_or(text.len(), |c| c.from);
    let edited = format!("{} {} {}{}", &text[..at], hidden, &text[at..], m.tail);
    match plan(&edited, ctx) {
        Route::Shard(r) => Ok(r.template),
        Route::Error(e) => Err(e),
        Route::Passthrough => Err(RouteError::unsupported(
            "a UNION branch outside the sharded schema",
        )),
    }
}

/// The text of each branch of the UNION `sql`: split at the top-level `UNION [ALL |
/// DISTINCT]`, the last one ending before a top-level ORDER BY / LIMIT (the UNION's own),
/// a parenthesised branch without its parentheses.
fn branch_texts(sql: &str) -> Vec<String> {
    use crate::lexer::{Lexer, Token};
    let mut lexer = Lexer::new(sql);
    let mut depth = 0usize;
    let mut starts = vec![0usize];
    let mut ends = Vec::new();
    let mut end = sql.len();
    let mut after_union = false;
    let mut last = false;
    let mut before = 0usize;
    while let Some(t) = lexer.next() {
        let at = lexer.offset();
        match t {
            Token::Punct(b'(') => depth += 1,
            Token::Punct(b')') => depth = depth.saturating_sub(1),
            Token::Word(w) if depth == 0 && w.eq_ignore_ascii_case("UNION") => {
                ends.push(before);
                starts.push(at);
                after_union = true;
                before = at;
                continue;
            }
            Token::Word(w)
                if depth == 0
                    && after_union
                    && (w.eq_ignore_ascii_case("ALL") || w.eq_ignore_ascii_case("DISTINCT")) =>
            {
                if let Some(s) = starts.last_mut() {
                    *s = at;
                }
                after_union = false;
                before = at;
                continue;
            }
            Token::Word(w)
                if depth == 0
                    && starts.len() > 1
                    && !last
                    && (w.eq_ignore_ascii_case("ORDER") || w.eq_ignore_ascii_case("LIMIT")) =>
            {
                end = before;
                last = true;
            }
            Token::Semicolon if depth == 0 && !last => {
                end = before;
                last = true;
            }
            _ => {}
        }
        after_union = false;
        before = at;
    }
    ends.push(end);
    starts
        .into_iter()
        .zip(ends)
        .map(|(s, e)| {
            let t = sql.get(s..e.max(s)).unwrap_or("").trim();
            match t.strip_prefix('(').and_then(|x| x.strip_suffix(')')) {
                Some(inner) => inner.trim().to_string(),
                None => t.to_string(),
            }
        })
        .collect()
}

/// The branches of a left-deep UNION chain; `distinct` is set if any is UNION DISTINCT.
fn flatten<'q>(
    e: &'q SetExpr,
    out: &mut Vec<&'q SetExpr>,
    distinct: &mut bool,
    all: &mut bool,
) -> Result<(), RouteError> {
    match e {
        SetExpr::SetOperation {
            op,
            set_quantifier,
            left,
            right,
        } => {
            if *op != SetOperator::Union {
                return Err(RouteError::unsupported(format!("{op} over sharded tables")));
            }
            if matches!(set_quantifier, SetQuantifier::All) {
                *all = true;
            } else {
                *distinct = true;
            }
            flatten(left, out, distinct, all)?;
            flatten(right, out, distinct, all)
        }
        other => {
            out.push(other);
            Ok(())
        }
    }
}

impl UnionPlan {
    /// The targets: the whole statement (`whole`, the statement's template) on one shard
    /// when every branch goes there; otherwise each branch's targets in turn.
    pub fn resolve(
        &self,
        topology: &Topology,
        params: &[Bound],
        hasher: &KeyHasher<'_>,
        literal: &dyn Fn(&Bound) -> String,
        whole: &dyn Fn(Target) -> Target,
    ) -> Result<Vec<Target>, RouteError> {
        let mut all: Vec<Target> = Vec::new();
        let mut per_branch = Vec::with_capacity(self.branches.len());
        // A branch that needs a merge of its own, scattered: refused unless whole.
        let mut merged_branch: Option<RouteError> = None;
        for b in &self.branches {
            let p = params.get(b.params.clone()).unwrap_or(&[]);
            let mut t = b.route.resolve(topology, p, hasher, literal)?;
            if t.len() > 1 && b.route.merge_plan.is_some() {
                merged_branch.get_or_insert_with(|| {
                    RouteError::unsupported(
                        "ORDER BY, LIMIT, GROUP BY, DISTINCT or aggregates inside a UNION branch over several shards",
                    )
                });
            }
            per_branch.push(t.len());
            if let Some(m) = &b.merged {
                for target in &mut t {
                    target.sql = m.render(&target.database);
                }
            }
            all.extend(t);
        }
        let one_shard = all.first().map(|t| t.shard);
        if per_branch.iter().all(|n| *n == 1) && all.iter().all(|t| Some(t.shard) == one_shard) {
            let first = all.swap_remove(0);
            return Ok(vec![whole(first)]);
        }
        if let Some(e) = self.whole_only.clone().or(merged_branch) {
            return Err(e);
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::branch_texts;

    #[test]
    fn branches_are_the_text_as_written() {
        assert_eq!(
            branch_texts(
                "SELECT a FROM t WHERE s IN ('back\\\\slash', ')') UNION ALL (SELECT b FROM u ORDER BY b LIMIT 2) UNION DISTINCT SELECT c FROM v ORDER BY 1 LIMIT 3;"
            ),
            vec![
                "SELECT a FROM t WHERE s IN ('back\\\\slash', ')')",
                "SELECT b FROM u ORDER BY b LIMIT 2",
                "SELECT c FROM v",
            ]
        );
    }
}
