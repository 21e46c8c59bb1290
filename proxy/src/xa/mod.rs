//! The coordinator of transactions across groups in `xa` mode: the transaction ids it
//! hands out, its decision log, and the fault points tests crash it at.
//!
//! A transaction id (gtrid) is `myshard.<proxy_id>.<start>.<n>`: the proxy's identity, the
//! proxy's start time (milliseconds, hex) and a counter, so that ids never repeat across
//! restarts and recovery can tell this proxy's branches from anyone else's. Each group's
//! branch has the group's name as its bqual. Sessions drive the protocol (see
//! `session/xa.rs`); this module owns only what is shared between them.

pub mod decision_log;
pub mod group_sync;
pub mod recovery;

use decision_log::DecisionLog;
use group_sync::GroupSync;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

/// The prefix of every gtrid a myshard proxy creates.
pub const GTRID_PREFIX: &str = "myshard.";

/// A point of the commit protocol where a test makes the proxy "crash": the session drops
/// its backend connections without another word and closes the client connection without
/// an answer, and every later commit of this proxy does the same (a dead process commits
/// nothing). Prepared branches stay prepared on the servers, as after a real crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Fault {
    /// After every branch is prepared, before the decision is logged.
    AfterPrepare = 1,
    /// After the decision is logged, before any branch is committed; in `best_effort`
    /// mode, after the first group committed, before the next.
    AfterDecision = 2,
}

/// What the proxy's sessions share for transactions across groups.
#[derive(Debug)]
pub struct Coordinator {
    proxy_id: String,
    /// Hex milliseconds since the epoch when the proxy started.
    start: String,
    next: AtomicU64,
    log: Mutex<Option<DecisionLog>>,
    /// The fsyncs of the log's commit records, shared between concurrent committers.
    syncs: GroupSync,
    fault: AtomicU8,
    crashed: AtomicBool,
    /// Transactions a session of this process is committing (recovery leaves them alone).
    active: Mutex<HashSet<String>>,
    /// Run once after the next logged decision, before any branch commits (for tests).
    decision_hook: Mutex<Option<DecisionHook>>,
}

/// A test's action at the moment between the decision and the commits.
pub struct DecisionHook(Box<dyn FnOnce() + Send>);

impl std::fmt::Debug for DecisionHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DecisionHook")
    }
}

impl Coordinator {
    /// The coordinator of proxy `proxy_id` (no decision log until [`Coordinator::open_log`]).
    pub fn new(proxy_id: &str) -> Coordinator {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Coordinator {
            proxy_id: proxy_id.to_string(),
            start: format!("{millis:x}"),
            next: AtomicU64::new(1),
            log: Mutex::new(None),
            syncs: GroupSync::default(),
            fault: AtomicU8::new(0),
            crashed: AtomicBool::new(false),
            active: Mutex::new(HashSet::new()),
            decision_hook: Mutex::new(None),
        }
    }

    /// Opens the decision log in `state_dir` (refused when it belongs to another proxy).
    pub fn open_log(&self, state_dir: &Path) -> std::io::Result<()> {
        let log = DecisionLog::open(state_dir, &self.proxy_id)?;
        if let Ok(mut slot) = self.log.lock() {
            *slot = Some(log);
        }
        Ok(())
    }

    /// Whether a decision log is open (the `xa` mode needs one).
    pub fn has_log(&self) -> bool {
        self.log.lock().is_ok_and(|l| l.is_some())
    }

    /// A fresh transaction id.
    pub fn new_gtrid(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{GTRID_PREFIX}{}.{}.{n}", self.proxy_id, self.start)
    }

    /// Whether `gtrid` was created by a proxy with this identity.
    pub fn owns(&self, gtrid: &str) -> bool {
        gtrid
            .strip_prefix(GTRID_PREFIX)
            .and_then(|rest| rest.strip_prefix(self.proxy_id.as_str()))
            .is_some_and(|rest| rest.starts_with('.'))
    }

    /// Logs the decision to commit `gtrid` on `groups`, durably. Blocks on the disk: call
    /// it off the async workers (see [`Coordinator::log_commit_async`]).
    ///
    /// Group commit: the record is written under the log's lock, the fsync outside it.
    /// The first committer to reach the fsync leads: it fsyncs once for every record
    /// written so far while the others wait for it; a record written during that fsync
    /// waits for the next one, led by one of its writers.
    pub(crate) fn log_commit(&self, gtrid: &str, groups: &[&str]) -> std::io::Result<()> {
        let (seq, file) = {
            let mut log = self
                .log
                .lock()
                .map_err(|_| std::io::Error::other("decision log lock poisoned"))?;
            let Some(log) = log.as_mut() else {
                return Err(std::io::Error::other("no decision log (state_dir not set)"));
            };
            let file = log.sync_handle()?;
            log.append_commit(gtrid, groups)?;
            (self.syncs.record_written(), file)
        };
        let r = self.syncs.sync_through(seq, &file);
        if r.is_err()
            && let Ok(mut log) = self.log.lock()
            && let Some(log) = log.as_mut()
        {
            log.forget(gtrid);
        }
        r
    }

    /// [`Coordinator::log_commit`] on a blocking thread.
    pub(crate) async fn log_commit_async(
        shared: &std::sync::Arc<crate::server::Shared>,
        gtrid: &str,
        groups: &[&str],
    ) -> std::io::Result<()> {
        let shared = shared.clone();
        let gtrid = gtrid.to_string();
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
            shared.xa.log_commit(&gtrid, &groups)
        })
        .await
        .map_err(|e| std::io::Error::other(format!("decision log writer failed: {e}")))?
    }

    /// How many fsyncs of the decision log made commit records durable (for tests and
    /// benchmarks: fewer than the records when committers shared them).
    pub fn decision_fsyncs(&self) -> u64 {
        self.syncs.fsyncs()
    }

    /// Logs that every branch of `gtrid` finished.
    pub(crate) fn log_done(&self, gtrid: &str) -> std::io::Result<()> {
        let mut log = self
            .log
            .lock()
            .map_err(|_| std::io::Error::other("decision log lock poisoned"))?;
        match log.as_mut() {
            Some(log) => log.done(gtrid),
            None => Ok(()),
        }
    }

    /// Whether the log holds a commit decision for `gtrid` not yet done.
    pub fn decided_commit(&self, gtrid: &str) -> bool {
        self.log
            .lock()
            .is_ok_and(|l| l.as_ref().is_some_and(|l| l.is_pending(gtrid)))
    }

    /// The transactions decided to commit and not done.
    pub fn pending(&self) -> Vec<String> {
        self.log.lock().map_or_else(
            |_| Vec::new(),
            |l| {
                l.as_ref()
                    .map_or_else(Vec::new, |l| l.pending().keys().cloned().collect())
            },
        )
    }

    /// Marks `gtrid` as driven by a session of this process (`true`) or no longer.
    pub(crate) fn set_active(&self, gtrid: &str, active: bool) {
        if let Ok(mut a) = self.active.lock() {
            if active {
                a.insert(gtrid.to_string());
            } else {
                a.remove(gtrid);
            }
        }
    }

    /// Whether a session of this process is committing `gtrid`.
    pub fn is_active(&self, gtrid: &str) -> bool {
        self.active.lock().is_ok_and(|a| a.contains(gtrid))
    }

    /// Runs `hook` once, after the next decision is logged and before its branches commit
    /// (a test kills a backend there).
    pub fn on_next_decision(&self, hook: impl FnOnce() + Send + 'static) {
        if let Ok(mut h) = self.decision_hook.lock() {
            *h = Some(DecisionHook(Box::new(hook)));
        }
    }

    /// Runs the hook set by [`Coordinator::on_next_decision`], if any.
    pub(crate) fn decided(&self) {
        let hook = self.decision_hook.lock().ok().and_then(|mut h| h.take());
        if let Some(DecisionHook(hook)) = hook {
            hook();
        }
    }

    /// Arms `fault`: the next commit reaching it crashes the proxy (for tests).
    pub fn arm_fault(&self, fault: Fault) {
        self.fault.store(fault as u8, Ordering::SeqCst);
    }

    /// Whether the commit protocol crashes at `at`: the armed fault fired there now, or
    /// the proxy crashed before.
    pub(crate) fn crashes_at(&self, at: Fault) -> bool {
        if self.crashed.load(Ordering::SeqCst) {
            return true;
        }
        let fired = self
            .fault
            .compare_exchange(at as u8, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        if fired {
            tracing::warn!(?at, "XA fault injected: the proxy crashes");
            self.crashed.store(true, Ordering::SeqCst);
        }
        fired
    }

    /// Whether an injected fault crashed the proxy.
    pub fn crashed(&self) -> bool {
        self.crashed.load(Ordering::SeqCst)
    }
}

/// The xid of `group`'s branch of `gtrid`, as XA statements take it.
pub fn branch_xid(gtrid: &str, group: &str) -> String {
    format!("'{}','{}'", quote(gtrid), quote(group))
}

/// A string's text inside single quotes.
fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "''")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtrids_are_unique_and_recognisable() {
        let c = Coordinator::new("p-1");
        let a = c.new_gtrid();
        let b = c.new_gtrid();
        assert_ne!(a, b);
        assert!(a.starts_with("myshard.p-1."), "{a}");
        assert!(c.owns(&a));
        assert!(!Coordinator::new("p").owns(&a));
        assert!(!c.owns("other.p-1.1.1"));
        // The longest identity still fits the 64 bytes of a gtrid.
        let long = "x".repeat(myshard_config::MAX_PROXY_ID_CHARS);
        let c = Coordinator::new(&long);
        c.next.store(u64::MAX, Ordering::Relaxed);
        assert!(c.new_gtrid().len() <= 64);
        assert_eq!(branch_xid("g'1", "grp"), "'g''1','grp'");
    }

    #[test]
    fn a_fault_fires_once_then_every_commit_crashes() {
        let c = Coordinator::new("p");
        assert!(!c.crashes_at(Fault::AfterPrepare));
        c.arm_fault(Fault::AfterDecision);
        assert!(!c.crashes_at(Fault::AfterPrepare));
        assert!(c.crashes_at(Fault::AfterDecision));
        assert!(c.crashes_at(Fault::AfterPrepare));
        assert!(c.crashed());
    }
}

/// Decision-log commits per second from 8 threads, each record fsynced alone under the
/// log's lock versus shared fsyncs (`cargo test -p myshard-proxy decision_log_commit_rate
/// -- --ignored --nocapture`, run by bench/xa.sh).
#[cfg(test)]
mod group_commit_bench {
    use super::*;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    const THREADS: usize = 8;
    const SECS: u64 = 3;

    fn rate(commit: impl Fn(&str) -> std::io::Result<()> + Send + Sync + 'static) -> f64 {
        let commit = Arc::new(commit);
        let deadline = Instant::now() + Duration::from_secs(SECS);
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let commit = commit.clone();
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        if commit(&format!("g.{t}.{n}")).is_err() {
                            break;
                        }
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let total: u64 = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
        total as f64 / SECS as f64
    }

    #[test]
    #[ignore = "a measurement, run by bench/xa.sh"]
    fn decision_log_commit_rate() -> std::io::Result<()> {
        let dir = tempfile_dir("rate")?;
        let serial = Arc::new(Mutex::new(DecisionLog::open(&dir.join("serial"), "p")?));
        let one_by_one = rate(move |g| match serial.lock() {
            Ok(mut log) => log.commit(g, &["g0", "g1"]),
            Err(_) => Err(std::io::Error::other("poisoned")),
        });
        let coordinator = Arc::new(Coordinator::new("p"));
        coordinator.open_log(&dir.join("group"))?;
        let c = coordinator.clone();
        let grouped = rate(move |g| c.log_commit(g, &["g0", "g1"]));
        println!(
            "decision log, {THREADS} threads: one fsync per commit {one_by_one:.0} commits/s; \
             group commit {grouped:.0} commits/s ({} fsyncs for {:.0} commits)",
            coordinator.decision_fsyncs(),
            grouped * SECS as f64
        );
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    fn tempfile_dir(name: &str) -> std::io::Result<std::path::PathBuf> {
        let d = std::env::temp_dir().join(format!("myshard-xa-rate-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d)?;
        Ok(d)
    }
}
