//! Per-shard SQL: the statement text with every table reference of the logical schema
//! replaced by the physical database of the target shard, spliced into the original text.

use super::span::LineIndex;
use super::tables::TableRef;
use sqlparser::ast::{Expr, Statement, visit_expressions};
use std::ops::{ControlFlow, Range};

/// A statement text with holes where the physical database name goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlTemplate {
    pieces: Vec<Piece>,
}

/// What replaces a range of the original text.
enum Hole {
    /// The physical database (a three-part column reference's schema).
    Database,
    /// The physical database and this (quoted) table name.
    Table(String),
    /// Replacement text.
    Edit(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Database,
}

/// Quotes an identifier with backticks.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

impl SqlTemplate {
    /// The text unchanged.
    pub fn verbatim(sql: &str) -> Self {
        SqlTemplate {
            pieces: vec![Piece::Text(sql.to_string())],
        }
    }

    /// Builds the template for `sql`: table references in `tables` that belong to the
    /// logical schema (`belongs(t)`) become `` `<db>`.`table` ``, and three-part column
    /// references `schema.table.column` naming the logical schema get the database too.
    pub fn new(
        sql: &str,
        stmts: &[Statement],
        idx: &LineIndex<'_>,
        tables: &[TableRef],
        logical: &str,
        belongs: &dyn Fn(&TableRef) -> bool,
    ) -> Self {
        Self::with_edits(sql, stmts, idx, tables, logical, belongs, Vec::new())
    }

    /// Like [`SqlTemplate::new`], with `edits` applied too: each replaces a byte range of
    /// `sql` (an empty range inserts). Renames inside an edited range are dropped with it.
    pub fn with_edits(
        sql: &str,
        stmts: &[Statement],
        idx: &LineIndex<'_>,
        tables: &[TableRef],
        logical: &str,
        belongs: &dyn Fn(&TableRef) -> bool,
        edits: Vec<(Range<usize>, String)>,
    ) -> Self {
        let mut holes: Vec<(Range<usize>, Hole)> = Vec::new();
        for t in tables.iter().filter(|t| belongs(t)) {
            holes.push((t.range.clone(), Hole::Table(quote_ident(&t.name))));
        }
        for (r, text) in edits {
            holes.push((r, Hole::Edit(text)));
        }
        for stmt in stmts {
            let _ = visit_expressions(stmt, |e: &Expr| {
                if let Expr::CompoundIdentifier(parts) = e
                    && parts.len() == 3
                    && parts[0].value == logical
                    && let Some(r) = idx.range(parts[0].span)
                {
                    holes.push((r, Hole::Database));
                }
                ControlFlow::<()>::Continue(())
            });
        }
        holes.sort_by_key(|(r, _)| (r.start, r.end));
        let mut pieces = Vec::with_capacity(holes.len() * 2 + 1);
        let mut at = 0;
        for (r, hole) in holes {
            if r.start < at {
                continue;
            }
            pieces.push(Piece::Text(sql[at..r.start].to_string()));
            match hole {
                Hole::Database => pieces.push(Piece::Database),
                Hole::Table(t) => {
                    pieces.push(Piece::Database);
                    pieces.push(Piece::Text(format!(".{t}")));
                }
                Hole::Edit(text) => pieces.push(Piece::Text(text)),
            }
            at = r.end;
        }
        pieces.push(Piece::Text(sql[at..].to_string()));
        SqlTemplate { pieces }
    }

    /// Whether the text is used unchanged (nothing to rename): such a statement runs with
    /// its target shard's database selected.
    pub fn is_verbatim(&self) -> bool {
        !self.pieces.contains(&Piece::Database)
    }

    /// The statement for the shard whose physical database is `database`.
    pub fn render(&self, database: &str) -> String {
        let q = quote_ident(database);
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Database => out.push_str(&q),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::tables::table_refs;
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;

    fn render(sql: &str) -> String {
        let stmt = Parser::parse_sql(&MySqlDialect {}, sql)
            .expect("parse")
            .remove(0);
        let idx = LineIndex::new(sql);
        let tables = table_refs(&stmt, &idx).expect("tables");
        let t = SqlTemplate::new(
            sql,
            std::slice::from_ref(&stmt),
            &idx,
            &tables,
            "shop",
            &|t| t.schema.as_deref().is_none_or(|s| s == "shop"),
        );
        t.render("shop_0007")
    }

    #[test]
    fn rewrites_and_round_trips() {
        let cases = [
            (
                "SELECT * FROM orders WHERE id = 1",
                "SELECT * FROM `shop_0007`.`orders` WHERE id = 1",
            ),
            (
                "select o.id, shop.orders.x from shop.orders o join `items` i on o.id = i.oid",
                "select o.id, `shop_0007`.orders.x from `shop_0007`.`orders` o join `shop_0007`.`items` i on o.id = i.oid",
            ),
            (
                "SELECT * FROM crm.t JOIN orders",
                "SELECT * FROM crm.t JOIN `shop_0007`.`orders`",
            ),
            (
                "/* c */ UPDATE orders SET a = 'shop.orders' WHERE id = 2",
                "/* c */ UPDATE `shop_0007`.`orders` SET a = 'shop.orders' WHERE id = 2",
            ),
            (
                "INSERT INTO orders (id) VALUES (1)",
                "INSERT INTO `shop_0007`.`orders` (id) VALUES (1)",
            ),
            (
                "CREATE TABLE IF NOT EXISTS orders (id INT PRIMARY KEY)",
                "CREATE TABLE IF NOT EXISTS `shop_0007`.`orders` (id INT PRIMARY KEY)",
            ),
        ];
        for (sql, want) in cases {
            let got = render(sql);
            assert_eq!(got, want);
            // The rewritten text parses again.
            Parser::parse_sql(&MySqlDialect {}, &got).expect("rewritten text parses");
        }
    }
}
