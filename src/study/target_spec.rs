//! One quantized model on the accelerator: the settings every command that runs a model on the
//! simulated hardware shares (`infer`, `attack`, `select`, `accuracy-table`, `transfer`,
//! `finetune`), with their one set of defaults, and the preparation they, the study runner and
//! the per-layer search all need: calibration images, the quantized model, its recovery for a
//! multiplier.

use super::keys::PlanKeys;
use super::plan::Inputs;
use super::StudyError;
use crate::accel::{AccelConfig, ArrayShape, Dataflow, EnergyModel, Engine};
use crate::data::{self, Dataset, DatasetName, Split};
use crate::model::io::{ModelMeta, SavedModel};
use crate::mult::LoadedMultiplier;
use crate::quant::WeightGranularity;
use crate::quant::{calibration_indices, ApproxLayers, QuantError, QuantModel, QuantOptions, QuantScheme, Recover};
use crate::util::inputs::InputFlags;
use crate::util::values;
use std::path::{Path, PathBuf};

/// The defaults of a target's settings, stated once (the CLI's `--help` shows these).
pub mod defaults {
    /// Quantization scheme.
    pub const SCHEME: &str = "asym-u8";
    /// Systolic array rows × columns.
    pub const ARRAY: &str = "16x16";
    /// Dataflow (weight-stationary).
    pub const DATAFLOW: &str = "ws";
    /// Layers whose products go through the approximate multiplier.
    pub const APPROX_LAYERS: &str = "conv";
    /// Calibration images drawn from the training set.
    pub const CALIB: usize = 256;
    /// Seed choosing the calibration images.
    pub const CALIB_SEED: u64 = 0;
    /// Clock (GHz) of the energy convention E = P / f.
    pub const CLOCK_GHZ: f64 = 1.0;
    /// Test images of an experiment command (the first N of the test set).
    pub const IMAGES: usize = 1000;
    /// Accuracy recovery.
    pub const RECOVER: &str = "none";
}

/// A quantized model on the accelerator as command-line flags: the one flag group of every
/// command that runs a model on the hardware (its defaults are [`defaults`]).
#[derive(clap::Args, Clone, Debug)]
pub struct TargetFlags {
    /// Model folder (model.safetensors + model.json).
    #[arg(long)]
    pub model: PathBuf,
    /// Quantization scheme: asym-u8 | sign-magnitude | sym-s8.
    #[arg(long, default_value = defaults::SCHEME)]
    pub scheme: QuantScheme,
    /// Per-output-channel weight scales and zero points.
    #[arg(long)]
    pub per_channel: bool,
    /// Array shape RxC.
    #[arg(long, default_value = defaults::ARRAY)]
    pub array: ArrayShape,
    /// ws | os | is (weight-, output-, input-stationary).
    #[arg(long, default_value = defaults::DATAFLOW)]
    pub dataflow: Dataflow,
    /// Layers multiplied approximately: conv | all | comma-separated layer names.
    #[arg(long, default_value = defaults::APPROX_LAYERS)]
    pub approx_layers: ApproxLayers,
    /// Test images: the first N of the test set.
    #[arg(long, default_value_t = defaults::IMAGES, value_parser = values::parse_count)]
    pub n: usize,
    /// Calibration images (chosen from the training set with --calib-seed).
    #[arg(long, default_value_t = defaults::CALIB, value_parser = values::parse_count)]
    pub calib: usize,
    /// Seed choosing the calibration images.
    #[arg(long, default_value_t = defaults::CALIB_SEED)]
    pub calib_seed: u64,
    /// Assumed clock (GHz) of the energy convention E = P / f.
    #[arg(long, default_value_t = defaults::CLOCK_GHZ, value_parser = values::parse_clock_ghz, allow_negative_numbers = true)]
    pub clock_ghz: f64,
    /// Accuracy recovery for the multiplier(s), comma-separated where a command takes several:
    /// none | compensate (per-channel bias correction of the expected product error) | tune
    /// (ALWANN weight tuning, then compensation) | finetune (--model was written by
    /// `axdnn finetune` for this multiplier and scheme).
    #[arg(long, value_delimiter = ',', default_value = defaults::RECOVER)]
    pub recover: Vec<Recover>,
    /// Where the dataset and the EvoApprox library are.
    #[command(flatten)]
    pub inputs: InputFlags,
}

/// Help text of every multiplier flag.
pub const MULTIPLIER_HELP: &str =
    "`exact`, a Verilog file, an EvoApprox name found under $AXDNN_EVOAPPROX, a table file \
FILE.bin|npy|h|csv[:signed|:unsigned], or a per-layer assignment LAYER=SPEC,...[,DEFAULT]";

impl TargetFlags {
    /// The library's settings.
    pub fn spec(&self) -> TargetSpec {
        TargetSpec {
            model: self.model.clone(),
            scheme: self.scheme,
            per_channel: self.per_channel,
            array: self.array,
            dataflow: self.dataflow,
            approx_layers: self.approx_layers.clone(),
            calib: self.calib,
            calib_seed: self.calib_seed,
            images: Some(self.n),
            clock_ghz: self.clock_ghz,
        }
    }

    /// The one recovery method of a command that takes one.
    pub fn one_recover(&self) -> Result<Recover, StudyError> {
        match self.recover.as_slice() {
            [r] => Ok(*r),
            r => Err(StudyError::Flag {
                flag: "--recover".into(),
                reason: format!("this command takes one method, not {}", r.len()),
            }),
        }
    }

    /// These settings as plan keys over `models` (one cell per `--n` images); a command sets
    /// its own keys over them with struct update syntax.
    pub fn keys(&self, models: &[&Path]) -> PlanKeys {
        PlanKeys { chunk: Some(self.n.max(1)), ..self.spec().plan_keys(models, &self.recover) }
    }

    /// The model folder's name, for labels and default output folders.
    pub fn model_label(&self) -> String {
        let path = &self.model;
        path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
    }
}

/// The flag a plan key set by a [`TargetFlags`] command came from (errors name it).
pub fn flag_of(key: &str) -> Option<String> {
    let f = match key {
        "schemes" => "--scheme",
        "arrays" => "--array",
        "dataflows" => "--dataflow",
        "images" => "--n",
        "models" => "--model",
        "attacks" => "--attack",
        "threats" => "--threats",
        "attack_seeds" => "--attack-seed",
        "chunk" => "--batch",
        "eps" => "--eps",
        _ => return None,
    };
    Some(f.into())
}

/// A quantized model on the accelerator, before a multiplier is chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSpec {
    /// Model folder (`model.safetensors` + `model.json`).
    pub model: PathBuf,
    /// Which integers reach the multiplier.
    pub scheme: QuantScheme,
    /// Per-output-channel weight scales and zero points.
    pub per_channel: bool,
    /// Array rows × columns.
    pub array: ArrayShape,
    /// Weight-, output- or input-stationary.
    pub dataflow: Dataflow,
    /// Layers multiplied by the approximate multiplier (the others exactly).
    pub approx_layers: ApproxLayers,
    /// Calibration images from the training set, and the seed choosing them.
    pub calib: usize,
    /// Seed of [`calibration_indices`].
    pub calib_seed: u64,
    /// The first N test images; `None`: the whole test set.
    pub images: Option<usize>,
    /// Clock (GHz) of the energy convention.
    pub clock_ghz: f64,
}

impl TargetSpec {
    /// A target with every default.
    pub fn new(model: impl Into<PathBuf>) -> TargetSpec {
        TargetSpec {
            model: model.into(),
            scheme: defaults::SCHEME.parse().expect("default scheme"),
            per_channel: false,
            array: defaults::ARRAY.parse().expect("default array"),
            dataflow: defaults::DATAFLOW.parse().expect("default dataflow"),
            approx_layers: defaults::APPROX_LAYERS.parse().expect("default layers"),
            calib: defaults::CALIB,
            calib_seed: defaults::CALIB_SEED,
            images: None,
            clock_ghz: defaults::CLOCK_GHZ,
        }
    }

    /// The quantizer's options.
    pub fn options(&self) -> QuantOptions {
        options(self.scheme, self.per_channel, self.approx_layers.clone())
    }

    /// The accelerator's configuration (`exact_power_mw`: what exact layers are charged).
    pub fn accel_config(&self, engine: Engine, bit_level: bool, exact_power_mw: Option<f64>) -> AccelConfig {
        AccelConfig {
            array: self.array,
            dataflow: self.dataflow,
            engine,
            use_table: !bit_level,
            energy: EnergyModel { clock_ghz: self.clock_ghz, exact_power_mw },
        }
    }

    /// These settings as the keys of a plan over `models` (recovery methods as given).
    pub fn plan_keys(&self, models: &[&Path], recover: &[Recover]) -> PlanKeys {
        PlanKeys {
            models: models.iter().map(|m| m.display().to_string()).collect(),
            schemes: vec![self.scheme.to_string()],
            per_channel: vec![self.per_channel],
            arrays: vec![self.array.to_string()],
            dataflows: vec![self.dataflow.to_string()],
            approx_layers: Some(self.approx_layers.to_string()),
            images: self.images,
            calib: Some(self.calib),
            calib_seed: Some(self.calib_seed),
            clock_ghz: Some(self.clock_ghz),
            recover: if recover == [Recover::None] { vec![] } else { recover.iter().map(|r| r.to_string()).collect() },
            ..PlanKeys::default()
        }
    }

    /// The model, its training images and its first `images` test images, checked to fit the
    /// model's input. The model is read first, so a bad model folder is reported even where no
    /// dataset is installed.
    pub fn load(&self, inputs: &Inputs) -> Result<(SavedModel, Dataset, Dataset), StudyError> {
        let m = crate::model::io::load(&self.model).map_err(|e| StudyError::Model(e.to_string()))?;
        let root = inputs.data_root()?;
        let load = |s| data::load(m.meta.dataset, s, &root).map_err(|e| StudyError::Input(e.to_string()));
        let train = load(Split::Train)?;
        let mut test = load(Split::Test)?;
        if let Some(n) = self.images {
            test = test.head(n);
        }
        if test.shape != m.arch.input {
            return Err(StudyError::Input(format!(
                "{}: dataset images are {}, model expects {}",
                self.model.display(),
                test.shape,
                m.arch.input
            )));
        }
        Ok((m, train, test))
    }

    /// Load the model and its dataset, calibrate and quantize, and measure the float model on
    /// the test images ([`TargetSpec::load`]).
    pub fn prepare(&self, inputs: &Inputs) -> Result<Prepared, StudyError> {
        self.prepare_on(inputs, None)
    }

    /// [`Self::prepare`], measured on the images of a NumPy file (with its labels, if given:
    /// else the float accuracy is NaN) instead of the test set when `files` are given;
    /// calibration stays on the model's training set.
    pub fn prepare_on(&self, inputs: &Inputs, files: Option<(&Path, Option<&Path>)>) -> Result<Prepared, StudyError> {
        let (m, train, test) = self.load(inputs)?;
        let test = match files {
            Some((x, y)) => crate::data::npy::read_dataset(x, y, m.arch.input, m.arch.classes)
                .map_err(|e| StudyError::Input(e.to_string()))?,
            None => test,
        };
        let dataset = m.meta.dataset;
        let (qm, calib) = self.quantize(&m, &train)?;
        let float_accuracy =
            if test.is_labelled() { crate::model::train::accuracy(&m.arch, &m.params, &test) } else { f64::NAN };
        let exact_power_mw =
            crate::mult::resolve::exact_power_mw(inputs.evoapprox.as_deref(), self.scheme.signed_multiplier());
        Ok(Prepared { spec: self.clone(), qm, test, dataset, float_accuracy, exact_power_mw, calib, meta: m.meta })
    }
}

impl TargetSpec {
    /// `m` (already in memory, e.g. imported from ONNX) quantized with these settings on
    /// `train`'s calibration images ([`calibrate`]), with those images; the step of
    /// [`TargetSpec::prepare`] that needs no test set (the Python bindings build their
    /// accelerators with it, so they quantize exactly as the CLI does).
    pub fn quantize(&self, m: &SavedModel, train: &Dataset) -> Result<(QuantModel, Vec<f32>), StudyError> {
        calibrate(m, train, self.calib, self.calib_seed, self.options())
            .map_err(|e| StudyError::Model(format!("{}: {e}", self.model.display())))
    }
}

/// A prepared target: the quantized model and what it is measured on.
pub struct Prepared {
    /// The settings it was prepared from.
    pub spec: TargetSpec,
    /// The quantized model (no recovery).
    pub qm: QuantModel,
    /// The test images (the first `spec.images`).
    pub test: Dataset,
    /// The model's dataset.
    pub dataset: DatasetName,
    /// Float model accuracy on `test` (NaN when its images have no labels).
    pub float_accuracy: f64,
    /// Published power of the library's exact 8×8 multiplier, charged to exact layers.
    pub exact_power_mw: Option<f64>,
    /// The calibration images (recovery reads its statistics from them).
    pub calib: Vec<f32>,
    /// The model folder's metadata (a fine-tuning record, if any).
    pub meta: ModelMeta,
}

impl Prepared {
    /// A multiplier or per-layer assignment for this target's scheme; the built-in exact
    /// multiplier is charged the library's exact circuit power.
    pub fn resolve(
        &self,
        spec: &str,
        bit_level: bool,
        evoapprox: Option<&Path>,
    ) -> Result<LoadedMultiplier, crate::mult::LoadError> {
        let signed = self.spec.scheme.signed_multiplier();
        crate::mult::resolve_charged(spec, signed, bit_level, evoapprox, self.exact_power_mw)
    }

    /// The quantized model recovered for `m` (named `spec`) by `method`.
    pub fn recovered(&self, m: &LoadedMultiplier, spec: &str, method: Recover) -> Result<QuantModel, StudyError> {
        let t = &self.spec;
        recover_for(&self.qm, &self.meta, &t.model, m, &m.lut_sha256(), spec, method, &self.calib)
            .map_err(|e| StudyError::Model(format!("{} with {spec} ({method}): {e}", t.model.display())))
    }
}

/// The quantizer's options of a scheme, weight granularity and approximate layers.
pub fn options(scheme: QuantScheme, per_channel: bool, approx: ApproxLayers) -> QuantOptions {
    let weights = if per_channel { WeightGranularity::PerChannel } else { WeightGranularity::PerTensor };
    QuantOptions { scheme, weights, approx }
}

/// Quantize `model` on `calib` training images chosen with `calib_seed`
/// ([`calibration_indices`]); also returns those images.
pub fn calibrate(
    model: &SavedModel,
    train: &Dataset,
    calib: usize,
    calib_seed: u64,
    options: QuantOptions,
) -> Result<(QuantModel, Vec<f32>), QuantError> {
    // Never clamped in silence: the count is part of every result's key and report.
    if calib == 0 || calib > train.len() {
        return Err(QuantError::CalibrationCount { asked: calib, have: train.len() });
    }
    let idx = calibration_indices(train.len(), calib, calib_seed);
    let images = train.images_at(&idx);
    // A quantized file's own scales where it gives them.
    let mut qm =
        QuantModel::build_given(&model.arch, &model.params, &images, options, model.meta.quantization.as_ref())?;
    qm.calibration.seed = Some(calib_seed);
    Ok((qm, images))
}

/// `qm` recovered for the multiplier `m` (named `spec` in a plan or flag; its table's sha256
/// `lut_sha256`) by `method`: a fine-tuned model folder must have been tuned for this table and
/// quantization; every layer is recovered for its own multiplier.
#[allow(clippy::too_many_arguments)] // each is one fact of the recovery; a struct would only rename them
pub fn recover_for(
    qm: &QuantModel,
    meta: &ModelMeta,
    model: &Path,
    m: &LoadedMultiplier,
    lut_sha256: &str,
    spec: &str,
    method: Recover,
    calib: &[f32],
) -> Result<QuantModel, String> {
    if method == Recover::Finetune {
        let o = &qm.options;
        let per_channel = o.weights == WeightGranularity::PerChannel;
        crate::recover::finetune::check_record(meta, model, lut_sha256, o.scheme, per_channel)
            .map_err(|e| e.to_string())?;
    }
    crate::recover::recover_layers(qm, m.mult.as_ref(), &m.layer_refs(), &m.label(spec), lut_sha256, method, calib)
        .map_err(|e| e.to_string())
}
