//! AutoAttack's APGD-CE and APGD-T (`attack::apgd`): never outside the budget or the bounds, at
//! least as strong as Foolbox PGD with the same budget on LeNet-5/MNIST, the losses' gradients
//! against finite differences, the gradient plumbing (float and BPDA) against the cross-entropy
//! path the other gradient attacks use, and seeded, thread-count independent results.

use crate::common;

use axdnn::accel::{AccelConfig, Accelerator};
use axdnn::attack::apgd::{ce_loss, dlr_loss, dlr_targeted_loss};
use axdnn::attack::{
    self, Attack, AttackError, AttackOutput, Bounds, BpdaClassifier, Classifier, Criterion, Epsilon, FloatClassifier,
    Norm, NormalizedView, SeededNoise,
};
use axdnn::data::{self, DatasetName, Split};
use axdnn::model::{Arch, Shape};
use axdnn::quant::{QuantModel, QuantOptions};
use rand::Rng;

const APGD: [Attack; 4] = [Attack::LinfApgdCe, Attack::LinfApgdT, Attack::L2ApgdCe, Attack::L2ApgdT];

fn setup(n: usize) -> (Arch, axdnn::model::Params, Vec<f32>, Vec<u8>) {
    let arch = Arch::lenet5(Shape::new(1, 28, 28), 10);
    let params = common::random_params(&arch, 3);
    let x = common::random_images(&arch, n, 4);
    let labels = (0..n as u8).map(|i| i % 10).collect();
    (arch, params, x, labels)
}

fn budgets(norm: Norm) -> Vec<Epsilon> {
    let e: &[f32] = match norm {
        Norm::Linf => &[0.0, 0.03, 0.3],
        Norm::L2 => &[0.0, 0.5, 3.0],
    };
    e.iter().map(|&v| Epsilon::new(v).unwrap()).collect()
}

fn run(a: Attack, model: &dyn Classifier, x: &[f32], labels: &[u8], eps: &[Epsilon], seed: u64) -> AttackOutput {
    let crit = Criterion::Misclassification(labels.to_vec());
    attack::run(a, a.default_params(), model, &Bounds::default(), x, &crit, eps, &mut SeededNoise::new(seed)).unwrap()
}

/// Largest distance of any sample of `y` from its `x0` in `norm`.
#[test]
fn apgd_stays_in_the_budget_and_the_box() {
    let (arch, params, x, labels) = setup(8);
    let model = FloatClassifier { arch: &arch, params: &params };
    let per = model.input_len();
    let clean_mis = Criterion::Misclassification(labels.clone()).is_adversarial(&model.logits(&x), 10);
    for a in APGD {
        let eps = budgets(a.norm());
        let out = run(a, &model, &x, &labels, &eps, 5);
        for (k, e) in eps.iter().enumerate() {
            let what = format!("{a} eps={e}");
            // The raw output already lies in the ball: the attack projects every iterate.
            for y in [&out.raw[k], &out.clipped[k]] {
                assert!(y.iter().all(|v| (0.0..=1.0).contains(v)), "{what}: outside [0, 1]");
                let d = common::largest_perturbation(a.norm(), &x, y, per);
                assert!(d <= e.0 * (1.0 + 1e-6) + 1.2e-7, "{what}: distance {d} beyond the budget");
            }
            if e.0 == 0.0 {
                assert_eq!(out.clipped[k], x, "{what}: eps 0 leaves the input");
                assert_eq!(out.success[k], clean_mis, "{what}: success at eps 0 = clean misclassification");
            }
        }
        // A sample the attack did not fool comes back unchanged (the reference returns x there).
        let last = eps.len() - 1;
        for (i, ok) in out.success[last].iter().enumerate() {
            if !ok {
                assert_eq!(out.raw[last][i * per..(i + 1) * per], x[i * per..(i + 1) * per], "{a}: sample {i}");
            }
        }
    }
}

#[test]
fn apgd_is_at_least_as_strong_as_pgd_on_lenet5() {
    let Some(root) = common::data() else { return };
    let m =
        axdnn::model::io::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lenet5-mnist")).unwrap();
    let d = data::load(DatasetName::Mnist, Split::Test, &root).unwrap().head(300);
    let model = FloatClassifier { arch: &m.arch, params: &m.params };
    let robust = |a: Attack, e: f32| {
        let out = run(a, &model, &d.images, &d.labels, &[Epsilon(e)], 0);
        out.success[0].iter().filter(|&&s| !s).count()
    };
    for (pgd, apgd, e) in [
        (Attack::LinfPgd, [Attack::LinfApgdCe, Attack::LinfApgdT], 0.1),
        (Attack::L2Pgd, [Attack::L2ApgdCe, Attack::L2ApgdT], 1.0),
    ] {
        let base = robust(pgd, e);
        for a in apgd {
            let r = robust(a, e);
            eprintln!("eps {e}: {pgd} leaves {base}/300 correct, {a} {r}/300");
            assert!(r <= base, "{a} at {e}: {r} correct > {pgd}'s {base}");
        }
    }
}

/// A loss of one sample's logits that writes its gradient.
type Loss<'a> = dyn Fn(&[f32], &mut [f32]) -> f64 + 'a;

/// Central differences of `f` at `z`, in f64 from f32 logits.
fn numeric(z: &[f32], f: impl Fn(&[f32]) -> f64) -> Vec<f64> {
    let h = 1e-2f32;
    (0..z.len())
        .map(|c| {
            let (mut up, mut down) = (z.to_vec(), z.to_vec());
            up[c] += h;
            down[c] -= h;
            (f(&up) - f(&down)) / ((up[c] - down[c]) as f64)
        })
        .collect()
}

#[test]
fn losses_and_gradients_match_finite_differences() {
    let mut rng = common::rng(11);
    for case in 0..200 {
        // Logits spread wide enough that a step of 1e-2 does not reorder the classes.
        let mut z: Vec<f32> = (0..10).map(|c| c as f32 * 0.7 + rng.gen_range(-0.3..0.3)).collect();
        // Shuffle so the label is sometimes the top class and sometimes not.
        for c in (1..10).rev() {
            z.swap(c, rng.gen_range(0..=c));
        }
        let y = case % 10;
        let t = (case / 10 + y + 1) % 10;
        let checks: [(&str, Box<Loss<'_>>); 3] = [
            ("ce", Box::new(|z, d| ce_loss(z, y, d))),
            ("dlr", Box::new(|z, d| dlr_loss(z, y, d))),
            ("dlr-targeted", Box::new(|z, d| dlr_targeted_loss(z, y, t, d))),
        ];
        for (name, f) in &checks {
            let mut d = vec![0f32; 10];
            f(&z, &mut d);
            let num = numeric(&z, |v| f(v, &mut [0f32; 10]));
            for c in 0..10 {
                let diff = (d[c] as f64 - num[c]).abs();
                assert!(diff <= 2e-4 * (1.0 + num[c].abs()), "{name} case {case} class {c}: {} vs {}", d[c], num[c]);
            }
        }
    }
    // The definitions: DLR of logits where the label leads by 1 over the runner-up, spread 4 to
    // the third; targeted DLR against the last class.
    let z = [5.0, 4.0, 1.0, 0.0];
    let mut d = [0f32; 4];
    assert!((dlr_loss(&z, 0, &mut d) + 1.0 / 4.0).abs() < 1e-9);
    assert!((dlr_targeted_loss(&z, 0, 3, &mut d) + 5.0 / 4.5).abs() < 1e-9);
}

#[test]
fn seeded_cross_entropy_equals_the_gradient_attacks_path() {
    // The loss gradient the PGD family uses and the one APGD-CE seeds at the logits are the same
    // numbers, for the float model and through BPDA (accelerator logits, float backward pass).
    let (arch, params, x, labels) = setup(6);
    let ce = |i: usize, z: &[f32], d: &mut [f32]| {
        ce_loss(z, labels[i] as usize, d);
    };
    let float = FloatClassifier { arch: &arch, params: &params };
    let (z, g) = float.logits_and_gradient(&x, &ce).unwrap();
    assert_eq!(z, float.logits(&x));
    assert_eq!(g, float.loss_gradient(&x, &labels).unwrap());
    // In normalized coordinates the pull-back by std is the same on both paths.
    let norm = axdnn::model::Normalization::mnist();
    let view = NormalizedView { inner: &float, norm: &norm, input: arch.input };
    let (z, g) = view.logits_and_gradient(&x, &ce).unwrap();
    assert_eq!(z, view.logits(&x));
    assert_eq!(g, view.loss_gradient(&x, &labels).unwrap());
    let qm = QuantModel::build(&arch, &params, &x, QuantOptions::default()).unwrap();
    let lut = common::random_lut(false, 2);
    let acc = Accelerator::new(&qm, &lut, AccelConfig::default()).unwrap();
    let bpda = BpdaClassifier { accel: &acc, arch: &arch, params: &params, label: "random lut".into() };
    let (z, g) = bpda.logits_and_gradient(&x, &ce).unwrap();
    assert_eq!(z, bpda.logits(&x));
    assert_eq!(g, bpda.loss_gradient(&x, &labels).unwrap());
    // APGD runs through BPDA as any gradient attack does.
    let out = run(Attack::LinfApgdT, &bpda, &x, &labels, &[Epsilon(0.1)], 1);
    assert_eq!(out.success[0], Criterion::Misclassification(labels).is_adversarial(&bpda.logits(&out.clipped[0]), 10));
}

#[test]
fn apgd_is_seeded_and_thread_count_independent() {
    let (arch, params, x, labels) = setup(12);
    let model = FloatClassifier { arch: &arch, params: &params };
    for a in [Attack::LinfApgdT, Attack::L2ApgdCe] {
        let eps = &budgets(a.norm())[1..];
        let pool = |k: usize| rayon::ThreadPoolBuilder::new().num_threads(k).build().unwrap();
        let one = pool(1).install(|| run(a, &model, &x, &labels, eps, 9));
        let three = pool(3).install(|| run(a, &model, &x, &labels, eps, 9));
        assert_eq!(one, three, "{a}: 1 vs 3 threads");
        assert_eq!(one, run(a, &model, &x, &labels, eps, 9), "{a}: same seed");
        assert_ne!(one.raw, run(a, &model, &x, &labels, eps, 10).raw, "{a}: another seed, another start");
    }
}

#[test]
fn apgd_refuses_targeted_criteria_and_too_few_classes() {
    let (arch, params, x, labels) = setup(2);
    let model = FloatClassifier { arch: &arch, params: &params };
    let crit = Criterion::Targeted(labels.clone());
    let e = [Epsilon(0.1)];
    for a in APGD {
        let err =
            attack::run(a, a.default_params(), &model, &Bounds::default(), &x, &crit, &e, &mut SeededNoise::new(0))
                .unwrap_err();
        assert!(matches!(err, AttackError::Targeted(_)), "{err}");
    }
    let arch3 = Arch::lenet5(Shape::new(1, 28, 28), 3);
    let params3 = common::random_params(&arch3, 3);
    let model3 = FloatClassifier { arch: &arch3, params: &params3 };
    let crit = Criterion::Misclassification(vec![0, 1]);
    let a = Attack::LinfApgdT;
    let err = attack::run(a, a.default_params(), &model3, &Bounds::default(), &x, &crit, &e, &mut SeededNoise::new(0))
        .unwrap_err();
    assert!(matches!(err, AttackError::Classes { needs: 4, classes: 3, .. }), "{err}");
    // APGD-CE needs only two.
    let a = Attack::LinfApgdCe;
    attack::run(a, a.default_params(), &model3, &Bounds::default(), &x, &crit, &e, &mut SeededNoise::new(0)).unwrap();
}

const PLAN: &str = r#"
name = "apgd"
models = ["models/lenet5-mnist"]
multipliers = ["exact", "mul8u_L40"]
attacks = ["linf-apgd-ce", "linf-apgd-t", "l2-apgd-ce"]
eps_linf = [0.0, 0.1]
eps_l2 = [1.0]
threats = ["transfer", "bpda"]
images = 40
chunk = 20
calib = 64
"#;

#[test]
fn apgd_in_a_study_plan_under_transfer_and_bpda_resumes() {
    use axdnn::study::{Inputs, Plan, Runner, Store};
    let (Some(data), Some(evo)) = (common::data(), common::evoapprox()) else { return };
    let inputs = Inputs { data: Some(data), evoapprox: Some(evo) };
    let plan = Plan::from_toml(PLAN, std::path::Path::new("apgd.toml"), &inputs).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let first = Runner::new(plan.clone(), inputs.clone()).quiet().run(tmp.path()).unwrap();
    assert!(first.cells_run > 0 && first.cells_reused == 0);
    let store = Store::open(tmp.path()).unwrap();
    for attack in ["linf-apgd-ce", "linf-apgd-t", "l2-apgd-ce"] {
        for threat in ["transfer", "bpda"] {
            let n: usize = store
                .rows()
                .filter(|r| r.attack == attack && r.threat == threat && r.target == "accel")
                .map(|r| r.bits().unwrap().len())
                .sum();
            // Two multipliers × the budgets (Linf: 2, L2: 1) × 40 images.
            let budgets = if attack.starts_with("linf") { 2 } else { 1 };
            assert_eq!(n, 2 * budgets * 40, "{attack} {threat}");
        }
    }
    let again = Runner::new(plan, inputs).quiet().run(tmp.path()).unwrap();
    assert_eq!((again.cells_run, again.rows_written), (0, 0), "a rerun reuses every stored row");
}
