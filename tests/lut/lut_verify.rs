//! `lut verify` logic: published figures, documented deviations, tamper detection.

use axdnn::lut::verify::{self, Options, Outcome};
use std::path::PathBuf;

use crate::common;

fn evo() -> Option<PathBuf> {
    common::evoapprox()
}

#[test]
fn signedness_from_names() {
    // One rule for every command (it once had three copies that disagreed on `mul8x4s_*`).
    use axdnn::sim::signed_from_name;
    assert_eq!(signed_from_name("mul8s_1KVA"), Some(true));
    assert_eq!(signed_from_name("mul12s_2KM"), Some(true));
    assert_eq!(signed_from_name("mul8x4s_0AB"), Some(true));
    assert_eq!(signed_from_name("mul8u_JV3"), Some(false));
    assert_eq!(signed_from_name("mul8x4u_0AB"), Some(false));
    assert_eq!(signed_from_name("mul8_001"), None);
    assert_eq!(signed_from_name("mul8u_gen_trunc4"), Some(false));
    let v = std::path::Path::new("x/mul8x4s_0AB.v");
    assert!(axdnn::mult::resolve::signed_by_name("top", v));
    assert!(!axdnn::mult::resolve::signed_by_name("mul8u_X", std::path::Path::new("mul8u_X.v")));
}

#[test]
fn all_8x8_circuits_verify_with_c_models() {
    let Some(root) = evo() else { return };
    let mut reports = Vec::new();
    for sub in ["evoapproxlib/8x8_unsigned", "evoapproxlib/8x8_signed"] {
        let cs = verify::discover(&root.join(sub)).unwrap();
        let bar = indicatif::ProgressBar::hidden();
        let mut rs = verify::simulate_all(&cs, &Options::default(), &bar);
        verify::compare_c_all(&mut rs, &bar);
        reports.extend(rs);
    }
    assert_eq!(reports.len(), 36 + 13);
    for r in &reports {
        assert!(r.ok(), "{}", verify::table(std::slice::from_ref(r)));
        assert!(matches!(r.c, verify::CResult::Match(65536)), "{}: {:?}", r.circuit.name, r.c);
        assert!(r.checks.len() >= 8, "{}: {} figures checked", r.circuit.name, r.checks.len());
    }
    // The README's documented MAE% deviations appear, and nowhere else.
    let dev: Vec<&str> =
        reports.iter().filter(|r| !r.documented().is_empty()).map(|r| r.circuit.name.as_str()).collect();
    assert_eq!(dev, ["mul8s_1KRC", "mul8s_1KVA", "mul8s_1KVB"]);
    // Every signed circuit has its PDK45 twin, with the same table.
    assert_eq!(reports.iter().filter(|r| r.pdk45_same == Some(true)).count(), 13 + 1);
}

#[test]
fn a_tampered_netlist_fails() {
    let Some(root) = evo() else { return };
    let src = std::fs::read_to_string(root.join("evoapproxlib/8x8_unsigned/pareto_pwr_wce/mul8u_JV3.v")).unwrap();
    let bad = src.replacen("assign sig_293 = sig_265 | sig_247;", "assign sig_293 = sig_265 & sig_247;", 1);
    assert_ne!(bad, src);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mul8u_JV3.v"), &bad).unwrap();
    let cs = verify::discover(dir.path()).unwrap();
    let r = verify::simulate(&cs[0], &Options::default());
    assert!(!r.ok());
    assert!(r.checks.iter().any(|c| c.outcome == Outcome::Mismatch));
}

#[test]
fn last_digit_deviation_is_limited_to_evoapprox8b_headers() {
    let Some(root) = evo() else { return };
    // mul8_001: header MAE 239.95550, exact 15725724/65536 = 239.9555054 -> documented.
    let cs = verify::discover(&root.join("evoapprox8b/source_v/mul8_001_pdk45.v")).unwrap();
    let r = verify::simulate(&cs[0], &Options::default());
    assert!(r.ok());
    let mae = r.checks.iter().find(|c| c.metric == "MAE").unwrap();
    assert!(matches!(mae.outcome, Outcome::Documented(_)), "{mae:?}");
}

/// The whole library (C models excluded): every circuit verifies, and the documented deviations
/// occur exactly as often as the EvoApprox README counts them (21 header MAE, 5 MSE, 3 MRE
/// last-digit cases in evoapprox8b; 5 MAE% from a rounded MAE).
#[test]
fn whole_library_without_c_and_deviation_counts() {
    let Some(root) = evo() else { return };
    let cs = verify::discover(&root).unwrap();
    assert_eq!(cs.len(), 840);
    let rs = verify::simulate_all(&cs, &Options::default(), &indicatif::ProgressBar::hidden());
    let failed: Vec<String> = rs.iter().filter(|r| !r.ok()).map(|r| verify::table(std::slice::from_ref(r))).collect();
    assert!(failed.is_empty(), "{failed:?}");
    let count = |metric: &str, needle: &str| {
        rs.iter()
            .flat_map(|r| &r.checks)
            .filter(|c| c.metric == metric && matches!(c.outcome, Outcome::Documented(why) if why.contains(needle)))
            .count()
    };
    assert_eq!(count("MAE", "evoapprox8b header MAE"), 21);
    assert_eq!(count("MSE", "evoapprox8b header MSE"), 5);
    assert_eq!(count("MRE%", "evoapprox8b header MRE"), 3);
    assert_eq!(count("MAE%", "rounded to one decimal"), 5);
    assert_eq!(rs.iter().filter(|r| r.pdk45_same == Some(true)).count(), 591);
}
