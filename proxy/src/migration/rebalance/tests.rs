//! The planner's properties: balanced per schema, the fewest moves (checked against every
//! possible per-schema target), the most even totals those allow (checked against every
//! combination), no move within a group, deterministic.

use super::*;
use proptest::prelude::*;

fn groups(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("g{i}")).collect()
}

fn schema(name: &str, on: &[usize]) -> SchemaShards {
    SchemaShards {
        schema: name.into(),
        groups: on.iter().map(|g| format!("g{g}")).collect(),
    }
}

/// Every per-group target of `shards` shards over `g` groups that is balanced.
fn balanced_targets(shards: u32, g: usize) -> Vec<Vec<u32>> {
    let (base, extra) = (shards / g as u32, shards as usize % g);
    (0u32..1 << g)
        .filter(|mask| mask.count_ones() as usize == extra)
        .map(|mask| (0..g).map(|i| base + (mask >> i & 1)).collect())
        .collect()
}

fn moves_to(counts: &[u32], target: &[u32]) -> u32 {
    counts
        .iter()
        .zip(target)
        .map(|(c, t)| c.saturating_sub(*t))
        .sum()
}

fn counts_of(s: &SchemaShards, g: usize) -> Vec<u32> {
    let mut c = vec![0; g];
    for name in &s.groups {
        c[name[1..].parse::<usize>().unwrap_or(0)] += 1;
    }
    c
}

/// Shards per group of each schema after `plan`.
fn after(plan: &Plan, schemas: &[SchemaShards]) -> Vec<SchemaShards> {
    schemas
        .iter()
        .map(|s| {
            let mut s = s.clone();
            for m in plan.moves.iter().filter(|m| m.schema == s.schema) {
                s.groups[m.shard as usize] = m.to.clone();
            }
            s
        })
        .collect()
}

fn spread(totals: &[u32]) -> u32 {
    totals.iter().max().copied().unwrap_or(0) - totals.iter().min().copied().unwrap_or(0)
}

fn check(g: usize, schemas: &[SchemaShards]) {
    let names = groups(g);
    let plan = plan(&names, schemas);
    // Each move takes a shard from where it is to another group, once.
    let mut moved = std::collections::BTreeSet::new();
    for m in &plan.moves {
        let s = schemas.iter().find(|s| s.schema == m.schema);
        assert_eq!(
            s.map(|s| s.groups[m.shard as usize].as_str()),
            Some(m.from.as_str())
        );
        assert_ne!(m.from, m.to, "no move within a group: {m:?}");
        assert!(moved.insert((m.schema.clone(), m.shard)), "{m:?} twice");
    }
    let result = after(&plan, schemas);
    let mut totals = vec![0u32; g];
    let mut options: Vec<Vec<Vec<u32>>> = Vec::new();
    let mut fewest = 0;
    for (before, now) in schemas.iter().zip(&result) {
        let c = counts_of(now, g);
        assert!(
            spread(&c) <= 1,
            "{} unbalanced: {c:?} ({plan:?})",
            now.schema
        );
        for (t, n) in totals.iter_mut().zip(&c) {
            *t += n;
        }
        let was = counts_of(before, g);
        let targets = balanced_targets(before.groups.len() as u32, g);
        let least = targets.iter().map(|t| moves_to(&was, t)).min().unwrap_or(0);
        fewest += least;
        options.push(
            targets
                .into_iter()
                .filter(|t| moves_to(&was, t) == least)
                .collect(),
        );
    }
    assert_eq!(plan.moves.len() as u32, fewest, "fewest moves ({plan:?})");
    // The most even totals any fewest-move choice gives.
    let mut best = u32::MAX;
    let mut pick = vec![0usize; options.len()];
    loop {
        let mut sum = vec![0u32; g];
        for (o, &i) in options.iter().zip(&pick) {
            for (s, n) in sum.iter_mut().zip(&o[i]) {
                *s += n;
            }
        }
        best = best.min(spread(&sum));
        let mut k = 0;
        while k < pick.len() {
            pick[k] += 1;
            if pick[k] < options[k].len() {
                break;
            }
            pick[k] = 0;
            k += 1;
        }
        if k == pick.len() {
            break;
        }
    }
    assert_eq!(spread(&totals), best, "totals {totals:?} ({plan:?})");
    let after_map: Vec<u32> = names.iter().map(|n| plan.after[n]).collect();
    assert_eq!(after_map, totals);
    // Deterministic, whatever the order the schemas come in.
    let mut reversed = schemas.to_vec();
    reversed.reverse();
    assert_eq!(super::plan(&names, &reversed), plan);
}

#[test]
fn four_shards_on_one_group_and_an_empty_one_make_two_moves() {
    let p = plan(&groups(2), &[schema("shop", &[0, 0, 0, 0])]);
    let moves: Vec<(u32, &str, &str)> = p
        .moves
        .iter()
        .map(|m| (m.shard, m.from.as_str(), m.to.as_str()))
        .collect();
    assert_eq!(moves, vec![(2, "g0", "g1"), (3, "g0", "g1")]);
    assert_eq!(p.after.values().copied().collect::<Vec<_>>(), vec![2, 2]);
}

#[test]
fn two_groups_added_to_two_move_half_the_shards() {
    let on: Vec<usize> = (0..16).map(|i| i / 8).collect();
    let p = plan(&groups(4), &[schema("shop", &on)]);
    assert_eq!(p.moves.len(), 8);
    assert_eq!(p.after.values().copied().collect::<Vec<_>>(), vec![4; 4]);
    assert!(p.moves.iter().all(|m| m.to == "g2" || m.to == "g3"));
}

#[test]
fn a_balanced_cluster_needs_no_move() {
    let p = plan(&groups(2), &[schema("a", &[0, 1, 0]), schema("b", &[1, 0])]);
    assert!(p.moves.is_empty(), "{p:?}");
}

#[test]
fn where_the_extra_shard_stays_is_chosen_to_even_out_the_totals() {
    // g2 added empty; each schema keeps one extra shard on g0 or g1 with one move either
    // way: the two extras go to different groups.
    let s = |n: &str| schema(n, &[0, 0, 1, 1]);
    let p = plan(&groups(3), &[s("a"), s("b")]);
    assert_eq!(p.moves.len(), 2, "{p:?}");
    assert!(p.moves.iter().all(|m| m.to == "g2"), "{p:?}");
    let after: Vec<u32> = p.after.values().copied().collect();
    assert_eq!(spread(&after), 1, "{p:?}");
    check(3, &[s("a"), s("b")]);
}

#[test]
fn an_extra_shard_that_would_cost_a_move_stays() {
    // Three schemas of 3 shards on g0: each keeps 2 there (moving a second one would be
    // a move more), so the totals stay 6/3.
    let s = |n: &str| schema(n, &[0, 0, 0]);
    let p = plan(&groups(2), &[s("a"), s("b"), s("c")]);
    assert_eq!(p.moves.len(), 3, "{p:?}");
    check(2, &[s("a"), s("b"), s("c")]);
}

#[test]
fn a_group_named_only_by_a_shard_counts() {
    let p = plan(&groups(1), &[schema("a", &[0, 1, 1, 1])]);
    assert_eq!(p.moves.len(), 1, "{p:?}");
}

fn cluster() -> impl Strategy<Value = (usize, Vec<SchemaShards>)> {
    (1usize..=4).prop_flat_map(|g| {
        let one = proptest::collection::vec(0..g, 1..=9);
        (
            Just(g),
            proptest::collection::vec(one, 1..=3).prop_map(|all| {
                all.iter()
                    .enumerate()
                    .map(|(i, on)| schema(&format!("s{i}"), on))
                    .collect()
            }),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn plans_are_balanced_minimal_and_deterministic((g, schemas) in cluster()) {
        check(g, &schemas);
    }
}
