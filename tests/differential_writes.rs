//! Differential families for statements applications send on their first day (issue 9):
//! `SELECT … FROM DUAL`, INSERT / REPLACE without a column list (sharded and global tables,
//! text and prepared) and shard-key UPDATEs (text and prepared). The same statements run against one plain
//! MariaDB and through myshard (`shop` sharded over 8 shards on two groups); results,
//! affected rows and, after every write, the whole written table must be the same.
//! Refusals are counted per family and printed: none is allowed in any family. The proxy
//! has a state directory, so its transaction mode is xa and shard-key UPDATEs that move
//! rows to the other group run as one XA transaction over both groups. Seed: `MYSHARD_DIFF_SEED`;
//! statements per family: `MYSHARD_DIFF_PER_FAMILY` (default 120).

mod harness;

use anyhow::Result;
use harness::differential::{
    Count, Failures, Lit, Outcome, Rng, Servers, Sql, Stmt, canonical, env_or, mismatch_report,
    print_counts, run,
};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use std::collections::BTreeMap;

const SHARDS: u32 = 8;
const DEFAULT_SEED: u64 = 0x7365_7139_6469_6666;
/// Statements generated per family.
const PER_FAMILY: usize = 120;

const TABLES: &[&str] = &[
    "{name: items, shard_key: uid}",
    "{name: tags, global: true}",
];

const SCHEMA: &[&str] = &[
    "CREATE TABLE items (id INT PRIMARY KEY, uid INT NOT NULL, note VARCHAR(20) NOT NULL DEFAULT '', qty INT)",
    "CREATE TABLE tags (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL)",
];

struct Diff {
    proxy: Conn,
    plain: Conn,
    counts: BTreeMap<String, Count>,
    mismatches: Vec<String>,
}

impl Diff {
    /// Runs `s` on the proxy first (a refused write is not applied to the plain server),
    /// then on the plain server, and compares.
    async fn check(&mut self, s: &Stmt) -> Result<()> {
        let count = self.counts.entry(s.construct.clone()).or_default();
        count.run += 1;
        count.prepared += usize::from(s.prepared);
        let proxy = canonical(run(&mut self.proxy, s).await?, s.ordered);
        if let Outcome::Error { code, message } = &proxy
            && (*code == 1235 || *code == 1105)
        {
            let plain = if s.writes.is_none() {
                Some(canonical(run(&mut self.plain, s).await?, s.ordered))
            } else {
                None
            };
            if !matches!(plain, Some(Outcome::Error { .. })) {
                self.counts
                    .entry(s.construct.clone())
                    .or_default()
                    .refuse(s, message);
                return Ok(());
            }
        }
        let plain = canonical(run(&mut self.plain, s).await?, s.ordered);
        let count = self.counts.entry(s.construct.clone()).or_default();
        count.compared += 1;
        if matches!(&plain, Outcome::Rows { rows, .. } if !rows.is_empty()) {
            count.with_rows += 1;
        }
        match (&plain, &proxy) {
            (Outcome::Error { code: a, .. }, Outcome::Error { code: b, .. }) if a == b => {}
            (a, b) if a == b => {}
            _ => self
                .mismatches
                .push(mismatch_report(s, "different results", &plain, &proxy)),
        }
        if let Some(table) = s.writes {
            let read = Stmt::read("recheck", format!("SELECT * FROM {table}"));
            let proxy = canonical(run(&mut self.proxy, &read).await?, false);
            let plain = canonical(run(&mut self.plain, &read).await?, false);
            if proxy != plain {
                self.mismatches.push(mismatch_report(
                    s,
                    &format!("table {table} differs after this write"),
                    &plain,
                    &proxy,
                ));
            }
        }
        Ok(())
    }
}

fn int(rng: &mut Rng, lo: i64, hi: i64) -> Lit {
    Lit::Int(rng.range(lo, hi))
}

fn dual(rng: &mut Rng) -> Stmt {
    let mut q = Sql::new(rng.chance(30));
    match rng.below(5) {
        0 => {
            q.s("SELECT ")
                .l(&int(rng, -50, 50))
                .s(" + 1 AS n FROM DUAL");
        }
        1 => {
            q.s("SELECT CONCAT('x', ")
                .l(&int(rng, 0, 99))
                .s(") AS s, 1 + 1 FROM DUAL");
        }
        2 => {
            q.s("SELECT ")
                .l(&int(rng, 0, 9))
                .s(" * 3 AS a, NULL AS b, 'k' AS c FROM dual");
        }
        3 => {
            q.s("SELECT 1 AS one FROM DUAL WHERE ")
                .l(&int(rng, 0, 3))
                .s(" > 1");
        }
        _ => {
            q.s("SELECT CAST(")
                .l(&int(rng, 0, 999))
                .s(" AS CHAR) AS c FROM DUAL");
        }
    }
    q.select("dual", true)
}

fn insert_no_columns(rng: &mut Rng, next_id: &mut i64) -> Stmt {
    let mut q = Sql::new(rng.chance(30));
    let global = rng.chance(25);
    let verb = if rng.chance(15) { "REPLACE" } else { "INSERT" };
    let rows = 1 + rng.below(4);
    if global {
        q.s(verb).s(" INTO tags VALUES ");
    } else {
        q.s(verb).s(" INTO items VALUES ");
    }
    for r in 0..rows {
        if r > 0 {
            q.s(", ");
        }
        *next_id += 1;
        let id = Lit::Int(*next_id);
        if global {
            q.list(&[id, Lit::Str(format!("t{}", rng.below(50)))]);
        } else {
            let uid = int(rng, 1, 40);
            let qty = int(rng, 0, 100);
            let qty = rng.maybe(20, qty);
            q.list(&[id, uid, Lit::Str(format!("n{}", rng.below(50))), qty]);
        }
    }
    q.write(
        if global {
            "insert_no_columns_global"
        } else {
            "insert_no_columns"
        },
        if global { "tags" } else { "items" },
    )
}

fn shard_key_update(rng: &mut Rng, next_id: i64) -> Stmt {
    // A third as server-side prepared statements (the values bound).
    let mut q = Sql::new(rng.chance(30));
    let uid = int(rng, 1, 40);
    q.s("UPDATE items SET uid = ").l(&uid);
    if rng.chance(40) {
        q.s(", note = ").l(&Lit::Str(format!("m{}", rng.below(9))));
    }
    match rng.below(4) {
        0 => {
            q.s(" WHERE uid = ")
                .l(&int(rng, 1, 40))
                .s(" AND id = ")
                .l(&int(rng, 1, next_id.max(1)));
        }
        1 => {
            q.s(" WHERE uid = ").l(&int(rng, 1, 40));
        }
        2 => {
            q.s(" WHERE uid IN (")
                .l(&int(rng, 1, 40))
                .s(", ")
                .l(&int(rng, 1, 40))
                .s(")");
        }
        _ => {
            q.s(" WHERE uid = ")
                .l(&int(rng, 1, 40))
                .s(" AND id > ")
                .l(&int(rng, 1, next_id.max(1)));
        }
    }
    q.write("shard_key_update", "items")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dual_insert_without_columns_and_shard_key_updates_match_one_server() -> Result<()> {
    let seed = env_or("MYSHARD_DIFF_SEED", DEFAULT_SEED);
    // A state directory: the transaction mode is xa, so shard-key UPDATEs moving rows to
    // the other group run as one XA transaction and are answered too.
    let state = tempfile::tempdir()?;
    let dir = state.path().display().to_string();
    let servers = Servers::start_with(SHARDS, TABLES, |c| c.state_dir = Some(dir)).await?;
    let mut d = Diff {
        proxy: servers.proxy_conn().await?,
        plain: servers.plain_conn().await?,
        counts: BTreeMap::new(),
        mismatches: Vec::new(),
    };
    for ddl in SCHEMA {
        d.proxy.query_drop(*ddl).await?;
        d.plain.query_drop(*ddl).await?;
    }
    let mut rng = Rng::new(seed);
    let mut next_id = 0i64;
    for _ in 0..env_or("MYSHARD_DIFF_PER_FAMILY", PER_FAMILY) {
        let s = dual(&mut rng);
        d.check(&s).await?;
        let s = insert_no_columns(&mut rng, &mut next_id);
        d.check(&s).await?;
        let s = shard_key_update(&mut rng, next_id);
        d.check(&s).await?;
    }
    println!("seed {seed:#x}");
    let total = print_counts(&d.counts);
    let mut failures = Failures::default();
    failures.list("mismatches", &d.mismatches, "\n\n");
    for family in [
        "dual",
        "insert_no_columns",
        "insert_no_columns_global",
        "shard_key_update",
    ] {
        let c = d.counts.get(family);
        if c.is_none_or(|c| c.refused > 0 || c.compared == 0) {
            failures.push(format!(
                "family {family}: {} refused, {} compared{}",
                c.map_or(0, |c| c.refused),
                c.map_or(0, |c| c.compared),
                c.and_then(|c| c.first_refusal.as_ref())
                    .map(|m| format!(" (first: {m})"))
                    .unwrap_or_default()
            ));
        }
    }
    println!("{} statements, {} refused", total.run, total.refused);
    failures.result()
}
