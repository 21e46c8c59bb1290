//! Byte offsets of parser locations, so rewrites splice the original SQL text instead of
//! re-printing it (re-printing can change spelling, comments and hints).

use sqlparser::ast::Spanned;
use sqlparser::tokenizer::{Location, Span};
use std::ops::Range;

/// Maps parser locations (1-based line and character column) to byte offsets.
///
/// A lookup costs O(1) on ASCII lines and at most [`STRIDE`] characters of scanning on
/// others: a multi-row INSERT sent on one line asks for the offset of every row, and a
/// scan from the line start each time made splitting it quadratic in its length.
#[derive(Debug)]
pub struct LineIndex<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
    /// Per line: `None` when the line is ASCII (column = byte distance), else the byte
    /// offset of every [`STRIDE`]-th character from the line start.
    checkpoints: Vec<Option<Vec<usize>>>,
}

/// Characters between two checkpoints of a non-ASCII line.
const STRIDE: usize = 64;

impl<'a> LineIndex<'a> {
    /// Indexes `text`.
    pub fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let checkpoints = (0..line_starts.len())
            .map(|l| {
                let start = line_starts[l];
                let end = line_starts.get(l + 1).copied().unwrap_or(text.len());
                let line = &text[start..end];
                (!line.is_ascii()).then(|| {
                    line.char_indices()
                        .step_by(STRIDE)
                        .map(|(i, _)| start + i)
                        .collect()
                })
            })
            .collect();
        LineIndex {
            text,
            line_starts,
            checkpoints,
        }
    }

    /// The indexed text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Byte offset of a location; `None` for empty or out-of-range locations.
    pub fn offset(&self, loc: Location) -> Option<usize> {
        let line = usize::try_from(loc.line).ok()?.checked_sub(1)?;
        let col = usize::try_from(loc.column).ok()?.checked_sub(1)?;
        let start = *self.line_starts.get(line)?;
        if col == 0 {
            return Some(start);
        }
        let end = self
            .line_starts
            .get(line + 1)
            .copied()
            .unwrap_or(self.text.len());
        // Where to start counting characters, and how many are left to count.
        let (from, left) = match self.checkpoints.get(line)? {
            None if start + col <= end => return Some(start + col),
            Some(cp) if col / STRIDE < cp.len() => (cp[col / STRIDE], col % STRIDE),
            // Past the end of the line: rare, count from the line start.
            _ => (start, col),
        };
        let rest = &self.text[from..];
        if left == 0 {
            return Some(from);
        }
        rest.char_indices()
            .nth(left)
            .map(|(i, _)| from + i)
            .or_else(|| {
                // A location just past the last character of the text.
                (rest.chars().count() == left).then_some(from + rest.len())
            })
    }

    /// Byte range of a span.
    pub fn range(&self, span: Span) -> Option<Range<usize>> {
        Some(self.offset(span.start)?..self.offset(span.end)?)
    }

    /// Byte range of a node.
    pub fn of(&self, node: &impl Spanned) -> Option<Range<usize>> {
        self.range(node.span())
    }
}

/// Applies non-overlapping replacements to `text`.
pub fn splice(text: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(text.len() + 32 * edits.len());
    let mut at = 0;
    for (r, s) in edits {
        if r.start < at {
            continue;
        }
        out.push_str(&text[at..r.start]);
        out.push_str(&s);
        at = r.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;

    #[test]
    fn spans_map_to_bytes_with_multibyte_text() {
        let sql = "SELECT 'é✓', x\nFROM  shop.orders";
        let stmt = Parser::parse_sql(&MySqlDialect {}, sql)
            .expect("parse")
            .remove(0);
        let mut names = Vec::new();
        let _ = sqlparser::ast::visit_relations(&stmt, |n| {
            names.push(n.clone());
            std::ops::ControlFlow::<()>::Continue(())
        });
        let idx = LineIndex::new(sql);
        let r = idx.of(&names[0]).expect("range");
        assert_eq!(&sql[r.clone()], "shop.orders");
        assert_eq!(
            splice(sql, vec![(r, "`shop_0001`.`orders`".into())]),
            "SELECT 'é✓', x\nFROM  `shop_0001`.`orders`"
        );
    }

    /// Every character position of mixed ASCII and multibyte lines maps as a scan from
    /// the line start would.
    #[test]
    fn offsets_agree_with_a_scan() {
        let long: String = (0..300)
            .map(|i| if i % 7 == 0 { 'é' } else { 'a' })
            .collect();
        let text = format!("ab\n{long}\n✓x\n\nplain line");
        let idx = LineIndex::new(&text);
        for (l, line_start) in idx.line_starts.clone().into_iter().enumerate() {
            let rest = &text[line_start..];
            for col in 0..=rest.chars().count().min(400) {
                let want = rest
                    .char_indices()
                    .nth(col)
                    .map(|(i, _)| line_start + i)
                    .or_else(|| (rest.chars().count() == col).then_some(text.len()));
                let loc = Location::new(l as u64 + 1, col as u64 + 1);
                assert_eq!(idx.offset(loc), want, "line {l} column {col}");
            }
        }
    }
}
