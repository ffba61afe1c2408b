//! Fuzz target: ONNX files (see `../checks.rs`):
//!   cargo +nightly fuzz run --fuzz-dir tests/fuzz onnx tests/fuzz/corpus/onnx tests/fuzz/seeds/onnx
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::onnx(data));
