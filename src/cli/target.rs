//! The one flag group of a quantized target on the accelerator, flattened into every command
//! that runs a model on the hardware; the library's [`TargetSpec`] holds the settings and their
//! defaults, this only parses them.

use axdnn::accel::{ArrayShape, Dataflow};
use axdnn::quant::{ApproxLayers, QuantScheme, Recover};
use axdnn::study::target_spec::defaults;
use axdnn::study::{PlanKeys, TargetSpec};
use axdnn::util::inputs::InputFlags;
use axdnn::util::values;
use std::path::{Path, PathBuf};

/// A quantized model on the accelerator.
#[derive(clap::Args, Clone, Debug)]
pub struct TargetArgs {
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
    #[command(flatten)]
    pub inputs: InputFlags,
}

/// Help text of every multiplier flag.
pub const MULTIPLIER_HELP: &str =
    "`exact`, a Verilog file, an EvoApprox name found under $AXDNN_EVOAPPROX, a table file \
FILE.bin|npy|h|csv[:signed|:unsigned], or a per-layer assignment LAYER=SPEC,...[,DEFAULT]";

impl TargetArgs {
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
    pub fn one_recover(&self) -> anyhow::Result<Recover> {
        match self.recover.as_slice() {
            [r] => Ok(*r),
            r => anyhow::bail!("--recover: this command takes one method, not {}", r.len()),
        }
    }

    /// These settings as plan keys over `models` (one cell per `--n` images); a command sets
    /// its own keys over them with struct update syntax.
    pub fn keys(&self, models: &[&Path]) -> PlanKeys {
        PlanKeys { chunk: Some(self.n.max(1)), ..self.spec().plan_keys(models, &self.recover) }
    }
}

/// The flag a plan key set by a [`TargetArgs`] command came from (errors name it).
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
