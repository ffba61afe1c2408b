//! Typed netlist errors. Every variant that points into a file displays as
//! `file:line:col: message`, so editors and humans can jump to it.

use crate::util::error::Span;

/// Why a netlist could not be read, parsed or elaborated. `span` is always where the problem is
/// (file, 1-based line and column).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NetlistError {
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
    /// An instance names neither a library cell nor a module of the file.
    #[error("{span}: unknown cell or module '{name}'")]
    UnknownCell {
        /// Where the instance names its cell.
        span: Span,
        /// The unknown cell or module name.
        name: String,
    },
    /// An instance connects a port its cell does not have.
    #[error("{span}: '{cell}' has no port '{port}' (ports: {ports})")]
    UnknownPort {
        /// Where the connection is.
        span: Span,
        /// The instantiated cell.
        cell: String,
        /// The port named in the connection.
        port: String,
        /// The cell's ports, comma-separated.
        ports: String,
    },
    /// An instance connects the same port twice.
    #[error("{span}: port '{port}' of instance '{instance}' is connected twice")]
    DuplicateConnection {
        /// Where the second connection is.
        span: Span,
        /// The instance's name.
        instance: String,
        /// The port connected twice.
        port: String,
    },
    /// An instance leaves an input port of its cell unconnected.
    #[error("{span}: input port '{port}' of instance '{instance}' ({cell}) is not connected")]
    UnconnectedInput {
        /// Where the instance is.
        span: Span,
        /// The instance's name.
        instance: String,
        /// The instantiated cell.
        cell: String,
        /// The unconnected input port.
        port: String,
    },
    /// A name is used without a declaration.
    #[error("{span}: '{name}' is not declared")]
    UndeclaredNet {
        /// Where the name is used.
        span: Span,
        /// The undeclared name.
        name: String,
    },
    /// A name is declared twice in one module.
    #[error("{span}: '{name}' is declared twice")]
    DuplicateDeclaration {
        /// Where the second declaration is.
        span: Span,
        /// The name declared twice.
        name: String,
    },
    /// Two modules of the file have the same name.
    #[error("{span}: module '{name}' is defined twice")]
    DuplicateModule {
        /// Where the second definition is.
        span: Span,
        /// The module name.
        name: String,
    },
    /// A net is read but nothing drives it.
    #[error("{span}: net {net} is read but never driven")]
    UndrivenNet {
        /// Where the net is read.
        span: Span,
        /// The net (with its bit index if part of a vector).
        net: String,
    },
    /// A net has two drivers.
    #[error("{span}: net {net} is driven twice (first driver at {first})")]
    MultiplyDriven {
        /// Where the second driver is.
        span: Span,
        /// The net (with its bit index if part of a vector).
        net: String,
        /// Where the first driver is.
        first: Span,
    },
    /// Nets that drive each other without a register in between.
    #[error("{span}: combinational loop through {}", nets.join(" -> "))]
    CombinationalLoop {
        /// Where the net closing the loop is driven.
        span: Span,
        /// The nets around the loop, in driving order, the first repeated at the end.
        nets: Vec<String>,
    },
    /// An expression's width differs from what it connects to.
    #[error("{span}: width mismatch: {what} is {expected} bits wide, the expression is {found}")]
    WidthMismatch {
        /// Where the expression is.
        span: Span,
        /// What the expression connects to (a port, a net).
        what: String,
        /// That target's width in bits.
        expected: usize,
        /// The expression's width in bits.
        found: usize,
    },
    /// An output port has no driver.
    #[error("{span}: output '{port}' is never assigned")]
    OutputNeverAssigned {
        /// Where the output is declared.
        span: Span,
        /// The output port.
        port: String,
    },
    /// A bit- or part-select outside the declared range.
    #[error("{span}: index {index} is outside {name}[{msb}:{lsb}]")]
    IndexOutOfRange {
        /// Where the index is.
        span: Span,
        /// The indexed vector.
        name: String,
        /// The offending index.
        index: i64,
        /// The vector's declared left bound.
        msb: i64,
        /// The vector's declared right bound.
        lsb: i64,
    },
    /// The target of an assignment or output connection is not a net the module may drive.
    #[error("{span}: {what} cannot be assigned to")]
    NotAssignable {
        /// Where the target is.
        span: Span,
        /// What the target is (e.g. "localparam 'W'", "input port 'a'").
        what: String,
    },
    /// A range, index, replication count or localparam value that is not a constant.
    #[error("{span}: not a constant expression: {what}")]
    NotConstant {
        /// Where the expression is.
        span: Span,
        /// Why it is not constant (e.g. "'x' is not a localparam", "overflow").
        what: String,
    },
    /// Valid Verilog outside the supported subset.
    #[error("{span}: unsupported: {what}")]
    Unsupported {
        /// Where the construct is.
        span: Span,
        /// The construct.
        what: String,
    },
    /// A module hierarchy problem: no or several top modules, recursive instantiation, a port
    /// without a direction.
    #[error("{span}: {message}")]
    Hierarchy {
        /// Where the problem is.
        span: Span,
        /// What the problem is.
        message: String,
    },
}

impl NetlistError {
    /// Where the error points (for `Io`, line 1 column 1 of the file).
    pub fn span(&self) -> Span {
        use NetlistError::*;
        match self {
            Io { path, .. } => Span::new(path.clone(), 1, 1),
            Syntax { span, .. }
            | UnknownCell { span, .. }
            | UnknownPort { span, .. }
            | DuplicateConnection { span, .. }
            | UnconnectedInput { span, .. }
            | UndeclaredNet { span, .. }
            | DuplicateDeclaration { span, .. }
            | DuplicateModule { span, .. }
            | UndrivenNet { span, .. }
            | MultiplyDriven { span, .. }
            | CombinationalLoop { span, .. }
            | WidthMismatch { span, .. }
            | OutputNeverAssigned { span, .. }
            | IndexOutOfRange { span, .. }
            | NotAssignable { span, .. }
            | NotConstant { span, .. }
            | Unsupported { span, .. }
            | Hierarchy { span, .. } => span.clone(),
        }
    }
}

/// A finding that does not stop elaboration (e.g. an input that nothing reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where the finding is.
    pub span: Span,
    /// What was found.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: warning: {}", self.span, self.message)
    }
}
