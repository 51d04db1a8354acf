//! Sources: where packets come from (capture files; live interfaces and Kafka plug in here).
//!
//! In: paths, interfaces or topics. Out: [`Input`]s, one at a time: raw frames to decode, or
//! records already decoded elsewhere (a sensor publishing to Kafka), through the
//! [`PacketSource`] trait the pipeline reads.
//! Guarantees: a read error names the input and the record number and is returned, never
//! panicked on; everything before it has already been handed out.

pub mod flows;
pub mod live;
pub mod mapped;
pub mod pcap_file;

pub use live::{LiveCapture, LiveOptions};
pub use pcap_file::{PcapFiles, Reader};

use crate::record::Record;

/// One captured frame, borrowed from the source until the callback returns.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub linktype: i32,
    /// Capture time, ns since the Unix epoch.
    pub ts_ns: u64,
    pub data: &'a [u8],
    /// Length on the wire (may exceed `data.len()` when the snaplen cut the frame).
    pub orig_len: u32,
}

/// What a source hands to the pipeline.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// Raw bytes to decode.
    Frame(Frame<'a>),
    /// A record decoded elsewhere; `wire_len` is the frame's length on the wire.
    Record { record: Record, wire_len: u32 },
}

/// The outcome of one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The callback was called with one input.
    Item,
    /// Nothing arrived within the source's poll timeout (live capture, Kafka); the
    /// pipeline uses the pause to advance the watermark from its clock.
    Idle,
    /// All input is read.
    End,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{input}: cannot open: {reason}")]
    Open { input: String, reason: String },
    #[error(
        "{input}: record {record}: {reason} (the {record_minus_one} records before it were used)"
    )]
    Read {
        input: String,
        record: u64,
        record_minus_one: u64,
        reason: String,
    },
    #[error("{input}: BPF filter `{filter}`: {reason}")]
    Filter {
        input: String,
        filter: String,
        reason: String,
    },
    #[error("{input}: {reason}")]
    Other { input: String, reason: String },
}

/// Counters a source keeps about what it could not hand out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SourceStats {
    /// Packets the kernel dropped (libpcap `ps_drop`).
    pub kernel_drops: u64,
    /// Packets dropped by the interface or driver (libpcap `ps_ifdrop`).
    pub interface_drops: u64,
    /// Inputs the source skipped as malformed (e.g. bad Kafka records).
    pub malformed: u64,
    /// Flow datagrams the collector's receiver could not queue (the engine lagged).
    pub datagram_drops: u64,
    /// Flow data never decoded: its template never came (`netflow::Collector::data_without_template`).
    pub data_without_template: u64,
    /// Records the source dropped as clock skew (a Kafka partition's, far ahead of it).
    pub skewed: u64,
    /// Records the source took in and has not handed out (a Kafka partition's buffered
    /// records and those held for skew). At the end of a run stopped early, the records it
    /// leaves unprocessed; their offsets are not committed, so the next run reads them.
    pub unread: u64,
}

/// Anything that yields packets in (roughly) capture order.
pub trait PacketSource {
    /// Read the next input and hand it to `f`. After an `Err`, the source moves on to its
    /// next input (if any), so the caller may keep reading.
    /// (A callback rather than a returned borrow: a frame borrows the capture's buffer.)
    fn next_with(&mut self, f: &mut dyn FnMut(&Input<'_>)) -> Result<Next, SourceError>;
    /// A short description for the summary and the dashboard.
    fn describe(&self) -> String;
    /// Bytes of input read so far and in all (for a progress bar), when known.
    fn progress(&self) -> (u64, Option<u64>) {
        (0, None)
    }
    /// Drop counters (kernel, interface, malformed input).
    fn stats(&mut self) -> SourceStats {
        SourceStats::default()
    }
    /// Every window up to capture batch `closed` (exclusive) has been evaluated and its
    /// alerts delivered to every sink: a Kafka source commits the offsets of the records
    /// before it here (at-least-once).
    fn delivered(&mut self, _closed_batch: u64) {}
    /// The rules were reloaded; their longest window is now `horizon_ns` (sources that
    /// keep records until windows that long are closed, such as Kafka, keep them longer).
    fn rules_changed(&mut self, _horizon_ns: u64) {}
    /// What a flow collector's datagrams held (protocols, templates, sampling rates per
    /// exporter), for the summary and `/metrics`; `None` for other sources.
    fn flow_export(&self) -> Option<crate::summary::FlowExport> {
        None
    }
    /// The source's own event-time watermark, for sources that merge several ordered
    /// streams (Kafka partitions), where the newest record says nothing about the others:
    /// every record handed out later has a capture time at or after it, or is late. Read
    /// by the pipeline only when `PipelineConfig::source_watermark` is set (it subtracts
    /// the lateness); `None` = no progress yet.
    fn watermark_ns(&mut self) -> Option<u64> {
        None
    }
}
