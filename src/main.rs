//! The `axdnn` command: parse arguments, call into `cli`, turn errors into a message and exit code.

mod cli;

fn main() {
    if let Err(e) = cli::run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
