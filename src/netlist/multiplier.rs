//! Is a netlist a multiplier? Everything that reads a netlist as a multiplier (LUT sweeps,
//! bit-level simulation, RTL co-simulation) goes through [`multiplier_ports`], so an adder, a
//! multiply-add with a third operand or a product of the wrong width is refused with one error
//! naming the port, instead of being measured as a strange multiplier.

use super::ir::{Netlist, Op};

/// Why a netlist is not a multiplier, naming the port at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("circuit {circuit}: port {port}: {reason}")]
pub struct NotAMultiplier {
    /// The netlist's name.
    pub circuit: String,
    /// The port at fault (`A`, `B`, an output, or a stray input).
    pub port: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The ports of a multiplier: indices into `Netlist::inputs` / `outputs` and widths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MulPorts {
    /// Index of port `A` in `Netlist::inputs`.
    pub a: usize,
    /// Index of port `B` in `Netlist::inputs`.
    pub b: usize,
    /// Width of `A`.
    pub a_bits: u32,
    /// Width of `B`.
    pub b_bits: u32,
    /// Width of the product (`a_bits + b_bits`).
    pub out_bits: u32,
}

/// Operand widths a circuit name states, EvoApprox style: `mul8u_JV3` → 8×8, `mul8x4u_555` →
/// 8×4 (A × B), `mul8_412` → 8×8; `None` for names that state none.
pub fn stated_widths(name: &str) -> Option<(u32, u32)> {
    let rest = name.strip_prefix("mul")?;
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let n = digits(rest);
    let a: u32 = rest[..n].parse().ok()?;
    let mut rest = &rest[n..];
    let mut b = a;
    if let Some(r) = rest.strip_prefix('x') {
        let m = digits(r);
        b = r[..m].parse().ok()?;
        rest = &r[m..];
    }
    let rest = rest.strip_prefix(['u', 's']).unwrap_or(rest);
    // `mul8u_JV3`, `mul8_412`, `mul4u` — but not `mul8ux` or `multiply`.
    (rest.is_empty() || rest.starts_with('_')).then_some((a, b))
}

/// Check that `net` has the shape of a multiplier: exactly two input buses `A` and `B` (of the
/// widths its name states, if it states any), exactly one output whose width is their sum, and
/// each operand reaching that output through the gates. Bits of an operand may go unused (a
/// truncated multiplier drops low ones), a whole operand may not, unless both are (a constant).
pub fn multiplier_ports(net: &Netlist) -> Result<MulPorts, NotAMultiplier> {
    let err = |port: &str, reason: String| NotAMultiplier { circuit: net.name.clone(), port: port.into(), reason };
    let find = |name: &str| {
        net.inputs.iter().position(|p| p.name == name).ok_or_else(|| {
            let have: Vec<&str> = net.inputs.iter().map(|p| p.name.as_str()).collect();
            err(name, format!("no such input (a multiplier's operands are A and B; inputs: {})", have.join(", ")))
        })
    };
    let (a, b) = (find("A")?, find("B")?);
    if let Some(extra) = net.inputs.iter().find(|p| p.name != "A" && p.name != "B") {
        return Err(err(&extra.name, "a third input: a multiplier has exactly two inputs, A and B".into()));
    }
    if net.inputs.len() != 2 {
        return Err(err("A", "declared more than once".into()));
    }
    let out = match net.outputs.as_slice() {
        [o] => o,
        [] => return Err(err("(none)", "no output: a multiplier has exactly one, the product".into())),
        [_, second, ..] => {
            return Err(err(
                &second.name,
                format!("a second output ({} in all): a multiplier has exactly one, the product", net.outputs.len()),
            ))
        }
    };
    let (wa, wb, wo) = (net.inputs[a].width(), net.inputs[b].width(), out.width());
    for (name, w) in [("A", wa), ("B", wb)] {
        if w == 0 {
            return Err(err(name, "has no bits".into()));
        }
    }
    if let Some((sa, sb)) = stated_widths(&net.name) {
        for (name, w, s) in [("A", wa, sa), ("B", wb, sb)] {
            if w != s as usize {
                return Err(err(name, format!("{w} bits wide, but the name {} states {sa}x{sb}", net.name)));
            }
        }
    }
    if wo != wa + wb {
        return Err(err(
            &out.name,
            format!("{wo} bits wide; the product of {wa}-bit A and {wb}-bit B needs {} bits", wa + wb),
        ));
    }
    // Which nodes the output depends on (fan-ins always precede their gate).
    let mut live = vec![false; net.nodes.len()];
    for &n in &out.bits {
        if let Some(l) = live.get_mut(n as usize) {
            *l = true;
        }
    }
    for i in (0..net.nodes.len()).rev() {
        if live[i] && net.nodes[i].op != Op::Input {
            let node = &net.nodes[i];
            for &f in &node.fanin[..node.op.arity()] {
                if let Some(l) = live.get_mut(f as usize) {
                    *l = true;
                }
            }
        }
    }
    let reaches = |idx: usize| net.inputs[idx].bits.iter().any(|&n| live.get(n as usize).copied().unwrap_or(false));
    // A product ignoring both operands is a constant: the degenerate end of EvoApprox's
    // power-error Pareto sets (mul8u_E9R and six more, all zero at 0 mW), kept so that library
    // sweeps still see them. Ignoring one operand only is no multiplier (`O = A * 3`).
    match (reaches(a), reaches(b)) {
        (false, true) => {
            return Err(err("A", format!("no bit of A reaches the output {}: the product ignores it", out.name)))
        }
        (true, false) => {
            return Err(err("B", format!("no bit of B reaches the output {}: the product ignores it", out.name)))
        }
        _ => {}
    }
    Ok(MulPorts { a, b, a_bits: wa as u32, b_bits: wb as u32, out_bits: wo as u32 })
}

#[cfg(test)]
mod tests {
    use super::stated_widths;

    #[test]
    fn widths_from_names() {
        assert_eq!(stated_widths("mul8u_JV3"), Some((8, 8)));
        assert_eq!(stated_widths("mul8x4u_555"), Some((8, 4)));
        assert_eq!(stated_widths("mul8_412"), Some((8, 8)));
        assert_eq!(stated_widths("mul12s_2KM"), Some((12, 12)));
        assert_eq!(stated_widths("mul3x3s_behav"), Some((3, 3)));
        assert_eq!(stated_widths("mul4u"), Some((4, 4)));
        assert_eq!(stated_widths("multiply"), None);
        assert_eq!(stated_widths("mul8ux_q"), None);
        assert_eq!(stated_widths("adder8"), None);
        assert_eq!(stated_widths("mul"), None);
        assert_eq!(stated_widths("mul99999999999_x"), None);
    }
}
