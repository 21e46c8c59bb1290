//! Every statement a client sends, made ready for planning and checked against the user's
//! privileges: executable comments resolved as the backends' version runs them (so the
//! router plans what the server executes), then the user's schemas, administrator and
//! read-only settings applied (`myshard_router::privilege`).

use super::Session;
use crate::error::SqlError;
use crate::server::Shared;
use myshard_router::exec_comment;
use myshard_router::privilege::information_schema::restrict;
use myshard_router::privilege::{Grants, check};
use std::borrow::Cow;
use std::sync::atomic::Ordering;

/// The version compared with executable comments when the backends' is not known yet
/// (the MariaDB release myshard is tested with).
const ASSUMED_VERSION: u32 = 101100;

/// `sql` with its executable comments resolved for the backends' version.
pub(super) fn resolve_comments<'a>(
    shared: &Shared,
    sql: &'a str,
) -> Result<Cow<'a, str>, SqlError> {
    if !sql.contains("/*") {
        return Ok(Cow::Borrowed(sql));
    }
    exec_comment::normalize(sql, server_version(shared)).map_err(|e| {
        SqlError::new(
            1064,
            b"42000",
            format!("You have an error in your SQL syntax: {}", e.0),
        )
    })
}

/// The backends' version id, or [`ASSUMED_VERSION`] before one was reached (the announced
/// `server_version` string is not used: it may be configured to anything).
fn server_version(shared: &Shared) -> u32 {
    match shared.backend_version.load(Ordering::Acquire) {
        0 => ASSUMED_VERSION,
        v => v,
    }
}

/// A statement text the user may run.
pub(super) struct Admitted<'a> {
    /// Executable comments resolved, information_schema restricted.
    pub(super) text: Cow<'a, str>,
    /// Whether information_schema tables were restricted to the user's schemas: `text`
    /// must then be what reaches the backend, not the client's bytes.
    pub(super) restricted: bool,
}

impl Session {
    /// `sql` resolved ([`resolve_comments`]) if the user may run it, or the refusal; with
    /// information_schema restricted to the user's schemas
    /// (`myshard_router::privilege::information_schema`).
    pub(super) fn admit_restricted<'a>(&self, sql: &'a str) -> Result<Admitted<'a>, SqlError> {
        let text = resolve_comments(&self.shared, sql)?;
        let user = &*self.account;
        if user.admin && !user.read_only {
            return Ok(Admitted {
                text,
                restricted: false,
            });
        }
        let grants = Grants {
            user: &user.name,
            host: &self.peer_host,
            admin: user.admin,
            read_only: user.read_only,
            schemas: &user.schemas,
            topology: &self.table.topology,
            server_version: server_version(&self.shared),
        };
        check(&text, &grants).map_err(super::shard::route_error)?;
        let in_information_schema = self
            .schema
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("information_schema"));
        match restrict(&text, &grants, in_information_schema) {
            Ok(Some(r)) => Ok(Admitted {
                text: Cow::Owned(r),
                restricted: true,
            }),
            Ok(None) => Ok(Admitted {
                text,
                restricted: false,
            }),
            Err(e) => Err(super::shard::route_error(e)),
        }
    }

    /// Whether the user may force writes onto a shard with a hint.
    pub(super) fn may_hint_writes(&self) -> bool {
        self.account.shard_hint_writes
    }
}
