//! Verilog models of the library cells a multiplier netlist instantiates without defining them:
//! the PDK45 cells of `*_pdk45.v` files, and the mangled `PDKGEN…` names of the 2017 generic
//! files (e.g. `NPDKGEPDKGENNAND2X1`), which the netlist parser maps through
//! [`crate::netlist::cells::demangle`] but which no Verilog file defines. Each mangled name gets a
//! wrapper module around the cell it demangles to, so the simulator runs the same function the
//! parser gave the instance.

use crate::netlist::ast::Item;
use crate::netlist::cells;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// Our models of the 15 PDK45 cells (functional, zero delay).
pub const CELLS_PDK45: &str = include_str!("../../verilog/cells_pdk45.v");

/// Module types instantiated in `src` that no module of `src` defines, sorted. Empty when `src`
/// does not parse (the caller has parsed it already).
pub fn undefined_types(src: &str) -> Vec<String> {
    let Ok(st) = crate::netlist::parse::parse_source(src) else { return Vec::new() };
    let defined: BTreeSet<&str> = st.modules.iter().map(|m| m.name.name).collect();
    let used: BTreeSet<&str> = st
        .modules
        .iter()
        .flat_map(|m| &m.items)
        .filter_map(|i| if let Item::Instance(inst) = i { Some(inst.module.name) } else { None })
        .collect();
    used.difference(&defined).map(|s| s.to_string()).collect()
}

/// A wrapper `module MANGLED (pins); CELL c (.pin(pin), ..); endmodule` for a mangled cell name.
fn wrapper(mangled: &str, cell: &cells::Cell) -> String {
    let pins: Vec<String> = cell
        .inputs
        .iter()
        .map(|p| format!("input {p}"))
        .chain(cell.outputs.iter().map(|o| format!("output {}", o.pin)))
        .collect();
    let conns: Vec<String> = cell.pins().iter().map(|p| format!(".{p}({p})")).collect();
    format!("module {mangled} ({}); {} c ({}); endmodule\n", pins.join(", "), cell.name, conns.join(", "))
}

/// The cell models to compile next to the netlist `src`: our PDK45 models plus a wrapper for
/// every mangled name it instantiates; `None` when it instantiates no library cell.
pub fn models_for(src: &str) -> Option<String> {
    let mut text = String::new();
    let mut any = false;
    for t in undefined_types(src) {
        let Some(cell) = cells::lookup(&t) else { continue };
        any = true;
        if t != cell.name {
            if text.is_empty() {
                text.push_str("// Mangled 2017 EvoApprox cell names, each the cell it demangles to.\n");
            }
            let _ = write!(text, "{}", wrapper(&t, cell));
        }
    }
    any.then(|| format!("{CELLS_PDK45}{text}"))
}
