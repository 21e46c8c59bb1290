//! The column definitions of a UNION merged by the proxy, as MariaDB 10.11 describes a
//! UNION's result: no schema, table or original table (the result is no table's), the
//! original name only for UNION DISTINCT (its rows pass through a temporary table), key
//! and default-value flags dropped, numbers of UNION ALL flagged BINARY, and VARCHAR
//! columns with decimals 39 (NOT_FIXED_DEC). Observed with the differential test against
//! one server.

use crate::backend::rewrite::ColumnDef;

/// Flags a UNION's column keeps: NOT_NULL, BLOB, UNSIGNED, ZEROFILL, BINARY.
const KEPT_FLAGS: u16 = 1 | 16 | 32 | 64 | 128;
/// BINARY_FLAG.
const BINARY_FLAG: u16 = 128;
/// The `binary` character set.
const BINARY_CHARSET: u16 = 63;
/// MYSQL_TYPE_VAR_STRING.
const VAR_STRING: u8 = 0xFD;
/// NOT_FIXED_DEC.
const NOT_FIXED_DEC: u8 = 39;

/// `def` (a column of the first branch) as the UNION's column; `None` if malformed.
pub(super) fn union_column(def: &[u8], distinct: bool) -> Option<Vec<u8>> {
    let d = ColumnDef::parse(def)?;
    let org_name: &[u8] = if distinct { d.strings[4] } else { b"" };
    let mut out = d.encode(&[(1, b""), (2, b""), (3, b""), (5, org_name)]);
    // The fixed-length part is the last 13 bytes: 0x0c, charset, length, type, flags,
    // decimals, filler.
    let at = out.len().checked_sub(12)?;
    let fixed = out.get_mut(at..)?;
    let charset = u16::from_le_bytes([fixed[0], fixed[1]]);
    let column_type = fixed[6];
    let mut flags = u16::from_le_bytes([fixed[7], fixed[8]]) & KEPT_FLAGS;
    if !distinct && charset == BINARY_CHARSET {
        flags |= BINARY_FLAG;
    }
    fixed[7..9].copy_from_slice(&flags.to_le_bytes());
    if column_type == VAR_STRING {
        fixed[9] = NOT_FIXED_DEC;
    }
    Some(out)
}
