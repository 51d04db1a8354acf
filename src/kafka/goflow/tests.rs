use proptest::prelude::*;

use super::*;
use crate::record::tcp_flag;

const BATCH: u64 = 1_000_000_000;

fn pb(value: &[u8]) -> (Vec<(Record, u32)>, Vec<GoflowError>) {
    let mut out = Vec::new();
    let e = decode_protobuf(value, BATCH, &mut out);
    (out, e)
}

fn js(text: &str) -> (Vec<(Record, u32)>, Vec<GoflowError>) {
    let mut out = Vec::new();
    let e = decode_json(text.as_bytes(), BATCH, &mut out);
    (out, e)
}

/// A SYN from 10.0.0.1:40000 to 10.0.0.2:22, one packet of 44 bytes at t = 5 s, written
/// by hand from the protobuf wire format (tag = number << 3 | wire type; 0 varint, 2
/// bytes), not by prost: the field numbers are checked against the schema, not against
/// themselves.
fn syn_bytes() -> Vec<u8> {
    let mut m = vec![
        0x08, 0x04, // type = IPFIX (1, varint; not read)
        0x32, 0x04, 10, 0, 0, 1, // src_addr (6, bytes)
        0x3a, 0x04, 10, 0, 0, 2, // dst_addr (7, bytes)
        0x48, 44, // bytes (9)
        0x50, 0x01, // packets (10)
        0xa0, 0x01, 0x06, // proto (20) = TCP
        0xa8, 0x01, 0xc0, 0xb8, 0x02, // src_port (21) = 40000
        0xb0, 0x01, 22, // dst_port (22)
        0xd0, 0x01, 0x02, // tcp_flags (26) = SYN
        0xf2, 0x05, 0x03, b'x', b'y', b'z', // an unknown bytes field (94): skipped
    ];
    // time_flow_start_ns (111) = 5e9: tag 111 << 3 = 888 = varint 0xf8 0x06.
    m.extend([0xf8, 0x06]);
    let mut t = Vec::new();
    prost::encoding::encode_varint(5_000_000_000, &mut t);
    m.extend(t);
    m
}

fn delimit(m: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    prost::encoding::encode_varint(m.len() as u64, &mut v);
    v.extend_from_slice(m);
    v
}

#[test]
fn a_hand_written_message_is_one_syn_bare_or_delimited() {
    for value in [syn_bytes(), delimit(&syn_bytes())] {
        let (r, e) = pb(&value);
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(r.len(), 1);
        let (rec, wire) = r[0];
        assert!(rec.is_syn());
        assert_eq!(rec.tcp_flags, tcp_flag::SYN);
        assert_eq!(rec.src, Addr::v4([10, 0, 0, 1]));
        assert_eq!(rec.dst, Addr::v4([10, 0, 0, 2]));
        assert_eq!(
            (rec.src_port, rec.dst_port, rec.ip_len, wire),
            (40000, 22, 44, 58)
        );
        assert_eq!(rec.ts_ns, 5_000_000_000);
    }
}

#[test]
fn several_delimited_messages_in_one_value() {
    let other = FlowMessage {
        src_addr: vec![0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        dst_addr: vec![0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        packets: 3,
        bytes: 300,
        proto: 17,
        time_received_ns: 7_000_000_000,
        ..Default::default()
    };
    let mut value = delimit(&syn_bytes());
    value.extend(other.encode_length_delimited_to_vec());
    let (r, e) = pb(&value);
    assert!(e.is_empty(), "{e:?}");
    let n: u64 = r.iter().map(|x| x.0.packets() as u64).sum();
    assert_eq!(n, 4);
    let v6 = r.iter().find(|x| x.0.proto == proto::UDP).unwrap();
    assert_eq!(
        v6.0.ts_ns, 7_000_000_000,
        "received time when the flow has none"
    );
    assert_eq!(
        v6.0.src,
        "2001:db8::1".parse::<IpAddr>().map(Addr::from).unwrap()
    );
}

/// goflow2 reports sampled packets unscaled, with the exporter's rate: each stands for
/// `rate` packets like it.
#[test]
fn sampled_flows_are_scaled_by_their_rate() {
    let m = FlowMessage {
        src_addr: vec![192, 0, 2, 1],
        dst_addr: vec![198, 51, 100, 1],
        packets: 2,
        bytes: 88,
        proto: 6,
        tcp_flags: 2,
        sampling_rate: 1000,
        time_flow_start_ns: 1_000_000_000,
        time_flow_end_ns: 1_500_000_000,
        ..Default::default()
    };
    let (r, e) = pb(&m.encode_length_delimited_to_vec());
    assert!(e.is_empty(), "{e:?}");
    let n: u64 = r.iter().map(|x| x.0.packets() as u64).sum();
    let syn: u64 = r
        .iter()
        .filter(|x| x.0.is_syn())
        .map(|x| x.0.packets() as u64)
        .sum();
    assert_eq!(n, 2000);
    assert_eq!(syn, 1000, "the first exported packet carries SYN, weighted");
}

#[test]
fn icmp_without_type_fields_takes_them_from_the_destination_port() {
    let m = FlowMessage {
        src_addr: vec![192, 0, 2, 1],
        dst_addr: vec![198, 51, 100, 1],
        packets: 1,
        bytes: 84,
        proto: 1,
        dst_port: 8 << 8,
        time_flow_start_ns: 1,
        ..Default::default()
    };
    let (r, _) = pb(&m.encode_to_vec());
    assert_eq!(r[0].0.icmp_type, 8);
}

/// The layout goflow2's JSON output has by default (names and renderings of its
/// `producer/proto` formatter), and a few renderings users may choose.
#[test]
fn json_objects_as_goflow2_renders_them() {
    let (r, e) = js(concat!(
        r#"{"type":"SFLOW_5","time_received_ns":1681583295157626000,"sequence_num":2999,"sampling_rate":100,"sampler_address":"192.168.0.1","time_flow_start_ns":1681583295157626000,"time_flow_end_ns":1681583295157626000,"bytes":1500,"packets":1,"src_addr":"fd01::1","dst_addr":"fd01::2","etype":"IPv6","proto":"TCP","src_port":443,"dst_port":50001,"in_if":0,"out_if":0,"src_mac":"00:00:00:00:00:00","dst_mac":"00:00:00:00:00:00","tcp_flags":16,"icmp_type":0,"icmp_code":0,"next_hop":"","src_net":"::/0","bgp_communities":[],"layer_stack":[]}"#,
        "\n",
        r#"{"type":"NETFLOW_V9","time_flow_start_ns":"2026-01-01T00:00:01.5Z","time_flow_end_ns":"2026-01-01T00:00:01.5Z","bytes":60,"packets":1,"src_addr":"0a000001","dst_addr":"10.0.0.2","proto":"","src_port":0,"dst_port":0}"#,
        "\n"
    ));
    assert!(e.is_empty(), "{e:?}");
    let n: u64 = r.iter().map(|x| x.0.packets() as u64).sum();
    assert_eq!(n, 101);
    let gre = r
        .iter()
        .find(|x| x.0.proto == 0)
        .expect("the unnamed protocol");
    assert_eq!(gre.0.src, Addr::v4([10, 0, 0, 1]));
    assert_eq!(gre.0.ts_ns, 1_767_225_601_500_000_000);
    let tcp = r.iter().find(|x| x.0.proto == proto::TCP).unwrap();
    assert_eq!((tcp.0.src_port, tcp.0.dst_port), (443, 50001));
}

#[test]
fn bad_messages_are_errors_not_panics() {
    let cases: [(&[u8], &str); 4] = [
        (b"\xff\xff\xff", "FlowMessage"),
        (&[0x50, 0x01], "src_addr"),
        (
            &[0x32, 0x04, 1, 2, 3, 4, 0x3a, 0x04, 1, 2, 3, 5, 0x50, 0x01],
            "no time",
        ),
        (
            &[0x32, 0x03, 1, 2, 3, 0x3a, 0x04, 1, 2, 3, 5, 0x50, 0x01],
            "src_addr",
        ),
    ];
    for (value, want) in cases {
        let (r, e) = pb(value);
        assert!(r.is_empty(), "{value:?}");
        assert_eq!(e.len(), 1, "{value:?}");
        assert!(
            e[0].to_string().contains(want),
            "{} should say {want}",
            e[0]
        );
    }
    let good = r#""src_addr":"1.2.3.4","dst_addr":"1.2.3.5","time_received_ns":1"#;
    let json_cases = [
        ("not json".to_string(), "not JSON"),
        ("[1]".to_string(), "object"),
        (format!("{{{good}}}"), "packets"),
        (format!("{{{good},\"packets\":1,\"proto\":\"bogus\"}}"), "proto"),
        (format!("{{{good},\"packets\":1,\"src_port\":70000}}"), "out of range"),
        (format!("{{{good},\"packets\":\"1\"}}"), "packets"),
        (format!("{{{good},\"packets\":2,\"bytes\":200000}}"), "bytes"),
        (r#"{"src_addr":"x","dst_addr":"1.2.3.5","packets":1}"#.to_string(), "src_addr"),
        (r#"{"src_addr":"1.2.3.4","dst_addr":"1.2.3.5","packets":1,"time_flow_start_ns":"noon"}"#.to_string(), "RFC 3339"),
    ];
    for (text, want) in json_cases {
        let (r, e) = js(&text);
        assert!(r.is_empty(), "{text}");
        assert_eq!(e.len(), 1, "{text}");
        assert!(
            e[0].to_string().contains(want),
            "{} should say {want}",
            e[0]
        );
    }
    assert_eq!(js("\n \n").1.len(), 1, "an empty message is counted");
    let mut out = Vec::new();
    assert_eq!(decode_json(&[0xff], BATCH, &mut out).len(), 1);
}

proptest! {
    #[test]
    fn any_bytes_decode_without_panic(v in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut out = Vec::new();
        let _ = decode_protobuf(&v, BATCH, &mut out);
        let _ = decode_json(&v, BATCH, &mut out);
    }
}
