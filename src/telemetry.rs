//! Telemetry: live counters and snapshots shared with the dashboard.
//!
//! In: updates from the pipeline's threads (reader counters, shard snapshots at each
//! watermark, alerts from the merge stage). Out: state a reader (the dashboard) copies a
//! few times per second (the dashboard, `/metrics`). Guarantees: writers never wait on readers: counters are atomics,
//! per-source views live in a `DashMap` written once per batch per shard (not per packet),
//! rings are bounded and drop their oldest entries.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use dashmap::DashMap;

use crate::alert::Alert;
use crate::record::Addr;
use crate::summary::Summary;

/// Counters of the whole run, updated as it goes.
#[derive(Debug, Default)]
pub struct Counters {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub records: AtomicU64,
    pub decode_errors: AtomicU64,
    /// Late records: packets and Kafka destination copies.
    pub late: AtomicU64,
    pub queue_drops: AtomicU64,
    pub kernel_drops: AtomicU64,
    pub alerts: AtomicU64,
    /// Alert sink writes that failed.
    pub sink_failures: AtomicU64,
    /// Alerts written to the sinks and not yet durable, after the latest watermark.
    pub sink_backlog: std::sync::Arc<AtomicU64>,
    /// Newest capture time seen (ns).
    pub capture_ns: AtomicU64,
    /// Closed batches (the watermark, in batches).
    pub watermark_batch: AtomicU64,
    pub finished: AtomicU64,
}

/// One closed batch, for the throughput sparkline and the protocol mix.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BatchPoint {
    pub end_ns: u64,
    pub packets: u64,
    pub bytes: u64,
    pub tcp: u64,
    pub udp: u64,
    pub icmp: u64,
    pub other: u64,
}

/// One source as the shards saw it in the newest closed batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceView {
    pub batch_end_ns: u64,
    pub pps: f64,
    pub bps: f64,
    pub syn_per_s: f64,
    /// Distinct destination ports and hosts over the longest window (if a rule tracks them).
    pub distinct_ports: u64,
    pub distinct_hosts: u64,
    /// Rule ids that alerted on this source (as indices into the rule set).
    pub rules_fired: Vec<u16>,
}

/// Per-shard load.
#[derive(Debug, Default)]
pub struct ShardGauge {
    pub records: AtomicU64,
    pub keys: AtomicU64,
    pub queue_depth: AtomicU64,
    pub keys_evicted: AtomicU64,
    pub keys_expired: AtomicU64,
    /// Heap bytes of the shard's window state (refreshed every few batches: it is a walk).
    pub state_bytes: AtomicU64,
}

#[derive(Debug)]
pub struct Telemetry {
    pub counters: Counters,
    pub shards: Vec<ShardGauge>,
    /// Alerts by rule: (rule id, alerts) in the running rule set's order (a reload
    /// reorders them; a rule's count stays with its id).
    pub rule_hits: Mutex<Vec<(String, u64)>>,
    /// The rule set after the last reload (`None`: the one the run started with).
    pub reloaded: Mutex<Option<std::sync::Arc<crate::rules::RuleSet>>>,
    pub batches: Mutex<VecDeque<BatchPoint>>,
    pub sources: DashMap<Addr, SourceView>,
    pub alerts: Mutex<VecDeque<Alert>>,
    pub batch_ns: u64,
    /// The reader's summary as of its last report (a few times per second), for scrapes.
    summary: Mutex<Summary>,
}

/// Batches kept for the sparkline; alerts kept for the list.
pub const BATCH_RING: usize = 240;
pub const ALERT_RING: usize = 1000;
/// Sources each shard publishes per batch (the busiest).
pub const SOURCES_PER_SHARD: usize = 200;

impl Telemetry {
    /// Telemetry for `shards` shards, rules `rule_ids` (in rule-set order).
    pub fn new(shards: usize, rule_ids: Vec<String>, batch_ns: u64) -> Self {
        Telemetry {
            counters: Counters::default(),
            shards: (0..shards).map(|_| ShardGauge::default()).collect(),
            rule_hits: Mutex::new(rule_ids.into_iter().map(|id| (id, 0)).collect()),
            reloaded: Mutex::new(None),
            batches: Mutex::new(VecDeque::with_capacity(BATCH_RING)),
            sources: DashMap::new(),
            alerts: Mutex::new(VecDeque::with_capacity(ALERT_RING)),
            batch_ns,
            summary: Mutex::new(Summary::default()),
        }
    }

    /// Replace the published summary (the reader's, with its decode counters).
    pub fn publish_summary(&self, s: Summary) {
        if let Ok(mut p) = self.summary.lock() {
            *p = s;
        }
    }

    /// A copy of the published summary.
    pub fn summary(&self) -> Summary {
        self.summary.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn push_batch(&self, p: BatchPoint) {
        if let Ok(mut b) = self.batches.lock() {
            if b.len() == BATCH_RING {
                b.pop_front();
            }
            b.push_back(p);
        }
    }

    pub fn push_alert(&self, a: &Alert) {
        self.counters.alerts.fetch_add(1, Relaxed);
        if let Some(h) = self
            .rule_hits
            .lock()
            .ok()
            .as_mut()
            .and_then(|h| h.get_mut(a.rule as usize))
        {
            h.1 += 1;
        }
        // Only source-keyed alerts describe what a source did.
        if a.group_by != crate::rules::GroupBy::Src {
        } else if let Some(mut v) = self.sources.get_mut(&a.key) {
            if !v.rules_fired.contains(&a.rule) {
                v.rules_fired.push(a.rule);
            }
        }
        if let Ok(mut r) = self.alerts.lock() {
            if r.len() == ALERT_RING {
                r.pop_front();
            }
            r.push_back(a.clone());
        }
    }

    /// The alerts by rule, in rule-set order.
    pub fn hits(&self) -> Vec<(String, u64)> {
        self.rule_hits.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// The rules were reloaded: counts follow their rule ids, and the alerts and source
    /// views kept for the dashboard are renumbered (alerts of removed rules get index
    /// `u16::MAX`: "not in the rule set").
    pub fn set_rules(&self, rules: &std::sync::Arc<crate::rules::RuleSet>) {
        let Ok(mut hits) = self.rule_hits.lock() else {
            return;
        };
        let old: Vec<(String, u64)> = std::mem::take(&mut *hits);
        let new_index = |r: u16| {
            let id = &old.get(r as usize)?.0;
            rules
                .rules
                .iter()
                .position(|x| &x.id == id)
                .map(|i| i as u16)
        };
        *hits = rules
            .rules
            .iter()
            .map(|r| {
                let n = old.iter().find(|o| o.0 == r.id).map_or(0, |o| o.1);
                (r.id.clone(), n)
            })
            .collect();
        if let Ok(mut ring) = self.alerts.lock() {
            for a in ring.iter_mut() {
                a.rule = new_index(a.rule).unwrap_or(u16::MAX);
            }
        }
        for mut v in self.sources.iter_mut() {
            let fired = std::mem::take(&mut v.rules_fired);
            v.rules_fired = fired.into_iter().filter_map(new_index).collect();
        }
        if let Ok(mut r) = self.reloaded.lock() {
            *r = Some(rules.clone());
        }
    }

    /// Drop source views older than `keep_ns` before the newest capture time.
    pub fn prune_sources(&self, keep_ns: u64) {
        let now = self.counters.capture_ns.load(Relaxed);
        self.sources.retain(|_, v| v.batch_end_ns + keep_ns >= now);
    }
}
