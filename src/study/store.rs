//! The results store: one folder holding `plan.lock.toml` (the effective plan) and
//! `results.csv` (one row per measured [`RunKey`]). Every write replaces the file atomically
//! (temporary file + rename), so a killed study leaves the last complete state and resumes
//! from it. Rows are kept in the plan's cell order, rows of no current cell after them (sorted
//! by key), so the same set of rows is always the same bytes: a merged set of shard stores equals
//! the unsharded store byte for byte.

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
}

impl Store {
    /// Open (or create) `dir`; reads `results.csv` when present. A bad record is an error naming
    /// the file and record; nothing is overwritten.
    pub fn open(dir: &Path) -> Result<Store, StudyError> {
        std::fs::create_dir_all(dir).map_err(|source| StudyError::Io { path: dir.to_path_buf(), cause: source })?;
        let mut rows = HashMap::new();
        for f in [SUPERSEDED_FILE, RESULTS_FILE] {
            for r in read_rows(&dir.join(f))? {
                rows.insert(r.key(), r);
            }
        }
        Ok(Store { dir: dir.to_path_buf(), rows })
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
        self.rows.insert(row.key(), row);
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

type OrderKey = [usize; 14];

/// Position of a row in `plan`'s enumeration (sources, threats, attacks, seeds, budgets, image
/// chunks, then targets, recovery last), from the row's own fields; `None` if the plan does not have it.
pub fn order_key(plan: &Plan, r: &Row) -> Option<OrderKey> {
    let pos = |v: &[String], x: &str| v.iter().position(|y| y == x);
    let models: Vec<String> = plan.models.iter().map(|m| m.display().to_string()).collect();
    let eps = plan.eps.get(&r.attack)?;
    let float = r.target == "float";
    // Keys the plan fixes rather than enumerates.
    let end = plan.image_start + plan.images;
    let aligned = r.image_start >= plan.image_start
        && (r.image_start - plan.image_start).is_multiple_of(plan.chunk)
        && r.image_end == (r.image_start + plan.chunk).min(end);
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

/// Rows of a results CSV (none when it does not exist).
pub fn read_rows(path: &Path) -> Result<Vec<Row>, StudyError> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let mut rdr = csv::Reader::from_path(path).map_err(|e| StudyError::Csv {
        path: path.to_path_buf(),
        record: 0,
        reason: e.to_string(),
    })?;
    let mut rows = Vec::new();
    for (i, rec) in rdr.deserialize::<Row>().enumerate() {
        let mut r: Row =
            rec.map_err(|e| StudyError::Csv { path: path.to_path_buf(), record: i + 1, reason: e.to_string() })?;
        if r.recover == crate::quant::Recover::None.name() {
            r.recover.clear();
        }
        if r.correct > r.n || r.bits().is_none() {
            return Err(StudyError::Csv {
                path: path.to_path_buf(),
                record: i + 1,
                reason: format!("correct_bits does not hold {} outcomes with {} correct", r.n, r.correct),
            });
        }
        if r.bits().is_some_and(|b| b.iter().filter(|&&x| x).count() != r.correct) {
            return Err(StudyError::Csv {
                path: path.to_path_buf(),
                record: i + 1,
                reason: "correct_bits disagree with correct".into(),
            });
        }
        rows.push(r);
    }
    Ok(rows)
}

fn write_rows(path: &Path, rows: &[&Row]) -> Result<(), StudyError> {
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
        w.serialize(r).map_err(|e| StudyError::Csv { path: path.to_path_buf(), record: 0, reason: e.to_string() })?;
    }
    let bytes =
        w.into_inner().map_err(|e| StudyError::Csv { path: path.to_path_buf(), record: 0, reason: e.to_string() })?;
    write_atomic(path, &bytes)
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
    let plan: Plan = toml::from_str(&text).map_err(|e| {
        let (line, col) = super::plan::line_col(&text, e.span().map_or(0, |s| s.start));
        StudyError::Plan { path: path.clone(), line, col, key: String::new(), reason: e.message().trim().to_string() }
    })?;
    Ok(Some(plan))
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
/// `plan.lock.toml`); rows are united (a key measured twice must agree) and written in plan
/// order. Returns the merged row count.
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<usize, StudyError> {
    let mut plan: Option<(Plan, PathBuf)> = None;
    let mut merged: HashMap<RunKey, Row> = HashMap::new();
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
        for r in read_rows(&dir.join(RESULTS_FILE))? {
            let k = r.key();
            if let Some(old) = merged.get(&k) {
                if old != &r {
                    return Err(StudyError::Merge(format!(
                        "{}: {} {} eps {} on {} measured twice with different results",
                        dir.display(),
                        r.threat,
                        r.attack,
                        r.epsilon,
                        r.multiplier
                    )));
                }
            }
            merged.insert(k, r);
        }
    }
    let (plan, _) = plan.ok_or_else(|| StudyError::Merge("no input folders".into()))?;
    std::fs::create_dir_all(out).map_err(|source| StudyError::Io { path: out.to_path_buf(), cause: source })?;
    write_atomic(&out.join(LOCK_FILE), plan.to_toml().as_bytes())?;
    let mut store = Store::open(out)?;
    let n = merged.len();
    for (_, r) in merged {
        store.insert(r);
    }
    store.save(&plan, &std::collections::HashSet::new())?;
    Ok(n)
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
