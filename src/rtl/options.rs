//! The `rtl` commands' flags and what they print: `rtl emit` writes the array's Verilog around a
//! multiplier, `rtl cosim` co-simulates a random GEMM tile ([`CosimFlags::run`]) or, with
//! `--model`, real layers of real images ([`ModelFlags`]; run by the study layer, which
//! quantizes the model, and printed as [`ModelCosimSummary`]).

use super::cosim::{cosim, write_rtl, CosimConfig, CosimReport, RtlMultiplier, Simulator};
use super::emit::{Geometry, MulPorts};
use super::layers::{ModelCosimReport, RtlLayers};
use super::RtlError;
use crate::accel::timing::{ArrayShape, Dataflow};
use crate::quant::{ApproxLayers, QuantScheme};
use crate::util::inputs::InputFlags;
use std::fmt;
use std::path::PathBuf;

/// The netlist file of a multiplier flag ([`crate::mult::resolve::netlist_file`]).
fn netlist(spec: &str, inputs: &InputFlags) -> Result<PathBuf, RtlError> {
    Ok(crate::mult::resolve::netlist_file(spec, inputs.resolve().evoapprox.as_deref())?)
}

/// `axdnn rtl emit`: the array's Verilog, testbench and multiplier sources into a folder.
#[derive(clap::Args, Debug, Clone)]
pub struct EmitFlags {
    /// Multiplier netlist (.v) or an EvoApprox name under $AXDNN_EVOAPPROX.
    #[arg(long)]
    pub multiplier: String,
    /// Array shape RxC (PE rows × columns), as everywhere else.
    #[arg(long)]
    pub array: ArrayShape,
    /// Output folder.
    #[arg(short, long)]
    pub out: PathBuf,
    /// ws (weight-), os (output-) or is (input-stationary).
    #[arg(long, default_value = "ws")]
    pub dataflow: Dataflow,
    /// Where the EvoApprox library is.
    #[command(flatten)]
    pub inputs: InputFlags,
}

/// What `rtl emit` wrote.
#[derive(Debug, Clone)]
pub struct Emitted {
    /// The array's shape.
    pub array: ArrayShape,
    /// Its dataflow.
    pub dataflow: Dataflow,
    /// The multiplier's ports as the PE connects them.
    pub ports: MulPorts,
    /// Every file written.
    pub files: Vec<PathBuf>,
}

impl EmitFlags {
    /// Write the PE, array and testbench of the dataflow, the multiplier and, for netlists of
    /// library cells, the cell models into `--out`.
    pub fn run(&self) -> Result<Emitted, RtlError> {
        let ArrayShape { rows, cols } = self.array;
        let m = RtlMultiplier::load(&netlist(&self.multiplier, &self.inputs)?)?;
        let mut files = write_rtl(&self.out, &m.ports, Geometry { rows, cols }, self.dataflow)?;
        files.extend(m.write_sources(&self.out)?);
        Ok(Emitted { array: self.array, dataflow: self.dataflow, ports: m.ports, files })
    }
}

impl fmt::Display for Emitted {
    /// The array and its multiplier, then one file per line.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let p = &self.ports;
        writeln!(
            f,
            "{}x{} {} array around {} (A = weight, B = activation, product {}[{}], {})",
            self.array.rows,
            self.array.cols,
            self.dataflow.to_string().to_uppercase(),
            p.module,
            p.out,
            p.out_bits,
            if p.signed { "signed" } else { "unsigned" }
        )?;
        self.files.iter().try_for_each(|file| writeln!(f, "  {}", file.display()))
    }
}

/// `axdnn rtl cosim`: a random GEMM tile on the emitted RTL, or with `--model` real layers.
#[derive(clap::Args, Debug, Clone)]
pub struct CosimFlags {
    /// Multiplier netlist (.v) or an EvoApprox name under $AXDNN_EVOAPPROX.
    #[arg(long)]
    pub multiplier: String,
    /// Array shape RxC (PE rows × columns), as everywhere else.
    #[arg(long)]
    pub array: ArrayShape,
    /// Reduction length of the random tile (default: rows, one fold; larger values give several folds).
    #[arg(long, conflicts_with = "model")]
    pub k: Option<usize>,
    /// Output channels of the random tile (default: cols).
    #[arg(long, conflicts_with = "model")]
    pub nf: Option<usize>,
    /// Pixels of the random tile.
    #[arg(long, default_value_t = 16, conflicts_with = "model")]
    pub npix: usize,
    /// Seed of the random tile.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// asym-u8 | sign-magnitude | sym-s8.
    #[arg(long, default_value = "asym-u8")]
    pub scheme: QuantScheme,
    /// iverilog | verilator.
    #[arg(long, default_value = "iverilog")]
    pub sim: Simulator,
    /// ws (weight-), os (output-) or is (input-stationary).
    #[arg(long, default_value = "ws")]
    pub dataflow: Dataflow,
    /// Keep the Verilog, stimulus and dump in this folder (default: a temporary folder, removed).
    #[arg(long)]
    pub keep: Option<PathBuf>,
    /// The real layers (`--model`).
    #[command(flatten)]
    pub real: ModelFlags,
}

/// Real layers: a trained model quantized as `axdnn infer` does, test images from the dataset.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelFlags {
    /// Model folder: stream its real layers (im2col tiles of test images) instead of a random tile.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// GEMM layers that go through the RTL: all, or comma-separated names (the others run in Rust).
    #[arg(long, alias = "layer", default_value = "all", requires = "model")]
    pub layers: RtlLayers,
    /// Test-set index of the first image.
    #[arg(long, default_value_t = 0, requires = "model")]
    pub image: usize,
    /// Number of images (whole inferences; logits compared with the accelerator's).
    #[arg(long, default_value_t = 1, requires = "model")]
    pub images: usize,
    /// Per-output-channel weight scales and zero points.
    #[arg(long, requires = "model")]
    pub per_channel: bool,
    /// Layers on the approximate multiplier: conv | all | comma-separated names (the others
    /// use a generated exact multiplier netlist).
    #[arg(long, default_value = "conv", requires = "model")]
    pub approx_layers: ApproxLayers,
    /// Calibration images (from the training set, chosen with --calib-seed).
    #[arg(long, default_value_t = 256, requires = "model")]
    pub calib: usize,
    /// Seed choosing the calibration images.
    #[arg(long, default_value_t = 0, requires = "model")]
    pub calib_seed: u64,
    /// Where the dataset and the EvoApprox library are.
    #[command(flatten)]
    pub inputs: InputFlags,
}

/// The random tile's co-simulation with the folder it ran in, when kept.
#[derive(Debug, Clone)]
pub struct Cosimulated {
    /// What ran and was compared.
    pub report: CosimReport,
    /// The `--keep` folder.
    pub kept: Option<PathBuf>,
}

impl CosimFlags {
    /// The multiplier's netlist, parsed and simulated.
    pub fn multiplier(&self) -> Result<RtlMultiplier, RtlError> {
        RtlMultiplier::load(&netlist(&self.multiplier, &self.real.inputs)?)
    }

    /// The random tile's configuration (K defaults to the rows, NF to the columns).
    pub fn config(&self) -> CosimConfig {
        CosimConfig {
            rows: self.array.rows,
            cols: self.array.cols,
            npix: self.npix,
            k: self.k.unwrap_or(self.array.rows),
            nf: self.nf.unwrap_or(self.array.cols),
            seed: self.seed,
            scheme: self.scheme,
            sim: self.sim,
            dataflow: self.dataflow,
        }
    }

    /// The `--keep` folder (created), or a temporary one removed when the guard drops.
    pub fn work_dir(&self) -> Result<(PathBuf, Option<TempDir>), RtlError> {
        let io = |path: PathBuf| move |cause| RtlError::Io { path, cause };
        Ok(match &self.keep {
            Some(d) => {
                std::fs::create_dir_all(d).map_err(io(d.clone()))?;
                (d.clone(), None)
            }
            None => {
                let t = TempDir::new(self.seed).map_err(io(std::env::temp_dir()))?;
                (t.0.clone(), Some(t))
            }
        })
    }

    /// Co-simulate the random tile ([`cosim`]).
    pub fn run(&self) -> Result<Cosimulated, RtlError> {
        let m = self.multiplier()?;
        let (dir, _tmp) = self.work_dir()?;
        let report = cosim(&m, self.config(), &dir)?;
        Ok(Cosimulated { report, kept: self.keep.clone() })
    }
}

/// What every comparison of a dataflow's dump counts: partial sums (WS, IS) or outputs (OS).
fn written(df: Dataflow) -> &'static str {
    crate::rtl::emit::Rtl::of(df).written()
}

impl fmt::Display for Cosimulated {
    /// One line: the configuration and what was found equal; then the kept folder.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let (r, c) = (&self.report, &self.report.check);
        let cfg = &r.config;
        writeln!(
            f,
            "{}x{} {}, {}, {} ({}), K={}, NF={}, {} pixels, seed {}: {} folds, {} {} written, {} sums equal to accel::array and accel::fast::gemm bit for bit, every output on the model's cycle, last output cycle {} = model {}",
            cfg.rows, cfg.cols, cfg.dataflow.to_string().to_uppercase(), r.multiplier, cfg.scheme, cfg.sim, cfg.k, cfg.nf, cfg.npix, cfg.seed,
            c.folds, c.outputs, written(cfg.dataflow), c.sums, c.last_output_cycle, c.model_last_busy_cycle
        )?;
        match &self.kept {
            Some(d) => writeln!(f, "files in {}", d.display()),
            None => Ok(()),
        }
    }
}

/// What `rtl cosim --model` ran and found equal, with its timings.
#[derive(Debug, Clone)]
pub struct ModelCosimSummary {
    /// The array's shape.
    pub array: ArrayShape,
    /// Its dataflow.
    pub dataflow: Dataflow,
    /// The simulator.
    pub sim: Simulator,
    /// The quantization scheme.
    pub scheme: QuantScheme,
    /// Every GEMM run and the logits compared.
    pub report: ModelCosimReport,
    /// Seconds writing and compiling the array(s).
    pub compile_s: f64,
    /// Seconds simulating and checking.
    pub run_s: f64,
    /// The `--keep` folder.
    pub kept: Option<PathBuf>,
}

impl fmt::Display for ModelCosimSummary {
    /// One line per GEMM run, then the totals; then the kept folder.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let rep = &self.report;
        for g in &rep.gemms {
            let c = &g.check;
            writeln!(
                f,
                "image {} {} ({}, {}): {} folds, {} {} written, {} accumulators equal to accel::array and accel::fast::gemm, every one on the model's cycle, last output cycle {} = model {}",
                g.image, g.layer, if g.approximate { "approximate" } else { "exact" }, g.multiplier, c.folds, c.outputs,
                written(self.dataflow), c.sums, c.last_output_cycle, c.model_last_busy_cycle
            )?;
        }
        writeln!(
            f,
            "{}x{} {} on {} ({}): {} image(s), {} GEMM runs, {} accumulators and {} RTL outputs checked over {} simulated cycles; logits of every image equal to the accelerator's ({} values); compile {:.1} s, simulation and checks {:.1} s",
            self.array.rows, self.array.cols, self.dataflow.to_string().to_uppercase(), self.sim, self.scheme, rep.images, rep.gemms.len(), rep.sums(), rep.outputs(), rep.cycles(),
            rep.images * rep.classes, self.compile_s, self.run_s
        )?;
        match &self.kept {
            Some(d) => writeln!(f, "files in {}", d.display()),
            None => Ok(()),
        }
    }
}

/// A scratch folder removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    fn new(seed: u64) -> std::io::Result<TempDir> {
        let d = std::env::temp_dir().join(format!("axdnn-rtl-{}-{seed}", std::process::id()));
        std::fs::create_dir_all(&d)?;
        Ok(TempDir(d))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
