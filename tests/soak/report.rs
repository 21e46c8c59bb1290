//! How every answer of the soak was classified, and the printed report: per statement kind
//! how many answers were right (equal to the reference's), explicit errors, deliberate
//! client-side timeouts, stalls (no answer within the stall limit) and WRONG; per error
//! number how often it came and one message.

use std::collections::BTreeMap;

/// Client-side error number for a connection the proxy closed or broke (CR_SERVER_LOST).
pub const LOST_CONNECTION: u16 = 2013;
/// Client-side error number for a login the proxy did not complete (CR_CONN_HOST_ERROR).
pub const CONNECT_FAILED: u16 = 2003;

/// The answers of one statement kind.
#[derive(Debug, Clone, Default)]
pub struct KindCount {
    pub right: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub stalls: u64,
    pub wrong: u64,
}

/// What the clients saw.
#[derive(Debug, Default)]
pub struct Tally {
    pub kinds: BTreeMap<&'static str, KindCount>,
    /// Per error number: count and the first message.
    pub errnos: BTreeMap<u16, (u64, String)>,
    /// A description of each WRONG answer (the first few are kept in full).
    pub wrong: Vec<String>,
    /// A description of each stall.
    pub stalls: Vec<String>,
    /// Key ranges a client gave up after an outcome it could not know (see workload).
    pub abandoned_ranges: u64,
}

/// Full descriptions kept per list; the counts stay exact.
const KEPT: usize = 20;

impl Tally {
    fn kind(&mut self, kind: &'static str) -> &mut KindCount {
        self.kinds.entry(kind).or_default()
    }

    pub fn right(&mut self, kind: &'static str) {
        self.kind(kind).right += 1;
    }

    pub fn error(&mut self, kind: &'static str, code: u16, message: &str) {
        self.kind(kind).errors += 1;
        let entry = self
            .errnos
            .entry(code)
            .or_insert_with(|| (0, message.chars().take(160).collect()));
        entry.0 += 1;
    }

    pub fn timeout(&mut self, kind: &'static str) {
        self.kind(kind).timeouts += 1;
    }

    pub fn stall(&mut self, kind: &'static str, what: String) {
        self.kind(kind).stalls += 1;
        if self.stalls.len() < KEPT {
            self.stalls.push(what);
        }
    }

    pub fn wrong(&mut self, kind: &'static str, what: String) {
        self.kind(kind).wrong += 1;
        if self.wrong.len() < KEPT {
            self.wrong.push(what);
        }
    }

    /// Adds another client's tally.
    pub fn merge(&mut self, other: Tally) {
        for (kind, c) in other.kinds {
            let mine = self.kind(kind);
            mine.right += c.right;
            mine.errors += c.errors;
            mine.timeouts += c.timeouts;
            mine.stalls += c.stalls;
            mine.wrong += c.wrong;
        }
        for (code, (n, message)) in other.errnos {
            self.errnos.entry(code).or_insert((0, message)).0 += n;
        }
        for w in other.wrong {
            if self.wrong.len() < KEPT {
                self.wrong.push(w);
            }
        }
        for s in other.stalls {
            if self.stalls.len() < KEPT {
                self.stalls.push(s);
            }
        }
        self.abandoned_ranges += other.abandoned_ranges;
    }

    /// The sum over all kinds.
    pub fn total(&self) -> KindCount {
        let mut t = KindCount::default();
        for c in self.kinds.values() {
            t.right += c.right;
            t.errors += c.errors;
            t.timeouts += c.timeouts;
            t.stalls += c.stalls;
            t.wrong += c.wrong;
        }
        t
    }

    /// Prints the per-kind and per-errno tables.
    pub fn print(&self) {
        let line = |name: &str, c: &KindCount| {
            println!(
                "  {name:<26} {:>9} {:>9} {:>8} {:>8} {:>7} {:>6}",
                c.right + c.errors + c.timeouts + c.stalls + c.wrong,
                c.right,
                c.errors,
                c.timeouts,
                c.stalls,
                c.wrong
            );
        };
        println!(
            "  {:<26} {:>9} {:>9} {:>8} {:>8} {:>7} {:>6}",
            "kind", "answers", "right", "error", "timeout", "stall", "WRONG"
        );
        for (kind, c) in &self.kinds {
            line(kind, c);
        }
        line("total", &self.total());
        println!("  errors by number:");
        for (code, (n, message)) in &self.errnos {
            println!("    {code:>5} × {n:<7} e.g. {message}");
        }
        println!(
            "  key ranges abandoned after an unknown write outcome: {}",
            self.abandoned_ranges
        );
    }
}
