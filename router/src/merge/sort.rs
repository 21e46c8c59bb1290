//! Ordering rows by the merge's sort keys, and the k-way merge of shard streams that are
//! each already sorted: only the sort-key cells are decoded, and only the head row of
//! each stream is held.

use super::plan::SortKey;
use super::row::{ColumnInfo, Row, RowFormat};
use super::value::{Kind, Uncomparable, compare, decode, kind_of};
use std::cmp::Ordering;

/// The shape of the shard results: column types, hidden columns, row format.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Every column of a shard row (hidden ones last).
    pub columns: Vec<ColumnInfo>,
    /// How many are hidden.
    pub hidden: usize,
    /// Text or binary rows.
    pub format: RowFormat,
}

impl Layout {
    /// Columns the client sees.
    pub fn visible(&self) -> usize {
        self.columns.len() - self.hidden
    }
}

/// Sort keys resolved against a layout: (column index, descending, kind).
#[derive(Debug, Clone)]
pub struct SortSpec {
    keys: Vec<(usize, bool, Kind)>,
    columns: Vec<ColumnInfo>,
    format: RowFormat,
}

/// The comparison kind of column `index`, its collation read from `sample`'s cell
/// `collation` (the `COLLATION()` column).
pub fn column_kind(
    layout: &Layout,
    index: usize,
    collation: Option<usize>,
    sample: &Row,
) -> Result<Kind, Uncomparable> {
    let c = &layout.columns[index];
    kind_of(c, collation.and_then(|i| sample.cell(i)))
}

impl SortSpec {
    /// Resolves `keys` for `layout`, learning string collations from `sample` (any row).
    pub fn new(keys: &[SortKey], layout: &Layout, sample: &Row) -> Result<SortSpec, Uncomparable> {
        let total = layout.columns.len();
        let mut resolved = Vec::with_capacity(keys.len());
        for k in keys {
            let index = k.col.index(total, layout.hidden);
            let collation = k.collation.map(|c| c.index(total, layout.hidden));
            resolved.push((
                index,
                k.desc,
                column_kind(layout, index, collation, sample)?,
            ));
        }
        Ok(SortSpec {
            keys: resolved,
            columns: layout.columns.clone(),
            format: layout.format,
        })
    }

    /// Whether there is nothing to sort by.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Orders two rows.
    pub fn compare(&self, a: &Row, b: &Row) -> Ordering {
        for &(i, desc, kind) in &self.keys {
            let c = &self.columns[i];
            let x = decode(c, kind, self.format, a.cell(i));
            let y = decode(c, kind, self.format, b.cell(i));
            let o = compare(kind, &x, &y);
            if o != Ordering::Equal {
                return if desc { o.reverse() } else { o };
            }
        }
        Ordering::Equal
    }
}

/// A k-way merge: the head row of each stream in a binary heap.
pub struct KWayMerge {
    spec: SortSpec,
    heap: Vec<(usize, Row)>,
}

impl KWayMerge {
    /// An empty merge by `spec`.
    pub fn new(spec: SortSpec) -> KWayMerge {
        KWayMerge {
            spec,
            heap: Vec::new(),
        }
    }

    fn less(&self, a: usize, b: usize) -> bool {
        let (sa, ra) = &self.heap[a];
        let (sb, rb) = &self.heap[b];
        match self.spec.compare(ra, rb) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => sa < sb,
        }
    }

    /// Adds the next row of `stream` (after its previous row was popped).
    pub fn push(&mut self, stream: usize, row: Row) {
        self.heap.push((stream, row));
        let mut i = self.heap.len() - 1;
        while i > 0 {
            let parent = (i - 1) / 2;
            if !self.less(i, parent) {
                break;
            }
            self.heap.swap(i, parent);
            i = parent;
        }
    }

    /// Takes the smallest head; the caller then pushes that stream's next row, if any.
    pub fn pop(&mut self) -> Option<(usize, Row)> {
        if self.heap.is_empty() {
            return None;
        }
        let last = self.heap.len() - 1;
        self.heap.swap(0, last);
        let top = self.heap.pop();
        let n = self.heap.len();
        let mut i = 0;
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut m = i;
            if l < n && self.less(l, m) {
                m = l;
            }
            if r < n && self.less(r, m) {
                m = r;
            }
            if m == i {
                break;
            }
            self.heap.swap(i, m);
            i = m;
        }
        top
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::plan::Col;
    use crate::merge::row::{RowWriter, types};

    fn text_row(v: Option<i64>) -> Row {
        let mut w = RowWriter::new(RowFormat::Text, 1);
        match v {
            Some(v) => w.bytes(v.to_string().as_bytes()),
            None => w.null(),
        }
        let layout = layout();
        Row::parse(w.finish(), RowFormat::Text, &layout.columns).expect("row")
    }

    fn layout() -> Layout {
        Layout {
            columns: vec![ColumnInfo {
                charset: 63,
                column_type: types::LONGLONG,
                flags: 0,
                decimals: 0,
            }],
            hidden: 0,
            format: RowFormat::Text,
        }
    }

    #[test]
    fn k_way_merge_interleaves_sorted_streams() {
        let streams: Vec<Vec<Option<i64>>> = vec![
            vec![None, Some(-5), Some(3), Some(10)],
            vec![Some(-7), Some(3), Some(4)],
            vec![],
            vec![None, Some(100)],
        ];
        for desc in [false, true] {
            let key = SortKey {
                col: Col::Visible(0),
                desc,
                collation: None,
            };
            let mut streams = streams.clone();
            if desc {
                for s in &mut streams {
                    s.reverse();
                }
            }
            let spec = SortSpec::new(&[key], &layout(), &text_row(Some(0))).expect("spec");
            let mut m = KWayMerge::new(spec);
            let mut next: Vec<usize> = vec![0; streams.len()];
            for (i, s) in streams.iter().enumerate() {
                if let Some(v) = s.first() {
                    m.push(i, text_row(*v));
                    next[i] = 1;
                }
            }
            let mut out = Vec::new();
            while let Some((i, row)) = m.pop() {
                out.push(row.cell(0).map(|c| String::from_utf8_lossy(c).to_string()));
                if let Some(v) = streams[i].get(next[i]) {
                    m.push(i, text_row(*v));
                    next[i] += 1;
                }
            }
            let mut want: Vec<Option<i64>> = streams.concat();
            want.sort();
            if desc {
                want.reverse();
            }
            let want: Vec<Option<String>> =
                want.into_iter().map(|v| v.map(|v| v.to_string())).collect();
            assert_eq!(out, want);
        }
    }
}
