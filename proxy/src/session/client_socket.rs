//! The client's socket as the session writes to it: a write the client does not take
//! (it stopped reading, its kernel buffers are full) races the statement's interrupt,
//! so `KILL`, `KILL QUERY` and the statement timeout end a session stuck writing to
//! such a client instead of leaving it — and the backend connection it relays from —
//! blocked forever. Writes the client takes are never delayed: the interrupt is only
//! looked at while a write waits.

use crate::backend::interrupt::{Interrupter, Why};
use crate::net::Stream;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stop signal being waited for.
type Stop = Pin<Box<dyn Future<Output = Why> + Send + Sync>>;

/// A client connection whose writes give up when the running statement is interrupted.
pub(crate) struct ClientSocket {
    inner: Stream,
    /// What the running statement may be interrupted by (`None` before the first command).
    guard: Option<Interrupter>,
    /// The wait on `guard`, started by the first write of the statement that had to wait.
    stop: Option<Stop>,
    /// Why a write was given up (the session ends: the response is cut mid-way).
    stopped: Option<Why>,
}

impl ClientSocket {
    /// Wraps a logged-in client's connection.
    pub(crate) fn new(inner: Stream) -> Self {
        ClientSocket {
            inner,
            guard: None,
            stop: None,
            stopped: None,
        }
    }

    /// The underlying connection.
    pub(crate) fn stream(&self) -> &Stream {
        &self.inner
    }

    /// Sets what the writes of the statement starting now race.
    pub(crate) fn guard(&mut self, interrupter: Interrupter) {
        self.guard = Some(interrupter);
        self.stop = None;
    }

    /// Why a write was given up, if one was.
    pub(crate) fn stopped(&self) -> Option<Why> {
        self.stopped
    }

    /// Called while a write waits on a full socket: fails it once the statement must stop.
    fn poll_stop<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        if let Some(why) = self.stopped {
            return Poll::Ready(Err(stopped_error(why)));
        }
        let Some(guard) = &self.guard else {
            return Poll::Pending;
        };
        let stop = self.stop.get_or_insert_with(|| {
            let mut guard = guard.clone();
            Box::pin(async move { guard.wait().await })
        });
        match stop.as_mut().poll(cx) {
            Poll::Ready(why) => {
                tracing::info!(
                    ?why,
                    "a write to a client that stopped reading was given up"
                );
                self.stopped = Some(why);
                Poll::Ready(Err(stopped_error(why)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

fn stopped_error(why: Why) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("write to the client given up: {}", why.error().message),
    )
}

impl AsyncRead for ClientSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClientSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Pending => this.poll_stop(cx),
            ready => ready,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => this.poll_stop(cx),
            ready => ready,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => this.poll_stop(cx),
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
