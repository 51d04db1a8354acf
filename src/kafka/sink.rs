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
//! - While the broker is away, alerts wait in librdkafka's bounded queue
//!   (`queue.buffering.max.messages`, 100,000 by default) and are retried until
//!   `message.timeout.ms` (5 minutes by default) runs out; a warning is logged every few
//!   seconds meanwhile. When the queue is full, writing waits (back-pressure), it does not
//!   drop. Nothing is lost when the broker is back within that time.
//! - An alert that could not be delivered in that time is counted
//!   ([`KafkaAlertSink::stats`]); the next checkpoint returns an error (so no offset is
//!   committed past it), the optional stop flag is raised so the run ends, and the command
//!   exits non-zero.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
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
];

/// Counters of the alerts the sink handled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct AlertSinkStats {
    /// Alerts handed to the producer.
    pub written: u64,
    /// Alerts the broker acknowledged.
    pub delivered: u64,
    /// Alerts that could not be delivered within `message.timeout.ms`.
    pub undeliverable: u64,
}

struct SinkContext {
    log: LogContext,
    delivered: AtomicU64,
    failed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl ClientContext for SinkContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        self.log.log(level, fac, msg)
    }
    fn error(&self, error: RdError, reason: &str) {
        self.log.error(error, reason)
    }
}

impl ProducerContext for SinkContext {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        match r {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                let n = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
                let msg = e.to_string();
                tracing::error!("kafka alerts: alert undeliverable ({n} so far): {msg}");
                *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(msg);
            }
        }
    }
}

/// Writes alerts to a Kafka topic. See the module documentation for the guarantees.
pub struct KafkaAlertSink {
    cfg: KafkaConfig,
    topic: String,
    producer: BaseProducer<SinkContext>,
    written: u64,
    stop: Option<Arc<AtomicBool>>,
    last_topic_check: Option<Instant>,
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
        ensure_topic(cfg, topic, 1, Duration::from_secs(15))?;
        let ctx = SinkContext {
            log: LogContext::new(&format!("alerts {topic}"), cfg),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            last_error: Mutex::new(None),
        };
        let producer = cfg
            .client_config(ALERT_PRODUCER_DEFAULTS)
            .create_with_context(ctx)
            .map_err(|e| {
                KafkaError::client("alerts producer", super::scrub(&cfg.props, &e.to_string()))
            })?;
        Ok(KafkaAlertSink {
            cfg: cfg.clone(),
            topic: topic.to_string(),
            producer,
            written: 0,
            stop,
            last_topic_check: None,
        })
    }

    pub fn stats(&self) -> AlertSinkStats {
        let c = self.producer.context();
        AlertSinkStats {
            written: self.written,
            delivered: c.delivered.load(Ordering::Relaxed),
            undeliverable: c.failed.load(Ordering::Relaxed),
        }
    }

    fn error(&self, msg: String) -> SinkError {
        SinkError {
            sink: self.describe(),
            source: io::Error::other(msg),
        }
    }

    /// Recreate the topic when it has disappeared (a broker restarted without its data);
    /// checked at most every 5 s while alerts wait.
    fn recreate_topic_if_missing(&mut self) {
        if self
            .last_topic_check
            .is_some_and(|t| t.elapsed() < Duration::from_secs(5))
        {
            return;
        }
        self.last_topic_check = Some(Instant::now());
        if let Ok(None) = partition_count(&self.cfg, &self.topic, Duration::from_secs(2)) {
            match ensure_topic(&self.cfg, &self.topic, 1, Duration::from_secs(5)) {
                Ok(_) => {
                    tracing::warn!("kafka alerts: topic {} was missing; created it", self.topic)
                }
                Err(e) => tracing::warn!("kafka alerts: topic {} is missing: {e}", self.topic),
            }
        }
    }

    /// Wait until every alert written so far is acknowledged or has failed; then fail if any
    /// alert failed.
    fn wait_all(&mut self) -> Result<(), SinkError> {
        let start = Instant::now();
        let mut next_warn = Duration::from_secs(5);
        while self.producer.in_flight_count() > 0 {
            self.producer.poll(Duration::from_millis(50));
            let waited = start.elapsed();
            if waited >= Duration::from_secs(2) {
                self.recreate_topic_if_missing();
            }
            if waited >= next_warn {
                next_warn += Duration::from_secs(5);
                tracing::warn!(
                    "kafka alerts: {} alert(s) waiting {:.0} s for the broker ({}) to acknowledge \
                     them; kept and retried until message.timeout.ms",
                    self.producer.in_flight_count(),
                    waited.as_secs_f64(),
                    self.cfg.brokers
                );
            }
        }
        self.check_failed()
    }

    fn check_failed(&self) -> Result<(), SinkError> {
        let st = self.stats();
        if st.undeliverable == 0 {
            return Ok(());
        }
        if let Some(s) = &self.stop {
            s.store(true, Ordering::Relaxed);
        }
        let last = self
            .producer
            .context()
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default();
        Err(self.error(format!(
            "{} of {} alert(s) could not be delivered (last error: {last})",
            st.undeliverable, st.written
        )))
    }
}

impl AlertSink for KafkaAlertSink {
    fn write(&mut self, alert: &Alert, json: &str) -> Result<(), SinkError> {
        let key = alert.key.to_string();
        let topic = self.topic.clone();
        let mut rec = BaseRecord::to(&topic).key(&key).payload(json);
        let mut waited = Instant::now();
        loop {
            match self.producer.send(rec) {
                Ok(()) => break,
                Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    rec = back;
                    self.producer.poll(Duration::from_millis(50));
                    if waited.elapsed() >= Duration::from_secs(5) {
                        waited = Instant::now();
                        tracing::warn!(
                            "kafka alerts: the alert buffer is full ({} waiting for {}); \
                             writing waits",
                            self.producer.in_flight_count(),
                            self.cfg.brokers
                        );
                        self.recreate_topic_if_missing();
                    }
                }
                Err((e, _)) => return Err(self.error(format!("producing an alert: {e}"))),
            }
        }
        self.written += 1;
        self.producer.poll(Duration::ZERO);
        Ok(())
    }

    fn checkpoint(&mut self) -> Result<(), SinkError> {
        if self.producer.in_flight_count() == 0 {
            return self.check_failed();
        }
        self.producer.poll(Duration::ZERO);
        self.wait_all()
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.wait_all()?;
        let st = self.stats();
        tracing::info!(
            "kafka alerts: {} alert(s) delivered to {}",
            st.delivered,
            self.topic
        );
        Ok(())
    }

    fn describe(&self) -> String {
        format!("kafka:{}@{}", self.topic, self.cfg.describe())
    }
}
