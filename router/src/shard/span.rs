//! Byte offsets of parser locations, so rewrites splice the original SQL text instead of
//! re-printing it (re-printing can change spelling, comments and hints).

use sqlparser::ast::Spanned;
use sqlparser::tokenizer::{Location, Span};
use std::ops::Range;

/// Maps parser locations (1-based line and character column) to byte offsets.
#[derive(Debug)]
pub struct LineIndex<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes `text`.
    pub fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, line_starts }
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
        let rest = &self.text[start..];
        if col == 0 {
            return Some(start);
        }
        rest.char_indices()
            .nth(col)
            .map(|(i, _)| start + i)
            .or_else(|| {
                // A location just past the last character of the text.
                (rest.chars().count() == col).then_some(start + rest.len())
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
}
