//! The tables a statement references: qualifier, name, alias, where the name sits in the
//! text (for rewriting), and whether it is a direct table of the statement or sits inside a
//! subquery, derived table, CTE or set operation.

use super::span::LineIndex;
use sqlparser::ast::{
    Delete, FromTable, ObjectName, ObjectNamePart, ObjectType, Query, SetExpr, Statement,
    TableFactor, TableWithJoins, UpdateTableFromKind, visit_relations,
};
use std::ops::ControlFlow;
use std::ops::Range;

/// One table reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// Schema qualifier as written (`shop` in `shop.orders`).
    pub schema: Option<String>,
    /// Table name.
    pub name: String,
    /// Alias (`o` in `orders o`).
    pub alias: Option<String>,
    /// Byte range of the (possibly qualified) name in the text.
    pub range: Range<usize>,
    /// Inside a subquery, derived table, CTE or a set operation branch.
    pub nested: bool,
}

impl TableRef {
    /// Whether `qualifier` (as written before a column) designates this table.
    pub fn answers_to(&self, qualifier: &str) -> bool {
        match &self.alias {
            Some(a) => a.eq_ignore_ascii_case(qualifier),
            None => self.name == qualifier,
        }
    }
}

/// Why the tables could not be listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableError(pub String);

/// Lists the table references of `stmt`.
pub fn table_refs(stmt: &Statement, idx: &LineIndex<'_>) -> Result<Vec<TableRef>, TableError> {
    let mut direct: Vec<(Range<usize>, Option<String>)> = Vec::new();
    let mut ctes: Vec<String> = Vec::new();
    collect_direct(stmt, idx, &mut direct, &mut ctes);
    let mut out = Vec::new();
    let mut error = None;
    // DROP names are not visited as relations by the parser's visitor.
    if let Statement::Drop {
        object_type,
        names,
        table,
        ..
    } = stmt
    {
        let listed =
            matches!(object_type, ObjectType::Table | ObjectType::View).then_some(names.iter());
        for name in listed.into_iter().flatten().chain(table.iter()) {
            if let Some((schema, table, range)) = one_ref(name, idx)? {
                out.push(TableRef {
                    schema,
                    name: table,
                    alias: None,
                    range,
                    nested: false,
                });
            }
        }
    }
    let _ = visit_relations(stmt, |name: &ObjectName| {
        match one_ref(name, idx) {
            Ok(Some((schema, table, range))) => {
                if schema.is_none() && ctes.iter().any(|c| c.eq_ignore_ascii_case(&table)) {
                    return ControlFlow::Continue(());
                }
                // `FROM DUAL` names no table (DUAL is a reserved word in MySQL).
                if schema.is_none() && table.eq_ignore_ascii_case("dual") {
                    return ControlFlow::Continue(());
                }
                let d = direct.iter().find(|(r, _)| *r == range);
                out.push(TableRef {
                    schema,
                    name: table,
                    alias: d.and_then(|(_, a)| a.clone()),
                    range,
                    nested: d.is_none(),
                });
            }
            Ok(None) => {}
            Err(e) => {
                error = Some(e);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    match error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

type Parts = (Option<String>, String, Range<usize>);

fn one_ref(name: &ObjectName, idx: &LineIndex<'_>) -> Result<Option<Parts>, TableError> {
    let mut idents = Vec::with_capacity(2);
    for p in &name.0 {
        match p {
            ObjectNamePart::Identifier(i) => idents.push(i.value.clone()),
            ObjectNamePart::Function(_) => return Ok(None),
        }
    }
    let range = idx
        .of(name)
        .ok_or_else(|| TableError(format!("cannot locate table name {name} in the statement")))?;
    match idents.len() {
        1 => Ok(Some((None, idents.remove(0), range))),
        2 => {
            let table = idents.remove(1);
            Ok(Some((Some(idents.remove(0)), table, range)))
        }
        _ => Err(TableError(format!("table name {name} has too many parts"))),
    }
}

fn collect_direct(
    stmt: &Statement,
    idx: &LineIndex<'_>,
    direct: &mut Vec<(Range<usize>, Option<String>)>,
    ctes: &mut Vec<String>,
) {
    match stmt {
        Statement::Query(q) => query_direct(q, idx, direct, ctes),
        Statement::Insert(ins) => {
            if let sqlparser::ast::TableObject::TableName(n) = &ins.table
                && let Some(r) = idx.of(n)
            {
                let alias = ins.table_alias.as_ref().map(|a| a.alias.value.clone());
                direct.push((r, alias));
            }
            if let Some(src) = &ins.source
                && let Some(w) = &src.with
            {
                ctes.extend(w.cte_tables.iter().map(|c| c.alias.name.value.clone()));
            }
        }
        Statement::Update(u) => {
            joined(&u.table, idx, direct);
            if let Some(UpdateTableFromKind::BeforeSet(f) | UpdateTableFromKind::AfterSet(f)) =
                &u.from
            {
                for t in f {
                    joined(t, idx, direct);
                }
            }
        }
        Statement::Delete(Delete { from, using, .. }) => {
            let (FromTable::WithFromKeyword(f) | FromTable::WithoutKeyword(f)) = from;
            for t in f {
                joined(t, idx, direct);
            }
            for t in using.iter().flatten() {
                joined(t, idx, direct);
            }
        }
        // DDL and the rest: every reference is direct.
        other => {
            let _ = visit_relations(other, |n: &ObjectName| {
                if let Some(r) = idx.of(n) {
                    direct.push((r, None));
                }
                ControlFlow::<()>::Continue(())
            });
        }
    }
}

fn query_direct(
    q: &Query,
    idx: &LineIndex<'_>,
    direct: &mut Vec<(Range<usize>, Option<String>)>,
    ctes: &mut Vec<String>,
) {
    if let Some(w) = &q.with {
        ctes.extend(w.cte_tables.iter().map(|c| c.alias.name.value.clone()));
    }
    if let SetExpr::Select(s) = q.body.as_ref() {
        for t in &s.from {
            joined(t, idx, direct);
        }
    }
}

fn joined(
    t: &TableWithJoins,
    idx: &LineIndex<'_>,
    direct: &mut Vec<(Range<usize>, Option<String>)>,
) {
    factor(&t.relation, idx, direct);
    for j in &t.joins {
        factor(&j.relation, idx, direct);
    }
}

fn factor(f: &TableFactor, idx: &LineIndex<'_>, direct: &mut Vec<(Range<usize>, Option<String>)>) {
    match f {
        TableFactor::Table { name, alias, .. } => {
            if let Some(r) = idx.of(name) {
                direct.push((r, alias.as_ref().map(|a| a.name.value.clone())));
            }
        }
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => joined(table_with_joins, idx, direct),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;

    type Row = (Option<String>, String, Option<String>, String, bool);

    fn refs(sql: &str) -> Vec<Row> {
        let stmt = Parser::parse_sql(&MySqlDialect {}, sql)
            .expect("parse")
            .remove(0);
        let idx = LineIndex::new(sql);
        table_refs(&stmt, &idx)
            .expect("refs")
            .into_iter()
            .map(|t| {
                (
                    t.schema,
                    t.name,
                    t.alias,
                    sql[t.range].to_string(),
                    t.nested,
                )
            })
            .collect()
    }

    fn r(s: Option<&str>, n: &str, a: Option<&str>, text: &str, nested: bool) -> Row {
        (
            s.map(Into::into),
            n.into(),
            a.map(Into::into),
            text.into(),
            nested,
        )
    }

    #[test]
    fn select_with_join_alias_and_subquery() {
        assert_eq!(
            refs(
                "SELECT * FROM shop.orders o JOIN `users` AS u ON o.uid = u.id WHERE o.x IN (SELECT y FROM items)"
            ),
            vec![
                r(Some("shop"), "orders", Some("o"), "shop.orders", false),
                r(None, "users", Some("u"), "`users`", false),
                r(None, "items", None, "items", true),
            ]
        );
    }

    #[test]
    fn dual_is_not_a_table() {
        assert!(refs("SELECT 1 + 1 FROM DUAL").is_empty());
        assert!(refs("SELECT 1 FROM dual WHERE 1 = 1").is_empty());
        assert_eq!(refs("SELECT * FROM orders, dual").len(), 1);
    }

    #[test]
    fn cte_names_are_not_tables() {
        assert_eq!(
            refs("WITH x AS (SELECT * FROM orders) SELECT * FROM x"),
            vec![r(None, "orders", None, "orders", true)]
        );
    }

    #[test]
    fn dml_targets() {
        assert_eq!(
            refs("INSERT INTO shop.t (a) VALUES (1)"),
            vec![r(Some("shop"), "t", None, "shop.t", false)]
        );
        assert_eq!(
            refs("UPDATE t SET a = 1 WHERE k = 2"),
            vec![r(None, "t", None, "t", false)]
        );
        assert_eq!(
            refs("DELETE FROM t WHERE k = 2"),
            vec![r(None, "t", None, "t", false)]
        );
        assert_eq!(
            refs("TRUNCATE TABLE t"),
            vec![r(None, "t", None, "t", false)]
        );
        assert_eq!(
            refs("CREATE INDEX i ON t (a)"),
            vec![r(None, "t", None, "t", false)]
        );
    }
}
