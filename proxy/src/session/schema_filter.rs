//! information_schema rows a user may see: like MySQL, which shows only objects the user
//! has privileges on, a user without `admin: true` gets no row whose schema column
//! (`TABLE_SCHEMA`, `SCHEMA_NAME`, `ROUTINE_SCHEMA`, …) names a database outside the
//! user's logical schemas (`mysql`, `sys`, physical databases of other schemas).
//! `information_schema` itself is always visible. The rows are filtered where the compat
//! layer renames them (`compat.rs`); this module says which names pass, and gives the
//! queries no rename concerns a plan so that they are filtered too.

use super::Session;
use myshard_router::compat::{Introspection, information_schema_as_written};
use myshard_router::shard::plan::RouteError;
use std::collections::HashSet;

/// The schema names (as shown to the client, logical) whose rows a user may see.
pub(super) struct SchemaFilter {
    allowed: HashSet<String>,
}

impl SchemaFilter {
    /// Whether a row naming schema `shown` (its logical name) is shown.
    pub(super) fn allows(&self, shown: &[u8]) -> bool {
        // MariaDB matches information_schema's name in any case.
        shown.eq_ignore_ascii_case(b"information_schema")
            || std::str::from_utf8(shown).is_ok_and(|s| self.allowed.contains(s))
    }
}

impl Session {
    /// The row filter for this session's user; `None` for administrators (they see every
    /// database, as the proxy's backend account does).
    pub(super) fn schema_filter(&self) -> Option<SchemaFilter> {
        if self.account.admin {
            return None;
        }
        let allowed = self
            .table
            .topology
            .schemas()
            .map(|(name, _)| name)
            .filter(|name| self.account.may_use(name))
            .map(str::to_string)
            .collect();
        Some(SchemaFilter { allowed })
    }

    /// For a user with a row filter, the plan of an information_schema query the compat
    /// planner left alone: run as written, rows filtered. Several statements in one
    /// COM_QUERY (`multi`) naming information_schema are refused: their rows could not be
    /// told apart from ordinary ones.
    pub(super) fn filtered_information_schema(
        &self,
        sql: &str,
        multi: bool,
    ) -> Option<Introspection> {
        if self.account.admin {
            return None;
        }
        if multi {
            let mentions = myshard_router::compat::mentions_information_schema(sql)
                || self
                    .schema
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case("information_schema"));
            return mentions.then(|| {
                Introspection::Error(RouteError::unsupported(
                    "information_schema in a multi-statement query (send it alone)",
                ))
            });
        }
        information_schema_as_written(sql, &self.table.topology, self.schema.as_deref())
    }
}
