//! Which host of a group takes an autocommit read: the group's read policy and a weighted
//! rotation over its read hosts, computed once when the routing table is built so that
//! choosing costs one atomic increment and no allocation per statement.
//!
//! The rotation is a list of slots, each naming a candidate host, in which every host
//! appears as often as its weight and the appearances are spread evenly (smooth weighted
//! round robin, precomputed). A pick takes the next slot; a host that does not serve (down,
//! catching up, draining, fenced) is skipped and its turn goes to the next slot's host.
//! Only the group's configuration is read here ([`ReadRotation::of`]), nowhere else.

use super::host::Host;
use myshard_config::{Group, ReadPolicy};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// At most this many slots: larger weight sums are scaled down (keeping every host at
/// least one slot), so a rotation stays small whatever weights are configured.
const MAX_SLOTS: u64 = 4096;

/// The read policy and weighted rotation of one group.
#[derive(Debug, Default)]
pub struct ReadRotation {
    /// Where reads may go.
    pub policy: ReadPolicy,
    /// The candidate hosts (read hosts of non-zero weight, and the write host under
    /// [`ReadPolicy::All`]).
    hosts: Vec<Arc<Host>>,
    /// Indexes into `hosts`, each host as often as its weight, interleaved.
    slots: Vec<u16>,
    /// The next slot (shared by the sessions; wraps).
    next: AtomicUsize,
}

impl ReadRotation {
    /// The rotation of `group` over `reads` (its read hosts, in configuration order) and
    /// `write` (its active write host).
    pub fn of(group: &Group, reads: &[Arc<Host>], write: Option<&Arc<Host>>) -> ReadRotation {
        let policy = group.read_policy;
        let mut weighted: Vec<(Arc<Host>, u64)> = Vec::new();
        if policy != ReadPolicy::Primary {
            for (read, host) in group.read_hosts.iter().zip(reads) {
                let w = read.weight;
                if w > 0 && !weighted.iter().any(|(h, _)| h.id() == host.id()) {
                    weighted.push((host.clone(), u64::from(w)));
                }
            }
        }
        if policy == ReadPolicy::All
            && let Some(w) = write
            && !weighted.iter().any(|(h, _)| h.id() == w.id())
        {
            weighted.push((w.clone(), 1));
        }
        weighted.truncate(usize::from(u16::MAX));
        let weights: Vec<u64> = weighted.iter().map(|(_, w)| *w).collect();
        ReadRotation {
            policy,
            hosts: weighted.into_iter().map(|(h, _)| h).collect(),
            slots: smooth_slots(&weights),
            next: AtomicUsize::new(0),
        }
    }

    /// The next serving candidate other than the host `except` (by id), if any.
    pub fn pick(&self, except: Option<u64>) -> Option<&Arc<Host>> {
        let n = self.slots.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n).find_map(|i| {
            let host = &self.hosts[usize::from(self.slots[(start.wrapping_add(i)) % n])];
            (Some(host.id()) != except && host.state().serves()).then_some(host)
        })
    }

    /// Whether the write host takes reads when no candidate serves.
    pub fn falls_back_to_write_host(&self) -> bool {
        matches!(
            self.policy,
            ReadPolicy::Primary | ReadPolicy::ReplicasThenPrimary | ReadPolicy::All
        )
    }
}

/// Slots for hosts of `weights`: each index as often as its (scaled) weight, spread by
/// smooth weighted round robin (each step every host gains its weight, the richest is
/// chosen and pays the total).
fn smooth_slots(weights: &[u64]) -> Vec<u16> {
    let divisor = weights.iter().fold(0, |g, &w| gcd(g, w)).max(1);
    let mut scaled: Vec<u64> = weights.iter().map(|w| w / divisor).collect();
    let total: u64 = scaled.iter().sum();
    if total > MAX_SLOTS {
        for w in &mut scaled {
            *w = (*w * MAX_SLOTS / total).max(1);
        }
    }
    let total: u64 = scaled.iter().sum();
    let mut credit = vec![0i64; scaled.len()];
    let mut slots = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for _ in 0..total {
        let mut best = 0;
        for (i, w) in scaled.iter().enumerate() {
            credit[i] += i64::try_from(*w).unwrap_or(i64::MAX);
            if credit[i] > credit[best] {
                best = i;
            }
        }
        credit[best] -= i64::try_from(total).unwrap_or(i64::MAX);
        slots.push(u16::try_from(best).unwrap_or(0));
    }
    slots
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::smooth_slots;

    #[test]
    fn slots_follow_weights_and_interleave() {
        let slots = smooth_slots(&[2, 1]);
        assert_eq!(slots.len(), 3);
        assert_eq!(slots.iter().filter(|&&s| s == 0).count(), 2);
        let slots = smooth_slots(&[5, 1, 1]);
        assert_eq!(slots.len(), 7);
        // The heavy host never takes more than its share in a row.
        assert!(slots.windows(4).all(|w| w.iter().any(|&s| s != 0)));
        assert_eq!(smooth_slots(&[4, 4]), vec![0, 1]);
        assert!(smooth_slots(&[]).is_empty());
    }

    #[test]
    fn large_weights_are_scaled_down() {
        let slots = smooth_slots(&[1_000_000, 3, 1]);
        assert!(slots.len() as u64 <= super::MAX_SLOTS + 2);
        assert!(slots.contains(&1) && slots.contains(&2));
    }
}
