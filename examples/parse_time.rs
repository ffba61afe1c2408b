// Timing split of the front end over the whole library (developer aid).
use std::time::Instant;
fn walk(d: &std::path::Path, v: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { walk(&p, v) } else if p.extension().is_some_and(|e| e == "v") { v.push(p) }
    }
}
fn main() {
    let root = std::path::PathBuf::from(std::env::var("AXDNN_EVOAPPROX").unwrap());
    let mut files = Vec::new();
    walk(&root, &mut files);
    let t = Instant::now();
    let srcs: Vec<String> = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    eprintln!("read {:.3}", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let mut n = 0;
    for s in &srcs { n += axdnn::netlist::parse::parse_source(s).unwrap().modules.len(); }
    eprintln!("parse {:.3} ({n} modules)", t.elapsed().as_secs_f64());
    let t = Instant::now();
    for (s, f) in srcs.iter().zip(&files) { axdnn::netlist::parse_str(s, f).unwrap(); }
    eprintln!("parse+build {:.3}", t.elapsed().as_secs_f64());
}
