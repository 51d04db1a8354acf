//! The wire format of flowsentry packet records on Kafka (`flowsentry publish` writes it,
//! `flowsentry consume` reads it).
//!
//! In: [`Record`]s with their frame length on the wire. Out: Kafka message values, each a
//! batch of records; and back.
//! Guarantees: decoding never panics and never allocates more than the message's own length
//! allows; a message is accepted whole or rejected whole (a [`WireError`] names the byte
//! offset and the reason), so a consumer never acts on half a batch. Encoding then decoding
//! gives back exactly the records that went in, in order.
//!
//! # Format, version 3
//!
//! One Kafka message carries a batch of records of one partition, in capture order: the
//! records of sources that hash to that partition (`partition::shard_of(&record.src,
//! partitions)`), and copies of the records whose destination hashes to it while their
//! source does not (kind bit 2). So the member that holds a partition sees everything its
//! addresses sent and everything they received: destination rules and connection
//! outcomes are exact with any number of consumers. The message key is empty; the partition is chosen by the publisher. Multi-byte
//! integers are big-endian; *varint* is unsigned LEB128 (7 bits a byte, low group first, high
//! bit set on every byte but the last, at most 10 bytes); *zigzag* maps a signed value `s` to
//! `(s << 1) ^ (s >> 63)` so small negative numbers stay short.
//!
//! Message header, 20 bytes:
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0 | 4 | magic `FSPR` (`46 53 50 52`) |
//! | 4 | 1 | version: `3` (a reader rejects versions it does not know) |
//! | 5 | 1 | flags: `0` (reserved; a version-1 reader rejects any other value) |
//! | 6 | 2 | reserved: `0` |
//! | 8 | 4 | record count `N` (u32) |
//! | 12 | 8 | base time `T0`: ns since the Unix epoch (u64) |
//!
//! then `N` records, each:
//!
//! | size | field |
//! |-----:|-------|
//! | 1 | kind: bit 0 set = source address is IPv6, bit 1 = destination is IPv6, bit 2 = a copy for the destination's partition, bit 3 = the destination's partition holds a copy (bits 2 and 3 never both); bits 4-7 are 0 |
//! | varint | capture time: zigzag(`ts - previous ts`), the previous of the first record being `T0` |
//! | 4 or 16 | source address (IPv4 in 4 bytes; IPv6 in 16) |
//! | 4 or 16 | destination address |
//! | 2 | source port (0 when the protocol has none, or for a later fragment) |
//! | 2 | destination port |
//! | 1 | IP protocol number of the transport (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...) |
//! | 1 | TCP flags byte (0 for other protocols) |
//! | 1 | ICMP / ICMPv6 type (0 for other protocols) |
//! | 1 | fragment: 0 not fragmented, 1 first fragment, 2 later fragment |
//! | varint | IP length: IPv4 total length, or IPv6 payload length + 40 (fits in u32) |
//! | varint | transport payload length, as the headers say (`dsize`; fits in u16; version 3 on) |
//! | varint | frame length on the wire (fits in u32) |
//!
//! Nothing may follow the `N`th record. An IPv4 record takes about 24 bytes (a fixed-size
//! layout would take 56); producers compress messages (lz4 by default) on top.
//! A later version changes the version byte; readers keep accepting the versions they know.
//! Version 1 is version 2 without copies (kind bits 2-7 are 0); version 2 is version 3
//! without the payload length (a reader assumes the shortest headers); this reader accepts
//! all three.
//!
//! Bits 2 and 3 travel in [`Record::event`] as [`event::COPY`] and [`event::ELSEWHERE`]:
//! the publisher sets them, the pipeline routes by them (a copy feeds only the
//! destination's side, an original marked `ELSEWHERE` only the source's).

use crate::record::{event, frag, Addr, Record};

/// The first four bytes of every message.
pub const MAGIC: [u8; 4] = *b"FSPR";
/// The version this code writes.
pub const VERSION: u8 = 3;
/// The oldest version this code reads.
pub const OLDEST_VERSION: u8 = 1;
/// Size of the message header.
pub const HEADER_LEN: usize = 20;
/// Largest encoded record (two IPv6 addresses, longest varints).
pub const MAX_RECORD_LEN: usize = 1 + 10 + 16 + 16 + 2 + 2 + 4 + 5 + 3 + 5;
/// Smallest encoded record: a reader uses it to bound a claimed record count.
/// (Versions 1 and 2; version 3's shortest is a byte longer, so the bound is looser there.)
const MIN_RECORD_LEN: usize = 1 + 1 + 4 + 4 + 2 + 2 + 4 + 1 + 1;

const KIND_SRC_V6: u8 = 0x01;
const KIND_DST_V6: u8 = 0x02;
const KIND_COPY: u8 = 0x04;
const KIND_ELSEWHERE: u8 = 0x08;

/// Why a message was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("packet batch rejected at byte {offset}: {reason}")]
pub struct WireError {
    pub offset: usize,
    pub reason: String,
}

fn err<T>(offset: usize, reason: impl Into<String>) -> Result<T, WireError> {
    Err(WireError {
        offset,
        reason: reason.into(),
    })
}

/// Builds one message. Reuse it: [`BatchEncoder::clear`] keeps the buffer.
#[derive(Debug, Clone)]
pub struct BatchEncoder {
    buf: Vec<u8>,
    count: u32,
    prev_ts: u64,
}

impl Default for BatchEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchEncoder {
    pub fn new() -> Self {
        let mut e = BatchEncoder {
            buf: Vec::with_capacity(16 * 1024),
            count: 0,
            prev_ts: 0,
        };
        e.clear();
        e
    }

    /// Start a new, empty message.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(&MAGIC);
        self.buf.push(VERSION);
        self.buf.push(0);
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&0u32.to_be_bytes());
        self.buf.extend_from_slice(&0u64.to_be_bytes());
        self.count = 0;
        self.prev_ts = 0;
    }

    pub fn len(&self) -> u32 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the message takes so far.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn push(&mut self, r: &Record, wire_len: u32) {
        if self.count == 0 {
            self.buf[12..20].copy_from_slice(&r.ts_ns.to_be_bytes());
            self.prev_ts = r.ts_ns;
        }
        let src4 = r.src.as_v4();
        let dst4 = r.dst.as_v4();
        let mut kind = 0;
        if src4.is_none() {
            kind |= KIND_SRC_V6;
        }
        if dst4.is_none() {
            kind |= KIND_DST_V6;
        }
        if r.event & event::COPY != 0 {
            kind |= KIND_COPY;
        } else if r.event & event::ELSEWHERE != 0 {
            kind |= KIND_ELSEWHERE;
        }
        self.buf.push(kind);
        let delta = r.ts_ns.wrapping_sub(self.prev_ts) as i64;
        put_varint(&mut self.buf, zigzag(delta));
        self.prev_ts = r.ts_ns;
        match src4 {
            Some(o) => self.buf.extend_from_slice(&o),
            None => self.buf.extend_from_slice(&r.src.0),
        }
        match dst4 {
            Some(o) => self.buf.extend_from_slice(&o),
            None => self.buf.extend_from_slice(&r.dst.0),
        }
        self.buf.extend_from_slice(&r.src_port.to_be_bytes());
        self.buf.extend_from_slice(&r.dst_port.to_be_bytes());
        self.buf
            .extend_from_slice(&[r.proto, r.tcp_flags, r.icmp_type, r.frag]);
        put_varint(&mut self.buf, r.ip_len as u64);
        put_varint(&mut self.buf, r.payload_len as u64);
        put_varint(&mut self.buf, wire_len as u64);
        self.count += 1;
    }

    /// The finished message (valid until the next `push` or `clear`).
    pub fn finish(&mut self) -> &[u8] {
        self.buf[8..12].copy_from_slice(&self.count.to_be_bytes());
        &self.buf
    }
}

/// Encode `records` (with their wire lengths) as one message.
pub fn encode(records: &[(Record, u32)]) -> Vec<u8> {
    let mut e = BatchEncoder::new();
    for (r, l) in records {
        e.push(r, *l);
    }
    e.finish().to_vec()
}

/// Decode one message, appending its records and their wire lengths to `out`. On an error
/// `out` is left as it was.
pub fn decode(msg: &[u8], out: &mut Vec<(Record, u32)>) -> Result<(), WireError> {
    if msg.len() < HEADER_LEN {
        return err(
            0,
            format!(
                "{} bytes, shorter than the {HEADER_LEN}-byte header",
                msg.len()
            ),
        );
    }
    if msg[0..4] != MAGIC {
        return err(0, "not a flowsentry packet batch (bad magic)");
    }
    let version = msg[4];
    if !(OLDEST_VERSION..=VERSION).contains(&version) {
        return err(
            4,
            format!(
                "version {version} is not supported (this reader knows {OLDEST_VERSION} to {VERSION})"
            ),
        );
    }
    let known = if version == 1 {
        KIND_SRC_V6 | KIND_DST_V6
    } else {
        KIND_SRC_V6 | KIND_DST_V6 | KIND_COPY | KIND_ELSEWHERE
    };
    if msg[5] != 0 || msg[6] != 0 || msg[7] != 0 {
        return err(5, "reserved flag bytes are not 0");
    }
    let count = u32::from_be_bytes([msg[8], msg[9], msg[10], msg[11]]) as usize;
    if count > (msg.len() - HEADER_LEN) / MIN_RECORD_LEN {
        return err(
            8,
            format!(
                "claims {count} records but has only {} bytes of records",
                msg.len() - HEADER_LEN
            ),
        );
    }
    let base = u64::from_be_bytes(msg[12..20].try_into().expect("8 bytes"));
    let start_len = out.len();
    out.reserve(count);
    let mut c = Cursor {
        msg,
        pos: HEADER_LEN,
    };
    let mut prev = base;
    let res = (|| {
        for i in 0..count {
            let at = c.pos;
            let kind = c.u8()?;
            if kind & !known != 0
                || kind & (KIND_COPY | KIND_ELSEWHERE) == KIND_COPY | KIND_ELSEWHERE
            {
                return err(at, format!("record {i}: unknown kind bits {kind:#04x}"));
            }
            let delta = unzigzag(c.varint()?);
            let ts = (prev as i64).checked_add(delta).filter(|t| *t >= 0);
            let Some(ts) = ts else {
                return err(at, format!("record {i}: capture time out of range"));
            };
            prev = ts as u64;
            let src = c.addr(kind & KIND_SRC_V6 != 0)?;
            let dst = c.addr(kind & KIND_DST_V6 != 0)?;
            let src_port = c.u16()?;
            let dst_port = c.u16()?;
            let fixed = c.take(4)?;
            let (proto, tcp_flags, icmp_type, fr) = (fixed[0], fixed[1], fixed[2], fixed[3]);
            if fr > frag::LATER {
                return err(c.pos - 1, format!("record {i}: fragment value {fr}"));
            }
            let ip_len = c.varint_u32()?;
            let payload_len = if version >= 3 {
                let at = c.pos;
                match u16::try_from(c.varint()?) {
                    Ok(p) => Some(p),
                    Err(_) => return err(at, format!("record {i}: payload length over 65535")),
                }
            } else {
                None
            };
            let wire_len = c.varint_u32()?;
            let mut rec = Record {
                ts_ns: prev,
                src,
                dst,
                src_port,
                dst_port,
                ip_len,
                proto,
                tcp_flags,
                icmp_type,
                frag: fr,
                event: if kind & KIND_COPY != 0 {
                    event::COPY
                } else if kind & KIND_ELSEWHERE != 0 {
                    event::ELSEWHERE
                } else {
                    0
                },
                payload_len: 0,
                more_packets: 0,
            };
            // Versions 1 and 2 carry no payload length: the shortest headers are assumed.
            rec.payload_len = payload_len.unwrap_or_else(|| rec.estimated_payload_len());
            out.push((rec, wire_len));
        }
        if c.pos != msg.len() {
            return err(
                c.pos,
                format!("{} bytes after the last record", msg.len() - c.pos),
            );
        }
        Ok(())
    })();
    if res.is_err() {
        out.truncate(start_len);
    }
    res
}

struct Cursor<'a> {
    msg: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        match self.msg.get(self.pos..self.pos + n) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => err(
                self.pos,
                format!(
                    "truncated: {n} more bytes needed, {} left",
                    self.msg.len() - self.pos
                ),
            ),
        }
    }
    #[inline]
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    #[inline]
    fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    #[inline]
    fn addr(&mut self, v6: bool) -> Result<Addr, WireError> {
        if v6 {
            let b = self.take(16)?;
            Ok(Addr(b.try_into().expect("16 bytes")))
        } else {
            let b = self.take(4)?;
            Ok(Addr::v4([b[0], b[1], b[2], b[3]]))
        }
    }
    #[inline]
    fn varint(&mut self) -> Result<u64, WireError> {
        let at = self.pos;
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.u8()?;
            if i == 9 && b > 1 {
                return err(at, "varint overflows 64 bits");
            }
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        err(at, "varint longer than 10 bytes")
    }
    #[inline]
    fn varint_u32(&mut self) -> Result<u32, WireError> {
        let at = self.pos;
        let v = self.varint()?;
        u32::try_from(v).or_else(|_| err(at, format!("length {v} does not fit 32 bits")))
    }
}

#[inline]
fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[inline]
fn zigzag(s: i64) -> u64 {
    ((s << 1) ^ (s >> 63)) as u64
}

#[inline]
fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{proto, tcp_flag};
    use proptest::prelude::*;

    fn rec(ts: u64, src: Addr, dst: Addr) -> Record {
        Record {
            ts_ns: ts,
            src,
            dst,
            src_port: 40000,
            dst_port: 443,
            ip_len: 60,
            proto: proto::TCP,
            tcp_flags: tcp_flag::SYN,
            icmp_type: 0,
            frag: frag::NONE,
            event: 0,
            payload_len: 0,
            more_packets: 0,
        }
    }

    #[test]
    fn round_trip_v4_and_v6_in_order_and_out_of_order() {
        let v6: Addr = "2001:db8::1".parse::<std::net::IpAddr>().unwrap().into();
        let recs = vec![
            (
                rec(1_700_000_000_000_000_000, Addr::v4([10, 0, 0, 1]), v6),
                74,
            ),
            (
                rec(1_700_000_000_000_000_500, v6, Addr::v4([10, 0, 0, 2])),
                90,
            ),
            (rec(1_699_999_999_000_000_000, v6, v6), 1514), // earlier than the one before
            (
                rec(0, Addr::v4([1, 2, 3, 4]), Addr::v4([5, 6, 7, 8])),
                u32::MAX,
            ),
        ];
        let msg = encode(&recs);
        assert_eq!(&msg[..4], b"FSPR");
        assert_eq!(msg[4], VERSION);
        let mut out = Vec::new();
        decode(&msg, &mut out).unwrap();
        assert_eq!(out, recs);
    }

    #[test]
    fn ipv4_record_is_compact() {
        let r = rec(
            5_000_000_123,
            Addr::v4([10, 0, 0, 1]),
            Addr::v4([10, 0, 0, 2]),
        );
        let one = encode(&[(r, 74)]);
        let mut r2 = r;
        r2.ts_ns += 1_000;
        let two = encode(&[(r, 74), (r2, 74)]);
        assert!(two.len() - one.len() <= 24, "{}", two.len() - one.len());
    }

    #[test]
    fn empty_batch_is_valid() {
        let msg = encode(&[]);
        assert_eq!(msg.len(), HEADER_LEN);
        let mut out = Vec::new();
        decode(&msg, &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn rejects_bad_messages_whole() {
        let r = rec(5, Addr::v4([10, 0, 0, 1]), Addr::v4([10, 0, 0, 2]));
        // 21 bytes a record (the wire length takes a 2-byte varint), so cutting one byte
        // passes the record-count check and fails in the last record.
        let good = encode(&[(r, 1514), (r, 1514)]);
        let mut out = vec![(r, 1)];
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"{\"ip_src\":\"1.2.3.4\"}".to_vec(), "magic"),
            (good[..good.len() - 1].to_vec(), "truncated"),
            (good[..good.len() - 20].to_vec(), "claims 2 records"),
            (good[..10].to_vec(), "header"),
            ([&good[..], &[0u8]].concat(), "after the last record"),
            (
                {
                    let mut m = good.clone();
                    m[4] = 4;
                    m
                },
                "version 4",
            ),
            (
                {
                    let mut m = good.clone();
                    m[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
                    m
                },
                "claims",
            ),
            (
                {
                    let mut m = good.clone();
                    m[HEADER_LEN] = 0x80;
                    m
                },
                "kind",
            ),
        ];
        for (m, want) in cases {
            let e = decode(&m, &mut out).unwrap_err();
            assert!(e.to_string().contains(want), "{e} should mention {want}");
            assert_eq!(out.len(), 1, "a rejected message adds nothing");
        }
    }

    /// `msg` (IPv4 records from `rec` with the same time, payload length 0) as a writer of
    /// `version` 1 or 2 would have sent it: without the payload-length byte.
    fn older(msg: &[u8], version: u8) -> Vec<u8> {
        const LEN_V3: usize = 21;
        const PAYLOAD_AT: usize = 19;
        let n = (msg.len() - HEADER_LEN) / LEN_V3;
        let mut m = msg[..HEADER_LEN].to_vec();
        m[4] = version;
        for i in 0..n {
            let r = &msg[HEADER_LEN + i * LEN_V3..HEADER_LEN + (i + 1) * LEN_V3];
            assert_eq!(r[PAYLOAD_AT], 0, "payload length 0");
            m.extend_from_slice(&r[..PAYLOAD_AT]);
            m.extend_from_slice(&r[PAYLOAD_AT + 1..]);
        }
        m
    }

    #[test]
    fn versions_1_and_2_are_read_and_copy_marks_round_trip() {
        let r = rec(5, Addr::v4([10, 0, 0, 1]), Addr::v4([10, 0, 0, 2]));
        let marked = [
            r,
            Record {
                event: event::COPY,
                ..r
            },
            Record {
                event: event::ELSEWHERE,
                ..r
            },
        ];
        let m = encode(&marked.map(|r| (r, 60)));
        assert_eq!(m[4], 3);
        let mut out = Vec::new();
        decode(&m, &mut out).unwrap();
        let events: Vec<u8> = out.iter().map(|(r, _)| r.event).collect();
        assert_eq!(events, [0, event::COPY, event::ELSEWHERE]);
        // Older writers carry no payload length: a 60-byte IPv4 TCP packet is taken to
        // have 20-byte IP and TCP headers.
        let assumed = Record {
            payload_len: 20,
            ..r
        };
        out.clear();
        decode(&older(&m, 2), &mut out).unwrap();
        let events: Vec<u8> = out.iter().map(|(r, _)| r.event).collect();
        assert_eq!(events, [0, event::COPY, event::ELSEWHERE]);
        assert_eq!(out[0], (assumed, 60));
        // A version-1 writer's message: the same bytes without marks.
        let v1 = older(&encode(&[(r, 60)]), 1);
        out.clear();
        decode(&v1, &mut out).unwrap();
        assert_eq!(out, vec![(assumed, 60)]);
        // Version 1 has no copies; and a record is a copy or an original, not both.
        let bad = older(&encode(&[(marked[1], 60)]), 1);
        assert!(decode(&bad, &mut out)
            .unwrap_err()
            .to_string()
            .contains("kind"));
        let mut both = encode(&[(r, 60)]);
        both[HEADER_LEN] |= KIND_COPY | KIND_ELSEWHERE;
        assert!(decode(&both, &mut out)
            .unwrap_err()
            .to_string()
            .contains("kind"));
    }

    #[test]
    fn a_payload_length_over_65535_is_rejected() {
        let r = rec(5, Addr::v4([10, 0, 0, 1]), Addr::v4([10, 0, 0, 2]));
        let m = encode(&[(r, 60)]);
        // Replace the payload byte (0) by the 3-byte varint of 65536.
        let at = HEADER_LEN + 19;
        let mut bad = m[..at].to_vec();
        bad.extend_from_slice(&[0x80, 0x80, 0x04]);
        bad.extend_from_slice(&m[at + 1..]);
        let e = decode(&bad, &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("payload length"), "{e}");
    }

    fn arb_addr() -> impl Strategy<Value = Addr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(Addr::v4),
            any::<[u8; 16]>().prop_map(Addr),
        ]
    }

    fn arb_record() -> impl Strategy<Value = (Record, u32)> {
        (
            (
                any::<u64>(),
                arb_addr(),
                arb_addr(),
                any::<u16>(),
                any::<u16>(),
            ),
            (
                any::<u32>(),
                any::<u8>(),
                any::<u8>(),
                any::<u8>(),
                0u8..=2,
                any::<u32>(),
                prop_oneof![Just(0), Just(event::COPY), Just(event::ELSEWHERE)],
            ),
        )
            .prop_map(|((ts, src, dst, sp, dp), (len, p, fl, it, fr, wl, ev))| {
                (
                    Record {
                        ts_ns: ts >> 1, // capture times fit i64
                        src,
                        dst,
                        src_port: sp,
                        dst_port: dp,
                        ip_len: len,
                        proto: p,
                        tcp_flags: fl,
                        icmp_type: it,
                        frag: fr,
                        event: ev,
                        payload_len: (len % 65536) as u16,
                        more_packets: 0,
                    },
                    wl,
                )
            })
    }

    proptest! {
        #[test]
        fn round_trips(recs in proptest::collection::vec(arb_record(), 0..50)) {
            let msg = encode(&recs);
            let mut out = Vec::new();
            decode(&msg, &mut out).unwrap();
            prop_assert_eq!(out, recs);
        }

        #[test]
        fn never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut out = Vec::new();
            let _ = decode(&bytes, &mut out);
        }

        #[test]
        fn never_panics_on_corrupted_batches(
            recs in proptest::collection::vec(arb_record(), 1..10),
            pos in any::<usize>(),
            byte in any::<u8>(),
            cut in any::<usize>(),
        ) {
            let mut msg = encode(&recs);
            let p = pos % msg.len();
            msg[p] = byte;
            msg.truncate(msg.len() - cut % 4);
            let mut out = Vec::new();
            if decode(&msg, &mut out).is_err() {
                prop_assert!(out.is_empty());
            }
        }
    }
}
