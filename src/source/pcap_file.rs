//! Capture files through libpcap: pcap and pcapng, several files in the order given, an
//! optional BPF filter.
//!
//! In: file paths and a filter expression. Out: frames with nanosecond capture times.
//! Guarantees: all files are opened (and the filter compiled for each) before the first
//! frame is read, so a missing file or a bad filter fails before any work; a truncated or
//! corrupt record ends that file with an error naming file and record, and reading goes on
//! with the next file.

use std::path::PathBuf;

use pcap::{Capture, Offline, Precision};

use super::{Frame, Input, Next, PacketSource, SourceError};

pub struct PcapFiles {
    files: Vec<(PathBuf, Capture<Offline>, i32)>,
    current: usize,
    record: u64,
    bytes_read: u64,
    bytes_total: u64,
    names: Vec<String>,
}

impl PcapFiles {
    /// Open every file now; `filter` is a BPF expression (`None` for all packets).
    pub fn open(paths: &[PathBuf], filter: Option<&str>) -> Result<PcapFiles, SourceError> {
        let mut files = Vec::with_capacity(paths.len());
        let mut total = 0;
        for p in paths {
            let input = p.display().to_string();
            let meta = std::fs::metadata(p).map_err(|e| SourceError::Open {
                input: input.clone(),
                reason: e.to_string(),
            })?;
            if meta.is_dir() {
                return Err(SourceError::Open {
                    input,
                    reason: "is a directory, not a capture file".into(),
                });
            }
            total += meta.len();
            let mut cap = Capture::from_file_with_precision(p, Precision::Nano).map_err(|e| {
                SourceError::Open {
                    input: input.clone(),
                    reason: pcap_reason(&e),
                }
            })?;
            if let Some(f) = filter {
                cap.filter(f, true).map_err(|e| SourceError::Filter {
                    input: input.clone(),
                    filter: f.to_string(),
                    reason: pcap_reason(&e),
                })?;
            }
            let lt = cap.get_datalink().0;
            files.push((p.clone(), cap, lt));
        }
        let names = paths.iter().map(|p| p.display().to_string()).collect();
        Ok(PcapFiles {
            files,
            current: 0,
            record: 0,
            bytes_read: 0,
            bytes_total: total,
            names,
        })
    }

    /// Name the inputs differently in messages (e.g. an embedded file written to a temp path).
    pub fn rename(&mut self, names: &[String]) {
        if names.len() == self.names.len() {
            self.names = names.to_vec();
        }
    }

    /// Link types of the opened files, in order.
    pub fn linktypes(&self) -> Vec<i32> {
        self.files.iter().map(|f| f.2).collect()
    }
}

fn pcap_reason(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(s) => s.clone(),
        other => other.to_string(),
    }
}

impl PacketSource for PcapFiles {
    fn next_with(&mut self, f: &mut dyn FnMut(&Input<'_>)) -> Result<Next, SourceError> {
        loop {
            let Some((path, cap, lt)) = self.files.get_mut(self.current) else {
                return Ok(Next::End);
            };
            let lt = *lt;
            match cap.next_packet() {
                Ok(pkt) => {
                    self.record += 1;
                    let h = pkt.header;
                    self.bytes_read += 16 + h.caplen as u64;
                    // The file field is an unsigned 32-bit count of seconds; libpcap
                    // reads it as a signed one, so times from 2038 on arrive negative.
                    let secs = if h.ts.tv_sec < 0 {
                        u64::from(h.ts.tv_sec as u32)
                    } else {
                        h.ts.tv_sec as u64
                    };
                    let frac = h.ts.tv_usec.max(0) as u64; // nanoseconds: opened with nano precision
                    let ts_ns = secs.saturating_mul(1_000_000_000).saturating_add(frac);
                    f(&Input::Frame(Frame {
                        linktype: lt,
                        ts_ns,
                        data: pkt.data,
                        orig_len: h.len,
                    }));
                    return Ok(Next::Item);
                }
                Err(pcap::Error::NoMorePackets) => {
                    self.current += 1;
                    self.record = 0;
                }
                Err(e) => {
                    let err = SourceError::Read {
                        input: path.display().to_string(),
                        record: self.record + 1,
                        record_minus_one: self.record,
                        reason: pcap_reason(&e),
                    };
                    self.current += 1;
                    self.record = 0;
                    return Err(err);
                }
            }
        }
    }

    fn describe(&self) -> String {
        self.names.join(", ")
    }

    fn progress(&self) -> (u64, Option<u64>) {
        (self.bytes_read, Some(self.bytes_total))
    }
}
