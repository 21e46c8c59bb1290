//! Route planning: from a statement text and the session's logical schema to a [`Route`]
//! — which shards a statement goes to (possibly decided only when parameter values are
//! bound), how their answers combine, and the SQL each shard receives.
//!
//! The planner is strict: a statement is routed exactly, or refused with an error that
//! names the construct. It never guesses.

use super::keys::{Constraint, Operand, Placeholders, constraint};
use super::span::LineIndex;
use super::tables::{TableRef, table_refs};
use super::template::SqlTemplate;
use myshard_config::{SchemaTopology, TableRule, Topology};
use sqlparser::ast::{
    Expr, GroupByExpr, Ident, ObjectName, SelectItem, SetExpr, Statement, visit_expressions,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use std::ops::ControlFlow;

/// A refusal, with the MySQL error it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    /// MySQL errno.
    pub code: u16,
    /// SQLSTATE.
    pub state: &'static str,
    /// Message naming the problem.
    pub message: String,
}

impl RouteError {
    /// 1235: a construct myshard does not support (yet).
    pub fn unsupported(message: impl Into<String>) -> Self {
        RouteError {
            code: 1235,
            state: "42000",
            message: message.into(),
        }
    }

    /// 1046: the statement needs a schema.
    pub fn no_database() -> Self {
        RouteError {
            code: 1046,
            state: "3D000",
            message: "No database selected".into(),
        }
    }

    /// 1105: a statement the sharding rules forbid.
    pub fn refused(message: impl Into<String>) -> Self {
        RouteError {
            code: 1105,
            state: "HY000",
            message: message.into(),
        }
    }
}

/// How the answers of several shards combine into one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// Rows of every shard, one after the other (reads).
    Concat,
    /// Affected rows summed (writes to a sharded table).
    SumAffected,
    /// Every copy changes identically (writes to a global table): report one shard's result.
    FirstResult,
}

/// Which shards a statement targets.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// Exactly these shards.
    Shards(Vec<u32>),
    /// Chosen by the shard key values, possibly bound at execute time.
    ByKey(Vec<KeyGroup>),
    /// The branches of a UNION, each planned as a SELECT (see [`super::union`]).
    Union(Box<super::union::UnionPlan>),
    /// One row group per shard (INSERT): row i goes where its key value hashes.
    Rows {
        /// The sharded table.
        rule: TableRule,
        /// Key operand of each row.
        keys: Vec<Operand>,
    },
}

/// Co-located sharded tables joined on their keys, with the constraint on their key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyGroup {
    /// The key rule (key type and collation) shared by the group.
    pub rule: TableRule,
    /// Names of the tables in the group, for messages.
    pub tables: Vec<String>,
    /// What WHERE says about the key.
    pub constraint: Constraint,
}

/// What to do when the key constrains nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unconstrained {
    /// Go to every shard.
    AllShards,
    /// Refuse.
    Refuse(RouteError),
}

/// A statement of a sharded (or renamed) logical schema, planned.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardRoute {
    /// The logical schema.
    pub schema: String,
    /// Target shards.
    pub targets: Targets,
    /// When the key constrains nothing.
    pub unconstrained: Unconstrained,
    /// How results combine.
    pub merge: Merge,
    /// The SQL per shard.
    pub template: SqlTemplate,
    /// For multi-row inserts: how to print the statement for a subset of rows.
    pub split: Option<super::insert::InsertSplit>,
    /// Statement kind for messages ("SELECT", "UPDATE", …).
    pub verb: &'static str,
    /// Whether the statement only reads.
    pub read_only: bool,
    /// Why the statement may not go to more than one shard (it needs a merge other than
    /// concatenation, or an ORDER BY/LIMIT write), if so.
    pub single_shard_only: Option<RouteError>,
    /// For a SELECT needing more than concatenation when it reaches several shards: the
    /// shard SQL and the merge.
    pub merge_plan: Option<Box<crate::merge::plan::MergePlan>>,
}

impl ShardRoute {
    /// `sql` unchanged, to `shards` of `schema` (statements with nothing to rename, or
    /// that the parser cannot read).
    fn verbatim(schema: &str, sql: &str, shards: Vec<u32>) -> Box<ShardRoute> {
        Box::new(ShardRoute {
            schema: schema.to_string(),
            targets: Targets::Shards(shards),
            unconstrained: Unconstrained::AllShards,
            merge: Merge::Concat,
            template: SqlTemplate::verbatim(sql),
            split: None,
            verb: "statement",
            read_only: false,
            single_shard_only: None,
            merge_plan: None,
        })
    }
}

/// The plan of one statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// Nothing to do with sharding or renaming: send the text unchanged to the session's
    /// unsharded route.
    Passthrough,
    /// Shard-targeted.
    Shard(Box<ShardRoute>),
    /// Refused.
    Error(RouteError),
}

/// What the planner needs to know about the session.
#[derive(Debug, Clone, Copy)]
pub struct RouteContext<'a> {
    /// The configuration's topology.
    pub topology: &'a Topology,
    /// The session's logical schema.
    pub schema: Option<&'a str>,
}

/// Plans `sql`. A `/* myshard: shard=N */` hint sends it to shard N (see [`super::hint`]);
/// a hinted write is refused (see [`plan_hinted`]).
///
/// Statements beyond the topology's `limits.max_statement_bytes` or
/// `limits.max_expression_depth` are refused before they are parsed. Walking a statement
/// near the depth limit needs more stack than an async worker has: callers run large or
/// deep statements on a thread with [`crate::limits::planner_stack_bytes`] of stack.
pub fn plan(sql: &str, ctx: RouteContext<'_>) -> Route {
    plan_hinted(sql, ctx, false)
}

/// Plans `sql`; `hint_writes` says whether the user may force a write onto a shard with a
/// hint (`users[].shard_hint_writes`).
pub fn plan_hinted(sql: &str, ctx: RouteContext<'_>, hint_writes: bool) -> Route {
    let route = plan_unhinted(sql, ctx);
    if matches!(&route, Route::Error(e) if crate::limits::is_limit_error(e)) {
        // Never parse a refused statement, not even to honour a hint.
        return route;
    }
    match super::hint::find_hint(sql) {
        None => route,
        Some(h) => super::hint::permit(apply_hint(route, h.shard, sql, ctx), sql, hint_writes),
    }
}

/// Forces the planned route (or, for a statement the parser cannot read, the verbatim
/// text) onto `shard`.
fn apply_hint(route: Route, shard: u32, sql: &str, ctx: RouteContext<'_>) -> Route {
    let mut r = match route {
        Route::Shard(r) => r,
        Route::Error(e) => {
            let parses = Parser::parse_sql(&MySqlDialect {}, sql).is_ok();
            match ctx.schema {
                Some(s) if !parses && ctx.topology.schema(s).is_some() => {
                    ShardRoute::verbatim(s, sql, vec![])
                }
                _ => return Route::Error(e),
            }
        }
        Route::Passthrough => match ctx.schema {
            Some(s) if ctx.topology.schema(s).is_some() => ShardRoute::verbatim(s, sql, vec![]),
            _ => return Route::Passthrough,
        },
    };
    let count = ctx
        .topology
        .schema(&r.schema)
        .map_or(0, |s| s.shard_count());
    if shard >= count {
        return Route::Error(RouteError::refused(format!(
            "hint shard={shard}: logical schema '{}' has shards 0 to {}",
            r.schema,
            count.saturating_sub(1)
        )));
    }
    r.targets = Targets::Shards(vec![shard]);
    r.unconstrained = Unconstrained::AllShards;
    r.split = None;
    Route::Shard(r)
}

fn plan_unhinted(sql: &str, ctx: RouteContext<'_>) -> Route {
    if !needs_planning(sql, ctx) {
        return Route::Passthrough;
    }
    let limits = crate::limits::PlanLimits::from(ctx.topology.limits());
    if let Err(e) = crate::limits::check(sql, &limits) {
        return Route::Error(e);
    }
    let mut stmts = match Parser::parse_sql(&MySqlDialect {}, sql) {
        Ok(s) => s,
        Err(e) => return unparsed(sql, ctx, &e.to_string()),
    };
    if stmts.len() != 1 {
        return match plan_multi(sql, &stmts, ctx) {
            Ok(r) => r,
            Err(e) => Route::Error(e),
        };
    }
    let stmt = stmts.remove(0);
    match plan_parsed(sql, &stmt, ctx) {
        Ok(r) => r,
        Err(e) => Route::Error(e),
    }
}

/// Whether `sql` can involve a sharded schema or a renamed physical database: the session
/// schema is sharded, or a token names such a schema. [`plan`] answers
/// [`Route::Passthrough`] at once otherwise.
pub fn needs_planning(sql: &str, ctx: RouteContext<'_>) -> bool {
    let special = |name: &str| match ctx.topology.schema(name) {
        Some(SchemaTopology::Sharded(_)) => true,
        Some(SchemaTopology::Unsharded { database, .. }) => database != name,
        None => false,
    };
    // In a sharded schema every statement needs planning; in a renamed unsharded one only
    // those that name the schema (unqualified names resolve in the selected database).
    if ctx
        .schema
        .is_some_and(|s| matches!(ctx.topology.schema(s), Some(SchemaTopology::Sharded(_))))
    {
        return true;
    }
    if !ctx.topology.renames_schemas() {
        return false;
    }
    crate::lexer::Lexer::new(sql).any(|t| match t {
        crate::lexer::Token::Word(w) | crate::lexer::Token::QuotedIdent(w) => special(w),
        _ => false,
    })
}

/// Several statements in one text: allowed when they all stay in one unsharded schema,
/// whose references are renamed in one pass.
fn plan_multi(sql: &str, stmts: &[Statement], ctx: RouteContext<'_>) -> Result<Route, RouteError> {
    let idx = LineIndex::new(sql);
    let mut tables = Vec::new();
    for s in stmts {
        tables.extend(table_refs(s, &idx).map_err(|e| RouteError::unsupported(e.0))?);
    }
    let mut logical: Option<&str> = None;
    for t in &tables {
        let Some(name) = t.schema.as_deref().or(ctx.schema) else {
            continue;
        };
        match ctx.topology.schema(name) {
            None => continue,
            Some(SchemaTopology::Sharded(_)) => {
                return Err(RouteError::unsupported(format!(
                    "multi-statement text using sharded schema '{name}'; send one statement at a time"
                )));
            }
            Some(SchemaTopology::Unsharded { .. }) => {}
        }
        match logical {
            Some(l) if l != name => {
                return Err(RouteError::unsupported(format!(
                    "multi-statement text using two logical schemas ('{l}' and '{name}')"
                )));
            }
            _ => logical = Some(name),
        }
    }
    if let Some(s) = ctx.schema
        && matches!(ctx.topology.schema(s), Some(SchemaTopology::Sharded(_)))
    {
        return Err(RouteError::unsupported(format!(
            "multi-statement text in sharded schema '{s}'; send one statement at a time"
        )));
    }
    let Some(logical) = logical else {
        return Ok(Route::Passthrough);
    };
    let belongs = |t: &TableRef| t.schema.as_deref().or(ctx.schema) == Some(logical);
    Ok(Route::Shard(Box::new(ShardRoute {
        schema: logical.to_string(),
        targets: Targets::Shards(vec![0]),
        unconstrained: Unconstrained::AllShards,
        merge: Merge::Concat,
        template: SqlTemplate::new(sql, stmts, &idx, &tables, logical, &belongs),
        split: None,
        verb: "statement",
        read_only: false,
        single_shard_only: None,
        merge_plan: None,
    })))
}

/// A statement the parser does not understand: the home shard if it mentions no sharded
/// or global table, otherwise an error.
fn unparsed(sql: &str, ctx: RouteContext<'_>, parse_error: &str) -> Route {
    let Some(name) = ctx.schema else {
        return Route::Passthrough;
    };
    let Some(SchemaTopology::Sharded(s)) = ctx.topology.schema(name) else {
        return Route::Passthrough;
    };
    let mentioned = crate::lexer::Lexer::new(sql).find_map(|t| match t {
        crate::lexer::Token::Word(w) | crate::lexer::Token::QuotedIdent(w)
            if s.table(w).is_some() =>
        {
            Some(w.to_string())
        }
        _ => None,
    });
    if let Some(t) = mentioned {
        return Route::Error(RouteError::unsupported(format!(
            "a statement myshard cannot parse that uses sharded or global table '{t}' ({parse_error})"
        )));
    }
    Route::Shard(ShardRoute::verbatim(name, sql, vec![s.home_shard]))
}

/// A table reference resolved against the topology.
struct Resolved<'a> {
    table: &'a TableRef,
    rule: Option<&'a TableRule>,
}

fn plan_parsed(sql: &str, stmt: &Statement, ctx: RouteContext<'_>) -> Result<Route, RouteError> {
    let idx = LineIndex::new(sql);
    let tables = table_refs(stmt, &idx).map_err(|e| RouteError::unsupported(e.0))?;
    // The one logical schema the statement's tables belong to (besides system schemas).
    let mut logical: Option<&str> = None;
    for t in &tables {
        let name = match t.schema.as_deref() {
            Some(s) => s,
            None => ctx.schema.ok_or_else(RouteError::no_database)?,
        };
        if ctx.topology.schema(name).is_none() {
            continue; // information_schema, mysql, …: passed to the backend as written
        }
        match logical {
            None => logical = Some(name),
            Some(l) if l == name => {}
            Some(l) => {
                return Err(RouteError::unsupported(format!(
                    "a statement using tables of two logical schemas ('{l}' and '{name}')"
                )));
            }
        }
    }
    let logical = match logical.or(ctx.schema) {
        Some(l) => l,
        None => return Ok(Route::Passthrough),
    };
    let belongs = |t: &TableRef| t.schema.as_deref().or(ctx.schema) == Some(logical);
    let template = SqlTemplate::new(
        sql,
        std::slice::from_ref(stmt),
        &idx,
        &tables,
        logical,
        &belongs,
    );
    let verb = verb(stmt);
    let read_only = matches!(stmt, Statement::Query(_));
    let sharded = match ctx.topology.schema(logical) {
        Some(SchemaTopology::Sharded(s)) => s,
        Some(SchemaTopology::Unsharded { .. }) | None => {
            // Only renaming is needed.
            return Ok(Route::Shard(Box::new(ShardRoute {
                schema: logical.to_string(),
                targets: Targets::Shards(vec![0]),
                unconstrained: Unconstrained::AllShards,
                merge: Merge::Concat,
                template,
                split: None,
                verb,
                read_only,
                single_shard_only: None,
                merge_plan: None,
            })));
        }
    };
    let resolved: Vec<Resolved<'_>> = tables
        .iter()
        .filter(|t| belongs(t))
        .map(|t| Resolved {
            table: t,
            rule: sharded.table(&t.name),
        })
        .collect();
    let mut route = ShardRoute {
        schema: logical.to_string(),
        targets: Targets::Shards(vec![sharded.home_shard]),
        unconstrained: Unconstrained::AllShards,
        merge: Merge::Concat,
        template,
        split: None,
        verb,
        read_only,
        single_shard_only: None,
        merge_plan: None,
    };
    let is_ddl = is_ddl(stmt);
    let sharded_tables: Vec<&Resolved<'_>> = resolved
        .iter()
        .filter(|r| matches!(r.rule, Some(TableRule::Sharded { .. })))
        .collect();
    let global: Vec<&Resolved<'_>> = resolved
        .iter()
        .filter(|r| matches!(r.rule, Some(TableRule::Global)))
        .collect();
    let local: Vec<&Resolved<'_>> = resolved.iter().filter(|r| r.rule.is_none()).collect();

    if is_ddl {
        let all = !sharded_tables.is_empty() || !global.is_empty();
        if all && !local.is_empty() {
            return Err(RouteError::unsupported(format!(
                "DDL mixing sharded/global table '{}' with unsharded table '{}'",
                sharded_tables
                    .iter()
                    .chain(&global)
                    .next()
                    .map_or("", |r| r.table.name.as_str()),
                local[0].table.name
            )));
        }
        if all {
            route.targets = Targets::Shards((0..sharded.shards).collect());
            route.merge = Merge::FirstResult;
        }
        return Ok(Route::Shard(Box::new(route)));
    }

    if sharded_tables.is_empty() {
        let writes = matches!(
            stmt,
            Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_)
        );
        if writes && !global.is_empty() && !local.is_empty() {
            // Only an INSERT into an unsharded table reading global ones stays on the home
            // shard; anything that may write a global table would leave its copies apart.
            let target_is_local = match stmt {
                Statement::Insert(_) => {
                    local.iter().any(|l| !l.table.nested) && global.iter().all(|g| g.table.nested)
                }
                _ => false,
            };
            if !target_is_local {
                return Err(RouteError::unsupported(format!(
                    "a write combining global table '{}' with unsharded table '{}' (the global table's copies on other shards would differ)",
                    global[0].table.name, local[0].table.name
                )));
            }
        }
        if global.is_empty() || !local.is_empty() || read_only {
            // Unsharded tables, or global tables read (a local copy is as good as any).
            return Ok(Route::Shard(Box::new(route)));
        }
        // A write to global tables changes every copy.
        if matches!(
            stmt,
            Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_)
        ) {
            route.targets = Targets::Shards((0..sharded.shards).collect());
            route.merge = Merge::FirstResult;
        }
        return Ok(Route::Shard(Box::new(route)));
    }

    if let Some(l) = local.first() {
        return Err(RouteError::unsupported(format!(
            "a statement combining sharded table '{}' with unsharded table '{}'",
            sharded_tables[0].table.name, l.table.name
        )));
    }
    if let Statement::Query(q) = stmt
        && matches!(q.body.as_ref(), SetExpr::SetOperation { .. })
    {
        return super::union::plan_union(sql, q, ctx, route);
    }
    if super::subquery::applies(stmt, sharded_tables.iter().map(|r| r.table)) {
        // Subqueries, derived tables, WITH, INSERT … SELECT: see super::subquery.
        let rule_of = |t: &TableRef| belongs(t).then(|| sharded.table(&t.name).cloned())?;
        let template = |edits| {
            let stmts = std::slice::from_ref(stmt);
            SqlTemplate::with_edits(sql, stmts, &idx, &tables, logical, &belongs, edits)
        };
        let ph = Placeholders::scan(sql);
        let input = super::subquery::NestedInput {
            sql,
            stmt,
            idx: &idx,
            ph: &ph,
            tables: &tables,
            rule_of: &rule_of,
            template: &template,
        };
        super::subquery::plan_nested(&input, &mut route)?;
        return Ok(Route::Shard(Box::new(route)));
    }
    let ph = Placeholders::scan(sql);
    match stmt {
        Statement::Insert(ins) => {
            let [target] = sharded_tables.as_slice() else {
                return Err(RouteError::unsupported(
                    "INSERT … SELECT from a sharded table",
                ));
            };
            super::insert::plan_insert(&mut route, ins, target.table, target.rule, &idx, &ph)?;
            route.merge = Merge::SumAffected;
        }
        Statement::Query(q) => {
            let SetExpr::Select(select) = q.body.as_ref() else {
                return Err(RouteError::unsupported(
                    "a set operation (UNION, …) over sharded tables",
                ));
            };
            let mut joins: Vec<&Expr> = Vec::new();
            for t in &select.from {
                for j in &t.joins {
                    if let Some(e) = join_condition(&j.join_operator) {
                        joins.push(e);
                    }
                }
            }
            route.targets = key_targets(
                &sharded_tables,
                select.selection.as_ref(),
                &joins,
                &idx,
                &ph,
            )?;
            route.merge = Merge::Concat;
            route.unconstrained = Unconstrained::AllShards;
            if needs_merge(q, select).is_some() {
                let template = |edits| {
                    SqlTemplate::with_edits(
                        sql,
                        std::slice::from_ref(stmt),
                        &idx,
                        &tables,
                        logical,
                        &belongs,
                        edits,
                    )
                };
                let only = sharded_tables.len() == 1;
                let is_key =
                    |parts: &[Ident]| sharded_tables.iter().any(|t| is_key_column(t, parts, only));
                let input = crate::merge::plan::MergeInput {
                    sql,
                    query: q,
                    select,
                    template: &template,
                    is_key: &is_key,
                };
                match crate::merge::plan::plan(&input) {
                    Ok(m) => route.merge_plan = Some(Box::new(m)),
                    Err(e) => route.single_shard_only = Some(e),
                }
            }
        }
        Statement::Update(u) => {
            for a in &u.assignments {
                if let sqlparser::ast::AssignmentTarget::ColumnName(c) = &a.target
                    && sharded_tables.iter().any(|t| {
                        is_key_column(
                            t,
                            &c.0.iter()
                                .filter_map(|p| p.as_ident().cloned())
                                .collect::<Vec<_>>(),
                            sharded_tables.len() == 1,
                        )
                    })
                {
                    return Err(RouteError::refused(format!(
                        "UPDATE may not change the shard key ({c}) of a sharded table; delete and insert the row instead"
                    )));
                }
            }
            route.targets = key_targets(&sharded_tables, u.selection.as_ref(), &[], &idx, &ph)?;
            route.merge = Merge::SumAffected;
            route.unconstrained = full_scan_policy("UPDATE", &sharded_tables);
            route.single_shard_only = ordered_write(
                "UPDATE",
                &sharded_tables,
                u.limit.is_some() || !u.order_by.is_empty(),
            );
        }
        Statement::Delete(d) => {
            route.targets = key_targets(&sharded_tables, d.selection.as_ref(), &[], &idx, &ph)?;
            route.merge = Merge::SumAffected;
            route.unconstrained = full_scan_policy("DELETE", &sharded_tables);
            route.single_shard_only = ordered_write(
                "DELETE",
                &sharded_tables,
                d.limit.is_some() || !d.order_by.is_empty(),
            );
        }
        _ => {
            return Err(RouteError::unsupported(format!(
                "this kind of statement ({verb}) on sharded table '{}'",
                sharded_tables[0].table.name
            )));
        }
    }
    Ok(Route::Shard(Box::new(route)))
}

fn join_condition(op: &sqlparser::ast::JoinOperator) -> Option<&Expr> {
    use sqlparser::ast::{JoinConstraint, JoinOperator as J};
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

fn full_scan_policy(verb: &str, tables: &[&Resolved<'_>]) -> Unconstrained {
    let t = tables[0];
    let allowed = matches!(
        t.rule,
        Some(TableRule::Sharded {
            allow_full_scan_writes: true,
            ..
        })
    );
    if !allowed {
        return Unconstrained::Refuse(RouteError::refused(format!(
            "{verb} of sharded table '{}' without a condition on its shard key would change every shard; add the key to WHERE or set allow_full_scan_writes for the table",
            t.table.name
        )));
    }
    Unconstrained::AllShards
}

/// An UPDATE/DELETE with ORDER BY or LIMIT has no meaning spread over several shards.
fn ordered_write(
    verb: &str,
    tables: &[&Resolved<'_>],
    ordered_or_limited: bool,
) -> Option<RouteError> {
    ordered_or_limited.then(|| {
        RouteError::unsupported(format!(
            "{verb} with ORDER BY or LIMIT over several shards of '{}'",
            tables[0].table.name
        ))
    })
}

/// The reason a multi-shard SELECT would need a merge other than concatenation.
fn needs_merge(q: &sqlparser::ast::Query, select: &sqlparser::ast::Select) -> Option<&'static str> {
    if q.order_by.is_some() {
        return Some("ORDER BY");
    }
    if q.limit_clause.is_some() {
        return Some("LIMIT");
    }
    if select.distinct.is_some() {
        return Some("DISTINCT");
    }
    if !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty()) {
        return Some("GROUP BY");
    }
    if select.having.is_some() {
        return Some("HAVING");
    }
    let mut aggregate = false;
    for item in &select.projection {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            let _ = visit_expressions(e, |x: &Expr| {
                if let Expr::Function(f) = x {
                    let name = f.name.to_string().to_ascii_uppercase();
                    if matches!(
                        name.as_str(),
                        "COUNT"
                            | "SUM"
                            | "MIN"
                            | "MAX"
                            | "AVG"
                            | "GROUP_CONCAT"
                            | "STD"
                            | "STDDEV"
                            | "VARIANCE"
                            | "BIT_AND"
                            | "BIT_OR"
                            | "BIT_XOR"
                            | "JSON_ARRAYAGG"
                            | "JSON_OBJECTAGG"
                    ) || f.over.is_some()
                    {
                        aggregate = true;
                    }
                }
                ControlFlow::<()>::Continue(())
            });
        }
    }
    aggregate.then_some("an aggregate or window function")
}

/// Whether column reference `parts` designates the shard key of `t`.
fn is_key_column(t: &Resolved<'_>, parts: &[Ident], only_table: bool) -> bool {
    let Some(TableRule::Sharded { key, .. }) = t.rule else {
        return false;
    };
    match parts {
        [c] => only_table && c.value.eq_ignore_ascii_case(key),
        [q, c] => t.table.answers_to(&q.value) && c.value.eq_ignore_ascii_case(key),
        [s, q, c] => {
            t.table.schema.as_deref().is_none_or(|ts| ts == s.value)
                && t.table.alias.is_none()
                && q.value == t.table.name
                && c.value.eq_ignore_ascii_case(key)
        }
        _ => false,
    }
}

/// Groups co-located sharded tables (joined on their keys) and collects each group's key
/// constraint.
fn key_targets(
    tables: &[&Resolved<'_>],
    selection: Option<&Expr>,
    joins: &[&Expr],
    idx: &LineIndex<'_>,
    ph: &Placeholders,
) -> Result<Targets, RouteError> {
    let n = tables.len();
    // Union-find over tables joined by key equality.
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], i: usize) -> usize {
        let mut i = i;
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    let mut conjuncts = Vec::new();
    for e in selection.into_iter().chain(joins.iter().copied()) {
        split_and(e, &mut conjuncts);
    }
    let unqualified_ok = n == 1;
    for c in &conjuncts {
        if let Expr::BinaryOp {
            left,
            op: sqlparser::ast::BinaryOperator::Eq,
            right,
        } = c
        {
            let (Some(l), Some(r)) = (column_parts(left), column_parts(right)) else {
                continue;
            };
            let a = tables
                .iter()
                .position(|t| is_key_column(t, &l, unqualified_ok));
            let b = tables
                .iter()
                .position(|t| is_key_column(t, &r, unqualified_ok));
            if let (Some(a), Some(b)) = (a, b)
                && a != b
                && same_key_kind(tables[a].rule, tables[b].rule)
            {
                let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
                parent[ra] = rb;
            }
        }
    }
    let mut groups: Vec<(usize, KeyGroup)> = Vec::new();
    for (i, t) in tables.iter().enumerate() {
        let root = find(&mut parent, i);
        let table_constraint = match selection {
            Some(e) => constraint(
                e,
                &|parts: &[Ident]| is_key_column(t, parts, unqualified_ok),
                idx,
                ph,
            ),
            None => Constraint::Any,
        };
        match groups.iter_mut().find(|(r, _)| *r == root) {
            Some((_, g)) => {
                g.tables.push(t.table.name.clone());
                g.constraint = match (
                    std::mem::replace(&mut g.constraint, Constraint::Any),
                    table_constraint,
                ) {
                    (Constraint::Any, c) | (c, Constraint::Any) => c,
                    (a, b) => Constraint::And(vec![a, b]),
                };
            }
            None => groups.push((
                root,
                KeyGroup {
                    rule: t.rule.cloned().unwrap_or(TableRule::Global),
                    tables: vec![t.table.name.clone()],
                    constraint: table_constraint,
                },
            )),
        }
    }
    Ok(Targets::ByKey(groups.into_iter().map(|(_, g)| g).collect()))
}

fn same_key_kind(a: Option<&TableRule>, b: Option<&TableRule>) -> bool {
    match (a, b) {
        (
            Some(TableRule::Sharded {
                key_type: ka,
                collation: ca,
                ..
            }),
            Some(TableRule::Sharded {
                key_type: kb,
                collation: cb,
                ..
            }),
        ) => ka == kb && ca == cb,
        _ => false,
    }
}

fn split_and<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: sqlparser::ast::BinaryOperator::And,
            right,
        } => {
            split_and(left, out);
            split_and(right, out);
        }
        Expr::Nested(inner) => split_and(inner, out),
        other => out.push(other),
    }
}

fn column_parts(e: &Expr) -> Option<Vec<Ident>> {
    match e {
        Expr::Identifier(i) => Some(vec![i.clone()]),
        Expr::CompoundIdentifier(p) => Some(p.clone()),
        _ => None,
    }
}

fn is_ddl(stmt: &Statement) -> bool {
    matches!(
        stmt,
        Statement::CreateTable(_)
            | Statement::AlterTable(_)
            | Statement::Drop { .. }
            | Statement::Truncate(_)
            | Statement::CreateIndex(_)
    )
}

fn verb(stmt: &Statement) -> &'static str {
    match stmt {
        Statement::Query(_) => "SELECT",
        Statement::Insert(i) if i.replace_into => "REPLACE",
        Statement::Insert(_) => "INSERT",
        Statement::Update(_) => "UPDATE",
        Statement::Delete(_) => "DELETE",
        Statement::CreateTable(_) => "CREATE TABLE",
        Statement::AlterTable(_) => "ALTER TABLE",
        Statement::Drop { .. } => "DROP",
        Statement::Truncate(_) => "TRUNCATE",
        Statement::CreateIndex(_) => "CREATE INDEX",
        _ => "statement",
    }
}

/// Table names in `name` as written, for messages.
pub fn object_name(name: &ObjectName) -> String {
    name.to_string()
}
