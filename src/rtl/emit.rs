//! Verilog for the weight- and input-stationary arrays (the output-stationary one is in
//! `emit_os`): `axdnn_pe` / `axdnn_pe_is` (one processing element around a multiplier netlist),
//! `axdnn_array_ws` / `axdnn_array_is` (R×C PEs with the output de-skew lines) and the
//! testbenches `axdnn_tb_ws` / `axdnn_tb_is` that stream a stimulus file and dump every output
//! with its cycle. IS is WS with the operands' roles swapped, so one generator writes both.
//!
//! The RTL is the register-transfer image of `accel::array`'s WS/IS fold (see `sim/README.md`):
//! the same registers (weight, activation, partial sum, de-skew line), each with a valid bit where
//! the model has `Option`, so the outputs appear on the same cycles as the model's SRAM writes.

use super::RtlError;
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
    /// Bits of one WS stimulus word (one line of the stimulus file = one cycle), LSB first:
    /// `x_left[8R] | x_vld[R] | w_top[8C] | w_vld[C] | w_neg[C] | load_w`; IS:
    /// `w_left[8R] | w_vld[R] | w_neg[R] | x_top[8C] | x_vld[C] | load_x` (the negation bit
    /// travels with the weight, which IS streams).
    pub fn stim_bits(&self) -> usize {
        9 * self.rows + 10 * self.cols + 1
    }
    /// Bits of one IS stimulus word (see [`Geometry::stim_bits`]).
    pub fn stim_bits_is(&self) -> usize {
        10 * self.rows + 9 * self.cols + 1
    }
    /// Idle cycles the testbench runs after the last stimulus line (catches late outputs).
    pub fn drain_cycles(&self) -> usize {
        2 * self.rows + 2 * self.cols + 8
    }
}

/// Names of a stationary-operand array (WS or IS): the operand loaded from the top and held
/// (`s`), the one streamed from the left (`t`); the weight's negation bit travels with
/// whichever of the two is the weight.
struct Names {
    /// `ws` or `is` (module name suffixes; the WS PE is plain `axdnn_pe`).
    tag: &'static str,
    pe: &'static str,
    s: &'static str,
    t: &'static str,
    /// The weight is the stationary operand (WS).
    neg_on_s: bool,
}

fn names(is: bool) -> Names {
    if is {
        Names { tag: "is", pe: "axdnn_pe_is", s: "x", t: "w", neg_on_s: false }
    } else {
        Names { tag: "ws", pe: "axdnn_pe", s: "w", t: "x", neg_on_s: true }
    }
}

/// `axdnn_pe`: weight register (loaded from above while `load_w`), activation register passing
/// right, multiplier (activation on B, weight on A), partial-sum register passing down.
pub fn pe(m: &MulPorts) -> String {
    stationary_pe(m, &names(false))
}

/// `axdnn_pe_is`: activation register (loaded from above while `load_x`), weight register
/// passing right with its negation bit, the same multiplier wiring and partial-sum register.
pub fn pe_is(m: &MulPorts) -> String {
    stationary_pe(m, &names(true))
}

fn stationary_pe(m: &MulPorts, n: &Names) -> String {
    let ow = m.out_bits;
    let ext = if ow == 32 {
        "prod_raw".to_string()
    } else if m.signed {
        format!("{{{{{}{{prod_raw[{}]}}}}, prod_raw}}", 32 - ow, ow - 1)
    } else {
        format!("{{{}'d0, prod_raw}}", 32 - ow)
    };
    let (s_, t_) = (n.s, n.t);
    let (neg_s_in, neg_s_q, neg_t_in, neg_t_q) = if n.neg_on_s {
        (", input w_neg_in", ", output reg w_neg_q", "", "")
    } else {
        ("", "", ", input w_neg_in", ", output reg w_neg_q")
    };
    // The multiplier sees the weight and activation as they meet: the stationary register and
    // the streamed input.
    let (wa, xb, neg) = if n.neg_on_s { ("w_q", "x_in", "w_neg_q") } else { ("w_in", "x_q", "w_neg_in") };
    let kind = if n.neg_on_s { "weight" } else { "input" };
    let mut s = String::new();
    let _ =
        writeln!(s, "// {}: one {kind}-stationary processing element around {} (generated by axdnn).", n.pe, m.module);
    let _ = writeln!(
        s,
        "// Product = {}(.{}(weight), .{}(activation)), {} to 32 bits, negated when the weight's",
        m.module,
        m.a,
        m.b,
        if m.signed { "sign-extended" } else { "zero-extended" }
    );
    let _ = writeln!(
        s,
        "// neg bit is set (sign-magnitude). A MAC fires when the activation, the weight and (below row 0)"
    );
    let _ = writeln!(s, "// the partial sum are valid; otherwise the partial sum passes down unchanged (bypass).");
    let _ = writeln!(s, "module {} #(parameter TOP = 0) (", n.pe);
    let _ = writeln!(s, "  input clk, input rst, input load_{s_},");
    let _ = writeln!(s, "  input [7:0] {s_}_in, input {s_}_vld_in{neg_s_in},");
    let _ = writeln!(s, "  output reg [7:0] {s_}_q, output reg {s_}_vld_q{neg_s_q},");
    let _ = writeln!(s, "  input [7:0] {t_}_in, input {t_}_vld_in{neg_t_in},");
    let _ = writeln!(s, "  output reg [7:0] {t_}_q, output reg {t_}_vld_q{neg_t_q},");
    let _ = writeln!(s, "  input [31:0] ps_in, input ps_vld_in,");
    let _ = writeln!(s, "  output reg [31:0] ps_q, output reg ps_vld_q");
    let _ = writeln!(s, ");");
    let _ = writeln!(s, "  wire [{}:0] prod_raw;", ow - 1);
    let _ = writeln!(s, "  {} mul (.{}({wa}), .{}({xb}), .{}(prod_raw));", m.module, m.a, m.b, m.out);
    let _ = writeln!(s, "  wire [31:0] prod32 = {ext};");
    let _ = writeln!(s, "  wire [31:0] prod = {neg} ? (32'd0 - prod32) : prod32;");
    let _ = writeln!(s, "  wire fire = {t_}_vld_in & {s_}_vld_q & (TOP ? 1'b1 : ps_vld_in);");
    let _ = writeln!(s, "  always @(posedge clk) begin");
    let _ = writeln!(s, "    if (rst) begin");
    let _ = writeln!(s, "      {s_}_vld_q <= 1'b0; {t_}_vld_q <= 1'b0; ps_vld_q <= 1'b0;");
    let _ = writeln!(s, "      w_q <= 8'd0; w_neg_q <= 1'b0; x_q <= 8'd0; ps_q <= 32'd0;");
    let _ = writeln!(s, "    end else begin");
    if n.neg_on_s {
        let _ = writeln!(s, "      if (load_w) begin w_q <= w_in; w_vld_q <= w_vld_in; w_neg_q <= w_neg_in; end");
        let _ = writeln!(s, "      x_q <= x_in; x_vld_q <= x_vld_in;");
    } else {
        let _ = writeln!(s, "      if (load_x) begin x_q <= x_in; x_vld_q <= x_vld_in; end");
        let _ = writeln!(s, "      w_q <= w_in; w_vld_q <= w_vld_in; w_neg_q <= w_neg_in;");
    }
    let _ = writeln!(s, "      ps_q <= fire ? ps_in + prod : ps_in;");
    let _ = writeln!(s, "      ps_vld_q <= fire | (ps_vld_in & !TOP);");
    let _ = writeln!(s, "    end");
    let _ = writeln!(s, "  end");
    let _ = writeln!(s, "endmodule");
    s
}

/// `axdnn_array_ws`: R×C PEs; activations enter at the left of each row, weights and zero partial
/// sums at the top of each column; column `c`'s bottom partial sum goes through a de-skew line of
/// `C − 1 − c` registers to `out_sum[c]`. Written out PE by PE with one net per PE port: wide
/// shared vectors make event-driven simulators re-evaluate every reader on any bit change.
pub fn array(g: Geometry) -> String {
    stationary_array(g, &names(false))
}

/// `axdnn_array_is`: as `axdnn_array_ws` with activations loaded from the top and weights (with
/// their negation bits) entering at the left.
pub fn array_is(g: Geometry) -> String {
    stationary_array(g, &names(true))
}

fn stationary_array(g: Geometry, n: &Names) -> String {
    let (r_n, c_n) = (g.rows, g.cols);
    let (s_, t_) = (n.s, n.t);
    let (top_neg, left_neg) = if n.neg_on_s {
        (format!(", input [{}:0] w_top_neg", c_n - 1), String::new())
    } else {
        (String::new(), format!(", input [{}:0] w_left_neg", r_n - 1))
    };
    let kind = if n.neg_on_s { "weight" } else { "input" };
    let mut s = String::new();
    let _ = writeln!(s, "// axdnn_array_{}: {r_n}x{c_n} {kind}-stationary systolic array (generated by axdnn).", n.tag);
    let _ = writeln!(s, "// out_sum[c] holds the sum the edge ending cycle tau wrote: accel::array writes it at tau.");
    let _ = writeln!(s, "module axdnn_array_{} (", n.tag);
    let _ = writeln!(s, "  input clk, input rst, input load_{s_},");
    let _ = writeln!(s, "  input [{}:0] {s_}_top, input [{}:0] {s_}_top_vld{top_neg},", 8 * c_n - 1, c_n - 1);
    let _ = writeln!(s, "  input [{}:0] {t_}_left, input [{}:0] {t_}_left_vld{left_neg},", 8 * r_n - 1, r_n - 1);
    let _ = writeln!(s, "  output [{}:0] out_sum, output [{}:0] out_vld", 32 * c_n - 1, c_n - 1);
    let _ = writeln!(s, ");");
    let _ = writeln!(s, "  localparam R = {r_n}, C = {c_n};");
    // Registers of PE (r, c): w_r_c, wv_r_c, wn_r_c, x_r_c, xv_r_c, p_r_c, pv_r_c.
    for r in 0..r_n {
        for c in 0..c_n {
            let _ = writeln!(
                s,
                "  wire [7:0] w_{r}_{c}, x_{r}_{c}; wire [31:0] p_{r}_{c}; wire wv_{r}_{c}, wn_{r}_{c}, xv_{r}_{c}, pv_{r}_{c};"
            );
        }
    }
    for r in 0..r_n {
        for c in 0..c_n {
            let (s_in, sv_in, p_in, pv_in) = if r == 0 {
                (
                    format!("{s_}_top[{}:{}]", 8 * c + 7, 8 * c),
                    format!("{s_}_top_vld[{c}]"),
                    "32'd0".to_string(),
                    "1'b0".to_string(),
                )
            } else {
                let u = r - 1;
                (format!("{s_}_{u}_{c}"), format!("{s_}v_{u}_{c}"), format!("p_{u}_{c}"), format!("pv_{u}_{c}"))
            };
            let (t_in, tv_in) = if c == 0 {
                (format!("{t_}_left[{}:{}]", 8 * r + 7, 8 * r), format!("{t_}_left_vld[{r}]"))
            } else {
                (format!("{t_}_{r}_{}", c - 1), format!("{t_}v_{r}_{}", c - 1))
            };
            let neg_in = match (n.neg_on_s, r, c) {
                (true, 0, _) => format!("w_top_neg[{c}]"),
                (true, _, _) => format!("wn_{}_{c}", r - 1),
                (false, _, 0) => format!("w_left_neg[{r}]"),
                (false, _, _) => format!("wn_{r}_{}", c - 1),
            };
            let neg = format!(".w_neg_in({neg_in}), .w_neg_q(wn_{r}_{c})");
            let (s_neg, t_neg) =
                if n.neg_on_s { (format!(", {neg}"), String::new()) } else { (String::new(), format!(", {neg}")) };
            let _ = writeln!(
                s,
                "  {} #(.TOP({})) pe_{r}_{c} (.clk(clk), .rst(rst), .load_{s_}(load_{s_}),",
                n.pe,
                (r == 0) as u8
            );
            let _ = writeln!(s, "    .{s_}_in({s_in}), .{s_}_vld_in({sv_in}), .{s_}_q({s_}_{r}_{c}), .{s_}_vld_q({s_}v_{r}_{c}){s_neg},");
            let _ = writeln!(s, "    .{t_}_in({t_in}), .{t_}_vld_in({tv_in}), .{t_}_q({t_}_{r}_{c}), .{t_}_vld_q({t_}v_{r}_{c}){t_neg},");
            let _ = writeln!(s, "    .ps_in({p_in}), .ps_vld_in({pv_in}), .ps_q(p_{r}_{c}), .ps_vld_q(pv_{r}_{c}));");
        }
    }
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
    let _ = writeln!(s, "endmodule");
    s
}

/// `axdnn_tb_ws`: one reset cycle, then cycle 0, 1, …: reads one stimulus word per cycle
/// (`+stim=PATH`, hex, see [`Geometry::stim_bits`]), applies it, clocks, and writes
/// `CYCLE COLUMN SUM_HEX` for every valid output to `+out=PATH`; after the stimulus ends it runs
/// [`Geometry::drain_cycles`] idle cycles.
pub fn testbench(g: Geometry) -> String {
    stationary_testbench(g, &names(false))
}

/// `axdnn_tb_is`: as `axdnn_tb_ws` with the IS stimulus layout ([`Geometry::stim_bits_is`]);
/// the dump's COLUMN is the array column (a pixel of the fold).
pub fn testbench_is(g: Geometry) -> String {
    stationary_testbench(g, &names(true))
}

fn stationary_testbench(g: Geometry, n: &Names) -> String {
    let (r, c) = (g.rows, g.cols);
    let (s_, t_) = (n.s, n.t);
    let sw = if n.neg_on_s { g.stim_bits() } else { g.stim_bits_is() };
    let tb = format!("axdnn_tb_{}", n.tag);
    let mut s = String::new();
    let _ = writeln!(s, "// {tb}: stimulus-driven testbench of axdnn_array_{} {r}x{c} (generated by axdnn).", n.tag);
    if n.neg_on_s {
        let _ = writeln!(
            s,
            "// Stimulus line (hex, LSB first): x_left[8R] | x_vld[R] | w_top[8C] | w_vld[C] | w_neg[C] | load_w."
        );
    } else {
        let _ = writeln!(
            s,
            "// Stimulus line (hex, LSB first): w_left[8R] | w_vld[R] | w_neg[R] | x_top[8C] | x_vld[C] | load_x."
        );
    }
    let _ = writeln!(
        s,
        "// Dump line: CYCLE COLUMN SUM_HEX, CYCLE = index of the cycle whose closing edge loaded out_sum."
    );
    let _ = writeln!(s, "`timescale 1ns/1ps");
    let _ = writeln!(s, "module {tb};");
    let _ = writeln!(s, "  localparam R = {r}, C = {c}, SW = {sw}, DRAIN = {};", g.drain_cycles());
    let _ = writeln!(s, "  reg clk, rst;");
    let _ = writeln!(s, "  reg [SW-1:0] stim;");
    let _ = writeln!(s, "  wire [8*R-1:0] {t_}_left = stim[8*R-1:0];");
    let _ = writeln!(s, "  wire [R-1:0] {t_}_lvld = stim[9*R-1:8*R];");
    // Offset of the top-edge fields: after the left fields (and the left negation bits in IS).
    let o = if n.neg_on_s { "9*R" } else { "10*R" };
    if !n.neg_on_s {
        let _ = writeln!(s, "  wire [R-1:0] w_lneg = stim[10*R-1:9*R];");
    }
    let _ = writeln!(s, "  wire [8*C-1:0] {s_}_top = stim[{o}+8*C-1:{o}];");
    let _ = writeln!(s, "  wire [C-1:0] {s_}_tvld = stim[{o}+9*C-1:{o}+8*C];");
    if n.neg_on_s {
        let _ = writeln!(s, "  wire [C-1:0] w_tneg = stim[{o}+10*C-1:{o}+9*C];");
    }
    let _ = writeln!(s, "  wire load_{s_} = stim[SW-1];");
    let _ = writeln!(s, "  wire [32*C-1:0] out_sum; wire [C-1:0] out_vld;");
    let neg = if n.neg_on_s { ".w_top_neg(w_tneg)" } else { ".w_left_neg(w_lneg)" };
    let _ =
        writeln!(s, "  axdnn_array_{} dut (.clk(clk), .rst(rst), .load_{s_}(load_{s_}), .{s_}_top({s_}_top),", n.tag);
    let _ = writeln!(s, "    .{s_}_top_vld({s_}_tvld), .{t_}_left({t_}_left), .{t_}_left_vld({t_}_lvld), {neg},");
    let _ = writeln!(s, "    .out_sum(out_sum), .out_vld(out_vld));");
    driver(
        &mut s,
        &tb,
        "col",
        &[
            "      for (col = 0; col < C; col = col + 1)",
            "        if (out_vld[col]) $fwrite(fo, \"%0d %0d %h\\n\", cyc, col, out_sum[32*col +: 32]);",
        ],
    );
    s
}

/// The stimulus-driven clock loop shared by the WS and OS testbenches: one reset cycle, then one
/// stimulus word per numbered cycle, `dump` (Verilog lines, index variable `var`) after each
/// closing edge, `DRAIN` idle cycles after the stimulus ends.
pub(super) fn driver(s: &mut String, tb: &str, var: &str, dump: &[&str]) {
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
