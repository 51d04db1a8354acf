//! Clock skew: records dated far ahead of their stream are held back from the watermark.
//!
//! In: records in arrival order (`admit`), then `finish` at the end of the input.
//! Out: the records to process, in arrival order; skewed ones are dropped and counted.
//! Guarantees: a record more than `max_skew_ns` ahead of the newest record let through so
//! far is held, not processed. The held records are let through, in order, once
//! [`CONFIRM`] records in a row are all that far ahead: the stream really moved on (a
//! quiet spell in a filtered capture, the next file a day later). They are dropped as
//! skewed as soon as a record comes back within the stream's time, and at the end of the
//! input. So one bad clock (a record dated a day ahead, a bogus pcap time) cannot move the
//! watermark and make every later record late. At most `CONFIRM` records are held.

use crate::record::Record;

/// Records in a row, all far ahead, that show the stream's time really jumped.
pub const CONFIRM: usize = 4;

#[derive(Debug)]
pub struct SkewGuard {
    /// 0: no check.
    max_skew_ns: u64,
    newest: Option<u64>,
    held: Vec<Record>,
    ready: Vec<Record>,
    skewed: u64,
}

impl SkewGuard {
    pub fn new(max_skew_ns: u64) -> SkewGuard {
        SkewGuard {
            max_skew_ns,
            newest: None,
            held: Vec::with_capacity(CONFIRM),
            ready: Vec::with_capacity(CONFIRM + 1),
            skewed: 0,
        }
    }

    /// Records dropped as skewed so far.
    pub fn skewed(&self) -> u64 {
        self.skewed
    }

    /// Take `r`; the records to process now (none while `r` is held, several when held
    /// ones are let through).
    #[inline]
    pub fn admit(&mut self, r: Record) -> std::vec::Drain<'_, Record> {
        match self.newest {
            _ if self.max_skew_ns == 0 => self.ready.push(r),
            None => {
                self.newest = Some(r.ts_ns);
                self.ready.push(r);
            }
            Some(n) if r.ts_ns > n.saturating_add(self.max_skew_ns) => {
                self.held.push(r);
                if self.held.len() >= CONFIRM {
                    self.newest = self.held.iter().map(|h| h.ts_ns).max();
                    self.ready.append(&mut self.held);
                }
            }
            Some(n) => {
                self.drop_held();
                self.newest = Some(n.max(r.ts_ns));
                self.ready.push(r);
            }
        }
        self.ready.drain(..)
    }

    /// The input ended: records still held were never confirmed (dropped, counted).
    pub fn finish(&mut self) {
        self.drop_held();
    }

    fn drop_held(&mut self) {
        let Some(first) = self.held.first() else {
            return;
        };
        let before = self.skewed;
        self.skewed += self.held.len() as u64;
        if crate::summary::new_decade(before, self.skewed) {
            tracing::warn!(
                "{} records dropped so far as clock skew: dated more than --max-clock-skew \
                 ahead of the stream (the latest: {} ns ahead of {} ns; counted in the summary)",
                self.skewed,
                first.ts_ns.saturating_sub(self.newest.unwrap_or(0)),
                self.newest.unwrap_or(0)
            );
        }
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Record {
        Record {
            ts_ns: s * 1_000_000_000,
            ..Default::default()
        }
    }

    fn feed(g: &mut SkewGuard, secs: &[u64]) -> Vec<u64> {
        let mut out = Vec::new();
        for &s in secs {
            out.extend(g.admit(at(s)).map(|r| r.ts_ns / 1_000_000_000));
        }
        g.finish();
        out
    }

    #[test]
    fn one_record_a_day_ahead_is_dropped_and_counted() {
        let mut g = SkewGuard::new(300_000_000_000);
        let out = feed(&mut g, &[10, 11, 86_400 + 11, 12, 13]);
        assert_eq!(out, vec![10, 11, 12, 13]);
        assert_eq!(g.skewed(), 1);
        // a few bad ones in a row, fewer than CONFIRM, and one held at the end
        let mut g = SkewGuard::new(300_000_000_000);
        let out = feed(&mut g, &[10, 99_999, 99_998, 99_997, 11, 12, 99_999]);
        assert_eq!(out, vec![10, 11, 12]);
        assert_eq!(g.skewed(), 4);
    }

    #[test]
    fn a_real_jump_is_let_through_in_order() {
        let mut g = SkewGuard::new(300_000_000_000);
        let out = feed(&mut g, &[10, 11, 5_000, 5_001, 5_001, 5_002, 5_003, 12]);
        assert_eq!(out, vec![10, 11, 5_000, 5_001, 5_001, 5_002, 5_003, 12]);
        assert_eq!(g.skewed(), 0);
        // within the skew, nothing is held; 0 turns the check off
        let mut g = SkewGuard::new(300_000_000_000);
        assert_eq!(feed(&mut g, &[10, 300, 20]), vec![10, 300, 20]);
        let mut g = SkewGuard::new(0);
        assert_eq!(feed(&mut g, &[10, 99_999, 20]), vec![10, 99_999, 20]);
    }
}
