//! Running a rebalance plan in the proxy: the planner fed with the current placement
//! (configuration + `placement.json`, i.e. the routing table's topology) over every
//! configured group, and the moves run one at a time, each a journaled migration taken
//! through its cut-over and then verified before the next starts. The first failure stops
//! the run with its reason; the moves done stay done (each is an ordinary migration: its
//! source copy is dropped by `myshard migrate cleanup`). One run at a time per process;
//! its state is what `GET /rebalance` answers.

use super::Bounds;
use super::rebalance::{Move, Plan, SchemaShards, plan};
use crate::server::Shared;
use myshard_config::SchemaTopology;
use serde::Serialize;
use std::sync::Mutex;

/// A rebalance run: its plan and how far it got.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RebalanceRun {
    /// The plan being run.
    pub plan: Plan,
    /// The migration of each move done so far (cut over and verified), in plan order.
    pub done: Vec<u64>,
    /// The move running now.
    pub running: Option<Move>,
    /// Why the run stopped early.
    pub error: Option<String>,
    /// Whether the run ended (every move done, or stopped on `error`).
    pub finished: bool,
}

static RUN: Mutex<Option<RebalanceRun>> = Mutex::new(None);

fn with_run<T>(f: impl FnOnce(&mut Option<RebalanceRun>) -> T) -> T {
    f(&mut RUN.lock().unwrap_or_else(|e| e.into_inner()))
}

/// The last rebalance run of this process, if any.
pub fn last_run() -> Option<RebalanceRun> {
    with_run(|r| r.clone())
}

impl Shared {
    /// The moves evening out every sharded schema over the configured groups, from the
    /// current placement.
    pub fn rebalance_plan(&self) -> Plan {
        let table = self.table();
        let groups: Vec<String> = table.config.groups.iter().map(|g| g.name.clone()).collect();
        let schemas: Vec<SchemaShards> = table
            .topology
            .schemas()
            .filter_map(|(name, s)| match s {
                SchemaTopology::Sharded(sharded) => Some(SchemaShards {
                    schema: name.to_string(),
                    groups: sharded.groups.iter().map(|g| g.to_string()).collect(),
                }),
                SchemaTopology::Unsharded { .. } => None,
            })
            .collect();
        plan(&groups, &schemas)
    }

    /// Claims the rebalance run for a new plan (refused while one runs); returns the plan.
    pub fn begin_rebalance(&self) -> Result<Plan, String> {
        let plan = self.rebalance_plan();
        with_run(|run| {
            if let Some(r) = run.as_ref().filter(|r| !r.finished) {
                return Err(format!(
                    "a rebalance is running ({} of {} moves done): wait for it to end",
                    r.done.len(),
                    r.plan.moves.len()
                ));
            }
            *run = Some(RebalanceRun {
                plan: plan.clone(),
                ..RebalanceRun::default()
            });
            Ok(plan)
        })
    }

    /// Runs the claimed plan's moves one at a time (migrate through the cut-over, then
    /// verify); stops at the first failure. Returns the run as it ended.
    pub async fn run_rebalance(&self, bounds: Bounds) -> RebalanceRun {
        let moves = with_run(|r| r.as_ref().map(|r| r.plan.moves.clone())).unwrap_or_default();
        let mut failure = None;
        for m in moves {
            with_run(|r| {
                if let Some(r) = r {
                    r.running = Some(m.clone());
                }
            });
            match self.rebalance_move(&m, bounds).await {
                Ok(id) => with_run(|r| {
                    if let Some(r) = r {
                        r.done.push(id);
                    }
                }),
                Err(e) => {
                    failure = Some(format!(
                        "moving shard {} of '{}' from '{}' to '{}': {e}",
                        m.shard, m.schema, m.from, m.to
                    ));
                    break;
                }
            }
        }
        with_run(|r| {
            let r = r.get_or_insert_with(RebalanceRun::default);
            r.running = None;
            r.error = failure;
            r.finished = true;
            r.clone()
        })
    }

    /// One move: a migration through its cut-over, then verified.
    async fn rebalance_move(&self, m: &Move, bounds: Bounds) -> Result<u64, String> {
        // The plan was made from an earlier placement: a shard that is no longer where the
        // plan found it is not moved blindly.
        let now = self
            .table()
            .topology
            .group_of(&m.schema, m.shard)
            .map(str::to_string);
        if now.as_deref() != Some(m.from.as_str()) {
            return Err(format!(
                "the shard is on '{}' now, not where the plan found it",
                now.unwrap_or_default()
            ));
        }
        let record = self.migrate(&m.schema, m.shard, &m.to, bounds).await?;
        // A migration verifies both copies at one position before its cut-over; comparing
        // again afterwards only works while no client writes the shard.
        if !record.verified_before_cut_over {
            self.verify_journaled(record.id).await?;
        }
        Ok(record.id)
    }
}
