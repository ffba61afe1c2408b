//! Attacks: Foolbox 3 semantics (against Foolbox itself), properties, BPDA, the CLI, transferability.
//!
//! One test binary per area (each file below is one module), sharing `tests/common`.

#[path = "../common/mod.rs"]
mod common;

mod attack_apgd;
mod attack_autoattack;
mod attack_bpda;
mod attack_cli;
mod attack_foolbox;
mod attack_foolbox_lenet5;
mod attack_props;
mod attack_square;
mod transfer_cli;
