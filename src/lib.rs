//! # axdnn — approximate DNN accelerators, simulated from the gates up
//!
//! Pipeline (data flows down, never up):
//!
//! ```text
//! netlist (Verilog → gate IR) → sim (bit-parallel) → lut (tables, metrics, verify)
//! data (MNIST, CIFAR-10) → model (arch, float training, gradients) → quant (int8 params)
//!                     ↘                                              ↙
//!                       accel (systolic array; multiplies through `mult::Multiplier`)
//!                                           ↓
//!                       attack (Foolbox-3 attacks) → study (plans, runner, store, report)
//! ```

pub mod accel;
pub mod attack;
pub mod data;
pub mod error;
pub mod gen;
pub mod lut;
pub mod model;
pub mod mult;
pub mod netlist;
pub mod plot;
pub mod quant;
pub mod rtl;
pub mod sim;
pub mod study;

pub use error::Span;
pub use lut::Lut;
pub use mult::{Exact, Multiplier, RowPort};
