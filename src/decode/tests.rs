use super::*;
use crate::record::tcp_flag;
use etherparse::PacketBuilder;
use proptest::prelude::*;

fn tcp_syn_eth() -> Vec<u8> {
    let b = PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 22, 1, 1024)
        .syn();
    let mut v = Vec::new();
    b.write(&mut v, &[]).unwrap();
    v
}

#[test]
fn ethernet_tcp_syn() {
    let mut s = DecodeStats::default();
    let r = decode(linktype::ETHERNET, 5, &tcp_syn_eth(), &mut s).unwrap();
    assert_eq!(r.src, Addr::v4([10, 0, 0, 1]));
    assert_eq!(r.dst, Addr::v4([10, 0, 0, 2]));
    assert_eq!((r.src_port, r.dst_port), (40000, 22));
    assert_eq!(r.tcp_flags, tcp_flag::SYN);
    assert_eq!(r.ip_len, 40);
    assert_eq!(r.ts_ns, 5);
    assert!(r.is_syn());
    assert_eq!(s.records, 1);
}

#[test]
fn vlan_and_qinq() {
    for tags in [1, 2] {
        let mut v = Vec::new();
        let b = PacketBuilder::ethernet2([1; 6], [2; 6]);
        let b = if tags == 1 {
            b.single_vlan(etherparse::VlanId::try_new(10).unwrap())
        } else {
            b.double_vlan(
                etherparse::VlanId::try_new(10).unwrap(),
                etherparse::VlanId::try_new(20).unwrap(),
            )
        };
        b.ipv6(
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0xfe; 16],
            64,
        )
        .udp(53, 5353)
        .write(&mut v, &[0; 12])
        .unwrap();
        let mut s = DecodeStats::default();
        let r = decode(linktype::ETHERNET, 0, &v, &mut s).unwrap();
        assert_eq!(r.src.to_string(), "2001:db8::1");
        assert_eq!((r.proto, r.src_port, r.dst_port), (proto::UDP, 53, 5353));
        assert_eq!(r.ip_len, 40 + 8 + 12);
    }
}

#[test]
fn linux_cooked_v1_v2_and_raw() {
    let eth = tcp_syn_eth();
    let ip = &eth[14..];
    let mut sll = vec![0u8; 16];
    sll[14..16].copy_from_slice(&0x0800u16.to_be_bytes());
    sll.extend_from_slice(ip);
    let mut sll2 = vec![0u8; 20];
    sll2[0..2].copy_from_slice(&0x0800u16.to_be_bytes());
    sll2.extend_from_slice(ip);
    let mut null = 2u32.to_le_bytes().to_vec();
    null.extend_from_slice(ip);
    for (lt, bytes) in [
        (linktype::LINUX_SLL, &sll[..]),
        (linktype::LINUX_SLL2, &sll2[..]),
        (linktype::RAW, ip),
        (linktype::IPV4, ip),
        (linktype::NULL, &null[..]),
    ] {
        let mut s = DecodeStats::default();
        let r = decode(lt, 0, bytes, &mut s).unwrap_or_else(|| panic!("linktype {lt}: {s:?}"));
        assert_eq!(r.dst_port, 22, "linktype {lt}");
        assert!(r.is_syn());
    }
}

#[test]
fn ipv4_fragments_first_has_ports_later_do_not() {
    // Build a UDP packet, then hand-fragment its IPv4 header.
    let mut v = Vec::new();
    PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(1000, 2000)
        .write(&mut v, &[7; 64])
        .unwrap();
    let mut first = v.clone();
    first[14 + 6] = 0x20; // MF set, offset 0
    let mut later = v.clone();
    later[14 + 6] = 0x00;
    later[14 + 7] = 0x08; // offset 8 * 8 bytes, last fragment
    let mut s = DecodeStats::default();
    let r1 = decode(linktype::ETHERNET, 0, &first, &mut s).unwrap();
    assert_eq!(
        (r1.frag, r1.src_port, r1.dst_port),
        (frag::FIRST, 1000, 2000)
    );
    let r2 = decode(linktype::ETHERNET, 0, &later, &mut s).unwrap();
    assert_eq!((r2.frag, r2.src_port, r2.dst_port), (frag::LATER, 0, 0));
    assert_eq!((s.first_fragments, s.later_fragments), (1, 1));
}

#[test]
fn errors_are_counted_by_layer() {
    let mut s = DecodeStats::default();
    assert!(decode(linktype::ETHERNET, 0, &[0; 5], &mut s).is_none());
    assert_eq!(s.link_errors, 1);
    let mut eth = tcp_syn_eth();
    eth.truncate(14 + 10); // IP header cut short
    assert!(decode(linktype::ETHERNET, 0, &eth, &mut s).is_none());
    assert_eq!(s.network_errors, 1);
    let mut eth = tcp_syn_eth();
    eth.truncate(14 + 20 + 6); // TCP header cut short: record kept, transport error
    let r = decode(linktype::ETHERNET, 0, &eth, &mut s).unwrap();
    assert_eq!(r.proto, proto::TCP);
    assert_eq!(s.transport_errors, 1);
    assert!(decode(147, 0, &tcp_syn_eth(), &mut s).is_none());
    assert_eq!(s.unsupported_link, 1);
    // ARP is not an error.
    let mut arp = vec![0xffu8; 12];
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&[0; 20]);
    assert!(decode(linktype::ETHERNET, 0, &arp, &mut s).is_none());
    assert_eq!(s.non_ip, 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]
    #[test]
    fn random_bytes_never_panic(lt in prop::sample::select([&linktype::ALL[..], &[9999]].concat()),
                                data in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut s = DecodeStats::default();
        let _ = decode(lt, 0, &data, &mut s);
        prop_assert_eq!(s.frames(), 1);
    }

    #[test]
    fn mutated_valid_packets_never_panic(pos in 0usize..54, byte in any::<u8>(), cut in 0usize..60) {
        let mut p = tcp_syn_eth();
        let n = p.len();
        p[pos % n] = byte;
        p.truncate(cut.min(n));
        let mut s = DecodeStats::default();
        let _ = decode(linktype::ETHERNET, 0, &p, &mut s);
    }
}

/// Frames of several protocols to mutate: IPv4 TCP SYN, and the same over IPv6, UDP, ICMP.
fn seeds() -> Vec<Vec<u8>> {
    let v4 = tcp_syn_eth();
    let mut udp = v4.clone();
    udp[23] = 17; // IPv4 protocol
    let mut icmp = v4.clone();
    icmp[23] = 1;
    let mut v6 = vec![0u8; 14 + 40 + 20];
    v6[12] = 0x86;
    v6[13] = 0xdd;
    v6[14] = 0x60;
    v6[19] = 20; // payload length
    v6[20] = 6; // next header: TCP
    v6[21] = 64;
    v6[14 + 40 + 12] = 0x50; // data offset 5
    v6[14 + 40 + 13] = 0x02; // SYN
    let mut v6frag = v6.clone();
    v6frag[20] = 44; // fragment header next
    vec![v4, udp, icmp, v6, v6frag]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]
    /// The layer-by-layer fast path gives what whole-packet slicing gives: same record,
    /// same counts, on valid frames with any byte changed and any length cut.
    #[test]
    fn fast_path_equals_whole_packet_slicing(seed in 0usize..5, pos in 0usize..80, byte in any::<u8>(), cut in 0usize..90) {
        let mut p = seeds()[seed].clone();
        let n = p.len();
        p[pos % n] = byte;
        p.truncate(cut.min(n).max(14));
        let (mut a, mut b) = (DecodeStats::default(), DecodeStats::default());
        prop_assert_eq!(decode(linktype::ETHERNET, 7, &p, &mut a), decode_sliced(linktype::ETHERNET, 7, &p, &mut b));
        prop_assert_eq!(a, b);
    }

    #[test]
    fn fast_path_equals_on_random_ip_payloads(v6 in any::<bool>(), data in prop::collection::vec(any::<u8>(), 0..120)) {
        let mut p = vec![0u8; 12];
        p.extend_from_slice(if v6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
        p.extend_from_slice(&data);
        let (mut a, mut b) = (DecodeStats::default(), DecodeStats::default());
        prop_assert_eq!(decode(linktype::ETHERNET, 7, &p, &mut a), decode_sliced(linktype::ETHERNET, 7, &p, &mut b));
        prop_assert_eq!(a, b);
    }
}

/// Every frame of the demo capture and of the shared real captures decodes the same
/// through both paths.
#[test]
fn fast_path_equals_whole_packet_slicing_on_captures() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("captures/demo.pcap")];
    let shared = root.join("../shared/captures");
    match std::fs::read_dir(&shared) {
        Ok(d) => files.extend(d.flatten().map(|e| e.path()).filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            )
        })),
        Err(e) => assert!(
            std::env::var_os("FLOWSENTRY_REQUIRE_ALL").is_none(),
            "{}: {e}",
            shared.display()
        ),
    }
    let mut frames = 0;
    for f in &files {
        let mut cap = pcap::Capture::from_file(f).unwrap();
        let lt = cap.get_datalink().0;
        let (mut a, mut b) = (DecodeStats::default(), DecodeStats::default());
        while let Ok(pkt) = cap.next_packet() {
            frames += 1;
            assert_eq!(
                decode(lt, 1, pkt.data, &mut a),
                decode_sliced(lt, 1, pkt.data, &mut b),
                "{}",
                f.display()
            );
        }
        assert_eq!(a, b, "{}", f.display());
    }
    assert!(frames > 1000, "{frames} frames");
}

#[test]
fn ipv6_fragment_then_hop_by_hop_is_a_counted_ext_error_not_a_crash() {
    for zeros in (0..80).chain([4096 - 62, 60_000 - 62]) {
        let frame = crafted::ipv6_fragment_then_hop_by_hop(zeros);
        let (mut a, mut b) = (DecodeStats::default(), DecodeStats::default());
        let r = decode(linktype::ETHERNET, 3, &frame, &mut a).expect("the IPv6 header is good");
        assert_eq!(r.src.to_string(), "2001:db8::1");
        assert_eq!(r.frag, frag::FIRST, "fragment header with offset 0");
        assert_eq!((r.src_port, r.dst_port), (0, 0));
        assert_eq!((a.records, a.ip_ext_errors), (1, 1), "{zeros} zero bytes");
        assert_eq!(a.errors(), 1);
        assert_eq!(
            decode_sliced(linktype::ETHERNET, 3, &frame, &mut b),
            Some(r)
        );
        assert_eq!(a, b);
        // The same IP packet without its link header.
        let mut c = DecodeStats::default();
        assert_eq!(decode(linktype::RAW, 3, &frame[14..], &mut c), Some(r));
        assert_eq!(c, a);
    }
}

/// Valid extension chains: our bounds-checked walk finds what etherparse's iterator finds
/// (the iterator is sound once the strict parse accepted the whole chain).
fn ext_chain() -> impl Strategy<Value = (u8, Vec<u8>)> {
    // (header number, length field or fragment offset, next is last)
    let header = (
        prop::sample::select(vec![43u8, 44, 51, 60]),
        0u8..4,
        0u16..3,
        any::<bool>(),
    );
    (any::<bool>(), prop::collection::vec(header, 0..5)).prop_map(|(hbh, hs)| {
        let mut kinds: Vec<u8> = hbh.then_some(0).into_iter().collect();
        kinds.extend(hs.iter().map(|h| h.0));
        let mut bytes = Vec::new();
        for (i, &k) in kinds.iter().enumerate() {
            let next = kinds.get(i + 1).copied().unwrap_or(6);
            let (len_field, offset, more) = match i.checked_sub(hbh as usize) {
                Some(j) => (hs[j].1, hs[j].2, hs[j].3),
                None => (1, 0, false),
            };
            let len = match k {
                44 => 8,
                51 => (usize::from(len_field) + 2) * 4,
                _ => (usize::from(len_field) + 1) * 8,
            };
            let mut h = vec![0u8; len];
            h[0] = next;
            if k == 44 {
                h[2..4].copy_from_slice(&((offset << 3) | u16::from(more)).to_be_bytes());
            } else {
                h[1] = len_field;
            }
            bytes.extend(h);
        }
        (kinds.first().copied().unwrap_or(6), bytes)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn fragment_walk_equals_etherparse_on_valid_chains((first, chain) in ext_chain(), cut in 0usize..64) {
        if let Ok((exts, _, _)) = etherparse::Ipv6ExtensionsSlice::from_slice(IpNumber(first), &chain) {
            let theirs = exts.clone().into_iter().any(|e| matches!(e,
                etherparse::Ipv6ExtensionSlice::Fragment(f) if f.fragment_offset().value() == 0));
            prop_assert_eq!(has_first_fragment_header(first, exts.slice()), theirs);
        }
        // Any prefix of a chain, valid or not, is walked without reading past its end.
        let _ = has_first_fragment_header(first, &chain[..cut.min(chain.len())]);
    }

    /// IPv6 frames whose extension chain is random bytes: decoded or counted, never a crash
    /// (with debug assertions on, the old iterator aborted here).
    #[test]
    fn random_ipv6_extension_chains_never_panic(first in prop::sample::select(vec![0u8, 43, 44, 51, 60]),
                                                data in prop::collection::vec(any::<u8>(), 0..160)) {
        let mut f = crafted::ipv6_fragment_then_hop_by_hop(0);
        f.truncate(54);
        f[20] = first;
        f.extend_from_slice(&data);
        let (mut a, mut b) = (DecodeStats::default(), DecodeStats::default());
        prop_assert_eq!(decode(linktype::ETHERNET, 0, &f, &mut a), decode_sliced(linktype::ETHERNET, 0, &f, &mut b));
        prop_assert_eq!(a, b);
        prop_assert_eq!(a.records + a.network_errors, 1);
    }
}

#[test]
fn payload_length_is_what_the_headers_say_for_every_transport() {
    let mut s = DecodeStats::default();
    let mut dec = |v: &[u8]| decode(linktype::ETHERNET, 0, v, &mut s).unwrap();
    // TCP with 16 bytes of options (a 36-byte header) and 100 bytes of data.
    let mut v = Vec::new();
    PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 80, 1, 1024)
        .options(&[
            etherparse::TcpOptionElement::MaximumSegmentSize(1460),
            etherparse::TcpOptionElement::Noop,
            etherparse::TcpOptionElement::Noop,
            etherparse::TcpOptionElement::Timestamp(1, 2),
        ])
        .unwrap()
        .write(&mut v, &[0; 100])
        .unwrap();
    let r = dec(&v);
    assert_eq!((r.ip_len, r.payload_len), (20 + 36 + 100, 100));
    // UDP over IPv6, 7 bytes.
    let mut v = Vec::new();
    PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv6([1; 16], [2; 16], 64)
        .udp(5353, 5353)
        .write(&mut v, &[0; 7])
        .unwrap();
    assert_eq!(dec(&v).payload_len, 7);
    // An echo request with 56 bytes (ping's default).
    let mut v = Vec::new();
    PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut v, &[0; 56])
        .unwrap();
    assert_eq!(dec(&v).payload_len, 56);
    // Captured short of the data (snaplen 54): the header's length still counts.
    let mut v = Vec::new();
    PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 80, 1, 1024)
        .write(&mut v, &[0; 500])
        .unwrap();
    let r = dec(&v[..54]);
    assert_eq!((r.src_port, r.payload_len), (40000, 500));
}
