//! Netlists: the parser on every EvoApprox form and our fixtures, checks, the petgraph passes, evaluation, the multiplier port check, our generated multipliers against closed form.
//!
//! One test binary per area (each file below is one module), sharing `tests/common`.

#[path = "../common/mod.rs"]
mod common;

mod netlist_cells;
mod netlist_cli;
mod netlist_eval;
mod netlist_fixtures;
mod netlist_fuzz_seeds;
mod netlist_graph;
mod netlist_library;
mod netlist_multiplier_ports;
mod gen_closed_form;
