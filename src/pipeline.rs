//! Pipeline: the only module with threads and channels.
//!
//! In: a [`FrameSource`], a compiled [`RuleSet`], an [`AlertSink`]. Out: alerts written to
//! the sink in a deterministic order, and a [`Summary`].
//!
//! Threads: the calling thread reads, decodes, tracks the watermark and partitions records
//! by source address into per-shard batches; N shard threads each own a [`KeyedWindows`];
//! one merge thread collects each shard's alerts for a watermark, sorts them (window end,
//! rule, key) and writes them. Control travels in-band: after the records before it, every
//! shard receives the same `Watermark(k)`, answers with exactly one alert batch, so the merge
//! stage can work in lock-step; that is what makes the output identical for any shard count.
//! Every channel is bounded: in replay the reader waits on a full queue (nothing is lost,
//! waits are counted); a live source will drop and count instead.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::alert::Alert;
use crate::clock::Clock;
use crate::conversation::{ConversationConfig, ConversationStats, Conversations};
use crate::decode::{decode, DecodeStats};
use crate::liveness::Liveness;
use crate::partition::shard_of;
use crate::record::{event, proto};
use crate::record::{Addr, Record};
use crate::rules::{Carry, RuleSet};
use crate::sink::{AlertSink, SinkError};
use crate::source::{Input, Next, PacketSource};
use crate::summary::{peak_rss_bytes, SourceSummary, Summary};
use crate::telemetry::{BatchPoint, Telemetry};
use crate::window::{KeyedConfig, KeyedStats, SkewGuard, Totals, WatermarkTracker};

pub mod datagrams;
mod report;
mod serve;
pub use serve::MetricsServer;
mod merge;
mod reload;
mod route;
mod shard;
use merge::merge_loop;
use reload::reload_rules;
pub use reload::RuleReload;
use report::{close_point, pace, progress_bar, store_counters, update_progress, Publisher};
use route::{Hints, Reader, Route, STAGES};
use shard::shard_loop;

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub shards: usize,
    pub batch_ns: u64,
    pub lateness_ns: u64,
    /// Keys held at most, across all shards.
    pub max_keys: usize,
    /// Bytes of keyed state (windows, conversation tables) held at most, across all shards.
    pub max_state_bytes: usize,
    pub distinct_bound: usize,
    /// Pace the replay at this multiple of the recorded speed; `None` = as fast as possible.
    pub speed: Option<f64>,
    pub progress: bool,
    /// Records per message to a shard.
    pub batch_records: usize,
    /// Messages a shard queue holds.
    pub queue_depth: usize,
    /// Live sources cannot wait: drop (and count) record batches when a shard queue is full
    /// instead of waiting. Control messages are never dropped.
    pub drop_when_full: bool,
    /// Live mode: the injected clock that closes windows when traffic is sparse. The
    /// watermark then also follows `clock - lateness - clock_grace`.
    pub clock: Option<Arc<dyn Clock>>,
    /// How far behind the clock a captured packet may still be in flight (kernel buffers).
    pub clock_grace_ns: u64,
    /// Set to stop reading (SIGINT / SIGTERM): open windows are flushed, alerts written.
    pub stop: Option<Arc<AtomicBool>>,
    /// Shared counters and snapshots for the dashboard.
    pub telemetry: Option<Arc<Telemetry>>,
    /// Log drop counters this often (live mode).
    pub report_every: Option<Duration>,
    /// Take the watermark from the source (`PacketSource::watermark_ns`, minus the
    /// lateness) instead of from the newest capture time: for sources that merge several
    /// ordered streams, such as Kafka partitions. Records then only check it.
    pub source_watermark: bool,
    /// The conversation stage's timeout, idle time and table size (all shards together).
    pub conversation: ConversationConfig,
    /// Records dated more than this ahead of the stream are held from the watermark and
    /// dropped as skewed unless the stream follows them (`window::skew`); 0: no check.
    /// Not applied with `source_watermark` (the source orders its streams).
    pub max_skew_ns: u64,
    /// Re-read the rules while running (SIGHUP).
    pub reload: Option<RuleReload>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            shards: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            batch_ns: 1_000_000_000,
            lateness_ns: 0,
            max_keys: 1_000_000,
            max_state_bytes: 512 << 20,
            distinct_bound: 4096,
            speed: None,
            progress: false,
            batch_records: 1024,
            queue_depth: 64,
            drop_when_full: false,
            clock: None,
            clock_grace_ns: 200_000_000,
            stop: None,
            telemetry: None,
            report_every: None,
            source_watermark: false,
            conversation: ConversationConfig::default(),
            max_skew_ns: crate::window::skew::DEFAULT_MAX_SKEW_NS,
            reload: None,
        }
    }
}

impl PipelineConfig {
    /// What each shard's keyed windows get: the batch interval, an equal part of the key
    /// limit and of the memory budget, the distinct bound (at least 16).
    pub fn keyed_config(&self) -> KeyedConfig {
        KeyedConfig {
            batch_ns: self.batch_ns,
            max_keys: self.max_keys.div_ceil(self.shards.max(1)).max(1),
            distinct_bound: self.distinct_bound.max(16),
            shard_state_bytes: self.max_state_bytes / self.shards.max(1),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("internal error: {0} stopped unexpectedly")]
    Thread(String),
}

enum ToShard {
    /// Records for stage `.0` (0: keyed by source, 1: by destination, 2: all traffic,
    /// 3: conversations).
    Records(u8, Vec<Record>),
    Watermark(u64),
    /// The input's clock jumped back: close every batch up to `.0` as at the end, answer
    /// with one alert batch, then start a new time base with empty state.
    Segment(u64),
    /// Reloaded rules, rebased against the running ones: carry the kept rules' state over
    /// (answered with `FromShard::Rules`).
    Rules(Arc<RuleSet>, Arc<Carry>),
    End(Option<u64>),
}

enum FromShard {
    /// The alerts of the windows closed by watermark `.0`.
    Alerts(u64, Vec<Alert>),
    /// The shard runs these rules from now on.
    Rules(Arc<RuleSet>),
    Done(Box<ShardReport>),
}

struct ShardReport {
    stats: KeyedStats,
    conversations: Option<ConversationStats>,
    top: Vec<(Addr, Totals)>,
    state_bytes: usize,
    /// The most keyed state held at a watermark (`Parts::share` in the shard).
    peak: shard::Peak,
}

/// Run the whole job: read everything from `source`, write alerts to `sink`.
pub fn run<S: AlertSink + 'static>(
    source: &mut dyn PacketSource,
    mut rules: Arc<RuleSet>,
    cfg: &PipelineConfig,
    sink: S,
) -> Result<(Summary, S), PipelineError> {
    let n = cfg.shards.max(1);
    rules
        .check_batch(cfg.batch_ns)
        .map_err(PipelineError::Config)?;
    let started = Instant::now();
    let kcfg = cfg.keyed_config();
    let mut conversations = rules.needs_conversations();
    let ccfg = ConversationConfig {
        max_entries: cfg.conversation.max_entries.div_ceil(n).max(1),
        kinds: rules.outcome_kinds(),
        ..cfg.conversation
    };
    let reserved = if conversations {
        Conversations::max_state_bytes(&ccfg)
    } else {
        0
    };
    if reserved >= kcfg.shard_state_bytes {
        return Err(PipelineError::Config(format!(
            "--max-state {} MiB leaves no room for windows: the conversation tables alone may \
             take {} MiB (--max-conversations {}); raise --max-state or lower \
             --max-conversations",
            cfg.max_state_bytes >> 20,
            (reserved * n) >> 20,
            cfg.conversation.max_entries
        )));
    }
    // Outcomes come up to the conversation timeout after the last packet.
    let horizon = |rules: &RuleSet| {
        let conv_ns = if rules.needs_conversations() {
            ccfg.timeout_ns
        } else {
            0
        };
        ((rules.max_window_ns() + conv_ns) / cfg.batch_ns).max(1)
    };
    let mut horizon_b = horizon(&rules);

    // Record buffers go back from the shards to the reader for reuse (fresh ones cost an
    // allocation and page faults per message); bounded, extra ones are simply freed.
    let (recycle_tx, recycle_rx) = bounded::<Vec<Record>>(2 * STAGES * n);
    let mut to_shards: Vec<Sender<ToShard>> = Vec::with_capacity(n);
    let mut replies: Vec<Receiver<FromShard>> = Vec::with_capacity(n);
    let mut shard_threads = Vec::with_capacity(n);
    for i in 0..n {
        let (tx, rx) = bounded::<ToShard>(cfg.queue_depth.max(1));
        let (rtx, rrx) = bounded::<FromShard>(cfg.queue_depth.max(1));
        let rules = rules.clone();
        let tel = cfg.telemetry.clone();
        let recycle = recycle_tx.clone();
        let h = std::thread::Builder::new()
            .name(format!("shard-{i}"))
            .spawn(move || shard_loop(&rules, ccfg, kcfg, rx, rtx, recycle, tel.map(|t| (t, i))))
            .map_err(|e| PipelineError::Thread(format!("spawning shard {i}: {e}")))?;
        to_shards.push(tx);
        replies.push(rrx);
        shard_threads.push(h);
    }
    let merge_rules = rules.clone();
    let delivered = Arc::new(AtomicU64::new(u64::MAX));
    let merge_delivered = delivered.clone();
    let merge_tel = cfg.telemetry.clone();
    let merge = std::thread::Builder::new()
        .name("merge".into())
        .spawn(move || merge_loop(merge_rules, replies, sink, merge_delivered, merge_tel))
        .map_err(|e| PipelineError::Thread(format!("spawning merge: {e}")))?;

    let mut summary = Summary {
        input: source.describe(),
        rules: rules.source.clone(),
        shards: n,
        max_state_bytes: cfg.max_state_bytes as u64,
        ..Default::default()
    };
    let mut reader = Reader {
        to_shards,
        bufs: (0..STAGES * n)
            .map(|_| Vec::with_capacity(cfg.batch_records))
            .collect(),
        batch_records: cfg.batch_records.max(1),
        recycled: recycle_rx,
        queue_waits: 0,
        queue_drops: 0,
        drop_when_full: cfg.drop_when_full,
    };
    let tel = cfg.telemetry.clone();
    let mut keep_ns = rules.max_window_ns().max(cfg.batch_ns);
    let mut routes = Route::table(&rules, conversations);
    let all_shard = shard_of(&Addr::UNSPECIFIED, n);
    // Which addresses sent TCP lately (for probes of dark addresses): 1 MiB.
    let mut liveness = conversations.then(Liveness::default);
    let mut cur_point = BatchPoint::default();
    let mut last_delivered = u64::MAX;
    let mut last_report = Instant::now();
    let mut publisher = Publisher::new();
    // Reads that were not copies (frames, records): the reports' clock.
    let mut reads = 0u64;
    let mut since_clock = 0u32;
    let mut wm = WatermarkTracker::new(cfg.batch_ns, cfg.lateness_ns);
    let mut skew = SkewGuard::new(
        if cfg.source_watermark {
            0
        } else {
            cfg.max_skew_ns
        },
        cfg.lateness_ns,
    );
    // Live mode: how far the capture clock is from the injected clock, once a jump back
    // showed they differ (a reset NIC clock); the clock then closes windows on that base.
    let mut clock_shift: i128 = 0;
    // --speed paces capture time from this point (moved to the new base after a jump).
    let mut pace_origin: Option<(Instant, u64)> = None;
    let mut dstats = DecodeStats::default();
    let (mut last_ts, mut max_ts): (Option<u64>, Option<u64>) = (None, None);
    // The earliest and latest capture time of the records processed (late ones too, skewed
    // ones not): the capture's span, also across a jump back.
    let mut span: Option<(u64, u64)> = None;
    let progress = cfg.progress.then(|| progress_bar(source.progress().1));
    let mut reader_alive = true;
    if cfg.source_watermark {
        // Until the source gives a watermark, records wait in the shards' pending lists,
        // which are applied in batch order (records from several streams are not).
        if let Some(c) = wm.advance_time(0) {
            reader_alive &= reader.broadcast(|| ToShard::Watermark(c));
        }
    }
    while reader_alive {
        if cfg.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
            let (read, total) = source.progress();
            summary.stopped_early = Some(crate::summary::StoppedEarly {
                input_bytes_read: read,
                input_bytes: total,
            });
            break;
        }
        if let Some(rl) = cfg.reload.as_ref().filter(|r| {
            // A plain load per record; the swap only once a signal came.
            r.requested.load(Ordering::Relaxed) && r.requested.swap(false, Ordering::Relaxed)
        }) {
            match reload_rules(
                rl,
                &rules,
                cfg,
                Conversations::max_state_bytes(&ccfg),
                kcfg.shard_state_bytes,
            ) {
                Ok((next, carry)) => {
                    summary.rule_reloads += 1;
                    rules = next;
                    conversations = rules.needs_conversations();
                    horizon_b = horizon(&rules);
                    keep_ns = rules.max_window_ns().max(cfg.batch_ns);
                    routes = Route::table(&rules, conversations);
                    if !conversations {
                        liveness = None;
                    } else if liveness.is_none() {
                        liveness = Some(Liveness::default());
                    }
                    source.rules_changed(rules.max_window_ns());
                    let carry = Arc::new(carry);
                    reader_alive &=
                        reader.broadcast(|| ToShard::Rules(rules.clone(), carry.clone()));
                }
                Err(e) => {
                    summary.rule_reloads_rejected += 1;
                    tracing::error!("rule reload rejected, the running rules stay: {e}");
                }
            }
        }
        let d = delivered.load(Ordering::Acquire);
        if d != last_delivered {
            last_delivered = d;
            source.delivered(d);
        }
        if cfg.source_watermark {
            // Everything the source handed out so far is queued, so the watermark it gives
            // now may close batches.
            if let Some(f) = source.watermark_ns() {
                if let Some(c) = wm.advance_time(f.saturating_sub(cfg.lateness_ns)) {
                    close_point(&tel, &mut cur_point, c, cfg.batch_ns, keep_ns);
                    reader_alive &= reader.broadcast(|| ToShard::Watermark(c));
                }
            }
        }
        let mut rec: Option<Record> = None;
        let (mut ts, mut len) = (0u64, 0u32);
        let mut copy = false;
        let next = source.next_with(&mut |input| match input {
            Input::Frame(f) => {
                ts = f.ts_ns;
                len = f.orig_len;
                rec = decode(f.linktype, f.ts_ns, f.data, &mut dstats);
            }
            Input::Record { record, wire_len } => {
                ts = record.ts_ns;
                len = *wire_len;
                copy = record.event & event::COPY != 0;
                dstats.records += !copy as u64;
                rec = Some(*record);
            }
        });
        let idle = match next {
            Ok(Next::Item) => false,
            Ok(Next::Idle) => {
                if let Some(t) = &tel {
                    let q = reader.queue_drops;
                    publisher.publish(
                        t,
                        &summary,
                        &dstats,
                        || (source.stats(), source.flow_export()),
                        q,
                    );
                }
                true
            }
            Ok(Next::End) => break,
            Err(e) => {
                tracing::warn!("{e}");
                summary.input_errors.push(e.to_string());
                continue;
            }
        };
        if let Some(clock) = &cfg.clock {
            since_clock += 1;
            if idle || since_clock >= 1024 {
                since_clock = 0;
                let now = (clock.now_ns() as i128 + clock_shift).max(0) as u64;
                let wm_ns = now.saturating_sub(cfg.lateness_ns + cfg.clock_grace_ns);
                if let Some(c) = wm.advance_time(wm_ns) {
                    close_point(&tel, &mut cur_point, c, cfg.batch_ns, keep_ns);
                    reader_alive &= reader.broadcast(|| ToShard::Watermark(c));
                }
            }
            if let Some(every) = cfg.report_every {
                if last_report.elapsed() >= every {
                    last_report = Instant::now();
                    let st = source.stats();
                    tracing::info!(
                        packets = summary.packets,
                        kernel_drops = st.kernel_drops,
                        interface_drops = st.interface_drops,
                        queue_drops = reader.queue_drops,
                        "capture counters"
                    );
                    if let Some(t) = &tel {
                        t.counters
                            .kernel_drops
                            .store(st.kernel_drops, Ordering::Relaxed);
                    }
                }
            }
        }
        if idle {
            continue;
        }
        if copy {
            // A record's second appearance (Kafka: in its destination's partition), for the
            // destination's side only; the packet was counted with the original.
            summary.destination_copies += 1;
        } else {
            // A weighted flow record stands for its flow's packets.
            let w = rec.map_or(1, |r| r.packets() as u64);
            summary.packets += w;
            summary.bytes += len as u64 * w;
            reads += 1;
            last_ts = Some(ts);
            if let Some(x) = cfg.speed {
                let (t0, f0) = *pace_origin.get_or_insert((started, ts));
                pace(t0, f0, ts, x, cfg.stop.as_deref());
            }
            if reads.is_multiple_of(1024) {
                summary.skewed = skew.skewed();
                if let Some(t) = &tel {
                    let drops_skewed = (reader.queue_drops, publisher.source_skewed());
                    store_counters(t, &summary, &dstats, drops_skewed, ts);
                    let q = reader.queue_drops;
                    publisher.publish(
                        t,
                        &summary,
                        &dstats,
                        || (source.stats(), source.flow_export()),
                        q,
                    );
                }
                if reads.is_multiple_of(65_536) {
                    if let Some(pb) = &progress {
                        update_progress(pb, source.progress().0, summary.packets, started);
                    }
                }
            }
        }
        let Some(rec) = rec else { continue };
        // A record far ahead of the stream is held until the stream follows it; records
        // far behind it, until they show the clock jumped back.
        skew.admit(rec);
        if let Some(j) = skew.take_jump() {
            summary.clock_jumps_back += 1;
            tracing::warn!(
                "the capture clock jumped back by {} s (from {} to {}): every window before \
                 the jump is closed and evaluated, and a new segment starts with empty windows \
                 (windows do not span the jump; counted in the summary, exit status 3)",
                (j.from_ns - j.to_ns) / 1_000_000_000,
                crate::alert::rfc3339(j.from_ns),
                crate::alert::rfc3339(j.to_ns),
            );
            if let Some(t) = max_ts.take() {
                let fin = wm.batch_of(t) + horizon_b + 1;
                reader_alive &= reader.broadcast(|| ToShard::Segment(fin));
            }
            wm = WatermarkTracker::new(cfg.batch_ns, cfg.lateness_ns);
            if let Some(l) = liveness.as_mut() {
                *l = Liveness::default();
            }
            if let Some(clock) = &cfg.clock {
                let d = j.to_ns as i128 - clock.now_ns() as i128;
                clock_shift = if d.unsigned_abs() > cfg.max_skew_ns as u128 {
                    d
                } else {
                    0
                };
            }
            pace_origin = Some((Instant::now(), j.to_ns));
        }
        for rec in skew.ready() {
            // (Of the record itself: a held one is let through with a later read.)
            let copy = rec.event & event::COPY != 0;
            if !copy {
                let t = rec.ts_ns;
                span = Some(span.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
            }
            let obs = if cfg.source_watermark {
                let b = wm.batch_of(rec.ts_ns);
                crate::window::watermark::Observation {
                    batch: wm.closed().is_none_or(|c| b >= c).then_some(b),
                    advanced_to: None,
                }
            } else {
                wm.observe(rec.ts_ns)
            };
            if let Some(c) = obs.advanced_to {
                close_point(&tel, &mut cur_point, c, cfg.batch_ns, keep_ns);
                reader_alive &= reader.broadcast(|| ToShard::Watermark(c));
            }
            if obs.batch.is_none() {
                let (n, w, what) = if copy {
                    summary.late_copies += 1;
                    (summary.late_copies, 1, "destination copies")
                } else {
                    summary.late_packets += rec.packets() as u64;
                    (summary.late_packets, rec.packets() as u64, "packets")
                };
                if crate::summary::new_decade(n - w, n) {
                    tracing::warn!(
                        "{n} late {what} dropped so far: capture time behind the watermark by more \
                         than --lateness (counted in the summary)"
                    );
                }
                continue;
            }
            if tel.is_some() && !copy {
                cur_point.packets += rec.packets() as u64;
                cur_point.bytes += rec.bytes();
                match rec.proto {
                    proto::TCP => cur_point.tcp += 1,
                    proto::UDP => cur_point.udp += 1,
                    proto::ICMP | proto::ICMPV6 => cur_point.icmp += 1,
                    _ => cur_point.other += 1,
                }
            }
            max_ts = Some(max_ts.map_or(rec.ts_ns, |m| m.max(rec.ts_ns)));
            let side = rec.event & (event::COPY | event::ELSEWHERE);
            let hints = match liveness.as_mut() {
                Some(l) => Hints::of(l, &rec),
                None => Hints::default(),
            };
            // Each owner's shard is hashed once per record, when a route first needs it.
            let mut owners = [usize::MAX, usize::MAX, all_shard];
            for route in &routes {
                if route.serves(side) && route.selects(&rec, hints) {
                    let o = route.owner.stage();
                    if owners[o] == usize::MAX {
                        owners[o] = shard_of(&route.owner(&rec), n);
                    }
                    let shard = owners[o];
                    let rec = Record {
                        event: route.mark(hints),
                        ..rec
                    };
                    reader_alive &= reader.push(shard, route.stage, rec);
                }
            }
        }
    }
    skew.finish();
    summary.skewed = skew.skewed();
    summary.late_packets += skew.late_at_end();
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    let final_wm = max_ts.map(|t| wm.batch_of(t) + horizon_b + 1);
    reader.broadcast(|| ToShard::End(final_wm));
    let waits = reader.queue_waits;
    let drops = reader.queue_drops;
    drop(reader);
    let sstats = source.stats();
    for (i, h) in shard_threads.into_iter().enumerate() {
        h.join()
            .map_err(|_| PipelineError::Thread(format!("shard {i}")))?;
    }
    let m = merge
        .join()
        .map_err(|_| PipelineError::Thread("merge".into()))?;
    if let Some(e) = m.error {
        return Err(e.into());
    }
    if let Some(d) = m.delivered {
        source.delivered(d);
    }
    summary.queue_drops = drops;
    summary.kernel_drops = sstats.kernel_drops;
    summary.interface_drops = sstats.interface_drops;
    summary.datagram_drops = sstats.datagram_drops;
    summary.data_without_template = sstats.data_without_template;
    summary.malformed_input = sstats.malformed;
    // The pipeline's guard is off for a source with its own watermark, which checks skew
    // per partition.
    summary.skewed += sstats.skewed;
    summary.unread_at_stop = sstats.unread;
    if sstats.unread > 0 {
        tracing::warn!(
            "{}: stopped with {} record(s) read and not processed; their offsets are not \
             committed, so the next run reads them again",
            source.describe(),
            sstats.unread
        );
    }
    summary.flow_export = source.flow_export();
    if let Some(t) = &tel {
        // The summary counts the source's skewed records by now.
        store_counters(t, &summary, &dstats, (drops, 0), last_ts.unwrap_or(0));
        t.counters
            .kernel_drops
            .store(sstats.kernel_drops, Ordering::Relaxed);
    }

    summary.queue_waits = waits;
    summary.decode = dstats;
    summary.set_capture_span(span.map(|s| s.0), span.map(|s| s.1));
    summary.wall_seconds = started.elapsed().as_secs_f64();
    summary.packets_per_second = summary.packets as f64 / summary.wall_seconds.max(1e-9);
    summary.alerts = m.alerts;
    summary.alerts_by_rule = m.by_rule;
    let mut tops: Vec<(Addr, Totals)> = Vec::new();
    let (mut peak_window_bytes, mut peak_keys) = (0u64, 0u64);
    for r in &m.reports {
        summary.keys_peak += r.stats.keys_peak;
        summary.keys_expired += r.stats.keys_expired;
        summary.keys_evicted += r.stats.keys_evicted;
        summary.keys_evicted_for_state += r.stats.keys_evicted_for_state;
        summary.state_peak_bytes += r.peak.bytes as u64;
        peak_window_bytes += r.peak.window_bytes as u64;
        peak_keys += r.peak.keys;
        summary.sketched_sets += r.stats.sketched_sets;
        summary.suppressed_by_cooldown += r.stats.suppressed_by_cooldown;
        summary.yielded += r.stats.yielded;
        summary.late_packets += r.stats.late;
        summary.window_state_bytes += r.state_bytes as u64;
        if let Some(c) = &r.conversations {
            summary
                .conversations
                .get_or_insert_with(Default::default)
                .add(c);
        }
        tops.extend(r.top.iter().copied());
    }
    summary.key_bytes_at_peak = peak_window_bytes.checked_div(peak_keys);
    tops.sort_by(|a, b| b.1.packets.cmp(&a.1.packets).then(a.0.cmp(&b.0)));
    summary.top_sources = tops
        .into_iter()
        .take(10)
        .map(|(a, t)| SourceSummary {
            address: a.to_string(),
            packets: t.packets,
            bytes: t.bytes,
            first_seen: crate::alert::rfc3339(t.first_ns),
            last_seen: crate::alert::rfc3339(t.last_ns),
        })
        .collect();
    summary.peak_rss_bytes = peak_rss_bytes();
    summary.count_losses();
    if let Some(t) = &tel {
        t.publish_summary(summary.clone());
        t.counters.finished.store(1, Ordering::Relaxed);
    }
    Ok((summary, m.sink))
}
