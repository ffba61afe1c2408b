//! Bit-level mode: the PEs evaluate the multiplier's gate netlist through the bit-parallel
//! simulator (`NetlistMultiplier::mul_batch`); logits must equal the LUT path exactly, in both
//! engines.

use crate::common;

use axdnn::accel::{AccelConfig, Accelerator, ArrayShape, Dataflow, Engine};
use axdnn::lut::exhaustive_lut;
use axdnn::model::{Arch, Shape};
use axdnn::mult::NetlistMultiplier;
use axdnn::mult::{Multiplier, RowPort};
use axdnn::netlist::Netlist;
use axdnn::quant::{ApproxLayers, QuantModel, QuantOptions, QuantScheme};

fn check(net: &Netlist, signed: bool, scheme: QuantScheme) {
    let arch = Arch::lenet5(Shape::new(1, 28, 28), 10);
    let params = common::random_params(&arch, 3);
    let calib = common::random_images(&arch, 8, 4);
    let imgs = common::random_images(&arch, 2, 5);
    let opts = QuantOptions { scheme, approx: ApproxLayers::All, ..Default::default() };
    let qm = QuantModel::build(&arch, &params, &calib, opts).unwrap();
    let lut = exhaustive_lut(net, RowPort::B, signed).unwrap();
    let bits = NetlistMultiplier::new(net, RowPort::B, signed).unwrap();
    assert!(bits.table().is_none());
    let base = AccelConfig::default();
    let want = Accelerator::new(&qm, &lut, base).unwrap().run(&imgs).unwrap();
    let fast_bits = Accelerator::new(&qm, &bits, base).unwrap().run(&imgs).unwrap();
    assert_eq!(want.acc, fast_bits.acc, "{} fast", net.name);
    assert_eq!(want.logits, fast_bits.logits);
    let cyc =
        AccelConfig { engine: Engine::Cycle, array: ArrayShape { rows: 8, cols: 8 }, dataflow: Dataflow::Os, ..base };
    let cycle_bits = Accelerator::new(&qm, &bits, cyc).unwrap().run(&imgs[..arch.input.numel()]).unwrap();
    assert_eq!(&want.acc[..10], &cycle_bits.acc[..], "{} cycle-stepped", net.name);
}

#[test]
fn generated_truncated_multiplier_bit_level_equals_lut() {
    // Our own generated netlist (no third-party data needed).
    let spec = axdnn::gen::parse_spec("trunc:8x8:5").unwrap();
    let net = spec.netlist();
    check(&net, false, QuantScheme::AsymU8);
    check(&net, false, QuantScheme::SignMagnitude);
}

#[test]
fn evoapprox_multipliers_bit_level_equal_lut() {
    let Some(root) = common::evoapprox() else { return };
    for (name, signed, scheme) in [("mul8u_L40", false, QuantScheme::AsymU8), ("mul8s_1L2D", true, QuantScheme::SymS8)]
    {
        let path = axdnn::mult::resolve::find_in_tree(&root, name).expect(name);
        let parsed = axdnn::netlist::parse_file(&path).unwrap();
        check(&parsed.netlist, signed, scheme);
    }
    // The library's exact circuit gives the built-in exact table.
    let p = axdnn::mult::resolve::resolve("mul8u_1JFF", false, false, Some(&root)).unwrap();
    assert_eq!(p.lut.unwrap().table, axdnn::Lut::exact(8, 8, false).table);
    assert_eq!(p.power_mw, Some(0.391));
}
