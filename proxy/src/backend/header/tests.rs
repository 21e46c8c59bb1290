//! The header-rewriting relay on golden responses: rewritten column definitions and
//! errors, rows relayed from the backend's buffer without a copy, sequence ids, several
//! result sets, and rows spread over 16 MiB chunks.

use super::*;
use crate::backend::relay::relay;
use crate::error::SqlError;
use crate::net::Stream;
use crate::packet::{self, status};
use crate::state::SessionVars;
use crate::wire::put_lenenc_str;
use bytes::BytesMut;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

const PHYSICAL: &str = "shop_0003";
const LOGICAL: &str = "shop";

/// Shows [`PHYSICAL`] as [`LOGICAL`] in column definitions and error messages.
struct TestRename;

impl HeaderEdit for TestRename {
    fn edit(&mut self, class: Class, p: &[u8], out: &mut Vec<u8>) -> bool {
        match class {
            Class::ColumnDef => super::super::rewrite::ColumnDef::rename_schema_into(
                p,
                PHYSICAL.as_bytes(),
                LOGICAL.as_bytes(),
                out,
            ),
            Class::Err => match packet::parse_err(p) {
                Some(e) if e.message.contains(PHYSICAL) => {
                    let message = e.message.replace(PHYSICAL, LOGICAL);
                    out.extend_from_slice(&packet::err_payload(&SqlError { message, ..e }));
                    true
                }
                _ => false,
            },
            _ => false,
        }
    }
}

/// A column definition in `schema`; with `ext`, MariaDB's extended metadata (a type name).
fn column(schema: &str, name: &str, ext: Option<&str>) -> Vec<u8> {
    let mut p = Vec::new();
    for s in ["def", schema, "t", "t", name, name] {
        put_lenenc_str(&mut p, s.as_bytes());
    }
    if let Some(e) = ext {
        let mut meta = vec![0u8];
        put_lenenc_str(&mut meta, e.as_bytes());
        put_lenenc_str(&mut p, &meta);
    }
    p.extend_from_slice(&[0x0C, 0x2D, 0x00, 0x28, 0, 0, 0, 0xFD, 0, 0, 0, 0, 0]);
    p
}

fn text_row(values: &[&[u8]]) -> Vec<u8> {
    let mut p = Vec::new();
    for v in values {
        put_lenenc_str(&mut p, v);
    }
    p
}

/// A result set: column count, definitions, EOF, rows, EOF with `more` results or not.
fn result_set(schema: &str, columns: usize, rows: &[Vec<u8>], more: bool) -> Vec<Vec<u8>> {
    let mut out = vec![vec![columns as u8]];
    for i in 0..columns {
        let ext = (i == 1).then_some("json");
        out.push(column(schema, &format!("c{i}"), ext));
    }
    out.push(packet::eof_payload(status::AUTOCOMMIT, 0));
    out.extend(rows.iter().cloned());
    let flags = if more {
        status::AUTOCOMMIT | status::MORE_RESULTS_EXISTS
    } else {
        status::AUTOCOMMIT
    };
    out.push(packet::eof_payload(flags, 0));
    out
}

fn framed(packets: &[Vec<u8>], seq: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut seq = seq;
    for p in packets {
        seq = packet::frame(&mut out, seq, p);
    }
    out
}

/// A backend connection whose read buffer already holds `response` (so nothing is read)
/// or, with `response` empty, that reads from the returned peer.
fn backend(response: &[u8]) -> (BackendConn, tokio::net::UnixStream) {
    let (ours, peer) = tokio::net::UnixStream::pair().expect("socket pair");
    let conn = BackendConn {
        stream: Stream::Unix(ours),
        rbuf: BytesMut::from(response),
        host: "test".into(),
        thread_id: 1,
        server_version: String::new(),
        mariadb_ext_caps: 0,
        applied: SessionVars::new(None, String::new(), true),
        last_insert_id: 0,
        stmts: Default::default(),
        stmt_clock: 0,
        last_used: Instant::now(),
        last_client: 0,
        broken: false,
        in_transaction: false,
        interrupter: None,
        interrupted: None,
        severed: None,
        was_severed: false,
    };
    (conn, peer)
}

/// A client that keeps what it is sent, and which written bytes lay in `source` (the
/// backend's read buffer) rather than elsewhere.
#[derive(Default)]
struct Recorder {
    bytes: Vec<u8>,
    writes: usize,
    /// Of `writes`, the vectored ones.
    vectored: usize,
    source: (usize, usize),
    from_source: usize,
}

impl Recorder {
    fn take(&mut self, b: &[u8]) {
        let at = b.as_ptr() as usize;
        if at >= self.source.0 && at + b.len() <= self.source.1 {
            self.from_source += b.len();
        }
        self.bytes.extend_from_slice(b);
    }
}

impl AsyncWrite for Recorder {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        this.writes += 1;
        this.take(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        this.writes += 1;
        this.vectored += 1;
        let mut n = 0;
        for b in bufs {
            this.take(b);
            n += b.len();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Relays `packets` (as the backend frames them, from sequence id 1) with `edit` to a
/// recorder, client sequence ids from 5.
async fn run<E: HeaderEdit>(packets: &[Vec<u8>], edit: &mut E) -> (Recorder, Relayed, usize) {
    let (mut conn, _peer) = backend(&framed(packets, 1));
    let base = conn.rbuf.as_ptr() as usize;
    let mut client = Recorder {
        source: (base, base + conn.rbuf.len()),
        ..Recorder::default()
    };
    let mut rewritten = Vec::new();
    let relayed = relay_with_header(
        &mut conn,
        ResponseKind::Query,
        &mut client,
        5,
        &mut rewritten,
        edit,
    )
    .await
    .expect("relayed");
    assert!(!conn.broken && conn.rbuf.is_empty());
    (client, relayed, rewritten.capacity())
}

#[tokio::test]
async fn plain_relay_only_renumbers() {
    let rows = vec![text_row(&[b"1", b"shop_0003"]), text_row(&[b"2", b"x"])];
    let packets = result_set(PHYSICAL, 2, &rows, false);
    let (client, relayed, _) = run(&packets, &mut Verbatim).await;
    assert_eq!(client.bytes, framed(&packets, 5));
    assert_eq!(client.from_source, client.bytes.len());
    assert_eq!(client.writes, 1);
    assert_eq!(usize::from(relayed.next_seq), 5 + packets.len());
}

#[tokio::test]
async fn header_renamed_rows_relayed_from_the_backend_buffer() {
    // Text rows, then the binary protocol's rows (0x00, NULL bitmap, values).
    for rows in [
        vec![text_row(&[b"1", b"shop_0003"]), text_row(&[b"2", b"y"])],
        vec![vec![0x00, 0x00, 0x01, b'1', 0x01, b'z']],
    ] {
        // Enough rows for the answer to leave as pieces, not copied into one buffer.
        let rows: Vec<Vec<u8>> = rows.iter().cycle().take(200).cloned().collect();
        let packets = result_set(PHYSICAL, 2, &rows, false);
        let (client, relayed, _) = run(&packets, &mut TestRename).await;
        // What the client gets is the response of a server whose database is `shop`
        // (the extended metadata of the second column kept), rows unchanged.
        assert_eq!(
            client.bytes,
            framed(&result_set(LOGICAL, 2, &rows, false), 5)
        );
        assert_eq!(client.writes, 1, "one write per batch read");
        let row_bytes: usize = rows.iter().map(|r| r.len() + 4).sum::<usize>() + 4 + 5;
        assert!(
            client.from_source >= row_bytes,
            "rows came from the backend buffer"
        );
        assert!(!relayed.tracker.error);
    }
    // Definitions naming another database, and a column count, stay as they are.
    let packets = result_set("other", 2, &[], false);
    let (client, _, _) = run(&packets, &mut TestRename).await;
    assert_eq!(client.bytes, framed(&packets, 5));
    assert_eq!(client.from_source, client.bytes.len());
}

/// A point select's answer (a renamed header and one row, text or binary) leaves in one
/// plain write of one buffer, the same bytes a vectored write of its pieces would send.
#[tokio::test]
async fn small_renamed_answer_leaves_in_one_plain_write() {
    for rows in [
        vec![text_row(&[b"1", b"shop_0003"])],
        vec![vec![0x00, 0x00, 0x01, b'1', 0x01, b'z']],
    ] {
        let packets = result_set(PHYSICAL, 2, &rows, false);
        let (client, relayed, side) = run(&packets, &mut TestRename).await;
        assert_eq!(
            client.bytes,
            framed(&result_set(LOGICAL, 2, &rows, false), 5)
        );
        assert_eq!((client.writes, client.vectored), (1, 0), "one plain write");
        assert!(side <= 2 * COALESCE_MAX, "the side buffer stays small");
        assert!(relayed.tracker.done() && !relayed.tracker.error);
    }
}

#[tokio::test]
async fn every_result_set_and_the_error_renamed() {
    // More result sets than pieces fit in one write, then an ERR quoting the database.
    let mut physical = Vec::new();
    let mut logical = Vec::new();
    for i in 0..12u8 {
        let rows = vec![text_row(&[&[b'0' + i % 10]])];
        physical.extend(result_set(PHYSICAL, 1, &rows, true));
        logical.extend(result_set(LOGICAL, 1, &rows, true));
    }
    let err = |db: &str| {
        packet::err_payload(&SqlError::new(
            1146,
            b"42S02",
            format!("Table '{db}.nope' doesn't exist"),
        ))
    };
    physical.push(err(PHYSICAL));
    logical.push(err(LOGICAL));
    let (client, relayed, _) = run(&physical, &mut TestRename).await;
    assert_eq!(client.bytes, framed(&logical, 5));
    assert!(client.writes > 1, "the batch was cut into several writes");
    assert!(relayed.tracker.error);
    assert_eq!(usize::from(relayed.next_seq), 5 + physical.len());
    // A CALL's last OK ends the answer as the backend sent it.
    let mut physical = result_set(PHYSICAL, 1, &[text_row(&[b"a"])], true);
    physical.push(packet::ok_payload(0, 0, status::AUTOCOMMIT, 0));
    let mut logical = result_set(LOGICAL, 1, &[text_row(&[b"a"])], true);
    logical.push(packet::ok_payload(0, 0, status::AUTOCOMMIT, 0));
    let (client, relayed, _) = run(&physical, &mut TestRename).await;
    assert_eq!(client.bytes, framed(&logical, 5));
    assert!(relayed.tracker.done() && !relayed.tracker.error);
}

#[tokio::test]
async fn rows_over_16_mib_stream_through_after_a_renamed_header() {
    let big = text_row(&[&vec![b'x'; MAX_CHUNK + 1000], b"tail"]);
    let rows = vec![text_row(&[b"small"]), big, text_row(&[b"after"])];
    let physical = result_set(PHYSICAL, 2, &rows, false);
    let bytes = framed(&physical, 1);
    let (mut conn, mut peer) = backend(&[]);
    // The backend sends in pieces, so the big row arrives across many reads.
    let feeder = tokio::spawn(async move {
        for piece in bytes.chunks(100_000) {
            peer.write_all(piece).await.expect("feed");
        }
        peer
    });
    let mut client = Recorder::default();
    let mut rewritten = Vec::new();
    let relayed = relay_with_header(
        &mut conn,
        ResponseKind::Query,
        &mut client,
        1,
        &mut rewritten,
        &mut TestRename,
    )
    .await
    .expect("relayed");
    let _peer = feeder.await.expect("feeder");
    assert_eq!(
        client.bytes,
        framed(&result_set(LOGICAL, 2, &rows, false), 1)
    );
    assert!(relayed.tracker.done() && !conn.broken);
}

/// The work per row does not depend on renaming: rows are never copied out of the backend
/// buffer, and the side buffer holds only the header, whatever the number of rows.
#[tokio::test]
async fn no_copy_or_buffer_growth_per_row() {
    let row = text_row(&[b"12345", b"some value of a row"]);
    // Beyond the size small answers are copied together at.
    let few = vec![row.clone(); COALESCE_MAX / row.len() + 1];
    let (_, _, one) = run(&result_set(PHYSICAL, 2, &few, false), &mut TestRename).await;
    let rows = vec![row; 10_000];
    let packets = result_set(PHYSICAL, 2, &rows, false);
    let (client, _, many) = run(&packets, &mut TestRename).await;
    assert_eq!(one, many, "the side buffer does not grow with rows");
    let header = client.bytes.len() - client.from_source;
    let renamed_defs = framed(&result_set(LOGICAL, 2, &[], false)[1..3], 0).len();
    assert_eq!(
        header, renamed_defs,
        "only the renamed definitions were copied"
    );
}

/// A client that only counts what it is sent.
struct Sink(usize);

impl AsyncWrite for Sink {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().0 += buf.len();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let n = bufs.iter().map(|b| b.len()).sum();
        self.get_mut().0 += n;
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Micro-benchmark: nanoseconds per row of a buffered 100,000-row answer, for the plain
/// relay, this one renaming the header, and the rewriting relay single-shard answers took
/// before (every packet copied into an output buffer)
/// (`cargo test -p myshard-proxy --release relay_cost_per_row -- --ignored --nocapture`).
#[tokio::test]
#[ignore]
async fn relay_cost_per_row() {
    use super::super::rewrite::{ColumnDef, Edit, relay_rewritten};
    let rows = vec![text_row(&[b"12345", b"some value of a row"]); 100_000];
    let input = framed(&result_set(PHYSICAL, 2, &rows, false), 1);
    let per_row = |start: Instant| start.elapsed().as_nanos() as f64 / rows.len() as f64;
    let mut rewritten = Vec::new();
    let mut sink = Sink(0);
    for round in 0..6 {
        let (mut conn, _peer) = backend(&input);
        let start = Instant::now();
        relay(&mut conn, ResponseKind::Query, &mut sink, 1)
            .await
            .expect("plain");
        let plain = per_row(start);
        // Each relay is timed from a freshly filled buffer, as after a backend read.
        let (mut conn, _peer) = backend(&input);
        let start = Instant::now();
        let mut edit = TestRename;
        relay_with_header(
            &mut conn,
            ResponseKind::Query,
            &mut sink,
            1,
            &mut rewritten,
            &mut edit,
        )
        .await
        .expect("header");
        let header = per_row(start);
        let (mut conn, _peer) = backend(&input);
        let mut old = |class: Class, p: &[u8]| match class {
            Class::ColumnDef => {
                ColumnDef::with_logical_schema(p, |s| s == PHYSICAL.as_bytes(), LOGICAL)
                    .map_or(Edit::Keep, Edit::Replace)
            }
            _ => Edit::Keep,
        };
        let start = Instant::now();
        relay_rewritten(&mut conn, ResponseKind::Query, &mut sink, 1, &mut old)
            .await
            .expect("rewritten");
        let copied = per_row(start);
        println!(
            "round {round}: plain relay {plain:.1} ns/row, header renamed {header:.1} ns/row, \
             every packet copied (before) {copied:.1} ns/row"
        );
    }
}
