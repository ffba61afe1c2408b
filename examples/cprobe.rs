//! Exhaustive metrics of one EvoApprox C model (debug aid): cprobe FILE.c NAME N M SIGNED
use axdnn::lut::{cmodel::CModel, Metrics};
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (n, m): (u32, u32) = (a[3].parse().unwrap(), a[4].parse().unwrap());
    let signed = a[5] == "1";
    let cm = CModel::build(a[1].as_ref(), &a[2], n, m, signed).unwrap();
    let v = cm.exhaustive().unwrap();
    let lut = axdnn::Lut { name: a[2].clone(), row_bits: n, col_bits: m, signed, row_port: axdnn::RowPort::A, table: v.iter().map(|&x| x as i32).collect(), power_mw: None };
    let mt = Metrics::of_lut(&lut);
    println!("{mt:?}");
}
