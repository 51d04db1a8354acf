//! The librdkafka client contexts of the Kafka source: log routing, rebalance events for
//! the source to apply between polls, dead-letter delivery reports.
//!
//! In: librdkafka's callbacks (on its threads or inside `poll`). Out: log lines through
//! [`LogContext`] (secrets scrubbed), queued [`GroupEvent`]s, a count of dead letters that
//! failed. Guarantees: a callback never panics (a poisoned lock is taken over).

use std::sync::Mutex;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError as RdError;
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::ClientContext;

use super::super::LogContext;

pub(super) enum GroupEvent {
    Assigned(Vec<i32>),
    Revoked(Vec<i32>),
}

pub(super) struct SourceContext {
    pub log: LogContext,
    pub events: Mutex<Vec<GroupEvent>>,
}

impl ClientContext for SourceContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        self.log.log(level, fac, msg)
    }
    fn error(&self, error: RdError, reason: &str) {
        self.log.error(error, reason)
    }
}

fn partitions_of(tpl: &TopicPartitionList) -> Vec<i32> {
    tpl.elements().iter().map(|e| e.partition()).collect()
}

impl ConsumerContext for SourceContext {
    fn post_rebalance(&self, _c: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        let ev = match r {
            Rebalance::Assign(tpl) => GroupEvent::Assigned(partitions_of(tpl)),
            Rebalance::Revoke(tpl) => GroupEvent::Revoked(partitions_of(tpl)),
            Rebalance::Error(e) => {
                self.log.warn_limited(&format!("rebalance: {e}"));
                return;
            }
        };
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ev);
    }
}

pub(super) struct DlqContext {
    pub log: LogContext,
    pub failed: std::sync::atomic::AtomicU64,
}

impl ClientContext for DlqContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        self.log.log(level, fac, msg)
    }
    fn error(&self, error: RdError, reason: &str) {
        self.log.error(error, reason)
    }
}

impl ProducerContext for DlqContext {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = r {
            self.failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!("kafka dead-letter: a malformed record could not be copied: {e}");
        }
    }
}
