//! Property-based fuzzing of the parsers that see untrusted bytes: the client's handshake
//! response, COM_STMT_EXECUTE parameter blocks (parse and rebuild), the backend response
//! tracker and the router's statement classifier.
//!
//! Each property runs `FUZZ_CASES` cases (20,000 by default, so `cargo test --workspace`
//! covers them in CI). A longer run, in release mode:
//!
//! ```text
//! FUZZ_CASES=1000000 cargo test --release -p myshard-proxy --test fuzz_parsers
//! ```
//!
//! Inputs are both raw bytes and structure-aware: valid packets built from random fields
//! and then cut or mutated, so that the fuzzer reaches the code behind the first checks.

use myshard_proxy::backend::{ResponseKind, Tracker};
use myshard_proxy::packet::MAX_CHUNK;
use myshard_proxy::params::{parse_execute, rebuild_execute, split_values};
use myshard_proxy::session::handshake::{HandshakeError, parse_response};
use myshard_proxy::wire::{put_lenenc_int, put_lenenc_str};
use myshard_router::{Kind, classify};
use proptest::prelude::*;
use proptest::string::string_regex;
use proptest::test_runner::Config;

/// Cases per property: `FUZZ_CASES` from the environment, or 20,000.
fn config() -> Config {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    Config {
        cases,
        // Failure persistence files would land in the source tree.
        failure_persistence: None,
        ..Config::default()
    }
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

/// Strings matching `pattern`, compiled once (a `&str` strategy compiles it for every case,
/// which dominates the run time in debug builds).
fn matching(pattern: &str) -> impl Strategy<Value = String> + use<> {
    string_regex(pattern).expect("a valid pattern")
}

/// Short strings of any characters.
fn any_text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..max).prop_map(String::from_iter)
}

/// A mutation applied to a valid packet: cut it, flip a byte, insert or remove bytes.
#[derive(Debug, Clone)]
enum Mutation {
    None,
    Cut(usize),
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => Just(Mutation::None),
        3 => any::<usize>().prop_map(Mutation::Cut),
        3 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => (any::<usize>(), bytes(8)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<usize>(), 1usize..8).prop_map(|(i, n)| Mutation::Remove(i, n)),
    ]
}

fn mutate(mut p: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let len = p.len();
    match m {
        Mutation::None => {}
        Mutation::Cut(i) => p.truncate(i % (len + 1)),
        Mutation::Set(i, b) if len > 0 => p[i % len] = *b,
        Mutation::Set(..) => {}
        Mutation::Insert(i, b) => {
            let at = i % (len + 1);
            p.splice(at..at, b.iter().copied());
        }
        Mutation::Remove(i, n) => {
            let at = i % (len + 1);
            let end = (at + n).min(len);
            p.drain(at..end);
        }
    }
    p
}

// ---- HandshakeResponse41 ------------------------------------------------------------------

const PROTOCOL_41: u32 = 0x200;
const CONNECT_WITH_DB: u32 = 0x8;
const SECURE_CONNECTION: u32 = 0x8000;
const PLUGIN_AUTH: u32 = 0x8_0000;
const PLUGIN_AUTH_LENENC: u32 = 0x20_0000;
const SSL: u32 = 0x800;

#[derive(Debug, Clone)]
struct Response {
    caps: u32,
    collation: u8,
    user: Vec<u8>,
    auth: Vec<u8>,
    db: Option<Vec<u8>>,
    plugin: Option<Vec<u8>>,
}

/// Bytes without NUL (NUL-terminated fields).
fn c_string(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(1u8..=255, 0..max)
}

fn response() -> impl Strategy<Value = Response> {
    (
        any::<u32>(),
        any::<u8>(),
        c_string(24),
        bytes(40),
        proptest::option::of(c_string(24)),
        proptest::option::of(c_string(30)),
    )
        .prop_map(|(caps, collation, user, auth, db, plugin)| {
            let mut caps = (caps | PROTOCOL_41) & !SSL;
            if db.is_some() {
                caps |= CONNECT_WITH_DB;
            } else {
                caps &= !CONNECT_WITH_DB;
            }
            if plugin.is_some() {
                caps |= PLUGIN_AUTH;
            } else {
                caps &= !PLUGIN_AUTH;
            }
            let mut auth = auth;
            if caps & (PLUGIN_AUTH_LENENC | SECURE_CONNECTION) == 0 {
                // Without either flag the auth data is NUL-terminated.
                auth.retain(|&b| b != 0);
            }
            Response {
                caps,
                collation,
                user,
                auth,
                db,
                plugin,
            }
        })
}

fn encode_response(r: &Response) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&r.caps.to_le_bytes());
    p.extend_from_slice(&(1u32 << 24).to_le_bytes());
    p.push(r.collation);
    p.extend_from_slice(&[0u8; 23]);
    p.extend_from_slice(&r.user);
    p.push(0);
    if r.caps & PLUGIN_AUTH_LENENC != 0 {
        put_lenenc_str(&mut p, &r.auth);
    } else if r.caps & SECURE_CONNECTION != 0 {
        let n = r.auth.len().min(255);
        p.push(n as u8);
        p.extend_from_slice(&r.auth[..n]);
    } else {
        p.extend_from_slice(&r.auth);
        p.push(0);
    }
    if let Some(db) = &r.db {
        p.extend_from_slice(db);
        p.push(0);
    }
    if let Some(plugin) = &r.plugin {
        p.extend_from_slice(plugin);
        p.push(0);
    }
    p
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn handshake_response_raw_bytes(p in bytes(200)) {
        let _ = parse_response(&p);
    }

    #[test]
    fn handshake_response_structured(r in response(), m in mutation()) {
        let wire = encode_response(&r);
        if matches!(m, Mutation::None) {
            let parsed = parse_response(&wire);
            prop_assert!(parsed.is_ok(), "valid response refused: {parsed:?}");
            let parsed = parsed.unwrap_or_else(|_| unreachable!());
            prop_assert_eq!(parsed.collation, r.collation);
            prop_assert_eq!(parsed.user, String::from_utf8_lossy(&r.user));
            let auth_len = if r.caps & (PLUGIN_AUTH_LENENC | SECURE_CONNECTION) == SECURE_CONNECTION {
                r.auth.len().min(255)
            } else {
                r.auth.len()
            };
            prop_assert_eq!(&parsed.auth[..], &r.auth[..auth_len]);
            let want_db = r.db.as_ref().filter(|d| !d.is_empty()).map(|d| String::from_utf8_lossy(d).into_owned());
            prop_assert_eq!(parsed.database, want_db);
            let want_plugin = r.plugin.as_ref().map(|p| String::from_utf8_lossy(p).into_owned());
            prop_assert_eq!(parsed.plugin, want_plugin);
            // Never more capabilities than the proxy offers.
            prop_assert_eq!(parsed.capabilities & !myshard_proxy::caps::SERVER, 0);
        } else {
            let cut = mutate(wire.clone(), &m);
            match parse_response(&cut) {
                Ok(_) | Err(HandshakeError::Malformed) | Err(HandshakeError::OldProtocol)
                | Err(HandshakeError::SslRequested) => {}
            }
            // A response cut inside its fixed 32-byte part is always refused.
            if cut.len() < 32 && wire.starts_with(&cut) {
                prop_assert!(parse_response(&cut).is_err());
            }
        }
    }
}

// ---- COM_STMT_EXECUTE -----------------------------------------------------------------------

/// A parameter: its type byte and a valid binary-protocol encoding of a value.
fn param() -> impl Strategy<Value = (u8, Vec<u8>)> {
    prop_oneof![
        any::<u8>().prop_map(|v| (0x01, vec![v])),
        any::<u16>().prop_map(|v| (0x02, v.to_le_bytes().to_vec())),
        any::<u32>().prop_map(|v| (0x03, v.to_le_bytes().to_vec())),
        any::<u64>().prop_map(|v| (0x08, v.to_le_bytes().to_vec())),
        any::<u64>().prop_map(|v| (0x05, v.to_le_bytes().to_vec())),
        prop_oneof![Just(0usize), Just(4), Just(7), Just(11)].prop_flat_map(|n| {
            (
                prop_oneof![Just(0x0Au8), Just(0x0C), Just(0x07), Just(0x0B)],
                bytes(n + 1),
            )
                .prop_map(move |(t, mut b)| {
                    b.resize(n, 0);
                    let mut v = vec![n as u8];
                    v.extend_from_slice(&b);
                    (t, v)
                })
        }),
        (
            prop_oneof![Just(0xFDu8), Just(0xFE), Just(0xFC), Just(0xF6), Just(0x0F)],
            // Mostly short; sometimes long enough for a 2-byte length prefix.
            prop_oneof![8 => bytes(24), 1 => bytes(300)],
        )
            .prop_map(|(t, s)| {
                let mut v = Vec::new();
                put_lenenc_str(&mut v, &s);
                (t, v)
            }),
        Just((0x06u8, Vec::new())),
    ]
}

#[derive(Debug, Clone)]
struct Execute {
    stmt_id: u32,
    flags: u8,
    params: Vec<(u8, Vec<u8>)>,
    nulls: Vec<bool>,
    send_types: bool,
}

fn execute() -> impl Strategy<Value = Execute> {
    (
        any::<u32>(),
        any::<u8>(),
        proptest::collection::vec((param(), any::<bool>()), 0..12),
        any::<bool>(),
    )
        .prop_map(|(stmt_id, flags, ps, send_types)| Execute {
            stmt_id,
            flags,
            nulls: ps.iter().map(|(_, null)| *null).collect(),
            params: ps.into_iter().map(|(p, _)| p).collect(),
            send_types,
        })
}

impl Execute {
    fn types(&self) -> Vec<u8> {
        self.params.iter().flat_map(|(t, _)| [*t, 0]).collect()
    }

    fn bitmap(&self) -> Vec<u8> {
        let mut b = vec![0u8; self.params.len().div_ceil(8)];
        for (i, null) in self.nulls.iter().enumerate() {
            if *null {
                b[i / 8] |= 1 << (i % 8);
            }
        }
        b
    }

    /// The payload after the 0x17 command byte.
    fn encode(&self) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&self.stmt_id.to_le_bytes());
        p.push(self.flags);
        p.extend_from_slice(&1u32.to_le_bytes());
        if self.params.is_empty() {
            return p;
        }
        p.extend_from_slice(&self.bitmap());
        p.push(u8::from(self.send_types));
        if self.send_types {
            p.extend_from_slice(&self.types());
        }
        for ((_, v), null) in self.params.iter().zip(&self.nulls) {
            if !null {
                p.extend_from_slice(v);
            }
        }
        p
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn execute_raw_bytes(
        payload in bytes(120),
        n in prop_oneof![8 => 0usize..24, 1 => 0usize..=usize::from(u16::MAX)],
        types in bytes(64),
        long in proptest::collection::vec((0u16..24, bytes(16)), 0..3),
    ) {
        if let Some(req) = parse_execute(&payload, n) {
            let remembered = req.types.map(<[u8]>::to_vec).unwrap_or(types);
            let _ = split_values(&req, &remembered, n, |i| i % 3 == 0);
            if let Some(out) = rebuild_execute(&req, 42, &remembered, n, &long) {
                prop_assert_eq!(out[0], 0x17);
                prop_assert_eq!(&out[1..5], &42u32.to_le_bytes());
                prop_assert_eq!(out[5], 0, "cursor flags must be cleared");
                // What the proxy sends a backend parses again, with the types bound.
                let again = parse_execute(&out[1..], n);
                prop_assert!(again.is_some(), "rebuilt packet does not parse: {out:?}");
                if n > 0 {
                    prop_assert_eq!(again.and_then(|a| a.types), remembered.get(..n * 2));
                }
            }
        }
    }

    #[test]
    fn execute_structured(e in execute(), m in mutation(), backend_id in any::<u32>()) {
        let n = e.params.len();
        let types = e.types();
        let wire = mutate(e.encode(), &m);
        let intact = matches!(m, Mutation::None);
        let req = parse_execute(&wire, n);
        if intact {
            prop_assert!(req.is_some(), "valid execute refused");
        }
        let Some(req) = req else { return Ok(()) };
        let out = rebuild_execute(&req, backend_id, &types, n, &[]);
        if !intact {
            return Ok(());
        }
        let out = out.ok_or_else(|| TestCaseError::fail("valid execute not rebuilt"))?;
        let again = parse_execute(&out[1..], n)
            .ok_or_else(|| TestCaseError::fail("rebuilt execute does not parse"))?;
        prop_assert_eq!(again.stmt_id, backend_id);
        prop_assert_eq!(again.flags, 0);
        prop_assert_eq!(again.null_bitmap, &e.bitmap()[..]);
        if n > 0 {
            prop_assert_eq!(again.types, Some(&types[..]));
        }
        let values = split_values(&again, &types, n, |_| false)
            .ok_or_else(|| TestCaseError::fail("rebuilt values do not split"))?;
        for (i, v) in values.iter().enumerate() {
            if e.nulls[i] {
                prop_assert!(v.is_none());
            } else {
                prop_assert_eq!(*v, Some(&e.params[i].1[..]));
            }
        }
    }

    #[test]
    fn execute_long_data_is_inlined(e in execute(), data in bytes(40)) {
        // The first non-NULL parameter is sent as long data instead of inline.
        let Some(k) = e.nulls.iter().position(|null| !null) else { return Ok(()) };
        let n = e.params.len();
        let types = e.types();
        let mut sent = e.clone();
        sent.params[k].1.clear();
        let wire = sent.encode();
        let req = parse_execute(&wire, n)
            .ok_or_else(|| TestCaseError::fail("execute refused"))?;
        let out = rebuild_execute(&req, 1, &types, n, &[(k as u16, data.clone())])
            .ok_or_else(|| TestCaseError::fail("execute with long data not rebuilt"))?;
        let again = parse_execute(&out[1..], n)
            .ok_or_else(|| TestCaseError::fail("rebuilt execute does not parse"))?;
        // Values of string type carry the long data length-encoded.
        let mut inlined = Vec::new();
        put_lenenc_str(&mut inlined, &data);
        if [0xFD, 0xFE, 0xFC, 0xF6, 0x0F].contains(&e.params[k].0) {
            let values = split_values(&again, &types, n, |_| false)
                .ok_or_else(|| TestCaseError::fail("rebuilt values do not split"))?;
            prop_assert_eq!(values[k], Some(&inlined[..]));
        }
    }
}

// ---- backend response tracking ------------------------------------------------------------

fn kind() -> impl Strategy<Value = ResponseKind> {
    prop_oneof![
        Just(ResponseKind::Query),
        Just(ResponseKind::FieldList),
        Just(ResponseKind::Prepare),
        Just(ResponseKind::Simple),
    ]
}

/// A chunk: its payload and announced length (at least the payload's; sometimes a full
/// 0xFFFFFF chunk whose payload is only a prefix).
fn chunk() -> impl Strategy<Value = (Vec<u8>, usize)> {
    const PACKETS: &[&[u8]] = &[
        &[0xFE, 0, 0, 2, 0],
        &[0x00, 0, 0, 2, 0, 0, 0],
        &[0x00, 1, 0, 0x0A, 0, 0, 0],
        &[0xFF, 0x48, 0x04, b'#', b'4', b'2', b'0', b'0', b'0'],
        &[0x02],
        &[0xFB],
    ];
    prop_oneof![
        3 => short_bytes().prop_map(|p| { let n = p.len(); (p, n) }),
        3 => proptest::sample::select(PACKETS).prop_map(|p| (p.to_vec(), p.len())),
        1 => (short_bytes(), 0usize..100).prop_map(|(p, extra)| { let n = p.len() + extra; (p, n) }),
        1 => short_bytes().prop_map(|p| (p, MAX_CHUNK)),
    ]
}

/// Up to 16 arbitrary bytes from one generated value (cheaper than a vector of bytes).
fn short_bytes() -> impl Strategy<Value = Vec<u8>> {
    (any::<u128>(), 0usize..=16).prop_map(|(v, n)| v.to_le_bytes()[..n].to_vec())
}

const COLUMN: &[u8] =
    b"\x03def\x00\x00\x00\x01a\x00\x0c\x3f\x00\x01\x00\x00\x00\x03\x00\x00\x00\x00";

/// One well-formed result of a COM_QUERY: an OK, an ERR, or a result set.
#[derive(Debug, Clone)]
enum Result1 {
    Ok,
    Err,
    Rows {
        columns: u8,
        rows: Vec<Vec<u8>>,
        error_after: Option<usize>,
    },
}

fn result1() -> impl Strategy<Value = Result1> {
    prop_oneof![
        Just(Result1::Ok),
        Just(Result1::Err),
        (
            1u8..5,
            // Rows that may start with 0xFE (a long row is not an EOF) or be large.
            proptest::collection::vec(
                prop_oneof![
                    bytes(12).prop_map(|mut r| {
                        r.insert(0, 0x01);
                        r
                    }),
                    bytes(20).prop_map(|mut r| {
                        r.insert(0, 0xFE);
                        r.resize(r.len().max(9), b'x');
                        r
                    }),
                ],
                0..6,
            ),
            proptest::option::of(0usize..6),
        )
            .prop_map(|(columns, rows, error_after)| Result1::Rows {
                columns,
                rows,
                error_after
            }),
    ]
}

/// The packets of a response made of `results`; the last one ends the response, and every
/// result but the last says more results follow. Returns the packets and whether the
/// response ends with an error.
fn query_response(results: &[Result1]) -> (Vec<Vec<u8>>, bool) {
    let mut out = Vec::new();
    for (i, r) in results.iter().enumerate() {
        let more: u16 = if i + 1 < results.len() { 0x0008 } else { 0 };
        let status = (0x0002 | more).to_le_bytes();
        match r {
            Result1::Ok => out.push(vec![0x00, 0, 0, status[0], status[1], 0, 0]),
            Result1::Err => {
                out.push(b"\xff\x48\x04#42000oops".to_vec());
                return (out, true);
            }
            Result1::Rows {
                columns,
                rows,
                error_after,
            } => {
                let mut count = Vec::new();
                put_lenenc_int(&mut count, u64::from(*columns));
                out.push(count);
                for _ in 0..*columns {
                    out.push(COLUMN.to_vec());
                }
                out.push(vec![0xFE, 0, 0, 0x02, 0]);
                for (k, row) in rows.iter().enumerate() {
                    if *error_after == Some(k) {
                        out.push(b"\xff\x25\x05#70100interrupted".to_vec());
                        return (out, true);
                    }
                    out.push(row.clone());
                }
                out.push(vec![0xFE, 0, 0, status[0], status[1]]);
            }
        }
    }
    (out, false)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn tracker_arbitrary_chunks(k in kind(), chunks in proptest::collection::vec(chunk(), 0..24)) {
        let mut t = Tracker::new(k);
        for (payload, len) in &chunks {
            let was_done = t.done();
            let prefix = &payload[..payload.len().min(9).max(payload.len().min(*len))];
            let r = t.chunk(prefix, *len);
            if was_done {
                prop_assert!(r.is_err(), "data after the end of a response was accepted");
                break;
            }
            if r.is_err() {
                break;
            }
        }
    }

    #[test]
    fn tracker_ends_exactly_at_the_end(
        results in proptest::collection::vec(result1(), 1..4),
        prefix_only in any::<bool>(),
    ) {
        let (packets, error) = query_response(&results);
        let mut t = Tracker::new(ResponseKind::Query);
        for (i, p) in packets.iter().enumerate() {
            prop_assert!(!t.done(), "ended before packet {i} of {}", packets.len());
            // The relay may feed only the first 9 bytes of a long chunk.
            let fed = if prefix_only { &p[..p.len().min(9)] } else { &p[..] };
            let r = t.chunk(fed, p.len());
            prop_assert!(r.is_ok(), "packet {i} refused: {r:?}");
        }
        prop_assert!(t.done(), "not done after the last packet");
        prop_assert_eq!(t.error, error);
        prop_assert!(t.chunk(&[0x00], 1).is_err());
    }

    #[test]
    fn tracker_prepare_response(columns in 0u16..6, params in 0u16..6, id in any::<u32>()) {
        let mut packets = Vec::new();
        let mut ok = vec![0x00];
        ok.extend_from_slice(&id.to_le_bytes());
        ok.extend_from_slice(&columns.to_le_bytes());
        ok.extend_from_slice(&params.to_le_bytes());
        ok.extend_from_slice(&[0, 0, 0]);
        packets.push(ok);
        for n in [params, columns] {
            if n > 0 {
                for _ in 0..n {
                    packets.push(COLUMN.to_vec());
                }
                packets.push(vec![0xFE, 0, 0, 2, 0]);
            }
        }
        let mut t = Tracker::new(ResponseKind::Prepare);
        for (i, p) in packets.iter().enumerate() {
            prop_assert!(!t.done(), "ended before packet {i}");
            prop_assert!(t.chunk(p, p.len()).is_ok());
        }
        prop_assert!(t.done());
        prop_assert_eq!(t.prepared, Some((id, columns, params)));
    }

    #[test]
    fn tracker_long_rows_split_into_chunks(
        head in bytes(9),
        continuations in 1usize..4,
        last in 0usize..30,
    ) {
        // A row of several 0xFFFFFF chunks and a short last chunk, whose bytes look like an
        // EOF packet: only the EOF after it ends the result.
        let mut t = Tracker::new(ResponseKind::Query);
        for p in [&[0x01][..], COLUMN, &[0xFE, 0, 0, 2, 0]] {
            prop_assert!(t.chunk(p, p.len()).is_ok());
        }
        let mut first = vec![0xFC];
        first.extend_from_slice(&head);
        prop_assert!(t.chunk(&first, MAX_CHUNK).is_ok());
        for _ in 1..continuations {
            prop_assert!(t.chunk(&[0xFE, 0, 0, 2, 0], MAX_CHUNK).is_ok());
        }
        let tail = [0xFE, 0, 0, 2, 0];
        prop_assert!(t.chunk(&tail[..last.min(5)], last).is_ok());
        prop_assert!(!t.done());
        prop_assert!(t.chunk(&[0xFE, 0, 0, 2, 0], 5).is_ok());
        prop_assert!(t.done());
    }
}

// ---- statement classification ---------------------------------------------------------------

/// Words and symbols classification looks at or must skip correctly.
const SQL_TOKENS: &[&str] = &[
    "SELECT",
    "SET",
    "USE",
    "KILL",
    "QUERY",
    "CONNECTION",
    "SESSION",
    "GLOBAL",
    "NAMES",
    "CHARACTER",
    "autocommit",
    "sql_mode",
    "@@session.",
    "@@",
    "@",
    "LAST_INSERT_ID()",
    "CONNECTION_ID()",
    "GET_LOCK(",
    "LOCK",
    "TABLES",
    "CREATE TEMPORARY TABLE",
    "BEGIN",
    "START TRANSACTION",
    "COMMIT",
    "ROLLBACK",
    "EXPLAIN",
    "ROUTE",
    "FOUND_ROWS()",
    "=",
    ":=",
    ",",
    ";",
    "(",
    ")",
    "'",
    "\"",
    "`",
    "\\",
    "''",
    "/*",
    "*/",
    "/*!",
    "/*!40101",
    "/* myshard: shard=1 */",
    "--",
    "-- ",
    "#",
    "\n",
    " ",
    "\t",
    "0x",
    "X'",
    "b'",
    "_utf8mb4",
    "N'",
    "1",
    "-1",
    "1e",
    ".5",
    "18446744073709551616",
    "DEFAULT",
    "NULL",
    "ON",
    "OFF",
    "TRUE",
    "AS",
    "FROM",
    "WHERE",
];

const IDENT_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789$";

/// SQL-ish fragments that exercise the lexer's states: quotes, comments, identifiers,
/// numbers, operators, and the words classification looks for. (Built from `select`
/// rather than unions of many `Just`s or regexes, which are slow to generate.)
fn sql_fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(SQL_TOKENS).prop_map(str::to_owned),
        2 => proptest::collection::vec(proptest::sample::select(IDENT_CHARS), 1..9)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any_text(6),
    ]
}

fn sql() -> impl Strategy<Value = String> {
    proptest::collection::vec(sql_fragment(), 0..24).prop_map(|parts| {
        let mut s = String::new();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 && i % 2 == 0 {
                s.push(' ');
            }
            s.push_str(p);
        }
        s
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn classify_arbitrary_text(s in any_text(120)) {
        let _ = classify(&s);
    }

    #[test]
    fn classify_arbitrary_bytes_as_the_proxy_decodes_them(b in bytes(200)) {
        let _ = classify(&String::from_utf8_lossy(&b));
    }

    #[test]
    fn classify_sql_like_text(s in sql()) {
        let c = classify(&s);
        // A multi-statement text is never tracked as one session change.
        if c.multi {
            prop_assert_eq!(c.kind, Kind::Other);
        }
    }

    #[test]
    fn classify_use_and_kill(name in matching("[a-z_][a-z0-9_]{0,20}"), id in any::<u32>(), q in any::<bool>()) {
        prop_assert_eq!(classify(&format!("USE {name}")).kind, Kind::Use(name.clone()));
        prop_assert_eq!(classify(&format!("use `{name}`;")).kind, Kind::Use(name));
        let sql = if q { format!("KILL QUERY {id}") } else { format!("KILL {id}") };
        prop_assert_eq!(classify(&sql).kind, Kind::Kill { query: q, id: u64::from(id) });
    }
}
