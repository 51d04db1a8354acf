use super::*;

/// A NetFlow v5 datagram of one flow, sampled 1 in `rate` by its header.
fn v5(packets: u32, octets: u32, rate: u16) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&5u16.to_be_bytes());
    d.extend_from_slice(&1u16.to_be_bytes());
    d.extend_from_slice(&10_000u32.to_be_bytes()); // uptime 10 s
    d.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    d.extend_from_slice(&[0; 4]);
    d.extend_from_slice(&[0; 6]); // sequence, engine type and id
    d.extend_from_slice(&rate.to_be_bytes());
    d.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    d.extend_from_slice(&[0; 8]);
    d.extend_from_slice(&packets.to_be_bytes());
    d.extend_from_slice(&octets.to_be_bytes());
    d.extend_from_slice(&9_000u32.to_be_bytes()); // first: 1 s before export
    d.extend_from_slice(&9_500u32.to_be_bytes());
    d.extend_from_slice(&[0x9c, 0x40, 0, 80, 0, 0x02, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    d
}

#[test]
fn v5_flow_times_rate_and_implausible_claims() {
    let mut c = Collector::new(1);
    let from = "192.0.2.1:2055".parse().unwrap();
    let mut out = Vec::new();
    c.datagram(from, &v5(3, 132, 10), &mut out).unwrap();
    let f = &out[0];
    assert_eq!((f.packets, f.bytes, f.rate), (3, 132, 10));
    assert_eq!(
        f.start_ns, 1_699_999_999_000_000_000,
        "uptime made absolute"
    );
    assert_eq!(f.end_ns, 1_699_999_999_500_000_000);
    assert_eq!(f.dst_port, 80);
    assert_eq!(c.stats.implausible_records, 0);
    c.datagram(from, &v5(1, 100_000, 0), &mut out).unwrap();
    assert_eq!(
        c.stats.implausible_records, 1,
        "100,000 bytes in one packet"
    );
    assert!(c.datagram(from, b"\x00\x05\x00\x01", &mut out).is_err());
    assert_eq!(c.stats.malformed_datagrams, 1);
}

/// A NetFlow v9 datagram: an options template (scope: system; option: sampling
/// interval) and its data, announcing 1 in `rate`.
fn v9_rate(rate: u32) -> Vec<u8> {
    let mut d = Vec::new();
    for w in [9u16, 2] {
        d.extend_from_slice(&w.to_be_bytes());
    }
    for w in [10_000u32, 1_700_000_000, 1, 0] {
        d.extend_from_slice(&w.to_be_bytes()); // uptime, secs, sequence, source id
    }
    // Options template 256: scope 4 bytes (system), option field 34 (4 bytes), padded.
    for w in [1u16, 20, 256, 4, 4, 1, 4, 34, 4, 0] {
        d.extend_from_slice(&w.to_be_bytes());
    }
    for w in [256u16, 12] {
        d.extend_from_slice(&w.to_be_bytes());
    }
    d.extend_from_slice(&[0, 0, 0, 1]);
    d.extend_from_slice(&rate.to_be_bytes());
    d
}

#[test]
fn announced_rates_are_bounded_by_exporters() {
    let mut c = Collector::new(1);
    let mut out = Vec::new();
    let n = MAX_EXPORTERS as u32 + 100;
    for i in 0..n {
        let ip = std::net::Ipv4Addr::from(0xC000_0000 + i);
        let from = SocketAddr::new(IpAddr::V4(ip), 2055);
        c.datagram(from, &v9_rate(10), &mut out).unwrap();
    }
    assert_eq!(c.stats.options_records, n as u64, "{:?}", c.stats);
    assert_eq!(c.rates().len(), MAX_EXPORTERS);
    assert_eq!(c.stats.exporters_forgotten, 100);
    // The latest are kept, the first forgotten.
    let last = IpAddr::V4(std::net::Ipv4Addr::from(0xC000_0000 + n - 1));
    assert_eq!(c.rate_of(last, None), 10);
    let first = IpAddr::V4(std::net::Ipv4Addr::from(0xC000_0000u32));
    assert_eq!(c.rate_of(first, None), 1, "forgotten: the fallback");
}

/// A NetFlow v9 datagram from source id 1: its template 256 (addresses, packets, bytes,
/// ports, protocol, flags, first and last), its one data record (a SYN), or both.
fn v9(template: bool, data: bool) -> Vec<u8> {
    let mut d = Vec::new();
    let count = u16::from(template) + u16::from(data);
    d.extend_from_slice(&9u16.to_be_bytes());
    d.extend_from_slice(&count.to_be_bytes());
    d.extend_from_slice(&10_000u32.to_be_bytes()); // uptime 10 s
    d.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    d.extend_from_slice(&[0, 0, 0, 1]); // sequence
    d.extend_from_slice(&[0, 0, 0, 1]); // source id
    let fields: [(u16, u16); 10] = [
        (8, 4),
        (12, 4),
        (2, 4),
        (1, 4),
        (7, 2),
        (11, 2),
        (4, 1),
        (6, 1),
        (22, 4),
        (21, 4),
    ];
    if template {
        d.extend_from_slice(&0u16.to_be_bytes());
        d.extend_from_slice(&(8 + 4 * fields.len() as u16).to_be_bytes());
        d.extend_from_slice(&256u16.to_be_bytes());
        d.extend_from_slice(&(fields.len() as u16).to_be_bytes());
        for (t, l) in fields {
            d.extend_from_slice(&t.to_be_bytes());
            d.extend_from_slice(&l.to_be_bytes());
        }
    }
    if data {
        d.extend_from_slice(&256u16.to_be_bytes());
        d.extend_from_slice(&36u16.to_be_bytes()); // 4 + 30, padded to 36
        d.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        d.extend_from_slice(&1u32.to_be_bytes()); // packets
        d.extend_from_slice(&44u32.to_be_bytes()); // bytes
        d.extend_from_slice(&[0x9c, 0x40, 0, 22, 6, 0x02]); // ports, TCP, SYN
        d.extend_from_slice(&9_000u32.to_be_bytes()); // first
        d.extend_from_slice(&9_000u32.to_be_bytes()); // last
        d.extend_from_slice(&[0, 0]);
    }
    d
}

/// Data that comes before its template is held, then decoded when the template comes.
#[test]
fn data_before_its_template_waits_for_it() {
    let from: SocketAddr = "192.0.2.9:2055".parse().unwrap();
    let mut c = Collector::new(1);
    let mut flows = Vec::new();
    c.datagram(from, &v9(true, true), &mut flows).unwrap();
    assert_eq!(flows.len(), 1, "template and data together");
    let mut c = Collector::new(1);
    let mut flows = Vec::new();
    let _ = c.datagram(from, &v9(false, true), &mut flows);
    assert!(flows.is_empty());
    assert_eq!(c.templates()[0].waiting, 1, "{:?}", c.templates());
    assert_eq!(c.data_without_template(), 1, "waiting: not decoded yet");
    c.datagram(from, &v9(true, false), &mut flows).unwrap();
    assert_eq!(flows.len(), 1, "decoded once the template came: {flows:?}");
    let f = &flows[0];
    assert_eq!(
        (f.src_port, f.dst_port, f.packets, f.tcp_flags),
        (40000, 22, 1, 0x02)
    );
    assert_eq!(c.templates()[0].waiting, 0);
    assert_eq!(c.data_without_template(), 0, "decoded: nothing lost");
    // Data whose template never comes is a loss.
    let mut c = Collector::new(1);
    let _ = c.datagram(from, &v9(false, true), &mut flows);
    let other: SocketAddr = "192.0.2.10:2055".parse().unwrap();
    let _ = c.datagram(other, &v9(false, true), &mut flows);
    assert_eq!(c.data_without_template(), 2);
}
