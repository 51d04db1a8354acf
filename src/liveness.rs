//! Liveness: which addresses were seen sending TCP lately, as the reader sees the records.
//!
//! In: `observe(record)` for every record the reader routes, in reading order. Out:
//! `is_dark(addr)` (nothing from `addr` in the last one or two generations) and, from
//! `observe`, whether this was the source's first segment seen (so its answer to a probe
//! reaches the prober's conversation stage).
//! Guarantees: answers depend only on the records and their order, never on shards, so
//! routing by them keeps alerts identical for any `--shards`. (Several Kafka consumers in
//! a group each judge by the records they read: a member sees what its addresses sent and
//! received, so an address that sends only to others' addresses looks dark to it; a probe
//! of such an address then fails unless answered.) Memory is fixed: two bitmaps
//! of `BITS` bits, interleaved (a Bloom filter with one hash), whatever an attacker sends; a collision
//! only makes a dark address look alive (a probe to it is then not tracked: a miss, never
//! a false failure). Generations turn every `GENERATION_NS` of capture time, so an address
//! silent for two generations is dark again.

use crate::record::{proto, Addr, Record};

/// Bits per generation (512 KiB): 40,000 live addresses set 1 % of them, a million 21 %.
const BITS: usize = 1 << 22;
const BITS_LOG2: u32 = 22;
/// Capture time a generation covers.
pub const GENERATION_NS: u64 = 600_000_000_000;

pub struct Liveness {
    /// Word `w` of the current and of the previous generation side by side, so one cache
    /// line answers both.
    words: Vec<[u64; 2]>,
    /// The generation `cur` covers (capture time / `GENERATION_NS`).
    gen: u64,
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness {
            words: vec![[0; 2]; BITS / 64],
            gen: 0,
        }
    }
}

#[inline]
fn bit(a: &Addr) -> (usize, u64) {
    let [lo, hi] = a.words();
    let h = (lo ^ hi.rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let i = (h >> (64 - BITS_LOG2)) as usize;
    (i / 64, 1u64 << (i % 64))
}

impl Liveness {
    /// Note `r`'s source as alive if `r` is TCP; true when it was dark until now.
    #[inline]
    pub fn observe(&mut self, r: &Record) -> bool {
        if r.proto != proto::TCP {
            return false;
        }
        let g = r.ts_ns / GENERATION_NS;
        if g > self.gen {
            self.turn(g);
        }
        let (w, m) = bit(&r.src);
        let [cur, prev] = &mut self.words[w];
        if *cur & m != 0 {
            return false;
        }
        let dark = *prev & m == 0;
        *cur |= m;
        dark
    }

    /// Whether nothing was seen from `a` (TCP) in this generation or the one before.
    #[inline]
    pub fn is_dark(&self, a: &Addr) -> bool {
        let (w, m) = bit(a);
        let [cur, prev] = self.words[w];
        (cur | prev) & m == 0
    }

    fn turn(&mut self, g: u64) {
        let keep = g == self.gen + 1;
        for w in self.words.iter_mut() {
            *w = [0, if keep { w[0] } else { 0 }];
        }
        self.gen = g;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(ts: u64, src: u8) -> Record {
        Record {
            ts_ns: ts,
            src: Addr::v4([10, 0, 0, src]),
            proto: proto::TCP,
            ..Default::default()
        }
    }

    #[test]
    fn a_sender_is_alive_for_one_to_two_generations() {
        let mut l = Liveness::default();
        let a = Addr::v4([10, 0, 0, 1]);
        assert!(l.is_dark(&a));
        assert!(l.observe(&tcp(1, 1)), "first sight");
        assert!(!l.observe(&tcp(2, 1)));
        assert!(!l.is_dark(&a));
        // Still alive in the next generation, dark in the one after.
        l.observe(&tcp(GENERATION_NS + 1, 2));
        assert!(!l.is_dark(&a));
        l.observe(&tcp(2 * GENERATION_NS + 1, 2));
        assert!(l.is_dark(&a));
        // A jump over several generations forgets everything.
        l.observe(&tcp(2 * GENERATION_NS + 2, 1));
        l.observe(&tcp(9 * GENERATION_NS, 3));
        assert!(l.is_dark(&a));
    }

    #[test]
    fn only_tcp_makes_an_address_alive() {
        let mut l = Liveness::default();
        let r = Record {
            proto: proto::UDP,
            ..tcp(1, 1)
        };
        assert!(!l.observe(&r));
        assert!(l.is_dark(&r.src));
    }
}
