//! Flow datagrams as a source: NetFlow v5/v9, IPFIX and sFlow v5 from exporters, handed to
//! the pipeline as weighted records.
//!
//! In: datagrams (sender address, arrival time, bytes) from a bounded channel, filled by the
//! UDP receiver (`pipeline::datagrams`). Out: `Input::Record`s, one per weighted record of
//! each flow (`flow::weighted`), the flows of one datagram in time order; sFlow's sampled
//! packets one record each, weighted by their rate (`sflow`). Guarantees: a malformed
//! datagram is counted (`malformed`, logged at each power of ten) and skipped; datagrams the
//! receiver could not queue are counted as `datagram_drops`, those the kernel dropped from
//! a full socket buffer as `kernel_drops` (both losses: exit status 3); the source ends when the
//! receiver stops (SIGINT / SIGTERM) and its channel is drained.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::{Input, Next, PacketSource, SourceError, SourceStats};
use crate::flow::Flow;
use crate::netflow::{Collector, NetflowStats};
use crate::record::Record;

/// One UDP datagram as received.
pub struct Datagram {
    pub from: SocketAddr,
    /// When it arrived (ns since the Unix epoch): the time of sFlow's samples.
    pub at_ns: u64,
    pub data: Vec<u8>,
}

pub struct FlowSource {
    rx: Receiver<Datagram>,
    collector: Collector,
    batch_ns: u64,
    flows: Vec<Flow>,
    pending: VecDeque<(Record, u32)>,
    /// Datagrams the receiver dropped (its queue was full), and those the kernel dropped
    /// (a socket buffer was full), shared with it.
    dropped: Arc<AtomicU64>,
    kernel_dropped: Arc<AtomicU64>,
    listen: Vec<String>,
}

impl FlowSource {
    pub fn new(
        rx: Receiver<Datagram>,
        (dropped, kernel_dropped): (Arc<AtomicU64>, Arc<AtomicU64>),
        listen: Vec<String>,
        fallback_rate: u64,
        batch_ns: u64,
    ) -> FlowSource {
        FlowSource {
            rx,
            collector: Collector::new(fallback_rate),
            batch_ns,
            flows: Vec::new(),
            pending: VecDeque::new(),
            dropped,
            kernel_dropped,
            listen,
        }
    }

    pub fn netflow_stats(&self) -> NetflowStats {
        self.collector.stats
    }

    pub fn sflow_stats(&self) -> crate::sflow::SflowStats {
        self.collector.sflow
    }

    /// Sampling rates learned per exporter.
    pub fn rates(&self) -> Vec<(std::net::IpAddr, u64)> {
        self.collector.rates()
    }

    fn take(&mut self, d: Datagram) {
        self.flows.clear();
        let mut recs = Vec::new();
        let before = self.collector.stats.malformed_datagrams;
        let c = &mut self.collector;
        if let Err(e) = c.decode(d.from, d.at_ns, &d.data, &mut self.flows, &mut recs) {
            let n = c.stats.malformed_datagrams;
            if crate::summary::new_decade(before, n) {
                tracing::warn!(
                    "{n} malformed flow datagram(s) so far, latest from {}: {e} (counted, skipped)",
                    d.from
                );
            }
        }
        crate::flow::weighted_all(&self.flows, self.batch_ns, &mut recs);
        self.pending.extend(recs);
    }
}

impl PacketSource for FlowSource {
    fn next_with(&mut self, f: &mut dyn FnMut(&Input<'_>)) -> Result<Next, SourceError> {
        loop {
            if let Some((record, wire_len)) = self.pending.pop_front() {
                f(&Input::Record { record, wire_len });
                return Ok(Next::Item);
            }
            match self.rx.recv_timeout(Duration::from_millis(100)) {
                Ok(d) => self.take(d),
                Err(RecvTimeoutError::Timeout) => return Ok(Next::Idle),
                Err(RecvTimeoutError::Disconnected) => return Ok(Next::End),
            }
        }
    }

    fn describe(&self) -> String {
        format!("flows on udp {}", self.listen.join(", "))
    }

    fn flow_export(&self) -> Option<crate::summary::FlowExport> {
        Some(crate::summary::FlowExport {
            stats: self.collector.stats,
            sflow: self.collector.sflow,
            sampling: self
                .rates()
                .iter()
                .map(|(a, r)| (a.to_string(), *r))
                .collect(),
            templates: self.collector.templates(),
        })
    }

    fn stats(&mut self) -> SourceStats {
        SourceStats {
            // sFlow headers that did not decode are inputs lost as surely as bad datagrams.
            malformed: self.collector.stats.malformed_datagrams + self.collector.sflow.undecoded,
            datagram_drops: self.dropped.load(Ordering::Relaxed),
            kernel_drops: self.kernel_dropped.load(Ordering::Relaxed),
            data_without_template: self.collector.data_without_template(),
            ..Default::default()
        }
    }
}
