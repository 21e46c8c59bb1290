//! INSERT and REPLACE statements without a column list (`INSERT INTO orders VALUES (…)`):
//! where the column list would go, so that the proxy can write the table's columns in
//! (it learns their order from the server) and plan the statement like any other INSERT.
//! Also: which statements change a table's columns, so that what was learned is dropped.

use crate::lexer::{Lexer, Token};

/// An INSERT / REPLACE … VALUES without a column list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnlessInsert {
    /// Schema qualifier as written, if any.
    pub schema: Option<String>,
    /// Table name.
    pub table: String,
    /// Byte offset right after the table name: where ` (col, …)` goes.
    pub at: usize,
}

/// The table name of `token`, unquoted (a doubled back-quote stands for one).
fn name(token: Token<'_>) -> Option<String> {
    match token {
        Token::Word(w) => Some(w.to_string()),
        Token::QuotedIdent(q) => Some(q.replace("``", "`")),
        _ => None,
    }
}

/// `sql` as an INSERT / REPLACE whose VALUES follow the table name directly.
pub fn columnless_insert(sql: &str) -> Option<ColumnlessInsert> {
    let mut lexer = Lexer::new(sql);
    let Token::Word(verb) = lexer.next()? else {
        return None;
    };
    if !verb.eq_ignore_ascii_case("INSERT") && !verb.eq_ignore_ascii_case("REPLACE") {
        return None;
    }
    let mut token = lexer.next()?;
    // Modifiers and INTO.
    while let Token::Word(w) = token {
        let modifier = ["LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE", "INTO"]
            .iter()
            .any(|m| w.eq_ignore_ascii_case(m));
        if !modifier {
            break;
        }
        token = lexer.next()?;
    }
    let first = name(token)?;
    let mut at = lexer.offset();
    let mut next = lexer.next()?;
    let (schema, table) = if next == Token::Punct(b'.') {
        let table = name(lexer.next()?)?;
        at = lexer.offset();
        next = lexer.next()?;
        (Some(first), table)
    } else {
        (None, first)
    };
    let Token::Word(values) = next else {
        return None;
    };
    (values.eq_ignore_ascii_case("VALUES") || values.eq_ignore_ascii_case("VALUE"))
        .then_some(ColumnlessInsert { schema, table, at })
}

/// Whether `sql` may change the columns of a table (ALTER / CREATE / DROP / RENAME TABLE,
/// and CREATE OR REPLACE): what was learned of the schema's column orders is stale then.
pub fn may_change_columns(sql: &str) -> bool {
    let mut lexer = Lexer::new(sql);
    matches!(lexer.next(), Some(Token::Word(w))
        if ["ALTER", "CREATE", "DROP", "RENAME"].iter().any(|k| w.eq_ignore_ascii_case(k)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(sql: &str) -> Option<(Option<String>, String, String)> {
        columnless_insert(sql).map(|c| {
            let spliced = format!("{} (a, b){}", &sql[..c.at], &sql[c.at..]);
            (c.schema, c.table, spliced)
        })
    }

    #[test]
    fn finds_where_the_column_list_goes() {
        assert_eq!(
            found("INSERT INTO orders VALUES (1, 2)"),
            Some((
                None,
                "orders".into(),
                "INSERT INTO orders (a, b) VALUES (1, 2)".into()
            ))
        );
        assert_eq!(
            found("insert ignore `shop`.`my``t` value (1,2)"),
            Some((
                Some("shop".into()),
                "my`t".into(),
                "insert ignore `shop`.`my``t` (a, b) value (1,2)".into()
            ))
        );
        assert_eq!(
            found("REPLACE LOW_PRIORITY INTO /* c */ t\nVALUES(1,2)"),
            Some((
                None,
                "t".into(),
                "REPLACE LOW_PRIORITY INTO /* c */ t (a, b)\nVALUES(1,2)".into()
            ))
        );
    }

    #[test]
    fn leaves_other_statements_alone() {
        for sql in [
            "INSERT INTO t (a, b) VALUES (1, 2)",
            "INSERT INTO t SET a = 1",
            "INSERT INTO t SELECT * FROM u",
            "INSERT INTO t PARTITION (p0) VALUES (1)",
            "SELECT 1",
            "UPDATE t SET a = 1",
            "INSERT",
        ] {
            assert_eq!(columnless_insert(sql), None, "{sql}");
        }
    }

    #[test]
    fn ddl_may_change_columns() {
        assert!(may_change_columns("ALTER TABLE t ADD c INT"));
        assert!(may_change_columns(" create table t (a int)"));
        assert!(may_change_columns("DROP TABLE t"));
        assert!(!may_change_columns("INSERT INTO t VALUES (1)"));
    }
}
