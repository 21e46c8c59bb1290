//! Merging the shard streams of a scattered SELECT into the client's one result set:
//! concatenation (rows passed on as they arrive, never decoded), the k-way merge of
//! ORDER BY (only sort keys decoded), and grouped merges (GROUP BY, aggregates, DISTINCT,
//! HAVING) — with OFFSET/LIMIT applied on top and hidden columns removed.

use super::merge_buffer::MERGE_BUFFER_EXCEEDED;
use super::scatter::{Msg, Receiver, Scatter, Streams};
use super::shard::Exec;
use super::{Closed, Session};
use crate::backend::interrupt::Why;
use crate::backend::rewrite::ColumnDef;
use crate::error::SqlError;
use crate::packet;
use myshard_router::merge::group::{GroupError, GroupMerge};
use myshard_router::merge::plan::MergePlan;
use myshard_router::merge::row::{ColumnInfo, Row, RowFormat};
use myshard_router::merge::sort::{KWayMerge, Layout, SortSpec};
use myshard_router::shard::plan::{ShardRoute, Targets};
use myshard_router::shard::resolve::Target;

/// Output flushed to the client past this many bytes.
const FLUSH_AT: usize = 64 * 1024;

/// The client-side state of a result being produced.
struct Output {
    seq: u8,
    header_sent: bool,
    warnings: u16,
    /// Rows still to skip (OFFSET).
    skip: u64,
    /// Rows still to send (LIMIT), `None` for all.
    left: Option<u64>,
    /// The logical schema, and the physical databases whose name it replaces in column
    /// definitions.
    rename: (String, Vec<String>),
    /// The column definitions must be the first stream's (a UNION's columns are named
    /// after its first branch): other streams wait until it has sent them.
    first_names: bool,
    /// A UNION DISTINCT (its columns are described a little differently from UNION ALL's).
    union_distinct: bool,
}

impl Output {
    fn full(&self) -> bool {
        self.left == Some(0)
    }
}

/// A merge failure: an error for the client, or the client gone.
enum Stop {
    Error(SqlError),
    Closed,
}

impl From<Closed> for Stop {
    fn from(_: Closed) -> Self {
        Stop::Closed
    }
}

fn unsupported(what: impl std::fmt::Display) -> Stop {
    Stop::Error(SqlError::not_supported(what))
}

impl Session {
    /// Runs a SELECT on several shards and merges the answers (`plan` `None`: plain
    /// concatenation).
    pub(super) async fn run_merge(
        &mut self,
        route: &ShardRoute,
        plan: Option<&MergePlan>,
        targets: &[Target],
        seq: u8,
        exec: &Exec,
    ) -> Result<(), Closed> {
        let format = match exec {
            Exec::Text => RowFormat::Text,
            Exec::Prepared { .. } => RowFormat::Binary,
        };
        // Paging parameters are filled in by the execute (see `paging`); never merged unbound.
        if plan.is_some_and(|p| p.paging.is_some()) {
            let e = SqlError::not_supported("LIMIT given as a parameter in a text statement");
            return self.send_err(&e, seq).await;
        }
        // JDBC setMaxRows: the session's sql_select_limit caps the merged rows too.
        let limit = match self.merge_row_limit(plan) {
            Ok(l) => l,
            Err(e) => return self.send_err(&e, seq).await,
        };
        let ordered = plan.is_some_and(|p| !p.order.is_empty() && p.grouping.is_none());
        let mut scatter = match self.scatter(route, targets, exec, ordered).await {
            Ok(s) => s,
            Err(e) => return self.send_err(&e, seq).await,
        };
        let mut out = Output {
            seq,
            header_sent: false,
            warnings: 0,
            skip: plan.map_or(0, |p| p.offset),
            left: limit,
            rename: (
                route.schema.clone(),
                targets.iter().map(|t| t.database.clone()).collect(),
            ),
            first_names: matches!(route.targets, Targets::Union(_)),
            union_distinct: plan.is_some_and(|p| p.grouping.is_some()),
        };
        let hidden = plan.map_or(0, |p| p.hidden);
        let r = match (plan, &mut scatter.streams) {
            (Some(p), Streams::Shared(_)) if p.grouping.is_some() => {
                self.merge_grouped(p, &mut scatter, targets.len(), format, &mut out)
                    .await
            }
            (Some(p), Streams::Each(rx)) => self.merge_ordered(p, rx, format, &mut out).await,
            (_, Streams::Shared(_)) => {
                self.merge_concat(&mut scatter, targets.len(), format, hidden, &mut out)
                    .await
            }
            (None, Streams::Each(_)) => Err(Stop::Error(SqlError::internal(
                "ordered streams without a merge plan",
            ))),
        };
        // A merge that outgrew its buffer stops the shards still running (only their
        // statements end; the transaction goes on) rather than reading them to their end.
        if matches!(&r, Err(Stop::Error(e)) if e.code == MERGE_BUFFER_EXCEEDED) {
            super::statement_timeout::kill_backend_queries(&self.control);
        }
        // Errors name logical schemas; one that every shard gave is given once.
        let r = match r {
            Err(Stop::Error(e)) => {
                let n = targets.len();
                let streams = &mut scatter.streams;
                Err(Stop::Error(
                    self.scatter_error(e, streams, n, out.header_sent).await,
                ))
            }
            other => other,
        };
        // A backend kill sent to the shards may have ended one without an error (MariaDB
        // can answer a SELECT killed while it plans with no rows): rows that may miss a
        // shard are never passed off as the whole answer.
        let (killed, settled) = self.settle_kills(&scatter).await;
        let r = match (r, killed) {
            (Ok(()), Some(why)) => Err(Stop::Error(why.error())),
            // A shard ended by the statement timeout's kill: MariaDB's timeout error.
            (Err(Stop::Error(e)), Some(Why::TimedOut)) if e.code == 1317 => {
                Err(Stop::Error(Why::TimedOut.error()))
            }
            (r, _) => r,
        };
        self.gather(scatter, !settled).await;
        match r {
            Ok(()) => {
                let p = packet::eof_payload(self.status(), out.warnings);
                packet::frame(&mut self.out, out.seq, &p);
                self.write_out().await
            }
            Err(Stop::Error(e)) => {
                packet::frame(&mut self.out, out.seq, &packet::err_payload(&e));
                self.write_out().await
            }
            Err(Stop::Closed) => Err(Closed),
        }
    }

    /// Sends the column count, the visible column definitions and their EOF.
    fn send_header(&mut self, defs: &[Vec<u8>], visible: usize, out: &mut Output) {
        let mut count = Vec::with_capacity(9);
        myshard_router::merge::row::put_lenenc_int(&mut count, visible as u64);
        out.seq = packet::frame(&mut self.out, out.seq, &count);
        for d in &defs[..visible] {
            // Columns of the shards' tables name the logical schema, as on one server.
            let (logical, physical) = &out.rename;
            let renamed = ColumnDef::with_logical_schema(
                d,
                |s| physical.iter().any(|db| db.as_bytes() == s),
                logical,
            );
            let d = renamed.as_deref().unwrap_or(d);
            // A UNION's columns are no table's.
            let union = out
                .first_names
                .then(|| super::union_columns::union_column(d, out.union_distinct))
                .flatten();
            out.seq = packet::frame(&mut self.out, out.seq, union.as_deref().unwrap_or(d));
        }
        let eof = packet::eof_payload(self.status(), 0);
        out.seq = packet::frame(&mut self.out, out.seq, &eof);
        out.header_sent = true;
    }

    /// Sends one row, honouring OFFSET and LIMIT.
    async fn send_row(&mut self, payload: &[u8], out: &mut Output) -> Result<(), Stop> {
        if out.skip > 0 {
            out.skip -= 1;
            return Ok(());
        }
        if let Some(left) = &mut out.left {
            if *left == 0 {
                return Ok(());
            }
            *left -= 1;
        }
        out.seq = packet::frame(&mut self.out, out.seq, payload);
        if self.out.len() >= FLUSH_AT {
            self.write_out().await?;
        }
        Ok(())
    }

    /// Rows of every shard as they arrive; hidden columns cut off.
    async fn merge_concat(
        &mut self,
        scatter: &mut Scatter,
        n: usize,
        format: RowFormat,
        hidden: usize,
        out: &mut Output,
    ) -> Result<(), Stop> {
        let Streams::Shared(rx) = &mut scatter.streams else {
            return Err(Stop::Error(SqlError::internal(
                "concatenation needs one stream",
            )));
        };
        let mut layout: Option<Layout> = None;
        let mut done = 0;
        // Messages of other streams held until the first stream's columns came.
        let mut held: std::collections::VecDeque<Msg> = std::collections::VecDeque::new();
        while done < n {
            let msg = match held.pop_front() {
                Some(m) if layout.is_some() => m,
                other => {
                    if let Some(m) = other {
                        held.push_front(m);
                    }
                    let Some((stream, msg)) = rx.recv().await else {
                        return Err(Stop::Error(SqlError::internal("a shard reader stopped")));
                    };
                    let waits = out.first_names && layout.is_none() && stream != 0;
                    if waits && !matches!(msg, Msg::Failed(_)) {
                        held.push_back(msg);
                        continue;
                    }
                    msg
                }
            };
            match msg {
                Msg::Columns(defs) => {
                    let l = layout_of(&defs, hidden, format)?;
                    match &layout {
                        Some(first) => same_columns(first, &l)?,
                        None => {
                            self.send_header(&defs, l.visible(), out);
                            layout = Some(l);
                        }
                    }
                }
                Msg::Row(p) => {
                    if out.full() {
                        break;
                    }
                    if hidden == 0 {
                        self.send_row(&p, out).await?;
                    } else {
                        let l = layout.as_ref().ok_or_else(|| {
                            Stop::Error(SqlError::internal("a row before its columns"))
                        })?;
                        let row = parse_row(p, l)?;
                        let visible = row.visible_payload(format, hidden);
                        self.send_row(&visible, out).await?;
                    }
                }
                Msg::Done { warnings } => {
                    out.warnings = out.warnings.saturating_add(warnings);
                    done += 1;
                }
                Msg::Failed(e) => return Err(Stop::Error(e)),
            }
        }
        if !out.header_sent {
            return Err(Stop::Error(SqlError::internal("no shard sent columns")));
        }
        Ok(())
    }

    /// The k-way merge of shard streams each sorted by the ORDER BY.
    async fn merge_ordered(
        &mut self,
        plan: &MergePlan,
        rx: &mut [Receiver],
        format: RowFormat,
        out: &mut Output,
    ) -> Result<(), Stop> {
        let mut defs_seen: Option<(Vec<Vec<u8>>, Layout)> = None;
        let mut heads: Vec<(usize, Row)> = Vec::new();
        for (i, r) in rx.iter_mut().enumerate() {
            let defs = match r.recv().await {
                Some(Msg::Columns(d)) => d,
                Some(Msg::Failed(e)) => return Err(Stop::Error(e)),
                _ => return Err(Stop::Error(SqlError::internal("a shard sent no columns"))),
            };
            let l = layout_of(&defs, plan.hidden, format)?;
            if let Some((_, first)) = &defs_seen {
                same_columns(first, &l)?;
            } else {
                defs_seen = Some((defs, l));
            }
            let layout = &defs_seen
                .as_ref()
                .map(|d| &d.1)
                .ok_or_else(|| Stop::Error(SqlError::internal("no layout")))?;
            if let Some(row) = next_row(r, layout, &mut out.warnings).await? {
                heads.push((i, row));
            }
        }
        let Some((defs, layout)) = defs_seen else {
            return Err(Stop::Error(SqlError::internal("no shard sent columns")));
        };
        let spec = match heads.first() {
            Some((_, sample)) => SortSpec::new(&plan.order, &layout, sample)
                .map_err(|e| unsupported(format!("ORDER BY {} over several shards", e.0)))?,
            None => {
                self.send_header(&defs, layout.visible(), out);
                return Ok(());
            }
        };
        self.send_header(&defs, layout.visible(), out);
        let mut merge = KWayMerge::new(spec);
        for (i, row) in heads {
            merge.push(i, row);
        }
        while let Some((i, row)) = merge.pop() {
            if out.full() {
                return Ok(());
            }
            let visible = row.visible_payload(format, plan.hidden);
            self.send_row(&visible, out).await?;
            if let Some(next) = next_row(&mut rx[i], &layout, &mut out.warnings).await? {
                merge.push(i, next);
            }
        }
        Ok(())
    }

    /// Groups rows from every shard, then applies HAVING, ORDER BY and LIMIT.
    async fn merge_grouped(
        &mut self,
        plan: &MergePlan,
        scatter: &mut Scatter,
        n: usize,
        format: RowFormat,
        out: &mut Output,
    ) -> Result<(), Stop> {
        let (Some(grouping), Streams::Shared(rx)) = (&plan.grouping, &mut scatter.streams) else {
            return Err(Stop::Error(SqlError::internal("grouping without a plan")));
        };
        let mut header: Option<(Vec<Vec<u8>>, Layout)> = None;
        let mut groups: Option<GroupMerge> = None;
        let max_groups = self.table.config.merge.max_groups;
        let mut done = 0;
        // The first stream's column definitions name the result (a UNION's first branch).
        let mut first_defs: Option<Vec<Vec<u8>>> = None;
        while done < n {
            let Some((stream, msg)) = rx.recv().await else {
                return Err(Stop::Error(SqlError::internal("a shard reader stopped")));
            };
            match msg {
                Msg::Columns(defs) => {
                    if stream == 0 && out.first_names {
                        first_defs = Some(defs.clone());
                    }
                    let l = layout_of(&defs, plan.hidden, format)?;
                    if let Some((_, first)) = &header {
                        same_columns(first, &l)?;
                    } else {
                        groups = Some(GroupMerge::new(grouping, l.clone(), max_groups));
                        header = Some((defs, l));
                    }
                }
                Msg::Row(p) => {
                    let (Some((_, layout)), Some(g)) = (&header, &mut groups) else {
                        return Err(Stop::Error(SqlError::internal("a row before its columns")));
                    };
                    let row = parse_row(p, layout)?;
                    g.add(row).map_err(group_error)?;
                }
                Msg::Done { warnings } => {
                    out.warnings = out.warnings.saturating_add(warnings);
                    done += 1;
                }
                Msg::Failed(e) => return Err(Stop::Error(e)),
            }
        }
        let (Some((defs, layout)), Some(g)) = (header, groups) else {
            return Err(Stop::Error(SqlError::internal("no shard sent columns")));
        };
        let mut rows = g.finish(plan.having.as_ref()).map_err(group_error)?;
        if !plan.order.is_empty()
            && let Some(sample) = rows.first()
        {
            let spec = SortSpec::new(&plan.order, &layout, sample)
                .map_err(|e| unsupported(format!("ORDER BY {} over several shards", e.0)))?;
            rows.sort_by(|a, b| spec.compare(a, b));
        }
        self.send_header(first_defs.as_ref().unwrap_or(&defs), layout.visible(), out);
        for row in rows {
            if out.full() {
                break;
            }
            let visible = row.visible_payload(format, plan.hidden);
            self.send_row(&visible, out).await?;
        }
        Ok(())
    }
}

fn group_error(e: GroupError) -> Stop {
    match e {
        GroupError::TooManyGroups(n) => Stop::Error(SqlError::new(
            1105,
            b"HY000",
            format!(
                "a merge over several shards needs more than {n} groups (merge.max_groups); narrow the query or raise the limit"
            ),
        )),
        GroupError::Unsupported(what) => unsupported(format!("{what} over several shards")),
    }
}

/// Every shard must answer with as many columns as the first.
fn same_columns(first: &Layout, next: &Layout) -> Result<(), Stop> {
    if first.columns.len() != next.columns.len() {
        return Err(unsupported(
            "shards answering with different columns (are the shards' tables alike?)",
        ));
    }
    Ok(())
}

fn layout_of(defs: &[Vec<u8>], hidden: usize, format: RowFormat) -> Result<Layout, Stop> {
    let mut columns = Vec::with_capacity(defs.len());
    for d in defs {
        columns.push(ColumnInfo::parse(d).ok_or_else(|| {
            Stop::Error(SqlError::internal(
                "malformed column definition from a shard",
            ))
        })?);
    }
    if columns.len() < hidden {
        return Err(Stop::Error(SqlError::internal(
            "fewer columns than expected",
        )));
    }
    Ok(Layout {
        columns,
        hidden,
        format,
    })
}

fn parse_row(p: Vec<u8>, layout: &Layout) -> Result<Row, Stop> {
    Row::parse(p, layout.format, &layout.columns)
        .ok_or_else(|| Stop::Error(SqlError::internal("malformed row from a shard")))
}

/// The next row of one shard stream (`None` at its end).
async fn next_row(
    r: &mut Receiver,
    layout: &Layout,
    warnings: &mut u16,
) -> Result<Option<Row>, Stop> {
    match r.recv().await {
        Some(Msg::Row(p)) => parse_row(p, layout).map(Some),
        Some(Msg::Done { warnings: w }) => {
            *warnings = warnings.saturating_add(w);
            Ok(None)
        }
        Some(Msg::Failed(e)) => Err(Stop::Error(e)),
        Some(Msg::Columns(_)) => Err(Stop::Error(SqlError::internal("columns twice"))),
        None => Err(Stop::Error(SqlError::internal("a shard reader stopped"))),
    }
}
