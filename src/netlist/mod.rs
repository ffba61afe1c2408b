//! Netlist front end: EvoApprox Verilog → flat gate-level [`ir::Netlist`].

pub mod ir;

pub use ir::{Netlist, Node, NodeId, Op, Port};
