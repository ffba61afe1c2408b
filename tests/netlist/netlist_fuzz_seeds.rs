//! Stable-toolchain companion of the cargo-fuzz target in `tests/fuzz`: the front end must return
//! a netlist or a typed error, never panic, on mutated inputs — every truncation of the fixtures,
//! seeded random byte flips, insertions and token splices — and on any saved fuzz corpus.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use axdnn::netlist;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn no_panic(bytes: &[u8], what: &str) {
    let src = String::from_utf8_lossy(bytes);
    let r = catch_unwind(AssertUnwindSafe(|| {
        if let Ok(p) = netlist::parse_str(&src, Path::new("seed.v")) {
            // What comes out must be a well-formed, topologically ordered netlist.
            for (i, n) in p.netlist.nodes.iter().enumerate() {
                assert!(n.fanin[..n.op.arity()].iter().all(|&f| (f as usize) < i));
            }
            let _ = netlist::graph::optimize(&p.netlist);
        }
    }));
    assert!(r.is_ok(), "panic on {what}: {src:?}");
}

fn fixtures() -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("netlists");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "v"))
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_truncation_of_every_fixture() {
    for (path, bytes) in fixtures() {
        for cut in 0..=bytes.len() {
            no_panic(&bytes[..cut], &format!("{} cut at {cut}", path.display()));
        }
    }
}

#[test]
fn seeded_random_mutations() {
    const TOKENS: &[&str] = &[
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ";",
        ",",
        ".",
        "=",
        ":",
        "~",
        "!",
        "&",
        "|",
        "^",
        "+",
        "*",
        "-",
        "/",
        "1'b0",
        "1'b1",
        "8'hff",
        "0",
        "99999999999",
        "'",
        "$signed",
        "module",
        "endmodule",
        "input",
        "output",
        "wire",
        "assign",
        "localparam",
        "A",
        "B",
        "O",
        "N",
        "FAX1",
        "HAX1",
        "PDKGENAND2X1",
        "/*",
        "*/",
        "//",
        "\n",
        "`timescale",
        "[2147483647:0]",
        "{1000000{1'b1}}",
        "\u{e9}",
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
    let seeds = fixtures();
    for round in 0..4000 {
        let (_, base) = &seeds[rng.gen_range(0..seeds.len())];
        let mut b = base.clone();
        for _ in 0..rng.gen_range(1..6) {
            let at = rng.gen_range(0..=b.len());
            match rng.gen_range(0..4) {
                0 if at < b.len() => b[at] ^= 1 << rng.gen_range(0..8),
                1 if at < b.len() => {
                    b.remove(at);
                }
                2 => b.insert(at, rng.gen()),
                _ => {
                    let t = TOKENS[rng.gen_range(0..TOKENS.len())];
                    b.splice(at..at, t.bytes());
                }
            }
        }
        no_panic(&b, &format!("round {round}"));
    }
}

#[test]
fn hostile_shapes() {
    let cases: Vec<String> = vec![
        "(".repeat(50_000),
        format!("module m(A,O); input A; output O; assign O = {}A; endmodule", "~".repeat(50_000)),
        format!("module m(A,O); input A; output O; assign O = A{}; endmodule", " & A".repeat(50_000)),
        "module m(A,O); input [1048576:0] A; output O; assign O = A[0]; endmodule".into(),
        "module m(A,O); input A; output O; assign O = {1048577{A}}; endmodule".into(),
        "module m(A,O); input [9223372036854775807:0] A; output O; endmodule".into(),
        "module m(A,O); input [-9223372036854775807-1:0] A; output O; endmodule".into(),
        "module m(A,O); localparam X = 1/0; input A; output O; endmodule".into(),
        "module a(A,O); input A; output O; b u(.A(A),.O(O)); endmodule module b(A,O); input A; output O; a u(.A(A),.O(O)); endmodule".into(),
        "/* never closed".into(),
        "\u{0}\u{ffff}module".into(),
    ];
    for c in &cases {
        no_panic(c.as_bytes(), &c[..c.len().min(60)]);
    }
}

/// Replays whatever cargo-fuzz has saved locally (corpus and crash artifacts), if present.
#[test]
fn replay_fuzz_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
    let mut n = 0;
    for dir in ["corpus/parse", "artifacts/parse"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        for e in entries {
            let p = e.unwrap().path();
            no_panic(&std::fs::read(&p).unwrap(), &p.display().to_string());
            n += 1;
        }
    }
    eprintln!("replayed {n} fuzz inputs");
}
