//! Shared test helpers: seeded random models, images and multipliers; where the third-party
//! folders and tools are, with the CI policy (missing = failure under `CI`, visible skip
//! elsewhere); the EvoApprox library's Verilog files.
#![allow(dead_code)]

use axdnn::model::{Arch, ArchName, Layer, LayerKind, Pads, Params, Shape};
use axdnn::mult::Multiplier;
use axdnn::Lut;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// He-uniform weights and small biases.
pub fn random_params(arch: &Arch, seed: u64) -> Params {
    let mut r = rng(seed);
    let mut p = Params::zeros(arch);
    let specs = arch.params();
    for s in specs {
        let t = p.tensors.get_mut(&s.name).unwrap();
        let bound = (6.0 / s.fan_in as f32).sqrt();
        let is_bias = s.name.ends_with(".bias");
        for v in &mut t.data {
            *v = if is_bias { r.gen_range(-0.1..0.1) } else { r.gen_range(-bound..bound) };
        }
    }
    p
}

/// Images in [0, 1] with some structure (a random blob per image) so activations vary.
pub fn random_images(arch: &Arch, n: usize, seed: u64) -> Vec<f32> {
    let mut r = rng(seed);
    let s = arch.input;
    let mut v = Vec::with_capacity(n * s.numel());
    for _ in 0..n {
        let (cy, cx) = (r.gen_range(0.0..s.h as f32), r.gen_range(0.0..s.w as f32));
        for _c in 0..s.c {
            for y in 0..s.h {
                for x in 0..s.w {
                    let d = ((y as f32 - cy).powi(2) + (x as f32 - cx).powi(2)).sqrt();
                    let base = (1.0 - d / 10.0).max(0.0);
                    v.push((base + r.gen_range(0.0..0.3f32)).min(1.0));
                }
            }
        }
    }
    v
}

/// A random 8×8 table: the exact product plus seeded noise, with non-zero products for zero
/// operands (like mul8u_2HH), so `0 × x = 0` shortcuts would be caught.
pub fn random_lut(signed: bool, seed: u64) -> Lut {
    let mut r = rng(seed);
    let mut l = Lut::exact(8, 8, signed);
    for v in &mut l.table {
        *v += r.gen_range(-300..300);
    }
    l.name = format!("random{seed}");
    l.power_mw = Some(0.1);
    l
}

/// A multiplier with no table: forces the `mul_batch` path (as the bit-level netlist one does).
pub struct NoTable(pub Lut);

impl Multiplier for NoTable {
    fn name(&self) -> &str {
        "notable"
    }
    fn widths(&self) -> (u32, u32) {
        (8, 8)
    }
    fn signed(&self) -> bool {
        self.0.signed
    }
    fn mul(&self, row: u32, col: u32) -> i32 {
        self.0.get(row, col)
    }
    fn power_mw(&self) -> Option<f64> {
        self.0.power_mw
    }
}

// ---- Third-party folders and tools: one policy for every test file ----------------------------
//
// Under `CI` (set and non-empty) a missing simulator, data folder or EvoApprox folder FAILS the
// test: CI must never pass vacuously. Elsewhere the folders are found as the binary finds them
// (the variable, else `../shared/...` beside the checkout: `CARGO_MANIFEST_DIR/../shared`), and
// when truly absent the test returns early after printing `SKIPPED <test>: <why>` straight to
// the terminal (not the captured output, which `cargo test` hides for passing tests).
//
// Use: `let Some(root) = common::evoapprox() else { return };`,
//      `let Some(data) = common::data() else { return };`,
//      `if !common::require_tool("iverilog") { return; }`.

/// True under CI (`CI` set and non-empty), where nothing may be skipped.
pub fn ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Report a skip visibly: straight to the process's stderr, naming the test (libtest names each
/// test's thread after it). Under CI it panics instead.
pub fn skip(why: &str) {
    let test = std::thread::current().name().unwrap_or("?").to_string();
    if ci() {
        panic!("{test}: {why}, and CI is set: nothing may be skipped under CI");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {why}");
}

/// A third-party folder: `$var` (non-empty), else `CARGO_MANIFEST_DIR/../shared/<sub>` when it
/// exists; `None` (after [`skip`]) when neither is there.
pub fn shared_dir(var: &str, sub: &str) -> Option<std::path::PathBuf> {
    let fallback = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared").join(sub);
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(p) if std::path::Path::new(&p).is_dir() => Some(p.into()),
        Some(p) => {
            skip(&format!("{var}={} is not a folder", std::path::Path::new(&p).display()));
            None
        }
        None if fallback.is_dir() => Some(fallback),
        None => {
            skip(&format!("{var} unset and {} absent", fallback.display()));
            None
        }
    }
}

/// The EvoApprox library (`AXDNN_EVOAPPROX`, else `../shared/evoapprox`).
pub fn evoapprox() -> Option<std::path::PathBuf> {
    shared_dir("AXDNN_EVOAPPROX", "evoapprox")
}

/// The 45 nm cell library `gscl45nm.lib` (`AXDNN_PDK`, else `../shared/pdk`), the Liberty file
/// behind EvoApprox's PDK45 figures.
pub fn gscl45nm() -> Option<std::path::PathBuf> {
    shared_dir("AXDNN_PDK", "pdk").map(|d| d.join("gscl45nm.lib"))
}

/// The dataset folder with `mnist/` and `cifar10/` (`AXDNN_DATA`, else `../shared/data`).
pub fn data() -> Option<std::path::PathBuf> {
    shared_dir("AXDNN_DATA", "data")
}

/// Whether `tool` runs from PATH (`iverilog`, `vvp`, `verilator`, `cc`); false after [`skip`].
pub fn require_tool(tool: &str) -> bool {
    if axdnn::lut::testbench::have_tool(tool) {
        return true;
    }
    skip(&format!("{tool} not found on PATH"));
    false
}

/// Icarus Verilog, both halves (`iverilog` compiles, `vvp` runs).
pub fn require_icarus() -> bool {
    require_tool("iverilog") && require_tool("vvp")
}

/// Every `.v` file under `dir`, in sorted (deterministic) order.
pub fn verilog_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            verilog_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "v") {
            out.push(p);
        }
    }
}

/// Compare `actual` with the committed golden file `tests/golden/<name>`, byte for byte; with
/// `AXDNN_BLESS=1` write it instead (then review the diff). A mismatch names the first differing
/// line. (Whole-file snapshots with a bless switch are all we need of a snapshot tool.)
pub fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("AXDNN_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (create it with AXDNN_BLESS=1)", path.display()));
    if want != actual {
        let line = want
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the output at line {} (AXDNN_BLESS=1 rewrites it):\n  golden: {:?}\n  actual: {:?}",
            path.display(),
            line + 1,
            want.lines().nth(line).unwrap_or("<end>"),
            actual.lines().nth(line).unwrap_or("<end>")
        );
    }
}

fn graph_conv(out_ch: usize, k: usize, stride: usize, pad: Pads, groups: usize) -> LayerKind {
    LayerKind::Conv { out_ch, k, stride, pad, groups }
}

/// A small graph network with every op of the float engine and a fan-out (r1 feeds dw and add1; mp feeds ap and c1).
pub fn graph_arch() -> Arch {
    let asym = Pads { top: 1, left: 0, bottom: 1, right: 2 };
    let l = Layer::new;
    let w = Layer::with_inputs;
    Arch {
        name: ArchName::Graph,
        input: Shape::new(3, 12, 12),
        classes: 10,
        normalize: None,
        layers: vec![
            l("conv1", graph_conv(8, 3, 1, asym, 1)),
            l("bn1", LayerKind::BatchNorm { eps: 1e-5 }),
            l("r1", LayerKind::Clip { min: 0.0, max: 6.0 }),
            l("dw", graph_conv(8, 3, 1, Pads::uniform(1), 8)),
            l("pw", graph_conv(8, 1, 1, Pads::default(), 1)),
            w("add1", LayerKind::Add, &["pw", "r1"]),
            l("mp", LayerKind::MaxPool { k: 3, stride: 2, pad: Pads::uniform(1) }),
            l("ap", LayerKind::AvgPool { k: 3, stride: 1, pad: Pads::uniform(1), count_include_pad: false }),
            w("c1", graph_conv(4, 1, 1, Pads::default(), 2), &["mp"]),
            l("ap2", LayerKind::AvgPool { k: 3, stride: 1, pad: Pads::uniform(1), count_include_pad: true }),
            w("cat", LayerKind::Concat, &["ap", "ap2"]),
            l("cat.relu", LayerKind::Relu),
            l("gap", LayerKind::GlobalAvgPool),
            l("flat", LayerKind::Flatten),
            l("fc", LayerKind::Linear { out: 10 }),
        ],
    }
}

/// The float engine's batched logits of `n` images `x` equal the direct-loop reference's
/// (`forward_reference`) within 1e-4 relative; returns every image's reference node outputs.
pub fn logits_match_reference(arch: &Arch, p: &Params, x: &[f32], n: usize, what: &str) -> Vec<Vec<Vec<f32>>> {
    let fast = axdnn::model::engine::logits(arch, p, x, n);
    let (per, c) = (arch.input.numel(), arch.classes);
    (0..n)
        .map(|i| {
            let r = axdnn::model::forward_reference(arch, p, &x[i * per..(i + 1) * per]);
            for (k, (&a, &b)) in fast[i * c..(i + 1) * c].iter().zip(r.last().unwrap()).enumerate() {
                assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{what} img {i} class {k}: {a} vs {b}");
            }
            r
        })
        .collect()
}

/// The description of a model folder made by a test (random or fixed parameters, not trained).
pub fn fixture_meta(dataset: axdnn::data::DatasetName) -> axdnn::model::io::ModelMeta {
    axdnn::model::io::ModelMeta {
        dataset,
        dataset_files: vec![],
        epochs: 0,
        seed: 0,
        optimizer: "none (a test fixture)".into(),
        test_accuracy: 0.0,
        test_n: 0,
        batchnorm_folded: false,
        train_seconds: 0.0,
        command: String::new(),
        sha256: String::new(),
        finetune: None,
        quantization: None,
    }
}

/// A small MNIST graph: conv-bn-relu, depthwise-bn, pointwise, residual add, max pool, a strided
/// convolution with asymmetric padding, global average pool, linear.
pub fn mnist_graph() -> Arch {
    let conv = |out_ch, k, stride, pad, groups| LayerKind::Conv { out_ch, k, stride, pad, groups };
    let l = Layer::new;
    Arch {
        name: ArchName::Graph,
        input: Shape::new(1, 28, 28),
        classes: 10,
        normalize: None,
        layers: vec![
            l("conv1", conv(8, 3, 1, Pads::uniform(1), 1)),
            l("bn1", LayerKind::BatchNorm { eps: 1e-5 }),
            l("relu1", LayerKind::Relu),
            l("dw", conv(8, 3, 1, Pads::uniform(1), 8)),
            l("bn2", LayerKind::BatchNorm { eps: 1e-5 }),
            l("pw", conv(8, 1, 1, Pads::default(), 1)),
            Layer::with_inputs("add", LayerKind::Add, &["pw", "relu1"]),
            l("relu2", LayerKind::Relu),
            l("mp", LayerKind::MaxPool { k: 2, stride: 2, pad: Pads::default() }),
            l("conv3", conv(16, 3, 2, Pads { top: 0, left: 0, bottom: 1, right: 1 }, 1)),
            l("relu3", LayerKind::Relu),
            l("gap", LayerKind::GlobalAvgPool),
            l("flat", LayerKind::Flatten),
            l("fc", LayerKind::Linear { out: 10 }),
        ],
    }
}

pub fn graph_params(arch: &Arch, seed: u64) -> Params {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut p = axdnn::model::engine::init_params(arch, &mut rng);
    for (name, t) in p.tensors.iter_mut() {
        for v in &mut t.data {
            *v = if name.ends_with(".running_var") {
                rng.gen_range(0.5..2.0)
            } else if name.ends_with(".bias") || name.ends_with(".running_mean") {
                rng.gen_range(-0.2..0.2)
            } else if name.starts_with("bn1.weight") {
                rng.gen_range(0.5..1.5)
            } else {
                *v
            };
        }
    }
    p
}

/// A `python3` command that can import `modules`, with `$AXDNN_PYDEPS` (a `pip install --target`
/// folder, as `.ci/run` makes) on its path; `None` after [`skip`] when there is none.
pub fn python_with(modules: &[&str]) -> Option<std::process::Command> {
    let cmd = || {
        let mut c = std::process::Command::new("python3");
        if let Some(dir) = std::env::var_os("AXDNN_PYDEPS").filter(|v| !v.is_empty()) {
            c.env("PYTHONPATH", dir);
        }
        c
    };
    let probe = cmd().arg("-c").arg(format!("import {}", modules.join(", "))).output();
    match probe {
        Ok(o) if o.status.success() => Some(cmd()),
        Ok(o) => {
            skip(&format!(
                "python3 cannot import {} (set AXDNN_PYDEPS to a pip --target folder): {}",
                modules.join(", "),
                String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("")
            ));
            None
        }
        Err(e) => {
            skip(&format!("python3 not runnable: {e}"));
            None
        }
    }
}

/// The largest perturbation `y − x0` over the samples (`per` values each), in `norm`.
pub fn largest_perturbation(norm: axdnn::attack::Norm, x0: &[f32], y: &[f32], per: usize) -> f32 {
    x0.chunks_exact(per)
        .zip(y.chunks_exact(per))
        .map(|(a, b)| {
            let d = a.iter().zip(b).map(|(a, b)| b - a);
            match norm {
                axdnn::attack::Norm::Linf => d.fold(0f32, |m, v| m.max(v.abs())),
                axdnn::attack::Norm::L2 => d.map(|v| v * v).sum::<f32>().sqrt(),
            }
        })
        .fold(0.0, f32::max)
}
