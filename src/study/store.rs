//! The results store: one folder holding `plan.lock.toml` (the effective plan) and
//! `results.csv` (one row per measured [`RunKey`]). Every write replaces the file atomically
//! (temporary file + rename), so a killed study leaves the last complete state and resumes
//! from it. Rows are kept in the plan's cell order, rows of no current cell after them (sorted
//! by key), so the same set of rows is always the same bytes: a merged set of shard stores equals
//! the unsharded store byte for byte.
//!
//! One writer at a time: a writer holds [`FolderLock`] (an OS file lock on `.lock`) for its whole
//! run, so a second run or merge into the folder waits for it, saying who holds it, and then
//! starts from every row the first one saved. The kernel drops the lock of a killed process.
//!
//! Nothing read is trusted blindly. Each row's accuracy and Wilson interval are recomputed from
//! its counts, its outcome bits must hold those counts, every row of one accelerator must state
//! the same MAE, power, cycles and energy, and one key may not hold two different measurements.
//! Files written since row checks exist end in a [`CHECK_COLUMN`] over the row's other fields,
//! so an edited or torn row is an error naming its line. Files without the column (written
//! before it existed, like the stores under `results/reproduce`) are read with the other checks
//! only and gain the column the next time `study run` saves them (a one-time migration that
//! changes no number).

use super::stats::Proportion;
use super::{Plan, StudyError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The results file of a store folder.
pub const RESULTS_FILE: &str = "results.csv";
/// Rows replaced by a newer measurement of the same plan cell because an input changed (model
/// weights, multiplier table): kept, so that switching back reuses them, but out of the results.
pub const SUPERSEDED_FILE: &str = "superseded.csv";
/// The effective plan of a store folder.
pub const LOCK_FILE: &str = "plan.lock.toml";
/// Present in shard stores only: which shard of which plan.
pub const SHARD_FILE: &str = "shard.toml";
/// Held (OS file lock) by the one process writing the folder; says who that is.
pub const WRITER_LOCK: &str = ".lock";
/// Last column of a results file: the first 16 hex digits of the sha256 of the row's other
/// fields with their column names ([`row_check`]).
pub const CHECK_COLUMN: &str = "row_check";

/// Everything a measured number depends on. A row is reused only when its whole key matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RunKey {
    /// sha256 of the attacked (source) model's weights.
    pub source_sha256: String,
    /// The threat model (`transfer`, `bpda`, `hardware`).
    pub threat: String,
    /// The attack's name (or `clean`).
    pub attack: String,
    /// [`crate::attack::Attack::revision`] of the code that computed the row.
    pub attack_rev: u32,
    /// Bit pattern of the f32 budget, so keys compare exactly.
    pub epsilon_bits: u32,
    /// `pixel` or `normalized`.
    pub eps_units: String,
    /// The attack seed.
    pub attack_seed: u64,
    /// First test image of the chunk.
    pub image_start: usize,
    /// End (exclusive) of the chunk's test images.
    pub image_end: usize,
    /// sha256 of the evaluated model's weights.
    pub target_sha256: String,
    /// `float`, or `accel` (quantized, on the simulated array).
    pub target: String,
    /// Quantization scheme; empty for a float target.
    pub scheme: String,
    /// Per-channel weights (false for a float target).
    pub per_channel: bool,
    /// PE array size `RxC`; empty for a float target.
    pub array: String,
    /// Dataflow; empty for a float target.
    pub dataflow: String,
    /// Layers on the approximate multiplier; empty for a float target.
    pub approx_layers: String,
    /// Calibration images (0 for a float target).
    pub calib: usize,
    /// Seed choosing them (0 for a float target).
    pub calib_seed: u64,
    /// The multiplier as the plan gives it; empty for a float target.
    pub multiplier: String,
    /// sha256 of the multiplier's table; empty for a float target.
    pub lut_sha256: String,
    /// Bits of the f64 clock (energy convention).
    pub clock_bits: u64,
    /// Recovery method; empty for `none` (the keys of stores made before recovery existed).
    pub recover: String,
}

impl RunKey {
    /// The text a cell searched against one accelerator mixes into its noise seed: every field
    /// but the attack's revision (a revision changes the numerics, not the random draws), the
    /// units when they are the default `pixel` and the recovery method when it is `none`, so rows
    /// stored before those fields existed keep their seeds and a fresh run reproduces them.
    /// Written out field by field in the layout those stores were seeded with (Rust's `Debug`
    /// of the key at the time), so that deriving or reordering anything here cannot move a seed.
    pub fn seed_text(&self) -> String {
        let mut s = format!(
            "RunKey {{ source_sha256: {:?}, threat: {:?}, attack: {:?}, epsilon_bits: {}, ",
            self.source_sha256, self.threat, self.attack, self.epsilon_bits
        );
        if self.eps_units != crate::attack::EpsUnits::Pixel.name() {
            s += &format!("eps_units: {:?}, ", self.eps_units);
        }
        s += &format!(
            "attack_seed: {}, image_start: {}, image_end: {}, target_sha256: {:?}, target: {:?}, scheme: {:?}, per_channel: {}, array: {:?}, dataflow: {:?}, \
             approx_layers: {:?}, calib: {}, calib_seed: {}, multiplier: {:?}, lut_sha256: {:?}, clock_bits: {}",
            self.attack_seed, self.image_start, self.image_end, self.target_sha256, self.target, self.scheme, self.per_channel, self.array, self.dataflow,
            self.approx_layers, self.calib, self.calib_seed, self.multiplier, self.lut_sha256, self.clock_bits
        );
        if !self.recover.is_empty() {
            s += &format!(", recover: {:?}", self.recover);
        }
        s + " }"
    }
}

/// One measured cell × target: the key's fields, then what was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The attacked (source) model's folder, as the plan names it.
    pub source_model: String,
    /// sha256 of its weights.
    pub source_sha256: String,
    /// The threat model (`transfer`, `bpda`, `hardware`).
    pub threat: String,
    /// The attack's name (or `clean`).
    pub attack: String,
    /// Stores written before revisions were recorded hold revision-1 rows.
    #[serde(default = "first_revision")]
    pub attack_rev: u32,
    /// The budget.
    pub epsilon: f32,
    /// Stores written before units were recorded hold pixel-unit rows.
    #[serde(default = "pixel_units")]
    pub eps_units: String,
    /// The attack seed.
    pub attack_seed: u64,
    /// First test image of the chunk.
    pub image_start: usize,
    /// End (exclusive) of the chunk's test images.
    pub image_end: usize,
    /// The evaluated model's folder, as the plan names it.
    pub target_model: String,
    /// sha256 of its weights.
    pub target_sha256: String,
    /// `float`, or `accel` (quantized, on the simulated array).
    pub target: String,
    /// Quantization scheme; empty for a float target.
    pub scheme: String,
    /// Per-channel weights (false for a float target).
    pub per_channel: bool,
    /// PE array size `RxC`; empty for a float target.
    pub array: String,
    /// Dataflow; empty for a float target.
    pub dataflow: String,
    /// Layers on the approximate multiplier; empty for a float target.
    pub approx_layers: String,
    /// Calibration images (0 for a float target).
    pub calib: usize,
    /// Seed choosing them (0 for a float target).
    pub calib_seed: u64,
    /// The multiplier as the plan gives it; empty for a float target.
    pub multiplier: String,
    /// sha256 of the multiplier's table; empty for a float target.
    pub lut_sha256: String,
    /// Clock of the energy convention in GHz (0 for a float target).
    pub clock_ghz: f64,
    /// Images measured.
    pub n: usize,
    /// Images still classified correctly.
    pub correct: usize,
    /// `correct / n`.
    pub accuracy: f64,
    /// Lower end of the 95 % Wilson interval of `accuracy`.
    pub ci_low: f64,
    /// Upper end of the 95 % Wilson interval of `accuracy`.
    pub ci_high: f64,
    /// Per image, 1 = still classified correctly ([`super::stats::bits_to_hex`]); what paired
    /// tests need.
    pub correct_bits: String,
    /// The multiplier's MAE in % of the output range (accelerator targets with one multiplier).
    pub mae_pct: Option<f64>,
    /// The multiplier's published power in mW, when known.
    pub power_mw: Option<f64>,
    /// Compute cycles per image on the array (accelerator targets).
    pub cycles_per_image: Option<u64>,
    /// Multiplier energy per image in pJ, when every layer's power is known.
    pub energy_per_image_pj: Option<f64>,
    /// Recovery method ([`crate::quant::Recover`]); empty for `none`, and then no column is
    /// written unless another row of the file has one (stores without recovery keep their bytes).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub recover: String,
}

fn first_revision() -> u32 {
    1
}

fn pixel_units() -> String {
    "pixel".into()
}

impl Row {
    /// The row's key.
    pub fn key(&self) -> RunKey {
        RunKey {
            source_sha256: self.source_sha256.clone(),
            threat: self.threat.clone(),
            attack: self.attack.clone(),
            attack_rev: self.attack_rev,
            epsilon_bits: self.epsilon.to_bits(),
            eps_units: self.eps_units.clone(),
            attack_seed: self.attack_seed,
            image_start: self.image_start,
            image_end: self.image_end,
            target_sha256: self.target_sha256.clone(),
            target: self.target.clone(),
            scheme: self.scheme.clone(),
            per_channel: self.per_channel,
            array: self.array.clone(),
            dataflow: self.dataflow.clone(),
            approx_layers: self.approx_layers.clone(),
            calib: self.calib,
            calib_seed: self.calib_seed,
            multiplier: self.multiplier.clone(),
            lut_sha256: self.lut_sha256.clone(),
            clock_bits: self.clock_ghz.to_bits(),
            recover: self.recover.clone(),
        }
    }

    /// `correct` of `n`.
    pub fn proportion(&self) -> Proportion {
        Proportion::new(self.correct, self.n)
    }

    /// Per-image outcomes, checked against `n`.
    pub fn bits(&self) -> Option<Vec<bool>> {
        super::stats::hex_to_bits(&self.correct_bits, self.n)
    }
}

/// A results folder.
pub struct Store {
    /// The folder.
    pub dir: PathBuf,
    rows: HashMap<RunKey, Row>,
    /// One row key per evaluated target ([`target_key`]), for [`Store::admit`].
    targets: HashMap<RunKey, RunKey>,
}

impl Store {
    /// Open (or create) `dir`; reads `results.csv` and `superseded.csv` when present. A bad row
    /// is an error naming the file and line, two rows of one key that disagree an error naming
    /// both; nothing is overwritten. A writer holds the folder's [`FolderLock`] first.
    pub fn open(dir: &Path) -> Result<Store, StudyError> {
        std::fs::create_dir_all(dir).map_err(|source| StudyError::Io { path: dir.to_path_buf(), cause: source })?;
        let files = [dir.join(SUPERSEDED_FILE), dir.join(RESULTS_FILE)];
        let mut located = Vec::new();
        for (i, f) in files.iter().enumerate() {
            located.extend(read_located(f)?.into_iter().map(|(r, line)| (r, i, line)));
        }
        let mut store = Store { dir: dir.to_path_buf(), rows: HashMap::new(), targets: HashMap::new() };
        for r in check_rows(located, &files)? {
            store.insert(r);
        }
        Ok(store)
    }

    /// The row stored under `key`.
    pub fn get(&self, key: &RunKey) -> Option<&Row> {
        self.rows.get(key)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Store `row` under its key, replacing any row with the same key.
    pub fn insert(&mut self, row: Row) {
        self.targets.entry(target_key(&row)).or_insert_with(|| row.key());
        self.rows.insert(row.key(), row);
    }

    /// [`Store::insert`] a freshly measured row, refusing it if the stored rows of the same
    /// accelerator state other figures (MAE, power, cycles, energy): the code computing them
    /// changed since, and mixing both would make the folder unreadable (see [`read_rows`]).
    pub fn admit(&mut self, row: Row) -> Result<(), StudyError> {
        let same_target = self.targets.get(&target_key(&row)).and_then(|k| self.rows.get(k));
        if let Some(old) = same_target.filter(|r| target_figures(r) != target_figures(&row)) {
            let differ: Vec<String> =
                figure_differences(old, &row).into_iter().map(|(f, a, b)| format!("{f} {a} stored, {b} now")).collect();
            return Err(StudyError::Model(format!(
                "{}: {} on {} {}: {}; the simulator's figures changed since these rows were measured: \
                 measure into a new folder (or remove this multiplier's rows)",
                self.dir.join(RESULTS_FILE).display(),
                row.multiplier,
                row.scheme,
                row.array,
                differ.join(", ")
            )));
        }
        self.insert(row);
        Ok(())
    }

    /// Every row, in no particular order.
    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.rows.values()
    }

    /// Write `results.csv` atomically: rows of `plan` in its cell order, then any others
    /// (from earlier plans, kept so that switching back reuses them) sorted by key. A row in the
    /// place of one of the `current` keys (same plan cell and target, but other weights or
    /// another multiplier table) goes to `superseded.csv` instead.
    pub fn save(&self, plan: &Plan, current: &std::collections::HashSet<RunKey>) -> Result<(), StudyError> {
        let mut slots: std::collections::HashSet<OrderKey> = std::collections::HashSet::new();
        for r in self.rows.iter().filter(|(k, _)| current.contains(k)).map(|(_, r)| r) {
            if let Some(o) = order_key(plan, r) {
                slots.insert(o);
            }
        }
        let mut ordered: Vec<(Option<OrderKey>, &RunKey, &Row)> = Vec::new();
        let mut old: Vec<(&RunKey, &Row)> = Vec::new();
        for (k, r) in &self.rows {
            let o = order_key(plan, r);
            match o {
                Some(o) if !current.contains(k) && slots.contains(&o) => old.push((k, r)),
                _ => ordered.push((o, k, r)),
            }
        }
        ordered.sort_by(|a, b| match (&a.0, &b.0) {
            (Some(x), Some(y)) => x.cmp(y).then_with(|| a.1.cmp(b.1)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.1.cmp(b.1),
        });
        old.sort_by(|a, b| a.0.cmp(b.0));
        let out: Vec<&Row> = ordered.into_iter().map(|(_, _, r)| r).collect();
        write_rows(&self.dir.join(RESULTS_FILE), &out)?;
        let sup = self.dir.join(SUPERSEDED_FILE);
        if !old.is_empty() {
            write_rows(&sup, &old.into_iter().map(|(_, r)| r).collect::<Vec<_>>())?;
        } else if sup.exists() {
            std::fs::remove_file(&sup).map_err(|source| StudyError::Io { path: sup, cause: source })?;
        }
        Ok(())
    }
}

/// A row's position in a plan's enumeration (see [`order_key`]).
pub type OrderKey = [usize; 14];

/// Position of a row in `plan`'s enumeration (sources, threats, attacks, seeds, budgets, image
/// chunks, then targets, recovery last), from the row's own fields; `None` if the plan does not have it.
pub fn order_key(plan: &Plan, r: &Row) -> Option<OrderKey> {
    let pos = |v: &[String], x: &str| v.iter().position(|y| y == x);
    let models: Vec<String> = plan.models.iter().map(|m| m.display().to_string()).collect();
    let eps = plan.eps.get(&r.attack)?;
    let float = r.target == "float";
    // Keys the plan fixes rather than enumerates.
    let end = plan.image_start.saturating_add(plan.images);
    let aligned = r.image_start >= plan.image_start
        && (r.image_start - plan.image_start).is_multiple_of(plan.chunk)
        && r.image_end == r.image_start.saturating_add(plan.chunk).min(end);
    let fixed = float
        || (r.calib == plan.calib
            && r.calib_seed == plan.calib_seed
            && r.approx_layers == plan.approx_layers
            && r.clock_ghz.to_bits() == plan.clock_ghz.to_bits());
    if !aligned || !fixed {
        return None;
    }
    let opt = |i: Option<usize>| if float { Some(0) } else { i };
    Some([
        pos(&models, &r.source_model)?,
        plan.threats.iter().position(|t| t.name() == r.threat)?,
        pos(&plan.attacks, &r.attack)?,
        plan.attack_seeds.iter().position(|&s| s == r.attack_seed)?,
        eps.iter().position(|e| e.to_bits() == r.epsilon.to_bits())?,
        r.image_start,
        pos(&models, &r.target_model)?,
        !float as usize,
        opt(pos(&plan.schemes, &r.scheme))?,
        opt(plan.per_channel.iter().position(|&p| p == r.per_channel))?,
        opt(pos(&plan.arrays, &r.array))?,
        opt(plan.dataflows.iter().position(|d| d.to_string() == r.dataflow))?,
        opt(pos(&plan.multipliers, &r.multiplier))?,
        opt(plan
            .recover
            .iter()
            .position(|m| m == if r.recover.is_empty() { crate::quant::Recover::None.name() } else { &r.recover }))?,
    ])
}

/// Rows of a results CSV (none when it does not exist), every check passed: see the module
/// documentation. A row stored twice identically is returned once.
pub fn read_rows(path: &Path) -> Result<Vec<Row>, StudyError> {
    let located = read_located(path)?.into_iter().map(|(r, line)| (r, 0, line)).collect();
    check_rows(located, std::slice::from_ref(&path.to_path_buf()))
}

/// [`read_rows`] of the bytes of a results CSV (`path` names it in errors); never panics,
/// whatever the bytes.
pub fn rows_from_bytes(bytes: &[u8], path: &Path) -> Result<Vec<Row>, StudyError> {
    let located = parse_rows(bytes, path)?.into_iter().map(|(r, line)| (r, 0, line)).collect();
    check_rows(located, std::slice::from_ref(&path.to_path_buf()))
}

/// The rows of one file with their line numbers, each checked on its own.
fn read_located(path: &Path) -> Result<Vec<(Row, u64)>, StudyError> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let bytes = std::fs::read(path).map_err(|source| StudyError::Io { path: path.to_path_buf(), cause: source })?;
    parse_rows(&bytes, path)
}

/// Parse results CSV bytes; every row checked on its own (fields, counts, recomputed
/// accuracy and interval, [`CHECK_COLUMN`] when the file has it).
fn parse_rows(bytes: &[u8], path: &Path) -> Result<Vec<(Row, u64)>, StudyError> {
    let err = |line: u64, reason: String| StudyError::Csv { path: path.to_path_buf(), line, reason };
    let mut rdr = csv::ReaderBuilder::new().from_reader(bytes);
    let headers = rdr.headers().map_err(|e| err(1, csv_reason(&e, None)))?.clone();
    let check = headers.iter().position(|h| h == CHECK_COLUMN);
    if check.is_some_and(|c| c + 1 != headers.len()) {
        return Err(err(1, format!("`{CHECK_COLUMN}` must be the last column")));
    }
    let mut rows = Vec::new();
    let mut rec = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(err(e.position().map_or(0, |p| p.line()), csv_reason(&e, Some(&headers)))),
        }
        let line = rec.position().map_or(0, |p| p.line());
        if let Some(c) = check {
            let want = row_check(&headers, &rec, Some(c));
            if rec.get(c) != Some(want.as_str()) {
                return Err(err(
                    line,
                    format!("`{CHECK_COLUMN}` does not match the row's fields: an edited or torn row is not trusted"),
                ));
            }
        }
        let mut r: Row = rec.deserialize(Some(&headers)).map_err(|e| err(line, deserialize_reason(&e, &headers)))?;
        if r.recover == crate::quant::Recover::None.name() {
            r.recover.clear();
        }
        check_row(&r).map_err(|reason| err(line, reason))?;
        rows.push((r, line));
    }
    Ok(rows)
}

fn csv_reason(e: &csv::Error, headers: Option<&csv::StringRecord>) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => format!(
            "{len} fields where the header has {}: a torn or edited row",
            headers.map_or(*expected_len as usize, |h| h.len())
        ),
        csv::ErrorKind::Utf8 { err, .. } => format!("field {} is not UTF-8", err.field() + 1),
        _ => e.to_string(),
    }
}

fn deserialize_reason(e: &csv::Error, headers: &csv::StringRecord) -> String {
    match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => {
            let col = err.field().and_then(|f| headers.get(f as usize)).map(|h| format!("column `{h}`: "));
            format!("{}{}", col.unwrap_or_default(), err.kind())
        }
        _ => csv_reason(e, Some(headers)),
    }
}

/// What may be checked within one row: the counts, the outcome bits, and every number derived
/// from them, recomputed.
fn check_row(r: &Row) -> Result<(), String> {
    if r.image_end.checked_sub(r.image_start) != Some(r.n) {
        return Err(format!("images {}..{} are not n = {} images", r.image_start, r.image_end, r.n));
    }
    if r.correct > r.n {
        return Err(format!("column `correct`: {} correct of n = {} images", r.correct, r.n));
    }
    let Some(bits) = r.bits() else {
        return Err(format!("column `correct_bits` does not hold {} outcomes", r.n));
    };
    let right = bits.iter().filter(|&&b| b).count();
    if right != r.correct {
        return Err(format!(
            "column `correct_bits` holds {right} correct outcomes, column `correct` says {}",
            r.correct
        ));
    }
    let p = r.proportion();
    let (lo, hi) = p.wilson();
    // Printed with shortest round-trip digits, so a stored value is the computed one; the
    // tolerance only spares rows from a last-bit change of the arithmetic.
    let same = |a: f64, b: f64| (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9;
    for (col, stored, want) in
        [("accuracy", r.accuracy, p.value()), ("ci_low", r.ci_low, lo), ("ci_high", r.ci_high, hi)]
    {
        if !same(stored, want) {
            return Err(format!("column `{col}` is {stored}, but {} correct of {} give {want}", r.correct, r.n));
        }
    }
    Ok(())
}

/// The check of one record: sha256 over every field but `skip`, each with its column name, so
/// an edited value, a swapped column or a torn row all change it.
pub fn row_check(headers: &csv::StringRecord, rec: &csv::StringRecord, skip: Option<usize>) -> String {
    let mut bytes = Vec::new();
    for (i, (name, value)) in headers.iter().zip(rec.iter()).enumerate() {
        if Some(i) != skip {
            bytes.extend_from_slice(name.as_bytes());
            bytes.push(0x1f);
            bytes.extend_from_slice(value.as_bytes());
            bytes.push(0x1e);
        }
    }
    crate::util::sha256_hex(&bytes)[..16].to_string()
}

/// What one accelerator (or float model) states about itself: equal in all its rows.
type TargetFigures = (Option<u64>, Option<u64>, Option<u64>, Option<u64>);

fn target_figures(r: &Row) -> TargetFigures {
    (
        r.mae_pct.map(f64::to_bits),
        r.power_mw.map(f64::to_bits),
        r.cycles_per_image,
        r.energy_per_image_pj.map(f64::to_bits),
    )
}

/// The key without the fields of the cell (attack, budget, images): one evaluated target.
fn target_key(r: &Row) -> RunKey {
    RunKey {
        source_sha256: String::new(),
        threat: String::new(),
        attack: String::new(),
        attack_rev: 0,
        epsilon_bits: 0,
        eps_units: String::new(),
        attack_seed: 0,
        image_start: 0,
        image_end: 0,
        ..r.key()
    }
}

/// The measured fields of a row, as text (floats bit-exact, NaN equal to itself).
fn measured(r: &Row) -> [(&'static str, String); 12] {
    [
        ("source_model", r.source_model.clone()),
        ("target_model", r.target_model.clone()),
        ("n", r.n.to_string()),
        ("correct", r.correct.to_string()),
        ("accuracy", format!("{:?}", r.accuracy)),
        ("ci_low", format!("{:?}", r.ci_low)),
        ("ci_high", format!("{:?}", r.ci_high)),
        ("correct_bits", r.correct_bits.clone()),
        ("mae_pct", format!("{:?}", r.mae_pct)),
        ("power_mw", format!("{:?}", r.power_mw)),
        ("cycles_per_image", format!("{:?}", r.cycles_per_image)),
        ("energy_per_image_pj", format!("{:?}", r.energy_per_image_pj)),
    ]
}

/// The target figures (MAE, power, cycles, energy) in which `a` and `b` differ: name, `a`'s,
/// `b`'s.
fn figure_differences(a: &Row, b: &Row) -> Vec<(&'static str, String, String)> {
    let strip = |v: &str| v.trim_start_matches("Some(").trim_end_matches(')').to_string();
    measured(a)[8..]
        .iter()
        .zip(&measured(b)[8..])
        .filter(|(x, y)| x.1 != y.1)
        .map(|(x, y)| (x.0, strip(&x.1), strip(&y.1)))
        .collect()
}

/// Checks across rows (`(row, index into files, line)`): one key holds one measurement (a row
/// stored twice identically is kept once), and every row of one target states the same
/// figures. The rows, in order, without repeats.
fn check_rows(rows: Vec<(Row, usize, u64)>, files: &[PathBuf]) -> Result<Vec<Row>, StudyError> {
    let conflict = |a: &(Row, usize, u64), b: &(Row, usize, u64), reason: String| StudyError::Conflict {
        first: files[a.1].clone(),
        first_line: a.2,
        second: files[b.1].clone(),
        second_line: b.2,
        reason,
    };
    let what = |r: &Row| {
        let target = if r.target == "float" { "float".to_string() } else { format!("{} on {}", r.multiplier, r.array) };
        format!(
            "{} {} {} eps {} images {}..{} on {target}",
            r.threat, r.attack, r.attack_seed, r.epsilon, r.image_start, r.image_end
        )
    };
    let mut by_key: HashMap<RunKey, usize> = HashMap::new();
    let mut by_target: HashMap<RunKey, usize> = HashMap::new();
    let mut keep = vec![true; rows.len()];
    for (i, row) in rows.iter().enumerate() {
        let r = &row.0;
        if let Some(&j) = by_key.get(&r.key()) {
            let (a, b) = (measured(&rows[j].0), measured(r));
            let differ: Vec<&str> = a.iter().zip(&b).filter(|(x, y)| x.1 != y.1).map(|(x, _)| x.0).collect();
            if !differ.is_empty() {
                return Err(conflict(
                    &rows[j],
                    row,
                    format!("{} is stored twice with different {}", what(r), differ.join(", ")),
                ));
            }
            keep[i] = false;
            continue;
        }
        by_key.insert(r.key(), i);
        match by_target.entry(target_key(r)) {
            std::collections::hash_map::Entry::Occupied(e) => {
                let first = &rows[*e.get()];
                if target_figures(&first.0) != target_figures(r) {
                    let differ: Vec<String> = figure_differences(&first.0, r)
                        .into_iter()
                        .map(|(f, a, b)| format!("{f} {a} vs {b}"))
                        .collect();
                    return Err(conflict(
                        first,
                        row,
                        format!(
                            "one accelerator ({}) with different figures: {} (an edited or torn row)",
                            if r.target == "float" {
                                "float".into()
                            } else {
                                format!("{} {} {}", r.multiplier, r.scheme, r.array)
                            },
                            differ.join(", ")
                        ),
                    ));
                }
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(i);
            }
        }
    }
    Ok(rows.into_iter().zip(keep).filter(|(_, k)| *k).map(|((r, _, _), _)| r).collect())
}

fn write_rows(path: &Path, rows: &[&Row]) -> Result<(), StudyError> {
    let bytes = rows_to_bytes(rows).map_err(|e| StudyError::Csv {
        path: path.to_path_buf(),
        line: 0,
        reason: e.to_string(),
    })?;
    write_atomic(path, &bytes)
}

/// The bytes of a results file holding `rows` in order, each ending in its [`CHECK_COLUMN`].
pub fn rows_to_bytes(rows: &[&Row]) -> Result<Vec<u8>, csv::Error> {
    // One column set per file: when some row has a recovery method, every row states one.
    let filled: Vec<Row>;
    let rows: Vec<&Row> = if rows.iter().any(|r| !r.recover.is_empty()) {
        filled = rows
            .iter()
            .map(|r| {
                let mut r = (*r).clone();
                if r.recover.is_empty() {
                    r.recover = crate::quant::Recover::None.name().into();
                }
                r
            })
            .collect();
        filled.iter().collect()
    } else {
        rows.to_vec()
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)?;
    }
    let plain = w.into_inner().map_err(|e| e.into_error())?;
    // The same records again, each with its check as the last field.
    let mut out = csv::Writer::from_writer(Vec::new());
    if !plain.is_empty() {
        let mut rdr = csv::Reader::from_reader(plain.as_slice());
        let headers = rdr.headers()?.clone();
        out.write_record(headers.iter().chain([CHECK_COLUMN]))?;
        for rec in rdr.records() {
            let rec = rec?;
            out.write_record(rec.iter().chain([row_check(&headers, &rec, None).as_str()]))?;
        }
    }
    Ok(out.into_inner().map_err(|e| e.into_error())?)
}

/// Write `path` atomically (temporary file + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StudyError> {
    crate::util::write_atomic(path, bytes).map_err(|source| StudyError::Io { path: path.to_path_buf(), cause: source })
}

/// The plan a store was made with (`plan.lock.toml`), if any.
pub fn read_lock(dir: &Path) -> Result<Option<Plan>, StudyError> {
    let path = dir.join(LOCK_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|source| StudyError::Io { path: path.clone(), cause: source })?;
    Plan::from_lock(&text, &path).map(Some)
}

/// Which shard of which plan a shard store holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// The shard, `I/N`.
    pub shard: String,
    /// sha256 of the plan ([`Plan::sha256`]).
    pub plan_sha256: String,
}

/// Combine shard stores into `out`: every input must hold the same plan (its sha256 in
/// `plan.lock.toml`); rows are united (a key measured twice must agree, also with rows `out`
/// already holds) and written in plan order, under `out`'s writer lock. Returns the merged row
/// count.
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<usize, StudyError> {
    let mut plan: Option<(Plan, PathBuf)> = None;
    let mut files = Vec::new();
    let mut located = Vec::new();
    for dir in inputs {
        let p = read_lock(dir)?
            .ok_or_else(|| StudyError::Merge(format!("{}: no {LOCK_FILE}: not a study folder", dir.display())))?;
        match &plan {
            None => plan = Some((p, dir.clone())),
            Some((q, qdir)) if q.sha256() != p.sha256() => {
                return Err(StudyError::Merge(format!(
                    "{} and {} hold different plans (plan sha256 {} vs {}): refusing to merge",
                    qdir.display(),
                    dir.display(),
                    &q.sha256()[..12],
                    &p.sha256()[..12]
                )))
            }
            Some(_) => {}
        }
        let f = dir.join(RESULTS_FILE);
        located.extend(read_located(&f)?.into_iter().map(|(r, line)| (r, files.len(), line)));
        files.push(f);
    }
    let (plan, _) = plan.ok_or_else(|| StudyError::Merge("no input folders".into()))?;
    let _lock = FolderLock::acquire(out, &format!("study merge of plan `{}`", plan.name))?;
    // Checked against the rows already in `out` too, so nothing there is silently replaced.
    for f in [out.join(SUPERSEDED_FILE), out.join(RESULTS_FILE)] {
        located.extend(read_located(&f)?.into_iter().map(|(r, line)| (r, files.len(), line)));
        files.push(f);
    }
    let n_inputs = inputs.len();
    let from_inputs: std::collections::HashSet<RunKey> =
        located.iter().filter(|(_, f, _)| *f < n_inputs).map(|(r, _, _)| r.key()).collect();
    let rows = check_rows(located, &files)?;
    write_atomic(&out.join(LOCK_FILE), plan.to_toml().as_bytes())?;
    let mut store = Store::open(out)?;
    for r in rows {
        store.insert(r);
    }
    store.save(&plan, &std::collections::HashSet::new())?;
    Ok(from_inputs.len())
}

/// The right to write a results folder, held by one process at a time: an exclusive OS lock on
/// `<dir>/.lock` (released by the kernel when the holder exits, even by `kill -9`). The file
/// says who holds it, for the message of a process that has to wait.
pub struct FolderLock {
    _file: std::fs::File,
}

impl FolderLock {
    /// Take the lock of `dir` (created if needed) for `what` (e.g. `study run of plan \`x\``);
    /// if another process holds it, say so on stderr and wait until it is free. Then remove
    /// temporary files that a killed writer may have left.
    pub fn acquire(dir: &Path, what: &str) -> Result<FolderLock, StudyError> {
        use std::io::{Read, Seek, Write};
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |cause: std::io::Error| StudyError::Io { path, cause }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(WRITER_LOCK);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() { "another process" } else { holder };
                eprintln!("{}: in use by {holder}; waiting until it finishes (Ctrl-C to stop waiting)", dir.display());
                let t = std::time::Instant::now();
                file.lock().map_err(|e| StudyError::Lock { path: path.clone(), reason: e.to_string() })?;
                eprintln!("{}: free after {:.1} s, continuing", dir.display(), t.elapsed().as_secs_f64());
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StudyError::Lock {
                    path,
                    reason: format!("cannot lock the folder for writing ({e}); is the filesystem lock-capable?"),
                })
            }
        }
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let note = format!("pid {} ({what}), since unix time {since}\n", std::process::id());
        file.set_len(0).and_then(|_| file.rewind()).and_then(|_| file.write_all(note.as_bytes())).map_err(io(&path))?;
        // Only writers holding this lock make these temporaries, so any left now are a dead
        // writer's (a report's `.report.md.tmp*` is not touched: reports take no lock).
        let stale: Vec<String> =
            [RESULTS_FILE, SUPERSEDED_FILE, LOCK_FILE, SHARD_FILE].iter().map(|f| format!(".{f}.tmp")).collect();
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if stale.iter().any(|p| name.starts_with(p.as_str())) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(FolderLock { _file: file })
    }
}

#[cfg(test)]
mod seed_tests {
    use super::RunKey;

    fn key(units: &str, recover: &str) -> RunKey {
        RunKey {
            source_sha256: "ab\"c".into(),
            threat: "hardware".into(),
            attack: "l2-gaussian".into(),
            attack_rev: 3,
            epsilon_bits: 1.5f32.to_bits(),
            eps_units: units.into(),
            attack_seed: 7,
            image_start: 100,
            image_end: 200,
            target_sha256: "t".into(),
            target: "accel".into(),
            scheme: "sign-magnitude".into(),
            per_channel: false,
            array: "16x16".into(),
            dataflow: "ws".into(),
            approx_layers: "conv".into(),
            calib: 256,
            calib_seed: 0,
            multiplier: "conv1=mul8u_L40,conv2=exact".into(),
            lut_sha256: "f".into(),
            clock_bits: 1f64.to_bits(),
            recover: recover.into(),
        }
    }

    /// The seeds of stored hardware rows came from the derived `Debug` text with these fields
    /// removed; the explicit text must stay equal to it.
    #[test]
    fn seed_text_is_the_legacy_text() {
        for (units, recover) in [("pixel", ""), ("normalized", ""), ("pixel", "tune"), ("normalized", "finetune")] {
            let k = key(units, recover);
            let mut legacy =
                format!("{k:?}").replace(&format!("attack_rev: {}, ", k.attack_rev), "").replace(", recover: \"\"", "");
            if units == "pixel" {
                legacy = legacy.replace("eps_units: \"pixel\", ", "");
            }
            assert_eq!(k.seed_text(), legacy, "{units} {recover:?}");
        }
    }
}
