//! Following a backend's response packet by packet: where it ends, its final status flags,
//! its OK values. Used both to relay a response to the client byte for byte (only the
//! sequence ids are rewritten) and to read responses the proxy consumes itself.
//!
//! Response layouts without CLIENT_DEPRECATE_EOF:
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response.html>

use crate::backend::conn::BackendConn;
use crate::backend::header::{Verbatim, relay_with_header};
use crate::error::{Side, SqlError};
use crate::packet::{MAX_CHUNK, status};
use crate::wire::Reader;
use bytes::Buf;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Chunks longer than this are streamed through as they arrive instead of being buffered
/// whole (only row data can be this large).
pub(super) const STREAM_THRESHOLD: usize = 256 * 1024;

/// The shape of response a command produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// COM_QUERY / COM_STMT_EXECUTE: OK, ERR, or result sets (possibly several).
    Query,
    /// COM_FIELD_LIST: column definitions up to EOF, or ERR.
    FieldList,
    /// COM_STMT_PREPARE: OK with parameter and column definitions, or ERR.
    Prepare,
    /// Exactly one packet (COM_PING, COM_INIT_DB, COM_SET_OPTION, COM_STATISTICS).
    Simple,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Start,
    Columns(u64),
    ColumnsEof,
    Rows,
    PrepParams(u64),
    PrepParamsEof,
    PrepColumns(u64),
    PrepColumnsEof,
    FieldList,
    Simple,
    Done,
}

/// Tracks a response through its packets.
#[derive(Debug, Clone)]
pub struct Tracker {
    kind: ResponseKind,
    state: St,
    continuation: bool,
    /// Status flags of the last OK or EOF seen.
    pub status: u16,
    /// Affected rows of the last OK.
    pub affected_rows: u64,
    /// Last insert id of the last OK that carried a non-zero one.
    pub last_insert_id: u64,
    /// The response ended with an ERR packet.
    pub error: bool,
    /// That ERR packet's error number.
    pub error_code: u16,
    /// An OK packet answered a statement of the response (a write, not a result set).
    pub saw_ok: bool,
    /// For COM_STMT_PREPARE: (statement id, columns, params).
    pub prepared: Option<(u32, u16, u16)>,
}

impl Tracker {
    /// A tracker for a response of `kind`.
    pub fn new(kind: ResponseKind) -> Self {
        Tracker {
            kind,
            state: match kind {
                ResponseKind::FieldList => St::FieldList,
                ResponseKind::Simple => St::Simple,
                _ => St::Start,
            },
            continuation: false,
            status: 0,
            affected_rows: 0,
            last_insert_id: 0,
            error: false,
            error_code: 0,
            saw_ok: false,
            prepared: None,
        }
    }

    /// Whether the response is complete.
    pub fn done(&self) -> bool {
        // A last packet of 0xFFFFFF bytes or more still has a continuation chunk to come.
        self.state == St::Done && !self.continuation
    }

    /// Whether the next chunk is a row, the EOF after the rows, or an ERR (so it is neither
    /// a column definition nor the start of a result set).
    pub(crate) fn in_rows(&self) -> bool {
        self.state == St::Rows
    }

    /// Whether the next chunk can only be row data (so a large one may be streamed
    /// without being buffered whole).
    pub(crate) fn expects_row_data(&self) -> bool {
        self.state == St::Rows || self.continuation
    }

    /// Feeds one chunk: a prefix of its payload (at least 9 bytes, or all of it when
    /// shorter) and its full length. A malformed response is an error of
    /// [`Side::SentNoAnswer`] (the backend's ERR packets are not errors here: they end the
    /// response with `error` set).
    pub fn chunk(&mut self, payload: &[u8], len: usize) -> Result<(), SqlError> {
        let was_continuation = self.continuation;
        self.continuation = len == MAX_CHUNK;
        if was_continuation {
            return Ok(());
        }
        if self.state == St::Done {
            // Checked before the ERR shortcut below, which would otherwise accept an ERR
            // packet after the end.
            return Err(after_end());
        }
        let head = payload.first().copied();
        let is_eof = head == Some(0xFE) && len < 9;
        let malformed =
            || SqlError::internal("malformed response from backend").on(Side::SentNoAnswer);
        // No column definition or row can start with 0xFF, so it is always an ERR packet,
        // which ends the whole response.
        if head == Some(0xFF) {
            self.error = true;
            self.error_code = u16::from_le_bytes([
                payload.get(1).copied().unwrap_or(0),
                payload.get(2).copied().unwrap_or(0),
            ]);
            self.state = St::Done;
            return Ok(());
        }
        self.state = match self.state {
            St::Simple => {
                if head == Some(0x00) {
                    self.ok(payload);
                } else if is_eof {
                    self.eof(payload);
                }
                St::Done
            }
            St::Start if self.kind == ResponseKind::Prepare => {
                if head != Some(0x00) {
                    return Err(malformed());
                }
                let mut r = Reader::new(payload);
                r.u8();
                let id = r.u32().ok_or_else(malformed)?;
                let columns = r.u16().ok_or_else(malformed)?;
                let params = r.u16().ok_or_else(malformed)?;
                self.prepared = Some((id, columns, params));
                self.after_params(u64::from(params))
            }
            St::Start => match head {
                Some(0x00) => {
                    self.ok(payload);
                    self.more_or_done()
                }
                Some(0xFE) | Some(0xFB) | None => St::Done,
                Some(_) => match Reader::new(payload).lenenc_int().ok_or_else(malformed)? {
                    0 => return Err(malformed()),
                    n => St::Columns(n),
                },
            },
            St::Columns(n) if n > 1 => St::Columns(n - 1),
            St::Columns(_) => St::ColumnsEof,
            St::ColumnsEof => St::Rows,
            St::Rows if is_eof => {
                self.eof(payload);
                self.more_or_done()
            }
            St::Rows => St::Rows,
            St::PrepParams(n) if n > 1 => St::PrepParams(n - 1),
            St::PrepParams(_) => St::PrepParamsEof,
            St::PrepParamsEof => {
                let columns = self.prepared.map_or(0, |p| p.1);
                self.after_params(0).max_columns(columns)
            }
            St::PrepColumns(n) if n > 1 => St::PrepColumns(n - 1),
            St::PrepColumns(_) => St::PrepColumnsEof,
            St::PrepColumnsEof => St::Done,
            St::FieldList if is_eof => {
                self.eof(payload);
                St::Done
            }
            St::FieldList => St::FieldList,
            St::Done => return Err(after_end()),
        };
        Ok(())
    }

    /// State after the parameter definitions of a prepare response (or right after its OK
    /// when there are `params` definitions to come).
    fn after_params(&self, params: u64) -> St {
        if params > 0 {
            return St::PrepParams(params);
        }
        St::Done.max_columns(self.prepared.map_or(0, |p| p.1))
    }

    fn more_or_done(&self) -> St {
        if self.status & status::MORE_RESULTS_EXISTS != 0 {
            St::Start
        } else {
            St::Done
        }
    }

    fn ok(&mut self, payload: &[u8]) {
        self.saw_ok = true;
        let mut r = Reader::new(payload);
        r.u8();
        self.affected_rows = r.lenenc_int().unwrap_or(0);
        let id = r.lenenc_int().unwrap_or(0);
        if id != 0 {
            self.last_insert_id = id;
        }
        self.status = r.u16().unwrap_or(0);
    }

    fn eof(&mut self, payload: &[u8]) {
        let mut r = Reader::new(payload);
        r.u8();
        r.u16();
        self.status = r.u16().unwrap_or(self.status);
    }
}

/// A backend protocol violation: the request was sent and no well-formed answer came, so
/// it may have been applied ([`Side::SentNoAnswer`]).
fn after_end() -> SqlError {
    SqlError::internal("backend sent data after the end of a response").on(Side::SentNoAnswer)
}

/// What one packet of a response is, for relays that drop some packets (concatenating
/// the result sets of several shards).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// An OK packet.
    Ok,
    /// An ERR packet.
    Err,
    /// The column count of a result set.
    ColumnCount,
    /// A column definition.
    ColumnDef,
    /// The EOF after the column definitions.
    ColumnsEof,
    /// A row.
    Row,
    /// The EOF ending a result set.
    RowsEof,
    /// Anything else (continuation chunks, prepare responses).
    Other,
}

impl Tracker {
    /// The class of the next packet, judged from its first byte and length.
    pub fn class_of(&self, head: Option<u8>, len: usize) -> Class {
        if self.continuation {
            return Class::Other;
        }
        match (self.state, head) {
            (_, Some(0xFF)) => Class::Err,
            (St::Start, Some(0x00)) => Class::Ok,
            (St::Start, _) => Class::ColumnCount,
            (St::Columns(_), _) => Class::ColumnDef,
            (St::ColumnsEof, _) => Class::ColumnsEof,
            (St::Rows, Some(0xFE)) if len < 9 => Class::RowsEof,
            (St::Rows, _) => Class::Row,
            _ => Class::Other,
        }
    }
}

impl St {
    /// After the parameter part of a prepare response: the column definitions, if any.
    fn max_columns(self, columns: u16) -> St {
        if columns > 0 {
            St::PrepColumns(u64::from(columns))
        } else {
            St::Done
        }
    }
}

/// A relayed response's outcome.
#[derive(Debug)]
pub struct Relayed {
    /// What the response said.
    pub tracker: Tracker,
    /// The next sequence id on the client side.
    pub next_seq: u8,
}

/// Why relaying stopped early.
#[derive(Debug)]
pub enum RelayFailure {
    /// The backend failed (connection lost or protocol violation); the connection is
    /// marked broken. `next_seq` continues the client's sequence for an ERR packet.
    Backend {
        /// The error to report.
        error: SqlError,
        /// The client's next sequence id.
        next_seq: u8,
    },
    /// Writing to the client failed; the client connection is gone.
    Client(std::io::Error),
}

pub(super) fn chunk_len(h: &[u8]) -> usize {
    usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16
}

/// Relays the response to the command just sent on `conn` to `client`, rewriting sequence
/// ids to continue from `seq`. Rows are never decoded; large rows are streamed through.
pub async fn relay<W: AsyncWrite + Unpin>(
    conn: &mut BackendConn,
    kind: ResponseKind,
    client: &mut W,
    seq: u8,
) -> Result<Relayed, RelayFailure> {
    // Nothing is rewritten, so the side buffer stays empty (and unallocated).
    let mut unused = Vec::new();
    relay_with_header(conn, kind, client, seq, &mut unused, &mut Verbatim).await
}

/// Reads until a whole chunk is buffered in `conn` and returns its payload length. While
/// waiting, packets already prepared in `out` are sent once they exceed `flush_at` bytes; if
/// the backend fails, what `out` holds is sent before the failure is returned.
pub(crate) async fn await_chunk<W: AsyncWrite + Unpin>(
    conn: &mut BackendConn,
    client: &mut W,
    out: &mut Vec<u8>,
    flush_at: usize,
    seq: u8,
) -> Result<usize, RelayFailure> {
    while conn.rbuf.len() < 4 || conn.rbuf.len() - 4 < chunk_len(&conn.rbuf) {
        if out.len() >= flush_at {
            client.write_all(out).await.map_err(RelayFailure::Client)?;
            out.clear();
        }
        if conn.fill().await.is_err() {
            conn.broken = true;
            let error = conn.read_failure();
            client.write_all(out).await.map_err(RelayFailure::Client)?;
            return Err(RelayFailure::Backend {
                error,
                next_seq: seq,
            });
        }
    }
    Ok(chunk_len(&conn.rbuf))
}

/// Copies the rest of a large chunk from the backend to the client as it arrives.
pub(super) async fn stream_through<W: AsyncWrite + Unpin>(
    conn: &mut BackendConn,
    client: &mut W,
    mut remaining: usize,
    seq: u8,
) -> Result<(), RelayFailure> {
    while remaining > 0 {
        if conn.rbuf.is_empty() && conn.fill().await.is_err() {
            conn.broken = true;
            let error = conn.read_failure();
            return Err(RelayFailure::Backend {
                error,
                next_seq: seq,
            });
        }
        let n = remaining.min(conn.rbuf.len());
        client
            .write_all(&conn.rbuf[..n])
            .await
            .map_err(RelayFailure::Client)?;
        conn.rbuf.advance(n);
        remaining -= n;
    }
    Ok(())
}

/// Reads a whole response the proxy consumes itself, as logical packets (continuation
/// chunks joined). A lost connection or malformed response marks `conn` broken.
/// Reads the next whole packet (continuation chunks joined) of a response the proxy takes
/// apart itself (a cross-shard merge), with its class; `None` once the response is complete.
pub async fn next_packet(
    conn: &mut BackendConn,
    t: &mut Tracker,
) -> Result<Option<(Class, Vec<u8>)>, SqlError> {
    if t.done() {
        return Ok(None);
    }
    let mut class = None;
    let mut out = Vec::new();
    loop {
        while conn.rbuf.len() < 4 || conn.rbuf.len() - 4 < chunk_len(&conn.rbuf) {
            if conn.fill().await.is_err() {
                conn.broken = true;
                return Err(conn.read_failure());
            }
        }
        let len = chunk_len(&conn.rbuf);
        let body = &conn.rbuf[4..4 + len];
        if class.is_none() {
            class = Some(t.class_of(body.first().copied(), len));
        }
        if let Err(e) = t.chunk(body, len) {
            conn.broken = true;
            return Err(e);
        }
        out.extend_from_slice(body);
        conn.rbuf.advance(4 + len);
        if len != MAX_CHUNK {
            break;
        }
    }
    if t.done() {
        conn.last_used = std::time::Instant::now();
    }
    Ok(class.map(|c| (c, out)))
}

/// Reads a whole response the proxy consumes itself.
pub async fn read_internal(
    conn: &mut BackendConn,
    kind: ResponseKind,
) -> Result<Vec<Vec<u8>>, SqlError> {
    let mut t = Tracker::new(kind);
    let mut packets: Vec<Vec<u8>> = Vec::new();
    let mut joining = false;
    while !t.done() {
        while conn.rbuf.len() < 4 || conn.rbuf.len() - 4 < chunk_len(&conn.rbuf) {
            if conn.fill().await.is_err() {
                conn.broken = true;
                return Err(conn.read_failure());
            }
        }
        let len = chunk_len(&conn.rbuf);
        let body = &conn.rbuf[4..4 + len];
        if let Err(e) = t.chunk(body, len) {
            conn.broken = true;
            return Err(e);
        }
        match packets.last_mut() {
            Some(last) if joining => last.extend_from_slice(body),
            _ => packets.push(body.to_vec()),
        }
        joining = len == MAX_CHUNK;
        conn.rbuf.advance(4 + len);
    }
    conn.last_used = std::time::Instant::now();
    Ok(packets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(kind: ResponseKind, packets: &[&[u8]]) -> Tracker {
        let mut t = Tracker::new(kind);
        for p in packets {
            assert!(!t.done(), "ended early before {p:?}");
            t.chunk(p, p.len()).expect("chunk");
        }
        t
    }

    const COL: &[u8] =
        b"\x03def\x00\x00\x00\x01a\x00\x0c\x3f\x00\x01\x00\x00\x00\x03\x00\x00\x00\x00";

    #[test]
    fn ok_response() {
        let t = feed(
            ResponseKind::Query,
            &[&[0x00, 0x02, 0x05, 0x03, 0x00, 0x00, 0x00]],
        );
        assert!(t.done());
        assert_eq!((t.affected_rows, t.last_insert_id, t.status), (2, 5, 3));
    }

    #[test]
    fn result_set_then_more_results() {
        let t = feed(
            ResponseKind::Query,
            &[
                &[0x01],
                COL,
                &[0xFE, 0, 0, 0x0A, 0],
                b"\x011",
                &[0xFE, 0, 0, 0x0A, 0],
                &[0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00],
            ],
        );
        assert!(t.done() && !t.error);
        assert_eq!(t.status, 2);
    }

    #[test]
    fn error_mid_rows_ends_response() {
        let t = feed(
            ResponseKind::Query,
            &[
                &[0x01],
                COL,
                &[0xFE, 0, 0, 2, 0],
                b"\x011",
                b"\xff\x25\x05#70100Query execution was interrupted",
            ],
        );
        assert!(t.done() && t.error);
    }

    #[test]
    fn row_starting_with_fe_is_not_eof() {
        let mut big = vec![0xFE];
        big.extend_from_slice(&[0u8; 9]);
        let t = feed(
            ResponseKind::Query,
            &[&[0x01], COL, &[0xFE, 0, 0, 2, 0], &big],
        );
        assert!(!t.done());
    }

    #[test]
    fn prepare_response() {
        let ok: &[u8] = &[0x00, 7, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0];
        let eof: &[u8] = &[0xFE, 0, 0, 2, 0];
        let t = feed(ResponseKind::Prepare, &[ok, COL, COL, eof, COL, eof]);
        assert!(t.done());
        assert_eq!(t.prepared, Some((7, 1, 2)));
        let no_params: &[u8] = &[0x00, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        assert!(feed(ResponseKind::Prepare, &[no_params, COL, eof]).done());
        let nothing: &[u8] = &[0x00, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(feed(ResponseKind::Prepare, &[nothing]).done());
    }

    #[test]
    fn field_list_and_simple() {
        assert!(feed(ResponseKind::FieldList, &[COL, COL, &[0xFE, 0, 0, 2, 0]]).done());
        assert!(feed(ResponseKind::Simple, &[b"Uptime: 5  Threads: 1"]).done());
    }

    #[test]
    fn a_backend_err_ends_the_response_and_garbage_is_sent_no_answer() {
        let t = feed(
            ResponseKind::Query,
            &[b"\xff\x7a\x04#42S02Table 'x' doesn't exist"],
        );
        assert!(t.done() && t.error);
        let err = crate::packet::parse_err(b"\xff\x7a\x04#42S02Table 'x' doesn't exist")
            .expect("err packet");
        assert_eq!((err.code, err.side), (1146, Side::Answered));
        let mut t = Tracker::new(ResponseKind::Query);
        t.chunk(&[0x00, 0, 0, 0, 0, 0, 0], 7).expect("ok");
        let after = t
            .chunk(&[0x00, 0, 0, 0, 0, 0, 0], 7)
            .expect_err("data after the end");
        assert_eq!(after.side, Side::SentNoAnswer);
        let mut t = Tracker::new(ResponseKind::Prepare);
        let bad = t
            .chunk(&[0x01], 1)
            .expect_err("a prepare answer must start with OK");
        assert_eq!((bad.code, bad.side), (1105, Side::SentNoAnswer));
    }

    #[test]
    fn continuation_chunks_are_opaque() {
        let mut t = Tracker::new(ResponseKind::Query);
        t.chunk(&[0x01], 1).expect("count");
        t.chunk(COL, COL.len()).expect("col");
        t.chunk(&[0xFE, 0, 0, 2, 0], 5).expect("eof");
        t.chunk(&[0xFC, 0, 0], MAX_CHUNK).expect("big row start");
        // The continuation happens to look like an EOF packet: it must not end the rows.
        t.chunk(&[0xFE, 0, 0, 2, 0], 5).expect("continuation");
        assert!(!t.done());
        t.chunk(&[0xFE, 0, 0, 2, 0], 5).expect("eof");
        assert!(t.done());
    }
}
