//! Where something is in a file, and errors that say so.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A position in a file: 1-based line and column (columns count characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One problem in the configuration, where it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedError {
    pub location: Option<Location>,
    pub message: String,
}

impl LocatedError {
    pub fn new(location: Option<Location>, message: impl Into<String>) -> Self {
        LocatedError {
            location,
            message: message.into(),
        }
    }
}

impl fmt::Display for LocatedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(location) => write!(f, "{location}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for LocatedError {}

/// Every problem found in a configuration; never empty when returned by `load`.
/// Displays one error per line, ordered by file and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub errors: Vec<LocatedError>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// Sorts `errors` (see `sort_errors`); `config_file` comes before other files.
    pub(crate) fn from_errors(mut errors: Vec<LocatedError>, config_file: &Path) -> Self {
        sort_errors(&mut errors, config_file);
        ConfigError { errors }
    }
}

/// Orders errors by file (the config file first, then the others in order of first
/// appearance), then by position; errors without a location go first.
fn sort_errors(errors: &mut [LocatedError], config_file: &Path) {
    let mut files: Vec<&Path> = vec![config_file];
    let mut keys: Vec<(usize, usize, usize)> = Vec::with_capacity(errors.len());
    for e in errors.iter() {
        keys.push(match &e.location {
            None => (0, 0, 0),
            Some(l) => {
                let file = match files.iter().position(|f| *f == l.file) {
                    Some(i) => i,
                    None => {
                        files.push(&l.file);
                        files.len() - 1
                    }
                };
                (file + 1, l.line, l.column)
            }
        });
    }
    let mut order: Vec<usize> = (0..errors.len()).collect();
    order.sort_by_key(|&i| keys[i]); // stable: equal positions keep their order
    let sorted: Vec<LocatedError> = order.iter().map(|&i| errors[i].clone()).collect();
    errors.clone_from_slice(&sorted);
}

/// Maps byte offsets in a text to lines and columns.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset of the start of each line.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { text, starts }
    }

    /// 1-based (line, column) of a byte offset; offsets past the end map to the end.
    pub(crate) fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let column = char_column(&self.text.as_bytes()[start..offset]);
        (line + 1, column)
    }
}

/// 1-based column just after `before` (the bytes of the line before the position),
/// counting characters, not bytes.
pub(crate) fn char_column(before: &[u8]) -> usize {
    // Continuation bytes (0b10xx_xxxx) do not start a character.
    before.iter().filter(|&&b| (b & 0xc0) != 0x80).count() + 1
}

/// The file being checked, turning spans into locations and collecting errors.
pub(crate) struct Source<'a> {
    pub(crate) path: &'a Path,
    index: LineIndex<'a>,
}

impl<'a> Source<'a> {
    pub(crate) fn new(path: &'a Path, text: &'a str) -> Self {
        Source {
            path,
            index: LineIndex::new(text),
        }
    }

    pub(crate) fn location(&self, span: &Range<usize>) -> Location {
        let (line, column) = self.index.line_column(span.start);
        Location {
            file: self.path.to_path_buf(),
            line,
            column,
        }
    }

    pub(crate) fn text(&self) -> &'a str {
        self.index.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let idx = LineIndex::new("ab\ncdé\nx = 1\n");
        assert_eq!(idx.line_column(0), (1, 1));
        assert_eq!(idx.line_column(1), (1, 2));
        assert_eq!(idx.line_column(2), (1, 3));
        assert_eq!(idx.line_column(3), (2, 1));
        // 'é' is two bytes; the newline after it is column 4.
        assert_eq!(idx.line_column(7), (2, 4));
        assert_eq!(idx.line_column(8), (3, 1));
        assert_eq!(idx.line_column(1000), (4, 1));
    }

    #[test]
    fn display_and_order() {
        let at = |file: &str, line, column| {
            Some(Location {
                file: file.into(),
                line,
                column,
            })
        };
        let errors = vec![
            LocatedError::new(at("b.routes", 1, 1), "third"),
            LocatedError::new(at("a.toml", 9, 2), "second"),
            LocatedError::new(at("a.toml", 3, 7), "first"),
            LocatedError::new(at("c.routes", 1, 1), "fourth"),
            LocatedError::new(None, "zeroth"),
        ];
        let e = ConfigError::from_errors(errors, Path::new("a.toml"));
        assert_eq!(
            e.to_string(),
            "zeroth\na.toml:3:7: first\na.toml:9:2: second\nb.routes:1:1: third\nc.routes:1:1: fourth"
        );
    }
}
