//! The scale-out planner: the fewest shard moves that even out every sharded schema over
//! all configured groups (typically after empty groups were added), computed from the
//! current placement (configuration + `placement.json`). Pure: no I/O, deterministic.
//!
//! Per schema of `n` shards over `G` groups every group ends with `n / G` shards, and
//! `n % G` of them with one more. Which groups get the one more decides the number of
//! moves, so those slots go first to the groups already holding more than `n / G`; the
//! moves are then exactly the shards above each group's target. Where that choice is free
//! it is made so that the groups' totals over all schemas are as even as possible: a first
//! greedy choice, then slots shifted along chains of schemas from a group holding at least
//! two more than another until no such chain exists (which makes the totals the most even
//! the per-schema balance with the fewest moves allows).

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// One shard to move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Move {
    /// Logical schema.
    pub schema: String,
    /// Shard number.
    pub shard: u32,
    /// Group holding it now.
    pub from: String,
    /// Group it moves to.
    pub to: String,
}

/// The moves and the shards per group before and after them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The moves, by schema and shard.
    pub moves: Vec<Move>,
    /// Shards of every sharded schema per group now.
    pub before: BTreeMap<String, u32>,
    /// Shards per group after the moves.
    pub after: BTreeMap<String, u32>,
}

/// A sharded schema's current placement: the group of each shard, by shard number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaShards {
    /// Logical schema.
    pub schema: String,
    /// Group of shard 0, 1, ….
    pub groups: Vec<String>,
}

/// What one schema needs: base shards per group, the groups that must hold one more,
/// the groups among which the remaining "one more" slots may go, and how many.
struct Slots {
    base: u32,
    forced: Vec<usize>,
    candidates: Vec<usize>,
    free: usize,
}

fn slots_of(counts: &[u32], shards: u32) -> Slots {
    let g = counts.len() as u32;
    let (base, extra) = (shards / g, (shards % g) as usize);
    let above: Vec<usize> = (0..counts.len()).filter(|&i| counts[i] > base).collect();
    if above.len() >= extra {
        // More groups above the floor than slots: any `extra` of them keep one more.
        Slots {
            base,
            forced: Vec::new(),
            candidates: above,
            free: extra,
        }
    } else {
        let rest = (0..counts.len()).filter(|&i| counts[i] <= base).collect();
        Slots {
            base,
            free: extra - above.len(),
            forced: above,
            candidates: rest,
        }
    }
}

/// Plans the moves evening out `schemas` over `groups` (configuration order; a group
/// named by a shard but missing from `groups` is added after them).
pub fn plan(groups: &[String], schemas: &[SchemaShards]) -> Plan {
    let mut names: Vec<String> = groups.to_vec();
    for s in schemas {
        for g in &s.groups {
            if !names.contains(g) {
                names.push(g.clone());
            }
        }
    }
    let mut schemas: Vec<&SchemaShards> = schemas.iter().filter(|s| !s.groups.is_empty()).collect();
    schemas.sort_by(|a, b| a.schema.cmp(&b.schema));
    let index = |g: &str| names.iter().position(|n| n == g).unwrap_or(0);
    let mut plan = Plan::default();
    if names.is_empty() {
        return plan;
    }
    let counts: Vec<Vec<u32>> = schemas
        .iter()
        .map(|s| {
            let mut c = vec![0u32; names.len()];
            for g in &s.groups {
                c[index(g)] += 1;
            }
            c
        })
        .collect();
    let needs: Vec<Slots> = schemas
        .iter()
        .zip(&counts)
        .map(|(s, c)| slots_of(c, s.groups.len() as u32))
        .collect();
    // Totals per group from the bases and forced slots, then the free slots greedily.
    let mut totals = vec![0i64; names.len()];
    for n in &needs {
        for t in totals.iter_mut() {
            *t += i64::from(n.base);
        }
        for &g in &n.forced {
            totals[g] += 1;
        }
    }
    let mut chosen: Vec<Vec<bool>> = vec![vec![false; names.len()]; needs.len()];
    for (s, n) in needs.iter().enumerate() {
        let mut order = n.candidates.clone();
        order.sort_by_key(|&g| (totals[g], std::cmp::Reverse(counts[s][g]), g));
        for &g in order.iter().take(n.free) {
            chosen[s][g] = true;
            totals[g] += 1;
        }
    }
    while let Some(path) = improving_path(&needs, &chosen, &totals) {
        for (s, from, to) in path {
            chosen[s][from] = false;
            chosen[s][to] = true;
        }
        totals = vec![0; names.len()];
        for (s, n) in needs.iter().enumerate() {
            for (g, t) in totals.iter_mut().enumerate() {
                *t += i64::from(n.base) + i64::from(n.forced.contains(&g) || chosen[s][g]);
            }
        }
    }
    for (s, schema) in schemas.iter().enumerate() {
        let n = &needs[s];
        let target = |g: usize| n.base + u32::from(n.forced.contains(&g) || chosen[s][g]);
        // The highest-numbered shards above each group's target leave it.
        let mut leaving: Vec<(u32, usize)> = Vec::new();
        for (g, &count) in counts[s].iter().enumerate() {
            let surplus = count.saturating_sub(target(g)) as usize;
            let mut mine: Vec<u32> = (0..schema.groups.len() as u32)
                .filter(|&sh| index(&schema.groups[sh as usize]) == g)
                .collect();
            mine.reverse();
            leaving.extend(mine.into_iter().take(surplus).map(|sh| (sh, g)));
        }
        leaving.sort_unstable();
        let arriving = (0..names.len())
            .flat_map(|g| std::iter::repeat_n(g, target(g).saturating_sub(counts[s][g]) as usize));
        for ((shard, from), to) in leaving.into_iter().zip(arriving) {
            plan.moves.push(Move {
                schema: schema.schema.clone(),
                shard,
                from: names[from].clone(),
                to: names[to].clone(),
            });
        }
    }
    for (g, name) in names.iter().enumerate() {
        let before: u32 = counts.iter().map(|c| c[g]).sum();
        let out = plan.moves.iter().filter(|m| &m.from == name).count() as u32;
        let into = plan.moves.iter().filter(|m| &m.to == name).count() as u32;
        plan.before.insert(name.clone(), before);
        plan.after.insert(name.clone(), before - out + into);
    }
    plan
}

/// A chain of slot shifts `(schema, from group, to group)` lowering a group's total by one
/// and raising one at least two below it, if there is one (breadth first from the fullest
/// groups, so the first found is short and the result deterministic).
fn improving_path(
    needs: &[Slots],
    chosen: &[Vec<bool>],
    totals: &[i64],
) -> Option<Vec<(usize, usize, usize)>> {
    let groups = totals.len();
    let mut starts: Vec<usize> = (0..groups).collect();
    starts.sort_by_key(|&g| (std::cmp::Reverse(totals[g]), g));
    for start in starts {
        let mut came: Vec<Option<(usize, usize)>> = vec![None; groups];
        let mut seen = vec![false; groups];
        seen[start] = true;
        let mut queue = VecDeque::from([start]);
        while let Some(g) = queue.pop_front() {
            for (s, n) in needs.iter().enumerate() {
                if !chosen[s][g] {
                    continue;
                }
                for &h in &n.candidates {
                    if seen[h] || chosen[s][h] {
                        continue;
                    }
                    seen[h] = true;
                    came[h] = Some((s, g));
                    if totals[h] <= totals[start] - 2 {
                        let mut path = Vec::new();
                        let mut at = h;
                        while let Some((s, from)) = came[at] {
                            path.push((s, from, at));
                            at = from;
                        }
                        path.reverse();
                        return Some(path);
                    }
                    queue.push_back(h);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
