//! Grouped merging (GROUP BY, aggregates without GROUP BY, DISTINCT): shard rows with
//! equal group keys (equal as MySQL compares them: by value, strings by collation) become
//! one row whose aggregates combine the shards' partial ones. The number of groups held is
//! bounded; exceeding the bound is an error, never a partial answer.

use super::having::{Cells, Having};
use super::number::{Decimal, format_double, format_double_fixed, format_float, parse_double};
use super::plan::{Col, DistinctOf, Grouping, Role};
use super::row::{ColumnInfo, Row, RowWriter, types};
use super::sort::{Layout, column_kind};
use super::value::{Kind, Value, decode, equality_key, int_decimal, leading_number};
use hashbrown::HashMap;

/// Why grouping failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupError {
    /// More groups than allowed.
    TooManyGroups(usize),
    /// A value the merge cannot compare or combine.
    Unsupported(String),
}

/// The running value of a combined column.
#[derive(Debug, Clone)]
enum Acc {
    /// Taken from the group's first row.
    First,
    Count(i128),
    Exact(Option<Decimal>),
    Float(Option<f64>),
    /// MIN / MAX: the best cell so far, encoded, and where its value starts.
    Best(Option<(Vec<u8>, usize)>),
    /// AVG: computed from two other columns at the end.
    Avg,
    /// COUNT/SUM/AVG(DISTINCT x): the distinct values seen (equality keys), their number
    /// and their sum.
    Distinct {
        seen: hashbrown::HashSet<Vec<u8>>,
        count: i128,
        exact: Option<Decimal>,
        float: Option<f64>,
    },
}

struct Group {
    first: Row,
    accs: Vec<Acc>,
}

/// A combined column, resolved: index, role, kind (MIN/MAX: of the column; DISTINCT: of
/// the value column `value`).
#[derive(Debug, Clone, Copy)]
struct Combined {
    index: usize,
    role: Role,
    kind: Option<Kind>,
    value: Option<usize>,
}

/// Merges grouped shard rows.
pub struct GroupMerge {
    layout: Layout,
    plan: Grouping,
    keys: Vec<(usize, Kind)>,
    combined: Vec<Combined>,
    /// Accumulator slot of each column (`None`: first row's value).
    slot: Vec<Option<usize>>,
    map: HashMap<Vec<u8>, usize>,
    groups: Vec<Group>,
    max_groups: usize,
    /// Groups plus distinct values held (bounded by `max_groups`).
    held: usize,
    resolved: bool,
    key: Vec<u8>,
}

impl GroupMerge {
    /// A merge for `plan` over rows of `layout`, holding at most `max_groups` groups.
    pub fn new(plan: &Grouping, layout: Layout, max_groups: usize) -> GroupMerge {
        GroupMerge {
            slot: vec![None; layout.columns.len()],
            layout,
            plan: plan.clone(),
            keys: Vec::new(),
            combined: Vec::new(),
            map: HashMap::new(),
            groups: Vec::new(),
            max_groups,
            held: 0,
            resolved: false,
            key: Vec::new(),
        }
    }

    fn idx(&self, c: Col) -> usize {
        c.index(self.layout.columns.len(), self.layout.hidden)
    }

    /// Learns key kinds and collations from the first row.
    fn resolve(&mut self, sample: &Row) -> Result<(), GroupError> {
        let unsupported = |e: super::value::Uncomparable| GroupError::Unsupported(e.0);
        for &(col, collation) in &self.plan.keys {
            let index = self.idx(col);
            let collation = collation.map(|c| self.idx(c));
            let kind = column_kind(&self.layout, index, collation, sample).map_err(unsupported)?;
            self.keys.push((index, kind));
        }
        for c in &self.plan.combine {
            let index = self.idx(c.col);
            let collation = c.collation.map(|x| self.idx(x));
            let (kind, value) = match c.role {
                Role::Min | Role::Max => (
                    Some(column_kind(&self.layout, index, collation, sample).map_err(unsupported)?),
                    None,
                ),
                Role::Distinct { value, .. } => {
                    let v = self.idx(value);
                    let kind =
                        column_kind(&self.layout, v, collation, sample).map_err(unsupported)?;
                    (Some(kind), Some(v))
                }
                _ => (None, None),
            };
            self.slot[index] = Some(self.combined.len());
            self.combined.push(Combined {
                index,
                role: c.role,
                kind,
                value,
            });
        }
        self.resolved = true;
        Ok(())
    }

    /// Adds one shard row.
    pub fn add(&mut self, row: Row) -> Result<(), GroupError> {
        if !self.resolved {
            self.resolve(&row)?;
        }
        self.key.clear();
        for &(i, kind) in &self.keys {
            let c = &self.layout.columns[i];
            let v = decode(c, kind, self.layout.format, row.cell(i));
            equality_key(kind, &v, &mut self.key);
        }
        let slot = match self.map.get(&self.key) {
            Some(&g) => g,
            None => {
                if self.held >= self.max_groups {
                    return Err(GroupError::TooManyGroups(self.max_groups));
                }
                self.held += 1;
                let accs = self.combined.iter().map(|c| self.start(c)).collect();
                self.groups.push(Group {
                    first: row.clone(),
                    accs,
                });
                self.map.insert(self.key.clone(), self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        let format = self.layout.format;
        let held = &mut self.held;
        let group = &mut self.groups[slot];
        for (acc, c) in group.accs.iter_mut().zip(&self.combined) {
            let column = &self.layout.columns[c.index];
            let cell = row.cell(c.index);
            match acc {
                Acc::First | Acc::Avg => {}
                Acc::Distinct {
                    seen,
                    count,
                    exact,
                    float,
                } => {
                    let (Some(kind), Some(vi)) = (c.kind, c.value) else {
                        continue;
                    };
                    let value_column = &self.layout.columns[vi];
                    let v = decode(value_column, kind, format, row.cell(vi));
                    if v == Value::Null {
                        continue;
                    }
                    let mut key = Vec::new();
                    equality_key(kind, &v, &mut key);
                    if seen.contains(&key) {
                        continue;
                    }
                    if *held >= self.max_groups {
                        return Err(GroupError::TooManyGroups(self.max_groups));
                    }
                    *held += 1;
                    seen.insert(key);
                    *count += 1;
                    match v {
                        Value::Int(i) => {
                            let d = int_decimal(i);
                            *exact = Some(exact.take().map_or(d.clone(), |s| s.add(&d)));
                        }
                        Value::Decimal(d) => {
                            *exact = Some(exact.take().map_or(d.clone(), |s| s.add(&d)));
                        }
                        Value::Float(f) => *float = Some(float.unwrap_or(0.0) + f),
                        Value::Bytes(b) => {
                            *float = Some(float.unwrap_or(0.0) + leading_number(b));
                        }
                        _ => {}
                    }
                }
                Acc::Count(n) => {
                    if let Some(v) = int_of(column, format, cell) {
                        *n += v;
                    }
                }
                Acc::Exact(sum) => {
                    if let Some(v) = cell.and_then(|b| exact_of(column, format, b)) {
                        *sum = Some(match sum.take() {
                            Some(s) => s.add(&v),
                            None => v,
                        });
                    }
                }
                Acc::Float(sum) => {
                    if let Some(v) = cell.and_then(|b| float_of(column, format, b)) {
                        *sum = Some(sum.unwrap_or(0.0) + v);
                    }
                }
                Acc::Best(best) => {
                    let Some(kind) = c.kind else { continue };
                    if cell.is_none() {
                        continue;
                    }
                    let better = match best {
                        None => true,
                        Some((enc, at)) => {
                            let new = decode(column, kind, format, cell);
                            let old = decode(column, kind, format, Some(&enc[*at..]));
                            let o = super::value::compare(kind, &new, &old);
                            if c.role == Role::Min {
                                o.is_lt()
                            } else {
                                o.is_gt()
                            }
                        }
                    };
                    if better {
                        let enc = row.encoded(c.index).to_vec();
                        let at = enc.len() - cell.map_or(0, <[u8]>::len);
                        *best = Some((enc, at));
                    }
                }
            }
        }
        Ok(())
    }

    fn start(&self, c: &Combined) -> Acc {
        let column = &self.layout.columns[c.index];
        match c.role {
            Role::First => Acc::First,
            Role::Count => Acc::Count(0),
            Role::Sum => match column.column_type {
                types::DOUBLE | types::FLOAT => Acc::Float(None),
                _ => Acc::Exact(None),
            },
            Role::Min | Role::Max => Acc::Best(None),
            Role::Avg { .. } => Acc::Avg,
            Role::Distinct { .. } => Acc::Distinct {
                seen: hashbrown::HashSet::new(),
                count: 0,
                exact: None,
                float: None,
            },
        }
    }

    /// Groups held.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether no group is held.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The merged rows (every column, hidden ones included), filtered by `having`.
    pub fn finish(mut self, having: Option<&Having>) -> Result<Vec<Row>, GroupError> {
        let mut out = Vec::with_capacity(self.groups.len());
        let total = self.layout.columns.len();
        let empty_single = self.plan.single && self.groups.is_empty();
        if empty_single {
            // An aggregate without GROUP BY over no rows is still one row (COUNT 0, other
            // aggregates NULL); shards grouping by a DISTINCT argument returned none.
            return self.empty_row(having);
        }
        for g in &self.groups {
            let mut w = RowWriter::new(self.layout.format, total);
            for i in 0..total {
                match self.slot[i] {
                    None if g.first.cell(i).is_none() => w.null(),
                    None => w.raw(g.first.encoded(i)),
                    Some(s) => self.write_acc(&mut w, g, s)?,
                }
            }
            let row = Row::parse(w.finish(), self.layout.format, &self.layout.columns)
                .ok_or_else(|| GroupError::Unsupported("a merged row did not encode".into()))?;
            if let Some(h) = having {
                let cells = RowCells {
                    row: &row,
                    layout: &self.layout,
                };
                if !h.passes(&cells).map_err(GroupError::Unsupported)? {
                    continue;
                }
            }
            out.push(row);
        }
        Ok(out)
    }

    /// The one row of an aggregate query over no rows.
    fn empty_row(&mut self, having: Option<&Having>) -> Result<Vec<Row>, GroupError> {
        let total = self.layout.columns.len();
        let mut w = RowWriter::new(self.layout.format, total);
        for i in 0..total {
            // No row arrived, so the plan (not the resolved columns) says what counts.
            let counted = self.plan.combine.iter().any(|c| {
                self.idx(c.col) == i
                    && matches!(
                        c.role,
                        Role::Count
                            | Role::Distinct {
                                of: DistinctOf::Count,
                                ..
                            }
                    )
            });
            if counted {
                write_count(&mut w, &self.layout.columns[i], 0);
            } else {
                w.null();
            }
        }
        let row = Row::parse(w.finish(), self.layout.format, &self.layout.columns)
            .ok_or_else(|| GroupError::Unsupported("a merged row did not encode".into()))?;
        if let Some(h) = having {
            let cells = RowCells {
                row: &row,
                layout: &self.layout,
            };
            if !h.passes(&cells).map_err(GroupError::Unsupported)? {
                return Ok(Vec::new());
            }
        }
        Ok(vec![row])
    }

    fn write_acc(&self, w: &mut RowWriter, g: &Group, s: usize) -> Result<(), GroupError> {
        let c = &self.combined[s];
        let column = &self.layout.columns[c.index];
        match &g.accs[s] {
            Acc::First if g.first.cell(c.index).is_none() => w.null(),
            Acc::First => w.raw(g.first.encoded(c.index)),
            Acc::Count(n) => write_count(w, column, *n),
            Acc::Exact(None) | Acc::Float(None) | Acc::Best(None) => w.null(),
            Acc::Exact(Some(d)) => write_exact(w, column, d),
            Acc::Float(Some(f)) => write_float(w, column, *f),
            Acc::Best(Some((enc, _))) => w.raw(enc),
            Acc::Distinct {
                count,
                exact,
                float,
                ..
            } => {
                let Role::Distinct { of, .. } = c.role else {
                    return Err(GroupError::Unsupported("DISTINCT without its value".into()));
                };
                match of {
                    DistinctOf::Count => write_count(w, column, *count),
                    _ if *count == 0 => w.null(),
                    DistinctOf::Sum => match (exact, float) {
                        (Some(d), None) => write_exact(w, column, d),
                        _ => write_float(w, column, total_float(exact, *float)),
                    },
                    DistinctOf::Avg => match (exact, float, column.column_type) {
                        (Some(d), None, types::NEWDECIMAL | types::DECIMAL) => {
                            let avg = d.avg(*count as u64, u32::from(column.decimals));
                            w.bytes(avg.to_text(u32::from(column.decimals)).as_bytes());
                        }
                        _ => write_float(w, column, total_float(exact, *float) / *count as f64),
                    },
                }
            }
            Acc::Avg => {
                let Role::Avg { sum, count } = c.role else {
                    return Err(GroupError::Unsupported("AVG without its parts".into()));
                };
                let (si, ci) = (self.idx(sum), self.idx(count));
                let (Some(ss), Some(cs)) = (self.slot[si], self.slot[ci]) else {
                    return Err(GroupError::Unsupported("AVG without its parts".into()));
                };
                let n = match g.accs[cs] {
                    Acc::Count(n) => n,
                    _ => 0,
                };
                if n <= 0 {
                    w.null();
                    return Ok(());
                }
                match (&g.accs[ss], column.column_type) {
                    (Acc::Exact(Some(d)), types::NEWDECIMAL | types::DECIMAL) => {
                        let avg = d.avg(n as u64, u32::from(column.decimals));
                        w.bytes(avg.to_text(u32::from(column.decimals)).as_bytes());
                    }
                    (Acc::Exact(Some(d)), _) => {
                        let f = parse_double(d.to_text(38).as_bytes()).unwrap_or(0.0);
                        write_float(w, column, f / n as f64);
                    }
                    (Acc::Float(Some(f)), _) => write_float(w, column, f / n as f64),
                    _ => w.null(),
                }
            }
        }
        Ok(())
    }
}

fn write_count(w: &mut RowWriter, column: &ColumnInfo, n: i128) {
    match column.column_type {
        types::NEWDECIMAL | types::DECIMAL => w.bytes(n.to_string().as_bytes()),
        _ => w.integer(&n.to_string(), n),
    }
}

fn write_exact(w: &mut RowWriter, column: &ColumnInfo, d: &Decimal) {
    match column.column_type {
        types::NEWDECIMAL | types::DECIMAL => {
            w.bytes(d.to_text(u32::from(column.decimals)).as_bytes())
        }
        types::DOUBLE | types::FLOAT => {
            let f = parse_double(d.to_text(38).as_bytes()).unwrap_or(0.0);
            write_float(w, column, f);
        }
        _ => {
            let text = d.to_text(0);
            let v: i128 = text.parse().unwrap_or(0);
            w.integer(&text, v);
        }
    }
}

/// Columns with fewer decimals than this print DOUBLE/FLOAT values with fixed decimals.
const FIXED_DECIMALS_BELOW: u8 = 31;

fn write_float(w: &mut RowWriter, column: &ColumnInfo, f: f64) {
    let fixed = column.decimals < FIXED_DECIMALS_BELOW;
    if column.column_type == types::FLOAT {
        let x = f as f32;
        let text = if fixed {
            format_double_fixed(f64::from(x), u32::from(column.decimals))
        } else {
            format_float(x)
        };
        w.float(&text, x);
    } else {
        let text = if fixed {
            format_double_fixed(f, u32::from(column.decimals))
        } else {
            format_double(f)
        };
        w.double(&text, f);
    }
}

fn total_float(exact: &Option<Decimal>, float: Option<f64>) -> f64 {
    let e = exact
        .as_ref()
        .and_then(|d| parse_double(d.to_text(d.scale()).as_bytes()))
        .unwrap_or(0.0);
    e + float.unwrap_or(0.0)
}

fn int_of(column: &ColumnInfo, format: super::row::RowFormat, cell: Option<&[u8]>) -> Option<i128> {
    match decode(column, Kind::Integer, format, cell) {
        Value::Int(i) => Some(i),
        Value::Bytes(b) => Decimal::parse(b).and_then(|d| d.to_text(0).parse().ok()),
        _ => None,
    }
}

fn exact_of(column: &ColumnInfo, format: super::row::RowFormat, b: &[u8]) -> Option<Decimal> {
    match column.column_type {
        types::NEWDECIMAL | types::DECIMAL => Decimal::parse(b),
        _ => match decode(column, Kind::Integer, format, Some(b)) {
            Value::Int(i) => Some(int_decimal(i)),
            _ => None,
        },
    }
}

fn float_of(column: &ColumnInfo, format: super::row::RowFormat, b: &[u8]) -> Option<f64> {
    match decode(column, Kind::Float, format, Some(b)) {
        Value::Float(f) => Some(f),
        _ => None,
    }
}

/// A merged row as HAVING reads it.
struct RowCells<'a> {
    row: &'a Row,
    layout: &'a Layout,
}

impl Cells for RowCells<'_> {
    fn value(&self, col: Col, collation: Col) -> (Kind, Value<'_>) {
        let total = self.layout.columns.len();
        let i = col.index(total, self.layout.hidden);
        let ci = collation.index(total, self.layout.hidden);
        let kind = column_kind(self.layout, i, Some(ci), self.row).unwrap_or(Kind::Bytes);
        let v = decode(
            &self.layout.columns[i],
            kind,
            self.layout.format,
            self.row.cell(i),
        );
        (kind, v)
    }

    fn is_date(&self, col: Col) -> bool {
        let i = col.index(self.layout.columns.len(), self.layout.hidden);
        matches!(
            self.layout.columns[i].column_type,
            types::DATE | types::NEWDATE
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::row::RowFormat;

    fn info(t: u8) -> ColumnInfo {
        ColumnInfo {
            charset: 45,
            column_type: t,
            flags: 0,
            decimals: 0,
        }
    }

    fn text_row(layout: &Layout, cells: &[Option<&str>]) -> Row {
        let mut w = RowWriter::new(layout.format, cells.len());
        for c in cells {
            match c {
                Some(v) => w.bytes(v.as_bytes()),
                None => w.null(),
            }
        }
        Row::parse(w.finish(), layout.format, &layout.columns).expect("row")
    }

    #[test]
    fn distinct_rows_merge_with_nulls_and_collations() {
        let layout = Layout {
            columns: vec![info(253), info(types::LONG), info(253), info(253)],
            hidden: 2,
            format: RowFormat::Text,
        };
        let plan = Grouping {
            keys: vec![
                (Col::Visible(0), Some(Col::Hidden(0))),
                (Col::Visible(1), Some(Col::Hidden(1))),
            ],
            combine: Vec::new(),
            single: false,
        };
        let mut g = GroupMerge::new(&plan, layout.clone(), 10);
        let ci = Some("utf8mb4_general_ci");
        let bin = Some("binary");
        for r in [
            [Some("abc"), Some("1"), ci, bin],
            [Some("ABC"), Some("1"), ci, bin],
            [None, Some("1"), ci, bin],
            [None, None, ci, bin],
            [Some("abc"), None, ci, bin],
        ] {
            g.add(text_row(&layout, &r)).expect("add");
        }
        let rows = g.finish(None).expect("finish");
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].cell(0), Some(&b"abc"[..]));
        assert_eq!(rows[1].cell(0), None);
    }

    #[test]
    fn counts_over_no_rows_are_zero() {
        let layout = Layout {
            columns: vec![info(types::LONGLONG), info(types::NEWDECIMAL)],
            hidden: 0,
            format: RowFormat::Text,
        };
        let plan = Grouping {
            keys: Vec::new(),
            combine: vec![
                crate::merge::plan::Combine {
                    col: Col::Visible(0),
                    role: Role::Count,
                    collation: None,
                },
                crate::merge::plan::Combine {
                    col: Col::Visible(1),
                    role: Role::Sum,
                    collation: None,
                },
            ],
            single: true,
        };
        let rows = GroupMerge::new(&plan, layout, 10)
            .finish(None)
            .expect("finish");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].cell(0), Some(&b"0"[..]));
        assert_eq!(rows[0].cell(1), None);
    }

    #[test]
    fn binary_rows_keep_null_cells_null() {
        let layout = Layout {
            columns: vec![info(types::LONG), info(253)],
            hidden: 1,
            format: RowFormat::Binary,
        };
        let plan = Grouping {
            keys: vec![(Col::Visible(0), Some(Col::Hidden(0)))],
            combine: Vec::new(),
            single: false,
        };
        let mut g = GroupMerge::new(&plan, layout.clone(), 10);
        for v in [None, Some(7i32), None] {
            let mut w = RowWriter::new(RowFormat::Binary, 2);
            match v {
                Some(v) => w.raw(&v.to_le_bytes()),
                None => w.null(),
            }
            w.bytes(b"binary");
            let row = Row::parse(w.finish(), RowFormat::Binary, &layout.columns).expect("row");
            g.add(row).expect("add");
        }
        let rows = g.finish(None).expect("finish");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].cell(0), None);
        assert_eq!(rows[1].cell(0), Some(&7i32.to_le_bytes()[..]));
    }
}
