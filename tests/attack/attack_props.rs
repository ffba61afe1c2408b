//! Properties every attack must have (attacks.md §9), on LeNet-5 with seeded random parameters:
//! outputs in bounds, clipped outputs in the eps ball, eps = 0 leaves the input, success at eps 0
//! is clean misclassification, noise attacks keep the first success and return x0 for failures,
//! the Linf-noise overshoot is reproduced, results are seeded and thread-count independent, and
//! bad input gets a typed error.

use crate::common;

use axdnn::accel::{AccelConfig, Accelerator};
use axdnn::attack::{
    self, AccelClassifier, Attack, AttackError, AttackParams, Bounds, Classifier, Criterion, Epsilon, FloatClassifier,
    Norm, SeededNoise,
};
use axdnn::model::{Arch, Shape};
use axdnn::quant::{QuantModel, QuantOptions};

const N: usize = 6;

fn setup() -> (Arch, axdnn::model::Params, Vec<f32>, Vec<u8>) {
    let arch = Arch::lenet5(Shape::new(1, 28, 28), 10);
    let params = common::random_params(&arch, 3);
    let x = common::random_images(&arch, N, 4);
    let labels = (0..N as u8).map(|i| i % 10).collect();
    (arch, params, x, labels)
}

fn eps() -> Vec<Epsilon> {
    [0.0, 0.03, 0.3, 2.0].map(|e| Epsilon::new(e).unwrap()).to_vec()
}

#[test]
fn every_attack_stays_in_bounds_and_ball_and_eps0_is_identity() {
    let (arch, params, x, labels) = setup();
    let model = FloatClassifier { arch: &arch, params: &params };
    let per = model.input_len();
    let crit = Criterion::Misclassification(labels.clone());
    let clean_mis = crit.is_adversarial(&model.logits(&x), 10);
    for a in Attack::ALL {
        let mut params_a = a.default_params();
        if let AttackParams::Gradient(g) = &mut params_a {
            g.steps = g.steps.min(5); // the properties hold per step; keep the test short
        }
        if let AttackParams::Noise(p) = &mut params_a {
            p.repeats = 10;
        }
        let out =
            attack::run(a, params_a, &model, &Bounds::default(), &x, &crit, &eps(), &mut SeededNoise::new(7)).unwrap();
        for (k, e) in eps().iter().enumerate() {
            let what = format!("{a} eps={e}");
            assert!(
                out.raw[k].iter().chain(&out.clipped[k]).all(|v| (0.0..=1.0).contains(v)),
                "{what}: outside bounds"
            );
            for (c, x0) in out.clipped[k].chunks_exact(per).zip(x.chunks_exact(per)) {
                let d: Vec<f32> = c.iter().zip(x0).map(|(a, b)| a - b).collect();
                match a.norm() {
                    Norm::Linf => assert!(d.iter().all(|v| v.abs() <= e.0 + 1.2e-7), "{what}: outside Linf ball"),
                    Norm::L2 => assert!(
                        d.iter().map(|v| v * v).sum::<f32>().sqrt() <= e.0 * (1.0 + 1e-6) + 1e-7,
                        "{what}: outside L2 ball"
                    ),
                }
            }
            if e.0 == 0.0 {
                assert_eq!(out.clipped[k], x, "{what}: eps 0 must leave the input");
                assert_eq!(out.success[k], clean_mis, "{what}: success at eps 0 = clean misclassification");
            }
        }
    }
}

#[test]
fn noise_attacks_keep_first_success_and_return_x0_for_failures() {
    let (arch, params, x, labels) = setup();
    let model = FloatClassifier { arch: &arch, params: &params };
    let per = model.input_len();
    let crit = Criterion::Misclassification(labels);
    let e = [Epsilon::new(3.0).unwrap()];
    for a in [Attack::L2RepeatedGaussian, Attack::L2RepeatedUniform, Attack::LinfRepeatedUniform] {
        let AttackParams::Noise(mut p) = a.default_params() else { unreachable!() };
        p.check_trivial = false;
        p.repeats = 8;
        let out =
            attack::run(a, AttackParams::Noise(p), &model, &Bounds::default(), &x, &crit, &e, &mut SeededNoise::new(9))
                .unwrap();
        // Replay by hand: the first adversarial draw per sample, x0 where none.
        let mut noise = SeededNoise::new(9);
        use axdnn::attack::NoiseSource;
        let mut want = x.clone();
        let mut found = [false; N];
        for _ in 0..8 {
            if found.iter().all(|&f| f) {
                break;
            }
            let d = if a == Attack::L2RepeatedGaussian {
                noise.normal(x.len()).unwrap()
            } else {
                noise.uniform(x.len(), -1.0, 1.0).unwrap()
            };
            let mut xt = Vec::new();
            for (xs, ds) in x.chunks_exact(per).zip(d.chunks_exact(per)) {
                let norm = if a == Attack::LinfRepeatedUniform {
                    ds.iter().copied().fold(f32::MIN, f32::max)
                } else {
                    ds.iter().map(|v| v * v).sum::<f32>().sqrt()
                };
                xt.extend(xs.iter().zip(ds).map(|(&v, &p)| (v + 3.0 / norm * p).clamp(0.0, 1.0)));
            }
            let adv = crit.is_adversarial(&model.logits(&xt), 10);
            for i in 0..N {
                if adv[i] && !found[i] {
                    found[i] = true;
                    want[i * per..(i + 1) * per].copy_from_slice(&xt[i * per..(i + 1) * per]);
                }
            }
        }
        assert!(found.iter().any(|&f| f) && !found.iter().all(|&f| f), "{a}: want some found and some not: {found:?}");
        assert_eq!(out.raw[0], want, "{a}");
    }
}

/// Foolbox scales Linf noise by the largest signed entry: raw perturbations exceed eps for
/// about half the draws; the `linf_abs_max` option fixes that.
#[test]
fn linf_noise_overshoot_is_reproduced_and_optional() {
    let (arch, params, x, _) = setup();
    let model = FloatClassifier { arch: &arch, params: &params };
    let preds: Vec<u8> = model.logits(&x).chunks_exact(10).map(|z| axdnn::accel::infer::argmax(z) as u8).collect();
    // "Adversarial" = keeps the clean prediction, so `raw` holds (nearly always) the first draw.
    let crit = Criterion::Targeted(preds);
    let e = [Epsilon::new(0.01).unwrap()];
    let AttackParams::Noise(mut p) = Attack::LinfRepeatedUniform.default_params() else { unreachable!() };
    p.check_trivial = false;
    let over = |p| {
        let out = attack::run(
            Attack::LinfRepeatedUniform,
            AttackParams::Noise(p),
            &model,
            &Bounds::default(),
            &x,
            &crit,
            &e,
            &mut SeededNoise::new(5),
        )
        .unwrap();
        out.raw[0].iter().zip(&x).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max)
    };
    assert!(over(p) > 0.01 * 1.0001, "signed-max scaling should overshoot eps on some draw");
    p.linf_abs_max = true;
    assert!(over(p) <= 0.01 + 1e-7, "abs-max scaling stays in the ball");
}

#[test]
fn seeded_and_thread_count_independent() {
    let (arch, params, x, labels) = setup();
    let model = FloatClassifier { arch: &arch, params: &params };
    let crit = Criterion::Misclassification(labels);
    let run = |seed| {
        attack::run(
            Attack::L2Pgd,
            Attack::L2Pgd.default_params(),
            &model,
            &Bounds::default(),
            &x,
            &crit,
            &eps()[1..3],
            &mut SeededNoise::new(seed),
        )
        .unwrap()
    };
    let a = run(1);
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| run(1));
    assert_eq!(a, one);
    assert_ne!(a.raw, run(2).raw, "another seed draws another start");
}

#[test]
fn typed_errors() {
    let (arch, params, mut x, labels) = setup();
    let model = FloatClassifier { arch: &arch, params: &params };
    let crit = Criterion::Misclassification(labels.clone());
    let e = eps();
    let mut noise = SeededNoise::new(0);
    let b = Bounds::default();
    x[2 * 784 + 5] = 1.5;
    let err =
        attack::run(Attack::Fgsm, Attack::Fgsm.default_params(), &model, &b, &x, &crit, &e, &mut noise).unwrap_err();
    assert!(matches!(err, AttackError::OutOfBounds { sample: 2, index: 5, .. }), "{err}");
    x[2 * 784 + 5] = 0.5;
    let err = attack::run(Attack::Fgsm, Attack::Fgsm.default_params(), &model, &b, &x[..100], &crit, &e, &mut noise)
        .unwrap_err();
    assert!(matches!(err, AttackError::Shape { .. }), "{err}");
    let bad = Criterion::Misclassification(vec![11; N]);
    let err =
        attack::run(Attack::Fgsm, Attack::Fgsm.default_params(), &model, &b, &x, &bad, &e, &mut noise).unwrap_err();
    assert!(matches!(err, AttackError::LabelRange { sample: 0, label: 11, .. }), "{err}");
    let err = attack::run(
        Attack::Fgsm,
        Attack::Fgsm.default_params(),
        &model,
        &b,
        &x,
        &Criterion::Targeted(labels.clone()),
        &e,
        &mut noise,
    )
    .unwrap_err();
    assert!(matches!(err, AttackError::Targeted(Attack::Fgsm)), "{err}");
    assert!(Epsilon::new(-0.1).is_err() && Epsilon::new(f32::NAN).is_err());
    let err =
        attack::run(Attack::L2Bim, Attack::Fgsm.default_params(), &model, &b, &x, &crit, &[Epsilon(-1.0)], &mut noise)
            .unwrap_err();
    assert!(matches!(err, AttackError::Epsilon(_)), "{err}");
    let err =
        attack::run(Attack::L2ContrastReduction, Attack::Fgsm.default_params(), &model, &b, &x, &crit, &e, &mut noise)
            .unwrap_err();
    assert!(matches!(err, AttackError::Params { .. }), "{err}");
    // The accelerator has no gradient: gradient attacks refuse it, decision attacks run on it.
    let qm = QuantModel::build(&arch, &params, &x, QuantOptions::default()).unwrap();
    let lut = axdnn::Lut::exact(8, 8, false);
    let acc = Accelerator::new(&qm, &lut, AccelConfig::default()).unwrap();
    let hw = AccelClassifier { accel: &acc, label: "lenet5 on exact".into() };
    let err =
        attack::run(Attack::LinfPgd, Attack::LinfPgd.default_params(), &hw, &b, &x, &crit, &e, &mut noise).unwrap_err();
    assert!(matches!(err, AttackError::NoGradient { .. }), "{err}");
    let out = attack::run(
        Attack::L2ContrastReduction,
        Attack::L2ContrastReduction.default_params(),
        &hw,
        &b,
        &x,
        &crit,
        &e,
        &mut noise,
    )
    .unwrap();
    assert_eq!(out.success.len(), e.len());
    assert!("pgd".parse::<Attack>().is_err() && "linf-pgd".parse::<Attack>().unwrap() == Attack::LinfPgd);
}
