//! The bank-transfer workload of the XA crash tests: two groups (schemas `s0` on `g0`,
//! `s1` on `g1`) with [`ACCOUNTS`] accounts each and a ledger of transfer ids; clients
//! moving one unit between the groups in one transaction each, recording what they were
//! told about every transfer; and the checks after a crash: total balance unchanged, each
//! transfer on both groups or neither, every account's balance what its ledger says
//! (each transfer applied exactly once), every acknowledged transfer applied, every
//! transfer the proxy called rolled back absent, no prepared XA branch left.
//!
//! ```ignore
//! bank::open_accounts(&db, 0).await?;
//! let clients = bank::Clients::start(opts, 8, 0);
//! clients.wait_acknowledged(10, Duration::from_secs(30)).await?;
//! // … kill something …
//! let outcomes = clients.stop(Duration::from_secs(10)).await;
//! let books = bank::settled(&[&g0, &g1], Duration::from_secs(30)).await?;
//! assert!(bank::anomaly(&books, &outcomes).is_none());
//! ```

use super::e2e::wait_for;
use super::proxy::{APP_PASSWORD, APP_USER};
use super::{MYSHARD_PASSWORD, MYSHARD_USER, MariaDb};
use anyhow::Result;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Accounts per group.
pub const ACCOUNTS: i64 = 4;
/// Each account's opening balance.
pub const OPENING: i64 = 1000;
/// The total balance of both groups, which no transfer changes.
pub const TOTAL: i64 = 2 * ACCOUNTS * OPENING;

/// The configuration of a proxy in front of the two groups for XA tests: user `app` in
/// `xa` mode, schema `s0` on g0 (database `s0_db`) and `s1` on g1 (`s1_db`), the state in
/// `state`, `proxy_id` naming the decision log. Each group is its write host's address and
/// further settings as YAML lines indented by four spaces (heartbeat, pool, failover, …).
pub fn xa_config(
    proxy_id: &str,
    state: &str,
    g0: (&str, &str),
    g1: (&str, &str),
) -> Result<myshard_config::Config> {
    let ((g0, g0_settings), (g1, g1_settings)) = (g0, g1);
    let yaml = format!(
        "listen: 127.0.0.1:0
state_dir: '{state}'
proxy_id: {proxy_id}
users: [{{name: {APP_USER}, password: {APP_PASSWORD}, schemas: ['*'], transaction_mode: xa}}]
groups:
  - name: g0
    user: {MYSHARD_USER}
    password: {MYSHARD_PASSWORD}
    write_hosts: ['{g0}']
{g0_settings}  - name: g1
    user: {MYSHARD_USER}
    password: {MYSHARD_PASSWORD}
    write_hosts: ['{g1}']
{g1_settings}schemas:
  - {{name: s0, group: g0, database: s0_db}}
  - {{name: s1, group: g1, database: s1_db}}
"
    );
    myshard_config::parse(&yaml, proxy_id).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Creates database `s{index}_db` on `db` (if needed) with its accounts and an empty ledger.
pub async fn open_accounts(db: &MariaDb, index: usize) -> Result<()> {
    db.exec(&format!(
        "CREATE DATABASE IF NOT EXISTS s{index}_db; \
         CREATE TABLE s{index}_db.acct (id INT PRIMARY KEY, bal INT NOT NULL) ENGINE=InnoDB; \
         CREATE TABLE s{index}_db.ledger (id BIGINT PRIMARY KEY) ENGINE=InnoDB"
    ))
    .await?;
    for a in 1..=ACCOUNTS {
        db.exec(&format!(
            "INSERT INTO s{index}_db.acct VALUES ({a}, {OPENING})"
        ))
        .await?;
    }
    Ok(())
}

/// Where a failed transfer stopped.
#[derive(Debug)]
pub enum Failure {
    /// A statement before `COMMIT` failed: nothing can have been prepared.
    BeforeCommit(mysql_async::Error),
    /// `COMMIT` failed.
    AtCommit(mysql_async::Error),
}

impl Failure {
    /// The error, wherever it came.
    pub fn into_error(self) -> mysql_async::Error {
        match self {
            Failure::BeforeCommit(e) | Failure::AtCommit(e) => e,
        }
    }
}

/// Transfer `n`: one unit between account `n % ACCOUNTS + 1` on g0 and the same account on
/// g1 (direction by parity), recorded in both ledgers, in one transaction.
pub async fn transfer(c: &mut Conn, n: i64) -> Result<(), Failure> {
    let (from, to) = if n % 2 == 0 { (0, 1) } else { (1, 0) };
    let a = n % ACCOUNTS + 1;
    for sql in [
        "BEGIN".to_string(),
        format!("UPDATE s{from}.acct SET bal = bal - 1 WHERE id = {a}"),
        format!("INSERT INTO s{from}.ledger VALUES ({n})"),
        format!("UPDATE s{to}.acct SET bal = bal + 1 WHERE id = {a}"),
        format!("INSERT INTO s{to}.ledger VALUES ({n})"),
    ] {
        c.query_drop(sql).await.map_err(Failure::BeforeCommit)?;
    }
    c.query_drop("COMMIT").await.map_err(Failure::AtCommit)
}

/// What the clients were told about their transfers (ids in the order of the answers).
#[derive(Debug, Default, Clone)]
pub struct Outcomes {
    /// `COMMIT` answered OK: must be applied on both groups.
    pub acknowledged: Vec<i64>,
    /// `COMMIT` answered 1180 "decided committed … in doubt … recovery will complete it":
    /// must be applied on both groups once recovery ran.
    pub in_doubt: Vec<i64>,
    /// A statement before `COMMIT` failed, or `COMMIT` answered "committed nowhere": must
    /// be applied on neither group.
    pub rolled_back: Vec<i64>,
    /// `COMMIT` failed without saying how (lost connection, another error): both or neither.
    pub unknown: Vec<i64>,
    /// The errors of the `unknown` transfers, for the logs.
    pub unknown_errors: Vec<String>,
}

impl Outcomes {
    /// Files transfer `n`'s result.
    fn record(&mut self, n: i64, result: &Result<(), Failure>) {
        match result {
            Ok(()) => self.acknowledged.push(n),
            Err(Failure::BeforeCommit(_)) => self.rolled_back.push(n),
            Err(Failure::AtCommit(mysql_async::Error::Server(e))) if e.code == 1180 => {
                if e.message.contains("committed nowhere") {
                    self.rolled_back.push(n);
                } else if e.message.contains("in doubt") {
                    self.in_doubt.push(n);
                } else {
                    self.unknown(n, &e.message);
                }
            }
            Err(Failure::AtCommit(e)) => self.unknown(n, &e.to_string()),
        }
    }

    fn unknown(&mut self, n: i64, error: &str) {
        self.unknown.push(n);
        self.unknown_errors.push(error.to_string());
    }

    /// Adds `other`'s transfers (another round's) to these.
    pub fn extend(&mut self, other: Outcomes) {
        self.acknowledged.extend(other.acknowledged);
        self.in_doubt.extend(other.in_doubt);
        self.rolled_back.extend(other.rolled_back);
        self.unknown.extend(other.unknown);
        self.unknown_errors.extend(other.unknown_errors);
    }

    /// One line for logs and bench scripts.
    pub fn summary(&self) -> String {
        format!(
            "acknowledged {}, in doubt {}, rolled back {}, unknown {} {:?}",
            self.acknowledged.len(),
            self.in_doubt.len(),
            self.rolled_back.len(),
            self.unknown.len(),
            self.unknown_errors
        )
    }
}

/// Clients transferring in a loop, each on its own connection; after an error a client
/// opens a new connection (retrying while the proxy is away) and goes on with the next id.
pub struct Clients {
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Outcomes>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Clients {
    /// Starts `clients` clients connecting with `opts`; client `k` uses the ids
    /// `(first + k) * 1_000_000 ..`, so runs and rounds with distinct `first` never reuse
    /// an id.
    pub fn start(opts: Opts, clients: u64, first: i64) -> Clients {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes = Arc::new(Mutex::new(Outcomes::default()));
        let tasks = (0..clients as i64)
            .map(|k| {
                let (opts, stop, outcomes) = (opts.clone(), stop.clone(), outcomes.clone());
                tokio::spawn(client(opts, (first + k) * 1_000_000, stop, outcomes))
            })
            .collect();
        Clients {
            stop,
            outcomes,
            tasks,
        }
    }

    /// What the clients were told so far.
    pub fn outcomes(&self) -> Outcomes {
        self.outcomes
            .lock()
            .map_or_else(|_| Outcomes::default(), |o| o.clone())
    }

    /// Waits until `n` more transfers than now were acknowledged.
    pub async fn wait_acknowledged(&self, n: usize, timeout: Duration) -> Result<()> {
        let target = self.outcomes().acknowledged.len() + n;
        wait_for(&format!("{n} more acknowledged transfers"), timeout, || {
            let count = self.outcomes().acknowledged.len();
            async move { Ok((count >= target).then_some(())) }
        })
        .await
    }

    /// Stops the clients: each finishes its transfer in progress within `grace` or is cut
    /// off (its connection dropped, the transfer's outcome not recorded).
    pub async fn stop(self, grace: Duration) -> Outcomes {
        self.stop.store(true, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + grace;
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                abort.abort();
            }
        }
        self.outcomes
            .lock()
            .map_or_else(|_| Outcomes::default(), |o| o.clone())
    }
}

/// One client's loop (see [`Clients`]).
async fn client(opts: Opts, base: i64, stop: Arc<AtomicBool>, outcomes: Arc<Mutex<Outcomes>>) {
    let mut n = base;
    while !stop.load(Ordering::SeqCst) {
        let Ok(mut c) = Conn::new(opts.clone()).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        while !stop.load(Ordering::SeqCst) {
            let result = transfer(&mut c, n).await;
            if let Ok(mut o) = outcomes.lock() {
                o.record(n, &result);
            }
            n += 1;
            if result.is_err() {
                // A transaction the proxy may still call lost: start afresh.
                tokio::time::sleep(Duration::from_millis(20)).await;
                break;
            }
        }
    }
}

/// Both groups' ledgers (sorted) and the total balance.
#[derive(Debug)]
pub struct Books {
    /// Transfer ids in g0's ledger.
    pub g0: Vec<i64>,
    /// Transfer ids in g1's ledger.
    pub g1: Vec<i64>,
    /// The sum of every account on both groups.
    pub total: i64,
    /// Each group's accounts: (id, balance).
    pub accounts: [Vec<(i64, i64)>; 2],
}

impl Books {
    /// The balance account `a` of group `group` must have if every transfer in its ledger
    /// moved exactly one unit (transfer `n` moves from g0 to g1 when even, back when odd).
    fn expected(&self, group: usize, a: i64) -> i64 {
        let ledger = if group == 0 { &self.g0 } else { &self.g1 };
        ledger
            .iter()
            .filter(|n| *n % ACCOUNTS + 1 == a)
            .map(|n| if (*n % 2 == 0) == (group == 0) { -1 } else { 1 })
            .sum::<i64>()
            + OPENING
    }
}

/// The prepared XA branches on `db` (their xids).
pub async fn prepared(db: &MariaDb) -> Result<Vec<String>> {
    let rows: Vec<(i64, i64, i64, Vec<u8>)> = db.query("XA RECOVER").await?;
    Ok(rows
        .into_iter()
        .map(|r| String::from_utf8_lossy(&r.3).into_owned())
        .collect())
}

/// The books once no XA branch is prepared on any of `dbs` (g0's server, then g1's) any
/// more; fails when one stays prepared for `timeout`.
pub async fn settled(dbs: [&MariaDb; 2], timeout: Duration) -> Result<Books> {
    wait_for(
        "recovery to finish every prepared branch",
        timeout,
        || async {
            let mut left = Vec::new();
            for db in dbs {
                left.extend(prepared(db).await?);
            }
            Ok(left.is_empty().then_some(()))
        },
    )
    .await?;
    let mut ledgers = [Vec::new(), Vec::new()];
    let mut accounts = [Vec::new(), Vec::new()];
    for (i, db) in dbs.iter().enumerate() {
        ledgers[i] = db
            .query(&format!("SELECT id FROM s{i}_db.ledger ORDER BY id"))
            .await?;
        accounts[i] = db
            .query(&format!("SELECT id, bal FROM s{i}_db.acct ORDER BY id"))
            .await?;
    }
    let total = accounts.iter().flatten().map(|(_, bal)| bal).sum();
    let [g0, g1] = ledgers;
    Ok(Books {
        g0,
        g1,
        total,
        accounts,
    })
}

/// What is wrong with `books` given what the clients were told; `None` when every
/// invariant holds.
pub fn anomaly(books: &Books, told: &Outcomes) -> Option<String> {
    if books.total != TOTAL {
        return Some(format!("total balance {} instead of {TOTAL}", books.total));
    }
    let on = |ledger: &[i64], n: &i64| ledger.binary_search(n).is_ok();
    let half: Vec<_> = books
        .g0
        .iter()
        .filter(|n| !on(&books.g1, n))
        .chain(books.g1.iter().filter(|n| !on(&books.g0, n)))
        .collect();
    if !half.is_empty() {
        return Some(format!(
            "transfer(s) applied on one group only: {half:?} ({} vs {} ledger rows)",
            books.g0.len(),
            books.g1.len()
        ));
    }
    for (group, accounts) in books.accounts.iter().enumerate() {
        for &(a, bal) in accounts {
            let expected = books.expected(group, a);
            if bal != expected {
                return Some(format!(
                    "g{group} account {a} holds {bal}, its ledger says {expected}: a \
                     transfer's balance change applied without its ledger row or twice"
                ));
            }
        }
    }
    let missing =
        |ids: &[i64]| -> Vec<i64> { ids.iter().filter(|n| !on(&books.g0, n)).copied().collect() };
    let lost = missing(&told.acknowledged);
    if !lost.is_empty() {
        return Some(format!("acknowledged transfer(s) lost: {lost:?}"));
    }
    let lost = missing(&told.in_doubt);
    if !lost.is_empty() {
        return Some(format!(
            "transfer(s) decided committed (1180 in doubt) never applied: {lost:?}"
        ));
    }
    let revived: Vec<_> = told
        .rolled_back
        .iter()
        .filter(|n| on(&books.g0, n))
        .collect();
    if !revived.is_empty() {
        return Some(format!(
            "transfer(s) the client was told rolled back applied: {revived:?}"
        ));
    }
    None
}
