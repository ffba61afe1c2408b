//! The co-simulation driver: a seeded random GEMM tile, the emitted RTL around a multiplier
//! netlist, Icarus Verilog (or Verilator) on it, and the dump compared with `accel::array::run`
//! and `accel::fast::gemm` on the table simulated from the same netlist.

use super::check::{check, parse_dump, CosimCheck};
use super::emit::{self, Geometry, MulPorts, Rtl};
use super::schedule;
use super::RtlError;
use crate::accel::array;
use crate::accel::fast::{self, GemmOperands};
use crate::accel::timing::{ArrayShape, Dataflow};
use crate::mult::{Multiplier, RowPort};
use crate::quant::QuantScheme;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

pub use super::cells::CELLS_PDK45;

pub use crate::sim::hdl::{Compiled, Simulator};

/// One co-simulation: array size, GEMM tile (`npix × k` by `k × nf`), seed, scheme, simulator,
/// dataflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CosimConfig {
    /// PE rows.
    pub rows: usize,
    /// PE columns.
    pub cols: usize,
    /// Pixels of the tile (im2col rows).
    pub npix: usize,
    /// Reduction length.
    pub k: usize,
    /// Output channels.
    pub nf: usize,
    /// Seed of the random operand codes.
    pub seed: u64,
    /// Quantization scheme: which codes and signedness reach the multiplier.
    pub scheme: QuantScheme,
    /// The simulator.
    pub sim: Simulator,
    /// The array's dataflow.
    pub dataflow: Dataflow,
}

/// Operand codes of a random tile (owned [`GemmOperands`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tile {
    /// Pixels.
    pub npix: usize,
    /// Reduction length.
    pub k: usize,
    /// Output channels.
    pub nf: usize,
    /// `npix × k` activation codes, pixel-major.
    pub act: Vec<u8>,
    /// `k × nf` weight codes, reduction-major.
    pub wgt: Vec<u8>,
    /// `k × nf` negation masks (`0` or `−1`); sign-magnitude only.
    pub neg: Option<Vec<i32>>,
}

impl Tile {
    /// Uniform codes of the scheme's ranges (weights symmetric in `[−127, 127]` unless asym-u8).
    pub fn random(npix: usize, k: usize, nf: usize, scheme: QuantScheme, seed: u64) -> Tile {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (lo, hi) = scheme.act_range();
        let act = (0..npix * k).map(|_| scheme.act_operand(rng.gen_range(lo..=hi))).collect();
        let (mut wgt, mut neg) = (Vec::with_capacity(k * nf), Vec::with_capacity(k * nf));
        for _ in 0..k * nf {
            let w = if scheme.asymmetric_weights() { rng.gen_range(0..=255) } else { rng.gen_range(-127..=127) };
            let (code, n) = scheme.wgt_operand(w);
            wgt.push(code);
            neg.push(if n { -1 } else { 0 });
        }
        let neg = matches!(scheme, QuantScheme::SignMagnitude).then_some(neg);
        Tile { npix, k, nf, act, wgt, neg }
    }

    /// The tile as GEMM operands.
    pub fn ops(&self) -> GemmOperands<'_> {
        GemmOperands {
            npix: self.npix,
            k: self.k,
            nf: self.nf,
            act: &self.act,
            wgt: &self.wgt,
            neg: self.neg.as_deref(),
        }
    }
}

/// What a co-simulation ran and found (all comparisons passed).
#[derive(Debug, Clone)]
pub struct CosimReport {
    /// The multiplier's module name.
    pub multiplier: String,
    /// What was run.
    pub config: CosimConfig,
    /// What was compared.
    pub check: CosimCheck,
    /// Where the Verilog, stimulus and dump are.
    pub dir: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RtlError + '_ {
    move |source| RtlError::Io { path: path.to_path_buf(), cause: source }
}

/// The multiplier as the RTL sees it: parsed ports and the table simulated from the netlist.
pub struct RtlMultiplier {
    /// The netlist file.
    pub path: PathBuf,
    /// Its ports as the PE connects them.
    pub ports: MulPorts,
    /// Its table, simulated from the netlist.
    pub lut: crate::lut::Lut,
    /// The netlist's Verilog text.
    pub source: String,
}

impl RtlMultiplier {
    /// Parse the netlist at `path`, check its ports and simulate its table (signedness from the
    /// name).
    pub fn load(path: &Path) -> Result<RtlMultiplier, RtlError> {
        let source = std::fs::read_to_string(path).map_err(io_err(path))?;
        let parsed = crate::netlist::parse_str(&source, path)?;
        let net = &parsed.netlist;
        let signed = crate::mult::resolve::signed_by_name(&net.name, path);
        let ports = MulPorts::of(net, signed)?;
        let lut = crate::lut::exhaustive_lut(net, RowPort::B, signed)
            .map_err(|source| RtlError::Sim { path: path.to_path_buf(), cause: source })?;
        Ok(RtlMultiplier { path: path.to_path_buf(), ports, lut, source })
    }

    /// Write the multiplier (single-bit buses as scalar nets, same circuit) and, for netlists of
    /// library cells (PDK45 or mangled 2017 names), the cell models into `dir`; returns the files
    /// to compile.
    pub fn write_sources(&self, dir: &Path) -> Result<Vec<PathBuf>, RtlError> {
        let name = self.path.file_name().map_or_else(|| "multiplier.v".into(), |n| n.to_string_lossy().into_owned());
        let mpath = dir.join(name);
        let mut out = Vec::new();
        if let Some(models) = super::cells::models_for(&self.source) {
            let cells = dir.join("cells_pdk45.v");
            std::fs::write(&cells, models).map_err(io_err(&cells))?;
            out.push(cells);
            // Icarus re-evaluates every reader of a 2032-bit bus on any bit change otherwise.
            let text = crate::lut::testbench::scalarize_vectors(&self.source);
            std::fs::write(&mpath, text).map_err(io_err(&mpath))?;
        } else {
            std::fs::write(&mpath, &self.source).map_err(io_err(&mpath))?;
        }
        out.push(mpath);
        Ok(out)
    }
}

/// Name of the testbench module (and its file stem) of a dataflow.
pub fn testbench_top(df: Dataflow) -> String {
    Rtl::of(df).testbench_module()
}

/// Write `axdnn_pe.v`, `axdnn_array_ws.v` and `axdnn_tb_ws.v` (WS), `axdnn_pe_os.v`,
/// `axdnn_array_os.v` and `axdnn_tb_os.v` (OS) or `axdnn_pe_is.v`, `axdnn_array_is.v` and
/// `axdnn_tb_is.v` (IS) into `dir`.
pub fn write_rtl(dir: &Path, ports: &MulPorts, g: Geometry, df: Dataflow) -> Result<Vec<PathBuf>, RtlError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut out = Vec::new();
    let rtl = Rtl::of(df);
    let files = [
        (rtl.pe_module(), emit::pe(ports, df)),
        (rtl.array_module(), emit::array(g, df)),
        (rtl.testbench_module(), emit::testbench(g, df)),
    ];
    for (module, text) in files {
        let p = dir.join(format!("{module}.v"));
        std::fs::write(&p, text).map_err(io_err(&p))?;
        out.push(p);
    }
    Ok(out)
}

/// Compile the testbench module `top` (file `top.v` in `dir`; sources: RTL + multiplier + cells).
pub fn compile(sim: Simulator, top: &str, sources: &[PathBuf], dir: &Path) -> Result<Compiled, RtlError> {
    let tb = dir.join(format!("{top}.v"));
    let sources: Vec<&Path> = sources.iter().map(PathBuf::as_path).collect();
    // -O1: each array is compiled once per run and simulated briefly.
    crate::sim::hdl::compile(sim, top, &sources, dir, "-O1").map_err(|cause| RtlError::Tool {
        tool: tool_of(&cause, sim),
        path: tb,
        cause,
    })
}

/// Run a compiled testbench on stimulus `stim`, writing the output dump to `dump`.
pub fn run_on(c: &Compiled, stim: &Path, dump: &Path) -> Result<(), RtlError> {
    c.run(&[format!("+stim={}", stim.display()), format!("+out={}", dump.display())]).map_err(|cause| RtlError::Tool {
        tool: tool_of(&cause, c.sim),
        path: c.exe.clone(),
        cause,
    })
}

/// The program an error is about (the simulator's, when the error does not say).
fn tool_of(e: &crate::sim::hdl::ExtSimError, sim: Simulator) -> &'static str {
    match e {
        crate::sim::hdl::ExtSimError::Missing { tool } | crate::sim::hdl::ExtSimError::Failed { tool, .. } => tool,
        crate::sim::hdl::ExtSimError::Io(_) => match sim {
            Simulator::Icarus => "iverilog",
            Simulator::Verilator => "verilator",
        },
    }
}

/// Compile and run the testbench module `top` once; returns the dump path (`dir/dump.txt`).
pub fn simulate(sim: Simulator, top: &str, sources: &[PathBuf], dir: &Path, stim: &Path) -> Result<PathBuf, RtlError> {
    let dump = dir.join("dump.txt");
    run_on(&compile(sim, top, sources, dir)?, stim, &dump)?;
    Ok(dump)
}

/// Stream one GEMM through the RTL already written to `dir` (`sources`) and compare every
/// output and its cycle with `accel::array::run` and the sums with `accel::fast::gemm` on `mult`.
pub fn run_gemm(
    sim: Simulator,
    df: Dataflow,
    g: Geometry,
    sources: &[PathBuf],
    dir: &Path,
    ops: &GemmOperands,
    mult: &dyn Multiplier,
) -> Result<CosimCheck, RtlError> {
    let compiled = compile(sim, &testbench_top(df), sources, dir)?;
    run_compiled(&compiled, df, g, dir, ops, mult)
}

/// [`run_gemm`] on an already compiled testbench; stimulus and dump are `dir/stim.hex` and
/// `dir/dump.txt` (overwritten by the next GEMM).
pub fn run_compiled(
    compiled: &Compiled,
    df: Dataflow,
    g: Geometry,
    dir: &Path,
    ops: &GemmOperands,
    mult: &dyn Multiplier,
) -> Result<CosimCheck, RtlError> {
    let stim = dir.join("stim.hex");
    let dump = dir.join("dump.txt");
    let folds = schedule::folds(ops, g, df);
    std::fs::write(&stim, schedule::stimulus(ops, g, df, &folds)).map_err(io_err(&stim))?;
    run_on(compiled, &stim, &dump)?;
    let text = std::fs::read_to_string(&dump).map_err(io_err(&dump))?;
    let model = array::run(ops, mult, ArrayShape { rows: g.rows, cols: g.cols }, df);
    let mut fast_sums = Vec::new();
    fast::gemm(ops, mult, true, &mut fast_sums);
    check(&parse_dump(&text, &dump, df)?, &dump, df, &folds, ops, &model, &fast_sums)
}

/// Run one co-simulation in `dir` (created; files are left there).
pub fn cosim(mult: &RtlMultiplier, cfg: CosimConfig, dir: &Path) -> Result<CosimReport, RtlError> {
    if cfg.rows == 0 || cfg.cols == 0 || cfg.npix == 0 || cfg.k == 0 || cfg.nf == 0 {
        return Err(RtlError::Config(format!(
            "rows {}, cols {}, npix {}, k {}, nf {}: all must be > 0",
            cfg.rows, cfg.cols, cfg.npix, cfg.k, cfg.nf
        )));
    }
    if mult.ports.signed != cfg.scheme.signed_multiplier() {
        return Err(RtlError::Config(format!(
            "scheme {} needs {} multiplier, {} is {}",
            cfg.scheme,
            if cfg.scheme.signed_multiplier() { "a signed" } else { "an unsigned" },
            mult.ports.module,
            if mult.ports.signed { "signed" } else { "unsigned" }
        )));
    }
    let g = Geometry { rows: cfg.rows, cols: cfg.cols };
    let mut sources = write_rtl(dir, &mult.ports, g, cfg.dataflow)?;
    sources.extend(mult.write_sources(dir)?);
    let tile = Tile::random(cfg.npix, cfg.k, cfg.nf, cfg.scheme, cfg.seed);
    let check = run_gemm(cfg.sim, cfg.dataflow, g, &sources, dir, &tile.ops(), &mult.lut)?;
    Ok(CosimReport { multiplier: mult.ports.module.clone(), config: cfg, check, dir: dir.to_path_buf() })
}
