//! COM_STMT_EXECUTE requests: parsing the parameter block and rebuilding the packet for a
//! backend (its own statement id, parameter types always included, long data inlined,
//! cursor flags cleared).
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_stmt_execute.html>

use crate::wire::{Reader, put_lenenc_str};

/// A parsed COM_STMT_EXECUTE payload (without the command byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecuteRequest<'a> {
    /// Client-side statement id.
    pub stmt_id: u32,
    /// Cursor flags.
    pub flags: u8,
    /// Iteration count (always 1 in practice).
    pub iterations: u32,
    /// NULL bitmap, one bit per parameter.
    pub null_bitmap: &'a [u8],
    /// Parameter types sent with this execute (2 bytes each), if any.
    pub types: Option<&'a [u8]>,
    /// The encoded parameter values.
    pub values: &'a [u8],
}

/// Parses a COM_STMT_EXECUTE payload (starting after the 0x17 command byte) for a
/// statement with `num_params` parameters.
pub fn parse_execute(payload: &[u8], num_params: usize) -> Option<ExecuteRequest<'_>> {
    let mut r = Reader::new(payload);
    let stmt_id = r.u32()?;
    let flags = r.u8()?;
    let iterations = r.u32()?;
    if num_params == 0 {
        return Some(ExecuteRequest {
            stmt_id,
            flags,
            iterations,
            null_bitmap: &[],
            types: None,
            values: &[],
        });
    }
    let null_bitmap = r.bytes(num_params.div_ceil(8))?;
    let bound = r.u8()?;
    let types = if bound == 1 {
        Some(r.bytes(num_params * 2)?)
    } else {
        None
    };
    let values = r.rest();
    Some(ExecuteRequest {
        stmt_id,
        flags,
        iterations,
        null_bitmap,
        types,
        values,
    })
}

/// Peeks at the client statement id of a COM_STMT_* payload (after the command byte).
pub fn stmt_id(payload: &[u8]) -> Option<u32> {
    Reader::new(payload).u32()
}

/// Length of one binary-protocol value of `column_type` at the start of `bytes`.
pub fn value_len(column_type: u8, bytes: &[u8]) -> Option<usize> {
    let fixed = match column_type {
        0x06 => 0,               // NULL
        0x01 => 1,               // TINY
        0x02 | 0x0d => 2,        // SHORT, YEAR
        0x03 | 0x09 | 0x04 => 4, // LONG, INT24, FLOAT
        0x08 | 0x05 => 8,        // LONGLONG, DOUBLE
        0x07 | 0x0a | 0x0b | 0x0c | 0x0e | 0x11 | 0x12 | 0x13 => {
            // Temporal values: a length byte, then that many bytes.
            let n = usize::from(*bytes.first()?);
            return (bytes.len() > n).then_some(n + 1);
        }
        _ => {
            let mut r = Reader::new(bytes);
            let n = usize::try_from(r.lenenc_int()?).ok()?;
            let header = bytes.len() - r.remaining();
            r.bytes(n)?;
            return Some(header + n);
        }
    };
    (bytes.len() >= fixed).then_some(fixed)
}

/// Splits `values` into one slice per parameter (None for NULL or long-data parameters).
pub fn split_values<'a>(
    req: &ExecuteRequest<'a>,
    types: &[u8],
    num_params: usize,
    is_long_data: impl Fn(usize) -> bool,
) -> Option<Vec<Option<&'a [u8]>>> {
    if types.len() < num_params * 2 {
        return None;
    }
    let mut out = Vec::with_capacity(num_params);
    let mut rest = req.values;
    for i in 0..num_params {
        let null = req
            .null_bitmap
            .get(i / 8)
            .is_some_and(|b| b & (1 << (i % 8)) != 0);
        if null || is_long_data(i) {
            out.push(None);
            continue;
        }
        let n = value_len(types[i * 2], rest)?;
        out.push(Some(&rest[..n]));
        rest = &rest[n..];
    }
    Some(out)
}

/// Whether `req.values` holds a value of its type for every parameter that is not NULL
/// ([`split_values`] without collecting them).
fn check_values(req: &ExecuteRequest<'_>, types: &[u8], num_params: usize) -> Option<()> {
    if types.len() < num_params * 2 {
        return None;
    }
    let mut rest = req.values;
    for i in 0..num_params {
        let null = req
            .null_bitmap
            .get(i / 8)
            .is_some_and(|b| b & (1 << (i % 8)) != 0);
        if !null {
            rest = &rest[value_len(types[i * 2], rest)?..];
        }
    }
    Some(())
}

/// Builds the COM_STMT_EXECUTE payload for a backend: `backend_id`, no cursor, the
/// parameter types always bound (a backend statement may be executing for the first
/// time), long data inlined as length-encoded values.
pub fn rebuild_execute(
    req: &ExecuteRequest<'_>,
    backend_id: u32,
    types: &[u8],
    num_params: usize,
    long_data: &[(u16, Vec<u8>)],
) -> Option<Vec<u8>> {
    let mut p = Vec::with_capacity(16 + types.len() + req.values.len());
    rebuild_execute_into(&mut p, req, backend_id, types, num_params, long_data)?;
    Some(p)
}

/// [`rebuild_execute`] appending to `p` (a reusable buffer, possibly after a packet
/// header). On `None` (malformed values) `p` holds a partial payload.
pub fn rebuild_execute_into(
    p: &mut Vec<u8>,
    req: &ExecuteRequest<'_>,
    backend_id: u32,
    types: &[u8],
    num_params: usize,
    long_data: &[(u16, Vec<u8>)],
) -> Option<()> {
    p.reserve(16 + types.len() + req.values.len());
    p.push(0x17);
    p.extend_from_slice(&backend_id.to_le_bytes());
    p.push(0);
    p.extend_from_slice(&1u32.to_le_bytes());
    if num_params == 0 {
        return Some(());
    }
    p.extend_from_slice(req.null_bitmap);
    p.push(1);
    p.extend_from_slice(types.get(..num_params * 2)?);
    if long_data.is_empty() {
        // Validate the values without copying them one by one.
        check_values(req, types, num_params)?;
        p.extend_from_slice(req.values);
        return Some(());
    }
    let find = |i: usize| long_data.iter().find(|(k, _)| usize::from(*k) == i);
    let values = split_values(req, types, num_params, |i| find(i).is_some())?;
    for (i, v) in values.into_iter().enumerate() {
        match (v, find(i)) {
            (Some(v), _) => p.extend_from_slice(v),
            (None, Some((_, data))) => put_lenenc_str(p, data),
            (None, None) => {}
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// COM_STMT_EXECUTE for `SELECT ?, ?` with an INT 7 and a NULL, as libmariadb sends it
    /// on first execution (payload after 0x17).
    const FIRST_EXEC: &[u8] = &[
        1, 0, 0, 0, // stmt id
        0, // flags
        1, 0, 0, 0,    // iterations
        0b10, // null bitmap: param 1 is NULL
        1,    // new params bound
        0x03, 0x00, 0x06, 0x00, // LONG, NULL
        7, 0, 0, 0,
    ];

    #[test]
    fn parses_and_rebuilds() {
        let req = parse_execute(FIRST_EXEC, 2).expect("parse");
        assert_eq!(req.stmt_id, 1);
        assert_eq!(req.types, Some(&[0x03, 0x00, 0x06, 0x00][..]));
        let types = req.types.expect("types");
        let vals = split_values(&req, types, 2, |_| false).expect("values");
        assert_eq!(vals, vec![Some(&[7u8, 0, 0, 0][..]), None]);
        let out = rebuild_execute(&req, 99, types, 2, &[]).expect("rebuild");
        let mut want = vec![
            0x17, 99, 0, 0, 0, 0, 1, 0, 0, 0, 0b10, 1, 0x03, 0x00, 0x06, 0x00,
        ];
        want.extend_from_slice(&[7, 0, 0, 0]);
        assert_eq!(out, want);
    }

    #[test]
    fn later_execute_without_types_uses_remembered_ones() {
        let later: &[u8] = &[1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 9, 0, 0, 0, 2, b'h', b'i'];
        let req = parse_execute(later, 2).expect("parse");
        assert_eq!(req.types, None);
        let types = [0x03, 0x00, 0xFD, 0x00];
        let out = rebuild_execute(&req, 5, &types, 2, &[]).expect("rebuild");
        assert_eq!(out[5], 0, "cursor flag cleared");
        assert_eq!(
            &out[11..],
            &[1, 0x03, 0x00, 0xFD, 0x00, 9, 0, 0, 0, 2, b'h', b'i']
        );
    }

    #[test]
    fn long_data_is_inlined() {
        let req =
            parse_execute(&[1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0xFC, 0, 0x03, 0], 2).expect("parse");
        let types = req.types.expect("types");
        let long = vec![(0u16, b"blob".to_vec())];
        // Param 1 (LONG) has no value bytes in the request: truncated, must be refused.
        assert!(rebuild_execute(&req, 5, types, 2, &long).is_none());
        let req = parse_execute(
            &[
                1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0xFC, 0, 0x03, 0, 4, 0, 0, 0,
            ],
            2,
        )
        .expect("parse");
        let out = rebuild_execute(&req, 5, req.types.expect("types"), 2, &long).expect("rebuild");
        assert_eq!(&out[16..], &[4, b'b', b'l', b'o', b'b', 4, 0, 0, 0]);
    }

    #[test]
    fn temporal_and_truncated_values() {
        assert_eq!(value_len(0x0c, &[4, 0xE8, 0x07, 1, 2]), Some(5));
        assert_eq!(value_len(0x0c, &[7, 0xE8]), None);
        assert_eq!(value_len(0x08, &[1, 2, 3]), None);
        assert_eq!(value_len(0xFD, &[3, b'a']), None);
    }

    proptest! {
        #[test]
        fn execute_parsing_never_panics(
            payload in proptest::collection::vec(any::<u8>(), 0..80),
            n in 0usize..12,
            long in proptest::collection::vec((0u16..12, proptest::collection::vec(any::<u8>(), 0..8)), 0..3),
        ) {
            if let Some(req) = parse_execute(&payload, n) {
                let types: Vec<u8> = req.types.map(<[u8]>::to_vec).unwrap_or_else(|| vec![0xFD; n * 2]);
                let _ = rebuild_execute(&req, 1, &types, n, &long);
            }
        }
    }
}
