//! Fuzz target: plan files and `plan.lock.toml` files (see `../checks.rs`). Run from the
//! repository root, so the seeds' model folders are found:
//!   cargo +nightly fuzz run --fuzz-dir tests/fuzz plan tests/fuzz/corpus/plan tests/fuzz/seeds/plan
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::plan(data));
