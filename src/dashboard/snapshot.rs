//! Snapshot: one copy of the telemetry, as plain data the view can draw.
//!
//! In: a [`Telemetry`] being written by the pipeline. Out: [`Snapshot`]. Guarantees: the
//! copy reads atomics with relaxed loads and holds each lock (a ring, one shard of the
//! source map) only while cloning it; it never writes to the telemetry. Source views older
//! than the longest window are left out: a source that went quiet leaves the table.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::alert::Alert;
use crate::record::Addr;
use crate::telemetry::{BatchPoint, SourceView, Telemetry};

/// Load of one shard at its newest watermark.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ShardLoad {
    pub records: u64,
    pub keys: u64,
    pub queue_depth: u64,
}

/// Everything the dashboard draws, copied at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub packets: u64,
    /// Bytes on the wire.
    pub bytes: u64,
    pub decode_errors: u64,
    /// Records out of time: late (behind the watermark), and skewed (far ahead of it).
    pub late: u64,
    pub queue_drops: u64,
    pub kernel_drops: u64,
    pub alerts_total: u64,
    /// Newest capture time seen (ns since the epoch); 0 before the first packet.
    pub capture_ns: u64,
    pub batch_ns: u64,
    /// The pipeline has read everything and stopped.
    pub finished: bool,
    /// Wall time since the dashboard started.
    pub elapsed: Duration,
    /// Packets processed per second of wall time, over the last refresh.
    pub processed_pps: f64,
    /// Closed batches, oldest first.
    pub batches: Vec<BatchPoint>,
    /// Sources of recent batches, in no particular order.
    pub sources: Vec<(Addr, SourceView)>,
    /// Alerts, oldest first.
    pub alerts: Vec<Alert>,
    pub shards: Vec<ShardLoad>,
    /// Alerts per rule, by rule index.
    pub rule_hits: Vec<u64>,
    /// The rule set after the last reload, if the rules were reloaded.
    pub reloaded: Option<Reloaded>,
}

/// A reloaded rule set (snapshots compare it by identity).
#[derive(Debug, Clone)]
pub struct Reloaded(pub std::sync::Arc<crate::rules::RuleSet>);

impl PartialEq for Reloaded {
    fn eq(&self, o: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &o.0)
    }
}

impl Snapshot {
    /// Copy `t`. Source views whose batch ended more than `keep_ns` before the newest
    /// closed batch are left out. `prev` (the previous snapshot) gives the processing rate.
    pub fn capture(
        t: &Telemetry,
        keep_ns: u64,
        elapsed: Duration,
        prev: Option<&Snapshot>,
    ) -> Snapshot {
        let c = &t.counters;
        let batches: Vec<BatchPoint> = t
            .batches
            .lock()
            .map(|b| b.iter().copied().collect())
            .unwrap_or_default();
        let alerts: Vec<Alert> = t
            .alerts
            .lock()
            .map(|a| a.iter().cloned().collect())
            .unwrap_or_default();
        let newest = batches.last().map_or(0, |b| b.end_ns);
        let sources: Vec<(Addr, SourceView)> = t
            .sources
            .iter()
            .filter(|e| e.value().batch_end_ns + keep_ns >= newest)
            .map(|e| (*e.key(), e.value().clone()))
            .collect();
        let packets = c.packets.load(Relaxed);
        let processed_pps = match prev {
            Some(p) if elapsed > p.elapsed => {
                packets.saturating_sub(p.packets) as f64 / (elapsed - p.elapsed).as_secs_f64()
            }
            Some(p) => p.processed_pps,
            None => 0.0,
        };
        Snapshot {
            packets,
            bytes: c.bytes.load(Relaxed),
            decode_errors: c.decode_errors.load(Relaxed),
            late: c.late.load(Relaxed),
            queue_drops: c.queue_drops.load(Relaxed),
            kernel_drops: c.kernel_drops.load(Relaxed),
            alerts_total: c.alerts.load(Relaxed),
            // The reader publishes its capture time every 1024 packets; a closed batch
            // proves packets up to its end were seen, which matters for slow captures.
            capture_ns: c.capture_ns.load(Relaxed).max(newest.saturating_sub(1)),
            batch_ns: t.batch_ns,
            finished: c.finished.load(Relaxed) != 0,
            elapsed,
            processed_pps,
            batches,
            sources,
            alerts,
            shards: t
                .shards
                .iter()
                .map(|g| ShardLoad {
                    records: g.records.load(Relaxed),
                    keys: g.keys.load(Relaxed),
                    queue_depth: g.queue_depth.load(Relaxed),
                })
                .collect(),
            rule_hits: t.hits().into_iter().map(|h| h.1).collect(),
            reloaded: t.reloaded.lock().ok().and_then(|r| r.clone()).map(Reloaded),
        }
    }

    /// Packets and bits per second of capture time in the newest closed batch.
    pub fn rate_now(&self) -> (f64, f64) {
        match self.batches.last() {
            Some(b) if self.batch_ns > 0 => {
                let s = self.batch_ns as f64 / 1e9;
                (b.packets as f64 / s, b.bytes as f64 * 8.0 / s)
            }
            _ => (0.0, 0.0),
        }
    }

    /// Packets by protocol (TCP, UDP, ICMP, other) over the batches kept.
    pub fn protocol_mix(&self) -> [u64; 4] {
        self.batches.iter().fold([0; 4], |m, b| {
            [m[0] + b.tcp, m[1] + b.udp, m[2] + b.icmp, m[3] + b.other]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_counters_rings_and_recent_sources() {
        let t = Telemetry::new(2, vec!["a".into(), "b".into(), "c".into()], 1_000_000_000);
        t.counters.packets.store(5000, Relaxed);
        t.counters.capture_ns.store(9_500_000_000, Relaxed);
        for end in 1..=10u64 {
            t.push_batch(BatchPoint {
                end_ns: end * 1_000_000_000,
                packets: 500,
                bytes: 50_000,
                tcp: 400,
                udp: 100,
                ..Default::default()
            });
        }
        let view = |end_s: u64| SourceView {
            batch_end_ns: end_s * 1_000_000_000,
            pps: 10.0,
            ..Default::default()
        };
        t.sources.insert(Addr::v4([10, 0, 0, 1]), view(10));
        t.sources.insert(Addr::v4([10, 0, 0, 2]), view(2));
        t.push_alert(&crate::dashboard::test_alert(
            1,
            Addr::v4([10, 0, 0, 1]),
            10_000_000_000,
            vec![],
        ));
        t.shards[1].queue_depth.store(7, Relaxed);

        let a = Snapshot::capture(&t, 5_000_000_000, Duration::from_secs(1), None);
        assert_eq!(a.sources.len(), 1, "the view of batch 2 is older than 5 s");
        assert_eq!(a.sources[0].1.rules_fired, vec![1]);
        assert_eq!(a.batches.len(), 10);
        assert_eq!(a.alerts.len(), 1);
        assert_eq!(a.rule_hits, vec![0, 1, 0]);
        assert_eq!(a.shards[1].queue_depth, 7);
        assert_eq!(a.rate_now(), (500.0, 400_000.0));
        assert_eq!(a.protocol_mix(), [4000, 1000, 0, 0]);
        assert_eq!(a.capture_ns, 9_999_999_999);

        t.counters.packets.store(7000, Relaxed);
        let b = Snapshot::capture(&t, 5_000_000_000, Duration::from_secs(3), Some(&a));
        assert_eq!(b.processed_pps, 1000.0);
    }
}
