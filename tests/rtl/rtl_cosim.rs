//! RTL co-verification: the emitted WS, OS and IS arrays around a multiplier netlist, simulated by
//! Icarus Verilog, must give the cycle-stepped model's sums bit for bit and its output cycles.

use axdnn::accel::timing::{ArrayShape, Dataflow};
use axdnn::accel::{array, fast};
use axdnn::quant::QuantScheme;
use axdnn::rtl::check::{check, parse_dump};
use axdnn::rtl::cosim::{cosim, RtlMultiplier, Tile};
use axdnn::rtl::{schedule, CosimConfig, Geometry, RtlError, Simulator};
use std::path::{Path, PathBuf};

use crate::common;

/// Icarus, or a visible skip (a failure under CI).
fn iverilog_available() -> bool {
    common::require_icarus()
}

fn gen(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("netlists/gen").join(name)
}

fn cfg(rows: usize, cols: usize, npix: usize, k: usize, nf: usize, seed: u64, scheme: QuantScheme) -> CosimConfig {
    CosimConfig { rows, cols, npix, k, nf, seed, scheme, sim: Simulator::Icarus, dataflow: Dataflow::Ws }
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

/// Several folds in sequence (K > R, NF > C) and a signed multiplier (sym-s8).
#[test]
fn multi_fold_and_signed() {
    if !iverilog_available() {
        return;
    }
    let u = RtlMultiplier::load(&gen("mul8u_gen_trunc6.v")).unwrap();
    let s = RtlMultiplier::load(&gen("mul8s_gen_exact.v")).unwrap();
    for (m, c) in [
        (&u, cfg(4, 4, 12, 10, 7, 5, QuantScheme::SignMagnitude)),
        (&u, cfg(3, 5, 5, 7, 11, 6, QuantScheme::AsymU8)),
        (&s, cfg(4, 4, 9, 4, 4, 7, QuantScheme::SymS8)),
        (&s, cfg(3, 5, 6, 8, 9, 8, QuantScheme::SymS8)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let r = cosim(m, c, dir.path()).unwrap_or_else(|e| panic!("{c:?}: {e}"));
        let folds = c.k.div_ceil(c.rows) * c.nf.div_ceil(c.cols);
        assert_eq!(r.check.folds, folds);
        assert_eq!(r.check.outputs, c.npix * c.nf * c.k.div_ceil(c.rows));
        // SCALE-Sim closed form: folds × (2R + C + T − 2) − 1.
        let per_fold = 2 * c.rows + c.cols + c.npix - 2;
        assert_eq!(r.check.last_output_cycle, (folds * per_fold - 1) as u64);
    }
}

/// The scheme must match the multiplier's signedness (typed error, no simulation).
#[test]
fn scheme_signedness_is_checked() {
    let s = RtlMultiplier::load(&gen("mul8s_gen_exact.v")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let e = cosim(&s, cfg(2, 2, 2, 2, 2, 1, QuantScheme::AsymU8), dir.path()).unwrap_err();
    assert!(matches!(e, RtlError::Config(_)), "{e}");
    let e = RtlMultiplier::load(&gen("mul4u_gen_exact.v")).err().expect("4-bit multiplier rejected");
    assert!(matches!(e, RtlError::Ports { .. }), "{e}");
}

/// Wiring the activation to port A instead of B changes the sums of an asymmetric multiplier:
/// the co-simulation catches it.
#[test]
fn swapped_operand_ports_are_caught() {
    if !iverilog_available() {
        return;
    }
    let mut m = RtlMultiplier::load(&gen("mul8u_gen_bam_h2v6.v")).unwrap();
    let asym = (0..256u32)
        .flat_map(|a| (0..256u32).map(move |b| (a, b)))
        .filter(|&(a, b)| m.lut.get(a, b) != m.lut.get(b, a))
        .count();
    assert!(asym > 1000, "the multiplier must be asymmetric for this test ({asym} pairs)");
    std::mem::swap(&mut m.ports.a, &mut m.ports.b);
    let dir = tempfile::tempdir().unwrap();
    let e = cosim(&m, cfg(4, 4, 16, 4, 4, 1, QuantScheme::AsymU8), dir.path()).unwrap_err();
    assert!(matches!(e, RtlError::SumMismatch { reference: "accel::array", .. }), "{e}");
}

/// A corrupted dump or expected value fails with a typed error naming the dump line.
#[test]
fn corrupted_dump_or_expectation_fails() {
    if !iverilog_available() {
        return;
    }
    let m = RtlMultiplier::load(&gen("mul8u_gen_bam_h2v6.v")).unwrap();
    let c = cfg(3, 5, 6, 5, 7, 9, QuantScheme::SignMagnitude);
    let dir = tempfile::tempdir().unwrap();
    cosim(&m, c, dir.path()).unwrap();
    let dump_path = dir.path().join("dump.txt");
    let text = std::fs::read_to_string(&dump_path).unwrap();
    let g = Geometry { rows: c.rows, cols: c.cols };
    let tile = Tile::random(c.npix, c.k, c.nf, c.scheme, c.seed);
    let ops = tile.ops();
    let folds = schedule::folds(&ops, g, Dataflow::Ws);
    let model = array::run(&ops, &m.lut, ArrayShape { rows: c.rows, cols: c.cols }, Dataflow::Ws);
    let mut fast_sums = Vec::new();
    fast::gemm(&ops, &m.lut, true, &mut fast_sums);
    let run = |t: &str, model: &axdnn::accel::array::ArrayRun, fast: &[i32]| {
        let e = parse_dump(t, &dump_path, Dataflow::Ws)?;
        check(&e, &dump_path, Dataflow::Ws, &folds, &ops, model, fast)
    };
    let ok = run(&text, &model, &fast_sums).unwrap();
    assert_eq!(ok.sums, c.npix * c.nf);
    let lines: Vec<&str> = text.lines().collect();
    let edit = |i: usize, f: &dyn Fn(&str) -> String| {
        let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        l[i] = f(lines[i]);
        l.join("\n")
    };
    // One bit of one sum flipped → SumMismatch on that line.
    let flipped = edit(10, &|l| {
        let f: Vec<&str> = l.split(' ').collect();
        format!("{} {} {:08x}", f[0], f[1], u32::from_str_radix(f[2], 16).unwrap() ^ 1 << 7)
    });
    match run(&flipped, &model, &fast_sums) {
        Err(RtlError::SumMismatch { lines, got, want, .. }) => {
            assert!(lines.contains(&11), "{lines:?}");
            // The other fold's partial sum is exact, so the total differs by the flipped bit.
            assert_eq!(got.wrapping_sub(want).unsigned_abs(), 1 << 7);
        }
        r => panic!("flipped bit not caught: {r:?}"),
    }
    // An output a cycle late → CycleMismatch naming the line.
    let late = edit(3, &|l| {
        let (cyc, rest) = l.split_once(' ').unwrap();
        format!("{} {rest}", cyc.parse::<u64>().unwrap() + 1)
    });
    assert!(matches!(run(&late, &model, &fast_sums), Err(RtlError::CycleMismatch { line: 4, .. })));
    // A missing last output → Missing; a missing first one shifts its column → CycleMismatch;
    // garbage → Dump error with the line.
    let dropped = lines[..lines.len() - 1].join("\n");
    assert!(matches!(run(&dropped, &model, &fast_sums), Err(RtlError::Missing { .. })));
    let dropped = lines[1..].join("\n");
    assert!(matches!(run(&dropped, &model, &fast_sums), Err(RtlError::CycleMismatch { .. })));
    let garbage = edit(5, &|l| l.replace(|c: char| c.is_ascii_hexdigit() && c > '9', "x"));
    let garbage = if garbage == text { edit(5, &|_| "5 0 xxxxxxxx".into()) } else { garbage };
    assert!(matches!(run(&garbage, &model, &fast_sums), Err(RtlError::Dump { line: 6, .. })));
    // A wrong expected value (model or fast engine) → SumMismatch against that reference.
    let mut bad_model = model.clone();
    bad_model.sums[3] = bad_model.sums[3].wrapping_add(1);
    assert!(matches!(
        run(&text, &bad_model, &fast_sums),
        Err(RtlError::SumMismatch { reference: "accel::array", pixel: 0, output: 3, .. })
    ));
    let mut bad_fast = fast_sums.clone();
    bad_fast[c.nf + 2] ^= 1 << 20;
    assert!(matches!(
        run(&text, &model, &bad_fast),
        Err(RtlError::SumMismatch { reference: "accel::fast::gemm", pixel: 1, output: 2, .. })
    ));
    let mut bad_cycle = model.clone();
    bad_cycle.last_busy_cycle += 1;
    assert!(matches!(run(&text, &bad_cycle, &fast_sums), Err(RtlError::LastCycle { .. })));
}

fn evoapprox() -> Option<PathBuf> {
    common::evoapprox()
}

/// EvoApprox netlists: a generic one (mul8u_L40) and PDK45 ones with our cell models, unsigned
/// (sign-magnitude) and signed (sym-s8).
#[test]
fn evoapprox_multipliers() {
    if !iverilog_available() {
        return;
    }
    let Some(root) = evoapprox() else { return };
    let lib = root.join("evoapproxlib");
    let l40 = lib.join("8x8_unsigned/pareto_pwr_ep/mul8u_L40.v");
    let jff = lib.join("8x8_unsigned/pareto_pwr_ep/mul8u_1JFF_pdk45.v");
    let sdir = lib.join("8x8_signed/pareto_pwr_mae");
    let spdk = std::fs::read_dir(&sdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("_pdk45.v"))
        .min()
        .unwrap();
    for (path, c) in [
        (&l40, cfg(4, 4, 16, 4, 4, 11, QuantScheme::AsymU8)),
        (&l40, cfg(3, 5, 8, 7, 9, 12, QuantScheme::SignMagnitude)),
        (&jff, cfg(4, 4, 10, 6, 5, 13, QuantScheme::SignMagnitude)),
        (&spdk, cfg(3, 5, 8, 5, 6, 14, QuantScheme::SymS8)),
        (&jff, os(cfg(3, 5, 8, 5, 6, 15, QuantScheme::SignMagnitude))),
        (&spdk, os(cfg(4, 4, 6, 7, 5, 16, QuantScheme::SymS8))),
    ] {
        let m = RtlMultiplier::load(path).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let r = cosim(&m, c, dir.path()).unwrap_or_else(|e| panic!("{}: {c:?}: {e}", path.display()));
        eprintln!("{}: {:?}", m.ports.module, r.check);
        assert_eq!(r.check.last_output_cycle, r.check.model_last_busy_cycle);
    }
}

/// The same RTL under Verilator (its C++ build takes ~30 s; required under CI).
#[test]
fn verilator_agrees() {
    if !common::require_tool("verilator") {
        return;
    }
    let m = RtlMultiplier::load(&gen("mul8u_gen_bam_h2v6.v")).unwrap();
    let mut c = cfg(2, 3, 5, 3, 4, 21, QuantScheme::SignMagnitude);
    c.sim = Simulator::Verilator;
    let dir = tempfile::tempdir().unwrap();
    let r = cosim(&m, c, dir.path()).unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert_eq!(r.check.folds, 4);
    assert_eq!(r.check.last_output_cycle, r.check.model_last_busy_cycle);
}

/// Seeded random shapes (arrays 1..6 × 1..6, ragged folds, 1..10 pixels, all three schemes).
#[test]
fn random_shapes() {
    use rand::{Rng, SeedableRng};
    if !iverilog_available() {
        return;
    }
    let u = RtlMultiplier::load(&gen("mul8u_gen_bam_h1v6.v")).unwrap();
    let s = RtlMultiplier::load(&gen("mul8s_gen_exact.v")).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
    for case in 0..10u64 {
        let (rows, cols) = (rng.gen_range(1..=6), rng.gen_range(1..=6));
        let scheme = [QuantScheme::AsymU8, QuantScheme::SignMagnitude, QuantScheme::SymS8][case as usize % 3];
        let c = cfg(
            rows,
            cols,
            rng.gen_range(1..=10),
            rng.gen_range(1..=2 * rows + 1),
            rng.gen_range(1..=2 * cols + 1),
            case,
            scheme,
        );
        let m = if scheme.signed_multiplier() { &s } else { &u };
        let dir = tempfile::tempdir().unwrap();
        let r = cosim(m, c, dir.path()).unwrap_or_else(|e| panic!("{c:?}: {e}"));
        assert_eq!(r.check.sums, c.npix * c.nf);
        assert_eq!(r.check.last_output_cycle, r.check.model_last_busy_cycle);
    }
}

/// The CLI: `rtl emit` writes the files, `rtl cosim` prints what matched.
#[test]
fn cli_emit_and_cosim() {
    let exe = env!("CARGO_BIN_EXE_axdnn");
    let dir = tempfile::tempdir().unwrap();
    let m = gen("mul8u_gen_bam_h2v6.v");
    let st = std::process::Command::new(exe)
        .args(["rtl", "emit", "--array", "3x5", "--multiplier"])
        .arg(&m)
        .arg("-o")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    for f in ["axdnn_pe.v", "axdnn_array_ws.v", "axdnn_tb_ws.v", "mul8u_gen_bam_h2v6.v"] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    let pe = std::fs::read_to_string(dir.path().join("axdnn_pe.v")).unwrap();
    assert!(pe.contains("mul8u_gen_bam_h2v6 mul (.A(w_q), .B(x_in), .O(prod_raw));"), "{pe}");
    if !iverilog_available() {
        return;
    }
    let out = std::process::Command::new(exe)
        .args(["rtl", "cosim", "--array", "4x4", "--k", "4", "--nf", "4", "--npix", "16", "--multiplier"])
        .arg(&m)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("64 sums equal") && text.contains("last output cycle 25 = model 25"), "{text}");
}

fn os(c: CosimConfig) -> CosimConfig {
    CosimConfig { dataflow: Dataflow::Os, ..c }
}

/// OS on generated multipliers: one fold (4×4) and several (3×5), sign-magnitude and sym-s8. The
/// last output is on the SCALE-Sim closed form folds × (R + C + K − 2) − 1.
#[test]
fn os_generated_multipliers() {
    if !iverilog_available() {
        return;
    }
    let u = RtlMultiplier::load(&gen("mul8u_gen_bam_h2v6.v")).unwrap();
    let t = RtlMultiplier::load(&gen("mul8u_gen_trunc6.v")).unwrap();
    let s = RtlMultiplier::load(&gen("mul8s_gen_exact.v")).unwrap();
    for (m, c) in [
        (&u, os(cfg(4, 4, 4, 6, 4, 31, QuantScheme::AsymU8))),
        (&u, os(cfg(4, 4, 3, 5, 2, 32, QuantScheme::SignMagnitude))),
        (&t, os(cfg(3, 5, 7, 5, 11, 33, QuantScheme::SignMagnitude))),
        (&s, os(cfg(4, 4, 4, 9, 4, 34, QuantScheme::SymS8))),
        (&s, os(cfg(3, 5, 8, 4, 7, 35, QuantScheme::SymS8))),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let r = cosim(m, c, dir.path()).unwrap_or_else(|e| panic!("{c:?}: {e}"));
        eprintln!("{c:?}: {:?}", r.check);
        let folds = c.npix.div_ceil(c.rows) * c.nf.div_ceil(c.cols);
        assert_eq!(r.check.folds, folds);
        // Every output written once (no partial sums in OS).
        assert_eq!(r.check.outputs, c.npix * c.nf);
        assert_eq!(r.check.sums, c.npix * c.nf);
        assert_eq!(r.check.last_output_cycle, (folds * (c.rows + c.cols + c.k - 2) - 1) as u64);
        assert_eq!(r.check.last_output_cycle, r.check.model_last_busy_cycle);
    }
}

/// Seeded random OS shapes (arrays 1..6 × 1..6, ragged folds, K 1..12, all three schemes).
#[test]
fn os_random_shapes() {
    use rand::{Rng, SeedableRng};
    if !iverilog_available() {
        return;
    }
    let u = RtlMultiplier::load(&gen("mul8u_gen_bam_h1v6.v")).unwrap();
    let s = RtlMultiplier::load(&gen("mul8s_gen_exact.v")).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2027);
    for case in 0..10u64 {
        let (rows, cols) = (rng.gen_range(1..=6), rng.gen_range(1..=6));
        let scheme = [QuantScheme::AsymU8, QuantScheme::SignMagnitude, QuantScheme::SymS8][case as usize % 3];
        let c = os(cfg(
            rows,
            cols,
            rng.gen_range(1..=2 * rows + 1),
            rng.gen_range(1..=12),
            rng.gen_range(1..=2 * cols + 1),
            case,
            scheme,
        ));
        let m = if scheme.signed_multiplier() { &s } else { &u };
        let dir = tempfile::tempdir().unwrap();
        let r = cosim(m, c, dir.path()).unwrap_or_else(|e| panic!("{c:?}: {e}"));
        assert_eq!(r.check.sums, c.npix * c.nf);
        assert_eq!(r.check.last_output_cycle, r.check.model_last_busy_cycle);
    }
}

/// A corrupted OS dump or expected value fails with a typed error naming the dump line.
#[test]
fn os_corrupted_dump_fails() {
    if !iverilog_available() {
        return;
    }
    let m = RtlMultiplier::load(&gen("mul8u_gen_bam_h2v6.v")).unwrap();
    let c = os(cfg(3, 5, 5, 4, 7, 41, QuantScheme::SignMagnitude));
    let dir = tempfile::tempdir().unwrap();
    cosim(&m, c, dir.path()).unwrap();
    let dump_path = dir.path().join("dump.txt");
    let text = std::fs::read_to_string(&dump_path).unwrap();
    let g = Geometry { rows: c.rows, cols: c.cols };
    let tile = Tile::random(c.npix, c.k, c.nf, c.scheme, c.seed);
    let ops = tile.ops();
    let folds = schedule::folds(&ops, g, Dataflow::Os);
    let model = array::run(&ops, &m.lut, ArrayShape { rows: c.rows, cols: c.cols }, Dataflow::Os);
    let mut fast_sums = Vec::new();
    fast::gemm(&ops, &m.lut, true, &mut fast_sums);
    let run = |t: &str, model: &axdnn::accel::array::ArrayRun, fast: &[i32]| {
        let e = parse_dump(t, &dump_path, Dataflow::Os)?;
        check(&e, &dump_path, Dataflow::Os, &folds, &ops, model, fast)
    };
    assert_eq!(run(&text, &model, &fast_sums).unwrap().sums, c.npix * c.nf);
    let lines: Vec<&str> = text.lines().collect();
    let edit = |i: usize, f: &dyn Fn(&str) -> String| {
        let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        l[i] = f(lines[i]);
        l.join("\n")
    };
    // One bit flipped → SumMismatch on that line, off by exactly that bit.
    let flipped = edit(7, &|l| {
        let f: Vec<&str> = l.split(' ').collect();
        format!("{} {} {} {:08x}", f[0], f[1], f[2], u32::from_str_radix(f[3], 16).unwrap() ^ 1 << 9)
    });
    match run(&flipped, &model, &fast_sums) {
        Err(RtlError::SumMismatch { line: 8, got, want, .. }) => assert_eq!((got ^ want) as u32, 1 << 9),
        r => panic!("flipped bit not caught: {r:?}"),
    }
    // A cycle early (same fold) → CycleMismatch on that line; the last output a cycle late (after
    // the last fold) → Dump; a dropped output → Missing; a duplicated one → Dump; a PE outside
    // the fold → Dump; a WS-format line → Dump.
    let shift = |i: usize, d: i64| {
        edit(i, &|l| {
            let (cyc, rest) = l.split_once(' ').unwrap();
            format!("{} {rest}", cyc.parse::<i64>().unwrap() + d)
        })
    };
    assert!(matches!(run(&shift(4, -1), &model, &fast_sums), Err(RtlError::CycleMismatch { line: 5, .. })));
    let n = lines.len();
    assert!(matches!(run(&shift(n - 1, 1), &model, &fast_sums), Err(RtlError::Dump { line, .. }) if line == n as u64));
    let dropped = lines[..lines.len() - 1].join("\n");
    assert!(matches!(run(&dropped, &model, &fast_sums), Err(RtlError::Missing { .. })));
    let dup = format!("{}\n{}", lines[0], text);
    assert!(matches!(run(&dup, &model, &fast_sums), Err(RtlError::Dump { line: 2, .. })));
    let outside = edit(2, &|l| {
        let f: Vec<&str> = l.split(' ').collect();
        format!("{} {} 9 {}", f[0], f[1], f[3])
    });
    assert!(matches!(run(&outside, &model, &fast_sums), Err(RtlError::Dump { line: 3, .. })));
    let ws_line =
        edit(1, &|l| l.split_once(' ').map(|(a, b)| format!("{a} {}", b.split_once(' ').unwrap().1)).unwrap());
    assert!(matches!(run(&ws_line, &model, &fast_sums), Err(RtlError::Dump { line: 2, .. })));
    // Wrong expectations → SumMismatch against that reference, LastCycle.
    let mut bad_model = model.clone();
    bad_model.sums[3] = bad_model.sums[3].wrapping_add(1);
    assert!(matches!(
        run(&text, &bad_model, &fast_sums),
        Err(RtlError::SumMismatch { reference: "accel::array", pixel: 0, output: 3, .. })
    ));
    let mut bad_fast = fast_sums.clone();
    bad_fast[c.nf + 2] ^= 1 << 20;
    assert!(matches!(
        run(&text, &model, &bad_fast),
        Err(RtlError::SumMismatch { reference: "accel::fast::gemm", pixel: 1, output: 2, .. })
    ));
    let mut bad_cycle = model.clone();
    bad_cycle.last_busy_cycle += 1;
    assert!(matches!(run(&text, &bad_cycle, &fast_sums), Err(RtlError::LastCycle { .. })));
    // The WS checker on the OS dump rejects it too (4 fields per line).
    assert!(matches!(parse_dump(&text, &dump_path, Dataflow::Ws), Err(RtlError::Dump { line: 1, .. })));
}

/// The CLI with `--dataflow os`.
#[test]
fn cli_os() {
    let exe = env!("CARGO_BIN_EXE_axdnn");
    let dir = tempfile::tempdir().unwrap();
    let m = gen("mul8u_gen_bam_h2v6.v");
    let st = std::process::Command::new(exe)
        .args(["rtl", "emit", "--dataflow", "os", "--array", "3x5", "--multiplier"])
        .arg(&m)
        .arg("-o")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    for f in ["axdnn_pe_os.v", "axdnn_array_os.v", "axdnn_tb_os.v", "mul8u_gen_bam_h2v6.v"] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    let arr = std::fs::read_to_string(dir.path().join("axdnn_array_os.v")).unwrap();
    // Output de-skew depth (R−1−r) + (C−1−c): 6 at PE (0,0), 0 at PE (2,4).
    assert!(arr.contains("axdnn_pe_os #(.D(6)) pe_0_0") && arr.contains("axdnn_pe_os #(.D(0)) pe_2_4"), "{arr}");
    if !iverilog_available() {
        return;
    }
    let out = std::process::Command::new(exe)
        .args([
            "rtl",
            "cosim",
            "--dataflow",
            "os",
            "--array",
            "4x4",
            "--k",
            "6",
            "--nf",
            "4",
            "--npix",
            "8",
            "--multiplier",
        ])
        .arg(&m)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // 2 folds × (4 + 4 + 6 − 2) cycles.
    assert!(
        text.contains("4x4 OS") && text.contains("32 sums equal") && text.contains("last output cycle 23 = model 23"),
        "{text}"
    );
}

/// The 2017 library's generic files (mangled cell names) and PDK45 twins, and the newer
/// library's 8x8 circuits (generic and PDK45), each sorted and deduplicated by file name.
fn sweep_files(root: &Path) -> (Vec<PathBuf>, Vec<PathBuf>, Vec<PathBuf>) {
    let mut old = Vec::new();
    common::verilog_files(&root.join("evoapprox8b/source_v"), &mut old);
    let (pdk, generic): (Vec<PathBuf>, Vec<PathBuf>) =
        old.into_iter().partition(|p| p.to_string_lossy().ends_with("_pdk45.v"));
    let mut newer = Vec::new();
    for d in ["8x8_unsigned", "8x8_signed"] {
        common::verilog_files(&root.join("evoapproxlib").join(d), &mut newer);
    }
    newer.sort_by_key(|p| p.file_name().unwrap().to_owned());
    newer.dedup_by_key(|p| p.file_name().unwrap().to_owned());
    (generic, pdk, newer)
}

/// Co-simulate one library file on a 2x2 array; `i` varies the dataflow, scheme and seed.
fn cosim_library_file(path: &Path, i: usize) -> Result<(), String> {
    let m = RtlMultiplier::load(path).map_err(|e| e.to_string())?;
    let scheme = match (m.ports.signed, i % 2) {
        (true, _) => QuantScheme::SymS8,
        (false, 0) => QuantScheme::SignMagnitude,
        (false, _) => QuantScheme::AsymU8,
    };
    let mut c = cfg(2, 2, 6, 3, 2, i as u64, scheme);
    if i % 3 == 1 {
        c = os(c);
    } else if i % 3 == 2 {
        c = is(c);
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let r = cosim(&m, c, dir.path()).map_err(|e| format!("{c:?}: {e}"))?;
    if r.check.last_output_cycle != r.check.model_last_busy_cycle {
        return Err(format!(
            "{c:?}: last output cycle {} != model {}",
            r.check.last_output_cycle, r.check.model_last_busy_cycle
        ));
    }
    Ok(())
}

fn cosim_all(files: &[PathBuf]) -> Vec<String> {
    use rayon::prelude::*;
    files
        .par_iter()
        .enumerate()
        .filter_map(|(i, p)| cosim_library_file(p, i).err().map(|e| format!("{}: {e}", p.display())))
        .collect()
}

/// CI sample of the library sweep: every 25th of the 505 generic 2017 files (mangled cell
/// names, modelled by `rtl::cells`), every 25th PDK45 twin and every 8th newer 8x8 circuit.
#[test]
fn evoapprox_sample_cosimulates() {
    if !iverilog_available() {
        return;
    }
    let Some(root) = evoapprox() else { return };
    let (generic, pdk, newer) = sweep_files(&root);
    assert_eq!((generic.len(), pdk.len()), (505, 505));
    let sample: Vec<PathBuf> =
        generic.iter().step_by(25).chain(pdk.iter().step_by(25)).chain(newer.iter().step_by(8)).cloned().collect();
    assert!(sample.iter().any(|p| std::fs::read_to_string(p).unwrap().contains("NPDKGEPDKGENNAND2X1")));
    let failed = cosim_all(&sample);
    assert!(failed.is_empty(), "{} of {} failed:\n{}", failed.len(), sample.len(), failed.join("\n"));
}

/// The whole sweep: all 1,010 files of the 2017 library and every newer 8x8 circuit
/// (`cargo test --release --test rtl -- --ignored`; time in docs/src/verification.md).
#[test]
#[ignore = "full library sweep, ~1,100 co-simulations: run with --ignored"]
fn evoapprox_all_cosimulate() {
    if !iverilog_available() {
        return;
    }
    let Some(root) = evoapprox() else { return };
    let (generic, pdk, newer) = sweep_files(&root);
    let all: Vec<PathBuf> = generic.into_iter().chain(pdk).chain(newer).collect();
    let t = std::time::Instant::now();
    let failed = cosim_all(&all);
    eprintln!(
        "{} files co-simulated in {:.1} s ({} threads), {} failed",
        all.len(),
        t.elapsed().as_secs_f64(),
        rayon::current_num_threads(),
        failed.len()
    );
    assert!(failed.is_empty(), "{} of {} failed:\n{}", failed.len(), all.len(), failed.join("\n"));
}

fn is(c: CosimConfig) -> CosimConfig {
    CosimConfig { dataflow: Dataflow::Is, ..c }
}

/// IS on generated multipliers: one fold and several (K > R, Npix > C), all three schemes. The
/// RTL writes one partial sum per filter, pixel and row fold; the last output is on the
/// SCALE-Sim closed form ⌈K/R⌉·⌈Npix/C⌉ × (2R + C + Nf − 2) − 1.
#[test]
fn is_generated_multipliers() {
    if !iverilog_available() {
        return;
    }
    let u = RtlMultiplier::load(&gen("mul8u_gen_bam_h2v6.v")).unwrap();
    let t = RtlMultiplier::load(&gen("mul8u_gen_trunc6.v")).unwrap();
    let s = RtlMultiplier::load(&gen("mul8s_gen_exact.v")).unwrap();
    for (m, c) in [
        (&u, is(cfg(4, 4, 4, 4, 6, 51, QuantScheme::AsymU8))),
        (&u, is(cfg(4, 4, 9, 10, 5, 52, QuantScheme::SignMagnitude))),
        (&t, is(cfg(3, 5, 11, 7, 4, 53, QuantScheme::SignMagnitude))),
        (&s, is(cfg(4, 4, 6, 9, 3, 54, QuantScheme::SymS8))),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let r = cosim(m, c, dir.path()).unwrap_or_else(|e| panic!("{c:?}: {e}"));
        eprintln!("{c:?}: {:?}", r.check);
        let folds = c.k.div_ceil(c.rows) * c.npix.div_ceil(c.cols);
        assert_eq!(r.check.folds, folds);
        assert_eq!(r.check.outputs, c.npix * c.nf * c.k.div_ceil(c.rows));
        assert_eq!(r.check.sums, c.npix * c.nf);
        assert_eq!(r.check.last_output_cycle, (folds * (2 * c.rows + c.cols + c.nf - 2) - 1) as u64);
        assert_eq!(r.check.last_output_cycle, r.check.model_last_busy_cycle);
    }
}

/// Seeded random IS shapes (arrays 1..6 × 1..6, ragged folds, all three schemes).
#[test]
fn is_random_shapes() {
    use rand::{Rng, SeedableRng};
    if !iverilog_available() {
        return;
    }
    let u = RtlMultiplier::load(&gen("mul8u_gen_bam_h1v6.v")).unwrap();
    let s = RtlMultiplier::load(&gen("mul8s_gen_exact.v")).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2028);
    for case in 0..10u64 {
        let (rows, cols) = (rng.gen_range(1..=6), rng.gen_range(1..=6));
        let scheme = [QuantScheme::AsymU8, QuantScheme::SignMagnitude, QuantScheme::SymS8][case as usize % 3];
        let c = is(cfg(
            rows,
            cols,
            rng.gen_range(1..=2 * cols + 1),
            rng.gen_range(1..=2 * rows + 1),
            rng.gen_range(1..=8),
            case,
            scheme,
        ));
        let m = if scheme.signed_multiplier() { &s } else { &u };
        let dir = tempfile::tempdir().unwrap();
        let r = cosim(m, c, dir.path()).unwrap_or_else(|e| panic!("{c:?}: {e}"));
        assert_eq!(r.check.sums, c.npix * c.nf);
        assert_eq!(r.check.last_output_cycle, r.check.model_last_busy_cycle);
    }
}

/// A corrupted IS dump fails with a typed error naming the line; pixel and output are those of
/// IS's mapping (array column = pixel, streamed index = filter); a WS reading of the same dump
/// (the roles not swapped) is rejected.
#[test]
fn is_corrupted_dump_fails() {
    if !iverilog_available() {
        return;
    }
    let m = RtlMultiplier::load(&gen("mul8u_gen_bam_h2v6.v")).unwrap();
    let c = is(cfg(3, 4, 6, 5, 5, 61, QuantScheme::SignMagnitude));
    let dir = tempfile::tempdir().unwrap();
    cosim(&m, c, dir.path()).unwrap();
    let dump_path = dir.path().join("dump.txt");
    let text = std::fs::read_to_string(&dump_path).unwrap();
    let g = Geometry { rows: c.rows, cols: c.cols };
    let tile = Tile::random(c.npix, c.k, c.nf, c.scheme, c.seed);
    let ops = tile.ops();
    let folds = schedule::folds(&ops, g, Dataflow::Is);
    let model = array::run(&ops, &m.lut, ArrayShape { rows: c.rows, cols: c.cols }, Dataflow::Is);
    let mut fast_sums = Vec::new();
    fast::gemm(&ops, &m.lut, true, &mut fast_sums);
    let run = |t: &str| {
        check(&parse_dump(t, &dump_path, Dataflow::Is)?, &dump_path, Dataflow::Is, &folds, &ops, &model, &fast_sums)
    };
    assert_eq!(run(&text).unwrap().sums, c.npix * c.nf);
    let lines: Vec<&str> = text.lines().collect();
    // The first line is fold 0's column 0 (pixel 0), filter 0.
    let f: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(f[1], "0");
    let flipped = std::iter::once(format!("{} {} {:08x}", f[0], f[1], u32::from_str_radix(f[2], 16).unwrap() ^ 1 << 3))
        .chain(lines[1..].iter().map(|l| l.to_string()))
        .collect::<Vec<_>>()
        .join("\n");
    match run(&flipped) {
        Err(RtlError::SumMismatch { lines, pixel: 0, output: 0, got, want, .. }) => {
            assert!(lines.contains(&1), "{lines:?}");
            assert_eq!(got.wrapping_sub(want).unsigned_abs(), 1 << 3);
        }
        r => panic!("flipped bit not caught: {r:?}"),
    }
    let late = std::iter::once(format!("{} {} {}", f[0].parse::<u64>().unwrap() + 1, f[1], f[2]))
        .chain(lines[1..].iter().map(|l| l.to_string()))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(matches!(run(&late), Err(RtlError::CycleMismatch { line: 1, pixel: 0, output: 0, .. })));
    // Read as WS (columns = filters), the same dump has too few columns per fold for 6 pixels.
    let ws_folds = schedule::folds(&ops, g, Dataflow::Ws);
    let ws_dump = parse_dump(&text, &dump_path, Dataflow::Ws).unwrap();
    assert!(check(&ws_dump, &dump_path, Dataflow::Ws, &ws_folds, &ops, &model, &fast_sums).is_err());
}

/// The IS RTL under Verilator (required under CI).
#[test]
fn is_verilator_agrees() {
    if !common::require_tool("verilator") {
        return;
    }
    let m = RtlMultiplier::load(&gen("mul8u_gen_bam_h2v6.v")).unwrap();
    let mut c = is(cfg(2, 3, 5, 3, 4, 71, QuantScheme::SignMagnitude));
    c.sim = Simulator::Verilator;
    let dir = tempfile::tempdir().unwrap();
    let r = cosim(&m, c, dir.path()).unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert_eq!(r.check.folds, 4);
    assert_eq!(r.check.last_output_cycle, r.check.model_last_busy_cycle);
}

/// The CLI with `--dataflow is`.
#[test]
fn cli_is() {
    let exe = env!("CARGO_BIN_EXE_axdnn");
    let dir = tempfile::tempdir().unwrap();
    let m = gen("mul8u_gen_bam_h2v6.v");
    let st = std::process::Command::new(exe)
        .args(["rtl", "emit", "--dataflow", "is", "--array", "3x5", "--multiplier"])
        .arg(&m)
        .arg("-o")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    for f in ["axdnn_pe_is.v", "axdnn_array_is.v", "axdnn_tb_is.v", "mul8u_gen_bam_h2v6.v"] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    // The weight streams (A is the incoming weight), the activation is held (B is the register).
    let pe = std::fs::read_to_string(dir.path().join("axdnn_pe_is.v")).unwrap();
    assert!(pe.contains("mul8u_gen_bam_h2v6 mul (.A(w_in), .B(x_q), .O(prod_raw));"), "{pe}");
    if !iverilog_available() {
        return;
    }
    let out = std::process::Command::new(exe)
        .args([
            "rtl",
            "cosim",
            "--dataflow",
            "is",
            "--array",
            "4x4",
            "--k",
            "6",
            "--nf",
            "5",
            "--npix",
            "8",
            "--multiplier",
        ])
        .arg(&m)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // ⌈6/4⌉·⌈8/4⌉ = 4 folds × (8 + 4 + 5 − 2) − 1.
    assert!(
        text.contains("4x4 IS") && text.contains("40 sums equal") && text.contains("last output cycle 59 = model 59"),
        "{text}"
    );
}

/// The stimulus word of each dataflow, as `sim/README.md` documents it: the left edge's fields,
/// the top edge's, the load bit of a held operand.
#[test]
fn stimulus_word_layouts() {
    for (rows, cols) in [(1, 1), (2, 3), (16, 16)] {
        let g = Geometry { rows, cols };
        assert_eq!(g.stim_bits(Dataflow::Ws), 9 * rows + 10 * cols + 1);
        assert_eq!(g.stim_bits(Dataflow::Is), 10 * rows + 9 * cols + 1);
        assert_eq!(g.stim_bits(Dataflow::Os), 10 * rows + 10 * cols);
    }
    let doc = |df| axdnn::rtl::emit::Rtl::of(df).stim_doc();
    assert_eq!(doc(Dataflow::Ws), "x_left[8R] | x_vld[R] | w_top[8C] | w_vld[C] | w_neg[C] | load_w");
    assert_eq!(doc(Dataflow::Is), "w_left[8R] | w_vld[R] | w_neg[R] | x_top[8C] | x_vld[C] | load_x");
    assert_eq!(doc(Dataflow::Os), "x_left[8R] | x_vld[R] | x_last[R] | w_top[8C] | w_vld[C] | w_neg[C]");
}

/// The emitted Verilog itself (PE, array, testbench of every dataflow, 2×3 around the exact
/// 8×8 generator netlist), so a change of the hardware's text is seen and reviewed even where
/// the co-simulation would still pass.
#[test]
fn emitted_verilog_equals_the_golden_files() {
    let net = axdnn::netlist::parse_file(&gen("mul8u_gen_exact.v")).unwrap().netlist;
    let ports = axdnn::rtl::emit::MulPorts::of(&net, false).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for df in [Dataflow::Ws, Dataflow::Os, Dataflow::Is] {
        let files = axdnn::rtl::cosim::write_rtl(dir.path(), &ports, Geometry { rows: 2, cols: 3 }, df).unwrap();
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            common::golden(&format!("rtl/{name}"), &std::fs::read_to_string(&f).unwrap());
        }
    }
}
