//! Command-line options shared by the commands that talk to Kafka (`replay`, `live`,
//! `consume`, `publish`), and their checked form.
//!
//! In: raw flags. Out: a [`KafkaConfig`] and, when asked for, a [`KafkaAlertSink`].
//! Guarantees: a `-X` without `=` is rejected before anything connects; secrets given with
//! `-X` are never echoed (see [`super::redact`]).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::sink::KafkaAlertSink;
use super::{KafkaConfig, KafkaError};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct KafkaArgs {
    /// Also write every alert to this Kafka topic (created if missing): key = the alert's
    /// key address, value = the JSON alert; idempotent producer, acks=all, lz4. The run
    /// fails (exit status 2) if an alert cannot be delivered within message.timeout.ms.
    #[arg(long, value_name = "TOPIC")]
    pub alerts_kafka: Option<String>,
    /// Kafka bootstrap brokers, host:port[,host:port...].
    #[arg(long, value_name = "LIST")]
    pub brokers: Option<String>,
    /// A librdkafka property for every Kafka client (repeatable), e.g.
    /// -X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-256 -X sasl.username=u
    /// -X sasl.password=... Values of keys containing password, secret, token or key are
    /// never shown in logs or errors.
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    pub props: Vec<String>,
}

impl KafkaArgs {
    /// The checked configuration; `None` when no `--brokers` was given.
    pub fn config(&self) -> Result<Option<KafkaConfig>, KafkaError> {
        let Some(b) = &self.brokers else {
            if !self.props.is_empty() {
                return Err(KafkaError::Config("-X needs --brokers".into()));
            }
            return Ok(None);
        };
        let mut c = KafkaConfig::new(b);
        for kv in &self.props {
            c = c.with_prop(kv)?;
        }
        Ok(Some(c))
    }

    /// The configuration, which this command cannot do without.
    pub fn require(&self, what: &str) -> Result<KafkaConfig, KafkaError> {
        self.config()?
            .ok_or_else(|| KafkaError::Config(format!("{what} needs --brokers HOST:PORT")))
    }

    /// The Kafka alert sink when `--alerts-kafka` was given. `stop` is raised if an alert
    /// turns out undeliverable (so a consumer that would otherwise run on stops).
    pub fn alert_sink(
        &self,
        stop: Option<Arc<AtomicBool>>,
    ) -> Result<Option<KafkaAlertSink>, KafkaError> {
        let Some(topic) = &self.alerts_kafka else {
            if self.brokers.is_some() {
                tracing::debug!("--brokers without --alerts-kafka: alerts are not sent to Kafka");
            }
            return Ok(None);
        };
        let cfg = self.require("--alerts-kafka")?;
        KafkaAlertSink::new(&cfg, topic, stop).map(Some)
    }
}
