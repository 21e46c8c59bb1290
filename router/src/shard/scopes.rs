//! The scopes of a statement with subqueries: every SELECT (the outer one, each subquery,
//! derived table and WITH query) with the sharded and global tables it reads, the
//! equalities on shard keys that make two of them co-located (joins, correlation with an
//! outer query, `key IN (SELECT key …)`), and what each table's own WHERE says about its key.
//!
//! Column references resolve like MySQL resolves them: in the scope that names the
//! qualifier, else outward. Whatever cannot be resolved for certain is treated as "not a
//! shard key": that only ever makes the planner more careful (fewer co-located tables,
//! fewer key conditions), never wrong.

use super::keys::{Constraint, Placeholders, constraint};
use super::span::LineIndex;
use super::tables::TableRef;
use myshard_config::TableRule;
use sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, Ident, JoinConstraint, JoinOperator, Query, Select,
    SelectItem, SetExpr, TableFactor, TableWithJoins, Visit, Visitor,
};
use std::ops::ControlFlow;

/// What kind of SELECT a scope is, for the planner's rules and its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    /// The statement itself (for INSERT … SELECT: its SELECT).
    Top,
    /// A subquery in an expression (`EXISTS`, `IN`, scalar).
    Subquery,
    /// A derived table in FROM.
    Derived,
    /// A WITH query.
    With,
}

impl ScopeKind {
    /// The construct, for messages.
    pub fn name(self) -> &'static str {
        match self {
            ScopeKind::Top => "the statement",
            ScopeKind::Subquery => "a subquery",
            ScopeKind::Derived => "a derived table",
            ScopeKind::With => "a WITH query",
        }
    }
}

/// Something a scope reads from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A sharded or global table: index into [`Scopes::tables`].
    Table(usize),
    /// A derived table (with its scope) or WITH query reference, by alias or name.
    Derived(String, Option<usize>),
    /// Anything else (another schema's table, a table function), by alias or name.
    Other(String),
}

/// One SELECT.
#[derive(Debug, Clone)]
pub struct Scope {
    /// What it is.
    pub kind: ScopeKind,
    /// The scope whose names it also sees (correlation), if any.
    pub outer: Option<usize>,
    /// The scope it sits in (for a derived table: the SELECT whose FROM holds it).
    pub container: Option<usize>,
    /// Nesting depth (0 for the statement).
    pub depth: usize,
    /// What FROM reads.
    pub sources: Vec<Source>,
    /// Why the rows of this SELECT are not the union of its rows on each shard, if so
    /// (LIMIT, DISTINCT, aggregates not grouped by a shard key, window functions).
    pub not_decomposable: Option<&'static str>,
    /// Why the outer query needs more than concatenation over several shards, if so.
    pub needs_merge: Option<&'static str>,
}

/// A sharded or global table read in some scope.
#[derive(Debug, Clone)]
pub struct ScopedTable {
    /// The reference.
    pub table: TableRef,
    /// Its rule.
    pub rule: TableRule,
    /// Its scope.
    pub scope: usize,
    /// What its scope's WHERE says about its shard key.
    pub constraint: Constraint,
    /// An INSERT target: not visible to the SELECT's column names.
    pub hidden: bool,
}

/// The analysis of a statement.
#[derive(Debug, Default)]
pub struct Scopes {
    /// Every SELECT; index 0 is the statement.
    pub scopes: Vec<Scope>,
    /// Every sharded or global table, in the order met.
    pub tables: Vec<ScopedTable>,
    /// Pairs of sharded tables whose keys are equal wherever both take part in a row.
    pub edges: Vec<(usize, usize)>,
    /// A set operation (UNION, …) met somewhere.
    pub set_operation: bool,
    /// A recursive WITH met.
    pub recursive_with: bool,
}

/// Looks a table reference up: its rule when it is a sharded or global table of the
/// logical schema.
pub type RuleOf<'r> = dyn Fn(&TableRef) -> Option<TableRule> + 'r;

/// Builds [`Scopes`] while walking a statement.
pub struct Builder<'a> {
    /// The result so far.
    pub out: Scopes,
    refs: &'a [TableRef],
    rule_of: &'a RuleOf<'a>,
    idx: &'a LineIndex<'a>,
    ph: &'a Placeholders,
}

impl<'a> Builder<'a> {
    /// A builder over the statement's table references.
    pub fn new(
        refs: &'a [TableRef],
        rule_of: &'a RuleOf<'a>,
        idx: &'a LineIndex<'a>,
        ph: &'a Placeholders,
    ) -> Self {
        Builder {
            out: Scopes::default(),
            refs,
            rule_of,
            idx,
            ph,
        }
    }

    /// Opens an empty scope.
    pub fn open(
        &mut self,
        kind: ScopeKind,
        outer: Option<usize>,
        container: Option<usize>,
    ) -> usize {
        let depth = container.map_or(0, |c| self.out.scopes[c].depth + 1);
        self.out.scopes.push(Scope {
            kind,
            outer,
            container,
            depth,
            sources: Vec::new(),
            not_decomposable: None,
            needs_merge: None,
        });
        self.out.scopes.len() - 1
    }

    /// Walks a query (its WITH queries, its SELECT and the subqueries of ORDER BY / LIMIT)
    /// as a new scope of `kind`.
    pub fn query(
        &mut self,
        q: &Query,
        kind: ScopeKind,
        outer: Option<usize>,
        container: Option<usize>,
    ) -> usize {
        let scope = self.open(kind, outer, container);
        let mut with_names = Vec::new();
        if let Some(w) = &q.with {
            self.out.recursive_with |= w.recursive;
            for cte in &w.cte_tables {
                let s = self.query(&cte.query, ScopeKind::With, None, Some(scope));
                with_names.push((cte.alias.name.value.clone(), s));
            }
        }
        match q.body.as_ref() {
            SetExpr::Select(s) => self.select(scope, s, &with_names),
            SetExpr::Query(inner) => {
                // `(SELECT …)`: one more level of parentheses, same rows.
                let s = self.query(inner, ScopeKind::Derived, None, Some(scope));
                self.out.scopes[scope]
                    .sources
                    .push(Source::Derived(String::new(), Some(s)));
            }
            SetExpr::SetOperation { .. } => self.out.set_operation = true,
            _ => {}
        }
        let sc = &mut self.out.scopes[scope];
        if q.limit_clause.is_some() || q.fetch.is_some() {
            sc.not_decomposable = Some("LIMIT");
            sc.needs_merge.get_or_insert("LIMIT");
        }
        if q.order_by.is_some() {
            sc.needs_merge.get_or_insert("ORDER BY");
        }
        let mut f = Finder::default();
        let _ = q.order_by.visit(&mut f);
        let _ = q.limit_clause.visit(&mut f);
        for e in f.found {
            self.subquery(scope, &e);
        }
        scope
    }

    /// Walks one SELECT into `scope`.
    fn select(&mut self, scope: usize, s: &Select, with_names: &[(String, usize)]) {
        let mut on: Vec<&Expr> = Vec::new();
        for t in &s.from {
            self.joined(scope, t, with_names, &mut on);
        }
        self.filter(scope, s.selection.as_ref(), &on);
        self.shape(scope, s);
        let mut f = Finder::default();
        let _ = s.visit(&mut f);
        for e in f.found {
            self.subquery(scope, &e);
        }
    }

    /// Adds the FROM sources of `t` to `scope`; collects join conditions.
    pub fn joined<'t>(
        &mut self,
        scope: usize,
        t: &'t TableWithJoins,
        with_names: &[(String, usize)],
        on: &mut Vec<&'t Expr>,
    ) {
        self.factor(scope, &t.relation, with_names, on);
        for j in &t.joins {
            self.factor(scope, &j.relation, with_names, on);
            if let Some(e) = join_condition(&j.join_operator) {
                on.push(e);
            }
        }
    }

    fn factor<'t>(
        &mut self,
        scope: usize,
        f: &'t TableFactor,
        with_names: &[(String, usize)],
        on: &mut Vec<&'t Expr>,
    ) {
        match f {
            TableFactor::Table { name, alias, .. } => {
                let range = self.idx.of(name);
                let alias_name = alias.as_ref().map(|a| a.name.value.clone());
                let found = self.refs.iter().find(|r| Some(&r.range) == range.as_ref());
                match found.and_then(|r| (self.rule_of)(r).map(|rule| (r, rule))) {
                    Some((r, rule)) => {
                        // Table references list aliases of the statement's own tables
                        // only; a nested table's alias is here.
                        let mut table = r.clone();
                        table.alias = alias_name;
                        self.out.tables.push(ScopedTable {
                            table,
                            rule,
                            scope,
                            constraint: Constraint::Any,
                            hidden: false,
                        });
                        let i = self.out.tables.len() - 1;
                        self.out.scopes[scope].sources.push(Source::Table(i));
                    }
                    None => {
                        let written = name.to_string();
                        let shown = alias_name.unwrap_or_else(|| {
                            name.0
                                .last()
                                .and_then(|p| p.as_ident())
                                .map_or(written.clone(), |i| i.value.clone())
                        });
                        let with = found
                            .is_none()
                            .then(|| with_names.iter().find(|(n, _)| *n == written))
                            .flatten();
                        self.out.scopes[scope].sources.push(match with {
                            Some((_, s)) => Source::Derived(shown, Some(*s)),
                            None => Source::Other(shown),
                        });
                    }
                }
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let child = self.query(subquery, ScopeKind::Derived, None, Some(scope));
                let name = alias
                    .as_ref()
                    .map_or(String::new(), |a| a.name.value.clone());
                self.out.scopes[scope]
                    .sources
                    .push(Source::Derived(name, Some(child)));
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.joined(scope, table_with_joins, with_names, on),
            other => {
                // Table functions and the like: whatever tables they hold stay unplaced,
                // which the planner refuses.
                self.out.scopes[scope]
                    .sources
                    .push(Source::Other(other.to_string()));
            }
        }
    }

    /// Key constraints of the scope's own tables and key equalities (WHERE conjuncts and
    /// join conditions).
    pub fn filter(&mut self, scope: usize, selection: Option<&Expr>, on: &[&Expr]) {
        let own: Vec<usize> = self.own_tables(scope);
        if let Some(w) = selection {
            for &i in &own {
                let c = {
                    let out = &self.out;
                    constraint(
                        w,
                        &|parts: &[Ident]| resolve(out, scope, parts) == Some(i),
                        self.idx,
                        self.ph,
                    )
                };
                self.out.tables[i].constraint = c;
            }
        }
        let mut conjuncts = Vec::new();
        for e in selection.into_iter().chain(on.iter().copied()) {
            split_and(e, &mut conjuncts);
        }
        for c in conjuncts {
            if let Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } = c
            {
                let a = column(left).and_then(|p| resolve(&self.out, scope, &p));
                let b = column(right).and_then(|p| resolve(&self.out, scope, &p));
                // An equality between two outer tables inside a subquery (which may sit
                // under NOT or OR) says nothing about the outer rows: only one that
                // involves this scope's own table co-locates.
                if let (Some(a), Some(b)) = (a, b)
                    && (self.out.tables[a].scope == scope || self.out.tables[b].scope == scope)
                {
                    self.edge(a, b);
                }
            }
        }
    }

    /// Records that `a` and `b` are co-located when their keys are of the same kind.
    pub fn edge(&mut self, a: usize, b: usize) {
        if a != b && same_key_kind(&self.out.tables[a].rule, &self.out.tables[b].rule) {
            self.out.edges.push((a, b));
        }
    }

    fn own_tables(&self, scope: usize) -> Vec<usize> {
        self.out.scopes[scope]
            .sources
            .iter()
            .filter_map(|s| match s {
                Source::Table(i) => Some(*i),
                _ => None,
            })
            .collect()
    }

    /// Decomposability and merge needs of a SELECT.
    fn shape(&mut self, scope: usize, s: &Select) {
        let grouped = !matches!(&s.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
        let aggregate = s.projection.iter().any(|item| match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                has_aggregate(e)
            }
            _ => false,
        }) || s.having.is_some();
        let window = s.projection.iter().any(|item| match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => has_window(e),
            _ => false,
        });
        let by_key = match &s.group_by {
            GroupByExpr::Expressions(e, modifiers) => {
                modifiers.is_empty()
                    && e.iter().any(|g| {
                        column(g)
                            .and_then(|p| resolve(&self.out, scope, &p))
                            .is_some_and(|i| {
                                self.out.tables[i].scope == scope
                                    && matches!(self.out.tables[i].rule, TableRule::Sharded { .. })
                            })
                    })
            }
            GroupByExpr::All(_) => false,
        };
        let sc = &mut self.out.scopes[scope];
        let why = if window {
            Some("a window function")
        } else if s.distinct.is_some() {
            Some("DISTINCT")
        } else if grouped && !by_key {
            Some("GROUP BY without the shard key")
        } else if aggregate && !grouped {
            Some("an aggregate")
        } else {
            None
        };
        if let Some(w) = why {
            sc.not_decomposable.get_or_insert(w);
        }
        let merge = if window || aggregate {
            Some("an aggregate or window function")
        } else if s.distinct.is_some() {
            Some("DISTINCT")
        } else if grouped {
            Some("GROUP BY")
        } else {
            None
        };
        if let Some(m) = merge {
            sc.needs_merge.get_or_insert(m);
        }
    }

    /// A subquery found in an expression of `scope`.
    fn subquery(&mut self, scope: usize, e: &Expr) {
        match e {
            Expr::Exists { subquery, .. } | Expr::Subquery(subquery) => {
                self.query(subquery, ScopeKind::Subquery, Some(scope), Some(scope));
            }
            Expr::InSubquery {
                expr,
                subquery,
                negated,
            } => {
                let child = self.query(subquery, ScopeKind::Subquery, Some(scope), Some(scope));
                // `outer_key IN (SELECT inner_key …)`: a row of the outer table matches only
                // rows with its own key, which live on its shard. NOT IN is not: a NULL or a
                // match anywhere else changes its answer.
                if *negated || self.out.scopes[child].not_decomposable.is_some() {
                    return;
                }
                let outer = column(expr).and_then(|p| resolve(&self.out, scope, &p));
                let inner = projected_key(subquery)
                    .and_then(|p| resolve(&self.out, child, &p))
                    .filter(|&i| self.out.tables[i].scope == child);
                if let (Some(a), Some(b)) = (outer, inner) {
                    self.edge(a, b);
                }
            }
            _ => {}
        }
    }

    /// Walks the subqueries of expressions of `scope` (UPDATE's SET values, WHERE, …).
    pub fn subqueries_of<V: Visit>(&mut self, scope: usize, v: &V) {
        let mut f = Finder::default();
        let _ = v.visit(&mut f);
        for e in f.found {
            self.subquery(scope, &e);
        }
    }
}

/// Finds the outermost subqueries in expressions, not entering nested queries.
#[derive(Default)]
struct Finder {
    queries: usize,
    exprs: usize,
    inside: Option<usize>,
    found: Vec<Expr>,
}

impl Visitor for Finder {
    type Break = ();
    fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
        self.queries += 1;
        ControlFlow::Continue(())
    }
    fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
        self.queries -= 1;
        ControlFlow::Continue(())
    }
    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        self.exprs += 1;
        if self.inside.is_none()
            && self.queries == 0
            && matches!(
                e,
                Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
            )
        {
            self.found.push(e.clone());
            self.inside = Some(self.exprs);
        }
        ControlFlow::Continue(())
    }
    fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
        if self.inside == Some(self.exprs) {
            self.inside = None;
        }
        self.exprs -= 1;
        ControlFlow::Continue(())
    }
}

/// The sharded table whose shard key a column reference designates, seen from `scope`.
pub fn resolve(s: &Scopes, scope: usize, parts: &[Ident]) -> Option<usize> {
    let mut at = Some(scope);
    while let Some(sc) = at {
        match lookup(s, sc, parts) {
            Lookup::Key(i) => return Some(i),
            Lookup::NotKey => return None,
            Lookup::Outward => at = s.scopes[sc].outer,
        }
    }
    None
}

enum Lookup {
    Key(usize),
    NotKey,
    Outward,
}

fn key_of(t: &ScopedTable) -> Option<&str> {
    match &t.rule {
        TableRule::Sharded { key, .. } => Some(key),
        TableRule::Global => None,
    }
}

fn lookup(s: &Scopes, scope: usize, parts: &[Ident]) -> Lookup {
    let sc = &s.scopes[scope];
    let visible = || {
        sc.sources.iter().filter_map(|src| match src {
            Source::Table(i) if !s.tables[*i].hidden => Some(*i),
            _ => None,
        })
    };
    let is_key =
        |i: usize, c: &Ident| key_of(&s.tables[i]).is_some_and(|k| c.value.eq_ignore_ascii_case(k));
    match parts {
        [c] => {
            let keys: Vec<usize> = visible().filter(|&i| is_key(i, c)).collect();
            match keys.as_slice() {
                [one] => Lookup::Key(*one),
                [] if sc.sources.is_empty() => Lookup::Outward,
                _ => Lookup::NotKey,
            }
        }
        [q, c] => {
            if let Some(i) = visible().find(|&i| s.tables[i].table.answers_to(&q.value)) {
                return if is_key(i, c) {
                    Lookup::Key(i)
                } else {
                    Lookup::NotKey
                };
            }
            let other = sc.sources.iter().any(|src| match src {
                Source::Derived(n, _) | Source::Other(n) => n.eq_ignore_ascii_case(&q.value),
                Source::Table(_) => false,
            });
            if other {
                Lookup::NotKey
            } else {
                Lookup::Outward
            }
        }
        [schema, q, c] => {
            let found = visible().find(|&i| {
                let t = &s.tables[i].table;
                t.alias.is_none()
                    && t.name == q.value
                    && t.schema.as_deref().is_none_or(|ts| ts == schema.value)
            });
            match found {
                Some(i) if is_key(i, c) => Lookup::Key(i),
                Some(_) => Lookup::NotKey,
                None => Lookup::Outward,
            }
        }
        _ => Lookup::NotKey,
    }
}

/// The single column a subquery selects, when it is a plain column reference.
fn projected_key(q: &Query) -> Option<Vec<Ident>> {
    let SetExpr::Select(s) = q.body.as_ref() else {
        return None;
    };
    match s.projection.as_slice() {
        [SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }] => column(e),
        _ => None,
    }
}

fn join_condition(op: &JoinOperator) -> Option<&Expr> {
    use JoinOperator as J;
    match op {
        J::Join(JoinConstraint::On(e))
        | J::Inner(JoinConstraint::On(e))
        | J::Left(JoinConstraint::On(e))
        | J::LeftOuter(JoinConstraint::On(e))
        | J::Right(JoinConstraint::On(e))
        | J::RightOuter(JoinConstraint::On(e)) => Some(e),
        _ => None,
    }
}

fn same_key_kind(a: &TableRule, b: &TableRule) -> bool {
    match (a, b) {
        (
            TableRule::Sharded {
                key_type: ka,
                collation: ca,
                ..
            },
            TableRule::Sharded {
                key_type: kb,
                collation: cb,
                ..
            },
        ) => ka == kb && ca == cb,
        _ => false,
    }
}

fn split_and<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            split_and(left, out);
            split_and(right, out);
        }
        Expr::Nested(inner) => split_and(inner, out),
        other => out.push(other),
    }
}

/// A column reference's parts.
pub fn column(e: &Expr) -> Option<Vec<Ident>> {
    match e {
        Expr::Identifier(i) => Some(vec![i.clone()]),
        Expr::CompoundIdentifier(p) => Some(p.clone()),
        Expr::Nested(inner) => column(inner),
        _ => None,
    }
}

/// Aggregate functions, outside nested subqueries.
const AGGREGATES: [&str; 14] = [
    "COUNT",
    "SUM",
    "MIN",
    "MAX",
    "AVG",
    "GROUP_CONCAT",
    "STD",
    "STDDEV",
    "VARIANCE",
    "BIT_AND",
    "BIT_OR",
    "BIT_XOR",
    "JSON_ARRAYAGG",
    "JSON_OBJECTAGG",
];

/// Whether `e` calls a function that `pick` accepts, outside the subqueries it holds.
pub(crate) fn function_outside_subqueries(
    e: &Expr,
    pick: &dyn Fn(&sqlparser::ast::Function) -> bool,
) -> bool {
    struct F<'p> {
        queries: usize,
        pick: &'p dyn Fn(&sqlparser::ast::Function) -> bool,
    }
    impl Visitor for F<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.queries += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.queries -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            match e {
                Expr::Function(f) if self.queries == 0 && (self.pick)(f) => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        }
    }
    e.visit(&mut F { queries: 0, pick }).is_break()
}

fn has_aggregate(e: &Expr) -> bool {
    function_outside_subqueries(e, &|f| {
        f.over.is_none() && {
            let n = f.name.to_string().to_ascii_uppercase();
            AGGREGATES.contains(&n.as_str())
        }
    })
}

fn has_window(e: &Expr) -> bool {
    function_outside_subqueries(e, &|f| f.over.is_some())
}
