//! What was written: modules, declarations, assignments and instances, each with the source
//! location it came from. Names borrow from the source text; nothing is copied.

/// A cheap source location: byte offset and 1-based line. The column is computed from the source
/// text only when an error is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Loc {
    /// Byte offset from the start of the source text (0-based).
    pub offset: u32,
    /// Line number, 1-based.
    pub line: u32,
}

/// A name as written in the source, with where it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ident<'a> {
    /// The name, borrowed from the source text (simple identifiers only).
    pub name: &'a str,
    /// Where the name starts.
    pub loc: Loc,
}

/// A whole parsed source file: its modules in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceText<'a> {
    /// Every `module ... endmodule` of the file, in order.
    pub modules: Vec<Module<'a>>,
}

/// One `module ... endmodule`: its name, header ports and body items in source order.
#[derive(Debug, Clone, PartialEq)]
pub struct Module<'a> {
    /// The module's name.
    pub name: Ident<'a>,
    /// Port names in header order (both header styles).
    pub ports: Vec<Ident<'a>>,
    /// Declarations, localparams, assignments and instances in source order (ANSI header
    /// declarations first).
    pub items: Vec<Item<'a>>,
}

/// One item of a module body.
#[derive(Debug, Clone, PartialEq)]
pub enum Item<'a> {
    /// An `input`/`output`/`wire` declaration.
    Decl(Decl<'a>),
    /// One constant of a `localparam` statement.
    LocalParam(LocalParam<'a>),
    /// One assignment of an `assign` statement.
    Assign(Assign<'a>),
    /// A cell or module instance.
    Instance(Instance<'a>),
}

/// What a declaration declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclKind {
    /// An `input` port.
    Input,
    /// An `output` port.
    Output,
    /// An internal `wire`.
    Wire,
}

/// `input signed [7:0] A, B;` (also the ANSI form inside a module header).
#[derive(Debug, Clone, PartialEq)]
pub struct Decl<'a> {
    /// Port direction or wire.
    pub kind: DeclKind,
    /// Whether the declaration says `signed`.
    pub signed: bool,
    /// The `[msb:lsb]` range; `None` for a 1-bit scalar.
    pub range: Option<Range<'a>>,
    /// The names declared, in order; they share kind, signedness and range.
    pub names: Vec<Ident<'a>>,
    /// Where the declaration starts (its keyword).
    pub loc: Loc,
}

/// `[msb:lsb]` with constant expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct Range<'a> {
    /// Index of the most significant bit (the left bound).
    pub msb: Expr<'a>,
    /// Index of the least significant bit (the right bound).
    pub lsb: Expr<'a>,
}

/// One `NAME = expr` of a `localparam` statement: a named constant.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalParam<'a> {
    /// The constant's name.
    pub name: Ident<'a>,
    /// Its constant expression, evaluated at elaboration.
    pub value: Expr<'a>,
}

/// One `lhs = rhs` of a continuous assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct Assign<'a> {
    /// The assigned net, bit, part or concatenation.
    pub lhs: Expr<'a>,
    /// The driving expression.
    pub rhs: Expr<'a>,
    /// Where the assignment starts.
    pub loc: Loc,
}

/// `CELL name (.PORT(expr), ...);`
#[derive(Debug, Clone, PartialEq)]
pub struct Instance<'a> {
    /// The instantiated cell or module's name (e.g. `NAND2X1`).
    pub module: Ident<'a>,
    /// The instance's own name.
    pub name: Ident<'a>,
    /// Named port connections in source order.
    pub conns: Vec<PortConn<'a>>,
}

/// `.PORT(expr)`; `expr` is `None` for an explicitly unconnected port `.PORT()`.
#[derive(Debug, Clone, PartialEq)]
pub struct PortConn<'a> {
    /// The cell port's name.
    pub port: Ident<'a>,
    /// The connected expression; `None` for `.PORT()`.
    pub expr: Option<Expr<'a>>,
}

/// Prefix operators of an expression.
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
    /// `|x`: OR of all bits of `x` (1 bit).
    RedOr,
    /// `^x`: XOR of all bits of `x` (1 bit).
    RedXor,
}

/// Infix operators of an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `&`, bitwise.
    And,
    /// `|`, bitwise.
    Or,
    /// `^`, bitwise.
    Xor,
    /// `~^` (or `^~`), bitwise.
    Xnor,
    /// `+`
    Add,
    /// `-` (constant expressions only).
    Sub,
    /// `*`
    Mul,
    /// `/` (constant expressions only).
    Div,
}

impl BinaryOp {
    /// The operator as Verilog writes it (`~^` for XNOR).
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

/// An expression node: what it is, where it starts and its tree height.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr<'a> {
    /// The operator or leaf.
    pub kind: ExprKind<'a>,
    /// Where the expression starts (a binary expression: its left operand).
    pub loc: Loc,
    /// Height of the expression tree (a leaf is 1). The parser bounds it, so that recursive
    /// walks (and `Drop`) cannot overflow the stack on hostile input.
    pub height: u32,
}

impl<'a> Expr<'a> {
    /// A node over `kind` at `loc`, its height one more than its tallest child's.
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

/// The forms of an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind<'a> {
    /// A net, port or localparam name.
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
        /// Bit width of a sized literal (`4` in `4'b1010`).
        width: Option<u32>,
        /// Whether the base has an `s` (`8'sd3`).
        signed: bool,
        /// The value (a sized literal's fits its width).
        value: u64,
    },
    /// `{a, b, ...}`, most significant part first.
    Concat(Vec<Expr<'a>>),
    /// `{count{parts}}`
    Repeat(Box<Expr<'a>>, Vec<Expr<'a>>),
    /// A prefix operator applied to an operand.
    Unary(UnaryOp, Box<Expr<'a>>),
    /// An infix operator applied to two operands.
    Binary(BinaryOp, Box<Expr<'a>>, Box<Expr<'a>>),
    /// `$signed(x)`
    Signed(Box<Expr<'a>>),
}
