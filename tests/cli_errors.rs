//! Every error is said once: `main` prints the whole chain (`{e:#}`), so no error type may show
//! its source in its message and also expose it as `source()`. Checked on the binary's stderr for
//! a missing Verilog file, a bad model folder and a bad dataset folder, and on the library's
//! error types directly.

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
    let meta = axdnn::model::io::ModelMeta {
        dataset: axdnn::data::DatasetName::Mnist,
        dataset_files: vec![],
        epochs: 0,
        seed: 0,
        optimizer: "none".into(),
        test_accuracy: 0.0,
        test_n: 0,
        batchnorm_folded: false,
        train_seconds: 0.0,
        command: "test".into(),
        sha256: String::new(),
        finetune: None,
    };
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
