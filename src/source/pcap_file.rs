//! Capture files: pcap and pcapng, several files in the order given, an optional BPF filter.
//! Each file is read memory-mapped (`mapped`) unless it is not a regular file or is in a
//! format only libpcap reads, or `Reader::Libpcap` is asked for; both give the same frames.
//!
//! In: file paths and a filter expression. Out: frames with nanosecond capture times.
//! Guarantees: all files are opened (and the filter compiled for each) before the first
//! frame is read, so a missing file or a bad filter fails before any work; a truncated or
//! corrupt record ends that file with an error naming file and record, and reading goes on
//! with the next file.

use std::path::PathBuf;

use pcap::{Capture, Offline, Precision};

use super::mapped::{pcap_reason, MappedError, MappedFile};
use super::{Frame, Input, Next, PacketSource, SourceError};

/// How capture files are read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Reader {
    /// Memory-mapped, parsed in place (libpcap for what it does not read).
    #[default]
    Mapped,
    /// libpcap's own reader for every file.
    Libpcap,
}

enum File {
    Mapped(MappedFile),
    Libpcap(Capture<Offline>, i32),
}

pub struct PcapFiles {
    files: Vec<(PathBuf, File)>,
    current: usize,
    record: u64,
    bytes_read: u64,
    bytes_total: u64,
    names: Vec<String>,
}

impl PcapFiles {
    /// Open every file now; `filter` is a BPF expression (`None` for all packets).
    pub fn open(paths: &[PathBuf], filter: Option<&str>) -> Result<PcapFiles, SourceError> {
        Self::open_with(paths, filter, Reader::Mapped)
    }

    /// As `open`, reading the files as `reader` says.
    pub fn open_with(
        paths: &[PathBuf],
        filter: Option<&str>,
        reader: Reader,
    ) -> Result<PcapFiles, SourceError> {
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
            let mapped = match reader {
                Reader::Mapped => MappedFile::open(p, filter).map_err(|e| match e {
                    MappedError::Filter(reason) => SourceError::Filter {
                        input: input.clone(),
                        filter: filter.unwrap_or_default().to_string(),
                        reason,
                    },
                    other => SourceError::Open {
                        input: input.clone(),
                        reason: other.reason(),
                    },
                })?,
                Reader::Libpcap => None,
            };
            let file = match mapped {
                Some(m) => File::Mapped(m),
                None => Self::open_libpcap(p, &input, filter)?,
            };
            files.push((p.clone(), file));
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

    fn open_libpcap(p: &PathBuf, input: &str, filter: Option<&str>) -> Result<File, SourceError> {
        let mut cap = Capture::from_file_with_precision(p, Precision::Nano).map_err(|e| {
            SourceError::Open {
                input: input.to_string(),
                reason: pcap_reason(&e),
            }
        })?;
        if let Some(f) = filter {
            cap.filter(f, true).map_err(|e| SourceError::Filter {
                input: input.to_string(),
                filter: f.to_string(),
                reason: pcap_reason(&e),
            })?;
        }
        let lt = cap.get_datalink().0;
        Ok(File::Libpcap(cap, lt))
    }

    /// Link types of the opened files, in order (a pcapng file's first interface's; -1
    /// while a mapped pcapng file has shown none).
    pub fn linktypes(&self) -> Vec<i32> {
        self.files
            .iter()
            .map(|(_, f)| match f {
                File::Mapped(m) => m.linktype(),
                File::Libpcap(_, lt) => *lt,
            })
            .collect()
    }

    /// Which reader each file is read with (for the summary and tests).
    pub fn readers(&self) -> Vec<Reader> {
        self.files
            .iter()
            .map(|(_, f)| match f {
                File::Mapped(_) => Reader::Mapped,
                File::Libpcap(..) => Reader::Libpcap,
            })
            .collect()
    }

    /// The current file ended with `reason`; reading moves on to the next one.
    fn read_error(&mut self, reason: String) -> SourceError {
        let err = SourceError::Read {
            input: self.files[self.current].0.display().to_string(),
            record: self.record + 1,
            record_minus_one: self.record,
            reason,
        };
        self.current += 1;
        self.record = 0;
        err
    }
}

impl PcapFiles {
    /// One frame from libpcap: `Some(bytes read)`, `None` at the end of the file.
    fn next_libpcap(
        cap: &mut Capture<Offline>,
        lt: i32,
        f: &mut dyn FnMut(&Input<'_>),
    ) -> Result<Option<u64>, String> {
        match cap.next_packet() {
            Ok(pkt) => {
                let h = pkt.header;
                // The file field is an unsigned 32-bit count of seconds; libpcap reads it as
                // a signed one, so times from 2038 on arrive negative.
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
                Ok(Some(16 + u64::from(h.caplen)))
            }
            Err(pcap::Error::NoMorePackets) => Ok(None),
            Err(e) => Err(pcap_reason(&e)),
        }
    }
}

impl PacketSource for PcapFiles {
    fn next_with(&mut self, f: &mut dyn FnMut(&Input<'_>)) -> Result<Next, SourceError> {
        loop {
            let Some((_, file)) = self.files.get_mut(self.current) else {
                return Ok(Next::End);
            };
            let got = match file {
                File::Mapped(m) => {
                    let before = m.progress().0;
                    match m.next_frame() {
                        Ok(Some(fr)) => {
                            f(&Input::Frame(Frame {
                                linktype: fr.linktype,
                                ts_ns: fr.ts_ns,
                                data: fr.data,
                                orig_len: fr.orig_len,
                            }));
                            Ok(Some(m.progress().0 - before))
                        }
                        Ok(None) => Ok(None),
                        Err(e) => Err(e.reason()),
                    }
                }
                File::Libpcap(cap, lt) => Self::next_libpcap(cap, *lt, f),
            };
            match got {
                Ok(Some(bytes)) => {
                    self.record += 1;
                    self.bytes_read += bytes;
                    return Ok(Next::Item);
                }
                Ok(None) => {
                    self.current += 1;
                    self.record = 0;
                }
                Err(reason) => return Err(self.read_error(reason)),
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
