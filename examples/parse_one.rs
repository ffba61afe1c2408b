// Parse one file many times (developer aid for profiling).
fn main() {
    let p = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let src = std::fs::read_to_string(&p).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..5000 { axdnn::netlist::parse::parse_source(&src).unwrap(); }
    eprintln!("{:.1} us/parse_source", t.elapsed().as_secs_f64() / 5000.0 * 1e6);
}
