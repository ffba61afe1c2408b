//! Models and data: datasets, the float engine, training, gradients, model files, normalization.
//!
//! One test binary per area (each file below is one module), sharing `tests/common`.

#[path = "../common/mod.rs"]
mod common;

mod nn_cli;
mod nn_confident_gradient;
mod nn_data;
mod nn_engine;
mod nn_graph;
mod nn_onnx;
mod nn_onnx_conformance;
mod nn_onnx_node;
mod nn_onnx_qdq;
mod nn_model_io;
mod nn_train;
mod normalization;
