//! Why a wait on a backend stops early: the client's statement was killed (`KILL QUERY`),
//! its connection was killed (`KILL`), its statement ran past the statement timeout, or
//! the client went away. A backend connection working for a session carries an
//! [`Interrupter`]; every read from or write to the backend races it, so a hung backend
//! (paused, or a network that dropped its packets) never holds a session longer than the
//! session wants. An interrupted connection is marked broken: its response is cut off
//! mid-way, so it is closed instead of going back to the pool. The statement timeout first
//! asks the backends to end the statement ([`OnTimeout`]) and cuts waits short only when
//! they do not answer in time, so that a timed-out statement ends alone, as in MariaDB.

use crate::error::SqlError;
use crate::net::Stream;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::Interest;
use tokio::sync::watch;

/// How long a backend gets to answer `KILL QUERY` itself (an ordinary 1317 error that
/// keeps the connection and the transaction on it) before the proxy gives up on it and
/// discards the connection.
pub const KILL_QUERY_GRACE: Duration = Duration::from_millis(500);

/// What ended a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// `KILL QUERY` of the session.
    KillQuery,
    /// `KILL [CONNECTION]` of the session.
    Killed,
    /// The statement timeout (`limits.statement_timeout_ms` or the user's) passed.
    TimedOut,
    /// The client closed its connection.
    ClientGone,
}

impl Why {
    /// The error the client gets for the interrupted statement.
    pub fn error(self) -> SqlError {
        match self {
            Why::KillQuery => SqlError::query_interrupted(),
            Why::Killed => SqlError::new(1927, b"70100", "Connection was killed"),
            Why::TimedOut => SqlError::new(
                1969,
                b"70100",
                "Query execution was interrupted (max_statement_time exceeded)",
            ),
            Why::ClientGone => SqlError::new(2013, b"HY000", "the client closed its connection"),
        }
    }

    /// Whether the session ends with it.
    pub fn ends_session(self) -> bool {
        matches!(self, Why::Killed | Why::ClientGone)
    }
}

/// What a session's statement may be interrupted by; cloned onto every backend connection
/// the statement uses.
#[derive(Debug, Clone)]
pub struct Interrupter {
    /// `KILL` / `KILL QUERY` requests for the session (`None` while there are none).
    pub signal: watch::Receiver<Option<Why>>,
    /// When the statement times out.
    pub deadline: Option<Instant>,
    /// The client's socket, watched for its end.
    pub client: Option<Arc<ClientWatch>>,
    /// When a wait of the statement first saw `KILL QUERY`: the grace runs from there, not
    /// from each new wait, so a response still streaming (every read quick) and a merge's
    /// backend connections drained after the client write gave up are cut off too once
    /// the grace is over.
    pub kill_query_seen: Arc<std::sync::Mutex<Option<Instant>>>,
    /// What the statement timeout does first: ask the backends to end the statement
    /// themselves (see [`OnTimeout`]); `None`: the wait is cut at the deadline.
    pub on_timeout: Option<Arc<dyn OnTimeout>>,
}

/// The first step of a statement timeout, shared by every wait of the statement: the
/// backends running it are sent `KILL QUERY`, as MariaDB's own `max_statement_time` ends
/// a statement, so that the backend answers with an error and keeps the connection and
/// the transaction on it. Waits are cut short only if that answer has not come within
/// [`KILL_QUERY_GRACE`] of the deadline (a hung backend).
pub trait OnTimeout: Send + Sync + std::fmt::Debug {
    /// Sends the kills, once per statement whoever calls first; true if backend statements
    /// were running (so an answer may come), false if there is nothing to wait for.
    fn fire(&self) -> bool;
    /// Whether the timeout has fired for the statement.
    fn fired(&self) -> bool;
}

impl Interrupter {
    /// Resolves when the statement must stop (never otherwise).
    pub async fn wait(&mut self) -> Why {
        let deadline = self.deadline;
        let on_timeout = self.on_timeout.clone();
        let client = self.client.clone();
        let seen = self.kill_query_seen.clone();
        let signal = async {
            let why = match self.signal.wait_for(Option::is_some).await {
                Ok(w) => *w,
                // The session is gone: nobody can ask any more.
                Err(_) => None,
            };
            match why {
                Some(Why::KillQuery) => {
                    let now = Instant::now();
                    let since = match seen.lock() {
                        Ok(mut at) => *at.get_or_insert(now),
                        Err(_) => now,
                    };
                    tokio::time::sleep_until((since + KILL_QUERY_GRACE).into()).await;
                    Why::KillQuery
                }
                Some(w) => w,
                None => std::future::pending().await,
            }
        };
        let timeout = async {
            match deadline {
                Some(d) => {
                    tokio::time::sleep_until(d.into()).await;
                    // The backend gets the grace to answer the kill (counted from the
                    // deadline, however many waits the statement makes after it).
                    if on_timeout.is_some_and(|t| t.fire()) {
                        tokio::time::sleep_until((d + KILL_QUERY_GRACE).into()).await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        let gone = async {
            match client {
                Some(c) => c.closed().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            w = signal => w,
            _ = timeout => Why::TimedOut,
            _ = gone => Why::ClientGone,
        }
    }

    /// The error a timed-out statement's backend answer becomes: the 1317 a backend gives
    /// for the `KILL QUERY` of the statement timeout reaches the client as MariaDB's own
    /// `max_statement_time` error (1969). `None` for any other packet.
    pub fn timeout_answer(&self, err_payload: &[u8]) -> Option<Vec<u8>> {
        let fired = self.timed_out();
        let code = err_payload
            .get(1..3)
            .map(|c| u16::from_le_bytes([c[0], c[1]]));
        (fired && err_payload.first() == Some(&0xFF) && code == Some(1317))
            .then(|| crate::packet::err_payload(&Why::TimedOut.error()))
    }

    /// Whether the statement timeout has fired (the backends were sent kills).
    pub fn timed_out(&self) -> bool {
        self.on_timeout.as_ref().is_some_and(|t| t.fired())
    }
}

/// A second handle on a client's socket (a duplicated descriptor) that only watches for
/// the client hanging up, while the session's own handle is busy writing a response.
#[derive(Debug)]
pub enum ClientWatch {
    /// TCP client.
    Tcp(tokio::net::TcpStream),
    /// Unix-socket client.
    Unix(tokio::net::UnixStream),
}

impl ClientWatch {
    /// A watch on `stream` (`None` if the descriptor cannot be duplicated).
    pub fn new(stream: &Stream) -> Option<ClientWatch> {
        use std::os::fd::AsFd;
        match stream {
            Stream::Tcp(s) => {
                let fd = s.as_fd().try_clone_to_owned().ok()?;
                let std = std::net::TcpStream::from(fd);
                tokio::net::TcpStream::from_std(std)
                    .ok()
                    .map(ClientWatch::Tcp)
            }
            Stream::Unix(s) => {
                let fd = s.as_fd().try_clone_to_owned().ok()?;
                let std = std::os::unix::net::UnixStream::from(fd);
                tokio::net::UnixStream::from_std(std)
                    .ok()
                    .map(ClientWatch::Unix)
            }
        }
    }

    /// Resolves once the client has hung up. Bytes the client sends meanwhile (a pipelined
    /// command) are left for the session to read: only the hang-up event counts.
    pub async fn closed(&self) {
        loop {
            let ready = match self {
                ClientWatch::Tcp(s) => s.ready(Interest::READABLE).await,
                ClientWatch::Unix(s) => s.ready(Interest::READABLE).await,
            };
            match ready {
                Ok(r) if r.is_read_closed() => return,
                Ok(_) => {}
                Err(_) => return,
            }
            // Readable with data: forget this readiness (without reading) and wait for the
            // next event, which a hang-up raises.
            let clear = || -> std::io::Result<()> { Err(std::io::ErrorKind::WouldBlock.into()) };
            let _ = match self {
                ClientWatch::Tcp(s) => s.try_io(Interest::READABLE, clear),
                ClientWatch::Unix(s) => s.try_io(Interest::READABLE, clear),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn client_watch_sees_a_hang_up_but_not_pipelined_bytes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let server = Stream::from(server);
        let watch = ClientWatch::new(&server).expect("watch");
        // A pipelined command is not a hang-up, and stays for the session to read.
        client.write_all(b"next command").await.expect("write");
        let early = tokio::time::timeout(Duration::from_millis(100), watch.closed()).await;
        assert!(early.is_err(), "bytes from the client read as a hang-up");
        drop(client);
        tokio::time::timeout(Duration::from_secs(2), watch.closed())
            .await
            .expect("the hang-up was not seen");
        let mut buf = [0u8; 32];
        let n = server
            .try_read(&mut buf)
            .expect("the pipelined bytes are still there");
        assert_eq!(&buf[..n], b"next command");
    }

    /// A timeout that has fired, with backend statements running.
    #[derive(Debug)]
    struct Fired;

    impl OnTimeout for Fired {
        fn fire(&self) -> bool {
            true
        }
        fn fired(&self) -> bool {
            true
        }
    }

    #[test]
    fn only_the_kills_1317_becomes_the_timeout_error() {
        let (_tx, signal) = watch::channel(None);
        let mut i = Interrupter {
            signal,
            deadline: None,
            client: None,
            kill_query_seen: Arc::default(),
            on_timeout: None,
        };
        let killed = crate::packet::err_payload(&SqlError::query_interrupted());
        assert_eq!(i.timeout_answer(&killed), None, "no timeout fired");
        i.on_timeout = Some(Arc::new(Fired));
        let answer = i
            .timeout_answer(&killed)
            .expect("the kill's error is replaced");
        assert_eq!(answer, crate::packet::err_payload(&Why::TimedOut.error()));
        let other = crate::packet::err_payload(&SqlError::new(1062, b"23000", "Duplicate"));
        assert_eq!(
            i.timeout_answer(&other),
            None,
            "other errors pass unchanged"
        );
    }

    #[test]
    fn errors_are_mariadbs() {
        let e = Why::TimedOut.error();
        assert_eq!((e.code, &e.state), (1969, b"70100"));
        let e = Why::KillQuery.error();
        assert_eq!((e.code, &e.state), (1317, b"70100"));
        assert!(Why::Killed.ends_session() && Why::ClientGone.ends_session());
        assert!(!Why::TimedOut.ends_session() && !Why::KillQuery.ends_session());
    }
}
