//! The `axdnn` command: parse arguments, call into `cli`, turn errors into a message and exit code.

mod cli;

fn main() {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`axdnn arch | head -n1`) would panic;
    // the default action ends the process quietly, as for any Unix filter.
    #[cfg(unix)]
    // SAFETY: called first thing, before any thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    if let Err(e) = cli::run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
