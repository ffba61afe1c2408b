//! The adaptive (BPDA) threat model on LeNet-5/MNIST: an attacker who runs the accelerator in
//! the forward pass is never weaker than one who transfers from the float model, and with the
//! exact multiplier BPDA matches a white-box attack on the quantized model's own (dequantized)
//! weights within sampling error.

use axdnn::attack::{self, Attack, Bounds, Criterion, Epsilon, FloatClassifier, SeededNoise};
use axdnn::study::report::{discordant, mcnemar_exact};
use axdnn::study::{cell, Inputs, Plan, Row, Runner, Store, Target, Workspace};
use std::path::Path;

use crate::common;

const PLAN: &str = r#"
name = "bpda"
models = ["models/lenet5-mnist"]
schemes = ["sign-magnitude"]
multipliers = ["exact", "mul8u_L40"]
attacks = ["linf-pgd"]
eps_linf = [0.0, 0.03, 0.06, 0.1]
threats = ["transfer", "bpda"]
images = 300
chunk = 150
calib = 256
"#;

fn rows<'a>(store: &'a Store, threat: &str, mult: &str, eps: f32) -> Vec<&'a Row> {
    let mut v: Vec<&Row> = store
        .rows()
        .filter(|r| r.target == "accel" && r.threat == threat && r.multiplier == mult && r.epsilon == eps)
        .collect();
    v.sort_by_key(|r| r.image_start);
    v
}

fn bits(rows: &[&Row]) -> Vec<bool> {
    rows.iter().flat_map(|r| r.bits().unwrap()).collect()
}

#[test]
fn bpda_is_never_weaker_than_transfer_and_matches_white_box_on_the_exact_quantized_model() {
    let (Some(data), Some(evo)) = (common::data(), common::evoapprox()) else { return };
    let inputs = Inputs { data: Some(data), evoapprox: Some(evo) };
    let plan = Plan::from_toml(PLAN, Path::new("bpda.toml"), &inputs).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    Runner::new(plan.clone(), inputs.clone()).quiet().run(tmp.path()).unwrap();
    let store = Store::open(tmp.path()).unwrap();

    // (1) At every budget on L40: robust accuracy under BPDA ≤ under transfer; at eps 0 both
    // are the clean accuracy. With the exact multiplier the two attacks differ only by the
    // quantization's effect on the loss, so there they agree within sampling error.
    for mult in ["mul8u_L40", "exact"] {
        for &eps in &plan.eps["linf-pgd"] {
            let (t, b) = (bits(&rows(&store, "transfer", mult, eps)), bits(&rows(&store, "bpda", mult, eps)));
            assert_eq!((t.len(), b.len()), (300, 300), "{mult} eps {eps}");
            let (ct, cb) = (t.iter().filter(|&&x| x).count(), b.iter().filter(|&&x| x).count());
            eprintln!("{mult} eps {eps}: transfer {ct}/300, bpda {cb}/300");
            if eps == 0.0 {
                assert_eq!(t, b, "{mult}: eps 0 is the clean accuracy under both");
            } else if mult == "exact" {
                let (x, y) = discordant(&b, &t);
                assert!(mcnemar_exact(x, y) >= 0.05, "exact eps {eps}: BPDA {cb} vs transfer {ct}");
            } else {
                assert!(cb <= ct, "{mult} eps {eps}: BPDA {cb} correct > transfer {ct}");
            }
        }
    }
    // The attack is not vacuous: at 0.1 BPDA leaves fewer than half the images correct.
    let b = bits(&rows(&store, "bpda", "mul8u_L40", 0.1));
    assert!(b.iter().filter(|&&x| x).count() < 150);

    // (2) White-box on the quantized model: PGD with the gradient of the float network carrying
    // the quantized (dequantized) weights, the examples evaluated on the exact accelerator.
    let info = axdnn::study::cell::ModelInfo::of_plan(&plan).unwrap();
    let cells = cell::cells(&plan, &info);
    let ws = Workspace::load(&plan, &inputs, info, &cells).unwrap();
    let target = cells
        .iter()
        .flat_map(|c| c.targets.iter())
        .find(|t| matches!(t, Target::Accel { multiplier: 0, .. }))
        .copied()
        .unwrap();
    let accel = ws.accelerator(&target).unwrap();
    let m = &ws.models[0];
    let wb_params = accel.model().dequantized_params(&m.params);
    let wb = FloatClassifier { arch: &m.arch, params: &wb_params };
    let test = &ws.tests[&m.meta.dataset];
    let crit = Criterion::Misclassification(test.labels.clone());
    let eps: Vec<Epsilon> = [0.03f32, 0.06, 0.1].iter().map(|&e| Epsilon::new(e).unwrap()).collect();
    let out = attack::run(
        Attack::LinfPgd,
        Attack::LinfPgd.default_params(),
        &wb,
        &Bounds::default(),
        &test.images,
        &crit,
        &eps,
        &mut SeededNoise::new(7),
    )
    .unwrap();
    for (e, adv) in eps.iter().zip(&out.clipped) {
        let preds = accel.run(adv).unwrap().predictions();
        let w: Vec<bool> = preds.iter().zip(&test.labels).map(|(&p, &y)| p == y as usize).collect();
        let b = bits(&rows(&store, "bpda", "exact", e.0));
        let (x, y) = discordant(&b, &w);
        let p = mcnemar_exact(x, y);
        let (cw, cb) = (w.iter().filter(|&&v| v).count(), b.iter().filter(|&&v| v).count());
        eprintln!("eps {e}: white-box on the quantized model {cw}/300, BPDA exact {cb}/300, discordant {x}/{y}, McNemar p {p:.3}");
        assert!(p >= 0.05, "eps {e}: BPDA exact {cb} vs white-box {cw} correct differ beyond sampling error (p = {p})");
    }
}
