//! `EXPLAIN ROUTE <statement>`: one row per target of the statement — shard, group, host,
//! physical database and the SQL that shard would receive — without running it.

use super::{Closed, Session};
use crate::packet;
use crate::wire::put_lenenc_str;
use myshard_router::shard::plan::Route as ShardPlan;

impl Session {
    pub(super) async fn explain_route(&mut self, statement: &str, seq: u8) -> Result<(), Closed> {
        let rows = match self.plan_statement(statement).await {
            ShardPlan::Error(e) => return self.send_err(&super::shard::route_error(e), seq).await,
            ShardPlan::Passthrough => match self.default_route() {
                Ok(r) => vec![vec![
                    None,
                    Some(r.group.to_string()),
                    Some(r.pool.target().addr.to_string()),
                    r.database.clone(),
                    Some(statement.to_string()),
                ]],
                Err(e) => return self.send_err(&e, seq).await,
            },
            ShardPlan::Shard(r) => {
                let targets = match self.targets(&r, &[]) {
                    Ok(t) => t,
                    Err(e) => return self.send_err(&e, seq).await,
                };
                let mut rows = Vec::with_capacity(targets.len());
                for t in &targets {
                    let host = match self.target_route(&r, t) {
                        Ok(route) => route.pool.target().addr.to_string(),
                        Err(e) => return self.send_err(&e, seq).await,
                    };
                    rows.push(vec![
                        Some(t.shard.to_string()),
                        Some(t.group.clone()),
                        Some(host),
                        Some(t.database.clone()),
                        Some(t.sql.clone()),
                    ]);
                }
                rows
            }
        };
        self.send_text_rows(&["shard", "group", "host", "database", "sql"], &rows, seq)
            .await
    }

    /// A column definition for a value the proxy computes, in the layout this client
    /// negotiated.
    pub(super) fn computed_column(
        &self,
        name: &str,
        charset: u16,
        length: u32,
        column_type: u8,
        flags: u16,
        decimals: u8,
    ) -> Vec<u8> {
        let def = packet::column_def(name, charset, length, column_type, flags, decimals);
        if self.flags.ext_metadata {
            packet::with_empty_ext_metadata(def)
        } else {
            def
        }
    }

    /// Sends a result set the proxy built itself: text columns, the given rows.
    pub(super) async fn send_text_rows(
        &mut self,
        columns: &[&str],
        rows: &[Vec<Option<String>>],
        seq: u8,
    ) -> Result<(), Closed> {
        let eof = packet::eof_payload(self.status(), 0);
        let mut count = Vec::new();
        crate::wire::put_lenenc_int(&mut count, columns.len() as u64);
        let mut seq = packet::frame(&mut self.out, seq, &count);
        for c in columns {
            let def = self.computed_column(c, 45, 4096, 0xFD, 0, 0x27);
            seq = packet::frame(&mut self.out, seq, &def);
        }
        seq = packet::frame(&mut self.out, seq, &eof);
        let mut row = Vec::new();
        for r in rows {
            row.clear();
            for v in r {
                match v {
                    Some(s) => put_lenenc_str(&mut row, s.as_bytes()),
                    None => row.push(0xFB),
                }
            }
            seq = packet::frame(&mut self.out, seq, &row);
        }
        packet::frame(&mut self.out, seq, &eof);
        self.write_out().await
    }
}
