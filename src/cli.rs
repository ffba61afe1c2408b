//! Command-line interface: one subcommand per stage.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "axdnn", version, about = "Approximate DNN accelerators: netlist → LUT → systolic array")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the model architectures and their per-layer MACs.
    Arch,
    /// Verilog netlists: check, statistics.
    #[command(subcommand)]
    Netlist(NetlistCmd),
}

#[derive(Subcommand)]
enum NetlistCmd {
    /// Gates per cell type, logic depth, inputs and outputs of a netlist.
    Stats {
        file: std::path::PathBuf,
        /// Also show the statistics after constant propagation, buffer removal, structural
        /// hashing and dead-gate removal.
        #[arg(long)]
        opt: bool,
    },
    /// Parse and check a netlist; print every error and warning (exit code 1 on errors).
    Check { file: std::path::PathBuf },
}

pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
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
