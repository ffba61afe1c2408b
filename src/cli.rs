//! Command-line interface: one subcommand per stage. A command's flags are the library's own
//! flag types (`clap::Args`, flattened here); each command calls one library function and
//! prints what it returns.

use axdnn::lut::{build::TableFlags, testbench::TestbenchFlags, verify::VerifyFlags};
use axdnn::model::onnx::folder as onnx;
use axdnn::model::train::{EvalFlags, TrainFlags};
use axdnn::rtl::options::{CosimFlags, EmitFlags};
use axdnn::study::jobs;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

mod reference;

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
    Run(jobs::MainJobFlags),
    /// Print the model architectures and their per-layer MACs.
    Arch,
    /// 8-bit integer inference on the systolic-array model with any multiplier.
    Infer(jobs::InferFlags),
    /// Evaluate every multiplier of a folder on a model: CSV + Pareto SVG.
    Select(jobs::SelectFlags),
    /// Algorithm 1 for one attack: adversarial examples from the float model, robust accuracy of
    /// the quantized model on the accelerator with each multiplier, per epsilon.
    Attack(jobs::AttackFlags),
    /// The study engine: run a plan (TOML or flags) into a keyed, resumable results store;
    /// report, merge shards, Slurm job arrays.
    #[command(subcommand)]
    Study(StudyCmd),
    /// Reproduce the paper from the shipped plans (Figs. 4–8, Table II): one study folder per
    /// plan and report.md setting every number the paper quotes beside ours.
    Reproduce(jobs::ReproduceFlags),
    /// Transferability (the paper's Table II): adversarial examples from each model's float
    /// version against every model quantized on the accelerator.
    Transfer(jobs::TransferFlags),
    /// Accuracy table of several multipliers under several quantization schemes (Markdown).
    AccuracyTable(jobs::AccuracyTableFlags),
    /// Approximation-aware fine-tuning for one multiplier into a new model folder
    /// (evaluate it with --recover finetune).
    Finetune(jobs::FinetuneFlags),
    /// Write our own multipliers as flat Verilog (no args: the default set into netlists/gen).
    Gen {
        /// Specs: exact:NxM, sexact:NxM (signed, Baugh-Wooley), trunc:NxM:K (K LSB columns dropped), bam:NxM:HBL:VBL.
        specs: Vec<String>,
        /// Folder the Verilog files are written to.
        #[arg(short, long, default_value = "netlists/gen")]
        out_dir: PathBuf,
    },
    /// Multiplier lookup tables: build, verify, cross-check.
    #[command(subcommand)]
    Lut(LutCmd),
    /// Verilog netlists: check, statistics.
    #[command(subcommand)]
    Netlist(NetlistCmd),
    /// Energy of a multiplier over an operand stream, from what its gates switch (toggles of
    /// every net, Liberty internal power, ½·C·V², leakage).
    Energy(axdnn::energy::EnergyFlags),
    /// Train a model in float and write `model.safetensors` + `model.json` into --out.
    Train(TrainFlags),
    /// Float test accuracy of a trained model.
    Eval(EvalFlags),
    /// Read an ONNX file (a network from any framework) into a model folder, measuring its float
    /// test accuracy.
    Import(onnx::ImportFlags),
    /// Write a model folder as an ONNX file (opset 13) that ONNX Runtime runs.
    Export(onnx::ExportFlags),
    /// Dataset tools.
    #[command(subcommand)]
    Data(DataCmd),
    /// RTL co-verification: emit the WS array as Verilog, co-simulate it against the model.
    #[command(subcommand)]
    Rtl(RtlCmd),
    /// Print the CLI reference as Markdown (docs/src/reference/cli.md).
    #[command(hide = true)]
    CliReference,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process: boxing would only add noise
enum StudyCmd {
    /// Run a plan (a TOML file, or the plan flags) into a results folder; reuses every stored
    /// row whose key matches, so a killed run resumes; writes plan.lock.toml, results.csv,
    /// report.md and plots/.
    Run(jobs::StudyRunFlags),
    /// Regenerate report.md and plots/ of a results folder from its store alone.
    Report {
        /// Results folder.
        dir: PathBuf,
        /// Print the verdict counts as JSON instead of the report.
        #[arg(long)]
        json: bool,
    },
    /// Combine shard folders of one plan into one folder (refuses folders of different plans).
    Merge {
        /// Shard folders.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Merged results folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a Slurm job array (one task per shard) and a merge job that depends on it.
    Slurm(jobs::SlurmFlags),
}

#[derive(Subcommand)]
enum LutCmd {
    /// Simulate a netlist over every operand pair and write its table.
    Gen(TableFlags),
    /// Verify netlists (a file or a folder tree) against published figures and C models.
    Verify(VerifyFlags),
    /// Write an exhaustive Verilog testbench for a netlist (dump: one hex output per line).
    Testbench(TestbenchFlags),
}

#[derive(Subcommand)]
enum NetlistCmd {
    /// Gates per cell type, logic depth, inputs and outputs of a netlist.
    Stats {
        /// Verilog netlist.
        file: PathBuf,
        /// Also show the statistics after constant propagation, buffer removal, structural
        /// hashing and dead-gate removal.
        #[arg(long)]
        opt: bool,
    },
    /// Parse and check a netlist; print every error and warning (exit code 1 on errors).
    Check {
        /// Verilog netlist.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum DataCmd {
    /// Convert an image-folder dataset (folder or .tar.gz with train/<class>/*, test/<class>/*)
    /// into CIFAR-10 binary files in the cache ($AXDNN_CACHE or ~/.cache/axdnn); prints the folder.
    Import {
        /// Image folder or .tar.gz.
        source: PathBuf,
        /// Cache folder (default: $AXDNN_CACHE, $XDG_CACHE_HOME/axdnn or ~/.cache/axdnn).
        #[arg(long)]
        cache: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RtlCmd {
    /// Write axdnn_pe.v, axdnn_array_ws.v, axdnn_tb_ws.v (ws), axdnn_pe_os.v,
    /// axdnn_array_os.v, axdnn_tb_os.v (os) or axdnn_pe_is.v, axdnn_array_is.v, axdnn_tb_is.v
    /// (is) (+ the multiplier and, for PDK45 netlists, the cell models) into a folder.
    Emit(EmitFlags),
    /// Co-simulate a random GEMM tile (or, with --model, real layers of real images) on the
    /// emitted RTL and compare with accel::array/fast (and the accelerator's logits).
    Cosim(Box<CosimFlags>),
}

/// This process's command line, recorded in what it writes.
fn command_line() -> String {
    std::iter::once("axdnn".to_string()).chain(std::env::args().skip(1)).collect::<Vec<_>>().join(" ")
}

pub fn run() -> anyhow::Result<()> {
    let log = |s: &str| eprintln!("{s}");
    match Cli::parse().cmd {
        Cmd::Run(a) => {
            let (out, note) = a.run(&log)?;
            print!("{out}");
            eprint!("{note}");
        }
        Cmd::Arch => print!("{}", axdnn::model::arch::overview()),
        Cmd::Infer(a) => print!("{}", a.run(&log)?),
        Cmd::Select(a) => print!("{}", a.run(&command_line(), &log)?),
        Cmd::Attack(a) => print!("{}", a.run(&log)?),
        Cmd::Study(StudyCmd::Run(a)) => print!("{}", a.run()?),
        Cmd::Study(StudyCmd::Report { dir, json }) => print!("{}", jobs::study_report(&dir, json)?),
        Cmd::Study(StudyCmd::Merge { dirs, out }) => {
            let n = axdnn::study::store::merge(&dirs, &out)?;
            println!("merged {} folders into {}: {n} rows", dirs.len(), out.display());
        }
        Cmd::Study(StudyCmd::Slurm(a)) => {
            let s = a.write()?;
            print!("{s}");
            print!("{}", s.submit(a.submit)?);
        }
        Cmd::Reproduce(a) => print!("{}", a.run(&log)?),
        Cmd::Transfer(a) => print!("{}", a.run()?),
        Cmd::AccuracyTable(a) => print!("{}", a.run()?),
        Cmd::Finetune(a) => print!("{}", a.run(&command_line())?),
        Cmd::Gen { specs, out_dir } => {
            for spec in axdnn::gen::parse_specs(&specs).map_err(anyhow::Error::msg)? {
                println!("{}", spec.write(&out_dir).map_err(anyhow::Error::msg)?);
            }
        }
        Cmd::Lut(LutCmd::Gen(a)) => print!("{}", a.run()?),
        Cmd::Lut(LutCmd::Verify(a)) => {
            let v = a.run()?;
            print!("{}", v.text);
            v.check()?;
        }
        Cmd::Lut(LutCmd::Testbench(a)) => print!("{}", a.run()?),
        Cmd::Netlist(NetlistCmd::Stats { file, opt }) => {
            use axdnn::netlist::graph;
            let p = axdnn::netlist::parse_file(&file)?;
            p.warnings.iter().for_each(|w| eprintln!("{w}"));
            print!("{}", graph::stats(&p.netlist));
            if opt {
                print!("after optimisation:\n{}", graph::stats(&graph::optimize(&p.netlist)));
            }
        }
        Cmd::Netlist(NetlistCmd::Check { file }) => match axdnn::netlist::diagnose_file(&file) {
            Ok(p) => {
                p.warnings.iter().for_each(|w| println!("{w}"));
                println!("{}: ok ({} nodes)", file.display(), p.netlist.nodes.len());
            }
            Err(errors) => {
                errors.iter().for_each(|e| println!("{e}"));
                anyhow::bail!("{} error(s) in {}", errors.len(), file.display());
            }
        },
        Cmd::Energy(a) => print!("{}", a.run()?),
        Cmd::Train(a) => println!("{}", a.run(&command_line(), &log)?),
        Cmd::Eval(a) => {
            let e = a.run(&log)?;
            println!("{}", if a.json { e.json() } else { e.to_string() });
        }
        Cmd::Import(a) => println!("{}", a.run(&command_line())?),
        Cmd::Export(a) => println!("{}: {} bytes", a.onnx.display(), a.run()?),
        Cmd::Data(DataCmd::Import { source, cache }) => {
            let cache = cache.unwrap_or_else(axdnn::util::cache_dir);
            println!("{}", axdnn::data::folder::import_cached(&source, &cache, true)?.display());
        }
        Cmd::Rtl(RtlCmd::Emit(a)) => print!("{}", a.run()?),
        Cmd::Rtl(RtlCmd::Cosim(a)) if a.real.model.is_some() => print!("{}", jobs::rtl_cosim_model(&a)?),
        Cmd::Rtl(RtlCmd::Cosim(a)) => print!("{}", a.run()?),
        Cmd::CliReference => print!("{}", reference::markdown()),
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
