//! The study engine through the library API: plan files and their errors, the keyed store
//! (reuse only on a whole-key match), shards merged byte for byte, thread-count independence,
//! reports from the store alone, and resumption after `kill -9`.

use axdnn::study::{report, store, Inputs, Plan, Runner, Shard};
use std::path::{Path, PathBuf};

use crate::common;

/// The dataset folder (`AXDNN_DATA`, else `../shared/data`); missing fails under CI.
fn data() -> Option<PathBuf> {
    common::data()
}

fn inputs(data: PathBuf) -> Inputs {
    Inputs { data: Some(data), evoapprox: None }
}

/// A small plan: three cheap attacks (one gradient, one model-free, one decision-based), two
/// multipliers (ours, from the repository), both threat models, 40 images in chunks of 10.
const SMALL: &str = r#"
name = "small"
models = ["models/lenet5-mnist"]
schemes = ["sign-magnitude"]
multipliers = ["exact", "netlists/gen/mul8u_gen_trunc8.v"]
attacks = ["fgsm", "l2-contrast", "linf-uniform"]
eps_linf = [0.0, 0.1, 0.3]
eps_l2 = [0.0, 1.5]
threats = ["transfer", "hardware"]
images = 40
chunk = 10
calib = 64
"#;

fn plan(text: &str, inputs: &Inputs) -> Plan {
    Plan::from_toml(text, Path::new("small.toml"), inputs).unwrap()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn plan_errors_name_file_line_and_key_before_any_work() {
    let inputs = Inputs::default();
    let cases: [(&str, &str, usize); 6] = [
        ("models = [\"models/lenet5-mnist\"]\nimages = 10\nattaks = [\"fgsm\"]\n", "attaks", 3),
        ("models = [\"models/lenet5-mnist\"]\nimages = \"ten\"\n", "images", 2),
        ("models = [\"models/lenet5-mnist\"]\n\nattacks = [\"fgsm\", \"deepfool\"]\n", "attacks", 3),
        ("models = [\"models/lenet5-mnist\"]\nmultipliers = [\"exact\", \"netlists/gen/nope.v\"]\n", "multipliers", 2),
        ("models = [\"models/no-such-model\"]\n", "models", 1),
        ("models = [\"models/lenet5-mnist\"]\nattacks = [\"fgsm\"]\n[eps]\nl2-pgd = [0.1]\n", "eps.l2-pgd", 4),
    ];
    for (text, key, line) in cases {
        let e = Plan::from_toml(text, Path::new("plans/bad.toml"), &inputs).expect_err(text).to_string();
        assert!(e.starts_with(&format!("plans/bad.toml:{line}:")), "{text:?} → {e}");
        assert!(e.contains(&format!("`{key}`")), "{text:?} → {e}");
    }
    // The EvoApprox name without a library is refused up front too.
    let e = Plan::from_toml(
        "models = [\"models/lenet5-mnist\"]\nmultipliers = [\"mul8u_L40\"]\n",
        Path::new("p.toml"),
        &inputs,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("p.toml:2:") && e.contains("mul8u_L40"), "{e}");
    // A lock file is itself a plan file: reading it back gives the same plan.
    let p = Plan::from_toml(SMALL, Path::new("small.toml"), &inputs).unwrap();
    let back = Plan::from_toml(&p.to_toml(), Path::new("plan.lock.toml"), &inputs).unwrap();
    assert_eq!(p, back);
    assert_eq!(p.eps["fgsm"], vec![0.0, 0.1, 0.3]);
    assert_eq!(p.eps["l2-contrast"], vec![0.0, 1.5]);
}

#[test]
fn shards_merge_to_the_unsharded_store_byte_for_byte() {
    let Some(d) = data() else { return };
    let inputs = inputs(d);
    let p = plan(SMALL, &inputs);
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    let s = Runner::new(p.clone(), inputs.clone()).quiet().run(&whole).unwrap();
    // fgsm/contrast: 3 + 2 eps; linf-uniform 3 eps; × 4 chunks transfer, + linf-uniform and
    // contrast on the hardware × 2 targets.
    assert_eq!(s.cells, (3 + 2 + 3) * 4 + (3 + 2) * 4 * 2);
    assert_eq!(s.cells_run, s.cells);
    let reference = read(&whole.join(store::RESULTS_FILE));
    // float + 2 accelerators per transfer cell, one row per hardware cell.
    assert_eq!(reference.lines().count(), 1 + (3 + 2 + 3) * 4 * 3 + (3 + 2) * 4 * 2);
    for n in [1, 3, 7] {
        let dirs: Vec<PathBuf> = (1..=n)
            .map(|i| {
                let dir = tmp.path().join(format!("s{n}-{i}"));
                let sum = Runner::new(p.clone(), inputs.clone())
                    .shard(Some(Shard { index: i, count: n }))
                    .quiet()
                    .run(&dir)
                    .unwrap();
                assert!(sum.cells > 0, "shard {i}/{n} got no cells");
                dir
            })
            .collect();
        let merged = tmp.path().join(format!("merged{n}"));
        store::merge(&dirs, &merged).unwrap();
        assert_eq!(read(&merged.join(store::RESULTS_FILE)), reference, "N = {n}");
        assert_eq!(read(&merged.join(store::LOCK_FILE)), read(&whole.join(store::LOCK_FILE)), "N = {n}");
    }
    // Stores of another plan are refused.
    let other = tmp.path().join("other");
    Runner::new(plan(&SMALL.replace("images = 40", "images = 10"), &inputs), inputs.clone())
        .quiet()
        .run(&other)
        .unwrap();
    let e = store::merge(&[whole.clone(), other], &tmp.path().join("bad")).unwrap_err().to_string();
    assert!(e.contains("different plans"), "{e}");

    // The report is built from the store alone, identically.
    let text = report::write(&whole).unwrap();
    std::fs::remove_file(whole.join("report.md")).unwrap();
    std::fs::remove_dir_all(whole.join("plots")).unwrap();
    assert_eq!(report::write(&whole).unwrap(), text);
    // One table per attack, the threat models side by side in it.
    assert!(whole.join("plots").read_dir().unwrap().count() >= 2 * 3, "an SVG and a PNG per attack table");
    assert!(text.contains("| exact @hw |"), "{text}");
    assert!(text.contains("Is approximation universally defensive?") && text.contains("McNemar"), "{text}");
}

#[test]
fn one_and_two_threads_give_the_same_store() {
    let Some(d) = data() else { return };
    let inputs = inputs(d);
    let p = plan(SMALL, &inputs);
    let tmp = tempfile::tempdir().unwrap();
    let run = |threads: usize| {
        let dir = tmp.path().join(format!("t{threads}"));
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| Runner::new(p.clone(), inputs.clone()).quiet().run(&dir)).unwrap();
        read(&dir.join(store::RESULTS_FILE))
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn a_changed_key_recomputes_exactly_the_affected_rows() {
    let Some(d) = data() else { return };
    let inputs = inputs(d);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let text = SMALL.replace("threats = [\"transfer\", \"hardware\"]", "threats = [\"transfer\"]");
    let first = Runner::new(plan(&text, &inputs), inputs.clone()).quiet().run(&dir).unwrap();
    let rows0 = read(&dir.join(store::RESULTS_FILE));
    // Same plan again: nothing recomputed, nothing rewritten.
    let again = Runner::new(plan(&text, &inputs), inputs.clone()).quiet().run(&dir).unwrap();
    assert_eq!((again.cells_run, again.rows_written, again.cells_reused), (0, 0, first.cells));
    assert_eq!(read(&dir.join(store::RESULTS_FILE)), rows0);
    // Another calibration seed changes the key of every accelerator row, not of the float rows.
    let seeded = text.replace("calib = 64", "calib = 64\ncalib_seed = 7");
    let s = Runner::new(plan(&seeded, &inputs), inputs.clone()).quiet().run(&dir).unwrap();
    let cells = (3 + 2 + 3) * 4;
    assert_eq!((s.cells_run, s.rows_written), (cells, cells * 2), "two accelerator rows per cell");
    // One multiplier more: only its rows.
    let more = text.replace(
        "\"netlists/gen/mul8u_gen_trunc8.v\"]",
        "\"netlists/gen/mul8u_gen_trunc8.v\", \"netlists/gen/mul8u_gen_trunc6.v\"]",
    );
    let s = Runner::new(plan(&more, &inputs), inputs.clone()).quiet().run(&dir).unwrap();
    assert_eq!(s.rows_written, cells, "one row per cell for the new multiplier");
    // The first plan's rows are still there, byte for byte, and come first again when it is rerun.
    let back = Runner::new(plan(&text, &inputs), inputs.clone()).quiet().run(&dir).unwrap();
    assert_eq!(back.rows_written, 0);
    let now = read(&dir.join(store::RESULTS_FILE));
    assert!(now.starts_with(&rows0), "the plan's rows first, in plan order, unchanged");
    // A changed multiplier file (same name, other table) is a new key: recomputed.
    let lib = tmp.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    let m = lib.join("mul8u_mine.v");
    std::fs::copy("netlists/gen/mul8u_gen_trunc8.v", &m).unwrap();
    let mine = text.replace("netlists/gen/mul8u_gen_trunc8.v", m.to_str().unwrap());
    let a = Runner::new(plan(&mine, &inputs), inputs.clone()).quiet().run(&dir).unwrap();
    assert_eq!(a.rows_written, cells, "a new spec: new rows");
    std::fs::copy("netlists/gen/mul8u_gen_trunc4.v", &m).unwrap();
    let b = Runner::new(plan(&mine, &inputs), inputs.clone()).quiet().run(&dir).unwrap();
    assert_eq!(b.rows_written, cells, "same name, another table (LUT sha256): recomputed");
    // The old table's rows left the results for superseded.csv; the report sees one row per cell.
    let sup = store::read_rows(&dir.join(store::SUPERSEDED_FILE)).unwrap();
    assert_eq!(sup.len(), cells);
    let res = report::Results::open(&dir).unwrap();
    assert_eq!(res.complete().filter(|a| a.first.multiplier.ends_with("mul8u_mine.v")).count(), 3 + 2 + 3);
}

#[test]
fn kill_9_at_random_points_then_rerun_gives_identical_results() {
    let Some(d) = data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let plan_file = tmp.path().join("small.toml");
    std::fs::write(&plan_file, SMALL).unwrap();
    let bin = env!("CARGO_BIN_EXE_axdnn");
    let run = |out: &Path| {
        let mut c = std::process::Command::new(bin);
        c.args(["study", "run"]).arg(&plan_file).arg("--out").arg(out).arg("--data").arg(&d).arg("--no-report");
        // Every completed cell is saved, so a kill can land between saves of a partial store.
        c.args(["--save-every", "0"]);
        c
    };
    let reference = tmp.path().join("ref");
    let o = run(&reference).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = read(&reference.join(store::RESULTS_FILE));
    // Kill points by progress, not by time: each run is killed once its store holds a given
    // share of the rows (a quarter, a half, three quarters), so every kill lands mid-run on
    // any machine; a kill counts only if the store it leaves is partial.
    let total = store::read_rows(&reference.join(store::RESULTS_FILE)).unwrap().len();
    let out = tmp.path().join("killed");
    let rows = |p: &Path| store::read_rows(&p.join(store::RESULTS_FILE)).map_or(0, |r| r.len());
    let mut partial_kills = 0;
    for quarter in 1..=3 {
        let at = (total * quarter / 4).max(rows(&out) + 1);
        let mut child =
            run(&out).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        while child.try_wait().unwrap().is_none() && rows(&out) < at {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            // Whatever was written is a complete, readable store.
            let n = store::read_rows(&out.join(store::RESULTS_FILE)).unwrap().len();
            partial_kills += (n < total) as usize;
        }
    }
    assert!(partial_kills >= 1, "no run was killed mid-way ({total} rows)");
    let kills = partial_kills;
    let o = run(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(read(&out.join(store::RESULTS_FILE)), want, "after {kills} kills");
}

/// Contrast reduction ignores the model, so searching it against the accelerator itself (the
/// `hardware` threat) must give exactly the transferred outcomes, image by image.
#[test]
fn hardware_contrast_equals_transfer_image_by_image() {
    let Some(d) = data() else { return };
    let inputs = inputs(d);
    let p = plan(
        &SMALL.replace("attacks = [\"fgsm\", \"l2-contrast\", \"linf-uniform\"]", "attacks = [\"l2-contrast\"]"),
        &inputs,
    );
    let tmp = tempfile::tempdir().unwrap();
    Runner::new(p, inputs).quiet().run(tmp.path()).unwrap();
    let res = report::Results::open(tmp.path()).unwrap();
    let hw: Vec<_> = res.complete().filter(|a| a.first.threat == "hardware").collect();
    assert_eq!(hw.len(), 2 * 2, "2 eps × 2 accelerators");
    for a in hw {
        let t = res
            .find(|x| {
                x.threat == "transfer"
                    && x.multiplier == a.first.multiplier
                    && x.epsilon == a.first.epsilon
                    && x.target == "accel"
            })
            .unwrap();
        assert_eq!(a.bits, t.bits, "{} eps {}", a.first.multiplier, a.first.epsilon);
    }
}
