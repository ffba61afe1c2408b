//! Two processes writing one results folder never lose a row (issue 22): a `study run` holds the
//! folder's writer lock for its whole run, so two different plans started at once into one
//! folder, or two shards of one plan, end with every row of both; a second writer says who it is
//! waiting for; failed and killed writes leave no temporary files behind.

use axdnn::study::{store, Row, RunKey};
use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common;

const A: &str = r#"name = "a"
models = ["models/lenet5-mnist"]
schemes = ["sign-magnitude"]
multipliers = ["exact", "netlists/gen/mul8u_gen_trunc8.v"]
attacks = ["fgsm", "l2-contrast"]
eps_linf = [0.0, 0.1]
eps_l2 = [0.0, 1.5]
images = 40
chunk = 10
calib = 64
"#;

/// Another plan: other multipliers and budgets, some keys shared with `A` (fgsm eps 0 exact).
const B: &str = r#"name = "b"
models = ["models/lenet5-mnist"]
schemes = ["sign-magnitude"]
multipliers = ["exact", "netlists/gen/mul8u_gen_trunc6.v"]
attacks = ["fgsm"]
eps_linf = [0.0, 0.05, 0.2]
images = 40
chunk = 10
calib = 64
"#;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(plan: &Path, out: &Path, data: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_axdnn"));
    c.current_dir(root())
        .args(["study", "run"])
        .arg(plan)
        .arg("--out")
        .arg(out)
        .arg("--data")
        .arg(data)
        .arg("--no-report")
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn rows(dir: &Path) -> HashMap<RunKey, Row> {
    store::read_rows(&dir.join(store::RESULTS_FILE)).unwrap().into_iter().map(|r| (r.key(), r)).collect()
}

fn finish(c: std::process::Child, what: &str) -> String {
    let o = c.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{what}: {err}");
    err
}

#[test]
fn two_plans_and_two_shards_started_at_once_keep_every_row() {
    let Some(data) = common::data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (pa, pb) = (tmp.path().join("a.toml"), tmp.path().join("b.toml"));
    std::fs::write(&pa, A).unwrap();
    std::fs::write(&pb, B).unwrap();
    // Each plan alone: what the shared folder must hold afterwards.
    let (ra, rb) = (tmp.path().join("ref-a"), tmp.path().join("ref-b"));
    finish(run(&pa, &ra, &data, &[]).spawn().unwrap(), "a alone");
    finish(run(&pb, &rb, &data, &[]).spawn().unwrap(), "b alone");
    let (want_a, want_b) = (rows(&ra), rows(&rb));
    let shared: Vec<&RunKey> = want_a.keys().filter(|k| want_b.contains_key(*k)).collect();
    assert!(!shared.is_empty(), "the plans share some keys");
    for k in &shared {
        assert_eq!(want_a[*k], want_b[*k], "a shared key is the same measurement in either plan");
    }

    // Two different plans at once into one folder.
    let both = tmp.path().join("both");
    let first = run(&pa, &both, &data, &[]).spawn().unwrap();
    let second = run(&pb, &both, &data, &[]).spawn().unwrap();
    let log = finish(first, "a") + &finish(second, "b");
    let got = rows(&both);
    assert_eq!(got.len(), want_a.len() + want_b.len() - shared.len(), "{log}");
    for (k, r) in want_a.iter().chain(&want_b) {
        assert_eq!(got.get(k), Some(r), "every row of both plans, as measured alone");
    }

    // Two shards of one plan at once into one folder: the unsharded store, byte for byte.
    let shards = tmp.path().join("shards");
    let s1 = run(&pa, &shards, &data, &["--shard", "1/2"]).spawn().unwrap();
    let s2 = run(&pa, &shards, &data, &["--shard", "2/2"]).spawn().unwrap();
    let log = finish(s1, "shard 1/2") + &finish(s2, "shard 2/2");
    let read = |d: &Path| std::fs::read_to_string(d.join(store::RESULTS_FILE)).unwrap();
    assert!(read(&shards) == read(&ra), "two shards in one folder lost or changed rows: {log}");
}

/// Take the lock here, start a run on the folder: it says it waits for this process, then runs
/// to completion once the lock is released, keeping what it found.
#[test]
fn a_second_writer_waits_naming_the_holder() {
    let Some(data) = common::data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let plan = tmp.path().join("a.toml");
    std::fs::write(&plan, A.replace("images = 40", "images = 10")).unwrap();
    let dir = tmp.path().join("held");
    let lock = store::FolderLock::acquire(&dir, "the test holding it").unwrap();
    let holder = format!("pid {} (the test holding it)", std::process::id());
    assert!(std::fs::read_to_string(dir.join(store::WRITER_LOCK)).unwrap().starts_with(&holder));
    let mut child = run(&plan, &dir, &data, &[]).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let line = line.unwrap();
            let _ = tx.send(line.clone());
            all += &line;
            all.push('\n');
        }
        all
    });
    let line = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("a message while waiting");
    assert!(line.contains(&holder) && line.contains("waiting until it finishes"), "{line}");
    assert!(!dir.join(store::RESULTS_FILE).exists(), "nothing written while waiting");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "still waiting");
    drop(lock);
    let status = child.wait().unwrap();
    let all = reader.join().unwrap();
    assert!(status.success(), "{all}");
    assert!(all.contains("free after"), "{all}");
    assert_eq!(rows(&dir).len(), 2 * 2 * 3, "2 attacks × 2 budgets × (float, exact, trunc8)");
}

/// A write that fails leaves the old file and no temporary; a writer killed mid-write leaves
/// one that the next writer of the folder removes.
#[test]
fn failed_and_killed_writes_leave_no_temporary_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Rename onto a non-empty folder fails after the temporary was written.
    std::fs::create_dir_all(dir.join("results.csv/x")).unwrap();
    let e = store::write_atomic(&dir.join("results.csv"), b"a,b\n1,2\n").unwrap_err().to_string();
    assert!(e.contains("results.csv"), "{e}");
    let names = || -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    assert_eq!(names(), vec!["results.csv".to_string()], "no temporary left");
    std::fs::remove_dir_all(dir.join("results.csv")).unwrap();
    // What `kill -9` between write and rename leaves, and a report's temporary (not the lock
    // holder's to remove).
    for f in [".results.csv.tmp4242", ".plan.lock.toml.tmp7", ".report.md.tmp9"] {
        std::fs::write(dir.join(f), "partial").unwrap();
    }
    let lock = store::FolderLock::acquire(dir, "cleaner").unwrap();
    assert_eq!(names(), vec![".lock".to_string(), ".report.md.tmp9".to_string()]);
    drop(lock);
}
