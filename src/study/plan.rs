//! Plan files: what a study measures, in TOML. A plan is read into a [`RawPlan`] (every key
//! optional, unknown keys refused), checked against the attack list, the multiplier library and
//! the model folders before any work starts, and turned into a [`Plan`] whose every field is
//! explicit. The effective plan is written beside the results as `plan.lock.toml`, which is
//! itself a plan file: `axdnn study run DIR/plan.lock.toml` regenerates the folder.

use super::StudyError;
use crate::accel::{ArrayShape, Dataflow};
use crate::attack::{Attack, EpsUnits, Norm};
use crate::quant::{ApproxLayers, QuantScheme, Recover};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The multipliers of Siddique & Hoque's LeNet-5/MNIST study, M1 = 1JFF (accurate) first
/// (their M2, mul8u_96D, is not in the EvoApprox library).
pub const PAPER_LENET5: [&str; 8] =
    ["mul8u_1JFF", "mul8u_12N4", "mul8u_17KS", "mul8u_1AGV", "mul8u_FTA", "mul8u_JQQ", "mul8u_L40", "mul8u_JV3"];

/// The multipliers of the paper's AlexNet/CIFAR-10 study (Fig. 7).
pub const PAPER_ALEXNET: [&str; 8] =
    ["mul8u_1JFF", "mul8u_2P7", "mul8u_KEM", "mul8u_150Q", "mul8u_14VP", "mul8u_QJD", "mul8u_1446", "mul8u_GS2"];

/// Default Linf budgets (pixel units of `[0, 1]`).
pub const DEFAULT_EPS_LINF: [f32; 6] = [0.0, 0.02, 0.05, 0.1, 0.2, 0.3];
/// Default L2 budgets.
pub const DEFAULT_EPS_L2: [f32; 6] = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0];

/// How adversarial examples are obtained for a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Threat {
    /// Generated on the source's float model, evaluated on every target (the paper's setting).
    Transfer,
    /// Adaptive gradient attacks (BPDA, Athalye et al. 2018): forward pass, loss and success
    /// criterion on the target accelerator, backward pass straight through the float model at
    /// the same input.
    Bpda,
    /// Decision-based attacks that query the target accelerator itself.
    Hardware,
}

crate::name_table!(Threat, "threat model": Transfer = "transfer", Bpda = "bpda", Hardware = "hardware");

/// What a cell does to the images: nothing (clean accuracy, for selection tables) or an attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttackSpec {
    /// No attack: clean accuracy.
    Clean,
    /// One of the ten attacks.
    Attack(Attack),
}

impl AttackSpec {
    /// The name in plans and results (`clean` or the attack's name).
    pub fn name(self) -> &'static str {
        match self {
            AttackSpec::Clean => "clean",
            AttackSpec::Attack(a) => a.name(),
        }
    }

    /// The norm of the budget (Linf for clean, whose only budget is 0).
    pub fn norm(self) -> Norm {
        match self {
            AttackSpec::Clean => Norm::Linf,
            AttackSpec::Attack(a) => a.norm(),
        }
    }

    /// Whether the attack needs the model's input gradient.
    pub fn needs_gradient(self) -> bool {
        matches!(self, AttackSpec::Attack(a) if a.needs_gradient())
    }

    /// Whether the attack runs under the `hardware` threat model (queries to the accelerator:
    /// query attacks, and an ensemble's query members).
    pub fn on_hardware(self) -> bool {
        matches!(self, AttackSpec::Attack(a) if a.access() != crate::attack::Access::Gradient)
    }

    /// Whether the attack runs under the `bpda` threat model (gradient attacks, and ensembles with
    /// gradient members).
    pub fn under_bpda(self) -> bool {
        matches!(self, AttackSpec::Attack(a) if a.access() != crate::attack::Access::Query)
    }

    /// [`Attack::revision`]; the clean pseudo-attack is revision 1.
    pub fn revision(self) -> u32 {
        match self {
            AttackSpec::Clean => 1,
            AttackSpec::Attack(a) => a.revision(),
        }
    }

    /// Relative cost of one image under one epsilon, in float forward passes (a gradient step
    /// counts as three): the shard balancer's estimate.
    pub fn cost(self) -> f64 {
        use crate::attack::AttackParams;
        match self {
            AttackSpec::Clean => 0.0,
            AttackSpec::Attack(a) => match a.default_params() {
                AttackParams::Gradient(g) => 3.0 * g.steps as f64 + 1.0,
                AttackParams::Contrast { .. } => 1.0,
                AttackParams::Noise(n) => n.repeats as f64,
                // Every run of every target is a full run on the images still robust.
                AttackParams::Apgd(p) => {
                    let runs = if matches!(a, Attack::LinfApgdT | Attack::L2ApgdT) { p.target_classes } else { 1 };
                    3.0 * (p.steps * p.restarts * runs) as f64 + 1.0
                }
                // The full query budget: an upper bound (fooled images stop early).
                AttackParams::Square(p) => (p.queries * p.restarts) as f64 + 1.0,
                AttackParams::Fab(p) => fab_cost(p),
                // Every member on every image: an upper bound (later members see fewer images).
                AttackParams::AutoAttack(p) => {
                    let apgd = 3.0 * (p.apgd.steps * p.apgd.restarts * (1 + p.apgd.target_classes)) as f64;
                    apgd + fab_cost(p.fab) + (p.square.queries * p.square.restarts) as f64 + 1.0
                }
            },
        }
    }
}

/// FAB-T: a gradient (three passes) and a forward pass per step, per restart and target.
fn fab_cost(p: crate::attack::FabParams) -> f64 {
    4.0 * (p.steps * p.restarts * p.target_classes) as f64 + 1.0
}

impl std::str::FromStr for AttackSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "clean" {
            return Ok(AttackSpec::Clean);
        }
        s.parse::<Attack>().map(AttackSpec::Attack).map_err(|_| {
            let names: Vec<&str> = Attack::ALL.iter().map(|a| a.name()).chain(["clean", "all"]).collect();
            crate::util::names::unknown("attack", s, &names)
        })
    }
}

impl std::fmt::Display for AttackSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A plan as written by the user: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    /// The study's name (default: the plan file's stem).
    pub name: Option<String>,
    /// Model folders (sources of the adversarial examples, and targets).
    pub models: Option<Vec<Spanned<String>>>,
    /// Evaluate each source's examples on every model of the same dataset (Table II).
    pub cross_models: Option<bool>,
    /// Quantization schemes (default `asym-u8`).
    pub schemes: Option<Vec<Spanned<String>>>,
    /// Weight granularities: `false` per tensor, `true` per channel (default `[false]`).
    pub per_channel: Option<Vec<bool>>,
    /// PE array sizes, `RxC` (default `16x16`).
    pub arrays: Option<Vec<Spanned<String>>>,
    /// Dataflows, `ws`, `os` or `is` (default `ws`).
    pub dataflows: Option<Vec<Spanned<String>>>,
    /// Layers on the approximate multiplier: `conv`, `all` or names (default `conv`).
    pub approx_layers: Option<Spanned<String>>,
    /// `exact`, EvoApprox names, Verilog paths, or `paper` (the paper's set for the dataset).
    pub multipliers: Option<Vec<Spanned<String>>>,
    /// Attack names, `clean`, or `all` (the ten).
    pub attacks: Option<Vec<Spanned<String>>>,
    /// Budgets of the Linf attacks (default 0, 0.02, 0.05, 0.1, 0.2, 0.3).
    pub eps_linf: Option<Vec<f32>>,
    /// Budgets of the L2 attacks (default 0, 0.5, 1, 1.5, 2, 3).
    pub eps_l2: Option<Vec<f32>>,
    /// Per-attack budgets, overriding `eps_linf` / `eps_l2`.
    pub eps: Option<BTreeMap<Spanned<String>, Vec<f32>>>,
    /// `pixel` (default) or `normalized`: the units of every budget.
    pub eps_units: Option<Spanned<String>>,
    /// Threat models: `transfer`, `bpda`, `hardware` (default `transfer`).
    pub threats: Option<Vec<Spanned<String>>>,
    /// First test image.
    pub image_start: Option<usize>,
    /// Test images.
    pub images: Option<usize>,
    /// Images per cell (one attack call; noise draws cover a whole cell, as in Foolbox).
    pub chunk: Option<usize>,
    /// Calibration images (from the training set) and the seed choosing them.
    pub calib: Option<usize>,
    /// Seed choosing the calibration images (default 0).
    pub calib_seed: Option<u64>,
    /// Attack seeds (one run per seed).
    pub attack_seeds: Option<Vec<u64>>,
    /// Assumed clock of the energy convention E = P / f.
    pub clock_ghz: Option<f64>,
    /// Accuracy recovery methods for the multipliers (none, compensate, tune, finetune).
    pub recover: Option<Vec<Spanned<String>>>,
}

/// An effective plan: every field explicit, names checked. Serializes to a plan file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The study's name.
    pub name: String,
    /// Model folders, in plan order (sources and targets).
    pub models: Vec<PathBuf>,
    /// Whether each source's examples are also evaluated on the other models of its dataset.
    pub cross_models: bool,
    /// Quantization schemes, by name.
    pub schemes: Vec<String>,
    /// Weight granularities (`true`: per channel).
    pub per_channel: Vec<bool>,
    /// PE array sizes, `RxC`.
    pub arrays: Vec<String>,
    /// Dataflows.
    pub dataflows: Vec<Dataflow>,
    /// Layers on the approximate multiplier (`conv`, `all` or names).
    pub approx_layers: String,
    /// Multiplier specs as `--multiplier` takes them, in plan order.
    pub multipliers: Vec<String>,
    /// Attack names (and `clean`), in plan order.
    pub attacks: Vec<String>,
    /// Budgets of every attack, in plan order.
    pub eps: BTreeMap<String, Vec<f32>>,
    /// Units of the budgets (a pixel-unit plan's lock file has no such key).
    #[serde(default, skip_serializing_if = "EpsUnits::is_pixel")]
    pub eps_units: EpsUnits,
    /// Threat models.
    pub threats: Vec<Threat>,
    /// First test image.
    pub image_start: usize,
    /// Test images.
    pub images: usize,
    /// Images per cell.
    pub chunk: usize,
    /// Calibration images (from the training set).
    pub calib: usize,
    /// Seed choosing them.
    pub calib_seed: u64,
    /// Attack seeds (one run per seed).
    pub attack_seeds: Vec<u64>,
    /// Assumed clock in GHz of the energy convention E = P / f.
    pub clock_ghz: f64,
    /// Recovery methods of the accelerator targets; left out of the lock file when only `none`
    /// (so plans without recovery keep their bytes and sha256).
    #[serde(default = "default_recover", skip_serializing_if = "is_default_recover")]
    pub recover: Vec<String>,
}

fn default_recover() -> Vec<String> {
    vec![Recover::None.name().to_string()]
}

fn is_default_recover(v: &[String]) -> bool {
    v == default_recover().as_slice()
}

/// Largest end of a plan's image range: bounds the enumeration of a hand-edited lock file.
pub const MAX_IMAGES: usize = 1 << 24;

/// The file name of a plan made of command-line flags ([`super::PlanKeys::plan`], which turns
/// its errors into the flags'): such a plan is named `study`.
pub const COMMAND_LINE: &str = "<command line>";

/// The largest char boundary at or before `offset` (spans may point inside a character).
fn floor_boundary(text: &str, offset: usize) -> usize {
    let mut o = offset.min(text.len());
    while !text.is_char_boundary(o) {
        o -= 1;
    }
    o
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_boundary(text, offset);
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map_or(0, |i| i + 1)..].chars().count() + 1;
    (line, col)
}

/// Where plan values point to: the file and its text, for error positions.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn err(&self, span: std::ops::Range<usize>, key: &str, reason: impl Into<String>) -> StudyError {
        let (line, col) = line_col(self.text, span.start);
        StudyError::Plan { path: self.path.to_path_buf(), line, col, key: key.into(), reason: reason.into() }
    }
}

pub use crate::util::inputs::Inputs;
use crate::util::inputs::NO_DATA;

// `Inputs` is util's (the flags that fill it serve commands below `study` too); the study's
// error for a missing dataset folder is given here.
impl Inputs {
    /// The dataset folder, or the one error saying how to give it.
    pub fn data_root(&self) -> Result<PathBuf, StudyError> {
        self.data.clone().ok_or_else(|| StudyError::Input(NO_DATA.into()))
    }
}

impl Plan {
    /// Its results folder when none is given: `runs/study-<name>`, or `runs/study` for a
    /// flags-only plan (named `study`).
    pub fn default_out(&self) -> PathBuf {
        match self.name.as_str() {
            "study" => PathBuf::from("runs/study"),
            name => PathBuf::from(format!("runs/study-{}", super::report::slug(name))),
        }
    }

    /// Read and check a plan file (see [`Plan::from_toml`]).
    pub fn load(path: &Path, inputs: &Inputs) -> Result<Plan, StudyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| StudyError::Io { path: path.to_path_buf(), cause: source })?;
        Plan::from_toml(&text, path, inputs)
    }

    /// Parse `text` (named `path` in errors) and check every name: attacks, schemes, arrays,
    /// multipliers (found in the library or as files), model folders. The first problem is one
    /// error naming file, line, column and key.
    pub fn from_toml(text: &str, path: &Path, inputs: &Inputs) -> Result<Plan, StudyError> {
        let src = Source { path, text };
        let raw: RawPlan = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let key = key_at(text, span.start);
            src.err(span, &key, e.message().trim().to_string())
        })?;
        Plan::from_raw(raw, &src, inputs)
    }

    fn from_raw(raw: RawPlan, src: &Source, inputs: &Inputs) -> Result<Plan, StudyError> {
        let models: Vec<Spanned<String>> = raw.models.unwrap_or_default();
        if models.is_empty() {
            return Err(src.err(
                0..0,
                "models",
                "a plan needs at least one model folder (models = [\"models/lenet5-mnist\"])",
            ));
        }
        let mut datasets = Vec::new();
        for m in &models {
            let meta = crate::model::io::load_meta(Path::new(m.get_ref()))
                .map_err(|e| src.err(m.span(), "models", e.to_string()))?;
            datasets.push(meta.1.dataset);
        }
        let parse_list = |v: &Option<Vec<Spanned<String>>>,
                          key: &str,
                          default: &[&str]|
         -> Result<Vec<(String, std::ops::Range<usize>)>, StudyError> {
            let out: Vec<(String, std::ops::Range<usize>)> = match v {
                Some(v) => v.iter().map(|s| (s.get_ref().clone(), s.span())).collect(),
                None => default.iter().map(|s| (s.to_string(), 0..0)).collect(),
            };
            if out.is_empty() {
                return Err(src.err(0..0, key, "empty list"));
            }
            Ok(out)
        };
        let schemes = parse_list(&raw.schemes, "schemes", &["asym-u8"])?
            .into_iter()
            .map(|(s, sp)| s.parse::<QuantScheme>().map(|q| q.to_string()).map_err(|e| src.err(sp, "schemes", e)))
            .collect::<Result<Vec<_>, _>>()?;
        let arrays = parse_list(&raw.arrays, "arrays", &["16x16"])?
            .into_iter()
            .map(|(s, sp)| s.parse::<ArrayShape>().map(|a| a.to_string()).map_err(|e| src.err(sp, "arrays", e)))
            .collect::<Result<Vec<_>, _>>()?;
        let dataflows = parse_list(&raw.dataflows, "dataflows", &["ws"])?
            .into_iter()
            .map(|(s, sp)| s.parse::<Dataflow>().map_err(|e| src.err(sp, "dataflows", e)))
            .collect::<Result<Vec<_>, _>>()?;
        let approx_layers = match &raw.approx_layers {
            Some(s) => {
                s.get_ref().parse::<ApproxLayers>().map_err(|e| src.err(s.span(), "approx_layers", e))?;
                s.get_ref().clone()
            }
            None => "conv".into(),
        };
        let threats = parse_list(&raw.threats, "threats", &["transfer"])?
            .into_iter()
            .map(|(s, sp)| s.parse::<Threat>().map_err(|e| src.err(sp, "threats", e)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut attacks: Vec<String> = Vec::new();
        for (s, sp) in parse_list(&raw.attacks, "attacks", &["all"])? {
            if s == "all" {
                attacks.extend(Attack::PAPER.iter().map(|a| a.name().to_string()));
            } else {
                let a: AttackSpec = s.parse().map_err(|e: String| src.err(sp, "attacks", e))?;
                attacks.push(a.name().to_string());
            }
        }
        dedup(&mut attacks);
        let check_eps = |v: &[f32], key: &str, sp: std::ops::Range<usize>| -> Result<(), StudyError> {
            match v.iter().find_map(|&e| crate::util::values::budget(e).err()) {
                Some(e) => Err(src.err(sp, key, e)),
                None if v.is_empty() => Err(src.err(sp, key, "empty list")),
                None => Ok(()),
            }
        };
        let eps_linf = raw.eps_linf.clone().unwrap_or(DEFAULT_EPS_LINF.to_vec());
        let eps_l2 = raw.eps_l2.clone().unwrap_or(DEFAULT_EPS_L2.to_vec());
        check_eps(&eps_linf, "eps_linf", key_span(src.text, "eps_linf"))?;
        check_eps(&eps_l2, "eps_l2", key_span(src.text, "eps_l2"))?;
        let mut eps: BTreeMap<String, Vec<f32>> = BTreeMap::new();
        for (k, v) in raw.eps.iter().flatten() {
            let a: AttackSpec =
                k.get_ref().parse().map_err(|e: String| src.err(k.span(), &format!("eps.{}", k.get_ref()), e))?;
            check_eps(v, &format!("eps.{}", k.get_ref()), k.span())?;
            if !attacks.iter().any(|x| x == a.name()) {
                return Err(src.err(
                    k.span(),
                    &format!("eps.{}", k.get_ref()),
                    format!("budgets for {a}, which is not in attacks"),
                ));
            }
            eps.insert(a.name().to_string(), v.clone());
        }
        for a in &attacks {
            let spec: AttackSpec = a.parse().expect("checked above");
            eps.entry(a.clone()).or_insert_with(|| match spec {
                AttackSpec::Clean => vec![0.0],
                AttackSpec::Attack(at) => match at.norm() {
                    Norm::Linf => eps_linf.clone(),
                    Norm::L2 => eps_l2.clone(),
                },
            });
        }
        // Multipliers: `paper` expands per dataset (both, if the plan mixes them); every name is
        // looked up now so a typo fails before hours of attacks.
        let mut multipliers = Vec::new();
        let evo = inputs.evoapprox.clone();
        for (s, sp) in parse_list(&raw.multipliers, "multipliers", &["paper"])? {
            if s == "paper" {
                multipliers.push("exact".to_string());
                for d in &datasets {
                    let set: &[&str] = match d {
                        crate::data::DatasetName::Mnist => &PAPER_LENET5,
                        crate::data::DatasetName::Cifar10 => &PAPER_ALEXNET,
                    };
                    for m in set {
                        check_multiplier(m, evo.as_deref())
                            .map_err(|e| src.err(sp.clone(), "multipliers", format!("`paper`: {e}")))?;
                        multipliers.push(m.to_string());
                    }
                }
                continue;
            }
            check_multiplier(&s, evo.as_deref()).map_err(|e| src.err(sp, "multipliers", e))?;
            multipliers.push(s);
        }
        dedup(&mut multipliers);
        let images = raw.images.unwrap_or(500);
        let chunk = raw.chunk.unwrap_or(100);
        for (key, v) in [("images", images), ("chunk", chunk), ("calib", raw.calib.unwrap_or(256))] {
            crate::util::values::count(v).map_err(|e| src.err(key_span(src.text, key), key, e))?;
        }
        if raw.image_start.unwrap_or(0).checked_add(images).is_none_or(|end| end > MAX_IMAGES) {
            return Err(src.err(
                key_span(src.text, "images"),
                "images",
                format!("image_start + images is above {MAX_IMAGES} (no test set is larger)"),
            ));
        }
        let attack_seeds = raw.attack_seeds.clone().unwrap_or(vec![0]);
        if attack_seeds.is_empty() {
            return Err(src.err(key_span(src.text, "attack_seeds"), "attack_seeds", "empty list"));
        }
        let clock_ghz = raw.clock_ghz.unwrap_or(1.0);
        crate::util::values::clock_ghz(clock_ghz)
            .map_err(|e| src.err(key_span(src.text, "clock_ghz"), "clock_ghz", e))?;
        let mut recover = parse_list(&raw.recover, "recover", &["none"])?
            .into_iter()
            .map(|(s, sp)| s.parse::<Recover>().map(|r| r.name().to_string()).map_err(|e| src.err(sp, "recover", e)))
            .collect::<Result<Vec<_>, _>>()?;
        dedup(&mut recover);
        let per_channel = raw.per_channel.clone().unwrap_or(vec![false]);
        if per_channel.is_empty() {
            return Err(src.err(key_span(src.text, "per_channel"), "per_channel", "empty list"));
        }
        let mut plan = Plan {
            // Flags alone are named `study` (as `--help` says), not after the synthesized file.
            name: raw.name.clone().unwrap_or_else(|| match src.path.file_stem() {
                Some(s) if src.path != Path::new(COMMAND_LINE) => s.to_string_lossy().into_owned(),
                _ => "study".into(),
            }),
            models: models.iter().map(|m| PathBuf::from(m.get_ref())).collect(),
            cross_models: raw.cross_models.unwrap_or(false),
            schemes,
            per_channel,
            arrays,
            dataflows,
            approx_layers,
            multipliers,
            attacks,
            eps,
            eps_units: match &raw.eps_units {
                Some(u) => u.get_ref().parse().map_err(|e: String| src.err(u.span(), "eps_units", e))?,
                None => EpsUnits::Pixel,
            },
            threats,
            image_start: raw.image_start.unwrap_or(0),
            images,
            chunk,
            calib: raw.calib.unwrap_or(256),
            calib_seed: raw.calib_seed.unwrap_or(0),
            attack_seeds,
            clock_ghz,
            recover,
        };
        dedup(&mut plan.schemes);
        dedup(&mut plan.per_channel);
        dedup(&mut plan.arrays);
        dedup(&mut plan.dataflows);
        dedup(&mut plan.threats);
        dedup(&mut plan.attack_seeds);
        if plan.threats.contains(&Threat::Hardware)
            && !plan.attacks.iter().any(|a| a.parse::<AttackSpec>().is_ok_and(|s| s.on_hardware()))
        {
            return Err(src.err(key_span(src.text, "threats"), "threats", "the hardware threat model needs a query attack (l2-contrast, l2-gaussian, l2-uniform, linf-uniform, linf-square, l2-square, linf-autoattack, l2-autoattack)"));
        }
        if plan.threats.contains(&Threat::Bpda)
            && !plan.attacks.iter().any(|a| a.parse::<AttackSpec>().is_ok_and(|s| s.under_bpda()))
        {
            return Err(src.err(
                key_span(src.text, "threats"),
                "threats",
                "the bpda threat model needs a gradient attack (fgm, fgsm, l2-bim, linf-bim, l2-pgd, linf-pgd, the apgd and fab-t attacks, linf-autoattack, l2-autoattack)",
            ));
        }
        Ok(plan)
    }

    /// Read a folder's `plan.lock.toml` (`text`, named `path` in errors): the plan as written,
    /// with every name and number the enumeration relies on checked (a hand-edited lock file
    /// is an error naming file, line and key, never a panic later). Model folders and
    /// multiplier files are not opened: a report needs neither.
    pub fn from_lock(text: &str, path: &Path) -> Result<Plan, StudyError> {
        let src = Source { path, text };
        let plan: Plan = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            src.err(span.clone(), &key_at(text, span.start), e.message().trim().to_string())
        })?;
        let bad = |key: &str, reason: String| src.err(key_span(text, key), key, reason);
        fn each<T: std::str::FromStr<Err = String>>(v: &[String], key: &str) -> Result<(), (String, String)> {
            v.iter().try_for_each(|x| x.parse::<T>().map(drop).map_err(|e| (key.to_string(), e)))
        }
        each::<AttackSpec>(&plan.attacks, "attacks")
            .and_then(|_| each::<QuantScheme>(&plan.schemes, "schemes"))
            .and_then(|_| each::<ArrayShape>(&plan.arrays, "arrays"))
            .and_then(|_| each::<Recover>(&plan.recover, "recover"))
            .map_err(|(k, e)| bad(&k, e))?;
        plan.approx_layers.parse::<ApproxLayers>().map_err(|e| bad("approx_layers", e))?;
        for a in &plan.attacks {
            match plan.eps.get(a) {
                None => return Err(bad("eps", format!("no budgets for attack {a}"))),
                Some(v) => {
                    if let Some(e) = v.iter().find_map(|&e| crate::util::values::budget(e).err()) {
                        return Err(bad(a, e));
                    }
                }
            }
        }
        for (key, v) in [("images", plan.images), ("chunk", plan.chunk), ("calib", plan.calib)] {
            crate::util::values::count(v).map_err(|e| bad(key, e))?;
        }
        if plan.image_start.checked_add(plan.images).is_none_or(|end| end > MAX_IMAGES) {
            return Err(bad("images", format!("image_start + images is above {MAX_IMAGES} (no test set is larger)")));
        }
        crate::util::values::clock_ghz(plan.clock_ghz).map_err(|e| bad("clock_ghz", e))?;
        Ok(plan)
    }

    /// The plan as a plan file (`plan.lock.toml`).
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("a plan serializes");
        format!("# Effective plan of this folder (axdnn study run this file to regenerate it).\n{body}")
    }

    /// sha256 of the effective plan: stores of different plans are never merged.
    pub fn sha256(&self) -> String {
        crate::util::sha256_hex(toml::to_string(self).expect("a plan serializes").as_bytes())
    }

    /// The attacks, parsed.
    pub fn attack_specs(&self) -> Vec<AttackSpec> {
        self.attacks.iter().map(|a| a.parse().expect("checked when the plan was built")).collect()
    }

    /// The schemes, parsed.
    pub fn scheme_list(&self) -> Vec<QuantScheme> {
        self.schemes.iter().map(|a| a.parse().expect("checked when the plan was built")).collect()
    }

    /// The array sizes, parsed.
    pub fn array_shapes(&self) -> Vec<ArrayShape> {
        self.arrays.iter().map(|a| a.parse().expect("checked when the plan was built")).collect()
    }

    /// The recovery methods, parsed.
    pub fn recover_list(&self) -> Vec<Recover> {
        self.recover.iter().map(|a| a.parse().expect("checked when the plan was built")).collect()
    }

    /// The approximate layers, parsed.
    pub fn approx(&self) -> ApproxLayers {
        self.approx_layers.parse().expect("checked when the plan was built")
    }
}

/// Whether a multiplier spec (or each entry of a per-layer assignment) can be resolved,
/// without simulating it.
fn check_multiplier(spec: &str, evoapprox: Option<&Path>) -> Result<(), String> {
    match crate::mult::resolve::split_assignment(spec) {
        Err(e) => return Err(e.to_string()),
        Ok(Some(entries)) => {
            for (i, (_, m)) in entries.iter().enumerate() {
                check_multiplier(m, evoapprox).map_err(|e| format!("assignment '{spec}', entry {}: {e}", i + 1))?;
            }
            return Ok(());
        }
        Ok(None) => {}
    }
    if spec == "exact" {
        return Ok(());
    }
    if let Some((file, _)) = crate::lut::table_file::parse_spec(spec) {
        return if file.is_file() { Ok(()) } else { Err(format!("table file {} does not exist", file.display())) };
    }
    let p = Path::new(spec);
    if p.extension().is_some_and(|x| x == "v") || spec.contains('/') {
        return match std::fs::metadata(p) {
            Ok(m) if m.is_file() => Ok(()),
            Ok(_) => Err(format!("multiplier file {spec} is not a regular file (a Verilog netlist is expected)")),
            Err(_) => Err(format!("multiplier file {spec} does not exist")),
        };
    }
    match evoapprox {
        None => Err(format!("unknown multiplier '{spec}': not a file, and no EvoApprox library to look it up in (--evoapprox DIR or AXDNN_EVOAPPROX)")),
        Some(root) => match crate::mult::resolve::find_in_tree(root, spec) {
            Some(_) => Ok(()),
            None => Err(format!("unknown multiplier '{spec}': no {spec}.v under {}", root.display())),
        },
    }
}

fn dedup<T: PartialEq + Clone>(v: &mut Vec<T>) {
    let mut out: Vec<T> = Vec::with_capacity(v.len());
    for x in v.drain(..) {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    *v = out;
}

/// The key on the line of byte `offset` (`key = ...` or `[table]`), for parse errors.
fn key_at(text: &str, offset: usize) -> String {
    let offset = floor_boundary(text, offset);
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("");
    let t = line.trim();
    if let Some(k) = t.strip_prefix('[') {
        return k.trim_end_matches(']').trim().to_string();
    }
    t.split('=').next().unwrap_or("").trim().to_string()
}

/// Span of `key =` at the start of a line (top level), or the file start.
fn key_span(text: &str, key: &str) -> std::ops::Range<usize> {
    let mut off = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if t.strip_prefix(key).is_some_and(|r| r.trim_start().starts_with('=')) {
            let s = off + (line.len() - t.len());
            return s..s + key.len();
        }
        off += line.len();
    }
    0..0
}
