//! The external Verilog simulators, Icarus Verilog and Verilator: one driver for every testbench
//! the project runs — the exhaustive LUT testbench (`lut::testbench`) and the RTL co-simulation
//! (`rtl`). Compile a top module once, run it on any plusargs, errors that name the tool.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Verilog simulator a testbench runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Simulator {
    /// Icarus Verilog (`iverilog` + `vvp`).
    #[default]
    Icarus,
    /// Verilator.
    Verilator,
}

crate::name_table!(Simulator, "simulator": Icarus = "iverilog" | "icarus", Verilator = "verilator");

/// Failure to run an external Verilog simulator.
#[derive(Debug, thiserror::Error)]
pub enum ExtSimError {
    /// The simulator is not installed.
    #[error("{tool} not found on PATH")]
    Missing {
        /// The program looked for (`iverilog`, `vvp`, `verilator`, …).
        tool: &'static str,
    },
    /// The simulator ran and failed.
    #[error("{tool} failed ({status}): {stderr}")]
    Failed {
        /// The program.
        tool: &'static str,
        /// Its exit status.
        status: String,
        /// Its error output, then its standard output (the first 2,000 characters).
        stderr: String,
    },
    /// Files around the run could not be written or read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Whether `tool` can be started (`tool -V`).
pub fn have_tool(tool: &str) -> bool {
    Command::new(tool).arg("-V").output().is_ok()
}

fn run_tool(tool: &'static str, cmd: &mut Command) -> Result<(), ExtSimError> {
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ExtSimError::Missing { tool }
        } else {
            ExtSimError::Io(e)
        }
    })?;
    if !out.status.success() {
        let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stdout));
        return Err(ExtSimError::Failed {
            tool,
            status: out.status.to_string(),
            stderr: text.chars().take(2000).collect(),
        });
    }
    Ok(())
}

/// A compiled testbench: run it with any plusargs (stimulus and dump files).
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The simulator it was compiled for.
    pub sim: Simulator,
    /// The `vvp` image (Icarus) or the Verilator executable.
    pub exe: PathBuf,
}

/// Compile the module `top` of `sources` in `dir` (Icarus: `-g2005`; Verilator: `--binary
/// --timing` at optimisation level `verilator_opt`, e.g. `-O3` for a long exhaustive sweep,
/// `-O1` where compile time dominates).
pub fn compile(
    sim: Simulator,
    top: &str,
    sources: &[&Path],
    dir: &Path,
    verilator_opt: &str,
) -> Result<Compiled, ExtSimError> {
    let exe = match sim {
        Simulator::Icarus => {
            let image = dir.join(format!("{top}.vvp"));
            let mut cmd = Command::new("iverilog");
            cmd.args(["-g2005", "-s", top, "-o"]).arg(&image).args(sources);
            run_tool("iverilog", &mut cmd)?;
            image
        }
        Simulator::Verilator => {
            let mdir = dir.join("obj_vl");
            let mut cmd = Command::new("verilator");
            cmd.args([
                "--binary",
                "--timing",
                verilator_opt,
                "-Wno-fatal",
                "-Wno-lint",
                "-Wno-style",
                "--top-module",
                top,
            ]);
            cmd.arg("-Mdir").arg(&mdir).args(sources);
            run_tool("verilator", &mut cmd)?;
            mdir.join(format!("V{top}"))
        }
    };
    Ok(Compiled { sim, exe })
}

impl Compiled {
    /// Run with `plusargs` (e.g. `+out=dump.txt`).
    pub fn run(&self, plusargs: &[String]) -> Result<(), ExtSimError> {
        match self.sim {
            Simulator::Icarus => run_tool("vvp", Command::new("vvp").arg("-n").arg(&self.exe).args(plusargs)),
            Simulator::Verilator => run_tool("verilator", Command::new(&self.exe).args(plusargs)),
        }
    }
}
