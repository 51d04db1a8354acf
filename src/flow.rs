//! Flow records -> weighted records: what a flow exporter says (pmacct JSON, NetFlow,
//! IPFIX) entering the engine without being expanded into one record per packet.
//!
//! In: a [`Flow`] (addresses, ports, protocol, the OR of its TCP flags, packets, bytes, first
//! and last packet time) and the batch interval. Out: a few [`Record`]s, each standing for
//! several of the flow's packets of one length (`Record::packets`), with their wire length.
//! Guarantees: every window sums exactly what the per-packet expansion described below
//! would give it (packets, bytes, SYN, ACK ... counts: a test recounts); the number of
//! records is bounded by the batches the flow spans (at most [`MAX_PIECES`] of them), times
//! six, never by the packets it claims.
//!
//! # The expansion it stands for (an approximation: a flow does not say when each packet
//! was sent)
//!
//! Of a sampled flow, each exported packet stands for `rate` packets like it: the
//! expansion below is of the exported packets, each then weighted by the rate (so a
//! sampled SYN flood's one-packet flows stay SYNs, not one SYN and nine others).
//!
//! The flow's `n` packets are spread evenly over `[start, end]` (all at the start when `n`
//! is 1). Packet `i` carries `bytes / n` IP bytes (the first `bytes % n` one more). TCP
//! flags, since the flow only has their OR: the first packet carries SYN when the flow saw
//! one, with ACK too when the flow is a single packet or looks like a server's answer
//! (source port below 1024 and destination port 1024 or above); the last carries FIN and
//! RST when seen; every packet carries the other flags seen (ACK, PSH, URG, ECE, CWR) except
//! that the first packet of a client's flow carries SYN alone. A SYN scan (one-packet flows
//! with SYN) is thus exactly the scan's packets.
//!
//! # Weighted records
//!
//! The packets falling in one batch form up to three groups: the first packet, the last,
//! and the ones between (whose flags are alike); a group is one record, or two when some of
//! its packets are a byte longer than the others; each is dated at its first packet. A flow
//! spanning more than [`MAX_PIECES`] batches is cut into [`MAX_PIECES`] equal stretches of
//! whole batches instead, each record dated at its stretch's first packet.

use crate::record::{frag, proto, tcp_flag, Addr, Record};

/// Largest `packets` a flow may claim (after sampling is scaled in): more is garbage.
pub const MAX_FLOW_PACKETS: u64 = u32::MAX as u64;

/// Largest IP packet: a flow claiming more bytes a packet is taken at this size.
pub const MAX_PACKET_BYTES: u64 = 65_535;

/// Most time pieces one flow becomes.
pub const MAX_PIECES: u64 = 1024;

/// Most time pieces the flows of one message (a datagram, a Kafka message) become
/// together: a message of many long flows spreads each over fewer, longer stretches, so no
/// message costs more than about six times this in records.
pub const PIECES_PER_MESSAGE: u64 = 16_384;

/// The weighted records of every flow of one message, in time order, within the budget
/// [`PIECES_PER_MESSAGE`].
pub fn weighted_all(flows: &[Flow], batch_ns: u64, out: &mut Vec<(Record, u32)>) {
    let each = (PIECES_PER_MESSAGE / flows.len().max(1) as u64).clamp(1, MAX_PIECES);
    let from = out.len();
    for f in flows {
        weighted_with(f, batch_ns, each, out);
    }
    out[from..].sort_by_key(|r| r.0.ts_ns);
}

/// One flow as an exporter reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub src: Addr,
    pub dst: Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    pub tcp_flags: u8,
    pub icmp_type: u8,
    /// Packets and bytes as exported (sampled packets, when the exporter samples).
    pub packets: u64,
    pub bytes: u64,
    pub start_ns: u64,
    pub end_ns: u64,
    /// The exporter's sampling rate (1 in `rate` packets seen): every exported packet
    /// stands for `rate` packets like it. 1 when not sampled.
    pub rate: u64,
}

impl Flow {
    /// Capture time of packet `i` of `n`.
    fn ts(&self, i: u64, n: u64) -> u64 {
        if n == 1 {
            return self.start_ns;
        }
        let span = self.end_ns - self.start_ns;
        // u64 when the product fits (an hour's span in ns times a million packets does),
        // u128 otherwise; the same value either way.
        let at = match span.checked_mul(i) {
            Some(p) => p / (n - 1),
            None => (span as u128 * i as u128 / (n - 1) as u128) as u64,
        };
        self.start_ns + at
    }

    /// The first packet index dated at or after `t`.
    fn first_at(&self, t: u64, n: u64) -> u64 {
        if t <= self.start_ns {
            return 0;
        }
        let span = self.end_ns - self.start_ns;
        if n == 1 || span == 0 {
            return n;
        }
        match (t - self.start_ns).checked_mul(n - 1) {
            Some(need) => need.div_ceil(span).min(n),
            None => {
                let need = (t - self.start_ns) as u128 * (n - 1) as u128;
                need.div_ceil(span as u128).min(n as u128) as u64
            }
        }
    }

    /// IP bytes of packets `[a, b)` (the tests' reference expansion).
    #[cfg(test)]
    fn bytes_of(&self, a: u64, b: u64, n: u64) -> u64 {
        let (each, extra) = (self.bytes / n, self.bytes % n);
        (b - a) * each + b.min(extra).saturating_sub(a)
    }

    /// Flags of the first packet, the middle ones and the last.
    fn flags(&self, n: u64) -> [u8; 3] {
        let flags = if self.proto == proto::TCP {
            self.tcp_flags
        } else {
            0
        };
        let closing = flags & (tcp_flag::FIN | tcp_flag::RST);
        let middle = flags & !(tcp_flag::SYN | tcp_flag::FIN | tcp_flag::RST);
        let server = self.src_port < 1024 && self.dst_port >= 1024;
        let mut first = middle;
        if flags & tcp_flag::SYN != 0 {
            first = if n == 1 || server {
                tcp_flag::SYN | (flags & tcp_flag::ACK)
            } else {
                tcp_flag::SYN
            };
            if n == 1 {
                first |= middle;
            }
        }
        if n == 1 {
            first |= closing;
        }
        [first, middle, middle | closing]
    }
}

/// Append the flow's weighted records (see the module documentation) to `out`, each with
/// the wire length of one of its packets (IP bytes + 14, for Ethernet), in time order.
pub fn weighted(f: &Flow, batch_ns: u64, out: &mut Vec<(Record, u32)>) {
    weighted_with(f, batch_ns, MAX_PIECES, out)
}

/// [`weighted`] in at most `max_pieces` time stretches.
pub fn weighted_with(f: &Flow, batch_ns: u64, max_pieces: u64, out: &mut Vec<(Record, u32)>) {
    let n = f.packets.clamp(1, MAX_FLOW_PACKETS);
    // Scaled, the flow claims at most MAX_FLOW_PACKETS.
    let rate = f.rate.clamp(1, (MAX_FLOW_PACKETS / n).max(1));
    let batch_ns = batch_ns.max(1);
    let (b0, b1) = (f.start_ns / batch_ns, f.end_ns / batch_ns);
    // Stretches of whole batches, at most MAX_PIECES of them.
    let step = ((b1 - b0) / max_pieces.max(1) + 1).saturating_mul(batch_ns);
    let flags = f.flags(n);
    let mut i = 0;
    while i < n {
        let t = f.ts(i, n);
        let stretch = b0 * batch_ns + (t - b0 * batch_ns) / step * step;
        // Past the end of time, the rest of the flow is in this stretch.
        let j = match stretch.checked_add(step) {
            Some(next) => f.first_at(next, n).max(i + 1),
            None => n,
        };
        // [i, j): the first packet, the middle ones, the last one.
        let last = n - 1;
        let cuts = [(0, 1), (1, last), (last, n)];
        for (class, (a, b)) in cuts.into_iter().enumerate() {
            let (a, b) = (a.max(i), b.min(j));
            if a < b && !(class == 2 && n == 1) {
                push(f, (a, b), n, rate, flags[class], out);
            }
        }
        i = j;
    }
}

/// Records for packets `[a, b)`: those one byte longer than the rest (the first
/// `bytes % n` of the flow) apart, so every record's packets have one length.
fn push(f: &Flow, (a, b): (u64, u64), n: u64, rate: u64, flags: u8, out: &mut Vec<(Record, u32)>) {
    let (each, extra) = (f.bytes / n, f.bytes % n);
    let split = extra.clamp(a, b);
    // (A flow may claim 2^64 - 1 bytes: saturate, the length is capped below.)
    for (lo, hi, len) in [(a, split, each.saturating_add(1)), (split, b, each)] {
        if lo == hi {
            continue;
        }
        let len = len.min(MAX_PACKET_BYTES) as u32;
        let mut rec = Record {
            ts_ns: f.ts(lo, n),
            src: f.src,
            dst: f.dst,
            src_port: f.src_port,
            dst_port: f.dst_port,
            ip_len: len,
            proto: f.proto,
            tcp_flags: flags,
            icmp_type: if f.proto == proto::ICMP || f.proto == proto::ICMPV6 {
                f.icmp_type
            } else {
                0
            },
            frag: frag::NONE,
            event: 0,
            payload_len: 0,
            more_packets: ((hi - lo) * rate - 1) as u32,
        };
        // Flow records carry byte counts only: the shortest headers are assumed.
        rec.payload_len = rec.estimated_payload_len();
        out.push((rec, len + 14));
    }
}

#[cfg(test)]
mod tests;
