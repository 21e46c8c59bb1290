//! A small MySQL client speaking raw protocol bytes, for what mysql_async cannot send:
//! chosen auth plugins, COM_FIELD_LIST, COM_STATISTICS, COM_SET_OPTION, unknown or
//! malformed commands, prepared statement executes without parameter types, oversized
//! packets.

use anyhow::{Context, Result, bail, ensure};
use mysql_common::scramble::{scramble_native, scramble_sha256};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Capability bits the raw client uses.
pub mod caps {
    pub const LONG_PASSWORD: u32 = 0x1;
    pub const CONNECT_WITH_DB: u32 = 0x8;
    pub const PROTOCOL_41: u32 = 0x200;
    pub const TRANSACTIONS: u32 = 0x2000;
    pub const SECURE_CONNECTION: u32 = 0x8000;
    pub const MULTI_STATEMENTS: u32 = 0x1_0000;
    pub const MULTI_RESULTS: u32 = 0x2_0000;
    pub const PS_MULTI_RESULTS: u32 = 0x4_0000;
    pub const PLUGIN_AUTH: u32 = 0x8_0000;
    pub const PLUGIN_AUTH_LENENC: u32 = 0x20_0000;
    /// What the raw client asks for by default.
    pub const DEFAULT: u32 = LONG_PASSWORD
        | PROTOCOL_41
        | TRANSACTIONS
        | SECURE_CONNECTION
        | MULTI_STATEMENTS
        | MULTI_RESULTS
        | PS_MULTI_RESULTS
        | PLUGIN_AUTH
        | PLUGIN_AUTH_LENENC;
}

/// Longest a test waits for one packet.
const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// The server greeting's fields.
#[derive(Debug, Clone)]
pub struct Greeting {
    pub server_version: String,
    pub conn_id: u32,
    pub capabilities: u32,
    pub nonce: Vec<u8>,
    pub plugin: String,
}

/// How the raw client authenticates.
#[derive(Debug, Clone)]
pub struct Login<'a> {
    pub user: &'a str,
    pub password: &'a str,
    pub db: Option<&'a str>,
    /// Plugin named in the handshake response; `None` leaves out CLIENT_PLUGIN_AUTH.
    pub plugin: Option<&'a str>,
    pub capabilities: u32,
}

impl<'a> Login<'a> {
    pub fn new(user: &'a str, password: &'a str, db: Option<&'a str>) -> Self {
        Login {
            user,
            password,
            db,
            plugin: Some("mysql_native_password"),
            capabilities: caps::DEFAULT,
        }
    }
}

/// An ERR packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrPacket {
    pub code: u16,
    pub state: String,
    pub message: String,
}

/// An OK packet's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OkPacket {
    pub affected_rows: u64,
    pub last_insert_id: u64,
    pub status: u16,
}

/// One result of a command: a result set or an OK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultPart {
    Ok(OkPacket),
    Rows {
        columns: Vec<String>,
        rows: Vec<Vec<Option<Vec<u8>>>>,
    },
}

/// The whole response to a COM_QUERY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The results, in order (several with multi-statements).
    Results(Vec<ResultPart>),
    /// An ERR, after the results that came before it.
    Err(Vec<ResultPart>, ErrPacket),
}

impl Response {
    /// The error, or a failure naming what came instead.
    pub fn err(self) -> Result<ErrPacket> {
        match self {
            Response::Err(_, e) => Ok(e),
            other => bail!("expected an error, got {other:?}"),
        }
    }

    /// The results, or a failure naming the error.
    pub fn results(self) -> Result<Vec<ResultPart>> {
        match self {
            Response::Results(r) => Ok(r),
            Response::Err(_, e) => bail!("unexpected error {e:?}"),
        }
    }

    /// The rows of the single result set as UTF-8 strings (NULL → "NULL").
    pub fn text_rows(self) -> Result<Vec<Vec<String>>> {
        let mut parts = self.results()?;
        ensure!(parts.len() == 1, "expected one result, got {parts:?}");
        match parts.remove(0) {
            ResultPart::Rows { rows, .. } => Ok(rows
                .into_iter()
                .map(|r| {
                    r.into_iter()
                        .map(|v| {
                            v.map_or_else(
                                || "NULL".to_string(),
                                |b| String::from_utf8_lossy(&b).into_owned(),
                            )
                        })
                        .collect()
                })
                .collect()),
            other => bail!("expected rows, got {other:?}"),
        }
    }
}

/// A prepared statement's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepared {
    pub id: u32,
    pub columns: u16,
    pub params: u16,
}

/// A raw client connection.
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
    pub greeting: Greeting,
    /// Sequence id of the last packet read.
    pub last_seq: u8,
}

/// Parses an ERR payload.
pub fn parse_err(p: &[u8]) -> Option<ErrPacket> {
    if p.first() != Some(&0xFF) || p.len() < 3 {
        return None;
    }
    let code = u16::from_le_bytes([p[1], p[2]]);
    let (state, msg) = if p.len() >= 9 && p[3] == b'#' {
        (String::from_utf8_lossy(&p[4..9]).into_owned(), &p[9..])
    } else {
        (String::new(), &p[3..])
    };
    Some(ErrPacket {
        code,
        state,
        message: String::from_utf8_lossy(msg).into_owned(),
    })
}

/// A length-encoded integer at `*pos`.
pub fn lenenc(p: &[u8], pos: &mut usize) -> Option<u64> {
    let b = *p.get(*pos)?;
    *pos += 1;
    let n = match b {
        0..=0xFA => return Some(u64::from(b)),
        0xFC => 2,
        0xFD => 3,
        0xFE => 8,
        _ => return None,
    };
    let bytes = p.get(*pos..*pos + n)?;
    *pos += n;
    let mut v = 0u64;
    for (i, b) in bytes.iter().enumerate() {
        v |= u64::from(*b) << (8 * i);
    }
    Some(v)
}

fn lenenc_bytes<'a>(p: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let n = usize::try_from(lenenc(p, pos)?).ok()?;
    let v = p.get(*pos..*pos + n)?;
    *pos += n;
    Some(v)
}

/// Appends a length-encoded integer.
pub fn put_lenenc(out: &mut Vec<u8>, v: u64) {
    if v < 251 {
        out.push(v as u8);
    } else if v < 1 << 16 {
        out.push(0xFC);
        out.extend_from_slice(&(v as u16).to_le_bytes());
    } else if v < 1 << 24 {
        out.push(0xFD);
        out.extend_from_slice(&(v as u32).to_le_bytes()[..3]);
    } else {
        out.push(0xFE);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn parse_ok(p: &[u8]) -> Result<OkPacket> {
    let mut pos = 1;
    let affected_rows = lenenc(p, &mut pos).context("OK affected rows")?;
    let last_insert_id = lenenc(p, &mut pos).context("OK insert id")?;
    let status = p
        .get(pos..pos + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .context("OK status")?;
    Ok(OkPacket {
        affected_rows,
        last_insert_id,
        status,
    })
}

fn is_eof(p: &[u8]) -> bool {
    p.first() == Some(&0xFE) && p.len() < 9
}

fn eof_status(p: &[u8]) -> u16 {
    p.get(3..5).map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

/// The column name of a column definition packet.
pub fn column_name(def: &[u8]) -> Result<String> {
    let mut pos = 0;
    for _ in 0..4 {
        lenenc_bytes(def, &mut pos).context("column definition")?;
    }
    let name = lenenc_bytes(def, &mut pos).context("column name")?;
    Ok(String::from_utf8_lossy(name).into_owned())
}

/// Column type byte of a column definition packet.
pub fn column_type(def: &[u8]) -> Result<u8> {
    let mut pos = 0;
    for _ in 0..6 {
        lenenc_bytes(def, &mut pos).context("column definition")?;
    }
    // 0x0c, charset (2), length (4), type (1)
    def.get(pos + 1 + 2 + 4).copied().context("column type")
}

impl RawConn {
    /// Opens a TCP connection and reads the greeting, without logging in.
    pub async fn open(addr: std::net::SocketAddr) -> Result<RawConn> {
        Self::open_from(addr, None).await
    }

    /// Like [`RawConn::open`], from local address `from` (e.g. 127.0.0.2, to look like
    /// another client host on loopback).
    pub async fn open_from(
        addr: std::net::SocketAddr,
        from: Option<std::net::IpAddr>,
    ) -> Result<RawConn> {
        let stream = match from {
            Some(ip) => {
                let socket = tokio::net::TcpSocket::new_v4()?;
                socket.bind(std::net::SocketAddr::new(ip, 0))?;
                socket.connect(addr).await?
            }
            None => TcpStream::connect(addr).await?,
        };
        stream.set_nodelay(true)?;
        let mut c = RawConn {
            stream,
            buf: Vec::new(),
            greeting: Greeting {
                server_version: String::new(),
                conn_id: 0,
                capabilities: 0,
                nonce: Vec::new(),
                plugin: String::new(),
            },
            last_seq: 0,
        };
        let g = c.read_packet().await?;
        c.greeting = parse_greeting(&g)?;
        Ok(c)
    }

    /// Opens a connection and logs in; the final packet of the login (OK payload) is
    /// checked, an ERR becomes `Err` of the outer result's inner value.
    pub async fn login(
        addr: std::net::SocketAddr,
        login: &Login<'_>,
    ) -> Result<std::result::Result<RawConn, ErrPacket>> {
        Self::login_from(addr, None, login).await
    }

    /// Like [`RawConn::login`], from local address `from`.
    pub async fn login_from(
        addr: std::net::SocketAddr,
        from: Option<std::net::IpAddr>,
        login: &Login<'_>,
    ) -> Result<std::result::Result<RawConn, ErrPacket>> {
        let mut c = Self::open_from(addr, from).await?;
        let mut caps = login.capabilities;
        if login.db.is_some() {
            caps |= caps::CONNECT_WITH_DB;
        }
        if login.plugin.is_none() {
            caps &= !(caps::PLUGIN_AUTH | caps::PLUGIN_AUTH_LENENC);
        }
        let nonce = c.greeting.nonce.clone();
        let auth = scramble_for(
            login.plugin.unwrap_or("mysql_native_password"),
            &nonce,
            login.password,
        );
        let mut p = Vec::new();
        p.extend_from_slice(&caps.to_le_bytes());
        p.extend_from_slice(&(1u32 << 24).to_le_bytes());
        p.push(45);
        p.extend_from_slice(&[0u8; 23]);
        p.extend_from_slice(login.user.as_bytes());
        p.push(0);
        if caps & caps::PLUGIN_AUTH_LENENC != 0 {
            put_lenenc(&mut p, auth.len() as u64);
        } else {
            p.push(auth.len() as u8);
        }
        p.extend_from_slice(&auth);
        if let Some(db) = login.db {
            p.extend_from_slice(db.as_bytes());
            p.push(0);
        }
        if let Some(plugin) = login.plugin {
            p.extend_from_slice(plugin.as_bytes());
            p.push(0);
        }
        c.write_packet(1, &p).await?;
        loop {
            let reply = c.read_packet().await?;
            match reply.first() {
                Some(0x00) => return Ok(Ok(c)),
                Some(0xFF) => return Ok(Err(parse_err(&reply).context("ERR")?)),
                Some(0x01) if reply.get(1) == Some(&0x03) => continue,
                Some(0xFE) => {
                    let rest = &reply[1..];
                    let end = rest.iter().position(|&b| b == 0).context("switch plugin")?;
                    let plugin = String::from_utf8_lossy(&rest[..end]).into_owned();
                    let nonce = &rest[end + 1..];
                    let nonce = nonce.strip_suffix(&[0]).unwrap_or(nonce);
                    let auth = scramble_for(&plugin, nonce, login.password);
                    let seq = c.last_seq.wrapping_add(1);
                    c.write_packet(seq, &auth).await?;
                }
                other => bail!("unexpected login packet starting {other:?}: {reply:?}"),
            }
        }
    }

    /// Writes one logical packet (split into chunks when needed).
    pub async fn write_packet(&mut self, mut seq: u8, payload: &[u8]) -> Result<()> {
        let mut out = Vec::with_capacity(payload.len() + 8);
        let mut rest = payload;
        loop {
            let n = rest.len().min(0xFF_FFFF);
            out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
            out.push(seq);
            out.extend_from_slice(&rest[..n]);
            seq = seq.wrapping_add(1);
            rest = &rest[n..];
            if n < 0xFF_FFFF {
                break;
            }
        }
        self.stream.write_all(&out).await?;
        Ok(())
    }

    /// Writes raw bytes.
    pub async fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes).await?;
        Ok(())
    }

    /// Sends a command packet (sequence id 0).
    pub async fn send(&mut self, payload: &[u8]) -> Result<()> {
        self.write_packet(0, payload).await
    }

    /// Reads one logical packet; checks sequence ids follow one another within it.
    pub async fn read_packet(&mut self) -> Result<Vec<u8>> {
        let mut payload = Vec::new();
        loop {
            self.fill(4).await?;
            let len = usize::from(self.buf[0])
                | usize::from(self.buf[1]) << 8
                | usize::from(self.buf[2]) << 16;
            self.last_seq = self.buf[3];
            self.fill(4 + len).await?;
            payload.extend_from_slice(&self.buf[4..4 + len]);
            self.buf.drain(..4 + len);
            if len < 0xFF_FFFF {
                return Ok(payload);
            }
        }
    }

    /// Whether the server closed the connection (EOF without further data).
    pub async fn closed_by_server(&mut self) -> Result<bool> {
        if !self.buf.is_empty() {
            return Ok(false);
        }
        let mut b = [0u8; 1];
        match tokio::time::timeout(READ_TIMEOUT, self.stream.read(&mut b)).await {
            Ok(Ok(0)) => Ok(true),
            Ok(Ok(_)) => Ok(false),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(true),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => bail!("the server neither closed the connection nor sent anything"),
        }
    }

    async fn fill(&mut self, n: usize) -> Result<()> {
        while self.buf.len() < n {
            let mut chunk = vec![0u8; (n - self.buf.len()).clamp(4096, 1 << 20)];
            let got = tokio::time::timeout(READ_TIMEOUT, self.stream.read(&mut chunk))
                .await
                .context("timed out waiting for the server")??;
            ensure!(got > 0, "connection closed by the server");
            self.buf.extend_from_slice(&chunk[..got]);
        }
        Ok(())
    }

    /// Reads a COM_QUERY style response (text rows, or binary rows kept raw).
    pub async fn read_response(&mut self) -> Result<Response> {
        let mut parts = Vec::new();
        loop {
            let first = self.read_packet().await?;
            let status;
            match first.first() {
                Some(0xFF) => return Ok(Response::Err(parts, parse_err(&first).context("ERR")?)),
                Some(0x00) => {
                    let ok = parse_ok(&first)?;
                    status = ok.status;
                    parts.push(ResultPart::Ok(ok));
                }
                _ => {
                    let mut pos = 0;
                    let n = lenenc(&first, &mut pos).context("column count")?;
                    let mut columns = Vec::new();
                    for _ in 0..n {
                        columns.push(column_name(&self.read_packet().await?)?);
                    }
                    let eof = self.read_packet().await?;
                    ensure!(is_eof(&eof), "expected EOF after columns, got {eof:?}");
                    let mut rows = Vec::new();
                    loop {
                        let p = self.read_packet().await?;
                        if is_eof(&p) {
                            status = eof_status(&p);
                            break;
                        }
                        if p.first() == Some(&0xFF) {
                            parts.push(ResultPart::Rows { columns, rows });
                            return Ok(Response::Err(parts, parse_err(&p).context("ERR")?));
                        }
                        let mut pos = 0;
                        let mut row = Vec::new();
                        for _ in 0..n {
                            if p.get(pos) == Some(&0xFB) {
                                pos += 1;
                                row.push(None);
                            } else {
                                row.push(Some(
                                    lenenc_bytes(&p, &mut pos).context("row value")?.to_vec(),
                                ));
                            }
                        }
                        rows.push(row);
                    }
                    parts.push(ResultPart::Rows { columns, rows });
                }
            }
            if status & 0x0008 == 0 {
                return Ok(Response::Results(parts));
            }
        }
    }

    /// COM_QUERY.
    pub async fn query(&mut self, sql: &str) -> Result<Response> {
        let mut p = vec![0x03];
        p.extend_from_slice(sql.as_bytes());
        self.send(&p).await?;
        self.read_response().await
    }

    /// COM_STMT_PREPARE; returns the header (or the error) after reading the definitions.
    pub async fn prepare(&mut self, sql: &str) -> Result<std::result::Result<Prepared, ErrPacket>> {
        let mut p = vec![0x16];
        p.extend_from_slice(sql.as_bytes());
        self.send(&p).await?;
        let first = self.read_packet().await?;
        if let Some(e) = parse_err(&first) {
            return Ok(Err(e));
        }
        ensure!(
            first.first() == Some(&0x00) && first.len() >= 12,
            "bad prepare OK {first:?}"
        );
        let id = u32::from_le_bytes([first[1], first[2], first[3], first[4]]);
        let columns = u16::from_le_bytes([first[5], first[6]]);
        let params = u16::from_le_bytes([first[7], first[8]]);
        for n in [params, columns] {
            if n > 0 {
                for _ in 0..n {
                    self.read_packet().await?;
                }
                let eof = self.read_packet().await?;
                ensure!(
                    is_eof(&eof),
                    "expected EOF in prepare response, got {eof:?}"
                );
            }
        }
        Ok(Ok(Prepared {
            id,
            columns,
            params,
        }))
    }
}

fn scramble_for(plugin: &str, nonce: &[u8], password: &str) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    if plugin == "caching_sha2_password" {
        scramble_sha256(nonce, password.as_bytes()).map_or_else(Vec::new, |s| s.to_vec())
    } else {
        scramble_native(nonce, password.as_bytes()).map_or_else(Vec::new, |s| s.to_vec())
    }
}

fn parse_greeting(g: &[u8]) -> Result<Greeting> {
    ensure!(g.first() == Some(&10), "not a HandshakeV10: {g:?}");
    let mut pos = 1;
    let end = g[pos..].iter().position(|&b| b == 0).context("version")?;
    let server_version = String::from_utf8_lossy(&g[pos..pos + end]).into_owned();
    pos += end + 1;
    let b = g.get(pos..pos + 4).context("conn id")?;
    let conn_id = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    pos += 4;
    let mut nonce = g.get(pos..pos + 8).context("nonce")?.to_vec();
    pos += 9;
    let low = g.get(pos..pos + 2).context("caps")?;
    let low = u32::from(u16::from_le_bytes([low[0], low[1]]));
    pos += 2 + 1 + 2;
    let high = g.get(pos..pos + 2).context("caps")?;
    let high = u32::from(u16::from_le_bytes([high[0], high[1]]));
    pos += 2;
    let auth_len = usize::from(*g.get(pos).context("auth len")?);
    pos += 1 + 10;
    let n = auth_len.saturating_sub(8).max(13);
    let part2 = g.get(pos..pos + n).context("nonce 2")?;
    nonce.extend_from_slice(part2.strip_suffix(&[0]).unwrap_or(part2));
    pos += n;
    let rest = &g[pos..];
    let plugin = String::from_utf8_lossy(rest.strip_suffix(&[0]).unwrap_or(rest)).into_owned();
    Ok(Greeting {
        server_version,
        conn_id,
        capabilities: low | high << 16,
        nonce,
        plugin,
    })
}
