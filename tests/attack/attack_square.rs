//! Square Attack (`attack::square`): never outside the budget or the bounds, on the accelerator
//! never weaker than the repeated uniform noise the `hardware` threat model had before it, seeded
//! and thread-count independent, untargeted only, and usable in a study plan under `hardware`.

use crate::common;

use axdnn::accel::{AccelConfig, Accelerator};
use axdnn::attack::{
    self, AccelClassifier, Attack, AttackError, AttackOutput, AttackParams, Bounds, Classifier, Criterion, Epsilon,
    FloatClassifier, SeededNoise, SquareParams,
};
use axdnn::data::{self, DatasetName, Split};
use axdnn::model::{Arch, Shape};
use axdnn::quant::{QuantModel, QuantOptions};

fn square(queries: usize) -> AttackParams {
    AttackParams::Square(SquareParams { queries, ..SquareParams::default() })
}

fn run(a: Attack, p: AttackParams, model: &dyn Classifier, x: &[f32], labels: &[u8], eps: &[Epsilon]) -> AttackOutput {
    let crit = Criterion::Misclassification(labels.to_vec());
    attack::run(a, p, model, &Bounds::default(), x, &crit, eps, &mut SeededNoise::new(7)).unwrap()
}

#[test]
fn square_stays_in_the_budget_and_the_box() {
    let arch = Arch::lenet5(Shape::new(1, 28, 28), 10);
    let params = common::random_params(&arch, 3);
    let x = common::random_images(&arch, 8, 4);
    let labels: Vec<u8> = (0..8).collect();
    let model = FloatClassifier { arch: &arch, params: &params };
    let clean_mis = Criterion::Misclassification(labels.clone()).is_adversarial(&model.logits(&x), 10);
    for (a, budgets) in [(Attack::LinfSquare, [0.0, 0.03, 0.3]), (Attack::L2Square, [0.0, 0.5, 3.0])] {
        let eps: Vec<Epsilon> = budgets.iter().map(|&e| Epsilon(e)).collect();
        let out = run(a, square(300), &model, &x, &labels, &eps);
        for (k, e) in eps.iter().enumerate() {
            let what = format!("{a} eps={e}");
            for y in [&out.raw[k], &out.clipped[k]] {
                assert!(y.iter().all(|v| (0.0..=1.0).contains(v)), "{what}: outside [0, 1]");
                let d = common::largest_perturbation(a.norm(), &x, y, 784);
                assert!(d <= e.0 * (1.0 + 1e-5) + 1.2e-7, "{what}: distance {d} beyond the budget");
            }
            if e.0 == 0.0 {
                assert_eq!(out.clipped[k], x, "{what}: eps 0 leaves the input");
                assert_eq!(out.success[k], clean_mis, "{what}");
            }
            // An image not fooled comes back as it was (the reference returns x there).
            for (i, &ok) in out.success[k].iter().enumerate() {
                if !ok {
                    assert_eq!(&out.raw[k][i * 784..(i + 1) * 784], &x[i * 784..(i + 1) * 784], "{what}: image {i}");
                }
            }
        }
        // A large budget fools more than a small one here (random weights, random images).
        let fooled = |k: usize| out.success[k].iter().filter(|&&s| s).count();
        assert!(fooled(2) > fooled(0), "{a}: {} fooled at the largest budget, {} clean", fooled(2), fooled(0));
    }
}

/// The query attack on the accelerator itself is at least as strong as repeated uniform noise
/// with the same budget (what the `hardware` threat model ran before Square), on the shipped
/// LeNet-5 and the first 200 MNIST test images.
#[test]
fn square_on_the_accelerator_is_never_weaker_than_uniform_noise() {
    let Some(root) = common::data() else { return };
    let m =
        axdnn::model::io::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lenet5-mnist")).unwrap();
    let d = data::load(DatasetName::Mnist, Split::Test, &root).unwrap().head(200);
    let calib = data::load(DatasetName::Mnist, Split::Train, &root).unwrap().head(256);
    let qm = QuantModel::build(&m.arch, &m.params, &calib.images, QuantOptions::default()).unwrap();
    let lut = axdnn::Lut::exact(8, 8, false);
    let acc = Accelerator::new(&qm, &lut, AccelConfig::default()).unwrap();
    let hw = AccelClassifier { accel: &acc, label: "lenet5 on exact".into() };
    for (sq, noise, e) in [
        (Attack::LinfSquare, Attack::LinfRepeatedUniform, 0.1),
        (Attack::LinfSquare, Attack::LinfRepeatedUniform, 0.2),
        (Attack::L2Square, Attack::L2RepeatedUniform, 1.5),
    ] {
        let left = |a: Attack, p: AttackParams| {
            let out = run(a, p, &hw, &d.images, &d.labels, &[Epsilon(e)]);
            out.success[0].iter().filter(|&&s| !s).count()
        };
        let (s, u) = (left(sq, square(1000)), left(noise, noise.default_params()));
        eprintln!("eps {e}: {sq} (1,000 queries) leaves {s}/200 correct, {noise} (100 draws) {u}/200");
        assert!(s <= u, "{sq} at {e}: {s} correct > {noise}'s {u}");
    }
}

#[test]
fn square_is_seeded_and_thread_count_independent() {
    let arch = Arch::lenet5(Shape::new(1, 28, 28), 10);
    let params = common::random_params(&arch, 5);
    let x = common::random_images(&arch, 10, 6);
    let labels: Vec<u8> = (0..10).collect();
    let model = FloatClassifier { arch: &arch, params: &params };
    for (a, e) in [(Attack::LinfSquare, 0.05), (Attack::L2Square, 1.0)] {
        let eps = [Epsilon(e)];
        let go = |seed: u64| {
            let crit = Criterion::Misclassification(labels.clone());
            attack::run(a, square(200), &model, &Bounds::default(), &x, &crit, &eps, &mut SeededNoise::new(seed))
                .unwrap()
        };
        let pool = |k: usize| rayon::ThreadPoolBuilder::new().num_threads(k).build().unwrap();
        let one = pool(1).install(|| go(9));
        let three = pool(3).install(|| go(9));
        assert_eq!(one, three, "{a}: 1 vs 3 threads");
        assert_eq!(one, go(9), "{a}: same seed");
        assert_ne!(one.raw, go(10).raw, "{a}: another seed, another search");
    }
}

#[test]
fn square_is_untargeted_only() {
    let arch = Arch::lenet5(Shape::new(1, 28, 28), 10);
    let params = common::random_params(&arch, 5);
    let x = common::random_images(&arch, 2, 6);
    let model = FloatClassifier { arch: &arch, params: &params };
    let crit = Criterion::Targeted(vec![1, 2]);
    let a = Attack::LinfSquare;
    let err = attack::run(
        a,
        a.default_params(),
        &model,
        &Bounds::default(),
        &x,
        &crit,
        &[Epsilon(0.1)],
        &mut SeededNoise::new(0),
    )
    .unwrap_err();
    assert!(matches!(err, AttackError::Targeted(Attack::LinfSquare)), "{err}");
    let err = attack::run(
        a,
        Attack::LinfPgd.default_params(),
        &model,
        &Bounds::default(),
        &x,
        &Criterion::Misclassification(vec![1, 2]),
        &[Epsilon(0.1)],
        &mut SeededNoise::new(0),
    )
    .unwrap_err();
    assert!(matches!(err, AttackError::Params { expected: "square", .. }), "{err}");
}

const PLAN: &str = r#"
name = "square"
models = ["models/lenet5-mnist"]
multipliers = ["exact", "mul8u_L40"]
attacks = ["linf-square", "l2-square"]
eps_linf = [0.1]
eps_l2 = [1.5]
threats = ["transfer", "hardware"]
images = 20
chunk = 10
calib = 64
"#;

/// Square in a plan: under `transfer` (on the float model) and `hardware` (querying each
/// accelerator), one bit per image and budget, and a rerun reuses every row.
#[test]
fn square_in_a_study_plan_under_transfer_and_hardware_resumes() {
    use axdnn::study::{Inputs, Plan, Runner, Store};
    let (Some(data), Some(evo)) = (common::data(), common::evoapprox()) else { return };
    let inputs = Inputs { data: Some(data), evoapprox: Some(evo) };
    let plan = Plan::from_toml(PLAN, std::path::Path::new("square.toml"), &inputs).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let first = Runner::new(plan.clone(), inputs.clone()).quiet().run(tmp.path()).unwrap();
    assert!(first.cells_run > 0 && first.cells_reused == 0);
    let store = Store::open(tmp.path()).unwrap();
    for attack in ["linf-square", "l2-square"] {
        for threat in ["transfer", "hardware"] {
            let n: usize = store
                .rows()
                .filter(|r| r.attack == attack && r.threat == threat && r.target == "accel")
                .map(|r| r.bits().unwrap().len())
                .sum();
            assert_eq!(n, 2 * 20, "{attack} {threat}: two multipliers × 20 images");
        }
    }
    let again = Runner::new(plan, inputs).quiet().run(tmp.path()).unwrap();
    assert_eq!((again.cells_run, again.rows_written), (0, 0), "a rerun reuses every stored row");
}
