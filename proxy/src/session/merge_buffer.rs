//! The bound on what an ordered merge buffers (`merge.max_buffered_bytes`).
//!
//! Inside a transaction or a pinned session a statement has one backend connection per
//! group, so the shards of a group run one after the other on it. An ORDER BY merge needs
//! the first row of every shard before it can send anything, so the rows of a shard with
//! another queued behind it on the same connection are buffered until the merge takes
//! them. Exact streaming would need the shards' results open at once on one connection,
//! which the text protocol cannot do; instead the bytes so buffered by one statement are
//! counted, and a statement that needs more than the limit fails with MySQL's "Out of sort
//! memory" (1038/HY001) naming the setting, instead of taking unbounded proxy memory.

use crate::error::SqlError;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The errno of a merge that outgrew its buffer (MySQL's "Out of sort memory").
pub(super) const MERGE_BUFFER_EXCEEDED: u16 = 1038;

/// What one buffered row costs beyond its payload (the payload's vector and the channel's
/// slot), so that many tiny rows count too.
const ROW_OVERHEAD: usize = 64;

/// One statement's allowance of buffered row bytes, shared by its shard readers (which take)
/// and the merge (which gives back as it consumes rows).
#[derive(Debug)]
pub(super) struct MergeBuffer {
    used: AtomicUsize,
    limit: usize,
    /// A row did not fit: the statement fails.
    overflowed: AtomicBool,
}

impl MergeBuffer {
    /// An allowance of `limit` bytes.
    pub(super) fn new(limit: usize) -> Self {
        MergeBuffer {
            used: AtomicUsize::new(0),
            limit,
            overflowed: AtomicBool::new(false),
        }
    }

    /// Counts a row about to be buffered; false (nothing counted) if it does not fit.
    pub(super) fn take(&self, payload: &[u8]) -> bool {
        let n = payload.len().saturating_add(ROW_OVERHEAD);
        let before = self.used.fetch_add(n, Ordering::AcqRel);
        if before.saturating_add(n) > self.limit {
            self.used.fetch_sub(n, Ordering::AcqRel);
            self.overflowed.store(true, Ordering::Release);
            return false;
        }
        true
    }

    /// Whether a row did not fit (the statement fails).
    pub(super) fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Acquire)
    }

    /// Gives back a row taken out of the buffer.
    pub(super) fn give(&self, payload: &[u8]) {
        let n = payload.len().saturating_add(ROW_OVERHEAD);
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    /// The statement's error once the allowance is exhausted.
    pub(super) fn exceeded(&self) -> SqlError {
        SqlError::new(
            MERGE_BUFFER_EXCEEDED,
            b"HY001",
            format!(
                "Out of sort memory: an ORDER BY merged across shards inside a transaction or pinned session needs to buffer more than {} bytes of rows of shards queued on one backend connection (merge.max_buffered_bytes); add a LIMIT or a narrower condition, or raise merge.max_buffered_bytes",
                self.limit
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_up_to_the_limit_and_gets_room_back() {
        let b = MergeBuffer::new(2 * (10 + ROW_OVERHEAD));
        let row = [0u8; 10];
        assert!(b.take(&row));
        assert!(b.take(&row));
        assert!(!b.overflowed());
        assert!(!b.take(&row), "a third row fits in room for two");
        assert!(b.overflowed());
        b.give(&row);
        assert!(b.take(&row), "room given back is usable");
        let e = b.exceeded();
        assert_eq!((e.code, &e.state), (1038, b"HY001"));
        assert!(e.message.contains("merge.max_buffered_bytes"));
    }
}
