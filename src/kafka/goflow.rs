//! goflow2 flow messages (its Kafka output, protobuf or JSON) -> flows.
//!
//! In: the value of one Kafka message written by goflow2 v2 (`-format=bin`, the default,
//! or `-format=json`), which turns NetFlow v5/v9, IPFIX and sFlow into one `FlowMessage`
//! per flow. Out: [`Flow`]s, each with the sampling rate goflow2 read from the exporter
//! (goflow2 reports packets and bytes as exported, unscaled); an error for every message or
//! object that is not a usable flow (the caller counts and skips it).
//! Guarantees: never panics on any bytes; a flow is built from its own message only.
//!
//! # Protobuf
//!
//! goflow2's `pb/flow.proto` (package `flowpb`, message `FlowMessage`) is the contract;
//! [`FlowMessage`] declares the fields read here with their numbers, and prost skips the
//! others. goflow2 v2 writes each message length-delimited (a varint length, then the
//! message); a value holding one or more such messages, exactly, is read as such, anything
//! else as one bare message. goflow2 v1's messages date flows in whole seconds under other
//! field numbers: they have no time this reader knows and are rejected as such.
//!
//! | field (number) | use |
//! |---|---|
//! | `src_addr` (6), `dst_addr` (7) | 4 or 16 bytes, required |
//! | `packets` (10), `bytes` (9) | as exported; packets required, 1 to 2^32 - 1 |
//! | `sampling_rate` (3) | 1 in N packets; 0 (unknown) is taken as 1 |
//! | `time_flow_start_ns` (111), `time_flow_end_ns` (112) | the flow's first and last packet |
//! | `time_received_ns` (110) | the flow's time when it carries none (0) |
//! | `proto` (20), `src_port` (21), `dst_port` (22) | |
//! | `tcp_flags` (26) | its low 8 bits (IPFIX may carry more) |
//! | `icmp_type` (31), `icmp_code` (32) | when both are 0, an ICMP flow takes them from its destination port (type * 256 + code), as NetFlow v5 carries them |
//!
//! # JSON
//!
//! One object per message (or several, one per line), with the same field names as the
//! protobuf schema and goflow2's default renderings: addresses as text (dotted, or hex
//! bytes when rendered raw), `proto` by name (`TCP`, `UDP`, `ICMP`, `ICMPv6`, `SCTP`, or
//! `""` for the protocols goflow2 cannot name, read as protocol 0) or number, times in
//! nanoseconds or RFC 3339 text (the `datetimenano` renderer).

use std::net::IpAddr;

use prost::Message as _;
use serde_json::{Map, Value};

use crate::flow::{Flow, MAX_FLOW_PACKETS, MAX_PACKET_BYTES};
use crate::record::{proto, Addr, Record};

/// Why a message (or one JSON object of it) was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("goflow2 flow rejected: {0}")]
pub struct GoflowError(pub String);

fn bad<T>(msg: impl Into<String>) -> Result<T, GoflowError> {
    Err(GoflowError(msg.into()))
}

/// The fields of goflow2's `FlowMessage` that flowsentry reads (numbers from goflow2 v2's
/// `pb/flow.proto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct FlowMessage {
    #[prost(uint64, tag = "3")]
    pub sampling_rate: u64,
    #[prost(bytes = "vec", tag = "6")]
    pub src_addr: Vec<u8>,
    #[prost(bytes = "vec", tag = "7")]
    pub dst_addr: Vec<u8>,
    #[prost(uint64, tag = "9")]
    pub bytes: u64,
    #[prost(uint64, tag = "10")]
    pub packets: u64,
    #[prost(uint32, tag = "20")]
    pub proto: u32,
    #[prost(uint32, tag = "21")]
    pub src_port: u32,
    #[prost(uint32, tag = "22")]
    pub dst_port: u32,
    #[prost(uint32, tag = "26")]
    pub tcp_flags: u32,
    #[prost(uint32, tag = "31")]
    pub icmp_type: u32,
    #[prost(uint32, tag = "32")]
    pub icmp_code: u32,
    #[prost(uint64, tag = "110")]
    pub time_received_ns: u64,
    #[prost(uint64, tag = "111")]
    pub time_flow_start_ns: u64,
    #[prost(uint64, tag = "112")]
    pub time_flow_end_ns: u64,
}

/// What one flow says, whichever encoding it came in.
#[derive(Debug, Default)]
struct Fields {
    src: Option<Addr>,
    dst: Option<Addr>,
    packets: u64,
    bytes: u64,
    rate: u64,
    proto: u64,
    src_port: u64,
    dst_port: u64,
    tcp_flags: u64,
    icmp: (u64, u64),
    times_ns: (u64, u64, u64),
}

/// A protobuf message value: every flow's weighted records are appended to `out`, in time
/// order; returns one error per message that is not a usable flow.
pub fn decode_protobuf(
    value: &[u8],
    batch_ns: u64,
    out: &mut Vec<(Record, u32)>,
) -> Vec<GoflowError> {
    let mut flows = Vec::new();
    let mut errors = Vec::new();
    let messages = delimited(value).unwrap_or_else(|| vec![value]);
    for m in messages {
        match FlowMessage::decode(m) {
            Ok(msg) => match flow(Fields::from(msg)) {
                Ok(f) => flows.push(f),
                Err(e) => errors.push(e),
            },
            Err(e) => errors.push(GoflowError(format!("not a FlowMessage: {e}"))),
        }
    }
    crate::flow::weighted_all(&flows, batch_ns, out);
    errors
}

/// A JSON message value (one object, or one a line): as [`decode_protobuf`].
pub fn decode_json(value: &[u8], batch_ns: u64, out: &mut Vec<(Record, u32)>) -> Vec<GoflowError> {
    let Ok(text) = std::str::from_utf8(value) else {
        return vec![GoflowError("not UTF-8 text".into())];
    };
    let mut flows = Vec::new();
    let mut errors = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match json_fields(line).and_then(flow) {
            Ok(f) => flows.push(f),
            Err(e) => errors.push(e),
        }
    }
    if flows.is_empty() && errors.is_empty() {
        errors.push(GoflowError("empty message".into()));
    }
    crate::flow::weighted_all(&flows, batch_ns, out);
    errors
}

/// The messages of a value that is one or more length-delimited messages, exactly; `None`
/// when it is not.
fn delimited(value: &[u8]) -> Option<Vec<&[u8]>> {
    let mut rest = value;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let mut buf = rest;
        let len = usize::try_from(prost::encoding::decode_varint(&mut buf).ok()?).ok()?;
        if len == 0 || len > buf.len() {
            return None;
        }
        out.push(&buf[..len]);
        rest = &buf[len..];
    }
    (!out.is_empty()).then_some(out)
}

impl From<FlowMessage> for Fields {
    fn from(m: FlowMessage) -> Fields {
        let addr = |b: &[u8]| match b.len() {
            4 => Some(Addr::v4([b[0], b[1], b[2], b[3]])),
            16 => <[u8; 16]>::try_from(b)
                .ok()
                .map(|a| Addr::from(IpAddr::from(a))),
            _ => None,
        };
        Fields {
            src: addr(&m.src_addr),
            dst: addr(&m.dst_addr),
            packets: m.packets,
            bytes: m.bytes,
            rate: m.sampling_rate,
            proto: m.proto.into(),
            src_port: m.src_port.into(),
            dst_port: m.dst_port.into(),
            tcp_flags: (m.tcp_flags & 0xff).into(),
            icmp: (m.icmp_type.into(), m.icmp_code.into()),
            times_ns: (m.time_flow_start_ns, m.time_flow_end_ns, m.time_received_ns),
        }
    }
}

fn json_fields(line: &str) -> Result<Fields, GoflowError> {
    let v: Value = serde_json::from_str(line).or_else(|e| bad(format!("not JSON: {e}")))?;
    let Some(o) = v.as_object() else {
        return bad("not a JSON object");
    };
    let num = |k: &str| -> Result<u64, GoflowError> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(0),
            Some(Value::Number(n)) => n
                .as_u64()
                .ok_or_else(|| GoflowError(format!("`{k}`: {n} is not a count"))),
            Some(other) => bad(format!("`{k}`: {other} is not a number")),
        }
    };
    Ok(Fields {
        src: json_addr(o, "src_addr")?,
        dst: json_addr(o, "dst_addr")?,
        packets: num("packets")?,
        bytes: num("bytes")?,
        rate: num("sampling_rate")?,
        proto: json_proto(o.get("proto"))?,
        src_port: num("src_port")?,
        dst_port: num("dst_port")?,
        tcp_flags: num("tcp_flags")? & 0xff,
        icmp: (num("icmp_type")?, num("icmp_code")?),
        times_ns: (
            json_time(o, "time_flow_start_ns")?,
            json_time(o, "time_flow_end_ns")?,
            json_time(o, "time_received_ns")?,
        ),
    })
}

fn json_addr(o: &Map<String, Value>, k: &str) -> Result<Option<Addr>, GoflowError> {
    let Some(v) = o.get(k) else {
        return Ok(None);
    };
    let Some(s) = v.as_str() else {
        return bad(format!("`{k}` is not a string"));
    };
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(Some(Addr::from(ip)));
    }
    // Rendered raw: the address's bytes in hex.
    let bytes: Option<Vec<u8>> = (s.len() % 2 == 0)
        .then(|| {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .flatten();
    match bytes.as_deref() {
        Some(&[a, b, c, d]) => Ok(Some(Addr::v4([a, b, c, d]))),
        Some(b) if b.len() == 16 => Ok(<[u8; 16]>::try_from(b)
            .ok()
            .map(|a| Addr::from(IpAddr::from(a)))),
        _ => bad(format!("`{k}`: `{s}` is not an IP address")),
    }
}

fn json_proto(v: Option<&Value>) -> Result<u64, GoflowError> {
    Ok(match v {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) => n.as_u64().unwrap_or(u64::MAX),
        Some(Value::String(s)) => match s.to_ascii_uppercase().as_str() {
            // goflow2 renders the protocols it cannot name as "".
            "" => 0,
            "ICMP" => proto::ICMP.into(),
            "TCP" => proto::TCP.into(),
            "UDP" => proto::UDP.into(),
            "ICMPV6" => proto::ICMPV6.into(),
            "SCTP" => 132,
            other => other
                .parse()
                .or_else(|_| bad(format!("`proto`: unknown protocol `{s}`")))?,
        },
        Some(other) => return bad(format!("`proto`: {other} is not a protocol")),
    })
}

fn json_time(o: &Map<String, Value>, k: &str) -> Result<u64, GoflowError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| GoflowError(format!("`{k}`: {n} is not a time in ns"))),
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s.trim())
            .ok()
            .and_then(|t| u64::try_from(t.timestamp_nanos_opt()?).ok())
            .ok_or_else(|| GoflowError(format!("`{k}`: `{s}` is not an RFC 3339 time"))),
        Some(other) => bad(format!("`{k}`: {other} is not a time")),
    }
}

/// The flow of a message's fields, checked.
fn flow(f: Fields) -> Result<Flow, GoflowError> {
    let (Some(src), Some(dst)) = (f.src, f.dst) else {
        return bad("`src_addr` and `dst_addr` must be IPv4 or IPv6 addresses");
    };
    if !(1..=MAX_FLOW_PACKETS).contains(&f.packets) {
        return bad(format!(
            "`packets` must be 1 to {MAX_FLOW_PACKETS}, not {}",
            f.packets
        ));
    }
    if f.bytes > f.packets.saturating_mul(MAX_PACKET_BYTES) {
        return bad("`bytes` claims more than 65,535 a packet");
    }
    let (first, last, received) = f.times_ns;
    let start_ns = if first > 0 { first } else { received };
    if start_ns == 0 {
        return bad("no time: neither `time_flow_start_ns` nor `time_received_ns` (goflow2 v1 messages are not read)");
    }
    if f.proto > 255 || f.src_port > 65535 || f.dst_port > 65535 || f.icmp.0 > 255 {
        return bad("`proto`, a port or `icmp_type` is out of range");
    }
    let proto = f.proto as u8;
    let icmp = proto == proto::ICMP || proto == proto::ICMPV6;
    let icmp_type = if icmp && f.icmp == (0, 0) {
        f.dst_port >> 8
    } else {
        f.icmp.0
    };
    Ok(Flow {
        src,
        dst,
        src_port: f.src_port as u16,
        dst_port: f.dst_port as u16,
        proto,
        tcp_flags: f.tcp_flags as u8,
        icmp_type: icmp_type as u8,
        packets: f.packets,
        bytes: if f.bytes == 0 {
            f.packets * 40
        } else {
            f.bytes
        },
        start_ns,
        end_ns: last.max(start_ns),
        rate: f.rate.max(1),
    })
}

#[cfg(test)]
mod tests;
