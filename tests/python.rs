//! The Python package (`bindings/python`): built and installed into a virtual environment under
//! `target/pyenv` exactly as a user does it (`pip install ./bindings/python`, with the pinned
//! test requirements of `bindings/python/requirements-test.txt`), then its pytest suite run
//! against this build's `axdnn` binary (`AXDNN_CLI`): tables, float and accelerator logits bit
//! for bit against the CLI, errors, input checks, Foolbox-through-BPDA agreement with `axdnn
//! attack --threat bpda`, ART, the README's and the guide's Python examples.
//!
//! The package's Rust crate builds into `target/python` (its own profile and lock file; cargo
//! releases `target/`'s lock while tests run, but the artifacts would not be shared anyway), so
//! a rerun only relinks what changed. Without `python3 -m venv` or PyPI, the test is skipped
//! visibly, and under `CI` it fails (`tests/common/mod.rs`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_axdnn");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run `cmd` in the repository root; its output, or why it could not start.
fn run(cmd: &mut Command) -> Result<Output, String> {
    cmd.current_dir(root()).output().map_err(|e| format!("{cmd:?}: {e}"))
}

/// A line on the terminal even when the test passes (libtest captures `eprintln!`, not the
/// process's own stderr handle; as `common::skip`).
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn tail(o: &Output) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// The virtual environment's python with the test requirements, `None` after a skip.
fn venv() -> Option<PathBuf> {
    let dir = root().join("target/pyenv");
    let python = dir.join("bin/python");
    if !python.is_file() {
        match run(Command::new("python3").args(["-m", "venv"]).arg(&dir)) {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                common::skip(&format!("python3 -m venv failed: {}", tail(&o)));
                return None;
            }
            Err(e) => {
                common::skip(&format!("python3 not runnable: {e}"));
                return None;
            }
        }
    }
    let reqs = root().join("bindings/python/requirements-test.txt");
    // Quick when everything is there already; needs PyPI otherwise.
    match run(Command::new(&python).args(["-m", "pip", "install", "-q", "-r"]).arg(&reqs)) {
        Ok(o) if o.status.success() => Some(python),
        Ok(o) => {
            common::skip(&format!("pip could not install {}: {}", reqs.display(), tail(&o)));
            None
        }
        Err(e) => {
            common::skip(&e);
            None
        }
    }
}

fn install(python: &Path) {
    let t = std::time::Instant::now();
    let o = run(Command::new(python)
        .args(["-m", "pip", "install", "-q", "./bindings/python"])
        .env("CARGO_TARGET_DIR", root().join("target/python")))
    .unwrap();
    assert!(o.status.success(), "pip install ./bindings/python failed:\n{}", tail(&o));
    say(&format!("pip install ./bindings/python: {:.1} s", t.elapsed().as_secs_f64()));
}

#[test]
fn python_package_suite() {
    let Some(evoapprox) = common::evoapprox() else { return };
    let Some(data) = common::data() else { return };
    let Some(python) = venv() else { return };
    install(&python);
    let t = std::time::Instant::now();
    let o = run(Command::new(&python)
        .args(["-m", "pytest", "bindings/python/tests", "-q", "-rs", "-p", "no:cacheprovider"])
        .env("AXDNN_CLI", BIN)
        .env("AXDNN_DATA", &data)
        .env("AXDNN_EVOAPPROX", &evoapprox))
    .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    // pytest's closing line ("N passed, M skipped in S s"), visible in the cargo test log.
    say(&format!("pytest: {} ({:.1} s)", out.lines().last().unwrap_or("").trim(), t.elapsed().as_secs_f64()));
    assert!(
        o.status.success(),
        "pytest failed (exit {:?}):\n{out}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
}
