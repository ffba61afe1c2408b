//! Elaboration: AST → flat gate-level [`Netlist`]. Picks the top module, flattens instances of
//! modules defined in the same file, maps library cells through the cell table, lowers `+` and
//! `*` to ripple-carry adders and array multipliers (Verilog-2001 width and sign-extension rules
//! for the widths used), and checks the result: undriven and multiply driven nets, combinational
//! loops, outputs never assigned. Every bit of a vector is its own net.

use std::collections::HashMap;
use std::path::Path;

use super::ast::*;
use super::cells;
use super::error::{NetlistError, Warning};
use super::ir::{Netlist, Node, NodeId, Op, Port};
use crate::util::error::Span;

// The structural checks (undriven nets, loops, outputs never assigned) and the numbering of the
// result live in `check.rs`, a child module so that it can see the builder's tables.
#[path = "check.rs"]
mod check;

/// Widest vector or expression accepted (a guard against absurd declarations in hostile input).
pub const MAX_WIDTH: usize = 1 << 16;
/// Most nets accepted in one elaboration (the largest library file has a few ten thousand).
pub const MAX_NETS: usize = 1 << 22;
/// Widest multiplication lowered to gates (an array multiplier grows with the square).
pub const MAX_MUL_WIDTH: usize = 256;
/// Deepest module hierarchy accepted.
const MAX_DEPTH: usize = 64;
/// Cell tag of gates that come from expressions rather than library cells.
pub const ASSIGN: &str = "assign";

/// Turns cheap [`Loc`]s into [`Span`]s (the column is counted only when needed).
#[derive(Clone, Copy)]
pub struct SourceMap<'s> {
    /// The file, as messages name it.
    pub file: &'s Path,
    /// The file's text, which [`Loc`] offsets index.
    pub src: &'s str,
}

impl SourceMap<'_> {
    /// `loc` as a file, line and (1-based, in characters) column.
    pub fn span(&self, loc: Loc) -> Span {
        let off = (loc.offset as usize).min(self.src.len());
        let line_start = self.src[..off].rfind('\n').map_or(0, |p| p + 1);
        let col = self.src[line_start..off].chars().count() + 1;
        Span::new(self.file, loc.line, col as u32)
    }
}

type NetId = u32;

/// FxHash (rustc's hasher): names are short and trusted to be few per module, and SipHash was a
/// visible share of elaboration time.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Drv {
    None,
    Input,
    Const(bool),
    Gate {
        op: Op,
        fanin: [NetId; 3],
        cell: &'static str,
    },
    /// An expression temporary whose driver moved to a named net (reads resolve to it).
    Alias(NetId),
}

#[derive(Debug, Clone, Copy)]
enum NetName {
    Bit { sig: u32, bit: i64 },
    Temp,
}

#[derive(Debug, Clone)]
struct Net {
    name: NetName,
    drv: Drv,
    drv_loc: Loc,
    use_loc: Option<Loc>,
}

#[derive(Debug, Clone)]
struct SigInfo {
    name: String,
    vector: bool,
}

#[derive(Debug, Clone)]
struct Sig {
    bits: Vec<NetId>,
    msb: i64,
    lsb: i64,
    signed: bool,
    kind: DeclKind,
    loc: Loc,
}

impl Sig {
    /// Position (0 = LSB) of declared index `i`.
    fn pos(&self, i: i64) -> Option<usize> {
        let p = if self.msb >= self.lsb { i.checked_sub(self.lsb) } else { self.lsb.checked_sub(i) }?;
        (p >= 0 && (p as usize) < self.bits.len()).then_some(p as usize)
    }
}

#[derive(Default)]
struct Scope<'a> {
    sigs: FxMap<&'a str, Sig>,
    params: FxMap<&'a str, i64>,
    prefix: String,
}

/// The port connections of the instance being elaborated, resolved in the parent's scope.
struct Binding<'a, 'p> {
    inst: &'p Instance<'a>,
    parent: &'p Scope<'a>,
}

type R<T> = Result<T, NetlistError>;

struct Builder<'a, 's> {
    sm: SourceMap<'s>,
    modules: HashMap<&'a str, &'s Module<'a>>,
    nets: Vec<Net>,
    sigs: Vec<SigInfo>,
    consts: [Option<NetId>; 2],
    errors: Vec<NetlistError>,
    /// Set when an item failed to elaborate: undriven-net findings would then be follow-ups.
    item_failed: bool,
    stack: Vec<&'a str>,
}

/// An unsized literal (`0`, `15`) whose value fits in `w` bits: Verilog sizes it to the context,
/// and writing `assign x = 0;` is no width mistake.
fn fits_unsized(e: &Expr, w: usize) -> bool {
    matches!(e.kind, ExprKind::Number { width: None, value, .. } if w >= 64 || value >> w == 0)
}

fn is_arith(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Binary(BinaryOp::Add | BinaryOp::Mul | BinaryOp::Sub, ..) => true,
        ExprKind::Signed(a) => is_arith(a),
        _ => false,
    }
}

impl<'a, 's> Builder<'a, 's> {
    fn span(&self, loc: Loc) -> Span {
        self.sm.span(loc)
    }

    fn new_net(&mut self, name: NetName) -> NetId {
        self.nets.push(Net { name, drv: Drv::None, drv_loc: Loc::default(), use_loc: None });
        (self.nets.len() - 1) as NetId
    }

    fn net_name(&self, n: NetId) -> String {
        match self.nets[n as usize].name {
            NetName::Bit { sig, bit } => {
                let s = &self.sigs[sig as usize];
                if s.vector {
                    format!("{}[{}]", s.name, bit)
                } else {
                    s.name.clone()
                }
            }
            NetName::Temp => format!("${n}"),
        }
    }

    fn konst(&mut self, b: bool) -> NetId {
        if let Some(n) = self.consts[b as usize] {
            return n;
        }
        let n = self.new_net(NetName::Temp);
        self.nets[n as usize].drv = Drv::Const(b);
        self.consts[b as usize] = Some(n);
        n
    }

    fn const_value(&self, n: NetId) -> Option<bool> {
        match self.nets[n as usize].drv {
            Drv::Const(b) => Some(b),
            _ => None,
        }
    }

    fn gate(&mut self, op: Op, fanin: [NetId; 3], loc: Loc) -> NetId {
        let n = self.new_net(NetName::Temp);
        let net = &mut self.nets[n as usize];
        net.drv = Drv::Gate { op, fanin, cell: ASSIGN };
        net.drv_loc = loc;
        n
    }

    /// Give net `n` its driver, or record a multiple-driver error.
    fn drive(&mut self, n: NetId, drv: Drv, loc: Loc) {
        let net = &self.nets[n as usize];
        if net.drv != Drv::None {
            let first = if net.drv == Drv::Input { self.span_of_decl(n) } else { self.span(net.drv_loc) };
            let e = NetlistError::MultiplyDriven { span: self.span(loc), net: self.net_name(n), first };
            self.errors.push(e);
            return;
        }
        let net = &mut self.nets[n as usize];
        net.drv = drv;
        net.drv_loc = loc;
    }

    fn span_of_decl(&self, n: NetId) -> Span {
        self.span(self.nets[n as usize].drv_loc)
    }

    // -----------------------------------------------------------------------------------------
    // Constant expressions (ranges, indices, replication counts, localparams).

    fn const_eval(&self, scope: &Scope, e: &Expr) -> R<i64> {
        let nc = |what: &str| NetlistError::NotConstant { span: self.span(e.loc), what: what.to_string() };
        match &e.kind {
            ExprKind::Number { value, .. } => i64::try_from(*value).map_err(|_| nc("number too large")),
            ExprKind::Ident(name) => {
                scope.params.get(name).copied().ok_or_else(|| nc(&format!("'{name}' is not a localparam")))
            }
            ExprKind::Unary(UnaryOp::Neg, a) => self.const_eval(scope, a)?.checked_neg().ok_or_else(|| nc("overflow")),
            ExprKind::Binary(op, a, b) => {
                let (x, y) = (self.const_eval(scope, a)?, self.const_eval(scope, b)?);
                let r = match op {
                    BinaryOp::Add => x.checked_add(y),
                    BinaryOp::Sub => x.checked_sub(y),
                    BinaryOp::Mul => x.checked_mul(y),
                    BinaryOp::Div => x.checked_div(y),
                    _ => return Err(nc(&format!("operator '{}'", op.symbol()))),
                };
                r.ok_or_else(|| nc("overflow or division by zero"))
            }
            _ => Err(nc("only numbers, localparams and + - * / are allowed here")),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Expression typing (Verilog-2001 §4.4/§4.5: self-determined widths and signedness).

    fn sig<'b>(&self, scope: &'b Scope, name: &str, loc: Loc) -> R<&'b Sig> {
        scope.sigs.get(name).ok_or_else(|| NetlistError::UndeclaredNet { span: self.span(loc), name: name.to_string() })
    }

    fn width(&self, scope: &Scope, e: &Expr) -> R<usize> {
        let w = match &e.kind {
            ExprKind::Ident(name) => {
                if scope.params.contains_key(name) {
                    32
                } else {
                    self.sig(scope, name, e.loc)?.bits.len()
                }
            }
            ExprKind::Index(..) | ExprKind::BitLit(..) => 1,
            ExprKind::Slice(name, a, b) => {
                self.sig(scope, name, e.loc)?;
                let (x, y) = (self.const_eval(scope, a)?, self.const_eval(scope, b)?);
                (x.abs_diff(y) as usize).saturating_add(1)
            }
            ExprKind::Number { width, .. } => width.unwrap_or(32) as usize,
            ExprKind::Concat(parts) => {
                let mut w = 0;
                for p in parts {
                    w += self.width(scope, p)?;
                    self.check_width(w, e.loc)?;
                }
                w
            }
            ExprKind::Repeat(n, parts) => {
                let count = self.const_eval(scope, n)?;
                if count <= 0 {
                    return Err(NetlistError::Unsupported {
                        span: self.span(n.loc),
                        what: format!("replication count {count}"),
                    });
                }
                let mut w = 0;
                for p in parts {
                    w += self.width(scope, p)?;
                    self.check_width(w, e.loc)?;
                }
                w.saturating_mul(count.min(MAX_WIDTH as i64 + 1) as usize)
            }
            ExprKind::Unary(UnaryOp::Not | UnaryOp::Neg, a) => self.width(scope, a)?,
            ExprKind::Unary(..) => 1,
            ExprKind::Binary(_, a, b) => self.width(scope, a)?.max(self.width(scope, b)?),
            ExprKind::Signed(a) => self.width(scope, a)?,
        };
        self.check_width(w, e.loc)?;
        Ok(w)
    }

    fn check_size(&self, loc: Loc) -> R<()> {
        if self.nets.len() > MAX_NETS {
            return Err(NetlistError::Unsupported {
                span: self.span(loc),
                what: format!("netlists with more than {MAX_NETS} nets"),
            });
        }
        Ok(())
    }

    fn check_width(&self, w: usize, loc: Loc) -> R<()> {
        if w > MAX_WIDTH {
            return Err(NetlistError::Unsupported {
                span: self.span(loc),
                what: format!("expressions wider than {MAX_WIDTH} bits"),
            });
        }
        Ok(())
    }

    fn signed(&self, scope: &Scope, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Ident(name) => scope.params.contains_key(name) || scope.sigs.get(name).is_some_and(|s| s.signed),
            ExprKind::Number { signed, .. } => *signed,
            ExprKind::Unary(UnaryOp::Not | UnaryOp::Neg, a) => self.signed(scope, a),
            ExprKind::Binary(_, a, b) => self.signed(scope, a) && self.signed(scope, b),
            ExprKind::Signed(_) => true,
            _ => false,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Expression lowering.

    fn mark_used(&mut self, n: NetId, loc: Loc) {
        let net = &mut self.nets[n as usize];
        if net.use_loc.is_none() {
            net.use_loc = Some(loc);
        }
    }

    fn index(&self, scope: &Scope, name: &str, idx: &Expr, loc: Loc) -> R<(NetId, usize)> {
        let i = self.const_eval(scope, idx)?;
        self.index_value(scope, name, i, idx.loc, loc)
    }

    fn index_value(&self, scope: &Scope, name: &str, i: i64, idx_loc: Loc, loc: Loc) -> R<(NetId, usize)> {
        let s = self.sig(scope, name, loc)?;
        let p = s.pos(i).ok_or_else(|| NetlistError::IndexOutOfRange {
            span: self.span(idx_loc),
            name: name.to_string(),
            index: i,
            msb: s.msb,
            lsb: s.lsb,
        })?;
        Ok((s.bits[p], p))
    }

    fn slice(&self, scope: &Scope, name: &str, a: &Expr, b: &Expr, loc: Loc) -> R<Vec<NetId>> {
        let s = self.sig(scope, name, loc)?;
        let (x, y) = (self.const_eval(scope, a)?, self.const_eval(scope, b)?);
        let oor = |i: i64, l: Loc| NetlistError::IndexOutOfRange {
            span: self.span(l),
            name: name.to_string(),
            index: i,
            msb: s.msb,
            lsb: s.lsb,
        };
        let px = s.pos(x).ok_or_else(|| oor(x, a.loc))?;
        let py = s.pos(y).ok_or_else(|| oor(y, b.loc))?;
        if px < py {
            return Err(NetlistError::Unsupported {
                span: self.span(loc),
                what: format!("part-select {name}[{x}:{y}] in the opposite direction of its declaration"),
            });
        }
        Ok(s.bits[py..=px].to_vec())
    }

    /// Bits of a self-determined operand that needs no operator (net, select, number, concat).
    fn operand_bits(&mut self, scope: &Scope, e: &Expr) -> R<Option<Vec<NetId>>> {
        let bits = match &e.kind {
            ExprKind::Ident(name) if scope.params.contains_key(name) => {
                let v = scope.params[name];
                (0..32).map(|i| self.konst((v >> i) & 1 != 0)).collect()
            }
            ExprKind::Ident(name) => self.sig(scope, name, e.loc)?.bits.clone(),
            ExprKind::Index(name, idx) => vec![self.index(scope, name, idx, e.loc)?.0],
            ExprKind::BitLit(name, i, il) => vec![self.index_value(scope, name, *i, *il, e.loc)?.0],
            ExprKind::Slice(name, a, b) => self.slice(scope, name, a, b, e.loc)?,
            ExprKind::Number { width, value, .. } => {
                let w = width.unwrap_or(32) as usize;
                (0..w).map(|i| self.konst(i < 64 && (value >> i) & 1 != 0)).collect()
            }
            ExprKind::Concat(parts) => {
                let mut v = Vec::new();
                for p in parts.iter().rev() {
                    v.extend(self.lower_self(scope, p)?);
                }
                v
            }
            ExprKind::Repeat(n, parts) => {
                let w = self.width(scope, e)?;
                let count = self.const_eval(scope, n)? as usize;
                let mut one = Vec::new();
                for p in parts.iter().rev() {
                    one.extend(self.lower_self(scope, p)?);
                }
                let mut v = Vec::with_capacity(w);
                for _ in 0..count {
                    v.extend_from_slice(&one);
                }
                v
            }
            _ => return Ok(None),
        };
        if matches!(e.kind, ExprKind::Ident(_) | ExprKind::Index(..) | ExprKind::BitLit(..) | ExprKind::Slice(..)) {
            for &b in &bits {
                self.mark_used(b, e.loc);
            }
        }
        Ok(Some(bits))
    }

    fn extend(&mut self, mut bits: Vec<NetId>, w: usize, signed: bool) -> Vec<NetId> {
        if bits.len() >= w {
            bits.truncate(w);
            return bits;
        }
        let fill = match bits.last() {
            Some(&msb) if signed => msb,
            _ => self.konst(false),
        };
        bits.resize(w, fill);
        bits
    }

    /// An expression connected to an input port of width `w`: self-determined, except that an
    /// unsized number (`0`, `1`) takes the port's width when its value fits.
    fn lower_port(&mut self, scope: &Scope, e: &Expr, w: usize) -> R<Vec<NetId>> {
        if fits_unsized(e, w) {
            return self.lower(scope, e, w, false);
        }
        self.lower_self(scope, e)
    }

    fn lower_self(&mut self, scope: &Scope, e: &Expr) -> R<Vec<NetId>> {
        let w = self.width(scope, e)?;
        let s = self.signed(scope, e);
        self.lower(scope, e, w, s)
    }

    /// Lower `e` in a context of width `w` and signedness `s` (operands are extended to `w`).
    fn lower(&mut self, scope: &Scope, e: &Expr, w: usize, s: bool) -> R<Vec<NetId>> {
        self.check_size(e.loc)?;
        if let Some(bits) = self.operand_bits(scope, e)? {
            return Ok(self.extend(bits, w, s));
        }
        let unsupported =
            |b: &Self, what: &str| NetlistError::Unsupported { span: b.span(e.loc), what: what.to_string() };
        match &e.kind {
            ExprKind::Unary(UnaryOp::Not, a) => {
                let x = self.lower(scope, a, w, s)?;
                Ok(x.into_iter().map(|b| self.gate(Op::Not, [b, 0, 0], e.loc)).collect())
            }
            ExprKind::Unary(op @ (UnaryOp::LogNot | UnaryOp::RedAnd | UnaryOp::RedOr | UnaryOp::RedXor), a) => {
                let x = self.lower_self(scope, a)?;
                let gop = match op {
                    UnaryOp::RedAnd => Op::And,
                    UnaryOp::RedXor => Op::Xor,
                    _ => Op::Or,
                };
                let mut r = x[0];
                for &b in &x[1..] {
                    r = self.gate(gop, [r, b, 0], e.loc);
                }
                if *op == UnaryOp::LogNot {
                    r = self.gate(Op::Not, [r, 0, 0], e.loc);
                }
                Ok(self.extend(vec![r], w, false))
            }
            ExprKind::Unary(UnaryOp::Neg, _) => Err(unsupported(self, "unary '-' on signals")),
            ExprKind::Binary(op, a, b) => {
                let x = self.lower(scope, a, w, s)?;
                let y = self.lower(scope, b, w, s)?;
                let gop = match op {
                    BinaryOp::And => Op::And,
                    BinaryOp::Or => Op::Or,
                    BinaryOp::Xor => Op::Xor,
                    BinaryOp::Xnor => Op::Xnor,
                    BinaryOp::Add => return Ok(self.add(&x, &y, e.loc)),
                    BinaryOp::Mul if w > MAX_MUL_WIDTH => {
                        return Err(unsupported(self, &format!("multiplications wider than {MAX_MUL_WIDTH} bits")))
                    }
                    BinaryOp::Mul => return Ok(self.mul(&x, &y, e.loc)),
                    BinaryOp::Sub | BinaryOp::Div => {
                        return Err(unsupported(self, &format!("operator '{}' on signals", op.symbol())))
                    }
                };
                Ok(x.into_iter().zip(y).map(|(p, q)| self.gate(gop, [p, q, 0], e.loc)).collect())
            }
            ExprKind::Signed(a) => {
                let x = self.lower_self(scope, a)?;
                Ok(self.extend(x, w, s))
            }
            _ => unreachable!("operands are handled by operand_bits"),
        }
    }

    // Arithmetic lowering with constant folding, so that zero-extended or shifted operands do
    // not leave gates on constants behind.

    fn fold_not(&mut self, a: NetId, loc: Loc) -> NetId {
        match self.const_value(a) {
            Some(v) => self.konst(!v),
            None => self.gate(Op::Not, [a, 0, 0], loc),
        }
    }

    fn fold_and(&mut self, a: NetId, b: NetId, loc: Loc) -> NetId {
        match (self.const_value(a), self.const_value(b)) {
            (Some(false), _) | (_, Some(false)) => self.konst(false),
            (Some(true), _) => b,
            (_, Some(true)) => a,
            _ => self.gate(Op::And, [a, b, 0], loc),
        }
    }

    fn fold_or(&mut self, a: NetId, b: NetId, loc: Loc) -> NetId {
        match (self.const_value(a), self.const_value(b)) {
            (Some(true), _) | (_, Some(true)) => self.konst(true),
            (Some(false), _) => b,
            (_, Some(false)) => a,
            _ => self.gate(Op::Or, [a, b, 0], loc),
        }
    }

    fn fold_xor(&mut self, a: NetId, b: NetId, loc: Loc) -> NetId {
        match (self.const_value(a), self.const_value(b)) {
            (Some(x), Some(y)) => self.konst(x ^ y),
            (Some(false), _) => b,
            (_, Some(false)) => a,
            (Some(true), _) => self.fold_not(b, loc),
            (_, Some(true)) => self.fold_not(a, loc),
            _ => self.gate(Op::Xor, [a, b, 0], loc),
        }
    }

    /// Full adder (sum, carry) with constant inputs folded away.
    fn full_add(&mut self, a: NetId, b: NetId, c: NetId, loc: Loc) -> (NetId, NetId) {
        let mut v = [a, b, c];
        // Constants first, so that the cases below are few.
        v.sort_by_key(|&n| self.const_value(n).is_none());
        match v.map(|n| self.const_value(n)) {
            [Some(x), Some(y), _] => {
                let (p, q) = (self.konst(x), self.konst(y));
                let s = self.fold_xor(p, q, loc);
                let s = self.fold_xor(s, v[2], loc);
                let c1 = self.fold_and(p, q, loc);
                let c2 = self.fold_or(p, q, loc);
                let c2 = self.fold_and(c2, v[2], loc);
                let c = self.fold_or(c1, c2, loc);
                (s, c)
            }
            [Some(false), None, None] => (self.fold_xor(v[1], v[2], loc), self.fold_and(v[1], v[2], loc)),
            [Some(true), None, None] => {
                let s = self.gate(Op::Xnor, [v[1], v[2], 0], loc);
                (s, self.fold_or(v[1], v[2], loc))
            }
            _ => (self.gate(Op::Xor3, v, loc), self.gate(Op::Maj, v, loc)),
        }
    }

    /// Ripple-carry adder, result truncated to the operand width (Verilog `+` in a context of
    /// that width).
    fn add(&mut self, x: &[NetId], y: &[NetId], loc: Loc) -> Vec<NetId> {
        let mut carry = self.konst(false);
        let mut out = Vec::with_capacity(x.len());
        for (i, (&a, &b)) in x.iter().zip(y).enumerate() {
            if i + 1 == x.len() {
                let s = self.fold_xor(a, b, loc);
                out.push(self.fold_xor(s, carry, loc));
            } else {
                let (s, c) = self.full_add(a, b, carry, loc);
                out.push(s);
                carry = c;
            }
        }
        out
    }

    /// Array multiplier modulo 2^width (operands already extended to the width, so the same
    /// circuit serves signed and unsigned products).
    fn mul(&mut self, x: &[NetId], y: &[NetId], loc: Loc) -> Vec<NetId> {
        let w = x.len();
        let zero = self.konst(false);
        let mut acc: Vec<NetId> = x.iter().map(|&a| self.fold_and(a, y[0], loc)).collect();
        for (i, &b) in y.iter().enumerate().skip(1) {
            if self.const_value(b) == Some(false) {
                continue;
            }
            let mut row = vec![zero; i];
            row.extend(x[..w - i].iter().map(|&a| self.fold_and(a, b, loc)).collect::<Vec<_>>());
            // Only the bits from i upwards change.
            let hi = self.add(&acc[i..], &row[i..], loc);
            acc.splice(i.., hi);
        }
        acc
    }

    // -----------------------------------------------------------------------------------------
    // Left-hand sides.

    fn lvalue(&mut self, scope: &Scope, e: &Expr, own_inputs_forbidden: bool) -> R<Vec<NetId>> {
        let not_assignable = |b: &Self, what: String| NetlistError::NotAssignable { span: b.span(e.loc), what };
        let name = match &e.kind {
            ExprKind::Ident(n) | ExprKind::Index(n, _) | ExprKind::BitLit(n, ..) | ExprKind::Slice(n, ..) => Some(*n),
            _ => None,
        };
        if let Some(n) = name {
            if scope.params.contains_key(n) {
                return Err(not_assignable(self, format!("localparam '{n}'")));
            }
            let s = self.sig(scope, n, e.loc)?;
            if own_inputs_forbidden && s.kind == DeclKind::Input {
                return Err(not_assignable(self, format!("input port '{n}'")));
            }
        }
        match &e.kind {
            ExprKind::Ident(n) => Ok(self.sig(scope, n, e.loc)?.bits.clone()),
            ExprKind::Index(n, idx) => Ok(vec![self.index(scope, n, idx, e.loc)?.0]),
            ExprKind::BitLit(n, i, il) => Ok(vec![self.index_value(scope, n, *i, *il, e.loc)?.0]),
            ExprKind::Slice(n, a, b) => self.slice(scope, n, a, b, e.loc),
            ExprKind::Concat(parts) => {
                let mut v = Vec::new();
                for p in parts.iter().rev() {
                    v.extend(self.lvalue(scope, p, own_inputs_forbidden)?);
                }
                Ok(v)
            }
            _ => Err(not_assignable(self, "an expression".to_string())),
        }
    }

    /// `assign lhs = rhs;`
    fn assign(&mut self, scope: &Scope, a: &Assign) -> R<()> {
        let lhs = self.lvalue(scope, &a.lhs, true)?;
        let rw = self.width(scope, &a.rhs)?;
        if !fits_unsized(&a.rhs, lhs.len()) && (rw > lhs.len() || (rw < lhs.len() && !is_arith(&a.rhs))) {
            return Err(NetlistError::WidthMismatch {
                span: self.span(a.rhs.loc),
                what: "the left-hand side".to_string(),
                expected: lhs.len(),
                found: rw,
            });
        }
        let mark = self.nets.len() as NetId;
        let s = self.signed(scope, &a.rhs);
        let w = if fits_unsized(&a.rhs, lhs.len()) { lhs.len() } else { lhs.len().max(rw) };
        let bits = self.lower(scope, &a.rhs, w, s)?;
        for (&l, &r) in lhs.iter().zip(&bits) {
            let rnet = self.nets[r as usize].clone();
            // A gate made for this very expression becomes the named net's driver; anything
            // else (an existing net, a constant, a reused temporary) goes through a buffer.
            if r >= mark && matches!(rnet.drv, Drv::Gate { .. }) && self.nets[l as usize].drv == Drv::None {
                self.drive(l, rnet.drv, a.loc);
                self.nets[r as usize].drv = Drv::Alias(l);
            } else {
                self.drive(l, Drv::Gate { op: Op::Buf, fanin: [r, 0, 0], cell: ASSIGN }, a.loc);
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Instances.

    fn cell_instance(&mut self, scope: &Scope, inst: &Instance, cell: &'static cells::Cell) -> R<()> {
        let mut ins: Vec<Option<NetId>> = vec![None; cell.inputs.len()];
        let mut outs: Vec<Option<NetId>> = vec![None; cell.outputs.len()];
        let mut seen: Vec<&str> = Vec::new();
        for c in &inst.conns {
            if seen.contains(&c.port.name) {
                return Err(NetlistError::DuplicateConnection {
                    span: self.span(c.port.loc),
                    instance: inst.name.name.to_string(),
                    port: c.port.name.to_string(),
                });
            }
            seen.push(c.port.name);
            let width_err = |b: &Self, e: &Expr, found| NetlistError::WidthMismatch {
                span: b.span(e.loc),
                what: format!("port {} of {} {}", c.port.name, cell.name, inst.name.name),
                expected: 1,
                found,
            };
            if let Some(k) = cell.input_index(c.port.name) {
                if let Some(e) = &c.expr {
                    let bits = self.lower_port(scope, e, 1)?;
                    if bits.len() != 1 {
                        return Err(width_err(self, e, bits.len()));
                    }
                    ins[k] = Some(bits[0]);
                }
            } else if let Some(k) = cell.output_index(c.port.name) {
                if let Some(e) = &c.expr {
                    let bits = self.lvalue(scope, e, true)?;
                    if bits.len() != 1 {
                        return Err(width_err(self, e, bits.len()));
                    }
                    outs[k] = Some(bits[0]);
                }
            } else {
                return Err(NetlistError::UnknownPort {
                    span: self.span(c.port.loc),
                    cell: cell.name.to_string(),
                    port: c.port.name.to_string(),
                    ports: cell.pins().join(", "),
                });
            }
        }
        let mut fanin = [0; 3];
        for (k, x) in ins.iter().enumerate() {
            fanin[k] = x.ok_or_else(|| NetlistError::UnconnectedInput {
                span: self.span(inst.name.loc),
                instance: inst.name.name.to_string(),
                cell: cell.name.to_string(),
                port: cell.inputs[k].to_string(),
            })?;
        }
        for (k, o) in outs.iter().enumerate() {
            if let Some(n) = *o {
                self.drive(n, Drv::Gate { op: cell.outputs[k].op, fanin, cell: cell.name }, inst.name.loc);
            }
        }
        Ok(())
    }

    fn instance(&mut self, scope: &Scope<'a>, inst: &'s Instance<'a>) -> R<()> {
        // The cell table wins over a same-named definition in the file (the generic files
        // append behavioural definitions of their cells; the README says they agree).
        if let Some(cell) = cells::lookup(inst.module.name) {
            return self.cell_instance(scope, inst, cell);
        }
        let Some(&m) = self.modules.get(inst.module.name) else {
            return Err(NetlistError::UnknownCell {
                span: self.span(inst.module.loc),
                name: inst.module.name.to_string(),
            });
        };
        if self.stack.contains(&m.name.name) || self.stack.len() >= MAX_DEPTH {
            return Err(NetlistError::Hierarchy {
                span: self.span(inst.module.loc),
                message: format!("recursive or too deep instantiation of module '{}'", m.name.name),
            });
        }
        let prefix = format!("{}{}.", scope.prefix, inst.name.name);
        self.module(m, prefix, Some(Binding { inst, parent: scope }))?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Modules.

    /// Elaborate one module instance; `binding` is `None` for the top module. Returns its scope.
    fn module(&mut self, m: &'s Module<'a>, prefix: String, binding: Option<Binding<'a, '_>>) -> R<Scope<'a>> {
        self.stack.push(m.name.name);
        let mut scope = Scope { prefix, ..Scope::default() };
        let r = self.module_items(m, &mut scope, binding.as_ref());
        self.stack.pop();
        r.map(|_| scope)
    }

    fn module_items(&mut self, m: &'s Module<'a>, scope: &mut Scope<'a>, binding: Option<&Binding<'a, '_>>) -> R<()> {
        for item in &m.items {
            if let Item::LocalParam(p) = item {
                let v = self.const_eval(scope, &p.value)?;
                if scope.params.insert(p.name.name, v).is_some() {
                    return Err(NetlistError::DuplicateDeclaration {
                        span: self.span(p.name.loc),
                        name: p.name.name.to_string(),
                    });
                }
            }
        }
        if let Some(b) = binding {
            let mut seen: Vec<&str> = Vec::new();
            for c in &b.inst.conns {
                if seen.contains(&c.port.name) {
                    return Err(NetlistError::DuplicateConnection {
                        span: self.span(c.port.loc),
                        instance: b.inst.name.name.to_string(),
                        port: c.port.name.to_string(),
                    });
                }
                seen.push(c.port.name);
                if !m.ports.iter().any(|p| p.name == c.port.name) {
                    return Err(NetlistError::UnknownPort {
                        span: self.span(c.port.loc),
                        cell: m.name.name.to_string(),
                        port: c.port.name.to_string(),
                        ports: m.ports.iter().map(|p| p.name).collect::<Vec<_>>().join(", "),
                    });
                }
            }
        }
        for item in &m.items {
            if let Item::Decl(d) = item {
                self.declaration(m, scope, d, binding)?;
            }
        }
        for p in &m.ports {
            if !scope.sigs.get(p.name).is_some_and(|s| s.kind != DeclKind::Wire) {
                return Err(NetlistError::Hierarchy {
                    span: self.span(p.loc),
                    message: format!("port '{}' has no input or output declaration", p.name),
                });
            }
        }
        for item in &m.items {
            let r = match item {
                Item::Assign(a) => self.assign(scope, a),
                Item::Instance(inst) => self.instance(scope, inst),
                Item::Decl(_) | Item::LocalParam(_) => Ok(()),
            };
            if let Err(e) = r {
                self.errors.push(e);
                self.item_failed = true;
            }
        }
        Ok(())
    }

    fn declaration(
        &mut self,
        m: &Module<'a>,
        scope: &mut Scope<'a>,
        d: &Decl<'a>,
        binding: Option<&Binding<'a, '_>>,
    ) -> R<()> {
        let (msb, lsb, vector) = match &d.range {
            Some(r) => (self.const_eval(scope, &r.msb)?, self.const_eval(scope, &r.lsb)?, true),
            None => (0, 0, false),
        };
        let width = (msb.abs_diff(lsb) as usize).saturating_add(1);
        self.check_width(width, d.loc)?;
        self.check_size(d.loc)?;
        for id in &d.names {
            let is_port = d.kind != DeclKind::Wire;
            if is_port && !m.ports.iter().any(|p| p.name == id.name) {
                return Err(NetlistError::Hierarchy {
                    span: self.span(id.loc),
                    message: format!("'{}' is declared as a port but is not in the port list", id.name),
                });
            }
            if let Some(prev) = scope.sigs.get_mut(id.name) {
                // `output O; wire O;` declares one net twice; allowed when the widths agree.
                if d.kind == DeclKind::Wire && prev.kind != DeclKind::Wire && prev.bits.len() == width {
                    prev.signed |= d.signed;
                    continue;
                }
                return Err(NetlistError::DuplicateDeclaration { span: self.span(id.loc), name: id.name.to_string() });
            }
            let bound = match binding {
                Some(b) if is_port => self.port_bits(m, b, id.name, d.kind, width)?,
                _ => None,
            };
            let bits = match bound {
                Some(bits) => bits,
                None => {
                    let sig = self.sigs.len() as u32;
                    self.sigs.push(SigInfo { name: format!("{}{}", scope.prefix, id.name), vector });
                    let step = if msb >= lsb { 1 } else { -1 };
                    (0..width as i64)
                        .map(|k| {
                            let n = self.new_net(NetName::Bit { sig, bit: lsb + step * k });
                            self.nets[n as usize].drv_loc = id.loc;
                            if d.kind == DeclKind::Input && binding.is_none() {
                                self.nets[n as usize].drv = Drv::Input;
                            }
                            n
                        })
                        .collect()
                }
            };
            scope.sigs.insert(id.name, Sig { bits, msb, lsb, signed: d.signed, kind: d.kind, loc: id.loc });
        }
        Ok(())
    }

    /// The parent's nets a port of an instantiated module is connected to (None: unconnected).
    fn port_bits(
        &mut self,
        m: &Module,
        b: &Binding<'a, '_>,
        port: &str,
        kind: DeclKind,
        width: usize,
    ) -> R<Option<Vec<NetId>>> {
        let Some(c) = b.inst.conns.iter().find(|c| c.port.name == port) else { return Ok(None) };
        let Some(e) = &c.expr else { return Ok(None) };
        let bits = if kind == DeclKind::Input {
            self.lower_port(b.parent, e, width)?
        } else {
            self.lvalue(b.parent, e, true)?
        };
        if bits.len() != width {
            return Err(NetlistError::WidthMismatch {
                span: self.span(e.loc),
                what: format!("port {} of {} {}", port, m.name.name, b.inst.name.name),
                expected: width,
                found: bits.len(),
            });
        }
        Ok(Some(bits))
    }
}

/// Pick the top module: not instantiated by another module and not a library cell; among
/// several, the one named like the file (without `_pdk45`).
fn top_module<'s, 'a>(st: &'s SourceText<'a>, sm: &SourceMap) -> R<&'s Module<'a>> {
    let instantiated: std::collections::HashSet<&str> = st
        .modules
        .iter()
        .flat_map(|m| m.items.iter())
        .filter_map(|i| match i {
            Item::Instance(inst) => Some(inst.module.name),
            _ => None,
        })
        .collect();
    let cands: Vec<&Module> = st
        .modules
        .iter()
        .filter(|m| !instantiated.contains(m.name.name) && cells::lookup(m.name.name).is_none())
        .collect();
    let stem = sm.file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let stem = stem.strip_suffix("_pdk45").unwrap_or(stem);
    match cands.as_slice() {
        [m] => Ok(m),
        [] => Err(NetlistError::Hierarchy {
            span: sm.span(st.modules.first().map_or(Loc { offset: 0, line: 1 }, |m| m.name.loc)),
            message: "no top module (every module is instantiated or is a library cell)".to_string(),
        }),
        many => many.iter().find(|m| m.name.name == stem).copied().ok_or_else(|| NetlistError::Hierarchy {
            span: sm.span(many[0].name.loc),
            message: format!(
                "several candidate top modules ({}); none is named like the file",
                many.iter().map(|m| m.name.name).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

/// Elaborate a parsed file into a flat netlist; all errors found, sorted by position.
pub fn elaborate(st: &SourceText, sm: SourceMap) -> Result<(Netlist, Vec<Warning>), Vec<NetlistError>> {
    let mut modules = HashMap::new();
    let mut errors = Vec::new();
    for m in &st.modules {
        if modules.insert(m.name.name, m).is_some() {
            errors.push(NetlistError::DuplicateModule { span: sm.span(m.name.loc), name: m.name.name.to_string() });
        }
    }
    if !errors.is_empty() {
        return Err(sort(errors));
    }
    let top = match top_module(st, &sm) {
        Ok(t) => t,
        Err(e) => {
            errors.push(e);
            return Err(sort(errors));
        }
    };
    let mut b = Builder {
        sm,
        modules,
        nets: Vec::new(),
        sigs: Vec::new(),
        consts: [None; 2],
        errors,
        item_failed: false,
        stack: Vec::new(),
    };
    let scope = match b.module(top, String::new(), None) {
        Ok(s) => s,
        Err(e) => {
            b.errors.push(e);
            return Err(sort(b.errors));
        }
    };
    let result = b.emit(top, &scope);
    if b.errors.is_empty() {
        Ok(result)
    } else {
        Err(sort(b.errors))
    }
}

fn sort(mut v: Vec<NetlistError>) -> Vec<NetlistError> {
    v.sort_by_key(|e| {
        let s = e.span();
        (s.line, s.col)
    });
    v
}
