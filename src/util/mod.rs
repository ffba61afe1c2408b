//! The bottom layer: what every other module shares and that knows nothing of the domain —
//! source spans for errors, atomic file writes, the cache folder, content hashes, where
//! third-party inputs are, NumPy files, the checks of values that flags and plan files share, the 95 %
//! interval of a measured proportion.

pub mod error;
pub mod fs;
pub mod hash;
pub mod inputs;
pub mod names;
pub mod npy;
pub mod stats;
pub mod values;

pub use error::Span;
pub use fs::{cache_dir, write_atomic};
pub use hash::{sha256_file, sha256_hex};
