//! `sql_select_limit` over several shards. JDBC's `Statement.setMaxRows(n)` (MariaDB
//! Connector/J) sets it for the session instead of writing a LIMIT; the proxy replays it
//! to every backend connection like any session variable, so each shard stops after n rows
//! of its own and a merged answer could hold up to n rows per shard. The merge therefore
//! caps a SELECT without a LIMIT of its own at n rows, as one server does (a statement with
//! a LIMIT ignores the variable, there as here).
//!
//! The shards' own cut is harmless for concatenation (any n rows do) and for ORDER BY
//! (each shard's first n contain the first n of all), but not for GROUP BY or DISTINCT,
//! whose groups would be merged from a shard's first n groups only: those are refused.
//! An `IN (SELECT …)` the proxy evaluates first runs as a statement of its own, which the
//! variable would cut (on one server it never cuts a subquery): it runs without it.

use super::Session;
use crate::error::SqlError;
use myshard_router::merge::plan::MergePlan;
use std::borrow::Cow;

impl Session {
    /// The session's `sql_select_limit`, when set below "no limit".
    fn select_limit(&self) -> Option<u64> {
        let (_, sql) = self
            .vars
            .items
            .iter()
            .rev()
            .find(|(k, _)| k == "sql_select_limit")?;
        // The tracked item is `sql_select_limit = <literal>`; DEFAULT means no limit.
        let value = sql.rsplit('=').next()?.trim();
        value.parse::<u64>().ok().filter(|&n| n < u64::MAX)
    }

    /// The most rows a merged SELECT with `plan` sends: its own LIMIT, else the session's
    /// `sql_select_limit`. An error when the shards' cut by `sql_select_limit` could lose
    /// rows of a group.
    pub(super) fn merge_row_limit(
        &self,
        plan: Option<&MergePlan>,
    ) -> Result<Option<u64>, SqlError> {
        let own = plan.and_then(|p| p.limit);
        let Some(n) = self.select_limit() else {
            return Ok(own);
        };
        if plan.is_some_and(|p| p.grouping.as_ref().is_some_and(|g| !g.keys.is_empty())) {
            return Err(SqlError::not_supported(format!(
                "GROUP BY or DISTINCT over several shards with sql_select_limit = {n} (JDBC setMaxRows); use LIMIT"
            )));
        }
        Ok(own.or(Some(n)))
    }

    /// `sql`, a subquery run as a statement of its own, made to ignore the session's
    /// `sql_select_limit` when one is set.
    pub(super) fn without_select_limit<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        if self.select_limit().is_some() {
            Cow::Owned(format!(
                "SET STATEMENT sql_select_limit = {} FOR {sql}",
                u64::MAX
            ))
        } else {
            Cow::Borrowed(sql)
        }
    }
}
