//! The state a host is given from the outcomes of its last checks: a host changes state only
//! after `fall` failed or `rise` good checks in a row, and a read host that comes back passes
//! through *catching up* before it serves again. Pure: no clock, no network.

use crate::HostState;

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No answer: refused, timed out or failed.
    Unreachable,
    /// Answered, but its replication is stopped, broken or lagging more than allowed.
    Behind,
    /// Answered, and replicates in time (or does not replicate).
    Healthy,
}

/// Consecutive outcomes of one host and the state they have given it.
#[derive(Debug, Clone)]
pub struct Hysteresis {
    state: HostState,
    failures: u32,
    successes: u32,
    fall: u32,
    rise: u32,
    /// A write host has no replication to catch up with: it goes from down to up directly
    /// (after `rise` good checks) and is never put in *catching up*.
    write_host: bool,
}

impl Hysteresis {
    /// A host assumed serving, judged with `fall` and `rise` (each at least 1).
    pub fn new(fall: u32, rise: u32, write_host: bool) -> Hysteresis {
        Hysteresis {
            state: HostState::Up,
            failures: 0,
            successes: 0,
            fall: fall.max(1),
            rise: rise.max(1),
            write_host,
        }
    }

    /// Starts from `state` (the host's state when the monitor starts or restarts) instead
    /// of serving.
    pub fn start_in(&mut self, state: HostState) {
        self.state = state;
        self.failures = 0;
        self.successes = 0;
    }

    /// The state now.
    pub fn state(&self) -> HostState {
        self.state
    }

    /// Takes one check's outcome into account; returns the new state if it changed.
    pub fn observe(&mut self, outcome: Outcome) -> Option<HostState> {
        let outcome = match outcome {
            Outcome::Behind if self.write_host => Outcome::Healthy,
            other => other,
        };
        let next = match outcome {
            Outcome::Unreachable => {
                self.successes = 0;
                self.failures = self.failures.saturating_add(1);
                if self.failures >= self.fall {
                    HostState::Down
                } else {
                    self.state
                }
            }
            Outcome::Behind => {
                self.failures = 0;
                self.successes = 0;
                HostState::CatchingUp
            }
            Outcome::Healthy => {
                self.failures = 0;
                match self.state {
                    HostState::Up => HostState::Up,
                    // Never straight from down to serving for a read host: it is catching
                    // up until `rise` good checks in a row (this one the first).
                    HostState::Down if !self.write_host => {
                        self.successes = 1;
                        HostState::CatchingUp
                    }
                    _ => {
                        self.successes = self.successes.saturating_add(1);
                        if self.successes >= self.rise {
                            HostState::Up
                        } else {
                            self.state
                        }
                    }
                }
            }
        };
        if next == self.state {
            return None;
        }
        if next == HostState::Up {
            self.successes = 0;
        }
        self.state = next;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome::*;
    use super::*;

    fn run(h: &mut Hysteresis, outcomes: &[Outcome]) -> Vec<HostState> {
        outcomes
            .iter()
            .map(|o| {
                h.observe(*o);
                h.state()
            })
            .collect()
    }

    #[test]
    fn read_host_falls_after_fall_failures_and_returns_through_catching_up() {
        let mut h = Hysteresis::new(3, 2, false);
        use HostState::*;
        assert_eq!(
            run(
                &mut h,
                &[
                    Unreachable,
                    Unreachable,
                    Healthy,
                    Unreachable,
                    Unreachable,
                    Unreachable
                ]
            ),
            [Up, Up, Up, Up, Up, Down]
        );
        assert_eq!(
            run(
                &mut h,
                &[
                    Healthy,
                    Unreachable,
                    Healthy,
                    Healthy,
                    Unreachable,
                    Unreachable
                ]
            ),
            [CatchingUp, CatchingUp, CatchingUp, Up, Up, Up]
        );
        assert_eq!(
            run(&mut h, &[Unreachable, Healthy, Healthy]),
            [Down, CatchingUp, Up]
        );
    }

    #[test]
    fn lagging_read_host_leaves_at_once_and_needs_rise_good_checks() {
        let mut h = Hysteresis::new(3, 2, false);
        use HostState::*;
        assert_eq!(
            run(&mut h, &[Behind, Healthy, Behind, Healthy, Healthy]),
            [CatchingUp, CatchingUp, CatchingUp, CatchingUp, Up]
        );
    }

    #[test]
    fn write_host_is_never_catching_up() {
        let mut h = Hysteresis::new(2, 2, true);
        use HostState::*;
        assert_eq!(
            run(
                &mut h,
                &[Behind, Unreachable, Unreachable, Behind, Healthy, Healthy]
            ),
            [Up, Up, Down, Down, Up, Up]
        );
    }
}
