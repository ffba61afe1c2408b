//! A small robustness study through the library API, without the CLI: a plan built in code,
//! run into a results folder (resumable: run it twice and the second run reuses every row),
//! then the report and plots built from that folder alone.
//!
//! ```text
//! cargo run --release --example study [-- OUT_DIR]
//! ```
//! Reads MNIST from `$AXDNN_DATA` (else `../shared/data`); uses only multipliers from this
//! repository, so the EvoApprox library is not needed.

use axdnn::study::{report, Plan, Runner};
use axdnn::util::inputs::default_inputs;
use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("runs/example-study"));
    let inputs = default_inputs(None, None);
    // Every key of a plan file can be given; unset ones take the documented defaults.
    let plan = Plan::from_toml(
        r#"
        name = "example"
        models = ["models/lenet5-mnist"]
        schemes = ["sign-magnitude"]
        multipliers = ["exact", "netlists/gen/mul8u_gen_trunc8.v", "netlists/gen/mul8u_gen_bam_h2v8.v"]
        attacks = ["fgsm", "linf-pgd", "l2-contrast"]
        eps_linf = [0.0, 0.05, 0.1]
        eps_l2 = [0.0, 1.0, 2.0]
        images = 200
        chunk = 100
        "#,
        Path::new("examples/study.rs"),
        &inputs,
    )?;
    println!("{} cells", axdnn::study::cell::cells(&plan, &axdnn::study::cell::ModelInfo::of_plan(&plan)?).len());
    let summary = Runner::new(plan, inputs).run(&out)?;
    println!("{summary}");
    let text = report::write(&out)?;
    // The verdict, programmatically: each approximate multiplier against the exact one.
    let res = report::Results::open(&out)?;
    let cs = report::comparisons(&res);
    let v = report::verdict(&cs.iter().collect::<Vec<_>>());
    println!(
        "{} comparisons: {} significantly more robust than exact, {} less (McNemar, Holm, α = 0.05)",
        v.cells, v.better, v.worse
    );
    println!("report: {} ({} lines)", out.join("report.md").display(), text.lines().count());
    Ok(())
}
