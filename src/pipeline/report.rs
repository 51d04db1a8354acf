//! Reports from the reader: the counters and summary the telemetry shows (dashboard,
//! `/metrics`), batch points, the progress bar, pacing at `--speed`.
//!
//! In: the reader's running summary, decode counters and source counters. Out: stores into
//! a [`Telemetry`]. Guarantees: the reader pays an atomic store per counter every 1,024
//! packets, and a copy of the summary at most every [`PUBLISH_EVERY`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::decode::DecodeStats;
use crate::source::SourceStats;
use crate::summary::Summary;
use crate::telemetry::{BatchPoint, Telemetry};

/// How often the summary is copied for scrapes.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(250);

/// Publishes the reader's summary, with the source's counters, at most every
/// [`PUBLISH_EVERY`].
pub(super) struct Publisher {
    last: Option<Instant>,
    /// Records the source dropped as skewed (a Kafka partition's clock check), as of the
    /// last copy: the running counters add them to the reader's own.
    source_skewed: u64,
}

impl Publisher {
    pub fn new() -> Self {
        Publisher {
            last: None,
            source_skewed: 0,
        }
    }

    /// Skewed records the source reported at the last copy.
    pub fn source_skewed(&self) -> u64 {
        self.source_skewed
    }

    /// Publish now if the last copy is older than [`PUBLISH_EVERY`].
    pub fn publish(
        &mut self,
        t: &Telemetry,
        summary: &Summary,
        dstats: &DecodeStats,
        source: impl FnOnce() -> (SourceStats, Option<crate::summary::FlowExport>),
        queue_drops: u64,
    ) {
        if self.last.is_some_and(|l| l.elapsed() < PUBLISH_EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        // Asked only when due: a live source's counters cost a system call.
        let (source, flows) = source();
        let mut s = summary.clone();
        s.flow_export = flows;
        s.decode = *dstats;
        s.kernel_drops = s.kernel_drops.max(source.kernel_drops);
        s.interface_drops = s.interface_drops.max(source.interface_drops);
        s.datagram_drops = s.datagram_drops.max(source.datagram_drops);
        s.data_without_template = source.data_without_template;
        s.malformed_input = s.malformed_input.max(source.malformed);
        s.skewed += source.skewed;
        self.source_skewed = source.skewed;
        s.queue_drops = s.queue_drops.max(queue_drops);
        t.counters
            .kernel_drops
            .store(s.kernel_drops, Ordering::Relaxed);
        t.counters.late.store(out_of_time(&s), Ordering::Relaxed);
        t.publish_summary(s);
    }
}

/// Records out of time: late ones, late copies (Kafka records for a destination's side),
/// and skewed ones (dated far ahead), the reader's and the source's.
fn out_of_time(s: &Summary) -> u64 {
    s.late_packets + s.late_copies + s.skewed
}

/// Copy the reader's running counters to the dashboard's view; `source_skewed`: records
/// the source dropped as skewed that `summary` does not count yet.
pub(super) fn store_counters(
    t: &Telemetry,
    summary: &Summary,
    dstats: &DecodeStats,
    (queue_drops, source_skewed): (u64, u64),
    capture_ns: u64,
) {
    let c = &t.counters;
    c.packets.store(summary.packets, Ordering::Relaxed);
    c.bytes.store(summary.bytes, Ordering::Relaxed);
    c.decode_errors.store(dstats.errors(), Ordering::Relaxed);
    c.late
        .store(out_of_time(summary) + source_skewed, Ordering::Relaxed);
    c.queue_drops.store(queue_drops, Ordering::Relaxed);
    c.capture_ns.fetch_max(capture_ns, Ordering::Relaxed);
}

/// Push the batch point of the batches the watermark just closed.
pub(super) fn close_point(
    tel: &Option<Arc<Telemetry>>,
    cur: &mut BatchPoint,
    closed: u64,
    batch_ns: u64,
    keep_ns: u64,
) {
    if let Some(t) = tel {
        cur.end_ns = closed * batch_ns;
        t.push_batch(*cur);
        t.counters.watermark_batch.store(closed, Ordering::Relaxed);
        t.counters
            .capture_ns
            .fetch_max(closed * batch_ns, Ordering::Relaxed);
        t.prune_sources(keep_ns);
        *cur = BatchPoint::default();
    }
}

/// Sleep until capture time `ts` is due at `speed`, in slices so a stop request is seen.
pub(super) fn pace(
    started: Instant,
    first_ts: u64,
    ts: u64,
    speed: f64,
    stop: Option<&AtomicBool>,
) {
    let target =
        Duration::from_secs_f64(ts.saturating_sub(first_ts) as f64 / 1e9 / speed.max(1e-6));
    loop {
        let elapsed = started.elapsed();
        if target <= elapsed || stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            return;
        }
        std::thread::sleep((target - elapsed).min(Duration::from_millis(100)));
    }
}

pub(super) fn progress_bar(total: Option<u64>) -> indicatif::ProgressBar {
    let pb = match total {
        Some(t) => indicatif::ProgressBar::new(t),
        None => indicatif::ProgressBar::new_spinner(),
    };
    pb.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
    ) {
        pb.set_style(style);
    }
    pb
}

pub(super) fn update_progress(
    pb: &indicatif::ProgressBar,
    pos: u64,
    packets: u64,
    started: Instant,
) {
    pb.set_position(pos);
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    pb.set_message(format!(
        "{packets} packets, {:.2} Mpps",
        packets as f64 / secs / 1e6
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records a Kafka partition dropped as skewed show in the dashboard's running "late"
    /// count, not only in the summary at the end and `/metrics`.
    #[test]
    fn the_running_late_count_includes_the_source_skewed_records() {
        let t = Telemetry::new(1, Vec::new(), 1_000_000_000);
        let mut summary = Summary {
            late_packets: 2,
            ..Default::default()
        };
        let dstats = DecodeStats::default();
        let mut p = Publisher::new();
        let source = SourceStats {
            skewed: 3,
            ..Default::default()
        };
        p.publish(&t, &summary, &dstats, || (source, None), 0);
        assert_eq!(t.counters.late.load(Ordering::Relaxed), 5);
        // The reader's next store keeps them.
        summary.late_packets = 4;
        store_counters(&t, &summary, &dstats, (0, p.source_skewed()), 0);
        assert_eq!(t.counters.late.load(Ordering::Relaxed), 7);
    }
}
