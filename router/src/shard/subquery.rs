//! Statements whose sharded tables sit in subqueries, derived tables or WITH queries, and
//! INSERT … SELECT.
//!
//! The sharded tables are grouped into co-located sets (see [`super::scopes`]): tables
//! whose shard keys are equal wherever they meet — joins, correlation with an outer query,
//! `key IN (SELECT key …)`. Then:
//! - several sets: each must be limited to one shard by its own key condition, all the
//!   same shard; the statement goes there whole;
//! - one set whose outermost tables belong to the statement itself: it runs on every shard
//!   it may touch and merges like a plain scatter;
//! - one set rooted in a derived table: it scatters only when that derived table gives the
//!   same rows shard by shard (no LIMIT, DISTINCT, aggregate not grouped by the key) and
//!   the outer query is a plain projection and filter over it;
//! - one set rooted in a subquery or WITH query: only limited to one shard.
//!
//! Everything else is refused with 1235, naming the construct.

use super::keys::{Constraint, Operand, Placeholders, operand};
use super::plan::{KeyGroup, Merge, RouteError, ShardRoute, Targets, Unconstrained};
use super::scopes::{Builder, RuleOf, ScopeKind, ScopedTable, Scopes, Source, column, resolve};
use super::span::LineIndex;
use super::tables::TableRef;
use super::template::SqlTemplate;
use myshard_config::TableRule;
use sqlparser::ast::{
    AssignmentTarget, FromTable, Insert, OnInsert, Query, SelectItem, SetExpr, Statement,
};
use std::ops::Range;

/// What the planner hands over for a statement with nested sharded tables.
pub struct NestedInput<'a> {
    /// The statement text.
    pub sql: &'a str,
    /// The statement.
    pub stmt: &'a Statement,
    /// Offsets of its parser locations.
    pub idx: &'a LineIndex<'a>,
    /// Its `?` placeholders.
    pub ph: &'a Placeholders,
    /// Every table reference.
    pub tables: &'a [TableRef],
    /// The rule of a sharded or global table of the logical schema.
    pub rule_of: &'a RuleOf<'a>,
    /// The shard SQL with text edits (for the merge form of the outer query).
    pub template: &'a dyn Fn(Vec<(Range<usize>, String)>) -> SqlTemplate,
}

/// Whether a statement needs this planner: a sharded table below the statement's own
/// FROM, or an INSERT … SELECT.
pub fn applies<'t>(stmt: &Statement, mut sharded: impl Iterator<Item = &'t TableRef>) -> bool {
    let insert_select = matches!(stmt, Statement::Insert(ins)
        if ins.source.as_ref().is_some_and(|q| !matches!(q.body.as_ref(), SetExpr::Values(_))));
    insert_select || sharded.any(|t| t.nested)
}

/// One set of co-located sharded tables.
struct Colocated {
    members: Vec<usize>,
    /// The outermost scope holding members.
    root: usize,
    /// The key condition of the members in the root scope.
    constraint: Constraint,
}

/// Fills `route` (targets, merge, limits) for a statement with nested sharded tables.
pub fn plan_nested(input: &NestedInput<'_>, route: &mut ShardRoute) -> Result<(), RouteError> {
    let mut b = Builder::new(input.tables, input.rule_of, input.idx, input.ph);
    match input.stmt {
        Statement::Query(q) => {
            b.query(q, ScopeKind::Top, None, None);
        }
        Statement::Update(u) => {
            let top = b.open(ScopeKind::Top, None, None);
            let mut on = Vec::new();
            b.joined(top, &u.table, &[], &mut on);
            if let Some(
                sqlparser::ast::UpdateTableFromKind::BeforeSet(f)
                | sqlparser::ast::UpdateTableFromKind::AfterSet(f),
            ) = &u.from
            {
                for t in f {
                    b.joined(top, t, &[], &mut on);
                }
            }
            b.filter(top, u.selection.as_ref(), &on);
            b.subqueries_of(top, &u.table);
            b.subqueries_of(top, &u.from);
            b.subqueries_of(top, &u.selection);
            b.subqueries_of(top, &u.assignments);
            b.subqueries_of(top, &u.order_by);
        }
        Statement::Delete(d) => {
            let top = b.open(ScopeKind::Top, None, None);
            let mut on = Vec::new();
            let (FromTable::WithFromKeyword(f) | FromTable::WithoutKeyword(f)) = &d.from;
            for t in f.iter().chain(d.using.iter().flatten()) {
                b.joined(top, t, &[], &mut on);
            }
            b.filter(top, d.selection.as_ref(), &on);
            b.subqueries_of(top, &d.from);
            b.subqueries_of(top, &d.using);
            b.subqueries_of(top, &d.selection);
            b.subqueries_of(top, &d.order_by);
        }
        Statement::Insert(ins) => match &ins.source {
            Some(q) => {
                b.query(q, ScopeKind::Top, None, None);
                insert_target(&mut b, ins, q, input)?;
            }
            None => return Err(RouteError::unsupported("INSERT without rows")),
        },
        _ => {
            return Err(RouteError::unsupported(format!(
                "this kind of statement ({}) with a subquery over a sharded table",
                route.verb
            )));
        }
    }
    let s = b.out;
    if s.set_operation {
        return Err(RouteError::unsupported(
            "a set operation (UNION, …) over sharded tables",
        ));
    }
    if s.recursive_with {
        return Err(RouteError::unsupported(
            "a recursive WITH query over sharded tables",
        ));
    }
    for t in input.tables {
        if matches!((input.rule_of)(t), Some(TableRule::Sharded { .. }))
            && !s.tables.iter().any(|p| p.table.range == t.range)
        {
            return Err(RouteError::unsupported(format!(
                "sharded table '{}' in a construct myshard cannot place (a table function or a subquery inside one)",
                t.name
            )));
        }
    }
    check_writes(input.stmt, &s)?;
    let sets = colocated(&s);
    let groups: Vec<KeyGroup> = sets
        .iter()
        .map(|c| KeyGroup {
            rule: s.tables[c.members[0]].rule.clone(),
            tables: c.members.iter().map(|&i| described(&s, i)).collect(),
            constraint: c.constraint.clone(),
        })
        .collect();
    if sets.len() > 1 {
        // Several sets: the statement runs whole on one shard or not at all.
        let unpinned = |c: &&Colocated| c.constraint == Constraint::Any;
        let nested = sets.iter().filter(unpinned).find(|c| c.root != 0);
        if let Some(c) = nested.or_else(|| sets.iter().find(unpinned)) {
            return Err(RouteError::unsupported(apart(&s, c, &sets)));
        }
        route.single_shard_only = Some(RouteError::unsupported(format!(
            "sharded tables not co-located ({}) whose key conditions select different shards",
            groups
                .iter()
                .map(|g| g.tables.join(", "))
                .collect::<Vec<_>>()
                .join("; ")
        )));
    } else if let Some(c) = sets.first()
        && let Err(e) = scatter(&s, c, input.stmt)
    {
        if c.constraint == Constraint::Any {
            return Err(e);
        }
        route.single_shard_only = Some(e);
    }
    route.targets = Targets::ByKey(groups);
    route.unconstrained = Unconstrained::AllShards;
    match input.stmt {
        Statement::Query(q) => {
            route.merge = Merge::Concat;
            let top_scatters = sets.len() == 1 && sets[0].root == 0;
            if top_scatters && s.scopes[0].needs_merge.is_some() {
                merge_plan(input, q, &s, route)?;
            }
        }
        Statement::Update(u) => {
            route.merge = Merge::SumAffected;
            route.unconstrained = full_scan_policy("UPDATE", &s);
            if u.limit.is_some() || !u.order_by.is_empty() {
                route.single_shard_only.get_or_insert(ordered("UPDATE", &s));
            }
        }
        Statement::Delete(d) => {
            route.merge = Merge::SumAffected;
            route.unconstrained = full_scan_policy("DELETE", &s);
            if d.limit.is_some() || !d.order_by.is_empty() {
                route.single_shard_only.get_or_insert(ordered("DELETE", &s));
            }
        }
        _ => route.merge = Merge::SumAffected,
    }
    Ok(())
}

/// The merge form of an outer SELECT reaching several shards.
fn merge_plan(
    input: &NestedInput<'_>,
    q: &Query,
    s: &Scopes,
    route: &mut ShardRoute,
) -> Result<(), RouteError> {
    let SetExpr::Select(select) = q.body.as_ref() else {
        return Err(RouteError::unsupported(
            "a parenthesized query over several shards",
        ));
    };
    let is_key = |parts: &[sqlparser::ast::Ident]| {
        resolve(s, 0, parts).is_some_and(|i| s.tables[i].scope == 0)
    };
    let m = crate::merge::plan::MergeInput {
        sql: input.sql,
        query: q,
        select,
        template: input.template,
        is_key: &is_key,
    };
    match crate::merge::plan::plan(&m) {
        Ok(p) => route.merge_plan = Some(Box::new(p)),
        Err(e) => route.single_shard_only = Some(e),
    }
    Ok(())
}

/// The INSERT target of an INSERT … SELECT, co-located with the table whose key it copies
/// or limited by the literal key it inserts.
fn insert_target(
    b: &mut Builder<'_>,
    ins: &Insert,
    q: &Query,
    input: &NestedInput<'_>,
) -> Result<(), RouteError> {
    let Some(target) = input.tables.iter().find(|t| !t.nested) else {
        return Err(RouteError::unsupported(
            "INSERT … SELECT without a target table",
        ));
    };
    let read = || {
        input
            .tables
            .iter()
            .find(|t| t.nested && matches!((input.rule_of)(t), Some(TableRule::Sharded { .. })))
            .map_or_else(|| "?".to_string(), |t| t.name.clone())
    };
    let rule = (input.rule_of)(target);
    let key = match &rule {
        Some(TableRule::Sharded { key, .. }) => key.clone(),
        Some(TableRule::Global) => {
            return Err(RouteError::unsupported(format!(
                "INSERT … SELECT into global table '{}' reading sharded table '{}' (the global table's copies on other shards would differ)",
                target.name,
                read()
            )));
        }
        None => {
            return Err(RouteError::unsupported(format!(
                "INSERT … SELECT into unsharded table '{}' reading sharded table '{}'",
                target.name,
                read()
            )));
        }
    };
    if let Some(OnInsert::DuplicateKeyUpdate(assignments)) = &ins.on
        && assignments.iter().any(|a| names_column(&a.target, &key))
    {
        return Err(RouteError::refused(format!(
            "ON DUPLICATE KEY UPDATE may not change the shard key '{key}' of sharded table '{}'",
            target.name
        )));
    }
    if ins.columns.is_empty() {
        return Err(RouteError::refused(format!(
            "INSERT … SELECT into sharded table '{}' must list its columns (the shard key '{key}' among them)",
            target.name
        )));
    }
    let Some(at) = ins.columns.iter().position(|c| {
        c.0.last()
            .and_then(|p| p.as_ident())
            .is_some_and(|i| i.value.eq_ignore_ascii_case(&key))
    }) else {
        return Err(RouteError::refused(format!(
            "INSERT into sharded table '{}' must set its shard key '{key}'",
            target.name
        )));
    };
    let SetExpr::Select(select) = q.body.as_ref() else {
        return Err(RouteError::unsupported(format!(
            "INSERT … SELECT into sharded table '{}' from a set operation or parenthesized query",
            target.name
        )));
    };
    let item = match select.projection.get(at) {
        Some(SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. })
            if !select.projection.iter().take(at).any(|i| {
                !matches!(
                    i,
                    SelectItem::UnnamedExpr(_) | SelectItem::ExprWithAlias { .. }
                )
            }) =>
        {
            e
        }
        _ => {
            return Err(RouteError::unsupported(format!(
                "INSERT … SELECT into sharded table '{}' whose select list does not give the shard key '{key}' as a plain column or literal (no *)",
                target.name
            )));
        }
    };
    let mut constraint = Constraint::Any;
    let mut copies = None;
    if let Some(op) = operand(item, input.idx, input.ph) {
        if op == Operand::Literal(super::keys::Literal::Null) {
            return Err(RouteError::refused(format!(
                "the shard key of a row inserted into sharded table '{}' is NULL; sharded rows need a key",
                target.name
            )));
        }
        constraint = Constraint::Values(vec![op]);
    } else if let Some(parts) = column(item) {
        copies = resolve(&b.out, 0, &parts).filter(|&i| b.out.tables[i].scope == 0);
    }
    if constraint == Constraint::Any && copies.is_none() {
        return Err(RouteError::unsupported(format!(
            "INSERT … SELECT into sharded table '{}' whose shard key '{key}' is neither a literal nor the shard key of a sharded table read in the same row",
            target.name
        )));
    }
    b.out.tables.push(ScopedTable {
        table: target.clone(),
        // Sharded: the other rules returned above.
        rule: rule.unwrap_or(TableRule::Global),
        scope: 0,
        constraint,
        hidden: true,
    });
    let t = b.out.tables.len() - 1;
    b.out.scopes[0].sources.push(Source::Table(t));
    if let Some(c) = copies {
        b.edge(t, c);
    }
    Ok(())
}

fn names_column(t: &AssignmentTarget, key: &str) -> bool {
    match t {
        AssignmentTarget::ColumnName(c) => {
            c.0.last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| i.value.eq_ignore_ascii_case(key))
        }
        AssignmentTarget::Tuple(cs) => cs.iter().any(|c| {
            c.0.last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| i.value.eq_ignore_ascii_case(key))
        }),
    }
}

/// UPDATE / DELETE: no change of a shard key, no write to a global table (its copies
/// would differ, the subquery reading each shard's own rows).
fn check_writes(stmt: &Statement, s: &Scopes) -> Result<(), RouteError> {
    let top: Vec<usize> = s.scopes.first().map_or(Vec::new(), |sc| {
        sc.sources
            .iter()
            .filter_map(|x| match x {
                Source::Table(i) => Some(*i),
                _ => None,
            })
            .collect()
    });
    let global = |i: &usize| matches!(s.tables[*i].rule, TableRule::Global);
    let sharded_read = || {
        s.tables
            .iter()
            .find(|t| matches!(t.rule, TableRule::Sharded { .. }))
            .map_or("?", |t| t.table.name.as_str())
    };
    let refuse_global = |i: usize| {
        Err(RouteError::unsupported(format!(
            "a write to global table '{}' reading sharded table '{}' (the global table's copies on other shards would differ)",
            s.tables[i].table.name,
            sharded_read()
        )))
    };
    match stmt {
        Statement::Update(u) => {
            for a in &u.assignments {
                let cols: Vec<&sqlparser::ast::ObjectName> = match &a.target {
                    AssignmentTarget::ColumnName(c) => vec![c],
                    AssignmentTarget::Tuple(cs) => cs.iter().collect(),
                };
                for c in cols {
                    let parts: Vec<_> = c.0.iter().filter_map(|p| p.as_ident().cloned()).collect();
                    if let Some(i) = resolve(s, 0, &parts)
                        && s.tables[i].scope == 0
                    {
                        return Err(RouteError::refused(format!(
                            "UPDATE may not change the shard key ({c}) of a sharded table; delete and insert the row instead"
                        )));
                    }
                    let written = match parts.as_slice() {
                        [_] => top
                            .iter()
                            .copied()
                            .find(global)
                            .filter(|_| !top.iter().any(|i| !global(i))),
                        [q, _] => top
                            .iter()
                            .copied()
                            .find(|i| s.tables[*i].table.answers_to(&q.value))
                            .filter(global),
                        _ => None,
                    };
                    if let Some(g) = written {
                        return refuse_global(g);
                    }
                }
            }
        }
        Statement::Delete(d) => {
            let targets: Vec<usize> = if d.tables.is_empty() {
                top.clone()
            } else {
                top.iter()
                    .copied()
                    .filter(|i| {
                        d.tables.iter().any(|n| {
                            n.0.last()
                                .and_then(|p| p.as_ident())
                                .is_some_and(|id| s.tables[*i].table.answers_to(&id.value))
                        })
                    })
                    .collect()
            };
            if let Some(g) = targets.into_iter().find(global) {
                return refuse_global(g);
            }
        }
        _ => {}
    }
    if matches!(stmt, Statement::Update(_) | Statement::Delete(_))
        && !top
            .iter()
            .any(|i| matches!(s.tables[*i].rule, TableRule::Sharded { .. }))
        && let Some(g) = top.iter().copied().find(global)
    {
        return refuse_global(g);
    }
    Ok(())
}

/// Groups the sharded tables into co-located sets (union-find over key equalities).
fn colocated(s: &Scopes) -> Vec<Colocated> {
    let n = s.tables.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for &(a, b) in &s.edges {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        parent[ra] = rb;
    }
    let mut sets: Vec<(usize, Vec<usize>)> = Vec::new();
    for i in 0..n {
        if !matches!(s.tables[i].rule, TableRule::Sharded { .. }) {
            continue;
        }
        let r = find(&mut parent, i);
        match sets.iter_mut().find(|(root, _)| *root == r) {
            Some((_, m)) => m.push(i),
            None => sets.push((r, vec![i])),
        }
    }
    sets.into_iter()
        .map(|(_, members)| {
            let depth = |i: &usize| s.scopes[s.tables[*i].scope].depth;
            let shallowest = members.iter().map(depth).min().unwrap_or(0);
            let roots: Vec<usize> = members
                .iter()
                .filter(|i| depth(i) == shallowest)
                .map(|&i| s.tables[i].scope)
                .collect();
            let root = roots[0];
            // Only the root scope's own WHERE limits the set's rows; a condition inside a
            // subquery (which may sit under NOT) limits nothing outside it.
            let mut constraint = Constraint::Any;
            if roots.iter().all(|&r| r == root) {
                for &i in &members {
                    if s.tables[i].scope == root {
                        constraint = and(constraint, s.tables[i].constraint.clone());
                    }
                }
            }
            Colocated {
                members,
                root,
                constraint,
            }
        })
        .collect()
}

fn and(a: Constraint, b: Constraint) -> Constraint {
    match (a, b) {
        (Constraint::Any, c) | (c, Constraint::Any) => c,
        (Constraint::And(mut v), c) => {
            v.push(c);
            Constraint::And(v)
        }
        (a, b) => Constraint::And(vec![a, b]),
    }
}

/// A table for messages: its name and the construct it sits in.
fn described(s: &Scopes, i: usize) -> String {
    let t = &s.tables[i];
    match s.scopes[t.scope].kind {
        ScopeKind::Top => t.table.name.clone(),
        k => format!("{} in {}", t.table.name, k.name()),
    }
}

/// The refusal for a set of sharded tables neither co-located with the others nor
/// limited to one shard.
fn apart(s: &Scopes, c: &Colocated, sets: &[Colocated]) -> String {
    let t = &s.tables[c.members[0]];
    let others: Vec<String> = sets
        .iter()
        .filter(|o| o.members[0] != c.members[0])
        .map(|o| format!("'{}'", described(s, o.members[0])))
        .collect();
    let kind = s.scopes[c.root].kind;
    let what = match kind {
        ScopeKind::Top => format!("sharded table '{}'", t.table.name),
        k => format!("{} over sharded table '{}'", k.name(), t.table.name),
    };
    format!(
        "{what} neither joined nor correlated on the shard key with {} nor limited to one shard by a condition on its key",
        others.join(", ")
    )
}

/// Whether one co-located set may run on several shards; why not otherwise.
fn scatter(s: &Scopes, c: &Colocated, stmt: &Statement) -> Result<(), RouteError> {
    let name = &s.tables[c.members[0]].table.name;
    let root = &s.scopes[c.root];
    match root.kind {
        ScopeKind::Top => {
            if matches!(stmt, Statement::Insert(_))
                && let Some(why) = root.not_decomposable
            {
                return Err(RouteError::unsupported(format!(
                    "INSERT … SELECT with {why} over several shards of '{name}'"
                )));
            }
            Ok(())
        }
        ScopeKind::Derived => {
            if !matches!(stmt, Statement::Query(_)) {
                return Err(RouteError::unsupported(format!(
                    "a derived table over sharded table '{name}' in a write reaching several shards"
                )));
            }
            let mut at = c.root;
            while at != 0 {
                let sc = &s.scopes[at];
                if sc.kind != ScopeKind::Derived {
                    return Err(RouteError::unsupported(format!(
                        "{} holding a derived table over sharded table '{name}' that reaches several shards",
                        sc.kind.name()
                    )));
                }
                if let Some(why) = sc.not_decomposable {
                    return Err(RouteError::unsupported(format!(
                        "a derived table with {why} over several shards of '{name}' (limit it to one shard with a condition on the shard key)"
                    )));
                }
                let Some(up) = sc.container else { break };
                if s.scopes[up].sources.len() != 1 {
                    return Err(RouteError::unsupported(format!(
                        "a derived table over sharded table '{name}' joined with other tables not on the shard key, over several shards"
                    )));
                }
                at = up;
            }
            if let Some(why) = s.scopes[0].needs_merge {
                return Err(RouteError::unsupported(format!(
                    "{why} in the outer query over a derived table that reaches several shards of '{name}' (only a plain projection and filter is merged)"
                )));
            }
            Ok(())
        }
        k @ (ScopeKind::Subquery | ScopeKind::With) => Err(RouteError::unsupported(format!(
            "{} over sharded table '{name}' reaching several shards, neither correlated on the shard key with a sharded table of the outer query nor limited to one shard by a condition on its key",
            k.name()
        ))),
    }
}

fn full_scan_policy(verb: &str, s: &Scopes) -> Unconstrained {
    let first = s
        .tables
        .iter()
        .find(|t| t.scope == 0 && matches!(t.rule, TableRule::Sharded { .. }));
    match first {
        Some(ScopedTable {
            rule:
                TableRule::Sharded {
                    allow_full_scan_writes: true,
                    ..
                },
            ..
        }) => Unconstrained::AllShards,
        Some(t) => Unconstrained::Refuse(RouteError::refused(format!(
            "{verb} of sharded table '{}' without a condition on its shard key would change every shard; add the key to WHERE or set allow_full_scan_writes for the table",
            t.table.name
        ))),
        None => Unconstrained::AllShards,
    }
}

fn ordered(verb: &str, s: &Scopes) -> RouteError {
    let name = s
        .tables
        .iter()
        .find(|t| t.scope == 0)
        .map_or("?", |t| t.table.name.as_str());
    RouteError::unsupported(format!(
        "{verb} with ORDER BY or LIMIT over several shards of '{name}'"
    ))
}
