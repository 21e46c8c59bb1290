//! Privileges: whether a user may run a statement text, whatever its syntax.
//!
//! The backends see one account (the proxy's), so the proxy is the only place a user's
//! configured schemas mean anything. A user may touch its logical schemas and
//! information_schema; nothing else (mysql, performance_schema, sys, physical shard
//! databases, other backend databases) unless it is an administrator. Server
//! administration and reading or writing server files need an administrator. A read-only
//! user may only read.
//!
//! The check works on the text after executable comments are resolved
//! ([`crate::exec_comment`]). It is lexical and cheap for the common case: a statement that
//! names no qualified object and starts with no administrative keyword is decided from its
//! tokens alone. A statement with a qualified name `x.y` is parsed to tell a schema
//! qualifier from a table or alias qualifier of a column; if it cannot be parsed, a
//! qualifier is accepted only when it names an allowed schema or is declared as a bare name
//! elsewhere in the statement (refused otherwise, naming why).

use crate::exec_comment;
use crate::lexer::{Lexer, Token};
use crate::shard::plan::RouteError;
use myshard_config::Topology;
use sqlparser::ast::{ObjectName, TableFactor, Visit, Visitor};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use std::ops::ControlFlow;

/// What a user may do, and the names the messages show.
#[derive(Debug, Clone, Copy)]
pub struct Grants<'a> {
    /// User name.
    pub user: &'a str,
    /// Client host.
    pub host: &'a str,
    /// Configured as an administrator: no schema or administration limits.
    pub admin: bool,
    /// May only read.
    pub read_only: bool,
    /// The user's logical schemas (`*`: every logical schema).
    pub schemas: &'a [String],
    /// Logical and physical schemas of the configuration.
    pub topology: &'a Topology,
    /// The backends' version, for executable comments inside `PREPARE … FROM '…'`.
    pub server_version: u32,
}

impl Grants<'_> {
    /// Whether `db` is one of the user's logical schemas.
    pub fn may_use(&self, db: &str) -> bool {
        self.topology.schema(db).is_some() && self.schemas.iter().any(|s| s == "*" || s == db)
    }

    fn may_qualify(&self, db: &str) -> bool {
        db.eq_ignore_ascii_case("information_schema") || self.may_use(db)
    }

    /// A database name the user may not use but which exists somewhere on the backends.
    fn is_foreign_database(&self, name: &str) -> bool {
        if self.may_qualify(name) {
            return false;
        }
        ["mysql", "performance_schema", "sys"]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(name))
            || self
                .topology
                .schemas()
                .any(|(s, _)| s.eq_ignore_ascii_case(name))
            || self
                .topology
                .physical_databases()
                .any(|p| p.database.eq_ignore_ascii_case(name))
    }

    fn table_denied(&self, verb: &str, db: &str, table: &str) -> RouteError {
        RouteError {
            code: 1142,
            state: "42000",
            message: format!(
                "{verb} command denied to user '{}'@'{}' for table `{db}`.`{table}`",
                self.user, self.host
            ),
        }
    }

    fn database_denied(&self, db: &str) -> RouteError {
        RouteError {
            code: 1044,
            state: "42000",
            message: format!(
                "Access denied for user '{}'@'{}' to database '{db}'",
                self.user, self.host
            ),
        }
    }

    fn read_only_denied(&self, verb: &str) -> RouteError {
        RouteError {
            code: 1142,
            state: "42000",
            message: format!(
                "{verb} command denied to user '{}'@'{}': the user is read_only",
                self.user, self.host
            ),
        }
    }
}

/// 1227 naming the privilege the statement needs.
fn needs(privilege: &str, what: &str) -> RouteError {
    RouteError {
        code: 1227,
        state: "42000",
        message: format!(
            "Access denied; you need (at least one of) the {privilege} privilege(s) for this operation ({what})"
        ),
    }
}

/// Checks every statement of `sql` (executable comments already resolved).
pub fn check(sql: &str, g: &Grants<'_>) -> Result<(), RouteError> {
    check_depth(sql, g, 0)
}

fn check_depth(sql: &str, g: &Grants<'_>, depth: u8) -> Result<(), RouteError> {
    if g.admin && !g.read_only {
        return Ok(());
    }
    let statements = split(Lexer::new(sql), sql);
    let multi = statements.len() > 1;
    for s in &statements {
        check_statement(s, g, multi, depth)?;
    }
    // The session may run with sql_mode NO_BACKSLASH_ESCAPES, where `'\'` ends a string
    // and what followed it is code: such a text must pass read both ways.
    if sql.contains('\\') {
        let statements = split(Lexer::without_backslash_escapes(sql), sql);
        let multi = statements.len() > 1;
        for s in &statements {
            check_statement(s, g, multi, depth)?;
        }
    }
    Ok(())
}

/// One statement of a text: its byte range and tokens.
struct Stmt<'a> {
    text: &'a str,
    tokens: Vec<Token<'a>>,
}

fn split<'a>(mut lexer: Lexer<'a>, sql: &'a str) -> Vec<Stmt<'a>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut tokens = Vec::new();
    while let Some(t) = lexer.next() {
        if t == Token::Semicolon {
            let end = lexer.offset().saturating_sub(1);
            if !tokens.is_empty() {
                out.push(Stmt {
                    text: sql.get(start..end).unwrap_or(""),
                    tokens: std::mem::take(&mut tokens),
                });
            }
            start = lexer.offset();
        } else {
            tokens.push(t);
        }
    }
    if !tokens.is_empty() {
        out.push(Stmt {
            text: sql.get(start..).unwrap_or(""),
            tokens,
        });
    }
    out
}

fn word<'a>(t: Option<&Token<'a>>) -> Option<&'a str> {
    match t {
        Some(Token::Word(w)) => Some(w),
        _ => None,
    }
}

fn ident(t: Option<&Token<'_>>) -> Option<String> {
    match t {
        Some(Token::Word(w)) => Some((*w).to_string()),
        Some(Token::QuotedIdent(q)) => Some(q.replace("``", "`")),
        // Under sql_mode ANSI_QUOTES "…" is an identifier (elsewhere a string, and a
        // qualified name of strings is a syntax error, so reading it as a name is safe).
        Some(Token::Str(q)) if q.starts_with('"') => unquote(q),
        _ => None,
    }
}

fn is(t: Option<&Token<'_>>, k: &str) -> bool {
    word(t).is_some_and(|w| w.eq_ignore_ascii_case(k))
}

/// Statements a read-only user may run (they change no data).
const READS: &[&str] = &[
    "SELECT",
    "SHOW",
    "DESCRIBE",
    "DESC",
    "EXPLAIN",
    "SET",
    "USE",
    "BEGIN",
    "START",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "RELEASE",
    "DO",
    "HELP",
    "WITH",
    "VALUES",
    "TABLE",
    "KILL",
    "PREPARE",
    "EXECUTE",
    "DEALLOCATE",
    "XA",
    "HANDLER",
    "CHECKSUM",
    "LOCK",
    "UNLOCK",
    "GET",
    "SIGNAL",
    "RESIGNAL",
];

/// Statements that administer the server.
const ADMIN: &[&str] = &[
    "SHUTDOWN",
    "GRANT",
    "REVOKE",
    "FLUSH",
    "RESET",
    "PURGE",
    "CHANGE",
    "INSTALL",
    "UNINSTALL",
    "BINLOG",
    "BACKUP",
    "CACHE",
    "STOP",
];

/// Objects only an administrator creates, alters or drops: accounts, and stored programs
/// (they run with the rights of the proxy's backend account).
const ADMIN_OBJECTS: &[&str] = &[
    "USER",
    "ROLE",
    "SERVER",
    "PROCEDURE",
    "FUNCTION",
    "TRIGGER",
    "EVENT",
    "PACKAGE",
    "TABLESPACE",
    "LOGFILE",
    "DEFINER",
];

/// Statements parsed by the privilege check itself: at most this long …
const PARSE_BYTES: usize = 16 * 1024;
/// … and at most this deep (see `crate::limits::shape`), so that the parse and its walk
/// fit an async worker's stack in debug builds too.
const PARSE_DEPTH: usize = 32;

/// information_schema tables showing other sessions, the backend account's privileges or
/// server-wide statistics.
const SERVER_VIEWS: &[&str] = &[
    "PROCESSLIST",
    "USER_PRIVILEGES",
    "SCHEMA_PRIVILEGES",
    "TABLE_PRIVILEGES",
    "COLUMN_PRIVILEGES",
    "APPLICABLE_ROLES",
    "ENABLED_ROLES",
    "USER_STATISTICS",
    "CLIENT_STATISTICS",
    "INDEX_STATISTICS",
    "TABLE_STATISTICS",
    "THREAD_POOL_QUEUES",
    "THREAD_POOL_STATS",
];

/// Objects any user with the schema may create, alter or drop.
const OBJECTS: &[&str] = &[
    "TABLE", "TABLES", "INDEX", "VIEW", "DATABASE", "SCHEMA", "SEQUENCE",
];

/// What `SHOW` may not list for non-administrators (other sessions, accounts,
/// replication, every schema's routines).
const ADMIN_SHOWS: &[&str] = &[
    "PROCESSLIST",
    "GRANTS",
    "MASTER",
    "SLAVE",
    "REPLICA",
    "BINARY",
    "BINLOG",
    "RELAYLOG",
    "ENGINE",
    "ALL",
    "USER_STATISTICS",
    "CLIENT_STATISTICS",
    "INDEX_STATISTICS",
    "TABLE_STATISTICS",
    "PROCEDURE",
    "FUNCTION",
    "PACKAGE",
    "EXPLAIN",
    "ANALYZE",
];

fn check_statement(s: &Stmt<'_>, g: &Grants<'_>, multi: bool, depth: u8) -> Result<(), RouteError> {
    let t = &s.tokens;
    let Some(first) = word(t.first()) else {
        // `(SELECT …)` and the like: only reads can start without a keyword.
        return check_names(s, g, "SELECT");
    };
    let verb = first.to_ascii_uppercase();
    let second = word(t.get(1)).map(str::to_ascii_uppercase);
    // Compound statements outside stored programs (`BEGIN NOT ATOMIC … END`, IF, CASE,
    // loops, labels) hold statements that the split at `;` would not see as statements.
    let compound = matches!(
        verb.as_str(),
        "IF" | "CASE" | "LOOP" | "REPEAT" | "WHILE" | "FOR" | "DECLARE"
    ) || (verb == "BEGIN" && second.as_deref() == Some("NOT"))
        || t.get(1) == Some(&Token::Punct(b':'));
    if compound {
        if g.read_only {
            return Err(g.read_only_denied(&verb));
        }
        if !g.admin {
            return Err(needs(
                "SUPER",
                "compound statement outside a stored program",
            ));
        }
    }
    if g.read_only {
        let drop_prepare = verb == "DROP" && second.as_deref() == Some("PREPARE");
        if !READS.contains(&verb.as_str()) && !drop_prepare {
            return Err(g.read_only_denied(&verb));
        }
    }
    if verb == "SET" && second.as_deref() == Some("STATEMENT") {
        // `SET STATEMENT var = value FOR <statement>`: the statement is what runs, with
        // the variables set (`default_storage_engine` among them).
        if !g.admin {
            table_options::check(&verb, t)?;
        }
        let mut lexer = Lexer::new(s.text);
        while let Some(x) = lexer.next() {
            if is(Some(&x), "FOR") {
                return check_depth(s.text.get(lexer.offset()..).unwrap_or(""), g, depth);
            }
        }
    }
    if verb == "PREPARE" || (verb == "EXECUTE" && second.as_deref() == Some("IMMEDIATE")) {
        return check_prepare(t, g, depth);
    }
    if g.admin {
        return Ok(());
    }
    // Inside PREPARE or EXECUTE IMMEDIATE text a statement reaches the backend as it is:
    // nothing in it is answered by the proxy.
    admin_statement(&verb, second.as_deref(), t, multi || depth > 0)?;
    table_options::check(&verb, t)?;
    database_statement(&verb, second.as_deref(), t, g)?;
    if t.windows(2)
        .any(|w| is(Some(&w[0]), "LOAD_FILE") && w[1] == Token::Punct(b'('))
    {
        return Err(needs("FILE", "LOAD_FILE"));
    }
    if t.windows(2).any(|w| {
        is(Some(&w[0]), "INTO") && (is(Some(&w[1]), "OUTFILE") || is(Some(&w[1]), "DUMPFILE"))
    }) {
        return Err(needs("FILE", "SELECT … INTO OUTFILE/DUMPFILE"));
    }
    information_schema_filters(t, g)?;
    check_names(s, g, &verb)
}

fn admin_statement(
    verb: &str,
    second: Option<&str>,
    t: &[Token<'_>],
    multi: bool,
) -> Result<(), RouteError> {
    if ADMIN.contains(&verb) {
        return Err(needs("SUPER", verb));
    }
    if verb == "START" && matches!(second, Some("SLAVE" | "REPLICA" | "ALL")) {
        return Err(needs("SUPER", "START SLAVE"));
    }
    if verb == "LOAD" {
        return Err(needs("FILE", "LOAD DATA/XML/INDEX"));
    }
    if verb == "KILL" {
        // A lone `KILL [CONNECTION | QUERY] <proxy id>` is answered by the proxy; any other
        // form would reach a backend's threads.
        let rest: Vec<&Token<'_>> = t[1..]
            .iter()
            .filter(|x| !is(Some(x), "CONNECTION") && !is(Some(x), "QUERY"))
            .collect();
        if multi || !matches!(rest.as_slice(), [Token::Number(_)]) {
            return Err(needs("SUPER", "KILL of a backend thread"));
        }
    }
    if verb == "SET" {
        // SET PASSWORD, SET DEFAULT ROLE, SET GLOBAL/PERSIST (any item), SET @@global.x.
        let account = matches!(second, Some("PASSWORD"))
            || (second == Some("DEFAULT") && is(t.get(2), "ROLE"));
        let global = t.iter().any(|x| match x {
            Token::Word(w) => ["GLOBAL", "PERSIST", "PERSIST_ONLY"]
                .iter()
                .any(|k| w.eq_ignore_ascii_case(k)),
            // `@@global.x`, and `@@global . x` (the lexer stops before the space).
            Token::SysVar(v) => {
                v.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("global"))
                    && matches!(v.as_bytes().get(6), None | Some(b'.'))
            }
            _ => false,
        });
        if account || global {
            return Err(needs(
                "SUPER",
                "SET GLOBAL, SET PASSWORD or SET DEFAULT ROLE",
            ));
        }
    }
    if verb == "EXPLAIN" && second == Some("FOR") {
        return Err(needs("PROCESS", "EXPLAIN FOR CONNECTION"));
    }
    if verb == "SHOW" {
        let what = t[1..]
            .iter()
            .find(|x| !is(Some(x), "FULL") && !is(Some(x), "EXTENDED"));
        let what = word(what).map(str::to_ascii_uppercase);
        // `SHOW [FULL] PROCESSLIST` alone is answered by the proxy with the user's own
        // sessions; inside a multi-statement text it would reach the backend and list every
        // client's statements.
        let own_processlist = what.as_deref() == Some("PROCESSLIST") && !multi;
        if let Some(w) = what.as_deref()
            && ADMIN_SHOWS.contains(&w)
            && !own_processlist
        {
            return Err(needs(
                "PROCESS, REPLICATION CLIENT or SUPER",
                &format!("SHOW {w}"),
            ));
        }
        if what.as_deref() == Some("CREATE") && is(t.get(2), "USER") {
            return Err(needs("SUPER", "SHOW CREATE USER"));
        }
    }
    if matches!(verb, "CREATE" | "ALTER" | "DROP" | "RENAME") {
        // The first object keyword says what the statement creates (`CREATE TABLE user` is
        // a table; `CREATE DEFINER = … VIEW` picks whose rights the view runs with).
        let object = t[1..].iter().find_map(|x| {
            let w = word(Some(x))?.to_ascii_uppercase();
            (ADMIN_OBJECTS.contains(&w.as_str()) || OBJECTS.contains(&w.as_str())).then_some(w)
        });
        let object = object.filter(|o| ADMIN_OBJECTS.contains(&o.as_str()));
        if let Some(o) = object {
            return Err(needs("SUPER", &format!("{verb} {o}")));
        }
    }
    Ok(())
}

/// `USE db`, `CREATE|DROP|ALTER DATABASE|SCHEMA db`, `SHOW CREATE DATABASE db`,
/// `SHOW … FROM|IN db`.
fn database_statement(
    verb: &str,
    second: Option<&str>,
    t: &[Token<'_>],
    g: &Grants<'_>,
) -> Result<(), RouteError> {
    let check_db = |db: String| -> Result<(), RouteError> {
        if g.may_qualify(&db) {
            Ok(())
        } else if verb == "USE" && !g.is_foreign_database(&db) {
            // As COM_INIT_DB answers a schema the configuration does not have.
            Err(RouteError {
                code: 1049,
                state: "42000",
                message: format!("Unknown database '{db}'"),
            })
        } else {
            Err(g.database_denied(&db))
        }
    };
    if verb == "USE" {
        return ident(t.get(1)).map_or(Ok(()), check_db);
    }
    let is_db_word = |x: Option<&Token<'_>>| is(x, "DATABASE") || is(x, "SCHEMA");
    if matches!(verb, "CREATE" | "DROP" | "ALTER") {
        let mut i = 1;
        if is(t.get(i), "OR") {
            i += 2;
        }
        if is_db_word(t.get(i)) {
            i += 1;
            while is(t.get(i), "IF") || is(t.get(i), "NOT") || is(t.get(i), "EXISTS") {
                i += 1;
            }
            // `ALTER DATABASE` without a name changes the session's schema.
            let named = ident(t.get(i)).filter(|n| {
                !(verb == "ALTER"
                    && ["DEFAULT", "CHARACTER", "CHARSET", "COLLATE", "COMMENT"]
                        .iter()
                        .any(|k| n.eq_ignore_ascii_case(k)))
            });
            return named.map_or(Ok(()), check_db);
        }
        return Ok(());
    }
    if verb != "SHOW" {
        return Ok(());
    }
    if second == Some("CREATE") && is_db_word(t.get(2)) {
        let mut i = 3;
        while is(t.get(i), "IF") || is(t.get(i), "NOT") || is(t.get(i), "EXISTS") {
            i += 1;
        }
        return ident(t.get(i)).map_or(Ok(()), check_db);
    }
    // SHOW COLUMNS|INDEX FROM t FROM db: the database follows the second FROM; for the other
    // forms (TABLES, TABLE STATUS, TRIGGERS, EVENTS, OPEN TABLES) the first.
    let per_table = t[1..4.min(t.len())].iter().any(|x| {
        ["COLUMNS", "FIELDS", "INDEX", "INDEXES", "KEYS"]
            .iter()
            .any(|k| is(Some(x), k))
    });
    let mut froms = 0;
    for (i, x) in t.iter().enumerate() {
        if is(Some(x), "LIKE") || is(Some(x), "WHERE") {
            break;
        }
        if is(Some(x), "FROM") || is(Some(x), "IN") {
            froms += 1;
            let qualified = t.get(i + 2) == Some(&Token::Punct(b'.'));
            if (froms == 2 || !per_table)
                && !qualified
                && let Some(db) = ident(t.get(i + 1))
            {
                check_db(db)?;
            }
        }
    }
    Ok(())
}

/// `PREPARE s FROM '<text>'` and `EXECUTE IMMEDIATE '<text>'`: the text is checked; a text
/// in a variable or an expression cannot be, and is refused to non-administrators.
fn check_prepare(t: &[Token<'_>], g: &Grants<'_>, depth: u8) -> Result<(), RouteError> {
    let at = if is(t.get(1), "IMMEDIATE") {
        Some(2)
    } else {
        t.iter().position(|x| is(Some(x), "FROM")).map(|i| i + 1)
    };
    // Only a literal alone is the prepared text (not `'a' || @x`); `USING` values follow.
    let literal = match at.and_then(|i| t.get(i).map(|x| (i, x))) {
        Some((i, Token::Str(q))) if i + 1 == t.len() || is(t.get(i + 1), "USING") => unquote(q),
        _ => None,
    };
    let Some(text) = literal else {
        if g.admin && !g.read_only {
            return Ok(());
        }
        return Err(needs(
            "SUPER",
            "PREPARE or EXECUTE IMMEDIATE of text in a variable or an expression cannot be checked",
        ));
    };
    if depth > 2 {
        return Err(needs("SUPER", "nested PREPARE"));
    }
    let text = exec_comment::normalize(&text, g.server_version)
        .map_err(|e| RouteError::refused(format!("prepared text: {}", e.0)))?;
    check_depth(&text, g, depth + 1)
}

/// The value of a quoted string literal (backslash escapes and doubled quotes undone).
fn unquote(s: &str) -> Option<String> {
    let q = s.chars().next()?;
    let body = s.get(1..s.len().checked_sub(1)?)?;
    if !s.ends_with(q) || s.len() < 2 {
        return None;
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                other => out.push(other),
            }
        } else if c == q {
            chars.next();
            out.push(q);
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// information_schema queries filtered on a schema the user may not use are refused.
fn information_schema_filters(t: &[Token<'_>], g: &Grants<'_>) -> Result<(), RouteError> {
    let mentions = t.iter().any(|x| match x {
        Token::Word(w) | Token::QuotedIdent(w) => w.eq_ignore_ascii_case("information_schema"),
        _ => false,
    });
    if !mentions {
        return Ok(());
    }
    for (i, x) in t.iter().enumerate() {
        if let Token::Str(s) = x
            && !excluded(t, i)
            && let Some(v) = unquote(s)
            && g.is_foreign_database(&v)
        {
            return Err(g.database_denied(&v));
        }
    }
    Ok(())
}

/// Whether the literal at `i` excludes rows (`<> 'x'`, `!= 'x'`, `NOT LIKE 'x'`,
/// `NOT IN (…, 'x', …)`), as tools do to skip the system schemas.
fn excluded(t: &[Token<'_>], i: usize) -> bool {
    let before = |k: usize| i.checked_sub(k).and_then(|j| t.get(j));
    if matches!(
        (before(2), before(1)),
        (Some(Token::Punct(b'<')), Some(Token::Punct(b'>')))
            | (Some(Token::Punct(b'!')), Some(Token::Punct(b'=')))
    ) || (is(before(2), "NOT") && is(before(1), "LIKE"))
    {
        return true;
    }
    let mut j = i;
    while j > 0 && matches!(t[j - 1], Token::Str(_) | Token::Punct(b',')) {
        j -= 1;
    }
    j >= 3 && t[j - 1] == Token::Punct(b'(') && is(t.get(j - 2), "IN") && is(t.get(j - 3), "NOT")
}

/// A qualified name `x.y` in the text: `x` is a schema (table, view, routine, sequence) or a
/// table or alias qualifying a column.
struct Qualified {
    schema: String,
    name: String,
    /// Followed by `(`: a routine call, so `schema` is a schema.
    call: bool,
}

fn check_names(s: &Stmt<'_>, g: &Grants<'_>, verb: &str) -> Result<(), RouteError> {
    let t = &s.tokens;
    let mut pairs = Vec::new();
    for i in 1..t.len().saturating_sub(1) {
        if t[i] != Token::Punct(b'.') || (i >= 2 && t[i - 2] == Token::Punct(b'.')) {
            continue;
        }
        let (Some(schema), Some(name)) = (ident(t.get(i - 1)), ident(t.get(i + 1))) else {
            continue;
        };
        pairs.push(Qualified {
            schema,
            name,
            call: t.get(i + 2) == Some(&Token::Punct(b'(')),
        });
    }
    if pairs.is_empty() {
        return Ok(());
    }
    // information_schema tables about other sessions and the backend account.
    if let Some(p) = pairs.iter().find(|p| {
        p.schema.eq_ignore_ascii_case("information_schema")
            && SERVER_VIEWS.iter().any(|v| v.eq_ignore_ascii_case(&p.name))
    }) {
        return Err(needs("PROCESS", &format!("information_schema.{}", p.name)));
    }
    // A routine's qualifier is always a schema.
    if let Some(p) = pairs.iter().find(|p| p.call && !g.may_qualify(&p.schema)) {
        return Err(g.table_denied(verb, &p.schema, &p.name));
    }
    // Only statements small and shallow enough for an async worker's stack (and quick) are
    // parsed here; the rest are judged by the token rule below, which refuses what it
    // cannot place (the planner parses large or deep ones on its own thread later).
    let parsable = s.text.len() <= PARSE_BYTES
        && crate::limits::shape(s.text, PARSE_DEPTH).depth <= PARSE_DEPTH;
    let parsed = if parsable {
        Parser::parse_sql(&MySqlDialect {}, s.text).ok()
    } else {
        None
    };
    let declared = match parsed {
        Some(stmts) => {
            let mut d = Declared::default();
            for st in &stmts {
                let _ = st.visit(&mut d);
            }
            if let Some((db, table)) = d.schemas.iter().find(|(db, _)| !g.may_qualify(db)) {
                return Err(g.table_denied(verb, db, table));
            }
            Some(d.names)
        }
        None => None,
    };
    for p in &pairs {
        if g.may_qualify(&p.schema) {
            continue;
        }
        match &declared {
            Some(names) if names.iter().any(|n| n.eq_ignore_ascii_case(&p.schema)) => {}
            Some(_) => return Err(g.table_denied(verb, &p.schema, &p.name)),
            None => {
                // Unparsed: a bare occurrence of the qualifier elsewhere declares it as a
                // table or alias, unless it names a database the user may not use.
                let bare = t.iter().enumerate().any(|(i, x)| {
                    ident(Some(x)).is_some_and(|n| n.eq_ignore_ascii_case(&p.schema))
                        && t.get(i + 1) != Some(&Token::Punct(b'.'))
                        && (i == 0 || t[i - 1] != Token::Punct(b'.'))
                });
                if g.is_foreign_database(&p.schema) || !bare {
                    let mut e = g.table_denied(verb, &p.schema, &p.name);
                    if !g.is_foreign_database(&p.schema) {
                        e.message.push_str(
                            " (myshard cannot parse the statement to tell a schema from a table alias)",
                        );
                    }
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

/// Table names and aliases a parsed statement declares, and the schema qualifiers of its
/// table references.
#[derive(Default)]
struct Declared {
    names: Vec<String>,
    schemas: Vec<(String, String)>,
}

impl Visitor for Declared {
    type Break = ();

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        let parts: Vec<&str> = relation
            .0
            .iter()
            .filter_map(|p| p.as_ident().map(|i| i.value.as_str()))
            .collect();
        if let Some((last, qualifiers)) = parts.split_last() {
            self.names.push((*last).to_string());
            for q in qualifiers {
                self.schemas.push(((*q).to_string(), (*last).to_string()));
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, f: &TableFactor) -> ControlFlow<()> {
        let alias = match f {
            TableFactor::Table { alias, .. }
            | TableFactor::Derived { alias, .. }
            | TableFactor::TableFunction { alias, .. }
            | TableFactor::NestedJoin { alias, .. } => alias.as_ref(),
            _ => None,
        };
        if let Some(a) = alias {
            self.names.push(a.name.value.clone());
        }
        ControlFlow::Continue(())
    }
}

pub mod information_schema;
mod table_options;

#[cfg(test)]
mod test_config;
#[cfg(test)]
mod tests;
