//! The PDK45 cell library as data: pins and output functions of the 15 cell types that occur in
//! the EvoApprox netlists (functional, zero-delay view; see the table in the EvoApprox README),
//! plus the mapping from the mangled `PDKGEN…` names of the 2017 generic files.

use super::ir::Op;

/// One output pin of a cell: its name and the primitive computing it from the cell's inputs
/// (fan-in order = the order of [`Cell::inputs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellOutput {
    /// The pin's name (e.g. `Y`, `YS`).
    pub pin: &'static str,
    /// The primitive that computes the pin from the cell's inputs.
    pub op: Op,
}

/// A library cell: input pins in fan-in order and output pins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    /// The cell's name (e.g. `FAX1`).
    pub name: &'static str,
    /// Input pin names in fan-in order.
    pub inputs: &'static [&'static str],
    /// Output pins (two for the adder cells HAX1 and FAX1).
    pub outputs: &'static [CellOutput],
}

const fn out(pin: &'static str, op: Op) -> CellOutput {
    CellOutput { pin, op }
}

/// All cell types; functions as in the README's table (MUX2X1: `S ? B : A`, fan-in `[A, B, S]`).
pub static CELLS: &[Cell] = &[
    Cell { name: "AND2X1", inputs: &["A", "B"], outputs: &[out("Y", Op::And)] },
    Cell { name: "OR2X1", inputs: &["A", "B"], outputs: &[out("Y", Op::Or)] },
    Cell { name: "NAND2X1", inputs: &["A", "B"], outputs: &[out("Y", Op::Nand)] },
    Cell { name: "NOR2X1", inputs: &["A", "B"], outputs: &[out("Y", Op::Nor)] },
    Cell { name: "XOR2X1", inputs: &["A", "B"], outputs: &[out("Y", Op::Xor)] },
    Cell { name: "XNOR2X1", inputs: &["A", "B"], outputs: &[out("Y", Op::Xnor)] },
    Cell { name: "NAND3X1", inputs: &["A", "B", "C"], outputs: &[out("Y", Op::Nand3)] },
    Cell { name: "NOR3X1", inputs: &["A", "B", "C"], outputs: &[out("Y", Op::Nor3)] },
    Cell { name: "AOI21X1", inputs: &["A", "B", "C"], outputs: &[out("Y", Op::Aoi21)] },
    Cell { name: "OAI21X1", inputs: &["A", "B", "C"], outputs: &[out("Y", Op::Oai21)] },
    Cell { name: "INVX1", inputs: &["A"], outputs: &[out("Y", Op::Not)] },
    Cell { name: "BUFX2", inputs: &["A"], outputs: &[out("Y", Op::Buf)] },
    Cell { name: "MUX2X1", inputs: &["A", "B", "S"], outputs: &[out("Y", Op::Mux)] },
    Cell { name: "HAX1", inputs: &["A", "B"], outputs: &[out("YS", Op::Xor), out("YC", Op::And)] },
    Cell { name: "FAX1", inputs: &["A", "B", "C"], outputs: &[out("YS", Op::Xor3), out("YC", Op::Maj)] },
];

impl Cell {
    /// Fan-in position of input pin `pin`, if the cell has it.
    pub fn input_index(&self, pin: &str) -> Option<usize> {
        self.inputs.iter().position(|&p| p == pin)
    }
    /// Position of output pin `pin` in [`Cell::outputs`], if the cell has it.
    pub fn output_index(&self, pin: &str) -> Option<usize> {
        self.outputs.iter().position(|o| o.pin == pin)
    }
    /// All pin names, inputs first (for error messages).
    pub fn pins(&self) -> Vec<&'static str> {
        self.inputs.iter().copied().chain(self.outputs.iter().map(|o| o.pin)).collect()
    }
}

/// The PDK45 name behind a (possibly mangled) cell name: `PDKGEN` is deleted repeatedly until
/// none is left, which undoes the repeated text substitution that produced names such as
/// `PDKGEPDKGENNAND2X1` (= AND2X1) or `XPDKGENNPDKGENOR2X1` (= XNOR2X1).
pub fn demangle(name: &str) -> std::borrow::Cow<'_, str> {
    if !name.contains("PDKGEN") {
        return std::borrow::Cow::Borrowed(name);
    }
    let mut s = name.to_string();
    while let Some(i) = s.find("PDKGEN") {
        s.replace_range(i..i + 6, "");
    }
    std::borrow::Cow::Owned(s)
}

/// Look a cell up by its source name (mangled or not).
pub fn lookup(name: &str) -> Option<&'static Cell> {
    let d = demangle(name);
    CELLS.iter().find(|c| c.name == d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mangled_names_map_as_the_readme_pairing_says() {
        let pairs = [
            ("PDKGENAND2X1", "AND2X1"),
            ("PDKGEPDKGENNAND2X1", "AND2X1"),
            ("NPDKGEPDKGENNAND2X1", "NAND2X1"),
            ("PDKGEPDKGENNOR2X1", "OR2X1"),
            ("PDKGENNPDKGENOR2X1", "NOR2X1"),
            ("NPDKGEPDKGENNOR2X1", "NOR2X1"),
            ("PDKGENXPDKGENOR2X1", "XOR2X1"),
            ("XPDKGENOR2X1", "XOR2X1"),
            ("XPDKGEPDKGENNOR2X1", "XOR2X1"),
            ("PDKGENXNPDKGENOR2X1", "XNOR2X1"),
            ("PDKGENXPDKGENNPDKGENOR2X1", "XNOR2X1"),
            ("XNPDKGENOR2X1", "XNOR2X1"),
            ("XNPDKGEPDKGENNOR2X1", "XNOR2X1"),
            ("XPDKGENNPDKGENOR2X1", "XNOR2X1"),
            ("PDKGENFAX1", "FAX1"),
            ("MUX2X1", "MUX2X1"),
        ];
        for (m, want) in pairs {
            assert_eq!(lookup(m).map(|c| c.name), Some(want), "{m}");
        }
        assert!(lookup("AND3X1").is_none());
        assert_eq!(CELLS.len(), 15);
    }

    /// Each cell's primitive agrees with the README formula on every input combination.
    #[test]
    fn cell_functions_match_the_table() {
        for v in 0..8u8 {
            let (a, b, c) = (v & 1 != 0, v & 2 != 0, v & 4 != 0);
            let f = |name: &str, pin: &str| {
                let cell = lookup(name).unwrap();
                cell.outputs[cell.output_index(pin).unwrap()].op.eval_word(a, b, c)
            };
            assert_eq!(f("AND2X1", "Y"), a & b);
            assert_eq!(f("OR2X1", "Y"), a | b);
            assert_eq!(f("NAND2X1", "Y"), !(a & b));
            assert_eq!(f("NOR2X1", "Y"), !(a | b));
            assert_eq!(f("XOR2X1", "Y"), a ^ b);
            assert_eq!(f("XNOR2X1", "Y"), !(a ^ b));
            assert_eq!(f("NAND3X1", "Y"), !(a & b & c));
            assert_eq!(f("NOR3X1", "Y"), !(a | b | c));
            assert_eq!(f("AOI21X1", "Y"), !((a & b) | c));
            assert_eq!(f("OAI21X1", "Y"), !((a | b) & c));
            assert_eq!(f("INVX1", "Y"), !a);
            assert_eq!(f("BUFX2", "Y"), a);
            assert_eq!(f("MUX2X1", "Y"), if c { b } else { a });
            assert_eq!(f("HAX1", "YS"), a ^ b);
            assert_eq!(f("HAX1", "YC"), a & b);
            assert_eq!(f("FAX1", "YS"), a ^ b ^ c);
            assert_eq!(f("FAX1", "YC"), (a & b) | (a & c) | (b & c));
        }
    }
}
