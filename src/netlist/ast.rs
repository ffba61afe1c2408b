//! What was written: modules, declarations, assignments and instances, each with the source
//! location it came from. Names borrow from the source text; nothing is copied.

/// A cheap source location: byte offset and 1-based line. The column is computed from the source
/// text only when an error is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Loc {
    pub offset: u32,
    pub line: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ident<'a> {
    pub name: &'a str,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SourceText<'a> {
    pub modules: Vec<Module<'a>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Module<'a> {
    pub name: Ident<'a>,
    /// Port names in header order (both header styles).
    pub ports: Vec<Ident<'a>>,
    pub items: Vec<Item<'a>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item<'a> {
    Decl(Decl<'a>),
    LocalParam(LocalParam<'a>),
    Assign(Assign<'a>),
    Instance(Instance<'a>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclKind {
    Input,
    Output,
    Wire,
}

/// `input signed [7:0] A, B;` (also the ANSI form inside a module header).
#[derive(Debug, Clone, PartialEq)]
pub struct Decl<'a> {
    pub kind: DeclKind,
    pub signed: bool,
    pub range: Option<Range<'a>>,
    pub names: Vec<Ident<'a>>,
    pub loc: Loc,
}

/// `[msb:lsb]` with constant expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct Range<'a> {
    pub msb: Expr<'a>,
    pub lsb: Expr<'a>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LocalParam<'a> {
    pub name: Ident<'a>,
    pub value: Expr<'a>,
}

/// One `lhs = rhs` of a continuous assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct Assign<'a> {
    pub lhs: Expr<'a>,
    pub rhs: Expr<'a>,
    pub loc: Loc,
}

/// `CELL name (.PORT(expr), ...);`
#[derive(Debug, Clone, PartialEq)]
pub struct Instance<'a> {
    pub module: Ident<'a>,
    pub name: Ident<'a>,
    pub conns: Vec<PortConn<'a>>,
}

/// `.PORT(expr)`; `expr` is `None` for an explicitly unconnected port `.PORT()`.
#[derive(Debug, Clone, PartialEq)]
pub struct PortConn<'a> {
    pub port: Ident<'a>,
    pub expr: Option<Expr<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `~`
    Not,
    /// `!` (logical not: 1 bit)
    LogNot,
    /// `-` (constant expressions only)
    Neg,
    /// reductions `&x`, `|x`, `^x`
    RedAnd,
    RedOr,
    RedXor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    And,
    Or,
    Xor,
    Xnor,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::And => "&",
            BinaryOp::Or => "|",
            BinaryOp::Xor => "^",
            BinaryOp::Xnor => "~^",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr<'a> {
    pub kind: ExprKind<'a>,
    pub loc: Loc,
    /// Height of the expression tree (a leaf is 1). The parser bounds it, so that recursive
    /// walks (and `Drop`) cannot overflow the stack on hostile input.
    pub height: u32,
}

impl<'a> Expr<'a> {
    pub fn new(kind: ExprKind<'a>, loc: Loc) -> Self {
        let h = |e: &Expr| e.height;
        let sub = match &kind {
            ExprKind::Ident(_) | ExprKind::Number { .. } | ExprKind::BitLit(..) => 0,
            ExprKind::Index(_, i) => h(i),
            ExprKind::Slice(_, a, b) => h(a).max(h(b)),
            ExprKind::Concat(v) => v.iter().map(h).max().unwrap_or(0),
            ExprKind::Repeat(n, v) => v.iter().map(h).max().unwrap_or(0).max(h(n)),
            ExprKind::Unary(_, a) | ExprKind::Signed(a) => h(a),
            ExprKind::Binary(_, a, b) => h(a).max(h(b)),
        };
        Expr { kind, loc, height: sub + 1 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind<'a> {
    Ident(&'a str),
    /// `name[index]`
    Index(&'a str, Box<Expr<'a>>),
    /// `name[7]`: a bit-select by a literal (the common case, kept allocation-free); the `Loc`
    /// is the literal's.
    BitLit(&'a str, i64, Loc),
    /// `name[msb:lsb]`
    Slice(&'a str, Box<Expr<'a>>, Box<Expr<'a>>),
    /// Sized (`4'b1010`, `8'sd3`) or unsized (`15`) number; `width` None when unsized.
    Number {
        width: Option<u32>,
        signed: bool,
        value: u64,
    },
    Concat(Vec<Expr<'a>>),
    /// `{count{parts}}`
    Repeat(Box<Expr<'a>>, Vec<Expr<'a>>),
    Unary(UnaryOp, Box<Expr<'a>>),
    Binary(BinaryOp, Box<Expr<'a>>, Box<Expr<'a>>),
    /// `$signed(x)`
    Signed(Box<Expr<'a>>),
}
