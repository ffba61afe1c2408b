//! Per-layer multiplier assignment (`axdnn select --per-layer`): which multiplier of a library each
//! searched GEMM layer multiplies with, for the Pareto front of energy per image (multiplier
//! energy, each layer charged its own circuit's power) against clean accuracy, optionally with
//! robust accuracy under one transferred attack as a third objective.
//!
//! The search reads **validation** images drawn (seeded) from the training set, disjoint from the
//! calibration images; the front it finds is then measured on the test images, so the test set
//! never steers the choice. Exhaustive when the space is small, NSGA-II (Deb et al. 2002: fast
//! non-dominated sort, crowding distance, binary tournaments, uniform crossover, per-gene
//! mutation) otherwise. Every choice is seeded and every assignment is evaluated on its own, so
//! the result does not depend on thread count.

use super::stats::Proportion;
use super::StudyError;
use crate::accel::{AccelConfig, Accelerator};
use crate::attack::{self, Attack, Bounds, Criterion, Epsilon, FloatClassifier, SeededNoise};
use crate::data::Dataset;
use crate::model::io::SavedModel;
use crate::mult::resolve::LoadedMultiplier;
use crate::quant::{calibration_indices, QuantModel, QuantOptions, Recover};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::HashMap;

/// One multiplier the search may put in a layer.
pub struct Choice {
    /// Short name (file stem), as written in assignments.
    pub name: String,
    /// The resolved multiplier.
    pub loaded: LoadedMultiplier,
}

/// What the search optimizes and how.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// How the model is quantized (scheme, weights, approximate layers searched).
    pub options: QuantOptions,
    /// The accelerator the assignments run on.
    pub accel: AccelConfig,
    /// Calibration images (training set).
    pub calib: usize,
    /// Seed choosing them.
    pub calib_seed: u64,
    /// Accuracy recovery applied to every assignment.
    pub recover: Recover,
    /// Validation images (from the training set, outside the calibration set).
    pub val: usize,
    /// Test images the front is measured on (the first ones).
    pub test: usize,
    /// Seed of the validation images, the robust objective's attack and the search.
    pub seed: u64,
    /// NSGA-II population size.
    pub population: usize,
    /// NSGA-II generations.
    pub generations: usize,
    /// Search exhaustively when choices^layers is at most this.
    pub exhaustive_limit: u64,
    /// Robust accuracy under this attack (transferred from the float model, pixel units) as a
    /// third objective.
    pub robust: Option<(Attack, f32)>,
}

/// The search's own settings (the `select --per-layer` flags); the target's are a
/// [`super::TargetSpec`].
#[derive(Debug, Clone, clap::Args)]
pub struct SearchFlags {
    /// Validation images (from the training set, outside the calibration set) for --per-layer.
    #[arg(long, default_value_t = 1000)]
    pub val: usize,
    /// NSGA-II population (--per-layer).
    #[arg(long, default_value_t = 48)]
    pub population: usize,
    /// NSGA-II generations (--per-layer).
    #[arg(long, default_value_t = 30)]
    pub generations: usize,
    /// Search exhaustively when (multipliers)^(layers) is at most this (--per-layer).
    #[arg(long, default_value_t = 2000)]
    pub exhaustive_limit: u64,
    /// Seed of the search and of the validation images (--per-layer).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Third objective (--per-layer): robust accuracy under this attack, transferred from the
    /// float model (e.g. linf-pgd), at --robust-eps (pixel units).
    #[arg(long)]
    pub robust_attack: Option<Attack>,
    /// Budget of --robust-attack (pixel units of [0, 1]).
    #[arg(long, default_value_t = 0.1)]
    pub robust_eps: f32,
}

#[allow(clippy::too_many_arguments)] // the target, the method, the search and where to read and write: one fact each
/// Search the assignments of the multiplier files `library` (named `library_dir` in the
/// report) on `target`, with `recover`; writes the front into `out` with a heading that records
/// the settings and `command`.
pub fn select(
    target: &super::TargetSpec,
    recover: Recover,
    flags: &SearchFlags,
    library_dir: &std::path::Path,
    library: &[std::path::PathBuf],
    inputs: &super::Inputs,
    out: &std::path::Path,
    command: &str,
) -> Result<Search, StudyError> {
    if recover == Recover::Finetune {
        return Err(StudyError::Input(
            "--per-layer --recover finetune: a fine-tuned model is tied to one multiplier".into(),
        ));
    }
    let (model, train, test) = target.load(inputs)?;
    let signed = target.scheme.signed_multiplier();
    let exact_power = crate::mult::resolve::exact_power_mw(inputs.evoapprox.as_deref(), signed);
    let mut choices = Vec::new();
    for f in library {
        let spec = f.display().to_string();
        let loaded = crate::mult::resolve_charged(&spec, signed, false, None, exact_power)
            .map_err(|e| StudyError::Multiplier { spec: spec.clone(), reason: e.to_string() })?;
        let name = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        choices.push(Choice { name, loaded });
    }
    let cfg = SearchConfig {
        options: target.options(),
        accel: target.accel_config(crate::accel::Engine::Fast, false, exact_power),
        calib: target.calib,
        calib_seed: target.calib_seed,
        recover,
        val: flags.val,
        test: test.len(),
        seed: flags.seed,
        population: flags.population,
        generations: flags.generations,
        exhaustive_limit: flags.exhaustive_limit,
        robust: flags.robust_attack.map(|x| (x, flags.robust_eps)),
    };
    let s = search(&model, &train, &test, &choices, &cfg, true)?;
    let about = format!(
        "## Per-layer multiplier assignment: `{}`, {}\n\n`{command}`\n\n{} {} array, recovery {}, calibration {} training images (seed {}), {} validation images (seed {}), {} test images; {} multipliers of `{}`.{}",
        target.model.display(), target.scheme, target.array, target.dataflow, cfg.recover, cfg.calib, cfg.calib_seed, flags.val, flags.seed, cfg.test, choices.len(), library_dir.display(),
        cfg.robust.map_or(String::new(), |(at, e)| format!(" Third objective: robust accuracy under {at} at ε = {e} (pixel units), transferred from the float model."))
    );
    s.write(out, &about)?;
    Ok(s)
}

/// One evaluated assignment.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// Choice index per searched layer.
    pub genome: Vec<usize>,
    /// The assignment as `--multiplier` takes it (`conv1=A,conv2=B,...`).
    pub assignment: String,
    /// Multiplier energy per image in pJ.
    pub energy_pj: f64,
    /// Clean accuracy on the validation images.
    pub val: Proportion,
    /// Robust accuracy on the validation images (with a robust objective).
    pub val_robust: Option<Proportion>,
    /// Measured on the test images (front points only).
    pub test: Option<Proportion>,
    /// Robust accuracy on the test images (front points, with a robust objective).
    pub test_robust: Option<Proportion>,
}

/// How the assignments were searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Method {
    /// Every assignment evaluated.
    Exhaustive,
    /// NSGA-II, a genetic multi-objective search.
    Nsga2 {
        /// Assignments per generation.
        population: usize,
        /// Generations run.
        generations: usize,
    },
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Method::Exhaustive => write!(f, "exhaustive"),
            Method::Nsga2 { population, generations } => {
                write!(f, "NSGA-II, population {population}, {generations} generations")
            }
        }
    }
}

/// The search's outcome: every assignment evaluated (in evaluation order) and the front.
#[derive(Debug, Clone, Serialize)]
pub struct Search {
    /// The searched layers (the model's approximate layers), in model order.
    pub layers: Vec<String>,
    /// The multipliers' short names, in choice-index order.
    pub choices: Vec<String>,
    /// How the search ran.
    pub method: Method,
    /// Every assignment evaluated, in evaluation order.
    pub points: Vec<Point>,
    /// Indices into `points` of the validation Pareto front, by energy.
    pub front: Vec<usize>,
    /// The single-multiplier designs (each choice in every searched layer), all on the
    /// validation images; those on their own front also on the test images.
    pub uniform: Vec<Point>,
    /// The float model's accuracy on the validation images.
    pub float_val: Proportion,
    /// The float model's accuracy on the test images.
    pub float_test: Proportion,
}

/// `a` dominates `b`: no worse in every objective (energy down, accuracies up), better in one.
pub fn dominates(a: &Point, b: &Point) -> bool {
    let obj = |p: &Point| [-p.energy_pj, p.val.correct as f64, p.val_robust.map_or(0.0, |r| r.correct as f64)];
    let (x, y) = (obj(a), obj(b));
    x.iter().zip(&y).all(|(u, v)| u >= v) && x.iter().zip(&y).any(|(u, v)| u > v)
}

/// Fronts of non-domination, best first (Deb's fast non-dominated sort).
pub fn nondominated_sort(points: &[Point]) -> Vec<Vec<usize>> {
    let n = points.len();
    let mut dominated_by = vec![0usize; n];
    let mut dominates_list = vec![Vec::new(); n];
    for i in 0..n {
        for j in 0..n {
            if i != j && dominates(&points[i], &points[j]) {
                dominates_list[i].push(j);
            } else if i != j && dominates(&points[j], &points[i]) {
                dominated_by[i] += 1;
            }
        }
    }
    let mut fronts = Vec::new();
    let mut cur: Vec<usize> = (0..n).filter(|&i| dominated_by[i] == 0).collect();
    while !cur.is_empty() {
        let mut next = Vec::new();
        for &i in &cur {
            for &j in &dominates_list[i] {
                dominated_by[j] -= 1;
                if dominated_by[j] == 0 {
                    next.push(j);
                }
            }
        }
        next.sort_unstable();
        fronts.push(std::mem::take(&mut cur));
        cur = next;
    }
    fronts
}

/// Crowding distance of each member of `front` (same order).
fn crowding(points: &[Point], front: &[usize]) -> Vec<f64> {
    let mut d = vec![0f64; front.len()];
    let objs: [&dyn Fn(&Point) -> f64; 3] =
        [&|p| p.energy_pj, &|p| p.val.correct as f64, &|p| p.val_robust.map_or(0.0, |r| r.correct as f64)];
    for f in objs {
        let mut order: Vec<usize> = (0..front.len()).collect();
        order.sort_by(|&a, &b| f(&points[front[a]]).total_cmp(&f(&points[front[b]])).then(a.cmp(&b)));
        let (lo, hi) = (f(&points[front[order[0]]]), f(&points[front[*order.last().unwrap()]]));
        d[order[0]] = f64::INFINITY;
        d[*order.last().unwrap()] = f64::INFINITY;
        if hi > lo {
            for w in 1..order.len().saturating_sub(1) {
                d[order[w]] += (f(&points[front[order[w + 1]]]) - f(&points[front[order[w - 1]]])) / (hi - lo);
            }
        }
    }
    d
}

/// Everything an evaluation reads.
pub struct Evaluator<'a> {
    qm: &'a QuantModel,
    calib: &'a [f32],
    choices: &'a [Choice],
    /// GEMM layers searched, in model order.
    layers: Vec<String>,
    config: &'a SearchConfig,
    val: &'a Dataset,
    val_adv: Option<Vec<f32>>,
    cache: HashMap<Vec<usize>, Point>,
    /// The exact multiplier of the scheme's signedness (the accelerator's default).
    exact: crate::lut::Lut,
}

impl<'a> Evaluator<'a> {
    fn assignment(&self, genome: &[usize]) -> String {
        self.layers
            .iter()
            .zip(genome)
            .map(|(l, &c)| format!("{l}={}", self.choices[c].name))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Accuracy (and robust accuracy) of `genome` on `images`, and its energy per image.
    fn measure(
        &self,
        genome: &[usize],
        images: &Dataset,
        adv: Option<&[f32]>,
    ) -> Result<(f64, Proportion, Option<Proportion>), StudyError> {
        let refs: Vec<(&str, &dyn crate::mult::Multiplier)> =
            self.layers.iter().zip(genome).map(|(l, &c)| (l.as_str(), self.choices[c].loaded.mult.as_ref())).collect();
        let exact = &self.exact;
        let fail = |e: String| StudyError::Model(format!("{}: {e}", self.assignment(genome)));
        // Every searched layer is named, so the default (`exact`) multiplies nowhere.
        let recovered;
        let qm = match self.config.recover {
            Recover::None => self.qm,
            r => {
                recovered =
                    crate::recover::recover_layers(self.qm, exact, &refs, &self.assignment(genome), "", r, self.calib)
                        .map_err(|e| fail(e.to_string()))?;
                &recovered
            }
        };
        let acc = Accelerator::with_layers(qm, exact, &refs, self.config.accel).map_err(|e| fail(e.to_string()))?;
        let r = acc.run(&images.images).map_err(|e| fail(e.to_string()))?;
        let energy = r
            .energy_per_image_pj()
            .ok_or_else(|| fail("a layer's multiplier has no published power, so no energy".into()))?;
        let ok = |p: &[usize]| p.iter().zip(&images.labels).filter(|(&a, &b)| a == b as usize).count();
        let clean = Proportion::new(ok(&r.predictions()), images.len());
        let robust = match adv {
            Some(x) => {
                Some(Proportion::new(ok(&acc.run(x).map_err(|e| fail(e.to_string()))?.predictions()), images.len()))
            }
            None => None,
        };
        Ok((energy, clean, robust))
    }

    /// Evaluate `genomes` on the validation images (cached by genome), in order.
    fn eval(&mut self, genomes: &[Vec<usize>], pb: &indicatif::ProgressBar) -> Result<Vec<Point>, StudyError> {
        let mut out = Vec::with_capacity(genomes.len());
        for g in genomes {
            if let Some(p) = self.cache.get(g) {
                out.push(p.clone());
                continue;
            }
            let (energy_pj, val, val_robust) = self.measure(g, self.val, self.val_adv.as_deref())?;
            let p = Point {
                genome: g.clone(),
                assignment: self.assignment(g),
                energy_pj,
                val,
                val_robust,
                test: None,
                test_robust: None,
            };
            self.cache.insert(g.clone(), p.clone());
            pb.inc(1);
            out.push(p);
        }
        Ok(out)
    }
}

/// Quantize `model` (calibrated on the training images `config` names), search assignments of
/// `choices` over the model's approximate GEMM layers, and measure the front on `test`.
pub fn search(
    model: &SavedModel,
    train: &Dataset,
    test: &Dataset,
    choices: &[Choice],
    config: &SearchConfig,
    progress: bool,
) -> Result<Search, StudyError> {
    if choices.is_empty() {
        return Err(StudyError::Input("no multipliers to choose from".into()));
    }
    let (qm, calib) =
        super::target_spec::calibrate(model, train, config.calib, config.calib_seed, config.options.clone())
            .map_err(|e| StudyError::Model(e.to_string()))?;
    // The same indices as the calibration's: validation images are drawn from the rest.
    let idx = calibration_indices(train.len(), config.calib, config.calib_seed);
    let layers: Vec<String> = qm.gemms().filter(|g| g.approximate).map(|g| g.name.clone()).collect();
    if layers.is_empty() {
        return Err(StudyError::Input("the model has no approximate layer to assign (see --approx-layers)".into()));
    }
    // Validation images: seeded from the training images outside the calibration set.
    let taken: std::collections::HashSet<usize> = idx.iter().copied().collect();
    let mut rest: Vec<usize> = (0..train.len()).filter(|i| !taken.contains(i)).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed ^ 0x7661_6c69_6461_7465);
    rest.shuffle(&mut rng);
    rest.truncate(config.val);
    rest.sort_unstable();
    let val = train.subset(&rest);
    let test = test.subset(&(0..config.test.min(test.len())).collect::<Vec<_>>());
    let float_acc = |d: &Dataset| {
        let l = crate::model::engine::logits(&model.arch, &model.params, &d.images, d.len());
        let p: Vec<usize> = l.chunks_exact(model.arch.classes).map(crate::accel::infer::argmax).collect();
        Proportion::new(p.iter().zip(&d.labels).filter(|(&a, &b)| a == b as usize).count(), d.len())
    };
    let adversarial = |d: &Dataset| -> Result<Option<Vec<f32>>, StudyError> {
        let Some((a, eps)) = config.robust else { return Ok(None) };
        let fc = FloatClassifier { arch: &model.arch, params: &model.params };
        let e = Epsilon::new(eps).map_err(|e| StudyError::Attack(e.to_string()))?;
        let out = attack::run(
            a,
            a.default_params(),
            &fc,
            &Bounds::uniform(0.0, 1.0),
            &d.images,
            &Criterion::Misclassification(d.labels.clone()),
            &[e],
            &mut SeededNoise::new(config.seed),
        )
        .map_err(|e| StudyError::Attack(e.to_string()))?;
        Ok(out.clipped.into_iter().next())
    };
    let val_adv = adversarial(&val)?;
    let test_adv = adversarial(&test)?;
    let exact = crate::lut::Lut::exact(8, 8, qm.options.scheme.signed_multiplier());
    let mut ev = Evaluator {
        qm: &qm,
        calib: &calib,
        choices,
        layers: layers.clone(),
        config,
        val: &val,
        val_adv,
        cache: HashMap::new(),
        exact,
    };
    let k = choices.len();
    let space = (k as u64).checked_pow(layers.len() as u32).unwrap_or(u64::MAX);
    let method = if space <= config.exhaustive_limit {
        Method::Exhaustive
    } else {
        Method::Nsga2 { population: config.population.max(4), generations: config.generations }
    };
    let total = k as u64
        + match method {
            Method::Exhaustive => space,
            Method::Nsga2 { population, generations } => (population * (generations + 1)) as u64,
        };
    let pb = if progress { indicatif::ProgressBar::new(total) } else { indicatif::ProgressBar::hidden() };
    if let Ok(st) =
        indicatif::ProgressStyle::with_template("per-layer search [{bar:30}] {pos}/{len} assignments ({eta})")
    {
        pb.set_style(st);
    }
    // The single-multiplier designs (every searched layer the same choice) first: references,
    // and NSGA-II's best starting points.
    let uniform_genomes: Vec<Vec<usize>> = (0..k).map(|c| vec![c; layers.len()]).collect();
    let mut points: Vec<Point> = ev.eval(&uniform_genomes, &pb)?;
    let mut uniform = points.clone();
    match method {
        Method::Exhaustive => {
            let genomes: Vec<Vec<usize>> = (0..space)
                .map(|mut i| {
                    let mut g = vec![0; layers.len()];
                    for x in g.iter_mut().rev() {
                        *x = (i % k as u64) as usize;
                        i /= k as u64;
                    }
                    g
                })
                .collect();
            points.extend(ev.eval(&genomes, &pb)?);
        }
        Method::Nsga2 { population, generations } => {
            // Half the first population: the best single-multiplier designs (NSGA-II order);
            // the rest random.
            let (rank, crowd) = ranks(&uniform);
            let mut order: Vec<usize> = (0..uniform.len()).collect();
            order.sort_by(|&a, &b| rank[a].cmp(&rank[b]).then(crowd[b].total_cmp(&crowd[a])).then(a.cmp(&b)));
            let mut pop: Vec<Vec<usize>> =
                order.iter().take(population / 2).map(|&i| uniform[i].genome.clone()).collect();
            while pop.len() < population {
                pop.push((0..layers.len()).map(|_| rng.gen_range(0..k)).collect());
            }
            let mut cur = ev.eval(&pop, &pb)?;
            points.extend(cur.iter().cloned());
            for _ in 0..generations {
                let (rank, crowd) = ranks(&cur);
                let better = |a: usize, b: usize| rank[a] < rank[b] || (rank[a] == rank[b] && crowd[a] > crowd[b]);
                let mut children = Vec::with_capacity(population);
                while children.len() < population {
                    let mut parent = || {
                        let (a, b) = (rng.gen_range(0..cur.len()), rng.gen_range(0..cur.len()));
                        if better(b, a) {
                            b
                        } else {
                            a
                        }
                    };
                    let (p, q) = (parent(), parent());
                    let mut child: Vec<usize> = (0..layers.len())
                        .map(|l| if rng.gen_bool(0.5) { cur[p].genome[l] } else { cur[q].genome[l] })
                        .collect();
                    for gene in child.iter_mut() {
                        if rng.gen_bool(1.0 / layers.len() as f64) {
                            *gene = rng.gen_range(0..k);
                        }
                    }
                    children.push(child);
                }
                let kids = ev.eval(&children, &pb)?;
                points.extend(kids.iter().cloned());
                // Survivors: the best `population` distinct assignments of parents + children.
                let mut all = cur;
                for c in kids {
                    if !all.iter().any(|p| p.genome == c.genome) {
                        all.push(c);
                    }
                }
                let (rank, crowd) = ranks(&all);
                let mut order: Vec<usize> = (0..all.len()).collect();
                order.sort_by(|&a, &b| {
                    rank[a].cmp(&rank[b]).then(crowd[b].total_cmp(&crowd[a])).then(all[a].genome.cmp(&all[b].genome))
                });
                order.truncate(population);
                cur = order.into_iter().map(|i| all[i].clone()).collect();
            }
        }
    }
    pb.finish_and_clear();
    // Every distinct assignment once, in first-evaluation order.
    let mut seen = std::collections::HashSet::new();
    points.retain(|p| seen.insert(p.genome.clone()));
    let mut front = nondominated_sort(&points).into_iter().next().unwrap_or_default();
    front.sort_by(|&a, &b| {
        points[a].energy_pj.total_cmp(&points[b].energy_pj).then(points[a].genome.cmp(&points[b].genome))
    });
    for &i in &front {
        let (_, t, tr) = ev.measure(&points[i].genome, &test, test_adv.as_deref())?;
        points[i].test = Some(t);
        points[i].test_robust = tr;
    }
    // The test accuracy of the single-multiplier designs on their own front (the references
    // the savings are read against).
    for i in nondominated_sort(&uniform).into_iter().next().unwrap_or_default() {
        let (_, t, tr) = ev.measure(&uniform[i].genome, &test, test_adv.as_deref())?;
        uniform[i].test = Some(t);
        uniform[i].test_robust = tr;
    }
    Ok(Search {
        layers,
        choices: choices.iter().map(|c| c.name.clone()).collect(),
        method,
        points,
        front,
        uniform,
        float_val: float_acc(&val),
        float_test: float_acc(&test),
    })
}

fn pct(p: &Proportion) -> String {
    let (l, h) = p.wilson();
    format!("{:.2} [{:.2}, {:.2}]", 100.0 * p.value(), 100.0 * l, 100.0 * h)
}

impl Search {
    /// The front as text: one line per point (energy, validation and test accuracy with the
    /// 95 % interval, the assignment).
    pub fn front_text(&self) -> String {
        let mut out = String::new();
        for &i in &self.front {
            let p = &self.points[i];
            let (l, h) = p.test.map_or((0.0, 0.0), |t| t.wilson());
            out += &format!(
                "  {:>9.2} nJ  val {:.2} %  test {:.2} % [{:.2}, {:.2}]  {}\n",
                p.energy_pj / 1000.0,
                100.0 * p.val.value(),
                100.0 * p.test.map_or(0.0, |t| t.value()),
                100.0 * l,
                100.0 * h,
                p.assignment
            );
        }
        out
    }

    /// `points.csv` (every assignment evaluated), `front.csv`, `report.md` and
    /// `pareto.svg|png` into `dir`, each written atomically. `about` opens the report (model,
    /// scheme, settings, the command).
    pub fn write(&self, dir: &std::path::Path, about: &str) -> Result<(), StudyError> {
        let io = |path: std::path::PathBuf| move |cause: std::io::Error| StudyError::Io { path: path.clone(), cause };
        std::fs::create_dir_all(dir).map_err(io(dir.into()))?;
        let robust = self.points.iter().any(|p| p.val_robust.is_some());
        let csv_of = |pts: &mut dyn Iterator<Item = &Point>| {
            let mut s = String::from(
                "assignment,energy_pj,val_n,val_correct,val_robust_correct,test_n,test_correct,test_robust_correct\n",
            );
            let opt =
                |p: Option<Proportion>, f: fn(&Proportion) -> usize| p.map_or(String::new(), |p| f(&p).to_string());
            for p in pts {
                s += &format!(
                    "\"{}\",{:.3},{},{},{},{},{},{}\n",
                    p.assignment,
                    p.energy_pj,
                    p.val.n,
                    p.val.correct,
                    opt(p.val_robust, |p| p.correct),
                    opt(p.test, |p| p.n),
                    opt(p.test, |p| p.correct),
                    opt(p.test_robust, |p| p.correct)
                );
            }
            s
        };
        let w = |name: &str, text: String| {
            crate::util::write_atomic(&dir.join(name), text.as_bytes()).map_err(io(dir.join(name)))
        };
        w("points.csv", csv_of(&mut self.points.iter()))?;
        w("front.csv", csv_of(&mut self.front.iter().map(|&i| &self.points[i])))?;
        w("uniform.csv", csv_of(&mut self.uniform.iter()))?;
        let method = format!(
            "{} ({} distinct assignments evaluated of {}^{})",
            self.method,
            self.points.len(),
            self.choices.len(),
            self.layers.len()
        );
        let mut r = format!("{about}\n\nSearch: {method}, layers {}; {} multipliers to choose from. Float model: validation {}, test {}.\n\n", self.layers.join(", "), self.choices.len(), pct(&self.float_val), pct(&self.float_test));
        r += "Accuracy: % [95 % Wilson interval]. Energy: multiplier energy per image, each layer's MACs × its multiplier's PDK45 power / f (exact layers: the library's exact circuit).\n\n";
        let header = if robust {
            "| energy/image nJ | assignment | validation % | test % | validation robust % | test robust % |\n|---|---|---|---|---|---|\n"
        } else {
            "| energy/image nJ | assignment | validation % | test % |\n|---|---|---|---|\n"
        };
        r += "### Pareto front (validation objectives; test accuracy measured afterwards)\n\n";
        r += header;
        let row = |p: &Point| {
            let mut s = format!(
                "| {:.2} | `{}` | {} | {} |",
                p.energy_pj / 1000.0,
                p.assignment,
                pct(&p.val),
                p.test.as_ref().map_or("–".into(), pct)
            );
            if robust {
                s += &format!(
                    " {} | {} |",
                    p.val_robust.as_ref().map_or("–".into(), pct),
                    p.test_robust.as_ref().map_or("–".into(), pct)
                );
            }
            s + "\n"
        };
        for &i in &self.front {
            r += &row(&self.points[i]);
        }
        r += "\n### Single-multiplier designs on their own front (every searched layer the same multiplier), for reference\n\n";
        r += header;
        let mut uni: Vec<&Point> = self.uniform.iter().filter(|p| p.test.is_some()).collect();
        uni.sort_by(|a, b| a.energy_pj.total_cmp(&b.energy_pj));
        for p in uni {
            r += &row(p);
        }
        // How much the per-layer front saves over the single-multiplier designs at equal accuracy.
        r += "\n### Savings over single-multiplier designs\n\nFor each single-multiplier design, the cheapest front assignment with at least its validation accuracy:\n\n| single multiplier | its energy nJ | validation % | cheapest front assignment at ≥ that accuracy | energy nJ | saving % |\n|---|---|---|---|---|---|\n";
        for u in self.uniform.iter().filter(|p| p.test.is_some()) {
            let best = self
                .front
                .iter()
                .map(|&i| &self.points[i])
                .filter(|p| p.val.correct >= u.val.correct)
                .min_by(|a, b| a.energy_pj.total_cmp(&b.energy_pj));
            if let Some(b) = best {
                r += &format!(
                    "| {} | {:.2} | {:.2} | `{}` | {:.2} | {:.1} |\n",
                    self.choices[u.genome[0]],
                    u.energy_pj / 1000.0,
                    100.0 * u.val.value(),
                    b.assignment,
                    b.energy_pj / 1000.0,
                    100.0 * (1.0 - b.energy_pj / u.energy_pj)
                );
            }
        }
        w("report.md", r)?;
        // The plot: every assignment evaluated (validation accuracy), front filled and joined.
        let on_front: std::collections::HashSet<usize> = self.front.iter().copied().collect();
        let points = self
            .points
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (l, h) = p.val.wilson();
                crate::plot::ScatterPoint {
                    x: p.energy_pj / 1000.0,
                    y: 100.0 * p.val.value(),
                    label: if on_front.contains(&i) { short(&p.assignment) } else { String::new() },
                    ci: on_front.contains(&i).then_some((100.0 * l, 100.0 * h)),
                    front: on_front.contains(&i),
                }
            })
            .collect();
        let chart = crate::plot::ScatterChart {
            title: format!("Per-layer assignment: energy vs validation accuracy ({} assignments)", self.points.len()),
            x_label: "multiplier energy per image (nJ)".into(),
            y_label: "validation accuracy (%)".into(),
            points,
            thresholds: vec![crate::plot::Threshold { y: 100.0 * self.float_val.value(), label: "float".into() }],
            label_all: false,
        };
        crate::plot::scatter_chart(&chart, &dir.join("pareto")).map_err(|e| StudyError::Report(e.to_string()))?;
        Ok(())
    }
}

/// `conv1=mul8u_L40,conv2=mul8u_JQQ` → `L40/JQQ` (plot labels).
fn short(assignment: &str) -> String {
    assignment
        .split(',')
        .map(|e| e.split_once('=').map_or(e, |x| x.1))
        .map(|m| m.trim_start_matches("mul8u_").trim_start_matches("mul8s_"))
        .collect::<Vec<_>>()
        .join("/")
}

/// NSGA-II rank (front index) and crowding distance of every point.
fn ranks(points: &[Point]) -> (Vec<usize>, Vec<f64>) {
    let mut rank = vec![0; points.len()];
    let mut crowd = vec![0.0; points.len()];
    for (r, f) in nondominated_sort(points).into_iter().enumerate() {
        let d = crowding(points, &f);
        for (&i, di) in f.iter().zip(d) {
            rank[i] = r;
            crowd[i] = di;
        }
    }
    (rank, crowd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(e: f64, acc: usize) -> Point {
        Point {
            genome: vec![acc],
            assignment: String::new(),
            energy_pj: e,
            val: Proportion::new(acc, 100),
            val_robust: None,
            test: None,
            test_robust: None,
        }
    }

    #[test]
    fn domination_and_fronts() {
        let p = vec![pt(10.0, 90), pt(5.0, 80), pt(12.0, 85), pt(5.0, 80), pt(3.0, 50)];
        assert!(dominates(&p[0], &p[2]));
        assert!(!dominates(&p[1], &p[3]) && !dominates(&p[3], &p[1]), "equal points do not dominate");
        let f = nondominated_sort(&p);
        assert_eq!(f[0], vec![0, 1, 3, 4]);
        assert_eq!(f[1], vec![2]);
        let d = crowding(&p, &f[0]);
        assert!(d[0].is_infinite() && d[3].is_infinite(), "extremes are kept: {d:?}");
    }
}
