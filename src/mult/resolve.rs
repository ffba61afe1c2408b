//! Resolving `--multiplier` to a [`Multiplier`]: `exact`, a Verilog file, a table file
//! (`.bin`/`.npy`/`.h`/`.csv`, see [`crate::lut::table_file`]), or an EvoApprox name looked up in
//! `$AXDNN_EVOAPPROX`. LUT mode builds the full table by simulating the netlist on every operand
//! pair; bit-level mode keeps the netlist and simulates it for every product.

use super::{signed_from_name, Multiplier, NetlistMultiplier, RowPort};
use crate::lut::Lut;
use std::path::{Path, PathBuf};

/// Why a `--multiplier` could not be resolved to a multiplier.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The Verilog file does not parse or elaborate.
    #[error(transparent)]
    Netlist(#[from] crate::netlist::NetlistError),
    /// The netlist is not a two-operand multiplier the simulator can sweep.
    #[error("{path}: {cause}")]
    Sim {
        /// The Verilog file.
        path: PathBuf,
        /// What the simulator refused.
        cause: crate::sim::SimError,
    },
    /// An EvoApprox name with no `NAME.v` under the library folder.
    #[error("multiplier '{name}' not found: no {name}.v under {root} (set AXDNN_EVOAPPROX or give a path)")]
    NotFound {
        /// The name given.
        name: String,
        /// The folder searched.
        root: String,
    },
    /// A file or folder could not be read.
    #[error("{path}: {cause}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// A table file could not be read.
    #[error(transparent)]
    Table(#[from] crate::lut::io::LutIoError),
    /// A table file whose operands are not 8 bits each.
    #[error("{path}: a {rows}x{cols} table; the accelerator multiplies 8-bit operands (256x256)")]
    TableWidth {
        /// The table file.
        path: PathBuf,
        /// Its row count (`2^row_bits`).
        rows: usize,
        /// Its column count (`2^col_bits`).
        cols: usize,
    },
    /// A table file whose signedness is not the one the quantization scheme needs.
    #[error("{path}: {} table ({by}); the quantization scheme needs {} multiplier",
        if *signed { "a signed" } else { "an unsigned" }, if *signed { "an unsigned" } else { "a signed" })]
    TableSignedness {
        /// The table file.
        path: PathBuf,
        /// Whether the table is signed.
        signed: bool,
        /// How its signedness was decided.
        by: crate::lut::table_file::SignedBy,
    },
    /// Bit-level simulation asked of a table file (it has no gates).
    #[error("{path}: a table file has no netlist to simulate gate by gate; --bit-level needs a .v file")]
    TableBitLevel {
        /// The table file.
        path: PathBuf,
    },
    /// A spec that names no single netlist (the RTL needs one).
    #[error("--multiplier {spec}: the RTL is built around one multiplier netlist (.v), and {reason}")]
    NoNetlist {
        /// The spec as given.
        spec: String,
        /// What it names instead.
        reason: String,
    },
    /// A per-layer assignment (`conv1=A,conv2=B[,DEFAULT]`) with a bad entry.
    #[error("multiplier assignment '{spec}': entry {entry} ('{text}'): {reason}")]
    Assignment {
        /// The whole assignment as given.
        spec: String,
        /// The bad entry's position, 1-based.
        entry: usize,
        /// The bad entry's text.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A resolved multiplier with what the library publishes about it.
pub struct LoadedMultiplier {
    /// The multiplier (for an assignment: the default for layers it does not name).
    pub mult: Box<dyn Multiplier>,
    /// The Verilog or table file it came from (for an assignment, the default's); `None` for
    /// `exact`.
    pub path: Option<PathBuf>,
    /// Published MAE in percent, when the header states it.
    pub published_mae_pct: Option<f64>,
    /// Published power in mW (PDK45, the 45 nm figure of a 2017 header, or an axdnn C header),
    /// when stated; the built-in exact multiplier may be charged its library twin's.
    pub power_mw: Option<f64>,
    /// Published area in µm² (PDK45), when stated.
    pub area_um2: Option<f64>,
    /// The full table (LUT mode, or built for metrics).
    pub lut: Option<Lut>,
    /// Per-layer assignment (`conv1=A,conv2=B[,DEFAULT]`): the layers named and their
    /// multipliers; `mult` is then the default for the other approximate layers (the exact
    /// multiplier unless the spec has a bare entry). Empty for a single multiplier.
    pub layers: Vec<(String, LoadedMultiplier)>,
}

/// `(layer, multiplier spec)` per entry of an assignment; layer `None` = the default entry.
pub type AssignmentEntries = Vec<(Option<String>, String)>;

/// The entries of a per-layer assignment `LAYER=SPEC,...[,DEFAULT]` in the order written,
/// or `None` when `spec` is a single multiplier (no `=`).
pub fn split_assignment(spec: &str) -> Result<Option<AssignmentEntries>, LoadError> {
    if !spec.contains('=') || Path::new(spec).is_file() {
        return Ok(None);
    }
    let bad = |entry: usize, text: &str, reason: &str| LoadError::Assignment {
        spec: spec.into(),
        entry,
        text: text.into(),
        reason: reason.into(),
    };
    let mut out: AssignmentEntries = Vec::new();
    for (i, part) in spec.split(',').enumerate() {
        let part = part.trim();
        let entry = match part.split_once('=') {
            Some((l, m)) => {
                let (l, m) = (l.trim(), m.trim());
                if l.is_empty() || l.contains(|c: char| c.is_whitespace()) {
                    return Err(bad(i + 1, part, "the layer name before '=' is empty or has spaces"));
                }
                if out.iter().any(|e| e.0.as_deref() == Some(l)) {
                    return Err(bad(i + 1, part, "the layer is assigned twice"));
                }
                (Some(l.to_string()), m.to_string())
            }
            None => {
                if out.iter().any(|e| e.0.is_none()) {
                    return Err(bad(i + 1, part, "a second default (entries without LAYER=)"));
                }
                (None, part.to_string())
            }
        };
        if entry.1.is_empty() {
            return Err(bad(i + 1, part, "no multiplier"));
        }
        if entry.1.contains('=') {
            return Err(bad(i + 1, part, "more than one '='"));
        }
        out.push(entry);
    }
    Ok(Some(out))
}

/// Multiplier lists as given on the command line (each value of a repeatable flag): entries
/// separated by `;`, or by `,` when the value holds no per-layer assignment (`=`); so
/// `--multipliers exact,mul8u_L40` is two multipliers and
/// `--multipliers "exact;conv1=mul8u_L40,conv2=mul8u_JQQ"` an exact one and an assignment.
pub fn split_list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| {
            let sep = if v.contains(';') || v.contains('=') { ';' } else { ',' };
            v.split(sep).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect::<Vec<_>>()
        })
        .collect()
}

/// `spec` in canonical form: a single multiplier as given; an assignment with its named layers
/// first in the order written, then the default (omitted when it is `exact` by default).
pub fn canonical_spec(spec: &str) -> String {
    match split_assignment(spec) {
        Ok(Some(entries)) => {
            let mut parts: Vec<String> =
                entries.iter().filter_map(|(l, m)| l.as_ref().map(|l| format!("{l}={m}"))).collect();
            parts.extend(entries.iter().filter(|e| e.0.is_none()).map(|e| e.1.clone()));
            parts.join(",")
        }
        _ => spec.to_string(),
    }
}

/// Whether the circuit or its file is named signed (`mul8s_*`, `mul8x4s_*`, …; see
/// [`signed_from_name`]).
pub fn signed_by_name(circuit: &str, path: &Path) -> bool {
    signed_from_name(circuit) == Some(true)
        || path.file_stem().and_then(|s| s.to_str()).and_then(signed_from_name) == Some(true)
}

/// Find `NAME.v` (or `mul8u_NAME.v` / `mul8s_NAME.v`) anywhere under `root`.
pub fn find_in_tree(root: &Path, name: &str) -> Option<PathBuf> {
    let wanted = [format!("{name}.v"), format!("mul8u_{name}.v"), format!("mul8s_{name}.v")];
    let mut stack = vec![root.to_path_buf()];
    let mut found: Vec<PathBuf> = Vec::new();
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        let mut entries: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().and_then(|f| f.to_str()).is_some_and(|f| wanted.iter().any(|w| w == f)) {
                found.push(p);
            }
        }
    }
    found.sort();
    found.into_iter().next()
}

/// Every `.v` file under `dir`, sorted.
pub fn verilog_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|source| LoadError::Io { path: d.clone(), cause: source })?;
        for e in rd.filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "v") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Load a multiplier from a Verilog file. `bit_level`: keep the netlist (products simulated
/// gate by gate); otherwise build the table once.
pub fn from_verilog(path: &Path, bit_level: bool) -> Result<LoadedMultiplier, LoadError> {
    let parsed = crate::netlist::parse_file(path)?;
    let signed = signed_by_name(&parsed.netlist.name, path);
    let pubd = &parsed.published;
    let power = pubd.pdk45_pwr_mw.as_ref().map(|f| f.value).or(pubd.power_45.as_ref().map(|f| f.value / 1000.0));
    let area = pubd.pdk45_area_um2.as_ref().map(|f| f.value).or(pubd.area_45.as_ref().map(|f| f.value));
    let mae = pubd.mae_pct.as_ref().map(|f| f.value);
    let sim_err = |source| LoadError::Sim { path: path.to_path_buf(), cause: source };
    let mut lut = crate::lut::exhaustive_lut(&parsed.netlist, RowPort::B, signed).map_err(sim_err)?;
    lut.power_mw = power;
    lut.name = parsed.netlist.name.clone();
    let mult: Box<dyn Multiplier> = if bit_level {
        Box::new(NetlistMultiplier::new(&parsed.netlist, RowPort::B, signed).map_err(sim_err)?.with_power_mw(power))
    } else {
        Box::new(lut.clone())
    };
    Ok(LoadedMultiplier {
        mult,
        path: Some(path.to_path_buf()),
        published_mae_pct: mae,
        power_mw: power,
        area_um2: area,
        lut: Some(lut),
        layers: Vec::new(),
    })
}

/// Load a multiplier from a table file (`stated`: signedness given as `FILE:signed|unsigned`),
/// checked to be 8x8 and of the signedness `scheme_signed` the quantization scheme needs. No
/// published MAE or area; power only from an axdnn C header.
pub fn from_table(
    path: &Path,
    stated: Option<bool>,
    scheme_signed: bool,
    bit_level: bool,
) -> Result<LoadedMultiplier, LoadError> {
    if bit_level {
        return Err(LoadError::TableBitLevel { path: path.into() });
    }
    let t = crate::lut::table_file::open(path, stated)?;
    if (t.lut.row_bits, t.lut.col_bits) != (8, 8) {
        return Err(LoadError::TableWidth { path: path.into(), rows: 1 << t.lut.row_bits, cols: 1 << t.lut.col_bits });
    }
    if t.lut.signed != scheme_signed {
        return Err(LoadError::TableSignedness { path: path.into(), signed: t.lut.signed, by: t.signed_by });
    }
    let power_mw = t.lut.power_mw;
    Ok(LoadedMultiplier {
        mult: Box::new(t.lut.clone()),
        path: Some(path.into()),
        published_mae_pct: None,
        power_mw,
        area_um2: None,
        lut: Some(t.lut),
        layers: Vec::new(),
    })
}

/// The published PDK45 power of the library's exact 8×8 multiplier (mul8u_1JFF, or mul8s_1KV8
/// for signed schemes), which exact layers and the built-in exact multiplier are charged.
pub fn exact_power_mw(evoapprox_root: Option<&Path>, signed: bool) -> Option<f64> {
    let name = if signed { "mul8s_1KV8" } else { "mul8u_1JFF" };
    let p = find_in_tree(evoapprox_root?, name)?;
    crate::netlist::parse_file(&p).ok()?.published.pdk45_pwr_mw.map(|f| f.value)
}

impl LoadedMultiplier {
    /// Whether this is a per-layer assignment.
    pub fn is_assignment(&self) -> bool {
        !self.layers.is_empty()
    }

    /// How results name it: the multiplier's own name, or for an assignment its canonical
    /// spec (`spec` as given).
    pub fn label(&self, spec: &str) -> String {
        if self.is_assignment() {
            canonical_spec(spec)
        } else {
            self.mult.name().to_string()
        }
    }

    /// The per-layer entries as the accelerator takes them.
    pub fn layer_refs(&self) -> Vec<(&str, &dyn Multiplier)> {
        self.layers.iter().map(|(l, m)| (l.as_str(), m.mult.as_ref())).collect()
    }

    /// The sha256 of the multiplier's table; for an assignment, of the text
    /// `default=SHA;LAYER=SHA;...` (layers sorted), so the key changes with any layer's table.
    pub fn lut_sha256(&self) -> String {
        let own = self.lut.as_ref().map(|l| l.sha256()).unwrap_or_default();
        if self.layers.is_empty() {
            return own;
        }
        let mut parts: Vec<String> = self.layers.iter().map(|(l, m)| format!("{l}={}", m.lut_sha256())).collect();
        parts.sort();
        let text = format!("default={own};{}", parts.join(";"));
        crate::util::sha256_hex(text.as_bytes())
    }

    /// Charge a built-in (power-less) multiplier the given power, table and all.
    pub fn charged(mut self, power_mw: Option<f64>) -> LoadedMultiplier {
        if let Some(mut lut) = self.lut.take() {
            lut.power_mw = power_mw;
            self.mult = Box::new(lut.clone());
            self.lut = Some(lut);
        }
        self.power_mw = power_mw;
        self
    }
}

/// `exact`, a path to a `.v` file, a table file (`FILE.bin|npy|h|csv[:signed|:unsigned]`), or a
/// name searched under `evoapprox_root`. `signed`: what the quantization scheme needs (the exact
/// multiplier is built so; a table file must be so).
pub fn resolve(
    spec: &str,
    signed: bool,
    bit_level: bool,
    evoapprox_root: Option<&Path>,
) -> Result<LoadedMultiplier, LoadError> {
    resolve_charged(spec, signed, bit_level, evoapprox_root, None)
}

/// [`resolve`], also accepting a per-layer assignment `LAYER=SPEC,...[,DEFAULT]` (see
/// [`split_assignment`]); the built-in exact multiplier (alone or in an assignment) is charged
/// `exact_power_mw`, the published power of the library's exact circuit.
pub fn resolve_charged(
    spec: &str,
    signed: bool,
    bit_level: bool,
    evoapprox_root: Option<&Path>,
    exact_power_mw: Option<f64>,
) -> Result<LoadedMultiplier, LoadError> {
    let Some(entries) = split_assignment(spec)? else {
        let m = resolve_one(spec, signed, bit_level, evoapprox_root)?;
        return Ok(if spec == "exact" && exact_power_mw.is_some() { m.charged(exact_power_mw) } else { m });
    };
    let one = |i: usize, s: &str| -> Result<LoadedMultiplier, LoadError> {
        let m = resolve_one(s, signed, bit_level, evoapprox_root).map_err(|e| LoadError::Assignment {
            spec: spec.into(),
            entry: i + 1,
            text: s.into(),
            reason: e.to_string(),
        })?;
        Ok(if s == "exact" { m.charged(exact_power_mw) } else { m })
    };
    let mut default = None;
    let mut layers = Vec::new();
    for (i, (layer, s)) in entries.iter().enumerate() {
        let m = one(i, s)?;
        match layer {
            Some(l) => layers.push((l.clone(), m)),
            None => default = Some(m),
        }
    }
    let mut m = match default {
        Some(d) => d,
        None => resolve_one("exact", signed, bit_level, evoapprox_root)?.charged(exact_power_mw),
    };
    m.layers = layers;
    Ok(m)
}

fn resolve_one(
    spec: &str,
    signed: bool,
    bit_level: bool,
    evoapprox_root: Option<&Path>,
) -> Result<LoadedMultiplier, LoadError> {
    if spec == "exact" {
        let lut = Lut::exact(8, 8, signed);
        return Ok(LoadedMultiplier {
            mult: Box::new(lut.clone()),
            path: None,
            published_mae_pct: Some(0.0),
            power_mw: None,
            area_um2: None,
            lut: Some(lut),
            layers: Vec::new(),
        });
    }
    if let Some((file, stated)) = crate::lut::table_file::parse_spec(spec) {
        return from_table(&file, stated, signed, bit_level);
    }
    from_verilog(&verilog_path(spec, evoapprox_root)?, bit_level)
}

/// The Verilog file a spec names: a path (a `.v` file, an existing file, or any spec with a
/// `/`: `/dev/null` is not the library name `/dev/null.v`), else `NAME.v` under `evoapprox_root`.
fn verilog_path(spec: &str, evoapprox_root: Option<&Path>) -> Result<PathBuf, LoadError> {
    let p = Path::new(spec);
    if p.extension().is_some_and(|x| x == "v") || p.is_file() || spec.contains('/') {
        return Ok(p.to_path_buf());
    }
    let root = evoapprox_root.ok_or_else(|| LoadError::NotFound {
        name: spec.into(),
        root: "$AXDNN_EVOAPPROX (unset, no ../shared/evoapprox)".into(),
    })?;
    find_in_tree(root, spec).ok_or_else(|| LoadError::NotFound { name: spec.into(), root: root.display().to_string() })
}

/// The 8×8 multipliers of a library folder of the given signedness (by name, the one rule),
/// one file per circuit (`*_pdk45.v` twins and copies in other folders left out), sorted; with
/// why each other `.v` file was skipped.
pub fn library(dir: &Path, signed: bool) -> Result<(Vec<PathBuf>, Vec<String>), LoadError> {
    let mut files = verilog_files(dir)?;
    files.retain(|f| !f.file_stem().and_then(|s| s.to_str()).is_some_and(|s| s.ends_with("_pdk45")));
    let mut seen = std::collections::BTreeSet::new();
    files.retain(|f| seen.insert(f.file_stem().map(|s| s.to_os_string())));
    let (mut out, mut skipped) = (Vec::new(), Vec::new());
    for f in files {
        let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        if (signed_from_name(&stem) == Some(true)) != signed {
            continue;
        }
        match crate::netlist::parse_file(&f) {
            Ok(p) => {
                let widths: Vec<usize> = p.netlist.inputs.iter().map(|i| i.width()).collect();
                if widths == [8, 8] {
                    out.push(f);
                } else {
                    skipped.push(format!("{stem}: inputs {widths:?} bits, need 8x8"));
                }
            }
            Err(e) => skipped.push(format!("{}: {e}", f.display())),
        }
    }
    Ok((out, skipped))
}

/// The Verilog netlist a spec names: a `.v` file, or an EvoApprox name under `evoapprox_root`.
/// Per-layer assignments and table files are refused: they have no single netlist.
pub fn netlist_file(spec: &str, evoapprox_root: Option<&Path>) -> Result<PathBuf, LoadError> {
    if split_assignment(spec)?.is_some() {
        return Err(LoadError::NoNetlist { spec: spec.into(), reason: "a per-layer assignment names several".into() });
    }
    if let Some((file, _)) = crate::lut::table_file::parse_spec(spec) {
        return Err(LoadError::NoNetlist { spec: spec.into(), reason: format!("{} is a table file", file.display()) });
    }
    verilog_path(spec, evoapprox_root)
}
