//! The byte streams MySQL packets travel over: TCP, or a Unix-domain socket when the peer
//! runs on the same machine (a backend written `unix:/path/to/mysqld.sock`, or a client of
//! the `listen_socket`). A Unix socket skips the loopback TCP stack, which is most of the
//! kernel time a relayed statement costs on one machine.
//!
//! [`Stream`] delegates to the concrete stream with one `match` per call; everything that
//! reads or writes packets takes it (or any `AsyncRead`/`AsyncWrite`).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// A connected TCP or Unix-domain stream.
#[derive(Debug)]
pub enum Stream {
    /// TCP (TCP_NODELAY set by whoever made it).
    Tcp(TcpStream),
    /// Unix-domain socket.
    Unix(UnixStream),
}

/// Where a backend host is reached, from its configured address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// `host:port`.
    Tcp(&'a str),
    /// `unix:/path`: the socket file's path.
    Unix(&'a str),
}

impl<'a> Endpoint<'a> {
    /// Reads a configured host address (`host:port` or `unix:/path`).
    pub fn parse(addr: &'a str) -> Endpoint<'a> {
        match myshard_config::unix_socket_path(addr) {
            Some(path) => Endpoint::Unix(path),
            None => Endpoint::Tcp(addr),
        }
    }
}

impl Stream {
    /// Connects to a configured host address (`host:port` or `unix:/path`); TCP
    /// connections get TCP_NODELAY.
    pub async fn connect(addr: &str) -> io::Result<Stream> {
        match Endpoint::parse(addr) {
            Endpoint::Tcp(a) => {
                let s = TcpStream::connect(a).await?;
                s.set_nodelay(true)?;
                Ok(Stream::Tcp(s))
            }
            Endpoint::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
        }
    }

    /// One non-blocking read (`WouldBlock` when nothing is waiting); relies on the
    /// runtime's readiness state, so a socket known to be empty costs no system call.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_read(buf),
            Stream::Unix(s) => s.try_read(buf),
        }
    }

    /// Whether this is a Unix-domain socket.
    pub fn is_unix(&self) -> bool {
        matches!(self, Stream::Unix(_))
    }
}

impl From<TcpStream> for Stream {
    fn from(s: TcpStream) -> Self {
        Stream::Tcp(s)
    }
}

impl From<UnixStream> for Stream {
    fn from(s: UnixStream) -> Self {
        Stream::Unix(s)
    }
}

impl AsyncRead for Stream {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(s) => s.is_write_vectored(),
            Stream::Unix(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn endpoints() {
        assert_eq!(
            Endpoint::parse("127.0.0.1:3306"),
            Endpoint::Tcp("127.0.0.1:3306")
        );
        assert_eq!(
            Endpoint::parse("unix:/run/mysqld/mysqld.sock"),
            Endpoint::Unix("/run/mysqld/mysqld.sock")
        );
    }

    #[tokio::test]
    async fn unix_stream_round_trip() {
        let dir = std::env::temp_dir().join(format!("myshard-net-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("t.sock");
        let _ = std::fs::remove_file(&path);
        let listener = tokio::net::UnixListener::bind(&path).expect("bind");
        let addr = format!("unix:{}", path.display());
        let client = tokio::spawn(async move {
            let mut s = Stream::connect(&addr).await.expect("connect");
            assert!(s.is_unix());
            s.write_all(b"ping").await.expect("write");
            let mut got = [0u8; 4];
            s.read_exact(&mut got).await.expect("read");
            got
        });
        let (server, _) = listener.accept().await.expect("accept");
        let mut server = Stream::from(server);
        let mut got = [0u8; 4];
        server.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"ping");
        let mut probe = [0u8; 1];
        assert_eq!(
            server.try_read(&mut probe).map_err(|e| e.kind()),
            Err(io::ErrorKind::WouldBlock)
        );
        server.write_all(b"pong").await.expect("write");
        assert_eq!(&client.await.expect("join"), b"pong");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
