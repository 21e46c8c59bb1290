//! The soak's knobs, read from the environment. Each fault and feature class has its own
//! switch so a run can leave out what a known bug of the proxy would turn into noise, and
//! `MYSHARD_SOAK_FULL=1` switches every class on (what the ten-minute run is meant to use
//! once the bugs of issue 8 are fixed).

use std::time::Duration;

/// Shards of `shop` on each group's one host (see `cluster`).
const SHARDS_PER_HOST: u32 = crate::soak::cluster::SHARDS / 2;

/// Everything a soak run can be told.
#[derive(Debug, Clone)]
pub struct Knobs {
    /// `MYSHARD_SOAK_SECS`: how long the clients run (warm-up included).
    pub secs: u64,
    /// `MYSHARD_SOAK_CLIENTS`: concurrent clients.
    pub clients: usize,
    /// `MYSHARD_SOAK_SEED`: the generators' seed (decimal or 0x hex).
    pub seed: u64,
    /// `MYSHARD_SOAK_POOL_MAX`: backend connections per host the proxy may open. By default
    /// enough for every client to scatter at once (clients × shards per host); less makes
    /// concurrent scatters wait for each other's connections (on 7348ed7 they deadlock).
    pub pool_max: u32,
    /// `MYSHARD_SOAK_SQL_PREPARE`: SQL-level PREPARE / EXECUTE … USING in the sharded schema.
    pub sql_prepare: bool,
    /// `MYSHARD_SOAK_PINNED_SCATTER`: scatter SELECTs inside transactions and in sessions
    /// pinned by SQL PREPARE (issue 8, item 6 makes them hang on 7348ed7).
    pub pinned_scatter: bool,
    /// `MYSHARD_SOAK_KILL`: a task sending `KILL` / `KILL QUERY` to random clients.
    pub kill: bool,
    /// `MYSHARD_SOAK_KILL_MS`: pause between two KILLs.
    pub kill_every: Duration,
    /// `MYSHARD_SOAK_TIMEOUTS`: slow statements abandoned by a short client-side timeout.
    pub timeouts: bool,
    /// `MYSHARD_SOAK_DISCONNECTS`: raw clients that read part of a big result and hang up.
    pub disconnects: bool,
    /// `MYSHARD_SOAK_STALL_MS`: a plain statement with no answer after this long is a stall
    /// (a hung session), which fails the run.
    pub stall: Duration,
    /// `MYSHARD_SOAK_ASSERT_RSS`: fail when the proxy's RSS at the end exceeds its RSS after
    /// warm-up by more than 10 %. On by default from five minutes up; shorter runs only
    /// report it (the allocator has not settled after 20 s).
    pub assert_rss: bool,
}

impl Knobs {
    /// The knobs from the environment, with the CI defaults (a short run, every class that
    /// passes on 7348ed7) unless `MYSHARD_SOAK_FULL=1`.
    pub fn from_env() -> Knobs {
        let full = flag("MYSHARD_SOAK_FULL", false);
        let secs = number("MYSHARD_SOAK_SECS", 25);
        let clients = number("MYSHARD_SOAK_CLIENTS", 16);
        Knobs {
            secs,
            clients: clients as usize,
            seed: number("MYSHARD_SOAK_SEED", 0x736f_616b),
            pool_max: number(
                "MYSHARD_SOAK_POOL_MAX",
                clients * u64::from(SHARDS_PER_HOST),
            ) as u32,
            sql_prepare: flag("MYSHARD_SOAK_SQL_PREPARE", full),
            pinned_scatter: flag("MYSHARD_SOAK_PINNED_SCATTER", full),
            kill: flag("MYSHARD_SOAK_KILL", true),
            kill_every: Duration::from_millis(number("MYSHARD_SOAK_KILL_MS", 300)),
            timeouts: flag("MYSHARD_SOAK_TIMEOUTS", true),
            disconnects: flag("MYSHARD_SOAK_DISCONNECTS", true),
            stall: Duration::from_millis(number("MYSHARD_SOAK_STALL_MS", 15_000)),
            assert_rss: flag("MYSHARD_SOAK_ASSERT_RSS", secs >= 300),
        }
    }

    /// One line naming every knob's value, for the report.
    pub fn describe(&self) -> String {
        format!(
            "MYSHARD_SOAK_SECS={} MYSHARD_SOAK_CLIENTS={} MYSHARD_SOAK_SEED={:#x} \
             MYSHARD_SOAK_POOL_MAX={} MYSHARD_SOAK_SQL_PREPARE={} MYSHARD_SOAK_PINNED_SCATTER={} \
             MYSHARD_SOAK_KILL={} MYSHARD_SOAK_KILL_MS={} MYSHARD_SOAK_TIMEOUTS={} \
             MYSHARD_SOAK_DISCONNECTS={} MYSHARD_SOAK_STALL_MS={} MYSHARD_SOAK_ASSERT_RSS={}",
            self.secs,
            self.clients,
            self.seed,
            self.pool_max,
            u8::from(self.sql_prepare),
            u8::from(self.pinned_scatter),
            u8::from(self.kill),
            self.kill_every.as_millis(),
            u8::from(self.timeouts),
            u8::from(self.disconnects),
            self.stall.as_millis(),
            u8::from(self.assert_rss),
        )
    }
}

/// A number from the environment (decimal or 0x hex), `default` when unset.
///
/// A value that does not parse panics: a typo in a knob must not silently run another soak.
fn number(name: &str, default: u64) -> u64 {
    let Ok(text) = std::env::var(name) else {
        return default;
    };
    let text = text.trim();
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.unwrap_or_else(|_| panic!("{name}={text:?} is not a number"))
}

/// A switch from the environment (1/0, true/false, on/off), `default` when unset.
fn flag(name: &str, default: bool) -> bool {
    let Ok(text) = std::env::var(name) else {
        return default;
    };
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => true,
        "0" | "false" | "off" | "no" => false,
        other => panic!("{name}={other:?} is not a switch (use 1 or 0)"),
    }
}
