//! `axdnn rtl`: emit the weight-, output- or input-stationary array as Verilog, co-simulate it with Icarus Verilog
//! or Verilator against the cycle-stepped model.

use axdnn::accel::timing::{ArrayShape, Dataflow};
use axdnn::accel::{AccelConfig, Accelerator};
use axdnn::quant::{ApproxLayers, QuantScheme};
use axdnn::rtl::cosim::{cosim, write_rtl, RtlMultiplier};
use axdnn::rtl::layers::{ModelRtl, RtlLayers};
use axdnn::rtl::{CosimConfig, Geometry, Simulator};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum RtlCmd {
    /// Write axdnn_pe.v, axdnn_array_ws.v, axdnn_tb_ws.v (ws), axdnn_pe_os.v,
    /// axdnn_array_os.v, axdnn_tb_os.v (os) or axdnn_pe_is.v, axdnn_array_is.v, axdnn_tb_is.v
    /// (is) (+ the multiplier and, for PDK45 netlists, the cell models) into a folder.
    Emit {
        /// Multiplier netlist (.v) or an EvoApprox name under $AXDNN_EVOAPPROX.
        #[arg(long)]
        multiplier: String,
        /// Array shape RxC (PE rows × columns), as everywhere else.
        #[arg(long)]
        array: ArrayShape,
        /// Output folder.
        #[arg(short, long)]
        out: PathBuf,
        /// ws (weight-), os (output-) or is (input-stationary).
        #[arg(long, default_value = "ws")]
        dataflow: Dataflow,
        #[command(flatten)]
        inputs: axdnn::util::inputs::InputFlags,
    },
    /// Co-simulate a random GEMM tile (or, with --model, real layers of real images) on the
    /// emitted RTL and compare with accel::array/fast (and the accelerator's logits).
    Cosim(Box<CosimArgs>),
}

#[derive(Args)]
pub struct CosimArgs {
    /// Multiplier netlist (.v) or an EvoApprox name under $AXDNN_EVOAPPROX.
    #[arg(long)]
    multiplier: String,
    /// Array shape RxC (PE rows × columns), as everywhere else.
    #[arg(long)]
    array: ArrayShape,
    /// Reduction length of the random tile (default: rows, one fold; larger values give several folds).
    #[arg(long, conflicts_with = "model")]
    k: Option<usize>,
    /// Output channels of the random tile (default: cols).
    #[arg(long, conflicts_with = "model")]
    nf: Option<usize>,
    /// Pixels of the random tile.
    #[arg(long, default_value_t = 16, conflicts_with = "model")]
    npix: usize,
    /// Seed of the random tile.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// asym-u8 | sign-magnitude | sym-s8.
    #[arg(long, default_value = "asym-u8")]
    scheme: QuantScheme,
    /// iverilog | verilator.
    #[arg(long, default_value = "iverilog")]
    sim: Simulator,
    /// ws (weight-), os (output-) or is (input-stationary).
    #[arg(long, default_value = "ws")]
    dataflow: Dataflow,
    /// Keep the Verilog, stimulus and dump in this folder (default: a temporary folder, removed).
    #[arg(long)]
    keep: Option<PathBuf>,
    #[command(flatten)]
    real: RealArgs,
}

/// Real layers: a trained model quantized as `axdnn infer` does, test images from the dataset.
#[derive(Args)]
struct RealArgs {
    /// Model folder: stream its real layers (im2col tiles of test images) instead of a random tile.
    #[arg(long)]
    model: Option<PathBuf>,
    /// GEMM layers that go through the RTL: all, or comma-separated names (the others run in Rust).
    #[arg(long, alias = "layer", default_value = "all", requires = "model")]
    layers: RtlLayers,
    /// Test-set index of the first image.
    #[arg(long, default_value_t = 0, requires = "model")]
    image: usize,
    /// Number of images (whole inferences; logits compared with the accelerator's).
    #[arg(long, default_value_t = 1, requires = "model")]
    images: usize,
    /// Per-output-channel weight scales and zero points.
    #[arg(long, requires = "model")]
    per_channel: bool,
    /// Layers on the approximate multiplier: conv | all | comma-separated names (the others
    /// use a generated exact multiplier netlist).
    #[arg(long, default_value = "conv", requires = "model")]
    approx_layers: ApproxLayers,
    /// Calibration images (from the training set, chosen with --calib-seed).
    #[arg(long, default_value_t = 256, requires = "model")]
    calib: usize,
    /// Seed choosing the calibration images.
    #[arg(long, default_value_t = 0, requires = "model")]
    calib_seed: u64,
    #[command(flatten)]
    inputs: axdnn::util::inputs::InputFlags,
}

/// The multiplier's netlist ([`axdnn::mult::resolve::netlist_file`]).
fn resolve(spec: &str, inputs: &axdnn::util::inputs::InputFlags) -> anyhow::Result<PathBuf> {
    Ok(axdnn::mult::resolve::netlist_file(spec, inputs.resolve().evoapprox.as_deref())?)
}

pub fn rtl_cmd(cmd: RtlCmd) -> anyhow::Result<()> {
    match cmd {
        RtlCmd::Emit { multiplier, array, out, dataflow, inputs } => {
            let ArrayShape { rows, cols } = array;
            let m = RtlMultiplier::load(&resolve(&multiplier, &inputs)?)?;
            let mut files = write_rtl(&out, &m.ports, Geometry { rows, cols }, dataflow)?;
            files.extend(m.write_sources(&out)?);
            println!(
                "{rows}x{cols} {} array around {} (A = weight, B = activation, product {}[{}], {})",
                dataflow.to_string().to_uppercase(),
                m.ports.module,
                m.ports.out,
                m.ports.out_bits,
                if m.ports.signed { "signed" } else { "unsigned" }
            );
            for f in files {
                println!("  {}", f.display());
            }
        }
        RtlCmd::Cosim(a) if a.real.model.is_some() => real_cosim(*a)?,
        RtlCmd::Cosim(a) => {
            let m = RtlMultiplier::load(&resolve(&a.multiplier, &a.real.inputs)?)?;
            let cfg = CosimConfig {
                rows: a.array.rows,
                cols: a.array.cols,
                npix: a.npix,
                k: a.k.unwrap_or(a.array.rows),
                nf: a.nf.unwrap_or(a.array.cols),
                seed: a.seed,
                scheme: a.scheme,
                sim: a.sim,
                dataflow: a.dataflow,
            };
            let (dir, _tmp) = work_dir(&a)?;
            let r = cosim(&m, cfg, &dir)?;
            let c = &r.check;
            println!(
                "{}x{} {}, {}, {} ({}), K={}, NF={}, {} pixels, seed {}: {} folds, {} {} written, {} sums equal to accel::array and accel::fast::gemm bit for bit, every output on the model's cycle, last output cycle {} = model {}",
                cfg.rows, cfg.cols, cfg.dataflow.to_string().to_uppercase(), r.multiplier, cfg.scheme, cfg.sim, cfg.k, cfg.nf, cfg.npix, cfg.seed,
                c.folds, c.outputs, if cfg.dataflow == Dataflow::Os { "outputs" } else { "partial sums" }, c.sums, c.last_output_cycle, c.model_last_busy_cycle
            );
            if a.keep.is_some() {
                println!("files in {}", dir.display());
            }
        }
    }
    Ok(())
}

/// The `--keep` folder, or a temporary one (removed when the guard drops).
fn work_dir(a: &CosimArgs) -> anyhow::Result<(PathBuf, Option<TempDir>)> {
    Ok(match &a.keep {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            (d.clone(), None)
        }
        None => {
            let t = TempDir::new(a.seed)?;
            (t.0.clone(), Some(t))
        }
    })
}

/// `rtl cosim --model`: quantize the model, compile the array(s) once, stream the chosen layers
/// of each image through them.
fn real_cosim(a: CosimArgs) -> anyhow::Result<()> {
    let r = &a.real;
    let model = r.model.clone().expect("checked by the caller");
    // The RTL computes the raw product sums, so no recovery: it would only change the Rust side.
    let spec = axdnn::study::TargetSpec {
        array: a.array,
        dataflow: a.dataflow,
        scheme: a.scheme,
        per_channel: r.per_channel,
        approx_layers: r.approx_layers.clone(),
        images: Some(r.image + r.images),
        calib: r.calib,
        calib_seed: r.calib_seed,
        ..axdnn::study::TargetSpec::new(model)
    };
    let p = spec.prepare(&r.inputs.resolve())?;
    if r.images == 0 || r.image + r.images > p.test.len() {
        anyhow::bail!("--image {} --images {}: the test set has {} images", r.image, r.images, p.test.len());
    }
    let m = RtlMultiplier::load(&resolve(&a.multiplier, &a.real.inputs)?)?;
    let cfg = AccelConfig { array: a.array, dataflow: a.dataflow, ..AccelConfig::default() };
    let acc = Accelerator::new(&p.qm, &m.lut, cfg)?;
    let (dir, _tmp) = work_dir(&a)?;
    let t0 = std::time::Instant::now();
    let rtl = ModelRtl::build(&acc, &m, &r.layers, a.sim, &dir)?;
    let t1 = std::time::Instant::now();
    let d = p.test.shape.numel();
    let images = &p.test.images[r.image * d..(r.image + r.images) * d];
    let rep = rtl.run(images, r.image)?;
    let t2 = std::time::Instant::now();
    let df = a.dataflow.to_string().to_uppercase();
    for g in &rep.gemms {
        let c = &g.check;
        println!(
            "image {} {} ({}, {}): {} folds, {} {} written, {} accumulators equal to accel::array and accel::fast::gemm, every one on the model's cycle, last output cycle {} = model {}",
            g.image, g.layer, if g.approximate { "approximate" } else { "exact" }, g.multiplier, c.folds, c.outputs,
            if a.dataflow == Dataflow::Os { "outputs" } else { "partial sums" }, c.sums, c.last_output_cycle, c.model_last_busy_cycle
        );
    }
    println!(
        "{}x{} {df} on {} ({}): {} image(s), {} GEMM runs, {} accumulators and {} RTL outputs checked over {} simulated cycles; logits of every image equal to the accelerator's ({} values); compile {:.1} s, simulation and checks {:.1} s",
        a.array.rows, a.array.cols, a.sim, a.scheme, rep.images, rep.gemms.len(), rep.sums(), rep.outputs(), rep.cycles(),
        rep.images * rep.classes, (t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64()
    );
    if a.keep.is_some() {
        println!("files in {}", dir.display());
    }
    Ok(())
}

/// A scratch folder removed on drop.
struct TempDir(PathBuf);

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
