//! Fuzz target: the netlist front end (parse, elaborate, check) must never panic, whatever the
//! bytes; it returns a netlist or a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let src = String::from_utf8_lossy(data);
    let _ = axdnn::netlist::parse_str(&src, std::path::Path::new("fuzz.v"));
});
