//! A stage's state carried across a rule reload.
//!
//! In: the reloaded [`RuleSet`] and its [`Carry`] (from `rules::rebase`). Out: the stage
//! rebuilt for the new rules, every key still held. Guarantees: the state of a kept spec
//! moves to its new spec whole (panes, distinct sets it still needs, evidence, cooldowns
//! and baselines of kept rules); states of dropped specs are freed; records waiting for
//! their batch, the watermark and the counters stay. Every key with state is listed for
//! the next evaluation (dirty bits index rules, which moved), which changes no alert:
//! skipping keys is only ever a shortcut.

use std::sync::Arc;

use super::KeyedWindows;
use crate::rules::{Carry, RuleSet};
use crate::window::key::WindowKey;
use crate::window::state::KindSet;
use crate::window::DistinctSet;

impl<K: WindowKey> KeyedWindows<K> {
    /// Rebuild this stage for `rules` (already rebased against the running ones).
    pub fn rebase(&mut self, rules: Arc<RuleSet>, carry: &Carry) {
        // Keys on probation were below the old rules' gates, not the new ones'.
        self.promote_all();
        let mut next = Self::keyed(rules, self.group_by, self.cfg);
        // Old local spec -> new local spec.
        let local: Vec<Option<u16>> = self
            .specs
            .iter()
            .map(|&s| {
                let n = carry.spec_of_old.get(s as usize).copied().flatten()?;
                let l = *next.local_of.get(n)?;
                (l != u16::MAX).then_some(l)
            })
            .collect();
        let mut keys = std::mem::take(&mut self.keys);
        for (k, e) in keys.iter_mut() {
            e.retain_states(|st| local[st.local as usize].is_some());
            for st in e.state.iter_mut() {
                let l = local[st.local as usize].unwrap_or(u16::MAX);
                st.local = l;
                // The sets the new spec reads, in its order: kept where the old one had them.
                let mut old: Vec<KindSet> = std::mem::take(&mut st.sets).into_vec();
                st.sets = next.local_kinds[l as usize]
                    .iter()
                    .map(|&kind| match old.iter().position(|s| s.kind == kind) {
                        Some(i) => old.swap_remove(i),
                        None => KindSet {
                            kind,
                            set: DistinctSet::Empty,
                        },
                    })
                    .collect();
                if let Some(x) = st.extra.as_mut() {
                    let to = |r: u16| carry.rule_of_old.get(r as usize).copied().flatten();
                    x.cooldown
                        .retain_mut(|c| to(c.0).map(|n| c.0 = n).is_some());
                    x.baselines
                        .retain_mut(|b| to(b.0).map(|n| b.0 = n).is_some());
                }
            }
            e.state.sort_by_key(|st| st.local);
            e.retain_states(|_| true);
            e.dirty = if e.state.is_empty() { 0 } else { u64::MAX };
            e.listed = e.dirty != 0;
            if e.listed {
                next.active.push(*k);
            }
        }
        next.keys = keys;
        next.pending = std::mem::take(&mut self.pending);
        next.closed = self.closed;
        next.max_applied = self.max_applied;
        next.dropped_top = std::mem::take(&mut self.dropped_top);
        next.dropped_min = self.dropped_min;
        next.byte_limit = self.byte_limit;
        next.key_bytes = self.key_bytes;
        next.measure_at = self.measure_at;
        next.stats = self.stats;
        *self = next;
        // States were freed or moved: measure bytes per key again.
        self.measure();
    }
}
