//! The experiment commands as library jobs: `infer`, `select`, `accuracy-table`, `attack`,
//! `transfer`, `finetune`, `study run|report|slurm`, `reproduce`, `run` and `rtl cosim
//! --model`. Each flag struct is the command's `clap::Args`; its `run` does the work and returns
//! what the command prints on standard output (`--json`: JSON for programs), while notes for
//! people go to `log` (standard error). The commands that run a model on the accelerator share
//! [`TargetFlags`]; those that measure build a plan as [`PlanKeys`] over it, run by the study
//! engine, so their rows are keyed, resumable and reported like any study's.

use super::perlayer::SearchFlags;
use super::report::{self, Results};
use super::target_spec::{flag_of, TargetFlags, MULTIPLIER_HELP};
use super::{tables, Inputs, Plan, PlanKeys, Runner, Shard, StudyError};
use crate::accel::{Accelerator, Engine};
use crate::attack::{Attack, EpsUnits};
use crate::data::{self, Split};
use crate::model::io;
use crate::quant::{QuantScheme, Recover};
use crate::recover::finetune::{self, FinetuneConfig};
use crate::rtl::layers::ModelRtl;
use crate::rtl::options::{CosimFlags, ModelCosimSummary};
use crate::util::inputs::InputFlags;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Pretty JSON of `v` and a newline (serialized directly, so struct fields keep their order).
fn pretty<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("results serialize to JSON") + "\n"
}

/// `axdnn infer`: 8-bit integer inference on the accelerator with any multiplier.
#[derive(clap::Args, Debug, Clone)]
pub struct InferFlags {
    /// The target.
    #[command(flatten)]
    pub t: TargetFlags,
    /// The multiplier.
    #[arg(long, default_value = "exact", help = MULTIPLIER_HELP)]
    pub multiplier: String,
    /// fast (bit-exact table kernels) | cycle (the cycle-stepped array).
    #[arg(long, default_value = "fast")]
    pub engine: Engine,
    /// Simulate the multiplier's gates for every product instead of using its table.
    #[arg(long)]
    pub bit_level: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Run these images instead of the test set: a NumPy file, float32 N×C×H×W in [0, 1] or
    /// uint8 (calibration stays on the model's training set).
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Labels of --images (a 1-D integer NumPy file) for an accuracy.
    #[arg(long, requires = "images")]
    pub labels: Option<PathBuf>,
    /// Write the accelerator's logits (the last layer's accumulators dequantized; float32 .npy,
    /// N×classes, in input order) for other tools.
    #[arg(long)]
    pub logits: Option<PathBuf>,
}

impl InferFlags {
    /// Prepare the target, run its test images on the accelerator: the per-layer table
    /// ([`tables::Inferred`]).
    pub fn run(&self, log: &dyn Fn(&str)) -> Result<String, StudyError> {
        let t = &self.t;
        let inputs = t.inputs.resolve();
        let recover = t.one_recover()?;
        // Every image of the file (--n counts test-set images).
        let files = self.images.as_deref().map(|x| (x, self.labels.as_deref()));
        let p = t.spec().prepare_on(&inputs, files)?;
        log(&format!("calibrated on {} training images (seed {})", t.calib, t.calib_seed));
        let m = p.resolve(&self.multiplier, self.bit_level, inputs.evoapprox.as_deref())?;
        let cfg = p.spec.accel_config(self.engine, self.bit_level, p.exact_power_mw);
        let qm = p.recovered(&m, &self.multiplier, recover)?;
        let acc = Accelerator::for_loaded(&qm, &m, cfg)?;
        let name = m.label(&self.multiplier);
        let r = acc.run_with_progress(&p.test.images, &name)?;
        if let Some(path) = &self.logits {
            let npy = crate::util::npy::f32_file(&[r.n, r.classes], &r.logits);
            crate::util::write_atomic(path, &npy).map_err(|cause| StudyError::Io { path: path.clone(), cause })?;
            log(&format!("wrote {} ({} × {} logits)", path.display(), r.n, r.classes));
        }
        let rep = tables::Inferred { prepared: &p, acc: &acc, result: &r, name: &name, recover, qm: &qm };
        Ok(if self.json { format!("{}\n", rep.json(self.engine, self.bit_level)) } else { rep.text() })
    }
}

/// `axdnn select`: every multiplier of a library folder on a model (a `clean` plan), or the
/// per-layer assignment search.
#[derive(clap::Args, Debug, Clone)]
pub struct SelectFlags {
    /// The target.
    #[command(flatten)]
    pub t: TargetFlags,
    /// Folder of multiplier Verilog files (searched recursively; `*_pdk45.v` twins and copies
    /// in other folders skipped, other widths and the other signedness left out).
    #[arg(long)]
    pub library: PathBuf,
    /// Results folder (default: runs/select-<model>-<scheme>, with --per-layer
    /// runs/select-per-layer-<model>-<scheme>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the rows as JSON.
    #[arg(long)]
    pub json: bool,
    /// Search per-layer assignments (one library multiplier per approximate layer) for the
    /// energy–accuracy Pareto front instead of ranking single multipliers: exhaustive when
    /// small, NSGA-II otherwise; objectives on validation images from the training set, the
    /// front then measured on the first --n test images.
    #[arg(long)]
    pub per_layer: bool,
    /// The search's settings.
    #[command(flatten)]
    pub search: SearchFlags,
}

impl SelectFlags {
    /// Clean accuracy of every multiplier of the library folder (a `clean` plan), or with
    /// `--per-layer` the assignment search ([`super::perlayer::select`], whose report records
    /// `command`).
    pub fn run(&self, command: &str, log: &dyn Fn(&str)) -> Result<String, StudyError> {
        let t = &self.t;
        let inputs = t.inputs.resolve();
        let scheme = t.scheme;
        let (files, skipped) = crate::mult::resolve::library(&self.library, scheme.signed_multiplier())?;
        skipped.iter().for_each(|s| log(&format!("skipping {s}")));
        if files.is_empty() {
            return Err(StudyError::Input(format!(
                "{}: no 8x8 {} multipliers found",
                self.library.display(),
                if scheme.signed_multiplier() { "signed" } else { "unsigned" }
            )));
        }
        let label = t.model_label();
        if self.per_layer {
            return self.per_layer(&files, &inputs, &label, command);
        }
        let keys = PlanKeys {
            name: Some(format!("select-{label}-{scheme}")),
            attacks: vec!["clean".into()],
            multipliers: files.iter().map(|f| f.display().to_string()).collect(),
            ..t.keys(&[&t.model])
        };
        let plan = keys.plan(&inputs, &flag_of)?;
        let out = self.out.clone().unwrap_or_else(|| format!("runs/select-{label}-{scheme}").into());
        let sum = Runner::new(plan, inputs).run(&out)?;
        report::write(&out)?;
        let res = Results::open(&out)?;
        let rows: Vec<_> = res.complete().filter(|x| x.first.target == "accel").collect();
        if self.json {
            return Ok(pretty(&tables::clean_rows(&rows)));
        }
        Ok(format!(
            "{} multipliers of {} on {label} ({scheme}, {} test images); {sum}\n\
             wrote {} (results.csv, report.md with the accuracy table, plots/pareto-*.svg|png)\n",
            rows.len(),
            self.library.display(),
            t.n,
            out.display()
        ))
    }
}

impl SelectFlags {
    /// `select --per-layer`: the Pareto front of the assignment search over `files`.
    fn per_layer(&self, files: &[PathBuf], inputs: &Inputs, label: &str, command: &str) -> Result<String, StudyError> {
        let t = &self.t;
        let out = self.out.clone().unwrap_or_else(|| format!("runs/select-per-layer-{label}-{}", t.scheme).into());
        let t0 = std::time::Instant::now();
        let (spec, recover) = (t.spec(), t.one_recover()?);
        let s = super::perlayer::select(&spec, recover, &self.search, &self.library, files, inputs, &out, command)?;
        if self.json {
            return Ok(pretty(&s.front.iter().map(|&i| &s.points[i]).collect::<Vec<_>>()));
        }
        let secs = t0.elapsed().as_secs_f64();
        let (n, method, front) = (s.points.len(), &s.method, s.front.len());
        let mut text = format!("{n} assignments evaluated ({method}) in {secs:.1} s; Pareto front of {front}:\n");
        text += &s.front_text();
        let files = "report.md, front.csv, points.csv, uniform.csv, pareto.svg|png";
        let _ = writeln!(text, "wrote {} ({files})", out.display());
        Ok(text)
    }
}

/// `axdnn accuracy-table`: several multipliers under several schemes as a Markdown table.
#[derive(clap::Args, Debug, Clone)]
pub struct AccuracyTableFlags {
    /// The target.
    #[command(flatten)]
    pub t: TargetFlags,
    /// Comma-separated multiplier names/paths (resolved like --multiplier); per-layer
    /// assignments (`conv1=A,conv2=B`) are separated by `;`.
    #[arg(long, required = true)]
    pub multipliers: Vec<String>,
    /// Comma-separated schemes, one accuracy column each.
    #[arg(long, value_delimiter = ',', default_value = "asym-u8,sign-magnitude")]
    pub schemes: Vec<QuantScheme>,
    /// Markdown output file (written atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Results folder the measurements are kept in (default: runs/accuracy-<model>).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Print the rows as JSON.
    #[arg(long)]
    pub json: bool,
}

impl AccuracyTableFlags {
    /// Run the `clean` plan into the store, write the table ([`tables::accuracy_table`]) to
    /// `--out`; the table, or its rows as JSON.
    pub fn run(&self) -> Result<String, StudyError> {
        let t = &self.t;
        let inputs = t.inputs.resolve();
        let label = t.model_label();
        let multipliers = crate::mult::resolve::split_list(&self.multipliers);
        let keys = PlanKeys {
            name: Some(format!("accuracy-{label}")),
            schemes: self.schemes.iter().map(|s| s.to_string()).collect(),
            attacks: vec!["clean".into()],
            multipliers: multipliers.clone(),
            ..t.keys(&[&t.model])
        };
        let plan = keys.plan(&inputs, &flag_of)?;
        let dir = self.store.clone().unwrap_or_else(|| format!("runs/accuracy-{label}").into());
        Runner::new(plan, inputs).run(&dir)?;
        let res = Results::open(&dir)?;
        let (s, json) = tables::accuracy_table(&res, &t.spec(), &multipliers, &self.schemes, &t.recover, &dir);
        crate::util::write_atomic(&self.out, s.as_bytes())
            .map_err(|cause| StudyError::Io { path: self.out.clone(), cause })?;
        Ok(if self.json { pretty(&json) } else { s })
    }
}

/// `axdnn attack`: the paper's Algorithm 1 for one attack, as a one-attack plan.
#[derive(clap::Args, Debug, Clone)]
pub struct AttackFlags {
    /// The target.
    #[command(flatten)]
    pub t: TargetFlags,
    /// fgm, fgsm, l2-bim, linf-bim, l2-pgd, linf-pgd, l2-contrast, l2-gaussian, l2-uniform, linf-uniform; AutoAttack's linf-apgd-ce, linf-apgd-t, l2-apgd-ce, l2-apgd-t, linf-fab-t, l2-fab-t, linf-square, l2-square and the ensembles linf-autoattack, l2-autoattack.
    #[arg(long, default_value = "linf-pgd")]
    pub attack: Attack,
    /// Perturbation budgets (comma-separated, in the units of --eps-units).
    #[arg(long, value_delimiter = ',', default_value = "0,0.01,0.02,0.05,0.1,0.2,0.3", value_parser = crate::util::values::parse_budget, allow_negative_numbers = true)]
    pub eps: Vec<f32>,
    /// pixel (of [0, 1]) or normalized ((x − mean)/std per channel: the model's own
    /// normalization, else MNIST 0.1307/0.3081, CIFAR-10 (0.4914, 0.4822, 0.4465)/(0.2470,
    /// 0.2435, 0.2616)); in normalized units the attack runs in normalized coordinates.
    #[arg(long, default_value = "pixel")]
    pub eps_units: EpsUnits,
    /// Multipliers the adversarial examples are evaluated on, comma-separated (per-layer
    /// assignments `conv1=A,conv2=B` separated by `;`); each as --multiplier of `infer`.
    #[arg(long, visible_alias = "multiplier", default_value = "exact")]
    pub multipliers: Vec<String>,
    /// Threat models: transfer (examples from the float model), bpda (gradient attacks whose
    /// forward pass, loss and success are the accelerator's, backward through the float model),
    /// hardware (query attacks querying each accelerator; AutoAttack runs its query members).
    #[arg(long, visible_alias = "threat", value_delimiter = ',', default_value = "transfer")]
    pub threats: Vec<String>,
    /// Same as adding `hardware` to --threats.
    #[arg(long)]
    pub on_hardware: bool,
    /// Seed of the attack's random draws.
    #[arg(long, default_value_t = 0)]
    pub attack_seed: u64,
    /// Images per attack call (noise draws cover a whole call, as in Foolbox).
    #[arg(long, default_value_t = 100, value_parser = crate::util::values::parse_count)]
    pub batch: usize,
    /// Results folder (default: runs/attack-<model>-<attack>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the rows as JSON.
    #[arg(long)]
    pub json: bool,
    /// Write the clipped adversarial examples from the float model (float32 .npy, N×C×H×W,
    /// test-set order) for other tools: FILE.npy for one budget, FILE-eps<e>.npy for several.
    #[arg(long)]
    pub save: Option<PathBuf>,
}

/// `adv.npy` for one budget, `adv-eps0.1.npy` for each of several.
fn save_path(base: &Path, eps: f32, several: bool) -> PathBuf {
    if !several {
        return base.to_path_buf();
    }
    let stem = base.file_stem().map_or("adv".into(), |s| s.to_string_lossy().into_owned());
    base.with_file_name(format!("{stem}-eps{eps}.npy"))
}

impl AttackFlags {
    /// Check the threat models against the attack, run the plan (writing `--save` files), and
    /// the robust-accuracy table or its rows as JSON.
    pub fn run(&self, log: &dyn Fn(&str)) -> Result<String, StudyError> {
        let (t, attack) = (&self.t, self.attack);
        let inputs = t.inputs.resolve();
        let mut threats = self.threats.clone();
        if self.on_hardware && !threats.iter().any(|t| t == "hardware") {
            threats.push("hardware".into());
        }
        let access = attack.access();
        if threats.iter().any(|t| t == "hardware") && access == crate::attack::Access::Gradient {
            return Err(StudyError::Attack(format!("the hardware threat model needs a query attack (l2-contrast, l2-gaussian, l2-uniform, linf-uniform, linf-square, l2-square, linf-autoattack, l2-autoattack); {attack} needs gradients the accelerator does not have")));
        }
        if threats.iter().any(|t| t == "bpda") && access == crate::attack::Access::Query {
            return Err(StudyError::Attack(format!("the bpda threat model is for gradient attacks (fgm, fgsm, l2-bim, linf-bim, l2-pgd, linf-pgd, the apgd and fab-t attacks, linf-autoattack, l2-autoattack); {attack} queries the accelerator directly under --threat hardware")));
        }
        let model_name = t.model_label();
        let keys = PlanKeys {
            name: Some(format!("attack-{model_name}-{attack}")),
            attacks: vec![attack.name().into()],
            eps: [(attack.name().to_string(), self.eps.clone())].into(),
            eps_units: Some(self.eps_units.name().into()),
            multipliers: self.multipliers.clone(),
            threats,
            attack_seeds: vec![self.attack_seed],
            chunk: Some(self.batch),
            ..t.keys(&[&t.model])
        };
        let plan = keys.plan(&inputs, &flag_of)?;
        let out = self.out.clone().unwrap_or_else(|| format!("runs/attack-{model_name}-{attack}").into());
        let runner = Runner::new(plan, inputs);
        let sum = match &self.save {
            None => runner.run(&out)?,
            Some(base) => {
                let shape = io::load_meta(&t.model).map_err(|e| StudyError::Model(e.to_string()))?.0.input;
                let (sum, examples) = runner.run_keeping_examples(&out)?;
                for ((_, _, _, bits), x) in &examples {
                    let e = f32::from_bits(*bits);
                    let path = save_path(base, e, self.eps.len() > 1);
                    let n = x.len() / shape.numel();
                    let npy = crate::lut::io::npy_f32(&[n, shape.c, shape.h, shape.w], x);
                    crate::util::write_atomic(&path, &npy)
                        .map_err(|cause| StudyError::Io { path: path.clone(), cause })?;
                    log(&format!("wrote {} ({n} adversarial examples, eps {e})", path.display()));
                }
                sum
            }
        };
        report::write(&out)?;
        let res = Results::open(&out)?;
        let aggs: Vec<_> = res.complete().collect();
        if self.json {
            return Ok(pretty(&tables::robust_rows(&aggs)));
        }
        Ok(format!(
            "{attack} on {model_name}: {} test images, scheme {}; robust accuracy % ± half-width of the 95 % interval\n{}{sum}\nwrote {} (results.csv, report.md, plots/)\n",
            t.n,
            t.scheme,
            report::robust_table(&aggs),
            out.display()
        ))
    }
}

/// `axdnn transfer`: transferability (the paper's Table II) as a cross-model plan.
#[derive(clap::Args, Debug, Clone)]
pub struct TransferFlags {
    /// The target.
    #[command(flatten)]
    pub t: TargetFlags,
    /// The other models (same dataset); with --model they are both sources and targets.
    #[arg(long, value_delimiter = ',', required = true)]
    pub with: Vec<PathBuf>,
    /// The targets' multiplier.
    #[arg(long, default_value = "exact", help = MULTIPLIER_HELP)]
    pub multiplier: String,
    /// The attack (Table II: linf-bim).
    #[arg(long, default_value = "linf-bim")]
    pub attack: Attack,
    /// Its budget (pixel units).
    #[arg(long, default_value_t = 0.05, value_parser = crate::util::values::parse_budget, allow_negative_numbers = true)]
    pub eps: f32,
    /// Seed of the attack's random draws.
    #[arg(long, default_value_t = 0)]
    pub attack_seed: u64,
    /// Images per attack call.
    #[arg(long, default_value_t = 100, value_parser = crate::util::values::parse_count)]
    pub batch: usize,
    /// Results folder (default: runs/transfer-<model>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the cells as JSON.
    #[arg(long)]
    pub json: bool,
}

impl TransferFlags {
    /// Adversarial examples from each model's float version against every model quantized on
    /// the accelerator: the source × target table ([`tables::Transfer`]) or its cells as JSON.
    pub fn run(&self) -> Result<String, StudyError> {
        let t = &self.t;
        let inputs = t.inputs.resolve();
        let models: Vec<&Path> =
            std::iter::once(t.model.as_path()).chain(self.with.iter().map(|p| p.as_path())).collect();
        let datasets: Vec<_> = models
            .iter()
            .map(|m| io::load_meta(m).map(|(_, meta)| meta.dataset))
            .collect::<Result<_, _>>()
            .map_err(|e| StudyError::Model(e.to_string()))?;
        if let Some(i) = datasets.iter().position(|d| *d != datasets[0]) {
            return Err(StudyError::Input(format!(
                "{} is trained on {}, {} on {}: transfer needs one test set",
                models[i].display(),
                datasets[i],
                models[0].display(),
                datasets[0]
            )));
        }
        let keys = PlanKeys {
            name: Some(format!("transfer-{}", t.model_label())),
            cross_models: Some(true),
            attacks: vec![self.attack.name().into()],
            eps: [(self.attack.name().to_string(), vec![0.0, self.eps])].into(),
            multipliers: vec![self.multiplier.clone()],
            attack_seeds: vec![self.attack_seed],
            chunk: Some(self.batch),
            ..t.keys(&models)
        };
        let plan = keys.plan(&inputs, &flag_of)?;
        let out = self.out.clone().unwrap_or_else(|| format!("runs/transfer-{}", t.model_label()).into());
        let sum = Runner::new(plan, inputs).run(&out)?;
        report::write(&out)?;
        let res = Results::open(&out)?;
        let tr = tables::Transfer {
            results: &res,
            models: &models,
            multiplier: &self.multiplier,
            attack: self.attack,
            eps: self.eps,
            scheme: t.scheme,
            n: t.n,
        };
        if self.json {
            return Ok(pretty(&tr.json()));
        }
        Ok(format!("{}\n{sum}\nwrote {}\n", tr.markdown(), out.display()))
    }
}

/// `axdnn finetune`: approximation-aware fine-tuning for one multiplier into a new model folder.
#[derive(clap::Args, Debug, Clone)]
pub struct FinetuneFlags {
    /// The target (--n: test images the quantized accuracy is reported on after each epoch;
    /// the forward pass is the fast engine, whose products do not depend on --array/--dataflow).
    #[command(flatten)]
    pub t: TargetFlags,
    /// The multiplier tuned for.
    #[arg(long, help = MULTIPLIER_HELP)]
    pub multiplier: String,
    /// Epochs over the training set.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Start learning rate (linear decay to 0).
    #[arg(long, default_value_t = 0.002)]
    pub lr: f32,
    /// Images per step.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Seed of the batch order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output model folder (the checkpoint is kept there; a rerun resumes from it).
    #[arg(long)]
    pub out: PathBuf,
}

impl FinetuneFlags {
    /// Fine-tune ([`finetune::finetune`]) and save the model folder (its `model.json` records
    /// `command`); the accuracies before and after.
    pub fn run(&self, command: &str) -> Result<String, StudyError> {
        let t = &self.t;
        if t.recover != [Recover::None] {
            return Err(StudyError::Flag {
                flag: "--recover".into(),
                reason:
                    "fine-tuning always tunes and compensates (as `--recover finetune` evaluates it); leave it unset"
                        .into(),
            });
        }
        let model_err = |e: io::ModelIoError| StudyError::Model(e.to_string());
        let base = io::load(&t.model).map_err(model_err)?;
        let inputs = t.inputs.resolve();
        let root = inputs.data_root()?;
        let load = |s| data::load(base.meta.dataset, s, &root).map_err(|e| StudyError::Input(e.to_string()));
        let (train, test) = (load(Split::Train)?, load(Split::Test)?);
        if train.shape != base.arch.input {
            return Err(StudyError::Input(format!(
                "dataset images are {}, model expects {}",
                train.shape, base.arch.input
            )));
        }
        let scheme = t.scheme;
        let signed = scheme.signed_multiplier();
        let exact_power = crate::mult::resolve::exact_power_mw(inputs.evoapprox.as_deref(), signed);
        let m =
            crate::mult::resolve_charged(&self.multiplier, signed, false, inputs.evoapprox.as_deref(), exact_power)?;
        // Fine-tuning trains for one table (recorded by its sha256 in model.json).
        if m.is_assignment() {
            return Err(StudyError::Input(format!(
                "--multiplier {}: finetune takes one multiplier, not a per-layer assignment",
                self.multiplier
            )));
        }
        let sha = m.lut.as_ref().map(|l| l.sha256()).unwrap_or_default();
        let cfg = FinetuneConfig {
            calib: t.calib,
            calib_seed: t.calib_seed,
            epochs: self.epochs,
            seed: self.seed,
            batch: self.batch,
            lr: self.lr,
            eval_n: t.n,
            ..FinetuneConfig::new(t.spec().options())
        };
        let t0 = std::time::Instant::now();
        let out = finetune::finetune(&base, m.mult.as_ref(), &sha, &cfg, &train, &test, &self.out, true)
            .map_err(|e| StudyError::Model(e.to_string()))?;
        let float_accuracy = crate::model::train::accuracy(&out.arch, &out.params, &test);
        let name = m.mult.name();
        let meta =
            finetune::tuned_meta(&base, &t.model, name, &sha, &cfg, &out, float_accuracy, test.len(), command.into());
        io::save(&self.out, &out.arch, &out.params, &meta).map_err(model_err)?;
        let r = meta.finetune.as_ref().expect("a tuned model has a record");
        Ok(format!(
            "{}: fine-tuned for {name} ({scheme}): quantized accuracy {:.4} -> {:.4} on {} test images; float accuracy {:.4}; {:.0}s\n",
            self.out.display(),
            r.accuracy_before,
            r.accuracy_after,
            r.eval_n,
            float_accuracy,
            t0.elapsed().as_secs_f64()
        ))
    }
}

/// `axdnn study run`: a plan file, or the plan flags, into a results folder.
#[derive(clap::Args, Debug, Clone)]
pub struct StudyRunFlags {
    /// Plan file (TOML). Without one, the plan flags below make the plan.
    pub plan: Option<PathBuf>,
    /// The plan as flags.
    #[command(flatten)]
    pub flags: PlanKeys,
    /// Results folder (default: runs/study-<plan name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run only shard I of N (1-based), balanced by estimated cost.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Do not write report.md (shards of a larger plan).
    #[arg(long)]
    pub no_report: bool,
    /// Seconds between saves of the store while cells complete (each save rewrites
    /// results.csv atomically; a killed run loses at most the cells since the last one).
    #[arg(long, default_value_t = 1.0)]
    pub save_every: f64,
    /// Print the run summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Where the dataset and the EvoApprox library are.
    #[command(flatten)]
    pub inputs: InputFlags,
}

impl StudyRunFlags {
    /// Run the plan (the file, or the flags, which then are the whole plan), then write its
    /// report unless `--no-report`: the report and the run summary, or the summary as JSON.
    pub fn run(&self) -> Result<String, StudyError> {
        let inputs = self.inputs.resolve();
        let plan = match &self.plan {
            Some(_) if !self.flags.is_empty() => {
                return Err(StudyError::Input("give either a plan file or plan flags, not both: the plan file is the record of the study (edit it instead)".into()));
            }
            Some(p) => Plan::load(p, &inputs)?,
            None => self.flags.plan(&inputs, &|_| None)?,
        };
        let out = self.out.clone().unwrap_or_else(|| plan.default_out());
        let mut runner = Runner::new(plan, inputs).shard(self.shard);
        runner.save_every = std::time::Duration::try_from_secs_f64(self.save_every)
            .map_err(|e| StudyError::Input(format!("--save-every {}: {e}", self.save_every)))?;
        let sum = runner.run(&out)?;
        let text = if self.no_report { None } else { Some(report::write(&out)?) };
        if self.json {
            return Ok(pretty(&sum));
        }
        Ok(format!("{}{sum}\nwrote {}\n", text.map_or(String::new(), |t| t + "\n"), out.display()))
    }
}

/// `axdnn study report`: regenerate report.md and plots/ of a results folder from its store;
/// the report, or the verdict counts as JSON.
pub fn study_report(dir: &Path, json: bool) -> Result<String, StudyError> {
    let text = report::write(dir)?;
    if json {
        let res = Results::open(dir)?;
        return Ok(pretty(&report::verdict_groups(&report::comparisons(&res))));
    }
    Ok(text + "\n")
}

/// `axdnn study slurm`: a Slurm job array (one task per shard) and a merge job.
#[derive(clap::Args, Debug, Clone)]
pub struct SlurmFlags {
    /// Plan file (TOML).
    pub plan: PathBuf,
    /// Number of shards (array tasks).
    #[arg(long)]
    pub shards: usize,
    /// Slurm partition [default: the cluster's default].
    #[arg(long)]
    pub partition: Option<String>,
    /// Time limit of each task (Slurm syntax, e.g. 02:00:00).
    #[arg(long)]
    pub time: Option<String>,
    /// CPUs per array task (rayon threads).
    #[arg(long, default_value_t = 2)]
    pub cpus_per_task: usize,
    /// Results folder on the shared filesystem (default: runs/study-<plan name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Submit both jobs with sbatch (otherwise only write the scripts).
    #[arg(long)]
    pub submit: bool,
    /// Where the dataset and the EvoApprox library are.
    #[command(flatten)]
    pub inputs: InputFlags,
}

/// The written job scripts of a [`SlurmFlags`] run, and how the shards' costs balance.
pub struct SlurmScripts {
    /// The scripts.
    pub scripts: super::slurm::Scripts,
    /// Shards (array tasks).
    pub shards: usize,
    /// Cells of the plan.
    pub cells: usize,
    /// Estimated cost of the costliest shard over the mean (1: perfectly balanced).
    pub imbalance: f64,
    /// The plan file.
    pub plan: PathBuf,
}

impl SlurmFlags {
    /// Write the two job scripts for the plan (submitted with [`SlurmScripts::submit`]).
    pub fn write(&self) -> Result<SlurmScripts, StudyError> {
        let inputs = self.inputs.resolve();
        let plan = Plan::load(&self.plan, &inputs)?;
        let o = super::slurm::SlurmOptions {
            binary: std::env::current_exe()
                .map_err(|e| StudyError::Slurm(format!("cannot locate the axdnn binary: {e}")))?,
            plan: self.plan.clone(),
            out: self.out.clone().unwrap_or_else(|| plan.default_out()),
            workdir: std::env::current_dir().map_err(|cause| StudyError::Io { path: ".".into(), cause })?,
            shards: self.shards,
            partition: self.partition.clone(),
            time: self.time.clone(),
            cpus_per_task: self.cpus_per_task,
            data: inputs.data.clone(),
            evoapprox: inputs.evoapprox.clone(),
        };
        let scripts = super::slurm::write_scripts(&o)?;
        let info = super::cell::ModelInfo::of_plan(&plan)?;
        let cells = super::cell::cells(&plan, &info);
        let loads = super::cell::shard_costs(&cells, &info, self.shards);
        let mean = loads.iter().sum::<f64>() / loads.len() as f64;
        let max = loads.iter().copied().fold(0.0, f64::max);
        let imbalance = if mean > 0.0 { max / mean } else { 1.0 };
        Ok(SlurmScripts { scripts, shards: self.shards, cells: cells.len(), imbalance, plan: self.plan.clone() })
    }
}

impl SlurmScripts {
    /// With `submit`, submit both jobs (the merge job after the array); what was done, or how
    /// to submit by hand.
    pub fn submit(&self, submit: bool) -> Result<String, StudyError> {
        let n = self.shards;
        if !submit {
            return Ok(format!("submit with: axdnn study slurm {} --shards {n} --submit   (or sbatch the two scripts, the second with --dependency=afterok:<array id>)\n", self.plan.display()));
        }
        let (array, merge) = super::slurm::submit(&self.scripts)?;
        Ok(format!("submitted array job {array} ({n} tasks) and merge job {merge} (afterok:{array})\n"))
    }
}

impl std::fmt::Display for SlurmScripts {
    /// The scripts written and the shards' balance.
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(f, "wrote {} and {}", self.scripts.array.display(), self.scripts.merge.display())?;
        writeln!(
            f,
            "{} cells in {} shards; estimated cost per shard max/mean = {:.3} (the slowest shard bounds the wall time)",
            self.cells, self.shards, self.imbalance
        )
    }
}

/// `axdnn reproduce`: the paper from the shipped plans ([`super::reproduce::Reproduction`]).
#[derive(clap::Args, Debug, Clone)]
pub struct ReproduceFlags {
    /// LeNet-5/MNIST only, three multipliers, three budgets per attack, 100 images
    /// (plans/quick.toml): a few minutes on 2 cores.
    #[arg(long)]
    pub quick: bool,
    /// Output folder (one study folder per plan, and report.md).
    #[arg(long, default_value = "runs/reproduce")]
    pub out: PathBuf,
    /// Folder of the shipped plans.
    #[arg(long, default_value = "plans")]
    pub plans: PathBuf,
    /// Print the study folders, their run summaries and the report path as JSON.
    #[arg(long)]
    pub json: bool,
    /// Run nothing: write report.md from the study folders already in --out (e.g. after running
    /// the plans on a cluster, or while one is still running; incomplete cells are left out).
    #[arg(long)]
    pub report_only: bool,
    /// Where the dataset and the EvoApprox library are.
    #[command(flatten)]
    pub inputs: InputFlags,
}

impl ReproduceFlags {
    /// Run the plans (steps to `log`): the report and its path, or the run summaries as JSON.
    pub fn run(&self, log: &dyn Fn(&str)) -> Result<String, StudyError> {
        let (out, plans) = (self.out.clone(), self.plans.clone());
        let job = super::reproduce::Reproduction { quick: self.quick, out, plans, report_only: self.report_only };
        let r = job.run(&self.inputs.resolve(), log)?;
        let path = job.out.join("report.md");
        if self.json {
            let v =
                serde_json::json!({"report": path.display().to_string(), "wall_s": r.wall_s, "studies": r.summaries});
            return Ok(pretty(&v));
        }
        Ok(format!("{}\nwrote {}\n", r.report, path.display()))
    }
}

/// `axdnn run`: the main job on built-in defaults ([`super::main_job::MainJob`]).
#[derive(clap::Args, Debug, Clone)]
pub struct MainJobFlags {
    /// Trained model folder.
    #[arg(long, default_value = "models/lenet5-mnist")]
    pub model: PathBuf,
    /// Output folder (report.md, accuracy/, robustness/, netlists/).
    #[arg(long, default_value = "runs/main")]
    pub out: PathBuf,
    /// Test images per accuracy measurement.
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    /// Where the dataset and the EvoApprox library are.
    #[command(flatten)]
    pub inputs: InputFlags,
    /// Print the table's rows as JSON (after the report is written).
    #[arg(long)]
    pub json: bool,
    /// Skip compiling the EvoApprox C models.
    #[arg(long)]
    pub no_c: bool,
}

impl MainJobFlags {
    /// Run the main job (steps to `log`): what to print on standard output (the verification
    /// table and the report, or the rows as JSON), and the closing note for standard error.
    pub fn run(&self, log: &dyn Fn(&str)) -> Result<(String, String), StudyError> {
        let job = super::main_job::MainJob {
            model: self.model.clone(),
            out: self.out.clone(),
            n: self.n,
            with_c: !self.no_c,
        };
        let r = job.run(&self.inputs.resolve(), log)?;
        if self.json {
            return Ok((pretty(&r.rows), String::new()));
        }
        let verification = if r.verification.is_empty() { String::new() } else { r.verification + "\n" };
        let note = format!(
            "wrote {} ({}/ and {}/ hold the keyed, resumable results)\n",
            job.out.join("report.md").display(),
            r.accuracy_dir.display(),
            r.robustness_dir.display()
        );
        Ok((verification + &r.report, note))
    }
}

/// `axdnn rtl cosim --model`: quantize the model as `infer` does, compile the array(s) once,
/// stream the chosen layers of each image through them ([`crate::rtl::layers::ModelRtl`]).
pub fn rtl_cosim_model(a: &CosimFlags) -> Result<ModelCosimSummary, StudyError> {
    let r = &a.real;
    let model = r.model.clone().ok_or_else(|| StudyError::Input("--model is required".into()))?;
    // The RTL computes the raw product sums, so no recovery: it would only change the Rust side.
    let spec = super::TargetSpec {
        array: a.array,
        dataflow: a.dataflow,
        scheme: a.scheme,
        per_channel: r.per_channel,
        approx_layers: r.approx_layers.clone(),
        images: Some(r.image + r.images),
        calib: r.calib,
        calib_seed: r.calib_seed,
        ..super::TargetSpec::new(model)
    };
    let p = spec.prepare(&r.inputs.resolve())?;
    if r.images == 0 || r.image + r.images > p.test.len() {
        let n = p.test.len();
        return Err(StudyError::Input(format!(
            "--image {} --images {}: the test set has {n} images",
            r.image, r.images
        )));
    }
    let m = a.multiplier()?;
    let cfg = crate::accel::AccelConfig { array: a.array, dataflow: a.dataflow, ..Default::default() };
    let acc = Accelerator::new(&p.qm, &m.lut, cfg)?;
    let (dir, _tmp) = a.work_dir()?;
    let t0 = std::time::Instant::now();
    let rtl = ModelRtl::build(&acc, &m, &r.layers, a.sim, &dir)?;
    let t1 = std::time::Instant::now();
    let d = p.test.shape.numel();
    let report = rtl.run(&p.test.images[r.image * d..(r.image + r.images) * d], r.image)?;
    let (compile_s, run_s) = ((t1 - t0).as_secs_f64(), t1.elapsed().as_secs_f64());
    let (array, dataflow, sim, scheme, kept) = (a.array, a.dataflow, a.sim, a.scheme, a.keep.clone());
    Ok(ModelCosimSummary { array, dataflow, sim, scheme, report, compile_s, run_s, kept })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_examples_are_named_by_budget_when_there_are_several() {
        let base = Path::new("out/adv.npy");
        assert_eq!(save_path(base, 0.1, false), base);
        assert_eq!(save_path(base, 0.1, true), Path::new("out/adv-eps0.1.npy"));
        assert_eq!(save_path(Path::new("x"), 0.0, true), Path::new("x-eps0.npy"));
    }

    #[test]
    fn a_flags_only_plan_goes_to_runs_study() {
        let text = "models = [\"models/lenet5-mnist\"]\nmultipliers = [\"exact\"]\n";
        let p = Plan::from_toml(text, Path::new(super::super::plan::COMMAND_LINE), &Inputs::default()).unwrap();
        assert_eq!(p.default_out(), Path::new("runs/study"));
        let p = Plan::from_toml(text, Path::new("plans/My Plan.toml"), &Inputs::default()).unwrap();
        assert_eq!(p.default_out(), Path::new("runs/study-my-plan"));
    }
}
