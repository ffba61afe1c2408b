//! The results store does not trust what it reads (issue 22): the committed stores under
//! `results/reproduce` still load and report byte for byte as committed; a store saved now carries a
//! check per row, so an edited or torn number is an error naming file and line; legacy stores
//! (no check column) are still caught by the recomputed accuracy and interval and by the
//! per-accelerator figures; two different rows of one key are an error naming both lines; and
//! a report lists every planned measurement that has no rows.

use axdnn::study::stats::Proportion;
use axdnn::study::{report, store, StudyError};
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The committed study folders.
fn committed() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("results/reproduce"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join(store::RESULTS_FILE).is_file())
        .collect();
    v.sort();
    assert!(v.len() >= 7, "{v:?}");
    v
}

/// A copy of a committed folder's plan and rows in `tmp` (what a report is built from).
fn copy(name: &str, tmp: &Path) -> PathBuf {
    let src = root().join("results/reproduce").join(name);
    let dst = tmp.join(name);
    std::fs::create_dir_all(&dst).unwrap();
    for f in [store::LOCK_FILE, store::RESULTS_FILE] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    dst
}

/// Open and save, as `study run` does: the store gains its check column.
fn migrate(dir: &Path) {
    let plan = store::read_lock(dir).unwrap().unwrap();
    let s = store::Store::open(dir).unwrap();
    s.save(&plan, &Default::default()).unwrap();
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p).unwrap().lines().map(String::from).collect()
}

fn write_lines(p: &Path, l: &[String]) {
    std::fs::write(p, l.join("\n") + "\n").unwrap();
}

fn col(header: &str, name: &str) -> usize {
    header.split(',').position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"))
}

/// Set field `name` of file line `line` (1 = header) to `value` (the stores hold no quoted
/// fields).
fn set(p: &Path, line: usize, name: &str, value: &str) {
    let mut l = lines(p);
    let c = col(&l[0], name);
    let mut f: Vec<String> = l[line - 1].split(',').map(String::from).collect();
    f[c] = value.into();
    l[line - 1] = f.join(",");
    write_lines(p, &l);
}

fn get(p: &Path, line: usize, name: &str) -> String {
    let l = lines(p);
    l[line - 1].split(',').nth(col(&l[0], name)).unwrap().to_string()
}

/// The first file line of an accelerator row with every figure (MAE, power, cycles, energy).
fn accel_line(p: &Path) -> usize {
    let l = lines(p);
    let (t, e, m) = (col(&l[0], "target"), col(&l[0], "energy_per_image_pj"), col(&l[0], "mae_pct"));
    1 + l
        .iter()
        .position(|x| {
            let f: Vec<&str> = x.split(',').collect();
            f[t] == "accel" && !f[e].is_empty() && !f[m].is_empty() && f[m] != "0.0"
        })
        .unwrap()
}

/// A different value of the same kind: one more in the last printed digit.
fn nudged(v: &str) -> String {
    match v.parse::<u64>() {
        Ok(x) => (x + 1).to_string(),
        Err(_) => match v.parse::<f64>() {
            Ok(x) => format!("{}", x * 1.001 + 1e-3),
            Err(_) => format!("{v}x"),
        },
    }
}

#[test]
fn committed_stores_load_and_report_byte_for_byte_before_and_after_migration() {
    let tmp = tempfile::tempdir().unwrap();
    for src in committed() {
        let name = src.file_name().unwrap().to_str().unwrap();
        let dir = copy(name, tmp.path());
        let want = std::fs::read_to_string(src.join("report.md")).unwrap().replace(
            &format!("axdnn study report docs/reproduce/{name}`"),
            &format!("axdnn study report {}`", dir.display()),
        );
        assert!(report::write(&dir).unwrap() == want, "{name}: report as committed");
        for plot in std::fs::read_dir(src.join("plots")).unwrap() {
            let plot = plot.unwrap().path();
            let ours = dir.join("plots").join(plot.file_name().unwrap());
            assert!(std::fs::read(&ours).unwrap() == std::fs::read(&plot).unwrap(), "{}", ours.display());
        }
        // The one-time migration adds the check column (and, to the oldest stores, the
        // `eps_units` column any save adds) and changes no row.
        let csv = dir.join(store::RESULTS_FILE);
        let before = std::fs::read_to_string(&csv).unwrap();
        assert!(!before.lines().next().unwrap().contains(store::CHECK_COLUMN), "{name} is a legacy store");
        let rows = store::read_rows(&csv).unwrap();
        migrate(&dir);
        let after = std::fs::read_to_string(&csv).unwrap();
        assert!(after.lines().next().unwrap().ends_with(&format!(",{}", store::CHECK_COLUMN)));
        assert!(store::read_rows(&csv).unwrap() == rows, "{name}: same rows in the same order");
        if before.lines().next().unwrap().contains("eps_units") {
            let stripped: String = after.lines().map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n").collect();
            assert!(stripped == before, "{name}: the migrated store is the committed one plus a last column");
        }
        assert!(report::write(&dir).unwrap() == want, "{name}: report after migration");
    }
}

/// Every derived number the issue found trusted, edited in a checked store: an error naming
/// the file and the line (the header is line 1), from the reader, the store and the report.
#[test]
fn an_edited_number_in_a_checked_store_is_an_error_naming_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let fresh = copy("transfer-mnist", tmp.path());
    migrate(&fresh);
    let line = accel_line(&fresh.join(store::RESULTS_FILE));
    for name in [
        "accuracy",
        "ci_low",
        "ci_high",
        "power_mw",
        "energy_per_image_pj",
        "mae_pct",
        "cycles_per_image",
        "correct",
        "n",
        "epsilon",
        "multiplier",
    ] {
        let dir = tmp.path().join(format!("edit-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in [store::LOCK_FILE, store::RESULTS_FILE] {
            std::fs::copy(fresh.join(f), dir.join(f)).unwrap();
        }
        let csv = dir.join(store::RESULTS_FILE);
        let old = get(&csv, line, name);
        set(&csv, line, name, &nudged(&old));
        let at = format!("{}:{line}: ", csv.display());
        let e = store::read_rows(&csv).unwrap_err().to_string();
        assert!(e.starts_with(&at) && e.contains(store::CHECK_COLUMN), "{name}: {e}");
        let e = store::Store::open(&dir).err().unwrap().to_string();
        assert!(e.starts_with(&at), "{name}: {e}");
        let e = report::write(&dir).unwrap_err().to_string();
        assert!(e.starts_with(&at), "{name}: {e}");
        assert!(!dir.join("report.md").exists(), "{name}: no report from an edited store");
    }
}

#[test]
fn a_torn_last_row_is_an_error_naming_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    // Checked store: cut inside the check, and inside the energy (the field before it).
    let dir = copy("transfer-mnist", tmp.path());
    migrate(&dir);
    let csv = dir.join(store::RESULTS_FILE);
    let full = std::fs::read_to_string(&csv).unwrap();
    let last = full.lines().count();
    let body = full.trim_end();
    for cut in [3, body.len() - body.rfind(',').unwrap() + 4] {
        std::fs::write(&csv, &body[..body.len() - cut]).unwrap();
        let e = store::read_rows(&csv).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:{last}: ", csv.display())), "cut {cut}: {e}");
    }
    // Legacy store, as in the issue (energy 80928.12 → 809 by a cut inside the last field):
    // the other rows of the same accelerator state its energy, so both lines are named.
    let dir = copy("transfer-mnist", tmp.path().join("legacy").as_path());
    let csv = dir.join(store::RESULTS_FILE);
    let full = std::fs::read_to_string(&csv).unwrap();
    let last = full.lines().count();
    std::fs::write(&csv, &full.trim_end()[..full.trim_end().len() - 3]).unwrap();
    let e = store::read_rows(&csv).unwrap_err();
    match &e {
        StudyError::Conflict { first_line, second_line, reason, .. } => {
            assert_eq!(*second_line as usize, last, "{e}");
            assert!(*first_line >= 2 && reason.contains("energy_per_image_pj"), "{e}");
        }
        _ => panic!("{e}"),
    }
}

#[test]
fn an_edited_number_in_a_legacy_store_is_still_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let fresh = copy("transfer-mnist", tmp.path());
    let line = accel_line(&fresh.join(store::RESULTS_FILE));
    for name in ["accuracy", "ci_low", "ci_high", "power_mw", "energy_per_image_pj", "mae_pct", "cycles_per_image"] {
        let dir = copy("transfer-mnist", &tmp.path().join(name));
        let csv = dir.join(store::RESULTS_FILE);
        set(&csv, line, name, &nudged(&get(&csv, line, name)));
        let e = store::read_rows(&csv).unwrap_err();
        let text = e.to_string();
        match &e {
            // Recomputed from the counts.
            StudyError::Csv { line: l, .. } => assert_eq!(*l as usize, line, "{name}: {text}"),
            // Stated differently by another row of the same accelerator.
            StudyError::Conflict { first_line, second_line, reason, .. } => {
                assert!(*first_line as usize == line || *second_line as usize == line, "{name}: {text}");
                assert!(reason.contains(name), "{name}: {text}");
            }
            _ => panic!("{name}: {text}"),
        }
        assert!(text.contains(&csv.display().to_string()), "{text}");
    }
}

/// Make file line `line` another measurement of the same key (one outcome flipped, every
/// derived column and the check recomputed), appended at the end.
fn conflicting_copy(csv: &Path, line: usize) -> usize {
    let mut l = lines(csv);
    let header: Vec<String> = l[0].split(',').map(String::from).collect();
    let mut f: Vec<String> = l[line - 1].split(',').map(String::from).collect();
    let i = |n: &str| header.iter().position(|h| h == n).unwrap();
    let n: usize = f[i("n")].parse().unwrap();
    let mut bits = axdnn::study::stats::hex_to_bits(&f[i("correct_bits")], n).unwrap();
    bits[0] = !bits[0];
    let p = Proportion::new(bits.iter().filter(|&&b| b).count(), n);
    let (lo, hi) = p.wilson();
    f[i("correct")] = p.correct.to_string();
    f[i("accuracy")] = format!("{:?}", p.value());
    f[i("ci_low")] = format!("{lo:?}");
    f[i("ci_high")] = format!("{hi:?}");
    f[i("correct_bits")] = axdnn::study::stats::bits_to_hex(&bits);
    if let Some(c) = header.iter().position(|h| h == store::CHECK_COLUMN) {
        let h = csv::StringRecord::from(header.clone());
        f[c] = store::row_check(&h, &csv::StringRecord::from(f.clone()), Some(c));
    }
    l.push(f.join(","));
    write_lines(csv, &l);
    l.len()
}

#[test]
fn two_rows_of_one_key_are_an_error_naming_both_lines_unless_identical() {
    let tmp = tempfile::tempdir().unwrap();
    for checked in [false, true] {
        let dir = copy("transfer-mnist", &tmp.path().join(checked.to_string()));
        if checked {
            migrate(&dir);
        }
        let csv = dir.join(store::RESULTS_FILE);
        let line = accel_line(&csv);
        // Stored twice identically: harmless, read once.
        let mut l = lines(&csv);
        let n = l.len() - 1;
        l.push(l[line - 1].clone());
        write_lines(&csv, &l);
        assert_eq!(store::read_rows(&csv).unwrap().len(), n);
        l.pop();
        write_lines(&csv, &l);
        let second = conflicting_copy(&csv, line);
        for e in [
            store::read_rows(&csv).unwrap_err(),
            store::Store::open(&dir).err().unwrap(),
            report::write(&dir).unwrap_err(),
        ] {
            let text = e.to_string();
            let StudyError::Conflict { first_line, second_line, reason, .. } = &e else { panic!("{text}") };
            assert_eq!((*first_line as usize, *second_line as usize), (line, second), "{text}");
            assert!(reason.contains("stored twice") && reason.contains("correct_bits"), "{text}");
            assert!(text.starts_with(&format!("{}:{line} and {}:{second}: ", csv.display(), csv.display())), "{text}");
        }
    }
    // Across results.csv and superseded.csv too.
    let dir = copy("transfer-mnist", &tmp.path().join("sup"));
    let csv = dir.join(store::RESULTS_FILE);
    let line = accel_line(&csv);
    conflicting_copy(&csv, line);
    let l = lines(&csv);
    write_lines(&dir.join(store::SUPERSEDED_FILE), &[l[0].clone(), l.last().unwrap().clone()]);
    write_lines(&csv, &l[..l.len() - 1]);
    let e = store::Store::open(&dir).err().unwrap().to_string();
    assert!(
        e.contains(&format!("{}:2 and {}:{line}", dir.join(store::SUPERSEDED_FILE).display(), csv.display())),
        "{e}"
    );
}

/// Errors count file lines, the header being line 1 (the issue saw "record 3" for line 4).
#[test]
fn errors_name_file_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy("transfer-mnist", tmp.path());
    let csv = dir.join(store::RESULTS_FILE);
    set(&csv, 4, "n", "ten");
    let e = store::read_rows(&csv).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}:4: column `n`: ", csv.display())), "{e}");
    let mut l = lines(&csv);
    l[5] = l[5].rsplit_once(',').unwrap().0.to_string();
    write_lines(&csv, &l[..7]);
    set(&csv, 4, "n", "100");
    let e = store::read_rows(&csv).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}:6: ", csv.display())) && e.contains("fields where the header has"), "{e}");
    // A hand-edited lock file: named by line and key, no panic later.
    let lock = dir.join(store::LOCK_FILE);
    let text = std::fs::read_to_string(&lock).unwrap();
    std::fs::write(&lock, text.replace("chunk = 100", "chunk = 0")).unwrap();
    let e = store::read_lock(&dir).unwrap_err().to_string();
    let line = 1 + text.lines().position(|l| l.starts_with("chunk")).unwrap();
    assert!(e.starts_with(&format!("{}:{line}:", lock.display())) && e.contains("`chunk`"), "{e}");
}

#[test]
fn a_report_lists_every_planned_measurement_without_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy("transfer-mnist", tmp.path());
    let csv = dir.join(store::RESULTS_FILE);
    let l = lines(&csv);
    let (m, e, s, t) =
        (col(&l[0], "multiplier"), col(&l[0], "epsilon"), col(&l[0], "image_start"), col(&l[0], "target"));
    let tm = col(&l[0], "target_model");
    // A multiplier × budget with no rows at all, and one chunk of a float target.
    let kept: Vec<String> = l
        .iter()
        .filter(|x| {
            let f: Vec<&str> = x.split(',').collect();
            let l40_at_005 = f[m] == "mul8u_L40" && f[e] == "0.05";
            let float_chunk = f[t] == "float" && f[s] == "200" && f[tm] == "models/alexnet-mnist";
            !(l40_at_005 || float_chunk)
        })
        .cloned()
        .collect();
    write_lines(&csv, &kept);
    let text = report::write(&dir).unwrap();
    let missing = report::Results::open(&dir).unwrap().missing().unwrap();
    assert_eq!(missing.iter().filter(|x| x.images == 0).count(), 4, "L40 at 0.05: 2 sources × 2 targets");
    assert_eq!(missing.iter().filter(|x| x.images == 400).count(), 4, "float alexnet: 2 sources × 2 budgets");
    assert!(text.contains("## Missing measurements"), "{text}");
    assert!(text.contains("4 planned measurements have no rows and 4 lack some of their image chunks"), "{text}");
    assert!(
        text.contains("| models/lenet5-mnist | transfer | linf-bim | 0 | mul8u_L40 on models/alexnet-mnist: sign-magnitude 16x16 ws conv | 0.05 (0) |"),
        "{text}"
    );
    assert!(
        text.contains(
            "| models/alexnet-mnist | transfer | linf-bim | 0 | float models/alexnet-mnist | 0 (400), 0.05 (400) |"
        ),
        "{text}"
    );
    // A complete folder has no such section (the committed reports above are unchanged).
    assert!(report::Results::open(&copy("transfer-cifar10", tmp.path())).unwrap().missing().unwrap().is_empty());
}

/// A new measurement whose accelerator figures differ from the stored rows of that accelerator
/// (the simulator changed since) is refused before it is saved, so a folder never mixes both.
#[test]
fn a_new_row_with_other_figures_for_a_stored_accelerator_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy("transfer-mnist", tmp.path());
    let mut s = store::Store::open(&dir).unwrap();
    let old = s.rows().find(|r| r.target == "accel" && r.energy_per_image_pj.is_some()).unwrap().clone();
    let mut new = old.clone();
    new.attack_seed = 99;
    s.admit(new.clone()).unwrap();
    new.attack_seed = 100;
    new.energy_per_image_pj = Some(old.energy_per_image_pj.unwrap() * 2.0);
    let e = s.admit(new).unwrap_err().to_string();
    assert!(e.contains("energy_per_image_pj") && e.contains("figures changed"), "{e}");
    assert_eq!(s.len(), 121, "the refused row is not in the store");
}
