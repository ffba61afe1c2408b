//! Fuzz target: Liberty files (see `../checks.rs`):
//!   cargo +nightly fuzz run --fuzz-dir tests/fuzz liberty tests/fuzz/corpus/liberty tests/fuzz/seeds/liberty
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::liberty(data));
