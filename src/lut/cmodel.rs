//! EvoApprox C models as an independent reference: compile the model with the system C compiler
//! (`cc -O2`) together with a generated driver, run it over every operand pair (or given pairs)
//! and read the products back.
//!
//! Arguments are bound BY NAME, never by position: the parameter called `A`/`a` receives the
//! Verilog port A operand and `B`/`b` port B (the newer library's 8×8 models take `(B, A)`).
//! Signed operands are passed as their two's-complement value converted to the parameter type;
//! results are reduced to the low N+M bits and sign-extended for signed circuits (the 12×12
//! signed models return the bare 24-bit pattern). Executables are cached by the sha256 of the
//! model source and the driver, so each model compiles once.

use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use thiserror::Error;

/// Why an EvoApprox C model could not be compiled or run.
#[derive(Debug, Error)]
pub enum CModelError {
    /// The model source has no definition of the function.
    #[error("{path}: no definition of function {func} found")]
    NoFunction {
        /// The C source.
        path: PathBuf,
        /// The function looked for.
        func: String,
    },
    /// The function's parameters are not one `A`/`a` and one `B`/`b`.
    #[error("{path}:{line}: function {func}: {msg}")]
    Signature {
        /// The C source.
        path: PathBuf,
        /// Line of the definition, 1-based.
        line: usize,
        /// The function.
        func: String,
        /// What is wrong with its parameters.
        msg: String,
    },
    /// The C compiler refused the model and driver.
    #[error("{path}: C compiler failed: {stderr}")]
    Compile {
        /// The C source.
        path: PathBuf,
        /// The compiler's error output.
        stderr: String,
    },
    /// The compiled driver failed or printed something unexpected.
    #[error("{path}: driver failed: {msg}")]
    Run {
        /// The C source.
        path: PathBuf,
        /// What went wrong.
        msg: String,
    },
    /// A file could not be read or written, or a program not started.
    #[error("{path}: {cause}")]
    Io {
        /// The file or program.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
}

/// Which Verilog operand a C parameter carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// The Verilog `A` operand.
    A,
    /// The Verilog `B` operand.
    B,
}

/// One parameter of the model function, bound to an operand by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Its C type as written (e.g. `uint8_t`), without `const`.
    pub ty: String,
    /// Its name (`A`, `a`, `B` or `b`).
    pub name: String,
    /// The Verilog operand it receives.
    pub operand: Operand,
}

/// The model function's definition as found in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The return type as written, without `static`, `inline` or `extern`.
    pub ret: String,
    /// The two parameters in declaration order.
    pub params: Vec<Param>,
    /// 1-based line of the definition.
    pub line: usize,
}

fn strip_block_comments(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("/*") {
        out.push_str(&rest[..i]);
        match rest[i + 2..].find("*/") {
            Some(j) => rest = &rest[i + 2 + j + 2..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// Find the definition of `func` (`<type> func(<params>)`) and bind its parameters by name.
pub fn parse_signature(src: &str, func: &str, path: &Path) -> Result<Signature, CModelError> {
    let mut search = 0;
    while let Some(off) = src[search..].find(func) {
        let at = search + off;
        search = at + func.len();
        let before = &src[..at];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let prefix = before[line_start..].trim();
        let after = src[at + func.len()..].trim_start();
        // A definition: identifier boundary, a type before it on the same line, '(' after it.
        let boundary_ok = !before.ends_with(|c: char| c.is_alphanumeric() || c == '_')
            && !src[at + func.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_');
        if !boundary_ok
            || !after.starts_with('(')
            || prefix.is_empty()
            || prefix.starts_with("//")
            || prefix.contains('=')
            || prefix.contains("return")
        {
            continue;
        }
        let line = before.matches('\n').count() + 1;
        let err = |msg: String| CModelError::Signature { path: path.into(), line, func: func.into(), msg };
        let close = after.find(')').ok_or_else(|| err("unterminated parameter list".into()))?;
        let plist = strip_block_comments(&after[1..close]);
        let ret = prefix
            .split_whitespace()
            .filter(|t| !matches!(*t, "static" | "inline" | "extern"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut params = Vec::new();
        for p in plist.split(',') {
            let toks: Vec<&str> = p.split_whitespace().filter(|t| *t != "const").collect();
            let (name, ty) = toks.split_last().ok_or_else(|| err(format!("empty parameter in ({plist})")))?;
            let operand = match *name {
                "A" | "a" => Operand::A,
                "B" | "b" => Operand::B,
                other => return Err(err(format!("parameter {other:?} is neither A/a nor B/b"))),
            };
            params.push(Param { ty: ty.join(" "), name: name.to_string(), operand });
        }
        if params.len() != 2 || params[0].operand == params[1].operand {
            return Err(err(format!("expected one A and one B parameter, got ({plist})")));
        }
        return Ok(Signature { ret, params, line });
    }
    Err(CModelError::NoFunction { path: path.into(), func: func.into() })
}

/// A compiled model: the executable and what it computes.
#[derive(Debug, Clone)]
pub struct CModel {
    /// The C source file.
    pub source: PathBuf,
    /// The model function called (for EvoApprox models, the circuit's name).
    pub func: String,
    /// The compiled driver executable (in [`cache_dir`]).
    pub exe: PathBuf,
    /// Width of the Verilog `A` operand in bits.
    pub a_bits: u32,
    /// Width of the Verilog `B` operand in bits.
    pub b_bits: u32,
    /// Whether operands and products are two's complement.
    pub signed: bool,
    /// The function's signature, as bound.
    pub signature: Signature,
}

/// Where compiled models are cached: `axdnn-cmodels` in [`crate::util::cache_dir`].
pub fn cache_dir() -> PathBuf {
    crate::util::cache_dir().join("axdnn-cmodels")
}

fn driver(sig: &Signature, func: &str, a_bits: u32, b_bits: u32, signed: bool) -> String {
    let arg = |p: &Param| {
        let v = if p.operand == Operand::A { "va" } else { "vb" };
        format!("({})({v})", p.ty)
    };
    format!(
        r#"/* axdnn C-model driver (generated). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "model.c"
#define ABITS {a_bits}
#define BBITS {b_bits}
#define SIGNED {signed}
static inline int64_t val(uint64_t code, int bits) {{
  code &= (bits >= 64) ? ~0ULL : ((1ULL << bits) - 1);
  if (SIGNED && bits < 64 && ((code >> (bits - 1)) & 1)) return (int64_t)(code | (~0ULL << bits));
  return (int64_t)code;
}}
static inline int64_t call(uint64_t a, uint64_t b) {{
  int64_t va = val(a, ABITS), vb = val(b, BBITS);
  return (int64_t){func}({arg0}, {arg1});
}}
/* usage: all              -> int64 products of every pair, A outer, B inner, on stdout
          pairs            -> reads u32 (a, b) pairs from stdin, writes int64 products
          time REPS        -> runs the exhaustive sweep REPS times, prints seconds per sweep */
int main(int argc, char **argv) {{
  if (argc >= 2 && strcmp(argv[1], "all") == 0) {{
    uint64_t na = 1ULL << ABITS, nb = 1ULL << BBITS;
    int64_t *buf = malloc(sizeof(int64_t) * nb);
    for (uint64_t a = 0; a < na; a++) {{
      for (uint64_t b = 0; b < nb; b++) buf[b] = call(a, b);
      if (fwrite(buf, sizeof(int64_t), nb, stdout) != nb) return 2;
    }}
    return 0;
  }}
  if (argc >= 2 && strcmp(argv[1], "pairs") == 0) {{
    uint32_t p[2];
    while (fread(p, sizeof(uint32_t), 2, stdin) == 2) {{
      int64_t r = call(p[0], p[1]);
      if (fwrite(&r, sizeof r, 1, stdout) != 1) return 2;
    }}
    return 0;
  }}
  if (argc >= 3 && strcmp(argv[1], "time") == 0) {{
    long reps = atol(argv[2]);
    volatile int64_t sink = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long r = 0; r < reps; r++) {{
      int64_t s = 0;
      for (uint64_t a = 0; a < (1ULL << ABITS); a++)
        for (uint64_t b = 0; b < (1ULL << BBITS); b++) s += call(a, b);
      sink += s;
    }}
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%.9f\n", ((t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec)) / reps);
    return 0;
  }}
  fprintf(stderr, "usage: %s all | pairs | time REPS\n", argv[0]);
  return 1;
}}
"#,
        signed = signed as u8,
        arg0 = arg(&sig.params[0]),
        arg1 = arg(&sig.params[1]),
    )
}

impl CModel {
    /// Compile (or reuse from the cache) the model `func` in `source` for an `a_bits`×`b_bits`
    /// circuit.
    pub fn build(source: &Path, func: &str, a_bits: u32, b_bits: u32, signed: bool) -> Result<CModel, CModelError> {
        Self::build_bound(source, func, a_bits, b_bits, signed, |_| false)
    }

    /// Like [`CModel::build`], but `swap(signature)` may declare that this model's `a`/`b`
    /// parameters carry Verilog ports B/A (a documented exception to binding by name).
    pub fn build_bound(
        source: &Path,
        func: &str,
        a_bits: u32,
        b_bits: u32,
        signed: bool,
        mut swap: impl FnMut(&Signature) -> bool,
    ) -> Result<CModel, CModelError> {
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |e| CModelError::Io { path: p, cause: e }
        };
        let src = std::fs::read_to_string(source).map_err(io(source))?;
        let mut signature = parse_signature(&src, func, source)?;
        if swap(&signature) {
            for p in &mut signature.params {
                p.operand = if p.operand == Operand::A { Operand::B } else { Operand::A };
            }
        }
        let drv = driver(&signature, func, a_bits, b_bits, signed);
        let mut h = Sha256::new();
        h.update(src.as_bytes());
        h.update(drv.as_bytes());
        let key: String = h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
        let dir = cache_dir().join(&key);
        let exe = dir.join("driver");
        if !exe.exists() {
            // Build in a private temporary folder, then publish the executable by rename, so a
            // concurrent or killed build never leaves a half-written cache entry.
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let tmp = dir.join(format!(".build-{}-{seq}", std::process::id()));
            std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
            let result = (|| {
                std::fs::write(tmp.join("model.c"), &src).map_err(io(&tmp))?;
                std::fs::write(tmp.join("driver.c"), &drv).map_err(io(&tmp))?;
                let out = Command::new("cc")
                    .args(["-O2", "-w", "-o", "driver", "driver.c"])
                    .current_dir(&tmp)
                    .output()
                    .map_err(io(Path::new("cc")))?;
                if !out.status.success() {
                    return Err(CModelError::Compile {
                        path: source.into(),
                        stderr: String::from_utf8_lossy(&out.stderr).chars().take(1500).collect(),
                    });
                }
                std::fs::rename(tmp.join("driver"), &exe).map_err(io(&exe))
            })();
            let _ = std::fs::remove_dir_all(&tmp);
            result?;
        }
        Ok(CModel { source: source.into(), func: func.into(), exe, a_bits, b_bits, signed, signature })
    }

    /// Reduce a raw C result to the circuit's N+M-bit product.
    fn interpret(&self, raw: i64) -> i64 {
        let bits = self.a_bits + self.b_bits;
        let code = (raw as u64) & super::metrics::out_mask(bits);
        if self.signed && bits < 64 && (code >> (bits - 1)) & 1 == 1 {
            (code | (!0u64 << bits)) as i64
        } else {
            code as i64
        }
    }

    fn run_err(&self, msg: String) -> CModelError {
        CModelError::Run { path: self.source.clone(), msg }
    }

    /// Every product, port A outer, port B inner (`index = a << b_bits | b`).
    pub fn exhaustive(&self) -> Result<Vec<i64>, CModelError> {
        let out = Command::new(&self.exe).arg("all").output().map_err(|e| self.run_err(e.to_string()))?;
        if !out.status.success() {
            return Err(self.run_err(format!("exit {}", out.status)));
        }
        let n = 1usize << (self.a_bits + self.b_bits);
        if out.stdout.len() != 8 * n {
            return Err(self.run_err(format!("{} bytes of output, expected {}", out.stdout.len(), 8 * n)));
        }
        Ok(out.stdout.chunks_exact(8).map(|c| self.interpret(i64::from_le_bytes(c.try_into().unwrap()))).collect())
    }

    /// Products of given (port A, port B) operand codes.
    pub fn pairs(&self, a: &[u32], b: &[u32]) -> Result<Vec<i64>, CModelError> {
        let mut child = Command::new(&self.exe)
            .arg("pairs")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| self.run_err(e.to_string()))?;
        let input: Vec<u8> = a.iter().zip(b).flat_map(|(&x, &y)| [x.to_le_bytes(), y.to_le_bytes()].concat()).collect();
        let mut stdin = child.stdin.take().expect("piped");
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().map_err(|e| self.run_err(e.to_string()))?;
        writer.join().expect("writer thread").map_err(|e| self.run_err(e.to_string()))?;
        if !out.status.success() || out.stdout.len() != 8 * a.len() {
            return Err(self.run_err(format!("exit {}, {} bytes", out.status, out.stdout.len())));
        }
        Ok(out.stdout.chunks_exact(8).map(|c| self.interpret(i64::from_le_bytes(c.try_into().unwrap()))).collect())
    }

    /// Seconds per exhaustive sweep, timed inside the compiled driver over `reps` sweeps.
    pub fn time_sweep(&self, reps: u32) -> Result<f64, CModelError> {
        let out = Command::new(&self.exe)
            .arg("time")
            .arg(reps.to_string())
            .output()
            .map_err(|e| self.run_err(e.to_string()))?;
        String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|_| self.run_err("bad timing output".into()))
    }
}
