//! pmacct JSON flow messages: never a panic, whatever the claims.
#![no_main]
use flowsentry::kafka::pmacct::decode_message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let _ = decode_message(data, &mut out);
});
