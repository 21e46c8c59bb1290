//! Point reads of a sharded table by an integer key in the text protocol
//! (`SELECT c FROM t WHERE id = 5`), routed from their tokens
//! ([`myshard_router::shard::point`]) without the SQL parser: the shard comes from the same
//! hash, the text gets the shard's qualified table name, and the answer is relayed like
//! any single-shard answer. A statement of any other shape takes the planner's path.

use super::{Closed, Session};
use crate::backend::ResponseKind;
use crate::sharding::hash_key;
use myshard_config::{KeyType, SchemaTopology, TableRule};
use myshard_router::Classified;
use myshard_router::shard::keys::Literal;
use myshard_router::shard::point::point_select;
use myshard_router::shard::resolve::KeyInput;

/// Where a point read goes: its shard's physical database and the text to send there.
#[derive(Debug, PartialEq, Eq)]
pub struct PointRoute {
    /// Shard number.
    pub shard: u32,
    /// The shard's physical database.
    pub database: String,
    /// The statement with the table named in that database.
    pub sql: String,
}

/// The route of `sql` if it is a point read by the integer shard key of a sharded table
/// of `schema` (`None`: plan it the general way).
pub fn point_route(
    topology: &myshard_config::Topology,
    schema: &str,
    sql: &str,
) -> Option<PointRoute> {
    // Only sharded schemas have point reads to route: look that up before lexing.
    let Some(SchemaTopology::Sharded(sh)) = topology.schema(schema) else {
        return None;
    };
    let p = point_select(sql)?;
    let rule = sh.table(p.table)?;
    let TableRule::Sharded {
        key,
        key_type: KeyType::Integer,
        ..
    } = rule
    else {
        return None;
    };
    if !key.eq_ignore_ascii_case(p.column) {
        return None;
    }
    let literal = Literal::Number(p.value);
    let shard = hash_key(rule, sh.shards, KeyInput::Literal(&literal)).ok()??;
    let database = sh.database(shard)?.to_string();
    let sql = format!(
        "{}`{}`.`{}`{}",
        &sql[..p.table_range.start],
        database,
        p.table,
        &sql[p.table_range.end..]
    );
    Some(PointRoute {
        shard,
        database,
        sql,
    })
}

impl Session {
    /// Runs `text` (the client's `payload`, ASCII-safe) as a point read if it is one;
    /// `None` when it is not (the caller plans it).
    pub(super) async fn run_point_read(
        &mut self,
        text: &str,
        payload: &[u8],
        seq: u8,
        c: &Classified,
    ) -> Option<Result<(), Closed>> {
        // Only text the client sent as is (no transcoding between bytes and text).
        if text.as_bytes() != payload.get(1..)? {
            return None;
        }
        // The schema's name is copied only for a statement that is a point read.
        let table = self.table.clone();
        let point = point_route(&table.topology, self.schema.as_deref()?, text)?;
        let schema = self.schema.clone()?;
        self.shared
            .board
            .metrics
            .statement(true, crate::admin_http::RouteKind::SingleShard);
        let _passage = match self.pass_gate(&point.database).await {
            Ok(p) => p,
            Err(e) => return Some(self.send_err(&e, seq).await),
        };
        let dest = match self.point_route_to(&schema, point.shard) {
            Ok(d) => d,
            Err(e) => return Some(self.send_err(&e, seq).await),
        };
        let mut request = self.take_point_buffer();
        request.push(0x03);
        request.extend_from_slice(point.sql.as_bytes());
        self.rename_schema.set(&point.database, &schema, true);
        let r = self
            .forward_at(&dest, &request, seq, ResponseKind::Query, Some(c.clone()))
            .await;
        self.rename_schema.clear();
        self.put_point_buffer(request);
        Some(r)
    }
}
