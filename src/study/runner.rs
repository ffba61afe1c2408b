//! Executing a plan: load what its cells need once (models, test and calibration images,
//! quantized models, multiplier tables, accelerators), then run every cell whose rows are not
//! in the store yet, writing the store atomically as it goes.

use super::cell::{self, Cell, ModelInfo, Shard, Target};
use super::plan::{AttackSpec, Inputs, Plan, Threat};
use super::stats::{bits_to_hex, Proportion};
use super::store::{self, Row, RunKey, Store, LOCK_FILE, SHARD_FILE};
use super::StudyError;
use crate::accel::{AccelConfig, Accelerator, EnergyModel, Engine};
use crate::attack::{
    self, AccelClassifier, Bounds, BpdaClassifier, Classifier, Criterion, EpsUnits, Epsilon, FloatClassifier,
    SeededNoise,
};
use crate::data::{self, Dataset, DatasetName, Split};
use crate::model::io::SavedModel;
use crate::mult::resolve::LoadedMultiplier;
use crate::quant::{QuantModel, QuantScheme, Recover};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// A resolved multiplier with the figures rows record.
pub struct Resolved {
    /// The multiplier (charged the exact circuit's power if built in).
    pub loaded: LoadedMultiplier,
    /// sha256 of its table ([`crate::mult::LoadedMultiplier::lut_sha256`]).
    pub lut_sha256: String,
    /// Its MAE in % of the output range, computed from its table (`None` for an assignment).
    pub mae_pct: Option<f64>,
}

/// Everything the plan's cells read, loaded once.
pub struct Workspace {
    /// The plan.
    pub plan: Plan,
    /// Figures of every model, in plan order.
    pub info: Vec<ModelInfo>,
    /// Every model of the plan, loaded, in plan order.
    pub models: Vec<SavedModel>,
    /// Test set of each model's dataset, the plan's image range only.
    pub tests: HashMap<DatasetName, Dataset>,
    /// Quantized models by (model, scheme, per-channel).
    pub quant: HashMap<(usize, QuantScheme, bool), QuantModel>,
    /// Quantized models recovered for a multiplier (model, scheme, per-channel, multiplier,
    /// method), for targets whose method is not `none`.
    pub recovered: HashMap<(usize, QuantScheme, bool, usize, Recover), QuantModel>,
    /// Per multiplier of the plan and signedness.
    pub mults: HashMap<(usize, bool), Resolved>,
    /// Published power (mW) of the library's exact circuit, by signedness.
    pub exact_power_mw: HashMap<bool, Option<f64>>,
}

impl Workspace {
    /// Load what `cells` need. Quantized models and multipliers not used by any of them are not
    /// built (a shard loads its own share only).
    pub fn load(plan: &Plan, inputs: &Inputs, info: Vec<ModelInfo>, cells: &[Cell]) -> Result<Workspace, StudyError> {
        let data_root = inputs.data_root()?;
        let mut models = Vec::new();
        for m in &plan.models {
            models.push(crate::model::io::load(m).map_err(|e| StudyError::Model(e.to_string()))?);
        }
        let targets: HashSet<Target> = cells.iter().flat_map(|c| c.targets.iter().copied()).collect();
        let mut tests = HashMap::new();
        let mut trains: HashMap<DatasetName, Dataset> = HashMap::new();
        let need_train: HashSet<DatasetName> =
            targets.iter().filter(|t| matches!(t, Target::Accel { .. })).map(|t| info[t.model()].dataset).collect();
        for (i, m) in models.iter().enumerate() {
            let d = m.meta.dataset;
            if let std::collections::hash_map::Entry::Vacant(slot) = tests.entry(d) {
                let full = data::load(d, Split::Test, &data_root).map_err(|e| StudyError::Input(e.to_string()))?;
                let end = plan.image_start + plan.images;
                if end > full.len() {
                    return Err(StudyError::Input(format!(
                        "the plan asks for test images {}..{end}, the {d} test set has {}",
                        plan.image_start,
                        full.len()
                    )));
                }
                let per = full.shape.numel();
                let t = Dataset {
                    shape: full.shape,
                    images: full.images[plan.image_start * per..end * per].to_vec(),
                    labels: full.labels[plan.image_start..end].to_vec(),
                };
                slot.insert(t);
            }
            if tests[&d].shape != m.arch.input {
                return Err(StudyError::Input(format!(
                    "{}: dataset images are {}, model expects {}",
                    plan.models[i].display(),
                    tests[&d].shape,
                    m.arch.input
                )));
            }
            if need_train.contains(&d) && !trains.contains_key(&d) {
                trains
                    .insert(d, data::load(d, Split::Train, &data_root).map_err(|e| StudyError::Input(e.to_string()))?);
            }
        }
        let mut quant = HashMap::new();
        let mut mults: HashMap<(usize, bool), Resolved> = HashMap::new();
        let mut exact_power_mw = HashMap::new();
        let mut calibs: HashMap<usize, Vec<f32>> = HashMap::new();
        // In a fixed order: the recovered models below do not depend on it, but errors do.
        let mut targets: Vec<Target> = targets.into_iter().collect();
        targets.sort_by_key(|t| format!("{t:?}"));
        for t in &targets {
            let Target::Accel { model, scheme, per_channel, multiplier, .. } = *t else { continue };
            let signed = scheme.signed_multiplier();
            if let std::collections::hash_map::Entry::Vacant(e) = quant.entry((model, scheme, per_channel)) {
                let m = &models[model];
                let train = &trains[&m.meta.dataset];
                let options = super::target_spec::options(scheme, per_channel, plan.approx());
                let (qm, images) = super::target_spec::calibrate(m, train, plan.calib, plan.calib_seed, options)
                    .map_err(|e| StudyError::Model(format!("{}: {e}", plan.models[model].display())))?;
                calibs.entry(model).or_insert(images);
                e.insert(qm);
            }
            let exact = *exact_power_mw
                .entry(signed)
                .or_insert_with(|| crate::mult::resolve::exact_power_mw(inputs.evoapprox.as_deref(), signed));
            if let std::collections::hash_map::Entry::Vacant(e) = mults.entry((multiplier, signed)) {
                let spec = &plan.multipliers[multiplier];
                e.insert(resolve(spec, signed, inputs.evoapprox.as_deref(), exact)?);
            }
        }
        let mut recovered = HashMap::new();
        for t in &targets {
            let Target::Accel { model, scheme, per_channel, multiplier, recover, .. } = *t else { continue };
            if recover == Recover::None || recovered.contains_key(&(model, scheme, per_channel, multiplier, recover)) {
                continue;
            }
            let m = &mults[&(multiplier, scheme.signed_multiplier())];
            let fail = |e: String| {
                StudyError::Model(format!(
                    "{} with {} ({recover}): {e}",
                    plan.models[model].display(),
                    plan.multipliers[multiplier]
                ))
            };
            let qm = super::target_spec::recover_for(
                &quant[&(model, scheme, per_channel)],
                &models[model].meta,
                &plan.models[model],
                &m.loaded,
                &m.lut_sha256,
                &plan.multipliers[multiplier],
                recover,
                &calibs[&model],
            )
            .map_err(fail)?;
            recovered.insert((model, scheme, per_channel, multiplier, recover), qm);
        }
        Ok(Workspace { plan: plan.clone(), info, models, tests, quant, recovered, mults, exact_power_mw })
    }

    /// The folder of model `i`, as rows name it.
    pub fn model_label(&self, i: usize) -> String {
        self.plan.models[i].display().to_string()
    }

    /// The key of `target`'s row in `cell`.
    pub fn key(&self, cell: &Cell, target: &Target) -> RunKey {
        self.row_stub(cell, target).key()
    }

    /// A row with the key fields of (`cell`, `target`) and no measurement yet.
    fn row_stub(&self, cell: &Cell, target: &Target) -> Row {
        let plan = &self.plan;
        let mut r = Row {
            source_model: self.model_label(cell.source),
            source_sha256: self.models[cell.source].meta.sha256.clone(),
            threat: cell.threat.name().into(),
            attack: cell.attack.name().into(),
            attack_rev: cell.attack.revision(),
            epsilon: cell.epsilon,
            eps_units: plan.eps_units.name().into(),
            attack_seed: cell.attack_seed,
            image_start: cell.images.start,
            image_end: cell.images.end,
            target_model: self.model_label(target.model()),
            target_sha256: self.models[target.model()].meta.sha256.clone(),
            target: "float".into(),
            scheme: String::new(),
            per_channel: false,
            array: String::new(),
            dataflow: String::new(),
            approx_layers: String::new(),
            calib: 0,
            calib_seed: 0,
            multiplier: String::new(),
            lut_sha256: String::new(),
            clock_ghz: 0.0,
            n: 0,
            correct: 0,
            accuracy: 0.0,
            ci_low: 0.0,
            ci_high: 0.0,
            correct_bits: String::new(),
            mae_pct: None,
            power_mw: None,
            cycles_per_image: None,
            energy_per_image_pj: None,
            recover: String::new(),
        };
        if let Target::Accel { scheme, per_channel, array, dataflow, multiplier, recover, .. } = *target {
            if recover != Recover::None {
                r.recover = recover.name().into();
            }
            let m = &self.mults[&(multiplier, scheme.signed_multiplier())];
            r.target = "accel".into();
            r.scheme = scheme.to_string();
            r.per_channel = per_channel;
            r.array = array.to_string();
            r.dataflow = dataflow.to_string();
            r.approx_layers = plan.approx_layers.clone();
            r.calib = plan.calib;
            r.calib_seed = plan.calib_seed;
            r.multiplier = plan.multipliers[multiplier].clone();
            r.lut_sha256 = m.lut_sha256.clone();
            r.clock_ghz = plan.clock_ghz;
            r.mae_pct = m.mae_pct;
            r.power_mw = m.loaded.power_mw;
        }
        r
    }

    fn accel_config(&self, target: &Target) -> AccelConfig {
        let Target::Accel { scheme, array, dataflow, .. } = *target else { unreachable!("float target") };
        AccelConfig {
            array,
            dataflow,
            engine: Engine::Fast,
            use_table: true,
            energy: EnergyModel {
                clock_ghz: self.plan.clock_ghz,
                exact_power_mw: self.exact_power_mw[&scheme.signed_multiplier()],
            },
        }
    }

    /// The accelerator of an accelerator target.
    pub fn accelerator(&self, target: &Target) -> Result<Accelerator<'_>, StudyError> {
        let Target::Accel { model, scheme, per_channel, multiplier, recover, .. } = *target else {
            unreachable!("float target")
        };
        let qm = match recover {
            Recover::None => &self.quant[&(model, scheme, per_channel)],
            _ => &self.recovered[&(model, scheme, per_channel, multiplier, recover)],
        };
        let m = &self.mults[&(multiplier, scheme.signed_multiplier())];
        crate::accel::Accelerator::for_loaded(qm, &m.loaded, self.accel_config(target))
            .map_err(|e| StudyError::Model(format!("{}: {e}", self.plan.multipliers[multiplier])))
    }
}

/// Resolve a multiplier spec or per-layer assignment; the built-in exact multiplier is charged
/// the library's exact power. An assignment's rows record no single MAE or power (its energy
/// per image sums each layer's own).
pub fn resolve(
    spec: &str,
    signed: bool,
    evoapprox: Option<&Path>,
    exact_power_mw: Option<f64>,
) -> Result<Resolved, StudyError> {
    let mut m = crate::mult::resolve::resolve_charged(spec, signed, false, evoapprox, exact_power_mw)
        .map_err(|e| StudyError::Multiplier { spec: spec.into(), reason: e.to_string() })?;
    if let Some(bad) = std::iter::once(&m).chain(m.layers.iter().map(|l| &l.1)).find(|x| x.mult.signed() != signed) {
        let (got, want) = if signed { ("an unsigned", "a signed") } else { ("a signed", "an unsigned") };
        return Err(StudyError::Multiplier {
            spec: spec.into(),
            reason: format!("{} is {got} multiplier where the scheme needs {want} one", bad.mult.name()),
        });
    }
    if m.is_assignment() {
        m.power_mw = None;
        return Ok(Resolved { lut_sha256: m.lut_sha256(), mae_pct: None, loaded: m });
    }
    let lut = m.lut.as_ref().expect("LUT mode builds the table");
    Ok(Resolved {
        lut_sha256: lut.sha256(),
        mae_pct: Some(crate::lut::metrics::Metrics::of_lut(lut).mae_pct),
        loaded: m,
    })
}

/// Where a run's time went.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunSummary {
    /// Cells of the plan (or shard).
    pub cells: usize,
    /// Cells run in this process.
    pub cells_run: usize,
    /// Cells whose rows were all in the store already.
    pub cells_reused: usize,
    /// Rows written by this run.
    pub rows_written: usize,
    /// Rows in the store after the run.
    pub rows_total: usize,
    /// Seconds loading models, data, multipliers and accelerators.
    pub setup_s: f64,
    /// Seconds generating adversarial examples, summed over parallel cells.
    pub attack_s: f64,
    /// Seconds evaluating targets, summed over parallel cells.
    pub eval_s: f64,
    /// Seconds reading and writing the store.
    pub io_s: f64,
    /// Wall-clock seconds of the whole run.
    pub wall_s: f64,
    /// Process CPU seconds (user + system) over the run.
    pub cpu_s: Option<f64>,
    /// Rayon worker threads.
    pub threads: usize,
}

impl RunSummary {
    /// Average busy cores over the run.
    pub fn utilization(&self) -> Option<f64> {
        self.cpu_s.map(|c| c / self.wall_s.max(1e-9))
    }
}

impl std::fmt::Display for RunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} cells ({} run, {} reused), {} rows written; wall {:.1} s: set-up {:.1} s; summed over parallel cells: attack generation {:.1} s, accelerator/float evaluation {:.1} s; I/O {:.1} s",
            self.cells, self.cells_run, self.cells_reused, self.rows_written, self.wall_s, self.setup_s, self.attack_s, self.eval_s, self.io_s
        )?;
        if let (Some(c), Some(u)) = (self.cpu_s, self.utilization()) {
            write!(f, "; CPU {c:.1} s = {u:.2} of {} cores busy", self.threads)?;
        }
        Ok(())
    }
}

/// User + system CPU seconds of this process (Linux `/proc/self/stat`), if readable.
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (u, k): (f64, f64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
    Some((u + k) / 100.0)
}

/// Runs a plan into a results folder.
pub struct Runner {
    /// The plan run.
    pub plan: Plan,
    /// Where the dataset and EvoApprox library are.
    pub inputs: Inputs,
    /// The shard to run (`None`: the whole plan).
    pub shard: Option<Shard>,
    /// Show progress bars on stderr.
    pub progress: bool,
    /// Write the store at most this often (and after the last cell).
    pub save_every: Duration,
    /// Keep the clipped adversarial examples of every transfer cell (regenerated where the rows
    /// are stored: the examples are not kept in the store), for [`Runner::run_keeping_examples`].
    pub keep_examples: bool,
}

/// Which adversarial examples: source model, attack, attack seed, budget.
pub type ExampleKey = (usize, String, u64, u32);

impl Runner {
    /// A runner for `plan` with progress bars, saving every second, examples not kept.
    pub fn new(plan: Plan, inputs: Inputs) -> Runner {
        Runner { plan, inputs, shard: None, progress: true, save_every: Duration::from_secs(1), keep_examples: false }
    }

    /// Run only shard `s`.
    pub fn shard(mut self, s: Option<Shard>) -> Runner {
        self.shard = s;
        self
    }

    /// Without progress bars.
    pub fn quiet(mut self) -> Runner {
        self.progress = false;
        self
    }

    /// Every cell of this runner's shard, in plan order.
    pub fn cells(&self) -> Result<(Vec<ModelInfo>, Vec<Cell>), StudyError> {
        let info = ModelInfo::of_plan(&self.plan)?;
        let all = cell::cells(&self.plan, &info);
        let mine = match self.shard {
            Some(s) => cell::shard(all, &info, s),
            None => all,
        };
        Ok((info, mine))
    }

    /// Run into `out`: reuse every row whose key is stored, compute the rest.
    pub fn run(&self, out: &Path) -> Result<RunSummary, StudyError> {
        Ok(self.run_inner(out)?.0)
    }

    /// [`Runner::run`], also returning the clipped adversarial examples of every transfer-threat
    /// cell, assembled over the image chunks in test-set order (`images × C·H·W` floats).
    pub fn run_keeping_examples(
        mut self,
        out: &Path,
    ) -> Result<(RunSummary, BTreeMap<ExampleKey, Vec<f32>>), StudyError> {
        self.keep_examples = true;
        let (sum, chunks) = self.run_inner(out)?;
        let mut grouped: BTreeMap<ExampleKey, Vec<(usize, Vec<f32>)>> = BTreeMap::new();
        for ((k, start), x) in chunks {
            grouped.entry(k).or_default().push((start, x));
        }
        let mut outm = BTreeMap::new();
        for (k, mut v) in grouped {
            v.sort_by_key(|(s, _)| *s);
            outm.insert(k, v.into_iter().flat_map(|(_, x)| x).collect());
        }
        Ok((sum, outm))
    }

    #[allow(clippy::type_complexity)]
    fn run_inner(&self, out: &Path) -> Result<(RunSummary, Vec<((ExampleKey, usize), Vec<f32>)>), StudyError> {
        let t0 = Instant::now();
        let cpu0 = cpu_seconds();
        let (info, cells) = self.cells()?;
        // Held to the end: a second writer of this folder waits instead of losing rows.
        let shard = self.shard.map_or(String::new(), |s| format!(", shard {s}"));
        let _lock = store::FolderLock::acquire(out, &format!("study run of plan `{}`{shard}", self.plan.name))?;
        let mut store = Store::open(out)?;
        store::write_atomic(&out.join(LOCK_FILE), self.plan.to_toml().as_bytes())?;
        match self.shard {
            Some(s) => {
                let text = toml::to_string(&store::ShardInfo { shard: s.to_string(), plan_sha256: self.plan.sha256() })
                    .expect("serializes");
                store::write_atomic(&out.join(SHARD_FILE), text.as_bytes())?;
            }
            None => {
                let p = out.join(SHARD_FILE);
                if p.exists() {
                    std::fs::remove_file(&p).map_err(|source| StudyError::Io { path: p, cause: source })?;
                }
            }
        }
        let ws = Workspace::load(&self.plan, &self.inputs, info, &cells)?;
        let mut sum = RunSummary { cells: cells.len(), threads: rayon::current_num_threads(), ..Default::default() };
        let current: HashSet<RunKey> = cells.iter().flat_map(|c| c.targets.iter().map(|t| ws.key(c, t))).collect();
        let wanted = |c: &Cell| self.keep_examples && c.threat == Threat::Transfer && c.attack != AttackSpec::Clean;
        let todo: Vec<&Cell> = cells
            .iter()
            .filter(|c| wanted(c) || c.targets.iter().any(|t| store.get(&ws.key(c, t)).is_none()))
            .collect();
        let mut examples = Vec::new();
        sum.cells_reused = cells.len() - todo.len();
        // Accelerators of the cells still to run, built once.
        let mut accels: HashMap<Target, Accelerator> = HashMap::new();
        for c in &todo {
            for t in &c.targets {
                if matches!(t, Target::Accel { .. }) && !accels.contains_key(t) {
                    accels.insert(*t, ws.accelerator(t)?);
                }
            }
        }
        sum.setup_s = t0.elapsed().as_secs_f64();
        let mp = indicatif::MultiProgress::with_draw_target(if self.progress {
            indicatif::ProgressDrawTarget::stderr()
        } else {
            indicatif::ProgressDrawTarget::hidden()
        });
        let bar = mp.add(indicatif::ProgressBar::new(todo.len() as u64));
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} cells ({eta}) {msg}")
                .expect("template"),
        );
        bar.set_prefix(format!("study {}", self.plan.name));
        let mut last_save = Instant::now();
        // Cells are independent (own noise stream, own rows), so a wave of them runs in parallel
        // to keep every core busy even where one attack call cannot; the rows are inserted in
        // plan order afterwards, so nothing depends on the thread count.
        let wave = (2 * rayon::current_num_threads()).max(1);
        for batch in todo.chunks(wave) {
            bar.set_message(format!("{} {} eps {} …", batch[0].threat, batch[0].attack, batch[0].epsilon));
            let results: Vec<Result<(Vec<Row>, Timing, Vec<f32>), StudyError>> = {
                use rayon::prelude::*;
                batch.par_iter().map(|c| run_cell(&ws, &accels, c, &store)).collect()
            };
            for (c, r) in batch.iter().zip(results) {
                let (rows, timing, adv) = r?;
                sum.attack_s += timing.attack_s;
                sum.eval_s += timing.eval_s;
                sum.rows_written += rows.len();
                for r in rows {
                    store.admit(r)?;
                }
                if wanted(c) {
                    examples.push((
                        ((c.source, c.attack.name().to_string(), c.attack_seed, c.epsilon.to_bits()), c.images.start),
                        adv,
                    ));
                }
                sum.cells_run += 1;
                bar.inc(1);
            }
            if last_save.elapsed() >= self.save_every {
                let t = Instant::now();
                store.save(&self.plan, &current)?;
                sum.io_s += t.elapsed().as_secs_f64();
                last_save = Instant::now();
            }
        }
        let t = Instant::now();
        // Always: also moves rows an input change superseded out of the results.
        store.save(&self.plan, &current)?;
        sum.io_s += t.elapsed().as_secs_f64();
        bar.finish_and_clear();
        sum.rows_total = store.len();
        sum.wall_s = t0.elapsed().as_secs_f64();
        sum.cpu_s = cpu0.zip(cpu_seconds()).map(|(a, b)| b - a);
        Ok((sum, examples))
    }
}

/// CPU time of one cell, by stage (summed over parallel cells: may exceed wall time).
#[derive(Default)]
struct Timing {
    attack_s: f64,
    eval_s: f64,
}

/// Adversarial examples of one cell, then the rows of its targets not yet stored.
fn run_cell(
    ws: &Workspace,
    accels: &HashMap<Target, Accelerator>,
    c: &Cell,
    store: &Store,
) -> Result<(Vec<Row>, Timing, Vec<f32>), StudyError> {
    let mut sum = Timing::default();
    let src = &ws.models[c.source];
    let test = &ws.tests[&src.meta.dataset];
    let per = test.shape.numel();
    let lo = c.images.start - ws.plan.image_start;
    let hi = c.images.end - ws.plan.image_start;
    let x = &test.images[lo * per..hi * per];
    let labels = &test.labels[lo..hi];
    let t = Instant::now();
    let adv: Vec<f32> = match c.attack {
        // At eps 0 every attack's clipped output is the input itself (the Linf clamp and the L2
        // factor are both 0), so the search is skipped: the same rows, no wasted steps.
        AttackSpec::Clean => x.to_vec(),
        AttackSpec::Attack(_) if c.epsilon == 0.0 => x.to_vec(),
        AttackSpec::Attack(a) => {
            let eps = [Epsilon::new(c.epsilon).map_err(|e| StudyError::Attack(e.to_string()))?];
            let crit = Criterion::Misclassification(labels.to_vec());
            let float = FloatClassifier { arch: &src.arch, params: &src.params };
            let (model, hw_label): (Box<dyn Classifier + '_>, String) = match c.threat {
                Threat::Transfer => (Box::new(float), String::new()),
                Threat::Bpda => {
                    let t = &c.targets[0];
                    let label = ws.key(c, t).seed_text();
                    let m = &ws.models[t.model()];
                    let accel = BpdaClassifier {
                        accel: &accels[t],
                        arch: &m.arch,
                        params: &m.params,
                        label: format!("{} on the accelerator", ws.row_stub(c, t).multiplier),
                    };
                    (Box::new(accel), label)
                }
                Threat::Hardware => {
                    let t = &c.targets[0];
                    let label = ws.key(c, t).seed_text();
                    (
                        Box::new(AccelClassifier {
                            accel: &accels[t],
                            label: format!("{} on the accelerator", ws.row_stub(c, t).multiplier),
                        }),
                        label,
                    )
                }
            };
            let mut noise = SeededNoise::new(c.noise_seed(&src.meta.sha256, &hw_label));
            let out = match ws.plan.eps_units {
                EpsUnits::Pixel => {
                    attack::run(a, a.default_params(), model.as_ref(), &Bounds::default(), x, &crit, &eps, &mut noise)
                }
                EpsUnits::Normalized => {
                    // The model's own normalization, else the dataset's usual one.
                    let norm = src.arch.normalize.clone().unwrap_or_else(|| src.meta.dataset.normalization());
                    attack::run_normalized(
                        a,
                        a.default_params(),
                        model.as_ref(),
                        &norm,
                        src.arch.input,
                        x,
                        &crit,
                        &eps,
                        &mut noise,
                    )
                }
            }
            .map_err(|e| StudyError::Attack(format!("{a}: {e}")))?;
            out.clipped.into_iter().next().expect("one epsilon")
        }
    };
    sum.attack_s += t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut rows = Vec::new();
    // Targets computing the same integers (same key but for the multiplier's name: e.g. the
    // built-in exact multiplier and mul8u_1JFF, whose tables are equal) share one evaluation.
    let mut evaluated: HashMap<RunKey, Vec<usize>> = HashMap::new();
    for target in &c.targets {
        let key = ws.key(c, target);
        if store.get(&key).is_some() {
            continue;
        }
        let mut r = ws.row_stub(c, target);
        let preds: Vec<usize> = match target {
            Target::Float { model } => {
                let m = &ws.models[*model];
                let logits = crate::model::engine::logits(&m.arch, &m.params, &adv, labels.len());
                logits.chunks_exact(m.arch.classes).map(crate::accel::infer::argmax).collect()
            }
            Target::Accel { .. } => {
                let acc = &accels[target];
                let stats = acc.stats();
                r.cycles_per_image = Some(stats.iter().map(|l| l.cycles).sum());
                r.energy_per_image_pj = stats.iter().map(|l| l.energy_pj).sum();
                let same = RunKey { multiplier: String::new(), ..key.clone() };
                match evaluated.get(&same) {
                    Some(p) => p.clone(),
                    None => {
                        let p = acc.run(&adv).map_err(|e| StudyError::Model(e.to_string()))?.predictions();
                        evaluated.insert(same, p.clone());
                        p
                    }
                }
            }
        };
        let bits: Vec<bool> = preds.iter().zip(labels).map(|(&p, &y)| p == y as usize).collect();
        let p = Proportion::new(bits.iter().filter(|&&b| b).count(), bits.len());
        let (l, h) = p.wilson();
        r.n = p.n;
        r.correct = p.correct;
        r.accuracy = p.value();
        r.ci_low = l;
        r.ci_high = h;
        r.correct_bits = bits_to_hex(&bits);
        rows.push(r);
    }
    sum.eval_s += t.elapsed().as_secs_f64();
    Ok((rows, sum, adv))
}

/// Rows of `plan` found in a store, aggregated over image chunks: one [`Aggregate`] per
/// (source, threat, attack, seed, epsilon, target) with summed counts and concatenated outcomes.
#[derive(Debug, Clone)]
pub struct Aggregate {
    /// The first row of the group (every key field but the image range).
    pub first: Row,
    /// Images over the chunks found.
    pub n: usize,
    /// Images classified correctly over those chunks.
    pub correct: usize,
    /// Per image of the chunks found (in store order), whether it was classified correctly.
    pub bits: Vec<bool>,
    /// Chunks found of those the plan has.
    pub chunks: usize,
}

impl Aggregate {
    /// `correct` of `n`.
    pub fn proportion(&self) -> Proportion {
        Proportion::new(self.correct, self.n)
    }
}

/// Group rows by everything but the image range, in store order.
pub fn aggregate<'a>(rows: impl Iterator<Item = &'a Row>) -> Vec<Aggregate> {
    let mut index: BTreeMap<RunKey, usize> = BTreeMap::new();
    let mut out: Vec<Aggregate> = Vec::new();
    for r in rows {
        let mut k = r.key();
        k.image_start = 0;
        k.image_end = 0;
        match index.get(&k) {
            Some(&i) => {
                let a = &mut out[i];
                a.n += r.n;
                a.correct += r.correct;
                a.bits.extend(r.bits().unwrap_or_default());
                a.chunks += 1;
            }
            None => {
                index.insert(k, out.len());
                out.push(Aggregate {
                    first: r.clone(),
                    n: r.n,
                    correct: r.correct,
                    bits: r.bits().unwrap_or_default(),
                    chunks: 1,
                });
            }
        }
    }
    out
}
