//! Evaluate one operand pair with the scalar oracle and the bit-parallel simulator (debug aid).
use axdnn::mult::{Multiplier, RowPort};
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let p = axdnn::netlist::parse_file(a[1].as_ref()).unwrap();
    let (x, y): (u32, u32) = (a[2].parse().unwrap(), a[3].parse().unwrap());
    let net = &p.netlist;
    let bits = |v: u32, w: usize| (0..w).map(|i| (v >> i) & 1 == 1).collect::<Vec<_>>();
    let ins: Vec<Vec<bool>> = net.inputs.iter().map(|q| bits(if q.name == "A" { x } else { y }, q.width())).collect();
    let o = &net.eval_scalar(&ins)[0];
    let v = o.iter().enumerate().fold(0u64, |s, (i, &b)| s | (b as u64) << i);
    let m = axdnn::sim::NetlistMultiplier::new(net, RowPort::A, false).unwrap();
    println!("scalar {v} sim {}", m.mul(x, y));
}
