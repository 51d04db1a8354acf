//! Distinct sets over sliding windows: exact up to a bound (one element inline, a few in a
//! small array, then a hash map), then a sliding HyperLogLog.
//!
//! In: `(element, batch)` sightings (elements are 128-bit: an address, a port, or a tuple),
//! in non-decreasing batch order per set (the shard applies a batch only once the watermark
//! is about to close it). Out: the number of distinct elements seen in a window of batches
//! `[end - len, end)`, for any window that ends at or after the newest sighting, and the
//! most-seen elements of a window (evidence for alerts).
//! Guarantees: exact while the set holds at most `bound` live elements (each element keeps
//! its newest batch, so a window's count is the number of elements whose newest sighting
//! falls inside it; it also counts its sightings since it entered the set); past the bound
//! the set turns into a sliding HyperLogLog (Chabchoub & Hebrail: each register keeps its
//! "possible future maxima", a list of (batch, rank) with ranks falling as batches rise),
//! 1024 registers, about 3% standard error, memory fixed by the register count. No crate
//! offers event-time expiry of a HyperLogLog, hence this one. Batches are `u32` and compared
//! by wrapping age, so the absolute batch number may wrap.

use rustc_hash::FxHashMap;

const HLL_P: u32 = 10;
const HLL_M: usize = 1 << HLL_P;
const HASH_SEED: u64 = 0x666c_6f77_7365_6e74; // "flowsent"

/// Age of `batch` seen from `end` (exclusive window end): 1 for the newest closed batch.
#[inline]
fn age(end: u32, batch: u32) -> u32 {
    end.wrapping_sub(batch)
}

/// Whether `batch` lies in `[end - len, end)`.
#[inline]
fn in_window(end: u32, len: u32, batch: u32) -> bool {
    age(end, batch).wrapping_sub(1) < len
}

/// What an exact set knows of one element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Newest batch with a sighting.
    pub last: u32,
    /// Batch of the first sighting since the element entered the set.
    pub first: u32,
    /// Sightings since `first`.
    pub count: u32,
}

/// Elements a set holds inline before it needs a hash map (most keys see a few).
const SMALL: usize = 4;

/// Up to [`SMALL`] elements in an array: no allocation, a scan of two cache lines.
#[derive(Debug, Clone, Default)]
pub struct SmallSet {
    len: u8,
    items: [(u128, Seen); SMALL],
}

impl SmallSet {
    fn items(&self) -> &[(u128, Seen)] {
        &self.items[..self.len as usize]
    }

    /// Record a sighting; false when the element is new and the array is full.
    #[inline]
    fn insert(&mut self, elem: u128, batch: u32) -> bool {
        let n = self.len as usize;
        if let Some((_, s)) = self.items[..n].iter_mut().find(|(e, _)| *e == elem) {
            s.last = batch;
            s.count = s.count.saturating_add(1);
            return true;
        }
        if n == SMALL {
            return false;
        }
        self.items[n] = (elem, Seen::new(batch));
        self.len += 1;
        true
    }

    fn retain(&mut self, keep: impl Fn(&Seen) -> bool) {
        let mut n = 0;
        for i in 0..self.len as usize {
            if keep(&self.items[i].1) {
                self.items[n] = self.items[i];
                n += 1;
            }
        }
        self.len = n as u8;
    }
}

impl Default for Seen {
    fn default() -> Self {
        Seen::new(0)
    }
}

impl Seen {
    fn new(batch: u32) -> Self {
        Seen {
            last: batch,
            first: batch,
            count: 1,
        }
    }
}

/// An element as two words (alignment 8: beside its [`Seen`], the set's tag fits in the
/// gap, and the whole set is 32 bytes).
type Words = [u64; 2];

#[inline]
fn words(elem: u128) -> Words {
    [elem as u64, (elem >> 64) as u64]
}

#[inline]
fn elem_of(w: &Words) -> u128 {
    w[0] as u128 | (w[1] as u128) << 64
}

/// An exact set past [`SMALL`] elements, and the batch of its last pruning (pruning on
/// overflow happens at most once per batch, so a set hovering at the bound costs one scan
/// per batch, not one per insert).
#[derive(Debug, Clone, Default)]
pub struct ExactSet {
    map: FxHashMap<u128, Seen>,
    pruned_at: u32,
}

/// A distinct set in tiers: nothing, one element inline (most keys of a flood or a sweep
/// see one port and one host), then a few in a boxed array, a boxed hash map, a boxed
/// sketch. The set itself is 32 bytes; larger tiers pay for their own heap.
#[derive(Debug, Clone, Default)]
pub enum DistinctSet {
    #[default]
    Empty,
    /// One element and what the set knows of it.
    One(Seen, Words),
    Small(Box<SmallSet>),
    Exact(Box<ExactSet>),
    Sketch(Box<SlidingHll>),
}

impl DistinctSet {
    /// Record a sighting of `elem` in `batch`; past `bound` live elements the set becomes a
    /// sketch (after dropping elements older than `horizon` batches).
    #[inline]
    pub fn insert(&mut self, elem: u128, batch: u32, bound: usize, horizon: u32) {
        match self {
            DistinctSet::Empty => {
                *self = DistinctSet::One(Seen::new(batch), words(elem));
                return;
            }
            DistinctSet::One(seen, w) if elem_of(w) == elem => {
                seen.last = batch;
                seen.count = seen.count.saturating_add(1);
                return;
            }
            DistinctSet::One(seen, w) => {
                let mut small = Box::<SmallSet>::default();
                small.insert(elem_of(w), seen.last);
                small.items[0].1 = *seen;
                small.insert(elem, batch);
                *self = DistinctSet::Small(small);
                return;
            }
            DistinctSet::Small(s) => {
                if s.insert(elem, batch) {
                    return;
                }
                let mut map = FxHashMap::with_capacity_and_hasher(SMALL * 2, Default::default());
                map.extend(s.items().iter().copied());
                *self = DistinctSet::Exact(Box::new(ExactSet {
                    map,
                    pruned_at: u32::MAX,
                }));
            }
            _ => {}
        }
        match self {
            DistinctSet::Exact(x) => {
                let map = &mut x.map;
                let e = map.entry(elem).or_insert(Seen {
                    last: batch,
                    first: batch,
                    count: 0,
                });
                e.last = batch;
                e.count = e.count.saturating_add(1);
                if map.len() > bound {
                    if x.pruned_at != batch {
                        x.pruned_at = batch;
                        map.retain(|_, s| age(batch, s.last) < horizon);
                    }
                    if map.len() > bound {
                        // Sightings must enter the sketch oldest first.
                        let mut items: Vec<(u32, u128)> =
                            map.iter().map(|(e, s)| (age(batch, s.last), *e)).collect();
                        items.sort_unstable_by(|x, y| y.cmp(x));
                        let mut hll = Box::new(SlidingHll::new());
                        for (a, e) in items {
                            hll.insert(e, batch.wrapping_sub(a));
                        }
                        *self = DistinctSet::Sketch(hll);
                    }
                }
            }
            DistinctSet::Sketch(h) => h.insert(elem, batch),
            _ => {}
        }
    }

    /// Distinct elements seen in `[end - len, end)`.
    pub fn count(&self, end: u32, len: u32) -> u64 {
        match self {
            DistinctSet::Empty => 0,
            DistinctSet::One(seen, _) => in_window(end, len, seen.last) as u64,
            DistinctSet::Small(s) => s
                .items()
                .iter()
                .filter(|(_, s)| in_window(end, len, s.last))
                .count() as u64,
            DistinctSet::Exact(x) => x
                .map
                .values()
                .filter(|s| in_window(end, len, s.last))
                .count() as u64,
            DistinctSet::Sketch(h) => h.estimate(end, len),
        }
    }

    /// The `n` elements seen in `[end - len, end)` with the most sightings (ties: smaller
    /// element first), with what is known of them; empty for a sketch.
    pub fn top(&self, end: u32, len: u32, n: usize) -> Vec<(u128, Seen)> {
        let mut v: Vec<(u128, Seen)> = match self {
            DistinctSet::Empty | DistinctSet::Sketch(_) => return Vec::new(),
            DistinctSet::One(seen, w) => vec![(elem_of(w), *seen)],
            DistinctSet::Small(s) => s.items().to_vec(),
            DistinctSet::Exact(x) => x.map.iter().map(|(e, s)| (*e, *s)).collect(),
        };
        v.retain(|(_, s)| in_window(end, len, s.last));
        v.sort_unstable_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    /// Drop what no window ending at or after `end` with length <= `horizon` can see.
    pub fn prune(&mut self, end: u32, horizon: u32) {
        match self {
            DistinctSet::Empty => {}
            DistinctSet::One(seen, _) => {
                if age(end, seen.last) > horizon {
                    *self = DistinctSet::Empty;
                }
            }
            DistinctSet::Small(s) => s.retain(|s| age(end, s.last) <= horizon),
            DistinctSet::Exact(x) => x.map.retain(|_, s| age(end, s.last) <= horizon),
            DistinctSet::Sketch(h) => h.prune(end, horizon),
        }
    }

    pub fn is_sketch(&self) -> bool {
        matches!(self, DistinctSet::Sketch(_))
    }

    pub fn is_empty(&self) -> bool {
        match self {
            DistinctSet::Empty => true,
            DistinctSet::One(..) => false,
            DistinctSet::Small(s) => s.len == 0,
            DistinctSet::Exact(x) => x.map.is_empty(),
            DistinctSet::Sketch(h) => h.is_empty(),
        }
    }

    /// Approximate heap bytes held (the set's own 32 bytes are its owner's).
    pub fn heap_bytes(&self) -> usize {
        match self {
            DistinctSet::Empty | DistinctSet::One(..) => 0,
            DistinctSet::Small(_) => std::mem::size_of::<SmallSet>(),
            DistinctSet::Exact(x) => {
                std::mem::size_of::<ExactSet>()
                    + x.map.capacity() * (std::mem::size_of::<(u128, Seen)>() + 1)
            }
            DistinctSet::Sketch(h) => std::mem::size_of::<SlidingHll>() + h.heap_bytes(),
        }
    }
}

/// A HyperLogLog whose registers remember when each rank was seen.
#[derive(Debug, Clone)]
pub struct SlidingHll {
    /// Per register: (batch, rank) with batches rising and ranks falling.
    regs: Vec<Vec<(u32, u8)>>,
}

impl Default for SlidingHll {
    fn default() -> Self {
        Self::new()
    }
}

impl SlidingHll {
    pub fn new() -> Self {
        SlidingHll {
            regs: vec![Vec::new(); HLL_M],
        }
    }

    #[inline]
    pub fn insert(&mut self, elem: u128, batch: u32) {
        let h = xxhash_rust::xxh3::xxh3_64_with_seed(&elem.to_le_bytes(), HASH_SEED);
        let idx = (h >> (64 - HLL_P)) as usize;
        let rest = h << HLL_P;
        let rank = (rest.leading_zeros().min(64 - HLL_P) + 1) as u8;
        let reg = &mut self.regs[idx];
        // Entries with rank <= ours (and not newer) can never be a window's maximum again.
        while let Some(&(b, r)) = reg.last() {
            if r <= rank && age(batch, b) < u32::MAX / 2 {
                reg.pop();
            } else {
                break;
            }
        }
        reg.push((batch, rank));
    }

    pub fn estimate(&self, end: u32, len: u32) -> u64 {
        let m = HLL_M as f64;
        let mut sum = 0.0;
        let mut zeros = 0u32;
        for reg in &self.regs {
            let r = reg
                .iter()
                .filter(|(b, _)| in_window(end, len, *b))
                .map(|e| e.1)
                .max()
                .unwrap_or(0);
            if r == 0 {
                zeros += 1;
            }
            sum += 1.0 / (1u64 << r) as f64;
        }
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m / sum;
        let est = if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        est.round() as u64
    }

    pub fn prune(&mut self, end: u32, horizon: u32) {
        for reg in &mut self.regs {
            reg.retain(|(b, _)| age(end, *b) <= horizon);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.regs.iter().all(|r| r.is_empty())
    }

    pub fn heap_bytes(&self) -> usize {
        self.regs.len() * std::mem::size_of::<Vec<(u32, u8)>>()
            + self.regs.iter().map(|r| r.capacity() * 8).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_counts_follow_the_window() {
        let mut s = DistinctSet::default();
        for b in 0..10u32 {
            s.insert(b as u128, b, 1000, 100); // element b seen in batch b
            s.insert(100, b, 1000, 100); // element 100 seen every batch
        }
        // window [5, 10): elements 5..=9 plus 100
        assert_eq!(s.count(10, 5), 6);
        // window [0, 10): all 10 plus 100
        assert_eq!(s.count(10, 10), 11);
        let top = s.top(10, 3, 2);
        assert_eq!(
            top[0],
            (
                100,
                Seen {
                    last: 9,
                    first: 0,
                    count: 10
                }
            )
        );
        assert_eq!(top[1].0, 7);
        s.prune(10, 3);
        assert_eq!(s.count(10, 10), 4); // 7, 8, 9, 100
    }

    #[test]
    fn tiers_keep_what_each_element_saw() {
        assert_eq!(std::mem::size_of::<DistinctSet>(), 32);
        let mut s = DistinctSet::default();
        assert!(s.is_empty());
        s.insert(7, 1, 1000, 100);
        s.insert(7, 2, 1000, 100);
        assert!(matches!(s, DistinctSet::One(..)));
        assert_eq!(s.heap_bytes(), 0);
        let seven = Seen {
            last: 2,
            first: 1,
            count: 2,
        };
        assert_eq!(s.top(3, 3, 4), vec![(7, seven)]);
        assert_eq!(s.count(3, 1), 1);
        assert_eq!(s.count(2, 1), 0, "7 was last seen in batch 2");
        // A second element moves both to the small array, the first with its history.
        s.insert(u128::MAX - 1, 2, 1000, 100);
        assert!(matches!(s, DistinctSet::Small(_)));
        assert_eq!(s.top(3, 3, 4)[0], (7, seven));
        assert_eq!(s.count(3, 2), 2);
        // Pruning a lone element past the horizon empties the set.
        let mut one = DistinctSet::default();
        one.insert(9, 1, 1000, 100);
        one.prune(5, 3);
        assert!(one.is_empty());
    }

    #[test]
    fn wrapping_batches_work() {
        let mut s = DistinctSet::default();
        s.insert(1, u32::MAX, 100, 100);
        s.insert(2, 0, 100, 100);
        assert_eq!(s.count(1, 2), 2);
        assert_eq!(s.count(1, 1), 1);
    }

    #[test]
    fn sketch_is_close_and_slides() {
        let mut s = DistinctSet::default();
        // 20,000 elements in batch 0..10, 2,000 each batch.
        for b in 0..10u32 {
            for i in 0..2000u128 {
                s.insert(b as u128 * 10_000 + i, b, 4096, 100);
            }
        }
        assert!(s.is_sketch());
        assert!(s.top(10, 10, 5).is_empty());
        let all = s.count(10, 10) as f64;
        assert!((all - 20_000.0).abs() / 20_000.0 < 0.06, "estimate {all}");
        let last2 = s.count(10, 2) as f64;
        assert!((last2 - 4_000.0).abs() / 4_000.0 < 0.08, "estimate {last2}");
        assert!(s.heap_bytes() < 200_000);
    }
}
