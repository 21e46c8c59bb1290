//! Differential test of cross-shard merges: random queries that reach many shards (ORDER BY,
//! LIMIT, aggregates, GROUP BY, HAVING, DISTINCT, COUNT(DISTINCT), over sharded tables,
//! co-located joins and joins with the global table, a share as server-side prepared
//! statements, half of those again through SQL-level `PREPARE` / `EXECUTE … USING` literals)
//! run against one plain MariaDB holding all the data and through myshard with
//! database `shop` sharded over 16 shards on two groups. Results must be the same: column
//! metadata, then the rows (see `merge_diff::compare` for what "the same" allows).
//!
//! A query the proxy refuses with error 1235 (not supported) is counted per construct and
//! per reach, and the counts are printed, so what is merged and what is not stays visible;
//! more than `MAX_REFUSED_SHARE` of refusals fails the test. Any other error from the proxy
//! on a query the plain server answers is a mismatch. A query the plain server rejects is a
//! generator bug and fails the test too.
//!
//! Knobs: `MYSHARD_MERGE_DIFF_SEED` (the generator's seed, decimal or 0x hex) and
//! `MYSHARD_MERGE_DIFF_QUERIES` (2,000 by default, as CI runs it). A mismatch prints the
//! query, both results and the seed to rerun it with. The long run is
//! `MYSHARD_MERGE_DIFF_QUERIES=50000 cargo test --test differential_merge -- --nocapture`
//! (two to seven minutes on two cores, depending on how much the proxy merges).

mod harness;
mod merge_diff;

use anyhow::{Context, Result, bail};
use harness::differential::{
    Count, Failures, Outcome, Rng, Servers, SqlPrepare, Stmt, canonical, env_or, mismatch_report,
    print_counts, run,
};
use merge_diff::compare::compare;
use merge_diff::data::{self, COUNTRIES, SHARDED};
use merge_diff::query::{Gen, Query};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::time::timeout;

const SHARDS: u32 = 16;
const DEFAULT_SEED: u64 = 0x6d65_7267_6564_6966;
/// Queries per run unless `MYSHARD_MERGE_DIFF_QUERIES` says otherwise.
const DEFAULT_QUERIES: usize = 2_000;
/// The largest share of generated queries the proxy may refuse with 1235. What is left to
/// refuse is HAVING comparing a BIT value (not generated); the generated queries should
/// all be answered.
const MAX_REFUSED_SHARE: f64 = 0.01;
/// The run stops after this many mismatches.
const MAX_MISMATCHES: usize = 20;

/// How long one query may take on either side.
const QUERY_TIMEOUT: Duration = Duration::from_secs(60);

/// The MySQL error for a construct the proxy does not support (yet).
const ER_NOT_SUPPORTED_YET: u16 = 1235;

struct Checker {
    proxy: Conn,
    plain: Conn,
    seed: u64,
    /// Per construct (the generator's names).
    constructs: BTreeMap<String, Count>,
    /// Per kind of WHERE (no key, key IN, …).
    reaches: BTreeMap<String, Count>,
    mismatches: Vec<String>,
    /// Queries the plain server rejected: generator bugs.
    rejected: Vec<String>,
    /// A query got no answer in time; the run stops.
    stalled: bool,
}

impl Checker {
    async fn new(servers: &Servers, seed: u64) -> Result<Checker> {
        Ok(Checker {
            proxy: servers.proxy_conn().await?,
            plain: servers.plain_conn().await?,
            seed,
            constructs: BTreeMap::new(),
            reaches: BTreeMap::new(),
            mismatches: Vec::new(),
            rejected: Vec::new(),
            stalled: false,
        })
    }

    /// Creates the tables and loads the rows on both sides, then checks that every table
    /// holds the same rows (read through the proxy as a plain concatenation of the shards),
    /// so a later mismatch is about merging, not about the data.
    async fn load(&mut self, data: &data::Data) -> Result<()> {
        for t in SHARDED.iter().copied().chain([&COUNTRIES]) {
            let ddl = data::ddl(t);
            self.proxy.query_drop(&ddl).await.context(ddl.clone())?;
            self.plain.query_drop(&ddl).await.context(ddl)?;
        }
        for s in &data.inserts {
            let proxy = run(&mut self.proxy, s).await?;
            let plain = run(&mut self.plain, s).await?;
            if proxy != plain {
                bail!("{}", mismatch_report(s, "loading differs", &plain, &proxy));
            }
        }
        for t in SHARDED.iter().copied().chain([&COUNTRIES]) {
            let read = Stmt::read("load", format!("SELECT * FROM {}", t.name));
            let proxy = canonical(run(&mut self.proxy, &read).await?, false);
            let plain = canonical(run(&mut self.plain, &read).await?, false);
            if proxy != plain {
                bail!(
                    "{}",
                    mismatch_report(&read, "the loaded data differs", &plain, &proxy)
                );
            }
        }
        Ok(())
    }

    fn tally(&mut self, q: &Query, f: impl Fn(&mut Count)) {
        f(self.constructs.entry(q.stmt.construct.clone()).or_default());
        f(self.reaches.entry(q.reach.to_string()).or_default());
    }

    /// Runs query number `n` on both sides and compares.
    async fn check(&mut self, n: usize, q: &Query) -> Result<()> {
        let s = &q.stmt;
        let (plain, proxy) = tokio::join!(
            timeout(QUERY_TIMEOUT, run(&mut self.plain, s)),
            timeout(QUERY_TIMEOUT, run(&mut self.proxy, s))
        );
        let (Ok(plain), Ok(proxy)) = (plain, proxy) else {
            // The connection is in an unknown state: report and stop the run.
            self.stalled = true;
            self.mismatches.push(format!(
                "query {n}, seed {:#x}: no answer within {} s\n  SQL: {}\n  params: {:?}",
                self.seed,
                QUERY_TIMEOUT.as_secs(),
                s.sql,
                s.params
            ));
            return Ok(());
        };
        let (plain, proxy) = (plain?, proxy?);
        self.tally(q, |c| {
            c.run += 1;
            c.prepared += usize::from(s.prepared);
        });
        let what = match (&plain, &proxy) {
            (Outcome::Error { .. }, _) => {
                let report = mismatch_report(s, "the plain server rejects it", &plain, &proxy);
                self.rejected
                    .push(format!("query {n}, seed {:#x}: {report}", self.seed));
                return Ok(());
            }
            (_, Outcome::Error { code, message }) if *code == ER_NOT_SUPPORTED_YET => {
                self.tally(q, |c| c.refuse(s, message));
                return Ok(());
            }
            (_, Outcome::Error { .. }) => {
                Err("the proxy fails a query the plain server answers".to_string())
            }
            _ => compare(&plain, &proxy, s.ordered, &q.loose, q.outer_join),
        };
        self.tally(q, |c| c.compared += 1);
        if matches!(&plain, Outcome::Rows { rows, .. } if !rows.is_empty()) {
            self.tally(q, |c| c.with_rows += 1);
        }
        if let Err(what) = what {
            let report = mismatch_report(s, &what, &plain, &proxy);
            self.mismatches.push(format!(
                "query {n}, seed {:#x} (rerun: MYSHARD_MERGE_DIFF_SEED={:#x} MYSHARD_MERGE_DIFF_QUERIES={}); loose columns {:?}\n{report}",
                self.seed,
                self.seed,
                n + 1,
                q.loose
            ));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_results_equal_a_single_server() -> Result<()> {
    let started = Instant::now();
    let seed: u64 = env_or("MYSHARD_MERGE_DIFF_SEED", DEFAULT_SEED);
    let queries: usize = env_or("MYSHARD_MERGE_DIFF_QUERIES", DEFAULT_QUERIES);
    let servers = Servers::start(SHARDS, data::RULES).await?;
    let mut checker = Checker::new(&servers, seed).await?;

    let mut rng = Rng::new(seed);
    let data = data::generate(&mut rng);
    checker.load(&data).await?;
    let loaded = started.elapsed();

    let mut generator = Gen::new(rng.next(), data.user_ids.clone(), data.emails.clone());
    let mut generated = 0;
    for n in 0..queries {
        let q = generator.query();
        checker.check(n, &q).await?;
        generated += 1;
        // Every other prepared query again through SQL-level PREPARE / EXECUTE … USING
        // literals (about 300 in CI).
        let how = if n % 2 == 0 {
            SqlPrepare::Literals
        } else {
            SqlPrepare::No
        };
        if let Some(stmt) = q.stmt.sql_prepare_twin(how) {
            let twin = Query {
                stmt,
                loose: q.loose.clone(),
                reach: q.reach,
                outer_join: q.outer_join,
            };
            checker.check(n, &twin).await?;
            generated += 1;
        }
        if checker.stalled || checker.mismatches.len() >= MAX_MISMATCHES {
            break;
        }
    }

    println!(
        "differential merge test: seed {seed:#x}, {} rows of data over {SHARDS} shards on 2 groups, \
         {generated} queries, loaded in {:.1} s, {:.1} s in all",
        data.rows,
        loaded.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    println!("per construct:");
    let total = print_counts(&checker.constructs);
    println!("per WHERE:");
    print_counts(&checker.reaches);
    println!(
        "mismatches: {}, rejected by the plain server: {}",
        checker.mismatches.len(),
        checker.rejected.len()
    );

    let mut failures = Failures::default();
    failures.list("mismatch(es)", &checker.mismatches, "\n\n");
    failures.list(
        "generated quer(ies) the plain server rejects (fix the generator)",
        &checker.rejected,
        "\n\n",
    );
    failures.refusals(&total, MAX_REFUSED_SHARE);
    failures.result()
}
