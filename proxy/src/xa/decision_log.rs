//! The coordinator's decision log: an append-only file in `state_dir` that says which XA
//! transactions were decided to commit.
//!
//! Layout, one record a line: a header `myshard-xa-decisions v1 proxy=<id>`, then
//! `commit <gtrid> <group>,<group>…` (written and fsynced before any branch is committed)
//! and `done <gtrid>` (every branch finished; not fsynced: losing it only makes recovery
//! commit again a branch that is already gone). A transaction with a `commit` record and no
//! `done` is pending. A line cut short by a crash (no newline at the end) is dropped when
//! the log is opened; a whole line that is not a record is an error, since the file was
//! then written by something else. A log written under another proxy identity is refused:
//! its decisions belong to that proxy's transactions.
//!
//! Compaction: once no transaction is pending and enough records have accumulated, the
//! file is cut back to its header.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The log's file name inside `state_dir`.
pub const FILE_NAME: &str = "xa-decisions.log";

/// The first line's fixed part.
const MAGIC: &str = "myshard-xa-decisions v1 proxy=";

/// Records after which a log with nothing pending is compacted.
pub const COMPACT_AFTER: usize = 256;

/// An open decision log.
#[derive(Debug)]
pub struct DecisionLog {
    file: File,
    path: PathBuf,
    header_len: u64,
    /// Transactions decided to commit and not yet done: gtrid → groups.
    pending: BTreeMap<String, Vec<String>>,
    /// Records written since the last compaction (or found at open).
    records: usize,
    /// Records after which an idle log is compacted.
    compact_after: usize,
}

fn invalid(path: &Path, why: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("XA decision log {}: {why}", path.display()),
    )
}

impl DecisionLog {
    /// Opens (or creates) the log of proxy `proxy_id` in directory `dir`.
    pub fn open(dir: &Path, proxy_id: &str) -> io::Result<DecisionLog> {
        Self::open_with(dir, proxy_id, COMPACT_AFTER)
    }

    /// [`DecisionLog::open`] with another compaction threshold.
    pub fn open_with(dir: &Path, proxy_id: &str, compact_after: usize) -> io::Result<DecisionLog> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let mut text = Vec::new();
        file.read_to_end(&mut text)?;
        let header = format!("{MAGIC}{proxy_id}\n");
        // Whole lines only: a tail without its newline was cut by a crash.
        let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let mut log = DecisionLog {
            file,
            path,
            header_len: header.len() as u64,
            pending: BTreeMap::new(),
            records: 0,
            compact_after,
        };
        if whole == 0 {
            // New, or its header was cut short: start afresh.
            log.file.set_len(0)?;
            log.file.write_all(header.as_bytes())?;
            log.file.sync_all()?;
            sync_dir(dir);
            return Ok(log);
        }
        let total = text.len();
        let text = String::from_utf8_lossy(&text[..whole]).into_owned();
        let mut lines = text.lines();
        let first = lines.next().unwrap_or("");
        match first.strip_prefix(MAGIC) {
            Some(id) if id == proxy_id => {}
            Some(id) => {
                return Err(invalid(
                    &log.path,
                    format!(
                        "written by proxy `{id}`, this proxy is `{proxy_id}` (its decisions \
                         belong to that proxy; give each proxy its own state_dir)"
                    ),
                ));
            }
            None => return Err(invalid(&log.path, "not a decision log".into())),
        }
        for (n, line) in lines.enumerate() {
            log.records += 1;
            let mut parts = line.split(' ');
            match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some("commit"), Some(gtrid), Some(groups), None) if !gtrid.is_empty() => {
                    let groups = groups.split(',').map(str::to_string).collect();
                    log.pending.insert(gtrid.to_string(), groups);
                }
                (Some("done"), Some(gtrid), None, None) => {
                    log.pending.remove(gtrid);
                }
                _ => {
                    return Err(invalid(
                        &log.path,
                        format!("line {} is not a record: {line:?}", n + 2),
                    ));
                }
            }
        }
        if whole < total {
            log.file.set_len(whole as u64)?;
            log.file.sync_all()?;
        }
        Ok(log)
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records that transaction `gtrid` (branches on `groups`) commits; returns once the
    /// record is on disk.
    pub fn commit(&mut self, gtrid: &str, groups: &[&str]) -> io::Result<()> {
        self.append_commit(gtrid, groups)?;
        self.file.sync_data()
    }

    /// Writes the commit record of `gtrid` without waiting for the disk: the caller makes
    /// it durable with an fsync of [`DecisionLog::sync_handle`] before any branch commits
    /// (several committers share one fsync, see `Coordinator::log_commit`). The
    /// transaction counts as pending from now on, so compaction keeps its record.
    pub fn append_commit(&mut self, gtrid: &str, groups: &[&str]) -> io::Result<()> {
        let line = format!("commit {gtrid} {}\n", groups.join(","));
        self.file.write_all(line.as_bytes())?;
        self.records += 1;
        self.pending.insert(
            gtrid.to_string(),
            groups.iter().map(|g| g.to_string()).collect(),
        );
        Ok(())
    }

    /// Forgets the decision on `gtrid` whose record could not be made durable (its
    /// branches roll back; a record that reached the disk anyway finds nothing to commit).
    pub fn forget(&mut self, gtrid: &str) {
        self.pending.remove(gtrid);
    }

    /// A second handle on the log's file, to fsync it without holding the log.
    pub fn sync_handle(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// Records that every branch of `gtrid` finished; compacts the log when nothing is
    /// pending any more and enough records accumulated.
    pub fn done(&mut self, gtrid: &str) -> io::Result<()> {
        self.file.write_all(format!("done {gtrid}\n").as_bytes())?;
        self.records += 1;
        self.pending.remove(gtrid);
        if self.pending.is_empty() && self.records >= self.compact_after {
            self.file.set_len(self.header_len)?;
            self.file.sync_data()?;
            self.records = 0;
        }
        Ok(())
    }

    /// Whether `gtrid` was decided to commit and is not done.
    pub fn is_pending(&self, gtrid: &str) -> bool {
        self.pending.contains_key(gtrid)
    }

    /// The transactions decided to commit and not done, with their groups.
    pub fn pending(&self) -> &BTreeMap<String, Vec<String>> {
        &self.pending
    }
}

/// Makes a new file's directory entry durable (best effort: not every file system allows
/// opening a directory).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("myshard-xa-log-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn pending_decisions_survive_reopening() -> io::Result<()> {
        let d = dir("reopen");
        let mut log = DecisionLog::open(&d, "p1")?;
        log.commit("myshard:p1:1-1", &["g0", "g1"])?;
        log.commit("myshard:p1:1-2", &["g0", "g1"])?;
        log.done("myshard:p1:1-1")?;
        drop(log);
        let log = DecisionLog::open(&d, "p1")?;
        assert!(!log.is_pending("myshard:p1:1-1"));
        assert!(log.is_pending("myshard:p1:1-2"));
        assert_eq!(log.pending()["myshard:p1:1-2"], ["g0", "g1"]);
        Ok(())
    }

    #[test]
    fn torn_tail_is_dropped() -> io::Result<()> {
        let d = dir("torn");
        let mut log = DecisionLog::open(&d, "p1")?;
        log.commit("myshard:p1:1-1", &["g0", "g1"])?;
        drop(log);
        // A crash in the middle of the next record.
        let mut f = OpenOptions::new().append(true).open(d.join(FILE_NAME))?;
        f.write_all(b"commit myshard:p1:1-")?;
        drop(f);
        let mut log = DecisionLog::open(&d, "p1")?;
        assert_eq!(log.pending().len(), 1);
        log.commit("myshard:p1:1-3", &["g1"])?;
        drop(log);
        let log = DecisionLog::open(&d, "p1")?;
        assert!(log.is_pending("myshard:p1:1-3"));
        assert_eq!(log.pending().len(), 2);
        Ok(())
    }

    #[test]
    fn another_proxys_log_is_refused() -> io::Result<()> {
        let d = dir("other");
        DecisionLog::open(&d, "p1")?.commit("myshard:p1:1-1", &["g0"])?;
        let err = DecisionLog::open(&d, "p2").err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains("written by proxy `p1`"), "{err}");
        // Garbage in the middle is refused too.
        std::fs::write(d.join(FILE_NAME), format!("{MAGIC}p1\nhello\ndone x\n"))?;
        let err = DecisionLog::open(&d, "p1").err().map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("line 2 is not a record"));
        Ok(())
    }

    #[test]
    fn compacted_when_nothing_is_pending() -> io::Result<()> {
        let d = dir("compact");
        let mut log = DecisionLog::open_with(&d, "p1", 4)?;
        let header = std::fs::metadata(d.join(FILE_NAME))?.len();
        log.commit("a", &["g0", "g1"])?;
        log.commit("b", &["g0", "g1"])?;
        log.done("a")?;
        // Four records, but `b` is pending: kept.
        log.done("x")?;
        assert!(std::fs::metadata(d.join(FILE_NAME))?.len() > header);
        log.done("b")?;
        assert_eq!(std::fs::metadata(d.join(FILE_NAME))?.len(), header);
        log.commit("c", &["g0"])?;
        drop(log);
        let log = DecisionLog::open(&d, "p1")?;
        assert_eq!(log.pending().keys().collect::<Vec<_>>(), ["c"]);
        Ok(())
    }
}
