//! The routes of a session's point statements (text point reads and prepared point
//! executes of a sharded schema), kept per shard and reused while they are valid, as the
//! session's default route is (`Session::take_route`): a point select then costs no
//! allocation, no pool lookup and no schema lookup for its route.

use super::Session;
use crate::backend::conn::ConnFlags;
use crate::error::SqlError;
use crate::routing::{Intent, Route};
use std::sync::Arc;

/// Cached routes by shard, valid for one routing table (placement included), schema and
/// set of connection flags.
#[derive(Debug, Default)]
pub(super) struct PointRoutes {
    /// The routing table epoch, logical schema and flags the routes were made for.
    made_for: Option<(u64, String, ConnFlags)>,
    /// By shard number.
    routes: Vec<Option<Arc<Route>>>,
    /// The buffer point requests are built in, kept between statements.
    request: Vec<u8>,
}

impl PointRoutes {
    /// The cached route to `shard`, if it is still what the routing table would give.
    fn get(
        &self,
        generation: u64,
        schema: &str,
        flags: ConnFlags,
        shard: u32,
    ) -> Option<Arc<Route>> {
        let (g, s, f) = self.made_for.as_ref()?;
        if *g != generation || s != schema || *f != flags {
            return None;
        }
        let r = self.routes.get(usize::try_from(shard).ok()?)?.as_ref()?;
        // A host whose state changed since (down, fenced, back up) is routed afresh.
        (r.epoch == r.host.epoch() && r.host.state().serves()).then(|| r.clone())
    }

    /// Keeps `route` for `shard`.
    fn keep(
        &mut self,
        generation: u64,
        schema: &str,
        flags: ConnFlags,
        shard: u32,
        route: Arc<Route>,
    ) {
        let current = self
            .made_for
            .as_ref()
            .is_some_and(|(g, s, f)| *g == generation && s == schema && *f == flags);
        if !current {
            self.routes.clear();
            self.made_for = Some((generation, schema.to_string(), flags));
        }
        let Ok(slot) = usize::try_from(shard) else {
            return;
        };
        if self.routes.len() <= slot {
            self.routes.resize(slot + 1, None);
        }
        self.routes[slot] = Some(route);
    }
}

impl Session {
    /// An empty buffer to build a point request in (hand it back with
    /// [`Session::put_point_buffer`]).
    pub(super) fn take_point_buffer(&mut self) -> Vec<u8> {
        let mut b = std::mem::take(&mut self.point_routes.request);
        b.clear();
        b
    }

    /// Keeps `b` for the next point request, unless a long statement made it large.
    pub(super) fn put_point_buffer(&mut self, b: Vec<u8>) {
        if b.capacity() <= super::KEEP_BUFFER {
            self.point_routes.request = b;
        }
    }

    /// The route of a point statement of sharded schema `schema` to `shard` (what
    /// `RoutingTable::target` gives): the cached one for a write-intent route (the write
    /// host's), else the routing table's, then cached. Reads are routed per statement, as
    /// everywhere.
    pub(super) fn point_route_to(
        &mut self,
        schema: &str,
        shard: u32,
    ) -> Result<Arc<Route>, SqlError> {
        let generation = self.table.epoch;
        if self.intent == Intent::Write
            && let Some(r) = self.point_routes.get(generation, schema, self.flags, shard)
        {
            return Ok(r);
        }
        let route =
            Arc::new(
                self.table
                    .target(Some(schema), Some(shard), self.intent, self.flags)?,
            );
        if route.intent == Intent::Write {
            self.point_routes
                .keep(generation, schema, self.flags, shard, route.clone());
        }
        Ok(route)
    }
}
