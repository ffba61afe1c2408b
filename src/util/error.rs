//! Shared error vocabulary. Every module has its own typed error; this file holds what they share:
//! the source location of a "bad input" error.
//!
//! Convention (so that every error is said once): a variant's message is complete — it shows the
//! text of any inner error (`{cause}`) — and therefore exposes no `source()`, since `main` prints
//! the whole chain (`{e:#}`) and would repeat it. A variant that only wraps another error is
//! `#[error(transparent)]`. Never name a field `source` (thiserror makes it the source) while the
//! message also shows it.

use std::fmt;
use std::path::PathBuf;

/// Where in an input file something was found: file, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Span {
    /// The input file.
    pub file: PathBuf,
    /// Line, 1-based.
    pub line: u32,
    /// Column in characters, 1-based.
    pub col: u32,
}

impl Span {
    /// The location `file:line:col`.
    pub fn new(file: impl Into<PathBuf>, line: u32, col: u32) -> Self {
        Span { file: file.into(), line, col }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}
