//! Test helpers: a hand-written pcap reader and a reference evaluator of the default rules.
//!
//! In: a pcap path written by `generate`. Out: decoded [`Rec`]s (after checking the file
//! header, record lengths, IP/TCP/UDP/ICMP lengths and checksums) and, from those, per
//! (source, rule) whether the rule fires and the peak metric / threshold ratio over
//! windows aligned to the slide from the epoch. Guarantees: independent of the encoder
//! (naive checksums, etherparse for parsing and a second TCP checksum).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};

use super::super::plan;

/// One decoded record of our own output.
pub struct Rec {
    pub ts_us: u64,
    pub ip_len: u64,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub tcp: Option<(u16, u16, bool, bool)>, // sport, dport, syn, ack
    pub udp: bool,
    pub echo_req: bool,
}

fn sum16(b: &[u8]) -> u64 {
    b.chunks(2)
        .map(|c| ((c[0] as u64) << 8) | *c.get(1).unwrap_or(&0) as u64)
        .sum()
}

fn folds_to_ffff(mut s: u64) -> bool {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s == 0xffff
}

/// Reads a pcap by hand, checks every frame (lengths, checksums) and decodes it.
pub fn read_pcap(path: &Path) -> Vec<Rec> {
    let data = std::fs::read(path).unwrap();
    assert_eq!(&data[0..4], &0xa1b2_c3d4u32.to_le_bytes(), "magic");
    assert_eq!(u16::from_le_bytes([data[4], data[5]]), 2);
    assert_eq!(u16::from_le_bytes([data[6], data[7]]), 4);
    assert_eq!(
        u32::from_le_bytes(data[20..24].try_into().unwrap()),
        1,
        "link type ethernet"
    );
    let mut recs = Vec::new();
    let mut off = 24;
    while off < data.len() {
        let h = &data[off..off + 16];
        let sec = u32::from_le_bytes(h[0..4].try_into().unwrap()) as u64;
        let usec = u32::from_le_bytes(h[4..8].try_into().unwrap()) as u64;
        let incl = u32::from_le_bytes(h[8..12].try_into().unwrap()) as usize;
        let orig = u32::from_le_bytes(h[12..16].try_into().unwrap()) as usize;
        assert!(usec < 1_000_000);
        assert_eq!(incl, orig);
        let frame = &data[off + 16..off + 16 + incl];
        off += 16 + incl;
        recs.push(decode(sec * 1_000_000 + usec, frame));
    }
    assert_eq!(off, data.len());
    recs
}

fn decode(ts_us: u64, frame: &[u8]) -> Rec {
    let sp = SlicedPacket::from_ethernet(frame).expect("frame parses");
    let l3 = &frame[14..];
    let (src, dst, ip_len, pseudo, seg): (IpAddr, IpAddr, u64, u64, &[u8]) =
        match sp.net.as_ref().unwrap() {
            NetSlice::Ipv4(ip) => {
                let h = ip.header();
                assert!(folds_to_ffff(sum16(&l3[..20])), "ipv4 header checksum");
                let len = h.total_len() as u64;
                assert_eq!(len as usize, l3.len());
                let seg = &l3[20..];
                let pseudo = sum16(&h.source())
                    + sum16(&h.destination())
                    + h.protocol().0 as u64
                    + seg.len() as u64;
                let pseudo = if h.protocol().0 == 1 { 0 } else { pseudo };
                (
                    h.source_addr().into(),
                    h.destination_addr().into(),
                    len,
                    pseudo,
                    seg,
                )
            }
            NetSlice::Ipv6(ip) => {
                let h = ip.header();
                let seg = &l3[40..];
                assert_eq!(h.payload_length() as usize, seg.len());
                let pseudo = sum16(&h.source())
                    + sum16(&h.destination())
                    + h.next_header().0 as u64
                    + seg.len() as u64;
                (
                    h.source_addr().into(),
                    h.destination_addr().into(),
                    40 + seg.len() as u64,
                    pseudo,
                    seg,
                )
            }
            NetSlice::Arp(_) => panic!("no ARP expected"),
        };
    assert!(
        folds_to_ffff(pseudo + sum16(seg)),
        "transport checksum of {src} -> {dst}"
    );
    let mut r = Rec {
        ts_us,
        ip_len,
        src,
        dst,
        tcp: None,
        udp: false,
        echo_req: false,
    };
    match sp.transport.expect("transport") {
        TransportSlice::Tcp(t) => {
            let expect = match (src, dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    t.calc_checksum_ipv4(s.octets(), d.octets()).unwrap()
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    t.calc_checksum_ipv6(s.octets(), d.octets()).unwrap()
                }
                _ => unreachable!(),
            };
            assert_eq!(
                t.checksum(),
                expect,
                "etherparse agrees on the TCP checksum"
            );
            r.tcp = Some((t.source_port(), t.destination_port(), t.syn(), t.ack()));
        }
        TransportSlice::Udp(_) => r.udp = true,
        TransportSlice::Icmpv4(i) => r.echo_req = i.type_u8() == 8,
        TransportSlice::Icmpv6(i) => r.echo_req = i.type_u8() == 128,
        TransportSlice::Igmp(_) => panic!("no IGMP expected"),
    }
    r
}

pub const RULES: &[(&str, u64)] = &[
    ("port_scan", 100),
    ("host_sweep", 64),
    ("syn_flood", 100),
    ("icmp_flood", 200),
    ("udp_flood", 2000),
    ("brute_force", 10),
];

/// Window ids (aligned to the slide from the epoch) containing `ts_us`.
fn windows(ts_us: u64, win_s: u64, slide_s: u64) -> std::ops::RangeInclusive<u64> {
    let (w, s) = (win_s * 1_000_000, slide_s * 1_000_000);
    let lo = if ts_us >= w { (ts_us - w) / s + 1 } else { 0 };
    lo..=ts_us / s
}

#[derive(Default)]
struct Acc {
    n: u64,
    bits: u64,
    set: HashSet<u128>,
    ports: HashSet<u16>,
}

/// Reference evaluation of the default source-keyed rules. Returns, per (src, rule),
/// (fired, peak metric / threshold).
pub fn evaluate(recs: &[Rec]) -> HashMap<(IpAddr, &'static str), (bool, f64)> {
    let key = |a: IpAddr| -> u128 {
        match a {
            IpAddr::V4(x) => u32::from(x) as u128,
            IpAddr::V6(x) => u128::from(x),
        }
    };
    let mut acc: HashMap<(IpAddr, &'static str, u64), Acc> = HashMap::new();
    for r in recs {
        let syn_only = matches!(r.tcp, Some((_, _, true, false)));
        let (dport, sport) = r.tcp.map(|t| (t.1, t.0)).unwrap_or((0, 0));
        let mut add = |rule: &'static str, w: u64, s: u64, f: &dyn Fn(&mut Acc)| {
            for k in windows(r.ts_us, w, s) {
                f(acc.entry((r.src, rule, k)).or_default());
            }
        };
        if syn_only {
            add("port_scan", 60, 5, &|a| {
                a.set.insert(dport as u128);
            });
            add("syn_flood", 1, 1, &|a| {
                a.n += 1;
                a.ports.insert(dport);
            });
            if plan::is_auth_port(dport) {
                let conn = key(r.dst) ^ ((dport as u128) << 100) ^ ((sport as u128) << 84);
                add("brute_force", 120, 10, &|a| {
                    a.set.insert(conn);
                });
            }
        }
        if syn_only || r.echo_req {
            add("host_sweep", 60, 5, &|a| {
                a.set.insert(key(r.dst));
            });
        }
        if r.echo_req {
            add("icmp_flood", 1, 1, &|a| a.n += 1);
        }
        if r.udp {
            add("udp_flood", 1, 1, &|a| {
                a.n += 1;
                a.bits += r.ip_len * 8;
            });
        }
    }
    let mut out: HashMap<(IpAddr, &'static str), (bool, f64)> = HashMap::new();
    for ((src, rule, _), a) in acc {
        let thr = RULES.iter().find(|r| r.0 == rule).unwrap().1 as f64;
        let (fired, ratio) = match rule {
            "port_scan" | "host_sweep" | "brute_force" => {
                (a.set.len() as f64 >= thr, a.set.len() as f64 / thr)
            }
            "syn_flood" => (a.n as f64 >= thr && a.ports.len() <= 10, a.n as f64 / thr),
            "icmp_flood" => (a.n as f64 >= thr, a.n as f64 / thr),
            "udp_flood" => {
                let r = (a.n as f64 / thr).max(a.bits as f64 / 50e6);
                (r >= 1.0, r)
            }
            _ => unreachable!(),
        };
        let e = out.entry((src, rule)).or_insert((false, 0.0));
        e.0 |= fired;
        e.1 = e.1.max(ratio);
    }
    out
}
