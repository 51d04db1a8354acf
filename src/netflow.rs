//! NetFlow v5, v9 and IPFIX datagrams -> [`Flow`]s, scaled by each exporter's sampling rate.
//!
//! In: one UDP datagram and the address it came from. Out: the flows it carries (their
//! packets and bytes multiplied by the exporter's sampling rate), and counts of what it
//! held (templates, options, data records, records not usable as flows).
//! Guarantees: never panics on any bytes (a fuzz target checks); templates are cached per
//! exporter address and observation domain / source id (`netflow_parser::AutoScopedParser`,
//! at most [`MAX_EXPORTERS`]), data arriving before its template is held (bounded) and
//! decoded when the template comes; a malformed datagram is an error the caller counts.
//!
//! # Time
//!
//! Windows use the flows' own times: NetFlow v5 and v9 give first and last packet as
//! milliseconds of the exporter's uptime, turned into wall time with the header's
//! `unix_secs` and `sys_up_time`; IPFIX gives them as absolute seconds or milliseconds, or
//! as uptime with `systemInitTimeMilliseconds` (else the export time). So the windows see
//! when the packets were sent, not when a flow was exported (its active or idle timeout
//! later), and a replayed pcap exported by softflowd keeps the pcap's times.
//!
//! # Sampling
//!
//! The rate is, in order: the data record's own sampling interval field; the rate the
//! exporter announced in v9/IPFIX options data (sampling interval, sampler random
//! interval, packet interval and space); the v5 header's sampling interval; the fallback
//! given (`collect --sampling`, default 1).

use std::net::{IpAddr, SocketAddr};

use lru::LruCache;
use netflow_parser::variable_versions::field_value::{DataNumber, DurationValue, FieldValue};
use netflow_parser::variable_versions::ipfix::lookup::{IANAIPFixField, IPFixField};
use netflow_parser::variable_versions::ipfix::FlowSetBody as IpfixBody;
use netflow_parser::variable_versions::v9::lookup::V9Field;
use netflow_parser::variable_versions::v9::FlowSetBody as V9Body;
use netflow_parser::{AutoScopedParser, NetflowPacket, PendingFlowsConfig};

use crate::flow::Flow;
use crate::record::Addr;

/// Most exporters (address, domain) whose templates are kept.
pub const MAX_EXPORTERS: usize = 4096;

/// What datagrams held, counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct NetflowStats {
    pub datagrams: u64,
    pub malformed_datagrams: u64,
    pub v5: u64,
    pub v9: u64,
    pub ipfix: u64,
    pub templates: u64,
    pub options_records: u64,
    pub flows: u64,
    /// Data records without addresses or packets (not flows).
    pub unusable_records: u64,
    /// Data that arrived before its template and was not decoded (yet).
    pub no_template: u64,
    /// Flows claiming more than an IP packet's 65,535 bytes a packet, or (scaled by the
    /// sampling rate) more than 2^32 - 1 packets: kept, taken at those bounds.
    pub implausible_records: u64,
    /// Exporters whose announced sampling rate or boot time was forgotten because more
    /// than [`MAX_EXPORTERS`] announced one (the least recently announced goes); their
    /// flows fall back to the header's rate or `--sampling` until they announce again.
    pub exporters_forgotten: u64,
}

/// Note what exporter `e` announced; when that makes an exporter forgotten, count it (and
/// log at each power of ten).
fn remember(map: &mut LruCache<IpAddr, u64>, e: IpAddr, v: u64, stats: &mut NetflowStats) {
    // (Bounded here rather than by `LruCache::new`, which reserves its whole capacity.)
    if !map.contains(&e) && map.len() >= MAX_EXPORTERS {
        map.pop_lru();
        stats.exporters_forgotten += 1;
        let n = stats.exporters_forgotten;
        if crate::summary::new_decade(n - 1, n) {
            tracing::warn!(
                "{n} exporters' sampling rates or boot times forgotten so far: more than \
                 {MAX_EXPORTERS} exporters announced one (their flows fall back to the \
                 header's rate or --sampling until they announce again)"
            );
        }
    }
    map.put(e, v);
}

/// Templates and sampling rates per exporter.
pub struct Collector {
    parser: AutoScopedParser,
    /// Sampling rate announced in options data, by exporter address (at most
    /// [`MAX_EXPORTERS`]: spoofed exporters cannot grow it).
    rates: LruCache<IpAddr, u64>,
    /// IPFIX exporters' boot time (ms since the epoch), from options data (as bounded).
    inits: LruCache<IpAddr, u64>,
    fallback_rate: u64,
    pub stats: NetflowStats,
    pub sflow: crate::sflow::SflowStats,
}

/// The fields of one data record that make a flow.
#[derive(Default)]
struct Fields {
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    sport: u16,
    dport: u16,
    proto: u8,
    flags: u8,
    /// From an ICMP type-and-code field; without one, ICMP flows carry type and code in
    /// the destination port (as NetFlow v5 does; pmacct's nfprobe does so in v9 and IPFIX).
    icmp_type: Option<u8>,
    packets: Option<u64>,
    bytes: u64,
    /// Absolute ms, or uptime ms (`*_up`).
    start_ms: Option<u64>,
    end_ms: Option<u64>,
    start_up: Option<u64>,
    end_up: Option<u64>,
    rate: Option<u64>,
}

fn num(v: &FieldValue) -> Option<u64> {
    Some(match v {
        FieldValue::DataNumber(d) => match d {
            DataNumber::U8(x) => *x as u64,
            DataNumber::U16(x) => *x as u64,
            DataNumber::U24(x) | DataNumber::U32(x) => *x as u64,
            DataNumber::U64(x) => *x,
            DataNumber::U128(x) => (*x).min(u64::MAX as u128) as u64,
            DataNumber::I8(x) => (*x).max(0) as u64,
            DataNumber::I16(x) => (*x).max(0) as u64,
            DataNumber::I24(x) | DataNumber::I32(x) => (*x).max(0) as u64,
            DataNumber::I64(x) => (*x).max(0) as u64,
            DataNumber::I128(x) => (*x).clamp(0, u64::MAX as i128) as u64,
            DataNumber::Vec(b) => b.iter().take(8).fold(0, |a, x| a << 8 | *x as u64),
        },
        FieldValue::Duration(d) => match d {
            DurationValue::Seconds { value, .. } => value.saturating_mul(1000),
            DurationValue::Millis { value, .. } => *value,
            DurationValue::MicrosNtp { seconds, .. } | DurationValue::NanosNtp { seconds, .. } => {
                (*seconds as u64).saturating_sub(2_208_988_800) * 1000
            }
        },
        FieldValue::ProtocolType(p) => u8::from(*p) as u64,
        FieldValue::TcpControlBits(b, _) => u16::from(*b) as u64 & 0xff,
        _ => return None,
    })
}

fn addr(v: &FieldValue) -> Option<IpAddr> {
    match v {
        FieldValue::Ip4Addr(a) => Some(IpAddr::V4(*a)),
        FieldValue::Ip6Addr(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

impl Fields {
    fn v9(rec: &[(V9Field, FieldValue)]) -> Fields {
        let mut f = Fields::default();
        for (k, v) in rec {
            let n = || num(v).unwrap_or(0);
            match k {
                V9Field::Ipv4SrcAddr | V9Field::Ipv6SrcAddr => f.src = addr(v),
                V9Field::Ipv4DstAddr | V9Field::Ipv6DstAddr => f.dst = addr(v),
                V9Field::L4SrcPort => f.sport = n() as u16,
                V9Field::L4DstPort => f.dport = n() as u16,
                V9Field::Protocol => f.proto = n() as u8,
                V9Field::TcpFlags => f.flags = n() as u8,
                V9Field::IcmpType => f.icmp_type = Some((n() >> 8) as u8),
                V9Field::InPkts => f.packets = num(v),
                V9Field::InBytes => f.bytes = n(),
                V9Field::FirstSwitched => f.start_up = num(v),
                V9Field::LastSwitched => f.end_up = num(v),
                V9Field::SamplingInterval | V9Field::FlowSamplerRandomInterval => {
                    f.rate = num(v).filter(|r| *r > 0)
                }
                _ => {}
            }
        }
        f
    }

    fn ipfix(rec: &[(IPFixField, FieldValue)]) -> Fields {
        use IANAIPFixField as I;
        let mut f = Fields::default();
        let mut interval_space = (None, None);
        for (k, v) in rec {
            let IPFixField::IANA(k) = k else { continue };
            let n = || num(v).unwrap_or(0);
            match k {
                I::SourceIpv4address | I::SourceIpv6address => f.src = addr(v),
                I::DestinationIpv4address | I::DestinationIpv6address => f.dst = addr(v),
                I::SourceTransportPort => f.sport = n() as u16,
                I::DestinationTransportPort => f.dport = n() as u16,
                I::ProtocolIdentifier => f.proto = n() as u8,
                I::TcpControlBits => f.flags = n() as u8,
                I::IcmpTypeCodeIpv4 | I::IcmpTypeCodeIpv6 => f.icmp_type = Some((n() >> 8) as u8),
                I::PacketDeltaCount | I::PacketTotalCount => f.packets = num(v),
                I::OctetDeltaCount | I::OctetTotalCount => f.bytes = n(),
                I::FlowStartSeconds | I::FlowStartMilliseconds => f.start_ms = num(v),
                I::FlowEndSeconds | I::FlowEndMilliseconds => f.end_ms = num(v),
                I::FlowStartSysUpTime => f.start_up = num(v),
                I::FlowEndSysUpTime => f.end_up = num(v),
                I::SamplingInterval | I::SamplerRandomInterval => {
                    f.rate = num(v).filter(|r| *r > 0)
                }
                I::SamplingPacketInterval => interval_space.0 = num(v),
                I::SamplingPacketSpace => interval_space.1 = num(v),
                _ => {}
            }
        }
        // One packet in (interval + space) is sampled.
        if let (Some(i), s) = interval_space {
            f.rate = i.saturating_add(s.unwrap_or(0)).checked_div(i).or(f.rate);
        }
        f
    }
}

impl Collector {
    /// `fallback_rate`: the sampling rate of exporters that announce none.
    pub fn new(fallback_rate: u64) -> Collector {
        // Data that comes before its template waits (64 KiB, about 45 full datagrams, and at
        // most 10 minutes per exporter: exporters, spoofed or not, hold at most
        // MAX_EXPORTERS times that, 256 MiB), and is decoded when the template comes.
        let mut pending = PendingFlowsConfig::with_ttl(64, std::time::Duration::from_secs(600));
        pending.max_entries_per_template = 64;
        pending.max_total_bytes = 64 << 10;
        let builder = netflow_parser::NetflowParser::builder().with_pending_flows(pending);
        let parser = AutoScopedParser::try_with_builder(builder)
            .and_then(|p| p.with_max_sources(MAX_EXPORTERS))
            .unwrap_or_default();
        Collector {
            parser,
            rates: LruCache::unbounded(),
            inits: LruCache::unbounded(),
            fallback_rate: fallback_rate.max(1),
            stats: NetflowStats::default(),
            sflow: Default::default(),
        }
    }

    /// The sampling rate announced by (or assumed for) each exporter seen.
    pub fn rates(&self) -> Vec<(IpAddr, u64)> {
        let mut v: Vec<_> = self.rates.iter().map(|(a, r)| (*a, *r)).collect();
        v.sort();
        v
    }

    /// The templates each v9 / IPFIX exporter (address, source id or observation domain)
    /// has cached, and its data records waiting for a template.
    pub fn templates(&self) -> Vec<crate::summary::ExporterTemplates> {
        let one = |protocol, addr: &SocketAddr, domain, i: netflow_parser::ParserCacheInfo| {
            crate::summary::ExporterTemplates {
                exporter: addr.to_string(),
                domain,
                protocol,
                templates: (i.v9.current_size + i.ipfix.current_size) as u64,
                waiting: (i.v9.pending_flow_count + i.ipfix.pending_flow_count) as u64,
            }
        };
        let v9 = self
            .parser
            .v9_info()
            .into_iter()
            .map(|(k, i)| one("netflow_v9", &k.addr, k.source_id, i));
        let ipfix = self
            .parser
            .ipfix_info()
            .into_iter()
            .map(|(k, i)| one("ipfix", &k.addr, k.observation_domain_id, i));
        let mut v: Vec<_> = v9.chain(ipfix).collect();
        v.sort_by(|a, b| {
            (&a.exporter, a.domain, a.protocol).cmp(&(&b.exporter, b.domain, b.protocol))
        });
        v
    }

    /// Data flowsets that were not (and, at the end of the run, will never be) decoded:
    /// those that came without their template and did not fit the wait, those dropped from
    /// it (expired, evicted, or not decodable with the template that came), and those still
    /// waiting. A loss, counted by flowset (what the datagram said of its records).
    pub fn data_without_template(&self) -> u64 {
        let (mut held, mut lost) = (0, 0);
        let mut add = |i: &netflow_parser::ParserCacheInfo| {
            for c in [&i.v9, &i.ipfix] {
                held += c.metrics.pending_cached;
                lost += c.metrics.pending_dropped + c.metrics.pending_replay_failed;
                lost += c.pending_flow_count as u64;
            }
        };
        self.parser.v9_info().iter().for_each(|(_, i)| add(i));
        self.parser.ipfix_info().iter().for_each(|(_, i)| add(i));
        self.stats.no_template.saturating_sub(held) + lost
    }

    /// Decode one datagram from `from`; its flows are appended to `out`. An error (the
    /// datagram or its tail was malformed) is counted and returned; flows decoded before it
    /// are kept.
    pub fn datagram(
        &mut self,
        from: SocketAddr,
        data: &[u8],
        out: &mut Vec<Flow>,
    ) -> Result<(), String> {
        self.stats.datagrams += 1;
        let res = self.parser.parse_from_source(from, data);
        for p in &res.packets {
            match p {
                NetflowPacket::V5(v5) => self.v5(v5, out),
                NetflowPacket::V9(v9) => self.v9(from.ip(), v9, out),
                NetflowPacket::IPFix(ipfix) => self.ipfix(from.ip(), ipfix, out),
                _ => self.stats.unusable_records += 1,
            }
        }
        match res.error {
            Some(e) => {
                self.stats.malformed_datagrams += 1;
                Err(e.to_string())
            }
            None if res.packets.is_empty() => {
                self.stats.malformed_datagrams += 1;
                Err("no NetFlow v5/v9 or IPFIX message".into())
            }
            None => Ok(()),
        }
    }

    /// Decode one datagram of any protocol the collector takes, arrived at `at_ns`: the
    /// flows of NetFlow and IPFIX to `flows`, the sampled packets of sFlow to `packets`
    /// (their rates noted per agent). An error (counted as a malformed datagram) says why
    /// the datagram or its tail was not used; what came before it is kept.
    pub fn decode(
        &mut self,
        from: SocketAddr,
        at_ns: u64,
        data: &[u8],
        flows: &mut Vec<Flow>,
        packets: &mut Vec<(crate::record::Record, u32)>,
    ) -> Result<(), String> {
        if !crate::sflow::is_sflow(data) {
            return self.datagram(from, data, flows);
        }
        let (rates, stats) = (&mut self.rates, &mut self.stats);
        let res = crate::sflow::datagram(
            data,
            at_ns,
            self.fallback_rate,
            &mut self.sflow,
            packets,
            |a, r| {
                if rates.peek(&a) != Some(&r) {
                    remember(rates, a, r, stats);
                }
            },
        );
        if res.is_err() {
            self.stats.malformed_datagrams += 1;
        }
        res
    }

    fn rate_of(&self, exporter: IpAddr, header: Option<u64>) -> u64 {
        self.rates
            .peek(&exporter)
            .copied()
            .or(header)
            .unwrap_or(self.fallback_rate)
    }

    fn v5(&mut self, v5: &netflow_parser::static_versions::v5::V5, out: &mut Vec<Flow>) {
        self.stats.v5 += 1;
        let h = &v5.header;
        // The low 14 bits are the interval; 0 means not sampled.
        let interval = (h.sampling_interval & 0x3fff) as u64;
        let rate = if interval > 0 {
            interval
        } else {
            self.fallback_rate
        };
        let now_ms = h.unix_secs as u64 * 1000 + h.unix_nsecs as u64 / 1_000_000;
        for s in &v5.flowsets {
            let f = Fields {
                src: Some(IpAddr::V4(s.src_addr)),
                dst: Some(IpAddr::V4(s.dst_addr)),
                sport: s.src_port,
                dport: s.dst_port,
                proto: s.protocol_number,
                flags: s.tcp_flags,
                // v5 carries ICMP type and code in the destination port.
                icmp_type: None,
                packets: Some(s.d_pkts as u64),
                bytes: s.d_octets as u64,
                start_up: Some(s.first as u64),
                end_up: Some(s.last as u64),
                ..Default::default()
            };
            self.push(f, now_ms, h.sys_up_time as u64, rate, out);
        }
    }

    fn v9(
        &mut self,
        exporter: IpAddr,
        v9: &netflow_parser::variable_versions::v9::V9,
        out: &mut Vec<Flow>,
    ) {
        self.stats.v9 += 1;
        let now_ms = v9.header.unix_secs as u64 * 1000;
        let up = v9.header.sys_up_time as u64;
        for fs in &v9.flowsets {
            match &fs.body {
                V9Body::Template(t) => self.stats.templates += t.templates.len() as u64,
                V9Body::OptionsTemplate(_) => self.stats.templates += 1,
                V9Body::OptionsData(d) => {
                    for r in &d.fields {
                        self.stats.options_records += 1;
                        if let Some(rate) = Fields::v9(&r.options_fields).rate {
                            remember(&mut self.rates, exporter, rate, &mut self.stats);
                        }
                    }
                }
                V9Body::Data(d) => {
                    let rate = self.rate_of(exporter, None);
                    for r in &d.fields {
                        self.push(Fields::v9(r), now_ms, up, rate, out);
                    }
                }
                V9Body::NoTemplate(_) => self.stats.no_template += 1,
                V9Body::Empty => {}
            }
        }
    }

    fn ipfix(
        &mut self,
        exporter: IpAddr,
        m: &netflow_parser::variable_versions::ipfix::IPFix,
        out: &mut Vec<Flow>,
    ) {
        self.stats.ipfix += 1;
        let now_ms = m.header.export_time as u64 * 1000;
        for fs in &m.flowsets {
            match &fs.body {
                IpfixBody::Template(_) | IpfixBody::OptionsTemplate(_) => self.stats.templates += 1,
                IpfixBody::Templates(t) => self.stats.templates += t.len() as u64,
                IpfixBody::OptionsTemplates(t) => self.stats.templates += t.len() as u64,
                IpfixBody::OptionsData(d) => {
                    for r in &d.fields {
                        self.stats.options_records += 1;
                        if let Some(rate) = Fields::ipfix(r).rate {
                            remember(&mut self.rates, exporter, rate, &mut self.stats);
                        }
                        if let Some(init) = system_init_ms(r) {
                            remember(&mut self.inits, exporter, init, &mut self.stats);
                        }
                    }
                }
                IpfixBody::Data(d) => {
                    let rate = self.rate_of(exporter, None);
                    // Uptime-relative times need the exporter's boot time.
                    let init = self.inits.peek(&exporter).copied();
                    for r in &d.fields {
                        let mut f = Fields::ipfix(r);
                        if let (Some(boot), None) = (init, f.start_ms) {
                            f.start_ms = f.start_up.map(|u| boot.saturating_add(u));
                            f.end_ms = f.end_up.map(|u| boot.saturating_add(u));
                        }
                        self.push(f, now_ms, 0, rate, out);
                    }
                }
                IpfixBody::V9Data(d) => {
                    let rate = self.rate_of(exporter, None);
                    for r in &d.fields {
                        self.push(Fields::v9(r), now_ms, 0, rate, out);
                    }
                }
                IpfixBody::NoTemplate(_) => self.stats.no_template += 1,
                _ => {}
            }
        }
    }

    /// One data record: a flow if it has addresses and packets; times from absolute
    /// milliseconds, else from uptime (`now_ms` is the export time, `up_ms` the uptime then).
    fn push(&mut self, f: Fields, now_ms: u64, up_ms: u64, rate: u64, out: &mut Vec<Flow>) {
        let (Some(src), Some(dst), Some(packets)) = (f.src, f.dst, f.packets) else {
            self.stats.unusable_records += 1;
            return;
        };
        if packets == 0 {
            self.stats.unusable_records += 1;
            return;
        }
        let boot = now_ms.saturating_sub(up_ms);
        let abs = |ms: Option<u64>, upt: Option<u64>| ms.or(upt.map(|u| boot.saturating_add(u)));
        let start = abs(f.start_ms, f.start_up).unwrap_or(now_ms);
        let end = abs(f.end_ms, f.end_up).unwrap_or(start).max(start);
        let rate = f.rate.unwrap_or(rate).max(1);
        // Nanoseconds since the epoch end in 2554: later times are garbage.
        if end > u64::MAX / 1_000_000 {
            self.stats.unusable_records += 1;
            return;
        }
        let ms = |t: u64| t * 1_000_000;
        self.stats.flows += 1;
        let most_bytes = packets.saturating_mul(crate::flow::MAX_PACKET_BYTES);
        if f.bytes > most_bytes || packets.saturating_mul(rate) > crate::flow::MAX_FLOW_PACKETS {
            self.stats.implausible_records += 1;
            if self.stats.implausible_records.is_power_of_two() {
                tracing::warn!(
                    "{} flow record(s) so far claim more than 65,535 bytes a packet or 2^32 - 1 \
                     packets (taken at those bounds, counted), latest {src} > {dst}",
                    self.stats.implausible_records
                );
            }
        }
        out.push(Flow {
            src: Addr::from(src),
            dst: Addr::from(dst),
            src_port: f.sport,
            dst_port: f.dport,
            proto: f.proto,
            tcp_flags: f.flags,
            icmp_type: f.icmp_type.unwrap_or(match f.proto {
                crate::record::proto::ICMP | crate::record::proto::ICMPV6 => (f.dport >> 8) as u8,
                _ => 0,
            }),
            packets,
            bytes: f.bytes,
            rate,
            start_ns: ms(start),
            end_ns: ms(end),
        });
    }
}

/// `systemInitTimeMilliseconds` in an IPFIX options record (the exporter's boot time).
fn system_init_ms(rec: &[(IPFixField, FieldValue)]) -> Option<u64> {
    rec.iter().find_map(|(k, v)| match k {
        IPFixField::IANA(IANAIPFixField::SystemInitTimeMilliseconds) => num(v),
        _ => None,
    })
}

#[cfg(test)]
mod tests;
