//! The Kafka source's merge: which partition's record goes next, and the watermark.
//!
//! In: the partitions' buffered records. Out: the partition whose next record is the oldest
//! (or none while a partition that holds the merge has nothing buffered), the source's
//! watermark, and that record. Guarantees: see the parent module (event time, one watermark
//! per partition, idle partitions hold nothing back).

use std::time::Instant;

use super::{KafkaSource, SHRINK_ABOVE, WAIT_WARN_EVERY};
use crate::record::Record;

impl KafkaSource {
    /// Recompute the watermark from the partitions' frontiers (see the module docs), and
    /// choose the partition whose next record is the oldest: `None` when a partition that
    /// holds the merge has nothing buffered (more must be read first).
    pub(super) fn pick(&mut self) -> Option<i32> {
        // The common case first: go on with the partition of the last record while its next
        // record is not newer than any other partition's (nothing else changed meanwhile:
        // records only arrive when no record can be picked).
        if let Some((p, limit)) = self.run {
            if let Some(h) = self.parts.get(&p).and_then(|x| x.buf.front()) {
                let h = h.0.ts_ns;
                if h <= limit {
                    // Every active partition has a record buffered, none older than `h`.
                    self.watermark = Some(self.watermark.map_or(h, |w| w.max(h)));
                    return Some(p);
                }
            }
            self.run = None;
        }
        let mut now = None; // read only when a partition is at its end
        let idle_after = self.cfg.idle_timeout;
        let mut second = u64::MAX;
        let mut oldest_active: Option<u64> = None;
        let mut any_active = false;
        let mut unknown = false;
        let mut newest: Option<u64> = None;
        let mut best: Option<(u64, i32)> = None;
        let mut blocked = false;
        for (p, part) in &self.parts {
            let head = part.buf.front().map(|r| r.0.ts_ns);
            if let Some(h) = head {
                if best.is_none_or(|b| h < b.0) {
                    if let Some(b) = best {
                        second = second.min(b.0);
                    }
                    best = Some((h, *p));
                } else {
                    second = second.min(h);
                }
            }
            let frontier = head.or(part.frontier);
            newest = newest.max(frontier);
            if part.idle(&mut now, idle_after) {
                continue;
            }
            any_active = true;
            if head.is_none() && !part.done {
                blocked = true;
            }
            match frontier {
                None => unknown = true,
                Some(f) => oldest_active = Some(oldest_active.map_or(f, |o| o.min(f))),
            }
        }
        let cand = if unknown {
            None
        } else if any_active {
            oldest_active
        } else {
            newest
        };
        if let Some(c) = cand {
            self.watermark = Some(self.watermark.map_or(c, |w| w.max(c)));
        }
        if blocked {
            // Wait for it, however far the others have run: they are paused at
            // `partition_buffer` records, so waiting costs no more memory.
            self.warn_waiting();
            return None;
        }
        self.waiting_since = None;
        self.waited_warned = None;
        if !unknown {
            self.run = best.map(|b| (b.1, second));
        }
        best.map(|b| b.1)
    }

    /// Hand out the next record of partition `p` (which has one).
    pub(super) fn take_record(&mut self, p: i32) -> (Record, u32) {
        let batch_ns = self.cfg.batch_ns;
        let part = self.parts.get_mut(&p).expect("picked partition");
        let rec = part.buf.pop_front().expect("picked partition has a record");
        if part.buf.is_empty() && part.buf.capacity() > SHRINK_ABOVE {
            // A partition that ran ahead of the others may have buffered many records: give
            // that memory back once they are out, not keep it per partition.
            part.buf.shrink_to(SHRINK_ABOVE / 16);
        }
        if part.paused && part.buf.len() <= self.cfg.partition_buffer / 2 {
            self.set_paused(p, false);
        }
        let part = self.parts.get_mut(&p).expect("picked partition");
        let front = part
            .msgs
            .front_mut()
            .expect("a buffered record has its message");
        let off = front.0;
        front.1 -= 1;
        part.settle();
        let b = rec.0.ts_ns / batch_ns;
        if part.marks.back().is_none_or(|m| b > m.0) {
            part.marks.push_back((b, off));
        }
        part.frontier = part.frontier.max(Some(rec.0.ts_ns));
        rec
    }

    /// Say, every `WAIT_WARN_EVERY`, which partitions the merge has been waiting for.
    fn warn_waiting(&mut self) {
        let now = Instant::now();
        let since = *self.waiting_since.get_or_insert(now);
        let warned = self.waited_warned.unwrap_or(since);
        if now.duration_since(warned) < WAIT_WARN_EVERY {
            return;
        }
        self.waited_warned = Some(now);
        let waiting: Vec<i32> = self
            .parts
            .iter()
            .filter(|(_, x)| x.buf.is_empty() && !x.done && x.eof_at.is_none())
            .map(|(p, _)| *p)
            .collect();
        let paused: Vec<i32> = self
            .parts
            .iter()
            .filter(|(_, x)| x.paused)
            .map(|(p, _)| *p)
            .collect();
        tracing::warn!(
            "kafka {}: the watermark has waited {:.0} s for partition(s) {waiting:?}, which \
             delivered nothing; partitions {paused:?} are paused until it does",
            self.cfg.topic,
            now.duration_since(since).as_secs_f64()
        );
    }
}
