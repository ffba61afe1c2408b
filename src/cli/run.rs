//! `axdnn run`: the main job on built-in defaults ([`axdnn::study::main_job`]).

use axdnn::study::main_job::MainJob;
use axdnn::util::inputs::InputFlags;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct RunArgs {
    /// Trained model folder.
    #[arg(long, default_value = "models/lenet5-mnist")]
    pub model: PathBuf,
    /// Output folder (report.md, accuracy/, robustness/, netlists/).
    #[arg(long, default_value = "runs/main")]
    pub out: PathBuf,
    /// Test images per accuracy measurement.
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    #[command(flatten)]
    pub inputs: InputFlags,
    /// Print the table's rows as JSON (after the report is written).
    #[arg(long)]
    pub json: bool,
    /// Skip compiling the EvoApprox C models.
    #[arg(long)]
    pub no_c: bool,
}

pub fn run_cmd(a: RunArgs) -> anyhow::Result<()> {
    let job = MainJob { model: a.model, out: a.out, n: a.n, with_c: !a.no_c };
    let r = job.run(&a.inputs.resolve(), &|s| eprintln!("{s}"))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r.rows)?);
        return Ok(());
    }
    if !r.verification.is_empty() {
        println!("{}", r.verification);
    }
    print!("{}", r.report);
    eprintln!(
        "wrote {} ({}/ and {}/ hold the keyed, resumable results)",
        job.out.join("report.md").display(),
        r.accuracy_dir.display(),
        r.robustness_dir.display()
    );
    Ok(())
}
