//! One check per kind of value, shared by command-line flags (as clap value parsers) and plan
//! files (by the plan parser), so a value refused in one place is refused everywhere, in the
//! same words. A flag's error is prefixed by clap with the flag; a plan's by file:line:col.

/// A clock frequency in GHz: finite and positive (energy is P / f).
pub fn clock_ghz(v: f64) -> Result<f64, String> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("{v} is not a clock: give a positive number of GHz"))
    }
}

/// A count of images, cells or calibration images: at least 1.
pub fn count(v: usize) -> Result<usize, String> {
    if v > 0 {
        Ok(v)
    } else {
        Err("must be at least 1".into())
    }
}

/// A perturbation budget: finite and not negative.
pub fn budget(v: f32) -> Result<f32, String> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("epsilon {v} is not a finite non-negative number"))
    }
}

/// `--clock-ghz` (see [`clock_ghz`]).
pub fn parse_clock_ghz(s: &str) -> Result<f64, String> {
    clock_ghz(s.trim().parse::<f64>().map_err(|e| format!("'{s}': {e}"))?)
}

/// `--n`, `--calib`, `--batch` (see [`count`]).
pub fn parse_count(s: &str) -> Result<usize, String> {
    count(s.trim().parse::<usize>().map_err(|e| format!("'{s}': {e}"))?)
}

/// `--eps` and the budget lists (see [`budget`]).
pub fn parse_budget(s: &str) -> Result<f32, String> {
    budget(s.trim().parse::<f32>().map_err(|e| format!("'{s}': {e}"))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_everywhere_alike() {
        for s in ["0", "-1", "nan", "inf", "x"] {
            assert!(parse_clock_ghz(s).is_err(), "{s}");
        }
        assert_eq!(parse_clock_ghz(" 2.5"), Ok(2.5));
        assert!(parse_count("0").is_err() && parse_count("-3").is_err());
        assert_eq!(parse_count("7"), Ok(7));
        for s in ["-0.1", "nan", "inf"] {
            assert!(parse_budget(s).is_err(), "{s}");
        }
        assert_eq!(parse_budget("0"), Ok(0.0));
    }
}
