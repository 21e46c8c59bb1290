//! Writes that meet a write host being switched: a write whose route leads to a host that
//! no longer serves — fenced by a switch, or down in a group that fails over on its own,
//! or refusing connections there before its heartbeats have judged it — waits for the
//! group's new write host (up to `failover.max_hold_ms`) and goes there instead of failing. Nothing was sent to the old host, so nothing can apply twice; a
//! transaction open on the old host still fails when it joins the new route
//! (participants), and never continues elsewhere.

use super::Session;
use super::query::CachedRoute;
use crate::backend::PooledConn;
use crate::error::{Side, SqlError};
use crate::routing::{Intent, Route};
use myshard_config::FailoverMode;
use myshard_failover::HostState;
use std::time::Duration;

/// How often a held write looks at its host's state besides being woken by switches.
const POLL: Duration = Duration::from_millis(50);

impl Session {
    /// The route to use instead of `route` when its write host was switched away (after
    /// waiting for the switch); `None`: use `route` (serving, or no switch came in time:
    /// its checkout then reports why). With `refused` (connecting to the host just failed),
    /// a write host still marked serving in an automatic group is given the time its
    /// heartbeats need to find it dead, and the switch that follows.
    pub(super) async fn route_after_switch(
        &mut self,
        route: &Route,
        refused: bool,
    ) -> Option<Route> {
        if route.intent != Intent::Write || (route.host.state().serves() && !refused) {
            return None;
        }
        let group = self.table.config.group(&route.group)?;
        if group.failover.mode == FailoverMode::Off {
            return None;
        }
        let automatic = group.failover.mode == FailoverMode::Automatic;
        let now = tokio::time::Instant::now();
        let deadline = now + Duration::from_millis(group.failover.max_hold_ms);
        let beat = &group.heartbeat;
        let judged = now
            + Duration::from_millis(
                (beat.interval_ms + beat.timeout_ms).saturating_mul(u64::from(beat.fall) + 1),
            );
        let shared = self.shared.clone();
        let mut changes = shared.failover.watch();
        let mut interrupter = self.interrupter();
        let mut held = false;
        loop {
            let table = shared.table();
            let write = table.group(&route.group)?.write.clone()?;
            if write.id() != route.host.id() {
                if held {
                    shared.failover.history.note_held();
                }
                self.table = table;
                return self
                    .table
                    .route_to(
                        &route.group,
                        route.database.clone(),
                        Intent::Write,
                        self.flags,
                    )
                    .ok();
            }
            let state = route.host.state();
            let switching = shared.failover.is_switching(&route.group);
            let judging = refused
                && automatic
                && state == HostState::Up
                && tokio::time::Instant::now() < judged;
            let may_switch = switching || (automatic && state == HostState::Down) || judging;
            if !may_switch {
                return None;
            }
            held = true;
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            // Woken by a switch starting or ending; a host the monitor brings back is seen
            // within a poll.
            let poll = deadline.min(tokio::time::Instant::now() + POLL);
            tokio::select! {
                _ = tokio::time::timeout_at(poll, changes.changed()) => {}
                _ = interrupter.wait() => return None,
            }
        }
    }

    /// A connection for a write whose checkout on `route` failed with `failed` before
    /// anything was sent, because its host was fenced meanwhile: one on the group's new
    /// write host once the switch is done; otherwise `failed`.
    pub(super) async fn acquire_after_switch(
        &mut self,
        route: &Route,
        failed: SqlError,
    ) -> Result<PooledConn, SqlError> {
        if failed.side != Side::NotSent {
            return Err(failed);
        }
        // A connection that could not be made: the host may be dying (a write to a host
        // that serves but refuses waits at most until its heartbeats have judged it).
        let refused = failed.code == 2003;
        match self.route_after_switch(route, refused).await {
            Some(new) => self.acquire_at(&new).await,
            None => Err(failed),
        }
    }

    /// After a route could not be made because `failed` (nothing sent): if a group's write
    /// host in the session's table does not serve and that group is being switched (or
    /// fails over on its own), waits for the switch and takes the table in force; `failed`
    /// when no switch came.
    pub(super) async fn hold_for_switch(&mut self, failed: SqlError) -> Result<(), SqlError> {
        if failed.side != Side::NotSent {
            return Err(failed);
        }
        let table = self.table.clone();
        for g in table.groups() {
            let Some(write) = g.write.clone() else {
                continue;
            };
            // Only the group whose write host the failure names (errors carry the address).
            if write.state().serves() || !failed.message.contains(&format!("'{}'", write.addr())) {
                continue;
            }
            let Ok(pool) = write.pool(self.flags).or_else(|_| {
                // The route is only a key for the wait: any pool of the host will do.
                write.pools().into_iter().next().ok_or(())
            }) else {
                continue;
            };
            let stale = Route {
                group: g.name.clone(),
                host: write.clone(),
                epoch: write.epoch(),
                pool,
                database: None,
                intent: Intent::Write,
            };
            if self.route_after_switch(&stale, false).await.is_some() {
                return Ok(());
            }
        }
        Err(failed)
    }

    /// [`Session::take_route`], waiting for a switch of the write host it leads to.
    pub(super) async fn take_route_after_switch(
        &mut self,
        other: Option<String>,
    ) -> Result<CachedRoute, SqlError> {
        match self.take_route(other.clone()) {
            Err(e) => {
                self.hold_for_switch(e).await?;
                self.take_route(other)
            }
            ok => ok,
        }
    }

    /// A connection on `dest`, or, when its write host was switched away (before or at
    /// the checkout, nothing sent), on the group's new write host; with the route used.
    pub(super) async fn acquire_switched(
        &mut self,
        dest: Route,
    ) -> Result<(Route, PooledConn), SqlError> {
        let dest = match self.route_after_switch(&dest, false).await {
            Some(new) => new,
            None => dest,
        };
        match self.acquire_at(&dest).await {
            Ok(c) => Ok((dest, c)),
            Err(e) => {
                let c = self.acquire_after_switch(&dest, e).await?;
                Ok((dest, c))
            }
        }
    }

    /// [`Session::target_route`], waiting for a switch of the write host it leads to.
    pub(super) async fn target_route_after_switch(
        &mut self,
        route: &myshard_router::shard::plan::ShardRoute,
        t: &myshard_router::shard::resolve::Target,
    ) -> Result<Route, SqlError> {
        match self.target_route(route, t) {
            Err(e) => {
                self.hold_for_switch(e).await?;
                self.target_route(route, t)
            }
            ok => ok,
        }
    }
}
