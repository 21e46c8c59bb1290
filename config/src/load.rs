//! Reading a configuration file: YAML text → [`Config`], then validation.
//!
//! serde-saphyr gives the line of a syntax or type error; `serde_path_to_error` gives the
//! YAML path where deserialization stood when it failed. Deserialization stops at its first
//! error; validation then reports every remaining problem at once.

use std::path::Path;

use serde_path_to_error::Segment;
use serde_saphyr::MessageFormatter;

use crate::error::{ConfigError, ConfigErrors};
use crate::lines::{LineIndex, index_path, key_path};
use crate::model::Config;
use crate::validate::validate_with;

/// Reads, parses and validates the configuration file at `path`.
///
/// Errors name the file as given, so that they read like `myshard.yaml:12: ...`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, &file),
        Err(err) => Err(ConfigErrors::one(
            file,
            ConfigError::new("", None, format!("cannot read configuration: {err}")),
        )),
    }
}

/// Parses and validates configuration `text`; `source` names it in error messages (a file
/// name, or something like `<admin reload>`).
pub fn parse(text: &str, source: &str) -> Result<Config, ConfigErrors> {
    let config = deserialize(text).map_err(|error| ConfigErrors::one(source, error))?;
    let index = LineIndex::build(text);
    let errors = validate_with(&config, |path| index.line_of(path));
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors::new(source, errors))
    }
}

/// Deserializes `text`, turning the first syntax, type, missing-field or unknown-key error
/// into a located [`ConfigError`].
fn deserialize(text: &str) -> Result<Config, ConfigError> {
    let mut failed_at: Option<String> = None;
    let result = serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_path_to_error::deserialize(de).map_err(|err| {
            failed_at = Some(yaml_path(err.path()));
            err.into_inner()
        })
    });
    result.map_err(|err| {
        let path = failed_at.unwrap_or_default();
        // serde-saphyr places a missing field at the last key it read, which may be lines
        // away; the start of the mapping that lacks the field is where the operator looks.
        let missing = matches!(
            err.without_snippet(),
            serde_saphyr::Error::SerdeMissingField { .. }
        );
        let parser_line = err
            .location()
            .and_then(|location| usize::try_from(location.line()).ok())
            .filter(|line| *line > 0 && !missing);
        let line = parser_line.or_else(|| LineIndex::build(text).line_of(&path));
        let mut message = serde_saphyr::UserMessageFormatter
            .format_message(err.without_snippet())
            .into_owned();
        if split_precision(&path) {
            message.push_str(
                "; a comma ends a value in a flow mapping `{…}`, so quote types with a scale: \
                 key_type: 'decimal(10,2)'",
            );
        }
        ConfigError::new(path, line, message)
    })
}

/// Whether the error is at a key such as `2)`: what is left of `key_type: decimal(10,2)`
/// written unquoted in a flow mapping, where the comma ends the value.
fn split_precision(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path);
    last.strip_suffix(')').is_some_and(|digits| {
        let digits = digits.trim();
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Spells a serde path the way every other error does. A segment serde could not name
/// (e.g. a duplicate key) ends the path: the message names the key itself.
fn yaml_path(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        out = match segment {
            Segment::Seq { index } => index_path(&out, *index),
            Segment::Map { key } => key_path(&out, key),
            Segment::Enum { variant } => key_path(&out, variant),
            Segment::Unknown => break,
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_names_the_file() {
        let path = Path::new("/nonexistent/myshard.yaml");
        let Err(errors) = load(path) else {
            panic!("a missing file must not load");
        };
        let text = errors.to_string();
        assert!(text.starts_with("/nonexistent/myshard.yaml: cannot read configuration: "));
    }
}
