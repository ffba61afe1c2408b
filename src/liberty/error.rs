//! Typed Liberty errors. Every variant displays as `file:line:col: message`.

use crate::util::error::Span;

/// Why a Liberty file could not be read. `span` is where the problem is (file, 1-based line and
/// column).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LibertyError {
    /// The file could not be read.
    #[error("{path}:1:1: cannot read file: {message}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error's message.
        message: String,
    },
    /// The text does not parse.
    #[error("{span}: syntax error: expected {expected}, found {found}")]
    Syntax {
        /// Where parsing stopped.
        span: Span,
        /// What the grammar allowed there.
        expected: String,
        /// The text found there (quoted, at most 24 characters), or "end of file".
        found: String,
    },
    /// The text parses but a statement's content is not what Liberty allows there (a number that
    /// is not one, a table whose size disagrees with its index, an unknown template or unit, …).
    #[error("{span}: {message}")]
    Invalid {
        /// Where the offending statement or value is.
        span: Span,
        /// What is wrong.
        message: String,
    },
}

impl LibertyError {
    /// Where the error points (for `Io`, line 1 column 1 of the file).
    pub fn span(&self) -> Span {
        match self {
            LibertyError::Io { path, .. } => Span::new(path.clone(), 1, 1),
            LibertyError::Syntax { span, .. } | LibertyError::Invalid { span, .. } => span.clone(),
        }
    }
}
