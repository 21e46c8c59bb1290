//! A small, allocation-free SQL tokenizer for the decisions that must not wait for (or
//! cannot rely on) a full parse: transaction control, session-state statements, state
//! that pins a backend connection, and multi-statement detection.
//!
//! It understands quoting ('…', "…", `…` with backslash and doubled-quote escapes),
//! comments (`-- `, `#`, `/* */`) and MySQL executable comments (`/*! … */`, `/*M! … */`),
//! whose content is treated as SQL. Client text is first resolved by
//! [`crate::exec_comment::normalize`] (which executable comments the server runs depends on
//! its version), after which none are left and the lexer sees what the server runs.

/// One token of SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    /// A keyword or unquoted identifier, as written.
    Word(&'a str),
    /// A back-quoted identifier, without the quotes (escapes not undone).
    QuotedIdent(&'a str),
    /// A string literal including its quotes.
    Str(&'a str),
    /// A numeric literal.
    Number(&'a str),
    /// `@name` or `@'name'`: a user variable.
    UserVar(&'a str),
    /// `@@name`, `@@session.name`, `@@global.name`: a system variable (text after `@@`).
    SysVar(&'a str),
    /// `;`
    Semicolon,
    /// `?` placeholder.
    Placeholder,
    /// Any other single punctuation character.
    Punct(u8),
}

/// Iterates over the tokens of a statement text.
#[derive(Debug, Clone)]
pub struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    /// Backslash escapes in '…' and "…" (off under sql_mode NO_BACKSLASH_ESCAPES).
    backslash_escapes: bool,
}

impl<'a> Lexer<'a> {
    /// Starts at the beginning of `src`.
    pub fn new(src: &'a str) -> Self {
        Lexer {
            src,
            pos: 0,
            backslash_escapes: true,
        }
    }

    /// Starts at the beginning of `src`, lexing strings as under sql_mode
    /// NO_BACKSLASH_ESCAPES (a backslash is an ordinary character).
    pub fn without_backslash_escapes(src: &'a str) -> Self {
        Lexer {
            src,
            pos: 0,
            backslash_escapes: false,
        }
    }

    /// Byte offset of the next unread character.
    pub fn offset(&self) -> usize {
        self.pos
    }

    fn peek(&self, ahead: usize) -> u8 {
        self.src
            .as_bytes()
            .get(self.pos + ahead)
            .copied()
            .unwrap_or(0)
    }

    /// Skips whitespace and comments; executable comment markers are skipped so that their
    /// content is lexed as code.
    fn skip_trivia(&mut self) {
        let b = self.src.as_bytes();
        while self.pos < b.len() {
            let c = b[self.pos];
            if c.is_ascii_whitespace() {
                self.pos += 1;
            } else if c == b'#'
                || (c == b'-'
                    && self.peek(1) == b'-'
                    && matches!(self.peek(2), b' ' | b'\t' | b'\n' | b'\r' | 0))
            {
                while self.pos < b.len() && b[self.pos] != b'\n' {
                    self.pos += 1;
                }
            } else if c == b'/' && self.peek(1) == b'*' {
                if self.peek(2) == b'!' || (self.peek(2) == b'M' && self.peek(3) == b'!') {
                    self.pos += if self.peek(2) == b'!' { 3 } else { 4 };
                    // A version is 5 or 6 digits; fewer digits are code (as in MariaDB).
                    let digits = b[self.pos..]
                        .iter()
                        .take(6)
                        .take_while(|c| c.is_ascii_digit())
                        .count();
                    if digits >= 5 {
                        self.pos += digits;
                    }
                } else {
                    self.pos += 2;
                    while self.pos < b.len() && !(b[self.pos] == b'*' && self.peek(1) == b'/') {
                        self.pos += 1;
                    }
                    self.pos = (self.pos + 2).min(b.len());
                }
            } else if c == b'*' && self.peek(1) == b'/' {
                // End of an executable comment.
                self.pos += 2;
            } else {
                break;
            }
        }
    }

    fn quoted(&mut self, q: u8) -> &'a str {
        let b = self.src.as_bytes();
        let start = self.pos;
        self.pos += 1;
        while self.pos < b.len() {
            let c = b[self.pos];
            if c == b'\\' && q != b'`' && self.backslash_escapes {
                self.pos += 2;
            } else if c == q {
                if self.peek(1) == q {
                    self.pos += 2;
                } else {
                    self.pos += 1;
                    break;
                }
            } else {
                self.pos += 1;
            }
        }
        self.pos = self.pos.min(b.len());
        while !self.src.is_char_boundary(self.pos) {
            self.pos += 1;
        }
        &self.src[start..self.pos]
    }

    fn word(&mut self) -> &'a str {
        let b = self.src.as_bytes();
        let start = self.pos;
        while self.pos < b.len()
            && (b[self.pos].is_ascii_alphanumeric()
                || matches!(b[self.pos], b'_' | b'$')
                || b[self.pos] >= 0x80)
        {
            self.pos += 1;
        }
        &self.src[start..self.pos]
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        self.skip_trivia();
        let b = self.src.as_bytes();
        let c = *b.get(self.pos)?;
        Some(match c {
            b'\'' | b'"' => Token::Str(self.quoted(c)),
            b'`' => {
                let q = self.quoted(c);
                Token::QuotedIdent(q.get(1..q.len().saturating_sub(1)).unwrap_or(""))
            }
            b'@' if self.peek(1) == b'@' => {
                self.pos += 2;
                let start = self.pos;
                while self.pos < b.len()
                    && (b[self.pos].is_ascii_alphanumeric()
                        || matches!(b[self.pos], b'_' | b'.' | b'$'))
                {
                    self.pos += 1;
                }
                Token::SysVar(&self.src[start..self.pos])
            }
            b'@' => {
                self.pos += 1;
                match self.peek(0) {
                    q @ (b'\'' | b'"' | b'`') => Token::UserVar(self.quoted(q)),
                    _ => Token::UserVar(self.word()),
                }
            }
            b'0'..=b'9' => {
                let start = self.pos;
                while self.pos < b.len()
                    && (b[self.pos].is_ascii_alphanumeric() || b[self.pos] == b'.')
                {
                    self.pos += 1;
                }
                Token::Number(&self.src[start..self.pos])
            }
            b';' => {
                self.pos += 1;
                Token::Semicolon
            }
            b'?' => {
                self.pos += 1;
                Token::Placeholder
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => Token::Word(self.word()),
            c => {
                self.pos += 1;
                Token::Punct(c)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Token::*;

    fn toks(s: &str) -> Vec<Token<'_>> {
        Lexer::new(s).collect()
    }

    #[test]
    fn quoting_and_comments() {
        assert_eq!(
            toks("SELECT 'a;''b', \"c\\\"d\" -- x;\n FROM `t``1` # y\n;"),
            vec![
                Word("SELECT"),
                Str("'a;''b'"),
                Punct(b','),
                Str("\"c\\\"d\""),
                Word("FROM"),
                QuotedIdent("t``1"),
                Semicolon
            ]
        );
        assert_eq!(
            toks("/* SET @x */ SELECT 1"),
            vec![Word("SELECT"), Number("1")]
        );
    }

    #[test]
    fn executable_comment_content_is_code() {
        assert_eq!(
            toks("/*!40101 SET NAMES utf8 */;"),
            vec![Word("SET"), Word("NAMES"), Word("utf8"), Semicolon]
        );
        assert_eq!(
            toks("SELECT /*M!1004 x */"),
            vec![Word("SELECT"), Number("1004"), Word("x")]
        );
    }

    #[test]
    fn variables() {
        assert_eq!(
            toks("SET @a := @@session.sql_mode, @'b c'=1"),
            vec![
                Word("SET"),
                UserVar("a"),
                Punct(b':'),
                Punct(b'='),
                SysVar("session.sql_mode"),
                Punct(b','),
                UserVar("'b c'"),
                Punct(b'='),
                Number("1")
            ]
        );
    }

    #[test]
    fn unterminated_input_does_not_panic() {
        for s in [
            "'abc",
            "`x",
            "/* x",
            "@",
            "@@",
            "'\\",
            "/*!",
            "\u{e9}'",
            "'\\\u{e9}",
        ] {
            let _ = toks(s);
        }
    }
}
