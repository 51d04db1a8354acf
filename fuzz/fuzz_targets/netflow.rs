//! NetFlow v5/v9, IPFIX and sFlow v5 datagrams: never a panic, whatever the bytes,
//! templates and claims. The input is a sequence of datagrams from one exporter, each prefixed by its
//! length (2 bytes, big-endian), so templates in one can meet data in the next; every flow
//! then becomes a bounded number of weighted records.
//!
//! One collector serves every input (making one costs more than most inputs: the parser
//! reserves its exporter caches), each input from an exporter address of its own. An
//! exporter's templates, sampling rate and boot time are kept per address, so an input
//! sees only its own, as in a fresh process (where a crash is replayed): the other
//! exporters are bounded (`MAX_EXPORTERS`, least recently seen forgotten) and invisible to it.
#![no_main]
use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use flowsentry::netflow::Collector;
use libfuzzer_sys::fuzz_target;

thread_local! {
    static COLLECTOR: RefCell<(Collector, u32)> = RefCell::new((Collector::new(1), 0));
}

fuzz_target!(|data: &[u8]| {
    COLLECTOR.with_borrow_mut(|(c, n)| {
        *n = n.wrapping_add(1);
        let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(*n)), 2055);
        let (mut rest, mut flows, mut packets) = (data, Vec::new(), Vec::new());
        while rest.len() >= 2 {
            let len = (u16::from_be_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 2);
            let _ = c.decode(from, 0, &rest[2..2 + len], &mut flows, &mut packets);
            rest = &rest[2 + len..];
        }
        // sFlow: a sampled packet a header, each header at least its length's 4 bytes.
        assert!(packets.len() <= data.len() / 4, "{} packets", packets.len());
        // Each datagram's flows together: a bounded number of records. The bound holds for
        // any batch; at an hour's batch most flows are one piece, so the time goes to the
        // datagram parser (the pmacct target fuzzes the expansion at a tenth of a second).
        let mut out = Vec::new();
        flowsentry::flow::weighted_all(&flows, 3_600_000_000_000, &mut out);
        let pieces = flowsentry::flow::PIECES_PER_MESSAGE as usize + 2 * flows.len();
        assert!(out.len() <= 6 * pieces, "{} records of {} flows", out.len(), flows.len());
    });
});
