//! # axdnn — approximate DNN accelerators, simulated from the gates up
//!
//! The library is a stack of layers, listed here bottom-up; a module names only modules listed
//! above it in this list (`tests/layering.rs` reads this list and every import, and fails on an
//! upward or cyclic one):
//!
//! ```text
//! util      spans for errors, atomic writes, the cache folder, hashes, input folders, value checks
//! netlist   EvoApprox Verilog → gate IR (nom parser, checks, petgraph passes)
//! liberty   Liberty cell libraries: units, areas, pin capacitances, power and timing tables
//! gen       our own multipliers as netlists (exact, truncated, broken-array)
//! sim       bit-parallel simulation; how circuit bits are read as operands
//! lut       complete product tables: metrics, file formats, verification
//! mult      the Multiplier trait and every way to name one (resolve)
//! energy    per-gate energy from Liberty data and the toggles of an operand stream
//! data      MNIST, CIFAR-10, image folders; shapes and normalization
//! model     architectures, float engine, training, input gradients
//! quant     8-bit integer-only quantization
//! accel     the systolic array: timing, cycle-stepped and fast engines, energy
//! rtl       Verilog for PEs and arrays, co-simulation against `accel`
//! recover   accuracy recovery: compensation, ALWANN tuning, fine-tuning
//! attack    Foolbox-3 attacks and AutoAttack (APGD, FAB-T, Square) on float models and the accelerator
//! plot      line, scatter, heatmap, small-multiples and recovery charts (SVG, PNG)
//! study     plans, runner, results store, reports, shards, Slurm
//! ```
//!
//! The `axdnn` binary (`src/main.rs`, `src/cli*`) sits on top: it parses and prints.

pub mod util;
pub mod netlist;
pub mod liberty;
pub mod gen;
pub mod sim;
pub mod lut;
pub mod mult;
pub mod energy;
pub mod data;
pub mod model;
pub mod quant;
pub mod accel;
pub mod rtl;
pub mod recover;
pub mod attack;
pub mod plot;
pub mod study;

pub use lut::Lut;
pub use mult::{Exact, Multiplier, RowPort};
pub use util::Span;
