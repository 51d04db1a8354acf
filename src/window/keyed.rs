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
//! `max_keys` keys are held (the quietest eighth is evicted when full, counted).

use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::topk::TopK;
use super::{DistinctSet, PaneRing};
use crate::alert::{Alert, Evidence};
use crate::metrics::{DistinctKind, Ewma, Metric, MetricValues};
use crate::record::{Addr, Record};
use crate::rules::{GroupBy, RuleSet};

#[derive(Clone, Copy, Debug)]
pub struct KeyedConfig {
    pub batch_ns: u64,
    /// Keys held at most (this shard's share of `--max-keys`).
    pub max_keys: usize,
    /// Live elements a distinct set holds exactly before it becomes a sketch.
    pub distinct_bound: usize,
}

/// Per-source totals since the key was first seen (while tracked).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub packets: u64,
    pub bytes: u64,
    pub first_ns: u64,
    pub last_ns: u64,
}

impl Totals {
    fn merge(&mut self, o: &Totals) {
        self.first_ns = if self.packets == 0 {
            o.first_ns
        } else {
            self.first_ns.min(o.first_ns)
        };
        self.last_ns = self.last_ns.max(o.last_ns);
        self.packets += o.packets;
        self.bytes += o.bytes;
    }
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
    pub sketched_sets: u64,
    pub alerts: u64,
    pub suppressed_by_cooldown: u64,
}

struct KeyEntry {
    totals: Totals,
    last_batch: u64,
    /// Bit r: rule r must be evaluated at its next slide (new packets arrived for its spec,
    /// or its necessary condition held last time). Rules from index 64 on are always
    /// evaluated.
    dirty: u64,
    /// Packets, bytes and SYNs in batch `cur_b` (the dashboard's "now" rates).
    cur_b: u64,
    cur_pkts: u32,
    cur_syn: u32,
    cur_bytes: u64,
    state: Vec<SpecState>,
}

struct SpecState {
    spec: u16,
    panes: PaneRing,
    sets: [Option<Box<DistinctSet>>; DistinctKind::COUNT],
    /// (rule, no alert for windows ending before this capture time)
    cooldown: Vec<(u16, u64)>,
    /// (rule, metric, baseline) for `zscore()` conditions.
    baselines: Vec<(u16, Metric, Ewma)>,
    /// Evidence: the most frequent destination ports and peers.
    top_ports: TopK,
    top_peers: TopK,
}

#[derive(Clone, Copy)]
struct Timing {
    window_b: u64,
    slide_b: u64,
}

/// Batches between scans for quiet keys.
const SWEEP_EVERY: u64 = 4;

/// Batches a quiet key is kept at least (see `KeyedWindows::new`).
const MIN_KEEP_B: u64 = 30;

/// How many top sources each shard keeps from keys it has dropped.
const TOP_KEEP: usize = 64;

pub struct KeyedWindows {
    rules: Arc<RuleSet>,
    group_by: GroupBy,
    cfg: KeyedConfig,
    specs: Vec<u16>,
    timing: Vec<Timing>,
    horizon_b: u64,
    /// Per spec: the dirty bits of its rules.
    spec_mask: Vec<u64>,
    /// Per spec: its longest window in batches (how long its panes and sets are kept).
    spec_keep: Vec<u64>,
    /// Rules evaluated at every slide (no necessary condition, or index >= 64).
    always_mask: u64,
    keys: FxHashMap<Addr, KeyEntry>,
    pending: Vec<(u64, Record)>,
    closed: Option<u64>,
    max_applied: Option<u64>,
    dropped_top: Vec<(Addr, Totals)>,
    stats: KeyedStats,
}

impl KeyedWindows {
    pub fn new(rules: Arc<RuleSet>, group_by: GroupBy, cfg: KeyedConfig) -> Self {
        let b = cfg.batch_ns.max(1);
        let timing = rules
            .rules
            .iter()
            .map(|r| Timing {
                window_b: (r.window_ns / b).max(1),
                slide_b: (r.slide_ns / b).max(1),
            })
            .collect::<Vec<_>>();
        let specs = (0..rules.specs.len() as u16)
            .filter(|&s| rules.specs[s as usize].group_by == group_by)
            .collect();
        let window_b = rules
            .rules
            .iter()
            .zip(&timing)
            .filter(|(r, _)| rules.specs[r.spec].group_by == group_by)
            .map(|(_, t)| t.window_b)
            .max()
            .unwrap_or(1);
        // Keys are kept at least this long after their last packet: victim-side stages see
        // many short-lived keys (clients receiving replies), and re-creating them costs more
        // than holding a few more entries.
        let horizon_b = window_b.max(MIN_KEEP_B);
        let mut spec_mask = vec![0u64; rules.specs.len()];
        let mut always_mask = 0u64;
        for (i, r) in rules.rules.iter().enumerate() {
            if i < 64 {
                spec_mask[r.spec] |= 1 << i;
                if !r.skippable() {
                    always_mask |= 1 << i;
                }
            }
        }
        let spec_keep = (0..rules.specs.len())
            .map(|s| (rules.spec_window_ns(s) / b).max(1))
            .collect();
        KeyedWindows {
            spec_keep,
            spec_mask,
            always_mask,
            rules,
            group_by,
            cfg,
            specs,
            timing,
            horizon_b,
            keys: FxHashMap::default(),
            pending: Vec::new(),
            closed: None,
            max_applied: None,
            dropped_top: Vec::new(),
            stats: KeyedStats::default(),
        }
    }

    pub fn group_by(&self) -> GroupBy {
        self.group_by
    }

    /// Longest window in batches: how far back any evaluation looks.
    pub fn horizon_batches(&self) -> u64 {
        self.horizon_b
    }

    pub fn stats(&self) -> KeyedStats {
        let mut s = self.stats;
        s.keys = self.keys.len() as u64;
        s
    }

    #[inline]
    pub fn ingest(&mut self, rec: &Record) {
        let batch = rec.ts_ns / self.cfg.batch_ns;
        match self.closed {
            Some(c) if batch > c => self.pending.push((batch, *rec)),
            Some(c) if batch < c => self.stats.late += 1,
            _ => self.apply(batch, rec),
        }
    }

    fn apply(&mut self, batch: u64, rec: &Record) {
        self.stats.records += 1;
        self.max_applied = Some(self.max_applied.map_or(batch, |m| m.max(batch)));
        let (key, peer) = match self.group_by {
            GroupBy::Src => (rec.src, rec.dst),
            GroupBy::Dst => (rec.dst, rec.src),
            GroupBy::All => (Addr::UNSPECIFIED, rec.dst),
        };
        if self.keys.len() >= self.cfg.max_keys && !self.keys.contains_key(&key) {
            self.evict();
        }
        let n_keys = self.keys.len() as u64 + 1;
        let entry = self.keys.entry(key).or_insert_with(|| {
            if n_keys > self.stats.keys_peak {
                self.stats.keys_peak = n_keys;
            }
            KeyEntry {
                totals: Totals {
                    first_ns: rec.ts_ns,
                    ..Default::default()
                },
                last_batch: batch,
                dirty: 0,
                cur_b: batch,
                cur_pkts: 0,
                cur_syn: 0,
                cur_bytes: 0,
                state: Vec::new(),
            }
        });
        entry.totals.packets += 1;
        entry.totals.bytes += rec.ip_len as u64;
        entry.totals.last_ns = entry.totals.last_ns.max(rec.ts_ns);
        entry.last_batch = entry.last_batch.max(batch);
        if entry.cur_b != batch {
            entry.cur_b = batch;
            entry.cur_pkts = 0;
            entry.cur_syn = 0;
            entry.cur_bytes = 0;
        }
        entry.cur_pkts += 1;
        entry.cur_syn += rec.is_syn() as u32;
        entry.cur_bytes += rec.ip_len as u64;
        for &s in &self.specs {
            let spec = &self.rules.specs[s as usize];
            if !spec.filter.matches(rec) {
                continue;
            }
            let st = match entry.state.iter().position(|st| st.spec == s) {
                Some(i) => &mut entry.state[i],
                None => {
                    // Grow by one: a state is large and a key has few.
                    entry.state.reserve_exact(1);
                    entry.state.push(SpecState {
                        spec: s,
                        panes: PaneRing::default(),
                        sets: Default::default(),
                        cooldown: Vec::new(),
                        baselines: Vec::new(),
                        top_ports: TopK::default(),
                        top_peers: TopK::default(),
                    });
                    entry.state.last_mut().expect("just pushed")
                }
            };
            st.panes.add(batch, rec, peer, self.spec_keep[s as usize]);
            st.top_ports.insert(rec.dst_port as u128, batch as u32);
            st.top_peers.insert(peer.to_u128(), batch as u32);
            entry.dirty |= self.spec_mask[s as usize];
            for kind in DistinctKind::ALL {
                if !spec.needs(kind) {
                    continue;
                }
                let Some(elem) = element(kind, rec, peer) else {
                    continue;
                };
                let set = st.sets[kind as usize].get_or_insert_with(Default::default);
                let was_sketch = set.is_sketch();
                let keep = self.spec_keep[s as usize] as u32;
                set.insert(elem, batch as u32, self.cfg.distinct_bound, keep);
                if !was_sketch && set.is_sketch() {
                    self.stats.sketched_sets += 1;
                }
            }
        }
    }

    /// Evict the quietest eighth of the keys (oldest last packet; ties by address, so the
    /// choice is deterministic).
    fn evict(&mut self) {
        let mut order: Vec<(u64, Addr)> = self
            .keys
            .iter()
            .map(|(k, e)| (e.totals.last_ns, *k))
            .collect();
        let n = (order.len() / 8).max(1);
        if n < order.len() {
            order.select_nth_unstable(n);
        }
        for (_, k) in order.iter().take(n) {
            if let Some(e) = self.keys.remove(k) {
                self.keep_top(*k, e.totals);
                self.stats.keys_evicted += 1;
            }
        }
    }

    fn keep_top(&mut self, k: Addr, t: Totals) {
        // Only the source stage reports top sources.
        if self.group_by != GroupBy::Src {
            return;
        }
        if let Some((_, have)) = self.dropped_top.iter_mut().find(|(a, _)| *a == k) {
            have.merge(&t);
            return;
        }
        self.dropped_top.push((k, t));
        if self.dropped_top.len() > TOP_KEEP {
            let (i, _) = self
                .dropped_top
                .iter()
                .enumerate()
                .min_by_key(|(_, (a, t))| (t.packets, std::cmp::Reverse(*a)))
                .expect("non-empty");
            self.dropped_top.swap_remove(i);
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
        self.pending.sort_by_key(|p| p.0);
        let pending = std::mem::take(&mut self.pending);
        let mut pi = 0;
        let mut end = prev + 1;
        while end <= closed {
            while pi < pending.len() && pending[pi].0 < end {
                let (b, r) = pending[pi];
                self.apply(b, &r);
                pi += 1;
            }
            // Nothing in any window: jump to the next batch that holds data.
            let idle = self.max_applied.is_none_or(|m| end > m + self.horizon_b);
            if idle {
                let next = pending.get(pi).map_or(closed, |p| (p.0 + 1).min(closed));
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
        while pi < pending.len() && pending[pi].0 <= closed {
            let (b, r) = pending[pi];
            self.apply(b, &r);
            pi += 1;
        }
        self.pending = pending[pi..].to_vec();
        self.closed = Some(closed);
        self.stats.alerts += alerts.len() as u64;
        alerts
    }

    /// The closed-batch count that ends every window holding data (end of input).
    pub fn final_watermark(&self) -> Option<u64> {
        let last = self
            .pending
            .iter()
            .map(|p| p.0)
            .max()
            .max(self.max_applied)?;
        Some(last + self.horizon_b + 1)
    }

    fn evaluate(&mut self, end: u64, out: &mut Vec<Alert>) {
        let due: Vec<usize> = (0..self.rules.rules.len())
            .filter(|&r| {
                self.specs.contains(&(self.rules.rules[r].spec as u16))
                    && end % self.timing[r].slide_b == 0
            })
            .collect();
        if due.is_empty() {
            return;
        }
        let reach = due
            .iter()
            .map(|&r| self.timing[r].window_b)
            .max()
            .unwrap_or(1);
        let due_mask = due
            .iter()
            .fold(0u64, |m, &r| if r < 64 { m | 1 << r } else { m });
        let big = due.iter().any(|&r| r >= 64);
        let bns = self.cfg.batch_ns;
        for (key, entry) in self.keys.iter_mut() {
            if entry.last_batch + reach < end {
                continue;
            }
            let want = (entry.dirty | self.always_mask) & due_mask;
            if want == 0 && !big {
                continue;
            }
            for st in entry.state.iter_mut() {
                for &ri in &due {
                    let rule = &self.rules.rules[ri];
                    if rule.spec != st.spec as usize || (ri < 64 && want & (1 << ri) == 0) {
                        continue;
                    }
                    let t = self.timing[ri];
                    let var = rule.variant(key);
                    let c = st.panes.window(end, t.window_b);
                    if c.packets == 0 || !var.enabled {
                        if ri < 64 {
                            entry.dirty &= !(1 << ri);
                        }
                        continue;
                    }
                    let secs = (t.window_b * bns) as f64 / 1e9;
                    let mut v = MetricValues::default();
                    v.set(Metric::Packets, c.packets as f64);
                    v.set(Metric::Bytes, c.bytes as f64);
                    v.set(Metric::Pps, c.packets as f64 / secs);
                    v.set(Metric::Bps, c.bytes as f64 * 8.0 / secs);
                    v.set(Metric::Syn, c.syn as f64);
                    v.set(Metric::SynAck, c.synack as f64);
                    v.set(Metric::Rst, c.rst as f64);
                    v.set(Metric::Fin, c.fin as f64);
                    v.set(Metric::IcmpEcho, c.icmp_echo as f64);
                    v.set(Metric::Udp, c.udp as f64);
                    // Distinct counts are at most the packet count: if the monotone part
                    // fails even with that bound, skip counting the sets.
                    if ri < 64 && rule.zscores.is_empty() {
                        if let Some(n) = var.necessary {
                            let mut upper = v;
                            for m in var.reads {
                                if m.distinct_kind().is_some() {
                                    upper.set(*m, c.packets as f64);
                                }
                            }
                            if n.eval(&upper) == 0.0 {
                                entry.dirty &= !(1 << ri);
                                continue;
                            }
                        }
                    }
                    for m in var.reads {
                        if let Some(k) = m.distinct_kind() {
                            let n = st.sets[k as usize]
                                .as_ref()
                                .map_or(0, |s| s.count(end as u32, t.window_b as u32));
                            v.set(*m, n as f64);
                        }
                    }
                    // Baselines: score this window against the key's history, then learn it.
                    for m in &rule.zscores {
                        let x = v.get(*m);
                        let slot = match st
                            .baselines
                            .iter()
                            .position(|b| b.0 == ri as u16 && b.1 == *m)
                        {
                            Some(i) => i,
                            None => {
                                st.baselines.push((ri as u16, *m, Ewma::default()));
                                st.baselines.len() - 1
                            }
                        };
                        let b = &mut st.baselines[slot].2;
                        v.set_zscore(*m, b.zscore(x, rule.baseline.warmup));
                        b.update(x, rule.baseline.alpha);
                    }
                    if ri < 64 && var.necessary.is_some_and(|n| n.eval(&v) == 0.0) {
                        entry.dirty &= !(1 << ri);
                    }
                    if var.condition.eval(&v) == 0.0 {
                        continue;
                    }
                    let end_ns = end * bns;
                    let ri16 = ri as u16;
                    if let Some(cd) = st.cooldown.iter_mut().find(|(r, _)| *r == ri16) {
                        if end_ns < cd.1 {
                            self.stats.suppressed_by_cooldown += 1;
                            continue;
                        }
                        cd.1 = end_ns + var.cooldown_ns;
                    } else if var.cooldown_ns > 0 {
                        st.cooldown.push((ri16, end_ns + var.cooldown_ns));
                    }
                    out.push(Alert {
                        rule: ri16,
                        group_by: self.group_by,
                        key: *key,
                        window_start_ns: (end - t.window_b) * bns,
                        window_end_ns: end_ns,
                        first_ns: c.first_ns,
                        last_ns: c.last_ns,
                        peer: c.dst,
                        proto: c.proto,
                        values: var.reads.iter().map(|m| (*m, v.get(*m))).collect(),
                        zscores: rule.zscores.iter().map(|m| (*m, v.zscore(*m))).collect(),
                        host_group: var.group.map(str::to_string),
                        evidence: evidence(st, end, bns),
                    });
                }
            }
        }
    }

    /// Drop what no future window can see; drop keys quiet for the longest window.
    fn sweep(&mut self, end: u64) {
        let h = self.horizon_b;
        let end_ns = end * self.cfg.batch_ns;
        let prune_sets = end % (h.max(SWEEP_EVERY) / SWEEP_EVERY * SWEEP_EVERY) == 0;
        let mut gone: Vec<(Addr, Totals)> = Vec::new();
        let keep = &self.spec_keep;
        self.keys.retain(|k, e| {
            if e.last_batch + h < end {
                e.state
                    .retain(|st| st.cooldown.iter().any(|(_, until)| *until > end_ns));
                for st in e.state.iter_mut() {
                    st.panes = PaneRing::default();
                    st.sets = Default::default();
                }
                if e.state.is_empty() {
                    gone.push((*k, e.totals));
                    return false;
                }
                return true;
            }
            if prune_sets {
                for st in e.state.iter_mut() {
                    let k = keep[st.spec as usize];
                    st.panes.prune(end, k);
                    for s in st.sets.iter_mut().flatten() {
                        s.prune(end as u32, k as u32);
                    }
                }
            }
            true
        });
        for (k, t) in gone {
            self.stats.keys_expired += 1;
            self.keep_top(k, t);
        }
    }

    /// The `n` keys with the most packets, from held keys and those dropped earlier.
    pub fn top(&self, n: usize) -> Vec<(Addr, Totals)> {
        let mut all: FxHashMap<Addr, Totals> = FxHashMap::default();
        for (k, t) in &self.dropped_top {
            all.entry(*k).or_default().merge(t);
        }
        for (k, e) in &self.keys {
            all.entry(*k).or_default().merge(&e.totals);
        }
        let mut v: Vec<(Addr, Totals)> = all.into_iter().collect();
        v.sort_by(|a, b| b.1.packets.cmp(&a.1.packets).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    /// Publish the busiest keys of batch `end - 1` to the dashboard's view.
    pub fn publish(&self, end: u64, tel: &crate::telemetry::Telemetry) {
        let b = end.saturating_sub(1);
        let secs = self.cfg.batch_ns as f64 / 1e9;
        let mut active: Vec<(&Addr, &KeyEntry)> =
            self.keys.iter().filter(|(_, e)| e.cur_b == b).collect();
        let n = crate::telemetry::SOURCES_PER_SHARD.min(active.len());
        if n < active.len() {
            active.select_nth_unstable_by(n, |a, b| b.1.cur_pkts.cmp(&a.1.cur_pkts));
        }
        for (k, e) in active.into_iter().take(n) {
            let mut ports = 0;
            let mut hosts = 0;
            for st in &e.state {
                if let Some(s) = &st.sets[DistinctKind::Ports as usize] {
                    ports = ports.max(s.count(end as u32, self.horizon_b as u32));
                }
                if let Some(s) = &st.sets[DistinctKind::Hosts as usize] {
                    hosts = hosts.max(s.count(end as u32, self.horizon_b as u32));
                }
            }
            let fired: Vec<u16> = e
                .state
                .iter()
                .flat_map(|st| st.cooldown.iter().map(|c| c.0))
                .collect();
            tel.sources.insert(
                *k,
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

    /// Approximate bytes of window state held now.
    pub fn state_bytes(&self) -> usize {
        let per_key = std::mem::size_of::<(Addr, KeyEntry)>() + 1;
        let mut b = self.keys.capacity() * per_key;
        for e in self.keys.values() {
            b += e.state.capacity() * std::mem::size_of::<SpecState>();
            for st in &e.state {
                b += st.panes.heap_bytes();
                b += st
                    .sets
                    .iter()
                    .flatten()
                    .map(|s| s.heap_bytes() + std::mem::size_of::<DistinctSet>())
                    .sum::<usize>();
            }
        }
        b
    }
}

/// Evidence for an alert: the key's most frequent destination ports and peers.
fn evidence(st: &SpecState, end: u64, batch_ns: u64) -> Evidence {
    // `since` is a truncated batch number: rebuild it from its age.
    let since = |b: u32| (end - (end as u32).wrapping_sub(b) as u64) * batch_ns;
    Evidence {
        top_dst_ports: st
            .top_ports
            .top()
            .iter()
            .map(|e| (e.elem as u16, e.count, since(e.since)))
            .collect(),
        top_peers: st
            .top_peers
            .top()
            .iter()
            .map(|e| (Addr(e.elem.to_be_bytes()), e.count, since(e.since)))
            .collect(),
        approx: st.top_ports.approx || st.top_peers.approx,
        sketched: st.sets.iter().flatten().any(|s| s.is_sketch()),
    }
}

/// The element a record adds to a distinct set: ports and addresses exactly; tuples exactly
/// for IPv4 and as a 64-bit hash for IPv6 (top bit set, so never equal to an IPv4 value).
#[inline]
fn element(kind: DistinctKind, r: &Record, peer: Addr) -> Option<u128> {
    match kind {
        DistinctKind::Ports => Some(r.dst_port as u128),
        DistinctKind::Hosts => Some(r.dst.to_u128()),
        DistinctKind::SrcHosts => Some(r.src.to_u128()),
        DistinctKind::Pairs => Some(match r.dst.as_v4() {
            Some(o) => ((u32::from_be_bytes(o) as u128) << 16) | r.dst_port as u128,
            None => mix(r.dst.fingerprint(), r.dst_port as u64) as u128,
        }),
        DistinctKind::Conns => {
            // The connection's 4-tuple less the key (the other three identify it).
            if !r.is_syn() {
                return None;
            }
            let ports = ((r.dst_port as u128) << 16) | r.src_port as u128;
            Some(match peer.as_v4() {
                Some(o) => ((u32::from_be_bytes(o) as u128) << 32) | ports,
                None => mix(peer.fingerprint(), ports as u64) as u128,
            })
        }
    }
}

#[inline]
fn mix(a: u64, b: u64) -> u64 {
    let mut buf = [0u8; 16];
    buf[..8].copy_from_slice(&a.to_le_bytes());
    buf[8..].copy_from_slice(&b.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&buf) | (1 << 63)
}

#[cfg(test)]
mod tests;
