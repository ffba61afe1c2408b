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
}

pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
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
