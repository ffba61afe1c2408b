//! Plan keys set from somewhere other than a plan file — command-line flags, the settings of a
//! [`super::target::Target`], the main job — turned into a [`Plan`] by serde and the plan
//! parser itself, so a value is checked the same way wherever it comes from and an error names
//! the flag it came from.

use super::plan::{Inputs, Plan, COMMAND_LINE};
use super::StudyError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The keys of a plan file, every one optional (unset: the plan default), and the same keys as
/// command-line flags (`--eps-linf` is the key `eps_linf`), which `axdnn study run` takes when
/// no plan file is given. Field names are the plan file's keys (see the plan-file reference).
#[derive(Debug, Clone, Default, PartialEq, Serialize, clap::Args)]
pub struct PlanKeys {
    /// Plan name [default: the plan file's name; `study` for flags].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Model folders (sources of the adversarial examples, and targets).
    #[arg(long, value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// Evaluate each source's examples on every model of the same dataset (Table II).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_models: Option<bool>,
    /// Quantization schemes [plan default: asym-u8].
    #[arg(long, value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schemes: Vec<String>,
    /// Per-output-channel weight scales: `--per-channel` alone is `true`; `true,false` runs both
    /// [plan default: false].
    #[arg(long, value_delimiter = ',', num_args = 0..=1, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_channel: Vec<bool>,
    /// Array shapes RxC [plan default: 16x16].
    #[arg(long, value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub arrays: Vec<String>,
    /// Dataflows ws|os|is [plan default: ws].
    #[arg(long, value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dataflows: Vec<String>,
    /// conv | all | comma-separated layer names [plan default: conv].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approx_layers: Option<String>,
    /// `exact`, EvoApprox names, Verilog files, `paper`, or per-layer assignments
    /// `conv1=A,conv2=B[,DEFAULT]` (entries then separated by `;`) [plan default: paper].
    #[arg(long)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub multipliers: Vec<String>,
    /// Attack names, `clean`, or `all` [plan default: all].
    #[arg(long, value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attacks: Vec<String>,
    /// Linf budgets [plan default: 0,0.02,0.05,0.1,0.2,0.3].
    #[arg(long, value_delimiter = ',', value_parser = crate::util::values::parse_budget, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub eps_linf: Vec<f32>,
    /// L2 budgets [plan default: 0,0.5,1,1.5,2,3].
    #[arg(long, value_delimiter = ',', value_parser = crate::util::values::parse_budget, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub eps_l2: Vec<f32>,
    /// Per-attack budgets, overriding `eps_linf` / `eps_l2` (plan files only).
    #[arg(skip)]
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub eps: BTreeMap<String, Vec<f32>>,
    /// Units of the budgets: pixel (of [0, 1]) or normalized ((x − mean)/std: the model's
    /// own normalization, else the dataset's usual one) [plan default: pixel].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eps_units: Option<String>,
    /// Threat models transfer|bpda|hardware [plan default: transfer].
    #[arg(long, visible_alias = "threat", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub threats: Vec<String>,
    /// First test image [plan default: 0].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_start: Option<usize>,
    /// Test images [plan default: 500].
    #[arg(long, value_parser = crate::util::values::parse_count)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub images: Option<usize>,
    /// Images per cell [plan default: 100].
    #[arg(long, value_parser = crate::util::values::parse_count)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk: Option<usize>,
    /// Calibration images [plan default: 256].
    #[arg(long, value_parser = crate::util::values::parse_count)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calib: Option<usize>,
    /// Seed choosing the calibration images [plan default: 0].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calib_seed: Option<u64>,
    /// Attack seeds [plan default: 0].
    #[arg(long, value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attack_seeds: Vec<u64>,
    /// Assumed clock (GHz) of the energy convention E = P / f [plan default: 1].
    #[arg(long, value_parser = crate::util::values::parse_clock_ghz, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_ghz: Option<f64>,
    /// Accuracy recovery methods none|compensate|tune|finetune [plan default: none].
    #[arg(long, value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recover: Vec<String>,
}

impl PlanKeys {
    /// Whether no key is set.
    pub fn is_empty(&self) -> bool {
        *self == PlanKeys::default()
    }

    /// The keys as a plan file.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("plan keys serialize to TOML")
    }

    /// Parse and check the keys as a plan (every check of [`Plan::from_toml`]). An error names
    /// the flag the bad key came from: `flag_of` maps a plan key to it (`None`: `--key-name`).
    /// Multiplier values split as on a command line ([`crate::mult::resolve::split_list`]:
    /// `a,b` two multipliers, `a;conv1=b,conv2=c` an assignment after `a`); named `study`
    /// unless `name` is set.
    pub fn plan(&self, inputs: &Inputs, flag_of: &dyn Fn(&str) -> Option<String>) -> Result<Plan, StudyError> {
        let keys = PlanKeys { multipliers: crate::mult::resolve::split_list(&self.multipliers), ..self.clone() };
        // Parsed as the plan "file" COMMAND_LINE, which the parser names `study`.
        Plan::from_toml(&keys.to_toml(), Path::new(COMMAND_LINE), inputs).map_err(|e| match e {
            StudyError::Plan { path, key, reason, .. } if path == Path::new(COMMAND_LINE) => {
                // `eps.fgsm` is set by the budgets flag, not a flag of its own.
                let key = key.split('.').next().unwrap_or_default();
                let flag = match flag_of(key) {
                    Some(f) => f,
                    None if key.is_empty() => "command line".into(),
                    None => format!("--{}", key.replace('_', "-")),
                };
                StudyError::Flag { flag, reason }
            }
            e => e,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_serialize_only_what_is_set() {
        let k = PlanKeys { images: Some(10), schemes: vec!["asym-u8".into()], ..Default::default() };
        assert_eq!(k.to_toml(), "schemes = [\"asym-u8\"]\nimages = 10\n");
        let p = PlanKeys {
            models: vec![concat!(env!("CARGO_MANIFEST_DIR"), "/models/lenet5-mnist").into()],
            multipliers: vec!["exact".into()],
            ..k.clone()
        }
        .plan(&Inputs::default(), &|_| None)
        .unwrap();
        assert_eq!((p.name.as_str(), p.images), ("study", 10));
        assert!(PlanKeys::default().is_empty() && !k.is_empty());
    }

    #[test]
    fn a_bad_key_is_reported_as_its_flag() {
        let k = PlanKeys {
            models: vec![concat!(env!("CARGO_MANIFEST_DIR"), "/models/lenet5-mnist").into()],
            schemes: vec!["asym-u9".into()],
            ..Default::default()
        };
        let e = k.plan(&Inputs::default(), &|key| (key == "schemes").then(|| "--scheme".into())).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("--scheme: ") && text.contains("asym-u9") && !text.contains("<flags>"), "{text}");
        let e = k.plan(&Inputs::default(), &|_| None).unwrap_err().to_string();
        assert!(e.starts_with("--schemes: "), "{e}");
    }
}
