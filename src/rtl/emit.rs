//! Verilog for the systolic array of every dataflow, from one generator: the processing element
//! around a multiplier netlist (`axdnn_pe` for WS, `axdnn_pe_os`, `axdnn_pe_is`), the R×C array
//! (`axdnn_array_{ws,os,is}`) and the testbench (`axdnn_tb_{ws,os,is}`) that streams a stimulus
//! file and dumps every output with its cycle.
//!
//! Everything is written from [`Rtl`], i.e. `accel::flow::Flow`: the operand on each edge and
//! what travels with it (valid bit, the weight's negation bit, the `last` bit of an accumulating
//! array), whether the PEs hold the top operand (loaded while `load_<operand>`), and where the
//! sums go. The two PE designs differ only there ([`SumText`] and the functions after it): WS and
//! IS pass partial sums down to de-skew lines at the bottom edge, OS accumulates in every PE and
//! writes through a countdown register.
//!
//! The RTL is the register-transfer image of `accel::array` (see `sim/README.md`): the same
//! registers, each with a valid bit where the model has `Option`, so the outputs appear on the
//! same cycles as the model's SRAM writes.

use super::RtlError;
use crate::accel::flow::{Flow, FoldAt, Operand, Sums};
use crate::accel::timing::Dataflow;
use crate::netlist::ir::Netlist;
use std::fmt::Write as _;

/// The multiplier as the PE instantiates it: module name, ports and product interpretation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MulPorts {
    /// Verilog module name of the multiplier netlist.
    pub module: String,
    /// Weight operand port (LUT column), 8 bits.
    pub a: String,
    /// Activation operand port (LUT row), 8 bits.
    pub b: String,
    /// Product port and its width (≤ 32).
    pub out: String,
    /// Width of the product port in bits.
    pub out_bits: u32,
    /// Product is two's complement (sign-extended to 32 bits); else zero-extended.
    pub signed: bool,
}

impl MulPorts {
    /// Ports of a parsed netlist: `A` (weight), `B` (activation), the first output (product).
    pub fn of(net: &Netlist, signed: bool) -> Result<MulPorts, RtlError> {
        let bad = |msg: String| RtlError::Ports { module: net.name.clone(), msg };
        let a = net.input("A").ok_or_else(|| bad("no input port A (weight operand)".into()))?;
        let b = net.input("B").ok_or_else(|| bad("no input port B (activation operand)".into()))?;
        let o = net.outputs.first().ok_or_else(|| bad("no output port".into()))?;
        if a.width() != 8 || b.width() != 8 {
            return Err(bad(format!("operands are A[{}] and B[{}]; the array needs 8x8", a.width(), b.width())));
        }
        if o.width() == 0 || o.width() > 32 {
            return Err(bad(format!("product {}[{}] must be 1..=32 bits", o.name, o.width())));
        }
        if net.inputs.len() != 2 {
            return Err(bad(format!("{} input ports; the PE drives only A and B", net.inputs.len())));
        }
        Ok(MulPorts {
            module: net.name.clone(),
            a: a.name.clone(),
            b: b.name.clone(),
            out: o.name.clone(),
            out_bits: o.width() as u32,
            signed,
        })
    }
}

/// Array size of the emitted RTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// PE rows (R).
    pub rows: usize,
    /// PE columns (C).
    pub cols: usize,
}

impl Geometry {
    /// Bits of one stimulus word of `df` (one line of the stimulus file = one cycle), LSB first:
    /// the left edge's fields, the top edge's, then the load bit when the PEs hold an operand
    /// (see [`Rtl::stim_doc`]). WS: `x_left[8R] | x_vld[R] | w_top[8C] | w_vld[C] | w_neg[C]
    /// | load_w`; IS: `w_left[8R] | w_vld[R] | w_neg[R] | x_top[8C] | x_vld[C] | load_x`; OS:
    /// `x_left[8R] | x_vld[R] | x_last[R] | w_top[8C] | w_vld[C] | w_neg[C]`.
    pub fn stim_bits(&self, df: Dataflow) -> usize {
        let rtl = Rtl::of(df);
        rtl.left.stim_bits(*self) + rtl.top.stim_bits(*self) + rtl.flow.held() as usize
    }
    /// Idle cycles the testbench runs after the last stimulus line (catches late outputs).
    pub fn drain_cycles(&self) -> usize {
        2 * self.rows + 2 * self.cols + 8
    }
}

/// A 1-bit field that travels with an operand code, after its valid bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sideband {
    /// The weight's negation bit (sign-magnitude): the product is subtracted.
    Neg,
    /// Set on the last reduction element entering an accumulating (OS) array: it closes the sum
    /// (the RTL does not know K).
    Last,
}

impl Sideband {
    fn name(self) -> &'static str {
        match self {
            Sideband::Neg => "neg",
            Sideband::Last => "last",
        }
    }
    /// Letter of the per-PE wire (`wn_r_c`, `xl_r_c`).
    fn letter(self) -> &'static str {
        &self.name()[..1]
    }
}

/// One edge of the array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// The edge is the left one (a lane per array row, moving right), else the top one (a lane
    /// per column, moving down).
    pub left: bool,
    /// The operand entering here.
    pub op: Operand,
    /// What travels with each code besides its valid bit.
    pub sideband: Option<Sideband>,
}

impl Edge {
    /// `left` or `top` (port names).
    fn side(&self) -> &'static str {
        if self.left {
            "left"
        } else {
            "top"
        }
    }
    /// Lanes of the edge.
    pub fn lanes(&self, g: Geometry) -> usize {
        if self.left {
            g.rows
        } else {
            g.cols
        }
    }
    /// The lane count as the testbench names it.
    fn n(&self) -> &'static str {
        if self.left {
            "R"
        } else {
            "C"
        }
    }
    /// Bits of the edge in a stimulus word: `code[8n] | vld[n] | sideband[n]`.
    pub fn stim_bits(&self, g: Geometry) -> usize {
        self.lanes(g) * (9 + self.sideband.is_some() as usize)
    }
    /// Register name of the operand: `x` (activation) or `w` (weight).
    fn x(&self) -> &'static str {
        name(self.op)
    }
}

fn name(op: Operand) -> &'static str {
    match op {
        Operand::Act => "x",
        Operand::Wgt => "w",
    }
}

/// The RTL of one dataflow: its [`Flow`] and its two edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rtl {
    /// The dataflow.
    pub flow: Flow,
    /// The left edge.
    pub left: Edge,
    /// The top edge.
    pub top: Edge,
}

impl Rtl {
    /// The RTL of `df`: the weight carries its negation bit on whichever edge it enters; the
    /// left operand of an accumulating array carries `last`.
    pub fn of(df: Dataflow) -> Rtl {
        let flow = Flow::of(df);
        let sideband = |op: Operand, left: bool| match op {
            Operand::Wgt => Some(Sideband::Neg),
            Operand::Act if left && !flow.held() => Some(Sideband::Last),
            Operand::Act => None,
        };
        let edge = |op, left| Edge { left, op, sideband: sideband(op, left) };
        Rtl { flow, left: edge(flow.left, true), top: edge(flow.top, false) }
    }
    /// Module-name suffix: `ws`, `os`, `is`.
    fn tag(&self) -> &'static str {
        self.flow.df.name()
    }
    /// The PE's module name (the WS one, written first, is plain `axdnn_pe`).
    pub fn pe_module(&self) -> String {
        match self.flow.df {
            Dataflow::Ws => "axdnn_pe".into(),
            _ => format!("axdnn_pe_{}", self.tag()),
        }
    }
    /// The array's module name.
    pub fn array_module(&self) -> String {
        format!("axdnn_array_{}", self.tag())
    }
    /// The testbench's module name (and file stem).
    pub fn testbench_module(&self) -> String {
        format!("axdnn_tb_{}", self.tag())
    }
    /// What is stationary (`weight`-, `output`-, `input`-stationary).
    fn kind(&self) -> &'static str {
        match self.flow.df {
            Dataflow::Ws => "weight",
            Dataflow::Os => "output",
            Dataflow::Is => "input",
        }
    }
    /// The load signal of the held operand (`load_w`, `load_x`), if the PEs hold one.
    fn load(&self) -> Option<String> {
        self.flow.held().then(|| format!("load_{}", self.top.x()))
    }
    /// The edges in the order the PE and array ports list them: the held operand first, else
    /// the left one.
    fn port_order(&self) -> [Edge; 2] {
        if self.flow.held() {
            [self.top, self.left]
        } else {
            [self.left, self.top]
        }
    }
    /// A PE's register of `e`'s operand as the multiplier sees it: a held operand from its
    /// register, a streamed one as it enters.
    fn used(&self, e: Edge, field: &str) -> String {
        let q = if self.flow.held() && e == self.top { "q" } else { "in" };
        format!("{}_{field}{q}", e.x())
    }
    /// The edge `op` enters at.
    fn edge(&self, op: Operand) -> Edge {
        if self.left.op == op {
            self.left
        } else {
            self.top
        }
    }
    /// Output ports of the array: those of a fold that uses every PE.
    fn outputs(&self, g: Geometry) -> usize {
        let (pr, pc) = self.flow.ports(FoldAt { row0: 0, col0: 0, r_used: g.rows, c_used: g.cols });
        pr * pc
    }
    /// What each dump line holds, as the reports name it: `partial sums` (WS, IS; those of
    /// successive reduction folds add up) or `outputs` (OS).
    pub fn written(&self) -> &'static str {
        text(self.flow.sums).written
    }
    /// The fields of a stimulus word, LSB first: each edge's codes, valid bits and sidebands
    /// (left, then top), then the load bit (see [`Geometry::stim_bits`]).
    pub fn stim_doc(&self) -> String {
        let mut out = Vec::new();
        for e in [self.left, self.top] {
            let (x, n) = (e.x(), e.n());
            out.push(format!("{x}_{}[8{n}]", e.side()));
            out.push(format!("{x}_vld[{n}]"));
            out.extend(e.sideband.map(|sb| format!("{x}_{}[{n}]", sb.name())));
        }
        out.extend(self.load());
        out.join(" | ")
    }
}

/// The fixed text of one PE design's sum logic, and the layout conventions its files were first
/// written with (kept so that the emitted files stay byte for byte what they were).
struct SumText {
    /// PE parameter: `TOP` (row 0 starts a partial sum) or `D` (output countdown).
    param: &'static str,
    /// How the PE comment names the operands the multiplier gets, and what ends that line.
    operands_doc: [&'static str; 3],
    /// The PE comment's last two lines.
    doc: [&'static str; 2],
    /// PE ports of the sum.
    ports: &'static [&'static str],
    /// Appended to the PE's `fire` condition.
    fire: &'static str,
    /// PE declarations after `fire`.
    decls: &'static [&'static str],
    /// Sum register updates, after the operand registers'.
    update: &'static [&'static str],
    /// The array comment's second line.
    array_doc: &'static str,
    /// The operands' order in the array's per-PE wire declarations and the PE's data reset.
    wire_order: [Operand; 2],
    /// Sidebands are connected with their operand's code and valid bit (else after them).
    grouped: bool,
    /// Testbench stimulus wires carry the edge's letter (`x_lvld`, `w_tneg`; else `x_vld`).
    edge_letter: bool,
    /// Connections per line of the testbench's array instance.
    per_line: usize,
    /// The array's output ports as the testbench names their count.
    outputs: &'static str,
    /// What a dump line holds ([`Rtl::written`]).
    written: &'static str,
    /// The dump line's form in the testbench comment.
    dump_doc: &'static str,
    /// Index variable and Verilog lines of the testbench's dump.
    dump_var: &'static str,
    dump: &'static [&'static str],
}

const PASS_DOWN: SumText = SumText {
    param: "TOP",
    operands_doc: ["weight", "activation", " weight's"],
    doc: [
        "// neg bit is set (sign-magnitude). A MAC fires when the activation, the weight and (below row 0)",
        "// the partial sum are valid; otherwise the partial sum passes down unchanged (bypass).",
    ],
    ports: &["  input [31:0] ps_in, input ps_vld_in,", "  output reg [31:0] ps_q, output reg ps_vld_q"],
    fire: " & (TOP ? 1'b1 : ps_vld_in)",
    decls: &[],
    update: &["      ps_q <= fire ? ps_in + prod : ps_in;", "      ps_vld_q <= fire | (ps_vld_in & !TOP);"],
    array_doc: "// out_sum[c] holds the sum the edge ending cycle tau wrote: accel::array writes it at tau.",
    wire_order: [Operand::Wgt, Operand::Act],
    grouped: false,
    edge_letter: true,
    per_line: 4,
    outputs: "C",
    written: "partial sums",
    dump_doc: "// Dump line: CYCLE COLUMN SUM_HEX, CYCLE = index of the cycle whose closing edge loaded out_sum.",
    dump_var: "col",
    dump: &[
        "      for (col = 0; col < C; col = col + 1)",
        "        if (out_vld[col]) $fwrite(fo, \"%0d %0d %h\\n\", cyc, col, out_sum[32*col +: 32]);",
    ],
};

const IN_PLACE: SumText = SumText {
    param: "D",
    operands_doc: ["weight in", "activation in", ""],
    doc: [
        "// incoming weight's neg bit is set (sign-magnitude). A MAC fires when both incoming operands are",
        "// valid; the one whose activation carries `last` closes the sum, which leaves on out_q D cycles later.",
    ],
    ports: &["  output reg [31:0] out_q, output reg out_vld_q"],
    fire: "",
    decls: &["  reg [31:0] acc_q, hold_q; reg [15:0] cnt_q;", "  wire [31:0] sum = acc_q + prod;"],
    update: &[
        "      if (fire) acc_q <= x_last_in ? 32'd0 : sum;",
        "      out_vld_q <= 1'b0;",
        "      if (D == 0) begin",
        "        if (fire & x_last_in) begin out_q <= sum; out_vld_q <= 1'b1; end",
        "      end else begin",
        "        // Countdown (accel::array's outq): written out when it reaches 1.",
        "        if (cnt_q == 16'd1) begin out_q <= hold_q; out_vld_q <= 1'b1; end",
        "        if (cnt_q != 16'd0) cnt_q <= cnt_q - 16'd1;",
        "        if (fire & x_last_in) begin hold_q <= sum; cnt_q <= D; end",
        "      end",
    ],
    array_doc:
        "// out_sum[r*C+c] holds the sum PE (r,c) closed; accel::array writes it on the cycle whose edge loads it.",
    wire_order: [Operand::Act, Operand::Wgt],
    grouped: true,
    edge_letter: false,
    per_line: 5,
    outputs: "R*C",
    written: "outputs",
    dump_doc:
        "// Dump line: CYCLE ROW COLUMN SUM_HEX, CYCLE = index of the cycle whose closing edge loaded the output.",
    dump_var: "pe",
    dump: &[
        "      if (|out_vld)",
        "        for (pe = 0; pe < R*C; pe = pe + 1)",
        "          if (out_vld[pe]) $fwrite(fo, \"%0d %0d %0d %h\\n\", cyc, pe / C, pe % C, out_sum[32*pe +: 32]);",
    ],
};

fn text(s: Sums) -> &'static SumText {
    match s {
        Sums::PassDown => &PASS_DOWN,
        Sums::InPlace => &IN_PLACE,
    }
}

/// The PE's reset: WS/IS clear the valid bits (in port order), then the data registers (in wire
/// order); OS each operand's registers, then the sum registers.
fn pe_reset(rtl: &Rtl) -> [String; 2] {
    let sb = |e: Edge| e.sideband.map_or(String::new(), |sb| format!(" {}_{}_q <= 1'b0;", e.x(), sb.name()));
    match rtl.flow.sums {
        Sums::PassDown => {
            let vld: String = rtl.port_order().iter().map(|e| format!("{}_vld_q <= 1'b0; ", e.x())).collect();
            let data: String = (PASS_DOWN.wire_order.map(|op| rtl.edge(op)).iter())
                .map(|&e| format!("{}_q <= 8'd0;{} ", e.x(), sb(e)))
                .collect();
            [format!("      {vld}ps_vld_q <= 1'b0;"), format!("      {data}ps_q <= 32'd0;")]
        }
        Sums::InPlace => {
            let regs: Vec<String> = rtl
                .port_order()
                .iter()
                .map(|&e| format!("{0}_q <= 8'd0; {0}_vld_q <= 1'b0;{1}", e.x(), sb(e)))
                .collect();
            [
                format!("      {}", regs.join(" ")),
                "      acc_q <= 32'd0; hold_q <= 32'd0; cnt_q <= 16'd0; out_q <= 32'd0; out_vld_q <= 1'b0;".into(),
            ]
        }
    }
}

/// The PE parameter's value at PE `(r, c)`: `TOP` on row 0, or the output countdown
/// `(R − 1 − r) + (C − 1 − c)`.
fn param_value(rtl: &Rtl, g: Geometry, r: usize, c: usize) -> usize {
    match rtl.flow.sums {
        Sums::PassDown => (r == 0) as usize,
        Sums::InPlace => (g.rows - 1 - r) + (g.cols - 1 - c),
    }
}

/// The PE instance's sum connections: the partial sum from above (zero on row 0) and to below,
/// or the PE's output port.
fn sum_conns(rtl: &Rtl, g: Geometry, r: usize, c: usize) -> String {
    match rtl.flow.sums {
        Sums::PassDown => {
            let (p_in, pv_in) = if r == 0 {
                ("32'd0".to_string(), "1'b0".to_string())
            } else {
                (format!("p_{}_{c}", r - 1), format!("pv_{}_{c}", r - 1))
            };
            format!(".ps_in({p_in}), .ps_vld_in({pv_in}), .ps_q(p_{r}_{c}), .ps_vld_q(pv_{r}_{c})")
        }
        Sums::InPlace => {
            let i = r * g.cols + c;
            format!(".out_q(out_sum[{}:{}]), .out_vld_q(out_vld[{i}])", 32 * i + 31, 32 * i)
        }
    }
}

/// The PE of `df` around multiplier `m`: operand registers (the held one loaded from above while
/// `load_<operand>`, the others passed on every cycle), the multiplier on the operands as they
/// meet (weight on A, activation on B), the product extended to 32 bits and negated by the
/// weight's neg bit, and the sum logic of its design.
pub fn pe(m: &MulPorts, df: Dataflow) -> String {
    let rtl = Rtl::of(df);
    let t = text(rtl.flow.sums);
    let ow = m.out_bits;
    let ext = if ow == 32 {
        "prod_raw".to_string()
    } else if m.signed {
        format!("{{{{{}{{prod_raw[{}]}}}}, prod_raw}}", 32 - ow, ow - 1)
    } else {
        format!("{{{}'d0, prod_raw}}", 32 - ow)
    };
    let pe = rtl.pe_module();
    let [wd, xd, tail] = t.operands_doc;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "// {pe}: one {}-stationary processing element around {} (generated by axdnn).",
        rtl.kind(),
        m.module
    );
    let _ = writeln!(
        s,
        "// Product = {}(.{}({wd}), .{}({xd})), {} to 32 bits, negated when the{tail}",
        m.module,
        m.a,
        m.b,
        if m.signed { "sign-extended" } else { "zero-extended" }
    );
    for l in t.doc {
        let _ = writeln!(s, "{l}");
    }
    let _ = writeln!(s, "module {pe} #(parameter {} = 0) (", t.param);
    let _ = writeln!(s, "  input clk, input rst{},", rtl.load().map_or(String::new(), |l| format!(", input {l}")));
    for e in rtl.port_order() {
        let x = e.x();
        let sb = |dir: &str, io: &str| e.sideband.map_or(String::new(), |sb| format!(", {dir} {x}_{}_{io}", sb.name()));
        let _ = writeln!(s, "  input [7:0] {x}_in, input {x}_vld_in{},", sb("input", "in"));
        let _ = writeln!(s, "  output reg [7:0] {x}_q, output reg {x}_vld_q{},", sb("output reg", "q"));
    }
    for l in t.ports {
        let _ = writeln!(s, "{l}");
    }
    let _ = writeln!(s, ");");
    let (w, x) = (rtl.edge(Operand::Wgt), rtl.edge(Operand::Act));
    let _ = writeln!(s, "  wire [{}:0] prod_raw;", ow - 1);
    let _ = writeln!(
        s,
        "  {} mul (.{}({}), .{}({}), .{}(prod_raw));",
        m.module,
        m.a,
        rtl.used(w, ""),
        m.b,
        rtl.used(x, ""),
        m.out
    );
    let _ = writeln!(s, "  wire [31:0] prod32 = {ext};");
    let _ = writeln!(s, "  wire [31:0] prod = {} ? (32'd0 - prod32) : prod32;", rtl.used(w, "neg_"));
    let _ = writeln!(s, "  wire fire = {} & {}{};", rtl.used(rtl.left, "vld_"), rtl.used(rtl.top, "vld_"), t.fire);
    for l in t.decls {
        let _ = writeln!(s, "{l}");
    }
    let _ = writeln!(s, "  always @(posedge clk) begin");
    let _ = writeln!(s, "    if (rst) begin");
    for l in pe_reset(&rtl) {
        let _ = writeln!(s, "{l}");
    }
    let _ = writeln!(s, "    end else begin");
    for e in rtl.port_order() {
        let x = e.x();
        let sb = e.sideband.map_or(String::new(), |sb| format!(" {x}_{0}_q <= {x}_{0}_in;", sb.name()));
        let regs = format!("{x}_q <= {x}_in; {x}_vld_q <= {x}_vld_in;{sb}");
        if rtl.flow.held() && e == rtl.top {
            let _ = writeln!(s, "      if (load_{x}) begin {regs} end");
        } else {
            let _ = writeln!(s, "      {regs}");
        }
    }
    for l in t.update {
        let _ = writeln!(s, "{l}");
    }
    let _ = writeln!(s, "    end");
    let _ = writeln!(s, "  end");
    let _ = writeln!(s, "endmodule");
    s
}

/// The R×C array of `df`: operands (with their valid and sideband bits) enter at the left of
/// each row and the top of each column; WS/IS: column `c`'s bottom partial sum goes through a
/// de-skew line of `C − 1 − c` registers to `out_sum[c]`; OS: PE `(r, c)`'s output is
/// `out_sum[r*C + c]`. Written out PE by PE with one net per PE port: wide shared vectors make
/// event-driven simulators re-evaluate every reader on any bit change.
pub fn array(g: Geometry, df: Dataflow) -> String {
    let rtl = Rtl::of(df);
    let t = text(rtl.flow.sums);
    let (r_n, c_n) = (g.rows, g.cols);
    let name = rtl.array_module();
    let mut s = String::new();
    let _ = writeln!(s, "// {name}: {r_n}x{c_n} {}-stationary systolic array (generated by axdnn).", rtl.kind());
    let _ = writeln!(s, "{}", t.array_doc);
    let _ = writeln!(s, "module {name} (");
    let _ = writeln!(s, "  input clk, input rst{},", rtl.load().map_or(String::new(), |l| format!(", input {l}")));
    for e in rtl.port_order() {
        let (x, side, n) = (e.x(), e.side(), e.lanes(g));
        let sb = e.sideband.map_or(String::new(), |sb| format!(", input [{}:0] {x}_{side}_{}", n - 1, sb.name()));
        let _ = writeln!(s, "  input [{}:0] {x}_{side}, input [{}:0] {x}_{side}_vld{sb},", 8 * n - 1, n - 1);
    }
    let o = rtl.outputs(g);
    let _ = writeln!(s, "  output [{}:0] out_sum, output [{}:0] out_vld", 32 * o - 1, o - 1);
    let _ = writeln!(s, ");");
    if rtl.flow.sums == Sums::PassDown {
        let _ = writeln!(s, "  localparam R = {r_n}, C = {c_n};");
    }
    // Registers of PE (r, c): x_r_c, xv_r_c, w_r_c, wv_r_c, wn_r_c, … (and p_r_c, pv_r_c).
    let [a, b] = t.wire_order.map(|op| rtl.edge(op));
    let bits = |e: Edge, rc: &str| {
        let x = e.x();
        let sb = e.sideband.map_or(String::new(), |sb| format!(", {x}{}_{rc}", sb.letter()));
        format!("{x}v_{rc}{sb}")
    };
    for r in 0..r_n {
        for c in 0..c_n {
            let rc = format!("{r}_{c}");
            let (wide, narrow) = match rtl.flow.sums {
                Sums::PassDown => (format!(" wire [31:0] p_{rc};"), format!(", pv_{rc}")),
                Sums::InPlace => (String::new(), String::new()),
            };
            let _ = writeln!(
                s,
                "  wire [7:0] {}_{rc}, {}_{rc};{wide} wire {}, {}{narrow};",
                a.x(),
                b.x(),
                bits(a, &rc),
                bits(b, &rc)
            );
        }
    }
    let pe = rtl.pe_module();
    for r in 0..r_n {
        for c in 0..c_n {
            let load = rtl.load().map_or(String::new(), |l| format!(", .{l}({l})"));
            let _ = writeln!(
                s,
                "  {pe} #(.{}({})) pe_{r}_{c} (.clk(clk), .rst(rst){load},",
                t.param,
                param_value(&rtl, g, r, c)
            );
            for e in rtl.port_order() {
                let x = e.x();
                // What enters: the edge's lane, or the neighbour's register (left or above).
                let lane = if e.left { r } else { c };
                let from = match (e.left, r, c) {
                    (true, _, 0) | (false, 0, _) => None,
                    (true, _, _) => Some(format!("{r}_{}", c - 1)),
                    (false, _, _) => Some(format!("{}_{c}", r - 1)),
                };
                let side = e.side();
                let (code, vld) = match &from {
                    None => (format!("{x}_{side}[{}:{}]", 8 * lane + 7, 8 * lane), format!("{x}_{side}_vld[{lane}]")),
                    Some(n) => (format!("{x}_{n}"), format!("{x}v_{n}")),
                };
                let main_in = format!(".{x}_in({code}), .{x}_vld_in({vld})");
                let main_q = format!(".{x}_q({x}_{r}_{c}), .{x}_vld_q({x}v_{r}_{c})");
                let line = match e.sideband {
                    None => format!("{main_in}, {main_q}"),
                    Some(sb) => {
                        let sbn = sb.name();
                        let sb_in = match &from {
                            None => format!("{x}_{side}_{sbn}[{lane}]"),
                            Some(n) => format!("{x}{}_{n}", sb.letter()),
                        };
                        let (i, q) =
                            (format!(".{x}_{sbn}_in({sb_in})"), format!(".{x}_{sbn}_q({x}{}_{r}_{c})", sb.letter()));
                        if t.grouped {
                            format!("{main_in}, {i}, {main_q}, {q}")
                        } else {
                            format!("{main_in}, {main_q}, {i}, {q}")
                        }
                    }
                };
                let _ = writeln!(s, "    {line},");
            }
            let _ = writeln!(s, "    {});", sum_conns(&rtl, g, r, c));
        }
    }
    if rtl.flow.sums == Sums::PassDown {
        deskew(&mut s, g);
    }
    let _ = writeln!(s, "endmodule");
    s
}

/// WS/IS output de-skew: column `c`'s bottom partial sum through `C − 1 − c` registers.
fn deskew(s: &mut String, g: Geometry) {
    let (r_n, c_n) = (g.rows, g.cols);
    let _ = writeln!(s, "  // Output de-skew: column c waits C-1-c cycles so a whole output row leaves together.");
    let b = r_n - 1;
    for c in 0..c_n {
        let d = c_n - 1 - c;
        let (mut prev, mut prev_v) = (format!("p_{b}_{c}"), format!("pv_{b}_{c}"));
        for k in 0..d {
            let _ = writeln!(s, "  reg [31:0] dl_{c}_{k}; reg dlv_{c}_{k};");
            let _ = writeln!(
                s,
                "  always @(posedge clk) begin dl_{c}_{k} <= {prev}; dlv_{c}_{k} <= rst ? 1'b0 : {prev_v}; end"
            );
            prev = format!("dl_{c}_{k}");
            prev_v = format!("dlv_{c}_{k}");
        }
        let _ = writeln!(s, "  assign out_sum[{}:{}] = {prev}; assign out_vld[{c}] = {prev_v};", 32 * c + 31, 32 * c);
    }
}

/// The testbench of `df`: one reset cycle, then cycle 0, 1, …: reads one stimulus word per cycle
/// (`+stim=PATH`, hex, see [`Geometry::stim_bits`]), applies it, clocks, and writes every valid
/// output with its cycle to `+out=PATH` — `CYCLE COLUMN SUM_HEX` when sums pass down (the column
/// of the bottom edge), `CYCLE ROW COLUMN SUM_HEX` when they stay in place (the PE); after the
/// stimulus ends it runs [`Geometry::drain_cycles`] idle cycles.
pub fn testbench(g: Geometry, df: Dataflow) -> String {
    let rtl = Rtl::of(df);
    let t = text(rtl.flow.sums);
    let (r, c) = (g.rows, g.cols);
    let tb = rtl.testbench_module();
    let array = rtl.array_module();
    let mut s = String::new();
    let _ = writeln!(s, "// {tb}: stimulus-driven testbench of {array} {r}x{c} (generated by axdnn).");
    let _ = writeln!(s, "// Stimulus line (hex, LSB first): {}.", rtl.stim_doc());
    let _ = writeln!(s, "{}", t.dump_doc);
    let _ = writeln!(s, "`timescale 1ns/1ps");
    let _ = writeln!(s, "module {tb};");
    let _ = writeln!(s, "  localparam R = {r}, C = {c}, SW = {}, DRAIN = {};", g.stim_bits(df), g.drain_cycles());
    let _ = writeln!(s, "  reg clk, rst;");
    let _ = writeln!(s, "  reg [SW-1:0] stim;");
    // One wire per stimulus field, in stimulus order; (array port, wire) per edge.
    let mut edges: Vec<(Edge, Vec<(String, String)>)> = Vec::new();
    let mut base = String::new(); // offset of the edge's fields, e.g. "9*R+"
    for e in [rtl.left, rtl.top] {
        let (x, side, n) = (e.x(), e.side(), e.n());
        let letter = if t.edge_letter { &side[..1] } else { "" };
        let mut fields = vec![
            (format!("{x}_{side}"), format!("{x}_{side}")),
            (format!("{x}_{side}_vld"), format!("{x}_{letter}vld")),
        ];
        if let Some(sb) = e.sideband {
            fields.push((format!("{x}_{side}_{}", sb.name()), format!("{x}_{letter}{}", sb.name())));
        }
        for (i, (_, wire)) in fields.iter().enumerate() {
            let (width, lo) = match (i, base.as_str()) {
                (0, "") => (format!("8*{n}"), "0".to_string()),
                (0, b) => (format!("8*{n}"), b.trim_end_matches('+').to_string()),
                _ => (n.to_string(), format!("{base}{}*{n}", 7 + i)),
            };
            let _ = writeln!(s, "  wire [{width}-1:0] {wire} = stim[{base}{}*{n}-1:{lo}];", 8 + i);
        }
        base = format!("{}*{n}+", 7 + fields.len());
        edges.push((e, fields));
    }
    if let Some(l) = rtl.load() {
        let _ = writeln!(s, "  wire {l} = stim[SW-1];");
    }
    let _ = writeln!(s, "  wire [32*{0}-1:0] out_sum; wire [{0}-1:0] out_vld;", t.outputs);
    // The array instance: clock, reset, load, the edges in port order, the outputs.
    let mut list: Vec<String> = vec![".clk(clk)".into(), ".rst(rst)".into()];
    list.extend(rtl.load().map(|l| format!(".{l}({l})")));
    let mut after = Vec::new();
    for e in rtl.port_order() {
        let fields = edges.iter().find(|(f, _)| *f == e).map_or(&[][..], |(_, f)| &f[..]);
        for (i, (port, wire)) in fields.iter().enumerate() {
            let conn = format!(".{port}({wire})");
            if i < 2 || t.grouped {
                list.push(conn);
            } else {
                after.push(conn);
            }
        }
    }
    list.extend(after);
    list.push(".out_sum(out_sum)".into());
    list.push(".out_vld(out_vld)".into());
    let lines: Vec<String> = list.chunks(t.per_line).map(|l| l.join(", ")).collect();
    for (i, l) in lines.iter().enumerate() {
        let pre = if i == 0 { format!("  {array} dut (") } else { "    ".into() };
        let end = if i + 1 == lines.len() { ");" } else { "," };
        let _ = writeln!(s, "{pre}{l}{end}");
    }
    driver(&mut s, &tb, t.dump_var, t.dump);
    s
}

/// The stimulus-driven clock loop of every testbench: one reset cycle, then one stimulus word per
/// numbered cycle, `dump` (Verilog lines, index variable `var`) after each closing edge, `DRAIN`
/// idle cycles after the stimulus ends.
fn driver(s: &mut String, tb: &str, var: &str, dump: &[&str]) {
    let _ = writeln!(s, "  integer fi, fo, cyc, {var}, idle, code;");
    let _ = writeln!(s, "  reg [8*1024-1:0] inpath, outpath;");
    let _ = writeln!(s, "  initial begin");
    let _ = writeln!(s, "    if (!$value$plusargs(\"stim=%s\", inpath)) inpath = \"stim.hex\";");
    let _ = writeln!(s, "    if (!$value$plusargs(\"out=%s\", outpath)) outpath = \"dump.txt\";");
    let _ = writeln!(s, "    fi = $fopen(inpath, \"r\");");
    let _ = writeln!(s, "    if (fi == 0) begin $display(\"{tb}: cannot open stimulus\"); $finish; end");
    let _ = writeln!(s, "    fo = $fopen(outpath, \"w\");");
    let _ = writeln!(s, "    stim = {{SW{{1'b0}}}}; clk = 1'b0; rst = 1'b1;");
    let _ = writeln!(s, "    #1 clk = 1'b1; #1 clk = 1'b0; rst = 1'b0; // reset cycle, not numbered");
    let _ = writeln!(s, "    cyc = 0; idle = 0;");
    let _ = writeln!(s, "    while (idle < DRAIN) begin");
    let _ = writeln!(s, "      code = $fscanf(fi, \"%h\\n\", stim);");
    let _ = writeln!(s, "      if (code != 1) begin stim = {{SW{{1'b0}}}}; idle = idle + 1; end");
    let _ = writeln!(s, "      #1 clk = 1'b1; // the edge ending cycle cyc");
    let _ = writeln!(s, "      #1;");
    for l in dump {
        let _ = writeln!(s, "{l}");
    }
    let _ = writeln!(s, "      clk = 1'b0;");
    let _ = writeln!(s, "      cyc = cyc + 1;");
    let _ = writeln!(s, "    end");
    let _ = writeln!(s, "    $fclose(fo); $fclose(fi);");
    let _ = writeln!(s, "    $finish;");
    let _ = writeln!(s, "  end");
    let _ = writeln!(s, "endmodule");
}
