//! Stable-toolchain companion of the `plan` and `store` cargo-fuzz targets in `tests/fuzz`: the
//! same checks (`tests/fuzz/checks.rs`) on every seed, every truncation of every seed and seeded
//! random mutations; and the seeds made from issue 22's cases are refused, the clean ones read.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[path = "../fuzz/checks.rs"]
mod checks;

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/seeds").join(target);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    assert!(v.len() >= 10, "{}: {} seeds", dir.display(), v.len());
    v
}

fn no_panic(check: fn(&[u8]), bytes: &[u8], what: &str) {
    let r = catch_unwind(AssertUnwindSafe(|| check(bytes)));
    assert!(r.is_ok(), "panic on {what}: {:?}", String::from_utf8_lossy(bytes));
}

/// Truncations at every byte, then `n` seeded mutations (byte flips, insertions of the format's
/// tokens, deleted ranges, duplicated lines).
fn mutate_all(check: fn(&[u8]), target: &str, tokens: &[&str], n: usize, every_cut: bool) {
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    for (path, bytes) in seeds(target) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        no_panic(check, &bytes, &name);
        let step = if every_cut { 1 } else { 7 };
        for cut in (0..=bytes.len()).step_by(step) {
            no_panic(check, &bytes[..cut], &format!("{name} cut at {cut}"));
        }
        for k in 0..n {
            let mut b = bytes.clone();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..=b.len());
                match rng.gen_range(0..4) {
                    0 if !b.is_empty() => {
                        let i = at.min(b.len() - 1);
                        b[i] ^= 1 << rng.gen_range(0..8);
                    }
                    1 => {
                        let t = tokens[rng.gen_range(0..tokens.len())];
                        b.splice(at..at, t.bytes());
                    }
                    2 => {
                        let end = (at + rng.gen_range(0..40)).min(b.len());
                        b.drain(at..end);
                    }
                    _ => {
                        let text = String::from_utf8_lossy(&b).into_owned();
                        let lines: Vec<&str> = text.lines().collect();
                        if !lines.is_empty() {
                            let l = lines[rng.gen_range(0..lines.len())];
                            b.extend_from_slice(format!("\n{l}\n").as_bytes());
                        }
                    }
                }
            }
            no_panic(check, &b, &format!("{name} mutation {k}"));
        }
    }
}

#[test]
fn plan_reader_never_panics() {
    let tokens =
        ["=", "[", "]", "\"", ",", "\n", "[eps]\n", "0", "-1", "nan", "1e400", "18446744073709551615", "é", "#"];
    mutate_all(checks::plan, "plan", &tokens, 300, false);
}

#[test]
fn store_reader_never_panics() {
    let tokens = [",", "\n", "\"", "0", "NaN", "-1", "1e308", "ffff", "none", "accel", "float", "\r\n", "é"];
    mutate_all(checks::store, "store", &tokens, 300, true);
}

#[test]
fn the_issue_cases_are_refused_and_clean_seeds_read() {
    for (path, bytes) in seeds("store") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let r = axdnn::study::store::rows_from_bytes(&bytes, &path);
        let bad = ["torn", "edited", "conflicting"].iter().any(|p| name.starts_with(p));
        assert_eq!(r.is_err(), bad, "{name}: {:?}", r.map(|v| v.len()));
    }
    // The shipped plans name library multipliers.
    let inputs = axdnn::util::inputs::default_inputs(None, None);
    for (path, bytes) in seeds("plan") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = String::from_utf8_lossy(&bytes);
        let r = if name.starts_with("lock-") {
            axdnn::study::Plan::from_lock(&text, &path)
        } else if inputs.evoapprox.is_none() && name.starts_with("paper") {
            continue;
        } else {
            axdnn::study::Plan::from_toml(&text, &path, &inputs)
        };
        let bad = ["lock-chunk-zero", "lock-images-huge", "lock-unknown-attack", "bad-values", "eps-not", "flags-like"]
            .iter()
            .any(|p| name.starts_with(p));
        assert_eq!(r.is_err(), bad, "{name}: {:?}", r.err().map(|e| e.to_string()));
    }
}

#[test]
fn onnx_reader_never_panics() {
    // Protobuf tags of the fields the reader looks at, varints and lengths at their limits.
    let tokens =
        ["\x08", "\x12", "\x1a", "\x22", "\x3a", "\x42", "\x4a", "\u{7f}", "\u{80}", "\x00", "\x01", "\x0a\x04Conv"];
    mutate_all(checks::onnx, "onnx", &tokens, 400, false);
}
