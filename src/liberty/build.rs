//! Meaning for the statements: the [`ast`](super::ast) tree → the typed [`Library`]. Numbers are
//! parsed and checked here (an error names the very number, line and column, even inside a
//! multi-line `values` string), tables are checked against their templates, units are read.

use std::path::Path;

use super::ast::{Group, Loc, Statement, Value};
use super::error::LibertyError;
use super::model::*;
use crate::util::Span;

type R<T> = Result<T, LibertyError>;

/// The file being read, for turning locations into spans.
#[derive(Debug, Clone, Copy)]
pub struct SourceMap<'a> {
    /// The file's path (for messages).
    pub file: &'a Path,
    /// Its text.
    pub src: &'a str,
}

impl SourceMap<'_> {
    /// `file:line:col` of `loc`.
    pub fn span(&self, loc: Loc) -> Span {
        let off = (loc.offset as usize).min(self.src.len());
        let off = (0..=off).rev().find(|&o| self.src.is_char_boundary(o)).unwrap_or(0);
        let line_start = self.src[..off].rfind('\n').map_or(0, |p| p + 1);
        let col = self.src[line_start..off].chars().count() + 1;
        Span::new(self.file, loc.line, col as u32)
    }

    fn invalid(&self, loc: Loc, message: impl Into<String>) -> LibertyError {
        LibertyError::Invalid { span: self.span(loc), message: message.into() }
    }

    /// The location of byte `k` of a value's text (past the opening quote of a string).
    fn loc_in(&self, v: &Value, k: usize) -> Loc {
        let head = &v.text[..k];
        let lines = head.bytes().filter(|&b| b == b'\n').count() as u32;
        Loc { offset: v.loc.offset + v.quoted as u32 + k as u32, line: v.loc.line + lines }
    }

    fn number(&self, v: &Value, what: &str) -> R<f64> {
        match v.text.trim().parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(x),
            _ => Err(self.invalid(v.loc, format!("{what}: expected a number, found '{}'", clip(&v.text)))),
        }
    }

    /// Every number in `vs`, each value being one number or a string of numbers separated by
    /// commas, white space or line continuations.
    fn numbers(&self, vs: &[Value], what: &str) -> R<Vec<f64>> {
        let mut out = Vec::new();
        for v in vs {
            let t = &v.text;
            let mut k = 0;
            while k < t.len() {
                let sep = |c: char| c == ',' || c == '\\' || c.is_whitespace();
                let start = t[k..].find(|c: char| !sep(c)).map_or(t.len(), |p| k + p);
                if start == t.len() {
                    break;
                }
                let end = t[start..].find(sep).map_or(t.len(), |p| start + p);
                let piece = &t[start..end];
                match piece.parse::<f64>() {
                    Ok(x) if x.is_finite() => out.push(x),
                    _ => {
                        return Err(self.invalid(
                            self.loc_in(v, start),
                            format!("{what}: expected a number, found '{}'", clip(piece)),
                        ))
                    }
                }
                k = end;
            }
        }
        Ok(out)
    }
}

fn clip(s: &str) -> String {
    s.chars().take(24).collect()
}

fn only_arg<'g>(sm: &SourceMap, g: &'g Group) -> R<&'g Value> {
    match g.args.as_slice() {
        [v] => Ok(v),
        _ => {
            Err(sm
                .invalid(g.loc, format!("{} group: expected one name in parentheses, found {}", g.kind, g.args.len())))
        }
    }
}

/// `"1ns"` with base `s` → 1e-9: a number, an optional SI prefix, the base unit (any case).
fn unit_value(text: &str, base: &str) -> Option<f64> {
    let t = text.trim();
    let n = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, rest) = t.split_at(n);
    let scale: f64 = if num.is_empty() { 1.0 } else { num.parse().ok()? };
    let rest = rest.trim();
    let prefix = if rest.eq_ignore_ascii_case(base) {
        1.0
    } else {
        let (p, b) = rest.split_at(rest.chars().next()?.len_utf8());
        if !b.eq_ignore_ascii_case(base) {
            return None;
        }
        match p {
            "f" => 1e-15,
            "p" => 1e-12,
            "n" => 1e-9,
            "u" => 1e-6,
            "m" => 1e-3,
            "k" => 1e3,
            "M" => 1e6,
            _ => return None,
        }
    };
    Some(scale * prefix)
}

fn unit(sm: &SourceMap, v: &Value, attr: &str, base: &str) -> R<f64> {
    unit_value(&v.text, base).ok_or_else(|| {
        sm.invalid(
            v.loc,
            format!("{attr}: expected a number and a unit of {base} (e.g. \"1n{base}\"), found '{}'", clip(&v.text)),
        )
    })
}

/// The typed library of a parsed file.
pub fn library(g: &Group, sm: &SourceMap) -> R<Library> {
    if g.kind != "library" {
        return Err(sm.invalid(g.loc, format!("expected a 'library' group, found '{}'", g.kind)));
    }
    let name = only_arg(sm, g)?.text.clone();
    let mut lib = Library {
        name,
        units: Units::default(),
        nom_voltage: None,
        nom_temperature: None,
        nom_process: None,
        operating_conditions: Vec::new(),
        default_operating_conditions: None,
        templates: Vec::new(),
        cells: Vec::new(),
        other: Vec::new(),
    };
    let mut cells = Vec::new();
    for s in &g.body {
        match s {
            Statement::Simple { name, value, .. } => match name.as_str() {
                "time_unit" => lib.units.time = unit(sm, value, name, "s")?,
                "voltage_unit" => lib.units.voltage = unit(sm, value, name, "V")?,
                "current_unit" => lib.units.current = unit(sm, value, name, "A")?,
                "pulling_resistance_unit" => lib.units.resistance = unit(sm, value, name, "ohm")?,
                "leakage_power_unit" => lib.units.leakage_power = unit(sm, value, name, "W")?,
                "nom_voltage" => lib.nom_voltage = Some(sm.number(value, name)?),
                "nom_temperature" => lib.nom_temperature = Some(sm.number(value, name)?),
                "nom_process" => lib.nom_process = Some(sm.number(value, name)?),
                "default_operating_conditions" => lib.default_operating_conditions = Some(value.text.clone()),
                _ => lib.other.push(s.clone()),
            },
            Statement::Complex { name, args, loc } if name == "capacitive_load_unit" => {
                let [scale, u] = args.as_slice() else {
                    return Err(sm.invalid(*loc, "capacitive_load_unit: expected (number, unit), e.g. (1, pf)"));
                };
                let scale = sm.number(scale, name)?;
                lib.units.capacitance = scale * unit(sm, u, name, "f")?;
            }
            Statement::Group(c) => match c.kind.as_str() {
                "lu_table_template" | "power_lut_template" => lib.templates.push(template(sm, c)?),
                "operating_conditions" => lib.operating_conditions.push(operating_conditions(sm, c)?),
                "cell" => cells.push(c),
                _ => lib.other.push(s.clone()),
            },
            Statement::Complex { .. } => lib.other.push(s.clone()),
        }
    }
    for c in cells {
        let cell = cell(sm, c, &lib.templates)?;
        if lib.cell(&cell.name).is_some() {
            return Err(sm.invalid(c.loc, format!("cell '{}' is defined twice", cell.name)));
        }
        lib.cells.push(cell);
    }
    Ok(lib)
}

fn operating_conditions(sm: &SourceMap, g: &Group) -> R<OperatingConditions> {
    let mut oc =
        OperatingConditions { name: only_arg(sm, g)?.text.clone(), process: None, voltage: None, temperature: None };
    for (attr, slot) in
        [("process", &mut oc.process), ("voltage", &mut oc.voltage), ("temperature", &mut oc.temperature)]
    {
        if let Some(v) = g.simple(attr) {
            *slot = Some(sm.number(v, attr)?);
        }
    }
    Ok(oc)
}

/// `index_1`, `index_2`, … of a template or table (`None` where absent), each strictly increasing.
fn indices(sm: &SourceMap, g: &Group) -> R<Vec<Option<Vec<f64>>>> {
    let mut out: Vec<Option<Vec<f64>>> = Vec::new();
    for s in &g.body {
        if let Statement::Complex { name, args, loc } = s {
            let Some(k) =
                name.strip_prefix("index_").and_then(|k| k.parse::<usize>().ok()).filter(|k| (1..=3).contains(k))
            else {
                continue;
            };
            let xs = sm.numbers(args, name)?;
            if xs.is_empty() {
                return Err(sm.invalid(*loc, format!("{name}: no numbers")));
            }
            if xs.windows(2).any(|w| w[1] <= w[0]) {
                return Err(sm.invalid(*loc, format!("{name}: the points are not strictly increasing")));
            }
            if out.len() < k {
                out.resize(k, None);
            }
            out[k - 1] = Some(xs);
        }
    }
    Ok(out)
}

fn template(sm: &SourceMap, g: &Group) -> R<Template> {
    let name = only_arg(sm, g)?.text.clone();
    let mut variables = Vec::new();
    for k in 1..=3 {
        match g.simple(&format!("variable_{k}")) {
            Some(v) if variables.len() == k - 1 => variables.push(Variable::from_name(&v.text)),
            Some(v) => return Err(sm.invalid(v.loc, format!("variable_{k} without variable_{}", k - 1))),
            None => {}
        }
    }
    let index = indices(sm, g)?;
    if index.len() > variables.len() {
        return Err(
            sm.invalid(g.loc, format!("template '{name}': index_{} without variable_{}", index.len(), index.len()))
        );
    }
    let index = index.into_iter().flatten().collect::<Vec<_>>();
    Ok(Template { name, power: g.kind == "power_lut_template", variables, index })
}

/// A table group (`cell_rise (delay_template_6x6) { index_1 (…); values (…); }`).
fn table(sm: &SourceMap, g: &Group, templates: &[Template]) -> R<Table> {
    let tname = only_arg(sm, g)?.text.clone();
    let (variables, defaults) = if tname == "scalar" {
        (vec![], vec![])
    } else {
        let t = templates
            .iter()
            .find(|t| t.name == tname)
            .ok_or_else(|| sm.invalid(g.args[0].loc, format!("{}: unknown table template '{tname}'", g.kind)))?;
        (t.variables.clone(), t.index.clone())
    };
    let own = indices(sm, g)?;
    if own.len() > variables.len() {
        return Err(sm.invalid(
            g.loc,
            format!("{}: index_{} but template '{tname}' has {} variables", g.kind, own.len(), variables.len()),
        ));
    }
    let mut index = Vec::with_capacity(variables.len());
    for k in 0..variables.len() {
        match own.get(k).cloned().flatten().or_else(|| defaults.get(k).cloned()) {
            Some(xs) => index.push(xs),
            None => {
                return Err(sm.invalid(g.loc, format!("{}: no index_{} here or in template '{tname}'", g.kind, k + 1)))
            }
        }
    }
    let (vals, vloc) = g
        .body
        .iter()
        .find_map(|s| match s {
            Statement::Complex { name, args, loc } if name == "values" => Some((args, *loc)),
            _ => None,
        })
        .ok_or_else(|| sm.invalid(g.loc, format!("{}: no values", g.kind)))?;
    let values = sm.numbers(vals, "values")?;
    let want: usize = index.iter().map(Vec::len).product();
    if values.len() != want {
        let dims: Vec<String> = index.iter().map(|x| x.len().to_string()).collect();
        return Err(sm.invalid(
            vloc,
            format!(
                "values: {} numbers, but the index is {} = {want}",
                values.len(),
                if dims.is_empty() { "scalar".into() } else { dims.join("×") }
            ),
        ));
    }
    Ok(Table { template: tname, variables, index, values })
}

/// Whether a group is a table (it has `values`).
fn is_table(g: &Group) -> bool {
    g.body.iter().any(|s| matches!(s, Statement::Complex { name, .. } if name == "values"))
}

fn cell(sm: &SourceMap, g: &Group, templates: &[Template]) -> R<Cell> {
    let mut c = Cell {
        name: only_arg(sm, g)?.text.clone(),
        area: 0.0,
        leakage_power: None,
        leakage: Vec::new(),
        pins: Vec::new(),
        sequential: Vec::new(),
        other: Vec::new(),
        span: sm.span(g.loc),
    };
    for s in &g.body {
        match s {
            Statement::Simple { name, value, .. } if name == "area" => c.area = sm.number(value, name)?,
            Statement::Simple { name, value, .. } if name == "cell_leakage_power" => {
                c.leakage_power = Some(sm.number(value, name)?)
            }
            Statement::Group(p) if p.kind == "pin" => {
                if p.args.is_empty() {
                    return Err(sm.invalid(p.loc, "pin group: expected a pin name in parentheses"));
                }
                for name in &p.args {
                    if c.pin(&name.text).is_some() {
                        return Err(
                            sm.invalid(name.loc, format!("cell '{}': pin '{}' is defined twice", c.name, name.text))
                        );
                    }
                    c.pins.push(pin(sm, p, &name.text, templates)?);
                }
            }
            Statement::Group(l) if l.kind == "leakage_power" => {
                let v = l.simple("value").ok_or_else(|| sm.invalid(l.loc, "leakage_power: no value"))?;
                c.leakage.push(LeakagePower {
                    when: l.simple("when").map(|w| w.text.clone()),
                    value: sm.number(v, "value")?,
                });
            }
            Statement::Group(q) if matches!(q.kind.as_str(), "ff" | "latch" | "statetable") => {
                c.sequential.push(q.clone())
            }
            _ => c.other.push(s.clone()),
        }
    }
    Ok(c)
}

fn pin(sm: &SourceMap, g: &Group, name: &str, templates: &[Template]) -> R<Pin> {
    let dir = g.simple("direction").ok_or_else(|| sm.invalid(g.loc, format!("pin '{name}': no direction")))?;
    let direction = match dir.text.as_str() {
        "input" => Direction::Input,
        "output" => Direction::Output,
        "inout" => Direction::Inout,
        "internal" => Direction::Internal,
        other => {
            return Err(sm.invalid(
                dir.loc,
                format!("direction: expected input, output, inout or internal, found '{}'", clip(other)),
            ))
        }
    };
    let mut p = Pin {
        name: name.to_string(),
        direction,
        capacitance: 0.0,
        rise_capacitance: None,
        fall_capacitance: None,
        max_capacitance: None,
        function: None,
        three_state: None,
        clock: false,
        internal_power: Vec::new(),
        timing: Vec::new(),
        other: Vec::new(),
        span: sm.span(g.loc),
    };
    for s in &g.body {
        match s {
            Statement::Simple { name, value, .. } => match name.as_str() {
                "direction" => {}
                "capacitance" => p.capacitance = sm.number(value, name)?,
                "rise_capacitance" => p.rise_capacitance = Some(sm.number(value, name)?),
                "fall_capacitance" => p.fall_capacitance = Some(sm.number(value, name)?),
                "max_capacitance" => p.max_capacitance = Some(sm.number(value, name)?),
                "function" => p.function = Some(value.text.clone()),
                "three_state" => p.three_state = Some(value.text.clone()),
                "clock" => {
                    p.clock = match value.text.as_str() {
                        "true" => true,
                        "false" => false,
                        t => {
                            return Err(
                                sm.invalid(value.loc, format!("clock: expected true or false, found '{}'", clip(t)))
                            )
                        }
                    }
                }
                _ => p.other.push(s.clone()),
            },
            Statement::Group(ip) if ip.kind == "internal_power" => {
                p.internal_power.push(internal_power(sm, ip, templates)?)
            }
            Statement::Group(t) if t.kind == "timing" => p.timing.push(timing(sm, t, templates)?),
            _ => p.other.push(s.clone()),
        }
    }
    Ok(p)
}

fn internal_power(sm: &SourceMap, g: &Group, templates: &[Template]) -> R<InternalPower> {
    let mut ip = InternalPower {
        related_pin: None,
        when: None,
        rise_power: None,
        fall_power: None,
        power: None,
        other: Vec::new(),
    };
    for s in &g.body {
        match s {
            Statement::Simple { name, value, .. } if name == "related_pin" => ip.related_pin = Some(value.text.clone()),
            Statement::Simple { name, value, .. } if name == "when" => ip.when = Some(value.text.clone()),
            Statement::Group(t) if matches!(t.kind.as_str(), "rise_power" | "fall_power" | "power") => {
                let slot = match t.kind.as_str() {
                    "rise_power" => &mut ip.rise_power,
                    "fall_power" => &mut ip.fall_power,
                    _ => &mut ip.power,
                };
                if slot.is_some() {
                    return Err(sm.invalid(t.loc, format!("internal_power: {} given twice", t.kind)));
                }
                *slot = Some(table(sm, t, templates)?);
            }
            _ => ip.other.push(s.clone()),
        }
    }
    Ok(ip)
}

fn timing(sm: &SourceMap, g: &Group, templates: &[Template]) -> R<Timing> {
    let mut t = Timing {
        related_pins: Vec::new(),
        timing_sense: None,
        timing_type: None,
        tables: Vec::new(),
        other: Vec::new(),
    };
    for s in &g.body {
        match s {
            Statement::Simple { name, value, .. } if name == "related_pin" => {
                t.related_pins = value.text.split_whitespace().map(str::to_string).collect()
            }
            Statement::Simple { name, value, .. } if name == "timing_sense" => {
                t.timing_sense = Some(value.text.clone())
            }
            Statement::Simple { name, value, .. } if name == "timing_type" => t.timing_type = Some(value.text.clone()),
            Statement::Group(tg) if is_table(tg) => t.tables.push((tg.kind.clone(), table(sm, tg, templates)?)),
            _ => t.other.push(s.clone()),
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_with_prefixes() {
        assert_eq!(unit_value("1ns", "s"), Some(1e-9));
        assert_eq!(unit_value("1V", "V"), Some(1.0));
        assert_eq!(unit_value("1uA", "A"), Some(1e-6));
        assert_eq!(unit_value("1kohm", "ohm"), Some(1e3));
        assert_eq!(unit_value("1nW", "W"), Some(1e-9));
        assert_eq!(unit_value("10ps", "s"), Some(10.0 * 1e-12));
        assert_eq!(unit_value("pf", "f"), Some(1e-12));
        assert_eq!(unit_value("ff", "f"), Some(1e-15));
        assert_eq!(unit_value("1xs", "s"), None);
        assert_eq!(unit_value("", "s"), None);
    }
}
