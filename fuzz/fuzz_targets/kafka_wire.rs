//! The Kafka packet-record wire format: any message decodes or errors, and what decodes
//! encodes back to a message that decodes to the same records.
#![no_main]
use flowsentry::kafka::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    if wire::decode(data, &mut out).is_ok() {
        let again = wire::encode(&out);
        let mut back = Vec::new();
        wire::decode(&again, &mut back).expect("re-encoded message decodes");
        assert_eq!(back, out);
    }
});
