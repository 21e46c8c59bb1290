//! MariaDB GTID positions as the control plane compares them: a list of
//! `domain-server_id-seq_no` entries, at most one per domain (`@@gtid_slave_pos`,
//! `@@gtid_binlog_pos`, `Gtid_IO_Pos`), or several per domain (`@@gtid_binlog_state`, the
//! last GTID of every server that wrote in the domain).
//!
//! With `gtid_strict_mode=ON` sequence numbers only grow inside a domain, so two positions
//! of one history compare by `seq_no`; equal `seq_no` with different server ids means two
//! histories that split.

use std::collections::BTreeMap;
use std::fmt;

/// One global transaction id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Gtid {
    /// `gtid_domain_id` of the server that wrote it.
    pub domain: u32,
    /// `server_id` of the server that wrote it.
    pub server: u32,
    /// Its sequence number in the domain.
    pub seq: u64,
}

impl fmt::Display for Gtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.domain, self.server, self.seq)
    }
}

impl Gtid {
    /// Parses `domain-server-seq` (surrounding blanks allowed).
    pub fn parse(text: &str) -> Result<Gtid, String> {
        let bad = || format!("{text:?} is not a GTID (domain-server_id-seq_no)");
        let mut parts = text.trim().split('-');
        let (Some(domain), Some(server), Some(seq), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(Gtid {
            domain: domain.parse().map_err(|_| bad())?,
            server: server.parse().map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

/// A GTID position: at most one GTID per domain, the latest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GtidPos {
    by_domain: BTreeMap<u32, Gtid>,
}

impl GtidPos {
    /// Parses a comma-separated list as MariaDB prints it (empty: no transaction yet). When
    /// a domain appears twice (a `gtid_binlog_state`), the highest `seq_no` is kept.
    pub fn parse(text: &str) -> Result<GtidPos, String> {
        let mut pos = GtidPos::default();
        for gtid in parse_list(text)? {
            pos.raise(gtid);
        }
        Ok(pos)
    }

    /// The latest GTID of `domain`.
    pub fn get(&self, domain: u32) -> Option<Gtid> {
        self.by_domain.get(&domain).copied()
    }

    /// The sequence number reached in `domain` (0: none yet).
    pub fn seq(&self, domain: u32) -> u64 {
        self.get(domain).map_or(0, |g| g.seq)
    }

    /// Takes `gtid` when it is further than what `self` holds for its domain.
    pub fn raise(&mut self, gtid: Gtid) {
        let entry = self.by_domain.entry(gtid.domain).or_insert(gtid);
        if gtid.seq > entry.seq {
            *entry = gtid;
        }
    }

    /// The further of `self` and `other` in every domain.
    pub fn max(&self, other: &GtidPos) -> GtidPos {
        let mut out = self.clone();
        for gtid in other.by_domain.values() {
            out.raise(*gtid);
        }
        out
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.by_domain.is_empty()
    }
}

impl fmt::Display for GtidPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for gtid in self.by_domain.values() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{gtid}")?;
        }
        Ok(())
    }
}

/// Every GTID of a comma-separated list, in order (MariaDB may break the list after commas).
pub fn parse_list(text: &str) -> Result<Vec<Gtid>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Gtid::parse)
        .collect()
}

/// A binlog state: the last `seq_no` of every (domain, server id) pair that wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinlogState {
    last: BTreeMap<(u32, u32), u64>,
}

impl BinlogState {
    /// Parses `@@gtid_binlog_state`.
    pub fn parse(text: &str) -> Result<BinlogState, String> {
        let mut state = BinlogState::default();
        for gtid in parse_list(text)? {
            let seq = state.last.entry((gtid.domain, gtid.server)).or_insert(0);
            *seq = (*seq).max(gtid.seq);
        }
        Ok(state)
    }

    /// Whether `gtid` is part of this history: its server wrote up to at least its `seq_no`
    /// in its domain (a server writes a domain's transactions in order).
    pub fn contains(&self, gtid: Gtid) -> bool {
        self.last
            .get(&(gtid.domain, gtid.server))
            .is_some_and(|seq| *seq >= gtid.seq)
    }

    /// The last GTID of every pair of `domain`.
    pub fn in_domain(&self, domain: u32) -> impl Iterator<Item = Gtid> + '_ {
        self.last
            .iter()
            .filter(move |((d, _), _)| *d == domain)
            .map(|((domain, server), seq)| Gtid {
                domain: *domain,
                server: *server,
                seq: *seq,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_positions_and_keeps_the_latest_per_domain() -> Result<(), String> {
        let pos = GtidPos::parse("0-1-5,\n7-100-42")?;
        assert_eq!(pos.seq(7), 42);
        assert_eq!(pos.seq(3), 0);
        assert_eq!(pos.to_string(), "0-1-5,7-100-42");
        let state = GtidPos::parse("7-100-42,7-200-40")?;
        assert_eq!(state.get(7).map(|g| g.server), Some(100));
        assert!(GtidPos::parse("")?.is_empty());
        Ok(())
    }

    #[test]
    fn refuses_what_is_not_a_gtid() {
        for bad in ["7-100", "a-1-2", "1-2-3-4", "1--3"] {
            assert!(GtidPos::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn max_is_per_domain() -> Result<(), String> {
        let a = GtidPos::parse("1-1-10,2-1-3")?;
        let b = GtidPos::parse("1-2-8,2-2-9,3-1-1")?;
        assert_eq!(a.max(&b).to_string(), "1-1-10,2-2-9,3-1-1");
        Ok(())
    }

    #[test]
    fn binlog_state_knows_which_transactions_it_holds() -> Result<(), String> {
        let state = BinlogState::parse("7-100-42,7-200-45")?;
        assert!(state.contains(Gtid::parse("7-100-41")?));
        assert!(state.contains(Gtid::parse("7-200-45")?));
        assert!(!state.contains(Gtid::parse("7-100-43")?));
        assert!(!state.contains(Gtid::parse("7-300-1")?));
        assert_eq!(state.in_domain(7).count(), 2);
        Ok(())
    }
}
