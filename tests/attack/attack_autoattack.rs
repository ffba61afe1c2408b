//! FAB-T (`attack::fab`) and the AutoAttack ensemble (`attack::autoattack`): within the budget and
//! the box; FAB-T's robust accuracy never rises with the budget and reaches 0 % when the budget
//! is unbounded; AutoAttack never weaker than any of its members or than Linf PGD on the same
//! images (the shipped LeNet-5, float and BPDA through its exact accelerator); seeded and
//! thread-count independent; usable in a plan under all three threat models.

use crate::common;

use axdnn::accel::{AccelConfig, Accelerator};
use axdnn::attack::{
    self, AccelClassifier, Attack, AttackError, AttackOutput, AttackParams, Bounds, BpdaClassifier, Classifier,
    Criterion, Epsilon, FabParams, FloatClassifier, SeededNoise,
};
use axdnn::data::{self, DatasetName, Split};
use axdnn::model::{Arch, Shape};
use axdnn::quant::{QuantModel, QuantOptions};

fn run(a: Attack, p: AttackParams, model: &dyn Classifier, x: &[f32], labels: &[u8], eps: &[Epsilon]) -> AttackOutput {
    let crit = Criterion::Misclassification(labels.to_vec());
    attack::run(a, p, model, &Bounds::default(), x, &crit, eps, &mut SeededNoise::new(11)).unwrap()
}

fn robust(out: &AttackOutput, k: usize) -> usize {
    out.success[k].iter().filter(|&&s| !s).count()
}

fn shipped_lenet() -> axdnn::model::io::SavedModel {
    axdnn::model::io::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lenet5-mnist")).unwrap()
}

#[test]
fn fab_t_stays_in_the_box_and_its_robust_accuracy_only_falls_with_the_budget() {
    let Some(root) = common::data() else { return };
    let m = shipped_lenet();
    let d = data::load(DatasetName::Mnist, Split::Test, &root).unwrap().head(40);
    let model = FloatClassifier { arch: &m.arch, params: &m.params };
    let clean = 40
        - Criterion::Misclassification(d.labels.clone())
            .is_adversarial(&model.logits(&d.images), 10)
            .iter()
            .filter(|&&f| f)
            .count();
    for (a, budgets) in [(Attack::LinfFabT, vec![0.05, 0.1, 0.2, 1.0]), (Attack::L2FabT, vec![0.5, 1.0, 2.0, 30.0])] {
        let eps: Vec<Epsilon> = budgets.iter().map(|&e| Epsilon(e)).collect();
        let out = run(a, a.default_params(), &model, &d.images, &d.labels, &eps);
        let left: Vec<usize> = (0..eps.len()).map(|k| robust(&out, k)).collect();
        eprintln!("{a}: robust {left:?} of 40 at {budgets:?} ({clean} correct clean)");
        for (k, e) in eps.iter().enumerate() {
            assert!(out.raw[k].iter().all(|v| (0.0..=1.0).contains(v)), "{a} {e}: outside [0, 1]");
            let dist = common::largest_perturbation(a.norm(), &d.images, &out.raw[k], 784);
            assert!(dist <= e.0 * (1.0 + 1e-5) + 1e-6, "{a} {e}: {dist} beyond the budget");
        }
        assert!(left.windows(2).all(|w| w[1] <= w[0]), "{a}: robust accuracy rose with the budget: {left:?}");
        assert!(left[0] < clean, "{a}: FAB-T fooled nothing at {}", budgets[0]);
        assert_eq!(*left.last().unwrap(), 0, "{a}: an unbounded budget leaves images robust");
    }
}

/// AutoAttack is at least as strong as each member alone and as PGD (Foolbox defaults), per
/// budget, on the float LeNet-5 and under BPDA through its exact accelerator (Square with 1,000
/// queries, alone and in the ensemble, to keep the suite short).
#[test]
fn autoattack_is_never_weaker_than_its_members_or_pgd() {
    let Some(root) = common::data() else { return };
    let m = shipped_lenet();
    let d = data::load(DatasetName::Mnist, Split::Test, &root).unwrap().head(60);
    let calib = data::load(DatasetName::Mnist, Split::Train, &root).unwrap().head(256);
    let qm = QuantModel::build(&m.arch, &m.params, &calib.images, QuantOptions::default()).unwrap();
    let lut = axdnn::Lut::exact(8, 8, false);
    let acc = Accelerator::new(&qm, &lut, AccelConfig::default()).unwrap();
    let float = FloatClassifier { arch: &m.arch, params: &m.params };
    let bpda = BpdaClassifier { accel: &acc, arch: &m.arch, params: &m.params, label: "lenet5 on exact".into() };
    let linf = [Attack::LinfApgdCe, Attack::LinfApgdT, Attack::LinfFabT, Attack::LinfSquare, Attack::LinfPgd];
    let l2 = [Attack::L2ApgdCe, Attack::L2ApgdT, Attack::L2FabT, Attack::L2Square, Attack::L2Pgd];
    for (name, model) in [("float", &float as &dyn Classifier), ("bpda", &bpda)] {
        for (aa, others, e) in [(Attack::LinfAutoAttack, linf, 0.08), (Attack::L2AutoAttack, l2, 1.0)] {
            let eps = [Epsilon(e)];
            let short = |a: Attack| match a.default_params() {
                AttackParams::AutoAttack(mut p) => {
                    p.square.queries = 1000;
                    AttackParams::AutoAttack(p)
                }
                AttackParams::Square(mut p) => {
                    p.queries = 1000;
                    AttackParams::Square(p)
                }
                p => p,
            };
            let ens = robust(&run(aa, short(aa), model, &d.images, &d.labels, &eps), 0);
            for a in others {
                let alone = robust(&run(a, short(a), model, &d.images, &d.labels, &eps), 0);
                eprintln!("{name} eps {e}: {aa} leaves {ens}/60, {a} alone {alone}/60");
                assert!(ens <= alone, "{name}: {aa} leaves {ens} robust, {a} alone {alone}");
            }
        }
    }
}

#[test]
fn autoattack_on_the_hardware_runs_its_query_member_and_is_thread_count_independent() {
    let arch = Arch::lenet5(Shape::new(1, 28, 28), 10);
    let params = common::random_params(&arch, 5);
    let x = common::random_images(&arch, 12, 6);
    let calib = common::random_images(&arch, 32, 7);
    let labels: Vec<u8> = (0..12).map(|i| i % 10).collect();
    let qm = QuantModel::build(&arch, &params, &calib, QuantOptions::default()).unwrap();
    let lut = axdnn::Lut::exact(8, 8, false);
    let acc = Accelerator::new(&qm, &lut, AccelConfig::default()).unwrap();
    let hw = AccelClassifier { accel: &acc, label: "exact".into() };
    let float = FloatClassifier { arch: &arch, params: &params };
    assert_eq!(attack::autoattack::members_for(&hw), vec![attack::autoattack::Member::Square]);
    assert_eq!(attack::autoattack::members_for(&float).len(), 4);
    let a = Attack::LinfAutoAttack;
    let mut p = match a.default_params() {
        AttackParams::AutoAttack(p) => p,
        other => panic!("{other:?}"),
    };
    p.square.queries = 300;
    p.apgd.steps = 20;
    p.fab.steps = 20;
    let eps = [Epsilon(0.1)];
    let pool = |k: usize| rayon::ThreadPoolBuilder::new().num_threads(k).build().unwrap();
    for model in [&hw as &dyn Classifier, &float] {
        let go = || run(a, AttackParams::AutoAttack(p), model, &x, &labels, &eps);
        let one = pool(1).install(go);
        assert_eq!(one, pool(3).install(go), "{}: 1 vs 3 threads", model.name());
        // On the accelerator the ensemble is Square with the same draws.
        if model.name() == hw.name() {
            let sq = run(Attack::LinfSquare, AttackParams::Square(p.square), &hw, &x, &labels, &eps);
            assert_eq!(one.success, sq.success, "hardware: AutoAttack = its Square member");
        }
    }
}

#[test]
fn fab_and_autoattack_refuse_targets_and_foreign_parameters() {
    let arch = Arch::lenet5(Shape::new(1, 28, 28), 10);
    let params = common::random_params(&arch, 5);
    let x = common::random_images(&arch, 2, 6);
    let model = FloatClassifier { arch: &arch, params: &params };
    for a in [Attack::LinfFabT, Attack::L2AutoAttack] {
        let err = attack::run(
            a,
            a.default_params(),
            &model,
            &Bounds::default(),
            &x,
            &Criterion::Targeted(vec![1, 2]),
            &[Epsilon(0.1)],
            &mut SeededNoise::new(0),
        )
        .unwrap_err();
        assert!(matches!(err, AttackError::Targeted(t) if t == a), "{err}");
    }
    let err = attack::run(
        Attack::LinfFabT,
        AttackParams::Fab(FabParams::default()),
        &AccelClassifier {
            accel: &Accelerator::new(
                &QuantModel::build(&arch, &params, &x, QuantOptions::default()).unwrap(),
                &axdnn::Lut::exact(8, 8, false),
                AccelConfig::default(),
            )
            .unwrap(),
            label: "exact".into(),
        },
        &Bounds::default(),
        &x,
        &Criterion::Misclassification(vec![1, 2]),
        &[Epsilon(0.1)],
        &mut SeededNoise::new(0),
    )
    .unwrap_err();
    assert!(matches!(err, AttackError::NoGradient { .. }), "{err}");
}

const PLAN: &str = r#"
name = "autoattack"
models = ["models/lenet5-mnist"]
multipliers = ["exact", "mul8u_L40"]
attacks = ["linf-autoattack", "linf-fab-t"]
eps_linf = [0.1]
threats = ["transfer", "bpda", "hardware"]
images = 10
chunk = 10
calib = 64
"#;

/// The ensemble in a plan under all three threat models (FAB-T under transfer and BPDA only), and
/// a rerun reuses every row.
#[test]
fn autoattack_in_a_study_plan_under_all_three_threat_models_resumes() {
    use axdnn::study::{Inputs, Plan, Runner, Store};
    let (Some(data), Some(evo)) = (common::data(), common::evoapprox()) else { return };
    let inputs = Inputs { data: Some(data), evoapprox: Some(evo) };
    let plan = Plan::from_toml(PLAN, std::path::Path::new("autoattack.toml"), &inputs).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let first = Runner::new(plan.clone(), inputs.clone()).quiet().run(tmp.path()).unwrap();
    assert!(first.cells_run > 0 && first.cells_reused == 0);
    let store = Store::open(tmp.path()).unwrap();
    let bits = |attack: &str, threat: &str| -> usize {
        store
            .rows()
            .filter(|r| r.attack == attack && r.threat == threat && r.target == "accel")
            .map(|r| r.bits().unwrap().len())
            .sum()
    };
    for threat in ["transfer", "bpda", "hardware"] {
        assert_eq!(bits("linf-autoattack", threat), 2 * 10, "autoattack {threat}: two multipliers × 10 images");
    }
    assert_eq!(bits("linf-fab-t", "transfer"), 20);
    assert_eq!(bits("linf-fab-t", "bpda"), 20);
    assert_eq!(bits("linf-fab-t", "hardware"), 0, "FAB-T needs gradients the accelerator has not");
    let again = Runner::new(plan, inputs).quiet().run(tmp.path()).unwrap();
    assert_eq!((again.cells_run, again.rows_written), (0, 0), "a rerun reuses every stored row");
}
