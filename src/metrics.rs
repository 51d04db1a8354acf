//! Window metrics: the names a rule can read and the values a window yields.
//!
//! In: nothing (a vocabulary). Out: [`Metric`], its rule-language name, and
//! [`MetricValues`], the values of one key's window, computed lazily by the window state.
//! Guarantees: names are stable (they appear in rule files and in alerts).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Metric {
    Packets,
    Bytes,
    Pps,
    Bps,
    Syn,
    SynAck,
    Rst,
    Fin,
    IcmpEcho,
    Udp,
    DistinctDstPorts,
    DistinctDstHosts,
    DistinctDstPairs,
    ConnAttempts,
}

impl Metric {
    pub const COUNT: usize = 14;
    pub const ALL: [Metric; Metric::COUNT] = [
        Metric::Packets,
        Metric::Bytes,
        Metric::Pps,
        Metric::Bps,
        Metric::Syn,
        Metric::SynAck,
        Metric::Rst,
        Metric::Fin,
        Metric::IcmpEcho,
        Metric::Udp,
        Metric::DistinctDstPorts,
        Metric::DistinctDstHosts,
        Metric::DistinctDstPairs,
        Metric::ConnAttempts,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Packets => "packets",
            Metric::Bytes => "bytes",
            Metric::Pps => "pps",
            Metric::Bps => "bps",
            Metric::Syn => "syn",
            Metric::SynAck => "synack",
            Metric::Rst => "rst",
            Metric::Fin => "fin",
            Metric::IcmpEcho => "icmp_echo",
            Metric::Udp => "udp",
            Metric::DistinctDstPorts => "distinct_dst_ports",
            Metric::DistinctDstHosts => "distinct_dst_hosts",
            Metric::DistinctDstPairs => "distinct_dst_pairs",
            Metric::ConnAttempts => "conn_attempts",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Metric::Packets => "packets in the window",
            Metric::Bytes => "IP bytes in the window",
            Metric::Pps => "packets per second (packets / window length)",
            Metric::Bps => "bits per second (8 * bytes / window length)",
            Metric::Syn => "TCP SYN without ACK (connection attempts, with retransmissions)",
            Metric::SynAck => "TCP SYN+ACK",
            Metric::Rst => "TCP packets with RST",
            Metric::Fin => "TCP packets with FIN",
            Metric::IcmpEcho => "ICMP / ICMPv6 echo requests",
            Metric::Udp => "UDP packets",
            Metric::DistinctDstPorts => "distinct destination ports",
            Metric::DistinctDstHosts => "distinct destination addresses",
            Metric::DistinctDstPairs => "distinct (destination address, port) pairs",
            Metric::ConnAttempts => {
                "distinct TCP connections attempted: SYNs counted once per (destination, port, source port)"
            }
        }
    }

    pub fn from_name(s: &str) -> Option<Metric> {
        Metric::ALL.iter().copied().find(|m| m.name() == s)
    }

    /// Whether the metric needs a distinct set (the others are pane counters).
    pub fn distinct_kind(self) -> Option<DistinctKind> {
        match self {
            Metric::DistinctDstPorts => Some(DistinctKind::Ports),
            Metric::DistinctDstHosts => Some(DistinctKind::Hosts),
            Metric::DistinctDstPairs => Some(DistinctKind::Pairs),
            Metric::ConnAttempts => Some(DistinctKind::Conns),
            _ => None,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The four distinct sets a key may keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DistinctKind {
    Ports = 0,
    Hosts = 1,
    Pairs = 2,
    Conns = 3,
}

impl DistinctKind {
    pub const ALL: [DistinctKind; 4] = [
        DistinctKind::Ports,
        DistinctKind::Hosts,
        DistinctKind::Pairs,
        DistinctKind::Conns,
    ];
}

/// Values of all metrics for one key's window; `NaN` marks a value not computed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricValues(pub [f64; Metric::COUNT]);

impl Default for MetricValues {
    fn default() -> Self {
        MetricValues([f64::NAN; Metric::COUNT])
    }
}

impl MetricValues {
    #[inline]
    pub fn get(&self, m: Metric) -> f64 {
        self.0[m as usize]
    }
    #[inline]
    pub fn set(&mut self, m: Metric, v: f64) {
        self.0[m as usize] = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn names_round_trip() {
        for m in Metric::ALL {
            assert_eq!(Metric::from_name(m.name()), Some(m));
            assert_eq!(Metric::ALL[m as usize], m);
        }
        assert_eq!(Metric::from_name("nope"), None);
    }
}
