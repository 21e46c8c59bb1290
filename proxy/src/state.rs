//! Session state that lives on a backend connection and must follow the client from one
//! pooled connection to the next: the physical schema, session variables set with `SET`,
//! the multi-statement option and the last insert id.
//!
//! The client session holds the wanted state; each backend connection remembers the state
//! it has applied. [`SessionVars::sync_plan`] computes the fewest commands that bring a
//! connection in line.

use myshard_router::{CHARSET_KEYS, SetItem};

/// State a backend connection must carry for a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionVars {
    /// Physical database, if one is selected.
    pub database: Option<String>,
    /// `SET` items in the order they were applied: (key, SQL after `SET `).
    pub items: Vec<(String, String)>,
    /// Whether multi-statement text is accepted (COM_SET_OPTION).
    pub multi_statements: bool,
}

/// One command that brings a backend connection in line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncStep {
    /// COM_INIT_DB.
    InitDb(String),
    /// COM_QUERY `SET …`.
    Set(String),
    /// COM_SET_OPTION on (true) or off.
    MultiStatements(bool),
}

impl SessionVars {
    /// State of a fresh connection made with character set `names` (e.g.
    /// `NAMES utf8mb4 COLLATE utf8mb4_general_ci`).
    pub fn new(database: Option<String>, names: String, multi_statements: bool) -> Self {
        SessionVars {
            database,
            items: vec![("names".into(), names)],
            multi_statements,
        }
    }

    /// Records items a successful `SET` applied.
    pub fn apply(&mut self, items: &[SetItem]) {
        for it in items {
            if CHARSET_KEYS.contains(&it.key.as_str())
                && (it.key == "names" || it.key == "character set")
            {
                self.items
                    .retain(|(k, _)| !CHARSET_KEYS.contains(&k.as_str()));
            } else {
                self.items.retain(|(k, _)| k != &it.key);
            }
            self.items.push((it.key.clone(), it.sql.clone()));
        }
    }

    /// The client character set the tracked state names (`SET NAMES x`, `SET CHARACTER SET
    /// x`, `SET character_set_client = x`), if it is a plain name.
    pub fn client_charset(&self) -> Option<&str> {
        let (key, sql) = self.items.iter().rev().find(|(k, _)| {
            matches!(
                k.as_str(),
                "names" | "character set" | "character_set_client"
            )
        })?;
        let name = if key == "character_set_client" {
            sql.rsplit('=').next()?.trim()
        } else {
            let rest = sql.trim_start();
            let rest = if key == "names" {
                rest.get(5..)?
            } else {
                rest.get(13..)?
            };
            rest.split_whitespace().next()?
        };
        let name = name.trim_matches(|c| c == '\'' || c == '"' || c == '`');
        (!name.is_empty()
            && !name.eq_ignore_ascii_case("default")
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then_some(name)
    }

    /// Whether autocommit is off by the tracked state.
    pub fn autocommit_off(&self) -> bool {
        self.items.iter().any(|(k, v)| {
            k == "autocommit" && {
                let v = v.rsplit('=').next().unwrap_or("").trim().trim_matches('\'');
                v == "0" || v.eq_ignore_ascii_case("off") || v.eq_ignore_ascii_case("false")
            }
        })
    }

    /// The commands that turn a connection holding `applied` into one holding `self`.
    pub fn sync_plan(&self, applied: &SessionVars) -> Vec<SyncStep> {
        let mut steps = Vec::new();
        if self.database != applied.database
            && let Some(db) = &self.database
        {
            steps.push(SyncStep::InitDb(db.clone()));
        }
        if self.items != applied.items {
            let mut parts: Vec<String> = Vec::new();
            // Variables the connection has but the session never set go back to default.
            for (k, _) in &applied.items {
                if !self.items.iter().any(|(sk, _)| sk == k) {
                    match k.as_str() {
                        // MariaDB's names for the session transaction characteristics.
                        "transaction" => {
                            parts.push("tx_isolation = DEFAULT".into());
                            parts.push("tx_read_only = DEFAULT".into());
                        }
                        "names" | "character set" => {}
                        k if CHARSET_KEYS.contains(&k) => {}
                        k => parts.push(format!("{k} = DEFAULT")),
                    }
                }
            }
            let common = self
                .items
                .iter()
                .zip(&applied.items)
                .take_while(|(a, b)| a == b)
                .count();
            let unchanged_prefix = common == applied.items.len() && parts.is_empty();
            let mut transaction = None;
            // Character set variables override one another, so if any changed they are all
            // replayed in order.
            let charset = |items: &[(String, String)]| {
                items
                    .iter()
                    .filter(|(k, _)| CHARSET_KEYS.contains(&k.as_str()))
                    .cloned()
                    .collect::<Vec<_>>()
            };
            let charset_changed = charset(&self.items) != charset(&applied.items);
            for (i, (k, v)) in self.items.iter().enumerate() {
                if unchanged_prefix && i < common {
                    continue;
                }
                let is_charset = CHARSET_KEYS.contains(&k.as_str());
                if !unchanged_prefix
                    && applied.items.contains(&(k.clone(), v.clone()))
                    && (!is_charset || !charset_changed)
                {
                    continue;
                }
                if k == "transaction" {
                    // `SET SESSION TRANSACTION …` cannot share a SET with other items.
                    transaction = Some(v);
                    continue;
                }
                parts.push(v.clone());
            }
            if !parts.is_empty() {
                steps.push(SyncStep::Set(format!("SET {}", parts.join(", "))));
            }
            if let Some(t) = transaction {
                steps.push(SyncStep::Set(format!("SET {t}")));
            }
        }
        if self.multi_statements != applied.multi_statements {
            steps.push(SyncStep::MultiStatements(self.multi_statements));
        }
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str, sql: &str) -> SetItem {
        SetItem {
            key: key.into(),
            sql: sql.into(),
            needs_resolution: false,
        }
    }

    fn base() -> SessionVars {
        SessionVars::new(Some("shop".into()), "NAMES utf8mb4".into(), true)
    }

    #[test]
    fn identical_state_needs_nothing() {
        assert!(base().sync_plan(&base()).is_empty());
    }

    #[test]
    fn only_new_suffix_is_sent() {
        let applied = base();
        let mut s = base();
        s.apply(&[
            item("autocommit", "autocommit = 0"),
            item("sql_mode", "sql_mode = 'ANSI'"),
        ]);
        assert_eq!(
            s.sync_plan(&applied),
            vec![SyncStep::Set(
                "SET autocommit = 0, sql_mode = 'ANSI'".into()
            )]
        );
        assert!(s.autocommit_off());
    }

    #[test]
    fn extra_backend_vars_reset_to_default_and_schema_and_option() {
        let mut applied = base();
        applied.apply(&[item("time_zone", "time_zone = '+01:00'")]);
        applied.multi_statements = false;
        let mut s = base();
        s.database = Some("crm".into());
        s.apply(&[item("sql_mode", "sql_mode = ''")]);
        assert_eq!(
            s.sync_plan(&applied),
            vec![
                SyncStep::InitDb("crm".into()),
                SyncStep::Set("SET time_zone = DEFAULT, sql_mode = ''".into()),
                SyncStep::MultiStatements(true),
            ]
        );
    }

    #[test]
    fn client_charset_follows_the_last_charset_statement() {
        let mut s = SessionVars::new(
            None,
            "NAMES utf8mb4 COLLATE utf8mb4_general_ci".into(),
            true,
        );
        assert_eq!(s.client_charset(), Some("utf8mb4"));
        s.apply(&[item("names", "NAMES 'latin1'")]);
        assert_eq!(s.client_charset(), Some("latin1"));
        s.apply(&[item(
            "character_set_client",
            "character_set_client = cp1251",
        )]);
        assert_eq!(s.client_charset(), Some("cp1251"));
        s.apply(&[item("names", "NAMES DEFAULT")]);
        assert_eq!(s.client_charset(), None);
    }

    #[test]
    fn names_replaces_charset_variables() {
        let mut s = base();
        s.apply(&[item(
            "character_set_results",
            "character_set_results = NULL",
        )]);
        s.apply(&[item("names", "NAMES latin1")]);
        assert_eq!(
            s.items,
            vec![("names".to_string(), "NAMES latin1".to_string())]
        );
        assert_eq!(
            s.sync_plan(&base()),
            vec![SyncStep::Set("SET NAMES latin1".into())]
        );
    }
}
