//! Summary: what a run saw and did, for stderr and `--summary PATH` (JSON).
//!
//! In: counters from the reader, the shards and the merge stage. Out: [`Summary`], printed
//! as a short report or serialized as JSON. Guarantees: every dropped, late, malformed or
//! evicted packet or key is counted here; nothing is lost silently.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::alert::rfc3339;
use crate::decode::DecodeStats;

#[derive(Debug, Clone, Serialize, Default)]
pub struct SourceSummary {
    pub address: String,
    pub packets: u64,
    pub bytes: u64,
    pub first_seen: String,
    pub last_seen: String,
}

/// What `collect` received (see `netflow::NetflowStats`).
#[derive(Debug, Clone, Serialize, Default)]
pub struct FlowExport {
    pub stats: crate::netflow::NetflowStats,
    pub sflow: crate::sflow::SflowStats,
    /// (exporter address, 1 in N) announced in options data.
    pub sampling: Vec<(String, u64)>,
    /// Templates cached per NetFlow v9 / IPFIX exporter (at most 4,096 exporters).
    pub templates: Vec<ExporterTemplates>,
}

/// One v9 / IPFIX exporter's template cache.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct ExporterTemplates {
    /// Address and port the datagrams come from.
    pub exporter: String,
    /// v9 source id or IPFIX observation domain.
    pub domain: u32,
    /// `netflow_v9` or `ipfix`.
    pub protocol: &'static str,
    /// Templates cached now.
    pub templates: u64,
    /// Data records waiting for their template (held, bounded, decoded when it comes).
    pub waiting: u64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Summary {
    pub input: String,
    pub rules: String,
    pub shards: usize,
    /// Frames read from the input (after the BPF filter).
    pub packets: u64,
    /// Bytes on the wire of those frames.
    pub bytes: u64,
    pub capture_start: Option<String>,
    pub capture_end: Option<String>,
    pub capture_seconds: f64,
    pub wall_seconds: f64,
    pub packets_per_second: f64,
    pub decode: DecodeStats,
    /// Records behind the watermark (dropped, counted).
    pub late_packets: u64,
    /// Records dated more than `--max-clock-skew` ahead of the stream, which it did not
    /// follow (dropped, counted; `window::skew`).
    pub skewed: u64,
    /// Records the source had read and not handed out when the run stopped (a Kafka
    /// partition's buffer at a signal): not processed in this run, not lost (their offsets
    /// were not committed; the group's next run reads them).
    pub unread_at_stop: u64,
    /// Reading stopped before the input ended (a signal, or an alert that could not be
    /// delivered): how far it got. A finite input (`replay`) read in part is incomplete.
    pub stopped_early: Option<StoppedEarly>,
    /// Times the capture clock jumped back by more than --max-clock-skew (plus lateness):
    /// each time the windows before the jump were closed and a new segment started
    /// (`window::skew`). Not a loss of records, but windows do not span a jump: the run
    /// exits 3 unless --accept-loss.
    pub clock_jumps_back: u64,
    /// Rule reloads (SIGHUP) that took effect, and those rejected (the file did not load
    /// or did not fit the run; the old rules kept running).
    pub rule_reloads: u64,
    pub rule_reloads_rejected: u64,
    /// Kafka: copies of records in their destination's partition (wire format 2), read for
    /// the destination's side; not counted in `packets`.
    pub destination_copies: u64,
    /// Of those, copies behind the watermark (dropped, counted; their originals are
    /// counted apart).
    pub late_copies: u64,
    /// Records dropped because a shard queue was full (live mode only; replay waits).
    pub queue_drops: u64,
    /// Times the reader waited on a full shard queue (replay back-pressure).
    pub queue_waits: u64,
    /// Packets the kernel / the interface dropped before flowsentry saw them (live).
    pub kernel_drops: u64,
    pub interface_drops: u64,
    /// Flow datagrams the collector could not queue (`collect`).
    pub datagram_drops: u64,
    /// Flow data (v9 / IPFIX flowsets) never decoded because its template never came, or
    /// the wait for it overflowed (`collect`; while running, what still waits too).
    pub data_without_template: u64,
    /// Inputs a source skipped as malformed (e.g. bad Kafka records).
    pub malformed_input: u64,
    pub keys_peak: u64,
    pub keys_expired: u64,
    pub keys_evicted: u64,
    /// Of `keys_evicted`: evicted to stay within `--max-state`.
    pub keys_evicted_for_state: u64,
    pub sketched_sets: u64,
    pub window_state_bytes: u64,
    /// Keyed state (windows and conversation tables) held at most, summed over shards'
    /// peaks, estimated at each watermark; and the cap (`--max-state`).
    pub state_peak_bytes: u64,
    pub max_state_bytes: u64,
    /// What a key cost at the state peak: the keyed stages' bytes then (map slots, spec
    /// states, panes, sets) over their keys (none when no key was held).
    pub key_bytes_at_peak: Option<u64>,
    /// The conversation stage (when a rule reads its outcomes): conversations held at most,
    /// attempts not tracked because the table was full, outcomes found.
    pub conversations: Option<crate::conversation::ConversationStats>,
    pub peak_rss_bytes: Option<u64>,
    pub alerts: u64,
    pub alerts_by_rule: BTreeMap<String, u64>,
    pub suppressed_by_cooldown: u64,
    /// Alerts held back for a key because a rule they yield to fired for it (`yield_to`).
    pub yielded: u64,
    pub top_sources: Vec<SourceSummary>,
    /// `collect`: what the flow datagrams held, and the sampling rate learned per exporter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_export: Option<FlowExport>,
    pub input_errors: Vec<String>,
    /// Records read, or known to exist, that did not make it through the engine:
    /// the sum of [`Summary::losses`]. Not 0: the run is not complete (exit status 3).
    pub lost_records: u64,
}

/// How far a run that stopped early had read its input.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct StoppedEarly {
    pub input_bytes_read: u64,
    /// The input's size, when it has one (files).
    pub input_bytes: Option<u64>,
}

impl Summary {
    /// Every way a record can fail to be processed, with its count (zeros included):
    /// late or skewed; dropped on a full shard queue, by the kernel or the interface;
    /// malformed input a source skipped; frames that decoded to nothing (link or network
    /// layer errors, link types not decoded). State kept in bounds under attack (evicted
    /// keys, conversations not tracked) is not in it: those records were still counted by
    /// every window; the summary shows those counts apart.
    pub fn losses(&self) -> [(&'static str, u64); 12] {
        let d = &self.decode;
        [
            ("late", self.late_packets),
            ("late copies", self.late_copies),
            ("skewed", self.skewed),
            ("queue drops", self.queue_drops),
            ("kernel drops", self.kernel_drops),
            ("interface drops", self.interface_drops),
            ("datagram drops", self.datagram_drops),
            ("flow data without template", self.data_without_template),
            ("malformed input", self.malformed_input),
            ("link errors", d.link_errors),
            ("network errors", d.network_errors),
            ("unsupported link", d.unsupported_link),
        ]
    }

    /// The sum of [`Summary::losses`].
    pub fn lost(&self) -> u64 {
        self.losses().iter().map(|l| l.1).sum()
    }

    /// Whether the run must not exit 0 as complete: records were lost, or the input's
    /// clock jumped back (windows were cut at the jump).
    pub fn incomplete(&self) -> bool {
        self.lost_records > 0 || self.clock_jumps_back > 0
    }

    /// Set `lost_records` from the counters.
    pub fn count_losses(&mut self) {
        self.lost_records = self.lost();
    }

    pub fn set_capture_span(&mut self, first_ns: Option<u64>, last_ns: Option<u64>) {
        if let (Some(a), Some(b)) = (first_ns, last_ns) {
            self.capture_start = Some(rfc3339(a));
            self.capture_end = Some(rfc3339(b));
            self.capture_seconds = (b.saturating_sub(a)) as f64 / 1e9;
        }
    }
}

/// Peak resident memory of this process (Linux `VmHWM`).
/// Whether a loss counter that went from `before` to `after` reached a new power of ten
/// (1, 10, 100, ...): such losses are logged as they happen, at each decade, so a flood of
/// them is seen at once without a line per record.
#[inline]
pub fn new_decade(before: u64, after: u64) -> bool {
    after > before && (before == 0 || before.ilog10() != after.ilog10())
}

pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn human(n: f64) -> String {
    if n >= 1e9 {
        format!("{:.2}G", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.2}M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1}k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "flowsentry summary")?;
        writeln!(f, "  input        {}", self.input)?;
        writeln!(f, "  rules        {} ({} shards)", self.rules, self.shards)?;
        writeln!(
            f,
            "  packets      {} ({}B on the wire)",
            self.packets,
            human(self.bytes as f64)
        )?;
        if let (Some(a), Some(b)) = (&self.capture_start, &self.capture_end) {
            writeln!(
                f,
                "  capture      {a} .. {b} ({:.1} s)",
                self.capture_seconds
            )?;
        }
        writeln!(
            f,
            "  wall time    {:.3} s ({} packets/s)",
            self.wall_seconds,
            human(self.packets_per_second)
        )?;
        let d = &self.decode;
        writeln!(
            f,
            "  decoded      {} records; not IP {}; errors: link {}, network {}, ip extension headers {}, transport {}; unsupported link {}; fragments first {} later {}",
            d.records, d.non_ip, d.link_errors, d.network_errors, d.ip_ext_errors, d.transport_errors, d.unsupported_link, d.first_fragments, d.later_fragments
        )?;
        writeln!(
            f,
            "  late         {} packets behind the watermark; {} skewed (dated more than --max-clock-skew ahead)",
            self.late_packets, self.skewed
        )?;
        if let Some(st) = &self.stopped_early {
            match st.input_bytes {
                Some(total) => writeln!(
                    f,
                    "  STOPPED      before the end of the input: {}B of {}B read",
                    human(st.input_bytes_read as f64),
                    human(total as f64)
                )?,
                None => writeln!(f, "  stopped      on request")?,
            }
        }
        if self.unread_at_stop > 0 {
            writeln!(
                f,
                "  unread       {} records read from the source and not processed when the run stopped; their offsets were not committed, so the next run reads them again",
                self.unread_at_stop
            )?;
        }
        if self.clock_jumps_back > 0 {
            writeln!(
                f,
                "  CLOCK JUMPED BACK {} times: the windows before each jump were closed and a new segment started (windows do not span a jump): exit status 3 (--accept-loss: 0)",
                self.clock_jumps_back
            )?;
        }
        if self.rule_reloads + self.rule_reloads_rejected > 0 {
            writeln!(
                f,
                "  rules        reloaded {} times; {} reloads rejected (the running rules stayed)",
                self.rule_reloads, self.rule_reloads_rejected
            )?;
        }
        if self.destination_copies > 0 {
            writeln!(
                f,
                "  copies       {} records read again for their destination's partition; {} of them late",
                self.destination_copies, self.late_copies
            )?;
        }
        if let Some(c) = &self.conversations {
            writeln!(
                f,
                "  conversations peak {}, dropped to make room {}, not tracked: table full {}, host at its cap {} ({} hosts); state {}B; attempts answered {}, rejected {}, unanswered {}; unsolicited responses {}",
                c.peak, c.evicted, c.untracked, c.host_capped, c.hosts_capped, human(c.state_bytes as f64), c.answered, c.rejected, c.unanswered, c.unsolicited
            )?;
        }
        writeln!(
            f,
            "  drops        queue {} (waits {}), kernel {}, interface {}, datagrams {}; malformed input {}; flow data without template {}",
            self.queue_drops,
            self.queue_waits,
            self.kernel_drops,
            self.interface_drops,
            self.datagram_drops,
            self.malformed_input,
            self.data_without_template
        )?;
        writeln!(
            f,
            "  keys         peak {}, expired {}, evicted {} ({} for --max-state); sketched sets {}; \
             window state {}B; state peak {}B of {}B ({}B a key); peak RSS {}B",
            self.keys_peak,
            self.keys_expired,
            self.keys_evicted,
            self.keys_evicted_for_state,
            self.sketched_sets,
            human(self.window_state_bytes as f64),
            human(self.state_peak_bytes as f64),
            human(self.max_state_bytes as f64),
            self.key_bytes_at_peak
                .map_or_else(|| "-".into(), |b| human(b as f64)),
            self.peak_rss_bytes.map(|b| human(b as f64)).unwrap_or_else(|| "?".into())
        )?;
        write!(f, "  alerts       {}", self.alerts)?;
        if !self.alerts_by_rule.is_empty() {
            let parts: Vec<String> = self
                .alerts_by_rule
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            write!(f, " ({})", parts.join(", "))?;
        }
        if self.suppressed_by_cooldown > 0 {
            write!(
                f,
                "; {} repeats held back by cooldowns",
                self.suppressed_by_cooldown
            )?;
        }
        if self.yielded > 0 {
            write!(
                f,
                "; {} held back for a rule they yield to (one family per activity)",
                self.yielded
            )?;
        }
        writeln!(f)?;
        if !self.top_sources.is_empty() {
            writeln!(f, "  top sources  (packets, bytes)")?;
            for s in &self.top_sources {
                writeln!(
                    f,
                    "    {:<40} {:>10} {:>10}B",
                    s.address,
                    s.packets,
                    human(s.bytes as f64)
                )?;
            }
        }
        for e in &self.input_errors {
            writeln!(f, "  input error  {e}")?;
        }
        if self.lost_records > 0 {
            let parts: Vec<String> = self
                .losses()
                .iter()
                .filter(|l| l.1 > 0)
                .map(|(what, n)| format!("{what} {n}"))
                .collect();
            writeln!(
                f,
                "  INCOMPLETE   {} records not processed ({}): exit status 3 (--accept-loss: 0)",
                self.lost_records,
                parts.join(", ")
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod decade_tests {
    use super::new_decade;

    #[test]
    fn losses_are_logged_at_each_power_of_ten() {
        let hits: Vec<u64> = (0..1000u64)
            .filter(|&n| new_decade(n, n + 1))
            .map(|n| n + 1)
            .collect();
        assert_eq!(hits, vec![1, 10, 100, 1000]);
        assert!(new_decade(5, 12) && !new_decade(12, 99) && !new_decade(7, 7));
    }
}
