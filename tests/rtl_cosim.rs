//! RTL co-verification: the emitted WS array around a multiplier netlist, simulated by Icarus
//! Verilog, must give the cycle-stepped model's sums bit for bit and its output cycles.

use axdnn::quant::QuantScheme;
use axdnn::rtl::cosim::{cosim, RtlMultiplier};
use axdnn::rtl::{CosimConfig, Simulator};
use std::path::{Path, PathBuf};

fn iverilog_available() -> bool {
    if axdnn::lut::testbench::have_tool("iverilog") && axdnn::lut::testbench::have_tool("vvp") {
        return true;
    }
    eprintln!("skipped: iverilog not found");
    false
}

fn gen(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("netlists/gen").join(name)
}

fn cfg(rows: usize, cols: usize, npix: usize, k: usize, nf: usize, seed: u64, scheme: QuantScheme) -> CosimConfig {
    CosimConfig { rows, cols, npix, k, nf, seed, scheme, sim: Simulator::Icarus }
}

#[test]
fn generated_multiplier_4x4_and_3x5() {
    if !iverilog_available() {
        return;
    }
    let m = RtlMultiplier::load(&gen("mul8u_gen_bam_h2v6.v")).unwrap();
    for c in [
        cfg(4, 4, 16, 4, 4, 1, QuantScheme::AsymU8),
        cfg(3, 5, 7, 3, 5, 2, QuantScheme::AsymU8),
        cfg(4, 4, 9, 4, 4, 3, QuantScheme::SignMagnitude),
        cfg(3, 5, 6, 2, 4, 4, QuantScheme::SignMagnitude),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let r = cosim(&m, c, dir.path()).unwrap_or_else(|e| panic!("{c:?}: {e}"));
        eprintln!("{c:?}: {:?}", r.check);
        assert_eq!(r.check.sums, c.npix * c.nf);
        assert_eq!(r.check.last_output_cycle, r.check.model_last_busy_cycle);
    }
}
