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
    DistinctSrcHosts,
    Attempts,
    Answered,
    Rejected,
    Unanswered,
    Failed,
    Unsolicited,
    Trw,
    DistinctFailedPorts,
    DistinctFailedHosts,
    DistinctSrcPorts,
    IcmpErrors,
    DistinctFailedPairs,
}

impl Metric {
    pub const COUNT: usize = 27;
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
        Metric::DistinctSrcHosts,
        Metric::Attempts,
        Metric::Answered,
        Metric::Rejected,
        Metric::Unanswered,
        Metric::Failed,
        Metric::Unsolicited,
        Metric::Trw,
        Metric::DistinctFailedPorts,
        Metric::DistinctFailedHosts,
        Metric::DistinctSrcPorts,
        Metric::IcmpErrors,
        Metric::DistinctFailedPairs,
    ];

    /// Metrics read from the conversation stage's outcomes (a rule pack that reads none of
    /// them runs without that stage).
    pub fn from_conversations(self) -> bool {
        matches!(
            self,
            Metric::Attempts
                | Metric::Answered
                | Metric::Rejected
                | Metric::Unanswered
                | Metric::Failed
                | Metric::Unsolicited
                | Metric::Trw
                | Metric::DistinctFailedPorts
                | Metric::DistinctFailedHosts
                | Metric::DistinctFailedPairs
        )
    }

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
            Metric::DistinctSrcHosts => "distinct_src_hosts",
            Metric::Attempts => "attempts",
            Metric::Answered => "answered",
            Metric::Rejected => "rejected",
            Metric::Unanswered => "unanswered",
            Metric::Failed => "failed",
            Metric::Unsolicited => "unsolicited",
            Metric::Trw => "trw",
            Metric::DistinctFailedPorts => "distinct_failed_ports",
            Metric::DistinctFailedHosts => "distinct_failed_hosts",
            Metric::DistinctSrcPorts => "distinct_src_ports",
            Metric::IcmpErrors => "icmp_errors",
            Metric::DistinctFailedPairs => "distinct_failed_pairs",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Metric::Packets => "packets in the window",
            Metric::Bytes => "IP bytes in the window (of outcome records: each attempt's first packet, so bytes / failed is the average probe size)",
            Metric::Pps => "packets per second (packets / window length)",
            Metric::Bps => "bits per second (8 * bytes / window length)",
            Metric::Syn => "TCP SYN without ACK (connection attempts, with retransmissions)",
            Metric::SynAck => "TCP SYN+ACK",
            Metric::Rst => "TCP packets with RST",
            Metric::Fin => "TCP packets with FIN",
            Metric::IcmpEcho => "ICMP / ICMPv6 echo requests",
            Metric::Udp => "UDP packets",
            Metric::IcmpErrors => "ICMP / ICMPv6 error messages (unreachable, time exceeded, parameter problem, ...): those the key sent for group_by src, pair and flow; those it received for group_by dst",
            Metric::DistinctDstPorts => "distinct destination ports",
            Metric::DistinctDstHosts => "distinct destination addresses",
            Metric::DistinctSrcHosts => "distinct source addresses (for rules grouped by destination: how many attack it)",
            Metric::DistinctDstPairs => "distinct (destination address, port) pairs",
            Metric::ConnAttempts => {
                "distinct TCP connections attempted: SYNs counted once per (destination, port, source port)"
            }
            Metric::Attempts => {
                "attempts whose outcome is known in the window (answered + rejected + unanswered): a new conversation the key started (TCP SYN; a FIN, NULL or Xmas probe; an ACK probe known from the bare RST it drew; UDP, ping, other IP protocol)"
            }
            Metric::Answered => "attempts the peer answered (SYN-ACK, a UDP or IP-protocol reply, an echo reply)",
            Metric::Rejected => {
                "attempts refused: TCP RST, ICMP unreachable (also counted from an ICMP error alone, which quotes the probe)"
            }
            Metric::Unanswered => "attempts nothing answered within the conversation timeout (--conn-timeout)",
            Metric::Failed => "rejected + unanswered",
            Metric::Unsolicited => {
                "responses the key received without asking (rules grouped by destination): SYN-ACK or RST+ACK without its SYN, echo reply without a request, UDP the key never sent to and did not answer within the timeout"
            }
            Metric::Trw => {
                "threshold random walk (Jung et al. 2004): log-likelihood ratio of 'scanner' (success rate 0.2) to 'benign' (0.8) over the window's outcomes, 1.386 * (failed - answered); >= 4.6 is odds of 99 to 1"
            }
            Metric::DistinctFailedPorts => "distinct (protocol, destination port) of failed attempts",
            Metric::DistinctFailedHosts => "distinct destination addresses of failed attempts",
            Metric::DistinctSrcPorts => "distinct source ports",
            Metric::DistinctFailedPairs => {
                "distinct (destination address, protocol, port) of failed attempts: a block scan fails on many ports of each of many hosts, so it has several times more failed pairs than failed ports or failed hosts"
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
            Metric::DistinctSrcHosts => Some(DistinctKind::SrcHosts),
            Metric::DistinctFailedPorts => Some(DistinctKind::FailedPorts),
            Metric::DistinctFailedHosts => Some(DistinctKind::FailedHosts),
            Metric::DistinctSrcPorts => Some(DistinctKind::SrcPorts),
            Metric::DistinctFailedPairs => Some(DistinctKind::FailedPairs),
            _ => None,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The distinct sets a key may keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DistinctKind {
    Ports = 0,
    Hosts = 1,
    Pairs = 2,
    Conns = 3,
    SrcHosts = 4,
    FailedPorts = 5,
    FailedHosts = 6,
    SrcPorts = 7,
    FailedPairs = 8,
}

impl DistinctKind {
    pub const COUNT: usize = 9;
    pub const ALL: [DistinctKind; DistinctKind::COUNT] = [
        DistinctKind::Ports,
        DistinctKind::Hosts,
        DistinctKind::Pairs,
        DistinctKind::Conns,
        DistinctKind::SrcHosts,
        DistinctKind::FailedPorts,
        DistinctKind::FailedHosts,
        DistinctKind::SrcPorts,
        DistinctKind::FailedPairs,
    ];
}

/// Values of all metrics for one key's window; `NaN` marks a value not computed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricValues {
    pub values: [f64; Metric::COUNT],
    /// `zscore(metric)`: how many standard deviations the value lies above the key's baseline
    /// (0 while the baseline warms up).
    pub zscores: [f64; Metric::COUNT],
}

impl Default for MetricValues {
    fn default() -> Self {
        MetricValues {
            values: [f64::NAN; Metric::COUNT],
            zscores: [0.0; Metric::COUNT],
        }
    }
}

impl MetricValues {
    #[inline]
    pub fn get(&self, m: Metric) -> f64 {
        self.values[m as usize]
    }
    #[inline]
    pub fn set(&mut self, m: Metric, v: f64) {
        self.values[m as usize] = v;
    }
    #[inline]
    pub fn zscore(&self, m: Metric) -> f64 {
        self.zscores[m as usize]
    }
    #[inline]
    pub fn set_zscore(&mut self, m: Metric, z: f64) {
        self.zscores[m as usize] = z;
    }
}

/// An exponentially weighted mean and variance of one metric of one key, across windows.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Ewma {
    pub n: u32,
    pub mean: f64,
    pub var: f64,
}

impl Ewma {
    /// Standard deviations `x` lies above the mean; 0 before `warmup` windows were seen. A
    /// flat history (variance 0) counts any rise as `f64::MAX`.
    pub fn zscore(&self, x: f64, warmup: u32) -> f64 {
        if self.n < warmup.max(1) {
            return 0.0;
        }
        let sd = self.var.sqrt();
        if sd > 1e-9 {
            (x - self.mean) / sd
        } else if x > self.mean + 1e-9 {
            f64::MAX
        } else {
            0.0
        }
    }

    /// Fold in one window's value (West's incremental EWMA variance).
    pub fn update(&mut self, x: f64, alpha: f64) {
        if self.n == 0 {
            self.mean = x;
            self.var = 0.0;
        } else {
            let diff = x - self.mean;
            let incr = alpha * diff;
            self.mean += incr;
            self.var = (1.0 - alpha) * (self.var + diff * incr);
        }
        self.n = self.n.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn ewma_scores_a_spike() {
        let mut e = Ewma::default();
        for x in [100.0, 110.0, 90.0, 105.0, 95.0, 100.0, 102.0, 98.0] {
            assert_eq!(e.zscore(x, 8), 0.0, "warming up");
            e.update(x, 0.2);
        }
        assert!(e.zscore(100.0, 8).abs() < 1.0);
        assert!(e.zscore(1000.0, 8) > 6.0);
        let mut flat = Ewma::default();
        (0..5).for_each(|_| flat.update(10.0, 0.2));
        assert_eq!(flat.zscore(10.0, 3), 0.0);
        assert_eq!(flat.zscore(11.0, 3), f64::MAX);
    }

    #[test]
    fn names_round_trip() {
        for m in Metric::ALL {
            assert_eq!(Metric::from_name(m.name()), Some(m));
            assert_eq!(Metric::ALL[m as usize], m);
        }
        assert_eq!(Metric::from_name("nope"), None);
    }
}
