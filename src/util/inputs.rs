//! Where third-party inputs are: the dataset folder and the EvoApprox library folder, each from
//! its flag, else its environment variable, else the `../shared` sibling of a checkout.

use std::path::PathBuf;

/// Options that are not part of a plan: where third-party inputs are.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The dataset folder, if any (see [`default_inputs`]).
    pub data: Option<PathBuf>,
    /// The EvoApprox library folder, if any (see [`default_inputs`]).
    pub evoapprox: Option<PathBuf>,
}

/// Where third-party inputs are, as flags: every command that reads data or multipliers takes
/// these; [`InputFlags::resolve`] fills in what is not given.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct InputFlags {
    /// Dataset folder (default: $AXDNN_DATA, else ../shared/data when present).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// EvoApprox library folder (default: $AXDNN_EVOAPPROX, else ../shared/evoapprox when present).
    #[arg(long)]
    pub evoapprox: Option<PathBuf>,
}

impl InputFlags {
    /// The folders given, else found ([`default_inputs`]).
    pub fn resolve(&self) -> Inputs {
        default_inputs(self.data.clone(), self.evoapprox.clone())
    }
}

/// What to do when no dataset folder is found (every command says it alike).
pub const NO_DATA: &str = "no dataset folder: pass --data DIR, set AXDNN_DATA, or put it in ../shared/data";

/// Both folders: each the flag, else `$AXDNN_DATA` / `$AXDNN_EVOAPPROX`, else `../shared/data`
/// / `../shared/evoapprox` when present.
pub fn default_inputs(data: Option<PathBuf>, evoapprox: Option<PathBuf>) -> Inputs {
    Inputs { data: data_folder(data), evoapprox: locate(evoapprox, "AXDNN_EVOAPPROX", "../shared/evoapprox") }
}

/// The dataset folder: the flag, else `$AXDNN_DATA`, else `../shared/data` when present.
pub fn data_folder(arg: Option<PathBuf>) -> Option<PathBuf> {
    locate(arg, "AXDNN_DATA", "../shared/data")
}

/// A third-party folder: the flag, then the environment variable, then `fallback` (the
/// `../shared/...` sibling of a checkout) when it exists.
pub fn locate(arg: Option<PathBuf>, var: &str, fallback: &str) -> Option<PathBuf> {
    arg.or_else(|| std::env::var_os(var).filter(|s| !s.is_empty()).map(Into::into))
        .or_else(|| Some(PathBuf::from(fallback)).filter(|p| p.is_dir()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_wins_over_the_environment() {
        let flags = InputFlags { data: Some("d".into()), evoapprox: Some("e".into()) };
        let i = flags.resolve();
        assert_eq!((i.data.as_deref(), i.evoapprox.as_deref()), (Some("d".as_ref()), Some("e".as_ref())));
        assert_eq!(locate(None, "AXDNN_TEST_UNSET_VARIABLE", "/nonexistent/fallback"), None);
    }
}
