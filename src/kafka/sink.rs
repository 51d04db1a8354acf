//! Alerts to a Kafka topic.
//!
//! In: alerts with their JSON text, from the pipeline's merge stage. Out: one Kafka message
//! per alert on the alerts topic: key = the alert's key address as text (e.g. `172.16.0.8`,
//! so one source's alerts share a partition and keep their order), value = the JSON alert.
//! Guarantees:
//! - The producer is idempotent (`enable.idempotence=true`, so `acks=all`, retries without
//!   duplicates or reordering) and compresses (`lz4` unless `-X compression.type=...`).
//! - The topic is created (1 partition) when it does not exist, at start and again when it
//!   has gone missing while alerts wait (a broker restarted without its data).
//! - [`AlertSink::checkpoint`] returns only when every alert written so far is acknowledged
//!   by the broker, so the pipeline lets a Kafka source commit its offsets only then
//!   (at-least-once end to end). [`AlertSink::finish`] does the same before exit.
//! - While the broker is away, alerts wait in a bounded buffer (librdkafka's queue,
//!   `queue.buffering.max.messages`, 100,000 by default, plus a copy here of every alert
//!   not yet acknowledged) and are retried until `message.timeout.ms` (5 minutes by default)
//!   runs out; a warning is logged every few seconds meanwhile. When the buffer is full,
//!   writing waits (back-pressure), it does not drop. Nothing is lost when the broker is
//!   back within that time, even when it comes back without its state (a restarted
//!   in-memory broker forgets the producer id, and librdkafka would retry forever): when
//!   the broker answers but acknowledges nothing for 5 s, the producer is replaced and
//!   every unacknowledged alert sent again (possibly a duplicate, never a loss).
//! - An alert that could not be delivered in that time is counted
//!   ([`KafkaAlertSink::stats`]); the next checkpoint returns an error (so no offset is
//!   committed past it), the optional stop flag is raised so the run ends, and the command
//!   exits non-zero.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, ProducerContext};
use rdkafka::ClientContext;

use super::{ensure_topic, partition_count, KafkaConfig, KafkaError, LogContext};
use crate::alert::Alert;
use crate::sink::{AlertSink, SinkError};

/// flowsentry's producer settings for alerts; any of them can be overridden with `-X`.
pub const ALERT_PRODUCER_DEFAULTS: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("compression.type", "lz4"),
    ("linger.ms", "5"),
    ("message.timeout.ms", "300000"),
    ("queue.buffering.max.messages", "100000"),
    // The sink creates the topic itself (1 partition); a broker creating it too on a
    // metadata request races with that (nisshi 0.6 then loses the topic).
    ("allow.auto.create.topics", "false"),
];

/// No acknowledgement for this long while the broker answers: replace the producer.
const STALL: Duration = Duration::from_secs(5);
/// How often a waiting sink asks the broker whether it is there and has the topic.
const HEALTH_EVERY: Duration = Duration::from_secs(2);

/// Counters of the alerts the sink handled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct AlertSinkStats {
    /// Alerts handed to the sink.
    pub written: u64,
    /// Alerts the broker acknowledged.
    pub delivered: u64,
    /// Alerts that could not be delivered within `message.timeout.ms`.
    pub undeliverable: u64,
    /// Times the producer was replaced and the unacknowledged alerts sent again.
    pub producer_resets: u64,
}

/// What the delivery callbacks report, shared by every producer the sink has had.
#[derive(Default)]
struct Reports {
    acked: Vec<usize>,
    failed: Vec<(usize, String)>,
    /// librdkafka reported a client error (typically: the broker went away).
    trouble: bool,
}

struct SinkContext {
    log: LogContext,
    reports: Arc<Mutex<Reports>>,
}

impl ClientContext for SinkContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        self.log.log(level, fac, msg)
    }
    fn error(&self, error: RdError, reason: &str) {
        self.reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .trouble = true;
        self.log.error(error, reason)
    }
}

impl ProducerContext for SinkContext {
    type DeliveryOpaque = usize;
    fn delivery(&self, r: &DeliveryResult<'_>, seq: usize) {
        let mut rep = self.reports.lock().unwrap_or_else(|e| e.into_inner());
        match r {
            Ok(_) => rep.acked.push(seq),
            // Purged when the sink replaces its producer: it sends the alert again.
            Err((
                RdError::MessageProduction(
                    RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight,
                ),
                _,
            )) => {}
            Err((e, _)) => rep.failed.push((seq, e.to_string())),
        }
    }
}

struct Pending {
    key: String,
    json: String,
    since: Instant,
    /// Deliveries the broker refused so far (each refusal replaces the producer and sends
    /// again, up to [`REFUSALS`], within the delivery bound).
    refused: u8,
}

/// Refusals an alert survives: a broker restarted without its state refuses the old
/// producer's writes once; an error that persists is not worth the whole delivery bound.
const REFUSALS: u8 = 3;

/// Writes alerts to a Kafka topic. See the module documentation for the guarantees.
pub struct KafkaAlertSink {
    cfg: KafkaConfig,
    topic: String,
    producer: BaseProducer<SinkContext>,
    reports: Arc<Mutex<Reports>>,
    /// Alerts not yet acknowledged, by sequence number.
    /// Kept at `unacked.len()` for `/metrics` (`share_backlog`).
    backlog: Arc<AtomicU64>,
    unacked: BTreeMap<usize, Pending>,
    next_seq: usize,
    stats: AlertSinkStats,
    last_error: Option<String>,
    /// The delivery bound (`message.timeout.ms`).
    timeout: Duration,
    last_progress: Instant,
    last_health: Option<Instant>,
    stop: Option<Arc<AtomicBool>>,
    /// Alerts written since the last checkpoint, kept until a checkpoint finds the topic
    /// where it should be (see [`KafkaAlertSink::verify_after_trouble`]).
    recent: Vec<(String, String)>,
    /// A delivery was refused and will be retried: replace the producer first.
    refused: bool,
}

impl KafkaAlertSink {
    /// Connect, create `topic` if missing, and start the producer. `stop` is raised when an
    /// alert turns out undeliverable, so that the pipeline stops reading.
    pub fn new(
        cfg: &KafkaConfig,
        topic: &str,
        stop: Option<Arc<AtomicBool>>,
    ) -> Result<KafkaAlertSink, KafkaError> {
        if topic.is_empty() {
            return Err(KafkaError::Config("the alerts topic name is empty".into()));
        }
        let timeout_ms: u64 = match cfg.prop("message.timeout.ms") {
            None => 300_000,
            Some(v) => v.parse().map_err(|_| {
                KafkaError::Config(format!("message.timeout.ms `{v}` is not a number"))
            })?,
        };
        ensure_topic(cfg, topic, 1, Duration::from_secs(15))?;
        let reports = Arc::new(Mutex::new(Reports::default()));
        let producer = Self::producer(cfg, topic, &reports)?;
        tracing::info!("kafka alerts: producing to {topic} on {}", cfg.describe());
        Ok(KafkaAlertSink {
            cfg: cfg.clone(),
            topic: topic.to_string(),
            producer,
            reports,
            unacked: BTreeMap::new(),
            backlog: Arc::default(),
            next_seq: 0,
            stats: AlertSinkStats::default(),
            last_error: None,
            timeout: Duration::from_millis(timeout_ms.max(1)),
            last_progress: Instant::now(),
            last_health: None,
            stop,
            recent: Vec::new(),
            refused: false,
        })
    }

    fn producer(
        cfg: &KafkaConfig,
        topic: &str,
        reports: &Arc<Mutex<Reports>>,
    ) -> Result<BaseProducer<SinkContext>, KafkaError> {
        let ctx = SinkContext {
            log: LogContext::new(&format!("alerts {topic}"), cfg),
            reports: reports.clone(),
        };
        cfg.client_config(ALERT_PRODUCER_DEFAULTS)
            .create_with_context(ctx)
            .map_err(|e| {
                KafkaError::client("alerts producer", super::scrub(&cfg.props, &e.to_string()))
            })
    }

    pub fn stats(&self) -> AlertSinkStats {
        self.stats
    }

    fn error(&self, msg: String) -> SinkError {
        SinkError {
            sink: self.describe(),
            source: io::Error::other(msg),
        }
    }

    /// Take in the delivery reports.
    fn collect(&mut self) {
        let (acked, failed) = {
            let mut rep = self.reports.lock().unwrap_or_else(|e| e.into_inner());
            (
                std::mem::take(&mut rep.acked),
                std::mem::take(&mut rep.failed),
            )
        };
        for seq in acked {
            if self.unacked.remove(&seq).is_some() {
                self.stats.delivered += 1;
                self.last_progress = Instant::now();
            }
        }
        for (seq, e) in failed {
            let Some(p) = self.unacked.get_mut(&seq) else {
                continue;
            };
            if p.refused < REFUSALS && p.since.elapsed() < self.timeout {
                // Kept: sent again by a fresh producer (`service`).
                p.refused += 1;
                self.refused = true;
                tracing::warn!("kafka alerts: the broker refused an alert ({e}); it is sent again");
                continue;
            }
            self.unacked.remove(&seq);
            self.fail_one(e);
        }
        self.backlog
            .store(self.unacked.len() as u64, Ordering::Relaxed);
    }

    fn fail_one(&mut self, e: String) {
        self.stats.undeliverable += 1;
        tracing::error!(
            "kafka alerts: an alert could not be delivered to {} ({} so far): {e}",
            self.topic,
            self.stats.undeliverable
        );
        self.last_error = Some(e);
    }

    /// Hand one alert to the producer, waiting while its queue is full.
    fn send(&mut self, seq: usize) -> Result<(), SinkError> {
        let mut waited = Instant::now();
        loop {
            let Some(p) = self.unacked.get(&seq) else {
                return Ok(());
            };
            let rec = BaseRecord::with_opaque_to(&self.topic, seq)
                .key(&p.key)
                .payload(&p.json);
            match self.producer.send(rec) {
                Ok(()) => return Ok(()),
                Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    if waited.elapsed() >= Duration::from_secs(5) {
                        waited = Instant::now();
                        tracing::warn!(
                            "kafka alerts: the alert buffer is full ({} waiting for {}); \
                             writing waits",
                            self.unacked.len(),
                            self.cfg.brokers
                        );
                    }
                    self.service();
                }
                Err((e, _)) => return Err(self.error(format!("producing an alert: {e}"))),
            }
        }
    }

    /// Poll the producer, take in its reports, and while alerts wait, look after the broker:
    /// recreate the topic when it is gone, replace a producer the broker no longer knows,
    /// fail alerts older than the delivery bound.
    fn service(&mut self) {
        self.producer.poll(Duration::from_millis(50));
        self.collect();
        if std::mem::take(&mut self.refused) {
            self.reset_producer("the broker refused an alert (restarted without its state?)");
        }
        if self.unacked.is_empty() {
            return;
        }
        let now = Instant::now();
        if self.last_health.is_some_and(|t| now - t < HEALTH_EVERY)
            || now - self.last_progress < HEALTH_EVERY
        {
            return;
        }
        self.last_health = Some(now);
        let expired: Vec<usize> = self
            .unacked
            .iter()
            .filter(|(_, p)| p.since.elapsed() > self.timeout + Duration::from_secs(1))
            .map(|(s, _)| *s)
            .collect();
        for seq in expired {
            self.unacked.remove(&seq);
            self.fail_one(format!("not acknowledged within {:?}", self.timeout));
        }
        match partition_count(&self.cfg, &self.topic, Duration::from_secs(1)) {
            Err(_) => {
                // The broker is away: waiting is all there is to do.
                self.last_progress = Instant::now();
            }
            Ok(None) => match ensure_topic(&self.cfg, &self.topic, 1, Duration::from_secs(5)) {
                Ok(_) => {
                    tracing::warn!("kafka alerts: topic {} was missing; created it", self.topic)
                }
                Err(e) => tracing::warn!("kafka alerts: topic {} is missing: {e}", self.topic),
            },
            Ok(Some(_)) => {
                if self.last_progress.elapsed() >= STALL && !self.unacked.is_empty() {
                    let why = format!(
                        "{} answers but acknowledged nothing for {:.0} s (restarted without \
                         its state?)",
                        self.cfg.brokers,
                        self.last_progress.elapsed().as_secs_f64()
                    );
                    self.reset_producer(&why);
                }
            }
        }
    }

    /// Replace the producer and send every unacknowledged alert again.
    fn reset_producer(&mut self, why: &str) {
        tracing::warn!(
            "kafka alerts: {why}; replacing the producer and sending {} alert(s) again",
            self.unacked.len()
        );
        let fresh = match Self::producer(&self.cfg, &self.topic, &self.reports) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("kafka alerts: {e}");
                return;
            }
        };
        // Dropping purges the old producer's queue (reports of purged alerts are ignored)
        // after taking in any late acknowledgement.
        drop(std::mem::replace(&mut self.producer, fresh));
        self.collect();
        self.stats.producer_resets += 1;
        self.last_progress = Instant::now();
        let seqs: Vec<usize> = self.unacked.keys().copied().collect();
        for seq in seqs {
            if let Err(e) = self.send(seq) {
                tracing::warn!("kafka alerts: {e}");
            }
        }
    }

    /// Wait until every alert written so far is acknowledged or has failed; then fail if any
    /// alert failed.
    fn wait_all(&mut self) -> Result<(), SinkError> {
        let start = Instant::now();
        let mut next_warn = Duration::from_secs(5);
        while !self.unacked.is_empty() {
            self.service();
            let waited = start.elapsed();
            if waited >= next_warn && !self.unacked.is_empty() {
                next_warn += Duration::from_secs(5);
                tracing::warn!(
                    "kafka alerts: {} alert(s) waiting {:.0} s for the broker ({}) to acknowledge \
                     them; kept and retried until message.timeout.ms ({:.0} s)",
                    self.unacked.len(),
                    waited.as_secs_f64(),
                    self.cfg.brokers,
                    self.timeout.as_secs_f64()
                );
            }
        }
        self.check_failed()
    }

    /// After the broker had trouble since the last checkpoint, make sure the topic is still
    /// there before calling the alerts durable: a broker restarted without its data may
    /// acknowledge writes to a topic it no longer lists (nisshi 0.6 in memory does). Then
    /// the topic is created again and the alerts of this checkpoint are sent again. A
    /// checkpoint without alerts has nothing at stake: the check waits for the next one
    /// with alerts (before, every watermark of an outage waited seconds for metadata, and
    /// held up the whole pipeline while no alert was even waiting).
    fn verify_after_trouble(&mut self) -> Result<(), SinkError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if self.recent.is_empty() {
                return Ok(());
            }
            let trouble = std::mem::take(
                &mut self
                    .reports
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .trouble,
            );
            if !trouble {
                self.recent.clear();
                return Ok(());
            }
            match partition_count(&self.cfg, &self.topic, Duration::from_secs(2)) {
                Ok(Some(_)) => {
                    self.recent.clear();
                    return Ok(());
                }
                Ok(None) => {
                    if let Err(e) = ensure_topic(&self.cfg, &self.topic, 1, Duration::from_secs(5))
                    {
                        tracing::warn!("kafka alerts: topic {} is missing: {e}", self.topic);
                    }
                    tracing::warn!(
                        "kafka alerts: topic {} was gone after the broker's trouble; created it \
                         and sending the {} alert(s) of this checkpoint again",
                        self.topic,
                        self.recent.len()
                    );
                    for (key, json) in std::mem::take(&mut self.recent) {
                        let seq = self.next_seq;
                        self.next_seq += 1;
                        self.unacked.insert(
                            seq,
                            Pending {
                                key: key.clone(),
                                json: json.clone(),
                                since: Instant::now(),
                                refused: 0,
                            },
                        );
                        self.recent.push((key, json));
                        self.send(seq)?;
                    }
                    self.wait_all()?;
                }
                Err(e) => {
                    tracing::warn!("kafka alerts: checking topic {}: {e}", self.topic);
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
            if Instant::now() > deadline {
                return Err(self.error(format!(
                    "topic {} could not be checked after the broker's trouble",
                    self.topic
                )));
            }
            // Check again: the topic must be seen in place.
            self.reports
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .trouble = true;
        }
    }

    fn check_failed(&self) -> Result<(), SinkError> {
        if self.stats.undeliverable == 0 {
            return Ok(());
        }
        if let Some(s) = &self.stop {
            s.store(true, Ordering::Relaxed);
        }
        Err(self.error(format!(
            "{} of {} alert(s) could not be delivered (last error: {})",
            self.stats.undeliverable,
            self.stats.written,
            self.last_error.as_deref().unwrap_or("-")
        )))
    }
}

impl AlertSink for KafkaAlertSink {
    fn write(&mut self, alert: &Alert, json: &str) -> Result<(), SinkError> {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.unacked.is_empty() {
            self.last_progress = Instant::now();
        }
        self.unacked.insert(
            seq,
            Pending {
                key: alert.key.to_string(),
                json: json.to_string(),
                since: Instant::now(),
                refused: 0,
            },
        );
        self.stats.written += 1;
        self.recent.push((alert.key.to_string(), json.to_string()));
        self.send(seq)?;
        self.producer.poll(Duration::ZERO);
        self.collect();
        Ok(())
    }

    fn checkpoint(&mut self) -> Result<(), SinkError> {
        self.producer.poll(Duration::ZERO);
        self.collect();
        self.wait_all()?;
        self.verify_after_trouble()
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.wait_all()?;
        self.verify_after_trouble()?;
        tracing::info!(
            "kafka alerts: {} alert(s) delivered to {}",
            self.stats.delivered,
            self.topic
        );
        Ok(())
    }

    fn describe(&self) -> String {
        format!("kafka:{}@{}", self.topic, self.cfg.describe())
    }

    fn share_backlog(&mut self, gauge: Arc<AtomicU64>) {
        gauge.store(self.unacked.len() as u64, Ordering::Relaxed);
        self.backlog = gauge;
    }
}
