//! Sensor mode: packets from a [`PacketSource`] -> decoded records -> Kafka.
//!
//! In: a packet source (capture files, or a live interface), a topic. Out: packet record
//! batches ([`super::wire`]) on the topic; a [`PublishSummary`].
//! Guarantees: a record goes to partition `partition::shard_of(&record.src, partitions)`, so
//! all of a source's records land in one partition, in the order read; when its destination
//! hashes to another partition, a copy goes there too (marked, see [`super::wire`]), so
//! each partition also holds everything its addresses received, in order; the producer is
//! idempotent (no duplicates, no reordering on retries); `publish` returns only when every
//! message is acknowledged or has failed, and failures are counted, never ignored. A full
//! producer queue makes `publish` wait (counted in `producer_queue_waits`); nothing read is
//! dropped here (a live capture that falls behind meanwhile shows kernel drops).
//!
//! Live sources ([`PublishConfig::linger`], [`PublishConfig::stop`]): a partly filled
//! batch is sent once its oldest record waited `linger`, so the records of a sparse stream
//! reach Kafka within about `linger` plus the producer's `linger.ms`; a pause of the source
//! ([`Next::Idle`]) is spent serving delivery reports and checking the stop flag, which
//! ends reading; what was read is then sent and acknowledged before `publish` returns. The
//! source's drop counters are logged every `report_every` and reported in the summary.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use super::wire::BatchEncoder;
use super::{ensure_topic, KafkaConfig, KafkaError, LogContext};
use crate::decode::{decode, DecodeStats};
use crate::partition::shard_of;
use crate::record::Record;
use crate::source::{Input, Next, PacketSource, SourceStats};

/// flowsentry's producer settings for packet records; any can be overridden with `-X`.
pub const RECORD_PRODUCER_DEFAULTS: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("compression.type", "lz4"),
    ("linger.ms", "20"),
    ("batch.size", "1000000"),
    ("message.timeout.ms", "300000"),
];

/// A message is sent once it holds this many bytes, even below `batch_records`.
const MAX_MESSAGE_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct PublishConfig {
    pub kafka: KafkaConfig,
    pub topic: String,
    /// Partitions of the topic when it has to be created.
    pub partitions: i32,
    /// Records per message (at most).
    pub batch_records: usize,
    /// Send a partly filled batch once its oldest record waited this long (live sources).
    /// `None`: batches are sent when full and at the end of the input only (capture files).
    pub linger: Option<Duration>,
    /// Raised (by a signal handler) to stop reading; what was read is still sent.
    pub stop: Option<Arc<AtomicBool>>,
    /// Log the counters (packets, records, the source's drops) this often.
    pub report_every: Option<Duration>,
}

impl PublishConfig {
    /// The linger the command line uses for live interfaces.
    pub const LIVE_LINGER: Duration = Duration::from_millis(100);

    pub fn new(kafka: KafkaConfig, topic: &str) -> Self {
        PublishConfig {
            kafka,
            topic: topic.to_string(),
            partitions: 4,
            batch_records: 1024,
            linger: None,
            stop: None,
            report_every: None,
        }
    }
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PublishSummary {
    pub input: String,
    pub topic: String,
    pub partitions: i32,
    /// Frames (or records) read from the input.
    pub packets: u64,
    pub decode: DecodeStats,
    /// Records handed to Kafka (at the end, with `copies`: `delivered_records +
    /// undeliverable_records`).
    pub records: u64,
    /// Copies of records for their destination's partition (the destination hashes to
    /// another partition than the source).
    pub copies: u64,
    pub messages: u64,
    /// Encoded bytes, before compression.
    pub bytes: u64,
    /// Messages that could not be delivered.
    pub undeliverable_messages: u64,
    pub wall_seconds: f64,
    pub records_per_second: f64,
    pub input_errors: Vec<String>,
    /// Records in messages the brokers acknowledged.
    pub delivered_records: u64,
    /// Records in messages that could not be delivered.
    pub undeliverable_records: u64,
    /// Sends that found the producer's queue full and waited for room (nothing is dropped).
    pub producer_queue_waits: u64,
    /// Packets the kernel dropped before they were read (live capture, libpcap `ps_drop`).
    pub kernel_drops: u64,
    /// Packets the interface or its driver dropped (live capture, libpcap `ps_ifdrop`).
    pub interface_drops: u64,
    /// Reading ended on a stop request (SIGINT, SIGTERM) rather than at the input's end.
    pub stopped: bool,
}

struct PubContext {
    log: LogContext,
    failed: AtomicU64,
    failed_records: AtomicU64,
    delivered_records: AtomicU64,
}

impl PubContext {
    /// Count an undeliverable message of `records` records; logs the first and then every
    /// power of two.
    fn fail(&self, records: u64, e: &dyn std::fmt::Display) {
        self.failed_records.fetch_add(records, Ordering::Relaxed);
        let n = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
        if n == 1 || n.is_power_of_two() {
            tracing::error!("kafka publish: a record batch was not delivered ({n} so far): {e}");
        }
    }
}

impl ClientContext for PubContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        self.log.log(level, fac, msg)
    }
    fn error(&self, error: RdError, reason: &str) {
        self.log.error(error, reason)
    }
}

impl ProducerContext for PubContext {
    /// The message's record count.
    type DeliveryOpaque = usize;
    fn delivery(&self, r: &DeliveryResult<'_>, records: usize) {
        match r {
            Ok(_) => {
                self.delivered_records
                    .fetch_add(records as u64, Ordering::Relaxed);
            }
            Err((e, _)) => self.fail(records as u64, e),
        }
    }
}

/// One partition's message being filled.
struct Batch {
    enc: BatchEncoder,
    /// When its first record was added (with a linger only).
    since: Option<Instant>,
}

/// The batches being filled, the producer they go to, and the counts so far.
struct Publisher<'a> {
    cfg: &'a PublishConfig,
    producer: BaseProducer<PubContext>,
    batches: Vec<Batch>,
    max_records: u32,
    /// No open batch is older than this (may be older than the oldest: only a hint).
    oldest: Option<Instant>,
    sum: PublishSummary,
}

impl<'a> Publisher<'a> {
    /// Create the topic if missing and connect the producer.
    fn new(cfg: &'a PublishConfig, input: String) -> Result<Publisher<'a>, KafkaError> {
        let nparts = ensure_topic(
            &cfg.kafka,
            &cfg.topic,
            cfg.partitions.max(1),
            Duration::from_secs(15),
        )?;
        let producer: BaseProducer<PubContext> = cfg
            .kafka
            .client_config(RECORD_PRODUCER_DEFAULTS)
            .create_with_context(PubContext {
                log: LogContext::new(&format!("publish {}", cfg.topic), &cfg.kafka),
                failed: AtomicU64::new(0),
                failed_records: AtomicU64::new(0),
                delivered_records: AtomicU64::new(0),
            })
            .map_err(|e| {
                KafkaError::client("producer", super::scrub(&cfg.kafka.props, &e.to_string()))
            })?;
        let batches = (0..nparts)
            .map(|_| Batch {
                enc: BatchEncoder::new(),
                since: None,
            })
            .collect();
        Ok(Publisher {
            cfg,
            producer,
            batches,
            max_records: cfg.batch_records.clamp(1, 1 << 20) as u32,
            oldest: None,
            sum: PublishSummary {
                input,
                topic: cfg.topic.clone(),
                partitions: nparts,
                ..Default::default()
            },
        })
    }

    /// Add a record to its source's partition batch, and a copy to its destination's when
    /// that is another (`now`: its arrival, with a linger).
    fn add(&mut self, r: &Record, wire_len: u32, now: Option<Instant>) {
        let n = self.batches.len();
        let (p, q) = (shard_of(&r.src, n), shard_of(&r.dst, n));
        self.sum.records += 1;
        if p == q {
            self.push(p, &Record { event: 0, ..*r }, wire_len, now);
        } else {
            self.sum.copies += 1;
            let elsewhere = Record {
                event: crate::record::event::ELSEWHERE,
                ..*r
            };
            self.push(p, &elsewhere, wire_len, now);
            let copy = Record {
                event: crate::record::event::COPY,
                ..*r
            };
            self.push(q, &copy, wire_len, now);
        }
    }

    fn push(&mut self, p: usize, r: &Record, wire_len: u32, now: Option<Instant>) {
        let b = &mut self.batches[p];
        if b.enc.is_empty() {
            b.since = now;
            self.oldest = self.oldest.or(now);
        }
        b.enc.push(r, wire_len);
        if b.enc.len() >= self.max_records || b.enc.bytes() >= MAX_MESSAGE_BYTES {
            self.send(p);
        }
    }

    /// Send every batch whose first record waited `linger` or longer.
    fn send_due(&mut self, now: Instant, linger: Duration) {
        match self.oldest {
            Some(t) if now.duration_since(t) >= linger => {}
            _ => return,
        }
        self.oldest = None;
        for p in 0..self.batches.len() {
            match self.batches[p].since {
                Some(t) if now.duration_since(t) >= linger => self.send(p),
                Some(t) => self.oldest = Some(self.oldest.map_or(t, |o| o.min(t))),
                None => {}
            }
        }
    }

    fn send_all(&mut self) {
        for p in 0..self.batches.len() {
            self.send(p);
        }
    }

    /// Hand partition `p`'s batch to the producer, waiting while its queue is full.
    fn send(&mut self, p: usize) {
        let b = &mut self.batches[p];
        b.since = None;
        if b.enc.is_empty() {
            return;
        }
        let records = b.enc.len() as u64;
        let payload = b.enc.finish();
        let bytes = payload.len() as u64;
        let mut rec =
            BaseRecord::<(), [u8], usize>::with_opaque_to(&self.cfg.topic, records as usize)
                .partition(p as i32)
                .payload(payload);
        let mut waiting = None::<Instant>;
        let sent = loop {
            match self.producer.send(rec) {
                Ok(()) => break true,
                Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    rec = back;
                    if waiting.is_none() {
                        self.sum.producer_queue_waits += 1;
                    }
                    self.producer.poll(Duration::from_millis(20));
                    let w = waiting.get_or_insert_with(Instant::now);
                    if w.elapsed() > Duration::from_secs(5) {
                        waiting = Some(Instant::now());
                        tracing::warn!(
                            "kafka publish: the producer queue is full; waiting for {}",
                            self.cfg.kafka.brokers
                        );
                    }
                }
                Err((e, _)) => {
                    self.producer.context().fail(records, &e);
                    break false;
                }
            }
        };
        self.sum.messages += 1;
        if sent {
            self.sum.bytes += bytes;
        }
        b.enc.clear();
        self.producer.poll(Duration::ZERO);
    }

    /// Wait until every message is acknowledged or has failed.
    fn wait_delivered(&self) {
        let mut last_warn = Instant::now();
        while self.producer.in_flight_count() > 0 {
            self.producer.poll(Duration::from_millis(50));
            if last_warn.elapsed() > Duration::from_secs(5) {
                last_warn = Instant::now();
                tracing::warn!(
                    "kafka publish: waiting for {} to acknowledge {} message(s)",
                    self.cfg.kafka.brokers,
                    self.producer.in_flight_count()
                );
            }
        }
    }

    fn report(&self, st: SourceStats) {
        let ctx = self.producer.context();
        tracing::info!(
            packets = self.sum.packets,
            records = self.sum.records,
            delivered_records = ctx.delivered_records.load(Ordering::Relaxed),
            undeliverable_records = ctx.failed_records.load(Ordering::Relaxed),
            in_flight = self.producer.in_flight_count(),
            producer_queue_waits = self.sum.producer_queue_waits,
            kernel_drops = st.kernel_drops,
            interface_drops = st.interface_drops,
            "publish counters"
        );
    }

    fn finish(mut self, decode: DecodeStats, st: SourceStats, started: Instant) -> PublishSummary {
        let ctx = self.producer.context();
        self.sum.decode = decode;
        self.sum.undeliverable_messages = ctx.failed.load(Ordering::Relaxed);
        self.sum.undeliverable_records = ctx.failed_records.load(Ordering::Relaxed);
        self.sum.delivered_records = ctx.delivered_records.load(Ordering::Relaxed);
        self.sum.kernel_drops = st.kernel_drops;
        self.sum.interface_drops = st.interface_drops;
        self.sum.wall_seconds = started.elapsed().as_secs_f64();
        self.sum.records_per_second = self.sum.records as f64 / self.sum.wall_seconds.max(1e-9);
        self.sum
    }
}

/// Read `source` to its end (or until `cfg.stop` is raised) and publish it. Fails only when
/// the brokers cannot be reached at start; later failures are counted in the summary.
pub fn publish(
    source: &mut dyn PacketSource,
    cfg: &PublishConfig,
) -> Result<PublishSummary, KafkaError> {
    let started = Instant::now();
    let mut pb = Publisher::new(cfg, source.describe())?;
    let mut dstats = DecodeStats::default();
    // Clock reads only where a linger or the periodic report needs them (live sources).
    let timed = cfg.linger.is_some() || cfg.report_every.is_some();
    let mut last_report = started;
    loop {
        if cfg.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
            pb.sum.stopped = true;
            break;
        }
        let mut rec = None;
        let next = source.next_with(&mut |input| match input {
            Input::Frame(f) => {
                rec = decode(f.linktype, f.ts_ns, f.data, &mut dstats).map(|r| (r, f.orig_len))
            }
            Input::Record { record, wire_len } => {
                dstats.records += 1;
                rec = Some((*record, *wire_len));
            }
        });
        let now = timed.then(Instant::now);
        match next {
            Ok(Next::Item) => {
                pb.sum.packets += 1;
                if let Some((r, wire_len)) = rec {
                    pb.add(&r, wire_len, now);
                }
            }
            // The source waited its poll timeout for nothing: serve delivery reports.
            Ok(Next::Idle) => {
                pb.producer.poll(Duration::ZERO);
            }
            Ok(Next::End) => break,
            Err(e) => {
                tracing::warn!("{e}");
                pb.sum.input_errors.push(e.to_string());
                continue;
            }
        }
        let Some(now) = now else { continue };
        if let Some(linger) = cfg.linger {
            pb.send_due(now, linger);
        }
        if cfg
            .report_every
            .is_some_and(|every| now.duration_since(last_report) >= every)
        {
            last_report = now;
            pb.report(source.stats());
        }
    }
    pb.send_all();
    let st = source.stats();
    pb.wait_delivered();
    Ok(pb.finish(dstats, st, started))
}
