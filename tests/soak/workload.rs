//! One soak client: random statements through the proxy, each checked against the plain
//! reference server.
//!
//! Writes stay exact without locking by giving each client a private key range
//! ([`Range`]): only that client writes there, and it applies a write to the reference
//! only after the proxy acknowledged it (inside a transaction the reference runs the same
//! transaction in lockstep and commits or rolls back when the proxy did). Any write or
//! transaction whose outcome the client cannot know (an error, a lost connection, a KILL, a
//! stall) makes it give the whole range up and move to a fresh, empty one: a late effect of
//! the unknown write can then never be mistaken for a wrong answer, and every read of the
//! new range still has exactly one right answer. Cross-shard reads go to the static rows
//! (never written) or to the client's own range.

use crate::harness::differential::{Outcome, Rng, Stmt, canonical, mismatch_report, run};
use crate::soak::data::{self, ORDER_IDS, STATIC_USERS, STATUSES};
use crate::soak::faults::{self, Abandoned, Victims};
use crate::soak::knobs::Knobs;
use crate::soak::report::{CONNECT_FAILED, LOST_CONNECTION, Tally};
use anyhow::{Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Keys of a range a client uses (inserts pick among them).
const RANGE_KEYS: i64 = 40;
/// Distance between two ranges of one client.
const RANGE_SPAN: i64 = 10_000;
/// Distance between two clients' ranges (and the first one's start).
const CLIENT_SPAN: i64 = 1_000_000_000;

/// Server errors after which the connection is gone (killed, shut down, lost).
const CONNECTION_GONE: &[u16] = &[1053, 1927, 2006, 2013];

/// A client's private key range and what it wrote there (to pick keys, not to check).
#[derive(Debug, Clone, Default)]
struct Range {
    base: i64,
    users: BTreeSet<i64>,
    /// The next order number per user (kept when the user is deleted: ids stay unique).
    next_order: BTreeMap<i64, i64>,
}

impl Range {
    fn new(client: usize, epoch: i64) -> Range {
        Range {
            base: CLIENT_SPAN * (client as i64 + 1) + epoch * RANGE_SPAN,
            ..Range::default()
        }
    }

    fn last(&self) -> i64 {
        self.base + RANGE_SPAN - 1
    }
}

/// What the proxy did with one statement.
enum Answer {
    Done(Outcome),
    /// The connection broke (or could not be made): the error number and message.
    Lost(u16, String),
    /// No answer within the stall limit.
    Stalled,
}

/// The state the clients share with the test.
pub struct Shared {
    pub knobs: Knobs,
    pub opts: Opts,
    pub addr: SocketAddr,
    pub victims: Victims,
    /// Set when the clients should stop issuing statements.
    pub stop: AtomicBool,
    /// Set when the killer has stopped, so the final checks run undisturbed.
    pub quiet: AtomicBool,
}

/// One client and its tally.
pub struct Client {
    index: usize,
    rng: Rng,
    shared: Arc<Shared>,
    proxy: Option<Conn>,
    reference: Conn,
    epoch: i64,
    range: Range,
    in_txn: bool,
    tally: Tally,
}

impl Client {
    pub fn new(index: usize, shared: Arc<Shared>, reference: Conn) -> Client {
        let seed = shared.knobs.seed ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Client {
            index,
            rng: Rng::new(seed),
            shared,
            proxy: None,
            reference,
            epoch: 0,
            range: Range::new(index, 0),
            in_txn: false,
            tally: Tally::default(),
        }
    }

    /// Runs statements until told to stop, then checks its own range in full once the
    /// killer is quiet, and returns what it saw. Fails only when the reference breaks.
    pub async fn run(mut self) -> Result<Tally> {
        while !self.shared.stop.load(Ordering::Relaxed) {
            self.step().await?;
        }
        if self.in_txn {
            self.abandon().await?;
        }
        while !self.shared.quiet.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (base, last) = (self.range.base, self.range.last());
        let finals = [
            (
                "final_own_users",
                format!("SELECT * FROM users WHERE id BETWEEN {base} AND {last} ORDER BY id"),
            ),
            (
                "final_own_orders",
                format!("SELECT * FROM orders WHERE user_id BETWEEN {base} AND {last} ORDER BY id"),
            ),
        ];
        for (kind, sql) in finals {
            // A KILL from before the quiet phase may have ended the connection; the check
            // itself deserves a connection of its own.
            for _ in 0..3 {
                if self.read(kind, select(sql.clone(), true)).await? || self.proxy.is_some() {
                    break;
                }
            }
        }
        self.drop_proxy_conn(true).await;
        Ok(self.tally)
    }

    /// One random action.
    async fn step(&mut self) -> Result<()> {
        let knobs = &self.shared.knobs;
        let menu: [(u64, bool); 16] = [
            (14, true),                               // 0 point
            (6, true),                                // 1 point orders
            (4, true),                                // 2 point join
            (8, true),                                // 3 scatter order
            (8, true),                                // 4 scatter group
            (5, true),                                // 5 own scatter
            (3, true),                                // 6 global
            (8, true),                                // 7 prepared point
            (4, true),                                // 8 prepared range
            (3, true),                                // 9 prepared write
            (8, true),                                // 10 insert
            (6, true),                                // 11 update
            (3, true),                                // 12 delete
            (10, true),                               // 13 transaction
            (4, knobs.sql_prepare),                   // 14 SQL PREPARE
            (4, knobs.timeouts || knobs.disconnects), // 15 faults
        ];
        let total: u64 = menu.iter().filter(|m| m.1).map(|m| m.0).sum();
        let mut pick = self.rng.next() % total;
        let mut action = 0;
        for (i, (weight, on)) in menu.iter().enumerate() {
            if !on {
                continue;
            }
            if pick < *weight {
                action = i;
                break;
            }
            pick -= weight;
        }
        match action {
            0 => {
                let k = self.any_key();
                self.read(
                    "point",
                    select(
                        format!("SELECT id, name, score, grp FROM users WHERE id = {k}"),
                        true,
                    ),
                )
                .await?;
            }
            1 => {
                let k = self.any_key();
                self.read(
                    "point_orders",
                    select(
                        format!(
                            "SELECT id, amount, status FROM orders WHERE user_id = {k} ORDER BY id"
                        ),
                        true,
                    ),
                )
                .await?;
            }
            2 => {
                let k = self.any_key();
                self.read(
                    "point_join",
                    select(
                        format!(
                            "SELECT u.id, u.name, o.id, o.amount FROM users u JOIN orders o \
                             ON o.user_id = u.id WHERE u.id = {k} ORDER BY o.id"
                        ),
                        true,
                    ),
                )
                .await?;
            }
            3 => {
                let s = self.scatter_order();
                self.read("scatter_order", s).await?;
            }
            4 => {
                let s = self.scatter_group();
                self.read("scatter_group", s).await?;
            }
            5 => {
                let s = self.own_scatter();
                self.read("own_scatter", s).await?;
            }
            6 => {
                let sql = if self.rng.chance(50) {
                    "SELECT code, name FROM countries ORDER BY code".to_string()
                } else {
                    let (code, _) = self.rng.pick(data::COUNTRIES);
                    format!("SELECT name FROM countries WHERE code = '{code}'")
                };
                self.read("global", select(sql, true)).await?;
            }
            7 => {
                let k = self.any_key();
                let s = prepared(
                    "SELECT id, name, score, grp FROM users WHERE id = ?",
                    vec![Value::Int(k)],
                );
                self.read("prepared_point", s).await?;
            }
            8 => {
                let (lo, hi) = self.any_span();
                let s = prepared(
                    "SELECT id, score FROM users WHERE id BETWEEN ? AND ? ORDER BY id",
                    vec![Value::Int(lo), Value::Int(hi)],
                );
                self.read("prepared_range", s).await?;
            }
            9 => {
                let k = self.own_key();
                let s = Stmt {
                    writes: Some("users"),
                    ..prepared(
                        "UPDATE users SET score = ?, note = ? WHERE id = ?",
                        vec![
                            Value::Int(self.rng.range(-500, 5_000)),
                            Value::Bytes(format!("prepared {}", self.rng.below(1000)).into_bytes()),
                            Value::Int(k),
                        ],
                    )
                };
                self.write("prepared_write", s).await?;
            }
            10 => self.insert("insert").await?,
            11 => self.update("update").await?,
            12 => self.delete("delete").await?,
            13 => self.transaction().await?,
            14 => self.sql_prepare().await?,
            _ => self.fault().await,
        }
        Ok(())
    }

    // ---- keys and statements -------------------------------------------------------------

    /// A static key or one of the client's own.
    fn any_key(&mut self) -> i64 {
        if self.rng.chance(60) {
            self.rng.range(1, STATIC_USERS + 20)
        } else {
            self.own_key()
        }
    }

    fn own_key(&mut self) -> i64 {
        self.range.base + self.rng.range(0, RANGE_KEYS - 1)
    }

    /// A key range of static rows or of the client's own range.
    fn any_span(&mut self) -> (i64, i64) {
        if self.rng.chance(60) {
            let lo = self.rng.range(1, STATIC_USERS);
            (lo, lo + self.rng.range(0, 40))
        } else {
            let lo = self.own_key();
            (lo, lo + self.rng.range(0, RANGE_KEYS))
        }
    }

    /// The row limit of a scatter: up to 64 when the session may be pinned and scatter in
    /// pinned sessions is off (issue 8, item 6).
    fn limit(&mut self) -> i64 {
        if self.in_txn && !self.shared.knobs.pinned_scatter {
            self.rng.range(1, 64)
        } else {
            self.rng.range(1, 150)
        }
    }

    fn scatter_order(&mut self) -> Stmt {
        let limit = self.limit();
        let sql = match self.rng.below(3) {
            0 => format!(
                "SELECT id, name, score FROM users WHERE id <= {STATIC_USERS} AND score >= {} \
                 ORDER BY score DESC, id LIMIT {limit}",
                self.rng.range(-500, 5_000)
            ),
            1 => format!(
                "SELECT id, user_id, amount FROM orders WHERE user_id <= {STATIC_USERS} \
                 ORDER BY amount, id LIMIT {limit} OFFSET {}",
                self.rng.range(0, 200)
            ),
            _ => format!(
                "SELECT name, id FROM users WHERE id BETWEEN {} AND {STATIC_USERS} \
                 ORDER BY name, id LIMIT {limit}",
                self.rng.range(1, STATIC_USERS)
            ),
        };
        select(sql, true)
    }

    fn scatter_group(&mut self) -> Stmt {
        match self.rng.below(3) {
            0 => select(
                format!(
                    "SELECT grp, COUNT(*), SUM(score), MIN(name), MAX(score) FROM users \
                     WHERE id <= {STATIC_USERS} GROUP BY grp ORDER BY grp"
                ),
                true,
            ),
            1 => select(
                format!(
                    "SELECT status, COUNT(*), SUM(amount), MIN(amount) FROM orders \
                     WHERE user_id <= {STATIC_USERS} GROUP BY status"
                ),
                false,
            ),
            _ => {
                let lo = self.rng.range(1, STATIC_USERS);
                let hi = lo + self.rng.range(0, 500);
                select(
                    format!(
                        "SELECT COUNT(*), SUM(amount), MAX(amount), COUNT(DISTINCT status) \
                         FROM orders WHERE user_id BETWEEN {lo} AND {hi}"
                    ),
                    true,
                )
            }
        }
    }

    fn own_scatter(&mut self) -> Stmt {
        let (base, last) = (self.range.base, self.range.last());
        if self.rng.chance(50) {
            select(
                format!(
                    "SELECT id, name, score FROM users WHERE id BETWEEN {base} AND {last} ORDER BY id"
                ),
                true,
            )
        } else {
            select(
                format!(
                    "SELECT user_id, COUNT(*), SUM(amount) FROM orders WHERE user_id BETWEEN \
                     {base} AND {last} GROUP BY user_id ORDER BY user_id"
                ),
                true,
            )
        }
    }

    // ---- writes --------------------------------------------------------------------------

    async fn insert(&mut self, kind: &'static str) -> Result<()> {
        if self.rng.chance(50) {
            let free: Vec<i64> = (0..RANGE_KEYS)
                .map(|i| self.range.base + i)
                .filter(|k| !self.range.users.contains(k))
                .collect();
            if free.is_empty() {
                return self.delete(kind).await;
            }
            // One to four rows: several rows usually span shards and both groups.
            let mut keys: Vec<i64> = Vec::new();
            for _ in 0..self.rng.range(1, 4) {
                let k = *self.rng.pick(&free);
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
            let rows: Vec<String> = keys
                .iter()
                .map(|&k| data::user_values(&mut self.rng, k))
                .collect();
            let s = write(
                format!(
                    "INSERT INTO users (id, name, score, grp, note) VALUES {}",
                    rows.join(", ")
                ),
                "users",
            );
            if self.write(kind, s).await? {
                self.range.users.extend(keys);
            }
        } else {
            let user = self.own_key();
            let n = *self.range.next_order.get(&user).unwrap_or(&0);
            if n + 2 >= ORDER_IDS {
                return self.update(kind).await;
            }
            let count = self.rng.range(1, 2);
            let rows: Vec<String> = (n..n + count)
                .map(|i| data::order_values(&mut self.rng, user, i))
                .collect();
            let s = write(
                format!(
                    "INSERT INTO orders (id, user_id, amount, status) VALUES {}",
                    rows.join(", ")
                ),
                "orders",
            );
            if self.write(kind, s).await? {
                self.range.next_order.insert(user, n + count);
            }
        }
        Ok(())
    }

    async fn update(&mut self, kind: &'static str) -> Result<()> {
        let k = self.own_key();
        let sql = if self.rng.chance(60) {
            format!(
                "UPDATE users SET score = score + {}, name = 'upd{}' WHERE id = {k}",
                self.rng.range(-50, 50),
                self.rng.below(100)
            )
        } else {
            format!(
                "UPDATE orders SET status = '{}', amount = amount + 1 WHERE user_id = {k}",
                self.rng.pick(STATUSES)
            )
        };
        self.write(kind, write(sql, "users")).await?;
        Ok(())
    }

    async fn delete(&mut self, kind: &'static str) -> Result<()> {
        let k = self.own_key();
        if self.rng.chance(60) {
            let s = write(format!("DELETE FROM users WHERE id = {k}"), "users");
            if self.write(kind, s).await? {
                self.range.users.remove(&k);
            }
        } else {
            let s = write(
                format!("DELETE FROM orders WHERE user_id = {k} AND amount < 300"),
                "orders",
            );
            self.write(kind, s).await?;
        }
        Ok(())
    }

    /// BEGIN, one to five reads and writes, COMMIT or ROLLBACK, with the reference in
    /// lockstep.
    async fn transaction(&mut self) -> Result<()> {
        let before = self.range.clone();
        if !self.write("txn_begin", write("BEGIN".into(), "")).await? {
            return Ok(());
        }
        self.in_txn = true;
        for _ in 0..self.rng.range(1, 5) {
            match self.rng.below(if self.shared.knobs.pinned_scatter {
                7
            } else {
                5
            }) {
                0 => self.insert("txn_insert").await?,
                1 => self.update("txn_update").await?,
                2 => self.delete("txn_delete").await?,
                3 => {
                    let k = self.own_key();
                    let s = select(
                        format!("SELECT id, name, score FROM users WHERE id = {k}"),
                        true,
                    );
                    self.read("txn_point", s).await?;
                }
                4 => {
                    let k = self.rng.range(1, STATIC_USERS);
                    let s = select(format!("SELECT id, note FROM users WHERE id = {k}"), true);
                    self.read("txn_point", s).await?;
                }
                5 => {
                    let s = self.scatter_order();
                    self.read("txn_scatter", s).await?;
                }
                _ => {
                    let s = self.own_scatter();
                    self.read("txn_scatter", s).await?;
                }
            }
            if !self.in_txn {
                // Abandoned: the range is new and the transaction gone.
                return Ok(());
            }
        }
        let commit = self.rng.chance(70);
        let (kind, sql) = if commit {
            ("txn_commit", "COMMIT")
        } else {
            ("txn_rollback", "ROLLBACK")
        };
        if self.write(kind, write(sql.into(), "")).await? {
            self.in_txn = false;
            if !commit {
                self.range = before;
            }
        }
        Ok(())
    }

    /// SQL-level PREPARE / EXECUTE … USING / DEALLOCATE, each step compared.
    async fn sql_prepare(&mut self) -> Result<()> {
        let (lo, hi) = self.any_span();
        let (text, args) = match self.rng.below(3) {
            0 => ("SELECT id, name, score FROM users WHERE id = ?", "@soak_a"),
            1 => (
                "SELECT id, score FROM users WHERE id BETWEEN ? AND ? ORDER BY id",
                "@soak_a, @soak_b",
            ),
            _ => (
                "SELECT user_id, COUNT(*), SUM(amount) FROM orders WHERE user_id BETWEEN ? AND ? \
                 GROUP BY user_id ORDER BY user_id",
                "@soak_a, @soak_b",
            ),
        };
        let steps = [
            (
                "sql_prepare_set",
                format!("SET @soak_a = {lo}, @soak_b = {hi}"),
            ),
            ("sql_prepare", format!("PREPARE soak_s FROM '{text}'")),
            ("sql_execute", format!("EXECUTE soak_s USING {args}")),
            ("sql_deallocate", "DEALLOCATE PREPARE soak_s".to_string()),
        ];
        for (kind, sql) in steps {
            if !self.read(kind, select(sql, true)).await? {
                break;
            }
        }
        if !self.shared.knobs.pinned_scatter {
            // The session is pinned now; scatters in it would hang (issue 8, item 6).
            self.drop_proxy_conn(true).await;
        }
        Ok(())
    }

    /// A deliberate client-side timeout or a hang-up in the middle of a big result.
    async fn fault(&mut self) {
        let knobs = &self.shared.knobs;
        let timeout = knobs.timeouts && (!knobs.disconnects || self.rng.chance(50));
        let addr = self.shared.addr;
        let stall = knobs.stall;
        if timeout {
            let (kind, sql, expected) = if self.rng.chance(50) {
                let k = self.rng.range(1, STATIC_USERS);
                (
                    "timeout_point",
                    format!("SELECT id, SLEEP(0.5) FROM users WHERE id = {k}"),
                    vec![vec![k.to_string(), "0".to_string()]],
                )
            } else {
                (
                    "timeout_scatter",
                    format!(
                        "SELECT COUNT(*) FROM users WHERE id <= {STATIC_USERS} AND SLEEP(0.002) = 0"
                    ),
                    vec![vec![STATIC_USERS.to_string()]],
                )
            };
            let limit = Duration::from_millis(self.rng.range(20, 300) as u64);
            match tokio::time::timeout(stall, faults::abandon_after(addr, &sql, limit)).await {
                Ok(Ok(Abandoned::TimedOut)) => self.tally.timeout(kind),
                Ok(Ok(Abandoned::LoginRefused(code, message))) => {
                    self.tally.error(kind, code, &message)
                }
                Ok(Ok(Abandoned::Answered(response))) => match response {
                    crate::harness::raw::Response::Err(_, e) => {
                        self.tally.error(kind, e.code, &e.message)
                    }
                    answer => match answer.text_rows() {
                        Ok(rows) if rows == expected => self.tally.right(kind),
                        other => self.tally.wrong(
                            kind,
                            format!("`{sql}`: expected {expected:?}, got {other:?}"),
                        ),
                    },
                },
                Ok(Err(e)) => self.tally.error(kind, LOST_CONNECTION, &format!("{e:#}")),
                Err(_) => self.tally.stall(
                    kind,
                    format!("`{sql}` (raw client) no login or answer in {stall:?}"),
                ),
            }
        } else {
            let (kind, sql) = if self.rng.chance(50) {
                (
                    "hangup_scatter",
                    format!(
                        "SELECT id, REPEAT(note, 20) FROM users WHERE id <= {STATIC_USERS} ORDER BY id"
                    ),
                )
            } else {
                let k = self.rng.range(1, STATIC_USERS);
                (
                    "hangup_single",
                    format!(
                        "SELECT o.id, REPEAT(u.note, 3000) FROM users u JOIN orders o \
                         ON o.user_id = u.id WHERE u.id = {k}"
                    ),
                )
            };
            let packets = self.rng.range(1, 40) as usize;
            match tokio::time::timeout(stall, faults::hang_up_mid_result(addr, &sql, packets)).await
            {
                Ok(Ok(None)) => self.tally.right(kind),
                Ok(Ok(Some((code, message)))) => self.tally.error(kind, code, &message),
                Ok(Err(e)) => self.tally.error(kind, LOST_CONNECTION, &format!("{e:#}")),
                Err(_) => self.tally.stall(
                    kind,
                    format!("`{sql}` (raw client) no login or rows in {stall:?}"),
                ),
            }
        }
    }

    // ---- running and checking ------------------------------------------------------------

    /// Runs a read; returns whether it was right. An error inside a transaction abandons it.
    async fn read(&mut self, kind: &'static str, s: Stmt) -> Result<bool> {
        let right = self.check(kind, &s).await?;
        if !right && self.in_txn {
            self.abandon().await?;
        }
        Ok(right)
    }

    /// Runs a write; returns whether the proxy applied it exactly as the reference did.
    /// Anything else abandons the range.
    async fn write(&mut self, kind: &'static str, s: Stmt) -> Result<bool> {
        let right = self.check(kind, &s).await?;
        if !right {
            self.abandon().await?;
        }
        Ok(right)
    }

    /// Runs `s` through the proxy and, when it answered, on the reference; classifies the
    /// answer and returns whether it was right.
    async fn check(&mut self, kind: &'static str, s: &Stmt) -> Result<bool> {
        let proxy = match self.on_proxy(s).await {
            Answer::Done(Outcome::Error { code, message }) => {
                self.tally.error(kind, code, &message);
                return Ok(false);
            }
            Answer::Done(outcome) => outcome,
            Answer::Lost(code, message) => {
                self.tally.error(kind, code, &message);
                return Ok(false);
            }
            Answer::Stalled => {
                let what = format!(
                    "client {} ({kind}): no answer within {:?} to `{}` {:?}",
                    self.index, self.shared.knobs.stall, s.sql, s.params
                );
                self.tally.stall(kind, what);
                return Ok(false);
            }
        };
        let reference = run(&mut self.reference, s)
            .await
            .with_context(|| format!("the reference server broke on `{}`", s.sql))?;
        let (proxy, reference) = (canonical(proxy, s.ordered), canonical(reference, s.ordered));
        let what = match (&proxy, &reference) {
            (Outcome::Rows { rows: a, .. }, Outcome::Rows { rows: b, .. }) if a == b => None,
            (Outcome::Affected(a), Outcome::Affected(b)) if a == b => None,
            (_, Outcome::Error { .. }) => Some("the proxy answered what the reference refuses"),
            (Outcome::Rows { .. }, Outcome::Rows { .. }) => Some("different rows"),
            (Outcome::Affected(_), Outcome::Affected(_)) => Some("different affected rows"),
            _ => Some("different kinds of answer"),
        };
        match what {
            None => {
                self.tally.right(kind);
                Ok(true)
            }
            Some(what) => {
                let report = mismatch_report(s, what, &reference, &proxy);
                self.tally.wrong(
                    kind,
                    format!(
                        "client {} ({kind}, seed {:#x}, in transaction: {}): {report}",
                        self.index, self.shared.knobs.seed, self.in_txn
                    ),
                );
                Ok(false)
            }
        }
    }

    /// Sends `s` to the proxy on the client's connection (made first when needed).
    async fn on_proxy(&mut self, s: &Stmt) -> Answer {
        let stall = self.shared.knobs.stall;
        if self.proxy.is_none() {
            match tokio::time::timeout(stall, Conn::new(self.shared.opts.clone())).await {
                Ok(Ok(conn)) => {
                    self.shared.victims[self.index].store(conn.id(), Ordering::Relaxed);
                    self.proxy = Some(conn);
                }
                Ok(Err(mysql_async::Error::Server(e))) => return Answer::Lost(e.code, e.message),
                Ok(Err(e)) => return Answer::Lost(CONNECT_FAILED, e.to_string()),
                Err(_) => return Answer::Stalled,
            }
        }
        let Some(conn) = self.proxy.as_mut() else {
            return Answer::Lost(CONNECT_FAILED, "no connection".into());
        };
        match tokio::time::timeout(stall, run(conn, s)).await {
            Ok(Ok(outcome)) => {
                if let Outcome::Error { code, .. } = &outcome
                    && CONNECTION_GONE.contains(code)
                {
                    self.drop_proxy_conn(false).await;
                }
                Answer::Done(outcome)
            }
            Ok(Err(e)) => {
                self.drop_proxy_conn(false).await;
                Answer::Lost(LOST_CONNECTION, format!("{e:#}"))
            }
            Err(_) => {
                self.drop_proxy_conn(false).await;
                Answer::Stalled
            }
        }
    }

    /// Forgets the proxy connection: says goodbye when `polite` (bounded by the stall
    /// limit), otherwise leaves mysql_async to close it in the background.
    async fn drop_proxy_conn(&mut self, polite: bool) {
        self.shared.victims[self.index].store(0, Ordering::Relaxed);
        if let Some(conn) = self.proxy.take()
            && polite
        {
            // A failed goodbye (e.g. a KILL got there first) changes nothing.
            let _ = tokio::time::timeout(self.shared.knobs.stall, conn.disconnect()).await;
        }
    }

    /// Gives the current range up after an outcome the client cannot know: rolls the
    /// reference's transaction back, ends the proxy session (and with it any transaction
    /// there) and moves to a fresh range.
    async fn abandon(&mut self) -> Result<()> {
        if self.in_txn {
            self.reference
                .query_drop("ROLLBACK")
                .await
                .context("rolling the reference back")?;
            self.in_txn = false;
            self.drop_proxy_conn(true).await;
        }
        self.epoch += 1;
        self.range = Range::new(self.index, self.epoch);
        self.tally.abandoned_ranges += 1;
        Ok(())
    }
}

/// A text-protocol SELECT (or any statement compared like one).
fn select(sql: String, ordered: bool) -> Stmt {
    Stmt {
        ordered,
        ..Stmt::read("soak", sql)
    }
}

/// A text-protocol write.
fn write(sql: String, table: &'static str) -> Stmt {
    Stmt {
        writes: Some(table),
        ordered: true,
        ..Stmt::read("soak", sql)
    }
}

/// A binary-protocol (server-side prepared) statement.
fn prepared(sql: &str, params: Vec<Value>) -> Stmt {
    Stmt {
        prepared: true,
        params,
        ordered: true,
        ..Stmt::read("soak", sql)
    }
}
