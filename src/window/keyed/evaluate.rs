//! Evaluation: the rules due at a slide boundary, over the keys that may fire.
//!
//! In: the window end (a batch index) at which some of the stage's rules slide. Out: the
//! alerts of those rules' windows ending there, in no particular order (the merge sorts).
//! Guarantees: only listed keys are visited (keys with a dirty bit: new packets since their
//! last evaluation, a necessary condition that held last time, or a rule without one whose
//! window still holds packets), and every key that could fire is listed, so skipping the
//! others changes no alert; a key is evaluated at most once per window end.

use super::super::state::{evidence, KeyEntry};
use super::{KeyedStats, KeyedWindows, Timing};
use crate::alert::Alert;
use crate::metrics::{Metric, MetricValues};
use crate::rules::{Expr, GroupBy, Rule, RuleSet};
use crate::window::key::WindowKey;

/// Largest IP packet without a jumbogram (IPv6 payload length 65535 + 40): the byte bound
/// per packet that [`gate_packets`] assumes. Panes holding bigger records are never gated.
pub(super) const MAX_IP_LEN: u64 = 65_575;

/// The fewest packets a window of `secs` seconds must hold for `rule`'s necessary condition
/// to be able to hold, for any of its variants: every count metric is at most the packet
/// count, every distinct count too, bytes at most [`MAX_IP_LEN`] per packet, and the
/// necessary part grows with each metric. 0 when the rule cannot be skipped (a variant
/// without a necessary part, or a baseline that must learn every window); `u64::MAX` when it
/// can never fire. Keys whose spec holds fewer packets are not even listed for evaluation.
/// One step of the threshold random walk: ln(0.8 / 0.2), the log-likelihood ratio of a
/// failure (and minus that of a success) for success rates 0.2 (scanner) and 0.8 (benign).
pub const TRW_STEP: f64 = 1.386_294_361_119_890_6;

pub(super) fn gate_packets(rule: &Rule, secs: f64) -> u64 {
    if !rule.zscores.is_empty() || !rule.skippable() {
        return 0;
    }
    let mut necessary: Vec<&Expr> = rule.necessary.iter().collect();
    for o in rule.overrides.iter().filter(|o| o.enabled) {
        match &o.necessary {
            Some(n) => necessary.push(n),
            None => return 0,
        }
    }
    let holds = |p: u64| {
        let p = p as f64;
        let mut v = MetricValues::default();
        for m in Metric::ALL {
            v.set(m, p);
        }
        let bytes = p * MAX_IP_LEN as f64;
        v.set(Metric::Bytes, bytes);
        v.set(Metric::Pps, p / secs);
        v.set(Metric::Bps, bytes * 8.0 / secs);
        v.set(Metric::Trw, p * TRW_STEP);
        necessary.iter().any(|n| n.eval(&v) != 0.0)
    };
    let (mut lo, mut hi) = (0u64, 1u64 << 40);
    if !holds(hi) {
        return u64::MAX;
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if holds(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// What evaluating one key needs from the stage, borrowed apart from its keys.
struct Due<'a> {
    rules: &'a RuleSet,
    timing: &'a [Timing],
    local_of: &'a [u16],
    group_by: GroupBy,
    batch_ns: u64,
    end: u64,
    /// The rules due, and their bits (rules from index 64 on have none: `big`).
    due: Vec<usize>,
    mask: u64,
    big: bool,
    /// The longest window of the rules due.
    reach: u64,
}

impl<K: WindowKey> KeyedWindows<K> {
    pub(super) fn evaluate(&mut self, end: u64, out: &mut Vec<Alert>) {
        let due: Vec<usize> = self
            .stage_rules
            .iter()
            .copied()
            .filter(|&r| end.is_multiple_of(self.timing[r].slide_b))
            .collect();
        if due.is_empty() {
            return;
        }
        let d = Due {
            reach: due
                .iter()
                .map(|&r| self.timing[r].window_b)
                .max()
                .unwrap_or(1),
            mask: due
                .iter()
                .fold(0u64, |m, &r| if r < 64 { m | 1 << r } else { m }),
            big: due.iter().any(|&r| r >= 64),
            due,
            rules: &self.rules,
            timing: &self.timing,
            local_of: &self.local_of,
            group_by: self.group_by,
            batch_ns: self.cfg.batch_ns,
            end,
        };
        let stats = &mut self.stats;
        if d.big {
            // Rules without a dirty bit: every key, then list the dirty ones anew.
            self.active.clear();
            for (key, entry) in self.keys.iter_mut() {
                d.key(key, entry, stats, out);
                entry.evaluated = end;
                entry.listed = entry.dirty != 0;
                if entry.listed {
                    self.active.push(*key);
                }
            }
            return;
        }
        let mut list = std::mem::take(&mut self.active);
        let mut keep = std::mem::take(&mut self.spare);
        keep.clear();
        for key in list.drain(..) {
            let Some(entry) = self.keys.get_mut(&key) else {
                continue; // dropped since it was listed
            };
            if entry.evaluated == end {
                continue; // listed twice (dropped and re-created)
            }
            entry.evaluated = end;
            d.key(&key, entry, stats, out);
            if entry.dirty != 0 {
                keep.push(key);
            } else {
                entry.listed = false;
            }
        }
        self.active = keep;
        self.spare = list;
    }
}

impl Due<'_> {
    /// Evaluate the due rules of one key whose dirty bits say they may fire.
    fn key<K: WindowKey>(
        &self,
        key: &K,
        entry: &mut KeyEntry,
        stats: &mut KeyedStats,
        out: &mut Vec<Alert>,
    ) {
        let want = entry.dirty & self.mask;
        if want == 0 && !self.big {
            return;
        }
        if entry.last_batch + self.reach < self.end {
            // Every due window is empty.
            entry.dirty &= !self.mask;
            if !self.big {
                return;
            }
        }
        let (end, bns) = (self.end, self.batch_ns);
        let mut dirty = entry.dirty;
        let mut cool_until = entry.cool_until;
        for &ri in &self.due {
            let bit = if ri < 64 { 1u64 << ri } else { 0 };
            if ri < 64 && want & bit == 0 {
                continue;
            }
            let rule = &self.rules.rules[ri];
            let end_ns = end * bns;
            let yielded = rule.yields_to.iter().any(|&a| {
                let ra = &self.rules.rules[a];
                entry.get(self.local_of[ra.spec]).is_some_and(|s| {
                    s.cooldowns()
                        .iter()
                        .any(|&(r, until)| r as usize == a && until > end_ns)
                })
            });
            let Some(st) = entry.get(self.local_of[rule.spec]) else {
                dirty &= !bit;
                continue;
            };
            let t = self.timing[ri];
            let var = rule.variant(&key.addr());
            let c = st.panes.sums(end, t.window_b);
            if c.packets == 0 || !var.enabled {
                dirty &= !bit;
                continue;
            }
            let secs = (t.window_b * bns) as f64 / 1e9;
            let mut v = MetricValues::default();
            let packets = c.real_packets() as f64;
            v.set(Metric::Packets, packets);
            v.set(Metric::Bytes, c.bytes as f64);
            v.set(Metric::Pps, packets / secs);
            v.set(Metric::Bps, c.bytes as f64 * 8.0 / secs);
            v.set(Metric::Syn, c.syn as f64);
            v.set(Metric::SynAck, c.synack as f64);
            v.set(Metric::Rst, c.rst as f64);
            v.set(Metric::Fin, c.fin as f64);
            v.set(Metric::IcmpEcho, c.icmp_echo as f64);
            v.set(Metric::Udp, c.udp as f64);
            v.set(Metric::IcmpErrors, c.icmp_errors as f64);
            let failed = (c.rejected + c.unanswered) as f64;
            v.set(Metric::Attempts, failed + c.answered as f64);
            v.set(Metric::Answered, c.answered as f64);
            v.set(Metric::Rejected, c.rejected as f64);
            v.set(Metric::Unanswered, c.unanswered as f64);
            v.set(Metric::Failed, failed);
            v.set(Metric::Unsolicited, c.unsolicited as f64);
            v.set(Metric::Trw, TRW_STEP * (failed - c.answered as f64));
            // Distinct counts are at most the packet count: if the monotone part fails even
            // with that bound, skip counting the sets.
            if ri < 64 && rule.zscores.is_empty() {
                if let Some(n) = var.necessary {
                    let mut upper = v;
                    for m in var.reads {
                        if m.distinct_kind().is_some() {
                            upper.set(*m, c.packets as f64);
                        }
                    }
                    if n.eval(&upper) == 0.0 {
                        dirty &= !bit;
                        continue;
                    }
                }
            }
            for m in var.reads {
                if let Some(k) = m.distinct_kind() {
                    let n = st
                        .set(k)
                        .map_or(0, |s| s.count(end as u32, t.window_b as u32));
                    v.set(*m, n as f64);
                }
            }
            // Baselines: score this window against the key's history, then learn it.
            for m in &rule.zscores {
                let x = v.get(*m);
                let baselines = &mut st.extra().baselines;
                let slot = match baselines.iter().position(|b| b.0 == ri as u16 && b.1 == *m) {
                    Some(i) => i,
                    None => {
                        baselines.push((ri as u16, *m, Default::default()));
                        baselines.len() - 1
                    }
                };
                let b = &mut baselines[slot].2;
                v.set_zscore(*m, b.zscore(x, rule.baseline.warmup));
                b.update(x, rule.baseline.alpha);
            }
            if var.necessary.is_some_and(|n| n.eval(&v) == 0.0) {
                dirty &= !bit;
            }
            if var.condition.eval(&v) == 0.0 {
                continue;
            }
            let ri16 = ri as u16;
            let cooldown = &mut st.extra().cooldown;
            if let Some(cd) = cooldown.iter_mut().find(|(r, _)| *r == ri16) {
                if end_ns < cd.1 {
                    stats.suppressed_by_cooldown += 1;
                    continue;
                }
                cd.1 = end_ns + var.cooldown_ns;
                cool_until = cool_until.max(cd.1);
            } else if var.cooldown_ns > 0 {
                cooldown.push((ri16, end_ns + var.cooldown_ns));
                cool_until = cool_until.max(end_ns + var.cooldown_ns);
            }
            if yielded {
                // Reported by the rule yielded to: held back, and its cooldown runs as if
                // it had fired, so the same evidence does not raise it later.
                stats.yielded += 1;
                continue;
            }
            // What only an alert shows (first and last time, the single peer and protocol).
            let c = st.panes.window(end, t.window_b);
            out.push(Alert {
                rule: ri16,
                group_by: self.group_by,
                key: key.addr(),
                flow: key.flow(),
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
        entry.dirty = dirty;
        entry.cool_until = cool_until;
    }
}
