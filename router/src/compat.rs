//! Introspection statements that drivers, ORMs and the command-line client send, planned
//! so that clients only ever see logical schema names, never the physical databases of
//! shards or the renamed database of an unsharded schema:
//!
//! - `SELECT DATABASE()` / `SELECT SCHEMA()` ([`current_database_select`]): answered by
//!   the proxy with the session's logical schema.
//! - `SHOW DATABASES` / `SHOW SCHEMAS [LIKE 'pat']`: answered by the proxy with the logical
//!   schemas ([`Introspection::ShowDatabases`]).
//! - `SHOW [FULL] TABLES`, `SHOW TABLE STATUS`, `SHOW [FULL] COLUMNS|FIELDS`,
//!   `SHOW INDEX|INDEXES|KEYS`, `SHOW CREATE TABLE`, `DESCRIBE|DESC|EXPLAIN table`: sent to
//!   the home shard with the physical database named explicitly; the answer's column
//!   definitions (`Tables_in_<db>`) and error messages are renamed back.
//! - `SELECT … FROM information_schema.…` : literals (and `DATABASE()`) compared with a
//!   schema column (`TABLE_SCHEMA = 'shop'`) become the home shard's physical database, and
//!   the rows are renamed back (other shards' databases are left out).
//!
//! Pure: text and topology in, plan out. Anything outside these forms gets `None` and keeps
//! its usual route.

use crate::lexer::{Lexer, Token};
use crate::shard::plan::{RouteContext, RouteError};
use crate::shard::template::quote_ident;
use myshard_config::{SchemaTopology, Topology};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ops::Range;

/// How the proxy handles a recognised introspection statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Introspection {
    /// `SHOW DATABASES`: the proxy lists the logical schemas itself.
    ShowDatabases(ShowDatabases),
    /// Sent to one backend in rewritten form; the answer is renamed back.
    Rewritten(Box<Rewritten>),
    /// Refused.
    Error(RouteError),
}

/// `SHOW DATABASES | SCHEMAS [LIKE 'pattern']`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowDatabases {
    /// The result column's name: `Database`, or `Database (pattern)` with `LIKE`.
    pub column: String,
    /// The `LIKE` pattern (string value, escapes resolved as MySQL does).
    pub pattern: Option<String>,
}

impl ShowDatabases {
    /// Whether schema `name` is listed. Names compare case-sensitively (as database names
    /// do on Linux), except `information_schema`, which MariaDB matches in any case.
    pub fn matches(&self, name: &str) -> bool {
        let Some(p) = &self.pattern else { return true };
        if name == "information_schema" {
            return like(&p.to_ascii_lowercase(), name);
        }
        like(p, name)
    }
}

/// A statement rewritten for one physical database.
#[derive(Debug, Clone, PartialEq)]
pub struct Rewritten {
    /// The logical schema whose home shard runs it; `None`: the session's usual route.
    pub schema: Option<String>,
    /// That schema's home shard (0 for an unsharded schema).
    pub shard: u32,
    /// The text sent.
    pub sql: String,
    /// Physical names to show as logical ones in the answer.
    pub names: NameMap,
    /// Whether rows carry schema names (information_schema queries): they are decoded and
    /// renamed. Otherwise rows are relayed untouched.
    pub rows: bool,
    /// Placeholders (by position, from 0) compared with a schema column
    /// (`TABLE_SCHEMA = ?`): a prepared statement's bound logical name is replaced by the
    /// physical database at execute time, and chooses where the statement runs.
    pub params: Vec<usize>,
}

/// Where a prepared information_schema query runs once its parameters are bound, and the
/// parameter values to replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The logical schema whose home shard runs it; `None`: the session's usual route.
    pub schema: Option<String>,
    /// That schema's home shard.
    pub shard: u32,
    /// (parameter position, physical database) for parameters naming a sharded or renamed
    /// logical schema.
    pub replace: Vec<(usize, String)>,
}

impl Rewritten {
    /// Binds the schema parameters: `value(i)` is the text bound to parameter `i` (`None`
    /// for NULL or a value that is not text).
    pub fn bind(
        &self,
        topology: &Topology,
        value: &dyn Fn(usize) -> Option<String>,
    ) -> Result<Binding, RouteError> {
        let mut named: Vec<(String, Home<'_>)> = Vec::new();
        if let Some(s) = &self.schema
            && let Some(h) = home(topology, s)
        {
            named.push((s.clone(), h));
        }
        let mut replace = Vec::new();
        for &i in &self.params {
            let Some(v) = value(i) else { continue };
            if let Some(h) = home(topology, &v) {
                replace.push((i, h.database.to_string()));
                named.push((v, h));
            }
        }
        let target = one_group(&named)?;
        Ok(Binding {
            schema: target
                .map(|(n, _)| n.to_string())
                .or_else(|| self.schema.clone()),
            shard: target.map_or(self.shard, |(_, h)| h.shard),
            replace,
        })
    }
}

/// The first of the named schemas, if their home shards share a group.
fn one_group<'n, 't, S: AsRef<str>>(
    named: &'n [(S, Home<'t>)],
) -> Result<Option<(&'n str, Home<'t>)>, RouteError> {
    let Some((first, rest)) = named.split_first() else {
        return Ok(None);
    };
    if let Some(other) = rest.iter().find(|(_, h)| h.group != first.1.group) {
        return Err(RouteError::unsupported(format!(
            "an information_schema query naming logical schemas whose home shards are on different groups ('{}' and '{}'); query one schema at a time",
            first.0.as_ref(),
            other.0.as_ref()
        )));
    }
    Ok(Some((first.0.as_ref(), first.1)))
}

/// Physical database names and the logical names clients see instead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameMap {
    renames: HashMap<String, String>,
    hidden: HashSet<String>,
}

/// What to do with one value of a result row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueRename<'a> {
    /// Not a physical database name.
    Keep,
    /// A home shard's (or a renamed schema's) database: show the logical name.
    Logical(&'a str),
    /// Another shard's database: in a schema column, the row is left out.
    Hidden,
}

impl NameMap {
    /// One physical database shown as `logical`.
    pub fn single(physical: &str, logical: &str) -> Self {
        let mut m = NameMap::default();
        m.renames.insert(physical.to_string(), logical.to_string());
        m
    }

    /// Every sharded or renamed schema of `topology`: the home shard's database (the
    /// renamed database) shows as the logical name, the other shards' are hidden.
    pub fn for_topology(topology: &Topology) -> Self {
        let mut m = NameMap::default();
        for (name, schema) in topology.schemas() {
            match schema {
                SchemaTopology::Sharded(s) => {
                    for (shard, db) in s.databases.iter().enumerate() {
                        if shard as u32 == s.home_shard {
                            m.renames.insert(db.clone(), name.to_string());
                        } else {
                            m.hidden.insert(db.clone());
                        }
                    }
                }
                SchemaTopology::Unsharded { database, .. } if database != name => {
                    m.renames.insert(database.clone(), name.to_string());
                }
                SchemaTopology::Unsharded { .. } => {}
            }
        }
        // A logical name that is also some other schema's physical name stays visible.
        for logical in m.renames.values() {
            m.hidden.remove(logical);
        }
        m
    }

    /// The home shard's database (or the renamed database) of logical schema `logical`
    /// shown as `logical`; `None` when the schema is neither sharded nor renamed.
    pub fn for_schema(topology: &Topology, logical: &str) -> Option<Self> {
        home(topology, logical).map(|h| NameMap::single(h.database, logical))
    }

    /// Whether nothing is renamed.
    pub fn is_empty(&self) -> bool {
        self.renames.is_empty() && self.hidden.is_empty()
    }

    /// How a result value is shown.
    pub fn value(&self, v: &[u8]) -> ValueRename<'_> {
        let Ok(s) = std::str::from_utf8(v) else {
            return ValueRename::Keep;
        };
        if let Some(l) = self.renames.get(s) {
            return ValueRename::Logical(l);
        }
        if self.hidden.contains(s) {
            return ValueRename::Hidden;
        }
        ValueRename::Keep
    }

    /// A result column name derived from a physical database name (`Tables_in_<db>`, also
    /// with a ` (pattern)` suffix), renamed; `None` when unchanged.
    pub fn column_name(&self, name: &[u8]) -> Option<Vec<u8>> {
        let rest = name.strip_prefix(b"Tables_in_")?;
        for (physical, logical) in &self.renames {
            if let Some(after) = rest.strip_prefix(physical.as_bytes())
                && (after.is_empty() || after.starts_with(b" ("))
            {
                let mut out = b"Tables_in_".to_vec();
                out.extend_from_slice(logical.as_bytes());
                out.extend_from_slice(after);
                return Some(out);
            }
        }
        None
    }

    /// Every physical database of `topology` that is not its logical schema's name, shown
    /// as the logical name: for error messages, which may quote any shard's database.
    pub fn for_messages(topology: &Topology) -> Self {
        let mut m = NameMap::default();
        for (name, schema) in topology.schemas() {
            match schema {
                SchemaTopology::Sharded(s) => {
                    for db in &s.databases {
                        if db != name {
                            m.renames.insert(db.clone(), name.to_string());
                        }
                    }
                }
                SchemaTopology::Unsharded { database, .. } if database != name => {
                    m.renames.insert(database.clone(), name.to_string());
                }
                SchemaTopology::Unsharded { .. } => {}
            }
        }
        m
    }

    /// An error message with physical database names (as whole words) replaced by logical
    /// ones.
    pub fn message<'m>(&self, msg: &'m str) -> Cow<'m, str> {
        let mut out = Cow::Borrowed(msg);
        for (physical, logical) in &self.renames {
            if out.contains(physical.as_str()) {
                out = Cow::Owned(replace_word(&out, physical, logical));
            }
        }
        out
    }
}

/// Whether an information_schema column holds schema names (`TABLE_SCHEMA`,
/// `CONSTRAINT_SCHEMA`, `REFERENCED_TABLE_SCHEMA`, `SCHEMA_NAME`, …).
pub fn is_schema_column(name: &str) -> bool {
    let n = name.as_bytes();
    let ends = |suffix: &[u8]| {
        n.len() >= suffix.len() && n[n.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    ends(b"SCHEMA") || name.eq_ignore_ascii_case("SCHEMA_NAME")
}

/// The result column's name if `sql` is exactly `SELECT DATABASE()` or `SELECT SCHEMA()`,
/// with an optional alias and trailing semicolon: MariaDB names the column after the
/// expression as written, or after the alias.
pub fn current_database_select(sql: &str) -> Option<String> {
    let mut lexer = Lexer::new(sql);
    if !matches!(lexer.next()?, Token::Word(w) if w.eq_ignore_ascii_case("SELECT")) {
        return None;
    }
    let Token::Word(f) = lexer.next()? else {
        return None;
    };
    if !(f.eq_ignore_ascii_case("DATABASE") || f.eq_ignore_ascii_case("SCHEMA")) {
        return None;
    }
    let start = offset_in(sql, f)?;
    if lexer.next() != Some(Token::Punct(b'(')) || lexer.next() != Some(Token::Punct(b')')) {
        return None;
    }
    let written = sql.get(start..lexer.offset())?.to_string();
    let mut t = lexer.next();
    let mut column = None;
    if matches!(t, Some(Token::Word(w)) if w.eq_ignore_ascii_case("AS")) {
        t = lexer.next();
        t?;
    }
    match t {
        Some(Token::Word(w)) => {
            column = Some(w.to_string());
            t = lexer.next();
        }
        Some(Token::QuotedIdent(q)) => {
            column = Some(q.replace("``", "`"));
            t = lexer.next();
        }
        Some(Token::Str(s)) => {
            column = Some(unescape(s));
            t = lexer.next();
        }
        _ => {}
    }
    match t {
        None | Some(Token::Semicolon) if lexer.next().is_none() => Some(column.unwrap_or(written)),
        _ => None,
    }
}

/// `SHOW [FULL] PROCESSLIST`: `Some(full)`.
pub fn show_processlist(sql: &str) -> Option<bool> {
    let mut lx = Lexer::new(sql);
    if !matches!(lx.next()?, Token::Word(w) if w.eq_ignore_ascii_case("SHOW")) {
        return None;
    }
    let mut t = lx.next()?;
    let full = matches!(t, Token::Word(w) if w.eq_ignore_ascii_case("FULL"));
    if full {
        t = lx.next()?;
    }
    if !matches!(t, Token::Word(w) if w.eq_ignore_ascii_case("PROCESSLIST")) {
        return None;
    }
    match lx.next() {
        None => Some(full),
        Some(Token::Semicolon) if lx.next().is_none() => Some(full),
        _ => None,
    }
}

/// Whether a statement names information_schema's `PROCESSLIST` table (the backends'
/// thread lists, which the proxy does not pass on): it names `PROCESSLIST` and either
/// names `information_schema` or runs there (`in_information_schema`). A user's own table
/// called `processlist` elsewhere is not concerned.
pub fn names_processlist_table(sql: &str, in_information_schema: bool) -> bool {
    // A cheap first test: only `p` bytes start a comparison.
    let b = sql.as_bytes();
    let mentioned = b.iter().enumerate().any(|(i, &c)| {
        (c == b'p' || c == b'P')
            && b.get(i..i + 11)
                .is_some_and(|w| w.eq_ignore_ascii_case(b"processlist"))
    });
    if !mentioned {
        return false;
    }
    let (mut table, mut schema) = (false, in_information_schema);
    for t in Lexer::new(sql) {
        if let Token::Word(w) | Token::QuotedIdent(w) = t {
            table |= w.eq_ignore_ascii_case("PROCESSLIST");
            schema |= w.eq_ignore_ascii_case("information_schema");
        }
    }
    table && schema && show_processlist(sql).is_none()
}

/// `KILL [CONNECTION | QUERY] CONNECTION_ID()`: the client ends its own connection (or
/// statement); `Some(query)`.
pub fn kill_own_connection(sql: &str) -> Option<bool> {
    let mut lx = Lexer::new(sql);
    if !matches!(lx.next()?, Token::Word(w) if w.eq_ignore_ascii_case("KILL")) {
        return None;
    }
    let mut t = lx.next()?;
    let mut query = false;
    if let Token::Word(w) = t
        && (w.eq_ignore_ascii_case("QUERY") || w.eq_ignore_ascii_case("CONNECTION"))
    {
        query = w.eq_ignore_ascii_case("QUERY");
        t = lx.next()?;
    }
    if !matches!(t, Token::Word(w) if w.eq_ignore_ascii_case("CONNECTION_ID"))
        || lx.next() != Some(Token::Punct(b'('))
        || lx.next() != Some(Token::Punct(b')'))
    {
        return None;
    }
    match lx.next() {
        None => Some(query),
        Some(Token::Semicolon) if lx.next().is_none() => Some(query),
        _ => None,
    }
}

/// `sql` with every `DATABASE()` / `SCHEMA()` call replaced by an expression of the same
/// type and metadata whose value is the logical schema (`IF(0, DATABASE(), 'shop')`), so
/// that a statement run in a shard's physical database still reports the logical name
/// (`SELECT DATABASE(), USER()`, `INSERT … VALUES (DATABASE())`). Select-list items of
/// the outer `SELECT` that contain a call and have no alias get their text as written as
/// alias, keeping the column name MariaDB would give them. `None` when there is no call.
pub fn rewrite_database_calls(sql: &str, logical: Option<&str>) -> Option<String> {
    rewrite_session_calls(
        sql,
        &SessionValues {
            database: Some(logical),
            client: None,
        },
    )
}

/// What a client's session functions answer on the proxy (the backend connection that
/// runs a statement has its own database, thread id and account).
#[derive(Debug, Clone, Copy)]
pub struct SessionValues<'a> {
    /// `DATABASE()` / `SCHEMA()`: `Some(name or NULL)` to answer, `None` to leave alone.
    pub database: Option<Option<&'a str>>,
    /// The client's identity, `None` to leave those functions alone.
    pub client: Option<ClientIdentity<'a>>,
}

/// The client as the proxy knows it.
#[derive(Debug, Clone, Copy)]
pub struct ClientIdentity<'a> {
    /// The proxy connection id (the one in the greeting, which `KILL` takes).
    pub connection_id: u64,
    /// The proxy user name.
    pub user: &'a str,
    /// The client's host as seen by the proxy.
    pub host: &'a str,
}

/// Session functions with the answer the proxy gives, for the given values.
fn session_call_value(name: &str, v: &SessionValues<'_>) -> Option<String> {
    let is = |k: &str| name.eq_ignore_ascii_case(k);
    if is("DATABASE") || is("SCHEMA") {
        let db = v.database?;
        let value = db.map_or_else(|| "NULL".to_string(), quote_str);
        return Some(format!("IF(0, DATABASE(), {value})"));
    }
    let c = v.client?;
    if is("CONNECTION_ID") {
        Some(format!(
            "IF(0, CONNECTION_ID(), CAST({} AS UNSIGNED))",
            c.connection_id
        ))
    } else if is("USER") || is("SESSION_USER") || is("SYSTEM_USER") {
        let value = quote_str(&format!("{}@{}", c.user, c.host));
        Some(format!("IF(0, USER(), {value})"))
    } else if is("CURRENT_USER") {
        let value = quote_str(&format!("{}@%", c.user));
        Some(format!("IF(0, CURRENT_USER(), {value})"))
    } else {
        None
    }
}

/// `sql` with the calls of the session functions `v` gives values for (`DATABASE()`,
/// `SCHEMA()`, `CONNECTION_ID()`, `USER()`, `CURRENT_USER()`, `SESSION_USER()`,
/// `SYSTEM_USER()`, and `CURRENT_USER` without parentheses in expressions) replaced by
/// expressions of the same type whose value is the proxy's answer
/// (`IF(0, CONNECTION_ID(), 42)`), keeping the column names MariaDB would give (see
/// [`rewrite_database_calls`]), in each statement of a multi-statement text. `None` when
/// there is no such call.
pub fn rewrite_session_calls(sql: &str, v: &SessionValues<'_>) -> Option<String> {
    if !mentions_call(sql) {
        return None;
    }
    let toks = tokens(sql)?;
    let mut edits: Edits = Vec::new();
    let mut start = 0;
    while start < toks.len() {
        let end = toks[start..]
            .iter()
            .position(|t| t.token == Token::Semicolon)
            .map_or(toks.len(), |p| start + p);
        edits.extend(statement_edits(sql, &toks[start..end], v));
        start = end + 1;
    }
    (!edits.is_empty()).then(|| apply(sql, edits))
}

/// The edits of [`rewrite_session_calls`] in one statement's tokens.
fn statement_edits(sql: &str, toks: &[Tok<'_>], v: &SessionValues<'_>) -> Edits {
    let punct = |i: usize, c: u8| matches!(toks.get(i), Some(t) if t.token == Token::Punct(c));
    let after_dot = |i: usize| i > 0 && punct(i - 1, b'.');
    let expressions = is_expression_statement(toks);
    // (token index, tokens replaced, replacement)
    let call = |i: usize| match toks[i].token {
        Token::Word(w) if punct(i + 1, b'(') && punct(i + 2, b')') && !after_dot(i) => {
            session_call_value(w, v).map(|value| (i, 3, value))
        }
        // `CURRENT_USER` is also a function without parentheses, but a name after
        // `FOR`, `TO` or `DEFINER =` (accounts in GRANT, SET PASSWORD, CREATE …).
        Token::Word(w)
            if w.eq_ignore_ascii_case("CURRENT_USER")
                && expressions
                && !punct(i + 1, b'(')
                && !after_dot(i)
                && !(i > 0 && (is_kw(toks.get(i - 1), "FOR") || is_kw(toks.get(i - 1), "TO")))
                && !(i > 1 && punct(i - 1, b'=') && is_kw(toks.get(i - 2), "DEFINER")) =>
        {
            let c = v.client?;
            let value = quote_str(&format!("{}@%", c.user));
            Some((i, 1, format!("IF(0, CURRENT_USER, {value})")))
        }
        _ => None,
    };
    let calls: Vec<(usize, usize, String)> = (0..toks.len()).filter_map(call).collect();
    if calls.is_empty() {
        return Vec::new();
    }
    let mut edits: Edits = calls
        .iter()
        .map(|(i, n, value)| (toks[*i].range.0..toks[i + n - 1].range.1, value.clone()))
        .collect();
    if is_kw(toks.first(), "SELECT") {
        for item in select_items(toks) {
            let has_call = calls.iter().any(|(c, _, _)| item.contains(c));
            if has_call && !has_alias(&toks[item.clone()]) {
                let (start, end) = (toks[item.start].range.0, toks[item.end - 1].range.1);
                edits.push((end..end, format!(" AS {}", quote_ident(&sql[start..end]))));
            }
        }
    }
    edits
}

/// Statements whose words are expressions, where a bare `CURRENT_USER` is the function
/// (not `GRANT`, `CREATE DEFINER = CURRENT_USER`, `SHOW GRANTS FOR CURRENT_USER`, …).
fn is_expression_statement(toks: &[Tok<'_>]) -> bool {
    const EXPRESSIONS: &[&str] = &[
        "SELECT", "WITH", "VALUES", "INSERT", "REPLACE", "UPDATE", "DELETE", "DO", "SET",
    ];
    EXPRESSIONS.iter().any(|k| is_kw(toks.first(), k))
        && !(is_kw(toks.first(), "SET")
            && ["PASSWORD", "ROLE", "DEFAULT"]
                .iter()
                .any(|k| is_kw(toks.get(1), k)))
}

/// A cheap first test (one pass, no tokens): a session function's name followed by `(`
/// appears somewhere, or `CURRENT_USER` does.
fn mentions_call(sql: &str) -> bool {
    const NAMES: &[&[u8]] = &[b"database", b"schema", b"connection_id", b"user"];
    let b = sql.as_bytes();
    let ends_with =
        |i: usize, name: &[u8]| i >= name.len() && b[i - name.len()..i].eq_ignore_ascii_case(name);
    b.iter()
        .enumerate()
        .any(|(i, &c)| c == b'(' && NAMES.iter().any(|n| ends_with(i, n)))
        || b.windows(12)
            .any(|w| w.eq_ignore_ascii_case(b"current_user"))
}

/// Token index ranges of the outer select list's items (`toks[0]` is `SELECT`).
fn select_items(toks: &[Tok<'_>]) -> Vec<Range<usize>> {
    const MODIFIERS: &[&str] = &[
        "ALL",
        "DISTINCT",
        "DISTINCTROW",
        "HIGH_PRIORITY",
        "STRAIGHT_JOIN",
        "SQL_SMALL_RESULT",
        "SQL_BIG_RESULT",
        "SQL_BUFFER_RESULT",
        "SQL_CACHE",
        "SQL_NO_CACHE",
        "SQL_CALC_FOUND_ROWS",
    ];
    const END: &[&str] = &[
        "FROM",
        "INTO",
        "WHERE",
        "GROUP",
        "HAVING",
        "ORDER",
        "LIMIT",
        "WINDOW",
        "UNION",
        "EXCEPT",
        "INTERSECT",
        "FOR",
        "LOCK",
        "PROCEDURE",
    ];
    let mut i = 1;
    while let Some(Tok {
        token: Token::Word(w),
        ..
    }) = toks.get(i)
    {
        if !MODIFIERS.iter().any(|m| w.eq_ignore_ascii_case(m)) {
            break;
        }
        i += 1;
    }
    let mut items = Vec::new();
    let mut start = i;
    let mut depth = 0i32;
    while i < toks.len() {
        match toks[i].token {
            Token::Punct(b'(') => depth += 1,
            Token::Punct(b')') => depth -= 1,
            Token::Punct(b',') if depth == 0 => {
                items.push(start..i);
                start = i + 1;
            }
            Token::Semicolon => break,
            Token::Word(w) if depth == 0 && END.iter().any(|k| w.eq_ignore_ascii_case(k)) => break,
            _ => {}
        }
        i += 1;
    }
    items.push(start..i);
    items.retain(|r| !r.is_empty());
    items
}

/// Whether a select-list item ends with an alias (`expr [AS] alias`).
fn has_alias(item: &[Tok<'_>]) -> bool {
    const NOT_ALIAS: &[&str] = &["NULL", "TRUE", "FALSE", "UNKNOWN", "END"];
    const OPERATORS: &[&str] = &[
        "AS", "IS", "NOT", "AND", "OR", "XOR", "LIKE", "RLIKE", "REGEXP", "DIV", "MOD", "COLLATE",
        "BINARY", "INTERVAL", "ESCAPE", "BETWEEN", "ELSE", "THEN", "WHEN", "CASE", "IN", "SOUNDS",
    ];
    let mut depth = 0i32;
    for t in item {
        match t.token {
            Token::Punct(b'(') => depth += 1,
            Token::Punct(b')') => depth -= 1,
            Token::Word(w) if depth == 0 && w.eq_ignore_ascii_case("AS") => return true,
            _ => {}
        }
    }
    let [.., prev, last] = item else {
        return false;
    };
    let last_is_name = match last.token {
        Token::Word(w) => !NOT_ALIAS.iter().any(|k| w.eq_ignore_ascii_case(k)),
        Token::QuotedIdent(_) | Token::Str(_) => true,
        _ => false,
    };
    let prev_ends_expr = match prev.token {
        Token::Word(w) => !OPERATORS.iter().any(|k| w.eq_ignore_ascii_case(k)),
        Token::Punct(b')') | Token::QuotedIdent(_) | Token::Number(_) | Token::Str(_) => true,
        _ => false,
    };
    last_is_name && prev_ends_expr
}

/// Plans `sql` if it is one of the introspection statements this module handles and it
/// concerns a sharded or renamed logical schema (`SHOW DATABASES` always qualifies).
pub fn plan(sql: &str, ctx: RouteContext<'_>) -> Option<Introspection> {
    let first = match Lexer::new(sql).next()? {
        Token::Word(w) => w,
        _ => return None,
    };
    let kind = if first.eq_ignore_ascii_case("SHOW") {
        Stmt::Show
    } else if ["DESC", "DESCRIBE", "EXPLAIN"]
        .iter()
        .any(|k| first.eq_ignore_ascii_case(k))
    {
        Stmt::Describe
    } else if first.eq_ignore_ascii_case("SELECT") && mentions_information_schema(sql) {
        Stmt::InfoSchema
    } else {
        return None;
    };
    let mut toks = tokens(sql)?;
    if matches!(toks.last(), Some(t) if t.token == Token::Semicolon) {
        toks.pop();
    }
    if toks.iter().any(|t| t.token == Token::Semicolon) {
        return None;
    }
    let p = Planner { sql, toks, ctx };
    match kind {
        Stmt::Show => p.show(),
        Stmt::Describe => p.describe(),
        Stmt::InfoSchema => p.info_schema(),
    }
}

enum Stmt {
    Show,
    Describe,
    InfoSchema,
}

/// One token and where it sits in the text.
#[derive(Debug, Clone, Copy)]
struct Tok<'a> {
    token: Token<'a>,
    range: (usize, usize),
}

impl Tok<'_> {
    fn range(&self) -> Range<usize> {
        self.range.0..self.range.1
    }
}

/// Byte offset of `part` (a slice of `sql`) in `sql`.
fn offset_in(sql: &str, part: &str) -> Option<usize> {
    let off = (part.as_ptr() as usize).checked_sub(sql.as_ptr() as usize)?;
    (off + part.len() <= sql.len()).then_some(off)
}

fn tokens(sql: &str) -> Option<Vec<Tok<'_>>> {
    ranged(sql, &mut Lexer::new(sql))
}

/// The tokens `lexer` reads from `sql`, each with its byte range in `sql` (`None` if one
/// cannot be placed).
pub(crate) fn ranged_tokens<'a>(
    sql: &'a str,
    mut lexer: Lexer<'a>,
) -> Option<Vec<(Token<'a>, Range<usize>)>> {
    Some(
        ranged(sql, &mut lexer)?
            .into_iter()
            .map(|t| (t.token, t.range()))
            .collect(),
    )
}

fn ranged<'a>(sql: &'a str, lexer: &mut Lexer<'a>) -> Option<Vec<Tok<'a>>> {
    let mut out = Vec::new();
    while let Some(token) = lexer.next() {
        let end = lexer.offset();
        let start = match token {
            Token::Word(s) | Token::Str(s) | Token::Number(s) => offset_in(sql, s)?,
            Token::QuotedIdent(s) => {
                // The token text is the content between the backquotes.
                let start = offset_in(sql, s)?.checked_sub(1)?;
                if sql.as_bytes().get(start) != Some(&b'`') {
                    return None;
                }
                start
            }
            // The token text follows `@` / `@@`.
            Token::UserVar(s) => offset_in(sql, s)?.checked_sub(1)?,
            Token::SysVar(s) => offset_in(sql, s)?.checked_sub(2)?,
            Token::Semicolon | Token::Placeholder | Token::Punct(_) => end.checked_sub(1)?,
        };
        if start > end || end > sql.len() {
            return None;
        }
        out.push(Tok {
            token,
            range: (start, end),
        });
    }
    Some(out)
}

/// A cheap first test, run on every SELECT: `information_schema` appears somewhere.
/// A `SELECT` naming information_schema, run as written on the session's usual route
/// with its rows renamed and filtered: the plan for users who may see only some schemas
/// when [`plan`] leaves the statement alone (nothing in it concerns a sharded or renamed
/// schema, or nothing is renamed at all). Queries (`SELECT`, `WITH`, `(SELECT …)`) that
/// name information_schema or run in it (`schema`, the session's) qualify; `None` for
/// any other statement.
pub fn information_schema_as_written(
    sql: &str,
    topology: &Topology,
    schema: Option<&str>,
) -> Option<Introspection> {
    let query = match Lexer::new(sql).next()? {
        Token::Word(w) => w.eq_ignore_ascii_case("SELECT") || w.eq_ignore_ascii_case("WITH"),
        Token::Punct(b'(') => true,
        _ => false,
    };
    let in_is = schema.is_some_and(|s| s.eq_ignore_ascii_case("information_schema"));
    if !query || !(in_is || mentions_information_schema(sql)) {
        return None;
    }
    Some(Introspection::Rewritten(Box::new(Rewritten {
        schema: None,
        shard: 0,
        sql: sql.to_string(),
        names: NameMap::for_topology(topology),
        rows: true,
        params: Vec::new(),
    })))
}

/// Whether `sql` names information_schema anywhere (a quick test before lexing).
pub fn mentions_information_schema(sql: &str) -> bool {
    const NEEDLE: &[u8] = b"information_schema";
    let b = sql.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        c | 0x20 == b'i'
            && b.get(i..i + NEEDLE.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(NEEDLE))
    })
}

fn is_kw(t: Option<&Tok<'_>>, kw: &str) -> bool {
    matches!(t, Some(Tok { token: Token::Word(w), .. }) if w.eq_ignore_ascii_case(kw))
}

/// An identifier's value: a word, or a back-quoted name with its escapes undone.
fn ident<'a>(t: Option<&Tok<'a>>) -> Option<Cow<'a, str>> {
    match t?.token {
        Token::Word(w) => Some(Cow::Borrowed(w)),
        Token::QuotedIdent(q) if q.contains("``") => Some(Cow::Owned(q.replace("``", "`"))),
        Token::QuotedIdent(q) => Some(Cow::Borrowed(q)),
        _ => None,
    }
}

/// The value of a string literal token (quotes included), escapes resolved as MySQL does
/// without NO_BACKSLASH_ESCAPES (`\%` and `\_` keep their backslash).
pub fn unescape(lit: &str) -> String {
    let q = lit.chars().next().unwrap_or('\'');
    let inner = lit
        .strip_prefix(q)
        .map(|s| s.strip_suffix(q).unwrap_or(s))
        .unwrap_or(lit);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('0') => out.push('\0'),
                Some('b') => out.push('\u{8}'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('Z') => out.push('\u{1a}'),
                Some(e @ ('%' | '_')) => {
                    out.push('\\');
                    out.push(e);
                }
                Some(e) => out.push(e),
                None => out.push('\\'),
            }
        } else if c == q && chars.peek() == Some(&q) {
            chars.next();
            out.push(q);
        } else {
            out.push(c);
        }
    }
    out
}

/// A string literal for `value`.
fn quote_str(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('\'');
    for c in value.chars() {
        match c {
            '\'' => s.push_str("''"),
            '\\' => s.push_str("\\\\"),
            c => s.push(c),
        }
    }
    s.push('\'');
    s
}

/// SQL `LIKE`: `%` any run, `_` one character, `\` escapes the next character.
fn like(pattern: &str, text: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum P {
        Any,
        One,
        Lit(char),
    }
    let mut p = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        p.push(match c {
            '%' => P::Any,
            '_' => P::One,
            '\\' => P::Lit(chars.next().unwrap_or('\\')),
            c => P::Lit(c),
        });
    }
    let t: Vec<char> = text.chars().collect();
    // reach[j]: the pattern so far matches the first j characters.
    let mut reach = vec![false; t.len() + 1];
    reach[0] = true;
    for step in p {
        let mut next = vec![false; t.len() + 1];
        for j in 0..=t.len() {
            if !reach[j] {
                continue;
            }
            match step {
                P::Any => next[j..].iter_mut().for_each(|r| *r = true),
                P::One if j < t.len() => next[j + 1] = true,
                P::Lit(c) if j < t.len() && t[j] == c => next[j + 1] = true,
                _ => {}
            }
        }
        reach = next;
    }
    reach[t.len()]
}

fn replace_word(text: &str, word: &str, with: &str) -> String {
    let is_ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (i, _) in text.match_indices(word) {
        if i < at {
            continue;
        }
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        if is_ident(before) || is_ident(after) {
            continue;
        }
        out.push_str(&text[at..i]);
        out.push_str(with);
        at = i + word.len();
    }
    out.push_str(&text[at..]);
    out
}

/// Where a sharded or renamed logical schema's statements about its tables go.
#[derive(Debug, Clone, Copy)]
struct Home<'a> {
    shard: u32,
    database: &'a str,
    group: &'a str,
}

fn home<'a>(topology: &'a Topology, name: &str) -> Option<Home<'a>> {
    match topology.schema(name)? {
        SchemaTopology::Sharded(s) => Some(Home {
            shard: s.home_shard,
            database: s.database(s.home_shard)?,
            group: s.group_of(s.home_shard)?,
        }),
        SchemaTopology::Unsharded { database, group } if database != name => Some(Home {
            shard: 0,
            database,
            group,
        }),
        SchemaTopology::Unsharded { .. } => None,
    }
}

/// Text edits: byte range replaced by new text (an empty range inserts).
type Edits = Vec<(Range<usize>, String)>;

fn apply(sql: &str, mut edits: Edits) -> String {
    edits.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(sql.len() + 32);
    let mut at = 0;
    for (r, text) in edits {
        if r.start < at {
            continue;
        }
        out.push_str(&sql[at..r.start]);
        out.push_str(&text);
        at = r.end;
    }
    out.push_str(&sql[at..]);
    out
}

/// A table name as written: optional schema qualifier, the name, and the text range.
struct TableName<'a> {
    schema: Option<Cow<'a, str>>,
    name: Cow<'a, str>,
    range: Range<usize>,
    /// Index of the token after it.
    next: usize,
}

struct Planner<'a, 'c> {
    sql: &'a str,
    toks: Vec<Tok<'a>>,
    ctx: RouteContext<'c>,
}

impl<'a> Planner<'a, '_> {
    fn tok(&self, i: usize) -> Option<&Tok<'a>> {
        self.toks.get(i)
    }

    fn table_name(&self, i: usize) -> Option<TableName<'a>> {
        let first = ident(self.tok(i))?;
        let start = self.tok(i)?.range.0;
        if matches!(self.tok(i + 1), Some(t) if t.token == Token::Punct(b'.')) {
            let name = ident(self.tok(i + 2))?;
            return Some(TableName {
                schema: Some(first),
                name,
                range: start..self.tok(i + 2)?.range.1,
                next: i + 3,
            });
        }
        Some(TableName {
            schema: None,
            name: first,
            range: start..self.tok(i)?.range.1,
            next: i + 1,
        })
    }

    /// `{FROM | IN} db` at `i`: the name and its token index.
    fn db_clause(&self, i: usize) -> Option<(Cow<'a, str>, usize)> {
        if is_kw(self.tok(i), "FROM") || is_kw(self.tok(i), "IN") {
            return Some((ident(self.tok(i + 1))?, i + 1));
        }
        None
    }

    /// `[LIKE 'pattern' | WHERE …]` from `i` to the end: whether it is well formed.
    fn filter_ok(&self, i: usize) -> bool {
        match self.tok(i) {
            None => true,
            Some(_) if is_kw(self.tok(i), "LIKE") => {
                matches!(
                    self.tok(i + 1),
                    Some(Tok {
                        token: Token::Str(_),
                        ..
                    })
                ) && self.tok(i + 2).is_none()
            }
            Some(_) => is_kw(self.tok(i), "WHERE") && self.tok(i + 1).is_some(),
        }
    }

    fn rewritten(&self, logical: &str, h: Home<'_>, edits: Edits) -> Option<Introspection> {
        Some(Introspection::Rewritten(Box::new(Rewritten {
            schema: Some(logical.to_string()),
            shard: h.shard,
            sql: apply(self.sql, edits),
            names: NameMap::single(h.database, logical),
            rows: false,
            params: Vec::new(),
        })))
    }

    fn show(&self) -> Option<Introspection> {
        let mut i = 1;
        let full = is_kw(self.tok(i), "FULL");
        if full {
            i += 1;
        }
        let Some(Token::Word(w)) = self.tok(i).map(|t| t.token) else {
            return None;
        };
        let w = w.to_ascii_uppercase();
        match w.as_str() {
            "DATABASES" | "SCHEMAS" if !full => self.show_databases(i + 1),
            "TABLES" => self.schema_list(i, true),
            "TABLE" if !full && is_kw(self.tok(i + 1), "STATUS") => self.schema_list(i + 1, false),
            "COLUMNS" | "FIELDS" => self.table_info(i + 1, true),
            "INDEX" | "INDEXES" | "KEYS" if !full => self.table_info(i + 1, true),
            "CREATE" if !full && is_kw(self.tok(i + 1), "TABLE") => self.table_info(i + 2, false),
            _ => None,
        }
    }

    fn show_databases(&self, i: usize) -> Option<Introspection> {
        match self.tok(i).map(|t| t.token) {
            None => Some(Introspection::ShowDatabases(ShowDatabases {
                column: "Database".into(),
                pattern: None,
            })),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("LIKE") => {
                let Some(Token::Str(s)) = self.tok(i + 1).map(|t| t.token) else {
                    return None;
                };
                if self.tok(i + 2).is_some() {
                    return None;
                }
                let pattern = unescape(s);
                Some(Introspection::ShowDatabases(ShowDatabases {
                    column: format!("Database ({pattern})"),
                    pattern: Some(pattern),
                }))
            }
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("WHERE") => {
                Some(Introspection::Error(RouteError::unsupported(
                    "SHOW DATABASES … WHERE (myshard lists logical schemas itself; use LIKE)",
                )))
            }
            _ => None,
        }
    }

    /// `SHOW [FULL] TABLES` / `SHOW TABLE STATUS` (`kw` is the index of `TABLES` / `STATUS`)
    /// `[{FROM | IN} db] [LIKE … | WHERE …]`.
    fn schema_list(&self, kw: usize, tables: bool) -> Option<Introspection> {
        let db = self.db_clause(kw + 1);
        let filter = if db.is_some() { kw + 3 } else { kw + 1 };
        if !self.filter_ok(filter) {
            return None;
        }
        let logical: Cow<'_, str> = match &db {
            Some((name, _)) => name.clone(),
            None => Cow::Borrowed(self.ctx.schema?),
        };
        let h = home(self.ctx.topology, &logical)?;
        let mut edits = Edits::new();
        match &db {
            Some((_, at)) => edits.push((self.tok(*at)?.range(), quote_ident(h.database))),
            None => {
                let end = self.tok(kw)?.range.1;
                edits.push((end..end, format!(" FROM {}", quote_ident(h.database))));
            }
        }
        if tables && is_kw(self.tok(filter), "WHERE") {
            // The WHERE clause names the result column, which carries the database name.
            let column = format!("Tables_in_{logical}");
            for t in &self.toks[filter + 1..] {
                if let Some(name) = ident(Some(t))
                    && name.eq_ignore_ascii_case(&column)
                {
                    edits.push((t.range(), quote_ident(&format!("Tables_in_{}", h.database))));
                }
            }
        }
        self.rewritten(&logical, h, edits)
    }

    /// `SHOW [FULL] COLUMNS|FIELDS`, `SHOW INDEX|INDEXES|KEYS` (from `{FROM | IN}` at `i`,
    /// with `from` set) and `SHOW CREATE TABLE` (the table at `i`).
    fn table_info(&self, i: usize, from: bool) -> Option<Introspection> {
        let at = if from {
            if !(is_kw(self.tok(i), "FROM") || is_kw(self.tok(i), "IN")) {
                return None;
            }
            i + 1
        } else {
            i
        };
        let table = self.table_name(at)?;
        let mut next = table.next;
        let db = if from { self.db_clause(next) } else { None };
        if db.is_some() {
            next += 2;
        }
        if from {
            if !self.filter_ok(next) {
                return None;
            }
        } else if self.tok(next).is_some() {
            return None;
        }
        self.table_statement(&table, db)
    }

    /// `DESCRIBE | DESC | EXPLAIN table [column | 'wild']`.
    fn describe(&self) -> Option<Introspection> {
        const NOT_TABLES: &[&str] = &[
            "SELECT",
            "INSERT",
            "UPDATE",
            "DELETE",
            "REPLACE",
            "WITH",
            "TABLE",
            "VALUES",
            "FORMAT",
            "EXTENDED",
            "PARTITIONS",
            "ANALYZE",
            "ROUTE",
            "FOR",
        ];
        if let Some(Token::Word(w)) = self.tok(1).map(|t| t.token)
            && NOT_TABLES.iter().any(|k| w.eq_ignore_ascii_case(k))
        {
            return None;
        }
        let table = self.table_name(1)?;
        match self.tok(table.next).map(|t| t.token) {
            None => {}
            Some(Token::Word(_) | Token::QuotedIdent(_) | Token::Str(_))
                if self.tok(table.next + 1).is_none() => {}
            _ => return None,
        }
        self.table_statement(&table, None)
    }

    fn table_statement(
        &self,
        table: &TableName<'_>,
        db: Option<(Cow<'a, str>, usize)>,
    ) -> Option<Introspection> {
        let logical: Cow<'_, str> = match (&db, &table.schema) {
            (Some((name, _)), _) | (None, Some(name)) => name.clone(),
            (None, None) => Cow::Borrowed(self.ctx.schema?),
        };
        let h = home(self.ctx.topology, &logical)?;
        let mut edits = vec![(
            table.range.clone(),
            format!("{}.{}", quote_ident(h.database), quote_ident(&table.name)),
        )];
        if let Some((_, at)) = db {
            edits.push((self.tok(at)?.range(), quote_ident(h.database)));
        }
        self.rewritten(&logical, h, edits)
    }

    /// Whether the value at token `i` (spanning `len` tokens) is compared with a schema
    /// column: `col = v`, `v = col`, `col [NOT] LIKE v`, `col [NOT] IN (…, v, …)`,
    /// `col <> v`.
    fn compared_with_schema_column(&self, i: usize, len: usize) -> bool {
        let column_at = |j: Option<usize>| {
            j.and_then(|j| ident(self.tok(j)))
                .is_some_and(|c| is_schema_column(&c))
        };
        let punct = |j: usize, c: u8| matches!(self.tok(j), Some(t) if t.token == Token::Punct(c));
        // The value on the left: `v = col`.
        if punct(i + len, b'=') && column_at(Some(i + len + 1)) {
            return true;
        }
        let Some(mut j) = i.checked_sub(1) else {
            return false;
        };
        // Inside an IN list: walk back to its opening parenthesis.
        let mut in_list = false;
        loop {
            match self.tok(j).map(|t| t.token) {
                Some(Token::Punct(b',') | Token::Str(_) | Token::Placeholder) if j > 0 => j -= 1,
                Some(Token::Punct(b'(')) if j > 0 && is_kw(self.tok(j - 1), "IN") => {
                    in_list = true;
                    j -= 1;
                    break;
                }
                _ => break,
            }
        }
        if in_list || is_kw(self.tok(j), "LIKE") {
            let before = j.checked_sub(1);
            let before = match before {
                Some(b) if is_kw(self.tok(b), "NOT") => b.checked_sub(1),
                other => other,
            };
            return column_at(before);
        }
        if punct(j, b'=') {
            // `=`, `<=>`, `!=`: the column precedes the operator's characters.
            let mut k = j;
            while k > 0 && (punct(k - 1, b'<') || punct(k - 1, b'!')) {
                k -= 1;
            }
            return column_at(k.checked_sub(1));
        }
        if punct(j, b'>') && j > 0 && punct(j - 1, b'<') {
            return column_at((j - 1).checked_sub(1));
        }
        false
    }

    /// `SELECT … FROM information_schema.…`.
    fn info_schema(&self) -> Option<Introspection> {
        let names_is = self.toks.windows(2).any(|w| {
            ident(Some(&w[0])).is_some_and(|n| n.eq_ignore_ascii_case("information_schema"))
                && w[1].token == Token::Punct(b'.')
        });
        if !names_is {
            return None;
        }
        let topology = self.ctx.topology;
        let names = NameMap::for_topology(topology);
        if names.is_empty() {
            return None;
        }
        let session = self
            .ctx
            .schema
            .and_then(|s| home(topology, s).map(|h| (s, h)));
        let mut edits = Edits::new();
        let mut named: Vec<(&str, Home<'_>)> = Vec::new();
        let mut params = Vec::new();
        let mut placeholders = 0;
        let mut i = 0;
        while i < self.toks.len() {
            let t = self.toks[i];
            match t.token {
                Token::Str(s) if self.compared_with_schema_column(i, 1) => {
                    let value = unescape(s);
                    if let Some((name, _)) = topology.schemas().find(|(n, _)| *n == value)
                        && let Some(h) = home(topology, name)
                    {
                        edits.push((t.range(), quote_str(h.database)));
                        named.push((name, h));
                    }
                }
                Token::Word(w)
                    if (w.eq_ignore_ascii_case("DATABASE") || w.eq_ignore_ascii_case("SCHEMA"))
                        && matches!(self.tok(i + 1), Some(t) if t.token == Token::Punct(b'('))
                        && matches!(self.tok(i + 2), Some(t) if t.token == Token::Punct(b')'))
                        && self.compared_with_schema_column(i, 3) =>
                {
                    if let Some((name, h)) = session {
                        let end = self.toks[i + 2].range.1;
                        edits.push((t.range.0..end, quote_str(h.database)));
                        named.push((name, h));
                    }
                    i += 2;
                }
                Token::Placeholder => {
                    if self.compared_with_schema_column(i, 1) {
                        params.push(placeholders);
                    }
                    placeholders += 1;
                }
                _ => {}
            }
            i += 1;
        }
        let target = match one_group(&named) {
            Ok(t) => t,
            Err(e) => return Some(Introspection::Error(e)),
        };
        Some(Introspection::Rewritten(Box::new(Rewritten {
            schema: target.map(|(n, _)| n.to_string()),
            shard: target.map_or(0, |(_, h)| h.shard),
            sql: apply(self.sql, edits),
            names,
            rows: true,
            params,
        })))
    }
}

#[cfg(test)]
mod tests;
