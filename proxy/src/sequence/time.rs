//! Time sequences: milliseconds since an epoch (41 bits), the proxy's instance id (10 bits)
//! and a counter within the millisecond (12 bits). Increasing on one proxy; different
//! proxies differ in the instance id. A clock that went back is waited for up to
//! `max_clock_wait_ms`, after which the insert fails with the amount it went back by.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const INSTANCE_BITS: u32 = 10;
const COUNTER_BITS: u32 = 12;
const MAX_COUNTER: u64 = (1 << COUNTER_BITS) - 1;

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
    /// (millisecond of the last number, counter within it).
    last: Mutex<(u64, u64)>,
}

impl TimeSequence {
    /// Numbers of instance `instance` since `epoch_ms`.
    pub fn new(instance: u32, epoch_ms: u64, max_wait_ms: u64, clock: Clock) -> TimeSequence {
        TimeSequence {
            instance: u64::from(instance) & ((1 << INSTANCE_BITS) - 1),
            epoch_ms,
            max_wait_ms,
            clock,
            last: Mutex::new((0, 0)),
        }
    }

    /// Continues after the numbers `previous` handed out (its settings were reloaded): the
    /// new generator never goes back to a millisecond and counter already used.
    pub fn continue_after(self, previous: &TimeSequence) -> TimeSequence {
        if let (Ok(old), Ok(mut new)) = (previous.last.lock(), self.last.lock()) {
            *new = *old;
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
                if now < last.0 {
                    let behind = last.0 - now;
                    if waited + behind > self.max_wait_ms {
                        return Err(format!(
                            "the clock went back by {behind} ms (more than max_clock_wait_ms = {})",
                            self.max_wait_ms
                        ));
                    }
                    behind
                } else if now == last.0 && last.1 >= MAX_COUNTER {
                    // 4096 numbers this millisecond: the next millisecond.
                    1
                } else {
                    let counter = if now == last.0 { last.1 + 1 } else { 0 };
                    *last = (now, counter);
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
}
