//! The ten attacks against Foolbox 3.3.4 itself: `tests/fixtures/foolbox/attacks.json` was
//! produced by the real library (JAX backend) on a small MLP, with every random draw recorded
//! (`gen_foolbox_fixture.py`). Here the same model runs in Rust, the draws are replayed, and raw
//! outputs, clipped outputs and success flags must agree for every attack and epsilon.

use axdnn::attack::{self, Attack, Bounds, Classifier, Criterion, Draw, Epsilon, ReplayNoise};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    foolbox_version: String,
    model: Mlp,
    x: Vec<Vec<f32>>,
    labels: Vec<u8>,
    epsilons: Vec<f32>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Mlp {
    n_in: usize,
    hidden: usize,
    classes: usize,
    w1: Vec<Vec<f32>>,
    b1: Vec<f32>,
    w2: Vec<Vec<f32>>,
    b2: Vec<f32>,
}

#[derive(Deserialize)]
struct Case {
    attack: String,
    #[serde(default)]
    targets: Option<Vec<u8>>,
    noise: Vec<Draw>,
    raw: Vec<Vec<Vec<f32>>>,
    clipped: Vec<Vec<Vec<f32>>>,
    success: Vec<Vec<bool>>,
}

/// `logits = W2·relu(W1·x + b1) + b2`, with the input gradient of the summed cross-entropy.
impl Mlp {
    fn hidden_pre(&self, x: &[f32]) -> Vec<f32> {
        self.w1.iter().zip(&self.b1).map(|(w, &b)| w.iter().zip(x).map(|(&w, &x)| w * x).sum::<f32>() + b).collect()
    }
    fn out(&self, h: &[f32]) -> Vec<f32> {
        self.w2
            .iter()
            .zip(&self.b2)
            .map(|(w, &b)| w.iter().zip(h).map(|(&w, &h)| w * h.max(0.0)).sum::<f32>() + b)
            .collect()
    }
}

impl Classifier for Mlp {
    fn name(&self) -> String {
        "foolbox-fixture-mlp".into()
    }
    fn input_len(&self) -> usize {
        self.n_in
    }
    fn classes(&self) -> usize {
        self.classes
    }
    fn logits(&self, x: &[f32]) -> Vec<f32> {
        x.chunks_exact(self.n_in).flat_map(|x| self.out(&self.hidden_pre(x))).collect()
    }
    fn has_gradient(&self) -> bool {
        true
    }
    fn loss_gradient(&self, x: &[f32], labels: &[u8]) -> Option<Vec<f32>> {
        let mut g = Vec::with_capacity(x.len());
        for (x, &y) in x.chunks_exact(self.n_in).zip(labels) {
            let pre = self.hidden_pre(x);
            let z = self.out(&pre);
            let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f32> = z.iter().map(|&v| (v - m).exp()).collect();
            let s: f32 = e.iter().sum();
            let dz: Vec<f32> =
                e.iter().enumerate().map(|(c, &v)| v / s - if c == y as usize { 1.0 } else { 0.0 }).collect();
            let dh: Vec<f32> = (0..self.hidden)
                .map(|j| if pre[j] > 0.0 { (0..self.classes).map(|c| self.w2[c][j] * dz[c]).sum() } else { 0.0 })
                .collect();
            g.extend((0..self.n_in).map(|i| (0..self.hidden).map(|j| self.w1[j][i] * dh[j]).sum::<f32>()));
        }
        Some(g)
    }
}

fn fixture() -> Fixture {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/foolbox/attacks.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Largest absolute difference, and where.
fn max_diff(a: &[f32], b: &[f32]) -> (f32, usize) {
    a.iter()
        .zip(b)
        .enumerate()
        .map(|(i, (&a, &b))| ((a - b).abs(), i))
        .fold((0.0, 0), |m, v| if v.0 > m.0 { v } else { m })
}

#[test]
fn all_ten_attacks_match_foolbox() {
    let f = fixture();
    assert!(f.foolbox_version.starts_with("3.3"), "fixture from Foolbox {}", f.foolbox_version);
    let x: Vec<f32> = f.x.concat();
    let eps: Vec<Epsilon> = f.epsilons.iter().map(|&e| Epsilon::new(e).unwrap()).collect();
    let mut seen = std::collections::HashSet::new();
    let (mut worst, mut exact, mut total) = (0.0f32, 0usize, 0usize);
    for case in &f.cases {
        let name = case.attack.split('/').next().unwrap();
        let a = Attack::from_foolbox_name(name).unwrap_or_else(|| panic!("unknown attack {name}"));
        seen.insert(a);
        let criterion = match &case.targets {
            Some(t) => Criterion::Targeted(t.clone()),
            None => Criterion::Misclassification(f.labels.clone()),
        };
        let mut noise = ReplayNoise::new(case.noise.clone());
        let out = attack::run(a, a.default_params(), &f.model, &Bounds::default(), &x, &criterion, &eps, &mut noise)
            .unwrap_or_else(|e| panic!("{}: {e}", case.attack));
        assert_eq!(noise.remaining(), 0, "{}: recorded draws left unused", case.attack);
        for k in 0..eps.len() {
            let what = format!("{} eps={}", case.attack, f.epsilons[k]);
            let (d_raw, i_raw) = max_diff(&out.raw[k], &case.raw[k].concat());
            let (d_clip, i_clip) = max_diff(&out.clipped[k], &case.clipped[k].concat());
            assert!(d_raw <= 2e-6, "{what}: raw differs by {d_raw} at {i_raw}");
            assert!(d_clip <= 2e-6, "{what}: clipped differs by {d_clip} at {i_clip}");
            assert_eq!(out.success[k], case.success[k], "{what}: success flags");
            worst = worst.max(d_raw).max(d_clip);
            total += 2;
            exact += (d_raw == 0.0) as usize + (d_clip == 0.0) as usize;
        }
    }
    assert_eq!(seen.len(), 10, "fixture covers all ten attacks");
    eprintln!("largest difference from Foolbox {worst:e}; {exact} of {total} output tensors bit-identical");
}
