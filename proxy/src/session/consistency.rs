//! Read-your-writes: a session in that mode never reads, from a read host, data older than
//! its own last write to the group.
//!
//! After a write (an autocommit statement answered with OK, or a COMMIT) the session asks
//! the same backend connection for `@@last_gtid` and remembers, per group, the GTID of its
//! last write in each replication domain. A later autocommit read of that group on a read
//! host first makes sure the host has applied them: from what this session saw the host
//! apply before, or from the health monitor's last seen `gtid_slave_pos` of the host, or
//! else by `MASTER_GTID_WAIT` on the read host's connection, bounded by the group's
//! `read_your_writes_max_wait_ms`. When the wait times out (or the bound is 0) the read goes
//! to the write host. The rule sits in [`Session::acquire_at`], so every read path (a single
//! statement, a prepared execute, a read retried on another host, each group of a scatter)
//! follows it.
//!
//! Why not the GTID MariaDB puts in the OK packet (session tracking of `last_gtid`): the
//! proxy relays OK packets to clients byte for byte and does not negotiate
//! CLIENT_SESSION_TRACK with its clients, so enabling it on backend connections would
//! change the layout of every relayed OK. The extra `SELECT @@last_gtid` costs one round
//! trip on the write host per write, and only in this mode.
//!
//! Only the session's own writes are covered: another session's writes are not.

use super::{Closed, Session};
use crate::backend::{PooledConn, Tracker};
use crate::error::SqlError;
use crate::packet;
use crate::routing::{Intent, Route};
use crate::wire::put_lenenc_str;
use myshard_config::Consistency;
use myshard_router::lexer::{Lexer, Token};
use std::sync::Arc;

/// The session variable that holds the mode.
const VARIABLE: &str = "myshard_consistency";

/// Hosts whose applied position a session keeps (the oldest is forgotten first).
const SEEN_HOSTS: usize = 64;

/// One MariaDB GTID: `domain-server-sequence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gtid {
    domain: u32,
    server: u32,
    seq: u64,
}

impl Gtid {
    /// `domain-server-sequence`, or `None` for anything else.
    fn parse(text: &str) -> Option<Gtid> {
        let mut parts = text.trim().splitn(3, '-');
        let domain = parts.next()?.parse().ok()?;
        let server = parts.next()?.parse().ok()?;
        let seq = parts.next()?.parse().ok()?;
        Some(Gtid {
            domain,
            server,
            seq,
        })
    }
}

/// The GTIDs of a comma-separated position (`0-1-5,1-2-9`); `None` when a part is not one.
pub(crate) fn parse_position(text: &str) -> Option<Vec<Gtid>> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(Gtid::parse)
        .collect()
}

/// Whether `position` includes every GTID of `wanted` (per domain, a sequence number at
/// least as high).
pub(crate) fn includes(position: &[Gtid], wanted: &[Gtid]) -> bool {
    wanted.iter().all(|w| {
        position
            .iter()
            .any(|p| p.domain == w.domain && p.seq >= w.seq)
    })
}

/// Merges `gtid` into `position`: it replaces the GTID of its domain when newer.
fn advance(position: &mut Vec<Gtid>, gtid: Gtid) {
    match position.iter_mut().find(|p| p.domain == gtid.domain) {
        Some(p) if p.seq < gtid.seq => *p = gtid,
        Some(_) => {}
        None => position.push(gtid),
    }
}

/// The position as MariaDB writes it.
fn format_position(position: &[Gtid]) -> String {
    position
        .iter()
        .map(|g| format!("{}-{}-{}", g.domain, g.server, g.seq))
        .collect::<Vec<_>>()
        .join(",")
}

/// What a read of a group must see.
#[derive(Debug, Clone)]
enum LastWrite {
    /// These GTIDs (one per domain).
    Gtids(Vec<Gtid>),
    /// A write whose GTID could not be read back: reads go to the write host until the
    /// next write's GTID is known.
    Unknown,
}

/// A session's consistency mode and what it needs to keep it.
#[derive(Debug, Default)]
pub(super) struct SessionConsistency {
    /// The mode in force.
    pub(super) mode: Consistency,
    /// Per group: the session's last writes there.
    writes: Vec<(Arc<str>, LastWrite)>,
    /// Per host id: a position the host is known to have applied (from a wait that
    /// succeeded), so that later reads there need no wait.
    seen: Vec<(u64, Vec<Gtid>)>,
}

impl SessionConsistency {
    /// A session starting in `mode`.
    pub(super) fn new(mode: Consistency) -> SessionConsistency {
        SessionConsistency {
            mode,
            ..Default::default()
        }
    }

    fn last_write(&self, group: &str) -> Option<&LastWrite> {
        self.writes
            .iter()
            .find(|(g, _)| **g == *group)
            .map(|(_, w)| w)
    }

    fn note(&mut self, group: &Arc<str>, gtids: Option<&[Gtid]>) {
        let at = match self.writes.iter().position(|(g, _)| **g == **group) {
            Some(at) => at,
            None => {
                self.writes
                    .push((group.clone(), LastWrite::Gtids(Vec::new())));
                self.writes.len() - 1
            }
        };
        let entry = &mut self.writes[at].1;
        match (gtids, &mut *entry) {
            (None, _) => *entry = LastWrite::Unknown,
            (Some(new), LastWrite::Gtids(known)) => {
                for g in new {
                    advance(known, *g);
                }
            }
            (Some(new), LastWrite::Unknown) => *entry = LastWrite::Gtids(new.to_vec()),
        }
    }

    fn seen_on(&self, host: u64) -> Option<&[Gtid]> {
        self.seen
            .iter()
            .find(|(h, _)| *h == host)
            .map(|(_, p)| p.as_slice())
    }

    fn note_seen(&mut self, host: u64, wanted: &[Gtid]) {
        let at = match self.seen.iter().position(|(h, _)| *h == host) {
            Some(at) => at,
            None => {
                if self.seen.len() >= SEEN_HOSTS {
                    self.seen.remove(0);
                }
                self.seen.push((host, Vec::new()));
                self.seen.len() - 1
            }
        };
        for g in wanted {
            advance(&mut self.seen[at].1, *g);
        }
    }
}

/// What the health monitor knows of a read host, for a read that must see some GTIDs.
enum MonitorView {
    /// Its last seen position includes them.
    Applied,
    /// It was not applying (SQL thread stopped) or lagged more than the wait bound.
    FarBehind,
    /// Nothing that spares a wait (or no record: the monitor is off).
    Unknown,
}

/// A statement about a proxy session variable (this mode, the transaction mode),
/// answered by the proxy.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ModeStatement {
    /// `SET [SESSION] myshard_consistency = value` (the value as written, unquoted).
    Set(String),
    /// `SET GLOBAL myshard_consistency …`: the global default is the users' configuration.
    SetGlobal,
    /// `SELECT @@myshard_consistency [[AS] alias]`, with the column name.
    Select(String),
    /// Any other statement naming the variable.
    Other,
}

/// The statement about the mode `sql` is, if it names the variable at all.
fn mode_statement(sql: &str) -> Option<ModeStatement> {
    mode_statement_of(sql, VARIABLE)
}

/// The statement about proxy session variable `variable` that `sql` is, if it names it.
pub(super) fn mode_statement_of(sql: &str, variable: &str) -> Option<ModeStatement> {
    if !contains_ignore_case(sql, variable) {
        return None;
    }
    let tokens: Vec<Token<'_>> = Lexer::new(sql).collect();
    let mut t: &[Token<'_>] = &tokens;
    if let [rest @ .., Token::Semicolon] = t {
        t = rest;
    }
    let is_var = |tok: &Token<'_>| match tok {
        Token::Word(w) | Token::QuotedIdent(w) => w.eq_ignore_ascii_case(variable),
        Token::SysVar(v) => session_var(v, variable),
        _ => false,
    };
    let word =
        |tok: &Token<'_>, w: &str| matches!(tok, Token::Word(x) if x.eq_ignore_ascii_case(w));
    if t.first().is_some_and(|f| word(f, "SET")) {
        let mut rest = &t[1..];
        if rest.first().is_some_and(|f| word(f, "GLOBAL")) {
            return Some(ModeStatement::SetGlobal);
        }
        if rest
            .first()
            .is_some_and(|f| word(f, "SESSION") || word(f, "LOCAL"))
        {
            rest = &rest[1..];
        }
        if matches!(rest.first(), Some(Token::SysVar(v)) if v.to_ascii_lowercase().starts_with("global."))
        {
            return Some(ModeStatement::SetGlobal);
        }
        let value = match rest {
            [var, Token::Punct(b'='), value] if is_var(var) => Some(value),
            [var, Token::Punct(b':'), Token::Punct(b'='), value] if is_var(var) => Some(value),
            _ => None,
        };
        return Some(match value {
            Some(Token::Str(s)) => ModeStatement::Set(unquote(s)),
            Some(Token::Word(w)) | Some(Token::QuotedIdent(w)) => ModeStatement::Set(w.to_string()),
            Some(Token::Number(n)) => ModeStatement::Set(n.to_string()),
            _ => ModeStatement::Other,
        });
    }
    if t.first().is_some_and(|f| word(f, "SELECT")) {
        let column = match &t[1..] {
            [Token::SysVar(v)] if session_var(v, variable) => Some(format!("@@{v}")),
            [Token::SysVar(v), alias] if session_var(v, variable) => alias_name(alias),
            [Token::SysVar(v), a, alias] if session_var(v, variable) && word(a, "AS") => {
                alias_name(alias)
            }
            _ => None,
        };
        return Some(column.map_or(ModeStatement::Other, ModeStatement::Select));
    }
    Some(ModeStatement::Other)
}

/// Whether `@@`-variable text `v` (after the `@@`) is session variable `variable`.
fn session_var(v: &str, variable: &str) -> bool {
    let v = v.to_ascii_lowercase();
    let v = v
        .strip_prefix("session.")
        .or_else(|| v.strip_prefix("local."))
        .unwrap_or(&v);
    v == variable
}

/// A column alias token's name.
fn alias_name(t: &Token<'_>) -> Option<String> {
    match t {
        Token::Word(w) | Token::QuotedIdent(w) => Some(w.to_string()),
        Token::Str(s) => Some(unquote(s)),
        _ => None,
    }
}

/// A string literal's text without its quotes.
fn unquote(s: &str) -> String {
    let inner = s.get(1..s.len().saturating_sub(1)).unwrap_or("");
    inner.to_string()
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

impl Session {
    /// Answers a statement that sets or reads `myshard_consistency`; `None` for any other.
    pub(super) async fn consistency_statement(
        &mut self,
        sql: &str,
        seq: u8,
    ) -> Option<Result<(), Closed>> {
        let first = sql.trim_start().as_bytes().first()?.to_ascii_uppercase();
        if first != b'S' {
            return None;
        }
        Some(match mode_statement(sql)? {
            ModeStatement::Set(value) => match Consistency::parse(&value) {
                Some(mode) => {
                    self.consistency.mode = mode;
                    self.send_ok(seq).await
                }
                None => {
                    let e = SqlError::new(
                        1231,
                        b"42000",
                        format!(
                            "Variable '{VARIABLE}' can't be set to the value of '{value}' \
                             (eventual or read_your_writes)"
                        ),
                    );
                    self.send_err(&e, seq).await
                }
            },
            ModeStatement::SetGlobal => {
                let e = SqlError::new(
                    1228,
                    b"HY000",
                    format!(
                        "Variable '{VARIABLE}' is a SESSION variable and can't be used with \
                         SET GLOBAL (set users[].consistency in the configuration)"
                    ),
                );
                self.send_err(&e, seq).await
            }
            ModeStatement::Select(column) => self.send_mode(&column, seq).await,
            ModeStatement::Other => {
                let e = SqlError::not_supported(format!(
                    "{VARIABLE} in this statement (use SET {VARIABLE} = '…' or SELECT \
                     @@{VARIABLE} alone)"
                ));
                self.send_err(&e, seq).await
            }
        })
    }

    /// A one-row result set holding the mode, in column `column`.
    async fn send_mode(&mut self, column: &str, seq: u8) -> Result<(), Closed> {
        self.send_mode_value(column, self.consistency.mode.name(), seq)
            .await
    }

    /// A one-row result set holding `value`, in column `column`.
    pub(super) async fn send_mode_value(
        &mut self,
        column: &str,
        value: &str,
        seq: u8,
    ) -> Result<(), Closed> {
        let def = self.current_database_def(column);
        let mut row = Vec::with_capacity(24);
        put_lenenc_str(&mut row, value.as_bytes());
        let eof = packet::eof_payload(self.status(), 0);
        let mut seq = packet::frame(&mut self.out, seq, &[1]);
        for p in [&def, &eof, &row, &eof] {
            seq = packet::frame(&mut self.out, seq, p);
        }
        self.write_out().await
    }

    /// The GTIDs a read on `route` must wait for on its host, or `Err(())` when it must go
    /// to the write host whatever the read host has applied; `Ok(None)` when nothing
    /// holds it back (not this mode, no write to the group, a write host route).
    fn read_must_see(&self, route: &Route) -> Result<Option<Vec<Gtid>>, ()> {
        if route.intent != Intent::Read || self.consistency.mode != Consistency::ReadYourWrites {
            return Ok(None);
        }
        let Some(last) = self.consistency.last_write(&route.group) else {
            return Ok(None);
        };
        let on_write_host = self
            .table
            .group(&route.group)
            .and_then(|g| g.write.as_ref())
            .is_some_and(|w| w.id() == route.host.id());
        if on_write_host {
            return Ok(None);
        }
        match last {
            LastWrite::Unknown => Err(()),
            LastWrite::Gtids(g) if g.is_empty() => Ok(None),
            LastWrite::Gtids(g) => Ok(Some(g.clone())),
        }
    }

    /// Whether extra scatter connections to `route`'s host may be taken without the check
    /// of [`Session::acquire_at`] (the first one of the group took it).
    pub(super) fn read_needs_no_check(&self, route: &Route) -> bool {
        matches!(self.read_must_see(route), Ok(None))
    }

    /// A backend connection for `route` in line with the session (see
    /// [`Session::acquire_conn`]); for a read in read-your-writes mode, one on a host that
    /// has applied the session's last write to the group: the read host of the route once
    /// it has (waiting for it within the group's bound), else the write host.
    pub(super) async fn acquire_at(&mut self, route: &Route) -> Result<PooledConn, SqlError> {
        let wanted = match self.read_must_see(route) {
            Ok(None) => return self.acquire_conn(route).await,
            Ok(Some(w)) => w,
            Err(()) => return self.acquire_on_write_host(route).await,
        };
        let host = route.host.id();
        if self
            .consistency
            .seen_on(host)
            .is_some_and(|p| includes(p, &wanted))
        {
            return self.acquire_conn(route).await;
        }
        let max_wait_ms = self
            .table
            .config
            .groups
            .iter()
            .find(|g| *g.name == *route.group)
            .map_or(0, |g| g.read_your_writes_max_wait_ms);
        match self.monitor_view(route, &wanted, max_wait_ms) {
            MonitorView::Applied => return self.acquire_conn(route).await,
            MonitorView::FarBehind => return self.acquire_on_write_host(route).await,
            MonitorView::Unknown if max_wait_ms == 0 => {
                return self.acquire_on_write_host(route).await;
            }
            MonitorView::Unknown => {}
        }
        let mut conn = self.acquire_conn(route).await?;
        // The wait's own timeout bounds it; the statement's interruptions still apply.
        let sql = format!(
            "SELECT MASTER_GTID_WAIT('{}', {}.{:03})",
            format_position(&wanted),
            max_wait_ms / 1000,
            max_wait_ms % 1000
        );
        match conn.query_rows(&sql).await {
            Ok(rows) if first_value(&rows) == Some(b"0".as_slice()) => {
                self.consistency.note_seen(host, &wanted);
                Ok(conn)
            }
            Ok(_) => {
                // -1: not applied within the bound.
                self.finish(conn);
                self.acquire_on_write_host(route).await
            }
            Err(e) if conn.interrupted.is_some() => {
                self.release_failed(conn);
                Err(e)
            }
            Err(e) => {
                tracing::info!(host = %route.host.addr(), error = %e,
                    "read-your-writes wait failed; the read goes to the write host");
                self.release_failed(conn);
                self.acquire_on_write_host(route).await
            }
        }
    }

    /// A connection to the write host of `route`'s group, for a read a read host could not
    /// serve consistently.
    async fn acquire_on_write_host(&mut self, route: &Route) -> Result<PooledConn, SqlError> {
        let write = self.table.route_to(
            &route.group,
            route.database.clone(),
            Intent::Write,
            self.flags,
        )?;
        self.acquire_conn(&write).await
    }

    /// What the health monitor's last heartbeat of `route`'s host says about `wanted`:
    /// applied there already, or the host so far behind (SQL thread stopped, or lagging
    /// more than the wait bound) that waiting is pointless.
    fn monitor_view(&self, route: &Route, wanted: &[Gtid], max_wait_ms: u64) -> MonitorView {
        let records = self.shared.host_records();
        let Some(r) = records
            .iter()
            .find(|r| *r.group == *route.group && *r.addr == **route.host.addr())
        else {
            return MonitorView::Unknown;
        };
        let applied = r.gtid_slave_pos.as_deref().and_then(parse_position);
        if applied.is_some_and(|p| includes(&p, wanted)) {
            return MonitorView::Applied;
        }
        let stopped = r.sql_thread.as_deref().is_some_and(|t| t.contains("No"));
        let lagging = r
            .lag_seconds
            .is_some_and(|s| s.saturating_mul(1000) > max_wait_ms);
        if stopped || lagging {
            MonitorView::FarBehind
        } else {
            MonitorView::Unknown
        }
    }

    /// After a response relayed from `conn`: in read-your-writes mode, a write that ended
    /// outside a transaction (an autocommit statement answered with OK, or a COMMIT) has
    /// its GTID read back and remembered for its group.
    pub(super) async fn after_write(&mut self, conn: &mut PooledConn, tracker: &Tracker) {
        if self.consistency.mode == Consistency::ReadYourWrites
            && tracker.saw_ok
            && !tracker.error
            && !conn.in_transaction
        {
            self.note_last_gtid(conn).await;
        }
    }

    /// After a COMMIT (or an autocommit write the proxy ran itself) answered with OK on
    /// `conn`: remembers its GTID in read-your-writes mode.
    pub(super) async fn after_commit(&mut self, conn: &mut PooledConn) {
        if self.consistency.mode == Consistency::ReadYourWrites && !conn.in_transaction {
            self.note_last_gtid(conn).await;
        }
    }

    /// Reads `@@last_gtid` on `conn` and remembers it for every group whose write host
    /// `conn` is on; a GTID that cannot be read sends that group's reads to its write host
    /// until a later one is known.
    async fn note_last_gtid(&mut self, conn: &mut PooledConn) {
        let groups: Vec<Arc<str>> = self
            .table
            .groups()
            .iter()
            .filter(|g| g.write.as_ref().is_some_and(|w| *w.addr() == conn.host))
            .map(|g| g.name.clone())
            .collect();
        if groups.is_empty() {
            return;
        }
        let gtids = match conn.query_rows("SELECT @@last_gtid").await {
            Ok(rows) => first_value(&rows)
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(parse_position),
            Err(e) => {
                tracing::info!(host = %conn.host, error = %e,
                    "could not read the GTID of a write; reads of its group go to the write host");
                None
            }
        };
        for g in &groups {
            self.consistency.note(g, gtids.as_deref());
        }
    }
}

/// The first column of the first row, if not NULL.
fn first_value(rows: &[Vec<Option<Vec<u8>>>]) -> Option<&[u8]> {
    rows.first()?.first()?.as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(text: &str) -> Vec<Gtid> {
        parse_position(text).unwrap_or_else(|| panic!("bad position {text}"))
    }

    #[test]
    fn positions_include_per_domain() {
        assert!(includes(&pos("0-1-10,1-2-3"), &pos("0-1-9")));
        assert!(includes(&pos("0-1-10,1-2-3"), &pos("0-3-10,1-2-3")));
        assert!(!includes(&pos("0-1-10"), &pos("0-1-11")));
        assert!(!includes(&pos("0-1-10"), &pos("1-1-1")));
        assert!(includes(&pos(""), &pos("")));
        assert_eq!(parse_position("0-1-x"), None);
        assert_eq!(format_position(&pos("0-1-10, 2-5-7")), "0-1-10,2-5-7");
    }

    #[test]
    fn the_last_write_per_domain_is_kept() {
        let mut c = SessionConsistency::new(Consistency::ReadYourWrites);
        let g: Arc<str> = Arc::from("g0");
        c.note(&g, Some(&pos("0-1-5")));
        c.note(&g, Some(&pos("0-1-4,1-1-2")));
        match c.last_write("g0") {
            Some(LastWrite::Gtids(p)) => assert_eq!(format_position(p), "0-1-5,1-1-2"),
            other => panic!("{other:?}"),
        }
        c.note(&g, None);
        assert!(matches!(c.last_write("g0"), Some(LastWrite::Unknown)));
        c.note(&g, Some(&pos("0-1-6")));
        assert!(matches!(c.last_write("g0"), Some(LastWrite::Gtids(p)) if p.len() == 1));
    }

    #[test]
    fn mode_statements_are_recognised() {
        use ModeStatement::*;
        let set = |v: &str| Some(Set(v.to_string()));
        assert_eq!(
            mode_statement("SET myshard_consistency = 'read_your_writes'"),
            set("read_your_writes")
        );
        assert_eq!(
            mode_statement("set session myshard_consistency='eventual';"),
            set("eventual")
        );
        assert_eq!(
            mode_statement("SET @@session.myshard_consistency := eventual"),
            set("eventual")
        );
        assert_eq!(
            mode_statement("SET GLOBAL myshard_consistency = 'eventual'"),
            Some(SetGlobal)
        );
        assert_eq!(
            mode_statement("SELECT @@myshard_consistency"),
            Some(Select("@@myshard_consistency".into()))
        );
        assert_eq!(
            mode_statement("select @@session.myshard_consistency as m"),
            Some(Select("m".into()))
        );
        assert_eq!(
            mode_statement("SET myshard_consistency = 'x', autocommit = 1"),
            Some(Other)
        );
        assert_eq!(mode_statement("SELECT 1"), None);
    }
}
