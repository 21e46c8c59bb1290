//! Group commit of the decision log: concurrent committers share fsyncs.
//!
//! Each commit record gets a sequence number when it is written (under the log's lock, so
//! numbers follow the file's order). A committer then waits until an fsync that started
//! after its write has finished. Whoever finds no fsync running leads: it fsyncs once for
//! every record written so far and wakes the others; records written while it runs wait
//! for the next fsync. One disk flush thus covers as many decisions as arrived during the
//! previous one, instead of one flush per decision.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

/// The fsync state shared by the committers of one decision log.
#[derive(Debug, Default)]
pub struct GroupSync {
    /// Records written so far (the last one's sequence number).
    written: AtomicU64,
    state: Mutex<SyncState>,
    done: Condvar,
    /// Fsyncs run.
    fsyncs: AtomicU64,
}

#[derive(Debug, Default)]
struct SyncState {
    /// Every record up to this number is durable.
    synced: u64,
    /// An fsync is running.
    syncing: bool,
    /// The last failed fsync covered the records up to this number (they are reported
    /// failed: their transactions roll back).
    failed_through: u64,
}

impl GroupSync {
    /// Counts a record just written; returns its sequence number. Call under the log's
    /// lock, after the write.
    pub fn record_written(&self) -> u64 {
        self.written.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Fsyncs run so far.
    pub fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// Returns once record `seq` is on disk: fsyncs `file` itself when no fsync is
    /// running, waits for the running one otherwise. An error when the fsync that covered
    /// `seq` failed.
    pub fn sync_through(&self, seq: u64, file: &File) -> io::Result<()> {
        let poisoned = || io::Error::other("decision log sync state poisoned");
        let mut st = self.state.lock().map_err(|_| poisoned())?;
        loop {
            if st.synced >= seq {
                return Ok(());
            }
            if st.failed_through >= seq {
                return Err(io::Error::other(
                    "the fsync of the decision log failed (shared with other commits)",
                ));
            }
            if st.syncing {
                st = self.done.wait(st).map_err(|_| poisoned())?;
                continue;
            }
            // Lead: one fsync for everything written so far.
            st.syncing = true;
            let through = self.written.load(Ordering::SeqCst);
            drop(st);
            let r = file.sync_data();
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
            st = self.state.lock().map_err(|_| poisoned())?;
            st.syncing = false;
            match &r {
                Ok(()) => st.synced = st.synced.max(through),
                Err(_) => st.failed_through = st.failed_through.max(through),
            }
            self.done.notify_all();
            r?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;

    #[test]
    fn waiting_committers_share_an_fsync() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("myshard-group-sync-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("log");
        let file = Arc::new(File::create(&path)?);
        let sync = Arc::new(GroupSync::default());
        // Several records written before anyone syncs: the first committer's fsync
        // covers them all, the others find their record durable.
        let seqs: Vec<u64> = (0..5)
            .map(|i| {
                (&*file).write_all(format!("r{i}\n").as_bytes())?;
                Ok(sync.record_written())
            })
            .collect::<io::Result<_>>()?;
        let threads: Vec<_> = seqs
            .into_iter()
            .map(|seq| {
                let (file, sync) = (file.clone(), sync.clone());
                std::thread::spawn(move || sync.sync_through(seq, &file))
            })
            .collect();
        for t in threads {
            t.join()
                .map_err(|_| io::Error::other("thread panicked"))??;
        }
        assert_eq!(sync.fsyncs(), 1);
        // A record written later needs another fsync.
        (&*file).write_all(b"late\n")?;
        let seq = sync.record_written();
        sync.sync_through(seq, &file)?;
        assert_eq!(sync.fsyncs(), 2);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
