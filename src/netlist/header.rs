//! Published figures from the header comment of an EvoApprox netlist: `// KEY = value [unit]`
//! lines before the first `module` (EvoApproxLib: `MAE% = 2.15 %`; evoapprox8b:
//! `Area   (180) = 5200`). Values are kept together with the unit of their last printed digit,
//! so that a recomputed metric can be compared "after rounding".

/// A published figure as printed: value plus the unit of its last printed digit
/// (e.g. "2.15" -> value 2.15, ulp 0.01; MSE "30865.11e2" -> value 3086511, ulp 1; "1409" -> ulp 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The number printed (e.g. 2.15).
    pub value: f64,
    /// The unit of the last printed digit (0.01 for "2.15", 1 for "30865.11e2").
    pub ulp: f64,
    /// The number's text as printed.
    pub text: String,
}

impl Figure {
    /// Parse a printed decimal number (`1409`, `2.15`, `30865.11e2`, `-0.5`).
    pub fn parse(text: &str) -> Option<Figure> {
        let t = text.trim();
        let value: f64 = t.parse().ok()?;
        if !value.is_finite() {
            return None;
        }
        let (mant, exp) = match t.find(['e', 'E']) {
            Some(i) => (&t[..i], t[i + 1..].parse::<i32>().ok()?),
            None => (t, 0),
        };
        let decimals = mant.find('.').map_or(0, |i| (mant.len() - i - 1) as i32);
        if !mant.bytes().any(|b| b.is_ascii_digit()) {
            return None;
        }
        let ulp = 10f64.powi(exp - decimals);
        Some(Figure { value, ulp, text: t.to_string() })
    }

    /// Does `x` round to this figure? True when `|x - value| <= ulp/2` (with a small relative
    /// slack for binary floating point; a value exactly halfway may be rounded either way).
    pub fn matches(&self, x: f64) -> bool {
        (x - self.value).abs() <= self.ulp * 0.5 * (1.0 + 1e-9) + 1e-12 * self.value.abs()
    }
}

/// Published metrics of one circuit; `None` when the header lacks the line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Published {
    // EvoApproxLib (`// KEY = value [unit]`)
    /// `MAE%`: mean absolute error, % of the output range (2¹⁶ for 8×8 multipliers).
    pub mae_pct: Option<Figure>,
    /// `MAE`: mean absolute error, in product units.
    pub mae: Option<Figure>,
    /// `WCE%`: worst-case absolute error, % of the output range (2¹⁶ for 8×8 multipliers).
    pub wce_pct: Option<Figure>,
    /// `WCE`: worst-case absolute error, in product units.
    pub wce: Option<Figure>,
    /// `WCRE%`: worst-case relative error, %.
    pub wcre_pct: Option<Figure>,
    /// `EP%`: error probability (share of operand pairs with a wrong product), %.
    pub ep_pct: Option<Figure>,
    /// `MRE%`: mean relative error, %.
    pub mre_pct: Option<Figure>,
    /// `MSE`: mean squared error, in squared product units.
    pub mse: Option<Figure>,
    /// `PDK45_PWR`: power in the 45 nm PDK, mW.
    pub pdk45_pwr_mw: Option<Figure>,
    /// `PDK45_AREA`: area in the 45 nm PDK, µm².
    pub pdk45_area_um2: Option<Figure>,
    /// `PDK45_DELAY`: critical-path delay in the 45 nm PDK, ns.
    pub pdk45_delay_ns: Option<Figure>,
    // evoapprox8b (2017)
    /// `Library`: the library name (e.g. `EvoApprox8b`); its presence marks the 2017 header style.
    pub library: Option<String>,
    /// `Circuit`: the circuit name (e.g. `mul8_412`).
    pub circuit: Option<String>,
    /// `Area (180)`: area in the 180 nm technology, as published.
    pub area_180: Option<Figure>,
    /// `Delay (180)`: delay in the 180 nm technology, as published.
    pub delay_180: Option<Figure>,
    /// `Power (180)`: power in the 180 nm technology, as published.
    pub power_180: Option<Figure>,
    /// `Area (45)`: area in the 45 nm technology, as published.
    pub area_45: Option<Figure>,
    /// `Delay (45)`: delay in the 45 nm technology, as published.
    pub delay_45: Option<Figure>,
    /// `Power (45)`: power in the 45 nm technology, as published.
    pub power_45: Option<Figure>,
    /// `Nodes`: the circuit's node count, as published.
    pub nodes: Option<Figure>,
    /// `HD`: the Hamming-distance figure, as published.
    pub hd: Option<Figure>,
    /// `MAE` (2017 style): mean absolute error, in product units.
    pub mae_8b: Option<Figure>,
    /// `MSE` (2017 style): mean squared error, in squared product units.
    pub mse_8b: Option<Figure>,
    /// `MRE` (2017 style): mean relative error, %.
    pub mre_8b_pct: Option<Figure>,
    /// `WCE` (2017 style): worst-case absolute error, in product units.
    pub wce_8b: Option<Figure>,
    /// `WCRE` (2017 style): worst-case relative error, %.
    pub wcre_8b_pct: Option<Figure>,
    /// `EP` (2017 style): error probability, %.
    pub ep_8b_pct: Option<Figure>,
}

impl Published {
    /// True when no figure at all was found.
    pub fn is_empty(&self) -> bool {
        *self == Published::default()
    }
}

/// Read the `// KEY = value` lines that precede the first `module` keyword.
pub fn parse_header(src: &str) -> Published {
    let mut pairs: Vec<(String, &str)> = Vec::new();
    for line in src.lines() {
        let l = line.trim_start();
        if l.starts_with("module") {
            break;
        }
        let Some(rest) = l.strip_prefix("//") else { continue };
        let Some(eq) = rest.find('=') else { continue };
        // Keys may contain spaces ("Area   (180)"); compare them without whitespace.
        let key: String = rest[..eq].chars().filter(|c| !c.is_whitespace()).collect();
        let value = rest[eq + 1..].split_whitespace().next().unwrap_or("");
        pairs.push((key.to_ascii_uppercase(), value));
    }
    let is_8b = pairs.iter().any(|(k, _)| k == "LIBRARY");
    let mut p = Published::default();
    for (key, value) in pairs {
        let fig = Figure::parse(value);
        let slot = match (key.as_str(), is_8b) {
            ("LIBRARY", _) => {
                p.library = Some(value.to_string());
                continue;
            }
            ("CIRCUIT", _) => {
                p.circuit = Some(value.to_string());
                continue;
            }
            ("MAE%", _) => &mut p.mae_pct,
            ("MAE", false) => &mut p.mae,
            ("WCE%", _) => &mut p.wce_pct,
            ("WCE", false) => &mut p.wce,
            ("WCRE%", _) => &mut p.wcre_pct,
            ("EP%", _) => &mut p.ep_pct,
            ("MRE%", _) => &mut p.mre_pct,
            ("MSE", false) => &mut p.mse,
            ("PDK45_PWR", _) => &mut p.pdk45_pwr_mw,
            ("PDK45_AREA", _) => &mut p.pdk45_area_um2,
            ("PDK45_DELAY", _) => &mut p.pdk45_delay_ns,
            ("AREA(180)", _) => &mut p.area_180,
            ("DELAY(180)", _) => &mut p.delay_180,
            ("POWER(180)", _) => &mut p.power_180,
            ("AREA(45)", _) => &mut p.area_45,
            ("DELAY(45)", _) => &mut p.delay_45,
            ("POWER(45)", _) => &mut p.power_45,
            ("NODES", _) => &mut p.nodes,
            ("HD", _) => &mut p.hd,
            ("MAE", true) => &mut p.mae_8b,
            ("MSE", true) => &mut p.mse_8b,
            ("MRE", true) => &mut p.mre_8b_pct,
            ("WCE", true) => &mut p.wce_8b,
            ("WCRE", true) => &mut p.wcre_8b_pct,
            ("EP", true) => &mut p.ep_8b_pct,
            _ => continue,
        };
        if slot.is_none() {
            *slot = fig;
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_keep_their_last_digit() {
        let f = Figure::parse("2.15").unwrap();
        assert_eq!(f.value, 2.15);
        assert!((f.ulp - 0.01).abs() < 1e-15);
        let f = Figure::parse("30865.11e2").unwrap();
        assert_eq!((f.value, f.ulp), (3086511.0, 1.0));
        let f = Figure::parse("1409").unwrap();
        assert_eq!((f.value, f.ulp), (1409.0, 1.0));
        let f = Figure::parse("15608.397e3").unwrap();
        assert_eq!((f.value, f.ulp), (15608397.0, 1.0));
        assert!(Figure::parse("abc").is_none());
        assert!(Figure::parse("").is_none());
        assert!(Figure::parse("2.15").unwrap().matches(2.1549));
        assert!(!Figure::parse("2.15").unwrap().matches(2.156));
    }

    #[test]
    fn both_header_styles() {
        let lib = "/***\n* x\n***/\n// MAE% = 2.15 %\n// MAE = 1409 \n// MSE = 30865.11e2 \n\
                   // PDK45_PWR = 0.034 mW\nmodule m(A);\n// MAE = 5\n";
        let p = parse_header(lib);
        assert_eq!(p.mae_pct.as_ref().unwrap().value, 2.15);
        assert_eq!(p.mae.as_ref().unwrap().value, 1409.0);
        assert_eq!(p.mse.as_ref().unwrap().value, 3086511.0);
        assert_eq!(p.pdk45_pwr_mw.as_ref().unwrap().text, "0.034");
        assert!(p.mae_8b.is_none() && p.library.is_none());
        let b8 = "// Library = EvoApprox8b\n// Circuit = mul8_001\n// Area   (180) = 5200\n\
                  // Delay  (45) = 1.330\n// MAE = 239.95550\n// MRE = 5.36 %\n// EP = 98.2 %\n";
        let p = parse_header(b8);
        assert_eq!(p.library.as_deref(), Some("EvoApprox8b"));
        assert_eq!(p.circuit.as_deref(), Some("mul8_001"));
        assert_eq!(p.area_180.as_ref().unwrap().value, 5200.0);
        assert!((p.delay_45.as_ref().unwrap().ulp - 0.001).abs() < 1e-15);
        assert_eq!(p.mae_8b.as_ref().unwrap().value, 239.9555);
        assert_eq!(p.mre_8b_pct.as_ref().unwrap().value, 5.36);
        assert_eq!(p.ep_8b_pct.as_ref().unwrap().value, 98.2);
        assert!(p.mae.is_none());
    }
}
