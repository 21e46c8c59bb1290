//! `UNION` / `UNION ALL` of SELECTs over sharded tables. Each branch is planned like a
//! standalone SELECT (its own key conditions choose its shards). When every branch goes
//! to the same single shard, the statement goes there whole, whatever its form (ORDER BY /
//! LIMIT on top, parenthesised branches, UNION DISTINCT: the server answers it exactly).
//! Otherwise a `UNION ALL` of plain branches concatenates the branches' rows (each branch
//! scattered like a SELECT of its own); what that cannot answer exactly is refused,
//! naming the construct.

use super::keys::Placeholders;
use super::plan::Route;
use super::plan::{Merge, RouteContext, RouteError, ShardRoute, Targets, plan};
use super::resolve::{Bound, KeyHasher, Target};
use myshard_config::Topology;
use sqlparser::ast::{Query, SelectItem, SetExpr, SetOperator, SetQuantifier};
use std::ops::Range;

/// One branch of a UNION, planned as a SELECT of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    /// Its route.
    pub route: ShardRoute,
    /// The statement's parameters that are the branch's (in text order).
    pub params: Range<usize>,
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
    let mut distinct = false;
    flatten(q.body.as_ref(), &mut bodies, &mut distinct)?;
    let mut whole_only = None;
    let mut refuse = |what: &str| {
        whole_only.get_or_insert_with(|| {
            RouteError::unsupported(format!(
                "{what} over several shards (a UNION is supported over several shards as UNION ALL of plain SELECTs, or when all its branches go to the same shard)"
            ))
        });
    };
    if distinct {
        refuse("UNION (DISTINCT)");
    }
    if q.order_by.is_some() || q.limit_clause.is_some() || q.fetch.is_some() {
        refuse("ORDER BY / LIMIT on top of a UNION");
    }
    if q.with.is_some() {
        refuse("WITH (common table expressions)");
    }
    let mut branches = Vec::with_capacity(bodies.len());
    let mut columns: Option<usize> = None;
    let mut next_param = 0usize;
    for body in bodies {
        let (text, select) = match body {
            SetExpr::Select(s) => (body.to_string(), Some(s)),
            SetExpr::Query(inner) => {
                refuse("a parenthesised UNION branch (with its own ORDER BY / LIMIT)");
                let select = match inner.body.as_ref() {
                    SetExpr::Select(s) => Some(s),
                    _ => None,
                };
                (inner.to_string(), select)
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
        branches.push(Branch {
            route: branch_route,
            params: next_param..next_param + count,
        });
        next_param += count;
    }
    if next_param != Placeholders::scan(sql).len() {
        refuse("parameters outside the branches of a UNION");
    }
    route.targets = Targets::Union(Box::new(UnionPlan {
        branches,
        whole_only,
    }));
    route.merge = Merge::Concat;
    route.read_only = true;
    Ok(Route::Shard(Box::new(route)))
}

/// The branches of a left-deep UNION chain; `distinct` is set if any is UNION DISTINCT.
fn flatten<'q>(
    e: &'q SetExpr,
    out: &mut Vec<&'q SetExpr>,
    distinct: &mut bool,
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
            if !matches!(set_quantifier, SetQuantifier::All) {
                *distinct = true;
            }
            flatten(left, out, distinct)?;
            flatten(right, out, distinct)
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
        for b in &self.branches {
            let p = params.get(b.params.clone()).unwrap_or(&[]);
            let t = b.route.resolve(topology, p, hasher, literal)?;
            if t.len() > 1 && b.route.merge_plan.is_some() {
                return Err(RouteError::unsupported(
                    "ORDER BY, LIMIT, GROUP BY, DISTINCT or aggregates inside a UNION branch over several shards",
                ));
            }
            per_branch.push(t.len());
            all.extend(t);
        }
        let one_shard = all.first().map(|t| t.shard);
        if per_branch.iter().all(|n| *n == 1) && all.iter().all(|t| Some(t.shard) == one_shard) {
            let first = all.swap_remove(0);
            return Ok(vec![whole(first)]);
        }
        if let Some(e) = &self.whole_only {
            return Err(e.clone());
        }
        Ok(all)
    }
}
