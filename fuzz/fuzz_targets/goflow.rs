//! goflow2 flow messages (protobuf, length-delimited or bare, and JSON): never a panic, and
//! a bounded number of weighted records per message whatever the flows claim.
#![no_main]
use flowsentry::kafka::goflow::{decode_json, decode_protobuf};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let most = 6 * (flowsentry::flow::PIECES_PER_MESSAGE as usize + 2 * data.len());
    for decode in [decode_protobuf, decode_json] {
        let mut out = Vec::new();
        // A tenth of a second: the most pieces a long flow can become.
        let _ = decode(data, 100_000_000, &mut out);
        assert!(out.len() <= most, "{} records from {} bytes", out.len(), data.len());
    }
});
