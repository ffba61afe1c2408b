//! `axdnn rtl`: emit the weight-, output- or input-stationary array as Verilog, co-simulate it with Icarus Verilog
//! or Verilator against the cycle-stepped model.

use axdnn::accel::timing::{ArrayShape, Dataflow};
use axdnn::quant::QuantScheme;
use axdnn::rtl::cosim::{cosim, write_rtl, RtlMultiplier};
use axdnn::rtl::{CosimConfig, Geometry, Simulator};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

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
    },
    /// Co-simulate a random GEMM tile on the emitted RTL and compare with accel::array/fast.
    Cosim(CosimArgs),
}

#[derive(Args)]
pub struct CosimArgs {
    /// Multiplier netlist (.v) or an EvoApprox name under $AXDNN_EVOAPPROX.
    #[arg(long)]
    multiplier: String,
    /// Array shape RxC (PE rows × columns), as everywhere else.
    #[arg(long)]
    array: ArrayShape,
    /// Reduction length (default: rows, one fold; larger values give several folds).
    #[arg(long)]
    k: Option<usize>,
    /// Output channels (default: cols).
    #[arg(long)]
    nf: Option<usize>,
    /// Pixels streamed through the array.
    #[arg(long, default_value_t = 16)]
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
}

fn resolve(spec: &str) -> anyhow::Result<PathBuf> {
    if let Some((file, _)) = axdnn::lut::table_file::parse_spec(spec) {
        anyhow::bail!("{}: a table file has no netlist; the RTL needs the multiplier's Verilog (.v)", file.display());
    }
    let p = Path::new(spec);
    if p.extension().is_some_and(|x| x == "v") || p.is_file() {
        return Ok(p.to_path_buf());
    }
    let root = axdnn::study::runner::locate(None, "AXDNN_EVOAPPROX", "../shared/evoapprox").ok_or_else(|| {
        anyhow::anyhow!("multiplier '{spec}' is not a .v file, AXDNN_EVOAPPROX is not set and ../shared/evoapprox does not exist")
    })?;
    axdnn::accel::load::find_in_tree(&root, spec)
        .ok_or_else(|| anyhow::anyhow!("multiplier '{spec}' not found under {}", root.display()))
}

pub fn rtl_cmd(cmd: RtlCmd) -> anyhow::Result<()> {
    match cmd {
        RtlCmd::Emit { multiplier, array, out, dataflow } => {
            let ArrayShape { rows, cols } = array;
            let m = RtlMultiplier::load(&resolve(&multiplier)?)?;
            let mut files = write_rtl(&out, &m.ports, Geometry { rows, cols }, dataflow)?;
            files.extend(m.write_sources(&out)?);
            println!("{rows}x{cols} {} array around {} (A = weight, B = activation, product {}[{}], {})",
                dataflow.to_string().to_uppercase(), m.ports.module, m.ports.out, m.ports.out_bits, if m.ports.signed { "signed" } else { "unsigned" });
            for f in files {
                println!("  {}", f.display());
            }
        }
        RtlCmd::Cosim(a) => {
            let m = RtlMultiplier::load(&resolve(&a.multiplier)?)?;
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
            let tmp;
            let dir = match &a.keep {
                Some(d) => {
                    std::fs::create_dir_all(d)?;
                    d.clone()
                }
                None => {
                    tmp = TempDir::new(a.seed)?;
                    tmp.0.clone()
                }
            };
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
