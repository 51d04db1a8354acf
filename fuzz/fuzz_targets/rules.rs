//! Rule files (TOML): parse or report errors, never a panic or a stack overflow.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = flowsentry::rules::parse_rules(text, "fuzz.toml");
    }
});
