//! Watermarks: capture times in, "batches before k are complete" out.
//!
//! In: the capture time of every record, in arrival order (and, in live mode, readings of an
//! injected clock). Out: for each record, whether it is on time or late, and when the
//! watermark crosses a batch boundary, the new number of closed batches.
//! Guarantees: the watermark is `max capture time seen - lateness` and never goes back;
//! a record whose batch is already closed is late (counted and dropped by the caller);
//! a record that moves the watermark is never itself late.

#[derive(Debug, Clone)]
pub struct WatermarkTracker {
    batch_ns: u64,
    lateness_ns: u64,
    max_ts: Option<u64>,
    /// Batches `< closed` are closed.
    closed: Option<u64>,
}

/// What a record means for the watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// The record's batch, or `None` when it is late.
    pub batch: Option<u64>,
    /// The new closed-batch count when the watermark crossed a boundary (to be sent to the
    /// shards before this record).
    pub advanced_to: Option<u64>,
}

impl WatermarkTracker {
    pub fn new(batch_ns: u64, lateness_ns: u64) -> Self {
        assert!(batch_ns > 0, "batch interval must be positive");
        WatermarkTracker {
            batch_ns,
            lateness_ns,
            max_ts: None,
            closed: None,
        }
    }

    pub fn batch_ns(&self) -> u64 {
        self.batch_ns
    }

    #[inline]
    pub fn batch_of(&self, ts_ns: u64) -> u64 {
        ts_ns / self.batch_ns
    }

    pub fn closed(&self) -> Option<u64> {
        self.closed
    }

    #[inline]
    pub fn observe(&mut self, ts_ns: u64) -> Observation {
        let batch = self.batch_of(ts_ns);
        if let Some(c) = self.closed {
            if batch < c {
                return Observation {
                    batch: None,
                    advanced_to: None,
                };
            }
        }
        if self.max_ts.is_some_and(|m| ts_ns <= m) {
            return Observation {
                batch: Some(batch),
                advanced_to: None,
            };
        }
        self.max_ts = Some(ts_ns);
        let advanced_to = self.advance_time(ts_ns.saturating_sub(self.lateness_ns));
        Observation {
            batch: Some(batch),
            advanced_to,
        }
    }

    /// Move the watermark to `wm_ns` (capture-time clock) if that is later; returns the new
    /// closed-batch count when a boundary was crossed. Live mode calls this with
    /// `clock.now() - lateness` when traffic is sparse.
    pub fn advance_time(&mut self, wm_ns: u64) -> Option<u64> {
        let new_closed = wm_ns / self.batch_ns;
        match self.closed {
            Some(c) if new_closed <= c => None,
            _ => {
                self.closed = Some(new_closed);
                Some(new_closed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const S: u64 = 1_000_000_000;

    #[test]
    fn in_order_records_advance_batches() {
        let mut w = WatermarkTracker::new(S, 0);
        assert_eq!(
            w.observe(10 * S + 5),
            Observation {
                batch: Some(10),
                advanced_to: Some(10)
            }
        );
        assert_eq!(
            w.observe(10 * S + 9),
            Observation {
                batch: Some(10),
                advanced_to: None
            }
        );
        assert_eq!(
            w.observe(13 * S),
            Observation {
                batch: Some(13),
                advanced_to: Some(13)
            }
        );
        // batch 12 is closed now: late
        assert_eq!(
            w.observe(12 * S),
            Observation {
                batch: None,
                advanced_to: None
            }
        );
    }

    #[test]
    fn lateness_keeps_batches_open() {
        let mut w = WatermarkTracker::new(S, 2 * S);
        w.observe(10 * S);
        assert_eq!(w.closed(), Some(8));
        // 9.5 s is behind the max but within lateness
        assert_eq!(w.observe(9 * S + S / 2).batch, Some(9));
        assert_eq!(w.observe(7 * S).batch, None);
        assert_eq!(w.advance_time(20 * S), Some(20));
        assert_eq!(w.advance_time(19 * S), None);
    }
}
