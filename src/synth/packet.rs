//! Packet descriptors and their wire encoding into a classic pcap stream.
//!
//! In: [`Pkt`] values (relative capture time in ns, addresses, one L4 header, a payload
//! recipe) from the flow expander. Out: Ethernet II frames (IPv4 or IPv6; TCP, UDP,
//! ICMP/ICMPv6 echo) appended to a pcap file (magic `a1b2c3d4`, v2.4, microsecond
//! timestamps, link type 1) by [`PcapWriter`]. Guarantees: every IP/TCP/UDP/ICMP length
//! and checksum field is correct; encoding is allocation-free (one reusable frame buffer,
//! payload checksums from a precomputed prefix-sum table); the same input sequence always
//! produces the same bytes.

use std::io::{self, Write};
use std::net::IpAddr;

/// Largest pattern payload the encoder accepts (fits a 1500-byte MTU with IPv6 + TCP).
pub const MAX_PAYLOAD: usize = 1400;

/// TCP flag bits.
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// The transport header of one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4 {
    Tcp {
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        win: u16,
    },
    Udp {
        sport: u16,
        dport: u16,
    },
    /// Echo request (`request == true`) or echo reply; ICMPv4 or ICMPv6 by address family.
    Echo {
        request: bool,
        id: u16,
        seq: u16,
    },
}

/// What goes after the transport header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    None,
    /// `n` bytes of the fixed filler pattern (`n <= MAX_PAYLOAD`).
    Pattern(u16),
    /// A DNS query for name `name` (index into [`DNS_NAMES`]).
    DnsQuery {
        id: u16,
        name: u8,
        aaaa: bool,
    },
    /// The matching DNS answer carrying one A/AAAA record.
    DnsAnswer {
        id: u16,
        name: u8,
        aaaa: bool,
    },
}

/// One packet to encode. `ts` is relative to the capture start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pkt {
    pub ts: u64,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    pub l4: L4,
    pub payload: Payload,
}

/// Query names used by the DNS traffic (all under reserved example domains).
pub const DNS_NAMES: &[&str] = &[
    "www.example.com",
    "api.example.com",
    "cdn.example.net",
    "mail.example.org",
    "static.example.com",
    "login.example.net",
    "updates.example.org",
    "img.example.com",
];

/// A deterministic MAC for an IP address (locally administered, unicast).
#[inline]
pub fn mac_of(ip: &IpAddr) -> [u8; 6] {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            [0x02, 0x00, o[0], o[1], o[2], o[3]]
        }
        IpAddr::V6(a) => {
            let o = a.octets();
            [0x02, 0x66, o[12], o[13], o[14], o[15]]
        }
    }
}

/// A plausible initial TTL minus a few hops, fixed per source address.
#[inline]
pub fn ttl_of(ip: &IpAddr) -> u8 {
    let h = match ip {
        IpAddr::V4(a) => u32::from(*a) as u64,
        IpAddr::V6(a) => (u128::from(*a) as u64) ^ ((u128::from(*a) >> 64) as u64),
    };
    let h = super::rng::mix64(h);
    let base: u8 = [64, 64, 128, 255][(h & 3) as usize];
    base - ((h >> 8) % 14) as u8
}

/// Ones-complement sum of big-endian 16-bit words (odd trailing byte zero-padded).
#[inline]
fn sum16(bytes: &[u8]) -> u64 {
    let mut s = 0u64;
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        s += u16::from_be_bytes([c[0], c[1]]) as u64;
    }
    if let [b] = chunks.remainder() {
        s += (*b as u64) << 8;
    }
    s
}

#[inline]
fn fold(mut s: u64) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Builds frames; owns the filler pattern and its prefix checksums.
pub struct Encoder {
    pattern: Vec<u8>,
    /// `prefix[n]` = `sum16(&pattern[..n])`.
    prefix: Vec<u64>,
    ip_id: u16,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

impl Encoder {
    pub fn new() -> Encoder {
        const TEXT: &[u8] =
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nServer: \
flowsentry-synth\r\nCache-Control: max-age=600\r\n\r\n<html><body><p>synthetic payload \
for documentation and testing only</p></body></html>\n";
        let pattern: Vec<u8> = TEXT.iter().copied().cycle().take(MAX_PAYLOAD).collect();
        let mut prefix = Vec::with_capacity(MAX_PAYLOAD + 1);
        for n in 0..=MAX_PAYLOAD {
            prefix.push(sum16(&pattern[..n]));
        }
        Encoder {
            pattern,
            prefix,
            ip_id: 0x1d2c,
        }
    }

    /// Encodes `p` as an Ethernet frame at the start of `buf`; returns the frame length.
    /// `buf` must hold at least 1600 bytes.
    pub fn encode(&mut self, p: &Pkt, buf: &mut [u8]) -> usize {
        let (l3_len, ethertype) = match p.src {
            IpAddr::V4(_) => (20, 0x0800u16),
            IpAddr::V6(_) => (40, 0x86DDu16),
        };
        buf[0..6].copy_from_slice(&mac_of(&p.dst));
        buf[6..12].copy_from_slice(&mac_of(&p.src));
        buf[12..14].copy_from_slice(&ethertype.to_be_bytes());
        let l4_off = 14 + l3_len;

        // Transport header (checksum left zero) and payload.
        let (proto, hdr_len) = match p.l4 {
            L4::Tcp {
                sport,
                dport,
                seq,
                ack,
                flags: f,
                win,
            } => {
                let h = &mut buf[l4_off..];
                let syn = f & flags::SYN != 0;
                let hl = if syn { 24 } else { 20 };
                h[0..2].copy_from_slice(&sport.to_be_bytes());
                h[2..4].copy_from_slice(&dport.to_be_bytes());
                h[4..8].copy_from_slice(&seq.to_be_bytes());
                h[8..12].copy_from_slice(&ack.to_be_bytes());
                h[12] = ((hl / 4) as u8) << 4;
                h[13] = f;
                h[14..16].copy_from_slice(&win.to_be_bytes());
                h[16..20].fill(0);
                if syn {
                    // MSS option: kind 2, length 4, 1460.
                    h[20..24].copy_from_slice(&[2, 4, 0x05, 0xb4]);
                }
                (6u8, hl)
            }
            L4::Udp { sport, dport } => {
                let h = &mut buf[l4_off..];
                h[0..2].copy_from_slice(&sport.to_be_bytes());
                h[2..4].copy_from_slice(&dport.to_be_bytes());
                h[4..8].fill(0);
                (17u8, 8)
            }
            L4::Echo { request, id, seq } => {
                let h = &mut buf[l4_off..];
                let v6 = l3_len == 40;
                h[0] = match (v6, request) {
                    (false, true) => 8,
                    (false, false) => 0,
                    (true, true) => 128,
                    (true, false) => 129,
                };
                h[1] = 0;
                h[2..4].fill(0);
                h[4..6].copy_from_slice(&id.to_be_bytes());
                h[6..8].copy_from_slice(&seq.to_be_bytes());
                (if v6 { 58u8 } else { 1u8 }, 8)
            }
        };
        let pay_off = l4_off + hdr_len;
        let (pay_len, pay_sum) = match p.payload {
            Payload::None => (0usize, 0u64),
            Payload::Pattern(n) => {
                let n = (n as usize).min(MAX_PAYLOAD);
                buf[pay_off..pay_off + n].copy_from_slice(&self.pattern[..n]);
                (n, self.prefix[n])
            }
            Payload::DnsQuery { id, name, aaaa } => {
                let n = write_dns(&mut buf[pay_off..], false, id, name, aaaa);
                (n, sum16(&buf[pay_off..pay_off + n]))
            }
            Payload::DnsAnswer { id, name, aaaa } => {
                let n = write_dns(&mut buf[pay_off..], true, id, name, aaaa);
                (n, sum16(&buf[pay_off..pay_off + n]))
            }
        };
        let l4_len = hdr_len + pay_len;
        if proto == 17 {
            buf[l4_off + 4..l4_off + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
        }

        // Network header and pseudo-header sum.
        let pseudo = match (p.src, p.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let h = &mut buf[14..34];
                h[0] = 0x45;
                h[1] = 0;
                h[2..4].copy_from_slice(&((20 + l4_len) as u16).to_be_bytes());
                h[4..6].copy_from_slice(&self.ip_id.to_be_bytes());
                self.ip_id = self.ip_id.wrapping_add(1);
                let frag: u16 = if proto == 6 { 0x4000 } else { 0 }; // DF for TCP
                h[6..8].copy_from_slice(&frag.to_be_bytes());
                h[8] = p.ttl;
                h[9] = proto;
                h[10..12].fill(0);
                h[12..16].copy_from_slice(&s.octets());
                h[16..20].copy_from_slice(&d.octets());
                let c = fold(sum16(h));
                h[10..12].copy_from_slice(&c.to_be_bytes());
                if proto == 1 {
                    0 // ICMPv4 has no pseudo-header
                } else {
                    sum16(&s.octets()) + sum16(&d.octets()) + proto as u64 + l4_len as u64
                }
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let h = &mut buf[14..54];
                h[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
                h[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
                h[6] = proto;
                h[7] = p.ttl;
                h[8..24].copy_from_slice(&s.octets());
                h[24..40].copy_from_slice(&d.octets());
                sum16(&s.octets()) + sum16(&d.octets()) + proto as u64 + l4_len as u64
            }
            _ => panic!("synth: mixed address families in one packet: {p:?}"),
        };

        let hdr_sum = sum16(&buf[l4_off..l4_off + hdr_len]);
        let mut c = fold(pseudo + hdr_sum + pay_sum);
        let csum_at = match p.l4 {
            L4::Tcp { .. } => l4_off + 16,
            L4::Udp { .. } => {
                if c == 0 {
                    c = 0xffff;
                }
                l4_off + 6
            }
            L4::Echo { .. } => l4_off + 2,
        };
        buf[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
        pay_off + pay_len
    }
}

/// Writes a DNS query or answer for `DNS_NAMES[name]` into `out`; returns its length.
fn write_dns(out: &mut [u8], answer: bool, id: u16, name: u8, aaaa: bool) -> usize {
    let qname = DNS_NAMES[name as usize % DNS_NAMES.len()];
    out[0..2].copy_from_slice(&id.to_be_bytes());
    let flags: u16 = if answer { 0x8180 } else { 0x0100 };
    out[2..4].copy_from_slice(&flags.to_be_bytes());
    out[4..6].copy_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    out[6..8].copy_from_slice(&(answer as u16).to_be_bytes()); // ANCOUNT
    out[8..12].fill(0);
    let mut i = 12;
    for label in qname.split('.') {
        out[i] = label.len() as u8;
        out[i + 1..i + 1 + label.len()].copy_from_slice(label.as_bytes());
        i += 1 + label.len();
    }
    out[i] = 0;
    i += 1;
    let qtype: u16 = if aaaa { 28 } else { 1 };
    out[i..i + 2].copy_from_slice(&qtype.to_be_bytes());
    out[i + 2..i + 4].copy_from_slice(&1u16.to_be_bytes());
    i += 4;
    if answer {
        out[i..i + 2].copy_from_slice(&0xc00cu16.to_be_bytes()); // pointer to the question
        out[i + 2..i + 4].copy_from_slice(&qtype.to_be_bytes());
        out[i + 4..i + 6].copy_from_slice(&1u16.to_be_bytes());
        out[i + 6..i + 10].copy_from_slice(&300u32.to_be_bytes());
        i += 10;
        let n = name as usize % DNS_NAMES.len();
        if aaaa {
            out[i..i + 2].copy_from_slice(&16u16.to_be_bytes());
            let mut a = [0u8; 16];
            a[0..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
            a[5] = 0x02;
            a[15] = 0x80 + n as u8;
            out[i + 2..i + 18].copy_from_slice(&a);
            i += 18;
        } else {
            out[i..i + 2].copy_from_slice(&4u16.to_be_bytes());
            out[i + 2..i + 6].copy_from_slice(&[203, 0, 113, 10 + n as u8]);
            i += 6;
        }
    }
    i
}

/// Classic pcap writer (microsecond timestamps, Ethernet link type).
pub struct PcapWriter<W: Write> {
    out: W,
    enc: Encoder,
    buf: Box<[u8; 2048]>,
    pub bytes: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the 24-byte global header.
    pub fn new(mut out: W) -> io::Result<PcapWriter<W>> {
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone = 0, sigfigs = 0
        h[16..20].copy_from_slice(&65535u32.to_le_bytes()); // snaplen
        h[20..24].copy_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
        out.write_all(&h)?;
        Ok(PcapWriter {
            out,
            enc: Encoder::new(),
            buf: Box::new([0u8; 2048]),
            bytes: 24,
        })
    }

    /// Appends one record; `abs_ts_ns` is nanoseconds since the Unix epoch.
    #[inline]
    pub fn write(&mut self, abs_ts_ns: u64, p: &Pkt) -> io::Result<()> {
        let n = self.enc.encode(p, &mut self.buf[16..]);
        let sec = (abs_ts_ns / 1_000_000_000) as u32;
        let usec = ((abs_ts_ns % 1_000_000_000) / 1000) as u32;
        self.buf[0..4].copy_from_slice(&sec.to_le_bytes());
        self.buf[4..8].copy_from_slice(&usec.to_le_bytes());
        self.buf[8..12].copy_from_slice(&(n as u32).to_le_bytes());
        self.buf[12..16].copy_from_slice(&(n as u32).to_le_bytes());
        self.out.write_all(&self.buf[..16 + n])?;
        self.bytes += 16 + n as u64;
        Ok(())
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}
