//! Bounds on what the router parses and walks, checked on tokens before the parser runs.
//!
//! The parser turns a chain such as `a OR b OR c …` or `1+1+1 …` into a left-deep tree, and
//! every later walk of that tree (the parser's visitors, the router's own analysis, even
//! dropping it) recurses once per term. A statement deep enough overflows the stack and
//! would take every client of the proxy down with it. So before parsing, one pass over the
//! tokens estimates the depth of the tree the parser would build, and statements beyond
//! `limits.max_expression_depth` (or longer than `limits.max_statement_bytes`) are refused
//! with an error naming the limit. The proxy plans statements that pass but are large or
//! deep on a thread whose stack is sized for the limit ([`planner_stack_bytes`]).

use crate::lexer::{Lexer, Token};
use crate::shard::plan::RouteError;

/// The two limits that concern planning (from the configuration's `limits` section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanLimits {
    /// `limits.max_statement_bytes`.
    pub max_statement_bytes: usize,
    /// `limits.max_expression_depth`.
    pub max_expression_depth: usize,
}

impl Default for PlanLimits {
    fn default() -> Self {
        let l = myshard_config::Limits::default();
        PlanLimits::from(&l)
    }
}

impl From<&myshard_config::Limits> for PlanLimits {
    fn from(l: &myshard_config::Limits) -> Self {
        PlanLimits {
            max_statement_bytes: l.max_statement_bytes,
            max_expression_depth: l.max_expression_depth,
        }
    }
}

/// What the token pass learned about a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Length in bytes.
    pub bytes: usize,
    /// Estimated depth of the deepest expression tree the parser builds: the longest run of
    /// left-associative operators of each precedence within one expression, summed over
    /// precedences and over enclosing parentheses and `CASE … END`s. An upper bound for
    /// chains, which is what matters; operators of one precedence that alternate with
    /// looser ones (`a=1 OR a=2`) count once per run, as the tree nests them. The arms of
    /// a `CASE` (`WHEN`, `THEN`, `ELSE`) are siblings, like the items of a list: the parser
    /// keeps them in a vector, so thousands of arms are flat, while a `CASE` inside another
    /// one nests.
    pub depth: usize,
}

/// Stack the walks of a statement of depth `depth` may need. Measured in a debug build
/// (the larger frames) on the deepest shapes of `router/tests/deep_sql.rs`: 8 KiB per level
/// overflowed, 12 KiB sufficed; release builds need a fraction. 32 KiB per level leaves a
/// wide margin; the stack is reserved address space, touched only as deep as a walk goes.
pub fn planner_stack_bytes(depth: usize) -> usize {
    const PER_LEVEL: usize = 32 * 1024;
    const FLOOR: usize = 8 * 1024 * 1024;
    FLOOR.saturating_add(depth.saturating_mul(PER_LEVEL))
}

/// Precedence classes of binary operators, loosest first (MySQL's order), with set
/// operations (`UNION`…, which the parser also chains left-deep) looser than all.
const CLASSES: usize = 11;

/// The precedence class of an operator token, or `None` for an operand or anything else.
fn class_of(t: &Token<'_>, next: Option<u8>) -> Option<usize> {
    match t {
        Token::Word(w) => {
            let w = w.as_bytes();
            let is = |k: &str| w.eq_ignore_ascii_case(k.as_bytes());
            if is("UNION") || is("EXCEPT") || is("INTERSECT") || is("MINUS") {
                Some(0)
            } else if is("OR") || is("XOR") {
                Some(1)
            } else if is("AND") {
                Some(2)
            } else if is("LIKE")
                || is("REGEXP")
                || is("RLIKE")
                || is("IS")
                || is("IN")
                || is("BETWEEN")
                || is("SOUNDS")
            {
                Some(3)
            } else if is("DIV") || is("MOD") {
                Some(8)
            } else if is("COLLATE") {
                Some(10)
            } else {
                None
            }
        }
        Token::Punct(c) => match (c, next) {
            (b'|', Some(b'|')) => Some(1),
            (b'&', Some(b'&')) => Some(2),
            (b'=' | b'<' | b'>' | b'!', _) => Some(3),
            (b'|', _) => Some(4),
            (b'&', _) => Some(5),
            (b'+' | b'-', _) => Some(7),
            (b'*' | b'/' | b'%', _) => Some(8),
            (b'^', _) => Some(9),
            _ => None,
        },
        _ => None,
    }
}

/// Operator runs of the expression being read at one parenthesis level.
#[derive(Debug, Default, Clone, Copy)]
struct Level {
    run: [usize; CLASSES],
    longest: [usize; CLASSES],
    /// Sum of `longest`: the depth of this level's tree so far.
    depth: usize,
}

impl Level {
    fn operator(&mut self, class: usize) {
        self.run[class] += 1;
        if self.run[class] > self.longest[class] {
            self.longest[class] = self.run[class];
            self.depth += 1;
        }
        // A looser operator ends the runs of tighter ones: they become its operand.
        for r in &mut self.run[class + 1..] {
            *r = 0;
        }
    }
}

/// What opened a nesting level: a parenthesis or a `CASE` (closed by `END`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opener {
    Paren,
    Case,
}

/// Estimates the shape of `sql` in one pass over its tokens, allocating only one entry per
/// open parenthesis or `CASE` (stopping early once `depth_cap` is exceeded).
pub fn shape(sql: &str, depth_cap: usize) -> Shape {
    let mut lexer = Lexer::new(sql);
    let mut open: Vec<(Opener, Level)> = Vec::new();
    let mut level = Level::default();
    // Depth of the enclosing levels (each plus one for its parenthesis or CASE).
    let mut outer = 0usize;
    let mut deepest = 0usize;
    // Whether the previous token ended an operand: only then is `-`, `NOT`… binary.
    let mut after_operand = false;
    // Whether the previous token was `END` (`END CASE` closes a compound CASE statement).
    let mut after_end = false;
    let bytes = sql.as_bytes();
    while let Some(t) = lexer.next() {
        let next = bytes.get(lexer.offset()).copied();
        let word = |k: &str| matches!(t, Token::Word(w) if w.eq_ignore_ascii_case(k));
        let ended = after_end;
        after_end = word("END");
        match t {
            Token::Punct(b'(') => {
                open.push((Opener::Paren, level));
                outer = outer.saturating_add(level.depth + 1);
                level = Level::default();
                after_operand = false;
            }
            // A CASE nests like a parenthesis: its operand, conditions and results are
            // operands of the CASE expression, one level below what encloses it.
            Token::Word(_) if word("CASE") && !ended => {
                open.push((Opener::Case, level));
                outer = outer.saturating_add(level.depth + 1);
                level = Level::default();
                after_operand = false;
            }
            // Its arms are siblings: each starts a new expression at the CASE's level.
            Token::Word(_)
                if (word("WHEN") || word("THEN") || word("ELSE"))
                    && matches!(open.last(), Some((Opener::Case, _))) =>
            {
                level = Level::default();
                after_operand = false;
            }
            // `END` closes the innermost CASE only (`BEGIN … END` and `END IF` do not).
            Token::Word(_) if word("END") && matches!(open.last(), Some((Opener::Case, _))) => {
                if let Some((_, enclosing)) = open.pop() {
                    level = enclosing;
                    outer = outer.saturating_sub(level.depth + 1);
                }
                after_operand = true;
            }
            Token::Punct(b')') => {
                // An unbalanced `)` fails the parse; it must not reset the count before that.
                // Nor does a `)` inside a CASE without its END (a syntax error too): the
                // CASE stays open, which can only make the estimate deeper.
                if let Some((Opener::Paren, enclosing)) = open.last().copied() {
                    open.pop();
                    level = enclosing;
                    outer = outer.saturating_sub(level.depth + 1);
                }
                after_operand = true;
            }
            // Only a comma or a semicolon ends an expression at the same level: keywords do
            // not (a word the lexer takes for a clause keyword may be a column name to the
            // parser), so operators of several clauses may add up, which errs on the safe side.
            Token::Punct(b',') | Token::Semicolon => {
                level = Level::default();
                after_operand = false;
            }
            Token::Word(w) if w.eq_ignore_ascii_case("NOT") => {}
            t => match class_of(&t, next) {
                Some(c) if after_operand => {
                    level.operator(c);
                    after_operand = false;
                }
                // Unary use, or the second character of `<=`, `||`…: no new tree level.
                Some(_) => {}
                None => after_operand = true,
            },
        }
        deepest = deepest.max(outer.saturating_add(level.depth));
        if deepest > depth_cap {
            break;
        }
    }
    Shape {
        bytes: sql.len(),
        depth: deepest,
    }
}

/// The error for a statement longer than `limits.max_statement_bytes`.
pub fn too_long(bytes: usize, limit: usize) -> RouteError {
    RouteError {
        code: 1064,
        state: "42000",
        message: format!(
            "statement of {bytes} bytes is longer than the router plans for sharded or renamed schemas (limits.max_statement_bytes = {limit})"
        ),
    }
}

/// The error for a statement deeper than `limits.max_expression_depth`.
pub fn too_deep(limit: usize) -> RouteError {
    RouteError {
        code: 1436,
        state: "HY000",
        message: format!(
            "Thread stack overrun avoided: an expression nested more than {limit} levels deep (a long chain of AND/OR/arithmetic terms) exceeds limits.max_expression_depth = {limit}; split the statement or use IN (…)"
        ),
    }
}

/// Whether `e` is one of the refusals of this module (which no fallback may retry by
/// parsing the statement anyway).
pub fn is_limit_error(e: &RouteError) -> bool {
    (e.code == 1436 && e.message.contains("limits.max_expression_depth"))
        || (e.code == 1064 && e.message.contains("limits.max_statement_bytes"))
}

/// Checks `sql` against `limits` before it is parsed; on success returns its shape.
pub fn check(sql: &str, limits: &PlanLimits) -> Result<Shape, RouteError> {
    if sql.len() > limits.max_statement_bytes {
        return Err(too_long(sql.len(), limits.max_statement_bytes));
    }
    let s = shape(sql, limits.max_expression_depth);
    if s.depth > limits.max_expression_depth {
        return Err(too_deep(limits.max_expression_depth));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(head: &str, term: &str, sep: &str, n: usize) -> String {
        let mut s = String::from(head);
        for i in 0..n {
            if i > 0 {
                s.push_str(sep);
            }
            s.push_str(&term.replace('#', &i.to_string()));
        }
        s
    }

    #[test]
    fn chains_count_once_per_term() {
        let or = chain("SELECT * FROM t WHERE ", "id = #", " OR ", 1000);
        let d = shape(&or, usize::MAX).depth;
        assert!((999..=1002).contains(&d), "OR chain depth {d}");
        let plus = chain("SELECT ", "1", "+", 500);
        assert_eq!(shape(&plus, usize::MAX).depth, 499);
        let union = chain("", "SELECT a + # FROM t WHERE b = #", " UNION ALL ", 400);
        let d = shape(&union, usize::MAX).depth;
        assert!((399..=402).contains(&d), "UNION chain depth {d}");
        let and = chain("SELECT 1 FROM t WHERE ", "a <= -#", " AND ", 300);
        let d = shape(&and, usize::MAX).depth;
        assert!((299..=302).contains(&d), "AND chain depth {d}");
    }

    #[test]
    fn lists_and_rows_are_flat() {
        let rows = chain(
            "INSERT INTO t (id, v) VALUES ",
            "(#, 'a-b' + 1)",
            ", ",
            5000,
        );
        assert!(shape(&rows, usize::MAX).depth <= 3);
        let inl = chain("SELECT * FROM t WHERE id IN (", "-#", ", ", 5000) + ")";
        assert!(shape(&inl, usize::MAX).depth <= 3);
    }

    #[test]
    fn parentheses_add_the_enclosing_depth() {
        let inner = chain("", "1", "+", 100);
        let sql = format!("SELECT a + b + ({inner}) FROM t");
        let d = shape(&sql, usize::MAX).depth;
        assert!((100..=103).contains(&d), "nested depth {d}");
    }

    #[test]
    fn case_arms_are_siblings_and_nested_cases_nest() {
        // Thousands of arms: each condition is its own short expression.
        let flat = chain("SELECT CASE ", "WHEN a = # THEN # + 1", " ", 5000) + " ELSE 0 END FROM t";
        let d = shape(&flat, usize::MAX).depth;
        assert!(d <= 3, "flat CASE depth {d}");
        let operand = chain("SELECT CASE a ", "WHEN # THEN 'x'", " ", 5000) + " END FROM t";
        assert!(shape(&operand, usize::MAX).depth <= 2);
        // One CASE inside another, without parentheses: one level each.
        let n = 400;
        let nested = format!(
            "SELECT {}1{} FROM t",
            "CASE WHEN a = 1 THEN ".repeat(n),
            " END".repeat(n)
        );
        let d = shape(&nested, usize::MAX).depth;
        assert!(d >= n, "nested CASE depth {d}");
        // A chain inside an arm still counts, on top of the CASE.
        let inner = chain("", "a = #", " OR ", 300);
        let sql = format!("SELECT CASE WHEN b = 1 THEN 2 WHEN {inner} THEN 3 END FROM t");
        let d = shape(&sql, usize::MAX).depth;
        assert!((300..=303).contains(&d), "chain in an arm: depth {d}");
        // After the CASE, the enclosing expression goes on at its own level.
        let after = format!(
            "SELECT {} + 1 FROM t",
            chain("CASE ", "WHEN # THEN #", " ", 10) + " END"
        );
        assert!(shape(&after, usize::MAX).depth <= 3);
        // `END CASE` of a compound statement does not open a CASE.
        let compound = "CASE x WHEN 1 THEN SELECT 1; ELSE SELECT 2; END CASE; SELECT 1 + 2";
        assert!(shape(compound, usize::MAX).depth <= 2);
    }

    #[test]
    fn check_names_the_limits() {
        let l = PlanLimits {
            max_statement_bytes: 100,
            max_expression_depth: 10,
        };
        let e = check(&"x".repeat(101), &l).expect_err("too long");
        assert_eq!((e.code, e.state), (1064, "42000"));
        assert!(e.message.contains("limits.max_statement_bytes = 100"));
        assert!(is_limit_error(&e));
        let e = check(&chain("SELECT ", "1", "+", 20), &l).expect_err("too deep");
        assert_eq!((e.code, e.state), (1436, "HY000"));
        assert!(e.message.contains("limits.max_expression_depth = 10"));
        assert!(is_limit_error(&e));
        assert!(check("SELECT 1 + 2 FROM t WHERE a = 1 AND b = 2", &l).is_ok());
    }
}
