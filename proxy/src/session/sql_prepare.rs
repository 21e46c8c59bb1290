//! SQL-level prepared statements (`PREPARE`, `EXECUTE … USING`, `EXECUTE IMMEDIATE`,
//! `DEALLOCATE | DROP PREPARE`) whose statement needs the router (it names a sharded or
//! renamed schema). A backend given such a `PREPARE` would run the text in one shard's
//! database, answering for that shard alone; so the proxy keeps the text, and at `EXECUTE`
//! reads the `USING` values (user variables live on the session's backend connection),
//! writes them into the text as literals and plans and runs that statement like any
//! other: routed by its key values, scattered and merged, or refused. Statements the router
//! does not need go to the backend unchanged.

use super::shard::route_error;
use super::{Closed, Session};
use crate::backend::ResponseKind;
use crate::backend::rewrite::ColumnDef;
use crate::error::SqlError;
use crate::packet;
use crate::wire::Reader;
use myshard_config::SchemaTopology;
use myshard_router::prepare::{
    Argument, Source, SqlPrepare, bind, is_prepare_command, parse, placeholder_count,
};
use myshard_router::shard::plan::{Route as ShardPlan, RouteContext, plan};
use myshard_router::text::{decode, encode};
use std::future::Future;
use std::pin::Pin;

/// A statement prepared with `PREPARE` that the proxy plans at each `EXECUTE`.
#[derive(Debug, Clone)]
pub(super) struct SqlStatement {
    /// The statement text with its `?` placeholders.
    text: String,
    /// How many placeholders it has.
    params: usize,
}

/// A command run from inside another one (boxed: the two call each other).
type BoxedCommand<'a> = Pin<Box<dyn Future<Output = Result<(), Closed>> + Send + 'a>>;

/// MYSQL_TYPE_DOUBLE, MYSQL_TYPE_LONGLONG, MYSQL_TYPE_NEWDECIMAL, MYSQL_TYPE_DECIMAL.
const DOUBLE: u8 = 0x05;
const LONGLONG: u8 = 0x08;
const NEWDECIMAL: u8 = 0xF6;
const DECIMAL: u8 = 0x00;
/// The `binary` character set.
const BINARY: u16 = 63;

impl Session {
    /// Handles `text` if it is a SQL prepared-statement command the proxy must plan;
    /// `None` sends it to the backend as usual.
    pub(super) async fn sql_prepare(&mut self, text: &str, seq: u8) -> Option<Result<(), Closed>> {
        if !is_prepare_command(text) {
            return None;
        }
        let sharded = self.sql_prepare_schema_sharded();
        let Some(cmd) = parse(text) else {
            if !sharded {
                return None;
            }
            let e = SqlError::not_supported(format!(
                "this form of PREPARE / EXECUTE (an expression as USING argument) in sharded \
                 schema '{}'; use a literal or a user variable",
                self.schema.as_deref().unwrap_or_default()
            ));
            return Some(self.send_err(&e, seq).await);
        };
        match cmd {
            SqlPrepare::Prepare { name, source } => {
                let text = match self.statement_text(&source).await {
                    Ok(t) => t,
                    Err(e) => return Some(self.send_err(&e, seq).await),
                };
                match self.plan_text(&text) {
                    Ok(false) => {
                        // The backend prepares it; a statement of the same name the proxy
                        // held is replaced, as a second PREPARE replaces the first.
                        self.sql_prepared.remove(&name);
                        // A text the proxy computed is sent as the literal it is, so the
                        // expression is not evaluated a second time.
                        let Source::Expression(_) = source else {
                            return None;
                        };
                        let sql = format!(
                            "PREPARE `{}` FROM {}",
                            name.replace('`', "``"),
                            self.text_literal(&text)
                        );
                        Some(self.run_bound(&sql, seq).await)
                    }
                    Ok(true) => {
                        let params = placeholder_count(&text);
                        self.sql_prepared
                            .insert(name, SqlStatement { text, params });
                        Some(self.send_prepared_ok(seq).await)
                    }
                    Err(e) => Some(self.send_err(&e, seq).await),
                }
            }
            SqlPrepare::Execute { name, args } => {
                let stmt = self.sql_prepared.get(&name)?.clone();
                Some(self.execute_sql_statement(&stmt, &args, seq).await)
            }
            SqlPrepare::Immediate { source, args } => {
                let text = match self.statement_text(&source).await {
                    Ok(t) => t,
                    Err(e) => return Some(self.send_err(&e, seq).await),
                };
                match self.plan_text(&text) {
                    Ok(false) => {
                        let Source::Expression(_) = source else {
                            return None;
                        };
                        let mut sql = format!("EXECUTE IMMEDIATE {}", self.text_literal(&text));
                        for (i, a) in args.iter().enumerate() {
                            sql.push_str(if i == 0 { " USING " } else { ", " });
                            match a {
                                Argument::Variable(v) => {
                                    sql.push_str(&format!("@`{}`", v.replace('`', "``")));
                                }
                                Argument::Literal(l) => sql.push_str(l),
                            }
                        }
                        Some(self.run_bound(&sql, seq).await)
                    }
                    Ok(true) => {
                        let params = placeholder_count(&text);
                        let stmt = SqlStatement { text, params };
                        Some(self.execute_sql_statement(&stmt, &args, seq).await)
                    }
                    Err(e) => Some(self.send_err(&e, seq).await),
                }
            }
            SqlPrepare::Deallocate { name } => {
                self.sql_prepared.remove(&name)?;
                Some(self.send_ok(seq).await)
            }
        }
    }

    /// Whether the session's schema is sharded.
    fn sql_prepare_schema_sharded(&self) -> bool {
        self.schema.as_deref().is_some_and(|s| {
            matches!(
                self.table.topology.schema(s),
                Some(SchemaTopology::Sharded(_))
            )
        })
    }

    /// Whether the proxy must run `text` (`false`: it may run on the session's backend
    /// as it is): the router plans it, or it calls session functions; a refusal is the router's error. Prepared-statement commands cannot be
    /// prepared (MariaDB's 1295).
    fn plan_text(&self, text: &str) -> Result<bool, SqlError> {
        if is_prepare_command(text) {
            return Err(SqlError::new(
                1295,
                b"HY000",
                "This command is not supported in the prepared statement protocol yet",
            ));
        }
        // Its numbers, and so its shards, are known only at EXECUTE.
        if self.sql_prepare_leaves_numbers(text) {
            return Ok(true);
        }
        let ctx = RouteContext {
            topology: &self.table.topology,
            schema: self.schema.as_deref(),
        };
        match plan(text, ctx) {
            // CONNECTION_ID(), USER(), …: run by the proxy, which gives the client's own.
            ShardPlan::Passthrough => Ok(self.database_calls(text).is_some()),
            ShardPlan::Shard(_) => Ok(true),
            // IN (SELECT …) evaluated first at each EXECUTE (subquery_values.rs).
            ShardPlan::Error(e) if e.code == 1235 && self.prefetch_stand_in(text).is_some() => {
                Ok(true)
            }
            // A shard-key UPDATE: its rows move at each EXECUTE (key_move.rs).
            ShardPlan::Error(_) if self.key_move_stand_in(text).is_some() => Ok(true),
            ShardPlan::Error(e) => Err(route_error(e)),
        }
    }

    /// The text of a `PREPARE` source: a variable's or an expression's value is read from
    /// the session's backend connection, so that the proxy knows what it prepares (and
    /// gives it the rewriting a text statement gets: `CONNECTION_ID()`, `USER()`, routing).
    async fn statement_text(&mut self, source: &Source) -> Result<String, SqlError> {
        let value = match source {
            Source::Text(t) => return Ok(t.clone()),
            Source::Variable(v) => {
                let variable = format!("@`{}`", v.replace('`', "``"));
                self.read_values(std::slice::from_ref(&variable)).await?
            }
            Source::Expression(e) => self.read_values(std::slice::from_ref(e)).await?,
        };
        match value.into_iter().next().flatten() {
            Some((_, bytes)) => Ok(decode(&bytes)
                .map_err(|_| {
                    SqlError::not_supported(
                        "characters U+10FF00-U+10FFFF in statements of sharded schemas",
                    )
                })?
                .into_owned()),
            // MariaDB prepares the text `NULL`, a syntax error.
            None => Err(SqlError::new(
                1064,
                b"42000",
                "You have an error in your SQL syntax; the statement text of PREPARE is NULL",
            )),
        }
    }

    /// Binds `args` to `stmt`'s placeholders and runs the statement.
    async fn execute_sql_statement(
        &mut self,
        stmt: &SqlStatement,
        args: &[Argument],
        seq: u8,
    ) -> Result<(), Closed> {
        if args.len() != stmt.params {
            let e = SqlError::new(1210, b"HY000", "Incorrect arguments to EXECUTE");
            return self.send_err(&e, seq).await;
        }
        let mut literals = match self.argument_literals(args).await {
            Ok(l) => l,
            Err(e) => return self.send_err(&e, seq).await,
        };
        // LIMIT / OFFSET values as the row counts MariaDB makes of them.
        if let Err(e) = super::paging::paging_literals(&stmt.text, &mut literals) {
            return self.send_err(&e, seq).await;
        }
        let Some(bound) = bind(&stmt.text, &literals) else {
            let e = SqlError::new(1210, b"HY000", "Incorrect arguments to EXECUTE");
            return self.send_err(&e, seq).await;
        };
        self.run_bound(&bound, seq).await
    }

    /// Runs a statement with its values in place as the client's own text statement
    /// (every check and rewrite a COM_QUERY gets applies). It cannot come back here: a
    /// prepared text is never itself a prepared-statement command.
    fn run_bound<'a>(&'a mut self, bound: &str, seq: u8) -> BoxedCommand<'a> {
        let raw = encode(bound);
        let mut payload = Vec::with_capacity(raw.len() + 1);
        payload.push(0x03);
        payload.extend_from_slice(&raw);
        Box::pin(async move { self.com_query(&payload, seq).await })
    }

    /// The `USING` arguments as SQL literals (user variables read from the session's
    /// backend connection, where `SET @v` put them).
    async fn argument_literals(&mut self, args: &[Argument]) -> Result<Vec<String>, SqlError> {
        let names: Vec<String> = args
            .iter()
            .filter_map(|a| match a {
                Argument::Variable(v) => Some(v.clone()),
                Argument::Literal(_) => None,
            })
            .collect();
        let mut values = if names.is_empty() {
            Vec::new()
        } else {
            self.read_user_variables(&names).await?
        }
        .into_iter();
        let no_backslash = self.no_backslash_escapes();
        let mut out = Vec::with_capacity(args.len());
        for a in args {
            out.push(match a {
                Argument::Literal(l) => l.clone(),
                Argument::Variable(_) => match values.next().flatten() {
                    None => "NULL".to_string(),
                    Some((def, bytes)) => literal(&def, &bytes, no_backslash),
                },
            });
        }
        Ok(out)
    }

    /// The values of user variables `names` with each one's column definition (`None`:
    /// NULL or never set), read on the session's usual backend connection.
    async fn read_user_variables(
        &mut self,
        names: &[String],
    ) -> Result<Vec<Option<(Vec<u8>, Vec<u8>)>>, SqlError> {
        let list: Vec<String> = names
            .iter()
            .map(|n| format!("@`{}`", n.replace('`', "``")))
            .collect();
        self.read_values(&list).await
    }

    /// The values of expressions `exprs` with each one's column definition (`None`: NULL),
    /// computed on the session's usual backend connection (where its user variables live).
    async fn read_values(
        &mut self,
        exprs: &[String],
    ) -> Result<Vec<Option<(Vec<u8>, Vec<u8>)>>, SqlError> {
        let names = exprs;
        let sql = format!("SELECT {}", exprs.join(", "));
        let route = self.default_route()?;
        let mut conn = self.acquire_at(&route).await?;
        let mut payload = Vec::with_capacity(sql.len() + 1);
        payload.push(0x03);
        payload.extend_from_slice(sql.as_bytes());
        let r = conn.roundtrip(&payload, ResponseKind::Query).await;
        if conn.broken {
            self.lose_pin();
        }
        self.finish(conn);
        let packets = r?;
        let n = names.len();
        let defs = packets.get(1..=n).ok_or_else(short)?;
        // Column count, definitions, EOF, then the row.
        let row = packets.get(n + 2).ok_or_else(short)?;
        let mut r = Reader::new(row);
        let mut out = Vec::with_capacity(n);
        for def in defs {
            if r.peek() == Some(0xFB) {
                r.u8();
                out.push(None);
                continue;
            }
            let v = r.lenenc_str().ok_or_else(short)?;
            out.push(Some((def.clone(), v.to_vec())));
        }
        Ok(out)
    }

    /// Whether the session's sql_mode has NO_BACKSLASH_ESCAPES (string literals the proxy
    /// writes must then not escape backslashes).
    fn no_backslash_escapes(&self) -> bool {
        self.vars.items.iter().any(|(k, s)| {
            k == "sql_mode" && s.to_ascii_uppercase().contains("NO_BACKSLASH_ESCAPES")
        })
    }

    /// `text` as a string literal for this session's sql_mode.
    fn text_literal(&self, text: &str) -> String {
        quote(text, self.no_backslash_escapes())
    }

    /// The OK MariaDB sends for a `PREPARE`.
    async fn send_prepared_ok(&mut self, seq: u8) -> Result<(), Closed> {
        let mut p = packet::ok_payload(0, 0, self.status(), 0);
        crate::wire::put_lenenc_str(&mut p, b"Statement prepared");
        packet::frame(&mut self.out, seq, &p);
        self.write_out().await
    }
}

fn short() -> SqlError {
    SqlError::internal("short answer reading user variables")
}

/// A user variable's value as an SQL literal of the same type: numbers as written
/// (doubles with an exponent, so that they stay doubles), binary strings in hex, other
/// strings quoted.
fn literal(def: &[u8], value: &[u8], no_backslash: bool) -> String {
    let (column_type, charset) = ColumnDef::parse(def)
        .map(|d| {
            let rest = d.rest;
            let n = rest.len();
            let t = n.checked_sub(6).and_then(|i| rest.get(i)).copied();
            let cs = n
                .checked_sub(12)
                .and_then(|i| rest.get(i..i + 2))
                .map(|b| u16::from_le_bytes([b[0], b[1]]));
            (t.unwrap_or(0xFD), cs.unwrap_or(BINARY))
        })
        .unwrap_or((0xFD, BINARY));
    let numeric = value
        .iter()
        .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        && !value.is_empty();
    match column_type {
        LONGLONG | NEWDECIMAL | DECIMAL if numeric => String::from_utf8_lossy(value).into_owned(),
        DOUBLE if numeric => {
            let s = String::from_utf8_lossy(value);
            if s.contains(['e', 'E']) {
                s.into_owned()
            } else {
                format!("{s}e0")
            }
        }
        _ if charset == BINARY => {
            let mut s = String::with_capacity(value.len() * 2 + 3);
            s.push_str("X'");
            for b in value {
                s.push_str(&format!("{b:02X}"));
            }
            s.push('\'');
            s
        }
        _ => {
            let text = match decode(value) {
                Ok(t) => t.into_owned(),
                Err(_) => String::from_utf8_lossy(value).into_owned(),
            };
            quote(&text, no_backslash)
        }
    }
}

/// `text` as a quoted string literal (backslashes escaped unless the session's sql_mode
/// has NO_BACKSLASH_ESCAPES).
fn quote(text: &str, no_backslash: bool) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('\'');
    for ch in text.chars() {
        match ch {
            '\'' => s.push_str("''"),
            '\\' if !no_backslash => s.push_str("\\\\"),
            c => s.push(c),
        }
    }
    s.push('\'');
    s
}

#[cfg(test)]
mod tests {
    use super::literal;

    fn def(column_type: u8, charset: u16) -> Vec<u8> {
        let mut d = Vec::new();
        for s in [&b"def"[..], b"", b"", b"", b"@a", b""] {
            d.push(s.len() as u8);
            d.extend_from_slice(s);
        }
        d.push(0x0c);
        d.extend_from_slice(&charset.to_le_bytes());
        d.extend_from_slice(&20u32.to_le_bytes());
        d.push(column_type);
        d.extend_from_slice(&[0, 0, 0, 0, 0]);
        d
    }

    #[test]
    fn literals_keep_the_variable_type() {
        assert_eq!(literal(&def(0x08, 63), b"-12", false), "-12");
        assert_eq!(literal(&def(0xF6, 63), b"2.50", false), "2.50");
        assert_eq!(literal(&def(0x05, 63), b"0.1", false), "0.1e0");
        assert_eq!(literal(&def(0x05, 63), b"1e300", false), "1e300");
        assert_eq!(literal(&def(0xFA, 45), b"it's\\", false), "'it''s\\\\'");
        assert_eq!(literal(&def(0xFA, 45), b"it's\\", true), "'it''s\\'");
        assert_eq!(literal(&def(0xFA, 63), b"\x00\xff", false), "X'00FF'");
    }
}
