//! Our own multiplier generator: exact ripple-carry array, truncated and broken-array (BAM)
//! multipliers of any N×M, built as gate IR and written as flat `assign` Verilog (the EvoApprox
//! "dialect 1" style), so the whole flow works without any third-party library.
//!
//! All three are the same structure: the kept partial products `A[i] & B[j]` summed row by row
//! with exact ripple-carry adders. They differ only in which partial products are kept:
//! - exact: all;
//! - truncated (k): those of weight `i + j >= k` (the k least-significant columns dropped);
//! - BAM (hbl, vbl), Mahdiani et al. 2010: those with `j >= hbl` (rows of B below the horizontal
//!   break level dropped) and `i + j >= vbl` (columns right of the vertical break level dropped).

use crate::netlist::ir::{Netlist, Node, NodeId, Op, Port};
use std::fmt::Write as _;

/// Which partial products a generated multiplier keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Keep every partial product: the exact unsigned multiplier.
    Exact,
    /// Drop the `k` least-significant partial-product columns.
    Truncated {
        /// Number of least-significant columns dropped (weights `i + j < k`).
        k: u32,
    },
    /// Broken-array multiplier with horizontal and vertical break levels.
    Bam {
        /// Horizontal break level: rows `j < hbl` of `B` are dropped.
        hbl: u32,
        /// Vertical break level: columns of weight `i + j < vbl` are dropped.
        vbl: u32,
    },
    /// Exact two's-complement multiplier (modified Baugh-Wooley: the partial products with one
    /// sign bit are inverted and the constant 2^(N+M-1) + 2^(N-1) + 2^(M-1) is added).
    SignedExact,
}

impl Kind {
    /// Is partial product `A[i] & B[j]` kept?
    pub fn keeps(self, i: u32, j: u32) -> bool {
        match self {
            Kind::Exact | Kind::SignedExact => true,
            Kind::Truncated { k } => i + j >= k,
            Kind::Bam { hbl, vbl } => j >= hbl && i + j >= vbl,
        }
    }
}

/// One generated multiplier: `n`-bit `A`, `m`-bit `B`, `n+m`-bit `O`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Width of operand `A` in bits.
    pub n: u32,
    /// Width of operand `B` in bits.
    pub m: u32,
    /// Which partial products are kept.
    pub kind: Kind,
}

impl Spec {
    /// EvoApprox-style name: `mul8u_gen_exact`, `mul8u_gen_trunc4`, `mul8x4u_gen_bam_h2v6`.
    pub fn name(&self) -> String {
        let size = if self.n == self.m { format!("{}", self.n) } else { format!("{}x{}", self.n, self.m) };
        let sign = if self.kind == Kind::SignedExact { "s" } else { "u" };
        let kind = match self.kind {
            Kind::Exact | Kind::SignedExact => "exact".to_string(),
            Kind::Truncated { k } => format!("trunc{k}"),
            Kind::Bam { hbl, vbl } => format!("bam_h{hbl}v{vbl}"),
        };
        format!("mul{size}{sign}_gen_{kind}")
    }

    /// The gate netlist.
    pub fn netlist(&self) -> Netlist {
        let mut b = Builder::new(self.name());
        let a_bits: Vec<NodeId> = (0..self.n).map(|i| b.input(format!("A[{i}]"))).collect();
        let b_bits: Vec<NodeId> = (0..self.m).map(|j| b.input(format!("B[{j}]"))).collect();
        let width = (self.n + self.m) as usize;
        // acc[w]: the current sum bit of weight w (None = constant 0).
        let mut acc: Vec<Option<NodeId>> = vec![None; width];
        let bw = self.kind == Kind::SignedExact;
        for j in 0..self.m {
            let mut row: Vec<Option<NodeId>> = vec![None; width];
            for i in 0..self.n {
                if self.kind.keeps(i, j) {
                    // Baugh-Wooley: a partial product with exactly one sign bit is inverted.
                    let one_sign = (i == self.n - 1) != (j == self.m - 1);
                    let op = if bw && one_sign { Op::Nand } else { Op::And };
                    row[(i + j) as usize] = Some(b.gate(op, &[a_bits[i as usize], b_bits[j as usize]]));
                }
            }
            acc = b.ripple_add(&acc, &row);
        }
        if bw && width > 1 {
            // + 2^(N+M-1) + 2^(N-1) + 2^(M-1) (mod 2^(N+M)), as a constant addend.
            let k = (1u64 << (width - 1)).wrapping_add(1 << (self.n - 1)).wrapping_add(1 << (self.m - 1));
            let one = b.gate(Op::Const1, &[]);
            let row: Vec<Option<NodeId>> = (0..width).map(|w| ((k >> w) & 1 == 1).then_some(one)).collect();
            acc = b.ripple_add(&acc, &row);
        }
        let zero = acc.iter().any(|x| x.is_none()).then(|| b.gate(Op::Const0, &[]));
        let bits = acc.into_iter().map(|x| x.or(zero).expect("zero exists")).collect();
        Netlist {
            name: b.name,
            nodes: b.nodes,
            inputs: vec![Port { name: "A".into(), bits: a_bits }, Port { name: "B".into(), bits: b_bits }],
            outputs: vec![Port { name: "O".into(), bits }],
        }
    }

    /// Closed form of the product, computed arithmetically (independent of the gates): the sum
    /// of the kept partial products.
    pub fn closed_form(&self, a: u64, b: u64) -> u64 {
        if self.kind == Kind::SignedExact {
            let v = |x: u64, w: u32| if (x >> (w - 1)) & 1 == 1 { x as i64 - (1i64 << w) } else { x as i64 };
            return (v(a, self.n) * v(b, self.m)) as u64 & ((1u64 << (self.n + self.m)) - 1);
        }
        let mut s = 0u64;
        for i in 0..self.n {
            for j in 0..self.m {
                if self.kind.keeps(i, j) {
                    s += ((a >> i) & (b >> j) & 1) << (i + j);
                }
            }
        }
        s
    }
}

/// The default set `axdnn gen` writes into `netlists/gen/`.
pub fn default_set() -> Vec<Spec> {
    let mut v = vec![
        Spec { n: 8, m: 8, kind: Kind::Exact },
        Spec { n: 4, m: 4, kind: Kind::Exact },
        Spec { n: 8, m: 8, kind: Kind::SignedExact },
    ];
    for k in [4, 6, 8] {
        v.push(Spec { n: 8, m: 8, kind: Kind::Truncated { k } });
    }
    // hbl = 0 would duplicate a truncated multiplier (BAM(0, v) keeps exactly the columns i+j >= v).
    for (hbl, vbl) in [(1, 6), (2, 6), (2, 8), (3, 9)] {
        v.push(Spec { n: 8, m: 8, kind: Kind::Bam { hbl, vbl } });
    }
    v
}

struct Builder {
    name: String,
    nodes: Vec<Node>,
}

impl Builder {
    fn new(name: String) -> Self {
        Builder { name, nodes: Vec::new() }
    }

    fn input(&mut self, name: String) -> NodeId {
        self.push(Op::Input, [0; 3], "input", name)
    }

    fn push(&mut self, op: Op, fanin: [NodeId; 3], cell: &str, name: String) -> NodeId {
        self.nodes.push(Node { op, fanin, cell: cell.into(), name });
        (self.nodes.len() - 1) as NodeId
    }

    fn gate(&mut self, op: Op, f: &[NodeId]) -> NodeId {
        let mut fanin = [0; 3];
        fanin[..f.len()].copy_from_slice(f);
        let id = self.nodes.len();
        self.push(op, fanin, "assign", format!("sig_{id}"))
    }

    /// Exact sum of two bit vectors (same width; the carry out of the top bit is dropped, which
    /// never loses information here because the true sum fits in n+m bits).
    fn ripple_add(&mut self, x: &[Option<NodeId>], y: &[Option<NodeId>]) -> Vec<Option<NodeId>> {
        let mut out = Vec::with_capacity(x.len());
        let mut carry: Option<NodeId> = None;
        for (&a, &b) in x.iter().zip(y) {
            let ins: Vec<NodeId> = [a, b, carry].into_iter().flatten().collect();
            let (s, c) = match ins.as_slice() {
                [] => (None, None),
                [p] => (Some(*p), None),
                [p, q] => (Some(self.gate(Op::Xor, &[*p, *q])), Some(self.gate(Op::And, &[*p, *q]))),
                [p, q, r] => {
                    let t = self.gate(Op::Xor, &[*p, *q]);
                    let s = self.gate(Op::Xor, &[t, *r]);
                    let c1 = self.gate(Op::And, &[*p, *q]);
                    let c2 = self.gate(Op::And, &[t, *r]);
                    (Some(s), Some(self.gate(Op::Or, &[c1, c2])))
                }
                _ => unreachable!("at most three addends"),
            };
            out.push(s);
            carry = c;
        }
        out
    }
}

/// Write `net` as flat `assign` Verilog: one `sig_<k>` wire per gate. Operands are the input bits
/// (`A[i]`), wires or constants; every operator of the IR is written as a Verilog expression.
pub fn to_verilog(net: &Netlist, header: &str) -> String {
    let names: Vec<String> = net
        .nodes
        .iter()
        .enumerate()
        .map(|(k, n)| match n.op {
            Op::Input => n.name.clone(),
            Op::Const0 => "1'b0".into(),
            Op::Const1 => "1'b1".into(),
            _ => format!("sig_{k}"),
        })
        .collect();
    let mut s = String::new();
    for line in header.lines() {
        let _ = writeln!(s, "// {line}");
    }
    let ports: Vec<&str> = net.inputs.iter().chain(&net.outputs).map(|p| p.name.as_str()).collect();
    let _ = writeln!(s, "module {} ({});", net.name, ports.join(", "));
    for p in &net.inputs {
        let _ = writeln!(s, "input [{}:0] {};", p.width() - 1, p.name);
    }
    for p in &net.outputs {
        let _ = writeln!(s, "output [{}:0] {};", p.width() - 1, p.name);
    }
    let wires: Vec<&String> = net
        .nodes
        .iter()
        .zip(&names)
        .filter(|(n, _)| !matches!(n.op, Op::Input | Op::Const0 | Op::Const1))
        .map(|(_, name)| name)
        .collect();
    for chunk in wires.chunks(20) {
        let list: Vec<&str> = chunk.iter().map(|x| x.as_str()).collect();
        let _ = writeln!(s, "wire {};", list.join(","));
    }
    for (k, n) in net.nodes.iter().enumerate() {
        let f = |i: usize| names[n.fanin[i] as usize].as_str();
        let e = match n.op {
            Op::Input | Op::Const0 | Op::Const1 => continue,
            Op::Buf => f(0).to_string(),
            Op::Not => format!("~{}", f(0)),
            Op::And => format!("{} & {}", f(0), f(1)),
            Op::Or => format!("{} | {}", f(0), f(1)),
            Op::Xor => format!("{} ^ {}", f(0), f(1)),
            Op::Nand => format!("~({} & {})", f(0), f(1)),
            Op::Nor => format!("~({} | {})", f(0), f(1)),
            Op::Xnor => format!("~({} ^ {})", f(0), f(1)),
            Op::Nand3 => format!("~({} & {} & {})", f(0), f(1), f(2)),
            Op::Nor3 => format!("~({} | {} | {})", f(0), f(1), f(2)),
            Op::Aoi21 => format!("~(({} & {}) | {})", f(0), f(1), f(2)),
            Op::Oai21 => format!("~(({} | {}) & {})", f(0), f(1), f(2)),
            Op::Mux => format!("{} ? {} : {}", f(2), f(1), f(0)),
            Op::Xor3 => format!("{} ^ {} ^ {}", f(0), f(1), f(2)),
            Op::Maj => format!("({0} & {1}) | ({0} & {2}) | ({1} & {2})", f(0), f(1), f(2)),
        };
        let _ = writeln!(s, "assign {} = {};", names[k], e);
    }
    for p in &net.outputs {
        for (i, &b) in p.bits.iter().enumerate() {
            let _ = writeln!(s, "assign {}[{}] = {};", p.name, i, names[b as usize]);
        }
    }
    let _ = writeln!(s, "endmodule");
    s
}

/// A header comment saying what the file is and that it is generated.
pub fn header(spec: &Spec) -> String {
    let what = match spec.kind {
        Kind::Exact => "exact ripple-carry array multiplier".to_string(),
        Kind::SignedExact => "exact two's-complement (modified Baugh-Wooley) array multiplier".to_string(),
        Kind::Truncated { k } => {
            format!("truncated array multiplier, {k} least-significant partial-product columns dropped")
        }
        Kind::Bam { hbl, vbl } => format!(
            "broken-array multiplier (Mahdiani et al.), horizontal break level {hbl}, vertical break level {vbl}"
        ),
    };
    let sign = if spec.kind == Kind::SignedExact { "signed" } else { "unsigned" };
    format!(
        "Generated by axdnn gen: {}x{} {sign} {what}.\nPorts: A[{}:0], B[{}:0], O[{}:0] = approximately A*B.",
        spec.n,
        spec.m,
        spec.n - 1,
        spec.m - 1,
        spec.n + spec.m - 1
    )
}

/// The specs of `axdnn gen`: each parsed ([`parse_spec`]), or [`default_set`] when none is given.
pub fn parse_specs(specs: &[String]) -> Result<Vec<Spec>, String> {
    if specs.is_empty() {
        return Ok(default_set());
    }
    specs.iter().map(|s| parse_spec(s)).collect()
}

impl Spec {
    /// Write the multiplier as `NAME.v` into `dir` (atomically); the file and its gate count
    /// (inputs not counted), as `PATH: N gates`.
    pub fn write(&self, dir: &std::path::Path) -> Result<String, String> {
        let net = self.netlist();
        let path = dir.join(format!("{}.v", self.name()));
        crate::util::write_atomic(&path, to_verilog(&net, &header(self)).as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let gates = net.nodes.iter().filter(|n| n.op != Op::Input).count();
        Ok(format!("{}: {gates} gates", path.display()))
    }
}

/// Parse a generator spec: `exact:NxM`, `sexact:NxM` (signed), `trunc:NxM:K` or `bam:NxM:HBL:VBL` (`N` alone = `NxN`).
pub fn parse_spec(s: &str) -> Result<Spec, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let size = |t: &str| -> Result<(u32, u32), String> {
        let (n, m) = t.split_once('x').unwrap_or((t, t));
        let p = |x: &str| {
            x.parse::<u32>().ok().filter(|v| (1..=16).contains(v)).ok_or(format!("bad width {x:?} in {s:?} (1..=16)"))
        };
        Ok((p(n)?, p(m)?))
    };
    let num = |x: &str| x.parse::<u32>().map_err(|_| format!("bad number {x:?} in {s:?}"));
    let (n, m, kind) = match parts.as_slice() {
        ["exact", sz] => {
            let (n, m) = size(sz)?;
            (n, m, Kind::Exact)
        }
        ["sexact", sz] => {
            let (n, m) = size(sz)?;
            if n < 2 || m < 2 {
                return Err(format!("signed multiplier {s:?} needs widths of at least 2"));
            }
            (n, m, Kind::SignedExact)
        }
        // Columns run 0..=N+M-2 and rows of B 0..M-1: beyond that nothing of the product is
        // left (the output would ignore its operands), so such levels are refused.
        ["trunc", sz, k] => {
            let (n, m) = size(sz)?;
            let k = num(k)?;
            if k > n + m - 2 {
                return Err(format!("{s:?}: K = {k} drops every column of a {n}x{m} product (K <= {})", n + m - 2));
            }
            (n, m, Kind::Truncated { k })
        }
        ["bam", sz, h, v] => {
            let (n, m) = size(sz)?;
            let (hbl, vbl) = (num(h)?, num(v)?);
            if hbl > m - 1 {
                return Err(format!("{s:?}: HBL = {hbl} drops every row of the {m}-bit B (HBL <= {})", m - 1));
            }
            if vbl > n + m - 2 {
                return Err(format!(
                    "{s:?}: VBL = {vbl} drops every column of a {n}x{m} product (VBL <= {})",
                    n + m - 2
                ));
            }
            (n, m, Kind::Bam { hbl, vbl })
        }
        _ => return Err(format!("bad spec {s:?}: want exact:NxM, trunc:NxM:K or bam:NxM:HBL:VBL")),
    };
    Ok(Spec { n, m, kind })
}
