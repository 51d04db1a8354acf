//! The decoded packet record: what `decode` produces and every later stage reads.
//!
//! In: nothing (plain data). Out: [`Record`], a small `Copy` struct (64 bytes, one cache line)
//! holding the capture time, the header fields the window metrics need, and how many
//! packets it stands for (1, or a flow record's weight). Addresses are stored as
//! 16 bytes, IPv4 mapped into `::ffff:a.b.c.d`, so IPv4 and IPv6 share one key type.
//! Guarantees: no heap data, no lifetimes; a record can be copied into batches freely.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol numbers the metrics care about.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
}

/// TCP flag bits as they appear in the TCP header's flags byte.
pub mod tcp_flag {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// Fragment position of the IP packet that carried the record.
pub mod frag {
    /// Not fragmented.
    pub const NONE: u8 = 0;
    /// First fragment (offset 0, more fragments): ports are known.
    pub const FIRST: u8 = 1;
    /// A later fragment: no transport header, ports are 0.
    pub const LATER: u8 = 2;
}

/// What a record stands for: a packet (`PACKET`), or an outcome the conversation stage
/// derived (`src/conversation.rs`), which windows count apart from packets.
pub mod event {
    /// A captured packet.
    pub const PACKET: u8 = 0;
    /// An attempt of the source (a SYN, a UDP datagram, a ping, any first TCP packet of a
    /// connection) that the destination answered.
    pub const ANSWERED: u8 = 1;
    /// An attempt the destination (or a router for it) refused: TCP RST, ICMP unreachable.
    pub const REJECTED: u8 = 2;
    /// An attempt that nothing answered within the conversation timeout.
    pub const UNANSWERED: u8 = 3;
    /// A response the destination received without having asked: a SYN-ACK or RST without
    /// its SYN, an echo reply without a request, UDP it never sent to nor answered.
    pub const UNSOLICITED: u8 = 4;
    /// Every outcome kind, as bits `1 << kind`.
    pub const OUTCOMES: u8 = 1 << ANSWERED | 1 << REJECTED | 1 << UNANSWERED | 1 << UNSOLICITED;
    /// On the way to the conversation stage only: the shard owns the record's source
    /// (`VIA_OUT`) or its destination (`VIA_IN`).
    pub const VIA_OUT: u8 = 0x40;
    pub const VIA_IN: u8 = 0x80;
    /// With `VIA_OUT` only: a TCP segment (not SYN nor RST) to an address the reader has not
    /// seen send TCP lately (`liveness`), so an attempt that only its answer resolves.
    pub const DARK: u8 = 0x08;
    /// From Kafka only (wire format version 2), read by the pipeline's routing and cleared
    /// there: a copy of a record, published to its destination's partition for the
    /// destination's side (`COPY`); an original whose destination's partition holds that
    /// copy, so it feeds only its source's side (`ELSEWHERE`).
    pub const COPY: u8 = 0x10;
    pub const ELSEWHERE: u8 = 0x20;

    /// Whether an outcome is a failure (rejected or unanswered).
    #[inline]
    pub fn is_failure(e: u8) -> bool {
        e == REJECTED || e == UNANSWERED
    }
}

/// An IP address in 16 bytes; IPv4 is stored IPv4-mapped (`::ffff:a.b.c.d`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Addr(pub [u8; 16]);

/// Feed two addresses and two ports and a protocol to a hasher as five words, not the
/// derive's byte slices with length prefixes (for keys hashed once per packet).
#[inline]
pub fn hash_tuple<H: std::hash::Hasher>(h: &mut H, a: &Addr, b: &Addr, pa: u16, pb: u16, p: u8) {
    for w in a.words().into_iter().chain(b.words()) {
        h.write_u64(w);
    }
    h.write_u64(u64::from(pa) | u64::from(pb) << 16 | u64::from(p) << 32);
}

impl Addr {
    pub const UNSPECIFIED: Addr = Addr([0; 16]);

    #[inline]
    pub fn v4(octets: [u8; 4]) -> Addr {
        let mut a = [0u8; 16];
        a[10] = 0xff;
        a[11] = 0xff;
        a[12..].copy_from_slice(&octets);
        Addr(a)
    }

    #[inline]
    pub fn v6(octets: [u8; 16]) -> Addr {
        Addr(octets)
    }

    /// The 16 bytes as two native-endian words (for fast hashing).
    #[inline]
    pub fn words(&self) -> [u64; 2] {
        let w = |i: usize| u64::from_ne_bytes(self.0[i..i + 8].try_into().expect("8 bytes"));
        [w(0), w(8)]
    }

    /// The IPv4 address when this is an IPv4-mapped address.
    #[inline]
    pub fn as_v4(&self) -> Option<[u8; 4]> {
        let a = &self.0;
        if a[..10] == [0; 10] && a[10] == 0xff && a[11] == 0xff {
            Some([a[12], a[13], a[14], a[15]])
        } else {
            None
        }
    }

    #[inline]
    pub fn is_v4(&self) -> bool {
        self.as_v4().is_some()
    }

    #[inline]
    pub fn to_u128(self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    /// A 64-bit fingerprint used by distinct sets: exact (injective) for IPv4,
    /// a 64-bit hash for IPv6. IPv6 values have the top bit set so they never
    /// collide with an IPv4 value.
    #[inline]
    pub fn fingerprint(&self) -> u64 {
        match self.as_v4() {
            Some(o) => u32::from_be_bytes(o) as u64,
            None => xxhash_rust::xxh3::xxh3_64(&self.0) | (1u64 << 63),
        }
    }

    pub fn to_ip(self) -> IpAddr {
        match self.as_v4() {
            Some(o) => IpAddr::V4(Ipv4Addr::from(o)),
            None => IpAddr::V6(Ipv6Addr::from(self.0)),
        }
    }
}

impl From<IpAddr> for Addr {
    fn from(ip: IpAddr) -> Addr {
        match ip {
            IpAddr::V4(v4) => Addr::v4(v4.octets()),
            IpAddr::V6(v6) => Addr::v6(v6.octets()),
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_ip().fmt(f)
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_ip().fmt(f)
    }
}

/// One decoded packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Record {
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    pub src: Addr,
    pub dst: Addr,
    /// Transport ports; 0 when the protocol has none or the fragment lacks them.
    pub src_port: u16,
    pub dst_port: u16,
    /// IP total length (IPv4) or payload length + 40 (IPv6), as the header says.
    pub ip_len: u32,
    /// Transport payload bytes, as the headers say (IP payload less the TCP header, or the
    /// 8-byte UDP or ICMP header; a later fragment's whole IP payload): Suricata's
    /// `dsize`. Estimated where only lengths are known ([`Record::estimated_payload_len`]).
    pub payload_len: u16,
    /// IP protocol number of the transport (after IPv6 extension headers).
    pub proto: u8,
    /// TCP flags byte; for ICMP errors the IP protocol of the packet they quote (see
    /// `quoted_proto`); 0 otherwise.
    pub tcp_flags: u8,
    /// ICMP / ICMPv6 type (0 for other protocols; check `proto` first).
    pub icmp_type: u8,
    /// One of [`frag`]'s values.
    pub frag: u8,
    /// One of [`event`]'s values: 0 for a packet (never set by decoders nor carried on the
    /// wire).
    pub event: u8,
    /// Packets this record stands for beyond the first: 0 for a captured packet; a flow
    /// record's share of its flow's packets less one (see [`Record::packets`]), all of the
    /// same `ip_len` and `payload_len`.
    pub more_packets: u32,
}

impl Record {
    /// Packets this record stands for: 1 for a captured packet or an outcome, a flow's
    /// share for a weighted flow record. Counting metrics take it; distinct sets do not.
    #[inline]
    pub fn packets(&self) -> u32 {
        self.more_packets.saturating_add(1)
    }

    /// IP bytes of all the packets it stands for.
    #[inline]
    pub fn bytes(&self) -> u64 {
        self.ip_len as u64 * self.packets() as u64
    }

    /// The payload length a record of this protocol and IP length has with the shortest
    /// headers (IPv4 20 or IPv6 40 bytes, TCP 20, UDP and ICMP 8): for sources that carry
    /// lengths only (flow records, wire format versions 1 and 2).
    pub fn estimated_payload_len(&self) -> u16 {
        let ip = if self.src.as_v4().is_some() { 20 } else { 40 };
        let transport = match self.proto {
            _ if self.frag == frag::LATER => 0,
            proto::TCP => 20,
            proto::UDP | proto::ICMP | proto::ICMPV6 => 8,
            _ => 0,
        };
        self.ip_len
            .saturating_sub(ip + transport)
            .min(u16::MAX as u32) as u16
    }

    #[inline]
    pub fn is_tcp(&self) -> bool {
        self.proto == proto::TCP
    }
    #[inline]
    pub fn is_udp(&self) -> bool {
        self.proto == proto::UDP
    }
    #[inline]
    pub fn is_icmp(&self) -> bool {
        self.proto == proto::ICMP || self.proto == proto::ICMPV6
    }
    /// TCP SYN without ACK: a connection attempt.
    #[inline]
    pub fn is_syn(&self) -> bool {
        self.is_tcp() && self.tcp_flags & (tcp_flag::SYN | tcp_flag::ACK) == tcp_flag::SYN
    }
    #[inline]
    pub fn is_synack(&self) -> bool {
        self.is_tcp()
            && self.tcp_flags & (tcp_flag::SYN | tcp_flag::ACK) == (tcp_flag::SYN | tcp_flag::ACK)
    }
    #[inline]
    pub fn is_rst(&self) -> bool {
        self.is_tcp() && self.tcp_flags & tcp_flag::RST != 0
    }
    #[inline]
    pub fn is_fin(&self) -> bool {
        self.is_tcp() && self.tcp_flags & tcp_flag::FIN != 0
    }
    /// ICMP echo request (IPv4 type 8, ICMPv6 type 128).
    #[inline]
    pub fn is_echo_request(&self) -> bool {
        (self.proto == proto::ICMP && self.icmp_type == 8)
            || (self.proto == proto::ICMPV6 && self.icmp_type == 128)
    }
    /// ICMP / ICMPv6 error (destination unreachable, time exceeded, parameter problem,
    /// packet too big): it quotes the packet it reports on. Its record carries the quoted
    /// packet's ports in `src_port` / `dst_port` and its protocol in `tcp_flags`.
    #[inline]
    pub fn is_icmp_error(&self) -> bool {
        (self.proto == proto::ICMP && matches!(self.icmp_type, 3 | 11 | 12))
            || (self.proto == proto::ICMPV6 && matches!(self.icmp_type, 1..=4))
    }
    /// ICMP time exceeded (IPv4 type 11, ICMPv6 type 3): the probe died in transit.
    #[inline]
    pub fn is_time_exceeded(&self) -> bool {
        (self.proto == proto::ICMP && self.icmp_type == 11)
            || (self.proto == proto::ICMPV6 && self.icmp_type == 3)
    }
    /// ICMP echo reply (IPv4 type 0, ICMPv6 type 129).
    #[inline]
    pub fn is_echo_reply(&self) -> bool {
        (self.proto == proto::ICMP && self.icmp_type == 0)
            || (self.proto == proto::ICMPV6 && self.icmp_type == 129)
    }
    /// The protocol of the packet an ICMP error quotes.
    #[inline]
    pub fn quoted_proto(&self) -> u8 {
        self.tcp_flags
    }
    /// A captured packet (not a derived outcome).
    #[inline]
    pub fn is_packet(&self) -> bool {
        self.event == event::PACKET
    }
    /// Protocol name as EVE writes it.
    pub fn proto_name(&self) -> &'static str {
        proto_name(self.proto)
    }
}

pub fn proto_name(p: u8) -> &'static str {
    match p {
        proto::TCP => "TCP",
        proto::UDP => "UDP",
        proto::ICMP => "ICMP",
        proto::ICMPV6 => "IPv6-ICMP",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_is_small() {
        assert!(std::mem::size_of::<Record>() <= 64);
    }

    #[test]
    fn v4_mapping_round_trips() {
        let a = Addr::v4([10, 1, 2, 3]);
        assert_eq!(a.as_v4(), Some([10, 1, 2, 3]));
        assert_eq!(a.to_string(), "10.1.2.3");
        assert_eq!(a.fingerprint(), 0x0a010203);
        let v6: Addr = "2001:db8::1".parse::<IpAddr>().unwrap().into();
        assert!(!v6.is_v4());
        assert_eq!(v6.to_string(), "2001:db8::1");
        assert!(v6.fingerprint() >> 63 == 1);
    }

    #[test]
    fn syn_classification() {
        let mut r = Record {
            proto: proto::TCP,
            tcp_flags: tcp_flag::SYN,
            ..Default::default()
        };
        assert!(r.is_syn() && !r.is_synack());
        r.tcp_flags |= tcp_flag::ACK;
        assert!(!r.is_syn() && r.is_synack());
    }
}
