//! Every error is said once: `main` prints the whole chain (`{e:#}`), so no error type may show
//! its source in its message and also expose it as `source()`. Checked on the binary's stderr for
//! a missing Verilog file, a bad model folder and a bad dataset folder, and on the library's
//! error types directly.

use crate::common;

use std::path::Path;
use std::process::Command;

/// Run the binary expecting failure; its stderr.
fn fails(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_axdnn")).args(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn once(text: &str, key: &str) {
    assert_eq!(text.matches(key).count(), 1, "'{key}' should appear exactly once in: {text}");
}

fn os<S: AsRef<std::ffi::OsStr> + ?Sized>(s: &S) -> &std::ffi::OsStr {
    s.as_ref()
}

/// A valid model folder (random LeNet-5/MNIST weights).
fn good_model(dir: &Path) {
    use axdnn::model::{Arch, ArchName, Shape};
    let arch = Arch::new(ArchName::Lenet5, Shape::new(1, 28, 28), 10);
    let p = axdnn::model::Params::zeros(&arch);
    let meta = crate::common::fixture_meta(axdnn::data::DatasetName::Mnist);
    axdnn::model::io::save(dir, &arch, &p, &meta).unwrap();
}

#[test]
fn missing_verilog_file_said_once() {
    let d = tempfile::tempdir().unwrap();
    let v = d.path().join("x.v");
    let err = fails(&[os("lut"), os("gen"), v.as_os_str(), os("-o"), d.path().join("y").as_os_str()]);
    assert_eq!(
        err.trim_end(),
        format!("error: {}:1:1: cannot read file: No such file or directory (os error 2)", v.display())
    );
    // Through the RTL path (RtlError wraps the netlist error).
    let err = fails(&[os("rtl"), os("cosim"), os("--multiplier"), v.as_os_str(), os("--array"), os("2x2")]);
    once(&err, "No such file or directory");
    once(&err, "x.v");
}

#[test]
fn bad_model_folder_said_once() {
    let d = tempfile::tempdir().unwrap();
    let m = d.path().join("nomodel");
    let err = fails(&[os("eval"), os("--model"), m.as_os_str()]);
    assert_eq!(
        err.trim_end(),
        format!("error: {}: No such file or directory (os error 2)", m.join("model.json").display())
    );
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(m.join("model.json"), "{ nope").unwrap();
    let err = fails(&[os("infer"), os("--model"), m.as_os_str(), os("--multiplier"), os("exact")]);
    once(&err, "bad model description");
    once(&err, "model.json");
}

#[test]
fn bad_dataset_dir_said_once() {
    let d = tempfile::tempdir().unwrap();
    let m = d.path().join("m");
    good_model(&m);
    // No dataset at all under --data.
    let data = d.path().join("data");
    let err = fails(&[os("eval"), os("--model"), m.as_os_str(), os("--data"), data.as_os_str()]);
    once(&err, "not found under");
    once(&err, &data.display().to_string());
    // A dataset file that is not gzip although it says so.
    std::fs::create_dir_all(data.join("mnist")).unwrap();
    for f in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        std::fs::write(data.join("mnist").join(f), [0x1f, 0x8b, 0, 1, 2, 3]).unwrap();
    }
    let err = fails(&[os("eval"), os("--model"), m.as_os_str(), os("--data"), data.as_os_str()]);
    once(&err, "t10k-images-idx3-ubyte.gz");
    // The folder given to `data import` does not exist: an I/O error with its path.
    let err = fails(&[
        os("data"),
        os("import"),
        d.path().join("nowhere").as_os_str(),
        os("--cache"),
        d.path().join("c").as_os_str(),
    ]);
    once(&err, "No such file or directory");
    once(&err, "nowhere");
}

/// `{:#}` of an anyhow error is what `main` prints: the message must not contain its source's
/// text a second time.
fn said_once<E: std::error::Error + Send + Sync + 'static>(e: E, key: &str) {
    let full = format!("{:#}", anyhow::Error::from(e));
    once(&full, key);
}

#[test]
fn library_errors_do_not_repeat_their_source() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("missing.v");
    let nf = "No such file or directory";
    said_once(axdnn::netlist::parse_file(&missing).unwrap_err(), nf);
    said_once(axdnn::mult::resolve::resolve(missing.to_str().unwrap(), false, false, None).err().unwrap(), nf);
    said_once(axdnn::mult::resolve::verilog_files(&d.path().join("nodir")).unwrap_err(), nf);
    said_once(axdnn::model::io::load(&d.path().join("nomodel")).unwrap_err(), nf);
    said_once(axdnn::rtl::cosim::RtlMultiplier::load(&missing).err().unwrap(), nf);
    let meta = axdnn::lut::io::ImportMeta {
        name: "t".into(),
        signed: false,
        row_port: axdnn::RowPort::B,
        row_bits: 8,
        col_bits: 8,
    };
    said_once(axdnn::lut::io::read_bin(&d.path().join("t.bin"), &meta).unwrap_err(), nf);
    said_once(
        axdnn::data::load(axdnn::data::DatasetName::Mnist, axdnn::data::Split::Test, &d.path().join("nodata"))
            .unwrap_err(),
        "not found under",
    );
    let c = d.path().join("nothere.c");
    said_once(axdnn::lut::cmodel::CModel::build(&c, "f", 8, 8, false).err().unwrap(), nf);
}

/// One check per kind of value (`util::values`), the same from a flag and from a plan file:
/// a clock of 0, NaN or −1 GHz, zero images, zero or too many calibration images are refused
/// before any work, naming the flag, or the plan key with file:line:col.
#[test]
fn values_refused_alike_from_flags_and_plans() {
    let m = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lenet5-mnist");
    for clock in ["0", "nan", "-1"] {
        for cmd in ["infer", "attack"] {
            let err = fails(&[os(cmd), os("--model"), m.as_os_str(), os("--clock-ghz"), os(clock)]);
            assert!(err.contains("--clock-ghz") && err.contains("positive number of GHz"), "{cmd} {clock}: {err}");
        }
        let err = fails(&[os("study"), os("run"), os("--models"), m.as_os_str(), os("--clock-ghz"), os(clock)]);
        assert!(err.contains("--clock-ghz") && err.contains("positive number of GHz"), "study {clock}: {err}");
    }
    for cmd in ["infer", "eval"] {
        let err = fails(&[os(cmd), os("--model"), m.as_os_str(), os("--n"), os("0")]);
        assert!(err.contains("--n") && err.contains("at least 1"), "{cmd}: {err}");
    }
    let err = fails(&[os("infer"), os("--model"), m.as_os_str(), os("--calib"), os("0")]);
    assert!(err.contains("--calib") && err.contains("at least 1"), "{err}");

    let d = tempfile::tempdir().unwrap();
    let plan = d.path().join("p.toml");
    let write = |extra: &str| {
        let models = toml::Value::String(m.display().to_string());
        std::fs::write(
            &plan,
            format!("models = [{models}]\nmultipliers = [\"exact\"]\nattacks = [\"clean\"]\n{extra}\n"),
        )
        .unwrap();
    };
    for (extra, key) in [("clock_ghz = 0.0", "clock_ghz"), ("calib = 0", "calib"), ("images = 0", "images")] {
        write(extra);
        let err = fails(&[os("study"), os("run"), plan.as_os_str(), os("--out"), d.path().join("o").as_os_str()]);
        let at = format!("{}:4:", plan.display());
        assert!(err.contains(&at) && err.contains(&format!("key `{key}`")), "{extra}: {err}");
    }
}

/// More calibration images than the training set has is an error naming both counts, never a
/// silent clamp (the count is part of every result's key and report).
#[test]
fn oversized_calibration_is_refused() {
    let Some(data) = common::data() else { return };
    let m = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lenet5-mnist");
    let err = fails(&[
        os("infer"),
        os("--model"),
        m.as_os_str(),
        os("--calib"),
        os("100000000"),
        os("--n"),
        os("10"),
        os("--data"),
        data.as_os_str(),
    ]);
    assert!(err.contains("calib = 100000000") && err.contains("60000"), "{err}");
}

/// The texts of the errors a user meets most, as one golden file: a change of wording is seen
/// and reviewed. Temporary paths are written as `<tmp>`.
#[test]
fn error_texts_equal_the_golden_file() {
    let d = tempfile::tempdir().unwrap();
    let tmp = d.path().to_str().unwrap().to_string();
    let m = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lenet5-mnist");
    let plan = d.path().join("p.toml");
    std::fs::write(&plan, "models = [\"models/lenet5-mnist\"]\nattacks = [\"carlini\"]\n").unwrap();
    let bad_v = d.path().join("bad.v");
    std::fs::write(&bad_v, "module m(A, O);\n  input [7:0] A;\n  output [7:0] O;\n  assign O = A +;\nendmodule\n")
        .unwrap();
    let nothere = d.path().join("nothere");
    let cases: Vec<Vec<&std::ffi::OsStr>> = vec![
        vec![os("study"), os("run"), plan.as_os_str(), os("--out"), d.path().as_os_str()],
        vec![os("infer"), os("--model"), m.as_os_str(), os("--scheme"), os("asym-u9")],
        vec![os("infer"), os("--model"), m.as_os_str(), os("--clock-ghz"), os("-1")],
        vec![os("study"), os("run"), os("--models"), m.as_os_str(), os("--schemes"), os("asym-u9")],
        vec![os("netlist"), os("check"), bad_v.as_os_str()],
        vec![os("eval"), os("--model"), nothere.as_os_str()],
    ];
    let mut text = String::new();
    for args in cases {
        let shown: Vec<String> = args.iter().map(|a| a.to_string_lossy().replace(&tmp, "<tmp>")).collect();
        let m_shown = m.display().to_string();
        let err = fails(&args).replace(&tmp, "<tmp>").replace(&m_shown, "<model>");
        text += &format!("$ axdnn {}\n{err}\n", shown.join(" ").replace(&m_shown, "<model>"));
    }
    common::golden("errors/cli.txt", &text);
}
