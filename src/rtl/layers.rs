//! Real layers on the RTL: the GEMM layers of a quantized model on real images (im2col tiles of
//! the quantized activations with their zero-point padding, the quantized weights and
//! negation bits, every fold) streamed through the emitted array, each accumulator and its cycle
//! compared with `accel::array` on the accelerator's multiplier. The layers not sent to the RTL,
//! the zero-point corrections, requantization, ReLU and pooling run in Rust
//! ([`Accelerator::run_image_with`]) on the RTL's sums, and the logits are compared with the
//! accelerator's own run.
//!
//! Each array is compiled once (one per multiplier: the approximate one, plus a generated exact
//! one when some layer is exact) and run once per GEMM.

use super::check::CosimCheck;
use super::cosim::{compile, run_compiled, testbench_top, write_rtl, Compiled, RtlMultiplier, Simulator};
use super::emit::Geometry;
use super::RtlError;
use crate::accel::fast::GemmOperands;
use crate::accel::Accelerator;
use crate::mult::Multiplier;
use std::path::{Path, PathBuf};

/// Which GEMM layers go through the RTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtlLayers {
    /// Every GEMM layer.
    All,
    /// The GEMM layers with these names.
    Named(Vec<String>),
}

impl std::str::FromStr for RtlLayers {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "all" {
            return Ok(RtlLayers::All);
        }
        let names: Vec<String> = s.split(',').map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect();
        if names.is_empty() {
            return Err(format!("bad layer list '{s}' (expected all or comma-separated layer names)"));
        }
        Ok(RtlLayers::Named(names))
    }
}

impl RtlLayers {
    fn contains(&self, name: &str) -> bool {
        match self {
            RtlLayers::All => true,
            RtlLayers::Named(v) => v.iter().any(|n| n == name),
        }
    }
}

/// One array around one multiplier, compiled in its own folder.
struct Bench {
    dir: PathBuf,
    compiled: Compiled,
    module: String,
}

impl Bench {
    fn build(m: &RtlMultiplier, g: Geometry, acc: &Accelerator, sim: Simulator, dir: &Path) -> Result<Bench, RtlError> {
        let df = acc.config.dataflow;
        let mut sources = write_rtl(dir, &m.ports, g, df)?;
        sources.extend(m.write_sources(dir)?);
        let compiled = compile(sim, &testbench_top(df), &sources, dir)?;
        Ok(Bench { dir: dir.to_path_buf(), compiled, module: m.ports.module.clone() })
    }
}

/// One GEMM layer of one image that went through the RTL.
#[derive(Debug, Clone)]
pub struct GemmRun {
    /// The layer's name.
    pub layer: String,
    /// Test-set index of the image.
    pub image: usize,
    /// Whether the layer multiplies on the approximate multiplier.
    pub approximate: bool,
    /// Verilog module of the multiplier in the array.
    pub multiplier: String,
    /// What the comparison covered.
    pub check: CosimCheck,
}

/// What [`ModelRtl::run`] compared (all comparisons passed).
#[derive(Debug, Clone)]
pub struct ModelCosimReport {
    /// Images run.
    pub images: usize,
    /// Classes (accumulators per image).
    pub classes: usize,
    /// Every GEMM layer of every image that went through the RTL.
    pub gemms: Vec<GemmRun>,
    /// Last-layer accumulators of every image (equal to the accelerator's).
    pub acc: Vec<i32>,
}

impl ModelCosimReport {
    /// Accumulators (sums) compared over all GEMM runs.
    pub fn sums(&self) -> usize {
        self.gemms.iter().map(|r| r.check.sums).sum()
    }
    /// Partial sums / outputs written by the RTL and checked with their cycles.
    pub fn outputs(&self) -> usize {
        self.gemms.iter().map(|r| r.check.outputs).sum()
    }
    /// Simulated array cycles (each GEMM's last output cycle + 1).
    pub fn cycles(&self) -> u64 {
        self.gemms.iter().map(|r| r.check.last_output_cycle + 1).sum()
    }
}

/// The emitted array(s) for an accelerator's array shape and dataflow, ready to run GEMMs.
pub struct ModelRtl<'a> {
    acc: &'a Accelerator<'a>,
    layers: RtlLayers,
    g: Geometry,
    approx: Option<Bench>,
    exact: Option<Bench>,
}

impl<'a> ModelRtl<'a> {
    /// Write and compile, under `dir`, the array around `approx` (its table must be the
    /// accelerator's approximate multiplier) for the approximate layers among `layers` and,
    /// when some of them are exact, around the generated exact multiplier (`exact:8x8` or
    /// `sexact:8x8`, whose simulated table must be the exact product).
    pub fn build(
        acc: &'a Accelerator<'a>,
        approx: &RtlMultiplier,
        layers: &RtlLayers,
        sim: Simulator,
        dir: &Path,
    ) -> Result<Self, RtlError> {
        let model = acc.model();
        let names: Vec<String> = model.gemms().map(|g| g.name.clone()).collect();
        if let RtlLayers::Named(v) = layers {
            if let Some(bad) = v.iter().find(|n| !names.contains(n)) {
                return Err(RtlError::UnknownLayer { name: bad.clone(), known: names });
            }
        }
        let a = acc.config.array;
        let g = Geometry { rows: a.rows, cols: a.cols };
        let chosen: Vec<bool> = model.gemms().filter(|q| layers.contains(&q.name)).map(|q| q.approximate).collect();
        let approx_bench = if chosen.contains(&true) {
            let want = acc.multiplier().table();
            if want.map(|t| &t.table) != Some(&approx.lut.table) {
                return Err(RtlError::NotTheNetlist {
                    multiplier: acc.multiplier().name().to_string(),
                    netlist: approx.path.clone(),
                });
            }
            Some(Bench::build(approx, g, acc, sim, &dir.join("approx"))?)
        } else {
            None
        };
        let exact_bench = if chosen.contains(&false) {
            let signed = model.options.scheme.signed_multiplier();
            let m = exact_multiplier(signed, &dir.join("exact"))?;
            Some(Bench::build(&m, g, acc, sim, &dir.join("exact"))?)
        } else {
            None
        };
        Ok(ModelRtl { acc, layers: layers.clone(), g, approx: approx_bench, exact: exact_bench })
    }

    /// Images `images` (N·C·H·W floats; test-set indices `first..first+N`): the chosen GEMM
    /// layers of each go through the RTL (every accumulator and its cycle checked), the others
    /// through the accelerator's fast path; then the last-layer accumulators and logits are
    /// compared with the accelerator's own run of the same images.
    pub fn run(&self, images: &[f32], first: usize) -> Result<ModelCosimReport, RtlError> {
        let model = self.acc.model();
        let d = model.arch.input.numel();
        let classes = model.arch.classes;
        let want = self.acc.run(images)?;
        let mut gemms = Vec::new();
        let mut acc = Vec::with_capacity(want.acc.len());
        for (i, x) in images.chunks_exact(d).enumerate() {
            let out = self.acc.run_image_with(x, |q, ops, mult| {
                if !self.layers.contains(&q.name) {
                    let mut sums = Vec::new();
                    crate::accel::fast::gemm(ops, mult, true, &mut sums);
                    return Ok(sums);
                }
                let bench = if q.approximate { &self.approx } else { &self.exact };
                let bench = bench.as_ref().expect("a bench for every chosen layer kind");
                let (check, sums) = self.gemm(bench, ops, mult)?;
                gemms.push(GemmRun {
                    layer: q.name.clone(),
                    image: first + i,
                    approximate: q.approximate,
                    multiplier: bench.module.clone(),
                    check,
                });
                Ok::<_, RtlError>(sums)
            })?;
            let last = model.gemms().last().expect("model has a GEMM layer");
            for (o, (&got, &w)) in out.iter().zip(&want.acc[i * classes..(i + 1) * classes]).enumerate() {
                let (lg, lw) = (last.dequantize_acc(got, o), want.logits[i * classes + o]);
                if got != w || lg.to_bits() != lw.to_bits() {
                    return Err(RtlError::Logits {
                        image: first + i,
                        class: o,
                        got,
                        want: w,
                        got_logit: lg,
                        want_logit: lw,
                    });
                }
            }
            acc.extend_from_slice(&out);
        }
        Ok(ModelCosimReport { images: images.len() / d, classes, gemms, acc })
    }

    fn gemm(
        &self,
        bench: &Bench,
        ops: &GemmOperands,
        mult: &dyn Multiplier,
    ) -> Result<(CosimCheck, Vec<i32>), RtlError> {
        let check = run_compiled(&bench.compiled, self.acc.config.dataflow, self.g, &bench.dir, ops, mult)?;
        let sums = check.values.clone();
        Ok((check, sums))
    }
}

/// The generated exact 8×8 multiplier (ripple-carry array, Baugh-Wooley when signed) written to
/// `dir` and loaded; its simulated table must be the exact product.
fn exact_multiplier(signed: bool, dir: &Path) -> Result<RtlMultiplier, RtlError> {
    let spec = crate::gen::parse_spec(if signed { "sexact:8x8" } else { "exact:8x8" }).expect("built-in spec");
    std::fs::create_dir_all(dir).map_err(|cause| RtlError::Io { path: dir.to_path_buf(), cause })?;
    let path = dir.join(format!("{}.v", spec.name()));
    let text = crate::gen::to_verilog(&spec.netlist(), &crate::gen::header(&spec));
    std::fs::write(&path, text).map_err(|cause| RtlError::Io { path: path.clone(), cause })?;
    let m = RtlMultiplier::load(&path)?;
    if m.lut.table != crate::lut::Lut::exact(8, 8, signed).table {
        return Err(RtlError::Config(format!("{}: the generated exact multiplier is not exact", path.display())));
    }
    Ok(m)
}
