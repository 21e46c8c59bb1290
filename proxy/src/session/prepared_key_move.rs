//! Server-side prepared UPDATEs that change a sharded table's shard key
//! (`UPDATE t SET user_id = ? WHERE id = ?`): the rows move between shards, which no
//! single backend statement can do. At PREPARE the statement is recognised with its
//! placeholders standing for literals, and its metadata (no columns, one parameter per
//! placeholder) comes from a stand-in `DO ?, …` prepared on a shard. Each EXECUTE writes the
//! bound values into the text and runs it as the text statement would (`key_move.rs`); an
//! UPDATE's answer is an OK or error packet, the same in both protocols.

use super::Session;
use myshard_router::prepare::{bind, placeholder_count};

impl Session {
    /// For a statement being prepared whose plan was refused: the stand-in that gives its
    /// metadata when it is a shard-key UPDATE that can move rows; `None` otherwise.
    pub(super) fn key_move_stand_in(&self, text: &str) -> Option<String> {
        let n = self.prepared_key_move(text)?;
        Some(match n {
            0 => "DO 0".to_string(),
            n => format!("DO {}", vec!["?"; n].join(", ")),
        })
    }

    /// Whether prepared statement `sql` is a shard-key UPDATE whose executes run as text.
    pub(super) fn prepared_moves_keys(&self, sql: &[u8]) -> bool {
        self.prepared_key_move(&String::from_utf8_lossy(sql))
            .is_some()
    }

    /// The number of placeholders of `text` if, with literals in their place, it is a
    /// shard-key UPDATE that can move rows.
    fn prepared_key_move(&self, text: &str) -> Option<usize> {
        let n = placeholder_count(text);
        // A number stands for each value: the move's form does not depend on them (a NULL
        // key bound at EXECUTE is refused there).
        let bound = bind(text, &vec!["1".to_string(); n])?;
        matches!(self.key_update_of(&bound), Some(Ok(_))).then_some(n)
    }
}
