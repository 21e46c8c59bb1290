//! Time sequences: milliseconds since an epoch (41 bits), the proxy's instance id (10 bits)
//! and a counter within the millisecond (12 bits). Increasing on one proxy; different
//! proxies differ in the instance id. A clock that went back is waited for up to
//! `max_clock_wait_ms`, after which the insert fails with the amount it went back by.
//!
//! A proxy with a `state_dir` records there, ahead of the clock, the millisecond up to which
//! it may number (its *horizon*, [`TimeSequence::recorded_in`]); a restarted proxy numbers
//! only after it. So a clock that went back across a restart (stepped back while the proxy
//! was down, or a crash and restart within the step) is waited for or refused like a clock
//! going back while the proxy runs, instead of numbers being handed out a second time.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const INSTANCE_BITS: u32 = 10;
const COUNTER_BITS: u32 = 12;
const MAX_COUNTER: u64 = (1 << COUNTER_BITS) - 1;
/// How far ahead of the clock the horizon is recorded (at most; and at most half of
/// `max_clock_wait_ms`): one small file write per this many milliseconds of numbering, and
/// at most this long a wait for the first number after a restart quicker than that.
const HORIZON_AHEAD_MS: u64 = 200;

/// Where the time comes from: milliseconds since 1970 (replaceable in tests).
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> u64 + Send + Sync>);

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(Arc::new(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0)
        }))
    }

    /// A clock reading `f`.
    pub fn from_fn(f: impl Fn() -> u64 + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(f))
    }
}

/// A time sequence of one proxy.
#[derive(Debug)]
pub struct TimeSequence {
    instance: u64,
    epoch_ms: u64,
    max_wait_ms: u64,
    clock: Clock,
    last: Mutex<Last>,
}

/// Where numbering is.
#[derive(Debug, Default)]
struct Last {
    /// Millisecond of the last number (or of a previous process's horizon).
    ms: u64,
    /// Counter within it.
    counter: u64,
    /// The horizon recorded in the state directory, when there is one.
    horizon: Option<Horizon>,
}

/// The file holding the last millisecond numbers may have, and that millisecond.
#[derive(Debug)]
struct Horizon {
    path: PathBuf,
    until: u64,
}

impl Horizon {
    /// Records `until` (write a new file, rename it over the old one: a crash leaves
    /// one or the other whole). Not fsynced: it survives the proxy process dying, not the
    /// machine losing its page cache.
    fn record(&mut self, until: u64) -> Result<(), String> {
        let mut new = self.path.clone().into_os_string();
        new.push(".new");
        std::fs::write(&new, format!("{until}\n"))
            .and_then(|()| std::fs::rename(&new, &self.path))
            .map_err(|e| format!("recording its horizon in {}: {e}", self.path.display()))?;
        self.until = until;
        Ok(())
    }
}

impl TimeSequence {
    /// Numbers of instance `instance` since `epoch_ms`.
    pub fn new(instance: u32, epoch_ms: u64, max_wait_ms: u64, clock: Clock) -> TimeSequence {
        TimeSequence {
            instance: u64::from(instance) & ((1 << INSTANCE_BITS) - 1),
            epoch_ms,
            max_wait_ms,
            clock,
            last: Mutex::new(Last::default()),
        }
    }

    /// Records the horizon in `path` (in the proxy's `state_dir`): numbers start after the
    /// horizon a previous process recorded there.
    pub fn recorded_in(self, path: PathBuf) -> Result<TimeSequence, String> {
        let until = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("{}: {text:?} is not a millisecond", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| format!("state_dir {}: {e}", dir.display()))?;
                }
                0
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        {
            let mut last = self.last.lock().map_err(|_| "sequence state lost")?;
            if until > last.ms {
                // The previous process may have numbered up to `until` itself.
                (last.ms, last.counter) = (until, MAX_COUNTER);
            }
            last.horizon = Some(Horizon { path, until });
        }
        Ok(self)
    }

    /// Continues after the numbers `previous` handed out (its settings were reloaded): the
    /// new generator never goes back to a millisecond and counter already used.
    pub fn continue_after(self, previous: &TimeSequence) -> TimeSequence {
        if let (Ok(old), Ok(mut new)) = (previous.last.lock(), self.last.lock()) {
            (new.ms, new.counter) = (old.ms, old.counter);
        }
        self
    }

    /// `count` increasing numbers.
    pub async fn take(&self, count: usize) -> Result<Vec<u64>, String> {
        let mut out = Vec::with_capacity(count);
        let mut waited = 0u64;
        while out.len() < count {
            let wait = {
                let mut last = self.last.lock().map_err(|_| "sequence state lost")?;
                let now = (self.clock.0)();
                if now < last.ms {
                    let behind = last.ms - now;
                    if waited + behind > self.max_wait_ms {
                        return Err(format!(
                            "the clock went back by {behind} ms (more than max_clock_wait_ms = {})",
                            self.max_wait_ms
                        ));
                    }
                    behind
                } else if now == last.ms && last.counter >= MAX_COUNTER {
                    // 4096 numbers this millisecond: the next millisecond.
                    1
                } else {
                    if let Some(horizon) = last.horizon.as_mut()
                        && now > horizon.until
                    {
                        // Recorded before any number of `now` exists. A small synchronous
                        // write, once per `ahead` ms of numbering; the wait it may cost
                        // after a quick restart stays within max_clock_wait_ms.
                        let ahead = (self.max_wait_ms / 2).clamp(1, HORIZON_AHEAD_MS);
                        horizon.record(now + ahead)?;
                    }
                    let counter = if now == last.ms { last.counter + 1 } else { 0 };
                    (last.ms, last.counter) = (now, counter);
                    let ms = now.saturating_sub(self.epoch_ms);
                    out.push(
                        (ms << (INSTANCE_BITS + COUNTER_BITS))
                            | (self.instance << COUNTER_BITS)
                            | counter,
                    );
                    0
                }
            };
            if wait > 0 {
                waited += wait;
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn clock_at(t: Arc<AtomicU64>) -> Clock {
        Clock::from_fn(move || t.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn increasing_and_carries_the_instance() -> Result<(), String> {
        let t = Arc::new(AtomicU64::new(10_000));
        let s = TimeSequence::new(5, 1_000, 100, clock_at(t.clone()));
        let a = s.take(3).await?;
        t.store(10_001, Ordering::SeqCst);
        let b = s.take(1).await?;
        assert!(
            a.windows(2).all(|w| w[0] < w[1]) && a[2] < b[0],
            "{a:?} {b:?}"
        );
        assert_eq!((a[0] >> COUNTER_BITS) & 1023, 5);
        assert_eq!(a[0] >> (INSTANCE_BITS + COUNTER_BITS), 9_000);
        let other = TimeSequence::new(6, 1_000, 100, clock_at(t.clone()));
        assert_ne!(other.take(1).await?[0], b[0]);
        Ok(())
    }

    #[tokio::test]
    async fn reloaded_settings_go_on_from_the_old_generator() -> Result<(), String> {
        let t = Arc::new(AtomicU64::new(10_000));
        let old = TimeSequence::new(1, 0, 100, clock_at(t.clone()));
        let last = old.take(3).await?[2];
        let new = TimeSequence::new(1, 0, 200, clock_at(t.clone())).continue_after(&old);
        let next = new.take(1).await?[0];
        assert!(next > last, "{next} after {last}");
        Ok(())
    }

    #[tokio::test]
    async fn a_clock_far_back_fails_clearly() -> Result<(), String> {
        let t = Arc::new(AtomicU64::new(10_000));
        let s = TimeSequence::new(1, 0, 50, clock_at(t.clone()));
        s.take(1).await?;
        t.store(9_000, Ordering::SeqCst);
        let Err(e) = s.take(1).await else {
            return Err("a clock 1000 ms back was accepted".into());
        };
        assert!(e.contains("clock went back by 1000 ms"), "{e}");
        Ok(())
    }

    #[tokio::test]
    async fn a_clock_slightly_back_is_waited_for() -> Result<(), String> {
        let t = Arc::new(AtomicU64::new(10_000));
        let s = TimeSequence::new(1, 0, 1_000, clock_at(t.clone()));
        let first = s.take(1).await?[0];
        t.store(9_990, Ordering::SeqCst);
        let t2 = t.clone();
        let mover = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            t2.store(10_001, Ordering::SeqCst);
        });
        let next = s.take(1).await?[0];
        mover.await.map_err(|e| e.to_string())?;
        assert!(next > first);
        Ok(())
    }

    #[tokio::test]
    async fn more_than_a_millisecond_holds_moves_on() -> Result<(), String> {
        let t = Arc::new(AtomicU64::new(10_000));
        let t2 = t.clone();
        let s = TimeSequence::new(1, 0, 1_000, clock_at(t.clone()));
        let mover = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            t2.store(10_001, Ordering::SeqCst);
        });
        let v = s.take(5000).await?;
        mover.await.map_err(|e| e.to_string())?;
        assert!(v.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(v.len(), 5000);
        Ok(())
    }
    /// A file in the temporary directory, removed when dropped.
    struct TempFile(std::path::PathBuf);

    impl TempFile {
        fn new(name: &str) -> TempFile {
            let dir =
                std::env::temp_dir().join(format!("myshard-time-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            TempFile(dir.join("horizon"))
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            if let Some(dir) = self.0.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    /// The proxy is killed and restarts while the clock was stepped back by less than
    /// its numbers are ahead: the restarted one waits (or fails if that is too long), and
    /// never numbers a millisecond the first one may have used.
    #[tokio::test]
    async fn a_restart_after_the_clock_went_back_never_reuses_a_number() -> Result<(), String> {
        let file = TempFile::new("restart");
        let t = Arc::new(AtomicU64::new(10_000));
        let first =
            TimeSequence::new(1, 0, 1_000, clock_at(t.clone())).recorded_in(file.0.clone())?;
        let mut before = first.take(3).await?;
        t.store(10_050, Ordering::SeqCst);
        before.extend(first.take(2).await?);
        let highest = before.iter().max().copied().unwrap_or(0);
        drop(first); // killed: nothing is written on the way out
        // Stepped back 30 ms across the restart.
        t.store(10_020, Ordering::SeqCst);
        let quick = TimeSequence::new(1, 0, 20, clock_at(t.clone())).recorded_in(file.0.clone())?;
        let Err(e) = quick.take(1).await else {
            return Err("numbered behind the previous process's horizon at once".into());
        };
        assert!(e.contains("clock went back"), "{e}");
        let patient =
            TimeSequence::new(1, 0, 1_000, clock_at(t.clone())).recorded_in(file.0.clone())?;
        let t2 = t.clone();
        let mover = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            t2.store(11_000, Ordering::SeqCst);
        });
        let after = patient.take(2).await?;
        mover.await.map_err(|e| e.to_string())?;
        assert!(
            after.iter().all(|n| *n > highest),
            "{after:?} after {before:?}"
        );
        Ok(())
    }

    /// The recorded horizon is ahead of every number handed out, and rewritten only once
    /// the clock passed it.
    #[tokio::test]
    async fn the_horizon_stays_ahead_of_the_numbers() -> Result<(), String> {
        let file = TempFile::new("ahead");
        let t = Arc::new(AtomicU64::new(50_000));
        let s = TimeSequence::new(2, 0, 1_000, clock_at(t.clone())).recorded_in(file.0.clone())?;
        let recorded = || -> Result<u64, String> {
            std::fs::read_to_string(&file.0)
                .map_err(|e| e.to_string())?
                .trim()
                .parse::<u64>()
                .map_err(|e| e.to_string())
        };
        for ms in [50_000, 50_001, 50_150, 50_199, 50_200, 50_201, 50_900] {
            t.store(ms, Ordering::SeqCst);
            let n = s.take(1).await?[0];
            let horizon = recorded()?;
            assert!(
                n >> (INSTANCE_BITS + COUNTER_BITS) <= horizon,
                "{ms}: {horizon}"
            );
            let expected = if ms < 50_201 {
                50_200
            } else if ms < 50_900 {
                50_401
            } else {
                51_100
            };
            assert_eq!(horizon, expected, "at {ms}");
        }
        Ok(())
    }
}
