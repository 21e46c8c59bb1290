//! Configuration errors: each one names the YAML path and line it is about, and the whole
//! list renders as `FILE:LINE: PATH: MESSAGE`, one error per line, like a compiler.
//!
//! This module only formats; finding errors is the job of `load` and `validate`.

use std::fmt;

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Located { file: "", error: self })]
pub struct ConfigError {
    /// YAML path of the offending value, e.g. `groups[1].pool.max`; empty for the whole file.
    pub path: String,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    /// What is wrong, in the operator's vocabulary.
    pub message: String,
}

impl ConfigError {
    /// An error at `path`, located at `line` when known.
    pub fn new(path: impl Into<String>, line: Option<usize>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}

/// Every problem found in one configuration file; never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", List(self))]
pub struct ConfigErrors {
    /// Name of the file (or other source) the errors are about; may be empty.
    pub file: String,
    /// The errors, in document order for semantic errors.
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// Errors found in `file`.
    pub fn new(file: impl Into<String>, errors: Vec<ConfigError>) -> Self {
        ConfigErrors {
            file: file.into(),
            errors,
        }
    }

    /// A single error about `file`.
    pub fn one(file: impl Into<String>, error: ConfigError) -> Self {
        Self::new(file, vec![error])
    }

    /// Iterates over the errors.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.errors.iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

struct List<'a>(&'a ConfigErrors);

impl fmt::Display for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            let located = Located {
                file: &self.0.file,
                error,
            };
            fmt::Display::fmt(&located, f)?;
        }
        Ok(())
    }
}

/// `FILE:LINE: PATH: MESSAGE`, leaving out whatever is unknown.
struct Located<'a> {
    file: &'a str,
    error: &'a ConfigError,
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.file.is_empty(), self.error.line) {
            (false, Some(line)) => write!(f, "{}:{line}: ", Clean(self.file))?,
            (false, None) => write!(f, "{}: ", Clean(self.file))?,
            (true, Some(line)) => write!(f, "line {line}: ")?,
            (true, None) => {}
        }
        if !self.error.path.is_empty() {
            write!(f, "{}: ", Clean(&self.error.path))?;
        }
        write!(f, "{}", Clean(&self.error.message))
    }
}

/// Escapes control characters so that a key or value taken from the file cannot break the
/// one-error-per-line layout or smuggle terminal escapes into logs.
pub(crate) struct Clean<'a>(pub(crate) &'a str);

impl fmt::Display for Clean<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_debug())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_part_that_is_known() {
        let errors = ConfigErrors::new(
            "myshard.yaml",
            vec![
                ConfigError::new("groups[1].pool.max", Some(12), "must be at least 1"),
                ConfigError::new("", Some(3), "syntax"),
                ConfigError::new("listen", None, "bad"),
                ConfigError::new("", None, "cannot read"),
            ],
        );
        assert_eq!(
            errors.to_string(),
            "myshard.yaml:12: groups[1].pool.max: must be at least 1\n\
             myshard.yaml:3: syntax\n\
             myshard.yaml: listen: bad\n\
             myshard.yaml: cannot read"
        );
    }

    #[test]
    fn renders_without_a_file_name() {
        let error = ConfigError::new("users[0].name", Some(4), "must not be empty");
        assert_eq!(
            error.to_string(),
            "line 4: users[0].name: must not be empty"
        );
        let errors = ConfigErrors::one("", ConfigError::new("", None, "oops"));
        assert_eq!(errors.to_string(), "oops");
    }

    #[test]
    fn control_characters_cannot_break_lines() {
        let error = ConfigError::new("users[0]", Some(1), "unknown field `a\nb`");
        assert_eq!(error.to_string(), "line 1: users[0]: unknown field `a\\nb`");
    }
}
