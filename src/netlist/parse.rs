//! The Verilog subset of the EvoApprox netlists, as `nom` functions named after the productions of
//! IEEE 1364-2001 Annex A (`module_declaration`, `net_declaration`, `continuous_assign`,
//! `module_instantiation`, `named_port_connection`, `expression`, `primary`, ...).
//!
//! Every rule skips leading whitespace and comments itself (via [`ws`]). The grammar is LL(1) at
//! the item level (a keyword or an identifier decides), so the rules fail with `Failure` as soon
//! as something unexpected is seen, and the error keeps the exact position and what was expected.

use nom::{IResult, InputTake};
use nom_locate::LocatedSpan;

use super::ast::*;

/// Parser input: the source text with its byte offset and line.
pub type In<'a> = LocatedSpan<&'a str>;
/// A parser's result: the remaining input and a `T`, or a [`SyntaxError`].
pub type PResult<'a, T> = IResult<In<'a>, T, SyntaxError<'a>>;

/// Expressions nested deeper than this are refused (stack safety on hostile input).
pub const MAX_EXPR_HEIGHT: u32 = 256;

/// A syntax error: where, and what the parser expected there.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError<'a> {
    /// The input where the error was found.
    pub at: In<'a>,
    /// What the parser expected there (e.g. "identifier").
    pub expected: &'static str,
}

impl<'a> nom::error::ParseError<In<'a>> for SyntaxError<'a> {
    fn from_error_kind(input: In<'a>, _kind: nom::error::ErrorKind) -> Self {
        SyntaxError { at: input, expected: "valid syntax" }
    }
    fn append(_input: In<'a>, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
    /// Of two failed alternatives, report the one that got further.
    fn or(self, other: Self) -> Self {
        if other.at.location_offset() >= self.at.location_offset() {
            other
        } else {
            self
        }
    }
}

fn fail<'a, T>(at: In<'a>, expected: &'static str) -> PResult<'a, T> {
    Err(nom::Err::Failure(SyntaxError { at, expected }))
}

#[inline]
fn loc(i: &In) -> Loc {
    Loc { offset: i.location_offset() as u32, line: i.location_line() }
}

#[inline]
fn peek_byte(i: &In) -> Option<u8> {
    i.fragment().as_bytes().first().copied()
}

// ---------------------------------------------------------------------------------------------
// Vocabulary: whitespace, symbols, keywords, identifiers, numbers.

/// Skip white space, `//` and `/* */` comments and compiler directives (`` `timescale ``...,
/// which do not affect a combinational netlist; skipped to the end of the line).
#[inline(always)]
pub fn ws(i: In) -> PResult<()> {
    // Fast path: most calls start right at a token.
    match i.fragment().as_bytes().first() {
        Some(c) if !c.is_ascii_whitespace() && *c != b'/' && *c != b'`' => Ok((i, ())),
        None => Ok((i, ())),
        _ => ws_slow(i),
    }
}

#[inline(never)]
fn ws_slow(i: In) -> PResult<()> {
    let b = i.fragment().as_bytes();
    let mut k = 0;
    loop {
        while k < b.len() && b[k].is_ascii_whitespace() {
            k += 1;
        }
        let rest = &b[k..];
        if rest.starts_with(b"//") || rest.first() == Some(&b'`') {
            k = memchr::memchr(b'\n', rest).map_or(b.len(), |p| k + p);
        } else if rest.starts_with(b"/*") {
            match memchr::memmem::find(&rest[2..], b"*/") {
                Some(p) => k += p + 4,
                None => return fail(i.take_split(k).0, "'*/' closing the comment"),
            }
        } else {
            break;
        }
    }
    Ok((i.take_split(k).0, ()))
}

/// A punctuation symbol such as `;` or `(` (after white space).
fn symbol<'a>(s: &'static str, expected: &'static str) -> impl Fn(In<'a>) -> PResult<'a, Loc> {
    move |i| {
        let (i, _) = ws(i)?;
        if i.fragment().starts_with(s) {
            let l = loc(&i);
            Ok((i.take_split(s.len()).0, l))
        } else {
            fail(i, expected)
        }
    }
}

/// Try a symbol; `None` (and the input unchanged) when it is not next.
#[inline]
fn opt_symbol<'a>(i: In<'a>, s: &str) -> PResult<'a, Option<Loc>> {
    let (j, _) = ws(i)?;
    if j.fragment().starts_with(s) {
        let l = loc(&j);
        Ok((j.take_split(s.len()).0, Some(l)))
    } else {
        Ok((i, None))
    }
}

#[inline]
fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}
#[inline]
fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// Length of the identifier (or keyword) at the start of `i`, 0 if none.
#[inline]
fn ident_len(i: &In) -> usize {
    let b = i.fragment().as_bytes();
    if b.is_empty() || !is_ident_start(b[0]) {
        return 0;
    }
    1 + b[1..].iter().take_while(|&&c| is_ident_char(c)).count()
}

/// The word (identifier or keyword) that comes next, without consuming it.
#[inline]
fn peek_word<'a>(i: In<'a>) -> PResult<'a, &'a str> {
    let (j, _) = ws(i)?;
    let n = ident_len(&j);
    Ok((j, &j.fragment()[..n]))
}

const KEYWORDS: &[&str] = &[
    "module",
    "endmodule",
    "input",
    "output",
    "inout",
    "wire",
    "assign",
    "localparam",
    "parameter",
    "signed",
    "reg",
    "always",
    "initial",
    "generate",
    "endgenerate",
    "begin",
    "end",
    "function",
    "endfunction",
    "task",
    "integer",
    "genvar",
    "supply0",
    "supply1",
    "tri",
    "defparam",
];

/// Keywords are short and lower case; most identifiers are rejected by the first test.
#[inline]
fn is_keyword(w: &str) -> bool {
    w.len() <= 11 && w.as_bytes()[0].is_ascii_lowercase() && KEYWORDS.contains(&w)
}

/// `identifier` (simple identifiers only; keywords are refused).
pub fn identifier(i: In) -> PResult<Ident> {
    let (i, _) = ws(i)?;
    let n = ident_len(&i);
    if n == 0 || is_keyword(&i.fragment()[..n]) {
        return fail(i, "identifier");
    }
    let l = loc(&i);
    let (rest, word) = i.take_split(n);
    Ok((rest, Ident { name: word.fragment(), loc: l }))
}

/// A keyword that is not the prefix of a longer identifier.
fn keyword<'a>(k: &'static str, expected: &'static str) -> impl Fn(In<'a>) -> PResult<'a, Loc> {
    move |i| {
        let (i, _) = ws(i)?;
        let n = ident_len(&i);
        if &i.fragment()[..n] == k {
            let l = loc(&i);
            Ok((i.take_split(n).0, l))
        } else {
            fail(i, expected)
        }
    }
}

fn digits_value<'a>(at: In<'a>, digits: &str, radix: u32) -> Result<u64, nom::Err<SyntaxError<'a>>> {
    let mut v: u64 = 0;
    let mut any = false;
    for c in digits.chars() {
        if c == '_' {
            continue;
        }
        let Some(d) = c.to_digit(radix) else {
            return Err(nom::Err::Failure(SyntaxError {
                at,
                expected: "binary, octal, decimal or hex digits (x and z are not supported)",
            }));
        };
        any = true;
        v = v
            .checked_mul(radix as u64)
            .and_then(|v| v.checked_add(d as u64))
            .ok_or(nom::Err::Failure(SyntaxError { at, expected: "a number below 2^64" }))?;
    }
    if !any {
        return Err(nom::Err::Failure(SyntaxError { at, expected: "digits" }));
    }
    Ok(v)
}

/// `number`: `15`, `1'b0`, `8'hFF`, `4'sd3`, `'b1`.
pub fn number(i: In) -> PResult<Expr> {
    let (i, _) = ws(i)?;
    let l = loc(&i);
    let b = i.fragment().as_bytes();
    let nd = b.iter().take_while(|c| c.is_ascii_digit() || **c == b'_').count();
    let (mut j, size_txt) = i.take_split(nd);
    let sized = nd > 0;
    let (k, _) = ws(j)?;
    if peek_byte(&k) != Some(b'\'') {
        if !sized {
            return fail(i, "number");
        }
        let v = digits_value(i, size_txt.fragment(), 10)?;
        return Ok((j, Expr::new(ExprKind::Number { width: None, signed: true, value: v }, l)));
    }
    j = k.take_split(1).0;
    let mut signed = false;
    if matches!(peek_byte(&j), Some(b's' | b'S')) {
        signed = true;
        j = j.take_split(1).0;
    }
    let radix = match peek_byte(&j) {
        Some(b'b' | b'B') => 2,
        Some(b'o' | b'O') => 8,
        Some(b'd' | b'D') => 10,
        Some(b'h' | b'H') => 16,
        _ => return fail(j, "base letter b, o, d or h"),
    };
    let (j, _) = ws(j.take_split(1).0)?;
    let n = j.fragment().bytes().take_while(|c| c.is_ascii_alphanumeric() || *c == b'_').count();
    let (rest, dig) = j.take_split(n);
    let value = digits_value(j, dig.fragment(), radix)?;
    let width = if sized {
        let w = digits_value(i, size_txt.fragment(), 10)?;
        if w == 0 || w > 64 {
            return fail(i, "a number width from 1 to 64");
        }
        if w < 64 && value >> w != 0 {
            return fail(j, "a value that fits the number's width");
        }
        Some(w as u32)
    } else {
        None
    };
    Ok((rest, Expr::new(ExprKind::Number { width, signed, value }, l)))
}

// ---------------------------------------------------------------------------------------------
// Expressions (precedence climbing; Verilog precedence: unary > * / > + - > & > ^ ~^ > |).

fn binary_operator(i: In) -> PResult<Option<(BinaryOp, u8)>> {
    let (j, _) = ws(i)?;
    let f = j.fragment().as_bytes();
    let (op, len) = match f {
        [b'|', b'|', ..] | [b'&', b'&', ..] => return fail(j, "a bitwise operator ('&&' and '||' are not supported)"),
        [b'~', b'^', ..] | [b'^', b'~', ..] => (BinaryOp::Xnor, 2),
        [b'|', ..] => (BinaryOp::Or, 1),
        [b'^', ..] => (BinaryOp::Xor, 1),
        [b'&', ..] => (BinaryOp::And, 1),
        [b'+', ..] => (BinaryOp::Add, 1),
        [b'-', ..] => (BinaryOp::Sub, 1),
        [b'*', ..] => (BinaryOp::Mul, 1),
        [b'/', ..] => (BinaryOp::Div, 1),
        _ => return Ok((i, None)),
    };
    Ok((j, Some((op, len as u8))))
}

fn precedence(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 1,
        BinaryOp::Xor | BinaryOp::Xnor => 2,
        BinaryOp::And => 3,
        BinaryOp::Add | BinaryOp::Sub => 4,
        BinaryOp::Mul | BinaryOp::Div => 5,
    }
}

fn check_height<'a>(at: In<'a>, e: &Expr) -> Result<(), nom::Err<SyntaxError<'a>>> {
    if e.height > MAX_EXPR_HEIGHT {
        Err(nom::Err::Failure(SyntaxError { at, expected: "a less deeply nested expression" }))
    } else {
        Ok(())
    }
}

thread_local! {
    static NESTING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Counts nesting of recursive rules while alive; refuses to go deeper than the bound, so that
/// `((((...` or `~~~~...` cannot overflow the stack before any node is built.
struct NestingGuard;

impl NestingGuard {
    fn enter(at: In) -> Result<NestingGuard, nom::Err<SyntaxError>> {
        NESTING.with(|d| {
            if d.get() >= MAX_EXPR_HEIGHT {
                Err(nom::Err::Failure(SyntaxError { at, expected: "a less deeply nested expression" }))
            } else {
                d.set(d.get() + 1);
                Ok(NestingGuard)
            }
        })
    }
}

impl Drop for NestingGuard {
    fn drop(&mut self) {
        NESTING.with(|d| d.set(d.get() - 1));
    }
}

/// `expression`
pub fn expression(i: In) -> PResult<Expr> {
    let _guard = NestingGuard::enter(i)?;
    binary_expression(i, 1)
}

fn binary_expression(i: In, min_prec: u8) -> PResult<Expr> {
    let (mut i, mut lhs) = unary_expression(i)?;
    loop {
        let (j, op) = binary_operator(i)?;
        let Some((op, len)) = op else { break };
        let p = precedence(op);
        if p < min_prec {
            break;
        }
        let at = j;
        let (j, rhs) = binary_expression(j.take_split(len as usize).0, p + 1)?;
        let l = lhs.loc;
        lhs = Expr::new(ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), l);
        check_height(at, &lhs)?;
        i = j;
    }
    Ok((i, lhs))
}

fn unary_expression(i: In) -> PResult<Expr> {
    let (i, _) = ws(i)?;
    let op = match peek_byte(&i) {
        Some(b'~') => UnaryOp::Not,
        Some(b'!') => UnaryOp::LogNot,
        Some(b'-') => UnaryOp::Neg,
        Some(b'&') => UnaryOp::RedAnd,
        Some(b'|') => UnaryOp::RedOr,
        Some(b'^') => UnaryOp::RedXor,
        _ => return primary(i),
    };
    let l = loc(&i);
    let at = i;
    let _guard = NestingGuard::enter(i)?;
    let (i, e) = unary_expression(i.take_split(1).0)?;
    let e = Expr::new(ExprKind::Unary(op, Box::new(e)), l);
    check_height(at, &e)?;
    Ok((i, e))
}

/// `primary`: number, identifier with optional bit- or part-select, concatenation, replication,
/// parenthesised expression, `$signed(...)`.
pub fn primary(i: In) -> PResult<Expr> {
    let (i, _) = ws(i)?;
    let l = loc(&i);
    match peek_byte(&i) {
        Some(b'0'..=b'9' | b'\'') => number(i),
        Some(b'(') => {
            let (i, e) = expression(i.take_split(1).0)?;
            let (i, _) = symbol(")", "')'")(i)?;
            Ok((i, e))
        }
        Some(b'{') => concatenation(i),
        Some(b'$') => {
            let n = 1 + i.fragment().as_bytes()[1..].iter().take_while(|&&c| is_ident_char(c)).count();
            if &i.fragment()[..n] != "$signed" {
                return fail(i, "'$signed' (the only system function supported)");
            }
            let (j, _) = symbol("(", "'('")(i.take_split(n).0)?;
            let (j, e) = expression(j)?;
            let (j, _) = symbol(")", "')'")(j)?;
            let e = Expr::new(ExprKind::Signed(Box::new(e)), l);
            check_height(i, &e)?;
            Ok((j, e))
        }
        Some(c) if is_ident_start(c) => {
            let (j, id) = identifier(i)?;
            let (j, open) = opt_symbol(j, "[")?;
            if open.is_none() {
                return Ok((j, Expr::new(ExprKind::Ident(id.name), l)));
            }
            // Fast path for `name[123]`.
            let (k, _) = ws(j)?;
            let nd = k.fragment().bytes().take_while(u8::is_ascii_digit).count();
            if (1..=9).contains(&nd) && k.fragment().as_bytes().get(nd) == Some(&b']') {
                let il = loc(&k);
                let v: i64 = k.fragment()[..nd].parse().expect("at most 9 digits");
                return Ok((k.take_split(nd + 1).0, Expr::new(ExprKind::BitLit(id.name, v, il), l)));
            }
            let (j, first) = expression(j)?;
            let (j, colon) = opt_symbol(j, ":")?;
            let (j, kind) = if colon.is_some() {
                let (j, second) = expression(j)?;
                (j, ExprKind::Slice(id.name, Box::new(first), Box::new(second)))
            } else {
                (j, ExprKind::Index(id.name, Box::new(first)))
            };
            let (j, _) = symbol("]", if colon.is_some() { "']'" } else { "':' or ']'" })(j)?;
            let e = Expr::new(kind, l);
            check_height(i, &e)?;
            Ok((j, e))
        }
        _ => fail(i, "expression"),
    }
}

/// `concatenation` `{a, b}` or `multiple_concatenation` `{n{a, b}}`.
fn concatenation(i: In) -> PResult<Expr> {
    let l = loc(&i);
    let at = i;
    let i = i.take_split(1).0;
    let (i, first) = expression(i)?;
    let (i, inner) = opt_symbol(i, "{")?;
    if inner.is_some() {
        let (i, parts) = expression_list(i)?;
        let (i, _) = symbol("}", "',' or '}'")(i)?;
        let (i, _) = symbol("}", "'}'")(i)?;
        let e = Expr::new(ExprKind::Repeat(Box::new(first), parts), l);
        check_height(at, &e)?;
        return Ok((i, e));
    }
    let mut parts = vec![first];
    let mut i = i;
    loop {
        let (j, comma) = opt_symbol(i, ",")?;
        if comma.is_none() {
            break;
        }
        let (j, e) = expression(j)?;
        parts.push(e);
        i = j;
    }
    let (i, _) = symbol("}", "',' or '}'")(i)?;
    let e = Expr::new(ExprKind::Concat(parts), l);
    check_height(at, &e)?;
    Ok((i, e))
}

fn expression_list(i: In) -> PResult<Vec<Expr>> {
    let (mut i, first) = expression(i)?;
    let mut v = vec![first];
    loop {
        let (j, comma) = opt_symbol(i, ",")?;
        if comma.is_none() {
            return Ok((i, v));
        }
        let (j, e) = expression(j)?;
        v.push(e);
        i = j;
    }
}

// ---------------------------------------------------------------------------------------------
// Declarations and module items.

/// `range` `[msb:lsb]`, if present.
fn range(i: In) -> PResult<Option<Range>> {
    let (i, open) = opt_symbol(i, "[")?;
    if open.is_none() {
        return Ok((i, None));
    }
    let (i, msb) = expression(i)?;
    let (i, _) = symbol(":", "':'")(i)?;
    let (i, lsb) = expression(i)?;
    let (i, _) = symbol("]", "']'")(i)?;
    Ok((i, Some(Range { msb, lsb })))
}

fn decl_kind(word: &str) -> Option<DeclKind> {
    match word {
        "input" => Some(DeclKind::Input),
        "output" => Some(DeclKind::Output),
        "wire" => Some(DeclKind::Wire),
        _ => None,
    }
}

/// The part of a declaration after the direction keyword: `[wire] [signed] [range]`.
fn decl_head(i: In, kind: DeclKind) -> PResult<(bool, Option<Range>)> {
    let (mut i, mut w) = peek_word(i)?;
    if kind != DeclKind::Wire && w == "wire" {
        i = i.take_split(4).0;
        (i, w) = peek_word(i)?;
    }
    let signed = w == "signed";
    if signed {
        i = i.take_split(6).0;
    }
    let (i, r) = range(i)?;
    Ok((i, (signed, r)))
}

/// `port_declaration` / `net_declaration`: `input [7:0] A, B;` (the keyword already peeked).
fn net_declaration(i: In, kind: DeclKind) -> PResult<Decl> {
    let (i, l) = ws(i).map(|(i, _)| {
        let l = loc(&i);
        (i, l)
    })?;
    let i = i.take_split(ident_len(&i)).0;
    let (i, (signed, range)) = decl_head(i, kind)?;
    let (mut i, first) = identifier(i)?;
    let mut names = vec![first];
    loop {
        let (j, comma) = opt_symbol(i, ",")?;
        if comma.is_none() {
            break;
        }
        let (j, id) = identifier(j)?;
        names.push(id);
        i = j;
    }
    let (i, _) = symbol(";", "',' or ';'")(i)?;
    Ok((i, Decl { kind, signed, range, names, loc: l }))
}

/// `local_parameter_declaration`: `localparam NAME = expr, ...;`
fn local_parameter_declaration(i: In) -> PResult<Vec<LocalParam>> {
    let (i, _) = keyword("localparam", "'localparam'")(i)?;
    let (mut i, _) = range(i)?;
    let mut v = Vec::new();
    loop {
        let (j, name) = identifier(i)?;
        let (j, _) = symbol("=", "'='")(j)?;
        let (j, value) = expression(j)?;
        v.push(LocalParam { name, value });
        let (j, comma) = opt_symbol(j, ",")?;
        i = j;
        if comma.is_none() {
            break;
        }
    }
    let (i, _) = symbol(";", "',' or ';'")(i)?;
    Ok((i, v))
}

/// `continuous_assign`: `assign lhs = rhs, lhs = rhs;`
fn continuous_assign(i: In) -> PResult<Vec<Assign>> {
    let (mut i, _) = keyword("assign", "'assign'")(i)?;
    let mut v = Vec::new();
    loop {
        let (j, _) = ws(i)?;
        let l = loc(&j);
        let (j, lhs) = primary(j)?;
        let (j, _) = symbol("=", "'='")(j)?;
        let (j, rhs) = expression(j)?;
        v.push(Assign { lhs, rhs, loc: l });
        let (j, comma) = opt_symbol(j, ",")?;
        i = j;
        if comma.is_none() {
            break;
        }
    }
    let (i, _) = symbol(";", "an operator, ',' or ';'")(i)?;
    Ok((i, v))
}

/// `named_port_connection`: `.PORT(expr)` or `.PORT()`.
fn named_port_connection(i: In) -> PResult<PortConn> {
    let (i, _) = symbol(".", "'.' starting a named port connection (positional connections are not supported)")(i)?;
    let (i, port) = identifier(i)?;
    let (i, _) = symbol("(", "'('")(i)?;
    let (i, close) = opt_symbol(i, ")")?;
    if close.is_some() {
        return Ok((i, PortConn { port, expr: None }));
    }
    let (i, e) = expression(i)?;
    let (i, _) = symbol(")", "an operator or ')'")(i)?;
    Ok((i, PortConn { port, expr: Some(e) }))
}

/// `module_instantiation`: `CELL name (.A(x), .Y(y));`
fn module_instantiation(i: In) -> PResult<Instance> {
    let (i, module) = identifier(i)?;
    let (i, name) = identifier(i)?;
    let (i, _) = symbol("(", "'('")(i)?;
    let (i, close) = opt_symbol(i, ")")?;
    let mut conns = Vec::new();
    let mut i = i;
    if close.is_none() {
        loop {
            let (j, c) = named_port_connection(i)?;
            conns.push(c);
            let (j, comma) = opt_symbol(j, ",")?;
            i = j;
            if comma.is_none() {
                break;
            }
        }
        i = symbol(")", "',' or ')'")(i)?.0;
    }
    let (i, _) = symbol(";", "';'")(i)?;
    Ok((i, Instance { module, name, conns }))
}

/// `list_of_ports` or `list_of_port_declarations` in the module header (after `(`).
fn module_ports<'a>(i: In<'a>, items: &mut Vec<Item<'a>>) -> PResult<'a, Vec<Ident<'a>>> {
    let (i, close) = opt_symbol(i, ")")?;
    if close.is_some() {
        return Ok((i, Vec::new()));
    }
    let mut ports = Vec::new();
    let mut i = i;
    // ANSI style: a direction keyword starts a declaration; later plain names extend it.
    let mut current: Option<usize> = None;
    loop {
        let (j, w) = peek_word(i)?;
        if let Some(kind) = decl_kind(w).filter(|k| *k != DeclKind::Wire) {
            let l = loc(&j);
            let (k, (signed, range)) = decl_head(j.take_split(w.len()).0, kind)?;
            let (k, id) = identifier(k)?;
            ports.push(id);
            items.push(Item::Decl(Decl { kind, signed, range, names: vec![id], loc: l }));
            current = Some(items.len() - 1);
            i = k;
        } else {
            let (k, id) = identifier(j)?;
            ports.push(id);
            if let Some(Item::Decl(d)) = current.and_then(|c| items.get_mut(c)) {
                d.names.push(id);
            }
            i = k;
        }
        let (j, comma) = opt_symbol(i, ",")?;
        i = j;
        if comma.is_none() {
            break;
        }
    }
    let (i, _) = symbol(")", "',' or ')'")(i)?;
    Ok((i, ports))
}

/// `module_declaration`
pub fn module_declaration(i: In) -> PResult<Module> {
    let (i, _) = keyword("module", "'module'")(i)?;
    let (i, name) = identifier(i)?;
    let mut items = Vec::new();
    let (i, open) = opt_symbol(i, "(")?;
    let (i, ports) = if open.is_some() { module_ports(i, &mut items)? } else { (i, Vec::new()) };
    let (mut i, _) = symbol(";", "';'")(i)?;
    loop {
        let (j, w) = peek_word(i)?;
        match w {
            "endmodule" => {
                i = j.take_split(w.len()).0;
                break;
            }
            "input" | "output" | "wire" => {
                let (k, d) = net_declaration(j, decl_kind(w).expect("matched above"))?;
                items.push(Item::Decl(d));
                i = k;
            }
            "localparam" => {
                let (k, ps) = local_parameter_declaration(j)?;
                items.extend(ps.into_iter().map(Item::LocalParam));
                i = k;
            }
            "assign" => {
                let (k, a) = continuous_assign(j)?;
                items.extend(a.into_iter().map(Item::Assign));
                i = k;
            }
            "" => return fail(j, if j.fragment().is_empty() { "'endmodule'" } else { "a module item or 'endmodule'" }),
            w if is_keyword(w) => return fail(j, "a supported module item (declaration, 'assign' or instance)"),
            _ => {
                let (k, inst) = module_instantiation(j)?;
                items.push(Item::Instance(inst));
                i = k;
            }
        }
    }
    Ok((i, Module { name, ports, items }))
}

/// `source_text`: modules until the end of the file.
pub fn source_text(i: In) -> PResult<SourceText> {
    let mut modules = Vec::new();
    let mut i = i;
    loop {
        let (j, _) = ws(i)?;
        if j.fragment().is_empty() {
            return Ok((j, SourceText { modules }));
        }
        let (j, m) = module_declaration(j)?;
        modules.push(m);
        i = j;
    }
}

/// Parse a whole file; on failure, the error position and what was expected there.
pub fn parse_source(src: &str) -> Result<SourceText<'_>, SyntaxError<'_>> {
    match source_text(In::new(src)) {
        Ok((_, st)) => Ok(st),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e),
        Err(nom::Err::Incomplete(_)) => Err(SyntaxError { at: In::new(src), expected: "complete input" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run a rule on a snippet; it must consume everything but trailing white space.
    macro_rules! ok {
        ($rule:expr, $src:expr) => {{
            let (rest, v) = $rule(In::new($src)).expect($src);
            assert!(rest.fragment().trim().is_empty(), "{:?} left {:?}", $src, rest.fragment());
            v
        }};
    }
    macro_rules! err_at {
        ($rule:expr, $src:expr, $offset:expr) => {{
            match $rule(In::new($src)) {
                Err(nom::Err::Failure(e) | nom::Err::Error(e)) => {
                    assert_eq!(e.at.location_offset(), $offset, "{:?}: expected {}", $src, e.expected)
                }
                Ok((rest, _)) => assert!(!rest.fragment().trim().is_empty(), "{:?} parsed", $src),
                Err(e) => panic!("{e:?}"),
            }
        }};
    }

    #[test]
    fn numbers() {
        let e = ok!(number, "1'b0");
        assert_eq!(e.kind, ExprKind::Number { width: Some(1), signed: false, value: 0 });
        let e = ok!(number, "8'hF_f");
        assert_eq!(e.kind, ExprKind::Number { width: Some(8), signed: false, value: 255 });
        let e = ok!(number, "15");
        assert!(matches!(e.kind, ExprKind::Number { width: None, value: 15, .. }));
        err_at!(number, "1'b2", 3);
        err_at!(number, "2'b111", 3);
        err_at!(number, "1'bx", 3);
    }

    #[test]
    fn expressions_and_precedence() {
        let e = ok!(expression, "a | b & c ^ d");
        // | binds loosest: a | ((b & c) ^ d)
        let ExprKind::Binary(BinaryOp::Or, _, r) = e.kind else { panic!() };
        assert!(matches!(r.kind, ExprKind::Binary(BinaryOp::Xor, _, _)));
        ok!(expression, "~(A[7] & B[1])");
        ok!(expression, "!(sig_1 ^ sig_2)");
        ok!(expression, "{C_7_7, 1'b1} + {1'b1, S_7_7}");
        ok!(expression, "{A[12-1:11],{11{1'b0}}}");
        ok!(expression, "$signed(A[16-1:2]) * $signed(B[16-1:2])");
        ok!(expression, "p [3] & p [2]");
        err_at!(expression, "a || b", 2);
        err_at!(expression, "(a & b", 6);
        err_at!(expression, "$display(a)", 0);
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let src = "(".repeat(100_000);
        assert!(expression(In::new(&src)).is_err());
        let src = format!("a{}", "&a".repeat(10_000));
        assert!(expression(In::new(&src)).is_err());
        let src = "~".repeat(10_000) + "a";
        assert!(expression(In::new(&src)).is_err());
    }

    #[test]
    fn modules_in_both_header_styles() {
        let m = ok!(module_declaration, "module m(A, B, O); input [1:0] A, B; output O; assign O = A[0]; endmodule");
        assert_eq!(m.ports.len(), 3);
        assert_eq!(m.items.len(), 3);
        let m = ok!(
            module_declaration,
            "module PDKGENHAX1( input A, input B, output YS, output YC );\n assign YS = A ^ B; endmodule"
        );
        assert_eq!(m.ports.len(), 4);
        let m = ok!(module_declaration, "module t ( input[15:0] A,\n input[15:0] B, output [31:0] O ); endmodule");
        assert_eq!(m.ports.len(), 3);
        let m = ok!(module_declaration, "module c(a,b); input [31:0]a,b; localparam X = 15; endmodule");
        assert_eq!(m.items.len(), 2);
        let m = ok!(
            module_declaration,
            "module t(); FAX1 U1 (.A(S_5_2), .B((A[6] & B[1])), .C(1'b1), .YS(S), .YC()); endmodule"
        );
        let Item::Instance(inst) = &m.items[0] else { panic!() };
        assert_eq!(inst.conns.len(), 5);
        assert!(inst.conns[4].expr.is_none());
        err_at!(module_declaration, "module m(A); always @(A) begin end endmodule", 13);
        err_at!(module_declaration, "module m(A); input A", 20);
        err_at!(module_declaration, "module m(A); assign A = B C; endmodule", 26);
    }

    #[test]
    fn comments_and_directives() {
        let st = ok!(source_text, "`timescale 1ns/100ps\n/* mod */ // x\nmodule m; /* a\n b */ endmodule // end");
        assert_eq!(st.modules.len(), 1);
        err_at!(source_text, "module m; /* never closed", 10);
    }
}
