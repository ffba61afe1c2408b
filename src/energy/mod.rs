//! Energy from what the hardware switches: a per-gate model of a cell-mapped netlist from Liberty
//! data ([`Model`]), charged with the toggles the simulator counts ([`crate::sim::toggles`]).
//!
//! Per library-cell instance of the netlist (a multi-output cell, HAX1 or FAX1, is one instance):
//! - **load** of each output: the input capacitance of every cell pin the net drives (the larger
//!   of the rise and fall sums, as OpenSTA takes it); no wire and no output-port load;
//! - **slews**: primary inputs switch in zero time; a cell output's rise and fall transition
//!   times are the largest its timing arcs give at its load and input slews (input direction
//!   by the arc's unateness), in topological order, and never below zero (the tables' linear
//!   extrapolation to loads below their first point can go negative);
//! - **internal energy** of an output toggle: the `internal_power` table of the rising or falling
//!   output for each input arc at (load, that input's slew), averaged over the arcs weighted by
//!   how often each input can cause the toggle (the share of the other inputs' values for which
//!   the output depends on it, from the project's own cell function, never Liberty's);
//! - **switching energy** of an output toggle: ½·C·V², C the load, V the library's supply;
//! - **leakage**: `cell_leakage_power` for every cycle.
//!
//! Toggles come from an ordered operand stream; each transition is one clock cycle.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::liberty::{self, Library};
use crate::netlist::cells;
use crate::netlist::ir::{Netlist, NodeId, Op};
use crate::sim::Toggles;

/// Why a netlist has no energy model.
#[derive(Debug, thiserror::Error)]
pub enum EnergyError {
    /// A gate comes from an expression, not a library cell.
    #[error(
        "circuit {circuit}: net {net} is computed by an expression ({op:?}), not a library cell; energy needs a \
         cell-mapped netlist (e.g. the _pdk45.v file, or a Yosys mapping onto the library)"
    )]
    NotMapped {
        /// The netlist's name.
        circuit: String,
        /// The expression's net.
        net: String,
        /// What it computes.
        op: Op,
    },
    /// The library lacks a cell, a pin or a table the netlist needs.
    #[error("circuit {circuit}: {what}")]
    Library {
        /// The netlist's name.
        circuit: String,
        /// What is missing.
        what: String,
    },
    /// The netlist does not read.
    #[error(transparent)]
    Netlist(#[from] crate::netlist::NetlistError),
    /// The Liberty file does not read.
    #[error(transparent)]
    Liberty(#[from] crate::liberty::LibertyError),
    /// The stream does not fit the netlist.
    #[error(transparent)]
    Sim(#[from] crate::sim::SimError),
    /// A command-line input is missing or unusable (the multiplier, the operand file, the library).
    #[error("{0}")]
    Input(String),
    /// The toggles are not of this netlist.
    #[error("circuit {circuit}: toggle counts for {found} nodes, the netlist has {nodes}")]
    Toggles {
        /// The netlist's name.
        circuit: String,
        /// Nodes in the toggle counts.
        found: usize,
        /// Nodes in the netlist.
        nodes: usize,
    },
}

/// One output pin of an instance, with what one of its toggles costs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputModel {
    /// The cell pin (e.g. `Y`, `YS`).
    pub pin: &'static str,
    /// The node (net) it drives.
    pub node: NodeId,
    /// Its load, farads.
    pub load_f: f64,
    /// Its rise and fall transition times, seconds.
    pub slew_s: [f64; 2],
    /// Internal energy of a rising output toggle, joules.
    pub rise_j: f64,
    /// Internal energy of a falling output toggle, joules.
    pub fall_j: f64,
    /// Switching energy of one toggle (½·C·V²), joules.
    pub switching_j: f64,
}

/// One library-cell instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceModel {
    /// The library cell (e.g. `FAX1`).
    pub cell: &'static str,
    /// Its input nets, in the cell's pin order.
    pub inputs: Vec<NodeId>,
    /// Its connected outputs.
    pub outputs: Vec<OutputModel>,
    /// Leakage power, watts.
    pub leakage_w: f64,
}

/// The per-gate energy model of a netlist.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Model {
    /// The netlist's name.
    pub circuit: String,
    /// The library's name.
    pub library: String,
    /// Supply voltage, volts.
    pub voltage: f64,
    /// Every library-cell instance.
    pub instances: Vec<InstanceModel>,
}

/// Whether a node is another name of its fan-in's net (an `assign` alias, not a buffer cell).
fn is_alias(node: &crate::netlist::Node) -> bool {
    node.op == Op::Buf && cells::lookup(&node.cell).is_none()
}

/// The net a node carries: `assign` aliases are the net they copy.
fn root(net: &Netlist, mut n: NodeId) -> NodeId {
    while is_alias(&net.nodes[n as usize]) {
        n = net.nodes[n as usize].fanin[0];
    }
    n
}

/// An instance while grouping: its cell, its input nets (cell pin order) and the node of each
/// output pin, if connected.
type Grouped = (&'static cells::Cell, [NodeId; 3], Vec<Option<NodeId>>);

/// Share of the other inputs' values for which output `op` depends on input `i`.
fn sensitivity(op: Op, i: usize) -> f64 {
    let k = op.arity();
    let mut hit = 0;
    for v in 0..(1u32 << k) {
        if v >> i & 1 == 1 {
            continue;
        }
        let bits = |v: u32| [v & 1 == 1, v & 2 == 2, v & 4 == 4];
        let [a, b, c] = bits(v);
        let [a2, b2, c2] = bits(v | 1 << i);
        hit += (op.eval_word(a, b, c) != op.eval_word(a2, b2, c2)) as u32;
    }
    hit as f64 / (1u32 << (k - 1)) as f64
}

impl Model {
    /// Build the model of `net`, whose gates must all be library cells of `lib` (the project's
    /// cell table names them; see the module docs for what is computed).
    pub fn new(net: &Netlist, lib: &Library) -> Result<Model, EnergyError> {
        let circuit = || net.name.clone();
        let missing = |what: String| EnergyError::Library { circuit: circuit(), what };
        // Group the nodes into instances: single-output cells are one node; the outputs of a
        // multi-output cell share the cell and the fan-in (paired in order when repeated).
        let mut instances: Vec<Grouped> = Vec::new();
        let mut multi: std::collections::HashMap<(&str, [NodeId; 3]), Vec<usize>> = Default::default();
        for (i, node) in net.nodes.iter().enumerate() {
            if matches!(node.op, Op::Input | Op::Const0 | Op::Const1) || is_alias(node) {
                continue;
            }
            let Some(cell) = cells::lookup(&node.cell) else {
                return Err(EnergyError::NotMapped { circuit: circuit(), net: node.name.clone(), op: node.op });
            };
            let pin =
                cell.outputs.iter().position(|o| o.op == node.op).expect("a cell node computes one of its outputs");
            let mut fanin = node.fanin;
            for f in fanin.iter_mut().take(node.op.arity()) {
                *f = root(net, *f);
            }
            let slots = multi.entry((cell.name, fanin)).or_default();
            match slots.iter().find(|&&k| instances[k].2[pin].is_none()) {
                Some(&k) if cell.outputs.len() > 1 => instances[k].2[pin] = Some(i as NodeId),
                _ => {
                    let mut outs = vec![None; cell.outputs.len()];
                    outs[pin] = Some(i as NodeId);
                    slots.push(instances.len());
                    instances.push((cell, fanin, outs));
                }
            }
        }
        let lcell = |c: &cells::Cell| {
            lib.cell(c.name).ok_or_else(|| missing(format!("cell {} is not in library {}", c.name, lib.name)))
        };
        let lpin = |lc: &'_ liberty::Cell, p: &str| {
            lc.pin(p)
                .cloned()
                .ok_or_else(|| missing(format!("cell {} of library {} has no pin {p}", lc.name, lib.name)))
        };
        // Loads, library units: per net, the sums of rise and of fall input capacitances.
        let mut load = vec![[0.0f64; 2]; net.nodes.len()];
        for (cell, fanin, _) in &instances {
            let lc = lcell(cell)?;
            for (k, p) in cell.inputs.iter().enumerate() {
                let pin = lpin(lc, p)?;
                let l = &mut load[fanin[k] as usize];
                l[0] += pin.rise_capacitance.unwrap_or(pin.capacitance);
                l[1] += pin.fall_capacitance.unwrap_or(pin.capacitance);
            }
        }
        let load_of = |n: NodeId| load[n as usize][0].max(load[n as usize][1]);
        // Slews in topological order (instances are in node order; inputs and constants 0).
        let mut slew = vec![[0.0f64; 2]; net.nodes.len()];
        let u = lib.units;
        let v = lib.supply_voltage();
        let mut out = Vec::with_capacity(instances.len());
        for (cell, fanin, outs) in &instances {
            let lc = lcell(cell)?;
            let mut outputs = Vec::new();
            for (k, o) in cell.outputs.iter().enumerate() {
                let Some(node) = outs[k] else { continue };
                let pin = lpin(lc, o.pin)?;
                let c = load_of(node);
                let input_slew = |p: &str, rise: bool, sense: Option<&str>| {
                    let i = cell.input_index(p)?;
                    let s = slew[fanin[i] as usize];
                    Some(match sense {
                        Some("positive_unate") => s[!rise as usize],
                        Some("negative_unate") => s[rise as usize],
                        _ => s[0].max(s[1]),
                    })
                };
                let mut s_out = [0.0f64; 2];
                for t in &pin.timing {
                    for (d, table) in [(0, "rise_transition"), (1, "fall_transition")] {
                        let (Some(tab), Some(p)) = (t.table(table), t.related_pins.first()) else { continue };
                        let Some(si) = input_slew(p, d == 0, t.timing_sense.as_deref()) else { continue };
                        if let Some(x) = tab.at(c, si) {
                            s_out[d] = s_out[d].max(x);
                        }
                    }
                }
                // Internal energy per rising / falling output toggle, weighted over the input arcs.
                let sense_of = |p: &str| {
                    pin.timing
                        .iter()
                        .find(|t| t.related_pins.iter().any(|r| r == p))
                        .and_then(|t| t.timing_sense.clone())
                };
                let (mut e, mut wsum) = ([0.0f64; 2], 0.0);
                for (i, p) in cell.inputs.iter().enumerate() {
                    let w = sensitivity(o.op, i);
                    if w == 0.0 {
                        continue;
                    }
                    let ip = pin.internal_power.iter().find(|ip| ip.related_pin.as_deref() == Some(*p)).ok_or_else(
                        || missing(format!("cell {}: pin {} has no internal power for input {p}", lc.name, o.pin)),
                    )?;
                    let sense = sense_of(p);
                    for (d, tab) in [(0, &ip.rise_power), (1, &ip.fall_power)] {
                        let tab = tab.as_ref().or(ip.power.as_ref()).ok_or_else(|| {
                            missing(format!(
                                "cell {}: pin {} has no {} table for input {p}",
                                lc.name,
                                o.pin,
                                ["rise_power", "fall_power"][d]
                            ))
                        })?;
                        let si = input_slew(p, d == 0, sense.as_deref()).unwrap_or(0.0);
                        e[d] += w * tab.at(c, si).ok_or_else(|| {
                            missing(format!(
                                "cell {}: a power table of pin {} has an axis that is neither load nor slew",
                                lc.name, o.pin
                            ))
                        })?;
                    }
                    wsum += w;
                }
                if wsum > 0.0 {
                    e = e.map(|x| x / wsum);
                }
                slew[node as usize] = s_out;
                outputs.push(OutputModel {
                    pin: o.pin,
                    node,
                    load_f: c * u.capacitance,
                    slew_s: s_out.map(|s| s * u.time),
                    rise_j: e[0] * u.energy(),
                    fall_j: e[1] * u.energy(),
                    switching_j: 0.5 * c * u.capacitance * v * v,
                });
            }
            out.push(InstanceModel {
                cell: cell.name,
                inputs: fanin[..cell.inputs.len()].to_vec(),
                outputs,
                leakage_w: lc.leakage_power.unwrap_or(0.0) * u.leakage_power,
            });
            // Buffers copy their source's slew (slews of later cells read the root net anyway).
        }
        Ok(Model { circuit: circuit(), library: lib.name.clone(), voltage: v, instances: out })
    }

    /// Charge the model with toggle counts of the same netlist over a stream, one transition per
    /// clock cycle of `period_s` seconds.
    pub fn energy(&self, net: &Netlist, toggles: &Toggles, period_s: f64) -> Result<Report, EnergyError> {
        if toggles.per_node.len() != net.nodes.len() {
            return Err(EnergyError::Toggles {
                circuit: self.circuit.clone(),
                found: toggles.per_node.len(),
                nodes: net.nodes.len(),
            });
        }
        let cycles = toggles.transitions();
        let mut cells = Vec::with_capacity(self.instances.len());
        for inst in &self.instances {
            let (mut internal, mut switching) = (0.0, 0.0);
            for o in &inst.outputs {
                let (t, r) = (toggles.per_node[o.node as usize], toggles.rises[o.node as usize]);
                internal += r as f64 * o.rise_j + (t - r) as f64 * o.fall_j;
                switching += t as f64 * o.switching_j;
            }
            let leakage = inst.leakage_w * period_s * cycles as f64;
            cells.push(CellEnergy {
                cell: inst.cell,
                outputs: inst.outputs.iter().map(|o| net.nodes[o.node as usize].name.clone()).collect(),
                internal_j: internal,
                switching_j: switching,
                leakage_j: leakage,
                total_j: internal + switching + leakage,
            });
        }
        let sum = |f: fn(&CellEnergy) -> f64| cells.iter().map(f).sum::<f64>();
        let total = Totals {
            internal_j: sum(|c| c.internal_j),
            switching_j: sum(|c| c.switching_j),
            leakage_j: sum(|c| c.leakage_j),
            total_j: sum(|c| c.total_j),
            per_cycle_j: if cycles > 0 { sum(|c| c.total_j) / cycles as f64 } else { 0.0 },
        };
        let nets = net
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| !is_alias(n))
            .map(|(i, n)| NetToggles { net: n.name.clone(), toggles: toggles.per_node[i], rises: toggles.rises[i] })
            .collect();
        Ok(Report {
            circuit: self.circuit.clone(),
            library: self.library.clone(),
            voltage: self.voltage,
            period_s,
            vectors: toggles.vectors,
            cycles,
            nets,
            cells,
            total,
        })
    }
}

/// Toggles of one net.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetToggles {
    /// The net's name.
    pub net: String,
    /// How often it switched.
    pub toggles: u64,
    /// How many of those were rises.
    pub rises: u64,
}

/// Energy of one cell instance over the stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellEnergy {
    /// The library cell.
    pub cell: &'static str,
    /// The nets its outputs drive.
    pub outputs: Vec<String>,
    /// Internal energy, joules.
    pub internal_j: f64,
    /// Switching energy of its loads, joules.
    pub switching_j: f64,
    /// Leakage energy, joules.
    pub leakage_j: f64,
    /// The sum, joules.
    pub total_j: f64,
}

/// Energy of the whole netlist over the stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    /// Internal energy, joules.
    pub internal_j: f64,
    /// Switching energy, joules.
    pub switching_j: f64,
    /// Leakage energy, joules.
    pub leakage_j: f64,
    /// The sum, joules.
    pub total_j: f64,
    /// The sum per cycle (per operation), joules.
    pub per_cycle_j: f64,
}

/// Per-net toggles, per-cell and total energy of a netlist over an operand stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The netlist's name.
    pub circuit: String,
    /// The library's name.
    pub library: String,
    /// Supply voltage, volts.
    pub voltage: f64,
    /// Clock period, seconds.
    pub period_s: f64,
    /// Vectors in the stream.
    pub vectors: usize,
    /// Clock cycles charged (transitions between vectors).
    pub cycles: u64,
    /// Every net (`assign` aliases left out: they are the net they copy).
    pub nets: Vec<NetToggles>,
    /// Every cell instance.
    pub cells: Vec<CellEnergy>,
    /// The whole netlist.
    pub total: Totals,
}

/// The Liberty file: `arg`, else `$AXDNN_PDK/gscl45nm.lib`, else `../shared/pdk/gscl45nm.lib`
/// (the 45 nm library behind EvoApprox's PDK45 figures).
pub fn liberty_file(arg: Option<PathBuf>) -> Option<PathBuf> {
    arg.or_else(|| crate::util::inputs::locate(None, "AXDNN_PDK", "../shared/pdk").map(|d| d.join("gscl45nm.lib")))
}

/// The cell-mapped netlist of a multiplier: a `.v` file as given, else the EvoApprox name's
/// `_pdk45.v` file under `evoapprox_root`.
pub fn mapped_netlist(spec: &str, evoapprox_root: Option<&Path>) -> Result<PathBuf, EnergyError> {
    if spec.ends_with(".v") {
        return Ok(PathBuf::from(spec));
    }
    let root = evoapprox_root.ok_or_else(|| {
        EnergyError::Input(format!(
            "{spec}: no EvoApprox folder to look it up in (pass --evoapprox DIR or set AXDNN_EVOAPPROX)"
        ))
    })?;
    crate::mult::resolve::find_in_tree(root, &format!("{spec}_pdk45")).ok_or_else(|| {
        EnergyError::Input(format!(
            "{spec}: no {spec}_pdk45.v under {} (energy needs a cell-mapped netlist)",
            root.display()
        ))
    })
}

/// Operand pairs from a `.npy` file: an `(n, 2)` integer array, column 0 for port `A`, column 1
/// for port `B`; a value `v` of a `w`-bit port is read as the code `v mod 2^w` and must lie in
/// `[-2^(w-1), 2^w)` (so signed operands may be given as negative numbers).
pub fn read_operands(path: &Path, widths: [usize; 2]) -> Result<[Vec<u64>; 2], EnergyError> {
    let bad = |m: String| EnergyError::Input(format!("{}: {m}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let npy = crate::util::npy::parse(&bytes).map_err(bad)?;
    if npy.shape.len() != 2 || npy.shape[1] != 2 {
        return Err(bad(format!("expected an (n, 2) array of operand pairs, found shape {:?}", npy.shape)));
    }
    let size = crate::util::npy::item_size(&npy.descr).filter(|_| {
        !npy.descr.ends_with("f2") && !npy.descr.ends_with("f4") && !npy.descr.ends_with("f8") && npy.descr != "|b1"
    });
    let size = size.ok_or_else(|| bad(format!("expected an integer dtype, found '{}'", npy.descr)))?;
    let signed = npy.descr.contains('i');
    let mut cols = [Vec::with_capacity(npy.shape[0]), Vec::with_capacity(npy.shape[0])];
    for (k, chunk) in npy.data.chunks_exact(size).enumerate() {
        let mut b = [0u8; 8];
        b[..size].copy_from_slice(chunk);
        let raw = u64::from_le_bytes(b);
        let v: i128 = if signed { ((raw << (64 - 8 * size)) as i64 >> (64 - 8 * size)) as i128 } else { raw as i128 };
        let w = widths[k % 2];
        if v < -(1i128 << (w - 1)) || v >= 1i128 << w {
            return Err(bad(format!("pair {}: operand {} = {v} does not fit a {w}-bit port", k / 2, k % 2)));
        }
        cols[k % 2].push((v.rem_euclid(1i128 << w)) as u64);
    }
    Ok(cols)
}

/// `axdnn energy`: per-net toggles, per-cell and total energy of a multiplier over an operand
/// stream.
#[derive(clap::Args, Clone, Debug)]
pub struct EnergyFlags {
    /// The multiplier: an EvoApprox name (its _pdk45.v netlist) or a cell-mapped .v file.
    #[arg(long)]
    pub multiplier: String,
    /// Operand pairs in stream order: an (n, 2) integer .npy array, column 0 for port A and 1 for port B.
    #[arg(long)]
    pub operands: PathBuf,
    /// Liberty file (default: $AXDNN_PDK/gscl45nm.lib, else ../shared/pdk/gscl45nm.lib).
    #[arg(long)]
    pub liberty: Option<PathBuf>,
    /// Clock period in ns: one operand pair per cycle (leakage is charged per cycle).
    #[arg(long, default_value_t = 1.0)]
    pub period_ns: f64,
    /// EvoApprox library folder (default: $AXDNN_EVOAPPROX, else ../shared/evoapprox when present).
    #[arg(long)]
    pub evoapprox: Option<PathBuf>,
    /// Print the whole report (per-net toggles, per-cell energy, totals) as JSON.
    #[arg(long)]
    pub json: bool,
}

impl EnergyFlags {
    /// Read the netlist, the library and the stream; count toggles; charge the model.
    pub fn report(&self) -> Result<Report, EnergyError> {
        let root = crate::util::inputs::locate(self.evoapprox.clone(), "AXDNN_EVOAPPROX", "../shared/evoapprox");
        let net = crate::netlist::parse_file(&mapped_netlist(&self.multiplier, root.as_deref())?)?.netlist;
        let lib_path = liberty_file(self.liberty.clone()).ok_or_else(|| {
            EnergyError::Input("no Liberty file: pass --liberty FILE, set AXDNN_PDK, or put it in ../shared/pdk".into())
        })?;
        let lib = crate::liberty::parse_file(&lib_path)?;
        let width = |p: &str| {
            net.input(p).map(|p| p.width()).filter(|w| (1..=64).contains(w)).ok_or_else(|| {
                EnergyError::Input(format!("{}: expected input ports A and B of 1 to 64 bits", net.name))
            })
        };
        let [a, b] = read_operands(&self.operands, [width("A")?, width("B")?])?;
        let cols: Vec<&[u64]> = net.inputs.iter().map(|p| if p.name == "A" { &a[..] } else { &b[..] }).collect();
        let toggles = crate::sim::toggles(&net, &cols)?;
        Model::new(&net, &lib)?.energy(&net, &toggles, self.period_ns * 1e-9)
    }

    /// [`EnergyFlags::report`] as the command prints it: JSON, or a summary.
    pub fn run(&self) -> Result<String, EnergyError> {
        let r = self.report()?;
        if self.json {
            return Ok(serde_json::to_string_pretty(&r).expect("a report serializes") + "\n");
        }
        let t = &r.total;
        let fj = |j: f64| j * 1e15;
        let mut s = format!(
            "{} on {} at {} V, {} operand pairs ({} cycles of {} ns)\n",
            r.circuit,
            r.library,
            r.voltage,
            r.vectors,
            r.cycles,
            r.period_s * 1e9
        );
        s += &format!(
            "energy fJ: internal {:.3}  switching {:.3}  leakage {:.3}  total {:.3}  per cycle {:.4}\n",
            fj(t.internal_j),
            fj(t.switching_j),
            fj(t.leakage_j),
            fj(t.total_j),
            fj(t.per_cycle_j)
        );
        let toggles: u64 = r.nets.iter().map(|n| n.toggles).sum();
        s += &format!("{} cells, {} nets, {toggles} net toggles\n", r.cells.len(), r.nets.len());
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitivities_of_the_cell_functions() {
        assert_eq!(sensitivity(Op::Not, 0), 1.0);
        assert_eq!(sensitivity(Op::And, 0), 0.5);
        assert_eq!(sensitivity(Op::Xor, 1), 1.0);
        assert_eq!(sensitivity(Op::Aoi21, 0), 0.25); // needs B = 1 and C = 0
        assert_eq!(sensitivity(Op::Aoi21, 2), 0.75); // needs !(A & B)
        assert_eq!(sensitivity(Op::Mux, 2), 0.5); // the select matters when A != B
        assert_eq!(sensitivity(Op::Maj, 0), 0.5);
        assert_eq!(sensitivity(Op::Xor3, 2), 1.0);
    }
}
