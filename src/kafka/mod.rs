//! Kafka in and out: packet records published by sensors, flows from pmacct and goflow2,
//! alerts out.
//!
//! In: broker addresses and librdkafka properties ([`KafkaConfig`]). Out: the pieces that
//! plug into the rest of flowsentry: [`source::KafkaSource`] (a [`crate::source::PacketSource`]
//! reading flowsentry packet records, pmacct JSON flows or goflow2 flows), [`sink::KafkaAlertSink`] (an
//! [`crate::sink::AlertSink`]), [`publish::publish`] (capture files or a live interface to
//! packet records) and the record format itself ([`wire`]).
//! Guarantees: every property given with `-X` reaches librdkafka as given, but the values of
//! keys that look secret (containing `password`, `secret`, `token` or `key`) never appear in
//! a log line or an error message ([`redact`]). Network traffic goes only to the brokers
//! named.
//!
//! Why librdkafka (the `rdkafka` crate, built from its bundled sources): idempotent
//! producing, consumer groups with cooperative rebalancing, TLS and SASL are all there and
//! proven; flowsentry adds only the at-least-once bookkeeping around it.

pub mod cli;
pub mod format;
pub mod goflow;
pub mod pmacct;
pub mod publish;
pub mod sink;
pub mod source;
pub mod wire;

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{BaseProducer, Producer};

/// Errors of the Kafka parts. Messages never contain secret property values.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("Kafka configuration: {0}")]
    Config(String),
    #[error("Kafka ({what}): {reason}")]
    Client { what: String, reason: String },
}

impl KafkaError {
    pub(crate) fn client(what: impl Into<String>, e: impl std::fmt::Display) -> KafkaError {
        KafkaError::Client {
            what: what.into(),
            reason: e.to_string(),
        }
    }
}

/// A librdkafka client context that sends librdkafka's log lines and errors to `tracing`,
/// scrubbed of secrets, and repeats a warning at most every few seconds (a broker that is
/// away makes librdkafka report every reconnect attempt).
pub struct LogContext {
    name: String,
    props: Vec<(String, String)>,
    last_warn: std::sync::Mutex<Option<std::time::Instant>>,
}

impl LogContext {
    pub fn new(name: &str, cfg: &KafkaConfig) -> LogContext {
        LogContext {
            name: name.to_string(),
            props: cfg.props.clone(),
            last_warn: std::sync::Mutex::new(None),
        }
    }

    /// Log a warning unless one was logged within the last 5 s; returns whether it was.
    pub fn warn_limited(&self, msg: &str) -> bool {
        let mut last = self.last_warn.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(5)) {
            return false;
        }
        *last = Some(std::time::Instant::now());
        tracing::warn!("kafka {}: {}", self.name, scrub(&self.props, msg));
        true
    }
}

impl rdkafka::ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        let msg = scrub(&self.props, msg);
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
            | RDKafkaLogLevel::Warning => {
                self.warn_limited(&format!("librdkafka {fac}: {msg}"));
            }
            _ => tracing::debug!("kafka {}: librdkafka {fac}: {msg}", self.name),
        }
    }
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.warn_limited(&format!("{error}: {reason}"));
    }
}

impl rdkafka::consumer::ConsumerContext for LogContext {}

/// Where the brokers are and how to talk to them.
#[derive(Clone, Default)]
pub struct KafkaConfig {
    /// `host:port[,host:port...]` (librdkafka's `bootstrap.servers`).
    pub brokers: String,
    /// Extra librdkafka properties (`-X key=value`): TLS, SASL, tuning. Applied last, so they
    /// override flowsentry's defaults.
    pub props: Vec<(String, String)>,
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let props: Vec<String> = self
            .props
            .iter()
            .map(|(k, v)| format!("{k}={}", redact(k, v)))
            .collect();
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("props", &props)
            .finish()
    }
}

impl KafkaConfig {
    pub fn new(brokers: &str) -> KafkaConfig {
        KafkaConfig {
            brokers: brokers.to_string(),
            props: Vec::new(),
        }
    }

    /// Add `key=value` (the text of one `-X`).
    pub fn with_prop(mut self, kv: &str) -> Result<KafkaConfig, KafkaError> {
        let (k, v) = parse_prop(kv)?;
        self.props.push((k, v));
        Ok(self)
    }

    /// The value given with `-X` for `key`, if any.
    pub fn prop(&self, key: &str) -> Option<&str> {
        self.props
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A librdkafka configuration: the brokers, `defaults` (flowsentry's choices for this
    /// client), then every `-X` property.
    pub fn client_config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        c.set_log_level(RDKafkaLogLevel::Warning);
        for (k, v) in defaults {
            c.set(*k, *v);
        }
        for (k, v) in &self.props {
            c.set(k, v);
        }
        if self.prop("debug").is_some() {
            // `-X debug=...` asks for librdkafka's debug log (shown with FLOWSENTRY_LOG=debug).
            c.set_log_level(RDKafkaLogLevel::Debug);
        }
        c
    }

    /// Redacted description, e.g. for a summary: `127.0.0.1:9092 (-X security.protocol=ssl ...)`.
    pub fn describe(&self) -> String {
        if self.props.is_empty() {
            return self.brokers.clone();
        }
        let props: Vec<String> = self
            .props
            .iter()
            .map(|(k, v)| format!("{k}={}", redact(k, v)))
            .collect();
        format!("{} ({})", self.brokers, props.join(" "))
    }
}

/// Split `key=value`; the key must be non-empty.
pub fn parse_prop(kv: &str) -> Result<(String, String), KafkaError> {
    match kv.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(KafkaError::Config(format!(
            "`-X {}`: expected key=value (a librdkafka property)",
            // the text may be a bare secret: show only the key part, if any
            kv.split_once('=').map_or("…", |(k, _)| k)
        ))),
    }
}

/// Whether a property's value must not be shown.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "secret", "token", "key"]
        .iter()
        .any(|w| k.contains(w))
}

/// The value to show for property `key`: `value`, or `[redacted]` for secrets.
pub fn redact<'a>(key: &str, value: &'a str) -> &'a str {
    if is_secret_key(key) {
        "[redacted]"
    } else {
        value
    }
}

/// Remove every secret value of `cfg` from `text` (for librdkafka's own messages, which may
/// quote a configuration value).
pub fn scrub(cfg_props: &[(String, String)], text: &str) -> String {
    let mut t = text.to_string();
    for (k, v) in cfg_props {
        if is_secret_key(k) && !v.is_empty() {
            t = t.replace(v.as_str(), "[redacted]");
        }
    }
    t
}

/// Create `topic` with `partitions` partitions unless it exists (replication factor 1 unless
/// the broker's default applies). Returns the partition count the topic has.
pub fn ensure_topic(
    cfg: &KafkaConfig,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> Result<i32, KafkaError> {
    if let Some(n) = partition_count(cfg, topic, timeout)? {
        return Ok(n);
    }
    let admin: AdminClient<DefaultClientContext> = cfg
        .client_config(&[])
        .create()
        .map_err(|e| KafkaError::client("admin client", scrub(&cfg.props, &e.to_string())))?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(timeout));
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let res = futures_executor::block_on(admin.create_topics([&new], &opts))
            .map_err(|e| KafkaError::client(format!("creating topic {topic}"), e))?;
        for r in res {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((t, code)) => {
                    return Err(KafkaError::client(format!("creating topic {t}"), code));
                }
            }
        }
        // The topic shows in the metadata a moment after creation. (A broker under
        // concurrent metadata requests may also drop a creation: nisshi 0.6 in memory does;
        // asking again is harmless.)
        let again = std::time::Instant::now() + Duration::from_secs(2);
        while std::time::Instant::now() < again.min(deadline) {
            if let Some(n) = partition_count(cfg, topic, timeout)? {
                return Ok(n);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if std::time::Instant::now() >= deadline {
            return Err(KafkaError::client(
                format!("creating topic {topic}"),
                "created, but not visible in the metadata",
            ));
        }
        tracing::debug!("kafka: topic {topic} not visible yet; creating it again");
    }
}

/// The partition count of `topic`, or `None` when it does not exist.
pub fn partition_count(
    cfg: &KafkaConfig,
    topic: &str,
    timeout: Duration,
) -> Result<Option<i32>, KafkaError> {
    // A producer never auto-creates topics on a metadata request for one topic only when
    // told so; ask for all topics to stay out of auto-creation entirely.
    let p: BaseProducer = cfg
        .client_config(&[("allow.auto.create.topics", "false")])
        .create()
        .map_err(|e| KafkaError::client("metadata client", scrub(&cfg.props, &e.to_string())))?;
    let md = p
        .client()
        .fetch_metadata(None, timeout)
        .map_err(|e| KafkaError::client(format!("metadata from {}", cfg.brokers), e))?;
    Ok(md
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().len() as i32)
        .filter(|n| *n > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn props_parse_and_redact() {
        let c = KafkaConfig::new("127.0.0.1:9092")
            .with_prop("security.protocol=SASL_SSL")
            .unwrap()
            .with_prop("sasl.password=hunter2=x")
            .unwrap()
            .with_prop("ssl.key.location=/k.pem")
            .unwrap();
        assert_eq!(c.prop("sasl.password"), Some("hunter2=x"));
        let d = c.describe();
        assert!(d.contains("security.protocol=SASL_SSL"), "{d}");
        assert!(!d.contains("hunter2"), "{d}");
        assert!(!d.contains("/k.pem"), "{d}");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(
            scrub(&c.props, "failed: bad password hunter2=x"),
            "failed: bad password [redacted]"
        );
        for k in [
            "sasl.oauthbearer.token",
            "ssl.key.password",
            "API_SECRET",
            "ssl_key",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        assert!(!is_secret_key("compression.type"));
        let e = KafkaConfig::new("x").with_prop("hunter2").err().unwrap();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
