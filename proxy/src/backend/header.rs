//! Relaying a response byte for byte except for its result set headers and errors: the
//! column definitions of a single shard's answer name the shard's physical database where
//! the client expects the logical schema, and an error message may quote it too. Those few
//! packets are rewritten into a small side buffer; rows and the final EOF/OK stay in the
//! backend connection's read buffer and go to the client from there, with only their
//! sequence ids patched, exactly as [`super::relay()`] does (which is this relay with
//! nothing rewritten). Each batch read from the backend leaves in one (vectored) write, so
//! a point select costs the same syscalls as the plain relay and no copy or allocation
//! per row.
//!
//! Response layout (without CLIENT_DEPRECATE_EOF, which the proxy never negotiates):
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response.html>

use super::conn::BackendConn;
use super::relay::{
    Class, RelayFailure, Relayed, ResponseKind, STREAM_THRESHOLD, Tracker, chunk_len,
    stream_through,
};
use crate::packet::MAX_CHUNK;
use bytes::Buf;
use std::io::IoSlice;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// What becomes of the packets of a response that may be rewritten: whole column
/// definitions (text and binary protocol, every result set of a multi-result answer) and
/// ERR packets. Every other packet is relayed as it came.
pub trait HeaderEdit {
    /// Whether any packet may be rewritten (`false` compiles the rewriting out).
    const REWRITES: bool = true;

    /// Appends the payload replacing `packet` (of class [`Class::ColumnDef`] or
    /// [`Class::Err`]) to `out` and returns `true`, or returns `false` with `out`
    /// untouched to relay `packet` as it is.
    fn edit(&mut self, class: Class, packet: &[u8], out: &mut Vec<u8>) -> bool;
}

/// Rewrites nothing: the plain byte-for-byte relay.
pub struct Verbatim;

impl HeaderEdit for Verbatim {
    const REWRITES: bool = false;

    fn edit(&mut self, _: Class, _: &[u8], _: &mut Vec<u8>) -> bool {
        false
    }
}

/// Output pieces gathered before one write; a batch with more is written in several.
const MAX_PIECES: usize = 16;

/// Batches up to this size leave as one buffer (one `write` instead of a `writev` of
/// the rewritten header and the backend's bytes): copying a point select's few hundred
/// bytes costs less than the kernel's walk over several pieces.
const COALESCE_MAX: usize = 2048;

/// Where a piece of the output lies: a range of the backend's read buffer (relayed bytes)
/// or of the side buffer (rewritten packets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Backend(usize, usize),
    Rewritten(usize, usize),
}

/// The output of one batch, in order.
struct Pieces {
    list: [Piece; MAX_PIECES],
    len: usize,
}

impl Pieces {
    fn new() -> Self {
        Pieces {
            list: [Piece::Backend(0, 0); MAX_PIECES],
            len: 0,
        }
    }

    fn is_full(&self) -> bool {
        self.len == MAX_PIECES
    }

    /// Appends a piece, joining it to the last one when they are adjacent in one buffer.
    fn push(&mut self, p: Piece) {
        if let Some(last) = self.len.checked_sub(1).map(|i| &mut self.list[i]) {
            match (last, p) {
                (Piece::Backend(_, end), Piece::Backend(s, e))
                | (Piece::Rewritten(_, end), Piece::Rewritten(s, e))
                    if *end == s =>
                {
                    *end = e;
                    return;
                }
                _ => {}
            }
        }
        // Callers flush a full list before pushing.
        if let Some(slot) = self.list.get_mut(self.len) {
            *slot = p;
            self.len += 1;
        }
    }

    /// Writes the pieces to `client`: one write for a single piece or a small answer
    /// (copied together behind the rewritten packets in `rewritten`, which grows by at
    /// most [`COALESCE_MAX`]), a vectored write (`writev`) otherwise.
    async fn write<W: AsyncWrite + Unpin>(
        &mut self,
        client: &mut W,
        backend: &[u8],
        rewritten: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        let pieces = &self.list[..self.len];
        self.len = 0;
        let total: usize = pieces
            .iter()
            .map(|p| match *p {
                Piece::Backend(s, e) | Piece::Rewritten(s, e) => e - s,
            })
            .sum();
        if pieces.len() > 1 && total <= COALESCE_MAX {
            let start = rewritten.len();
            for p in pieces {
                match *p {
                    Piece::Backend(s, e) => rewritten.extend_from_slice(&backend[s..e]),
                    Piece::Rewritten(s, e) => rewritten.extend_from_within(s..e),
                }
            }
            let r = client.write_all(&rewritten[start..]).await;
            rewritten.truncate(start);
            return r;
        }
        let rewritten = &rewritten[..];
        let slice = |p: &Piece| match *p {
            Piece::Backend(s, e) => &backend[s..e],
            Piece::Rewritten(s, e) => &rewritten[s..e],
        };
        if let [one] = pieces {
            return client.write_all(slice(one)).await;
        }
        let mut slices = [IoSlice::new(&[]); MAX_PIECES];
        for (s, p) in slices.iter_mut().zip(pieces) {
            *s = IoSlice::new(slice(p));
        }
        let mut bufs = &mut slices[..pieces.len()];
        while !bufs.is_empty() {
            let n = client.write_vectored(bufs).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut bufs, n);
        }
        Ok(())
    }
}

/// Relays the response to the command just sent on `conn` to `client`, sequence ids
/// continuing from `seq`, with the column definitions and errors `edit` rewrites
/// (framed in `rewritten`, a buffer the caller keeps between statements). Rows are never
/// decoded or copied; large rows are streamed through.
pub async fn relay_with_header<W: AsyncWrite + Unpin, E: HeaderEdit>(
    conn: &mut BackendConn,
    kind: ResponseKind,
    client: &mut W,
    mut seq: u8,
    rewritten: &mut Vec<u8>,
    edit: &mut E,
) -> Result<Relayed, RelayFailure> {
    let mut t = Tracker::new(kind);
    let mut pos = 0usize;
    let mut pieces = Pieces::new();
    rewritten.clear();
    loop {
        while conn.rbuf.len() - pos >= 4 && !t.done() && !pieces.is_full() {
            let len = chunk_len(&conn.rbuf[pos..]);
            let avail = conn.rbuf.len() - pos - 4;
            if avail < len {
                if len > STREAM_THRESHOLD && t.expects_row_data() && avail >= 9 {
                    conn.rbuf[pos + 3] = seq;
                    seq = seq.wrapping_add(1);
                    let header = pos + 4;
                    if let Err(error) = t.chunk(&conn.rbuf[header..header + 9], len) {
                        conn.broken = true;
                        return Err(RelayFailure::Backend {
                            error,
                            next_seq: seq,
                        });
                    }
                    let remaining = len - avail;
                    pieces.push(Piece::Backend(pos, conn.rbuf.len()));
                    pieces
                        .write(client, &conn.rbuf, rewritten)
                        .await
                        .map_err(RelayFailure::Client)?;
                    rewritten.clear();
                    conn.rbuf.clear();
                    pos = 0;
                    stream_through(conn, client, remaining, seq).await?;
                    continue;
                }
                break;
            }
            let body = pos + 4;
            let at = rewritten.len();
            let head = conn.rbuf.get(body).copied();
            // Only whole packets are rewritten (never one spread over 16 MiB chunks), and
            // among the rows only an ERR: the row itself is never looked at.
            // The ERR ending a statement the statement timeout killed says so (1969).
            let timed_out = match (&conn.interrupter, head) {
                (Some(i), Some(0xFF)) if len < MAX_CHUNK => {
                    i.timeout_answer(&conn.rbuf[body..body + len])
                }
                _ => None,
            };
            let replaced = if let Some(answer) = timed_out {
                rewritten.extend_from_slice(&[0, 0, 0, seq]);
                rewritten.extend_from_slice(&answer);
                let n = rewritten.len() - at - 4;
                rewritten[at..at + 3].copy_from_slice(&(n as u32).to_le_bytes()[..3]);
                true
            } else {
                E::REWRITES && len < MAX_CHUNK && (head == Some(0xFF) || !t.in_rows()) && {
                    let class = t.class_of(head, len);
                    matches!(class, Class::ColumnDef | Class::Err) && {
                        rewritten.extend_from_slice(&[0, 0, 0, seq]);
                        let done = edit.edit(class, &conn.rbuf[body..body + len], rewritten);
                        let n = rewritten.len() - at - 4;
                        if done && n < MAX_CHUNK {
                            rewritten[at..at + 3].copy_from_slice(&(n as u32).to_le_bytes()[..3]);
                            true
                        } else {
                            // Nothing rewritten (or a replacement too large for one chunk,
                            // which no rename can produce): the original goes out.
                            rewritten.truncate(at);
                            false
                        }
                    }
                }
            };
            if !replaced {
                conn.rbuf[pos + 3] = seq;
            }
            seq = seq.wrapping_add(1);
            if let Err(error) = t.chunk(&conn.rbuf[body..body + len], len) {
                conn.broken = true;
                return Err(RelayFailure::Backend {
                    error,
                    next_seq: seq,
                });
            }
            pieces.push(if replaced {
                Piece::Rewritten(at, rewritten.len())
            } else {
                Piece::Backend(pos, body + len)
            });
            pos = body + len;
        }
        let batch_cut = pieces.is_full();
        if pos > 0 {
            pieces
                .write(client, &conn.rbuf, rewritten)
                .await
                .map_err(RelayFailure::Client)?;
            rewritten.clear();
            conn.rbuf.advance(pos);
            pos = 0;
        }
        if t.done() {
            if !conn.rbuf.is_empty() {
                conn.broken = true;
            }
            return Ok(Relayed {
                tracker: t,
                next_seq: seq,
            });
        }
        if batch_cut {
            // Packets are still buffered: no need to wait for the backend.
            continue;
        }
        if conn.fill().await.is_err() {
            conn.broken = true;
            let error = conn.read_failure();
            return Err(RelayFailure::Backend {
                error,
                next_seq: seq,
            });
        }
    }
}

#[cfg(test)]
mod tests;
