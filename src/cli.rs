//! Command-line interface: one subcommand per stage.

use clap::{Parser, Subcommand};

mod accel;
mod attack;
mod finetune;
mod reference;
mod rtl;
mod run;
mod study;
mod target;
mod transfer;

#[derive(Parser)]
#[command(name = "axdnn", version, about = "Approximate DNN accelerators: netlist → LUT → systolic array")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process: boxing would only add noise
enum Cmd {
    /// The main job on built-in defaults: built-in and EvoApprox multipliers → verified LUTs →
    /// quantized LeNet-5 on the systolic array; writes runs/main/{results.csv,report.md}.
    Run(run::RunArgs),
    /// Print the model architectures and their per-layer MACs.
    Arch,
    /// 8-bit integer inference on the systolic-array model with any multiplier.
    Infer(accel::InferArgs),
    /// Evaluate every multiplier of a folder on a model: CSV + Pareto SVG.
    Select(accel::SelectArgs),
    /// Algorithm 1 for one attack: adversarial examples from the float model, robust accuracy of
    /// the quantized model on the accelerator with each multiplier, per epsilon.
    Attack(attack::AttackArgs),
    /// The study engine: run a plan (TOML or flags) into a keyed, resumable results store;
    /// report, merge shards, Slurm job arrays.
    #[command(subcommand)]
    Study(study::StudyCmd),
    /// Reproduce the paper from the shipped plans (Figs. 4–8, Table II): one study folder per
    /// plan and report.md setting every number the paper quotes beside ours.
    Reproduce(study::ReproduceArgs),
    /// Transferability (the paper's Table II): adversarial examples from each model's float
    /// version against every model quantized on the accelerator.
    Transfer(transfer::TransferArgs),
    /// Accuracy table of several multipliers under several quantization schemes (Markdown).
    AccuracyTable(accel::TableArgs),
    /// Approximation-aware fine-tuning for one multiplier into a new model folder
    /// (evaluate it with --recover finetune).
    Finetune(finetune::FinetuneArgs),
    /// Write our own multipliers as flat Verilog (no args: the default set into netlists/gen).
    Gen {
        /// Specs: exact:NxM, sexact:NxM (signed, Baugh-Wooley), trunc:NxM:K (K LSB columns dropped), bam:NxM:HBL:VBL.
        specs: Vec<String>,
        /// Folder the Verilog files are written to.
        #[arg(short, long, default_value = "netlists/gen")]
        out_dir: std::path::PathBuf,
    },
    /// Multiplier lookup tables: build, verify, cross-check.
    #[command(subcommand)]
    Lut(LutCmd),
    /// Verilog netlists: check, statistics.
    #[command(subcommand)]
    Netlist(NetlistCmd),
    /// Train a model in float and write `model.safetensors` + `model.json` into --out.
    Train(TrainArgs),
    /// Float test accuracy of a trained model.
    Eval(EvalArgs),
    /// Dataset tools.
    #[command(subcommand)]
    Data(DataCmd),
    /// RTL co-verification: emit the WS array as Verilog, co-simulate it against the model.
    #[command(subcommand)]
    Rtl(rtl::RtlCmd),
    /// Print the CLI reference as Markdown (docs/src/reference/cli.md).
    #[command(hide = true)]
    CliReference,
}

#[derive(Subcommand)]
enum NetlistCmd {
    /// Gates per cell type, logic depth, inputs and outputs of a netlist.
    Stats {
        /// Verilog netlist.
        file: std::path::PathBuf,
        /// Also show the statistics after constant propagation, buffer removal, structural
        /// hashing and dead-gate removal.
        #[arg(long)]
        opt: bool,
    },
    /// Parse and check a netlist; print every error and warning (exit code 1 on errors).
    Check {
        /// Verilog netlist.
        file: std::path::PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PortArg {
    A,
    B,
}

impl From<PortArg> for axdnn::RowPort {
    fn from(p: PortArg) -> Self {
        match p {
            PortArg::A => axdnn::RowPort::A,
            PortArg::B => axdnn::RowPort::B,
        }
    }
}

#[derive(Subcommand)]
enum LutCmd {
    /// Simulate a netlist over every operand pair and write its table.
    Gen {
        /// Verilog netlist.
        file: std::path::PathBuf,
        /// Output table file.
        #[arg(short, long)]
        out: std::path::PathBuf,
        /// bin (TFApprox u16), npy, npy-u2, csv, c (AdaPT header).
        #[arg(long, value_enum, default_value = "bin")]
        format: axdnn::lut::io::Format,
        /// Verilog port that indexes the rows (B = activation operand, TFApprox convention).
        #[arg(long, value_enum, default_value = "b")]
        row_port: PortArg,
        /// Two's-complement operands (default: from the name, e.g. mul8s_*).
        #[arg(long)]
        signed: Option<bool>,
    },
    /// Verify netlists (a file or a folder tree) against published figures and C models.
    Verify {
        /// A netlist, or a folder searched recursively.
        path: std::path::PathBuf,
        /// Skip the C-model comparison.
        #[arg(long)]
        no_c: bool,
        /// Sample size for circuits above 2^20 operand pairs.
        #[arg(long, default_value_t = 1 << 18)]
        samples: usize,
        /// Seed of the sampled operand pairs.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Sweep circuits with up to this many operand bits exhaustively (24 covers 12x12).
        #[arg(long, default_value_t = axdnn::sim::MAX_EXHAUSTIVE_BITS)]
        exhaustive_bits: u32,
    },
    /// Write an exhaustive Verilog testbench for a netlist (dump: one hex output per line).
    Testbench {
        /// Verilog netlist.
        file: std::path::PathBuf,
        /// Output testbench file.
        #[arg(short, long)]
        out: std::path::PathBuf,
    },
}

#[derive(clap::Args)]
struct TrainArgs {
    /// Architecture: lenet5 | alexnet (`--model` is accepted as an alias).
    #[arg(long, alias = "model")]
    arch: axdnn::model::ArchName,
    /// Dataset: mnist | cifar10.
    #[arg(long)]
    dataset: axdnn::data::DatasetName,
    /// Output model folder (also holds the per-epoch checkpoint used to resume).
    #[arg(long)]
    out: std::path::PathBuf,
    #[command(flatten)]
    settings: axdnn::model::train::TrainOverrides,
    /// Train on the first N training images only (smoke tests).
    #[arg(long)]
    limit: Option<usize>,
    /// Dataset folder (default: $AXDNN_DATA, else ../shared/data).
    #[arg(long)]
    data: Option<std::path::PathBuf>,
    /// Resume from the checkpoint in --out (also automatic when one exists).
    #[arg(long)]
    resume: bool,
    /// Export the model after this many epochs even if the schedule planned more (a fallback when
    /// time runs out; model.json records the epochs actually done).
    #[arg(long)]
    stop_after: Option<usize>,
}

#[derive(clap::Args)]
struct EvalArgs {
    /// Model folder (model.safetensors + model.json).
    #[arg(long)]
    model: std::path::PathBuf,
    /// Evaluate the first N test images only [default: all].
    #[arg(long, value_parser = axdnn::util::values::parse_count)]
    n: Option<usize>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Write the float logits (float32 .npy, N×classes, test-set order) for other tools.
    #[arg(long)]
    logits: Option<std::path::PathBuf>,
    /// Dataset folder (default: $AXDNN_DATA, else ../shared/data).
    #[arg(long)]
    data: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum DataCmd {
    /// Convert an image-folder dataset (folder or .tar.gz with train/<class>/*, test/<class>/*)
    /// into CIFAR-10 binary files in the cache ($AXDNN_CACHE or ~/.cache/axdnn); prints the folder.
    Import {
        /// Image folder or .tar.gz.
        source: std::path::PathBuf,
        /// Cache folder (default: $AXDNN_CACHE, $XDG_CACHE_HOME/axdnn or ~/.cache/axdnn).
        #[arg(long)]
        cache: Option<std::path::PathBuf>,
    },
}

/// A model folder's name for labels and default output folders.
pub(crate) fn model_label(path: &std::path::Path) -> String {
    path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

pub(crate) fn data_root(arg: Option<std::path::PathBuf>) -> anyhow::Result<std::path::PathBuf> {
    axdnn::util::inputs::data_folder(arg).ok_or_else(|| anyhow::anyhow!(axdnn::util::inputs::NO_DATA))
}

fn train_cmd(a: TrainArgs) -> anyhow::Result<()> {
    use axdnn::data::{self, Split};
    use axdnn::model::{io, train};
    let root = data_root(a.data)?;
    let cfg = a.settings.apply(train::TrainConfig::new(a.arch, a.dataset));
    let ck = a.out.join(train::CHECKPOINT_FILE);
    if a.resume && !ck.is_file() {
        eprintln!("note: --resume given but {} does not exist; starting fresh", ck.display());
    }
    let mut tr = data::load(a.dataset, Split::Train, &root)?;
    if let Some(l) = a.limit {
        tr = tr.head(l);
    }
    let te = data::load(a.dataset, Split::Test, &root)?;
    eprintln!(
        "training {} on {} ({} train / {} test images): {}",
        a.arch,
        a.dataset,
        tr.len(),
        te.len(),
        cfg.optimizer_description()
    );
    let t0 = std::time::Instant::now();
    let outcome = train::train_until(&cfg, &tr, &te, &a.out, true, a.stop_after.unwrap_or(cfg.epochs))?;
    let meta = train::trained_meta(&cfg, &outcome, &root, te.len(), command_line())?;
    io::save(&a.out, &outcome.arch, &outcome.params, &meta)?;
    println!(
        "{}: test accuracy {:.4} ({} images), {} epochs, training time {:.0}s (this process {:.0}s)",
        a.out.display(),
        outcome.test_accuracy,
        te.len(),
        meta.epochs,
        meta.train_seconds,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// This process's command line, recorded in what it writes.
pub(crate) fn command_line() -> String {
    std::iter::once("axdnn".to_string()).chain(std::env::args().skip(1)).collect::<Vec<_>>().join(" ")
}

fn eval_cmd(a: EvalArgs) -> anyhow::Result<()> {
    use axdnn::data::{self, Split};
    use axdnn::model::io;
    // The model first: a bad model folder is reported even where no dataset is installed.
    let m = io::load(&a.model)?;
    let root = data_root(a.data)?;
    let mut te = data::load(m.meta.dataset, Split::Test, &root)?;
    if let Some(n) = a.n {
        te = te.head(n);
    }
    if te.shape != m.arch.input {
        anyhow::bail!("dataset images are {}, model expects {}", te.shape, m.arch.input);
    }
    let logits = axdnn::model::train::dataset_logits(&m.arch, &m.params, &te);
    let acc = axdnn::model::train::accuracy_of(&logits, &te.labels, m.arch.classes);
    if let Some(p) = &a.logits {
        axdnn::util::write_atomic(p, &axdnn::lut::io::npy_f32(&[te.len(), m.arch.classes], &logits))?;
        eprintln!("wrote {} ({} × {} logits)", p.display(), te.len(), m.arch.classes);
    }
    if a.json {
        let o = serde_json::json!({
            "accuracy": acc, "n": te.len(), "model": a.model.display().to_string(), "dataset": m.meta.dataset.to_string(),
        });
        println!("{o}");
    } else {
        println!(
            "{}: float test accuracy {:.4} ({:.2} %) on {} {} test images",
            a.model.display(),
            acc,
            acc * 100.0,
            te.len(),
            m.meta.dataset
        );
    }
    Ok(())
}

pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run(a) => run::run_cmd(a)?,
        Cmd::CliReference => print!("{}", reference::markdown()),
        Cmd::Rtl(c) => rtl::rtl_cmd(c)?,
        Cmd::Netlist(cmd) => netlist_cmd(cmd)?,
        Cmd::Arch => {
            use axdnn::model::{Arch, ArchName, Shape};
            for name in [ArchName::Lenet5, ArchName::Alexnet] {
                for input in [Shape::new(1, 28, 28), Shape::new(3, 32, 32)] {
                    let a = Arch::new(name, input, 10);
                    let macs = a.macs();
                    println!("{name} on {input}: {} MACs/image", macs.iter().sum::<u64>());
                    for ((l, s), m) in a.layers.iter().zip(a.shapes()).zip(macs) {
                        println!("  {:<12} -> {:<10} {:>10} MACs", l.name, s.to_string(), m);
                    }
                }
            }
        }
        Cmd::Infer(a) => accel::infer_cmd(a)?,
        Cmd::Select(a) => accel::select_cmd(a)?,
        Cmd::AccuracyTable(a) => accel::table_cmd(a)?,
        Cmd::Finetune(a) => finetune::finetune_cmd(a)?,
        Cmd::Attack(a) => attack::attack_cmd(a)?,
        Cmd::Study(c) => study::study_cmd(c)?,
        Cmd::Reproduce(a) => study::reproduce_cmd(a)?,
        Cmd::Transfer(a) => transfer::transfer_cmd(a)?,
        Cmd::Gen { specs, out_dir } => gen_cmd(&specs, &out_dir)?,
        Cmd::Lut(c) => lut_cmd(c)?,
        Cmd::Train(a) => train_cmd(a)?,
        Cmd::Eval(a) => eval_cmd(a)?,
        Cmd::Data(DataCmd::Import { source, cache }) => {
            let cache = cache.unwrap_or_else(axdnn::util::cache_dir);
            let dir = axdnn::data::folder::import_cached(&source, &cache, true)?;
            println!("{}", dir.display());
        }
    }
    Ok(())
}

fn gen_cmd(specs: &[String], out_dir: &std::path::Path) -> anyhow::Result<()> {
    use axdnn::gen;
    let specs: Vec<gen::Spec> = if specs.is_empty() {
        gen::default_set()
    } else {
        specs.iter().map(|s| gen::parse_spec(s)).collect::<Result<_, _>>().map_err(anyhow::Error::msg)?
    };
    for spec in specs {
        let net = spec.netlist();
        let text = gen::to_verilog(&net, &gen::header(&spec));
        let path = out_dir.join(format!("{}.v", spec.name()));
        axdnn::lut::io::write_atomic(&path, text.as_bytes())?;
        let gates = net.nodes.iter().filter(|n| n.op != axdnn::netlist::Op::Input).count();
        println!("{}: {} gates", path.display(), gates);
    }
    Ok(())
}

fn lut_cmd(c: LutCmd) -> anyhow::Result<()> {
    use axdnn::lut::{verify, Metrics};
    match c {
        LutCmd::Gen { file, out, format, row_port, signed } => {
            let parsed = axdnn::netlist::parse_file(&file)?;
            let net = &parsed.netlist;
            let signed = signed.unwrap_or_else(|| axdnn::sim::signed_from_name(&net.name).unwrap_or(false));
            let t = std::time::Instant::now();
            let mut lut = axdnn::lut::exhaustive_lut(net, row_port.into(), signed)?;
            let dt = t.elapsed();
            lut.power_mw = parsed.published.pdk45_pwr_mw.as_ref().map(|f| f.value);
            axdnn::lut::io::export(&lut, format, &out)?;
            let m = Metrics::of_lut(&lut);
            println!(
                "{}: {}x{} {} (row = port {:?}), {} entries simulated in {:.3} ms -> {}",
                net.name,
                lut.row_bits,
                lut.col_bits,
                if signed { "signed" } else { "unsigned" },
                lut.row_port,
                lut.len(),
                dt.as_secs_f64() * 1e3,
                out.display()
            );
            println!(
                "  MAE {:.4} ({:.4} %), WCE {} ({:.4} %), EP {:.4} %, MRE {:.4} %, WCRE {:.2} %, MSE {:.2}, bias {:.4}, error std {:.4}",
                m.mae, m.mae_pct, m.wce, m.wce_pct, m.ep_pct, m.mre_pct, m.wcre_pct, m.mse, m.mean_error, m.error_std
            );
        }
        LutCmd::Testbench { file, out } => {
            let parsed = axdnn::netlist::parse_file(&file)?;
            let d = axdnn::lut::testbench::Dut::of(&parsed.netlist)
                .ok_or_else(|| anyhow::anyhow!("{}: needs input ports A and B and an output", file.display()))?;
            axdnn::lut::io::write_atomic(&out, axdnn::lut::testbench::testbench(&d).as_bytes())?;
            println!("{} -> {} ({} pairs)", file.display(), out.display(), 1u64 << (d.a_bits + d.b_bits));
        }
        LutCmd::Verify { path, no_c, samples, seed, exhaustive_bits } => {
            let circuits = verify::discover(&path)?;
            if circuits.is_empty() {
                anyhow::bail!("{}: no .v files found", path.display());
            }
            let opt = verify::Options { samples, seed, exhaustive_bits, ..Default::default() };
            let (reports, t_sim, t_c) = verify::verify_all(&circuits, &opt, !no_c);
            print!("{}", verify::table(&reports));
            let (summary, failed) = verify::summary(&circuits, &reports, t_sim, t_c);
            print!("{summary}");
            if failed > 0 {
                anyhow::bail!("{failed} circuit(s) failed verification");
            }
        }
    }
    Ok(())
}

fn netlist_cmd(cmd: NetlistCmd) -> anyhow::Result<()> {
    use axdnn::netlist::{self, graph};
    match cmd {
        NetlistCmd::Stats { file, opt } => {
            let p = netlist::parse_file(&file)?;
            for w in &p.warnings {
                eprintln!("{w}");
            }
            print!("{}", graph::stats(&p.netlist));
            if opt {
                println!("after optimisation:");
                print!("{}", graph::stats(&graph::optimize(&p.netlist)));
            }
        }
        NetlistCmd::Check { file } => match netlist::diagnose_file(&file) {
            Ok(p) => {
                for w in &p.warnings {
                    println!("{w}");
                }
                println!("{}: ok ({} nodes)", file.display(), p.netlist.nodes.len());
            }
            Err(errors) => {
                for e in &errors {
                    println!("{e}");
                }
                anyhow::bail!("{} error(s) in {}", errors.len(), file.display());
            }
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every argument of every subcommand says what it is for (README and --help agree).
    #[test]
    fn every_argument_has_help() {
        fn walk(c: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in c.get_arguments() {
                if a.get_id() == "help" || a.get_id() == "version" {
                    continue;
                }
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} --{}", a.get_id()));
                }
            }
            for s in c.get_subcommands() {
                if s.get_name() != "help" {
                    walk(s, &format!("{path} {}", s.get_name()), missing);
                }
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "axdnn", &mut missing);
        assert!(missing.is_empty(), "arguments without help text:\n{}", missing.join("\n"));
    }
}
