//! `SAVEPOINT`, `ROLLBACK TO [SAVEPOINT]` and `RELEASE SAVEPOINT` inside a transaction that
//! may span groups, in every transaction mode: each is sent to every group the transaction
//! runs on. A group that joins the transaction later first gets every savepoint set so far,
//! right after its `BEGIN` / `XA START`: rolling back to a savepoint set before the group
//! joined then rolls back the group's whole part, which is what the savepoint stands for.

use super::{Closed, Session};
use crate::backend::PooledConn;
use crate::error::SqlError;
use myshard_router::lexer::{Lexer, Token};

/// A savepoint statement.
#[derive(Debug, PartialEq, Eq)]
enum Savepoint {
    Set(String),
    RollbackTo(String),
    Release(String),
}

/// The savepoint statement `sql` is, if it is one.
fn parse(sql: &str) -> Option<Savepoint> {
    let tokens: Vec<Token<'_>> = Lexer::new(sql).collect();
    let mut t: &[Token<'_>] = &tokens;
    if let [rest @ .., Token::Semicolon] = t {
        t = rest;
    }
    let word =
        |tok: &Token<'_>, w: &str| matches!(tok, Token::Word(x) if x.eq_ignore_ascii_case(w));
    let name = |tok: &Token<'_>| match tok {
        Token::Word(w) => Some(w.to_string()),
        Token::QuotedIdent(w) => Some(w.replace("``", "`")),
        _ => None,
    };
    match t {
        [s, n] if word(s, "SAVEPOINT") => name(n).map(Savepoint::Set),
        [r, s, n] if word(r, "RELEASE") && word(s, "SAVEPOINT") => name(n).map(Savepoint::Release),
        [r, rest @ ..] if word(r, "ROLLBACK") => {
            let rest = match rest {
                [w, rest @ ..] if word(w, "WORK") => rest,
                r => r,
            };
            match rest {
                [to, n] if word(to, "TO") => name(n).map(Savepoint::RollbackTo),
                [to, s, n] if word(to, "TO") && word(s, "SAVEPOINT") => {
                    name(n).map(Savepoint::RollbackTo)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// The statement setting savepoint `name`.
fn set_sql(name: &str) -> String {
    format!("SAVEPOINT `{}`", name.replace('`', "``"))
}

impl Session {
    /// Runs a savepoint statement inside an open transaction on every group it runs on;
    /// `None` for any other statement, or outside a transaction (it goes where it goes).
    pub(super) async fn savepoint_statement(
        &mut self,
        sql: &str,
        seq: u8,
    ) -> Option<Result<(), Closed>> {
        let first = sql.trim_start().as_bytes().first()?.to_ascii_uppercase();
        if !matches!(first, b'S' | b'R') || !(self.in_transaction() || self.vars.autocommit_off()) {
            return None;
        }
        let statement = parse(sql)?;
        let text = match &statement {
            Savepoint::Set(n) => set_sql(n),
            Savepoint::RollbackTo(n) => format!("ROLLBACK TO SAVEPOINT `{}`", n.replace('`', "``")),
            Savepoint::Release(n) => format!("RELEASE SAVEPOINT `{}`", n.replace('`', "``")),
        };
        let known = |s: &Session, n: &str| {
            s.tx.savepoints
                .iter()
                .position(|x| x.eq_ignore_ascii_case(n))
        };
        // A savepoint no group has: MySQL's error, without asking a backend.
        if let Savepoint::RollbackTo(n) | Savepoint::Release(n) = &statement
            && known(self, n).is_none()
        {
            let e = SqlError::new(1305, b"42000", format!("SAVEPOINT {n} does not exist"));
            return Some(self.send_err(&e, seq).await);
        }
        let mut failure = None;
        for conn in self.pinned.iter_mut().filter(|c| c.in_transaction) {
            if let Err(e) = conn.execute(&text).await {
                failure = Some(e);
                break;
            }
        }
        if let Some(e) = failure {
            return Some(self.send_err(&e, seq).await);
        }
        match statement {
            Savepoint::Set(n) => {
                if let Some(i) = known(self, &n) {
                    self.tx.savepoints.remove(i);
                }
                self.tx.savepoints.push(n);
            }
            // Later savepoints are gone; this one stays.
            Savepoint::RollbackTo(n) => {
                if let Some(i) = known(self, &n) {
                    self.tx.savepoints.truncate(i + 1);
                }
            }
            Savepoint::Release(n) => {
                if let Some(i) = known(self, &n) {
                    self.tx.savepoints.truncate(i);
                }
            }
        }
        Some(self.send_ok(seq).await)
    }

    /// Sets the transaction's savepoints on a connection that just joined it.
    pub(super) async fn replay_savepoints(&self, conn: &mut PooledConn) -> Result<(), SqlError> {
        for n in &self.tx.savepoints {
            conn.execute(&set_sql(n)).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Savepoint, parse};

    #[test]
    fn savepoint_statements() {
        assert_eq!(parse("SAVEPOINT a"), Some(Savepoint::Set("a".into())));
        assert_eq!(
            parse("savepoint `b``c`;"),
            Some(Savepoint::Set("b`c".into()))
        );
        assert_eq!(
            parse("ROLLBACK TO a"),
            Some(Savepoint::RollbackTo("a".into()))
        );
        assert_eq!(
            parse("rollback work to savepoint a"),
            Some(Savepoint::RollbackTo("a".into()))
        );
        assert_eq!(
            parse("RELEASE SAVEPOINT a"),
            Some(Savepoint::Release("a".into()))
        );
        assert_eq!(parse("ROLLBACK"), None);
        assert_eq!(parse("SAVEPOINT"), None);
        assert_eq!(parse("SELECT 1"), None);
    }
}
