//! YAML path → line index, so that errors found after deserialization (validation) can still
//! point at the line the operator has to fix.
//!
//! Built once per file from the parser's event stream. Paths are spelled the way every
//! error spells them: `groups[1].pool.max`. The index never fails: on a syntax error it
//! simply holds what was read before it.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser};

/// Joins a mapping key onto a path: `groups[1]` + `pool` → `groups[1].pool`.
pub(crate) fn key_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Joins a sequence index onto a path: `groups` + 1 → `groups[1]`.
pub(crate) fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// The path one level up, `None` for the root: `groups[1].pool` → `groups[1]` → `groups`.
fn parent_path(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = match path.strip_suffix(']') {
        Some(_) => path.rfind('['),
        None => path.rfind('.'),
    };
    Some(cut.map_or("", |at| &path[..at]))
}

/// Where each path of a YAML document starts: the line of its key for mapping entries, the
/// line of the item for sequence entries.
#[derive(Debug, Default)]
pub(crate) struct LineIndex {
    lines: HashMap<String, usize>,
}

impl LineIndex {
    /// Indexes the first document of `text`.
    pub(crate) fn build(text: &str) -> Self {
        let mut walker = Walker::default();
        for event in Parser::new_from_str(text) {
            let Ok((event, span)) = event else { break };
            let line = span.start.line();
            match event {
                Event::Scalar(value, ..) => walker.node(line, Some(&value), None),
                Event::Alias(_) => walker.node(line, None, None),
                Event::MappingStart(..) => walker.node(line, None, Some(Container::Mapping)),
                Event::SequenceStart(..) => walker.node(line, None, Some(Container::Sequence)),
                Event::MappingEnd | Event::SequenceEnd => walker.end(),
                Event::DocumentEnd => break,
                _ => {}
            }
        }
        LineIndex {
            lines: walker.lines,
        }
    }

    /// Line of `path`, or of its nearest ancestor written in the file (a value left to its
    /// default is reported where its parent is).
    pub(crate) fn line_of(&self, path: &str) -> Option<usize> {
        let mut current = Some(path);
        while let Some(path) = current {
            if let Some(line) = self.lines.get(path) {
                return Some(*line);
            }
            current = parent_path(path);
        }
        None
    }
}

#[derive(Clone, Copy)]
enum Container {
    Mapping,
    Sequence,
}

/// An open mapping or sequence. `path` is `None` inside a complex (non-scalar) key, whose
/// contents have no path of their own.
enum Frame {
    Mapping {
        path: Option<String>,
        key: Option<String>,
    },
    Sequence {
        path: Option<String>,
        next: usize,
    },
}

#[derive(Default)]
struct Walker {
    stack: Vec<Frame>,
    lines: HashMap<String, usize>,
}

impl Walker {
    /// A node starts at `line`: work out its path, record it, and open it if it is a container.
    fn node(&mut self, line: usize, scalar: Option<&str>, container: Option<Container>) {
        let path = match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Sequence { path, next }) => {
                let item = path.as_deref().map(|p| index_path(p, *next));
                *next += 1;
                item
            }
            Some(Frame::Mapping { path, key }) => match key.take() {
                // A value: its path was recorded at its key's line.
                Some(key) => path.as_deref().map(|p| key_path(p, &key)),
                None => {
                    // A key. Remember it for the value that follows; a complex key gets a
                    // placeholder and its own contents are not indexed.
                    let name = scalar.unwrap_or("?").to_owned();
                    if let Some(parent) = path.as_deref() {
                        self.lines.entry(key_path(parent, &name)).or_insert(line);
                    }
                    *key = Some(name);
                    None
                }
            },
        };
        if let Some(path) = &path {
            self.lines.entry(path.clone()).or_insert(line);
        }
        match container {
            Some(Container::Mapping) => self.stack.push(Frame::Mapping { path, key: None }),
            Some(Container::Sequence) => self.stack.push(Frame::Sequence { path, next: 0 }),
            None => {}
        }
    }

    fn end(&mut self) {
        self.stack.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
listen: 127.0.0.1:3307
groups:
  - name: a
    write_hosts: [a:1, b:2]
  - name: b
    write_hosts:
      - c:3
    pool:
      max: 0
? [complex, key]
: value
";

    #[test]
    fn indexes_keys_and_items() {
        let index = LineIndex::build(DOC);
        assert_eq!(index.line_of(""), Some(1));
        assert_eq!(index.line_of("listen"), Some(1));
        assert_eq!(index.line_of("groups"), Some(2));
        assert_eq!(index.line_of("groups[0]"), Some(3));
        assert_eq!(index.line_of("groups[0].write_hosts[1]"), Some(4));
        assert_eq!(index.line_of("groups[1]"), Some(5));
        assert_eq!(index.line_of("groups[1].write_hosts"), Some(6));
        assert_eq!(index.line_of("groups[1].write_hosts[0]"), Some(7));
        assert_eq!(index.line_of("groups[1].pool.max"), Some(9));
        assert_eq!(index.line_of("?"), Some(10));
    }

    #[test]
    fn falls_back_to_the_nearest_written_ancestor() {
        let index = LineIndex::build(DOC);
        assert_eq!(index.line_of("groups[0].pool.min"), Some(3));
        assert_eq!(index.line_of("groups[1].pool.min"), Some(8));
        assert_eq!(index.line_of("schemas[0].name"), Some(1));
    }

    #[test]
    fn parent_paths() {
        assert_eq!(parent_path("groups[1].pool.max"), Some("groups[1].pool"));
        assert_eq!(parent_path("groups[1]"), Some("groups"));
        assert_eq!(parent_path("groups"), Some(""));
        assert_eq!(parent_path(""), None);
    }

    #[test]
    fn survives_syntax_errors() {
        let index = LineIndex::build("listen: x\ngroups: [\n");
        assert_eq!(index.line_of("listen"), Some(1));
    }
}
