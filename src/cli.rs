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
    /// Write our own multipliers as flat Verilog (no args: the default set into netlists/gen).
    Gen {
        /// Specs: exact:NxM, trunc:NxM:K (K LSB columns dropped), bam:NxM:HBL:VBL.
        specs: Vec<String>,
        #[arg(short, long, default_value = "netlists/gen")]
        out_dir: std::path::PathBuf,
    },
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
        Cmd::Gen { specs, out_dir } => gen_cmd(&specs, &out_dir)?,
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
