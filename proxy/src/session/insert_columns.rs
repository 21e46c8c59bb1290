//! INSERT without a column list into a sharded or global table: the table's columns are
//! written into the statement (in the order the home shard's server reports them) before it
//! is planned, so it is routed by its shard key like any INSERT.

use super::Session;
use crate::error::SqlError;
use crate::routing::Intent;
use myshard_config::SchemaTopology;
use myshard_router::shard::columnless::{ColumnlessInsert, columnless_insert};
use std::borrow::Cow;
use std::sync::Arc;

impl Session {
    /// `text` with the column list written in, if it is an INSERT / REPLACE … VALUES
    /// without one into a listed table of a sharded schema; else `text` unchanged.
    pub(super) async fn with_insert_columns<'a>(
        &mut self,
        text: Cow<'a, str>,
    ) -> Result<Cow<'a, str>, SqlError> {
        let Some(ins) = columnless_insert(&text) else {
            return Ok(text);
        };
        let Some(schema) = ins.schema.clone().or_else(|| self.schema.clone()) else {
            return Ok(text);
        };
        let home = match self.table.topology.schema(&schema) {
            Some(SchemaTopology::Sharded(sh)) if sh.table(&ins.table).is_some() => {
                sh.database(sh.home_shard).map(str::to_string)
            }
            _ => None,
        };
        let Some(home) = home else {
            return Ok(text);
        };
        let columns = match self.shared.column_orders.get(&schema, &ins.table) {
            Some(c) => c,
            None => {
                let c = self.learn_columns(&schema, &home, &ins).await?;
                self.shared
                    .column_orders
                    .insert(&schema, &ins.table, c.clone());
                c
            }
        };
        let list: Vec<String> = columns
            .iter()
            .map(|c| format!("`{}`", c.replace('`', "``")))
            .collect();
        Ok(Cow::Owned(format!(
            "{} ({}){}",
            &text[..ins.at],
            list.join(", "),
            &text[ins.at..]
        )))
    }

    /// The columns of `ins.table` in order, as the home shard (database `home`) has them.
    pub(super) async fn learn_columns(
        &mut self,
        schema: &str,
        home: &str,
        ins: &ColumnlessInsert,
    ) -> Result<Arc<[String]>, SqlError> {
        let hex = |s: &str| {
            s.bytes().fold(String::from("0x"), |mut out, b| {
                out.push_str(&format!("{b:02x}"));
                out
            })
        };
        let sql = format!(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {} ORDER BY ORDINAL_POSITION",
            hex(home),
            hex(&ins.table)
        );
        let route = self
            .table
            .target(Some(schema), None, Intent::Write, self.flags)?;
        let mut conn = self.acquire_at(&route).await?;
        let rows = conn.query_rows(&sql).await;
        self.release_failed(conn);
        let columns: Vec<String> = rows?
            .into_iter()
            .filter_map(|mut r| r.pop().flatten())
            .map(|c| String::from_utf8_lossy(&c).into_owned())
            .collect();
        if columns.is_empty() {
            return Err(SqlError::new(
                1146,
                b"42S02",
                format!("Table '{schema}.{}' doesn't exist", ins.table),
            ));
        }
        Ok(columns.into())
    }
}
