//! The gradient-masking checks (`study::masking`) fire on a constructed case — the shipped LeNet-5
//! behind an input-rounding layer, attacked without BPDA, whose exact input gradient is zero —
//! and stay quiet on the same network without the rounding layer.

use crate::common;

use axdnn::attack::{self, Attack, AttackParams, Bounds, Classifier, Criterion, Epsilon, FloatClassifier, SeededNoise};
use axdnn::data::{self, DatasetName, Split};
use axdnn::model::Shape;
use axdnn::study::masking::{self, Access, Flag, Series};

/// A model that rounds its input to multiples of 1/8 first: the gradient of the whole is zero
/// almost everywhere, and that is the gradient it reports (no BPDA).
struct Rounded<'a>(FloatClassifier<'a>);

impl Classifier for Rounded<'_> {
    fn name(&self) -> String {
        "lenet5 behind a rounding layer".into()
    }
    fn input_len(&self) -> usize {
        self.0.input_len()
    }
    fn input_shape(&self) -> Shape {
        self.0.input_shape()
    }
    fn classes(&self) -> usize {
        self.0.classes()
    }
    fn logits(&self, x: &[f32]) -> Vec<f32> {
        let r: Vec<f32> = x.iter().map(|v| (v * 8.0).round() / 8.0).collect();
        self.0.logits(&r)
    }
    fn has_gradient(&self) -> bool {
        true
    }
    fn loss_gradient(&self, x: &[f32], _labels: &[u8]) -> Option<Vec<f32>> {
        Some(vec![0.0; x.len()])
    }
    fn logits_and_gradient(&self, x: &[f32], _dloss: &attack::LogitLossGrad) -> Option<(Vec<f32>, Vec<f32>)> {
        Some((self.logits(x), vec![0.0; x.len()]))
    }
}

fn series(model: &dyn Classifier, x: &[f32], labels: &[u8], a: Attack, eps: &[f32], access: Access) -> Series {
    let p = match a.default_params() {
        AttackParams::Square(mut p) => {
            p.queries = 500;
            AttackParams::Square(p)
        }
        p => p,
    };
    let e: Vec<Epsilon> = eps.iter().map(|&v| Epsilon(v)).collect();
    let crit = Criterion::Misclassification(labels.to_vec());
    let out = attack::run(a, p, model, &Bounds::default(), x, &crit, &e, &mut SeededNoise::new(3)).unwrap();
    Series {
        target: model.name(),
        attack: a.name().into(),
        threat: "test".into(),
        access,
        gradient: access == Access::WhiteBox,
        norm: a.norm(),
        points: eps.iter().zip(out.success).map(|(&e, s)| (e, s.iter().map(|f| !f).collect())).collect(),
    }
}

#[test]
fn masking_flags_fire_on_a_rounding_layer_without_bpda_and_not_without_it() {
    let Some(root) = common::data() else { return };
    let m =
        axdnn::model::io::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lenet5-mnist")).unwrap();
    let d = data::load(DatasetName::Mnist, Split::Test, &root).unwrap().head(50);
    let float = FloatClassifier { arch: &m.arch, params: &m.params };
    let rounded = Rounded(FloatClassifier { arch: &m.arch, params: &m.params });
    let budgets = [0.05, 0.1, 0.15];
    let check = |model: &dyn Classifier| -> Vec<Flag> {
        let s = vec![
            series(model, &d.images, &d.labels, Attack::Fgsm, &budgets, Access::WhiteBox),
            series(model, &d.images, &d.labels, Attack::LinfApgdCe, &budgets, Access::WhiteBox),
            series(model, &d.images, &d.labels, Attack::Fgsm, &[1.0], Access::WhiteBox),
            series(model, &d.images, &d.labels, Attack::LinfSquare, &budgets, Access::BlackBox),
        ];
        let mut f = masking::flags(&s, 784);
        let g = model.loss_gradient(&d.images, &d.labels).unwrap();
        f.extend(masking::dead_gradient_flag(&model.name(), &g, 784));
        for x in &f {
            eprintln!("{}: {x}", model.name());
        }
        f
    };
    let kinds = |f: &[Flag]| {
        (
            f.iter().any(|x| matches!(x, Flag::BlackBoxStronger { .. })),
            f.iter().any(|x| matches!(x, Flag::NoFallWithBudget { .. })),
            f.iter().any(|x| matches!(x, Flag::UnboundedNotZero { .. })),
            f.iter().any(|x| matches!(x, Flag::DeadGradients { .. })),
        )
    };
    assert_eq!(kinds(&check(&rounded)), (true, true, true, true), "every flag on the masked model");
    assert_eq!(kinds(&check(&float)), (false, false, false, false), "no flag on the plain float model");
}

#[test]
fn masking_flags_on_hand_made_series() {
    let bits = |robust: usize| -> Vec<bool> { (0..100).map(|i| i < robust).collect() };
    let s = |attack: &str, access, gradient, pts: &[(f32, usize)]| Series {
        target: "t".into(),
        attack: attack.into(),
        threat: "x".into(),
        access,
        gradient,
        norm: attack::Norm::Linf,
        points: pts.iter().map(|&(e, r)| (e, bits(r))).collect(),
    };
    // A clean picture: the gradient attack falls with the budget to 0 and beats the query one.
    let clean = [
        s("pgd", Access::WhiteBox, true, &[(0.1, 60), (0.2, 20), (1.0, 0)]),
        s("square", Access::BlackBox, false, &[(0.1, 70), (0.2, 30)]),
        // Transferred examples are compared with nothing.
        s("fgsm", Access::Other, false, &[(0.1, 90), (0.2, 95)]),
    ];
    assert!(masking::flags(&clean, 784).is_empty());
    let masked = [
        s("pgd", Access::WhiteBox, true, &[(0.1, 60), (0.2, 80), (1.0, 5)]),
        s("square", Access::BlackBox, false, &[(0.1, 50), (0.2, 30)]),
    ];
    let f = masking::flags(&masked, 784);
    assert_eq!(f.len(), 4, "{f:?}");
    assert!(
        matches!(&f[0], Flag::BlackBoxStronger { epsilon, black, white, .. } if *epsilon == 0.1 && black.1 == 50 && white.1 == 60)
    );
    assert!(matches!(&f[1], Flag::BlackBoxStronger { epsilon, .. } if *epsilon == 0.2));
    assert!(matches!(&f[2], Flag::NoFallWithBudget { from, to, .. } if *from == (0.1, 60) && *to == (0.2, 80)));
    assert!(matches!(&f[3], Flag::UnboundedNotZero { robust: 5, .. }));
    assert_eq!(masking::unbounded(attack::Norm::L2, 784), 28.0);
    assert_eq!(masking::dead_gradient_share(&[0.0, 0.0, 1.0, f32::NAN, 1.0, 2.0], 2), (2, 3));
}
