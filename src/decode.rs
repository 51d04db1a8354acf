//! Decode: raw frame bytes from a capture -> [`Record`].
//!
//! In: the capture's link type, the capture time and the captured bytes of one frame.
//! Out: `Some(Record)` for IPv4 / IPv6 packets, `None` for everything else, with every
//! reason counted in [`DecodeStats`] by layer.
//! Guarantees: never panics on any input (etherparse's lax slicing validates every length
//! before a field is read; our own few reads are bounds-checked); a truncated capture
//! (snaplen) still yields a record when the IP header is complete. Link types: Ethernet
//! (with 802.1Q / QinQ tags), Linux cooked v1 (SLL) and v2 (SLL2), raw IP, BSD loopback.
//! IP fragments: the first fragment carries the ports; later fragments are counted and
//! yield a record with ports 0 (they still count as packets and bytes of their source).
//! ICMP errors: the record carries the quoted packet's protocol (in `tcp_flags`) and ports,
//! which the conversation stage matches against the attempt they answer.

use etherparse::{
    ip_number, EtherType, Ethernet2Slice, Icmpv4Slice, Icmpv6Slice, IpNumber, LaxIpPayloadSlice,
    LaxIpSlice, LaxIpv4Slice, LaxIpv6Slice, LaxNetSlice, LaxSlicedPacket, TcpSlice, TransportSlice,
    UdpSlice,
};
use serde::Serialize;

use crate::record::{frag, proto, Addr, Record};

/// libpcap link-layer header types (LINKTYPE_* values) that flowsentry decodes.
pub mod linktype {
    pub const NULL: i32 = 0;
    pub const ETHERNET: i32 = 1;
    pub const RAW_OPENBSD: i32 = 12;
    pub const RAW_BSDOS: i32 = 14;
    pub const RAW: i32 = 101;
    pub const LOOP: i32 = 108;
    pub const LINUX_SLL: i32 = 113;
    pub const IPV4: i32 = 228;
    pub const IPV6: i32 = 229;
    pub const LINUX_SLL2: i32 = 276;

    /// Every link type flowsentry decodes.
    pub const ALL: [i32; 10] = [
        NULL,
        ETHERNET,
        RAW_OPENBSD,
        RAW_BSDOS,
        RAW,
        LOOP,
        LINUX_SLL,
        IPV4,
        IPV6,
        LINUX_SLL2,
    ];

    pub fn is_supported(lt: i32) -> bool {
        ALL.contains(&lt)
    }
}

/// What decoding saw, by layer. Every frame lands in exactly one of `records`, `non_ip`,
/// `link_errors`, `network_errors`, `unsupported_link`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DecodeStats {
    /// Frames that became records.
    pub records: u64,
    /// Frames that were valid but carried no IP (ARP, LLDP, STP ...): not an error.
    pub non_ip: u64,
    /// Link header truncated or malformed.
    pub link_errors: u64,
    /// IP header truncated or malformed.
    pub network_errors: u64,
    /// Records whose TCP/UDP/ICMP header was truncated or malformed (still kept: the
    /// IP layer is good, so packets and bytes count; ports and flags are 0).
    pub transport_errors: u64,
    /// Records whose IP extension headers (IPv6 Hop-by-Hop, Routing, Fragment, Destination
    /// Options, AH; IPv4 AH) were truncated or malformed. Still kept, as the IP header is
    /// good; the transport is not read past the bad header, so ports and flags are 0.
    pub ip_ext_errors: u64,
    /// Frames of a link type flowsentry does not decode.
    pub unsupported_link: u64,
    /// Records from IP fragments after the first (no ports).
    pub later_fragments: u64,
    /// Records from first IP fragments.
    pub first_fragments: u64,
}

impl DecodeStats {
    pub fn add(&mut self, o: &DecodeStats) {
        self.records += o.records;
        self.non_ip += o.non_ip;
        self.link_errors += o.link_errors;
        self.network_errors += o.network_errors;
        self.transport_errors += o.transport_errors;
        self.ip_ext_errors += o.ip_ext_errors;
        self.unsupported_link += o.unsupported_link;
        self.later_fragments += o.later_fragments;
        self.first_fragments += o.first_fragments;
    }

    /// Frames decoded or counted: every frame adds exactly one.
    pub fn frames(&self) -> u64 {
        self.records + self.non_ip + self.link_errors + self.network_errors + self.unsupported_link
    }

    /// Malformed frames in all layers.
    pub fn errors(&self) -> u64 {
        self.link_errors + self.network_errors + self.transport_errors + self.ip_ext_errors
    }
}

/// Decode one frame. `ts_ns` is the capture time in nanoseconds since the epoch.
#[inline]
pub fn decode(linktype: i32, ts_ns: u64, data: &[u8], stats: &mut DecodeStats) -> Option<Record> {
    if linktype == linktype::ETHERNET {
        if let Some(r) = decode_ethernet_ip(ts_ns, data, stats) {
            return r;
        }
    }
    decode_sliced(linktype, ts_ns, data, stats)
}

/// The common case, sliced layer by layer (etherparse's Ethernet, IP and transport slices)
/// rather than into a whole `LaxSlicedPacket`, which is several hundred bytes to build and
/// move per frame: an untagged Ethernet frame whose IP header slices. `None` for anything
/// else (VLAN tags, other EtherTypes, errors up to the IP header), which
/// [`decode_sliced`] then handles; where both apply they give the same record and counts
/// (a test compares them on every capture and on random bytes).
#[inline]
fn decode_ethernet_ip(ts_ns: u64, data: &[u8], stats: &mut DecodeStats) -> Option<Option<Record>> {
    let eth = Ethernet2Slice::from_slice_without_fcs(data).ok()?;
    let et = eth.ether_type();
    if et != EtherType::IPV4 && et != EtherType::IPV6 {
        return None;
    }
    let (ip, ext_err) = LaxIpSlice::from_slice(eth.payload_slice()).ok()?;
    let mut rec = Record {
        ts_ns,
        ..Default::default()
    };
    let payload = match &ip {
        LaxIpSlice::Ipv4(v4) => ipv4_fields(&mut rec, v4),
        LaxIpSlice::Ipv6(v6) => ipv6_fields(&mut rec, v6),
    };
    if ext_err.is_some() {
        stats.ip_ext_errors += 1;
    }
    // etherparse slices no transport after an extension-header error or in a fragment.
    let transport = if ext_err.is_some() || payload.fragmented {
        None
    } else {
        slice_transport(payload)
    };
    Some(finish(rec, payload, transport, stats))
}

/// What etherparse's `LaxSlicedPacket` would slice as the transport layer.
#[inline]
fn slice_transport<'a>(p: &LaxIpPayloadSlice<'a>) -> Option<TransportSlice<'a>> {
    match p.ip_number {
        ip_number::TCP => TcpSlice::from_slice(p.payload)
            .ok()
            .map(TransportSlice::Tcp),
        ip_number::UDP => UdpSlice::from_slice_lax(p.payload)
            .ok()
            .map(TransportSlice::Udp),
        ip_number::ICMP => Icmpv4Slice::from_slice(p.payload)
            .ok()
            .map(TransportSlice::Icmpv4),
        ip_number::IPV6_ICMP => Icmpv6Slice::from_slice(p.payload)
            .ok()
            .map(TransportSlice::Icmpv6),
        _ => None,
    }
}

/// Decode one frame through etherparse's whole-packet slicing (every link type).
pub fn decode_sliced(
    linktype: i32,
    ts_ns: u64,
    data: &[u8],
    stats: &mut DecodeStats,
) -> Option<Record> {
    let sliced = match linktype {
        linktype::ETHERNET => match LaxSlicedPacket::from_ethernet(data) {
            Ok(p) => p,
            Err(_) => {
                stats.link_errors += 1;
                return None;
            }
        },
        linktype::RAW
        | linktype::RAW_OPENBSD
        | linktype::RAW_BSDOS
        | linktype::IPV4
        | linktype::IPV6 => match LaxSlicedPacket::from_ip(data) {
            Ok(p) => p,
            Err(_) => {
                stats.network_errors += 1;
                return None;
            }
        },
        linktype::LINUX_SLL => {
            // 16-byte header; protocol type (an EtherType for IP) at offset 14.
            let Some(hdr) = data.get(..16) else {
                stats.link_errors += 1;
                return None;
            };
            let et = u16::from_be_bytes([hdr[14], hdr[15]]);
            LaxSlicedPacket::from_ether_type(EtherType(et), &data[16..])
        }
        linktype::LINUX_SLL2 => {
            // 20-byte header; protocol type at offset 0.
            let Some(hdr) = data.get(..20) else {
                stats.link_errors += 1;
                return None;
            };
            let et = u16::from_be_bytes([hdr[0], hdr[1]]);
            LaxSlicedPacket::from_ether_type(EtherType(et), &data[20..])
        }
        linktype::NULL | linktype::LOOP => {
            // 4-byte address family, host byte order for NULL, network order for LOOP.
            let Some(hdr) = data.get(..4) else {
                stats.link_errors += 1;
                return None;
            };
            let le = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
            let be = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
            let fam = if linktype == linktype::LOOP {
                be
            } else if le < 256 {
                le
            } else {
                be
            };
            let et = match fam {
                2 => EtherType::IPV4,
                // AF_INET6 differs between BSDs: 24, 28, 30 (and 10 on Linux).
                10 | 24 | 28 | 30 => EtherType::IPV6,
                _ => {
                    stats.non_ip += 1;
                    return None;
                }
            };
            LaxSlicedPacket::from_ether_type(et, &data[4..])
        }
        _ => {
            stats.unsupported_link += 1;
            return None;
        }
    };
    from_sliced(&sliced, ts_ns, stats)
}

fn from_sliced(p: &LaxSlicedPacket<'_>, ts_ns: u64, stats: &mut DecodeStats) -> Option<Record> {
    let mut rec = Record {
        ts_ns,
        ..Default::default()
    };
    if matches!(&p.stop_err, Some((_, layer)) if p.net.is_some() && is_ip_ext_layer(*layer)) {
        stats.ip_ext_errors += 1;
    }
    let payload = match &p.net {
        Some(LaxNetSlice::Ipv4(v4)) => ipv4_fields(&mut rec, v4),
        Some(LaxNetSlice::Ipv6(v6)) => ipv6_fields(&mut rec, v6),
        Some(LaxNetSlice::Arp(_)) => {
            stats.non_ip += 1;
            return None;
        }
        None => {
            match &p.stop_err {
                Some((_, layer)) if is_link_layer(*layer) => stats.link_errors += 1,
                Some(_) => stats.network_errors += 1,
                None => stats.non_ip += 1,
            }
            return None;
        }
    };
    finish(rec, payload, p.transport.clone(), stats)
}

/// Addresses, length and fragment state of an IPv4 packet; its payload.
#[inline]
fn ipv4_fields<'a, 'b>(rec: &mut Record, v4: &'b LaxIpv4Slice<'a>) -> &'b LaxIpPayloadSlice<'a> {
    let h = v4.header();
    rec.src = Addr::v4(h.source());
    rec.dst = Addr::v4(h.destination());
    rec.ip_len = h.total_len() as u32;
    // The IP payload as the header says; `finish` takes the transport header off.
    rec.payload_len = h.total_len().saturating_sub(u16::from(h.ihl()) * 4);
    if h.is_fragmenting_payload() {
        rec.frag = if h.fragments_offset().value() == 0 {
            frag::FIRST
        } else {
            frag::LATER
        };
    }
    v4.payload()
}

/// Addresses, length and fragment state of an IPv6 packet; its payload.
#[inline]
fn ipv6_fields<'a, 'b>(rec: &mut Record, v6: &'b LaxIpv6Slice<'a>) -> &'b LaxIpPayloadSlice<'a> {
    let h = v6.header();
    rec.src = Addr::v6(h.source());
    rec.dst = Addr::v6(h.destination());
    rec.ip_len = h.payload_length() as u32 + 40;
    let exts = v6.extensions();
    rec.payload_len = h
        .payload_length()
        .saturating_sub(exts.slice().len().min(u16::MAX as usize) as u16);
    if v6.is_payload_fragmented() {
        rec.frag = if has_first_fragment_header(h.next_header().0, exts.slice()) {
            frag::FIRST
        } else {
            frag::LATER
        };
    }
    v6.payload()
}

/// Whether the IPv6 extension-header chain `exts` (starting with header number `first`)
/// holds a Fragment header with offset 0. Walked here with every length checked, instead of
/// through etherparse 0.21's `Ipv6ExtensionSliceIter`: after a lax parse that stopped at a
/// bad header (e.g. a Fragment header naming Hop-by-Hop next) that iterator keeps going
/// past the end of the validated bytes with unchecked slicing, reading out of bounds (a
/// segfault on one crafted frame; see `tests/upstream/etherparse-ipv6-ext-iter.md`).
fn has_first_fragment_header(first: u8, exts: &[u8]) -> bool {
    const HOP_BY_HOP: u8 = 0;
    const ROUTING: u8 = 43;
    const FRAGMENT: u8 = 44;
    const AUTH: u8 = 51;
    const DEST_OPTIONS: u8 = 60;
    let (mut next, mut rest) = (first, exts);
    let mut found = false;
    loop {
        let len = match (next, rest.get(1)) {
            (HOP_BY_HOP | ROUTING | DEST_OPTIONS, Some(&l)) => (usize::from(l) + 1) * 8,
            (AUTH, Some(&l)) => (usize::from(l) + 2) * 4,
            (FRAGMENT, Some(_)) => 8,
            _ => return found,
        };
        let Some(header) = rest.get(..len) else {
            return found;
        };
        if next == FRAGMENT && u16::from_be_bytes([header[2], header[3]]) >> 3 == 0 {
            found = true;
        }
        next = header[0];
        rest = &rest[len..];
    }
}

/// Protocol, ports, flags and ICMP type from the sliced transport (or the raw bytes when
/// etherparse sliced none); counts the record.
#[inline]
fn finish(
    mut rec: Record,
    payload: &LaxIpPayloadSlice<'_>,
    transport: Option<TransportSlice<'_>>,
    stats: &mut DecodeStats,
) -> Option<Record> {
    let IpNumber(p) = payload.ip_number;
    rec.proto = p;
    match rec.frag {
        frag::LATER => stats.later_fragments += 1,
        frag::FIRST => stats.first_fragments += 1,
        _ => {}
    }
    if rec.frag == frag::LATER {
        stats.records += 1;
        return Some(rec);
    }
    let ok = match &transport {
        Some(TransportSlice::Tcp(t)) => {
            rec.src_port = t.source_port();
            rec.dst_port = t.destination_port();
            rec.tcp_flags = t.header_slice().get(13).copied().unwrap_or(0);
            rec.payload_len = rec.payload_len.saturating_sub(t.header_len() as u16);
            true
        }
        Some(TransportSlice::Udp(u)) => {
            rec.src_port = u.source_port();
            rec.dst_port = u.destination_port();
            rec.payload_len = rec.payload_len.saturating_sub(8);
            true
        }
        Some(TransportSlice::Icmpv4(i)) => {
            rec.payload_len = rec.payload_len.saturating_sub(8);
            rec.icmp_type = i.type_u8();
            if rec.is_icmp_error() {
                quoted_packet(&mut rec, i.payload());
            }
            true
        }
        Some(TransportSlice::Icmpv6(i)) => {
            rec.payload_len = rec.payload_len.saturating_sub(8);
            rec.icmp_type = i.type_u8();
            if rec.is_icmp_error() {
                quoted_packet(&mut rec, i.payload());
            }
            true
        }
        Some(_) => true,
        // Fragmented payloads are not sliced by etherparse: read the first fragment's
        // transport header ourselves (bounds-checked).
        None => raw_transport(&mut rec, payload.payload),
    };
    if !ok {
        stats.transport_errors += 1;
    }
    stats.records += 1;
    Some(rec)
}

/// An ICMP error's quoted packet (its IP header and at least 8 bytes of what followed):
/// the quoted protocol into `tcp_flags`, the quoted ports into `src_port` / `dst_port`
/// (for TCP, UDP, SCTP and UDP-Lite). Whatever is missing stays 0; nothing is read past
/// `quote`. IPv6 extension headers in the quote are not walked (the protocol is then the
/// first extension's number and the ports stay 0).
fn quoted_packet(rec: &mut Record, quote: &[u8]) {
    let (proto, transport) = match quote.first().map(|b| b >> 4) {
        Some(4) => {
            let ihl = usize::from(quote[0] & 0x0f) * 4;
            match quote.get(9) {
                Some(&p) if ihl >= 20 => (p, quote.get(ihl..)),
                _ => return,
            }
        }
        Some(6) => match quote.get(6) {
            Some(&p) => (p, quote.get(40..)),
            None => return,
        },
        _ => return,
    };
    rec.tcp_flags = proto;
    if let (6 | 17 | 132 | 136, Some(t)) = (proto, transport) {
        if let Some(p) = t.get(..4) {
            rec.src_port = u16::from_be_bytes([p[0], p[1]]);
            rec.dst_port = u16::from_be_bytes([p[2], p[3]]);
        }
    }
}

/// Fill ports / flags / ICMP type from raw transport bytes; false when too short for the
/// protocol's fixed header.
fn raw_transport(rec: &mut Record, b: &[u8]) -> bool {
    match rec.proto {
        proto::TCP => {
            if b.len() < 20 {
                return false;
            }
            rec.src_port = u16::from_be_bytes([b[0], b[1]]);
            rec.dst_port = u16::from_be_bytes([b[2], b[3]]);
            rec.tcp_flags = b[13];
            rec.payload_len = rec.payload_len.saturating_sub(u16::from(b[12] >> 4) * 4);
            true
        }
        proto::UDP => {
            if b.len() < 8 {
                return false;
            }
            rec.src_port = u16::from_be_bytes([b[0], b[1]]);
            rec.dst_port = u16::from_be_bytes([b[2], b[3]]);
            rec.payload_len = rec.payload_len.saturating_sub(8);
            true
        }
        proto::ICMP | proto::ICMPV6 => match b.first() {
            Some(t) if b.len() >= 8 => {
                rec.payload_len = rec.payload_len.saturating_sub(8);
                rec.icmp_type = *t;
                true
            }
            _ => false,
        },
        _ => true,
    }
}

fn is_ip_ext_layer(l: etherparse::err::Layer) -> bool {
    use etherparse::err::Layer;
    matches!(
        l,
        Layer::IpAuthHeader
            | Layer::Ipv6ExtHeader
            | Layer::Ipv6HopByHopHeader
            | Layer::Ipv6DestOptionsHeader
            | Layer::Ipv6RouteHeader
            | Layer::Ipv6FragHeader
    )
}

fn is_link_layer(l: etherparse::err::Layer) -> bool {
    use etherparse::err::Layer;
    matches!(
        l,
        Layer::Ethernet2Header | Layer::VlanHeader | Layer::LinuxSllHeader | Layer::MacsecHeader
    )
}

pub mod crafted;

#[cfg(test)]
mod tests;
