//! Input normalization inside a model (model.json `arch.normalize`) and budgets in normalized
//! units (`--eps-units normalized`): the same numbers as the hand-normalized model, the same
//! adversarial examples as pixel budgets scaled by std where the two are equivalent, per-channel
//! budgets and bounds kept where they are not, and bad statistics refused by name.

use axdnn::attack::{self, Attack, Bounds, Classifier, Criterion, Epsilon, FloatClassifier, SeededNoise};
use axdnn::model::{engine, Arch, Normalization, Shape};
use axdnn::quant::{QuantModel, QuantOptions, QuantScheme};

use crate::common;

fn normalized(norm: &Normalization, x: &[f32], s: Shape) -> Vec<f32> {
    let mut z = x.to_vec();
    norm.forward(&mut z, s);
    z
}

#[test]
fn normalization_inside_the_model_equals_normalizing_by_hand() {
    let plain = Arch::alexnet(Shape::new(3, 32, 32), 10);
    let params = common::random_params(&plain, 3);
    let norm = Normalization::cifar10();
    let inside = Arch { normalize: Some(norm.clone()), ..plain.clone() };
    let x = common::random_images(&plain, 6, 4);
    let z = normalized(&norm, &x, plain.input);
    let labels = [0u8, 1, 2, 3, 4, 5];
    // Float logits and the reference forward pass.
    assert_eq!(engine::logits(&inside, &params, &x, 6), engine::logits(&plain, &params, &z, 6));
    let per = plain.input.numel();
    assert_eq!(
        axdnn::model::forward_reference(&inside, &params, &x[..per]),
        axdnn::model::forward_reference(&plain, &params, &z[..per])
    );
    // Input gradient: ∂L/∂x = ∂L/∂z / std_c.
    let (_, gx) = engine::input_gradient(&inside, &params, &x, &labels);
    let (_, gz) = engine::input_gradient(&plain, &params, &z, &labels);
    for (i, (a, b)) in gx.iter().zip(&gz).enumerate() {
        let (_, s) = norm.channel((i / 1024) % 3);
        assert!((a - b / s).abs() <= 1e-5 * (1.0 + a.abs()), "element {i}: {a} vs {}", b / s);
    }
    // The quantized model: same input quantizer and the same integers.
    let opts = QuantOptions { scheme: QuantScheme::SignMagnitude, ..Default::default() };
    let qi = QuantModel::build(&inside, &params, &x, opts.clone()).unwrap();
    let qp = QuantModel::build(&plain, &params, &z, opts).unwrap();
    assert_eq!(qi.input, qp.input);
    assert_eq!(qi.layers, qp.layers);
    assert_eq!(qi.quantize_input(&x), qp.quantize_input(&z));
}

#[test]
fn linf_budget_in_normalized_units_is_the_pixel_budget_times_std() {
    // One channel: an Linf step of ε in z is ε·std in x, the bounds map onto [0, 1], and the
    // sign of the gradient is unchanged, so FGSM and Linf BIM must give the same examples.
    let arch = Arch::lenet5(Shape::new(1, 28, 28), 10);
    let params = common::random_params(&arch, 11);
    let x = common::random_images(&arch, 20, 12);
    let model = FloatClassifier { arch: &arch, params: &params };
    let labels: Vec<u8> = model.logits(&x).chunks_exact(10).map(|l| axdnn::accel::infer::argmax(l) as u8).collect();
    let crit = Criterion::Misclassification(labels);
    let norm = Normalization::mnist();
    for a in [Attack::Fgsm, Attack::LinfBim] {
        let ez = [Epsilon::new(0.1).unwrap(), Epsilon::new(0.3).unwrap()];
        let ex: Vec<Epsilon> = ez.iter().map(|e| Epsilon::new(e.0 * 0.3081).unwrap()).collect();
        let n = attack::run_normalized(
            a,
            a.default_params(),
            &model,
            &norm,
            arch.input,
            &x,
            &crit,
            &ez,
            &mut SeededNoise::new(1),
        )
        .unwrap();
        let p =
            attack::run(a, a.default_params(), &model, &Bounds::default(), &x, &crit, &ex, &mut SeededNoise::new(1))
                .unwrap();
        for k in 0..2 {
            let d = n.clipped[k].iter().zip(&p.clipped[k]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(d < 1e-5, "{a} eps {}: normalized and pixel examples differ by {d}", ez[k]);
            assert_eq!(n.success[k], p.success[k], "{a} eps {}", ez[k]);
            // The budget is used: the largest pixel change is ε·std.
            let m = n.clipped[k].iter().zip(&x).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!((m - ex[k].0).abs() < 1e-5, "{a}: max change {m}, budget {} pixels", ex[k].0);
        }
    }
}

#[test]
fn per_channel_budgets_and_bounds_on_cifar10() {
    let arch = Arch::alexnet(Shape::new(3, 32, 32), 10);
    let params = common::random_params(&arch, 21);
    let x = common::random_images(&arch, 8, 22);
    let model = FloatClassifier { arch: &arch, params: &params };
    let labels: Vec<u8> = model.logits(&x).chunks_exact(10).map(|l| axdnn::accel::infer::argmax(l) as u8).collect();
    let crit = Criterion::Misclassification(labels);
    let norm = Normalization::cifar10();
    let per = arch.input.numel();
    let chan = |i: usize| norm.channel((i % per) / 1024).1;
    // Linf: |δx_c| ≤ ε·std_c, reached on each channel; pixels stay in [0, 1].
    let e = 0.2f32;
    let out = attack::run_normalized(
        Attack::LinfPgd,
        Attack::LinfPgd.default_params(),
        &model,
        &norm,
        arch.input,
        &x,
        &crit,
        &[Epsilon::new(e).unwrap()],
        &mut SeededNoise::new(3),
    )
    .unwrap();
    let adv = &out.clipped[0];
    let mut reached = [0f32; 3];
    for (i, (a, b)) in adv.iter().zip(&x).enumerate() {
        assert!((0.0..=1.0).contains(a), "element {i} = {a} outside [0, 1]");
        let s = chan(i);
        assert!((a - b).abs() <= e * s + 1e-5, "element {i}: change {} > {}", (a - b).abs(), e * s);
        reached[(i % per) / 1024] = reached[(i % per) / 1024].max((a - b).abs() / s);
    }
    for (c, r) in reached.iter().enumerate() {
        assert!((r - e).abs() < 1e-3, "channel {c}: largest normalized change {r}, budget {e}");
    }
    // L2: ‖δx / std‖₂ ≤ ε per image, and the budget is used.
    let e = 1.0f32;
    let out = attack::run_normalized(
        Attack::L2Pgd,
        Attack::L2Pgd.default_params(),
        &model,
        &norm,
        arch.input,
        &x,
        &crit,
        &[Epsilon::new(e).unwrap()],
        &mut SeededNoise::new(4),
    )
    .unwrap();
    let mut largest = 0f32;
    for (k, (a, b)) in out.clipped[0].chunks_exact(per).zip(x.chunks_exact(per)).enumerate() {
        let l2: f32 = a.iter().zip(b).enumerate().map(|(i, (a, b))| ((a - b) / chan(i)).powi(2)).sum::<f32>().sqrt();
        assert!(l2 <= e * (1.0 + 1e-4), "image {k}: normalized L2 {l2} > {e}");
        largest = largest.max(l2);
    }
    assert!(largest > 0.9 * e, "the L2 budget is not used: {largest}");
    // Contrast reduction moves towards each channel's own grey: at a large budget every pixel
    // reaches 0.5 in pixel units (the middle of [0, 1] is the middle of each channel's interval).
    let out = attack::run_normalized(
        Attack::L2ContrastReduction,
        Attack::L2ContrastReduction.default_params(),
        &model,
        &norm,
        arch.input,
        &x,
        &crit,
        &[Epsilon::new(1e6).unwrap()],
        &mut SeededNoise::new(5),
    )
    .unwrap();
    assert!(out.clipped[0].iter().all(|v| (v - 0.5).abs() < 1e-5));
}

#[test]
fn bad_normalization_in_model_json_is_refused_by_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    let src = std::path::Path::new("models/lenet5-mnist");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["model.json", "model.safetensors"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let text = std::fs::read_to_string(dir.join("model.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    for (norm, want) in [
        (serde_json::json!({"mean": [0.1307], "std": [0.0]}), "normalize.std[0] is 0"),
        (
            serde_json::json!({"mean": [0.1, 0.2, 0.3], "std": [0.3]}),
            "normalize.mean has 3 entries, the input has 1 channels",
        ),
    ] {
        v["arch"]["normalize"] = norm;
        std::fs::write(dir.join("model.json"), serde_json::to_string_pretty(&v).unwrap()).unwrap();
        let e = axdnn::model::io::load(&dir).unwrap_err().to_string();
        assert!(e.contains("model.json") && e.contains(want), "{e}");
    }
    // A good one loads and is applied: the logits change.
    v["arch"]["normalize"] = serde_json::json!({"mean": [0.1307], "std": [0.3081]});
    std::fs::write(dir.join("model.json"), serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let m = axdnn::model::io::load(&dir).unwrap();
    assert_eq!(m.arch.normalize, Some(Normalization::mnist()));
}

#[test]
fn a_study_keys_its_rows_on_the_units() {
    use axdnn::study::{Inputs, Plan, Runner, Store};
    let Some(data) = common::data() else { return };
    let inputs = Inputs { data: Some(data), evoapprox: None };
    let text = |units: &str, eps: f32| {
        format!("name = \"units\"\nmodels = [\"models/lenet5-mnist\"]\nschemes = [\"sign-magnitude\"]\nmultipliers = [\"exact\"]\nattacks = [\"fgsm\"]\neps_linf = [{eps}]\neps_units = \"{units}\"\nimages = 60\nchunk = 60\ncalib = 64\n")
    };
    let tmp = tempfile::tempdir().unwrap();
    let run = |units: &str, eps: f32| {
        let p = Plan::from_toml(&text(units, eps), std::path::Path::new("units.toml"), &inputs).unwrap();
        Runner::new(p, inputs.clone()).quiet().run(tmp.path()).unwrap()
    };
    let e = 0.2f32;
    assert_eq!(run("pixel", e * 0.3081).cells_run, 1);
    // The same number in other units is another measurement, never a reuse.
    assert_eq!(run("normalized", e).cells_run, 1);
    assert_eq!(run("normalized", e).cells_run, 0);
    let store = Store::open(tmp.path()).unwrap();
    let rows: Vec<_> = store.rows().filter(|r| r.target == "float").collect();
    assert_eq!(rows.len(), 2);
    let (px, nz) = (
        rows.iter().find(|r| r.eps_units == "pixel").unwrap(),
        rows.iter().find(|r| r.eps_units == "normalized").unwrap(),
    );
    // ε normalized = ε·std pixels: the same examples up to rounding, so the same outcomes.
    assert_eq!(px.correct_bits, nz.correct_bits);
    assert!(px.correct < 60, "the attack does something");
    // A bad unit is refused with its key and line.
    let err =
        Plan::from_toml(&text("percent", e), std::path::Path::new("units.toml"), &inputs).unwrap_err().to_string();
    assert!(
        err.starts_with("units.toml:7:") && err.contains("`eps_units`") && err.contains("pixel or normalized"),
        "{err}"
    );
}
