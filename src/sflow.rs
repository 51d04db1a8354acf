//! sFlow v5 datagrams -> sampled packets as weighted records.
//!
//! In: one UDP datagram (sFlow version 5: it starts with the 32-bit version 5, where NetFlow
//! starts with a 16-bit version), the address it came from and when it arrived. Out: one
//! [`Record`] per sampled packet header (flow samples, compact and expanded), decoded by
//! the packet decoder like a captured frame and weighted by its sample's sampling rate
//! (`Record::more_packets` = rate - 1), with the frame's length on the wire.
//! Guarantees: never panics on any bytes (the netflow fuzz target feeds sFlow too); a
//! malformed datagram is an error the caller counts (samples decoded before the error are
//! kept); headers that are not Ethernet, IPv4 or IPv6, or that do not decode, are counted
//! as lost (the source reports them as malformed input); headers of non-IP frames are
//! counted apart, as a capture's are.
//!
//! # Time
//!
//! sFlow samples carry no time but the agent's uptime, so a sample is dated when its
//! datagram arrived (stamped by the receiver, as the kernel stamps captured packets). Agents
//! send samples within a second or so of the packet; an exporter replaying an old capture
//! at full speed squeezes its whole span into the seconds it takes.
//!
//! # Sampling
//!
//! Each flow sample says its own rate (1 in N packets); 0 (not given) takes the fallback
//! (`collect --sampling`). The latest rate per agent is kept for reports (at most
//! [`crate::netflow::MAX_EXPORTERS`] agents).

use std::net::IpAddr;

use sflow_parser::models::core::{FlowData, SampleData};
use sflow_parser::models::record_flows::{HeaderProtocol, SampledHeader};

use crate::decode::{decode, linktype, DecodeStats};
use crate::record::Record;

/// What sFlow datagrams held, counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SflowStats {
    pub datagrams: u64,
    pub flow_samples: u64,
    pub counter_samples: u64,
    /// Sampled packet headers that became records.
    pub packets: u64,
    /// Headers of another link type than Ethernet, IPv4 or IPv6, and headers that did not
    /// decode (malformed): lost, so counted as malformed input (the run exits 3).
    pub undecoded: u64,
    /// Headers of frames that are not IP (ARP, LLDP ...): nothing for the rules, as in a
    /// capture; not a loss.
    pub non_ip: u64,
    /// Flow records that are not packet headers (switch, router, gateway data ...): not
    /// used.
    pub other_records: u64,
    /// Samples the agents said they dropped (lack of resources): the sampled counts are
    /// that much short.
    pub agent_drops: u64,
}

/// Whether `data` is an sFlow version 5 datagram (by its first four bytes).
pub fn is_sflow(data: &[u8]) -> bool {
    data.get(..4) == Some(&[0, 0, 0, 5])
}

/// The datagram's sampled packets, appended to `out` as (record, wire length); each
/// sample's rate is reported through `rate(agent, rate)`. `Err` when the datagram is
/// malformed (what came before the error is kept).
pub fn datagram(
    data: &[u8],
    at_ns: u64,
    fallback_rate: u64,
    stats: &mut SflowStats,
    out: &mut Vec<(Record, u32)>,
    mut rate: impl FnMut(IpAddr, u64),
) -> Result<(), String> {
    stats.datagrams += 1;
    let d = sflow_parser::parse_datagram(data).map_err(|e| format!("sFlow: {e}"))?;
    let agent = match d.agent_address {
        sflow_parser::models::core::Address::IPv4(a) => Some(IpAddr::V4(a)),
        sflow_parser::models::core::Address::IPv6(a) => Some(IpAddr::V6(a)),
        sflow_parser::models::core::Address::Unknown => None,
    };
    let mut dstats = DecodeStats::default();
    for s in &d.samples {
        let (n, drops, records) = match &s.sample_data {
            SampleData::FlowSample(f) => (f.sampling_rate, f.drops, &f.flow_records),
            SampleData::FlowSampleExpanded(f) => (f.sampling_rate, f.drops, &f.flow_records),
            SampleData::CountersSample(_) | SampleData::CountersSampleExpanded(_) => {
                stats.counter_samples += 1;
                continue;
            }
            _ => continue,
        };
        stats.flow_samples += 1;
        stats.agent_drops += drops as u64;
        let n = if n == 0 {
            fallback_rate.max(1)
        } else {
            n as u64
        };
        if let Some(a) = agent {
            rate(a, n);
        }
        for r in records {
            let FlowData::SampledHeader(h) = &r.flow_data else {
                stats.other_records += 1;
                continue;
            };
            let non_ip = dstats.non_ip;
            match sampled(h, at_ns, n, &mut dstats) {
                Some(x) => {
                    stats.packets += 1;
                    out.push(x);
                }
                None if dstats.non_ip > non_ip => stats.non_ip += 1,
                None => stats.undecoded += 1,
            }
        }
    }
    Ok(())
}

/// A sampled header as a record standing for `rate` packets.
fn sampled(
    h: &SampledHeader,
    at_ns: u64,
    rate: u64,
    ds: &mut DecodeStats,
) -> Option<(Record, u32)> {
    let lt = match h.protocol {
        HeaderProtocol::EthernetIso88023 => linktype::ETHERNET,
        HeaderProtocol::Ipv4 => linktype::IPV4,
        HeaderProtocol::Ipv6 => linktype::IPV6,
        _ => return None,
    };
    let mut rec = decode(lt, at_ns, &h.header, ds)?;
    rec.more_packets = (rate - 1).min(u32::MAX as u64 - 1) as u32;
    Some((rec, h.frame_length))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An sFlow v5 datagram from agent 192.0.2.1 with one flow sample (rate `rate`) of
    /// one Ethernet header: a TCP SYN 10.0.0.1:40000 -> 10.0.0.2:22, then one counter
    /// sample.
    pub(crate) fn datagram_bytes(rate: u32) -> Vec<u8> {
        let mut frame = vec![0u8; 12];
        frame.extend([0x08, 0x00]);
        let mut ip = vec![
            0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        ip.extend(40000u16.to_be_bytes());
        ip.extend(22u16.to_be_bytes());
        ip.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
        frame.extend(ip);
        let be = |v: &mut Vec<u8>, x: u32| v.extend(x.to_be_bytes());
        // The flow record: sampled header (0,1).
        let mut hdr = Vec::new();
        be(&mut hdr, 1); // ethernet
        be(&mut hdr, 64); // frame length
        be(&mut hdr, 4); // stripped
        be(&mut hdr, frame.len() as u32);
        hdr.extend(&frame);
        while hdr.len() % 4 != 0 {
            hdr.push(0);
        }
        let mut sample = Vec::new();
        for x in [7, 3, rate, 1000, 2, 1, 2, 1] {
            be(&mut sample, x); // seq, source, rate, pool, drops, in, out, records
        }
        be(&mut sample, 1); // format (0,1)
        be(&mut sample, hdr.len() as u32);
        sample.extend(hdr);
        let mut d = Vec::new();
        for x in [5, 1, 0, 1, 0, 9, 2] {
            be(&mut d, x); // version, agent v4, address, sub agent, seq, uptime, samples
        }
        d[8..12].copy_from_slice(&[192, 0, 2, 1]);
        be(&mut d, 1); // flow sample (0,1)
        be(&mut d, sample.len() as u32);
        d.extend(sample);
        be(&mut d, 2); // counter sample (0,2), no records
        be(&mut d, 12);
        for x in [1, 3, 0] {
            be(&mut d, x);
        }
        d
    }

    #[test]
    fn a_sampled_syn_stands_for_rate_syns() {
        let data = datagram_bytes(512);
        assert!(is_sflow(&data));
        let (mut st, mut out, mut rates) = (SflowStats::default(), Vec::new(), Vec::new());
        datagram(&data, 7_000, 1, &mut st, &mut out, |a, r| {
            rates.push((a, r))
        })
        .unwrap();
        assert_eq!(out.len(), 1, "{st:?}");
        let (r, wire) = out[0];
        assert_eq!((r.src.to_string(), r.dst_port), ("10.0.0.1".into(), 22));
        assert!(r.is_syn());
        assert_eq!((r.packets(), r.ts_ns, wire), (512, 7_000, 64));
        assert_eq!(
            (
                st.flow_samples,
                st.counter_samples,
                st.packets,
                st.agent_drops
            ),
            (1, 1, 1, 2)
        );
        assert_eq!(rates, vec![("192.0.2.1".parse().unwrap(), 512)]);
    }

    #[test]
    fn rate_zero_takes_the_fallback_and_garbage_is_an_error() {
        let (mut st, mut out) = (SflowStats::default(), Vec::new());
        datagram(&datagram_bytes(0), 0, 100, &mut st, &mut out, |_, _| {}).unwrap();
        assert_eq!(out[0].0.packets(), 100);
        // The header as ARP (not IP), then as IPv4 with a bad version (malformed).
        let mut arp = datagram_bytes(1);
        let eth = arp
            .windows(3)
            .position(|w| w == [0x08, 0x00, 0x45])
            .unwrap(); // EtherType
        arp[eth..eth + 2].copy_from_slice(&[0x08, 0x06]);
        let mut bad = datagram_bytes(1);
        bad[eth + 2] = 0x75;
        for d in [arp, bad] {
            datagram(&d, 0, 1, &mut st, &mut out, |_, _| {}).unwrap();
        }
        assert_eq!((st.non_ip, st.undecoded), (1, 1), "{st:?}");
        let data = datagram_bytes(1);
        for cut in [0, 4, 20, 40, data.len() - 1] {
            assert!(datagram(&data[..cut], 0, 1, &mut st, &mut out, |_, _| {}).is_err());
        }
        assert!(!is_sflow(&[0, 5, 0, 1]), "NetFlow v5 is not sFlow");
    }
}
