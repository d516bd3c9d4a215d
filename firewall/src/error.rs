//! Errors of the rule language: where (line and column in the rules text) and
//! what was expected there.

use std::fmt;

/// A rule-text error at `line:column` (both 1-based, columns count characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub kind: ErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The usual case: "expected X, found Y".
    Expected { expected: String, found: String },
    /// Valid ipfw that vnetd refuses (nat, divert, fwd, tee, layer2 options, ...).
    Unsupported { what: String, hint: &'static str },
    /// Anything else, said in a sentence (unknown interface, duplicate table, ...).
    Invalid(String),
}

impl ParseError {
    pub fn expected(
        line: usize,
        column: usize,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        ParseError {
            line,
            column,
            kind: ErrorKind::Expected {
                expected: expected.into(),
                found: found.into(),
            },
        }
    }

    pub fn unsupported(
        line: usize,
        column: usize,
        what: impl Into<String>,
        hint: &'static str,
    ) -> Self {
        ParseError {
            line,
            column,
            kind: ErrorKind::Unsupported {
                what: what.into(),
                hint,
            },
        }
    }

    pub fn invalid(line: usize, column: usize, message: impl Into<String>) -> Self {
        ParseError {
            line,
            column,
            kind: ErrorKind::Invalid(message.into()),
        }
    }

    /// Where this error lies in a file whose rules text starts at
    /// (`first_line`, `first_column`): line N of the text is file line
    /// `first_line + N - 1`; only the first line of the text is shifted right
    /// (a TOML `"""` string starts at column 1 of the line after the quotes).
    pub fn file_position(&self, first_line: usize, first_column: usize) -> (usize, usize) {
        let line = first_line + self.line.saturating_sub(1);
        let column = if self.line <= 1 {
            first_column + self.column.saturating_sub(1)
        } else {
            self.column
        };
        (line, column)
    }

    /// The message without the position, e.g. `expected a port, found "x"`.
    pub fn message(&self) -> String {
        match &self.kind {
            ErrorKind::Expected { expected, found } => {
                format!("expected {expected}, found {found}")
            }
            ErrorKind::Unsupported { what, hint } => {
                if hint.is_empty() {
                    format!("{what} is not supported by vnetd")
                } else {
                    format!("{what} is not supported by vnetd ({hint})")
                }
            }
            ErrorKind::Invalid(m) => m.clone(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message())
    }
}

impl std::error::Error for ParseError {}

/// Quotes a token for an error message; `end of line` for none.
pub(crate) fn found(tok: Option<&str>) -> String {
    match tok {
        Some(t) => format!("{t:?}"),
        None => "end of line".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_file_position() {
        let e = ParseError::expected(3, 7, "a port", "\"x\"");
        assert_eq!(e.to_string(), "3:7: expected a port, found \"x\"");
        assert_eq!(e.file_position(10, 5), (12, 7));
        let e1 = ParseError::expected(1, 7, "a port", "\"x\"");
        assert_eq!(e1.file_position(10, 5), (10, 11));
        let u = ParseError::unsupported(1, 5, "action \"nat\"", "no NAT yet");
        assert_eq!(
            u.to_string(),
            "1:5: action \"nat\" is not supported by vnetd (no NAT yet)"
        );
    }
}
