//! Result rows as the merge sees them: the column types from the column definitions, and
//! each row's cells located inside its payload without decoding them. Text rows
//! (COM_QUERY) hold length-encoded strings; binary rows (COM_STMT_EXECUTE) a NULL bitmap
//! and typed values (<https://mariadb.com/kb/en/resultset-row/>).

/// MySQL column type codes (`enum_field_types`).
pub mod types {
    #![allow(missing_docs)]
    pub const DECIMAL: u8 = 0;
    pub const TINY: u8 = 1;
    pub const SHORT: u8 = 2;
    pub const LONG: u8 = 3;
    pub const FLOAT: u8 = 4;
    pub const DOUBLE: u8 = 5;
    pub const NULL: u8 = 6;
    pub const TIMESTAMP: u8 = 7;
    pub const LONGLONG: u8 = 8;
    pub const INT24: u8 = 9;
    pub const DATE: u8 = 10;
    pub const TIME: u8 = 11;
    pub const DATETIME: u8 = 12;
    pub const YEAR: u8 = 13;
    pub const NEWDATE: u8 = 14;
    pub const BIT: u8 = 16;
    pub const NEWDECIMAL: u8 = 246;
    pub const ENUM: u8 = 247;
    pub const SET: u8 = 248;
    pub const GEOMETRY: u8 = 255;
}

/// Column flags the merge looks at.
pub mod flags {
    /// `UNSIGNED_FLAG`.
    pub const UNSIGNED: u16 = 32;
    /// `ENUM_FLAG`.
    pub const ENUM: u16 = 256;
    /// `SET_FLAG`.
    pub const SET: u16 = 2048;
}

/// Text (COM_QUERY) or binary (COM_STMT_EXECUTE) rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFormat {
    /// Length-encoded strings.
    Text,
    /// NULL bitmap and typed values.
    Binary,
}

/// What the merge needs of a column definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnInfo {
    /// Collation id of the values as sent.
    pub charset: u16,
    /// Type code ([`types`]).
    pub column_type: u8,
    /// Flags ([`flags`]).
    pub flags: u16,
    /// Decimals.
    pub decimals: u8,
}

impl ColumnInfo {
    /// Reads the fixed fields that end a ColumnDefinition41 payload (`0x0c`, charset,
    /// length, type, flags, decimals, two filler bytes).
    pub fn parse(payload: &[u8]) -> Option<ColumnInfo> {
        let n = payload.len();
        if n < 13 || payload[n - 13] != 0x0c {
            return None;
        }
        let f = &payload[n - 12..];
        Some(ColumnInfo {
            charset: u16::from_le_bytes([f[0], f[1]]),
            column_type: f[6],
            flags: u16::from_le_bytes([f[7], f[8]]),
            decimals: f[9],
        })
    }

    /// Whether the values are unsigned integers.
    pub fn unsigned(&self) -> bool {
        self.flags & flags::UNSIGNED != 0
    }
}

/// Reads a length-encoded integer at `at`; returns (value, bytes used).
pub fn lenenc_int(bytes: &[u8], at: usize) -> Option<(u64, usize)> {
    let first = *bytes.get(at)?;
    let read = |n: usize| -> Option<u64> {
        let b = bytes.get(at + 1..at + 1 + n)?;
        let mut v = 0u64;
        for (i, x) in b.iter().enumerate() {
            v |= u64::from(*x) << (8 * i);
        }
        Some(v)
    };
    match first {
        0..=0xfa => Some((u64::from(first), 1)),
        0xfc => Some((read(2)?, 3)),
        0xfd => Some((read(3)?, 4)),
        0xfe => Some((read(8)?, 9)),
        _ => None,
    }
}

/// Appends a length-encoded integer.
pub fn put_lenenc_int(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=0xfa => out.push(v as u8),
        0xfb..=0xffff => {
            out.push(0xfc);
            out.extend_from_slice(&(v as u16).to_le_bytes());
        }
        0x1_0000..=0xff_ffff => {
            out.push(0xfd);
            out.extend_from_slice(&(v as u32).to_le_bytes()[..3]);
        }
        _ => {
            out.push(0xfe);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// Appends a length-encoded string.
pub fn put_lenenc_str(out: &mut Vec<u8>, s: &[u8]) {
    put_lenenc_int(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// A row payload with its cells located: `(start, end)` of each value's bytes, `None`
/// for NULL. For binary rows the bytes are the typed value (without a length prefix for
/// fixed-size types, with the 1-byte length for temporal types, without it for strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The row packet's payload.
    pub payload: Vec<u8>,
    cells: Vec<Option<(u32, u32)>>,
    /// Where each cell's encoding (length prefix included) starts; the end of the last
    /// cell is the payload end.
    starts: Vec<u32>,
}

impl Row {
    /// Locates the cells of `payload`; `None` if it does not hold `columns.len()` cells.
    pub fn parse(payload: Vec<u8>, format: RowFormat, columns: &[ColumnInfo]) -> Option<Row> {
        let mut cells = Vec::with_capacity(columns.len());
        let mut starts = Vec::with_capacity(columns.len());
        match format {
            RowFormat::Text => {
                let mut at = 0usize;
                for _ in columns {
                    starts.push(at as u32);
                    if *payload.get(at)? == 0xfb {
                        cells.push(None);
                        at += 1;
                        continue;
                    }
                    let (len, used) = lenenc_int(&payload, at)?;
                    let start = at + used;
                    let end = start.checked_add(usize::try_from(len).ok()?)?;
                    if end > payload.len() {
                        return None;
                    }
                    cells.push(Some((start as u32, end as u32)));
                    at = end;
                }
                if at != payload.len() {
                    return None;
                }
            }
            RowFormat::Binary => {
                if payload.first() != Some(&0) {
                    return None;
                }
                let bitmap = (columns.len() + 7 + 2) / 8;
                let mut at = 1 + bitmap;
                if at > payload.len() {
                    return None;
                }
                for (i, c) in columns.iter().enumerate() {
                    starts.push(at as u32);
                    let bit = i + 2;
                    if payload[1 + bit / 8] & (1 << (bit % 8)) != 0 {
                        cells.push(None);
                        continue;
                    }
                    let (start, end) = binary_cell(&payload, at, c.column_type)?;
                    cells.push(Some((start as u32, end as u32)));
                    at = end;
                }
                if at != payload.len() {
                    return None;
                }
            }
        }
        Some(Row {
            payload,
            cells,
            starts,
        })
    }

    /// The bytes of cell `i` (`None` for NULL or a missing cell).
    pub fn cell(&self, i: usize) -> Option<&[u8]> {
        let (s, e) = (*self.cells.get(i)?)?;
        Some(&self.payload[s as usize..e as usize])
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Whether the row has no cells.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The encoding of cell `i` as it appears in the payload (length prefix included;
    /// empty for a NULL binary cell).
    pub fn encoded(&self, i: usize) -> &[u8] {
        let start = self.starts[i] as usize;
        let end = self
            .starts
            .get(i + 1)
            .map_or(self.payload.len(), |e| *e as usize);
        &self.payload[start..end]
    }

    /// The payload of this row without its last `hidden` columns.
    pub fn visible_payload(self, format: RowFormat, hidden: usize) -> Vec<u8> {
        if hidden == 0 {
            return self.payload;
        }
        let visible = self.cells.len() - hidden;
        match format {
            RowFormat::Text => {
                let end = self
                    .starts
                    .get(visible)
                    .map_or(self.payload.len(), |e| *e as usize);
                let mut p = self.payload;
                p.truncate(end);
                p
            }
            RowFormat::Binary => {
                let mut out = RowWriter::new(format, visible);
                for i in 0..visible {
                    match self.cells[i] {
                        None => out.null(),
                        Some(_) => out.raw(self.encoded(i)),
                    }
                }
                out.finish()
            }
        }
    }
}

/// The span of a non-NULL binary value starting at `at`.
fn binary_cell(p: &[u8], at: usize, column_type: u8) -> Option<(usize, usize)> {
    use types::*;
    let fixed = match column_type {
        TINY => Some(1),
        SHORT | YEAR => Some(2),
        LONG | INT24 | FLOAT => Some(4),
        LONGLONG | DOUBLE => Some(8),
        NULL => Some(0),
        _ => None,
    };
    if let Some(n) = fixed {
        let end = at + n;
        return (end <= p.len()).then_some((at, end));
    }
    match column_type {
        TIMESTAMP | DATE | DATETIME | TIME | NEWDATE => {
            let len = usize::from(*p.get(at)?);
            let end = at + 1 + len;
            (end <= p.len()).then_some((at, end))
        }
        _ => {
            let (len, used) = lenenc_int(p, at)?;
            let start = at + used;
            let end = start.checked_add(usize::try_from(len).ok()?)?;
            (end <= p.len()).then_some((start, end))
        }
    }
}

/// Builds a row payload cell by cell.
pub struct RowWriter {
    format: RowFormat,
    out: Vec<u8>,
    column: usize,
}

impl RowWriter {
    /// A row of `columns` cells.
    pub fn new(format: RowFormat, columns: usize) -> RowWriter {
        let mut out = Vec::with_capacity(16 + columns * 8);
        if format == RowFormat::Binary {
            out.push(0);
            out.resize(1 + (columns + 7 + 2) / 8, 0);
        }
        RowWriter {
            format,
            out,
            column: 0,
        }
    }

    /// A NULL cell.
    pub fn null(&mut self) {
        match self.format {
            RowFormat::Text => self.out.push(0xfb),
            RowFormat::Binary => {
                let bit = self.column + 2;
                self.out[1 + bit / 8] |= 1 << (bit % 8);
            }
        }
        self.column += 1;
    }

    /// A cell already encoded for this format (length prefix included).
    pub fn raw(&mut self, encoded: &[u8]) {
        self.out.extend_from_slice(encoded);
        self.column += 1;
    }

    /// A string-like cell (text rows; DECIMAL and strings in binary rows).
    pub fn bytes(&mut self, value: &[u8]) {
        put_lenenc_str(&mut self.out, value);
        self.column += 1;
    }

    /// A BIGINT cell (binary: 8 bytes).
    pub fn integer(&mut self, text: &str, binary: i128) {
        match self.format {
            RowFormat::Text => put_lenenc_str(&mut self.out, text.as_bytes()),
            RowFormat::Binary => self.out.extend_from_slice(&(binary as u64).to_le_bytes()),
        }
        self.column += 1;
    }

    /// A DOUBLE cell.
    pub fn double(&mut self, text: &str, value: f64) {
        match self.format {
            RowFormat::Text => put_lenenc_str(&mut self.out, text.as_bytes()),
            RowFormat::Binary => self.out.extend_from_slice(&value.to_le_bytes()),
        }
        self.column += 1;
    }

    /// A FLOAT cell.
    pub fn float(&mut self, text: &str, value: f32) {
        match self.format {
            RowFormat::Text => put_lenenc_str(&mut self.out, text.as_bytes()),
            RowFormat::Binary => self.out.extend_from_slice(&value.to_le_bytes()),
        }
        self.column += 1;
    }

    /// The payload.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(t: u8) -> ColumnInfo {
        ColumnInfo {
            charset: 45,
            column_type: t,
            flags: 0,
            decimals: 0,
        }
    }

    #[test]
    fn text_rows_locate_cells_and_drop_hidden_columns() {
        let payload = vec![1, b'7', 0xfb, 2, b'a', b'b'];
        let cols = [col(types::LONG), col(253), col(253)];
        let row = Row::parse(payload, RowFormat::Text, &cols).expect("row");
        assert_eq!(row.cell(0), Some(&b"7"[..]));
        assert_eq!(row.cell(1), None);
        assert_eq!(row.cell(2), Some(&b"ab"[..]));
        assert_eq!(row.visible_payload(RowFormat::Text, 1), vec![1, b'7', 0xfb]);
        assert!(Row::parse(vec![1, b'7'], RowFormat::Text, &cols).is_none());
    }

    #[test]
    fn binary_rows_locate_cells_and_rebuild_the_bitmap() {
        // 3 columns: LONG 5, NULL string, DATE 2024-01-02.
        let mut w = RowWriter::new(RowFormat::Binary, 3);
        w.raw(&5i32.to_le_bytes());
        w.null();
        w.raw(&[4, 0xe8, 0x07, 1, 2]);
        let payload = w.finish();
        let cols = [col(types::LONG), col(253), col(types::DATE)];
        let row = Row::parse(payload, RowFormat::Binary, &cols).expect("row");
        assert_eq!(row.cell(0), Some(&5i32.to_le_bytes()[..]));
        assert_eq!(row.cell(1), None);
        assert_eq!(row.cell(2), Some(&[4, 0xe8, 0x07, 1, 2][..]));
        let visible = row.visible_payload(RowFormat::Binary, 1);
        let row2 = Row::parse(visible, RowFormat::Binary, &cols[..2]).expect("row");
        assert_eq!(row2.cell(0), Some(&5i32.to_le_bytes()[..]));
        assert_eq!(row2.cell(1), None);
    }

    #[test]
    fn column_info_reads_the_fixed_fields() {
        let mut p = vec![3, b'd', b'e', b'f', 0, 0, 0, 1, b'x', 0, 0x0c];
        p.extend_from_slice(&45u16.to_le_bytes());
        p.extend_from_slice(&11u32.to_le_bytes());
        p.push(types::LONGLONG);
        p.extend_from_slice(&(flags::UNSIGNED).to_le_bytes());
        p.push(0);
        p.extend_from_slice(&[0, 0]);
        let c = ColumnInfo::parse(&p).expect("column");
        assert_eq!(c.column_type, types::LONGLONG);
        assert!(c.unsigned());
        assert_eq!(c.charset, 45);
    }
}
