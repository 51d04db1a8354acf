//! pmacct JSON flow records -> weighted records.
//!
//! In: the value of one Kafka message written by pmacct's `kafka` plugin (`kafka_output:
//! json`): one JSON object, or several separated by newlines (`kafka_multi_values`).
//! Out: for every flow, a few weighted [`Record`]s (with their wire lengths), in time order;
//! for every object that is not a usable flow, an error (the caller counts and skips it).
//! Guarantees: never panics; a flow's records are built from its own fields only.
//!
//! # Fields read
//!
//! | field | required | meaning |
//! |-------|----------|---------|
//! | `ip_src`, `ip_dst` | yes | IPv4 or IPv6 address (aggregate `src_host, dst_host`) |
//! | `packets` | yes | packet count, 1 to 2^32 - 1 |
//! | `timestamp_start` | yes | first packet (aggregate `timestamp_start`) |
//! | `timestamp_end` | no | last packet (default: `timestamp_start`) |
//! | `bytes` | no | IP bytes of the flow (default: 40 a packet) |
//! | `port_src`, `port_dst` | no | ports (default 0) |
//! | `ip_proto` | no | name (`tcp`, `udp`, `icmp`, `ipv6-icmp`...) or number (`kafka_num_protos`) |
//! | `tcp_flags` | no | the OR of the flow's TCP flags, a number or a numeric string |
//! | `icmp_type` | no | ICMP type, when a custom primitive provides it (default 0) |
//!
//! Timestamps may be seconds since the epoch (`timestamps_since_epoch: true`; a number or a
//! string, with a fraction), RFC 3339 (`timestamps_rfc3339: true`), or pmacct's default
//! `YYYY-MM-DD HH:MM:SS[.ffffff]`, read as UTC (set `timestamps_utc: true`, or run pmacct
//! in UTC). Objects with `event_type` other than `purge` (markers) are ignored, not errors.
//!
//! # Weighted records
//!
//! A flow is not expanded into one record per packet: `flow::weighted` makes a few records
//! that stand for its packets (per batch: its first packet, its last, the ones between), and
//! every window counts them as the per-packet expansion described there would. A flow's cost
//! does not grow with the packets it claims.

use std::net::IpAddr;

use serde_json::Value;

pub use crate::flow::{Flow, MAX_FLOW_PACKETS};
use crate::record::{proto, Addr, Record};

/// Why a flow object was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pmacct flow rejected: {0}")]
pub struct FlowError(pub String);

fn bad<T>(msg: impl Into<String>) -> Result<T, FlowError> {
    Err(FlowError(msg.into()))
}

/// Parse a message value: every flow's weighted records are appended to `out`, in time
/// order, within one message's budget (`flow::weighted_all`); returns one error per object
/// that is not a usable flow.
pub fn decode_message(value: &[u8], batch_ns: u64, out: &mut Vec<(Record, u32)>) -> Vec<FlowError> {
    let mut errors = Vec::new();
    let text = match std::str::from_utf8(value) {
        Ok(t) => t,
        Err(_) => return vec![FlowError("not UTF-8 text".into())],
    };
    let mut any = false;
    let mut flows = Vec::new();
    for line in text.split('\n') {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        any = true;
        match parse_flow(line) {
            Ok(Some(f)) => flows.push(f),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    if !any {
        errors.push(FlowError("empty message".into()));
    }
    crate::flow::weighted_all(&flows, batch_ns, out);
    errors
}

/// Parse one JSON object; `Ok(None)` for pmacct's start/end markers.
pub fn parse_flow(text: &str) -> Result<Option<Flow>, FlowError> {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return bad(format!("not JSON: {e}")),
    };
    let Some(o) = v.as_object() else {
        return bad("not a JSON object");
    };
    if let Some(et) = o.get("event_type").and_then(Value::as_str) {
        if et != "purge" {
            return Ok(None);
        }
    }
    let addr = |k: &str| -> Result<Addr, FlowError> {
        match o.get(k) {
            None => bad(format!("missing `{k}`")),
            Some(Value::String(s)) => s
                .parse::<IpAddr>()
                .map(Addr::from)
                .or_else(|_| bad(format!("`{k}`: `{s}` is not an IP address"))),
            Some(_) => bad(format!("`{k}` is not a string")),
        }
    };
    let src = addr("ip_src")?;
    let dst = addr("ip_dst")?;
    let packets = match o.get("packets").map(uint) {
        None => return bad("missing `packets`"),
        Some(Some(n)) if (1..=MAX_FLOW_PACKETS).contains(&n) => n,
        Some(_) => return bad(format!("`packets` must be 1 to {MAX_FLOW_PACKETS}")),
    };
    let bytes = match o.get("bytes").map(uint) {
        None => packets * 40,
        Some(Some(b)) if b <= packets.saturating_mul(crate::flow::MAX_PACKET_BYTES) => b,
        Some(Some(_)) => return bad("`bytes` claims more than 65,535 a packet"),
        Some(None) => return bad("`bytes` is not a count"),
    };
    let start_ns = match o.get("timestamp_start") {
        None => return bad("missing `timestamp_start` (add it to pmacct's aggregate)"),
        Some(v) => timestamp(v).ok_or_else(|| {
            FlowError(format!(
                "`timestamp_start`: `{v}` is not a time pmacct writes"
            ))
        })?,
    };
    let end_ns = match o.get("timestamp_end") {
        None => start_ns,
        Some(v) => timestamp(v).ok_or_else(|| {
            FlowError(format!(
                "`timestamp_end`: `{v}` is not a time pmacct writes"
            ))
        })?,
    }
    .max(start_ns);
    let small = |k: &str, max: u64| -> Result<u64, FlowError> {
        match o.get(k) {
            None => Ok(0),
            Some(v) => match uint(v) {
                Some(n) if n <= max => Ok(n),
                _ => bad(format!("`{k}`: `{v}` is not a number up to {max}")),
            },
        }
    };
    let src_port = small("port_src", 65535)? as u16;
    let dst_port = small("port_dst", 65535)? as u16;
    let tcp_flags = small("tcp_flags", 255)? as u8;
    let icmp_type = small("icmp_type", 255)? as u8;
    let proto = match o.get("ip_proto") {
        None => 0,
        Some(v) => match uint(v) {
            Some(n) if n <= 255 => n as u8,
            Some(_) => return bad(format!("`ip_proto`: {v} is out of range")),
            None => match v.as_str().and_then(proto_number) {
                Some(p) => p,
                None => return bad(format!("`ip_proto`: unknown protocol {v}")),
            },
        },
    };
    Ok(Some(Flow {
        src,
        dst,
        src_port,
        dst_port,
        proto,
        tcp_flags,
        icmp_type,
        packets,
        bytes,
        start_ns,
        end_ns,
        rate: 1,
    }))
}

fn uint(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn proto_number(name: &str) -> Option<u8> {
    Some(match name.to_ascii_lowercase().as_str() {
        "icmp" => proto::ICMP,
        "igmp" => 2,
        "tcp" => proto::TCP,
        "udp" => proto::UDP,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "ipv6-icmp" | "icmpv6" | "icmp6" => proto::ICMPV6,
        "sctp" => 132,
        other => return other.parse().ok(),
    })
}

/// A pmacct timestamp in ns since the epoch.
fn timestamp(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => secs_to_ns(n.as_f64()?, n.to_string().as_str()),
        Value::String(s) => {
            let s = s.trim();
            if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') && !s.is_empty() {
                return secs_to_ns(s.parse().ok()?, s);
            }
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                return u64::try_from(t.timestamp_nanos_opt()?).ok();
            }
            let t = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok()?;
            u64::try_from(t.and_utc().timestamp_nanos_opt()?).ok()
        }
        _ => None,
    }
}

/// Seconds (with a fraction) to ns, exactly from the text when it is plain decimal.
fn secs_to_ns(f: f64, text: &str) -> Option<u64> {
    if !(0.0..1e11).contains(&f) {
        return None;
    }
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    match (int.parse::<u64>(), frac.bytes().all(|b| b.is_ascii_digit())) {
        (Ok(i), true) => {
            let mut digits: String = frac.chars().take(9).collect();
            while digits.len() < 9 {
                digits.push('0');
            }
            i.checked_mul(1_000_000_000)?
                .checked_add(digits.parse::<u64>().ok()?)
        }
        _ => Some((f * 1e9) as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tcp_flag;

    fn recs(text: &str) -> (Vec<(Record, u32)>, Vec<FlowError>) {
        let mut out = Vec::new();
        let errs = decode_message(text.as_bytes(), 1_000_000_000, &mut out);
        (out, errs)
    }

    /// Seconds past what u64 nanoseconds hold are an error, not a silent wrap to a bogus
    /// time (a fuzzer found 70689999999, which passed the range check and overflowed).
    #[test]
    fn huge_epoch_seconds_are_an_error_not_a_wrap() {
        assert_eq!(super::secs_to_ns(70_689_999_999.0, "70689999999"), None);
        assert_eq!(super::secs_to_ns(1.5, "1.5"), Some(1_500_000_000));
        let (r, e) = recs(
            r#"{"event_type": "purge", "ip_src": "10.0.0.1", "ip_dst": "10.0.0.2", "port_src": 1, "port_dst": 2, "ip_proto": "udp", "timestamp_start": "70689999999", "timestamp_end": "70689999999", "packets": 1, "bytes": 40}"#,
        );
        assert!(r.is_empty(), "{r:?}");
        assert_eq!(e.len(), 1, "counted as malformed");
    }

    #[test]
    fn syn_scan_flow_is_one_syn() {
        let (r, e) = recs(
            r#"{"event_type": "purge", "ip_src": "172.16.0.8", "ip_dst": "64.13.134.52", "port_src": 36050, "port_dst": 443, "ip_proto": "tcp", "tcp_flags": "2", "timestamp_start": "2010-08-23 14:38:36.123456", "timestamp_end": "2010-08-23 14:38:36.123456", "packets": 1, "bytes": 44}"#,
        );
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(r.len(), 1);
        let (rec, wl) = r[0];
        assert!(rec.is_syn());
        assert_eq!(rec.src, Addr::v4([172, 16, 0, 8]));
        assert_eq!(
            (rec.src_port, rec.dst_port, rec.ip_len, wl),
            (36050, 443, 44, 58)
        );
        assert_eq!(rec.ts_ns, 1_282_574_316_123_456_000);
    }

    #[test]
    fn multi_packet_flow_spreads_and_splits_flags() {
        let (r, e) = recs(
            r#"{"ip_src": "10.0.0.1", "ip_dst": "10.0.0.2", "port_src": 40000, "port_dst": 80, "ip_proto": 6, "tcp_flags": 27, "timestamp_start": 100.5, "timestamp_end": "102.5", "packets": 5, "bytes": 1000}
{"event_type": "purge_init"}
{"ip_src": "2001:db8::1", "ip_dst": "2001:db8::2", "ip_proto": "udp", "timestamp_start": "2020-01-01T00:00:00Z", "packets": 2}"#,
        );
        assert!(e.is_empty(), "{e:?}");
        // Per 1 s batch: the first packet (100.5), the middle ones of 101 (101.0, 101.5),
        // of 102 (102.0), the last (102.5); the UDP flow's two packets, first and last.
        assert_eq!(r.len(), 6, "{r:#?}");
        let got: Vec<(u64, u32)> = r[..4].iter().map(|x| (x.0.ts_ns, x.0.packets())).collect();
        assert_eq!(
            got,
            [
                (100_500_000_000, 1),
                (101_000_000_000, 2),
                (102_000_000_000, 1),
                (102_500_000_000, 1)
            ]
        );
        assert_eq!(r[0].0.tcp_flags, tcp_flag::SYN);
        assert_eq!(r[1].0.tcp_flags, tcp_flag::ACK | tcp_flag::PSH);
        assert_eq!(
            r[3].0.tcp_flags,
            tcp_flag::ACK | tcp_flag::PSH | tcp_flag::FIN
        );
        let bytes: u64 = r[..4].iter().map(|x| x.0.bytes()).sum();
        assert_eq!(bytes, 1000);
        // Wire lengths: 14 bytes of Ethernet a packet.
        let wire: u64 = r[..4]
            .iter()
            .map(|x| x.1 as u64 * x.0.packets() as u64)
            .sum();
        assert_eq!(wire, 1000 + 5 * 14);
        assert_eq!(r[4].0.proto, proto::UDP);
        assert_eq!(r[4].0.ip_len, 40);
        assert_eq!(r[5].0.ts_ns, 1_577_836_800_000_000_000);
    }

    /// One short line claiming ten million packets costs three records, not ten million
    /// (issue 13: it used to be expanded), and windows still count every packet.
    #[test]
    fn a_huge_claim_is_a_few_weighted_records() {
        let (r, e) = recs(
            r#"{"ip_src": "10.0.0.1", "ip_dst": "10.0.0.2", "ip_proto": "udp", "timestamp_start": 5, "packets": 10000000}"#,
        );
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(r.len(), 3, "first, middle, last: {r:?}");
        let n: u64 = r.iter().map(|x| x.0.packets() as u64).sum();
        assert_eq!(n, 10_000_000);
        let (_, e) = recs(
            r#"{"ip_src": "10.0.0.1", "ip_dst": "10.0.0.2", "timestamp_start": 5, "packets": 4294967296}"#,
        );
        assert_eq!(e.len(), 1, "more than 2^32 - 1 packets is garbage");
        let (_, e) = recs(
            r#"{"ip_src": "10.0.0.1", "ip_dst": "10.0.0.2", "timestamp_start": 5, "packets": 2, "bytes": 131071}"#,
        );
        assert_eq!(e.len(), 1, "more than 65,535 bytes a packet is garbage");
    }

    #[test]
    fn server_answer_keeps_syn_ack() {
        let (r, _) = recs(
            r#"{"ip_src": "10.0.0.2", "ip_dst": "10.0.0.1", "port_src": 80, "port_dst": 40000, "ip_proto": "tcp", "tcp_flags": 18, "timestamp_start": 1, "packets": 3, "bytes": 120}"#,
        );
        assert!(r[0].0.is_synack());
        assert_eq!(r[0].0.packets(), 1);
        assert!(!r[1].0.is_syn() && !r[1].0.is_synack());
    }

    #[test]
    fn bad_objects_are_errors_not_panics() {
        let cases = [
            ("not json at all", "not JSON"),
            ("[1,2]", "not a JSON object"),
            (
                r#"{"ip_dst": "1.2.3.4", "packets": 1, "timestamp_start": 1}"#,
                "ip_src",
            ),
            (
                r#"{"ip_src": "1.2.3.4", "ip_dst": "x", "packets": 1, "timestamp_start": 1}"#,
                "ip_dst",
            ),
            (
                r#"{"ip_src": "1.2.3.4", "ip_dst": "1.2.3.5", "timestamp_start": 1}"#,
                "packets",
            ),
            (
                r#"{"ip_src": "1.2.3.4", "ip_dst": "1.2.3.5", "packets": 0, "timestamp_start": 1}"#,
                "packets",
            ),
            (
                r#"{"ip_src": "1.2.3.4", "ip_dst": "1.2.3.5", "packets": 1}"#,
                "timestamp_start",
            ),
            (
                r#"{"ip_src": "1.2.3.4", "ip_dst": "1.2.3.5", "packets": 1, "timestamp_start": "yesterday"}"#,
                "timestamp_start",
            ),
            (
                r#"{"ip_src": "1.2.3.4", "ip_dst": "1.2.3.5", "packets": 1, "timestamp_start": 1, "port_src": 70000}"#,
                "port_src",
            ),
            (
                r#"{"ip_src": "1.2.3.4", "ip_dst": "1.2.3.5", "packets": 1, "timestamp_start": 1, "ip_proto": "bogus"}"#,
                "ip_proto",
            ),
        ];
        for (text, want) in cases {
            let (r, e) = recs(text);
            assert!(r.is_empty(), "{text}");
            assert_eq!(e.len(), 1, "{text}");
            assert!(
                e[0].to_string().contains(want),
                "{} should mention {want}",
                e[0]
            );
        }
        let (_, e) = recs("\u{0}\u{ff}");
        assert_eq!(e.len(), 1);
        let mut out = Vec::new();
        assert_eq!(
            decode_message(&[0xff, 0xfe], 1_000_000_000, &mut out).len(),
            1
        );
        assert_eq!(decode_message(b"  \n", 1_000_000_000, &mut out).len(), 1);
    }
}
