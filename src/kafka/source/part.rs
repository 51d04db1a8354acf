//! One assigned partition's bookkeeping in the Kafka source: its buffered records, the
//! messages they came from, its frontier and end state, and the offsets it may commit.
//!
//! In: records of the partition's messages, in offset order. Out: what the merge and the
//! commits read. Guarantees: a message leaves `msgs` only when all its records are handed
//! out, so `next_offset` never passes a record still buffered.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::record::Record;

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

    /// Whether the partition holds nothing back: done, or at its end for `idle`.
    pub fn idle(&self, now: &mut Option<Instant>, idle: Duration) -> bool {
        self.buf.is_empty()
            && (self.done
                || self.eof_at.is_some_and(|t| {
                    now.get_or_insert_with(Instant::now).duration_since(t) >= idle
                }))
    }
}
