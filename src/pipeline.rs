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

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use crate::alert::Alert;
use crate::decode::{decode, DecodeStats};
use crate::partition::shard_of;
use crate::record::{Addr, Record};
use crate::rules::{GroupBy, RuleSet};
use crate::sink::{AlertSink, SinkError};
use crate::source::FrameSource;
use crate::summary::{peak_rss_bytes, SourceSummary, Summary};
use crate::window::{KeyedConfig, KeyedStats, KeyedWindows, Totals, WatermarkTracker};

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub shards: usize,
    pub batch_ns: u64,
    pub lateness_ns: u64,
    /// Keys held at most, across all shards.
    pub max_keys: usize,
    pub distinct_bound: usize,
    /// Pace the replay at this multiple of the recorded speed; `None` = as fast as possible.
    pub speed: Option<f64>,
    pub progress: bool,
    /// Records per message to a shard.
    pub batch_records: usize,
    /// Messages a shard queue holds.
    pub queue_depth: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            shards: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            batch_ns: 1_000_000_000,
            lateness_ns: 0,
            max_keys: 1_000_000,
            distinct_bound: 4096,
            speed: None,
            progress: false,
            batch_records: 1024,
            queue_depth: 64,
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
    Records(Vec<Record>),
    Watermark(u64),
    End(Option<u64>),
}

enum FromShard {
    Alerts(Vec<Alert>),
    Done(Box<ShardReport>),
}

struct ShardReport {
    stats: KeyedStats,
    top: Vec<(Addr, Totals)>,
    state_bytes: usize,
}

struct MergeResult<S> {
    sink: S,
    alerts: u64,
    by_rule: Vec<u64>,
    reports: Vec<ShardReport>,
    error: Option<SinkError>,
}

/// Run the whole job: read everything from `source`, write alerts to `sink`.
pub fn run<S: AlertSink + 'static>(
    source: &mut dyn FrameSource,
    rules: Arc<RuleSet>,
    cfg: &PipelineConfig,
    sink: S,
) -> Result<(Summary, S), PipelineError> {
    let n = cfg.shards.max(1);
    rules.check_batch(cfg.batch_ns).map_err(PipelineError::Config)?;
    let started = Instant::now();
    let kcfg = KeyedConfig {
        batch_ns: cfg.batch_ns,
        max_keys: cfg.max_keys.div_ceil(n).max(1),
        distinct_bound: cfg.distinct_bound.max(16),
    };
    let horizon_b = (rules.max_window_ns() / cfg.batch_ns).max(1);

    let mut to_shards: Vec<Sender<ToShard>> = Vec::with_capacity(n);
    let mut replies: Vec<Receiver<FromShard>> = Vec::with_capacity(n);
    let mut shard_threads = Vec::with_capacity(n);
    for i in 0..n {
        let (tx, rx) = bounded::<ToShard>(cfg.queue_depth.max(1));
        let (rtx, rrx) = bounded::<FromShard>(cfg.queue_depth.max(1));
        let rules = rules.clone();
        let h = std::thread::Builder::new()
            .name(format!("shard-{i}"))
            .spawn(move || shard_loop(KeyedWindows::new(rules, GroupBy::Src, kcfg), rx, rtx))
            .map_err(|e| PipelineError::Thread(format!("spawning shard {i}: {e}")))?;
        to_shards.push(tx);
        replies.push(rrx);
        shard_threads.push(h);
    }
    let merge_rules = rules.clone();
    let merge = std::thread::Builder::new()
        .name("merge".into())
        .spawn(move || merge_loop(merge_rules, replies, sink))
        .map_err(|e| PipelineError::Thread(format!("spawning merge: {e}")))?;

    let mut summary = Summary { input: source.describe(), rules: rules.source.clone(), shards: n, ..Default::default() };
    let mut reader = Reader {
        to_shards,
        bufs: (0..n).map(|_| Vec::with_capacity(cfg.batch_records)).collect(),
        batch_records: cfg.batch_records.max(1),
        queue_waits: 0,
    };
    let mut wm = WatermarkTracker::new(cfg.batch_ns, cfg.lateness_ns);
    let mut dstats = DecodeStats::default();
    let (mut first_ts, mut last_ts, mut max_ts): (Option<u64>, Option<u64>, Option<u64>) = (None, None, None);
    let progress = cfg.progress.then(|| progress_bar(source.progress().1));
    let mut reader_alive = true;
    while reader_alive {
        let mut rec: Option<Record> = None;
        let (mut ts, mut len) = (0u64, 0u32);
        match source.next_with(&mut |f| {
            ts = f.ts_ns;
            len = f.orig_len;
            rec = decode(f.linktype, f.ts_ns, f.data, &mut dstats);
        }) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                tracing::warn!("{e}");
                summary.input_errors.push(e.to_string());
                continue;
            }
        }
        summary.packets += 1;
        summary.bytes += len as u64;
        let f0 = *first_ts.get_or_insert(ts);
        last_ts = Some(ts);
        if let Some(x) = cfg.speed {
            pace(started, f0, ts, x);
        }
        if summary.packets % 65_536 == 0 {
            if let Some(pb) = &progress {
                update_progress(pb, source.progress().0, summary.packets, started);
            }
        }
        let Some(rec) = rec else { continue };
        let obs = wm.observe(rec.ts_ns);
        if let Some(c) = obs.advanced_to {
            reader_alive &= reader.broadcast(|| ToShard::Watermark(c));
        }
        if obs.batch.is_none() {
            summary.late_packets += 1;
            continue;
        }
        max_ts = Some(max_ts.map_or(rec.ts_ns, |m| m.max(rec.ts_ns)));
        reader_alive &= reader.push(shard_of(&rec.src, n), rec);
    }
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    let final_wm = max_ts.map(|t| wm.batch_of(t) + horizon_b + 1);
    reader.broadcast(|| ToShard::End(final_wm));
    let waits = reader.queue_waits;
    drop(reader);
    for (i, h) in shard_threads.into_iter().enumerate() {
        h.join().map_err(|_| PipelineError::Thread(format!("shard {i}")))?;
    }
    let m = merge.join().map_err(|_| PipelineError::Thread("merge".into()))?;
    if let Some(e) = m.error {
        return Err(e.into());
    }

    summary.queue_waits = waits;
    summary.decode = dstats;
    summary.set_capture_span(first_ts, last_ts);
    summary.wall_seconds = started.elapsed().as_secs_f64();
    summary.packets_per_second = summary.packets as f64 / summary.wall_seconds.max(1e-9);
    summary.alerts = m.alerts;
    for (i, c) in m.by_rule.iter().enumerate() {
        if *c > 0 {
            summary.alerts_by_rule.insert(rules.rules[i].id.clone(), *c);
        }
    }
    let mut tops: Vec<(Addr, Totals)> = Vec::new();
    for r in &m.reports {
        summary.keys_peak += r.stats.keys_peak;
        summary.keys_expired += r.stats.keys_expired;
        summary.keys_evicted += r.stats.keys_evicted;
        summary.sketched_sets += r.stats.sketched_sets;
        summary.suppressed_by_cooldown += r.stats.suppressed_by_cooldown;
        summary.late_packets += r.stats.late;
        summary.window_state_bytes += r.state_bytes as u64;
        tops.extend(r.top.iter().copied());
    }
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
    Ok((summary, m.sink))
}

struct Reader {
    to_shards: Vec<Sender<ToShard>>,
    bufs: Vec<Vec<Record>>,
    batch_records: usize,
    queue_waits: u64,
}

impl Reader {
    /// Queue a record for shard `s`; false when the shard is gone.
    #[inline]
    fn push(&mut self, s: usize, rec: Record) -> bool {
        self.bufs[s].push(rec);
        if self.bufs[s].len() >= self.batch_records {
            return self.send_buf(s);
        }
        true
    }

    fn send_buf(&mut self, s: usize) -> bool {
        if self.bufs[s].is_empty() {
            return true;
        }
        let full = std::mem::replace(&mut self.bufs[s], Vec::with_capacity(self.batch_records));
        self.send(s, ToShard::Records(full))
    }

    fn send(&mut self, s: usize, msg: ToShard) -> bool {
        match self.to_shards[s].try_send(msg) {
            Ok(()) => true,
            Err(TrySendError::Full(msg)) => {
                self.queue_waits += 1;
                self.to_shards[s].send(msg).is_ok()
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Send every shard its pending records, then the same control message.
    fn broadcast(&mut self, msg: impl Fn() -> ToShard) -> bool {
        let mut ok = true;
        for s in 0..self.to_shards.len() {
            ok &= self.send_buf(s);
            ok &= self.send(s, msg());
        }
        ok
    }
}

fn shard_loop(mut kw: KeyedWindows, rx: Receiver<ToShard>, tx: Sender<FromShard>) {
    for msg in rx {
        match msg {
            ToShard::Records(v) => {
                for r in &v {
                    kw.ingest(r);
                }
            }
            ToShard::Watermark(c) => {
                if tx.send(FromShard::Alerts(kw.flush(c))).is_err() {
                    return;
                }
            }
            ToShard::End(fin) => {
                let alerts = fin.map(|c| kw.flush(c)).unwrap_or_default();
                let _ = tx.send(FromShard::Alerts(alerts));
                let report = ShardReport { stats: kw.stats(), top: kw.top(10), state_bytes: kw.state_bytes() };
                let _ = tx.send(FromShard::Done(Box::new(report)));
                return;
            }
        }
    }
}

fn merge_loop<S: AlertSink>(rules: Arc<RuleSet>, replies: Vec<Receiver<FromShard>>, mut sink: S) -> MergeResult<S> {
    let mut res_alerts = 0u64;
    let mut by_rule = vec![0u64; rules.rules.len()];
    let mut reports = Vec::new();
    let mut error: Option<SinkError> = None;
    let mut round: Vec<Alert> = Vec::new();
    'outer: loop {
        round.clear();
        for rx in &replies {
            match rx.recv() {
                Ok(FromShard::Alerts(a)) => round.extend(a),
                Ok(FromShard::Done(rep)) => reports.push(*rep),
                Err(_) => break 'outer,
            }
        }
        if reports.len() == replies.len() {
            break;
        }
        round.sort_by_key(|a| a.sort_key());
        for a in &round {
            res_alerts += 1;
            by_rule[a.rule as usize] += 1;
            if error.is_none() {
                if let Err(e) = sink.write(a, &a.to_json(&rules)) {
                    error = Some(e);
                }
            }
        }
    }
    if error.is_none() {
        if let Err(e) = sink.finish() {
            error = Some(e);
        }
    }
    MergeResult { sink, alerts: res_alerts, by_rule, reports, error }
}

fn pace(started: Instant, first_ts: u64, ts: u64, speed: f64) {
    let target = Duration::from_secs_f64(ts.saturating_sub(first_ts) as f64 / 1e9 / speed.max(1e-6));
    let elapsed = started.elapsed();
    if target > elapsed {
        std::thread::sleep(target - elapsed);
    }
}

fn progress_bar(total: Option<u64>) -> indicatif::ProgressBar {
    let pb = match total {
        Some(t) => indicatif::ProgressBar::new(t),
        None => indicatif::ProgressBar::new_spinner(),
    };
    pb.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}") {
        pb.set_style(style);
    }
    pb
}

fn update_progress(pb: &indicatif::ProgressBar, pos: u64, packets: u64, started: Instant) {
    pb.set_position(pos);
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    pb.set_message(format!("{packets} packets, {:.2} Mpps", packets as f64 / secs / 1e6));
}
