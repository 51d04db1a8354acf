//! Keyed windows: one shard's state, a synchronous fold over its records.
//!
//! In: `ingest(record)` for every record routed to this shard (by the hash of its key), then
//! `flush(closed)` whenever the watermark closes batches. Out: the alerts of every window
//! that ended at a slide boundary up to `closed`, and the shard's counters.
//! Guarantees: a record is applied to the windows only once no window ending before its
//! batch remains to be evaluated, so every window sees exactly its own packets (exact pane
//! counters; exact distinct counts up to the bound). The state of one key depends only on
//! that key's records, so alerts do not depend on how many shards there are, unless the key
//! cap evicts. Memory is bounded: quiet keys are dropped after the longest window; at most
//! `max_keys` keys are held, and at most the bytes the shard's memory budget gives the
//! stage (`set_byte_limit`; bytes per key measured at each sweep). When either is reached
//! the quietest eighth is evicted, counted: fewest packets in the windows first, and keys
//! with a running cooldown (they alerted) or a rule near firing only after all others.
//! A new key's first records wait on probation (`probation`) while they cannot bring any
//! rule near firing: 217 B a key instead of an entry and its spec states.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::key::WindowKey;
use super::state::KeyEntry;
pub use super::state::Totals;
use crate::alert::Alert;
use crate::metrics::DistinctKind;
use crate::record::{Addr, Record};
use crate::rules::{Filter, GroupBy, RuleSet};

mod evaluate;
mod memory;
mod probation;
mod reload;

#[derive(Clone, Copy, Debug)]
pub struct KeyedConfig {
    pub batch_ns: u64,
    /// Keys held at most (this shard's share of `--max-keys`).
    pub max_keys: usize,
    /// Live elements a distinct set holds exactly before it becomes a sketch.
    pub distinct_bound: usize,
    /// Bytes the shard's stages and conversation table hold at most together (the shard's
    /// share of `--max-state`); the shard gives each stage its part (`set_byte_limit`).
    pub shard_state_bytes: usize,
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct KeyedStats {
    pub records: u64,
    /// Records whose batch had already been evaluated (never expected: the reader drops
    /// late records first).
    pub late: u64,
    pub keys: u64,
    pub keys_peak: u64,
    pub keys_expired: u64,
    pub keys_evicted: u64,
    /// Of `keys_evicted`: evicted because the memory budget (`--max-state`) was reached.
    pub keys_evicted_for_state: u64,
    pub sketched_sets: u64,
    pub alerts: u64,
    pub suppressed_by_cooldown: u64,
    /// Alerts held back because a rule they yield to (`yield_to`) fired for the key.
    pub yielded: u64,
}

impl KeyedStats {
    /// Add another stage's counters (`keys` and `alerts` too: a shard's report sums its
    /// stages).
    pub fn add(&mut self, o: &KeyedStats) {
        self.records += o.records;
        self.late += o.late;
        self.keys += o.keys;
        self.keys_peak += o.keys_peak;
        self.keys_expired += o.keys_expired;
        self.keys_evicted += o.keys_evicted;
        self.keys_evicted_for_state += o.keys_evicted_for_state;
        self.sketched_sets += o.sketched_sets;
        self.alerts += o.alerts;
        self.suppressed_by_cooldown += o.suppressed_by_cooldown;
        self.yielded += o.yielded;
    }
}

#[derive(Clone, Copy)]
struct Timing {
    window_b: u64,
    slide_b: u64,
}

/// Batches between scans for quiet keys.
const SWEEP_EVERY: u64 = 8;

/// Batches a quiet key is kept at least (see `KeyedWindows::new`).
const MIN_KEEP_B: u64 = 30;

/// How many top sources each shard keeps from keys it has dropped.
const TOP_KEEP: usize = 64;

pub struct KeyedWindows<K: WindowKey = Addr> {
    rules: Arc<RuleSet>,
    group_by: GroupBy,
    cfg: KeyedConfig,
    /// The stage's specs (global index), in local order.
    specs: Vec<u16>,
    /// Per global spec: its local index (`u16::MAX`: another stage's).
    local_of: Vec<u16>,
    /// The stage's rules (global index).
    stage_rules: Vec<usize>,
    /// Per record class (`Filter::class_of`): the local specs whose filter the class passes
    /// (bit s; stages with more than 64 specs check every filter whole).
    class_specs: Vec<u64>,
    timing: Vec<Timing>,
    horizon_b: u64,
    /// Per local spec: (fewest packets its panes must hold, dirty bit) of each of its rules:
    /// a record only marks the rules it can bring near firing.
    local_gates: Vec<Vec<(u64, u64)>>,
    /// Per local spec: its longest window in batches (how long its distinct sets are kept).
    local_keep: Vec<u64>,
    /// Per local spec: the distinct counts its rules read (a new state gets a set each).
    local_kinds: Vec<Vec<DistinctKind>>,
    keys: FxHashMap<K, KeyEntry>,
    /// New keys' first records, until the key could bring a rule near firing (see
    /// `probation`); a key is in `keys` or here, never both.
    probation: FxHashMap<K, probation::Probation>,
    /// The fewest packets that bring any of the stage's rules near firing (0: no probation).
    probation_gate: u64,
    /// Keys with dirty bits: the only ones an evaluation visits (may hold stale or
    /// repeated addresses; see `KeyEntry::evaluated`).
    active: Vec<K>,
    /// The previous list's buffer, reused.
    spare: Vec<K>,
    /// Records of batches not yet closed, by batch, each batch's in arrival order: a
    /// source out of time order (flows, `--lateness`) holds many batches here, and closing
    /// one takes only its own records.
    pending: BTreeMap<u64, Vec<Record>>,
    closed: Option<u64>,
    max_applied: Option<u64>,
    /// Top sources among dropped keys (at most `TOP_KEEP`), and the lightest of them.
    dropped_top: FxHashMap<Addr, Totals>,
    dropped_min: Option<(u64, std::cmp::Reverse<Addr>)>,
    /// Bytes this stage may hold (set by its shard from the memory budget).
    byte_limit: usize,
    /// Heap bytes a key holds on average (its spec states, panes, sets), as measured at
    /// the last sweep.
    key_bytes: usize,
    /// Measure `key_bytes` again when the map holds this many keys (an eighth more than at
    /// the last measure: the cost of a walk over the keys is spread over their inserts).
    measure_at: usize,
    /// Spec states added to keys already held since the last measure (bytes): outcomes
    /// reach keys after their packets, so a key grows without a new key being made.
    grown: usize,
    stats: KeyedStats,
}

impl KeyedWindows<Addr> {
    /// A stage keyed by address (`src`, `dst`, `all`).
    pub fn new(rules: Arc<RuleSet>, group_by: GroupBy, cfg: KeyedConfig) -> Self {
        Self::keyed(rules, group_by, cfg)
    }
}

impl<K: WindowKey> KeyedWindows<K> {
    /// A stage keyed by `K` (see [`WindowKey`]).
    pub fn keyed(rules: Arc<RuleSet>, group_by: GroupBy, cfg: KeyedConfig) -> Self {
        let b = cfg.batch_ns.max(1);
        let timing = rules
            .rules
            .iter()
            .map(|r| Timing {
                window_b: (r.window_ns / b).max(1),
                slide_b: (r.slide_ns / b).max(1),
            })
            .collect::<Vec<_>>();
        let specs: Vec<u16> = (0..rules.specs.len() as u16)
            .filter(|&s| rules.specs[s as usize].group_by == group_by)
            .collect();
        let mut local_of = vec![u16::MAX; rules.specs.len()];
        for (l, &s) in specs.iter().enumerate() {
            local_of[s as usize] = l as u16;
        }
        let mut stage_rules: Vec<usize> = (0..rules.rules.len())
            .filter(|&r| local_of[rules.rules[r].spec] != u16::MAX)
            .collect();
        // Rules that yield come last, after the rules they yield to fired or not.
        stage_rules.sort_by_key(|&r| !rules.rules[r].yields_to.is_empty());
        let window_b = stage_rules
            .iter()
            .map(|&r| timing[r].window_b)
            .max()
            .unwrap_or(1);
        // Keys are kept at least this long after their last packet: victim-side stages see
        // many short-lived keys (clients receiving replies), and re-creating them costs more
        // than holding a few more entries.
        let horizon_b = window_b.max(MIN_KEEP_B);
        let mut local_gates = vec![Vec::new(); specs.len()];
        for &r in stage_rules.iter().filter(|&&r| r < 64) {
            let secs = (timing[r].window_b * b) as f64 / 1e9;
            let gate = evaluate::gate_packets(&rules.rules[r], secs);
            local_gates[local_of[rules.rules[r].spec] as usize].push((gate, 1u64 << r));
        }
        let local_keep = specs
            .iter()
            .map(|&s| (rules.spec_window_ns(s as usize) / b).max(1))
            .collect();
        let local_kinds = specs
            .iter()
            .map(|&s| {
                let spec = &rules.specs[s as usize];
                DistinctKind::ALL
                    .into_iter()
                    .filter(|&k| spec.needs(k))
                    .collect()
            })
            .collect();
        let class_specs =
            Filter::class_table(specs.iter().map(|&s| &rules.specs[s as usize].filter));
        let probation_gate = Self::probation_gate(&rules, &stage_rules, &timing, b);
        KeyedWindows {
            class_specs,
            local_keep,
            local_kinds,
            local_gates,
            local_of,
            stage_rules,
            rules,
            group_by,
            cfg,
            specs,
            timing,
            horizon_b,
            keys: FxHashMap::default(),
            probation: FxHashMap::default(),
            probation_gate,
            active: Vec::new(),
            spare: Vec::new(),
            pending: BTreeMap::new(),
            closed: None,
            max_applied: None,
            dropped_top: FxHashMap::default(),
            dropped_min: None,
            byte_limit: usize::MAX,
            key_bytes: std::mem::size_of::<super::state::SpecState>(),
            measure_at: 64,
            grown: 0,
            stats: KeyedStats::default(),
        }
    }

    pub fn group_by(&self) -> GroupBy {
        self.group_by
    }

    pub fn stats(&self) -> KeyedStats {
        let mut s = self.stats;
        s.keys = (self.keys.len() + self.probation.len()) as u64;
        s
    }

    #[inline]
    pub fn ingest(&mut self, rec: &Record) {
        let batch = rec.ts_ns / self.cfg.batch_ns;
        match self.closed {
            Some(c) if batch > c => self.pending.entry(batch).or_default().push(*rec),
            Some(c) if batch < c => self.stats.late += 1,
            _ => self.apply(batch, rec),
        }
    }

    fn apply(&mut self, batch: u64, rec: &Record) {
        self.stats.records += 1;
        self.max_applied = Some(self.max_applied.map_or(batch, |m| m.max(batch)));
        if self.probation_gate > 0 {
            let (key, _) = K::of(self.group_by, rec);
            if !self.keys.contains_key(&key) && self.hold_on_probation(key, rec) {
                return;
            }
        }
        self.apply_now(batch, rec);
    }

    /// Fold `rec` into its key's entry (made when missing).
    fn apply_now(&mut self, batch: u64, rec: &Record) {
        let (key, peer) = K::of(self.group_by, rec);
        let full_keys = self.keys.len() + self.probation.len() >= self.cfg.max_keys;
        let mut full_bytes = self.bytes_with_one_more() > self.byte_limit;
        if self.keys.len() >= self.measure_at && !self.keys.contains_key(&key) {
            self.measure();
            full_bytes |= self.bytes_with_one_more() > self.byte_limit;
        }
        if (full_keys || full_bytes) && !self.keys.contains_key(&key) {
            self.evict(!full_keys);
        }
        let n_keys = (self.keys.len() + self.probation.len()) as u64 + 1;
        let entry = self.keys.entry(key).or_insert_with(|| {
            if n_keys > self.stats.keys_peak {
                self.stats.keys_peak = n_keys;
            }
            KeyEntry::new(rec.ts_ns, batch)
        });
        entry.count(rec, batch);
        let states_before = entry.state.len();
        let mut dirty = 0u64;
        let (mut held_now, mut held_before) = (0u64, 0u64);
        // The class table is built from packets; outcome records check every filter whole.
        let tabulated = !self.class_specs.is_empty() && rec.is_packet();
        let cand = if tabulated {
            self.class_specs[Filter::class_of(rec)]
        } else {
            u64::MAX
        };
        for (local, &s) in self.specs.iter().enumerate() {
            if local < 64 && cand & (1 << local) == 0 {
                continue;
            }
            let spec = &self.rules.specs[s as usize];
            let passes = if tabulated {
                spec.filter.matches_rest(rec)
            } else {
                spec.filter.matches(rec)
            };
            if !passes {
                continue;
            }
            let keep = self.local_keep[local];
            let st = entry.spec_state(local as u16, &self.local_kinds[local]);
            let before = st.panes.held().0;
            st.panes.add(batch, rec, peer, keep);
            st.top_ports
                .insert(rec.dst_port, batch as u32, rec.packets());
            st.top_peers.insert(peer, batch as u32, rec.packets());
            let (held, bytes) = st.panes.held();
            // Packets this key's panes hold: the ring drops what no window can see.
            (held_now, held_before) = (held_now + held, held_before + before);
            let big = bytes > held.saturating_mul(evaluate::MAX_IP_LEN);
            for &(gate, bit) in &self.local_gates[local] {
                if big || held >= gate {
                    dirty |= bit;
                }
            }
            for ks in st.sets.iter_mut() {
                let Some(elem) = super::state::element(ks.kind, rec, peer) else {
                    continue;
                };
                let set = &mut ks.set;
                let was_sketch = set.is_sketch();
                set.insert(elem, batch as u32, self.cfg.distinct_bound, keep as u32);
                if !was_sketch && set.is_sketch() {
                    self.stats.sketched_sets += 1;
                }
            }
        }
        entry.held = entry.held + held_now - held_before;
        let added = entry.state.len() - states_before;
        if dirty != 0 {
            entry.dirty |= dirty;
            if !entry.listed {
                entry.listed = true;
                self.active.push(key);
            }
        }
        if added > 0 && ((self.keys.len() + self.probation.len()) as u64) < n_keys {
            // A key already held grew (a new key's first state is in `key_bytes`): past
            // the limit, make room as a new key would.
            self.grown += added * std::mem::size_of::<super::state::SpecState>();
            if self.held_bytes() > self.byte_limit {
                self.evict(true);
            }
        }
    }

    /// Close batches up to `closed` (exclusive): evaluate every window ending at a slide
    /// boundary in between, in order, and return their alerts.
    pub fn flush(&mut self, closed: u64) -> Vec<Alert> {
        let mut alerts = Vec::new();
        let Some(prev) = self.closed else {
            self.closed = Some(closed);
            return alerts;
        };
        if closed <= prev {
            return alerts;
        }
        let mut end = prev + 1;
        while end <= closed {
            self.apply_pending(end);
            // Nothing in any window: jump to the next batch that holds data.
            let idle = self.max_applied.is_none_or(|m| end > m + self.horizon_b);
            if idle {
                let first = self.pending.keys().next();
                let next = first.map_or(closed, |b| (b + 1).min(closed));
                if next > end {
                    self.sweep(end);
                    end = next;
                    continue;
                }
            }
            self.evaluate(end, &mut alerts);
            // Expiring quiet keys needs a scan of all keys: every few batches is enough
            // (a key then lives at most `SWEEP_EVERY` batches past its horizon).
            if end % SWEEP_EVERY == 0 {
                self.sweep(end);
            }
            end += 1;
        }
        // Records of the batch that stays open were queued before any that arrive from now
        // on (which are applied at once): apply them now, so arrival order is kept.
        self.apply_pending(closed + 1);
        self.closed = Some(closed);
        self.stats.alerts += alerts.len() as u64;
        alerts
    }

    /// Apply the pending records of every batch before `end`, in batch order.
    fn apply_pending(&mut self, end: u64) {
        while let Some(e) = self.pending.first_entry() {
            if *e.key() >= end {
                break;
            }
            let (b, recs) = e.remove_entry();
            for r in &recs {
                self.apply(b, r);
            }
        }
    }

    /// Start a new time base (the input's clock jumped back, after every window was
    /// closed): forget every key, keep the counters and the top sources.
    pub fn restart(&mut self) {
        let keys = std::mem::take(&mut self.keys);
        for (k, e) in keys {
            self.keep_top(k.addr(), e.totals);
        }
        for (k, p) in std::mem::take(&mut self.probation) {
            self.keep_top(k.addr(), p.totals());
        }
        self.active.clear();
        self.pending.clear();
        self.closed = None;
        self.max_applied = None;
        self.grown = 0;
        self.measure_at = 64;
    }

    /// The closed-batch count that ends every window holding data (end of input).
    pub fn final_watermark(&self) -> Option<u64> {
        let last = self
            .pending
            .keys()
            .next_back()
            .copied()
            .max(self.max_applied)?;
        Some(last + self.horizon_b + 1)
    }

    /// Drop what no future window can see; drop keys quiet for the longest window.
    fn sweep(&mut self, end: u64) {
        let h = self.horizon_b;
        let end_ns = end * self.cfg.batch_ns;
        let prune_sets = end.is_multiple_of(h.max(SWEEP_EVERY) / SWEEP_EVERY * SWEEP_EVERY);
        let mut gone: Vec<(K, Totals)> = Vec::new();
        let keep = &self.local_keep;
        self.keys.retain(|k, e| {
            if e.last_batch + h < end {
                // Every window is empty: only running cooldowns are worth keeping.
                e.dirty = 0;
                for st in e.state.iter_mut() {
                    st.panes = Default::default();
                    st.clear_sets();
                }
                e.retain_states(|st| st.cooling(end_ns));
                if e.state.is_empty() {
                    gone.push((*k, e.totals));
                    return false;
                }
                return true;
            }
            if prune_sets {
                for st in e.state.iter_mut() {
                    let k = keep[st.local as usize];
                    st.panes.prune(end, k);
                    for s in st.sets.iter_mut() {
                        s.set.prune(end as u32, k as u32);
                    }
                }
                e.held = e.held_in_states();
            }
            true
        });
        for (k, t) in gone {
            self.stats.keys_expired += 1;
            self.keep_top(k.addr(), t);
        }
        self.expire_probation(end, h);
        // After a flood the map keeps its slots: give most back.
        if self.keys.capacity() > 1024 && self.keys.capacity() / 4 > self.keys.len() {
            self.keys.shrink_to(self.keys.len() * 2);
        }
        self.measure();
    }

    /// The `n` keys with the most packets, from held keys and those dropped earlier.
    pub fn top(&self, n: usize) -> Vec<(Addr, Totals)> {
        let mut all: FxHashMap<Addr, Totals> = FxHashMap::default();
        for (k, t) in &self.dropped_top {
            all.entry(*k).or_default().merge(t);
        }
        for (k, e) in &self.keys {
            all.entry(k.addr()).or_default().merge(&e.totals);
        }
        for (k, p) in &self.probation {
            all.entry(k.addr()).or_default().merge(&p.totals());
        }
        let mut v: Vec<(Addr, Totals)> = all.into_iter().collect();
        v.sort_by(|a, b| b.1.packets.cmp(&a.1.packets).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    /// Publish the busiest keys of batch `end - 1` to the dashboard's view (keys on
    /// probation, with three records at most, are never among them).
    pub fn publish(&self, end: u64, tel: &crate::telemetry::Telemetry) {
        let b = end.saturating_sub(1);
        let secs = self.cfg.batch_ns as f64 / 1e9;
        let mut active: Vec<(&K, &KeyEntry)> =
            self.keys.iter().filter(|(_, e)| e.cur_b == b).collect();
        let n = crate::telemetry::SOURCES_PER_SHARD.min(active.len());
        if n < active.len() {
            active.select_nth_unstable_by(n, |a, b| b.1.cur_pkts.cmp(&a.1.cur_pkts));
        }
        for (k, e) in active.into_iter().take(n) {
            let mut ports = 0;
            let mut hosts = 0;
            for st in &e.state {
                if let Some(s) = st.set(DistinctKind::Ports) {
                    ports = ports.max(s.count(end as u32, self.horizon_b as u32));
                }
                if let Some(s) = st.set(DistinctKind::Hosts) {
                    hosts = hosts.max(s.count(end as u32, self.horizon_b as u32));
                }
            }
            let fired: Vec<u16> = e
                .state
                .iter()
                .flat_map(|st| st.cooldowns().iter().map(|c| c.0))
                .collect();
            tel.sources.insert(
                k.addr(),
                crate::telemetry::SourceView {
                    batch_end_ns: end * self.cfg.batch_ns,
                    pps: e.cur_pkts as f64 / secs,
                    bps: e.cur_bytes as f64 * 8.0 / secs,
                    syn_per_s: e.cur_syn as f64 / secs,
                    distinct_ports: ports,
                    distinct_hosts: hosts,
                    rules_fired: fired,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests;
