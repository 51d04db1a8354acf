//! Sources: where frames come from (capture files now; live interfaces and Kafka later).
//!
//! In: paths, interfaces or topics. Out: [`Frame`]s, one at a time, with the link type and
//! capture time, through the [`FrameSource`] trait the pipeline reads.
//! Guarantees: a read error names the input and the record number and is returned, never
//! panicked on; everything before it has already been handed out.

pub mod pcap_file;

pub use pcap_file::PcapFiles;

/// One captured frame, borrowed from the source until the next call.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub linktype: i32,
    /// Capture time, ns since the Unix epoch.
    pub ts_ns: u64,
    pub data: &'a [u8],
    /// Length on the wire (may exceed `data.len()` when the snaplen cut the frame).
    pub orig_len: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{input}: cannot open: {reason}")]
    Open { input: String, reason: String },
    #[error("{input}: record {record}: {reason} (the {record_minus_one} records before it were used)")]
    Read { input: String, record: u64, record_minus_one: u64, reason: String },
    #[error("{input}: BPF filter `{filter}`: {reason}")]
    Filter { input: String, filter: String, reason: String },
}

/// Anything that yields frames in capture order.
pub trait FrameSource {
    /// Read the next frame and hand it to `f`; `Ok(false)` at the end of all input. After an
    /// `Err`, the source moves on to its next input (if any), so the caller may keep reading.
    /// (A callback rather than a returned borrow: the frame borrows the capture's buffer.)
    fn next_with(&mut self, f: &mut dyn FnMut(&Frame<'_>)) -> Result<bool, SourceError>;
    /// A short description for the summary and the dashboard.
    fn describe(&self) -> String;
    /// Bytes of input read so far and in all (for a progress bar), when known.
    fn progress(&self) -> (u64, Option<u64>);
}
