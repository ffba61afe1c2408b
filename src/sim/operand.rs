//! How a circuit's bits are read as multiplier operands: which input port is the table row,
//! what integer a code stands for, and which circuits are signed by name. The layers above
//! (`lut`, `mult`, `accel`) take these from here, so each rule exists once.

/// Which Verilog input port feeds the LUT row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum RowPort {
    /// Port `A` (the first operand of the older EvoApprox C models).
    A,
    /// Port `B` (the default).
    B,
}

impl Default for RowPort {
    /// Port `B` is the first argument of the newer EvoApprox C models and the activation operand
    /// of TFApprox `.bin` tables.
    fn default() -> Self {
        RowPort::B
    }
}

/// The integer a `bits`-wide code stands for (two's complement when `signed`).
#[inline]
pub fn code_value(code: u32, bits: u32, signed: bool) -> i64 {
    let mask = if bits >= 32 { u32::MAX } else { (1u32 << bits) - 1 };
    let c = (code & mask) as i64;
    if signed && bits > 0 && c >> (bits - 1) & 1 == 1 {
        c - (1i64 << bits)
    } else {
        c
    }
}

/// The exact product of two codes.
#[inline]
pub fn exact_product(row: u32, row_bits: u32, col: u32, col_bits: u32, signed: bool) -> i64 {
    code_value(row, row_bits, signed) * code_value(col, col_bits, signed)
}

/// Signedness from the EvoApprox naming scheme: `mul8s_*`, `mul12s_*`, `mul8x4s_*` are signed,
/// `mul8u_*`, `mul8x4u_*` unsigned; `None` for any other name. The one rule every command uses.
pub fn signed_from_name(name: &str) -> Option<bool> {
    let rest = name.strip_prefix("mul")?;
    let size = rest.chars().take_while(|c| c.is_ascii_digit() || *c == 'x').count();
    let sized = rest.starts_with(|c: char| c.is_ascii_digit());
    match &rest[size..] {
        r if sized && r.starts_with("s_") => Some(true),
        r if sized && r.starts_with("u_") => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for (n, s) in [
            ("mul8s_1KVA", Some(true)),
            ("mul12s_2KM", Some(true)),
            ("mul8x4s_0AB", Some(true)),
            ("mul8u_JV3", Some(false)),
            ("mul8x4u_0AB", Some(false)),
            ("mul8_001", None),
            ("mul8s", None),
            ("mulxs_", None),
            ("add8s_x", None),
        ] {
            assert_eq!(signed_from_name(n), s, "{n}");
        }
    }

    #[test]
    fn codes() {
        assert_eq!(code_value(0xFF, 8, true), -1);
        assert_eq!(code_value(0xFF, 8, false), 255);
        assert_eq!(code_value(0x180, 8, true), -128);
        assert_eq!(exact_product(0xFF, 8, 2, 4, true), -2);
    }
}
