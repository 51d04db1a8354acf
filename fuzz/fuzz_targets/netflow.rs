//! NetFlow v5/v9 and IPFIX datagrams: never a panic, whatever the bytes, templates and
//! claims. The input is a sequence of datagrams from one exporter, each prefixed by its
//! length (2 bytes, big-endian), so templates in one can meet data in the next; every flow
//! then becomes a bounded number of weighted records.
#![no_main]
use flowsentry::netflow::Collector;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut c = Collector::new(1);
    let from = "192.0.2.1:2055".parse().unwrap();
    let (mut rest, mut flows) = (data, Vec::new());
    while rest.len() >= 2 {
        let n = (u16::from_be_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 2);
        let _ = c.datagram(from, &rest[2..2 + n], &mut flows);
        rest = &rest[2 + n..];
    }
    // Each datagram's flows together: a bounded number of records.
    let mut out = Vec::new();
    flowsentry::flow::weighted_all(&flows, 100_000_000, &mut out);
    let pieces = flowsentry::flow::PIECES_PER_MESSAGE as usize + 2 * flows.len();
    assert!(out.len() <= 6 * pieces, "{} records of {} flows", out.len(), flows.len());
});
