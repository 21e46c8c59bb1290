//! information_schema restricted to the user's schemas by the server itself.
//!
//! MySQL shows a user only the objects it has privileges on; the backends see one account
//! (the proxy's), so for users without `admin: true` every information_schema table that
//! names databases is replaced, wherever a statement reads it, by a derived table holding
//! only the rows about the user's schemas:
//!
//! ```text
//! information_schema.TABLES t
//!   → (SELECT * FROM information_schema.`TABLES` WHERE BINARY TABLE_SCHEMA IN (0x…, …)) t
//! ```
//!
//! The server applies the restriction before anything else sees the rows, so aggregates
//! (`COUNT(*)`), `GROUP BY`, subqueries, joins, `INSERT … SELECT`, `CREATE TABLE … AS
//! SELECT`, `SET @v = (SELECT …)` and views count and copy only what the user may see.
//! MariaDB merges such a derived table into the query: plans and column metadata stay
//! those of the plain table. The visible databases are `information_schema` and the home
//! shard database of each of the user's logical schemas (as the proxy's row renaming shows
//! them), written as hex literals compared byte for byte (no collation folds another
//! database's name into an allowed one, and the compat planner, which rewrites string
//! literals naming logical schemas, leaves them alone).
//!
//! Tables whose rows describe other sessions or the server's internals by name
//! (`INNODB_*`) need an administrator; information_schema tables this module does not
//! know are refused rather than passed unrestricted.

use super::{Grants, ident, is, needs, unquote};
use crate::compat::ranged_tokens;
use crate::lexer::{Lexer, Token};
use crate::shard::plan::RouteError;
use myshard_config::SchemaTopology;
use std::ops::Range;

/// information_schema tables that name databases, with their schema columns (MariaDB
/// 10.11). The first column is never NULL; the others may be.
const RESTRICTED: &[(&str, &[&str])] = &[
    ("CHECK_CONSTRAINTS", &["CONSTRAINT_SCHEMA"]),
    ("COLUMNS", &["TABLE_SCHEMA"]),
    ("EVENTS", &["EVENT_SCHEMA"]),
    ("FILES", &["TABLE_SCHEMA"]),
    ("GEOMETRY_COLUMNS", &["F_TABLE_SCHEMA", "G_TABLE_SCHEMA"]),
    (
        "KEY_COLUMN_USAGE",
        &[
            "TABLE_SCHEMA",
            "CONSTRAINT_SCHEMA",
            "REFERENCED_TABLE_SCHEMA",
        ],
    ),
    ("PARAMETERS", &["SPECIFIC_SCHEMA"]),
    ("PARTITIONS", &["TABLE_SCHEMA"]),
    (
        "REFERENTIAL_CONSTRAINTS",
        &["CONSTRAINT_SCHEMA", "UNIQUE_CONSTRAINT_SCHEMA"],
    ),
    ("ROUTINES", &["ROUTINE_SCHEMA"]),
    ("SCHEMATA", &["SCHEMA_NAME"]),
    ("STATISTICS", &["TABLE_SCHEMA", "INDEX_SCHEMA"]),
    ("TABLES", &["TABLE_SCHEMA"]),
    ("TABLE_CONSTRAINTS", &["TABLE_SCHEMA", "CONSTRAINT_SCHEMA"]),
    ("TRIGGERS", &["TRIGGER_SCHEMA", "EVENT_OBJECT_SCHEMA"]),
    ("VIEWS", &["TABLE_SCHEMA"]),
];

/// information_schema tables that name no database: read as they are.
const UNRESTRICTED: &[&str] = &[
    "ALL_PLUGINS",
    "CHARACTER_SETS",
    "COLLATIONS",
    "COLLATION_CHARACTER_SET_APPLICABILITY",
    "ENGINES",
    "GLOBAL_STATUS",
    "GLOBAL_VARIABLES",
    "KEYWORDS",
    "KEY_CACHES",
    "OPTIMIZER_TRACE",
    "PLUGINS",
    "PROFILING",
    "SESSION_STATUS",
    "SESSION_VARIABLES",
    "SPATIAL_REF_SYS",
    "SQL_FUNCTIONS",
    "SYSTEM_VARIABLES",
    "TABLESPACES",
    "USER_VARIABLES",
];

/// Words that may follow a table reference and are not its alias.
const NOT_ALIAS: &[&str] = &[
    "WHERE",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "CROSS",
    "NATURAL",
    "STRAIGHT_JOIN",
    "FULL",
    "OUTER",
    "ON",
    "USING",
    "GROUP",
    "ORDER",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "FETCH",
    "UNION",
    "EXCEPT",
    "INTERSECT",
    "MINUS",
    "WINDOW",
    "FOR",
    "LOCK",
    "INTO",
    "PARTITION",
    "USE",
    "IGNORE",
    "FORCE",
    "PROCEDURE",
    "RETURNING",
    "SET",
    "VALUES",
    "SELECT",
    "FROM",
    "WITH",
    "AND",
    "OR",
    "XOR",
    "NOT",
    "IS",
    "IN",
    "LIKE",
    "BETWEEN",
    "TABLESAMPLE",
];

/// The physical databases whose information_schema rows `g`'s user sees.
fn visible(g: &Grants<'_>) -> Vec<String> {
    let mut out = vec!["information_schema".to_string()];
    for (name, schema) in g.topology.schemas() {
        if !g.may_use(name) {
            continue;
        }
        let database = match schema {
            SchemaTopology::Sharded(s) => s.database(s.home_shard),
            SchemaTopology::Unsharded { database, .. } => Some(&**database),
        };
        out.extend(database.map(str::to_string));
    }
    out
}

/// `sql` (executable comments resolved, privileges already checked) with every
/// information_schema table that names databases restricted to `g`'s schemas, or `None`
/// when nothing needed it (administrators, statements not reading information_schema).
/// `in_information_schema`: the session's schema is information_schema, so bare table
/// names (`FROM TABLES`) are its tables. Refuses tables it cannot restrict.
pub fn restrict(
    sql: &str,
    g: &Grants<'_>,
    in_information_schema: bool,
) -> Result<Option<String>, RouteError> {
    if g.admin || !(in_information_schema || crate::compat::mentions_information_schema(sql)) {
        return Ok(None);
    }
    let r = Restrictor {
        g,
        in_information_schema,
        list: visible(g)
            .iter()
            .map(|d| hex(d.as_bytes()))
            .collect::<Vec<_>>()
            .join(", "),
    };
    r.text(sql)
}

struct Restrictor<'g, 'a> {
    g: &'g Grants<'a>,
    in_information_schema: bool,
    /// The visible databases as hex literals, comma-separated.
    list: String,
}

/// One text edit: a byte range and its replacement.
type Edit = (Range<usize>, String);

impl Restrictor<'_, '_> {
    fn text(&self, sql: &str) -> Result<Option<String>, RouteError> {
        let unreadable =
            || self.denied("TABLES", "myshard cannot read the statement to restrict it");
        let toks = ranged_tokens(sql, Lexer::new(sql)).ok_or_else(unreadable)?;
        let edits = self.edits(&toks)?;
        // Under sql_mode NO_BACKSLASH_ESCAPES a backslash ends no string: the text must
        // mean the same either way, or it is refused.
        if sql.contains('\\') {
            let other =
                ranged_tokens(sql, Lexer::without_backslash_escapes(sql)).ok_or_else(unreadable)?;
            if self.edits(&other)? != edits {
                return Err(self.denied(
                    "TABLES",
                    "the statement reads differently with and without sql_mode \
                     NO_BACKSLASH_ESCAPES, so myshard cannot restrict it",
                ));
            }
        }
        if edits.is_empty() {
            return Ok(None);
        }
        let mut out = String::with_capacity(sql.len() + edits.len() * (self.list.len() + 96));
        let mut at = 0;
        for (r, text) in edits {
            out.push_str(sql.get(at..r.start).ok_or_else(unreadable)?);
            out.push_str(&text);
            at = r.end;
        }
        out.push_str(sql.get(at..).ok_or_else(unreadable)?);
        Ok(Some(out))
    }

    fn edits(&self, toks: &[(Token<'_>, Range<usize>)]) -> Result<Vec<Edit>, RouteError> {
        let mut edits = Vec::new();
        let mut start = 0;
        for end in (0..=toks.len()).filter(|&i| i == toks.len() || toks[i].0 == Token::Semicolon) {
            if let Some(stmt) = toks.get(start..end)
                && !stmt.is_empty()
            {
                self.statement(stmt, &mut edits)?;
            }
            start = end + 1;
        }
        Ok(edits)
    }

    fn statement(
        &self,
        t: &[(Token<'_>, Range<usize>)],
        edits: &mut Vec<Edit>,
    ) -> Result<(), RouteError> {
        let tok = |i: usize| t.get(i).map(|x| &x.0);
        // Statements about a table's definition, not its rows (`SHOW COLUMNS FROM
        // information_schema.TABLES`); but a `SHOW … WHERE` condition may read tables.
        let mut from = 0;
        if is(tok(0), "SHOW") {
            match t.iter().position(|x| is(Some(&x.0), "WHERE")) {
                Some(w) => from = w,
                None => return Ok(()),
            }
        }
        if ["HELP", "USE"].iter().any(|k| is(tok(0), k)) {
            return Ok(());
        }
        if ["DESC", "DESCRIBE", "EXPLAIN"]
            .iter()
            .any(|k| is(tok(0), k))
            && ![
                "SELECT",
                "WITH",
                "INSERT",
                "REPLACE",
                "UPDATE",
                "DELETE",
                "EXTENDED",
                "PARTITIONS",
                "FORMAT",
            ]
            .iter()
            .any(|k| is(tok(1), k))
            && tok(1) != Some(&Token::Punct(b'('))
        {
            return Ok(());
        }
        // The text of `PREPARE s FROM '…'` / `EXECUTE IMMEDIATE '…'` is a statement too.
        let literal = if is(tok(0), "PREPARE") {
            t.iter().position(|x| is(Some(&x.0), "FROM")).map(|i| i + 1)
        } else if is(tok(0), "EXECUTE") && is(tok(1), "IMMEDIATE") {
            Some(2)
        } else {
            None
        };
        if let Some(i) = literal
            && let Some((Token::Str(q), range)) = t.get(i)
        {
            return self.prepared_text(q, range, edits);
        }
        let mut i = from;
        while i < t.len() {
            let before_dot = i > 0 && tok(i - 1) == Some(&Token::Punct(b'.'));
            let name_at = |j: usize| ident(tok(j));
            // `information_schema.T`, not a column `information_schema.T.c` or a call.
            let qualified = !before_dot
                && name_at(i).is_some_and(|n| n.eq_ignore_ascii_case("information_schema"))
                && tok(i + 1) == Some(&Token::Punct(b'.'))
                && name_at(i + 2).is_some()
                && !matches!(tok(i + 3), Some(Token::Punct(b'.' | b'(')));
            if qualified {
                let name = name_at(i + 2).unwrap_or_default();
                if let Some(text) = self.replacement(&name, tok(i + 3), true)? {
                    edits.push((t[i].1.start..t[i + 2].1.end, text));
                }
                i += 3;
                continue;
            }
            // In information_schema, a bare name of one of its tables that names databases.
            let bare = self.in_information_schema
                && !before_dot
                && !matches!(tok(i + 1), Some(Token::Punct(b'.' | b'(')));
            if bare
                && let Some(name) = name_at(i)
                && (known(&name).is_some() || is_innodb(&name))
                && let Some(text) = self.replacement(&name, tok(i + 1), false)?
            {
                edits.push((t[i].1.clone(), text));
            }
            i += 1;
        }
        Ok(())
    }

    /// The derived table replacing information_schema table `name` (followed by `next`),
    /// `None` for a table that needs no restriction; `qualified`: written with its schema
    /// (an unknown name is then certainly an information_schema table, and refused).
    fn replacement(
        &self,
        name: &str,
        next: Option<&Token<'_>>,
        qualified: bool,
    ) -> Result<Option<String>, RouteError> {
        if is_innodb(name) {
            return Err(needs("PROCESS", &format!("information_schema.{name}")));
        }
        let Some(columns) = known(name) else {
            if !qualified || UNRESTRICTED.iter().any(|u| u.eq_ignore_ascii_case(name)) {
                return Ok(None);
            }
            return Err(self.denied(name, "myshard cannot restrict this table to your schemas"));
        };
        let quoted = format!("`{}`", name.replace('`', "``"));
        let mut conditions = Vec::with_capacity(columns.len());
        for (k, c) in columns.iter().enumerate() {
            conditions.push(if k == 0 {
                format!("BINARY {c} IN ({})", self.list)
            } else {
                format!("({c} IS NULL OR BINARY {c} IN ({}))", self.list)
            });
        }
        let mut text = format!(
            "(SELECT * FROM information_schema.{quoted} WHERE {})",
            conditions.join(" AND ")
        );
        let aliased = match next {
            Some(Token::QuotedIdent(_)) => true,
            Some(Token::Word(w)) => !NOT_ALIAS.iter().any(|k| k.eq_ignore_ascii_case(w)),
            _ => false,
        };
        if !aliased {
            text.push_str(" AS ");
            text.push_str(&quoted);
        }
        Ok(Some(text))
    }

    /// A prepared statement's text (the string literal `quoted` at `range`) restricted and
    /// written back as a literal.
    fn prepared_text(
        &self,
        quoted: &str,
        range: &Range<usize>,
        edits: &mut Vec<Edit>,
    ) -> Result<(), RouteError> {
        let Some(text) = unquote(quoted) else {
            return Ok(());
        };
        let Some(restricted) = self.text(&text)? else {
            return Ok(());
        };
        if quoted.contains('\\') {
            // Its escapes depend on the session's sql_mode: it could not be written back
            // for certain.
            return Err(self.denied(
                "TABLES",
                "a prepared text with a backslash: myshard cannot rewrite it to restrict it",
            ));
        }
        edits.push((
            range.clone(),
            format!("'{}'", restricted.replace('\'', "''")),
        ));
        Ok(())
    }
}

impl Restrictor<'_, '_> {
    /// 1142 for information_schema table `name`, saying why.
    fn denied(&self, name: &str, why: &str) -> RouteError {
        let mut e = self.g.table_denied("SELECT", "information_schema", name);
        e.message.push_str(&format!(
            " ({why}; information_schema shows only your schemas)"
        ));
        e
    }
}

/// The schema columns of a known information_schema table.
fn known(name: &str) -> Option<&'static [&'static str]> {
    RESTRICTED
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, c)| *c)
}

fn is_innodb(name: &str) -> bool {
    name.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("INNODB_"))
}

/// `0x…`: a binary string literal of `bytes`.
fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("0x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests;
