//! Typed netlist errors. Every variant that points into a file displays as
//! `file:line:col: message`, so editors and humans can jump to it.

use crate::util::error::Span;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NetlistError {
    #[error("{path}:1:1: cannot read file: {message}")]
    Io { path: std::path::PathBuf, message: String },
    #[error("{span}: syntax error: expected {expected}, found {found}")]
    Syntax { span: Span, expected: String, found: String },
    #[error("{span}: unknown cell or module '{name}'")]
    UnknownCell { span: Span, name: String },
    #[error("{span}: '{cell}' has no port '{port}' (ports: {ports})")]
    UnknownPort { span: Span, cell: String, port: String, ports: String },
    #[error("{span}: port '{port}' of instance '{instance}' is connected twice")]
    DuplicateConnection { span: Span, instance: String, port: String },
    #[error("{span}: input port '{port}' of instance '{instance}' ({cell}) is not connected")]
    UnconnectedInput { span: Span, instance: String, cell: String, port: String },
    #[error("{span}: '{name}' is not declared")]
    UndeclaredNet { span: Span, name: String },
    #[error("{span}: '{name}' is declared twice")]
    DuplicateDeclaration { span: Span, name: String },
    #[error("{span}: module '{name}' is defined twice")]
    DuplicateModule { span: Span, name: String },
    #[error("{span}: net {net} is read but never driven")]
    UndrivenNet { span: Span, net: String },
    #[error("{span}: net {net} is driven twice (first driver at {first})")]
    MultiplyDriven { span: Span, net: String, first: Span },
    #[error("{span}: combinational loop through {}", nets.join(" -> "))]
    CombinationalLoop { span: Span, nets: Vec<String> },
    #[error("{span}: width mismatch: {what} is {expected} bits wide, the expression is {found}")]
    WidthMismatch { span: Span, what: String, expected: usize, found: usize },
    #[error("{span}: output '{port}' is never assigned")]
    OutputNeverAssigned { span: Span, port: String },
    #[error("{span}: index {index} is outside {name}[{msb}:{lsb}]")]
    IndexOutOfRange { span: Span, name: String, index: i64, msb: i64, lsb: i64 },
    #[error("{span}: {what} cannot be assigned to")]
    NotAssignable { span: Span, what: String },
    #[error("{span}: not a constant expression: {what}")]
    NotConstant { span: Span, what: String },
    #[error("{span}: unsupported: {what}")]
    Unsupported { span: Span, what: String },
    #[error("{span}: {message}")]
    Hierarchy { span: Span, message: String },
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
    pub span: Span,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: warning: {}", self.span, self.message)
    }
}
