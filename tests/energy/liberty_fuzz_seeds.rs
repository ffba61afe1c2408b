//! Stable-toolchain companion of the `liberty` cargo-fuzz target in `tests/fuzz`: the same check
//! (`tests/fuzz/checks.rs`: a library or a typed error with a position, never a panic; printed
//! trees parse back) on every truncation of every seed, seeded random mutations, sampled
//! truncations and mutations of gscl45nm.lib itself, and any saved fuzz corpus.

use crate::common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[path = "../fuzz/checks.rs"]
mod checks;

fn seeds() -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/seeds/liberty");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    assert!(v.len() >= 4, "{}: {} seeds", dir.display(), v.len());
    v
}

fn no_panic(bytes: &[u8], what: &str) {
    let r = catch_unwind(AssertUnwindSafe(|| checks::liberty(bytes)));
    assert!(r.is_ok(), "panic on {what}: {:?}", String::from_utf8_lossy(&bytes[..bytes.len().min(2000)]));
}

const TOKENS: &[&str] = &[
    "(",
    ")",
    "{",
    "}",
    ";",
    ":",
    ",",
    "\"",
    "\\\n",
    "\\",
    "/*",
    "*/",
    "//",
    "\n",
    "values",
    "index_1",
    "index_2",
    "index_3",
    "variable_1",
    "scalar",
    "cell",
    "pin",
    "library",
    "internal_power",
    "rise_power",
    "timing",
    "direction : output;",
    "capacitive_load_unit (1,pf);",
    "time_unit : \"1xs\";",
    "1e999",
    "-0",
    "nan",
    "inf",
    "1,2,3,4,5",
    "\u{e9}",
    "\u{0}",
];

fn mutate(rng: &mut ChaCha8Rng, base: &[u8]) -> Vec<u8> {
    let mut b = base.to_vec();
    for _ in 0..rng.gen_range(1..6) {
        let at = rng.gen_range(0..=b.len());
        match rng.gen_range(0..4) {
            0 if at < b.len() => b[at] ^= 1 << rng.gen_range(0..8),
            1 if at < b.len() => {
                let end = (at + rng.gen_range(1..40)).min(b.len());
                b.drain(at..end);
            }
            2 => b.insert(at, rng.gen()),
            _ => {
                let t = TOKENS[rng.gen_range(0..TOKENS.len())];
                b.splice(at..at, t.bytes());
            }
        }
    }
    b
}

#[test]
fn every_truncation_of_every_seed() {
    for (path, bytes) in seeds() {
        for cut in 0..=bytes.len() {
            no_panic(&bytes[..cut], &format!("{} cut at {cut}", path.display()));
        }
    }
}

#[test]
fn seeded_random_mutations_of_the_seeds() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x11b);
    let seeds = seeds();
    for round in 0..4000 {
        let (_, base) = &seeds[rng.gen_range(0..seeds.len())];
        let b = mutate(&mut rng, base);
        no_panic(&b, &format!("round {round}"));
    }
}

/// The real library: 100 random truncations and 100 random mutations (each a full parse of up
/// to 278 kB).
#[test]
fn truncations_and_mutations_of_gscl45nm() {
    let Some(path) = common::gscl45nm() else { return };
    let bytes = std::fs::read(&path).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(45);
    for _ in 0..100 {
        let cut = rng.gen_range(0..bytes.len());
        no_panic(&bytes[..cut], &format!("gscl45nm cut at {cut}"));
    }
    for round in 0..100 {
        let b = mutate(&mut rng, &bytes);
        no_panic(&b, &format!("gscl45nm mutation {round}"));
    }
}

#[test]
fn seeds_read_or_fail_as_they_should() {
    let read = |name: &str| {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/seeds/liberty").join(name);
        axdnn::liberty::parse_file(&p)
    };
    let mini = read("mini.lib").unwrap();
    // `fall_power` inherits both indices from the template… whose placeholder points are kept.
    let y = mini.cell("AND2X1").unwrap().pin("Y").unwrap();
    assert_eq!(y.internal_power[0].fall_power.as_ref().unwrap().index[0], [1000.0, 1001.0]);
    let seq = read("seq.lib").unwrap();
    assert_eq!((seq.units.time, seq.units.capacitance, seq.units.leakage_power), (1e-12, 1e-15, 1e-12));
    assert_eq!(seq.cells[0].sequential.len(), 1);
    let s = read("scalar.lib").unwrap();
    assert!((s.supply_voltage() - 0.9).abs() < 1e-12);
    let nand = s.cell("NAND2").unwrap();
    assert_eq!(nand.pins.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["A", "B", "Y"]);
    assert_eq!(nand.leakage.len(), 2);
    assert_eq!(nand.pin("Y").unwrap().internal_power[0].power.as_ref().unwrap().at(1.0, 1.0), Some(0.5));
    let e = read("bad.lib").unwrap_err().to_string();
    assert!(e.ends_with("bad.lib:10:26: values: 3 numbers, but the index is 2 = 2"), "{e}");
}

/// Replays whatever cargo-fuzz has saved locally (corpus and crash artifacts), if present.
#[test]
fn replay_fuzz_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
    let mut n = 0;
    for dir in ["corpus/liberty", "artifacts/liberty"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        for e in entries {
            let p = e.unwrap().path();
            no_panic(&std::fs::read(&p).unwrap(), &p.display().to_string());
            n += 1;
        }
    }
    eprintln!("replayed {n} fuzz inputs");
}
