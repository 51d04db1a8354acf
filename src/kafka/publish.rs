//! Sensor mode: packets from a [`PacketSource`] -> decoded records -> Kafka.
//!
//! In: a packet source (capture files now), a topic. Out: packet record batches
//! ([`super::wire`]) on the topic; a [`PublishSummary`].
//! Guarantees: a record goes to partition `partition::shard_of(&record.src, partitions)`, so
//! all of a source's records land in one partition, in the order read; the producer is
//! idempotent (no duplicates, no reordering on retries); `publish` returns only when every
//! message is acknowledged or has failed, and failures are counted, never ignored.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use super::wire::BatchEncoder;
use super::{ensure_topic, KafkaConfig, KafkaError, LogContext};
use crate::decode::{decode, DecodeStats};
use crate::partition::shard_of;
use crate::source::{Input, Next, PacketSource};

/// flowsentry's producer settings for packet records; any can be overridden with `-X`.
pub const RECORD_PRODUCER_DEFAULTS: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("compression.type", "lz4"),
    ("linger.ms", "20"),
    ("batch.size", "1000000"),
    ("message.timeout.ms", "300000"),
];

#[derive(Debug, Clone)]
pub struct PublishConfig {
    pub kafka: KafkaConfig,
    pub topic: String,
    /// Partitions of the topic when it has to be created.
    pub partitions: i32,
    /// Records per message (at most).
    pub batch_records: usize,
}

impl PublishConfig {
    pub fn new(kafka: KafkaConfig, topic: &str) -> Self {
        PublishConfig {
            kafka,
            topic: topic.to_string(),
            partitions: 4,
            batch_records: 1024,
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
    /// Records published (acknowledged or not yet failed).
    pub records: u64,
    pub messages: u64,
    /// Encoded bytes, before compression.
    pub bytes: u64,
    /// Messages that could not be delivered.
    pub undeliverable_messages: u64,
    pub wall_seconds: f64,
    pub records_per_second: f64,
    pub input_errors: Vec<String>,
}

struct PubContext {
    log: LogContext,
    failed: AtomicU64,
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
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = r {
            let n = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 || n.is_power_of_two() {
                tracing::error!(
                    "kafka publish: a record batch was not delivered ({n} so far): {e}"
                );
            }
        }
    }
}

/// Read everything from `source` and publish it. Fails only when the brokers cannot be
/// reached at start; later failures are counted in the summary.
pub fn publish(
    source: &mut dyn PacketSource,
    cfg: &PublishConfig,
) -> Result<PublishSummary, KafkaError> {
    let started = Instant::now();
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
        })
        .map_err(|e| {
            KafkaError::client("producer", super::scrub(&cfg.kafka.props, &e.to_string()))
        })?;
    let mut sum = PublishSummary {
        input: source.describe(),
        topic: cfg.topic.clone(),
        partitions: nparts,
        ..Default::default()
    };
    let n = nparts as usize;
    let mut encs: Vec<BatchEncoder> = (0..n).map(|_| BatchEncoder::new()).collect();
    let max_records = cfg.batch_records.clamp(1, 1 << 20) as u32;
    let send = |enc: &mut BatchEncoder, p: usize, sum: &mut PublishSummary| {
        if enc.is_empty() {
            return;
        }
        let records = enc.len() as u64;
        let payload = enc.finish();
        let mut rec = BaseRecord::<(), [u8]>::to(&cfg.topic)
            .partition(p as i32)
            .payload(payload);
        let mut waiting = None::<Instant>;
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    rec = back;
                    producer.poll(Duration::from_millis(20));
                    let w = waiting.get_or_insert_with(Instant::now);
                    if w.elapsed() > Duration::from_secs(5) {
                        waiting = Some(Instant::now());
                        tracing::warn!(
                            "kafka publish: the producer queue is full; waiting for {}",
                            cfg.kafka.brokers
                        );
                    }
                }
                Err((e, _)) => {
                    tracing::error!("kafka publish: producing a record batch: {e}");
                    producer.context().failed.fetch_add(1, Ordering::Relaxed);
                    enc.clear();
                    return;
                }
            }
        }
        sum.messages += 1;
        sum.records += records;
        sum.bytes += payload.len() as u64;
        enc.clear();
        producer.poll(Duration::ZERO);
    };
    let mut dstats = DecodeStats::default();
    loop {
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
        match next {
            Ok(Next::Item) => {}
            Ok(Next::Idle) => continue,
            Ok(Next::End) => break,
            Err(e) => {
                tracing::warn!("{e}");
                sum.input_errors.push(e.to_string());
                continue;
            }
        }
        sum.packets += 1;
        let Some((r, wire_len)) = rec else { continue };
        let p = shard_of(&r.src, n);
        encs[p].push(&r, wire_len);
        if encs[p].len() >= max_records || encs[p].bytes() >= 256 * 1024 {
            send(&mut encs[p], p, &mut sum);
        }
    }
    for (p, enc) in encs.iter_mut().enumerate() {
        send(enc, p, &mut sum);
    }
    let mut last_warn = Instant::now();
    while producer.in_flight_count() > 0 {
        producer.poll(Duration::from_millis(50));
        if last_warn.elapsed() > Duration::from_secs(5) {
            last_warn = Instant::now();
            tracing::warn!(
                "kafka publish: waiting for {} to acknowledge {} message(s)",
                cfg.kafka.brokers,
                producer.in_flight_count()
            );
        }
    }
    sum.decode = dstats;
    sum.undeliverable_messages = producer.context().failed.load(Ordering::Relaxed);
    sum.wall_seconds = started.elapsed().as_secs_f64();
    sum.records_per_second = sum.records as f64 / sum.wall_seconds.max(1e-9);
    Ok(sum)
}
