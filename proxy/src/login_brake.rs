//! The brake on login floods: failed logins are counted per client address, and an address
//! with `max_connect_errors` failures in a row is refused (error 1129) for
//! `connect_errors_block_ms`, in the spirit of MySQL's `max_connect_errors`. A successful
//! login resets its address's count, as MySQL does. Also the limiter that keeps a flood
//! from writing one log line per failed login.
//!
//! This module decides; the login sends the answers and writes the log lines.

use crate::error::SqlError;
use hashbrown::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses remembered at most; beyond it the ones not blocked are forgotten, so that a
/// flood from many addresses cannot grow the table without bound.
const MAX_TRACKED: usize = 65_536;

/// Failed-login log lines written per [`LOG_INTERVAL`] at most.
pub const LOG_LINES: u32 = 20;
/// See [`LOG_LINES`].
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Failures of one address.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    blocked_until: Option<Instant>,
}

/// What a failed login changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Counted; the address may try again.
    Counted,
    /// This failure blocked the address.
    Blocked,
}

/// Per-address failure counts and blocks.
#[derive(Debug)]
pub struct LoginBrake {
    max_errors: u32,
    block: Duration,
    hosts: Mutex<HashMap<IpAddr, Failures>>,
    log: Mutex<LogLimiter>,
}

impl LoginBrake {
    /// A brake blocking after `max_errors` failures in a row (0: never) for `block`.
    pub fn new(max_errors: u32, block: Duration) -> Self {
        LoginBrake {
            max_errors,
            block,
            hosts: Mutex::new(HashMap::new()),
            log: Mutex::new(LogLimiter::new(LOG_LINES, LOG_INTERVAL)),
        }
    }

    /// `Err(1129)` while `ip` is blocked; a block that has run out is lifted (and the
    /// address's count cleared).
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), SqlError> {
        if self.max_errors == 0 {
            return Ok(());
        }
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let Some(f) = hosts.get(&ip) else {
            return Ok(());
        };
        match f.blocked_until {
            Some(until) if now < until => Err(blocked_error(ip, until - now)),
            Some(_) => {
                hosts.remove(&ip);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts a failed login from `ip`.
    pub fn failed(&self, ip: IpAddr, now: Instant) -> Verdict {
        if self.max_errors == 0 {
            return Verdict::Counted;
        }
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if hosts.len() >= MAX_TRACKED && !hosts.contains_key(&ip) {
            hosts.retain(|_, f| f.blocked_until.is_some_and(|u| u > now));
            if hosts.len() >= MAX_TRACKED {
                return Verdict::Counted;
            }
        }
        let f = hosts.entry(ip).or_insert(Failures {
            count: 0,
            blocked_until: None,
        });
        f.count = f.count.saturating_add(1);
        if f.count >= self.max_errors && f.blocked_until.is_none() {
            f.blocked_until = Some(now + self.block);
            return Verdict::Blocked;
        }
        Verdict::Counted
    }

    /// A successful login from `ip` clears its count.
    pub fn succeeded(&self, ip: IpAddr) {
        if self.max_errors == 0 {
            return;
        }
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts.remove(&ip);
    }

    /// Whether to write a log line for a failed login now, and how many lines were
    /// suppressed in the interval that just ended (to be summarized first).
    pub fn log_admit(&self, now: Instant) -> (bool, u64) {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(now)
    }
}

impl LoginBrake {
    /// Lines suppressed in an interval that has ended with no failed login since (their
    /// summary is then due now rather than at the next failure).
    pub fn take_suppressed(&self, now: Instant) -> u64 {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take_expired(now)
    }
}

/// 1129, as MySQL answers a blocked host (with when the block ends instead of MySQL's
/// advice to run `mysqladmin flush-hosts`, which the proxy has no counterpart of).
fn blocked_error(ip: IpAddr, left: Duration) -> SqlError {
    SqlError::new(
        1129,
        b"HY000",
        format!(
            "Host '{ip}' is blocked because of many connection errors; it is unblocked in {} s",
            left.as_secs().max(1)
        ),
    )
}

/// At most `max` events logged per `interval`; the rest are counted.
#[derive(Debug)]
pub struct LogLimiter {
    max: u32,
    interval: Duration,
    window_start: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl LogLimiter {
    /// A limiter of `max` lines per `interval`.
    pub fn new(max: u32, interval: Duration) -> Self {
        LogLimiter {
            max,
            interval,
            window_start: None,
            logged: 0,
            suppressed: 0,
        }
    }

    /// Whether the event at `now` is logged, and the count suppressed in the interval that
    /// ended before it (0 if none ended, or none were suppressed).
    pub fn admit(&mut self, now: Instant) -> (bool, u64) {
        let mut summary = 0;
        let expired = self
            .window_start
            .is_none_or(|start| now.saturating_duration_since(start) >= self.interval);
        if expired {
            summary = std::mem::take(&mut self.suppressed);
            self.window_start = Some(now);
            self.logged = 0;
        }
        if self.logged < self.max {
            self.logged += 1;
            (true, summary)
        } else {
            self.suppressed += 1;
            (false, summary)
        }
    }
}

impl LogLimiter {
    /// The count suppressed in an interval that has ended by `now` (cleared; 0 if the
    /// interval is still running).
    pub fn take_expired(&mut self, now: Instant) -> u64 {
        match self.window_start {
            Some(start) if now.saturating_duration_since(start) >= self.interval => {
                std::mem::take(&mut self.suppressed)
            }
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn blocks_after_max_errors_and_lifts_after_the_window() {
        let brake = LoginBrake::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(brake.failed(ip(2), t0), Verdict::Counted);
        assert_eq!(brake.failed(ip(2), t0), Verdict::Counted);
        assert!(brake.check(ip(2), t0).is_ok());
        assert_eq!(brake.failed(ip(2), t0), Verdict::Blocked);
        let e = brake.check(ip(2), t0).err().map(|e| (e.code, e.state));
        assert_eq!(e, Some((1129, *b"HY000")));
        assert!(
            brake.check(ip(3), t0).is_ok(),
            "other addresses are not blocked"
        );
        let later = t0 + Duration::from_secs(61);
        assert!(brake.check(ip(2), later).is_ok());
        assert_eq!(
            brake.failed(ip(2), later),
            Verdict::Counted,
            "count starts over"
        );
    }

    #[test]
    fn success_resets_the_count_and_zero_disables() {
        let brake = LoginBrake::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        brake.failed(ip(2), t0);
        brake.succeeded(ip(2));
        assert_eq!(brake.failed(ip(2), t0), Verdict::Counted);
        let off = LoginBrake::new(0, Duration::from_secs(60));
        for _ in 0..10 {
            assert_eq!(off.failed(ip(2), t0), Verdict::Counted);
        }
        assert!(off.check(ip(2), t0).is_ok());
    }

    #[test]
    fn log_limiter_logs_at_most_max_per_interval_then_summarizes() {
        let mut l = LogLimiter::new(5, Duration::from_secs(10));
        let t0 = Instant::now();
        let logged = (0..1000).filter(|_| l.admit(t0).0).count();
        assert_eq!(logged, 5);
        let (log, summary) = l.admit(t0 + Duration::from_secs(10));
        assert!(log);
        assert_eq!(summary, 995);
        let (_, summary) = l.admit(t0 + Duration::from_secs(10));
        assert_eq!(summary, 0, "a summary is given once");
        for _ in 0..10 {
            l.admit(t0 + Duration::from_secs(11));
        }
        assert_eq!(
            l.take_expired(t0 + Duration::from_secs(12)),
            0,
            "interval running"
        );
        assert_eq!(l.take_expired(t0 + Duration::from_secs(20)), 7);
        assert_eq!(l.take_expired(t0 + Duration::from_secs(20)), 0);
    }
}
