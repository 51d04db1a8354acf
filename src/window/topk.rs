//! Heavy hitters for alert evidence: the few most frequent elements of a stream.
//!
//! In: elements (a port, an address) of one key's packets, with their batch. Out: up to K
//! elements with packet counts and the batch since which each was counted.
//! Guarantees: fixed memory (K entries, no allocation); the space-saving algorithm (Metwally
//! et al.): exact while at most K distinct elements were seen; past that every element with
//! more than 1/K of the packets is listed, and [`TopK::top`] reports for each a count that is
//! a guaranteed lower bound (its sightings since it entered the list; `approx` is then set).
//! An insert is a scan of K entries: cheap enough for every packet, unlike a hash set kept
//! only to explain alerts.

pub const K: usize = 4;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entry<T> {
    pub elem: T,
    /// Space-saving count (may include `err` inherited sightings of other elements).
    pub count: u32,
    /// Sightings inherited from the replaced element.
    pub err: u32,
    /// Batch (truncated) from which `count` runs.
    pub since: u32,
}

/// Generic over the element, so a port list (`TopK<u16>`) fits in one cache line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopK<T> {
    entries: [Entry<T>; K],
    len: u8,
    /// A replacement happened: counts may include inherited sightings.
    pub approx: bool,
}

impl<T: Copy + Default + Ord> TopK<T> {
    #[inline]
    pub fn insert(&mut self, elem: T, batch: u32, weight: u32) {
        let n = self.len as usize;
        for e in &mut self.entries[..n] {
            if e.elem == elem {
                e.count = e.count.saturating_add(weight);
                return;
            }
        }
        if n < K {
            self.entries[n] = Entry {
                elem,
                count: weight,
                err: 0,
                since: batch,
            };
            self.len += 1;
            return;
        }
        let (i, min) = self
            .entries
            .iter()
            .enumerate()
            .min_by_key(|(_, e)| e.count)
            .map(|(i, e)| (i, e.count))
            .unwrap_or((0, 0));
        self.entries[i] = Entry {
            elem,
            count: min.saturating_add(weight),
            err: min,
            since: batch,
        };
        self.approx = true;
    }

    /// Entries, most frequent first (ties: smaller element first), each `count` replaced by
    /// its guaranteed lower bound (`count - err`).
    pub fn top(&self) -> Vec<Entry<T>> {
        let mut v = self.entries[..self.len as usize].to_vec();
        v.sort_unstable_by(|a, b| b.count.cmp(&a.count).then(a.elem.cmp(&b.elem)));
        for e in &mut v {
            e.count -= e.err;
            e.err = 0;
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_when_few_and_finds_the_heavy_hitter() {
        let mut t = TopK::<u16>::default();
        for (i, e) in [22u16, 22, 80, 22, 443].iter().enumerate() {
            t.insert(*e, i as u32, 1);
        }
        let top = t.top();
        assert_eq!((top[0].elem, top[0].count, top[0].since), (22, 3, 0));
        assert!(!t.approx);
        // a flood of distinct elements with one heavy hitter
        let mut t = TopK::<u128>::default();
        for i in 0..10_000u128 {
            t.insert(i + 1000, 0, 1);
            if i % 3 == 0 {
                t.insert(7, 0, 1);
            }
        }
        let top = t.top();
        assert_eq!(top[0].elem, 7);
        // a lower bound, and a close one for a heavy hitter
        assert!(top[0].count <= 3334 && top[0].count > 3000, "{top:?}");
        assert!(t.approx);
    }
}
