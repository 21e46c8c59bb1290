//! Writes that meet a write host being switched: a write whose route leads to a host that
//! no longer serves — fenced by a switch, or down in a group that fails over on its own —
//! waits for the group's new write host (up to `failover.max_hold_ms`) and goes there
//! instead of failing. Nothing was sent to the old host, so nothing can apply twice; a
//! transaction open on the old host still fails when it joins the new route
//! (participants), and never continues elsewhere.

use super::Session;
use crate::routing::{Intent, Route};
use myshard_config::FailoverMode;
use myshard_failover::HostState;
use std::time::Duration;

/// How often a held write looks at its host's state besides being woken by switches.
const POLL: Duration = Duration::from_millis(50);

impl Session {
    /// The route to use instead of `route` when its write host was switched away (after
    /// waiting for the switch); `None`: use `route` (serving, or no switch came in time:
    /// its checkout then reports why).
    pub(super) async fn route_after_switch(&mut self, route: &Route) -> Option<Route> {
        if route.intent != Intent::Write || route.host.state().serves() {
            return None;
        }
        let group = self.table.config.group(&route.group)?;
        if group.failover.mode == FailoverMode::Off {
            return None;
        }
        let automatic = group.failover.mode == FailoverMode::Automatic;
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(group.failover.max_hold_ms);
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
            let may_switch = switching || (automatic && state == HostState::Down);
            if !may_switch || state.serves() {
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
}
