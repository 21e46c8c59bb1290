//! Planning a SELECT that reaches several shards: what each shard is asked (the original
//! text with hidden columns appended, `LIMIT` widened to offset + count, `HAVING` and the
//! final `ORDER BY` of grouped queries left to the merge) and how the proxy combines the
//! answers ([`MergePlan`]). A statement the merge cannot answer exactly is refused here,
//! naming the construct.

use super::clauses::{self, Clauses};
use super::having::{self, Having};
use super::paging::Reading;
use crate::shard::plan::RouteError;
use crate::shard::template::SqlTemplate;
use sqlparser::ast::{
    Distinct, DuplicateTreatment, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    GroupByExpr, Ident, OrderByKind, OrderBySort, Query, Select, SelectItem, Value,
    visit_expressions,
};
use std::ops::{ControlFlow, Range};

/// A column of the shard results: one the client sees, or one appended for the merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    /// The client's column number `i` (0-based).
    Visible(usize),
    /// The merge's column number `i` after the client's.
    Hidden(usize),
}

impl Col {
    /// The position in a shard row of `total` columns, `hidden` of them appended.
    pub fn index(self, total: usize, hidden: usize) -> usize {
        match self {
            Col::Visible(i) => i,
            Col::Hidden(i) => total - hidden + i,
        }
    }
}

/// One key of the final order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    /// The column sorted by.
    pub col: Col,
    /// Descending.
    pub desc: bool,
    /// The column holding `COLLATION(key)`, for string keys.
    pub collation: Option<Col>,
}

/// How a column of grouped rows combines across shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A group key or a value the same for the whole group: any shard's.
    First,
    /// `COUNT(…)`: the sum of the shards' counts.
    Count,
    /// `SUM(…)`: the sum of the shards' sums (NULL when all are NULL).
    Sum,
    /// `MIN(…)`.
    Min,
    /// `MAX(…)`.
    Max,
    /// `AVG(x)`: the total of hidden `SUM(x)` divided by the total of hidden `COUNT(x)`.
    Avg {
        /// The hidden `SUM(x)`.
        sum: Col,
        /// The hidden `COUNT(x)`.
        count: Col,
    },
    /// `COUNT(DISTINCT x)`, `SUM(DISTINCT x)`, `AVG(DISTINCT x)` over a column that is not
    /// the shard key: shards also group by `x` and return it (hidden), and the merge counts
    /// or adds the distinct values of each group.
    Distinct {
        /// Which aggregate.
        of: DistinctOf,
        /// The hidden `x`.
        value: Col,
    },
}

/// The aggregate over distinct values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistinctOf {
    /// `COUNT(DISTINCT x)`.
    Count,
    /// `SUM(DISTINCT x)`.
    Sum,
    /// `AVG(DISTINCT x)`.
    Avg,
}

/// A column that combines other than by taking the first shard's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Combine {
    /// The column.
    pub col: Col,
    /// How.
    pub role: Role,
    /// The column holding `COLLATION(col)` (MIN/MAX of strings).
    pub collation: Option<Col>,
}

/// Grouped merging: rows with equal keys become one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// Group key columns, each with its `COLLATION()` column; empty for one group (an
    /// aggregate without GROUP BY).
    pub keys: Vec<(Col, Option<Col>)>,
    /// Columns that combine; every other column takes the first shard's value.
    pub combine: Vec<Combine>,
    /// Whether the query had no GROUP BY: one row comes out even when no shard has rows.
    pub single: bool,
}

/// How the rows of several shards make the client's result.
#[derive(Debug, Clone, PartialEq)]
pub struct MergePlan {
    /// The SQL each shard runs.
    pub template: SqlTemplate,
    /// Columns appended to the client's select list.
    pub hidden: usize,
    /// The final order (empty: any).
    pub order: Vec<SortKey>,
    /// Rows skipped.
    pub offset: u64,
    /// Rows returned at most.
    pub limit: Option<u64>,
    /// Offset and count given as parameters (then `offset` and `limit` above are filled
    /// at execute).
    pub paging: Option<super::paging::ParamPaging>,
    /// Grouping (GROUP BY, aggregates, DISTINCT).
    pub grouping: Option<Grouping>,
    /// HAVING, applied to the merged groups.
    pub having: Option<Having>,
}

/// What the merge planner needs besides the statement.
pub struct MergeInput<'a> {
    /// The statement text.
    pub sql: &'a str,
    /// The statement.
    pub query: &'a Query,
    /// Its SELECT.
    pub select: &'a Select,
    /// Builds the shard SQL template from text edits (renaming tables as usual).
    pub template: &'a dyn Fn(Vec<(Range<usize>, String)>) -> SqlTemplate,
    /// Whether a column reference names the shard key of a table in the statement.
    pub is_key: &'a dyn Fn(&[Ident]) -> bool,
}

/// The aggregate functions the merge combines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Agg {
    Count,
    Sum,
    Min,
    Max,
    Avg,
}

/// A recognised aggregate call: kind, argument (None for `*`), DISTINCT.
pub(crate) struct AggCall<'e> {
    pub kind: Agg,
    pub arg: Option<&'e Expr>,
    pub distinct: bool,
}

const OTHER_AGGREGATES: [&str; 12] = [
    "GROUP_CONCAT",
    "STD",
    "STDDEV",
    "STDDEV_POP",
    "STDDEV_SAMP",
    "VARIANCE",
    "VAR_POP",
    "VAR_SAMP",
    "BIT_AND",
    "BIT_OR",
    "BIT_XOR",
    "JSON_ARRAYAGG",
];

/// `e` as an aggregate call the merge knows, `Err` naming an aggregate it does not.
pub(crate) fn aggregate_call(e: &Expr) -> Result<Option<AggCall<'_>>, RouteError> {
    let Expr::Function(f) = e else {
        return Ok(None);
    };
    let name = f.name.to_string().to_ascii_uppercase();
    if f.over.is_some() {
        return Err(RouteError::unsupported(format!(
            "window function {name}(…) OVER over several shards"
        )));
    }
    let kind = match name.as_str() {
        "COUNT" => Agg::Count,
        "SUM" => Agg::Sum,
        "MIN" => Agg::Min,
        "MAX" => Agg::Max,
        "AVG" => Agg::Avg,
        other if OTHER_AGGREGATES.contains(&other) || other == "JSON_OBJECTAGG" => {
            return Err(RouteError::unsupported(format!(
                "aggregate {other}() over several shards"
            )));
        }
        _ => return Ok(None),
    };
    let FunctionArguments::List(list) = &f.args else {
        return Ok(None);
    };
    if f.filter.is_some() || !f.within_group.is_empty() || !list.clauses.is_empty() {
        return Err(RouteError::unsupported(format!(
            "{name}() with extra clauses over several shards"
        )));
    }
    let distinct = matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct));
    let arg = match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)] if kind == Agg::Count => None,
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(a))] => Some(a),
        _ => {
            return Err(RouteError::unsupported(format!(
                "{name}() with several arguments over several shards"
            )));
        }
    };
    Ok(Some(AggCall {
        kind,
        arg,
        distinct,
    }))
}

/// Whether `e` contains an aggregate call (or window function) anywhere.
pub(crate) fn contains_aggregate(e: &Expr) -> bool {
    // An aggregate inside a subquery is the subquery's own, not this SELECT's.
    crate::shard::scopes::function_outside_subqueries(e, &|f| {
        let name = f.name.to_string().to_ascii_uppercase();
        f.over.is_some()
            || matches!(name.as_str(), "COUNT" | "SUM" | "MIN" | "MAX" | "AVG")
            || OTHER_AGGREGATES.contains(&name.as_str())
            || name == "JSON_OBJECTAGG"
    })
}

/// A select-list item as the planner sees it.
struct Item<'q> {
    expr: Option<&'q Expr>,
    alias: Option<&'q Ident>,
    /// Visible position, unless a `*` before it makes positions unknown until run time.
    position: Option<usize>,
}

/// The planner's working state: hidden columns so far.
pub(crate) struct Builder<'q> {
    items: Vec<Item<'q>>,
    hidden: Vec<String>,
    combine: Vec<Combine>,
    grouped: bool,
    is_key: &'q dyn Fn(&[Ident]) -> bool,
    /// Expressions the shards must also group by (arguments of DISTINCT aggregates).
    extra_group: Vec<String>,
    /// COUNT/SUM(DISTINCT shard key) combines (index in `combine`, argument text).
    keyed_distinct: Vec<(usize, String)>,
}

impl<'q> Builder<'q> {
    /// A hidden column with `text` (reusing an identical one).
    fn hidden(&mut self, text: String) -> Col {
        match self.hidden.iter().position(|h| *h == text) {
            Some(i) => Col::Hidden(i),
            None => {
                self.hidden.push(text);
                Col::Hidden(self.hidden.len() - 1)
            }
        }
    }

    /// The column holding `COLLATION(e)`.
    pub(crate) fn collation_of(&mut self, e: &Expr) -> Col {
        self.hidden(format!("COLLATION({e})"))
    }

    /// The column holding `COLLATION()` of what `e` designates (a select item's expression
    /// when `e` names one, since aliases cannot be used inside the select list).
    pub(crate) fn collation_for(&mut self, e: &Expr, by_position: bool) -> Result<Col, RouteError> {
        let expr = match self.item_for(e, by_position)? {
            Some(i) => self.items[i].expr.unwrap_or(e),
            None => e,
        };
        check_copyable(expr)?;
        Ok(self.collation_of(expr))
    }

    /// Resolves an ORDER BY / GROUP BY / HAVING reference to a select-list item: a
    /// position number, an alias, or an expression written the same way.
    fn item_for(&self, e: &Expr, by_position: bool) -> Result<Option<usize>, RouteError> {
        if by_position
            && let Expr::Value(v) = e
            && let Value::Number(n, _) = &v.value
        {
            let n: usize = n.parse().map_err(|_| {
                RouteError::unsupported(format!("ORDER BY position {n} over several shards"))
            })?;
            if n == 0 || n > self.items.len() && self.items.iter().all(|i| i.expr.is_some()) {
                return Err(RouteError {
                    code: 1054,
                    state: "42S22",
                    message: format!("Unknown column '{n}' in 'order clause'"),
                });
            }
            return Ok(self.items.iter().position(|i| i.position == Some(n - 1)));
        }
        if let Expr::Identifier(id) = e
            && let Some(i) = self.items.iter().position(|i| {
                i.alias
                    .is_some_and(|a| a.value.eq_ignore_ascii_case(&id.value))
            })
        {
            return Ok(Some(i));
        }
        Ok(self
            .items
            .iter()
            .position(|i| i.alias.is_none() && i.expr.is_some_and(|x| same_expr(x, e))))
    }

    /// The column holding the value of `e` (an ORDER BY, GROUP BY or HAVING operand),
    /// adding a hidden one when the select list does not have it.
    pub(crate) fn column_for(&mut self, e: &Expr, by_position: bool) -> Result<Col, RouteError> {
        if let Some(i) = self.item_for(e, by_position)? {
            return match self.items[i].position {
                Some(p) => Ok(Col::Visible(p)),
                None => {
                    let expr = self.items[i].expr.ok_or_else(|| {
                        RouteError::unsupported(
                            "ORDER BY a column of SELECT * by position over several shards",
                        )
                    })?;
                    Ok(self.hidden(expr.to_string()))
                }
            };
        }
        if let Expr::Value(v) = e
            && matches!(v.value, Value::Number(..))
        {
            return Err(RouteError::unsupported(
                "ORDER BY position of a column of SELECT * over several shards",
            ));
        }
        check_copyable(e)?;
        let col = self.hidden(e.to_string());
        if self.grouped {
            self.aggregate_role(e, col)?;
        }
        Ok(col)
    }

    /// Records how the column `col`, computing `e`, combines in a grouped query.
    fn aggregate_role(&mut self, e: &Expr, col: Col) -> Result<(), RouteError> {
        if self.combine.iter().any(|c| c.col == col) {
            return Ok(());
        }
        let Some(call) = aggregate_call(e)? else {
            if contains_aggregate(e) {
                return Err(RouteError::unsupported(format!(
                    "an expression over an aggregate ({e}) over several shards"
                )));
            }
            return Ok(()); // a group key or a value constant in the group
        };
        if call.distinct {
            // Only DISTINCT over a shard key is exact: its values never repeat across shards.
            let keyed = call.arg.is_some_and(|a| match a {
                Expr::Identifier(i) => (self.is_key)(std::slice::from_ref(i)),
                Expr::CompoundIdentifier(p) => (self.is_key)(p),
                _ => false,
            });
            let of = match call.kind {
                Agg::Count => Some(DistinctOf::Count),
                Agg::Sum => Some(DistinctOf::Sum),
                Agg::Avg => Some(DistinctOf::Avg),
                Agg::Min | Agg::Max => None, // the same as without DISTINCT
            };
            // AVG(DISTINCT key) cannot be rebuilt from per-shard SUM and COUNT without
            // DISTINCT; the value-set merge is exact for it and for any column.
            if let (false, Some(of)) | (true, Some(of @ DistinctOf::Avg)) = (keyed, of) {
                let arg = call
                    .arg
                    .ok_or_else(|| RouteError::unsupported("COUNT(DISTINCT *)"))?;
                check_copyable(arg)?;
                if contains_aggregate(arg) {
                    return Err(RouteError::unsupported(format!("{e} (nested aggregates)")));
                }
                let text = arg.to_string();
                let value = self.hidden(text.clone());
                let collation = Some(self.collation_of(arg));
                if !self.extra_group.contains(&text) {
                    self.extra_group.push(text);
                }
                self.combine.push(Combine {
                    col,
                    role: Role::Distinct { of, value },
                    collation,
                });
                return Ok(());
            }
        }
        if call.distinct
            && let Some(arg) = call.arg
            && matches!(call.kind, Agg::Count | Agg::Sum)
        {
            // Summed per shard (the key never repeats across shards) — unless another
            // DISTINCT aggregate makes shards group by more; see `Builder::settle`.
            self.keyed_distinct
                .push((self.combine.len(), arg.to_string()));
        }
        let role = match call.kind {
            Agg::Count => Role::Count,
            Agg::Sum => Role::Sum,
            Agg::Min => Role::Min,
            Agg::Max => Role::Max,
            Agg::Avg => {
                let arg = call.arg.ok_or_else(|| RouteError::unsupported("AVG(*)"))?;
                check_copyable(arg)?;
                let sum = self.hidden(format!("SUM({arg})"));
                let count = self.hidden(format!("COUNT({arg})"));
                self.combine.push(Combine {
                    col: sum,
                    role: Role::Sum,
                    collation: None,
                });
                self.combine.push(Combine {
                    col: count,
                    role: Role::Count,
                    collation: None,
                });
                Role::Avg { sum, count }
            }
        };
        let collation = matches!(role, Role::Min | Role::Max).then(|| self.collation_of(e));
        self.combine.push(Combine {
            col,
            role,
            collation,
        });
        Ok(())
    }
}

impl Builder<'_> {
    /// Once shards also group by a DISTINCT aggregate's argument, per-shard counts of
    /// distinct shard keys are per subgroup and no longer add up: those aggregates merge
    /// by value sets too, their argument joining the shards' GROUP BY.
    fn settle(&mut self) {
        if self.extra_group.is_empty() {
            return;
        }
        for (i, arg) in std::mem::take(&mut self.keyed_distinct) {
            let of = match self.combine[i].role {
                Role::Count => DistinctOf::Count,
                Role::Sum => DistinctOf::Sum,
                _ => continue,
            };
            let value = self.hidden(arg.clone());
            let collation = self.hidden(format!("COLLATION({arg})"));
            self.combine[i].role = Role::Distinct { of, value };
            self.combine[i].collation = Some(collation);
            if !self.extra_group.contains(&arg) {
                self.extra_group.push(arg);
            }
        }
    }
}

/// Refuses to copy an expression whose text names the logical schema (three-part column
/// references would need renaming inside the copy).
fn check_copyable(e: &Expr) -> Result<(), RouteError> {
    let mut three_part = false;
    let mut placeholder = false;
    let mut subquery = false;
    let _ = visit_expressions(e, |x: &Expr| {
        match x {
            Expr::CompoundIdentifier(p) if p.len() > 2 => three_part = true,
            Expr::Value(v) if matches!(v.value, Value::Placeholder(_)) => placeholder = true,
            // A copied subquery would keep its table names unrenamed.
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => subquery = true,
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    if subquery {
        return Err(RouteError::unsupported(format!(
            "a subquery inside an ORDER BY / GROUP BY / HAVING / aggregate expression ({e}) over several shards"
        )));
    }
    if placeholder {
        return Err(RouteError::unsupported(format!(
            "a parameter inside an ORDER BY / GROUP BY / HAVING / aggregate expression ({e}) over several shards"
        )));
    }
    if three_part {
        return Err(RouteError::unsupported(format!(
            "ORDER BY / GROUP BY / HAVING expression with a schema-qualified column ({e}) over several shards"
        )));
    }
    Ok(())
}

/// Whether two expressions are written alike (identifiers compared case-insensitively).
fn same_expr(a: &Expr, b: &Expr) -> bool {
    a.to_string().eq_ignore_ascii_case(&b.to_string())
}

/// Plans the merge of a SELECT that reaches several shards.
pub fn plan(input: &MergeInput<'_>) -> Result<MergePlan, RouteError> {
    let (q, s) = (input.query, input.select);
    refuse_unmergeable(q, s)?;
    let clauses = clauses::find(input.sql)
        .ok_or_else(|| RouteError::unsupported("a SELECT without FROM over several shards"))?;
    let mut items = Vec::new();
    let mut position = Some(0usize);
    for item in &s.projection {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (Some(e), None),
            SelectItem::ExprWithAlias { expr, alias } => (Some(expr), Some(alias)),
            _ => (None, None),
        };
        items.push(Item {
            expr,
            alias,
            position: if expr.is_some() { position } else { None },
        });
        position = match (position, expr) {
            (Some(p), Some(_)) => Some(p + 1),
            _ => None,
        };
    }
    let group_exprs: &[Expr] = match &s.group_by {
        GroupByExpr::Expressions(e, modifiers) => {
            if !modifiers.is_empty() {
                return Err(RouteError::unsupported(
                    "GROUP BY … WITH ROLLUP over several shards",
                ));
            }
            e
        }
        GroupByExpr::All(_) => {
            return Err(RouteError::unsupported("GROUP BY ALL over several shards"));
        }
    };
    let distinct = matches!(s.distinct, Some(Distinct::Distinct));
    let aggregates = items.iter().filter_map(|i| i.expr).any(contains_aggregate);
    let grouped = !group_exprs.is_empty() || aggregates || s.having.is_some() || distinct;
    let mut b = Builder {
        items,
        hidden: Vec::new(),
        combine: Vec::new(),
        grouped,
        is_key: input.is_key,
        extra_group: Vec::new(),
        keyed_distinct: Vec::new(),
    };
    let mut grouping = None;
    if grouped {
        let mut keys = Vec::new();
        if distinct {
            if !group_exprs.is_empty() {
                return Err(RouteError::unsupported(
                    "SELECT DISTINCT with GROUP BY over several shards",
                ));
            }
            for i in 0..b.items.len() {
                let (Some(e), Some(p)) = (b.items[i].expr, b.items[i].position) else {
                    return Err(RouteError::unsupported(
                        "SELECT DISTINCT * over several shards",
                    ));
                };
                if contains_aggregate(e) {
                    return Err(RouteError::unsupported(
                        "SELECT DISTINCT with aggregates over several shards",
                    ));
                }
                check_copyable(e)?;
                let collation = b.collation_of(e);
                keys.push((Col::Visible(p), Some(collation)));
            }
        }
        for e in group_exprs {
            if contains_aggregate(e) {
                return Err(RouteError::unsupported("GROUP BY an aggregate"));
            }
            let col = b.column_for(e, true)?;
            let collation = b.collation_for(e, true)?;
            keys.push((col, Some(collation)));
        }
        for i in 0..b.items.len() {
            match (b.items[i].expr, b.items[i].position) {
                (Some(e), Some(p)) => b.aggregate_role(e, Col::Visible(p))?,
                (Some(e), None) if contains_aggregate(e) => {
                    return Err(RouteError::unsupported(
                        "aggregates after SELECT * over several shards",
                    ));
                }
                _ => {}
            }
        }
        grouping = Some(Grouping {
            keys,
            combine: Vec::new(),
            single: group_exprs.is_empty() && !distinct,
        });
    }
    let having = match &s.having {
        Some(h) => Some(having::compile(h, &mut b)?),
        None => None,
    };
    let mut order = Vec::new();
    if let Some(ob) = &q.order_by {
        let OrderByKind::Expressions(exprs) = &ob.kind else {
            return Err(RouteError::unsupported("ORDER BY ALL over several shards"));
        };
        for o in exprs {
            if o.with_fill.is_some() || o.options.nulls_first.is_some() {
                return Err(RouteError::unsupported(
                    "ORDER BY … NULLS FIRST/LAST over several shards",
                ));
            }
            let desc = match o.options.sort {
                None | Some(OrderBySort::Asc) => false,
                Some(OrderBySort::Desc) => true,
                Some(OrderBySort::Using(_)) => {
                    return Err(RouteError::unsupported("ORDER BY … USING"));
                }
            };
            if distinct && b.item_for(&o.expr, true)?.is_none() {
                return Err(RouteError::unsupported(
                    "SELECT DISTINCT ordered by an expression not in the select list over several shards",
                ));
            }
            let col = b.column_for(&o.expr, true)?;
            let collation = Some(b.collation_for(&o.expr, true)?);
            order.push(SortKey {
                col,
                desc,
                collation,
            });
        }
    }
    let (offset, limit, paging, shard_clause) =
        match super::paging::read(input.sql, &q.limit_clause, clauses.limit.as_ref())? {
            Reading::Literal(offset, limit) => (offset, limit, None, None),
            Reading::Params {
                paging,
                shard_clause,
            } => (0, None, Some(paging), Some(shard_clause)),
        };
    b.settle();
    if let Some(g) = &mut grouping {
        g.combine = std::mem::take(&mut b.combine);
    }
    let shard_limit = ShardLimit {
        offset,
        limit,
        params: shard_clause,
    };
    let mut edits = shard_edits(&clauses, &b.hidden, grouping.is_some(), shard_limit);
    if !b.extra_group.is_empty() {
        let list = b.extra_group.join(", ");
        match &clauses.group {
            Some(r) => edits.push((r.end..r.end, format!(", {list} "))),
            None => edits.push((
                clauses.group_at..clauses.group_at,
                format!(" GROUP BY {list} "),
            )),
        }
    }
    Ok(MergePlan {
        template: (input.template)(edits),
        hidden: b.hidden.len(),
        order,
        offset,
        limit,
        paging,
        grouping,
        having,
    })
}

/// The paging the shards get.
struct ShardLimit {
    offset: u64,
    limit: Option<u64>,
    /// The LIMIT clause keeping the client's paging placeholders, if any.
    params: Option<String>,
}

/// The text edits turning the client's statement into each shard's.
fn shard_edits(
    c: &Clauses,
    hidden: &[String],
    grouped: bool,
    paging: ShardLimit,
) -> Vec<(Range<usize>, String)> {
    let mut edits = Vec::new();
    if !hidden.is_empty() {
        let mut text = String::new();
        for h in hidden {
            text.push_str(", ");
            text.push_str(h);
        }
        text.push(' ');
        edits.push((c.from..c.from, text));
    }
    if let Some(r) = &c.having {
        edits.push((r.clone(), String::new()));
    }
    if grouped {
        // Groups are ordered and cut after merging; shards need not sort partial groups.
        if let Some(r) = &c.order {
            edits.push((r.clone(), String::new()));
        }
        // Placeholders stay (every parameter keeps its place); they get "all rows".
        if let Some(r) = &c.limit {
            edits.push((r.clone(), paging.params.unwrap_or_default()));
        }
    } else if let (Some(r), Some(text)) = (&c.limit, paging.params) {
        // Offset and count are bound at execute: the shards' values are set then.
        edits.push((r.clone(), text));
    } else if let (Some(r), Some(n)) = (&c.limit, paging.limit) {
        // Each shard returns the rows that could be among the first offset + count.
        edits.push((
            r.clone(),
            format!("LIMIT {} ", paging.offset.saturating_add(n)),
        ));
    }
    edits
}

fn refuse_unmergeable(q: &Query, s: &Select) -> Result<(), RouteError> {
    if q.with.is_some() {
        return Err(RouteError::unsupported(
            "WITH (common table expressions) over several shards",
        ));
    }
    if q.fetch.is_some() {
        return Err(RouteError::unsupported("FETCH over several shards"));
    }
    if s.into.is_some() {
        return Err(RouteError::unsupported("SELECT … INTO over several shards"));
    }
    if s.select_modifiers
        .as_ref()
        .is_some_and(|m| m.sql_calc_found_rows)
    {
        return Err(RouteError::unsupported(
            "SQL_CALC_FOUND_ROWS over several shards",
        ));
    }
    if !s.named_window.is_empty() || s.qualify.is_some() {
        return Err(RouteError::unsupported(
            "WINDOW / QUALIFY over several shards",
        ));
    }
    if matches!(s.distinct, Some(Distinct::On(_))) {
        return Err(RouteError::unsupported("DISTINCT ON over several shards"));
    }
    Ok(())
}
