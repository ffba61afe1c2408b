//! Liberty front end: a `.lib` file → typed [`Library`] (units, table templates, cells with area
//! and leakage, pins with capacitances, internal-power and timing tables and their interpolation).
//!
//! [`parse_file`] / [`parse_str`] read a file, parse it ([`parse`], `nom`, into the [`ast`]: every
//! statement, in order) and give it meaning ([`build`], into the [`model`]). Whatever cannot be
//! read is one [`LibertyError`] naming `file:line:col`. Cell functions are not taken from Liberty;
//! the project's own cell models (`netlist::cells`) are the functions.

pub mod ast;
pub mod build;
pub mod error;
pub mod model;
pub mod parse;

use std::path::Path;

pub use error::LibertyError;
pub use model::{Cell, Direction, InternalPower, Library, Pin, Table, Template, Timing, Units, Variable};

use crate::util::error::Span;

/// Read, parse and type a Liberty file.
pub fn parse_file(path: &Path) -> Result<Library, LibertyError> {
    let bytes =
        std::fs::read(path).map_err(|e| LibertyError::Io { path: path.to_path_buf(), message: e.to_string() })?;
    let src = String::from_utf8(bytes)
        .map_err(|e| LibertyError::Io { path: path.to_path_buf(), message: format!("not UTF-8: {e}") })?;
    parse_str(&src, path)
}

/// Same as [`parse_file`], from memory (`file` is used in messages).
pub fn parse_str(src: &str, file: &Path) -> Result<Library, LibertyError> {
    let g = parse_ast(src, file)?;
    build::library(&g, &build::SourceMap { file, src })
}

/// Only the syntax: the file's statement tree (for tools that need what the model does not keep
/// typed, and for round-trip checks).
pub fn parse_ast(src: &str, file: &Path) -> Result<ast::Group, LibertyError> {
    parse::parse_source(src).map_err(|e| syntax_error(e, file))
}

fn syntax_error(e: parse::SyntaxError, file: &Path) -> LibertyError {
    let rest = e.at.fragment();
    let found = if rest.is_empty() {
        "end of file".to_string()
    } else {
        let n = rest
            .char_indices()
            .find(|&(k, c)| c.is_whitespace() || (k > 0 && !(c.is_alphanumeric() || c == '_' || c == '.')))
            .map_or(rest.len(), |(k, _)| k.max(rest.chars().next().map_or(1, char::len_utf8)));
        let tok: String = rest[..n].chars().take(24).collect();
        format!("'{tok}'")
    };
    LibertyError::Syntax {
        span: Span::new(file, e.at.location_line(), e.at.get_utf8_column() as u32),
        expected: e.expected.to_string(),
        found,
    }
}
