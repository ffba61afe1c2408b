//! The small things of issue 22: printing into a closed pipe ends quietly (no panic, no exit
//! 101); errors in plan flags name the flag, not a position in synthesized text; a flag-only
//! plan is named `study` as `--help` says; a path that is not a netlist is not looked up as a
//! library name.

use axdnn::study::{plan::COMMAND_LINE, Inputs, Plan};
use std::path::Path;
use std::process::{Command, Stdio};

fn axdnn() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_axdnn"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn fails(args: &[&str]) -> String {
    let o = axdnn().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success() && !err.contains("panicked"), "{args:?}: {err}");
    err
}

/// `axdnn arch | head -n1`: the reader is gone before the first line is written.
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = axdnn().arg("arch").stdout(writer).stderr(Stdio::piped()).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked") && o.status.code() != Some(101), "{:?}: {err}", o.status);
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(o.status.signal(), Some(13), "ended by SIGPIPE, as `yes | head` is");
    }
    // With a reader, the same command prints and succeeds.
    let o = axdnn().arg("arch").output().unwrap();
    assert!(o.status.success() && !o.stdout.is_empty());
}

#[test]
fn plan_flag_errors_name_the_flag() {
    let err = fails(&["study", "run", "--models", "models/lenet5-mnist", "--images", "0", "--out", "/nonexistent/x"]);
    // Refused by the flag's value parser, the same check (`util::values::count`) as the plan's.
    assert!(err.contains("'--images <IMAGES>': must be at least 1"), "{err}");
    let err = fails(&["study", "run", "--models", "models/lenet5-mnist", "--attacks", "fgsm,carlini"]);
    assert!(err.starts_with("error: --attacks: unknown attack 'carlini'") && !err.contains("<command line>"), "{err}");
    let err = fails(&["study", "run", "--models", "models/no-such-model"]);
    assert!(err.starts_with("error: --models: ") && err.contains("no-such-model"), "{err}");
    // A plan file's errors keep their file, line and column.
    let e = Plan::from_toml(
        "models = [\"models/lenet5-mnist\"]\nmultipliers = [\"exact\"]\nimages = 0\n",
        Path::new("p.toml"),
        &Inputs::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("p.toml:3:1: key `images`: must be at least 1"), "{e}");
}

#[test]
fn a_flag_only_plan_is_named_study() {
    let text = "models = [\"models/lenet5-mnist\"]\nmultipliers = [\"exact\"]\n";
    let p = Plan::from_toml(text, Path::new(COMMAND_LINE), &Inputs::default()).unwrap();
    assert_eq!(p.name, "study");
    let p = Plan::from_toml(text, Path::new("plans/mine.toml"), &Inputs::default()).unwrap();
    assert_eq!(p.name, "mine");
    let help = String::from_utf8_lossy(&axdnn().args(["study", "run", "--help"]).output().unwrap().stdout).into_owned();
    assert!(help.contains("`study` for flags"), "{help}");
}

#[test]
fn a_path_that_is_no_netlist_is_not_a_library_name() {
    let err = fails(&["study", "run", "--models", "models/lenet5-mnist", "--multipliers", "/dev/null"]);
    assert_eq!(
        err.trim_end(),
        "error: --multipliers: multiplier file /dev/null is not a regular file (a Verilog netlist is expected)"
    );
    let tmp = tempfile::tempdir().unwrap();
    for spec in ["/dev/null", "no/such/dir/mul"] {
        let e = axdnn::mult::resolve(spec, false, false, Some(tmp.path())).err().unwrap().to_string();
        assert!(e.starts_with(spec) && !e.contains(".v under"), "{spec}: {e}");
    }
}
