//! One assigned partition's bookkeeping in the Kafka source: its buffered records, the
//! messages they came from, its frontier and end state, and the offsets it may commit.
//!
//! In: records of the partition's messages, in offset order. Out: what the merge and the
//! commits read. Guarantees: a message leaves `msgs` only when all its records are handed
//! out (or dropped as skewed), so `next_offset` never passes a record still buffered or
//! held. Clock skew (`admit`, with `max_skew_ns` > 0): a record dated more than
//! `max_skew_ns` after the newest record the partition let through is held, not buffered;
//! once [`CONFIRM`] records in a row (as for a capture) are that far ahead the partition really moved on
//! and they are buffered in order; a record back within the partition's time drops the held
//! ones as skewed. So one record with a bad clock cannot move the partition's frontier, and
//! with it the watermark, a day ahead. Held records are always the partition's newest (a
//! record that is not ahead first drops them), so buffer order stays offset order.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::record::Record;
use crate::window::skew::CONFIRM;

/// The bookkeeping of one assigned partition.
#[derive(Debug)]
pub(super) struct Part {
    /// Newest capture time handed out.
    pub frontier: Option<u64>,
    /// Records taken from messages and not handed out yet, in the partition's order.
    pub buf: VecDeque<(Record, u32)>,
    /// The messages those records came from: (offset, records not handed out yet); a
    /// message without records waits here behind the ones before it.
    pub msgs: VecDeque<(i64, usize)>,
    /// Reached the end of the partition and nothing came since.
    pub eof_at: Option<Instant>,
    /// `stop_at_end`: the stop offset is reached.
    pub done: bool,
    /// Fetching is paused: the partition ran ahead of the merge.
    pub paused: bool,
    /// Offset after the last message fully handed out; -1 before the first.
    pub next_offset: i64,
    /// (batch, offset of the first message with a record of that batch), batches rising.
    pub marks: VecDeque<(u64, i64)>,
    pub committed: i64,
    /// Newest capture time let through (buffered), for the skew check.
    pub newest: Option<u64>,
    /// Records far ahead of `newest`, with their message's offset, not buffered yet.
    pub held: Vec<((Record, u32), i64)>,
}

/// A partition nothing was read from yet.
impl Default for Part {
    fn default() -> Part {
        Part {
            frontier: None,
            buf: VecDeque::new(),
            msgs: VecDeque::new(),
            eof_at: None,
            done: false,
            paused: false,
            next_offset: -1,
            marks: VecDeque::new(),
            committed: -1,
            newest: None,
            held: Vec::new(),
        }
    }
}

impl Part {
    /// Messages all of whose records are handed out are done.
    pub fn settle(&mut self) {
        while let Some(&(off, 0)) = self.msgs.front() {
            self.msgs.pop_front();
            self.next_offset = self.next_offset.max(off + 1);
        }
    }

    /// Buffer one record of message `off` (already counted in `msgs`), or hold it while it is
    /// far ahead (see the module docs). Returns the records dropped as skewed.
    pub fn admit(&mut self, rec: (Record, u32), off: i64, max_skew_ns: u64) -> u64 {
        let ts = rec.0.ts_ns;
        let ahead = max_skew_ns > 0
            && self
                .newest
                .is_some_and(|n| ts > n.saturating_add(max_skew_ns));
        if ahead {
            self.held.push((rec, off));
            if self.held.len() < CONFIRM {
                return 0;
            }
            // The partition moved on: its held records are its newest, in order.
            for (r, _) in std::mem::take(&mut self.held) {
                self.push(r);
            }
            return 0;
        }
        let dropped = self.drop_held();
        self.push(rec);
        dropped
    }

    fn push(&mut self, rec: (Record, u32)) {
        self.newest = self.newest.max(Some(rec.0.ts_ns));
        self.buf.push_back(rec);
    }

    /// Drop the held records as skewed (a record came back within the partition's time, or
    /// the partition ended): their messages count them as handed out. Returns how many.
    pub fn drop_held(&mut self) -> u64 {
        let n = self.held.len() as u64;
        for (_, off) in std::mem::take(&mut self.held) {
            if let Some(m) = self.msgs.iter_mut().rev().find(|m| m.0 == off) {
                m.1 -= 1;
            }
        }
        self.settle();
        n
    }

    /// Whether the partition holds nothing back: done, or at its end for `idle` (records held
    /// for skew do not count: they wait for the partition's next records).
    pub fn idle(&self, now: &mut Option<Instant>, idle: Duration) -> bool {
        self.buf.is_empty()
            && (self.done
                || self.eof_at.is_some_and(|t| {
                    now.get_or_insert_with(Instant::now).duration_since(t) >= idle
                }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;
    const SKEW: u64 = 300 * S;

    fn rec(ts_ns: u64) -> (Record, u32) {
        (
            Record {
                ts_ns,
                ..Default::default()
            },
            60,
        )
    }

    /// Message `off` with records at `times`, admitted; returns the records dropped.
    fn message(part: &mut Part, off: i64, times: &[u64]) -> u64 {
        part.msgs.push_back((off, times.len()));
        let dropped = times.iter().map(|&t| part.admit(rec(t), off, SKEW)).sum();
        part.settle();
        dropped
    }

    fn buffered(part: &Part) -> Vec<u64> {
        part.buf.iter().map(|r| r.0.ts_ns).collect()
    }

    /// Hand out every buffered record, as the merge does, message by message.
    fn drain(part: &mut Part) {
        while part.buf.pop_front().is_some() {
            part.msgs.front_mut().expect("its message").1 -= 1;
            part.settle();
        }
    }

    #[test]
    fn one_record_a_day_ahead_is_dropped_and_its_message_still_settles() {
        let mut part = Part::default();
        assert_eq!(message(&mut part, 0, &[S, 2 * S]), 0);
        // A day ahead, then back in time: the stray is dropped when the next one comes.
        assert_eq!(message(&mut part, 1, &[3 * S, 86_400 * S]), 0);
        assert_eq!(part.held.len(), 1);
        assert_eq!(message(&mut part, 2, &[4 * S]), 1);
        assert!(part.held.is_empty());
        assert_eq!(buffered(&part), vec![S, 2 * S, 3 * S, 4 * S]);
        assert_eq!(part.newest, Some(4 * S));
        drain(&mut part);
        assert!(part.msgs.is_empty(), "{:?}", part.msgs);
        assert_eq!(part.next_offset, 3);
    }

    #[test]
    fn a_partition_that_moves_on_keeps_every_record() {
        let mut part = Part::default();
        message(&mut part, 0, &[S]);
        // The next file of the stream, a day later: CONFIRM records in a row follow.
        let later: Vec<u64> = (0..CONFIRM as u64).map(|i| 86_400 * S + i).collect();
        assert_eq!(message(&mut part, 1, &later[..2]), 0);
        assert_eq!(buffered(&part), vec![S], "held while unconfirmed");
        assert_eq!(message(&mut part, 2, &later[2..]), 0);
        let mut want = vec![S];
        want.extend(&later);
        assert_eq!(buffered(&part), want);
        assert_eq!(message(&mut part, 3, &[86_401 * S]), 0);
        drain(&mut part);
        assert_eq!(part.next_offset, 4);
    }

    #[test]
    fn records_held_at_the_end_are_dropped_and_no_check_without_a_bound() {
        let mut part = Part::default();
        message(&mut part, 0, &[S, 86_400 * S]);
        assert_eq!(part.drop_held(), 1);
        drain(&mut part);
        assert_eq!(part.next_offset, 1);
        let mut off = Part::default();
        off.msgs.push_back((0, 2));
        assert_eq!(
            off.admit(rec(S), 0, 0) + off.admit(rec(86_400 * S), 0, 0),
            0
        );
        assert_eq!(buffered(&off), vec![S, 86_400 * S]);
    }
}
