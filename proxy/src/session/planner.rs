//! Where a statement is planned: small, shallow statements (nearly all) on the session's own
//! task; large or deep ones on a planner thread.
//!
//! Planning a 1 MB multi-row INSERT takes a noticeable time, and walking an expression
//! near `limits.max_expression_depth` needs far more stack than an async worker has. Either
//! on a worker thread would stall (or crash) every session sharing that worker. A planner
//! thread is started per such statement with a stack sized for the depth limit
//! ([`planner_stack_bytes`]); a semaphore bounds how many plan at once, so a burst of huge
//! statements queues instead of taking every CPU from the async workers.

use super::Session;
use myshard_router::limits::{planner_stack_bytes, shape};
use myshard_router::shard::plan::{
    Route, RouteContext, RouteError, ShardRoute, Targets, needs_planning, plan_hinted,
};
use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

/// Statements up to this many bytes cannot hold a chain deep enough to matter (at most
/// about half as many operators): planned in place without looking further.
const TINY_BYTES: usize = 64;
/// Statements up to this many bytes whose estimated depth is at most [`INLINE_DEPTH`] are
/// planned in place: quick, and shallow enough for a worker's stack in debug builds too.
const INLINE_BYTES: usize = 16 * 1024;
/// See [`INLINE_BYTES`].
const INLINE_DEPTH: usize = 32;

/// Planner threads allowed at once: one per CPU.
fn planners() -> &'static Arc<Semaphore> {
    static PLANNERS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PLANNERS.get_or_init(|| {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        Arc::new(Semaphore::new(n.max(1)))
    })
}

/// Whether `sql` is planned on the session's task.
fn plans_inline(sql: &str) -> bool {
    sql.len() <= TINY_BYTES
        || (sql.len() <= INLINE_BYTES && shape(sql, INLINE_DEPTH).depth <= INLINE_DEPTH)
}

impl Session {
    /// Plans `sql` in the session's logical schema ([`plan_hinted`]), off the async workers when
    /// it is large or deep.
    pub(super) async fn plan_statement(&self, sql: &str) -> Route {
        let hint_writes = self.may_hint_writes();
        let ctx = RouteContext {
            topology: &self.table.topology,
            schema: self.schema.as_deref(),
        };
        // Statements of plain schemas (most) without a comment (which may hold a shard
        // hint) are not planned: no need to look at them.
        if !needs_planning(sql, ctx) && !sql.contains("/*") {
            return Route::Passthrough;
        }
        if plans_inline(sql) {
            return plan_hinted(sql, ctx, hint_writes);
        }
        let Ok(permit) = Arc::clone(planners()).acquire_owned().await else {
            return Route::Error(RouteError::refused("the statement planner is shut down"));
        };
        let table = Arc::clone(&self.table);
        let schema = self.schema.clone();
        let sql = sql.to_owned();
        let stack = planner_stack_bytes(table.topology.limits().max_expression_depth);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let started = std::thread::Builder::new()
            .name("myshard-planner".into())
            .stack_size(stack)
            .spawn(move || {
                let ctx = RouteContext {
                    topology: &table.topology,
                    schema: schema.as_deref(),
                };
                let route = plan_hinted(&sql, ctx, hint_writes);
                // The statement text and its parse are freed here too, off the workers.
                drop(sql);
                drop(permit);
                let _ = tx.send(route);
            });
        if let Err(e) = started {
            return Route::Error(RouteError::refused(format!(
                "could not start a planner thread with {stack} bytes of stack ({e}); lower limits.max_expression_depth"
            )));
        }
        rx.await.unwrap_or_else(|_| {
            Route::Error(RouteError::refused(
                "the statement planner failed on this statement",
            ))
        })
    }
}

/// Rows of an INSERT from which placing them and printing each shard's statement counts as
/// heavy work (a few milliseconds and more).
const HEAVY_ROWS: usize = 1_000;

/// Statement bytes from which decoding and classifying the text counts as heavy work.
const LONG_BYTES: usize = 256 * 1024;

/// Whether a statement of `bytes` is long enough that reading its text is heavy work (see
/// [`off_worker`]).
pub(super) fn is_long(bytes: usize) -> bool {
    bytes > LONG_BYTES
}

/// Whether resolving `route` to its targets is heavy work (see [`off_worker`]).
pub(super) fn is_heavy(route: &ShardRoute) -> bool {
    matches!(&route.targets, Targets::Rows { keys, .. } if keys.len() > HEAVY_ROWS)
}

/// Runs `work` in place; when `heavy` and on a multi-threaded runtime, first hands this
/// worker's other tasks to another worker (`block_in_place`), so that reading a huge
/// statement or placing its rows does not delay the sessions that share the worker. Such work needs no
/// more stack than any statement (it does not recurse), so it may stay on this thread.
pub(super) fn off_worker<T>(heavy: bool, work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let multi =
        Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if heavy && multi {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}
