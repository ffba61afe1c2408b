//! Errors users meet: said once, naming file, line and flag; values refused alike everywhere.
//!
//! One test binary per area (each file below is one module), sharing `tests/common`.

#[path = "../common/mod.rs"]
mod common;

mod cli_errors;
mod cli_graph;
mod cli_images;
mod cli_onnx;
mod cli_small_things;
