//! Fuzz target: the results-store reader (see `../checks.rs`):
//!   cargo +nightly fuzz run --fuzz-dir tests/fuzz store tests/fuzz/corpus/store tests/fuzz/seeds/store
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::store(data));
