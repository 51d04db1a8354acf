//! A keyed stage's memory: what it holds, the byte limit its shard gives it, and eviction of
//! the quietest keys when a new key or a growing one would pass that limit.
//!
//! In: the stage's keys. Out: bytes held (estimated from a per-key average measured over a
//! sample of the keys, plus what held keys gained since), evictions counted in the stage's stats.
//! Guarantees: after every record the estimate stays within the limit unless one key alone
//! passes it; eviction order is deterministic (quietest first, keys that alerted or are near
//! firing last, ties by key).

use super::*;

impl<K: WindowKey> KeyedWindows<K> {
    /// A key's slot in the map (entry and control byte).
    pub(super) const SLOT_BYTES: usize = std::mem::size_of::<(K, KeyEntry)>() + 1;

    /// Bytes of state held now, estimated: the map's slots, the keys' heap state at the
    /// bytes a key held on average at the last measure, and the spec states keys gained
    /// since (exact: [`Self::state_bytes`], which walks every key).
    pub fn held_bytes(&self) -> usize {
        self.keys.capacity().saturating_mul(Self::SLOT_BYTES)
            + self.keys.len().saturating_mul(self.key_bytes)
            + self.grown
            + self.probation_bytes(self.probation.capacity())
    }

    /// The probation map's bytes at `cap` slots.
    fn probation_bytes(&self, cap: usize) -> usize {
        cap.saturating_mul(Self::PROBATION_SLOT_BYTES)
    }

    /// A map's capacity once it holds one more (it doubles when full).
    fn cap_with_one_more(len: usize, cap: usize) -> usize {
        if len < cap {
            cap
        } else {
            (cap + 1).max(4) * 2
        }
    }

    /// What one more key would make [`Self::held_bytes`].
    pub(super) fn bytes_with_one_more(&self) -> usize {
        let (len, cap) = (self.keys.len(), self.keys.capacity());
        let cap = Self::cap_with_one_more(len, cap);
        cap.saturating_mul(Self::SLOT_BYTES)
            + (len + 1).saturating_mul(self.key_bytes)
            + self.grown
            + self.probation_bytes(self.probation.capacity())
    }

    /// What one more key on probation would make [`Self::held_bytes`].
    pub(super) fn bytes_with_one_on_probation(&self) -> usize {
        let cap = Self::cap_with_one_more(self.probation.len(), self.probation.capacity());
        self.held_bytes() - self.probation_bytes(self.probation.capacity())
            + self.probation_bytes(cap)
    }

    /// Hold at most `bytes` of state from now on (new keys evict the quietest beyond it).
    pub fn set_byte_limit(&mut self, bytes: usize) {
        self.byte_limit = bytes;
    }

    /// Evict the quietest eighth of the keys: keys that alerted (a cooldown runs) or have a
    /// rule near firing (a dirty bit kept by its necessary condition) last, then fewest
    /// packets in the windows, then oldest last packet; ties by key, so the choice is
    /// deterministic.
    pub(super) fn evict(&mut self, for_state: bool) {
        let now = self.max_applied.unwrap_or(0) * self.cfg.batch_ns;
        #[cfg(debug_assertions)]
        for e in self.keys.values() {
            let cool = e.state.iter().any(|st| st.cooling(now));
            debug_assert_eq!((e.held, e.cool_until > now), (e.held_in_states(), cool));
        }
        // Keys on probation hold at most three records below every gate: quiet keys.
        let mut order: Vec<(bool, u64, u64, K)> = self
            .keys
            .iter()
            .map(|(k, e)| {
                (
                    e.dirty != 0 || e.cool_until > now,
                    e.held,
                    e.totals.last_ns,
                    *k,
                )
            })
            .chain(
                self.probation
                    .iter()
                    .map(|(k, p)| (false, p.weight(), p.totals().last_ns, *k)),
            )
            .collect();
        let n = (order.len() / 8).max(1);
        if n < order.len() {
            order.select_nth_unstable(n);
        }
        let before = self.stats.keys_evicted;
        for (_, _, _, k) in order.iter().take(n) {
            let totals = match self.keys.remove(k) {
                Some(e) => e.totals,
                None => match self.probation.remove(k) {
                    Some(p) => p.totals(),
                    None => continue,
                },
            };
            self.keep_top(k.addr(), totals);
            self.stats.keys_evicted += 1;
            self.stats.keys_evicted_for_state += for_state as u64;
        }
        if for_state {
            // What the evicted keys held leaves `grown` too: measure what is left (one
            // more walk, as the ordering above was).
            self.measure();
        }
        if crate::summary::new_decade(before, self.stats.keys_evicted) {
            let (why, limit) = if for_state {
                (
                    "its share of --max-state",
                    self.byte_limit / (self.key_bytes + Self::SLOT_BYTES),
                )
            } else {
                ("its share of --max-keys", self.cfg.max_keys)
            };
            tracing::warn!(
                "{} keys: {} evicted so far (the quietest eighth each time the shard holds \
                 {why}, {limit} keys); their windows start over",
                self.group_by.name(),
                self.stats.keys_evicted,
            );
        }
    }

    pub(super) fn keep_top(&mut self, k: Addr, t: Totals) {
        // Only the source stage reports top sources.
        if self.group_by != GroupBy::Src {
            return;
        }
        if let Some(have) = self.dropped_top.get_mut(&k) {
            have.merge(&t);
            self.dropped_min = None;
            return;
        }
        if self.dropped_top.len() >= TOP_KEEP {
            // Full: the new key replaces the lightest (ties: the higher address goes).
            let min = match self.dropped_min {
                Some(m) => m,
                None => {
                    let m = self
                        .dropped_top
                        .iter()
                        .map(|(a, t)| (t.packets, std::cmp::Reverse(*a)))
                        .min()
                        .expect("full");
                    self.dropped_min = Some(m);
                    m
                }
            };
            if (t.packets, std::cmp::Reverse(k)) < min {
                return;
            }
            self.dropped_top.remove(&min.1 .0);
        }
        self.dropped_top.insert(k, t);
        self.dropped_min = None;
    }

    /// Measure the heap bytes a key holds on average, from a sample of at most
    /// [`MEASURE_SAMPLE`] keys (the first in the map's order, which follows the keys'
    /// hashes, not their traffic): a walk over every key at every sweep cost more than a
    /// tenth of the stage's time on 40,000 keys.
    pub(super) fn measure(&mut self) {
        let n = self.keys.len();
        self.measure_at = n + n / 8 + 64;
        let (heap, seen) = self
            .keys
            .values()
            .take(MEASURE_SAMPLE)
            .fold((0usize, 0usize), |(b, c), e| {
                (b + entry_heap_bytes(e), c + 1)
            });
        if let Some(avg) = heap.checked_div(seen) {
            self.key_bytes = avg.max(std::mem::size_of::<crate::window::state::SpecState>());
        }
        self.grown = 0;
    }

    /// Approximate bytes of window state held now (a walk over every key).
    pub fn state_bytes(&self) -> usize {
        self.keys.capacity() * Self::SLOT_BYTES
            + self.keys.values().map(entry_heap_bytes).sum::<usize>()
            + self.probation_bytes(self.probation.capacity())
    }
}

/// Keys [`KeyedWindows::measure`] looks at.
const MEASURE_SAMPLE: usize = 1024;

/// The heap bytes of one key's state (its spec states, panes, sets, cooldowns, baselines).
fn entry_heap_bytes(e: &KeyEntry) -> usize {
    use crate::window::state::{Extra, SpecState};
    let mut b = e.state.capacity() * std::mem::size_of::<SpecState>();
    for st in &e.state {
        b += st.panes.heap_bytes();
        b += st.extra.as_ref().map_or(0, |x| {
            std::mem::size_of::<Extra>() + x.cooldown.capacity() * 16 + x.baselines.capacity() * 32
        });
        b += st.sets.len() * std::mem::size_of::<crate::window::state::KindSet>();
        b += st.sets.iter().map(|s| s.set.heap_bytes()).sum::<usize>();
    }
    b
}
