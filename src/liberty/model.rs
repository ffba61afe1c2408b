//! The typed library: units, table templates, cells with their area and leakage, pins with their
//! capacitances, internal-power and timing tables. Values are kept in the library's own units
//! (`Units` says what one unit is in SI). Statements the model has no field for are kept verbatim
//! in an `other` list at the level they were found, so nothing of the file is dropped.
//!
//! Cell *functions* are kept as text only: simulation uses the project's own cell models
//! (`netlist::cells`), never a Liberty `function` (in gscl45nm, MUX2X1's differs from EvoApprox's).

use super::ast::{Group, Statement};
use crate::util::Span;

/// What one library unit is in SI units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Units {
    /// `time_unit`, in seconds (e.g. 1e-9 for "1ns").
    pub time: f64,
    /// `voltage_unit`, in volts.
    pub voltage: f64,
    /// `current_unit`, in amperes.
    pub current: f64,
    /// `pulling_resistance_unit`, in ohms.
    pub resistance: f64,
    /// `leakage_power_unit`, in watts.
    pub leakage_power: f64,
    /// `capacitive_load_unit`, in farads.
    pub capacitance: f64,
}

impl Units {
    /// The unit of internal-power tables: capacitance unit × voltage unit², in joules (the
    /// Liberty convention; 1 pF × 1 V² = 1 pJ).
    pub fn energy(&self) -> f64 {
        self.capacitance * self.voltage * self.voltage
    }
}

/// The Liberty defaults (the reference manual's values when an attribute is absent).
impl Default for Units {
    fn default() -> Self {
        Units { time: 1e-9, voltage: 1.0, current: 1e-3, resistance: 1e3, leakage_power: 1e-6, capacitance: 1e-12 }
    }
}

/// An `operating_conditions` group.
#[derive(Debug, Clone, PartialEq)]
pub struct OperatingConditions {
    /// Its name (e.g. `typical`).
    pub name: String,
    /// `process` factor.
    pub process: Option<f64>,
    /// `voltage`, in voltage units.
    pub voltage: Option<f64>,
    /// `temperature`, °C.
    pub temperature: Option<f64>,
}

/// What a table axis measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Variable {
    /// `total_output_net_capacitance`: the load on the output pin (capacitance units).
    TotalOutputNetCapacitance,
    /// `input_net_transition`: the input slew of a delay table (time units).
    InputNetTransition,
    /// `input_transition_time`: the input slew of a power table (time units).
    InputTransitionTime,
    /// `related_pin_transition`: the slew of the related pin of a constraint (time units).
    RelatedPinTransition,
    /// `constrained_pin_transition`: the slew of the constrained pin (time units).
    ConstrainedPinTransition,
    /// Any other variable, by name.
    Other(String),
}

impl Variable {
    /// The variable named `name`.
    pub fn from_name(name: &str) -> Variable {
        match name {
            "total_output_net_capacitance" => Variable::TotalOutputNetCapacitance,
            "input_net_transition" => Variable::InputNetTransition,
            "input_transition_time" => Variable::InputTransitionTime,
            "related_pin_transition" => Variable::RelatedPinTransition,
            "constrained_pin_transition" => Variable::ConstrainedPinTransition,
            other => Variable::Other(other.to_string()),
        }
    }

    /// Whether the axis is an input slew (of the pin or of its related pin).
    pub fn is_slew(&self) -> bool {
        matches!(self, Variable::InputNetTransition | Variable::InputTransitionTime | Variable::RelatedPinTransition)
    }
}

/// A `lu_table_template` or `power_lut_template`: the axes' variables and default indices.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// Its name (e.g. `energy_template_6x6`).
    pub name: String,
    /// True for `power_lut_template`, false for `lu_table_template`.
    pub power: bool,
    /// `variable_1`, `variable_2`, … in order.
    pub variables: Vec<Variable>,
    /// `index_1`, `index_2`, … (may be placeholders that every table overrides).
    pub index: Vec<Vec<f64>>,
}

/// A look-up table: a value per point of the grid spanned by its indices.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The template it was declared with (`scalar` for a single value).
    pub template: String,
    /// What each axis measures (from the template).
    pub variables: Vec<Variable>,
    /// The axes' points, each strictly increasing (the table's own `index_k`, else the template's).
    pub index: Vec<Vec<f64>>,
    /// Values in row-major order: the last axis varies fastest.
    pub values: Vec<f64>,
}

impl Table {
    /// The value at point `x` (one coordinate per axis): multilinear interpolation between the
    /// two grid points around each coordinate, linear extrapolation from the two outermost points
    /// beyond the ends (as OpenSTA's table models do). An axis with one point is constant.
    pub fn lookup(&self, x: &[f64]) -> f64 {
        assert_eq!(x.len(), self.index.len(), "table of {} axes looked up at {x:?}", self.index.len());
        self.lookup_from(0, 0, x)
    }

    fn lookup_from(&self, axis: usize, offset: usize, x: &[f64]) -> f64 {
        if axis == self.index.len() {
            return self.values[offset];
        }
        let stride: usize = self.index[axis + 1..].iter().map(Vec::len).product();
        let idx = &self.index[axis];
        if idx.len() == 1 {
            return self.lookup_from(axis + 1, offset, x);
        }
        let k = segment(idx, x[axis]);
        let t = (x[axis] - idx[k]) / (idx[k + 1] - idx[k]);
        let lo = self.lookup_from(axis + 1, offset + k * stride, x);
        let hi = self.lookup_from(axis + 1, offset + (k + 1) * stride, x);
        (1.0 - t) * lo + t * hi
    }

    /// The value at output load `load` and input slew `slew` (capacitance and time units): each
    /// axis takes whichever of the two its variable measures. `None` if an axis measures anything
    /// else.
    pub fn at(&self, load: f64, slew: f64) -> Option<f64> {
        let x: Option<Vec<f64>> = self
            .variables
            .iter()
            .map(|v| match v {
                Variable::TotalOutputNetCapacitance => Some(load),
                v if v.is_slew() => Some(slew),
                _ => None,
            })
            .collect();
        Some(self.lookup(&x?))
    }
}

/// The segment `[idx[k], idx[k+1]]` used for `v`: the one containing it, else the first or last.
fn segment(idx: &[f64], v: f64) -> usize {
    let last = idx.len() - 2;
    if v <= idx[0] {
        0
    } else if v >= idx[last + 1] {
        last
    } else {
        idx.partition_point(|&p| p <= v).saturating_sub(1).min(last)
    }
}

/// Direction of a pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `input`
    Input,
    /// `output`
    Output,
    /// `inout`
    Inout,
    /// `internal`
    Internal,
}

/// An `internal_power` group: energy per transition of the pin it is in (an output pin: the
/// output switching because `related_pin` switched), in energy units ([`Units::energy`]).
#[derive(Debug, Clone, PartialEq)]
pub struct InternalPower {
    /// The input whose transition the tables are for (`None` on input pins' own tables).
    pub related_pin: Option<String>,
    /// The `when` condition, as written.
    pub when: Option<String>,
    /// Energy of a rising transition of the pin.
    pub rise_power: Option<Table>,
    /// Energy of a falling transition of the pin.
    pub fall_power: Option<Table>,
    /// Energy of either transition (`power`, when rise and fall are not told apart).
    pub power: Option<Table>,
    /// Other statements, verbatim.
    pub other: Vec<Statement>,
}

/// A `timing` group: the delay, transition and constraint tables of one arc.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// The arc's start pins (`related_pin`, split at white space).
    pub related_pins: Vec<String>,
    /// `timing_sense` (`positive_unate`, `negative_unate`, `non_unate`).
    pub timing_sense: Option<String>,
    /// `timing_type` (`combinational` when absent; `rising_edge`, `setup_rising`, …).
    pub timing_type: Option<String>,
    /// The tables by group kind (`cell_rise`, `rise_transition`, `rise_constraint`, …), in file order.
    pub tables: Vec<(String, Table)>,
    /// Other statements, verbatim.
    pub other: Vec<Statement>,
}

impl Timing {
    /// The table of kind `kind` (e.g. `rise_transition`).
    pub fn table(&self, kind: &str) -> Option<&Table> {
        self.tables.iter().find(|(k, _)| k == kind).map(|(_, t)| t)
    }
}

/// A pin of a cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Pin {
    /// Its name (e.g. `A`, `YS`).
    pub name: String,
    /// Its direction.
    pub direction: Direction,
    /// `capacitance` (capacitance units; 0 when absent).
    pub capacitance: f64,
    /// `rise_capacitance`, if given.
    pub rise_capacitance: Option<f64>,
    /// `fall_capacitance`, if given.
    pub fall_capacitance: Option<f64>,
    /// `max_capacitance`, if given.
    pub max_capacitance: Option<f64>,
    /// `function`, as written (documentation only; see the module docs).
    pub function: Option<String>,
    /// `three_state`, as written.
    pub three_state: Option<String>,
    /// `clock : true`.
    pub clock: bool,
    /// Its `internal_power` groups, in file order.
    pub internal_power: Vec<InternalPower>,
    /// Its `timing` groups, in file order.
    pub timing: Vec<Timing>,
    /// Other statements, verbatim.
    pub other: Vec<Statement>,
    /// Where the pin group starts.
    pub span: Span,
}

/// A `leakage_power` group: leakage while `when` holds.
#[derive(Debug, Clone, PartialEq)]
pub struct LeakagePower {
    /// The condition, as written (`None`: always).
    pub when: Option<String>,
    /// `value`, in leakage-power units.
    pub value: f64,
}

/// A library cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Its name (e.g. `FAX1`).
    pub name: String,
    /// `area`, µm² by convention (Liberty has no area unit).
    pub area: f64,
    /// `cell_leakage_power`, in leakage-power units.
    pub leakage_power: Option<f64>,
    /// Its `leakage_power` groups (state-dependent leakage).
    pub leakage: Vec<LeakagePower>,
    /// Its pins, in file order.
    pub pins: Vec<Pin>,
    /// Its `ff`, `latch` and `statetable` groups, verbatim (state, not simulated here).
    pub sequential: Vec<Group>,
    /// Other statements, verbatim.
    pub other: Vec<Statement>,
    /// Where the cell group starts.
    pub span: Span,
}

impl Cell {
    /// The pin named `name`.
    pub fn pin(&self, name: &str) -> Option<&Pin> {
        self.pins.iter().find(|p| p.name == name)
    }
}

/// A whole Liberty library.
#[derive(Debug, Clone, PartialEq)]
pub struct Library {
    /// The library's name.
    pub name: String,
    /// What its units are in SI.
    pub units: Units,
    /// `nom_voltage`, in voltage units.
    pub nom_voltage: Option<f64>,
    /// `nom_temperature`, °C.
    pub nom_temperature: Option<f64>,
    /// `nom_process`.
    pub nom_process: Option<f64>,
    /// Its `operating_conditions` groups.
    pub operating_conditions: Vec<OperatingConditions>,
    /// `default_operating_conditions`, by name.
    pub default_operating_conditions: Option<String>,
    /// Its table templates, in file order.
    pub templates: Vec<Template>,
    /// Its cells, in file order.
    pub cells: Vec<Cell>,
    /// Other statements, verbatim.
    pub other: Vec<Statement>,
}

impl Library {
    /// The cell named `name`.
    pub fn cell(&self, name: &str) -> Option<&Cell> {
        self.cells.iter().find(|c| c.name == name)
    }

    /// The supply voltage the tables were characterised at, in volts: the default operating
    /// conditions' voltage, else `nom_voltage`, else one voltage unit.
    pub fn supply_voltage(&self) -> f64 {
        let oc = self
            .default_operating_conditions
            .as_ref()
            .and_then(|n| self.operating_conditions.iter().find(|o| &o.name == n))
            .and_then(|o| o.voltage);
        oc.or(self.nom_voltage).unwrap_or(1.0) * self.units.voltage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(index: Vec<Vec<f64>>, values: Vec<f64>) -> Table {
        let variables =
            vec![Variable::TotalOutputNetCapacitance, Variable::InputTransitionTime][..index.len()].to_vec();
        Table { template: "t".into(), variables, index, values }
    }

    #[test]
    fn one_axis_interpolates_and_extrapolates_linearly() {
        let t = table(vec![vec![1.0, 2.0, 4.0]], vec![10.0, 20.0, 60.0]);
        for (x, want) in [(1.0, 10.0), (1.5, 15.0), (2.0, 20.0), (3.0, 40.0), (4.0, 60.0), (0.0, 0.0), (5.0, 80.0)] {
            assert!((t.lookup(&[x]) - want).abs() < 1e-12, "{x}: {}", t.lookup(&[x]));
        }
    }

    #[test]
    fn two_axes_are_bilinear_with_the_last_axis_fastest() {
        // f(c, s) = 1 + 2c + 3s + 4cs is exactly bilinear, so every lookup (inside or outside the
        // grid) reproduces it.
        let f = |c: f64, s: f64| 1.0 + 2.0 * c + 3.0 * s + 4.0 * c * s;
        let (ci, si) = (vec![0.1, 0.5, 1.2], vec![0.06, 0.24, 0.48, 0.9]);
        let values = ci.iter().flat_map(|&c| si.iter().map(move |&s| f(c, s))).collect();
        let t = table(vec![ci, si], values);
        for (c, s) in [(0.1, 0.06), (0.3, 0.3), (1.0, 0.9), (0.0, 0.0), (2.0, 1.5), (0.0023, 0.0)] {
            assert!((t.lookup(&[c, s]) - f(c, s)).abs() < 1e-12, "({c}, {s})");
            assert!((t.at(c, s).unwrap() - f(c, s)).abs() < 1e-12);
        }
    }

    #[test]
    fn single_point_axes_are_constant() {
        let t = table(vec![vec![1.0], vec![0.0, 1.0]], vec![5.0, 7.0]);
        assert_eq!(t.lookup(&[123.0, 0.5]), 6.0);
        let s = Table { template: "scalar".into(), variables: vec![], index: vec![], values: vec![3.5] };
        assert_eq!(s.lookup(&[]), 3.5);
        assert_eq!(s.at(1.0, 1.0), Some(3.5));
    }
}
