//! `axdnn study run|report|merge|slurm` and `axdnn reproduce --quick` through the binary:
//! flags and plan files, resumption, bad plans refused before any work, Slurm job arrays on a
//! real slurmctld/slurmd, and the paper's reproduction in miniature.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

use crate::common;

/// `$var`, else `../shared/<name>` beside the checkout; missing: a failure under `CI`.
fn shared(var: &str, name: &str) -> Option<PathBuf> {
    common::shared_dir(var, name)
}

fn axdnn(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_axdnn")).current_dir(root()).args(args).output().unwrap()
}

fn ok(o: &std::process::Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const PLAN: &str = r#"name = "cli"
models = ["models/lenet5-mnist"]
schemes = ["sign-magnitude"]
multipliers = ["exact", "netlists/gen/mul8u_gen_trunc8.v"]
attacks = ["fgsm", "l2-contrast"]
eps_linf = [0.0, 0.1]
eps_l2 = [0.0, 1.5]
images = 30
chunk = 10
calib = 64
"#;

#[test]
fn flags_plan_files_resume_and_report() {
    let Some(data) = shared("AXDNN_DATA", "data") else { return };
    let data = data.to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("flags");
    let args = [
        "study",
        "run",
        "--models",
        "models/lenet5-mnist",
        "--schemes",
        "sign-magnitude",
        "--multipliers",
        "exact,netlists/gen/mul8u_gen_trunc8.v",
        "--attacks",
        "fgsm,l2-contrast",
        "--eps-linf",
        "0,0.1",
        "--eps-l2",
        "0,1.5",
        "--images",
        "30",
        "--chunk",
        "10",
        "--calib",
        "64",
        "--name",
        "cli",
        "--data",
        data,
        "--out",
        out.to_str().unwrap(),
    ];
    let first = ok(&axdnn(&args));
    assert!(first.contains("Is approximation universally defensive?"), "{first}");
    assert!(first.contains("12 cells (12 run, 0 reused)"), "{first}");
    // 2 attacks × 2 eps × 3 chunks × (float, exact, trunc8).
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 2 * 3 * 3);
    let again = ok(&axdnn(&args));
    assert!(again.contains("(0 run, 12 reused)"), "{again}");
    // The same plan as a file: same store, byte for byte; the lock file reproduces it too.
    let plan = tmp.path().join("cli.toml");
    std::fs::write(&plan, PLAN).unwrap();
    let from_file = tmp.path().join("file");
    ok(&axdnn(&["study", "run", plan.to_str().unwrap(), "--data", data, "--out", from_file.to_str().unwrap()]));
    assert_eq!(std::fs::read_to_string(from_file.join("results.csv")).unwrap(), csv);
    let from_lock = tmp.path().join("lock");
    ok(&axdnn(&[
        "study",
        "run",
        out.join("plan.lock.toml").to_str().unwrap(),
        "--data",
        data,
        "--out",
        from_lock.to_str().unwrap(),
    ]));
    assert_eq!(std::fs::read_to_string(from_lock.join("results.csv")).unwrap(), csv);
    // `study report` from the store alone.
    std::fs::remove_file(out.join("report.md")).unwrap();
    let rep = ok(&axdnn(&["study", "report", out.to_str().unwrap()]));
    assert!(rep.contains("| eps | float | exact |"), "{rep}");
    assert!(out.join("report.md").is_file());
    let js = ok(&axdnn(&["study", "report", out.to_str().unwrap(), "--json"]));
    let v: serde_json::Value = serde_json::from_str(&js).unwrap();
    assert_eq!(v[0]["threat"], "transfer");
    assert_eq!(v[0]["all"]["cells"], 2, "fgsm 0.1 and contrast 1.5 with trunc8");
    // A plan file and plan flags together are refused.
    let o = axdnn(&["study", "run", plan.to_str().unwrap(), "--images", "5", "--data", data]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("not both"));
}

#[test]
fn bad_plan_is_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = tmp.path().join("bad.toml");
    std::fs::write(&plan, PLAN.replace("attacks = [\"fgsm\", \"l2-contrast\"]", "attacks = [\"fgsm\", \"carlini\"]"))
        .unwrap();
    let out = tmp.path().join("never");
    let o = axdnn(&["study", "run", plan.to_str().unwrap(), "--out", out.to_str().unwrap(), "--data", "/nonexistent"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("{}:5:", plan.display()))
            && err.contains("`attacks`")
            && err.contains("unknown attack 'carlini'"),
        "{err}"
    );
    assert_eq!(err.matches("carlini").count(), 1, "said once: {err}");
    assert!(!out.exists(), "nothing written for a bad plan");
    std::fs::write(&plan, format!("{PLAN}chunks = 3\n")).unwrap();
    let o = axdnn(&["study", "run", plan.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains(":11:") && err.contains("chunks"), "{err}");
}

/// Slurm is there: under CI it must be (`.ci/run` starts it); elsewhere the test skips.
fn slurm_up() -> bool {
    let up = Command::new("scontrol")
        .arg("ping")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("UP"));
    if !up {
        common::skip("Slurm is not running (scontrol ping; start it with .ci/slurm-up)");
    }
    up
}

#[test]
fn slurm_job_array_equals_a_local_run() {
    let Some(data) = shared("AXDNN_DATA", "data") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let plan = tmp.path().join("cli.toml");
    std::fs::write(&plan, PLAN).unwrap();
    let local = tmp.path().join("local");
    ok(&axdnn(&[
        "study",
        "run",
        plan.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        local.to_str().unwrap(),
        "--no-report",
    ]));
    // The scripts alone (no cluster needed).
    let out = tmp.path().join("cluster");
    let text = ok(&axdnn(&[
        "study",
        "slurm",
        plan.to_str().unwrap(),
        "--shards",
        "3",
        "--cpus-per-task",
        "1",
        "--time",
        "00:10:00",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(text.contains("array.sbatch"), "{text}");
    let array = std::fs::read_to_string(out.join("slurm/array.sbatch")).unwrap();
    assert!(
        array.contains("#SBATCH --array=1-3")
            && array.contains("--shard \"${SLURM_ARRAY_TASK_ID}/3\"")
            && array.contains("#SBATCH --time=00:10:00"),
        "{array}"
    );
    let merge = std::fs::read_to_string(out.join("slurm/merge.sbatch")).unwrap();
    assert!(merge.contains("study merge") && merge.contains("study report"), "{merge}");
    if !slurm_up() {
        return;
    }
    let text = ok(&axdnn(&[
        "study",
        "slurm",
        plan.to_str().unwrap(),
        "--shards",
        "3",
        "--cpus-per-task",
        "1",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--submit",
    ]));
    let ids: Vec<&str> =
        text.split_whitespace().filter(|w| w.chars().all(|c| c.is_ascii_digit()) && !w.is_empty()).collect();
    let merge_id =
        text.split("merge job ").nth(1).and_then(|s| s.split_whitespace().next()).unwrap_or_else(|| panic!("{text}"));
    assert!(text.contains("afterok:"), "{text} {ids:?}");
    // Wait for the merge job to leave the queue (the array before it).
    let t0 = std::time::Instant::now();
    loop {
        let q = Command::new("squeue").args(["-h", "-j", merge_id]).output().unwrap();
        if String::from_utf8_lossy(&q.stdout).trim().is_empty() {
            break;
        }
        assert!(t0.elapsed().as_secs() < 600, "Slurm jobs still queued after 10 min");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let merged = out.join("results.csv");
    assert!(
        merged.is_file(),
        "merge job wrote nothing; logs: {:?}",
        std::fs::read_to_string(out.join("slurm/merge.out"))
    );
    assert_eq!(std::fs::read_to_string(merged).unwrap(), std::fs::read_to_string(local.join("results.csv")).unwrap());
    assert!(out.join("report.md").is_file());
    for i in 1..=3 {
        assert!(out.join(format!("shards/{i}/shard.toml")).is_file(), "shard {i}");
    }
}

#[test]
fn reproduce_quick() {
    let (Some(data), Some(evo)) = (shared("AXDNN_DATA", "data"), shared("AXDNN_EVOAPPROX", "evoapprox")) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let t0 = std::time::Instant::now();
    let text = ok(&axdnn(&[
        "reproduce",
        "--quick",
        "--out",
        tmp.path().to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--evoapprox",
        evo.to_str().unwrap(),
    ]));
    eprintln!("reproduce --quick: {:.1} s", t0.elapsed().as_secs_f64());
    for needle in [
        "| LeNet-5 / MNIST | 98 % |",
        "Linf BIM (Fig. 4a) | 0.2 | mul8u_L40 | 67 |",
        "quantized exact − float | +58 |",
        "**A1**",
        "**A3**",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    let report = std::fs::read_to_string(tmp.path().join("report.md")).unwrap();
    assert!(text.starts_with(&report), "report.md is what was printed");
    assert!(tmp.path().join("lenet5-mnist/report.md").is_file());
    // The quick plan is a corner of the stored studies (same units, chunks, calibration):
    // every row whose key it shares with results/reproduce is that row, bit for bit.
    let key = |r: &csv::StringRecord, h: &csv::StringRecord| -> Vec<String> {
        let n = h.iter().position(|c| c == "n").unwrap();
        r.iter().take(n).map(str::to_string).collect()
    };
    let rows = |p: &Path| -> (csv::StringRecord, Vec<csv::StringRecord>) {
        let mut rd = csv::Reader::from_path(p).unwrap();
        (rd.headers().unwrap().clone(), rd.records().map(Result::unwrap).collect())
    };
    let mut stored = std::collections::HashMap::new();
    for d in std::fs::read_dir(root().join("results/reproduce")).unwrap() {
        let p = d.unwrap().path().join("results.csv");
        if p.is_file() {
            let (h, rs) = rows(&p);
            for r in rs {
                stored.insert(key(&r, &h), (h.clone(), r));
            }
        }
    }
    let (h, quick) = rows(&tmp.path().join("lenet5-mnist/results.csv"));
    let mut shared_rows = 0;
    for r in &quick {
        if let Some((sh, sr)) = stored.get(&key(r, &h)) {
            // Column by column over the stored file's columns (a fresh store adds a checksum).
            for (c, want) in sh.iter().zip(sr.iter()) {
                let got = h.iter().position(|x| x == c).map(|i| &r[i]);
                assert_eq!(got, Some(want), "column {c} of a fresh quick row differs from the stored one");
            }
            shared_rows += 1;
        }
    }
    assert!(shared_rows >= 100, "only {shared_rows} of {} quick rows share a key with the stored studies", quick.len());
}

/// Every stored study's report.md is what `study report` makes of its store today (the
/// footer names the folder it was made in): the stored reports are the golden files.
#[test]
fn stored_reports_regenerate_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let stored = root().join("results/reproduce");
    let mut n = 0;
    for d in std::fs::read_dir(&stored).unwrap() {
        let dir = d.unwrap().path();
        if !dir.join("results.csv").is_file() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let copy = tmp.path().join(&name);
        std::fs::create_dir_all(&copy).unwrap();
        for f in ["results.csv", "plan.lock.toml"] {
            std::fs::copy(dir.join(f), copy.join(f)).unwrap();
        }
        ok(&axdnn(&["study", "report", copy.to_str().unwrap()]));
        let made = std::fs::read_to_string(copy.join("report.md")).unwrap();
        let want = std::fs::read_to_string(dir.join("report.md")).unwrap();
        let footer =
            |t: &str, folder: &str| t.replace(&format!("`axdnn study report {folder}`"), "`axdnn study report <dir>`");
        let want = footer(&want, &format!("docs/reproduce/{name}"));
        assert_eq!(footer(&made, copy.to_str().unwrap()), want, "{name}: report.md differs");
        n += 1;
    }
    assert_eq!(n, 7, "stored study folders");
}
