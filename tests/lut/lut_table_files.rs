//! LUT files as multipliers (`--multiplier FILE.bin|npy|h|csv`): a netlist's table written by
//! `lut gen` in every format runs on the accelerator exactly as the netlist does; signedness is
//! stated, read or inferred, and checked against the entries and the quantization scheme; bad
//! files name themselves and what was found.

use crate::common;

use axdnn::accel::{AccelConfig, Accelerator};
use axdnn::gen::{Kind, Spec};
use axdnn::lut::io::{self, Format, LutIoError};
use axdnn::lut::table_file::{self, SignedBy};
use axdnn::model::Arch;
use axdnn::mult::resolve::{self as load, LoadError, LoadedMultiplier};
use axdnn::quant::{ApproxLayers, QuantModel, QuantOptions, QuantScheme, WeightGranularity};
use axdnn::{Lut, RowPort};
use std::path::{Path, PathBuf};

/// Every `lut gen --format` and the extension it is read back by.
const FORMATS: [(Format, &str); 5] =
    [(Format::Bin, "bin"), (Format::Npy, "npy"), (Format::NpyU2, "u2.npy"), (Format::C, "h"), (Format::Csv, "csv")];

/// `lut gen FILE.v -o OUT --format F` as the command does it (table of port B rows, published power).
fn lut_gen(v: &Path, format: Format, out: &Path) {
    let parsed = axdnn::netlist::parse_file(v).unwrap();
    let signed = axdnn::sim::signed_from_name(&parsed.netlist.name).unwrap_or(false);
    let mut lut = axdnn::lut::exhaustive_lut(&parsed.netlist, RowPort::B, signed).unwrap();
    lut.power_mw = parsed.published.pdk45_pwr_mw.as_ref().map(|f| f.value);
    io::export(&lut, format, out).unwrap();
}

/// A generated multiplier written as Verilog, as `axdnn gen` does.
fn gen_verilog(spec: &Spec, dir: &Path) -> PathBuf {
    let p = dir.join(format!("{}.v", spec.name()));
    std::fs::write(&p, axdnn::gen::to_verilog(&spec.netlist(), &axdnn::gen::header(spec))).unwrap();
    p
}

fn qmodel(arch: &Arch, scheme: QuantScheme) -> QuantModel {
    let params = common::random_params(arch, 21);
    let calib = common::random_images(arch, 8, 22);
    let opts = QuantOptions { scheme, weights: WeightGranularity::PerTensor, approx: ApproxLayers::All };
    QuantModel::build(arch, &params, &calib, opts).unwrap()
}

fn run(qm: &QuantModel, m: &LoadedMultiplier, imgs: &[f32]) -> (Vec<i32>, Vec<f32>) {
    let r = Accelerator::new(qm, m.mult.as_ref(), AccelConfig::default()).unwrap().run(imgs).unwrap();
    (r.acc, r.logits)
}

/// The netlists of the round trip: generated ones always, EvoApprox ones with the library.
fn netlists(dir: &Path) -> Vec<(PathBuf, QuantScheme)> {
    let mut v = vec![
        (gen_verilog(&Spec { n: 8, m: 8, kind: Kind::Bam { hbl: 1, vbl: 6 } }, dir), QuantScheme::SignMagnitude),
        (gen_verilog(&Spec { n: 8, m: 8, kind: Kind::SignedExact }, dir), QuantScheme::SymS8),
    ];
    if let Some(root) = common::evoapprox() {
        for (name, scheme) in [("mul8u_L40", QuantScheme::AsymU8), ("mul8s_1L2H", QuantScheme::SymS8)] {
            v.push((load::find_in_tree(&root, name).unwrap(), scheme));
        }
    }
    v
}

#[test]
fn table_files_run_like_their_netlist() {
    let d = tempfile::tempdir().unwrap();
    let arch = Arch::lenet5(axdnn::model::Shape::new(1, 28, 28), 10);
    let imgs = common::random_images(&arch, 3, 23);
    for (v, scheme) in netlists(d.path()) {
        let signed = scheme.signed_multiplier();
        let qm = qmodel(&arch, scheme);
        let net = load::resolve(v.to_str().unwrap(), signed, false, None).unwrap();
        let want = run(&qm, &net, &imgs);
        // The multiplier matters here, else equality would prove nothing.
        let exact = load::resolve("exact", signed, false, None).unwrap();
        let stem = v.file_stem().unwrap().to_str().unwrap().to_string();
        if !stem.contains("exact") {
            assert_ne!(run(&qm, &exact, &imgs).0, want.0, "{stem}: approximate = exact?");
        }
        for (fmt, ext) in FORMATS {
            let f = d.path().join(format!("{stem}.{ext}"));
            lut_gen(&v, fmt, &f);
            let t = load::resolve(f.to_str().unwrap(), signed, false, None).unwrap();
            let (tl, nl) = (t.lut.as_ref().unwrap(), net.lut.as_ref().unwrap());
            assert_eq!(
                (tl.row_bits, tl.col_bits, tl.signed, tl.row_port),
                (nl.row_bits, nl.col_bits, nl.signed, nl.row_port),
                "{stem}.{ext}"
            );
            assert!(tl.table == nl.table, "{stem}.{ext}: table");
            assert_eq!(run(&qm, &t, &imgs), want, "{stem}.{ext}: accumulators and logits");
            // Only axdnn's C header carries the power; .bin/.npy/.csv lose it (energy unknown).
            assert_eq!(t.power_mw, if ext == "h" { net.power_mw } else { None }, "{stem}.{ext}: power");
            // The same file under a neutral name: signedness inferred from the entries alone.
            let anon = d.path().join(format!("table.{ext}"));
            std::fs::copy(&f, &anon).unwrap();
            if ext != "h" {
                let t = table_file::open(&anon, None).unwrap();
                assert_eq!(t.lut.signed, signed, "{stem}.{ext}: inferred {}", t.signed_by);
                assert!(
                    !matches!(t.signed_by, SignedBy::Name | SignedBy::Header | SignedBy::Stated),
                    "{:?}",
                    t.signed_by
                );
            }
        }
    }
}

/// Signedness inferred from the entries agrees with the name for every 8x8 circuit of the newer
/// library (`mul8u_*`, `mul8s_*`) and every 10th of the 2017 one (all unsigned), from the 16-bit
/// patterns of `.bin` and from the products of `.npy` alike.
#[test]
fn inferred_signedness_matches_the_library() {
    let Some(root) = common::evoapprox() else { return };
    let mut newer = Vec::new();
    common::verilog_files(&root.join("evoapproxlib"), &mut newer);
    newer.retain(|p| {
        let n = p.file_name().unwrap().to_str().unwrap();
        (n.starts_with("mul8u_") || n.starts_with("mul8s_")) && !n.contains("pdk45")
    });
    newer.sort_by_key(|p| p.file_name().unwrap().to_owned());
    newer.dedup_by_key(|p| p.file_name().unwrap().to_owned());
    let mut old = Vec::new();
    common::verilog_files(&root.join("evoapprox8b/source_v"), &mut old);
    old.retain(|p| !p.to_str().unwrap().contains("pdk45"));
    let mut cases: Vec<(PathBuf, bool)> = newer
        .into_iter()
        .map(|p| {
            let s = p.file_name().unwrap().to_str().unwrap().starts_with("mul8s_");
            (p, s)
        })
        .collect();
    let signed = cases.iter().filter(|c| c.1).count();
    assert!(cases.len() >= 49 && signed >= 13, "{} 8x8 circuits, {signed} signed", cases.len());
    cases.extend(old.into_iter().step_by(10).map(|p| (p, false)));
    let d = tempfile::tempdir().unwrap();
    for (v, signed) in &cases {
        let name = v.file_stem().unwrap().to_str().unwrap();
        for (fmt, ext) in [(Format::Bin, "bin"), (Format::Npy, "npy")] {
            let f = d.path().join(format!("t.{ext}"));
            lut_gen(v, fmt, &f);
            let t = table_file::open(&f, None).unwrap_or_else(|e| panic!("{name}.{ext}: {e}"));
            assert_eq!(t.lut.signed, *signed, "{name}.{ext}: {}", t.signed_by);
        }
    }
    eprintln!("{} circuits: signedness inferred as named", cases.len());
}

/// The exact table plus seeded noise, kept inside the products' range (unsigned: >= 0).
fn noisy(signed: bool, seed: u64) -> Lut {
    let mut l = common::random_lut(signed, seed);
    if !signed {
        l.table.iter_mut().for_each(|v| *v = (*v).max(0));
    }
    l
}

fn exported(dir: &Path, lut: &Lut, fmt: Format, file: &str) -> PathBuf {
    let p = dir.join(file);
    io::export(lut, fmt, &p).unwrap();
    p
}

#[test]
fn signedness_is_checked_against_the_scheme_and_the_entries() {
    let d = tempfile::tempdir().unwrap();
    let u = noisy(false, 4);
    let s = noisy(true, 5);
    // An unsigned table under a signed scheme: the error names the file and how it was decided.
    let f = exported(d.path(), &u, Format::Bin, "mul8u_X.bin");
    let e = load::resolve(f.to_str().unwrap(), true, false, None).err().unwrap();
    assert!(matches!(e, LoadError::TableSignedness { signed: false, by: SignedBy::Name, .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "{}: an unsigned table (from its file name); the quantization scheme needs a signed multiplier",
            f.display()
        )
    );
    // The header states it.
    let f = exported(d.path(), &s, Format::C, "any.h");
    let e = load::resolve(f.to_str().unwrap(), false, false, None).err().unwrap();
    assert!(matches!(e, LoadError::TableSignedness { signed: true, by: SignedBy::Header, .. }), "{e:?}");
    // Inferred from a negative entry of an .npy.
    let f = exported(d.path(), &s, Format::Npy, "anon.npy");
    let e = load::resolve(f.to_str().unwrap(), false, false, None).err().unwrap();
    assert!(matches!(e, LoadError::TableSignedness { by: SignedBy::NegativeEntry { .. }, .. }), "{e:?}");
    // Stated: FILE:signed works where the entries agree ...
    let f = exported(d.path(), &s, Format::Bin, "anon.bin");
    let m = load::resolve(&format!("{}:signed", f.display()), true, false, None).unwrap();
    assert_eq!(m.lut.as_ref().unwrap().table, s.table);
    // ... and is refused where they do not.
    let e = load::resolve(&format!("{}:unsigned", f.display()), false, false, None).err().unwrap();
    assert!(matches!(e, LoadError::Table(LutIoError::Signedness { .. })), "{e:?}");
    assert!(e.to_string().contains("far nearer the exact signed product"), "{e}");
    // A name that lies about an .npy with negative entries.
    let f = exported(d.path(), &s, Format::Npy, "mul8u_lie.npy");
    let e = table_file::open(&f, None).unwrap_err();
    assert!(e.to_string().contains("unsigned (from its file name), but entry (row "), "{e}");
    // Signed by name, but no negative product.
    let f = exported(d.path(), &u, Format::Npy, "mul8s_lie.npy");
    let e = table_file::open(&f, None).unwrap_err();
    assert!(
        e.to_string().ends_with(
            "signed (from its file name), but no entry is negative: a signed multiplier's are (e.g. -1 x 1)"
        ),
        "{e}"
    );
    // Patterns that are near neither exact product cannot be decided without a statement.
    let mut noise = Lut::exact(8, 8, false);
    let mut r = common::rng(9);
    for v in &mut noise.table {
        *v = rand::Rng::gen_range(&mut r, 0..65536);
    }
    let f = exported(d.path(), &noise, Format::Bin, "noise.bin");
    let e = table_file::open(&f, None).unwrap_err();
    assert!(e.to_string().contains("cannot tell whether the table is signed"), "{e}");
    assert!(table_file::open(&f, Some(false)).is_ok());
}

#[test]
fn bad_table_files_name_the_file_and_what_was_found() {
    let d = tempfile::tempdir().unwrap();
    let path = |f: &str| d.path().join(f);
    let resolve = |p: &Path| load::resolve(p.to_str().unwrap(), false, false, None).err().unwrap().to_string();
    std::fs::write(path("short.bin"), [0u8; 1000]).unwrap();
    assert_eq!(
        resolve(&path("short.bin")),
        format!("{}: 1000 bytes, expected 131072 bytes (2^8 x 2^8 u16 little-endian)", path("short.bin").display())
    );
    // A 16x16 table is read, then refused by the accelerator.
    let small = exported(d.path(), &Lut::exact(4, 4, false), Format::Npy, "small.npy");
    assert_eq!(
        resolve(&small),
        format!("{}: a 16x16 table; the accelerator multiplies 8-bit operands (256x256)", small.display())
    );
    // A float array.
    let mut f4 = io::to_npy(&Lut::exact(8, 8, false), false).unwrap();
    let at = f4.windows(3).position(|w| w == b"<i4").unwrap();
    f4[at..at + 3].copy_from_slice(b"<f4");
    std::fs::write(path("float.npy"), &f4).unwrap();
    assert_eq!(
        resolve(&path("float.npy")),
        format!("{}: element type \"<f4\" is not supported (want <i2, <i4, <i8 or <u2)", path("float.npy").display())
    );
    // A 1-D array.
    let mut flat = io::to_npy(&Lut::exact(8, 8, false), false).unwrap();
    let at = flat.windows(10).position(|w| w == b"(256, 256)").unwrap();
    flat[at..at + 10].copy_from_slice(b"(65536,)  ");
    std::fs::write(path("flat.npy"), &flat).unwrap();
    assert_eq!(
        resolve(&path("flat.npy")),
        format!("{}: shape (65536,), expected a 2-D array of shape (2^R, 2^C)", path("flat.npy").display())
    );
    // --bit-level needs a netlist.
    let ok = exported(d.path(), &Lut::exact(8, 8, false), Format::Bin, "ok.bin");
    let e = load::resolve(ok.to_str().unwrap(), false, true, None).err().unwrap();
    assert!(matches!(e, LoadError::TableBitLevel { .. }), "{e:?}");
}

#[test]
fn c_headers_adapt_style_and_their_errors() {
    let d = tempfile::tempdir().unwrap();
    // AdaPT's own layout: `const int16_t lut [256][256] = {{..}, ..};` without axdnn's comment.
    let s = Lut::exact(8, 8, true);
    let mut h = String::from("#include <stdint.h>\n\n// approximate multiplier\nconst int16_t lut [256][256] = {\n");
    for r in 0..256 {
        let row: Vec<String> = (0..256).map(|c| s.table[r * 256 + c].to_string()).collect();
        h.push_str(&format!("{{ {}}}{}\n", row.join(", "), if r < 255 { ", " } else { "};" }));
    }
    let p = d.path().join("adapt.h");
    std::fs::write(&p, &h).unwrap();
    let t = table_file::open(&p, None).unwrap();
    assert_eq!(
        (t.lut.table == s.table, t.lut.signed, &t.signed_by),
        (true, true, &SignedBy::NegativeEntry { index: 256 + 128, value: -128 })
    );
    // A row one entry short: the error points at its closing brace.
    let bad = h.replacen("{ 0, 0,", "{ 0,", 1);
    std::fs::write(&p, &bad).unwrap();
    let e = table_file::open(&p, None).unwrap_err();
    let LutIoError::Syntax { span, msg } = &e else { panic!("{e:?}") };
    assert_eq!((span.line, msg.as_str()), (5, "row 0 of lut has 255 entries, expected 256"), "{e}");
    assert!(e.to_string().starts_with(&format!("{}:5:", p.display())), "{e}");
    // A float table.
    std::fs::write(&p, h.replace("const int16_t lut", "const float lut")).unwrap();
    let e = table_file::open(&p, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}:4:7: array lut has element type 'float'; an integer type is needed", p.display())
    );
    // A token that is not a number.
    std::fs::write(&p, h.replacen("{ 0, 0,", "{ 0, x,", 1)).unwrap();
    let e = table_file::open(&p, None).unwrap_err();
    assert!(e.to_string().starts_with(&format!("{}:5:6: unexpected", p.display())), "{e}");
    // Hex and suffixes are C too; the axdnn comment's power comes back.
    let mut l = Lut::exact(8, 8, false);
    l.power_mw = Some(0.189);
    l.name = "mul8u_T".into();
    let f = exported(d.path(), &l, Format::C, "t.h");
    let text = std::fs::read_to_string(&f).unwrap().replacen("{0,0,", "{0x0,0u,", 1);
    std::fs::write(&f, text).unwrap();
    let t = table_file::open(&f, None).unwrap();
    assert_eq!(
        (t.lut.table == l.table, t.lut.power_mw, t.lut.name.as_str(), &t.signed_by),
        (true, Some(0.189), "mul8u_T", &SignedBy::Header)
    );
}

/// The command line: `axdnn gen` → `axdnn lut gen --format F` → `axdnn infer --multiplier FILE`
/// gives the same logits (digest) and accuracy as the netlist; energy is unknown from a `.bin`.
#[test]
fn cli_infer_with_table_files() {
    let Some(data) = common::data() else { return };
    let exe = env!("CARGO_BIN_EXE_axdnn");
    let d = tempfile::tempdir().unwrap();
    let ok = |c: &mut std::process::Command| {
        let o = c.output().unwrap();
        assert!(o.status.success(), "{c:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    ok(std::process::Command::new(exe).args(["gen", "bam:8x8:1:6", "-o"]).arg(d.path()));
    let v = d.path().join("mul8u_gen_bam_h1v6.v");
    let infer = |m: &Path| -> serde_json::Value {
        let out = ok(std::process::Command::new(exe)
            .args([
                "infer",
                "--model",
                "models/lenet5-mnist",
                "--n",
                "30",
                "--calib",
                "32",
                "--scheme",
                "sign-magnitude",
                "--json",
            ])
            .arg("--data")
            .arg(&data)
            .arg("--multiplier")
            .arg(m));
        serde_json::from_str(&out).unwrap()
    };
    let want = infer(&v);
    for (fmt, ext) in [("bin", "bin"), ("npy", "npy"), ("c", "h")] {
        let f = d.path().join(format!("mul8u_gen_bam_h1v6.{ext}"));
        ok(std::process::Command::new(exe).args(["lut", "gen"]).arg(&v).arg("-o").arg(&f).args(["--format", fmt]));
        let got = infer(&f);
        for k in ["logits_sha256", "accuracy", "cycles_per_image", "multiplier"] {
            assert_eq!(got[k], want[k], "{ext}: {k}");
        }
    }
    // A signed scheme refuses the unsigned table, naming the file.
    let f = d.path().join("mul8u_gen_bam_h1v6.bin");
    let o = std::process::Command::new(exe)
        .args(["infer", "--model", "models/lenet5-mnist", "--n", "5", "--scheme", "sym-s8", "--data"])
        .arg(&data)
        .arg("--multiplier")
        .arg(&f)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).lines().last().unwrap(),
        format!(
            "error: {}: an unsigned table (from its file name); the quantization scheme needs a signed multiplier",
            f.display()
        )
    );
}
