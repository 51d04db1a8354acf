//! Deterministic, labelled synthetic packet captures for demos, tests and benchmarks.
//!
//! In: a [`SynthConfig`] (scenario, seed, capture start time, optional bench scale) and
//! output paths. Out: a classic pcap file (Ethernet, microsecond timestamps) and,
//! optionally, a JSON Lines file of ground-truth [`Label`]s (one per line: which address
//! should trigger which rule, which addresses are benign), plus a [`SynthSummary`].
//! Guarantees: the same config always yields byte-identical pcap and label files;
//! records are in non-decreasing timestamp order and the first one is at
//! `cfg.start_ns` (floored to the microsecond); all addresses come from documentation or
//! private ranges (RFC 5737, RFC 1918, RFC 2544, 2001:db8::/32); attackers exceed their
//! rule's default threshold clearly, benign hosts stay far below every threshold.
//!
//! Pipeline: a scenario planner (`scenarios`, `bench`, using `plan` and `attacks`) lists
//! flows with start offsets; [`generate`] walks them in start order, expands each into
//! packets (`flows`), merges the packets through a min-heap keyed by time, and encodes
//! them (`packet`).

mod attacks;
mod bench;
mod flows;
mod mixes;
mod packet;
mod plan;
mod rng;
mod scenarios;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashSet;

use packet::{PcapWriter, Pkt};
use plan::Plan;

pub use bench::DEFAULT_PACKETS as BENCH_DEFAULT_PACKETS;
pub use scenarios::DEMO_ATTACKERS;

/// A named traffic mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scenario {
    Demo,
    Bench,
    BenignCrowd,
    PortScan,
    HostSweep,
    SynFlood,
    IcmpFlood,
    UdpFlood,
    BruteForce,
    SpoofedFlood,
    ManyClients,
    SpoofedMillion,
    ScanHeavy,
}

impl Scenario {
    pub const ALL: &'static [Scenario] = &[
        Scenario::Demo,
        Scenario::Bench,
        Scenario::BenignCrowd,
        Scenario::PortScan,
        Scenario::HostSweep,
        Scenario::SynFlood,
        Scenario::IcmpFlood,
        Scenario::UdpFlood,
        Scenario::BruteForce,
        Scenario::SpoofedFlood,
        Scenario::ManyClients,
        Scenario::SpoofedMillion,
        Scenario::ScanHeavy,
    ];

    /// Kebab-case name, as accepted by [`Scenario::from_name`].
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Demo => "demo",
            Scenario::Bench => "bench",
            Scenario::BenignCrowd => "benign-crowd",
            Scenario::PortScan => "port-scan",
            Scenario::HostSweep => "host-sweep",
            Scenario::SynFlood => "syn-flood",
            Scenario::IcmpFlood => "icmp-flood",
            Scenario::UdpFlood => "udp-flood",
            Scenario::BruteForce => "brute-force",
            Scenario::SpoofedFlood => "spoofed-flood",
            Scenario::ManyClients => "many-clients",
            Scenario::SpoofedMillion => "spoofed-million",
            Scenario::ScanHeavy => "scan-heavy",
        }
    }

    /// A large capture for throughput benchmarks (`--packets` sets its size), not a
    /// detection scenario.
    pub fn is_throughput_mix(&self) -> bool {
        matches!(
            self,
            Scenario::Bench
                | Scenario::ManyClients
                | Scenario::SpoofedMillion
                | Scenario::ScanHeavy
        )
    }

    pub fn from_name(s: &str) -> Option<Scenario> {
        Scenario::ALL.iter().copied().find(|sc| sc.name() == s)
    }

    /// One-line description for help texts.
    pub fn describe(&self) -> &'static str {
        match self {
            Scenario::Demo => {
                "~90 s, ~25k packets: 40 benign hosts (some IPv6) plus one attacker per rule \
                 (port scan, host sweep, SYN/ICMP/UDP flood, SSH brute force)"
            }
            Scenario::Bench => {
                "~120 s, >= 3M packets (--scale overrides), 25k benign clients, a few attackers \
                 of every kind and a spoofed SYN flood; for throughput tests"
            }
            Scenario::BenignCrowd => {
                "~80 s, 500 clients, busy web servers, 2 resolvers, a NAT gateway and a \
                 monitoring host; no attacker (false-positive check)"
            }
            Scenario::PortScan => "SYN scan of 1000 ports of one host in 10 s, light background",
            Scenario::HostSweep => {
                "ping + SYN:80 sweep of 200 hosts of a /24 in 20 s, light background"
            }
            Scenario::SynFlood => "300 SYN/s to one port for 5 s from one source, light background",
            Scenario::IcmpFlood => {
                "500 ICMP echo requests/s for 4 s from one source, light background"
            }
            Scenario::UdpFlood => "3000 UDP packets/s for 3 s from one source, light background",
            Scenario::BruteForce => {
                "30 SSH login sessions in 60 s from one source, light background"
            }
            Scenario::SpoofedFlood => {
                "20,000 SYNs in 20 s to 10.10.10.10:80 from ~15,000 spoofed sources (1-2 each), \
                 light background"
            }
            Scenario::ManyClients => {
                "60 s, ~3M packets (--packets overrides): 20,000 clients, 50 web servers, one \
                 DNS resolver, no attacker; for throughput tests"
            }
            Scenario::SpoofedMillion => {
                "60 s, ~3M packets (--packets overrides): a SYN flood from 1,000,000 spoofed \
                 sources (two SYNs each) at one victim, benign clients; for throughput tests"
            }
            Scenario::ScanHeavy => {
                "60 s, ~3M packets (--packets overrides): 5,000 slow scanners (2 probes/s, \
                 half port scans, half dark sweeps) among benign clients; for throughput tests"
            }
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynthConfig {
    pub scenario: Scenario,
    pub seed: u64,
    /// Capture time of the first packet, ns since the Unix epoch.
    pub start_ns: u64,
    /// Approximate packet count for `bench` and the throughput mixes; `None` = scenario
    /// default. Ignored otherwise.
    pub scale: Option<u64>,
}

/// 2026-01-01T00:00:00Z in ns since the Unix epoch.
pub const DEFAULT_START_NS: u64 = 1_767_225_600_000_000_000;

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            scenario: Scenario::Demo,
            seed: 1,
            start_ns: DEFAULT_START_NS,
            scale: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("cannot create {}: {source}", .path.display())]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}", .path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot encode labels for {}: {source}", .path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// What [`generate`] produced.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthSummary {
    pub packets: u64,
    /// Distinct source IP addresses in the capture.
    pub sources: u64,
    /// Last timestamp minus first timestamp, ns.
    pub duration_ns: u64,
    pub labels: Vec<Label>,
}

/// Ground truth for one address.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct Label {
    /// IP address as text.
    pub addr: String,
    /// "attacker" | "benign" | "victim".
    pub role: String,
    /// Rule expected to fire for this address (None: no rule should fire when grouped by `group_by`).
    pub expect_rule: Option<String>,
    /// "src" or "dst": which side of the traffic the address is judged on.
    pub group_by: String,
    pub note: String,
}

fn make_plan(cfg: &SynthConfig) -> Plan {
    match cfg.scenario {
        Scenario::Bench => bench::plan(cfg.seed, cfg.scale),
        Scenario::ManyClients => mixes::many_clients(cfg.seed, cfg.scale),
        Scenario::SpoofedMillion => mixes::spoofed_million(cfg.seed, cfg.scale),
        Scenario::ScanHeavy => mixes::scan_heavy(cfg.seed, cfg.scale),
        other => scenarios::plan(other, cfg.seed),
    }
}

/// Exact number of packets [`generate`] would write for `cfg`, without writing anything.
pub fn planned_packets(cfg: &SynthConfig) -> u64 {
    make_plan(cfg).packets
}

/// The labels [`generate`] would write for `cfg`.
pub fn planned_labels(cfg: &SynthConfig) -> Vec<Label> {
    make_plan(cfg).labels
}

/// Writes the scenario's capture to `pcap_out` and, if given, its labels to `labels_out`.
pub fn generate(
    cfg: &SynthConfig,
    pcap_out: &Path,
    labels_out: Option<&Path>,
) -> Result<SynthSummary, SynthError> {
    let plan = make_plan(cfg);
    let werr = |source| SynthError::Write {
        path: pcap_out.to_path_buf(),
        source,
    };
    let file = File::create(pcap_out).map_err(|source| SynthError::Create {
        path: pcap_out.to_path_buf(),
        source,
    })?;
    let mut w = PcapWriter::new(BufWriter::with_capacity(1 << 20, file)).map_err(werr)?;
    let stats = emit(&plan, cfg.seed, cfg.start_ns, &mut w).map_err(werr)?;
    w.into_inner().flush().map_err(werr)?;
    debug_assert_eq!(stats.packets, plan.packets);

    if let Some(path) = labels_out {
        write_labels(&plan.labels, path)?;
    }
    Ok(SynthSummary {
        packets: stats.packets,
        sources: stats.sources,
        duration_ns: stats.last.saturating_sub(stats.first),
        labels: plan.labels,
    })
}

fn write_labels(labels: &[Label], path: &Path) -> Result<(), SynthError> {
    let werr = |source| SynthError::Write {
        path: path.to_path_buf(),
        source,
    };
    let file = File::create(path).map_err(|source| SynthError::Create {
        path: path.to_path_buf(),
        source,
    })?;
    let mut w = BufWriter::new(file);
    for l in labels {
        serde_json::to_writer(&mut w, l).map_err(|source| SynthError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        w.write_all(b"\n").map_err(werr)?;
    }
    w.flush().map_err(werr)
}

struct Stats {
    packets: u64,
    sources: u64,
    first: u64,
    last: u64,
}

/// A packet waiting in the merge heap; ordered so the heap pops the earliest `(ts, seq)`.
struct Queued {
    seq: u64,
    pkt: Pkt,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> Ordering {
        (o.pkt.ts, o.seq).cmp(&(self.pkt.ts, self.seq))
    }
}

/// Expands the plan's flows in start order and writes their packets in time order.
/// A packet is written once no flow still to be expanded can start before it; flows
/// never emit packets earlier than their start, so the output is time-ordered.
fn emit<W: Write>(
    plan: &Plan,
    seed: u64,
    start_ns: u64,
    w: &mut PcapWriter<W>,
) -> io::Result<Stats> {
    let mut heap: BinaryHeap<Queued> = BinaryHeap::with_capacity(1 << 16);
    let mut seq = 0u64;
    let mut sources: FxHashSet<IpAddr> = FxHashSet::default();
    let mut st = Stats {
        packets: 0,
        sources: 0,
        first: u64::MAX,
        last: 0,
    };
    let mut out = |q: Queued, st: &mut Stats, sources: &mut FxHashSet<IpAddr>| -> io::Result<()> {
        let ts = start_ns + q.pkt.ts;
        w.write(ts, &q.pkt)?;
        sources.insert(q.pkt.src);
        st.first = st.first.min(ts);
        st.last = ts;
        st.packets += 1;
        Ok(())
    };
    for spec in &plan.specs {
        while heap.peek().is_some_and(|q| q.pkt.ts < spec.start) {
            let q = heap.pop().expect("peeked");
            out(q, &mut st, &mut sources)?;
        }
        spec.expand(seed, &mut |pkt| {
            heap.push(Queued { seq, pkt });
            seq += 1;
        });
    }
    while let Some(q) = heap.pop() {
        out(q, &mut st, &mut sources)?;
    }
    if st.packets == 0 {
        st.first = 0;
    }
    st.sources = sources.len() as u64;
    Ok(st)
}
