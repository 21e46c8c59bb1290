//! How the rows of a UNION's branches, run on several shards, combine: UNION DISTINCT
//! groups equal rows (string columns compared under each value's collation, as the
//! DISTINCT merge does), ORDER BY and LIMIT on top are applied by the proxy over the
//! branches' rows. Each branch's shard statement gets `COLLATION()` of every column
//! appended (hidden), and for an ordered UNION ALL its own `ORDER BY` (by position) and
//! `LIMIT offset + count`, so that the k-way merge streams and stops early.

use super::paging::{Reading, read};
use super::plan::{Col, Grouping, MergePlan, SortKey};
use crate::shard::plan::RouteError;
use crate::shard::template::SqlTemplate;
use sqlparser::ast::{Expr, OrderByKind, OrderBySort, Query, Select, SelectItem, Value};

/// The union-level merge and the edit each branch's text needs.
#[derive(Debug, Clone)]
pub struct UnionMerge {
    /// The merge of the branches' rows.
    pub plan: MergePlan,
    /// Appended to each branch's select list (before its FROM).
    pub hidden_items: usize,
    /// Appended at the end of each branch (`ORDER BY … LIMIT n`), for an ordered UNION ALL.
    pub tail: String,
}

/// Column names of the first branch, as the UNION's result is named.
fn names(first: &Select) -> Vec<Option<String>> {
    first
        .projection
        .iter()
        .map(|i| match i {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            SelectItem::UnnamedExpr(Expr::Identifier(id)) => Some(id.value.clone()),
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(p)) => {
                p.last().map(|i| i.value.clone())
            }
            SelectItem::UnnamedExpr(e) => Some(e.to_string()),
            _ => None,
        })
        .collect()
}

/// Plans the merge of a UNION over several shards whose first branch is `first` and
/// whose branches have `columns` columns; `None` when plain concatenation answers it.
pub fn plan(
    q: &Query,
    first: &Select,
    columns: usize,
    distinct: bool,
    template: SqlTemplate,
) -> Result<Option<UnionMerge>, RouteError> {
    if q.limit_clause
        .as_ref()
        .is_some_and(|l| l.to_string().contains('?'))
    {
        return Err(RouteError::unsupported(
            "LIMIT given as a parameter on top of a UNION over several shards",
        ));
    }
    let (offset, limit) = match read("", &q.limit_clause, None)? {
        Reading::Literal(o, l) => (o, l),
        Reading::Params { .. } => {
            return Err(RouteError::unsupported(
                "LIMIT given as a parameter on top of a UNION over several shards",
            ));
        }
    };
    let mut order = Vec::new();
    let names = names(first);
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
            let desc = matches!(o.options.sort, Some(OrderBySort::Desc));
            if matches!(o.options.sort, Some(OrderBySort::Using(_))) {
                return Err(RouteError::unsupported("ORDER BY … USING"));
            }
            let p = position(&o.expr, &names, columns)?;
            order.push(SortKey {
                col: Col::Visible(p),
                desc,
                collation: Some(Col::Hidden(p)),
            });
        }
    }
    if !distinct && order.is_empty() && limit.is_none() && offset == 0 {
        return Ok(None);
    }
    let grouping = distinct.then(|| Grouping {
        keys: (0..columns)
            .map(|i| (Col::Visible(i), Some(Col::Hidden(i))))
            .collect(),
        combine: Vec::new(),
        single: false,
    });
    // An ordered UNION ALL: each branch sorted and cut like the whole.
    let mut tail = String::new();
    if !distinct {
        if !order.is_empty() {
            let keys: Vec<String> = order
                .iter()
                .map(|k| match k.col {
                    Col::Visible(p) => format!("{}{}", p + 1, if k.desc { " DESC" } else { "" }),
                    Col::Hidden(_) => String::new(),
                })
                .collect();
            tail.push_str(&format!(" ORDER BY {}", keys.join(", ")));
        }
        if let Some(n) = limit {
            tail.push_str(&format!(" LIMIT {}", offset.saturating_add(n)));
        }
    }
    Ok(Some(UnionMerge {
        plan: MergePlan {
            template,
            hidden: columns,
            order,
            offset,
            limit,
            paging: None,
            grouping,
            having: None,
        },
        hidden_items: columns,
        tail,
    }))
}

/// The result column an ORDER BY on top of a UNION names: a position, or a name of the
/// first branch's columns.
fn position(e: &Expr, names: &[Option<String>], columns: usize) -> Result<usize, RouteError> {
    if let Expr::Value(v) = e
        && let Value::Number(n, _) = &v.value
    {
        return match n.parse::<usize>() {
            Ok(p) if p >= 1 && p <= columns => Ok(p - 1),
            _ => Err(RouteError {
                code: 1054,
                state: "42S22",
                message: format!("Unknown column '{n}' in 'order clause'"),
            }),
        };
    }
    let name = match e {
        Expr::Identifier(id) => id.value.clone(),
        other => other.to_string(),
    };
    names
        .iter()
        .position(|n| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(&name)))
        .ok_or_else(|| {
            RouteError::unsupported(format!(
                "ORDER BY {e} on top of a UNION over several shards (order by a column of the first SELECT, by name or position)"
            ))
        })
}
