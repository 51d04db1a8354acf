//! pmacct JSON flow messages: never a panic, whatever the claims, and a bounded number of
//! weighted records per flow (the cost of a flow does not grow with the packets it claims).
#![no_main]
use flowsentry::kafka::pmacct::decode_message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    // A tenth of a second: the most pieces a long flow can become.
    let _ = decode_message(data, 100_000_000, &mut out);
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    let most = 6 * (flowsentry::flow::PIECES_PER_MESSAGE as usize + 2 * lines);
    assert!(out.len() <= most, "{} records from {lines} lines", out.len());
});
