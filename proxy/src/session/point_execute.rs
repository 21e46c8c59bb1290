//! Prepared point statements of a sharded schema (`SELECT c FROM t WHERE id = ?`),
//! executed without the general resolver. At PREPARE the planned route is checked once
//! ([`myshard_router::shard::point_param`]): its only routing input is one parameter
//! compared with an integer shard key. At EXECUTE that parameter is read straight from the
//! packet's bytes, hashed by the same function the resolver uses ([`hash_key`]), and the
//! execute goes to that shard's backend statement; the shard's text is rendered once per
//! client statement and shard, not on every execute. A key that is NULL, not an integer
//! type, sent as long data, or next to a parameter type whose decoding could fail, takes
//! the general path, so both give the same answer (a property test checks the shard and
//! the text against the resolver's).

use super::shard_path::{Answer, Request};
use super::{Closed, Session};
use crate::backend::ResponseKind;
use crate::backend::conn::stmt_key;
use crate::error::SqlError;
use crate::packet;
use crate::params::{ExecuteRequest, rebuild_execute_into, value_len};
use crate::sharding::hash_key;
use crate::stmt_cache::StmtMeta;
use myshard_config::{TableRule, Topology};
use myshard_router::shard::plan::ShardRoute;
use myshard_router::shard::point_param::point_param;
use myshard_router::shard::resolve::{Bound, KeyInput, Target};
use myshard_router::text::encode;
use std::sync::Arc;

/// A client statement routed by one integer key parameter, with the targets of the shards
/// it has gone to so far.
#[derive(Debug)]
pub struct PointExecute {
    /// Index of the key parameter.
    index: usize,
    /// The table's rule, hashed as the resolver hashes it.
    rule: TableRule,
    /// By shard number: the target and its text, once rendered.
    shards: Vec<Option<Arc<PointTarget>>>,
}

/// One shard's target of a point statement and the text it is prepared from there.
#[derive(Debug)]
pub struct PointTarget {
    /// Shard, physical database, group and statement text, as the resolver gives them.
    pub target: Target,
    /// The text in the backend's encoding.
    pub text: Vec<u8>,
}

/// Parameter types whose values the general path decodes whenever their length is right:
/// with any other type among the parameters, the general path may refuse the execute as
/// malformed, so the fast path leaves it to it.
fn decodes_surely(ty: u8) -> bool {
    matches!(ty, 0x00..=0x0d | 0x0f | 0x10 | 0xf5..=0xff)
}

/// The integer bound to parameter `index` of a statement with `n` parameters, as the
/// general path binds it; `None` when it is NULL, not of an integer type, or the packet
/// cannot be read.
pub fn integer_param(
    req: &ExecuteRequest<'_>,
    types: &[u8],
    n: usize,
    index: usize,
) -> Option<Bound> {
    if index >= n || types.len() < n * 2 {
        return None;
    }
    if !types[..n * 2].iter().step_by(2).all(|t| decodes_surely(*t)) {
        return None;
    }
    let null = |i: usize| {
        req.null_bitmap
            .get(i / 8)
            .is_some_and(|b| b & (1 << (i % 8)) != 0)
    };
    if null(index) {
        return None;
    }
    let mut rest = req.values;
    for i in 0..index {
        if !null(i) {
            rest = rest.get(value_len(types[i * 2], rest)?..)?;
        }
    }
    let ty = types[index * 2];
    let unsigned = types[index * 2 + 1] & 0x80 != 0;
    let b = rest.get(..value_len(ty, rest)?)?;
    let int = |v: i64, u: u64| {
        if unsigned {
            Bound::UInt(u)
        } else {
            Bound::Int(v)
        }
    };
    Some(match ty {
        0x01 => {
            let x = *b.first()?;
            int(i64::from(x as i8), u64::from(x))
        }
        0x02 | 0x0d => {
            let x = u16::from_le_bytes(b.try_into().ok()?);
            int(i64::from(x as i16), u64::from(x))
        }
        0x03 | 0x09 => {
            let x = u32::from_le_bytes(b.try_into().ok()?);
            int(i64::from(x as i32), u64::from(x))
        }
        0x08 => {
            let x = u64::from_le_bytes(b.try_into().ok()?);
            int(x as i64, x)
        }
        _ => return None,
    })
}

impl PointExecute {
    /// The fast path of a statement planned as `route`, if it is a point statement.
    pub fn of(route: &ShardRoute) -> Option<Self> {
        let p = point_param(route)?;
        Some(PointExecute {
            index: p.index,
            rule: p.rule.clone(),
            shards: Vec::new(),
        })
    }

    /// The target of an execute of `route` (the statement this was made for) with these
    /// parameters under `topology`; `None`: resolve it the general way.
    pub fn target(
        &mut self,
        topology: &Topology,
        route: &ShardRoute,
        req: &ExecuteRequest<'_>,
        types: &[u8],
        n: usize,
        long_data: &[(u16, Vec<u8>)],
    ) -> Option<Arc<PointTarget>> {
        if !long_data.is_empty() {
            return None;
        }
        let key = integer_param(req, types, n, self.index)?;
        let schema = topology.schema(&route.schema)?;
        let shard = hash_key(&self.rule, schema.shard_count(), KeyInput::Bound(&key)).ok()??;
        let (database, group) = (schema.database(shard)?, schema.group_of(shard)?);
        let slot = usize::try_from(shard).ok()?;
        if self.shards.len() <= slot {
            self.shards.resize(slot + 1, None);
        }
        // A reload may have renamed or moved the shard's database since it was rendered.
        if let Some(t) = &self.shards[slot]
            && t.target.database == database
            && t.target.group == group
        {
            return Some(t.clone());
        }
        let sql = route.template.render(database);
        let t = Arc::new(PointTarget {
            text: encode(&sql).into_owned(),
            target: Target {
                shard,
                database: database.to_string(),
                group: group.to_string(),
                sql,
            },
        });
        self.shards[slot] = Some(t.clone());
        Some(t)
    }
}

impl Session {
    /// Runs an execute of `meta` (planned as `route`) on `point`'s shard and relays the
    /// answer, as the general path does for a single target.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn execute_point(
        &mut self,
        route: &ShardRoute,
        meta: &StmtMeta,
        point: &PointTarget,
        req: &ExecuteRequest<'_>,
        types: &[u8],
        seq: u8,
    ) -> Result<(), Closed> {
        let mut t = &point.target;
        self.shared
            .board
            .metrics
            .statement(route.read_only, crate::admin_http::RouteKind::SingleShard);
        let epoch = self.table.epoch;
        let _passage = match self.pass_gate(&t.database).await {
            Ok(p) => p,
            Err(e) => return self.send_err(&e, seq).await,
        };
        // Held at the gate while a cut-over moved the shard: the same database, on the
        // group the new table places it on.
        let moved;
        if self.rerouted(epoch)
            && let Some(group) = self.table.topology.group_of(&route.schema, t.shard)
            && group != t.group
        {
            moved = Target {
                group: group.to_string(),
                ..t.clone()
            };
            t = &moved;
        }
        // Point statements name their table's database, so the shard's route is the one
        // plain statements of the schema take there (cached per shard); a group switching
        // its write host holds them as any other statement.
        let dest = if route.template.is_verbatim() {
            self.target_route_after_switch(route, t).await.map(Arc::new)
        } else {
            match self.point_route_to(&route.schema, t.shard) {
                Err(e) => match self.hold_for_switch(e).await {
                    Ok(()) => self.point_route_to(&route.schema, t.shard),
                    Err(e) => Err(e),
                },
                ok => ok,
            }
        };
        let dest = match dest {
            Ok(d) => d,
            Err(e) => return self.send_err(&e, seq).await,
        };
        // Its own buffer: the output buffer is where the relay renames the column
        // definitions.
        let mut framed = self.take_point_buffer();
        let at = packet::begin_packet(&mut framed);
        let n = usize::from(meta.params);
        if rebuild_execute_into(&mut framed, req, 0, types, n, &[]).is_none() {
            self.put_point_buffer(framed);
            let e = SqlError::malformed_packet("COM_STMT_EXECUTE parameters");
            return self.send_err(&e, seq).await;
        }
        packet::finish_packet(&mut framed, at, 0);
        let request = Request::Execute {
            packet: &mut framed,
            key: stmt_key(meta.global_id, Some(t.shard)),
            text: &point.text,
        };
        if t.database != route.schema {
            self.rename_schema.set(&t.database, &route.schema, true);
        }
        let r = self
            .run_on(
                &dest,
                request,
                Answer::Relay,
                ResponseKind::Query,
                None,
                seq,
            )
            .await;
        self.rename_schema.clear();
        self.put_point_buffer(framed);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::parse_execute;

    /// A COM_STMT_EXECUTE body (after the command byte) with types bound.
    fn body(params: &[(u8, u8, Option<Vec<u8>>)]) -> Vec<u8> {
        let mut b = vec![1, 0, 0, 0, 0, 1, 0, 0, 0];
        let mut bitmap = vec![0u8; params.len().div_ceil(8)];
        for (i, (_, _, v)) in params.iter().enumerate() {
            if v.is_none() {
                bitmap[i / 8] |= 1 << (i % 8);
            }
        }
        b.extend_from_slice(&bitmap);
        b.push(1);
        for (t, f, _) in params {
            b.extend_from_slice(&[*t, *f]);
        }
        for (_, _, v) in params {
            b.extend_from_slice(v.as_deref().unwrap_or_default());
        }
        b
    }

    fn key_of(params: &[(u8, u8, Option<Vec<u8>>)], index: usize) -> Option<Bound> {
        let b = body(params);
        let req = parse_execute(&b, params.len())?;
        let types = req.types?;
        integer_param(&req, types, params.len(), index)
    }

    #[test]
    fn integer_keys_of_every_width() {
        let s = |t: &str| {
            Some(vec![t.len() as u8]).map(|mut v| {
                v.extend_from_slice(t.as_bytes());
                v
            })
        };
        assert_eq!(
            key_of(&[(0x01, 0, Some(vec![0xff]))], 0),
            Some(Bound::Int(-1))
        );
        assert_eq!(
            key_of(&[(0x01, 0x80, Some(vec![0xff]))], 0),
            Some(Bound::UInt(255))
        );
        assert_eq!(
            key_of(&[(0x02, 0, Some(vec![0xfe, 0xff]))], 0),
            Some(Bound::Int(-2))
        );
        assert_eq!(
            key_of(&[(0x03, 0, Some(7i32.to_le_bytes().to_vec()))], 0),
            Some(Bound::Int(7))
        );
        assert_eq!(
            key_of(
                &[
                    (0xfd, 0, s("abc")),
                    (0x06, 0, None),
                    (0x08, 0x80, Some(u64::MAX.to_le_bytes().to_vec()))
                ],
                2
            ),
            Some(Bound::UInt(u64::MAX))
        );
    }

    #[test]
    fn anything_else_is_left_to_the_general_path() {
        // NULL, a string, a double, a truncated value, a TIME-family type next to the key.
        assert_eq!(key_of(&[(0x08, 0, None)], 0), None);
        assert_eq!(key_of(&[(0xfd, 0, Some(vec![1, b'5']))], 0), None);
        assert_eq!(
            key_of(&[(0x05, 0, Some(5f64.to_le_bytes().to_vec()))], 0),
            None
        );
        assert_eq!(key_of(&[(0x08, 0, Some(vec![1, 2, 3]))], 0), None);
        assert_eq!(
            key_of(
                &[(0x0e, 0, Some(vec![0])), (0x03, 0, Some(vec![1, 0, 0, 0]))],
                1
            ),
            None
        );
    }
}
