//! A plan's cells in their fixed order, and shards of them.
//!
//! A cell is one unit of attack work: one source model, threat model, attack, seed, budget and
//! chunk of test images. Under the transfer threat one set of adversarial examples serves every
//! target (the float models and every quantized model × multiplier), so the cell holds them
//! all; under the bpda and hardware threats the examples are searched against one accelerator,
//! so each target is its own cell. Each cell draws its random numbers from its own stream, seeded from
//! its own key: a result never depends on which other cells ran, in which order or shard.

use super::plan::{AttackSpec, Plan, Threat};
use super::StudyError;
use crate::accel::{ArrayShape, Dataflow};
use crate::quant::{QuantScheme, Recover};

/// What is evaluated: a float model, or a quantized model on an accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// The float model.
    Float {
        /// Index of the model in the plan's `models`.
        model: usize,
    },
    /// A quantized model on an accelerator.
    Accel {
        /// Index of the model in the plan's `models`.
        model: usize,
        /// Quantization scheme.
        scheme: QuantScheme,
        /// Whether weights are quantized per output channel.
        per_channel: bool,
        /// PE array size.
        array: ArrayShape,
        /// Array dataflow.
        dataflow: Dataflow,
        /// Index of the multiplier in the plan's `multipliers`.
        multiplier: usize,
        /// Accuracy recovery applied to the quantized model.
        recover: Recover,
    },
}

impl Target {
    /// Index of the target's model in the plan's `models`.
    pub fn model(&self) -> usize {
        match *self {
            Target::Float { model } | Target::Accel { model, .. } => model,
        }
    }
}

/// One unit of attack work (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Position in the plan's enumeration.
    pub index: usize,
    /// Index of the model the adversarial examples are generated on.
    pub source: usize,
    /// How the attacker sees the targets.
    pub threat: Threat,
    /// The attack (or clean accuracy).
    pub attack: AttackSpec,
    /// The plan's attack seed this cell runs with.
    pub attack_seed: u64,
    /// The budget.
    pub epsilon: f32,
    /// Test-set indices of the cell's chunk of images.
    pub images: std::ops::Range<usize>,
    /// What the examples are evaluated on (one target under bpda and hardware).
    pub targets: Vec<Target>,
}

impl Cell {
    /// Seed of this cell's noise stream, from its own key only.
    pub fn noise_seed(&self, source_sha256: &str, hardware_target: &str) -> u64 {
        let text = format!(
            "{source_sha256}|{}|{}|{}|{}|{}..{}|{hardware_target}",
            self.threat,
            self.attack,
            self.attack_seed,
            self.epsilon.to_bits(),
            self.images.start,
            self.images.end
        );
        let h = crate::util::sha256_hex(text.as_bytes());
        u64::from_str_radix(&h[..16], 16).expect("hex")
    }
}

/// Per-model figures the enumeration needs (loaded from `model.json` only).
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// The dataset the model was trained on.
    pub dataset: crate::data::DatasetName,
    /// MACs of one image (cost estimate).
    pub macs: u64,
}

impl ModelInfo {
    /// The figures of every model of `plan`, in plan order, from their `model.json`.
    pub fn of_plan(plan: &Plan) -> Result<Vec<ModelInfo>, StudyError> {
        plan.models
            .iter()
            .map(|m| {
                let (arch, meta) = crate::model::io::load_meta(m).map_err(|e| StudyError::Model(e.to_string()))?;
                Ok(ModelInfo { dataset: meta.dataset, macs: arch.macs().iter().sum() })
            })
            .collect()
    }
}

/// Whether `spec` names a signed (two's-complement) multiplier.
fn spec_is_signed(spec: &str) -> Option<bool> {
    if spec == "exact" {
        return None;
    }
    if let Some((file, stated)) = crate::lut::table_file::parse_spec(spec) {
        // Stated, else from the name; a table that says otherwise is refused when it is read.
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        return stated.or_else(|| crate::sim::signed_from_name(&stem));
    }
    let stem = std::path::Path::new(spec).file_stem().and_then(|s| s.to_str()).unwrap_or(spec);
    Some(crate::mult::signed_from_name(stem) == Some(true))
}

/// The accelerator targets of one model, in plan order (schemes, per-channel, arrays,
/// dataflows, multipliers, recovery methods); multipliers whose signedness does not fit the scheme are left out.
pub fn accel_targets(plan: &Plan, model: usize) -> Vec<Target> {
    let mut out = Vec::new();
    for scheme in plan.scheme_list() {
        for &per_channel in &plan.per_channel {
            for array in plan.array_shapes() {
                for &dataflow in &plan.dataflows {
                    for (m, spec) in plan.multipliers.iter().enumerate() {
                        if spec_is_signed(spec).is_some_and(|s| s != scheme.signed_multiplier()) {
                            continue;
                        }
                        for recover in plan.recover_list() {
                            out.push(Target::Accel {
                                model,
                                scheme,
                                per_channel,
                                array,
                                dataflow,
                                multiplier: m,
                                recover,
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

/// Every cell of `plan`, in order.
pub fn cells(plan: &Plan, models: &[ModelInfo]) -> Vec<Cell> {
    let mut out = Vec::new();
    let end = plan.image_start.saturating_add(plan.images);
    for (s, info) in models.iter().enumerate() {
        let target_models: Vec<usize> = if plan.cross_models {
            (0..models.len()).filter(|&t| models[t].dataset == info.dataset).collect()
        } else {
            vec![s]
        };
        for &threat in &plan.threats {
            for attack in plan.attack_specs() {
                let applies = match threat {
                    Threat::Transfer => true,
                    // Clean accuracy needs no search; gradient attacks need gradients the
                    // accelerator does not have (an ensemble runs its query members).
                    Threat::Hardware => attack.on_hardware(),
                    // BPDA is the adaptive form of the gradient attacks (and ensembles).
                    Threat::Bpda => attack.under_bpda(),
                };
                if !applies {
                    continue;
                }
                for &attack_seed in &plan.attack_seeds {
                    for &epsilon in &plan.eps[attack.name()] {
                        for start in (plan.image_start..end).step_by(plan.chunk) {
                            let images = start..start.saturating_add(plan.chunk).min(end);
                            let mut cell = Cell {
                                index: 0,
                                source: s,
                                threat,
                                attack,
                                attack_seed,
                                epsilon,
                                images,
                                targets: vec![],
                            };
                            match threat {
                                Threat::Transfer => {
                                    for &t in &target_models {
                                        cell.targets.push(Target::Float { model: t });
                                        cell.targets.extend(accel_targets(plan, t));
                                    }
                                    out.push(cell);
                                }
                                Threat::Bpda | Threat::Hardware => {
                                    for t in accel_targets(plan, s) {
                                        out.push(Cell { targets: vec![t], ..cell.clone() });
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    for (i, c) in out.iter_mut().enumerate() {
        c.index = i;
    }
    out
}

/// Estimated cost of a cell (arbitrary units: MACs of attack queries plus evaluations).
pub fn cost(cell: &Cell, models: &[ModelInfo]) -> f64 {
    let n = cell.images.len() as f64;
    let attack = match cell.threat {
        Threat::Transfer => cell.attack.cost() * models[cell.source].macs as f64,
        // Queries go through the accelerator (about the cost of a float pass here).
        Threat::Hardware => cell.attack.cost() * models[cell.source].macs as f64,
        // Each step: an accelerator pass and a float forward + backward.
        Threat::Bpda => 4.0 * cell.attack.cost() * models[cell.source].macs as f64,
    };
    let eval: f64 = cell.targets.iter().map(|t| models[t.model()].macs as f64).sum();
    n * (attack + eval)
}

/// A shard `I/N` (1-based), as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// The shard, 1-based.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("bad shard '{s}' (expected I/N with 1 <= I <= N, e.g. 2/3)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Estimated cost of each of `count` shards (same assignment as [`shard`]).
pub fn shard_costs(cells: &[Cell], models: &[ModelInfo], count: usize) -> Vec<f64> {
    let mut order: Vec<(f64, usize)> = cells.iter().map(|c| (cost(c, models), c.index)).collect();
    order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut load = vec![0.0f64; count.max(1)];
    for (c, _) in order {
        let k = (0..load.len()).min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b))).expect("count > 0");
        load[k] += c;
    }
    load
}

/// The cells of one shard: longest-processing-time-first assignment of the estimated costs
/// (each cell, most expensive first, to the least loaded shard; ties to the lower index), so
/// shards finish at about the same time. Deterministic; returned in plan order.
pub fn shard(cells: Vec<Cell>, models: &[ModelInfo], s: Shard) -> Vec<Cell> {
    let mut order: Vec<(f64, usize)> = cells.iter().map(|c| (cost(c, models), c.index)).collect();
    order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut load = vec![0.0f64; s.count];
    let mut owner = vec![0usize; cells.len()];
    for (c, i) in order {
        let k = (0..s.count).min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b))).expect("count > 0");
        load[k] += c;
        owner[i] = k;
    }
    cells.into_iter().filter(|c| owner[c.index] == s.index - 1).collect()
}
