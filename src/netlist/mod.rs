//! Netlist front end: EvoApprox Verilog → flat gate-level [`ir::Netlist`].
//!
//! [`parse_file`] / [`parse_str`] read a file, parse it ([`parse`], into the [`ast`]), elaborate
//! and check it ([`build`], using the [`cells`] table) and read the published figures from its
//! header comment ([`header`]). [`graph`] holds the petgraph view and the optimisation passes.

pub mod ast;
pub mod build;
pub mod cells;
pub mod error;
pub mod graph;
pub mod header;
pub mod ir;
pub mod multiplier;
pub mod parse;

use std::path::Path;

pub use error::{NetlistError, Warning};
pub use header::{Figure, Published};
pub use ir::{Netlist, Node, NodeId, Op, Port};

use crate::util::error::Span;

/// A parsed, elaborated and checked netlist with the figures published in its header.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The flat gate-level circuit of the top module.
    pub netlist: ir::Netlist,
    /// Figures from the header comment (all `None` if it has none).
    pub published: Published,
    /// Findings that did not stop elaboration (e.g. an input nothing reads).
    pub warnings: Vec<Warning>,
}

/// Read, parse, elaborate and check a Verilog file.
pub fn parse_file(path: &Path) -> Result<Parsed, NetlistError> {
    let src = read(path)?;
    parse_str(&src, path)
}

/// Same as [`parse_file`], from memory (`file` is used in messages and to pick the top module).
pub fn parse_str(src: &str, file: &Path) -> Result<Parsed, NetlistError> {
    diagnose_str(src, file).map_err(|mut v| v.swap_remove(0))
}

/// [`parse_file`] on many files in parallel (rayon); results in the order of `paths`.
pub fn parse_files(paths: &[std::path::PathBuf]) -> Vec<Result<Parsed, NetlistError>> {
    use rayon::prelude::*;
    paths.par_iter().map(|p| parse_file(p)).collect()
}

/// Like [`parse_file`] but returns every error found (sorted by position), not just the first.
pub fn diagnose_file(path: &Path) -> Result<Parsed, Vec<NetlistError>> {
    let src = read(path).map_err(|e| vec![e])?;
    diagnose_str(&src, path)
}

/// Like [`parse_str`] but returns every error found (sorted by position; never empty on `Err`).
pub fn diagnose_str(src: &str, file: &Path) -> Result<Parsed, Vec<NetlistError>> {
    let st = parse::parse_source(src).map_err(|e| vec![syntax_error(e, file)])?;
    let sm = build::SourceMap { file, src };
    let (netlist, warnings) = build::elaborate(&st, sm)?;
    Ok(Parsed { netlist, published: header::parse_header(src), warnings })
}

fn read(path: &Path) -> Result<String, NetlistError> {
    let bytes =
        std::fs::read(path).map_err(|e| NetlistError::Io { path: path.to_path_buf(), message: e.to_string() })?;
    String::from_utf8(bytes)
        .map_err(|e| NetlistError::Io { path: path.to_path_buf(), message: format!("not UTF-8: {e}") })
}

fn syntax_error(e: parse::SyntaxError, file: &Path) -> NetlistError {
    let rest = e.at.fragment();
    let found = if rest.is_empty() {
        "end of file".to_string()
    } else {
        let n = rest
            .char_indices()
            .find(|&(k, c)| c.is_whitespace() || (k > 0 && !(c.is_alphanumeric() || c == '_')))
            .map_or(rest.len(), |(k, _)| k.max(rest.chars().next().map_or(1, char::len_utf8)));
        let tok: String = rest[..n].chars().take(24).collect();
        format!("'{tok}'")
    };
    NetlistError::Syntax {
        span: Span::new(file, e.at.location_line(), e.at.get_utf8_column() as u32),
        expected: e.expected.to_string(),
        found,
    }
}
