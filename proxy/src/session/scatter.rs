//! Scatter: a statement's shard queries sent in parallel, each shard's response read by a
//! task of its own and handed to the merge as column definitions, then rows, then the end.
//!
//! Each group gets up to `merge.connections_per_group` backend connections per statement
//! (one inside a transaction or while the session is pinned: the transaction lives on one
//! connection per group); only the first may wait for a busy pool, the others are taken
//! when free at once. A connection serving several shards runs them one after the other.
//! Channels are bounded, so a slow client or a merge waiting for another shard holds the
//! shard back instead of buffering its rows — except, in an ordered merge, for a shard with
//! another queued behind it on the same connection: the merge needs the queued shard's
//! first row before it can go on, so the rows ahead of it are buffered, up to
//! `merge.max_buffered_bytes` per statement (see [`super::merge_buffer`]).
//!
//! A read scatter (autocommit reads) picks a host per shard by the group's read policy, like
//! a single-shard read, and a shard whose host fails before anything of that shard's answer
//! was delivered is sent again to another serving host of the group (once per shard; see
//! [`super::scatter_retry`]): the client sees no error for a replica that died.

use super::Session;
use super::merge_buffer::MergeBuffer;
use super::scatter_retry::LaneRetry;
use super::shard::Exec;
use crate::backend::interrupt::Why;
use crate::backend::kills::KILLS_SETTLE;
use crate::backend::relay::next_packet;
use crate::backend::{Class, PooledConn, ResponseKind, Tracker};
use crate::error::SqlError;
use crate::packet;
use crate::routing::{Intent, Route};
use myshard_router::shard::plan::ShardRoute;
use myshard_router::shard::resolve::Target;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What a shard's reader reports.
#[derive(Debug)]
pub(super) enum Msg {
    /// The column definitions (payloads).
    Columns(Vec<Vec<u8>>),
    /// One row (payload).
    Row(Vec<u8>),
    /// The result ended.
    Done {
        /// Warnings of the final EOF.
        warnings: u16,
    },
    /// The shard failed; its error names the shard.
    Failed(SqlError),
}

/// Where a reader delivers.
#[derive(Clone)]
enum Sink {
    /// One channel for all shards (order does not matter).
    Shared(mpsc::Sender<(usize, Msg)>),
    /// A channel per shard.
    Own(mpsc::Sender<Msg>),
    /// A channel per shard that never blocks (a shard queued behind another one); its
    /// rows count against the statement's buffer allowance.
    Unbounded(mpsc::UnboundedSender<Msg>, Arc<MergeBuffer>),
}

impl Sink {
    /// Delivers `msg`; false once nobody listens.
    async fn send(&self, stream: usize, msg: Msg) -> bool {
        match self {
            Sink::Shared(s) => s.send((stream, msg)).await.is_ok(),
            Sink::Own(s) => s.send(msg).await.is_ok(),
            Sink::Unbounded(s, _) => s.send(msg).is_ok(),
        }
    }

    /// Whether `msg` may be delivered: a row for a channel that never blocks must fit in
    /// the statement's buffer allowance.
    fn admit(&self, msg: &Msg) -> Result<(), SqlError> {
        match (self, msg) {
            (Sink::Unbounded(_, buffer), Msg::Row(p)) if !buffer.take(p) => Err(buffer.exceeded()),
            _ => Ok(()),
        }
    }
}

/// Per-shard receivers (ordered merges) or one shared receiver.
pub(super) enum Streams {
    /// Every shard on one channel.
    Shared(mpsc::Receiver<(usize, Msg)>),
    /// A channel per shard, in target order.
    Each(Vec<Receiver>),
}

/// One shard's channel.
pub(super) enum Receiver {
    /// Bounded.
    Bounded(mpsc::Receiver<Msg>),
    /// Unbounded, its rows counted in the statement's buffer allowance.
    Unbounded(mpsc::UnboundedReceiver<Msg>, Arc<MergeBuffer>),
}

impl Receiver {
    /// The next message; `None` when the reader ended without saying so.
    pub(super) async fn recv(&mut self) -> Option<Msg> {
        match self {
            Receiver::Bounded(r) => r.recv().await,
            Receiver::Unbounded(r, buffer) => {
                let msg = r.recv().await;
                if let Some(Msg::Row(p)) = &msg {
                    buffer.give(p);
                }
                msg
            }
        }
    }
}

/// Rows buffered per shard channel before the reader waits.
const CHANNEL_ROWS: usize = 64;

/// A running scatter: the streams, and the reader tasks handing back their connections.
pub(super) struct Scatter {
    /// The shards' messages.
    pub streams: Streams,
    tasks: Vec<JoinHandle<PooledConn>>,
    /// The session's count of backend kills started when the shards started running.
    kills_at: u64,
}

/// One backend connection's share of the targets: (stream index, target) in order.
struct Lane {
    conn: PooledConn,
    work: Vec<(usize, Target)>,
    /// The read route the connection came from (reads only: they may go elsewhere).
    read: Option<Route>,
}

impl Session {
    /// How many connections per group one statement may use.
    fn scatter_width(&self) -> usize {
        if self.pin_reason.is_some() || self.in_transaction() {
            1
        } else {
            self.table.config.merge.connections_per_group.max(1)
        }
    }

    /// Sends every target's statement and starts reading the answers. `ordered`: the
    /// merge reads shard by shard (a channel each) rather than as rows arrive.
    pub(super) async fn scatter(
        &mut self,
        route: &ShardRoute,
        targets: &[Target],
        exec: &Exec,
        ordered: bool,
    ) -> Result<Scatter, SqlError> {
        let width = self.scatter_width();
        // Lanes per group, in order of first appearance.
        let mut lanes: Vec<(Arc<str>, Vec<Lane>, usize)> = Vec::new();
        for (i, t) in targets.iter().enumerate() {
            let mut dest = self.target_route_after_switch(route, t).await?;
            // A write host switched away while the statement was held: the new one.
            if let Some(new) = self.route_after_switch(&dest, false).await {
                dest = new;
            }
            let at = match lanes.iter().position(|(g, _, _)| **g == *dest.group) {
                Some(at) => at,
                None => {
                    lanes.push((dest.group.clone(), Vec::new(), 0));
                    lanes.len() - 1
                }
            };
            let group_lanes = &lanes[at].1;
            // The first connection of a group may wait for the pool; further ones are
            // taken only if free at once, so that statements never wait for each other.
            let first = group_lanes.is_empty();
            let conn = if first {
                match self.acquire_at(&dest).await {
                    // A read host that cannot give a connection: another serving host.
                    Err(e) if dest.intent == Intent::Read && e.retry_safe() => {
                        match self.table.read_retry(&dest, self.flags) {
                            Ok(other) => {
                                tracing::info!(host = %dest.host.addr(), to = %other.host.addr(),
                                    error = %e, "scatter read retried on another host");
                                self.shared.board.metrics.read_retry();
                                dest = other;
                                self.acquire_at(&dest).await.map(Some)
                            }
                            Err(_) => Err(e),
                        }
                    }
                    Err(e) if dest.intent == Intent::Write => {
                        self.acquire_after_switch(&dest, e).await.map(Some)
                    }
                    c => c.map(Some),
                }
            } else if group_lanes.len() < width {
                match self.try_acquire_at(&dest).await {
                    // The group has a connection already: the shard queues on it.
                    Err(e) if dest.intent == Intent::Read && e.retry_safe() => Ok(None),
                    c => c,
                }
            } else {
                Ok(None)
            };
            let conn = match conn {
                Ok(c) => c,
                Err(e) => {
                    self.release_lanes(lanes.into_iter().flat_map(|(_, l, _)| l));
                    return Err(shard_error(e, t));
                }
            };
            let (_, group_lanes, next) = &mut lanes[at];
            match conn {
                Some(conn) => {
                    let read = (dest.intent == Intent::Read).then(|| dest.clone());
                    if let Some(r) = &read {
                        r.host.note_read();
                    }
                    group_lanes.push(Lane {
                        conn,
                        work: vec![(i, t.clone())],
                        read,
                    })
                }
                None => {
                    let n = group_lanes.len();
                    group_lanes[*next % n].work.push((i, t.clone()));
                    *next += 1;
                }
            }
        }
        let lanes: Vec<Lane> = lanes.into_iter().flat_map(|(_, l, _)| l).collect();
        let running: Vec<_> = lanes
            .iter()
            .map(|l| (l.conn.pool().clone(), l.conn.thread_id))
            .collect();
        let kills_at = self.control.backend_kills.started();
        self.set_running_all(&running);
        let buffer = Arc::new(MergeBuffer::new(self.table.config.merge.max_buffered_bytes));
        let (streams, mut sinks) = channels(targets.len(), &lanes, ordered, &buffer);
        let mut tasks = Vec::with_capacity(lanes.len());
        for lane in lanes {
            let work: Vec<(usize, Target, Sink)> = lane
                .work
                .into_iter()
                .map(|(i, t)| {
                    let sink = sinks[i].take().expect("one sink per target");
                    (i, t, sink)
                })
                .collect();
            let exec = exec.clone();
            let retry = lane.read.map(|failed| self.lane_retry(failed));
            tasks.push(tokio::spawn(read_lane(
                lane.conn,
                work,
                exec,
                buffer.clone(),
                retry,
            )));
        }
        Ok(Scatter {
            streams,
            tasks,
            kills_at,
        })
    }

    fn release_lanes(&mut self, lanes: impl Iterator<Item = Lane>) {
        for lane in lanes {
            self.finish(lane.conn);
        }
    }

    /// Waits for the readers and keeps or returns their connections. A reader stopped
    /// early (the merge had all it needed) drains its response first.
    /// `discard`: backend kills may still land on the connections; none is kept.
    pub(super) async fn gather(&mut self, scatter: Scatter, discard: bool) {
        drop(scatter.streams);
        self.set_running(None);
        for t in scatter.tasks {
            match t.await {
                Ok(mut conn) => {
                    if discard {
                        conn.broken = true;
                        conn.interrupted = conn.interrupted.or(Some(Why::KillQuery));
                    }
                    if conn.broken {
                        self.lose_pin_of(&conn);
                    }
                    self.finish(conn);
                }
                Err(_) => self.lose_pin(),
            }
        }
    }

    /// Once the shards stopped running: waits for the backend kills sent to them, and says
    /// whether any was (with the session's interrupt, `KILL QUERY` when none is left), and
    /// whether they all settled. A killed shard statement may have ended early without an
    /// error, so the merge's rows cannot be trusted then.
    pub(super) async fn settle_kills(&mut self, scatter: &Scatter) -> (Option<Why>, bool) {
        self.set_running(None);
        let kills = self.control.backend_kills.clone();
        // A killed session ends now: its connections are discarded rather than waited for.
        let limit = match *self.control.interrupt.borrow() {
            Some(Why::Killed) => std::time::Duration::ZERO,
            _ => KILLS_SETTLE,
        };
        let settled = kills.settle(limit).await;
        if kills.started() == scatter.kills_at {
            return (None, settled);
        }
        let why = match *self.control.interrupt.borrow() {
            Some(why) => why,
            None if self.timed_out() => Why::TimedOut,
            None => Why::KillQuery,
        };
        (Some(why), settled)
    }

    /// A connection that broke while pinned loses the session's pinned state.
    fn lose_pin_of(&mut self, conn: &PooledConn) {
        if conn.in_transaction || self.pin_reason.is_some() || self.in_transaction() {
            self.note_loss(Some(conn), None);
            self.lose_pin();
        }
    }
}

impl Clone for Exec {
    fn clone(&self) -> Self {
        match self {
            Exec::Text => Exec::Text,
            Exec::Prepared { packet, global_id } => Exec::Prepared {
                packet: packet.clone(),
                global_id: *global_id,
            },
        }
    }
}

/// The channels: per target in order (ordered merges; a target queued behind another on
/// its connection gets an unbounded one, within the statement's `buffer`) or one shared.
fn channels(
    n: usize,
    lanes: &[Lane],
    ordered: bool,
    buffer: &Arc<MergeBuffer>,
) -> (Streams, Vec<Option<Sink>>) {
    if !ordered {
        let (tx, rx) = mpsc::channel(CHANNEL_ROWS * n.clamp(1, 16));
        return (Streams::Shared(rx), vec![Some(Sink::Shared(tx)); n]);
    }
    // A shard with another queued behind it on the same connection must be read to its
    // end before the merge can see the next one's first row: its rows are buffered. (A
    // bounded channel there deadlocks once the shard has more rows than the channel holds:
    // the merge waits for the queued shard, the reader for room.) The last shard of a
    // connection has nothing behind it and keeps the bounded channel.
    let mut queued = vec![false; n];
    for lane in lanes {
        let ahead = lane.work.len().saturating_sub(1);
        for (i, _) in lane.work.iter().take(ahead) {
            queued[*i] = true;
        }
    }
    let mut receivers = Vec::with_capacity(n);
    let mut sinks = Vec::with_capacity(n);
    for q in queued {
        if q {
            let (tx, rx) = mpsc::unbounded_channel();
            receivers.push(Receiver::Unbounded(rx, buffer.clone()));
            sinks.push(Some(Sink::Unbounded(tx, buffer.clone())));
        } else {
            let (tx, rx) = mpsc::channel(CHANNEL_ROWS);
            receivers.push(Receiver::Bounded(rx));
            sinks.push(Some(Sink::Own(tx)));
        }
    }
    (Streams::Each(receivers), sinks)
}

/// Names the shard in an error.
pub(super) fn shard_error(mut e: SqlError, t: &Target) -> SqlError {
    e.message = format!("{} (shard {} on group {})", e.message, t.shard, t.group);
    e
}

/// Runs a connection's targets one after the other, delivering their responses.
async fn read_lane(
    mut conn: PooledConn,
    work: Vec<(usize, Target, Sink)>,
    exec: Exec,
    buffer: Arc<MergeBuffer>,
    mut retry: Option<LaneRetry>,
) -> PooledConn {
    let mut exec = exec;
    // Set once this lane's shard overflowed the merge's buffer: the shards queued behind it
    // have been told.
    let mut overflowed = false;
    for (k, (i, t, sink)) in work.iter().enumerate() {
        let i = *i;
        if overflowed {
            continue;
        }
        // The statement failed on another lane's overflow: queued shards are not started.
        if buffer.overflowed() {
            sink.send(i, Msg::Failed(buffer.exceeded())).await;
            continue;
        }
        // Once the statement timed out, shards still queued are not started (the kill was
        // meant for the statement as a whole).
        if conn.interrupter.as_ref().is_some_and(|x| x.timed_out()) {
            let e = Why::TimedOut.error();
            sink.send(i, Msg::Failed(shard_error(e, t))).await;
            continue;
        }
        let mut attempt = 0;
        let failed = loop {
            attempt += 1;
            let early = if conn.broken {
                SqlError::backend_lost(&conn.host)
            } else {
                match Session::send_target(&mut conn, t, &mut exec, true).await {
                    Err(e) => e,
                    Ok(()) => match read_one(&mut conn, i, t, sink, &work[k + 1..]).await {
                        Ok(o) => {
                            overflowed = o;
                            break None;
                        }
                        Err(e) => e,
                    },
                }
            };
            // Nothing of this shard was delivered: its read may go to another host.
            let Some(r) = retry
                .as_mut()
                .filter(|_| attempt == 1 && early.retry_safe())
            else {
                break Some(early);
            };
            match r.reconnect(&conn.host, &early).await {
                Some(fresh) => {
                    conn.broken = true;
                    conn = fresh;
                }
                None => break Some(early),
            }
        };
        if let Some(e) = failed {
            sink.send(i, Msg::Failed(shard_error(e, t))).await;
        }
    }
    conn
}

/// Reads one shard's response to the end, delivering it while anyone listens. True if its
/// rows overflowed the merge's buffer: the statement fails, on this shard's stream and on
/// those of the shards queued behind it (`later`, which the merge may be waiting for),
/// before the rest of the response is drained. A backend failure before anything of the
/// response was delivered is returned (the read may go elsewhere); later, delivered.
async fn read_one(
    conn: &mut PooledConn,
    i: usize,
    t: &Target,
    sink: &Sink,
    later: &[(usize, Target, Sink)],
) -> Result<bool, SqlError> {
    let mut delivered = false;
    let mut tracker = Tracker::new(ResponseKind::Query);
    let mut defs = Vec::new();
    let mut listening = true;
    let mut overflowed = false;
    loop {
        let next = next_packet(conn, &mut tracker).await;
        let (class, p) = match next {
            Ok(Some(x)) => x,
            Ok(None) => break,
            Err(e) if !delivered => return Err(e),
            Err(e) => {
                if listening {
                    sink.send(i, Msg::Failed(shard_error(e, t))).await;
                }
                return Ok(overflowed);
            }
        };
        if !listening {
            continue; // draining what nobody needs any more
        }
        let msg = match class {
            Class::ColumnCount => continue,
            Class::ColumnDef => {
                defs.push(p);
                continue;
            }
            Class::ColumnsEof => Msg::Columns(std::mem::take(&mut defs)),
            Class::Row => Msg::Row(p),
            Class::RowsEof => {
                conn.in_transaction = tracker.status & packet::status::IN_TRANS != 0;
                if tracker.status & packet::status::MORE_RESULTS_EXISTS != 0 {
                    Msg::Failed(shard_error(
                        SqlError::not_supported(
                            "multiple result sets from a statement sent to several shards",
                        ),
                        t,
                    ))
                } else {
                    Msg::Done {
                        warnings: u16::from_le_bytes([
                            p.get(1).copied().unwrap_or(0),
                            p.get(2).copied().unwrap_or(0),
                        ]),
                    }
                }
            }
            Class::Err => Msg::Failed(shard_error(
                packet::parse_err(&p)
                    .unwrap_or_else(|| SqlError::internal("malformed error from backend")),
                t,
            )),
            Class::Ok | Class::Other => Msg::Failed(shard_error(
                SqlError::internal("a shard answered a merged SELECT without a result set"),
                t,
            )),
        };
        if let Err(e) = sink.admit(&msg) {
            sink.send(i, Msg::Failed(e.clone())).await;
            for (j, _, s) in later {
                s.send(*j, Msg::Failed(e.clone())).await;
            }
            overflowed = true;
            listening = false;
            continue;
        }
        delivered = true;
        listening = sink.send(i, msg).await;
    }
    Ok(overflowed)
}
