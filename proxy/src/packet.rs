//! MySQL packet framing and the small server packets the proxy builds itself
//! (OK, ERR, EOF).
//!
//! A packet is a 3-byte little-endian payload length, a 1-byte sequence id and the payload;
//! payloads of 0xFFFFFF bytes or more are split into 0xFFFFFF-byte chunks followed by a
//! shorter (possibly empty) final chunk.
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_packets.html>

use crate::error::{Side, SqlError};
use crate::wire::{put_lenenc_int, put_lenenc_str};
use bytes::{Buf, BufMut, BytesMut};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest payload of one chunk.
pub const MAX_CHUNK: usize = 0xFF_FFFF;

/// Server status flags the proxy reads or sets.
pub mod status {
    /// A transaction is open.
    pub const IN_TRANS: u16 = 0x0001;
    /// Autocommit is on.
    pub const AUTOCOMMIT: u16 = 0x0002;
    /// More result sets follow.
    pub const MORE_RESULTS_EXISTS: u16 = 0x0008;
    /// A read-only transaction is open.
    pub const IN_TRANS_READONLY: u16 = 0x2000;
}

/// Why reading a packet failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The peer closed the connection (cleanly, between packets).
    #[error("connection closed")]
    Closed,
    /// The peer closed the connection in the middle of a packet.
    #[error("connection closed inside a packet")]
    Truncated,
    /// The logical packet exceeds the configured limit.
    #[error("packet larger than max_allowed_packet")]
    TooLarge,
    /// The peer stopped in the middle of a packet for longer than the read timeout.
    #[error("timed out in the middle of a packet")]
    TimedOut,
    /// Socket error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads whole logical packets (continuation chunks joined) from a stream.
///
/// Memory follows what the peer actually sent, not what a header announces: the small
/// buffer holds headers and whatever arrived with them, and a payload larger than that is
/// read straight into the caller's buffer as its bytes come in.
#[derive(Debug)]
pub struct PacketReader {
    buf: BytesMut,
    /// Longest wait for more bytes of a packet the peer has started (MySQL's
    /// `net_read_timeout`); the wait for the first byte of a packet is never limited here.
    read_timeout: Option<Duration>,
}

impl Default for PacketReader {
    fn default() -> Self {
        Self::new()
    }
}

/// Smallest step by which a payload buffer grows while its bytes arrive (it doubles
/// beyond that).
const GROW_STEP: usize = 1 << 20;

impl PacketReader {
    /// An empty reader, without a read timeout.
    pub fn new() -> Self {
        PacketReader {
            buf: BytesMut::new(),
            read_timeout: None,
        }
    }

    /// Limits how long a started packet may take to arrive between two reads
    /// ([`ReadError::TimedOut`] after it); `None` or zero: no limit.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout.filter(|t| !t.is_zero());
    }

    /// Reads one logical packet. Returns the sequence id of the last chunk and the joined
    /// payload. A payload over `max` bytes yields [`ReadError::TooLarge`]; the caller then
    /// answers with error 1153 and closes the connection, as MySQL does.
    pub async fn read<R: AsyncRead + Unpin>(
        &mut self,
        src: &mut R,
        max: usize,
    ) -> Result<(u8, Vec<u8>), ReadError> {
        let mut payload = Vec::new();
        let seq = self.read_into(src, max, &mut payload).await?;
        Ok((seq, payload))
    }

    /// Like [`PacketReader::read`], but into `payload` (cleared first), reusing its memory:
    /// a session reads every command into the same buffer.
    pub async fn read_into<R: AsyncRead + Unpin>(
        &mut self,
        src: &mut R,
        max: usize,
        payload: &mut Vec<u8>,
    ) -> Result<u8, ReadError> {
        payload.clear();
        let mut first = true;
        loop {
            let (len, seq) = self.header(src, first).await?;
            first = false;
            if payload.len() + len > max {
                return Err(ReadError::TooLarge);
            }
            let want = payload.len() + len;
            let buffered = len.min(self.buf.len());
            payload.extend_from_slice(&self.buf[..buffered]);
            self.buf.advance(buffered);
            while payload.len() < want {
                // Grow by what arrives: a header announcing 16 MiB reserves nothing
                // until those bytes come. Doubling keeps the copies few; the target
                // never passes `want`, so a packet's buffer is no larger than it.
                if payload.len() == payload.capacity() {
                    let target = (payload.capacity() * 2)
                        .max(payload.len() + GROW_STEP.min(want - payload.len()))
                        .min(want);
                    payload.reserve_exact(target - payload.len());
                }
                let limit = want - payload.len();
                let n =
                    read_timed(src, &mut (&mut *payload).limit(limit), self.read_timeout).await?;
                if n == 0 {
                    return Err(ReadError::Truncated);
                }
            }
            if len < MAX_CHUNK {
                return Ok(seq);
            }
        }
    }

    /// Waits until at least one byte is buffered (reading what has arrived); `Ok(false)`
    /// when the peer closed first. Cancel-safe: bytes read stay for the next `read`.
    pub async fn buffer_some<R: AsyncRead + Unpin>(
        &mut self,
        src: &mut R,
    ) -> Result<bool, ReadError> {
        if !self.buf.is_empty() {
            return Ok(true);
        }
        self.buf.reserve(4096);
        Ok(src.read_buf(&mut self.buf).await? > 0)
    }

    /// Releases the buffer's memory if it grew beyond `keep` bytes and holds nothing.
    pub fn shrink(&mut self, keep: usize) {
        if self.buf.is_empty() && self.buf.capacity() > keep {
            self.buf = BytesMut::new();
        }
    }

    /// Whether bytes of a next packet are already buffered (a pipelining client).
    pub fn has_buffered(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Bytes the reader's own buffer holds allocated (for tests of memory bounds).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    async fn header<R: AsyncRead + Unpin>(
        &mut self,
        src: &mut R,
        first: bool,
    ) -> Result<(usize, u8), ReadError> {
        if self.buf.len() < 4 && self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(4096);
        }
        while self.buf.len() < 4 {
            // Idle between packets is the session's business; a started packet is not.
            let timeout = if first && self.buf.is_empty() {
                None
            } else {
                self.read_timeout
            };
            let n = read_timed(src, &mut self.buf, timeout).await?;
            if n == 0 {
                return Err(if first && self.buf.is_empty() {
                    ReadError::Closed
                } else {
                    ReadError::Truncated
                });
            }
        }
        let len = usize::from(self.buf[0])
            | usize::from(self.buf[1]) << 8
            | usize::from(self.buf[2]) << 16;
        let seq = self.buf[3];
        self.buf.advance(4);
        Ok((len, seq))
    }
}

/// One read into `dst`, limited to `timeout` when there is one.
async fn read_timed<R: AsyncRead + Unpin, B: BufMut>(
    src: &mut R,
    dst: &mut B,
    timeout: Option<Duration>,
) -> Result<usize, ReadError> {
    match timeout {
        None => Ok(src.read_buf(dst).await?),
        Some(t) => match tokio::time::timeout(t, src.read_buf(dst)).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(ReadError::TimedOut),
        },
    }
}

/// Appends `payload` to `out` as one logical packet starting at sequence id `seq`, split
/// into chunks as needed. Returns the next sequence id.
pub fn frame(out: &mut Vec<u8>, mut seq: u8, payload: &[u8]) -> u8 {
    let mut rest = payload;
    loop {
        let n = rest.len().min(MAX_CHUNK);
        out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        out.push(seq);
        out.extend_from_slice(&rest[..n]);
        seq = seq.wrapping_add(1);
        rest = &rest[n..];
        if n < MAX_CHUNK {
            return seq;
        }
    }
}

/// Starts a packet whose payload will be appended by the caller; finish with
/// [`finish_packet`]. Only for payloads below 16 MiB.
pub fn begin_packet(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    at
}

/// Writes the header of a packet begun with [`begin_packet`]. Payloads of 16 MiB or more
/// are re-framed into chunks.
pub fn finish_packet(out: &mut Vec<u8>, at: usize, seq: u8) -> u8 {
    let len = out.len() - at - 4;
    if len >= MAX_CHUNK {
        let payload = out.split_off(at + 4);
        out.truncate(at);
        return frame(out, seq, &payload);
    }
    out[at..at + 3].copy_from_slice(&(len as u32).to_le_bytes()[..3]);
    out[at + 3] = seq;
    seq.wrapping_add(1)
}

/// An OK packet payload.
pub fn ok_payload(affected_rows: u64, last_insert_id: u64, status: u16, warnings: u16) -> Vec<u8> {
    let mut p = Vec::with_capacity(11);
    p.push(0x00);
    put_lenenc_int(&mut p, affected_rows);
    put_lenenc_int(&mut p, last_insert_id);
    p.extend_from_slice(&status.to_le_bytes());
    p.extend_from_slice(&warnings.to_le_bytes());
    p
}

/// An ERR packet payload (protocol 4.1 layout, with SQLSTATE marker).
pub fn err_payload(e: &SqlError) -> Vec<u8> {
    let mut p = Vec::with_capacity(9 + e.message.len());
    p.push(0xFF);
    p.extend_from_slice(&e.code.to_le_bytes());
    p.push(b'#');
    p.extend_from_slice(&e.state);
    p.extend_from_slice(e.message.as_bytes());
    p
}

/// An EOF packet payload.
pub fn eof_payload(status: u16, warnings: u16) -> Vec<u8> {
    let mut p = Vec::with_capacity(5);
    p.push(0xFE);
    p.extend_from_slice(&warnings.to_le_bytes());
    p.extend_from_slice(&status.to_le_bytes());
    p
}

/// Column definition flags the proxy sets.
pub mod column_flags {
    /// NOT_NULL_FLAG.
    pub const NOT_NULL: u16 = 0x0001;
    /// UNSIGNED_FLAG.
    pub const UNSIGNED: u16 = 0x0020;
    /// BINARY_FLAG.
    pub const BINARY: u16 = 0x0080;
}

/// A ColumnDefinition41 payload for a computed column (no schema or table), as servers
/// send for expressions such as `CONNECTION_ID()`.
/// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response_text_resultset_column_definition.html>
pub fn column_def(
    name: &str,
    charset: u16,
    length: u32,
    column_type: u8,
    flags: u16,
    decimals: u8,
) -> Vec<u8> {
    let mut p = Vec::with_capacity(24 + name.len());
    put_lenenc_str(&mut p, b"def");
    put_lenenc_str(&mut p, b""); // schema
    put_lenenc_str(&mut p, b""); // table
    put_lenenc_str(&mut p, b""); // org_table
    put_lenenc_str(&mut p, name.as_bytes());
    put_lenenc_str(&mut p, b""); // org_name
    p.push(0x0C);
    p.extend_from_slice(&charset.to_le_bytes());
    p.extend_from_slice(&length.to_le_bytes());
    p.push(column_type);
    p.extend_from_slice(&flags.to_le_bytes());
    p.push(decimals);
    p.extend_from_slice(&[0, 0]);
    p
}

/// Adds MariaDB's extended-metadata field (empty) to a column definition built by
/// [`column_def`], for clients that negotiated MARIADB_CLIENT_EXTENDED_METADATA: it sits
/// before the fixed-length part (0x0C and 12 bytes).
pub fn with_empty_ext_metadata(mut def: Vec<u8>) -> Vec<u8> {
    let at = def.len().saturating_sub(13);
    def.insert(at, 0);
    def
}

/// Parses an ERR packet payload into an error (for errors a backend sends during
/// statements the proxy issues itself); its side is [`Side::Answered`].
pub fn parse_err(payload: &[u8]) -> Option<SqlError> {
    if payload.len() < 3 || payload[0] != 0xFF {
        return None;
    }
    let code = u16::from_le_bytes([payload[1], payload[2]]);
    let (state, msg) = if payload.len() >= 9 && payload[3] == b'#' {
        let mut s = [0u8; 5];
        s.copy_from_slice(&payload[4..9]);
        (s, &payload[9..])
    } else {
        (*b"HY000", &payload[3..])
    };
    Some(SqlError {
        code,
        state,
        message: String::from_utf8_lossy(msg).into_owned(),
        side: Side::Answered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ok_golden_bytes() {
        assert_eq!(
            ok_payload(0, 0, 0x0002, 0),
            vec![0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00]
        );
        assert_eq!(
            ok_payload(300, 7, 0x0003, 1),
            vec![0x00, 0xFC, 0x2C, 0x01, 0x07, 0x03, 0x00, 0x01, 0x00]
        );
    }

    #[test]
    fn err_golden_bytes_and_parse() {
        let e = SqlError::unknown_db("x");
        let p = err_payload(&e);
        let mut want = vec![0xFF, 0x19, 0x04, b'#'];
        want.extend_from_slice(b"42000Unknown database 'x'");
        assert_eq!(p, want);
        assert_eq!(parse_err(&p), Some(e.on(Side::Answered)));
    }

    #[test]
    fn column_def_golden_bytes() {
        // What MariaDB 10.11 sends for `SELECT CONNECTION_ID() AS x`.
        let want: &[u8] = &[
            0x03, b'd', b'e', b'f', 0, 0, 0, 0x01, b'x', 0, 0x0C, 0x3F, 0, 0x0A, 0, 0, 0, 0x03,
            0xA1, 0, 0, 0, 0,
        ];
        let flags = column_flags::NOT_NULL | column_flags::UNSIGNED | column_flags::BINARY;
        assert_eq!(column_def("x", 63, 10, 0x03, flags, 0), want);
        let ext = with_empty_ext_metadata(column_def("x", 63, 10, 0x03, flags, 0));
        assert_eq!(&ext[..10], &want[..10]);
        assert_eq!(ext[10], 0, "empty extended metadata before the fixed part");
        assert_eq!(&ext[11..], &want[10..]);
    }

    #[test]
    fn eof_golden_bytes() {
        assert_eq!(eof_payload(0x0002, 0), vec![0xFE, 0x00, 0x00, 0x02, 0x00]);
    }

    #[test]
    fn frame_exact_chunk_gets_empty_trailer() {
        let payload = vec![7u8; MAX_CHUNK];
        let mut out = Vec::new();
        let next = frame(&mut out, 3, &payload);
        assert_eq!(next, 5);
        assert_eq!(out.len(), MAX_CHUNK + 8);
        assert_eq!(&out[..4], &[0xFF, 0xFF, 0xFF, 3]);
        assert_eq!(&out[MAX_CHUNK + 4..], &[0, 0, 0, 4]);
    }

    #[tokio::test]
    async fn reader_joins_chunks_and_enforces_limit() {
        let payload: Vec<u8> = (0..MAX_CHUNK + 10).map(|i| i as u8).collect();
        let mut wire = Vec::new();
        frame(&mut wire, 0, &payload);
        frame(&mut wire, 0, b"\x0eping");
        let mut src = &wire[..];
        let mut r = PacketReader::new();
        let (seq, got) = r.read(&mut src, 1 << 30).await.expect("read");
        assert_eq!(seq, 1);
        assert_eq!(got, payload);
        let (_, got) = r.read(&mut src, 1 << 30).await.expect("read");
        assert_eq!(got, b"\x0eping");
        assert!(matches!(
            r.read(&mut src, 100).await,
            Err(ReadError::Closed)
        ));
        let mut src = &wire[..];
        assert!(matches!(
            PacketReader::new().read(&mut src, 1000).await,
            Err(ReadError::TooLarge)
        ));
        let mut cut = &wire[..100];
        assert!(matches!(
            PacketReader::new().read(&mut cut, 1 << 30).await,
            Err(ReadError::Truncated)
        ));
    }

    #[tokio::test]
    async fn read_timeout_applies_inside_a_packet_only() {
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        let mut r = PacketReader::new();
        r.set_read_timeout(Some(std::time::Duration::from_millis(50)));
        // Idle before a packet: not limited (the read is still pending after 200 ms).
        let idle = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            r.read(&mut server, 1 << 30),
        )
        .await;
        assert!(idle.is_err(), "idle between packets timed out");
        // A header announcing 16 MiB - 1 and 10 bytes of it, then nothing.
        use tokio::io::AsyncWriteExt;
        client
            .write_all(&[0xFF, 0xFF, 0xFE, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
            .await
            .expect("write");
        let mut payload = Vec::new();
        let got = r.read_into(&mut server, 1 << 30, &mut payload).await;
        assert!(matches!(got, Err(ReadError::TimedOut)), "{got:?}");
        assert!(
            payload.capacity() <= 2 * GROW_STEP,
            "reserved {} bytes for 10 received",
            payload.capacity()
        );
    }

    #[tokio::test]
    async fn payload_buffer_is_no_larger_than_the_packet() {
        let payload: Vec<u8> = (0..3 * GROW_STEP + 123).map(|i| i as u8).collect();
        let mut wire = Vec::new();
        frame(&mut wire, 0, &payload);
        let mut src = &wire[..];
        let mut got = Vec::new();
        PacketReader::new()
            .read_into(&mut src, usize::MAX, &mut got)
            .await
            .expect("read");
        assert_eq!(got, payload);
        assert_eq!(got.capacity(), payload.len());
    }

    proptest! {
        #[test]
        fn frame_then_read_round_trip(len in 0usize..70_000, seq in any::<u8>()) {
            let payload: Vec<u8> = (0..len).map(|i| (i * 31) as u8).collect();
            let mut wire = Vec::new();
            frame(&mut wire, seq, &payload);
            let rt = tokio::runtime::Builder::new_current_thread().build().expect("rt");
            let got = rt.block_on(async {
                let mut src = &wire[..];
                PacketReader::new().read(&mut src, usize::MAX).await
            });
            let (s, p) = got.expect("read");
            prop_assert_eq!(s, seq);
            prop_assert_eq!(p, payload);
        }

        #[test]
        fn parse_err_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = parse_err(&buf);
        }
    }
}
