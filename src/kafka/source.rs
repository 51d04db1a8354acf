//! Consume packet records (or flows: pmacct, goflow2) from a Kafka topic as a [`PacketSource`].
//!
//! In: a topic written by `flowsentry publish` ([`super::wire`]), by pmacct's kafka plugin
//! ([`super::pmacct`]) or by goflow2 ([`super::goflow`]), read as a member of a consumer group. Out: [`Input::Record`]s, an
//! event-time watermark ([`PacketSource::watermark_ns`]), offset commits.
//! Guarantees:
//! - **Event time, one watermark per partition.** Records are handed out merged across the
//!   partitions in capture-time order (each partition is in capture order, the publisher
//!   keeps it), so the shards see the records as a replay of the capture would. A
//!   partition's frontier is the capture time of its next record (or of its last one, when
//!   nothing is buffered); the source's watermark is the oldest frontier among the
//!   partitions that are still active, so a partition that is behind holds the watermark
//!   and none of its records turns late. A partition with no record yet holds it too, and
//!   holds the merge: nothing is handed out until it delivers. A partition that has reached
//!   its end and stayed there for `idle_timeout` (or, with `stop_at_end`, has reached its
//!   stop offset) is idle and holds nothing back; when every partition is idle the
//!   watermark is the newest frontier. The pipeline subtracts `--lateness` from it.
//! - **Bounded memory.** A partition with more than `partition_buffer` records buffered is
//!   paused (librdkafka stops fetching it) until half of them are handed out, so partitions
//!   that run ahead of one that holds the merge wait in librdkafka's bounded queues, not in
//!   ours; a partition that delivers nothing for long is named in a warning every 10 s.
//! - **At-least-once.** Offsets are never committed automatically. [`PacketSource::delivered`]
//!   (called when every window up to a batch is evaluated and its alerts confirmed by all
//!   sinks) commits, per partition, the offset of the first message that still has a record
//!   some open window may need (a record of batch `b` is needed until batch `b + w` closes,
//!   `w` being the longest window in batches). After a crash or a rebalance the new owner
//!   re-reads from there: alerts may repeat (with the same ids), none is lost.
//! - **Clock skew per partition.** A record dated more than `max_skew_ns` after its
//!   partition's newest is held until [`crate::window::skew::CONFIRM`] records in a row show the
//!   partition moved on, and dropped as skewed (counted, logged, a loss in the exit status)
//!   when the partition's next record is back within its time or the partition ends: one
//!   bad clock cannot move the watermark ahead and make every later record late.
//! - **Bad records are skipped and counted** ([`SourceStats::malformed`]: a packet batch
//!   counts once, a flow message once per bad flow in it) and, with a dead-letter topic,
//!   copied there with headers `flowsentry-error` (the reason) and `flowsentry-origin`
//!   (`topic/partition/offset`). Nothing panics on any input.
//! - **`stop_at_end`**: each partition is read up to its end offset as of the first fetch
//!   from it (right after start, or when a rebalance hands it over), or until it reports its
//!   end; then the source ends (after its share, when several processes of one group split
//!   the partitions). The end offset comes from the fetch response's high watermark, not
//!   from a ListOffsets request: some Kafka-compatible brokers (nisshi 0.6) answer that one
//!   with the start of the last record batch instead of the end of the log.
//!
//! Consumer defaults (each can be overridden with `-X`): `enable.auto.commit=false`,
//! `auto.offset.reset=earliest`, `partition.assignment.strategy=cooperative-sticky` (so a
//! rebalance moves only the partitions that change owner), `session.timeout.ms=6000`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

pub use super::format::Format;
use super::{ensure_topic, partition_count, KafkaConfig, KafkaError, LogContext};
use crate::record::Record;
use crate::source::{Input, Next, PacketSource, SourceError, SourceStats};

mod context;
mod merge;
mod part;

use context::{DlqContext, GroupEvent, SourceContext};
use part::Part;

/// flowsentry's consumer settings; any of them can be overridden with `-X`.
pub const CONSUMER_DEFAULTS: &[(&str, &str)] = &[
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    ("auto.offset.reset", "earliest"),
    ("enable.partition.eof", "true"),
    ("partition.assignment.strategy", "cooperative-sticky"),
    ("session.timeout.ms", "6000"),
];

#[derive(Debug, Clone)]
pub struct KafkaSourceConfig {
    pub kafka: KafkaConfig,
    pub topic: String,
    pub group: String,
    pub format: Format,
    /// Read up to the end offsets seen at start, then end.
    pub stop_at_end: bool,
    /// Copy malformed messages to this topic (created if missing).
    pub dead_letter: Option<String>,
    /// The pipeline's micro-batch interval.
    pub batch_ns: u64,
    /// The rules' longest window: how long a record stays needed after its batch.
    pub horizon_ns: u64,
    /// A partition at its end for this long no longer holds the watermark back.
    pub idle_timeout: Duration,
    /// How long one poll waits for a message before the source reports `Idle`.
    pub poll_timeout: Duration,
    /// Records a partition may have buffered before it is paused (its fetching stops until
    /// half of them are handed out): what bounds the memory of a partition that runs ahead.
    pub partition_buffer: usize,
    /// A record dated more than this after its partition's newest is held until the
    /// partition follows it, and dropped as skewed if it does not (`--max-clock-skew`;
    /// 0: no check).
    pub max_skew_ns: u64,
}

impl KafkaSourceConfig {
    pub fn new(kafka: KafkaConfig, topic: &str, group: &str) -> Self {
        KafkaSourceConfig {
            kafka,
            topic: topic.to_string(),
            group: group.to_string(),
            format: Format::Packets,
            stop_at_end: false,
            dead_letter: None,
            batch_ns: 1_000_000_000,
            horizon_ns: 0,
            idle_timeout: Duration::from_secs(2),
            poll_timeout: Duration::from_millis(100),
            partition_buffer: DEFAULT_PARTITION_BUFFER,
            max_skew_ns: crate::window::skew::DEFAULT_MAX_SKEW_NS,
        }
    }
}

/// Counters beyond [`SourceStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct KafkaSourceStats {
    pub messages: u64,
    pub records: u64,
    pub malformed: u64,
    pub dead_lettered: u64,
    pub dead_letter_failed: u64,
    /// Records dropped as clock skew (far ahead of their partition, not followed).
    pub skewed: u64,
    pub commits: u64,
    /// Times a partition that ran ahead was paused.
    pub pauses: u64,
    /// Seconds from the first message to the end (`stop_at_end`), for throughput figures
    /// that leave out joining the group.
    pub read_seconds: f64,
}

/// Records a partition may buffer before it is paused (~64 MiB of records; lower values
/// pause more often, and each resume waits for a fetch: 2^18 halved the consume rate here).
pub const DEFAULT_PARTITION_BUFFER: usize = 1 << 20;

/// How often the source says that the merge still waits for a partition.
const WAIT_WARN_EVERY: Duration = Duration::from_secs(10);

/// A partition's emptied record buffer above this capacity is shrunk.
const SHRINK_ABOVE: usize = 1 << 16;

/// A Kafka topic as a packet source. See the module documentation.
pub struct KafkaSource {
    cfg: KafkaSourceConfig,
    consumer: BaseConsumer<SourceContext>,
    dlq: Option<BaseProducer<DlqContext>>,
    horizon_b: u64,
    parts: BTreeMap<i32, Part>,
    /// `stop_at_end`: the end offset of each partition, from its first fetch.
    stop: HashMap<i32, i64>,
    assigned_once: bool,
    /// Scratch space for decoding one message.
    scratch: Vec<(Record, u32)>,
    /// The partition of the next record, chosen after the last one was handed out.
    peeked: Option<i32>,
    /// The partition handing out records, and the capture time up to which it may go on
    /// (the oldest next record of the others).
    run: Option<(i32, u64)>,
    watermark: Option<u64>,
    stats: KafkaSourceStats,
    ended: bool,
    last_dlq_warn: Option<Instant>,
    first_message_at: Option<Instant>,
    /// Since when the merge has waited for a partition with nothing buffered, and when that
    /// was last said.
    waiting_since: Option<Instant>,
    waited_warned: Option<Instant>,
    subscribed_at: Instant,
}

impl KafkaSource {
    /// Join the group and subscribe. With `stop_at_end`, first read every partition's end
    /// offset. Fails when the brokers cannot be reached or the topic does not exist.
    pub fn new(cfg: KafkaSourceConfig) -> Result<KafkaSource, KafkaError> {
        if cfg.batch_ns == 0 {
            return Err(KafkaError::Config("batch interval must be positive".into()));
        }
        let timeout = Duration::from_secs(15);
        let Some(nparts) = partition_count(&cfg.kafka, &cfg.topic, timeout)? else {
            return Err(KafkaError::Config(format!(
                "topic `{}` does not exist on {}",
                cfg.topic, cfg.kafka.brokers
            )));
        };
        let ctx = SourceContext {
            log: LogContext::new(&format!("consumer {}", cfg.topic), &cfg.kafka),
            events: Mutex::new(Vec::new()),
        };
        let mut cc = cfg.kafka.client_config(CONSUMER_DEFAULTS);
        cc.set("group.id", &cfg.group);
        for (k, v) in &cfg.kafka.props {
            cc.set(k, v); // -X wins over the defaults and the group
        }
        // The offsets are ours to commit, whatever -X says.
        cc.set("enable.auto.commit", "false");
        cc.set("enable.auto.offset.store", "false");
        cc.set("enable.partition.eof", "true");
        let consumer: BaseConsumer<SourceContext> = cc.create_with_context(ctx).map_err(|e| {
            KafkaError::client("consumer", super::scrub(&cfg.kafka.props, &e.to_string()))
        })?;
        if nparts == 0 {
            return Err(KafkaError::Config(format!(
                "topic `{}` has no partitions",
                cfg.topic
            )));
        }
        let stop = HashMap::new();
        let dlq = match &cfg.dead_letter {
            None => None,
            Some(t) => {
                ensure_topic(&cfg.kafka, t, 1, timeout)?;
                let ctx = DlqContext {
                    log: LogContext::new(&format!("dead-letter {t}"), &cfg.kafka),
                    failed: Default::default(),
                };
                let p: BaseProducer<DlqContext> = cfg
                    .kafka
                    .client_config(&[("enable.idempotence", "true"), ("linger.ms", "5")])
                    .create_with_context(ctx)
                    .map_err(|e| {
                        KafkaError::client(
                            "dead-letter producer",
                            super::scrub(&cfg.kafka.props, &e.to_string()),
                        )
                    })?;
                Some(p)
            }
        };
        consumer
            .subscribe(&[&cfg.topic])
            .map_err(|e| KafkaError::client(format!("subscribing to {}", cfg.topic), e))?;
        let horizon_b = cfg.horizon_ns.div_ceil(cfg.batch_ns);
        Ok(KafkaSource {
            cfg,
            consumer,
            dlq,
            horizon_b,
            parts: BTreeMap::new(),
            stop,
            assigned_once: false,
            scratch: Vec::with_capacity(4096),
            peeked: None,
            run: None,
            watermark: None,
            stats: KafkaSourceStats::default(),
            ended: false,
            last_dlq_warn: None,
            first_message_at: None,
            waiting_since: None,
            waited_warned: None,
            subscribed_at: Instant::now(),
        })
    }

    pub fn kafka_stats(&self) -> KafkaSourceStats {
        let mut s = self.stats;
        if let Some(d) = &self.dlq {
            s.dead_letter_failed = d
                .context()
                .failed
                .load(std::sync::atomic::Ordering::Relaxed);
        }
        s
    }

    /// The partitions this member holds now.
    pub fn assigned(&self) -> Vec<i32> {
        self.parts.keys().copied().collect()
    }

    fn apply_group_events(&mut self) {
        let events = std::mem::take(
            &mut *self
                .consumer
                .context()
                .events
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        if !events.is_empty() {
            self.peeked = None;
            self.run = None;
        }
        for ev in events {
            match ev {
                GroupEvent::Assigned(ps) => {
                    self.assigned_once = true;
                    tracing::info!("kafka {}: assigned partitions {ps:?}", self.cfg.topic);
                    let mut tpl = TopicPartitionList::new();
                    for p in ps {
                        self.parts.entry(p).or_default();
                        tpl.add_partition(&self.cfg.topic, p);
                    }
                    // Not paused, whatever an earlier owner of this process did to it.
                    if let Err(e) = self.consumer.resume(&tpl) {
                        self.consumer
                            .context()
                            .log
                            .warn_limited(&format!("resume assigned partitions: {e}"));
                    }
                }
                GroupEvent::Revoked(ps) => {
                    tracing::info!("kafka {}: revoked partitions {ps:?}", self.cfg.topic);
                    for p in ps {
                        // Its new owner reads its buffered records again from the committed
                        // offset.
                        self.parts.remove(&p);
                    }
                }
            }
        }
    }

    fn all_done(&self) -> bool {
        self.cfg.stop_at_end
            && self.assigned_once
            && self.parts.values().all(|p| p.done && p.buf.is_empty())
    }

    /// The high watermark of `p` from the last fetch response (no request is sent).
    fn cached_high_watermark(&self, p: i32) -> Option<i64> {
        let topic = std::ffi::CString::new(self.cfg.topic.as_str()).ok()?;
        let (mut low, mut high) = (-1i64, -1i64);
        // SAFETY: a valid client handle, a NUL-terminated topic name, two out-pointers to
        // locals; librdkafka only reads its cached values.
        let err = unsafe {
            rdkafka::bindings::rd_kafka_get_watermark_offsets(
                self.consumer.client().native_ptr(),
                topic.as_ptr(),
                p,
                &mut low,
                &mut high,
            )
        };
        (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
            .then_some(high)
    }

    /// `stop_at_end`: the stop offset of `p`, fixed at its first fetch.
    fn stop_offset(&mut self, p: i32) -> Option<i64> {
        if let Some(s) = self.stop.get(&p) {
            return Some(*s);
        }
        let high = self.cached_high_watermark(p)?;
        self.stop.insert(p, high);
        tracing::debug!("kafka {}/{p}: reading up to offset {high}", self.cfg.topic);
        Some(high)
    }

    fn mark_done(&mut self, p: i32) {
        let mut skewed = 0;
        if let Some(part) = self.parts.get_mut(&p) {
            // Records still held far ahead at the end never saw the partition follow them.
            skewed = part.drop_held();
            if !part.done {
                part.done = true;
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition(&self.cfg.topic, p);
                let _ = self.consumer.pause(&tpl);
            }
        }
        self.count_skewed(p, skewed);
    }

    fn dead_letter(&mut self, key: Option<&[u8]>, value: &[u8], origin: &str, reason: &str) {
        let Some(dlq) = &self.dlq else { return };
        let Some(topic) = &self.cfg.dead_letter else {
            return;
        };
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "flowsentry-error",
                value: Some(reason),
            })
            .insert(Header {
                key: "flowsentry-origin",
                value: Some(origin),
            });
        let mut rec = BaseRecord::to(topic).payload(value).headers(headers);
        if let Some(k) = key {
            rec = rec.key(k);
        }
        loop {
            match dlq.send(rec) {
                Ok(()) => {
                    self.stats.dead_lettered += 1;
                    break;
                }
                Err((
                    RdError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    r,
                )) => {
                    rec = r;
                    dlq.poll(Duration::from_millis(50));
                }
                Err((e, _)) => {
                    if self
                        .last_dlq_warn
                        .is_none_or(|t| t.elapsed() > Duration::from_secs(5))
                    {
                        self.last_dlq_warn = Some(Instant::now());
                        tracing::warn!("kafka dead-letter {topic}: {e}");
                    }
                    break;
                }
            }
        }
        dlq.poll(Duration::ZERO);
    }

    /// Take one message: decode it and buffer its records in its partition.
    fn take_message(&mut self, p: i32, off: i64, key: Option<&[u8]>, value: Option<&[u8]>) {
        self.stats.messages += 1;
        self.run = None;
        self.peeked = None;
        if self.first_message_at.is_none() {
            self.first_message_at = Some(Instant::now());
            tracing::info!(
                "kafka {}: first message {:.3} s after subscribing (joining the group)",
                self.cfg.topic,
                self.subscribed_at.elapsed().as_secs_f64()
            );
        }
        let value = value.unwrap_or(&[]);
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let reason = self
            .cfg
            .format
            .decode(value, self.cfg.batch_ns, &mut scratch)
            .map(|bad| {
                self.stats.malformed += bad.count;
                bad.first
            });
        if let Some(r) = &reason {
            let o = format!("{}/{p}/{off}", self.cfg.topic);
            tracing::debug!("kafka {o}: skipped: {r}");
            self.dead_letter(key, value, &o, r);
        }
        self.stats.records += scratch.len() as u64;
        let part = self.parts.entry(p).or_default();
        part.eof_at = None;
        part.msgs.push_back((off, scratch.len()));
        let mut skewed = 0;
        for rec in scratch.drain(..) {
            skewed += part.admit(rec, off, self.cfg.max_skew_ns);
        }
        part.settle();
        let pause = !part.paused && part.buf.len() > self.cfg.partition_buffer;
        self.scratch = scratch;
        if pause {
            self.set_paused(p, true);
        }
        self.count_skewed(p, skewed);
    }

    /// Count records of partition `p` dropped as skewed, and say so at each power of ten.
    fn count_skewed(&mut self, p: i32, n: u64) {
        if n == 0 {
            return;
        }
        let before = self.stats.skewed;
        self.stats.skewed += n;
        if crate::summary::new_decade(before, self.stats.skewed) {
            tracing::warn!(
                "kafka {}/{p}: {} records dropped so far as clock skew: dated more than \
                 --max-clock-skew after their partition's newest record, and the records \
                 after them were not",
                self.cfg.topic,
                self.stats.skewed
            );
        }
    }

    /// Pause (or resume) fetching partition `p`; records already fetched still arrive.
    pub(super) fn set_paused(&mut self, p: i32, paused: bool) {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.cfg.topic, p);
        let r = if paused {
            self.consumer.pause(&tpl)
        } else {
            self.consumer.resume(&tpl)
        };
        match r {
            Ok(()) => {
                if let Some(part) = self.parts.get_mut(&p) {
                    part.paused = paused;
                }
                if paused {
                    self.stats.pauses += 1;
                }
            }
            Err(e) => {
                let what = if paused { "pause" } else { "resume" };
                self.consumer
                    .context()
                    .log
                    .warn_limited(&format!("{what} partition {p}: {e}"));
            }
        }
    }

    fn flush_dead_letters(&mut self) {
        if let Some(d) = &self.dlq {
            if let Err(e) = d.flush(Duration::from_secs(30)) {
                tracing::warn!("kafka dead-letter: flushing: {e}");
            }
        }
    }
}

impl PacketSource for KafkaSource {
    fn next_with(&mut self, f: &mut dyn FnMut(&Input<'_>)) -> Result<Next, SourceError> {
        loop {
            self.apply_group_events();
            if let Some(p) = self.peeked.take().or_else(|| self.pick()) {
                let (record, wire_len) = self.take_record(p);
                // Choose the next record now: the watermark the pipeline reads before asking
                // for it is then the next record's time, as in a replay, so that record is
                // applied at once rather than waiting in a shard behind later ones.
                self.peeked = self.pick();
                f(&Input::Record { record, wire_len });
                return Ok(Next::Item);
            }
            if self.all_done() {
                self.ended = true;
                if let Some(t) = self.first_message_at {
                    self.stats.read_seconds = t.elapsed().as_secs_f64();
                }
                let s = &self.stats;
                tracing::info!(
                    "kafka {}: read {} records in {} messages in {:.3} s from the first message \
                     ({:.0} records/s); {} malformed; {} pauses of partitions that ran ahead",
                    self.cfg.topic,
                    s.records,
                    s.messages,
                    s.read_seconds,
                    s.records as f64 / s.read_seconds.max(1e-9),
                    s.malformed,
                    s.pauses
                );
                return Ok(Next::End);
            }
            let (p, off, key, value) = match self.consumer.poll(self.cfg.poll_timeout) {
                None => return Ok(Next::Idle),
                Some(Err(RdError::PartitionEOF(p))) => {
                    if let Some(part) = self.parts.get_mut(&p) {
                        part.eof_at.get_or_insert_with(Instant::now);
                    }
                    if self.cfg.stop_at_end {
                        self.mark_done(p);
                    }
                    continue;
                }
                Some(Err(e)) => {
                    self.consumer.context().log.warn_limited(&e.to_string());
                    return Ok(Next::Idle);
                }
                Some(Ok(m)) => (
                    m.partition(),
                    m.offset(),
                    m.key().map(<[u8]>::to_vec),
                    m.payload().map(<[u8]>::to_vec),
                ),
            };
            if self.cfg.stop_at_end {
                // Fixed by the fetch that brought this message, so never below it.
                let stop = self.stop_offset(p).unwrap_or(i64::MAX);
                if off >= stop {
                    self.mark_done(p);
                    continue;
                }
            }
            self.take_message(p, off, key.as_deref(), value.as_deref());
            if self.cfg.stop_at_end && self.stop.get(&p).is_some_and(|s| off + 1 >= *s) {
                // Its records are still buffered: a done partition leaves the merge and the
                // watermark only once they are handed out.
                self.mark_done(p);
            }
        }
    }

    fn describe(&self) -> String {
        format!(
            "kafka:{}@{} group {} ({})",
            self.cfg.topic,
            self.cfg.kafka.describe(),
            self.cfg.group,
            self.cfg.format.name()
        )
    }

    fn stats(&mut self) -> SourceStats {
        SourceStats {
            malformed: self.stats.malformed,
            skewed: self.stats.skewed,
            unread: self
                .parts
                .values()
                .map(|p| (p.buf.len() + p.held.len()) as u64)
                .sum(),
            ..Default::default()
        }
    }

    fn watermark_ns(&mut self) -> Option<u64> {
        self.watermark
    }

    fn rules_changed(&mut self, horizon_ns: u64) {
        // Longer windows hold records back longer; shorter ones never release offsets
        // earlier than what was promised to the windows already open.
        let b = horizon_ns.div_ceil(self.cfg.batch_ns);
        self.horizon_b = self.horizon_b.max(b);
    }

    fn delivered(&mut self, closed_batch: u64) {
        let safe = closed_batch.saturating_sub(self.horizon_b);
        let mut tpl = TopicPartitionList::new();
        for (p, part) in self.parts.iter_mut() {
            while part.marks.front().is_some_and(|m| m.0 < safe) {
                part.marks.pop_front();
            }
            // Marks hold handed-out records only; `next_offset` never passes a message
            // with records still buffered.
            let off = match part.marks.front() {
                Some(m) => m.1,
                None => part.next_offset,
            };
            if off > part.committed
                && tpl
                    .add_partition_offset(&self.cfg.topic, *p, Offset::Offset(off))
                    .is_ok()
            {
                part.committed = off;
            }
        }
        if tpl.count() == 0 {
            return;
        }
        // Dead letters first: a skipped record is committed only once it is copied.
        self.flush_dead_letters();
        let mode = if self.ended {
            CommitMode::Sync
        } else {
            CommitMode::Async
        };
        match self.consumer.commit(&tpl, mode) {
            Ok(()) => self.stats.commits += 1,
            Err(e) => {
                self.consumer
                    .context()
                    .log
                    .warn_limited(&format!("committing offsets: {e}"));
            }
        }
    }
}

impl Drop for KafkaSource {
    fn drop(&mut self) {
        self.flush_dead_letters();
        // The last commit may still be in flight (asynchronous): make it once more, waiting,
        // before the consumer leaves the group.
        let mut tpl = TopicPartitionList::new();
        for (p, part) in &self.parts {
            if part.committed >= 0 {
                let _ =
                    tpl.add_partition_offset(&self.cfg.topic, *p, Offset::Offset(part.committed));
            }
        }
        if tpl.count() > 0 {
            if let Err(e) = self.consumer.commit(&tpl, CommitMode::Sync) {
                tracing::warn!("kafka {}: final commit: {e}", self.cfg.topic);
            }
        }
    }
}
