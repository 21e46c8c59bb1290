//! Replica lag measured from GTID positions, for when the server cannot say: MariaDB reports
//! `Seconds_Behind_Master` as NULL while a replica's SQL thread is stopped, although the
//! replica falls further behind with every write on the primary.
//!
//! The monitor remembers when it first saw the group's primary at each GTID position (its
//! write host's heartbeats). A replica whose applied position (`gtid_slave_pos`) has not
//! reached the primary's position first seen at time T lags at least now − T. The bound is
//! conservative: the primary reached that position before its heartbeat saw it.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Primary positions kept per group; beyond, the second oldest is dropped (the oldest one
/// not yet reached gives the largest bound, so it stays).
const POSITIONS_KEPT: usize = 1024;

/// A parsed GTID position: `(domain, sequence number)` per domain.
type Position = Vec<(u32, u64)>;

/// A GTID position as `(domain, sequence number)` per domain (the server id does not order
/// transactions, so it is left out). Malformed parts are skipped.
pub fn parse_position(pos: &str) -> Position {
    pos.split(',')
        .filter_map(|gtid| {
            let mut parts = gtid.trim().split('-');
            let domain = parts.next()?.parse().ok()?;
            let _server = parts.next()?;
            let seq = parts.next()?.parse().ok()?;
            Some((domain, seq))
        })
        .collect()
}

/// Whether `applied` contains `target`: for every domain of `target`, `applied` has that
/// domain at the same sequence number or later.
pub fn reached(applied: &[(u32, u64)], target: &[(u32, u64)]) -> bool {
    target
        .iter()
        .all(|(domain, seq)| applied.iter().any(|(d, s)| d == domain && s >= seq))
}

/// How far a replica is behind its primary, by GTID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GtidLag {
    /// At least this long (zero when it has applied every position seen).
    pub lag: Duration,
    /// The oldest primary position it has not applied, if any.
    pub behind: Option<String>,
}

/// The positions the primary of one group was seen at, and when first.
#[derive(Debug, Default)]
pub struct PrimaryPositions {
    /// (position as the server wrote it, parsed, first seen), oldest first.
    seen: VecDeque<(String, Position, Instant)>,
    /// Each replica's last applied position, to forget positions every replica has.
    replicas: HashMap<String, Position>,
}

impl PrimaryPositions {
    /// The primary was seen at `pos` at `now`.
    pub fn note_primary(&mut self, pos: &str, now: Instant) {
        if self.seen.back().is_some_and(|(last, _, _)| last == pos) {
            return;
        }
        let parsed = parse_position(pos);
        self.seen.push_back((pos.to_owned(), parsed, now));
        if self.seen.len() > POSITIONS_KEPT {
            self.seen.remove(1);
        }
        self.forget_applied();
    }

    /// Whether the primary was seen at all (lag can be measured).
    pub fn known(&self) -> bool {
        !self.seen.is_empty()
    }

    /// The lag of replica `addr` that has applied `applied` at `now`.
    pub fn lag_of(&mut self, addr: &str, applied: &str, now: Instant) -> GtidLag {
        let applied = parse_position(applied);
        let behind = self
            .seen
            .iter()
            .find(|(_, target, _)| !reached(&applied, target));
        let lag = match behind {
            Some((pos, _, since)) => GtidLag {
                lag: now.saturating_duration_since(*since),
                behind: Some(pos.clone()),
            },
            None => GtidLag {
                lag: Duration::ZERO,
                behind: None,
            },
        };
        self.replicas.insert(addr.to_owned(), applied);
        lag
    }

    /// Drops the oldest positions every replica has applied, keeping the newest one.
    fn forget_applied(&mut self) {
        while self.seen.len() > 1
            && !self.replicas.is_empty()
            && self
                .replicas
                .values()
                .all(|applied| reached(applied, &self.seen[0].1))
        {
            self.seen.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_compare_per_domain() {
        let p = parse_position("7-1-12,0-3-4");
        assert_eq!(p, [(7, 12), (0, 4)]);
        assert!(reached(&p, &parse_position("7-2-12")));
        assert!(!reached(&p, &parse_position("7-1-13")));
        assert!(!reached(&p, &parse_position("8-1-1")));
        assert!(reached(&p, &parse_position("")));
        assert!(parse_position("garbage,7-1").is_empty());
    }

    #[test]
    fn a_replica_lags_since_the_primary_was_first_seen_past_it() {
        let t0 = Instant::now();
        let mut p = PrimaryPositions::default();
        p.note_primary("7-1-5", t0);
        p.note_primary("7-1-6", t0 + Duration::from_secs(1));
        p.note_primary("7-1-6", t0 + Duration::from_secs(2));
        p.note_primary("7-1-9", t0 + Duration::from_secs(3));
        let at = t0 + Duration::from_secs(10);
        assert_eq!(
            p.lag_of("r1", "7-1-5", at),
            GtidLag {
                lag: Duration::from_secs(9),
                behind: Some("7-1-6".into())
            }
        );
        assert_eq!(p.lag_of("r2", "7-1-9", at).lag, Duration::ZERO);
        // r1 still needs 7-1-6; once it has it, positions both have are forgotten.
        p.note_primary("7-1-10", at);
        assert_eq!(p.seen.len(), 3);
        assert_eq!(
            p.lag_of("r1", "7-1-9", at).behind.as_deref(),
            Some("7-1-10")
        );
        p.note_primary("7-1-11", at);
        assert_eq!(p.seen.len(), 2);
    }

    #[test]
    fn the_oldest_position_survives_thinning() {
        let t0 = Instant::now();
        let mut p = PrimaryPositions::default();
        p.lag_of("r1", "7-1-0", t0);
        for i in 1..=(POSITIONS_KEPT as u64 + 10) {
            p.note_primary(&format!("7-1-{i}"), t0 + Duration::from_millis(i));
        }
        assert_eq!(p.seen.len(), POSITIONS_KEPT);
        let lag = p.lag_of("r1", "7-1-0", t0 + Duration::from_secs(5));
        assert_eq!(lag.lag, Duration::from_millis(4_999));
        assert_eq!(lag.behind.as_deref(), Some("7-1-1"));
    }
}
