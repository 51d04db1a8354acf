use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

/// The per-packet expansion the weighted records stand for (the module documentation), one
/// record per packet: the reference the weighted records are checked against.
fn expand(f: &Flow) -> Vec<Record> {
    let n = f.packets.max(1);
    let flags = f.flags(n);
    (0..n)
        .map(|i| Record {
            ts_ns: f.ts(i, n),
            ip_len: f.bytes_of(i, i + 1, n) as u32,
            proto: f.proto,
            tcp_flags: flags[if i == 0 {
                0
            } else if i == n - 1 {
                2
            } else {
                1
            }],
            ..Default::default()
        })
        .collect()
}

/// Per batch: packets, bytes, SYN, SYN-ACK, RST, FIN, and the first packet's time.
type Sums = BTreeMap<u64, [u64; 7]>;

fn sums(recs: impl Iterator<Item = Record>, batch_ns: u64) -> Sums {
    let mut m = Sums::new();
    for r in recs {
        let w = r.packets() as u64;
        let e = m
            .entry(r.ts_ns / batch_ns)
            .or_insert([0, 0, 0, 0, 0, 0, u64::MAX]);
        e[0] += w;
        e[1] += r.bytes();
        e[2] += r.is_syn() as u64 * w;
        e[3] += r.is_synack() as u64 * w;
        e[4] += r.is_rst() as u64 * w;
        e[5] += r.is_fin() as u64 * w;
        e[6] = e[6].min(r.ts_ns);
    }
    m
}

fn flow(packets: u64, bytes: u64, start: u64, len: u64, flags: u8, sport: u16) -> Flow {
    Flow {
        src: Addr::v4([10, 0, 0, 1]),
        dst: Addr::v4([10, 0, 0, 2]),
        src_port: sport,
        dst_port: 40000,
        proto: proto::TCP,
        tcp_flags: flags,
        icmp_type: 0,
        packets,
        bytes,
        start_ns: start,
        end_ns: start + len,
        rate: 1,
    }
}

proptest! {
    /// Every batch counts what the per-packet expansion gives it, and a flow's records
    /// number at most three per batch it spans.
    #[test]
    fn weighted_records_sum_like_the_expansion(
        packets in 1u64..3000,
        per in 20u64..1500,
        start in 0u64..10_000_000_000,
        len in 0u64..20_000_000_000,
        flags in any::<u8>(),
        sport in prop::sample::select(vec![80u16, 50000]),
        batch_ns in prop::sample::select(vec![100_000_000u64, 1_000_000_000, 7_000_000_000]),
    ) {
        let f = flow(packets, packets * per + packets / 3, start, len, flags, sport);
        let mut out = Vec::new();
        weighted(&f, batch_ns, &mut out);
        let want = sums(expand(&f).into_iter(), batch_ns);
        let got = sums(out.iter().map(|r| r.0), batch_ns);
        prop_assert_eq!(&got, &want);
        let batches = (f.end_ns / batch_ns - f.start_ns / batch_ns + 1).min(packets);
        prop_assert!(out.len() as u64 <= 6 * batches, "{} records", out.len());
        let wire: u64 = out.iter().map(|r| r.1 as u64 * r.0.packets() as u64).sum();
        prop_assert_eq!(wire, f.bytes + 14 * packets);
        prop_assert!(out.windows(2).all(|w| w[0].0.ts_ns <= w[1].0.ts_ns));
    }
}

/// A flow claiming 2^32 - 1 packets over a day is a bounded number of records.
#[test]
fn cost_does_not_grow_with_the_claim() {
    let f = flow(
        u32::MAX as u64,
        1500 * u32::MAX as u64,
        0,
        86_400_000_000_000,
        0x12,
        80,
    );
    let mut out = Vec::new();
    weighted(&f, 1_000_000_000, &mut out);
    assert!(
        out.len() <= 6 * MAX_PIECES as usize,
        "{} records",
        out.len()
    );
    let n: u64 = out.iter().map(|r| r.0.packets() as u64).sum();
    assert_eq!(n, u32::MAX as u64);
    let bytes: u64 = out.iter().map(|r| r.0.bytes()).sum();
    assert_eq!(bytes, 1500 * u32::MAX as u64);
}

/// A sampled one-packet SYN flow (1 in 10) is ten SYNs, not one SYN and nine others.
#[test]
fn a_sampled_packet_stands_for_rate_packets_like_it() {
    let mut f = flow(1, 44, 0, 0, 0x02, 40000);
    f.rate = 10;
    let mut out = Vec::new();
    weighted(&f, 1_000_000_000, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0.packets(), 10);
    assert!(out[0].0.is_syn());
    assert_eq!(out[0].0.bytes(), 440);
}

/// A flow at the end of time (a fuzzer found it) is still a few records, not one a packet.
#[test]
fn a_flow_at_the_end_of_time_is_a_few_records() {
    let mut f = flow(167_772_415, 40, u64::MAX, 0, 0x14, 1134);
    f.end_ns = u64::MAX;
    let mut out = Vec::new();
    weighted(&f, 100_000_000, &mut out);
    assert!(out.len() <= 6, "{} records", out.len());
    let n: u64 = out.iter().map(|r| r.0.packets() as u64).sum();
    assert_eq!(n, 167_772_415);
}
