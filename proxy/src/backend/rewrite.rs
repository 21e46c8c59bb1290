//! Relaying a response with some of its packets rewritten or left out, and the packet
//! pieces such rewrites need (column definitions, text rows).
//!
//! Only the answers to introspection statements take this path (`SHOW TABLES`,
//! information_schema queries…): their column definitions, and for information_schema
//! their rows, carry physical database names that clients must see as logical ones.
//! Every other response is relayed byte for byte by [`super::relay`].
//!
//! Column definition layout:
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response_text_resultset_column_definition.html>
//! (with MariaDB's extended metadata, a length-encoded string follows `org_name`).
//! Text row layout:
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response_text_resultset_row.html>

use super::conn::BackendConn;
use super::relay::{Class, RelayFailure, Relayed, ResponseKind, Tracker, await_chunk};
use crate::packet::{self, MAX_CHUNK};
use crate::wire::{Reader, put_lenenc_str};
use bytes::Buf;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// What becomes of one packet of a relayed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Relayed as it came.
    Keep,
    /// Replaced by this payload.
    Replace(Vec<u8>),
    /// Left out.
    Drop,
}

/// Flushes the buffered output once it grows past this size.
const FLUSH_AT: usize = 64 * 1024;

/// Relays the response to the command just sent on `conn` to `client`, passing every
/// whole packet (with its class) to `edit`. Sequence ids continue from `seq`. Packets
/// spread over several chunks (16 MiB and more) are relayed unchanged.
pub async fn relay_rewritten<W: AsyncWrite + Unpin>(
    conn: &mut BackendConn,
    kind: ResponseKind,
    client: &mut W,
    mut seq: u8,
    edit: &mut (dyn FnMut(Class, &[u8]) -> Edit + Send),
) -> Result<Relayed, RelayFailure> {
    let mut t = Tracker::new(kind);
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut continuation = false;
    while !t.done() {
        let len = await_chunk(conn, client, &mut out, FLUSH_AT, seq).await?;
        let body = &conn.rbuf[4..4 + len];
        let class = t.class_of(body.first().copied(), len);
        let whole = !continuation && len < MAX_CHUNK;
        let timed_out = match (&conn.interrupter, class) {
            (Some(i), Class::Err) => i.timeout_answer(body),
            _ => None,
        };
        let e = match timed_out {
            // The ERR ending a statement the statement timeout killed says so (1969).
            Some(answer) => Edit::Replace(answer),
            None if whole => edit(class, body),
            None => Edit::Keep,
        };
        if let Err(error) = t.chunk(body, len) {
            conn.broken = true;
            client.write_all(&out).await.map_err(RelayFailure::Client)?;
            return Err(RelayFailure::Backend {
                error,
                next_seq: seq,
            });
        }
        match e {
            Edit::Keep => {
                out.extend_from_slice(&conn.rbuf[..3]);
                out.push(seq);
                seq = seq.wrapping_add(1);
                out.extend_from_slice(&conn.rbuf[4..4 + len]);
            }
            Edit::Replace(p) => seq = packet::frame(&mut out, seq, &p),
            Edit::Drop => {}
        }
        continuation = len == MAX_CHUNK;
        conn.rbuf.advance(4 + len);
        if out.len() >= FLUSH_AT {
            client.write_all(&out).await.map_err(RelayFailure::Client)?;
            out.clear();
        }
    }
    client.write_all(&out).await.map_err(RelayFailure::Client)?;
    conn.last_used = std::time::Instant::now();
    Ok(Relayed {
        tracker: t,
        next_seq: seq,
    })
}

/// Index of each string in [`ColumnDef::strings`].
pub mod field {
    /// Always `def`.
    pub const CATALOG: usize = 0;
    /// Schema of the column's table.
    pub const SCHEMA: usize = 1;
    /// Table alias.
    pub const TABLE: usize = 2;
    /// Table.
    pub const ORG_TABLE: usize = 3;
    /// Column alias (the name clients show).
    pub const NAME: usize = 4;
    /// Column.
    pub const ORG_NAME: usize = 5;
}

/// A column definition split into its six leading strings and the rest (MariaDB's
/// extended metadata if any, then the fixed-length fields), which is kept as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef<'a> {
    /// catalog, schema, table, org_table, name, org_name (see [`field`]).
    pub strings: [&'a [u8]; 6],
    /// Everything after `org_name`.
    pub rest: &'a [u8],
}

impl<'a> ColumnDef<'a> {
    /// Splits a column definition payload.
    pub fn parse(p: &'a [u8]) -> Option<Self> {
        let mut r = Reader::new(p);
        let mut strings: [&[u8]; 6] = [&[]; 6];
        for s in &mut strings {
            *s = r.lenenc_str()?;
        }
        Some(ColumnDef {
            strings,
            rest: r.rest(),
        })
    }

    /// The definition `p` naming `logical` as its schema when its schema is one that
    /// `is_physical` accepts (a physical database shown under its logical name); `None`
    /// when it stays as it is.
    pub fn with_logical_schema(
        p: &[u8],
        is_physical: impl Fn(&[u8]) -> bool,
        logical: &str,
    ) -> Option<Vec<u8>> {
        let def = ColumnDef::parse(p)?;
        let schema = def.strings[field::SCHEMA];
        (schema != logical.as_bytes() && is_physical(schema))
            .then(|| def.encode(&[(field::SCHEMA, logical.as_bytes())]))
    }

    /// The payload again, with `replace` applied: (field index, new value).
    pub fn encode(&self, replace: &[(usize, &[u8])]) -> Vec<u8> {
        let mut p = Vec::with_capacity(self.rest.len() + 64);
        self.encode_into(replace, &mut p);
        p
    }

    /// Appends the payload with `replace` applied to `out` (no allocation of its own).
    pub fn encode_into(&self, replace: &[(usize, &[u8])], out: &mut Vec<u8>) {
        for (i, s) in self.strings.iter().enumerate() {
            let v = replace
                .iter()
                .find(|(f, _)| *f == i)
                .map_or(*s, |(_, v)| *v);
            put_lenenc_str(out, v);
        }
        out.extend_from_slice(self.rest);
    }

    /// Appends the definition `p` with its schema `physical` named `logical` to `out`;
    /// `false` (nothing appended) when its schema is another one or `p` is malformed.
    pub fn rename_schema_into(
        p: &[u8],
        physical: &[u8],
        logical: &[u8],
        out: &mut Vec<u8>,
    ) -> bool {
        match ColumnDef::parse(p) {
            Some(def) if def.strings[field::SCHEMA] == physical && physical != logical => {
                def.encode_into(&[(field::SCHEMA, logical)], out);
                true
            }
            _ => false,
        }
    }
}

/// The values of a text-protocol row (`None` for SQL NULL).
pub fn text_row_values(p: &[u8]) -> Option<Vec<Option<&[u8]>>> {
    let mut r = Reader::new(p);
    let mut out = Vec::new();
    while r.remaining() > 0 {
        if r.peek() == Some(0xFB) {
            r.u8();
            out.push(None);
        } else {
            out.push(Some(r.lenenc_str()?));
        }
    }
    Some(out)
}

/// A text-protocol row payload.
pub fn text_row(values: &[Option<&[u8]>]) -> Vec<u8> {
    let mut p = Vec::with_capacity(values.iter().map(|v| v.map_or(1, |v| v.len() + 9)).sum());
    for v in values {
        match v {
            None => p.push(0xFB),
            Some(v) => put_lenenc_str(&mut p, v),
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Tables_in_shop` of `SHOW TABLES` on MariaDB 10.11 (utf8mb4 client).
    const SHOW_TABLES_DEF: &[u8] = b"\x03def\x12information_schema\x0bTABLE_NAMES\x0bTABLE_NAMES\x0eTables_in_shop\x0aTABLE_NAME\x0c\x2d\x00\x24\x01\x00\x00\xfd\x01\x10\x00\x00\x00";

    #[test]
    fn column_def_round_trip_and_rename() {
        let d = ColumnDef::parse(SHOW_TABLES_DEF).expect("parse");
        assert_eq!(d.strings[field::SCHEMA], b"information_schema");
        assert_eq!(d.strings[field::NAME], b"Tables_in_shop");
        assert_eq!(d.strings[field::ORG_NAME], b"TABLE_NAME");
        assert_eq!(d.rest.len(), 13);
        assert_eq!(d.encode(&[]), SHOW_TABLES_DEF);
        let renamed = d.encode(&[(field::NAME, b"Tables_in_x")]);
        let r = ColumnDef::parse(&renamed).expect("parse");
        assert_eq!(r.strings[field::NAME], b"Tables_in_x");
        assert_eq!(r.rest, d.rest);
        assert!(ColumnDef::parse(b"\x03def\x05ab").is_none());
    }

    #[test]
    fn extended_metadata_is_kept() {
        // With MariaDB extended metadata an extra length-encoded string precedes 0x0C.
        let mut p = SHOW_TABLES_DEF[..SHOW_TABLES_DEF.len() - 13].to_vec();
        p.extend_from_slice(b"\x06\x00\x04json");
        p.extend_from_slice(&SHOW_TABLES_DEF[SHOW_TABLES_DEF.len() - 13..]);
        let d = ColumnDef::parse(&p).expect("parse");
        assert_eq!(d.rest[..7], *b"\x06\x00\x04json");
        assert_eq!(d.encode(&[]), p);
    }

    #[test]
    fn text_rows() {
        let p = b"\x04shop\xfb\x00";
        let v = text_row_values(p).expect("row");
        assert_eq!(v, vec![Some(&b"shop"[..]), None, Some(&b""[..])]);
        assert_eq!(text_row(&v), p);
        assert!(text_row_values(b"\x05ab").is_none());
    }
}
