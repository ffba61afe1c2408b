//! Why a scheme fails with an approximate multiplier: per conv layer, the mean signed product
//! error the multiplier adds (activation codes uniform over 0..=255, the layer's actual weight
//! codes) next to the mean magnitude of the exact term. A consistent-sign error accumulates over
//! the K products of an output; a sign-alternating one cancels.
//!
//! `AXDNN_DATA=... AXDNN_EVOAPPROX=... cargo run --release --example accel_product_bias -- models/lenet5-mnist mul8u_12N4`
use axdnn::quant::*;
use std::path::{Path, PathBuf};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (model, mult) = (args.get(1).map_or("models/lenet5-mnist", |s| s), args.get(2).map_or("mul8u_12N4", |s| s));
    let data = PathBuf::from(std::env::var_os("AXDNN_DATA").expect("AXDNN_DATA"));
    let root = PathBuf::from(std::env::var_os("AXDNN_EVOAPPROX").expect("AXDNN_EVOAPPROX"));
    let m = axdnn::model::io::load(Path::new(model)).unwrap();
    let ds = axdnn::data::load(m.meta.dataset, axdnn::data::Split::Train, &data).unwrap();
    let idx = calibration_indices(ds.len(), 64, 0);
    let calib: Vec<f32> = idx.iter().flat_map(|&i| ds.image(i).to_vec()).collect();
    let l = axdnn::mult::resolve::resolve(mult, false, false, Some(&root)).unwrap().lut.unwrap();
    for scheme in [QuantScheme::AsymU8, QuantScheme::SignMagnitude] {
        let qm = QuantModel::build(&m.arch, &m.params, &calib, QuantOptions { scheme, ..Default::default() }).unwrap();
        for g in qm.gemms().filter(|g| matches!(g.kind, GemmKind::Conv { .. })) {
            let (mut err, mut sig) = (0f64, 0f64);
            let n = g.w.len() as f64 * 256.0;
            for &w in &g.w {
                let (c, neg) = scheme.wgt_operand(w);
                for a in 0..256u32 {
                    let e = (l.get(a, c as u32) - (a * c as u32) as i32) as f64;
                    err += if neg { -e } else { e };
                    sig += (a as f64 * (w - g.w_params[0].zero_point) as f64).abs();
                }
            }
            println!(
                "{mult} {scheme} {}: z_w {}, K {}: mean signed product error {:.1}, mean |exact term| {:.1}",
                g.name,
                g.w_params[0].zero_point,
                g.k,
                err / n,
                sig / n
            );
        }
    }
}
