//! Command-line interface: one subcommand per stage.

use axdnn::lut::{build::TableFlags, testbench::TestbenchFlags, verify::VerifyFlags};
use axdnn::model::train::{EvalFlags, TrainFlags};
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
    Train(TrainFlags),
    /// Float test accuracy of a trained model.
    Eval(EvalFlags),
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

/// This process's command line, recorded in what it writes.
pub(crate) fn command_line() -> String {
    std::iter::once("axdnn".to_string()).chain(std::env::args().skip(1)).collect::<Vec<_>>().join(" ")
}

pub fn run() -> anyhow::Result<()> {
    let log = |s: &str| eprintln!("{s}");
    match Cli::parse().cmd {
        Cmd::Run(a) => run::run_cmd(a)?,
        Cmd::CliReference => print!("{}", reference::markdown()),
        Cmd::Rtl(c) => rtl::rtl_cmd(c)?,
        Cmd::Netlist(cmd) => netlist_cmd(cmd)?,
        Cmd::Arch => print!("{}", axdnn::model::arch::overview()),
        Cmd::Infer(a) => accel::infer_cmd(a)?,
        Cmd::Select(a) => accel::select_cmd(a)?,
        Cmd::AccuracyTable(a) => accel::table_cmd(a)?,
        Cmd::Finetune(a) => finetune::finetune_cmd(a)?,
        Cmd::Attack(a) => attack::attack_cmd(a)?,
        Cmd::Study(c) => study::study_cmd(c)?,
        Cmd::Reproduce(a) => study::reproduce_cmd(a)?,
        Cmd::Transfer(a) => transfer::transfer_cmd(a)?,
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
        Cmd::Train(a) => println!("{}", a.run(&command_line(), &log)?),
        Cmd::Eval(a) => {
            let e = a.run(&log)?;
            println!("{}", if a.json { e.json() } else { e.to_string() });
        }
        Cmd::Data(DataCmd::Import { source, cache }) => {
            let cache = cache.unwrap_or_else(axdnn::util::cache_dir);
            let dir = axdnn::data::folder::import_cached(&source, &cache, true)?;
            println!("{}", dir.display());
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
