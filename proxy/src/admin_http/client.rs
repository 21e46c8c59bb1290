//! A minimal HTTP/1.1 client for the status endpoint (`myshard status` and tests): one
//! request per connection, bounded in time and size.

use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest answer read.
const MAX_ANSWER: u64 = 16 * 1024 * 1024;

/// An answer: status code, and body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// Body (de-chunked).
    pub body: String,
}

/// Sends `method path` to `addr` (with `Authorization: Bearer token` if given) and reads the
/// whole answer within `timeout`.
pub async fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    timeout: Duration,
) -> io::Result<Answer> {
    request_with_body(addr, method, path, token, "", timeout).await
}

/// [`request`] with a JSON body.
pub async fn request_with_body(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
    timeout: Duration,
) -> io::Result<Answer> {
    tokio::time::timeout(timeout, exchange(addr, method, path, token, body))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("no answer from {addr}")))?
}

async fn exchange(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> io::Result<Answer> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    (&mut stream).take(MAX_ANSWER).read_to_end(&mut raw).await?;
    parse(&raw).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an HTTP answer"))
}

/// Splits a raw answer into status and body.
fn parse(raw: &[u8]) -> Option<Answer> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_string()
    };
    Some(Answer { status, body })
}

/// The body of a chunked answer.
fn dechunk(mut rest: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(after.get(..size)?);
        rest = after.get(size..)?.strip_prefix("\r\n")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plain_and_chunked_answers() {
        let plain = parse(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 3\r\n\r\nno\n")
            .map(|a| (a.status, a.body));
        assert_eq!(plain, Some((503, "no\n".to_string())));
        let chunked = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .map(|a| (a.status, a.body));
        assert_eq!(chunked, Some((200, "abcde".to_string())));
        assert!(parse(b"garbage").is_none());
    }
}
