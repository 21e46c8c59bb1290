//! Paging parameters of a prepared SELECT merged over several shards (`LIMIT ?`,
//! `LIMIT ?, ?`, `LIMIT ? OFFSET ?`): the bound values give the merge its offset and
//! count, and the shards' execute packet carries the pushed-down values in the same
//! parameter slots (the offset 0, the count offset + count), so each shard stops after the
//! rows that can matter — the same push-down and early stop as a literal LIMIT.
//!
//! For `EXECUTE … USING`, which the proxy runs as a text statement with the values written
//! in, the paging values are first converted to row counts the way MariaDB converts them
//! (a negative one is error 1210), so that `LIMIT '5'` or `LIMIT NULL` never reach a
//! parser as written.

use super::shard::{Exec, route_error};
use super::{Closed, Session};
use crate::error::SqlError;
use crate::packet;
use crate::params::{ExecuteRequest, split_values};
use crate::wire::put_lenenc_str;
use myshard_router::merge::paging::{limit_placeholders, literal_amount};
use myshard_router::shard::plan::{ShardRoute, Targets};
use myshard_router::shard::resolve::{Bound, Target};

/// MYSQL_TYPE_LONGLONG with the unsigned flag: how a pushed-down count is bound.
const UNSIGNED_LONGLONG: [u8; 2] = [0x08, 0x80];

impl Session {
    /// Runs a prepared SELECT on several `targets` when its merge plan takes offset or
    /// count from parameters (or refuses a UNION over several shards); `None` when it
    /// does not (the caller runs it as usual).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn execute_paged(
        &mut self,
        route: &ShardRoute,
        params: &[Bound],
        req: &ExecuteRequest<'_>,
        types: &[u8],
        long_data: &[(u16, Vec<u8>)],
        global_id: u32,
        targets: &[Target],
        seq: u8,
    ) -> Option<Result<(), Closed>> {
        // The branches of a UNION over several shards have statements of their own, with
        // parameters of their own: only text statements run them.
        if matches!(route.targets, Targets::Union(_)) && targets.len() > 1 {
            let e = SqlError::not_supported(
                "a UNION over several shards in a prepared statement (it runs as a text statement, or prepared when all its branches go to the same shard)",
            );
            return Some(self.send_err(&e, seq).await);
        }
        let plan = route.merge_plan.as_deref()?;
        let paging = plan.paging.as_ref()?;
        if targets.len() < 2 {
            return None;
        }
        let page = match paging.page(params) {
            Ok(p) => p,
            Err(e) => return Some(self.send_err(&route_error(e), seq).await),
        };
        let values = paging.shard_values(page, plan.grouping.is_some());
        let n = params.len();
        let Some(packet) = execute_with(req, types, n, long_data, &values) else {
            let e = SqlError::malformed_packet("COM_STMT_EXECUTE parameters");
            return Some(self.send_err(&e, seq).await);
        };
        let mut resolved = plan.clone();
        resolved.offset = page.offset;
        resolved.limit = Some(page.count);
        resolved.paging = None;
        let exec = Exec::Prepared { packet, global_id };
        Some(
            self.run_merge(route, Some(&resolved), targets, seq, &exec)
                .await,
        )
    }
}

/// A framed COM_STMT_EXECUTE (statement id 0, patched per backend) with the parameters of
/// `req`, except that each `(index, value)` of `values` is bound as an unsigned BIGINT.
/// Long data is inlined. `None` on malformed parameter values.
pub(super) fn execute_with(
    req: &ExecuteRequest<'_>,
    types: &[u8],
    n: usize,
    long_data: &[(u16, Vec<u8>)],
    values: &[(usize, u64)],
) -> Option<Vec<u8>> {
    let long = |i: usize| long_data.iter().find(|(k, _)| usize::from(*k) == i);
    let given = split_values(req, types, n, |i| long(i).is_some())?;
    let replaced = |i: usize| values.iter().find(|(k, _)| *k == i).map(|(_, v)| *v);
    let mut p = Vec::with_capacity(32 + types.len() + req.values.len());
    let at = packet::begin_packet(&mut p);
    p.push(0x17);
    p.extend_from_slice(&0u32.to_le_bytes());
    p.push(0);
    p.extend_from_slice(&1u32.to_le_bytes());
    let mut bitmap = vec![0u8; n.div_ceil(8)];
    for (i, v) in given.iter().enumerate() {
        if v.is_none() && long(i).is_none() && replaced(i).is_none() {
            bitmap[i / 8] |= 1 << (i % 8);
        }
    }
    p.extend_from_slice(&bitmap);
    p.push(1);
    for i in 0..n {
        match replaced(i) {
            Some(_) => p.extend_from_slice(&UNSIGNED_LONGLONG),
            None => p.extend_from_slice(types.get(i * 2..i * 2 + 2)?),
        }
    }
    for (i, v) in given.into_iter().enumerate() {
        match (replaced(i), v, long(i)) {
            (Some(x), _, _) => p.extend_from_slice(&x.to_le_bytes()),
            (None, Some(v), _) => p.extend_from_slice(v),
            (None, None, Some((_, data))) => put_lenenc_str(&mut p, data),
            (None, None, None) => {}
        }
    }
    packet::finish_packet(&mut p, at, 0);
    Some(p)
}

/// The `EXECUTE … USING` literals with those bound to LIMIT / OFFSET placeholders of
/// `text` made row counts (MariaDB's conversion; 1210 for a negative one).
pub(super) fn paging_literals(text: &str, literals: &mut [String]) -> Result<(), SqlError> {
    for i in limit_placeholders(text) {
        if let Some(l) = literals.get_mut(i) {
            *l = literal_amount(l).map_err(route_error)?.to_string();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::parse_execute;

    #[test]
    fn paging_values_replace_their_parameters_only() {
        // `… WHERE a = ? LIMIT ?, ?` bound with 'x', NULL, INT 5.
        let payload: &[u8] = &[
            1, 0, 0, 0, 0, 1, 0, 0, 0,     // id, flags, iterations
            0b010, // parameter 1 is NULL
            1, 0xFD, 0, 0x06, 0, 0x03, 0, // VAR_STRING, NULL, LONG
            1, b'x', 5, 0, 0, 0,
        ];
        let req = parse_execute(payload, 3).expect("parse");
        let types = req.types.expect("types");
        let out = execute_with(&req, types, 3, &[], &[(1, 0), (2, 15)]).expect("packet");
        let mut want = vec![0x17, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0b000, 1];
        want.extend_from_slice(&[0xFD, 0, 0x08, 0x80, 0x08, 0x80]);
        want.extend_from_slice(&[1, b'x']);
        want.extend_from_slice(&0u64.to_le_bytes());
        want.extend_from_slice(&15u64.to_le_bytes());
        assert_eq!(&out[4..], &want[..]);
        assert_eq!(usize::from(out[0]), want.len());
    }

    #[test]
    fn sql_paging_literals_become_counts() {
        let mut l = vec!["'k'".to_string(), "'3'".to_string(), "NULL".to_string()];
        paging_literals("SELECT * FROM t WHERE a = ? LIMIT ?, ?", &mut l).expect("counts");
        assert_eq!(l, ["'k'", "3", "0"]);
        let mut neg = vec!["-1".to_string()];
        let e = paging_literals("SELECT * FROM t LIMIT ?", &mut neg).expect_err("negative");
        assert_eq!(e.code, 1210);
    }
}
