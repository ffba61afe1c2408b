//! `--images X.npy` on `eval` and `infer`: any tool's images in, logits out. The first test images
//! given as a file (float32 and uint8) give byte-identical logits to the same images from the
//! dataset; bad files are one error naming the file and what was expected.

use std::process::Command;

fn axdnn() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_axdnn"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn ok(args: &[&str]) -> String {
    let o = axdnn().args(args).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(args: &[&str]) -> String {
    let o = axdnn().args(args).output().unwrap();
    assert!(!o.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn npy_u8(shape: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = axdnn::util::npy::header("|u1", shape);
    out.extend_from_slice(data);
    out
}

#[test]
fn images_from_a_file_give_the_datasets_logits() {
    let Some(root) = crate::common::data() else { return };
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n).to_str().unwrap().to_string();
    let test = axdnn::data::load(axdnn::data::DatasetName::Mnist, axdnn::data::Split::Test, &root).unwrap().head(40);
    let shape = [40, 1, 28, 28];
    std::fs::write(p("x.npy"), axdnn::util::npy::f32_file(&shape, &test.images)).unwrap();
    let codes: Vec<u8> = test.images.iter().map(|&v| (v * 255.0).round() as u8).collect();
    std::fs::write(p("x8.npy"), npy_u8(&[40, 28, 28], &codes)).unwrap();
    let labels: Vec<u8> = test.labels.clone();
    std::fs::write(p("y.npy"), npy_u8(&[40], &labels)).unwrap();
    let data = root.to_str().unwrap();
    let m = "models/lenet5-mnist";
    // eval: float logits.
    ok(&["eval", "--model", m, "--n", "40", "--data", data, "--logits", &p("ref.npy")]);
    let line = ok(&["eval", "--model", m, "--images", &p("x.npy"), "--logits", &p("f.npy")]);
    assert!(line.contains("ran 40 images of") && line.contains("no labels"), "{line}");
    ok(&["eval", "--model", m, "--images", &p("x8.npy"), "--logits", &p("f8.npy")]);
    let read = |f: &str| std::fs::read(p(f)).unwrap();
    assert_eq!(read("f.npy"), read("ref.npy"), "float32 file = dataset");
    assert_eq!(read("f8.npy"), read("ref.npy"), "uint8 file = dataset (pixels are k/255)");
    let j = ok(&["eval", "--model", m, "--images", &p("x.npy"), "--labels", &p("y.npy"), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    let want = ok(&["eval", "--model", m, "--n", "40", "--data", data, "--json"]);
    let w: serde_json::Value = serde_json::from_str(&want).unwrap();
    assert_eq!((v["accuracy"].clone(), v["n"].clone()), (w["accuracy"].clone(), w["n"].clone()));
    // infer: the accelerator's logits (calibrated on the training set as always).
    let h = |extra: &[&str]| {
        let mut a = vec!["infer", "--model", m, "--data", data, "--multiplier", "exact", "--json"];
        a.extend_from_slice(extra);
        let v: serde_json::Value = serde_json::from_str(&ok(&a)).unwrap();
        (v["logits_sha256"].clone(), v["accuracy"].clone(), v["n"].clone())
    };
    let from_set = h(&["--n", "40", "--logits", &p("a.npy")]);
    let from_file = h(&["--images", &p("x8.npy"), "--labels", &p("y.npy"), "--logits", &p("b.npy")]);
    assert_eq!(from_set, from_file);
    assert_eq!(read("a.npy"), read("b.npy"));
    let unlabelled = h(&["--images", &p("x.npy")]);
    assert_eq!((unlabelled.0, unlabelled.1), (from_set.0, serde_json::Value::Null));
    // The logits file is N × classes float32.
    let a = axdnn::util::npy::parse(&read("a.npy")).unwrap();
    assert_eq!((a.descr.as_str(), a.shape.as_slice()), ("<f4", &[40usize, 10][..]));
}

#[test]
fn bad_image_files_are_named() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n).to_str().unwrap().to_string();
    let m = "models/lenet5-mnist";
    std::fs::write(p("wrong.npy"), axdnn::util::npy::f32_file(&[2, 3, 28, 28], &vec![0.5; 2 * 3 * 784])).unwrap();
    let e = err(&["eval", "--model", m, "--images", &p("wrong.npy")]);
    assert!(e.contains("wrong.npy: shape [2, 3, 28, 28], expected N×1×28×28"), "{e}");
    let mut v = vec![0.5f32; 784];
    v[100] = 1.5;
    std::fs::write(p("range.npy"), axdnn::util::npy::f32_file(&[1, 1, 28, 28], &v)).unwrap();
    let e = err(&["eval", "--model", m, "--images", &p("range.npy")]);
    assert!(e.contains("range.npy: image 0, element 100: 1.5 is outside [0, 1]"), "{e}");
    std::fs::write(p("trunc.npy"), &axdnn::util::npy::f32_file(&[1, 1, 28, 28], &[0.0; 784])[..500]).unwrap();
    let e = err(&["eval", "--model", m, "--images", &p("trunc.npy")]);
    assert!(e.contains("trunc.npy: ") && e.contains("data bytes"), "{e}");
    std::fs::write(p("text.npy"), "not numpy").unwrap();
    assert!(err(&["eval", "--model", m, "--images", &p("text.npy")]).contains("text.npy: not a NumPy file"));
    std::fs::write(p("x.npy"), axdnn::util::npy::f32_file(&[2, 1, 28, 28], &vec![0.5; 2 * 784])).unwrap();
    std::fs::write(p("y.npy"), npy_u8(&[3], &[1, 2, 3])).unwrap();
    let e = err(&["eval", "--model", m, "--images", &p("x.npy"), "--labels", &p("y.npy")]);
    assert!(e.contains("y.npy: shape [3], expected (2,)"), "{e}");
    std::fs::write(p("y.npy"), npy_u8(&[2], &[1, 12])).unwrap();
    let e = err(&["eval", "--model", m, "--images", &p("x.npy"), "--labels", &p("y.npy")]);
    assert!(e.contains("y.npy: record 1: label 12 out of range 0..10"), "{e}");
    assert!(err(&["eval", "--model", m, "--labels", &p("y.npy")]).contains("--images"));
}
