//! Clock skew and clock jumps: records dated far from their stream's time.
//!
//! In: records in arrival order (`admit`), then `finish` at the end of the input.
//! Out: the records to process (`ready`), in arrival order; skewed ones are dropped and
//! counted; and, when the stream's clock jumped back, a [`JumpBack`] (`take_jump`) before
//! the records of the new time base.
//! Guarantees, with `max_skew_ns` (0 turns every check off):
//! - Ahead: a record more than `max_skew_ns` ahead of the newest record let through so far
//!   is held, not processed. The held records are let through, in order, once [`CONFIRM`]
//!   records in a row are all that far ahead: the stream really moved on (a quiet spell in
//!   a filtered capture, the next file a day later). They are dropped as skewed as soon as
//!   a record comes back within the stream's time, and at the end of the input. So one bad
//!   clock (a record dated a day ahead, a bogus pcap time) cannot move the watermark and
//!   make every later record late.
//! - Behind: a record more than `max_skew_ns + lateness` behind the newest is held too.
//!   When [`CONFIRM`] records in a row are that far behind, the clock jumped back (merged
//!   files, a reset NIC clock, a stepped system clock): a [`JumpBack`] is reported and the
//!   held records are let through as the first of a new time base. The caller closes the
//!   old segment's windows and starts the new one afresh, so an attack after the jump is
//!   not dropped as late. A stray old record (fewer than [`CONFIRM`] in a row) is let
//!   through when the stream comes back, to be counted late by the watermark, and counted
//!   late here at the end of the input.
//!
//! At most `CONFIRM` records are held.

use crate::record::Record;

/// Records in a row, all far ahead or all far behind, that show the stream's time really
/// jumped.
pub const CONFIRM: usize = 4;

/// `--max-clock-skew`'s default: 5 minutes.
pub const DEFAULT_MAX_SKEW_NS: u64 = 300_000_000_000;

/// The stream's clock went back: from `from_ns` (the newest time before) to `to_ns` (the
/// first record of the new time base).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JumpBack {
    pub from_ns: u64,
    pub to_ns: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    Ahead,
    Behind,
}

#[derive(Debug)]
pub struct SkewGuard {
    /// 0: no check.
    max_skew_ns: u64,
    /// How far behind the newest record a record may be before it counts as a jump back.
    behind_ns: u64,
    newest: Option<u64>,
    held: Vec<Record>,
    held_kind: Held,
    ready: Vec<Record>,
    jump: Option<JumpBack>,
    skewed: u64,
    /// Packets of stray old records still held at the end of the input (late).
    late_at_end: u64,
}

impl SkewGuard {
    /// `lateness_ns`: how late a record may be and still be processed (`--lateness`); a
    /// jump back must be larger than that plus the skew.
    pub fn new(max_skew_ns: u64, lateness_ns: u64) -> SkewGuard {
        SkewGuard {
            max_skew_ns,
            behind_ns: max_skew_ns.saturating_add(lateness_ns),
            newest: None,
            held: Vec::with_capacity(CONFIRM),
            held_kind: Held::Ahead,
            ready: Vec::with_capacity(CONFIRM + 1),
            jump: None,
            skewed: 0,
            late_at_end: 0,
        }
    }

    /// Records dropped as skewed so far.
    pub fn skewed(&self) -> u64 {
        self.skewed
    }

    /// Packets of old records held at the end of the input (after `finish`): late.
    pub fn late_at_end(&self) -> u64 {
        self.late_at_end
    }

    /// Take `r`; then [`Self::take_jump`] and [`Self::ready`] say what to do.
    #[inline]
    pub fn admit(&mut self, r: Record) {
        let Some(n) = self.newest.filter(|_| self.max_skew_ns > 0) else {
            if self.max_skew_ns > 0 {
                self.newest = Some(r.ts_ns);
            }
            self.ready.push(r);
            return;
        };
        let kind = if r.ts_ns > n.saturating_add(self.max_skew_ns) {
            Held::Ahead
        } else if r.ts_ns.saturating_add(self.behind_ns) < n {
            Held::Behind
        } else {
            self.release_held();
            self.newest = Some(n.max(r.ts_ns));
            self.ready.push(r);
            return;
        };
        if kind != self.held_kind {
            self.release_held();
            self.held_kind = kind;
        }
        self.held.push(r);
        if self.held.len() < CONFIRM {
            return;
        }
        let newest = self.held.iter().map(|h| h.ts_ns).max();
        if kind == Held::Behind {
            self.jump = Some(JumpBack {
                from_ns: n,
                to_ns: self.held[0].ts_ns,
            });
        }
        self.newest = newest;
        self.ready.append(&mut self.held);
    }

    /// The jump back found by the last `admit`, if any: the segment before it must be
    /// closed before the records in [`Self::ready`] are processed.
    pub fn take_jump(&mut self) -> Option<JumpBack> {
        self.jump.take()
    }

    /// The records to process now, in order (none while the last one is held, several when
    /// held ones are let through).
    pub fn ready(&mut self) -> std::vec::Drain<'_, Record> {
        self.ready.drain(..)
    }

    /// The input ended: records still held were never confirmed: those ahead are dropped
    /// as skewed, those behind counted late ([`Self::late_at_end`]).
    pub fn finish(&mut self) {
        if self.held_kind == Held::Behind {
            self.late_at_end += self.held.drain(..).map(|r| r.packets() as u64).sum::<u64>();
        } else {
            self.drop_ahead();
        }
    }

    /// Give up on the held records: a stray record far ahead is dropped (skewed); one far
    /// behind goes on, to be counted late by the watermark.
    fn release_held(&mut self) {
        match self.held_kind {
            Held::Ahead => self.drop_ahead(),
            Held::Behind => self.ready.append(&mut self.held),
        }
    }

    fn drop_ahead(&mut self) {
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

    const S: u64 = 1_000_000_000;

    fn at(s: u64) -> Record {
        Record {
            ts_ns: s * S,
            ..Default::default()
        }
    }

    /// The seconds let through, with a `J` marker (as `u64::MAX`) where a jump back was
    /// reported before them.
    fn feed(g: &mut SkewGuard, secs: &[u64]) -> Vec<u64> {
        let mut out = Vec::new();
        for &s in secs {
            g.admit(at(s));
            if g.take_jump().is_some() {
                out.push(u64::MAX);
            }
            out.extend(g.ready().map(|r| r.ts_ns / S));
        }
        g.finish();
        out
    }

    const J: u64 = u64::MAX;

    #[test]
    fn one_record_a_day_ahead_is_dropped_and_counted() {
        let mut g = SkewGuard::new(300 * S, 0);
        let out = feed(&mut g, &[10, 11, 86_400 + 11, 12, 13]);
        assert_eq!(out, vec![10, 11, 12, 13]);
        assert_eq!(g.skewed(), 1);
        // a few bad ones in a row, fewer than CONFIRM, and one held at the end
        let mut g = SkewGuard::new(300 * S, 0);
        let out = feed(&mut g, &[10, 99_999, 99_998, 99_997, 11, 12, 99_999]);
        assert_eq!(out, vec![10, 11, 12]);
        assert_eq!(g.skewed(), 4);
    }

    #[test]
    fn a_real_jump_is_let_through_in_order() {
        let mut g = SkewGuard::new(300 * S, 0);
        let out = feed(&mut g, &[10, 11, 5_000, 5_001, 5_001, 5_002, 5_003, 12]);
        // 12 is now far behind 5,003: held, and late at the end.
        assert_eq!(out, vec![10, 11, 5_000, 5_001, 5_001, 5_002, 5_003]);
        assert_eq!((g.skewed(), g.late_at_end()), (0, 1));
        // within the skew, nothing is held; 0 turns the check off
        let mut g = SkewGuard::new(300 * S, 0);
        assert_eq!(feed(&mut g, &[10, 300, 20]), vec![10, 300, 20]);
        let mut g = SkewGuard::new(0, 0);
        assert_eq!(feed(&mut g, &[10, 99_999, 20, 5]), vec![10, 99_999, 20, 5]);
        assert!(g.take_jump().is_none());
    }

    #[test]
    fn a_jump_back_starts_a_new_segment() {
        let mut g = SkewGuard::new(300 * S, 0);
        let mut secs = vec![7_200, 7_201];
        secs.extend([10, 10, 11, 12, 13]);
        let out = feed(&mut g, &secs);
        assert_eq!(out, vec![7_200, 7_201, J, 10, 10, 11, 12, 13]);
        assert_eq!((g.skewed(), g.late_at_end()), (0, 0));
    }

    #[test]
    fn stray_old_records_go_on_to_be_late() {
        let mut g = SkewGuard::new(300 * S, 0);
        // Three old records (fewer than CONFIRM) come back within the stream: no jump.
        let out = feed(&mut g, &[7_200, 10, 11, 12, 7_201, 7_202]);
        assert_eq!(out, vec![7_200, 10, 11, 12, 7_201, 7_202]);
        // A jump back needs more than skew plus lateness.
        let mut g = SkewGuard::new(300 * S, 600 * S);
        let out = feed(&mut g, &[7_200, 6_400, 6_400, 6_401, 6_402, 7_201]);
        assert_eq!(out, vec![7_200, 6_400, 6_400, 6_401, 6_402, 7_201]);
        // Held old records, then records far ahead: the old ones go on, the new ones are
        // held (and dropped as skewed at the end).
        let mut g = SkewGuard::new(300 * S, 0);
        let out = feed(&mut g, &[7_200, 10, 99_999]);
        assert_eq!(out, vec![7_200, 10]);
        assert_eq!((g.skewed(), g.late_at_end()), (1, 0));
    }
}
