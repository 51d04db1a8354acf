//! Capture files read in place: the file is memory-mapped and its records are parsed where
//! they lie (`pcap-parser`), with no copy of any frame, below libpcap's own read loop (which
//! copies every frame into its buffer).
//!
//! In: one regular file, pcap (either byte order, micro- or nanosecond times) or pcapng (any
//! number of sections and interfaces, each with its own link type, time resolution and
//! offset), and an optional BPF filter compiled by libpcap for each link type it meets.
//! Out: frames, as libpcap would hand them out for the same file: the same times in
//! nanoseconds, the same captured bytes (a record longer than the file's snapshot length is
//! cut to it, as libpcap does), the same filter verdicts (run on the wire length too).
//! Guarantees: never reads outside the mapping; a truncated or inconsistent record ends the
//! file with an error naming the record; [`MappedFile::open`] returns `Ok(None)` for what it
//! does not read (not a regular file, the "modified" pcap format, unknown magic), so the
//! caller falls back to libpcap, whose messages then explain the file.

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;
use pcap_parser::pcap::{parse_pcap_frame, parse_pcap_frame_be, parse_pcap_header};
use pcap_parser::pcapng::{parse_block_be, parse_block_le, parse_sectionheaderblock, Block};
use pcap_parser::traits::PcapNGPacketBlock;

use crate::decode::linktype;

/// libpcap's largest snapshot length (`MAXIMUM_SNAPLEN`): longer records are errors.
const MAX_SNAPLEN: u32 = 262_144;

/// One frame of the file, borrowed from the mapping.
pub struct MappedFrame<'a> {
    pub linktype: i32,
    pub ts_ns: u64,
    pub data: &'a [u8],
    pub orig_len: u32,
}

/// Where the next frame lies: (link type, time in ns, data offset in the file, captured
/// length, wire length).
type Located = (i32, u64, usize, usize, u32);

/// Why a file could not be opened, or stopped early.
#[derive(Debug)]
pub enum MappedError {
    Open(String),
    Filter(String),
    Read(String),
}

impl MappedError {
    /// What went wrong, whatever the kind.
    pub fn reason(self) -> String {
        match self {
            MappedError::Open(r) | MappedError::Filter(r) | MappedError::Read(r) => r,
        }
    }
}

/// A BPF program and the link type it was compiled for.
struct Program {
    linktype: i32,
    prog: pcap::BpfProgram,
}

/// One pcapng interface (Interface Description Block).
struct Interface {
    linktype: i32,
    snaplen: u32,
    /// Time units per second, and seconds added to every time (`if_tsoffset`).
    units: u64,
    offset_s: i64,
}

enum Format {
    Pcap {
        big_endian: bool,
        nanos: bool,
        linktype: i32,
        snaplen: u32,
    },
    PcapNg {
        big_endian: bool,
        interfaces: Vec<Interface>,
    },
}

/// The file's bytes: mapped, or (tests, fuzzing) in memory.
enum Bytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

pub struct MappedFile {
    map: Bytes,
    format: Format,
    pos: usize,
    /// The mapping before this offset is handed back to the kernel (`release_read`).
    released: usize,
    filter: Option<String>,
    programs: Vec<Program>,
}

/// Read bytes are handed back in steps of this many (`release_read`).
const RELEASE_STEP: usize = 4 << 20;

impl MappedFile {
    /// Map `path` and read its header; `Ok(None)`: not a format read here (use libpcap).
    /// An error: the file cannot be opened or mapped, or `filter` does not compile.
    pub fn open(path: &Path, filter: Option<&str>) -> Result<Option<MappedFile>, MappedError> {
        let file = File::open(path).map_err(|e| MappedError::Open(e.to_string()))?;
        let meta = file
            .metadata()
            .map_err(|e| MappedError::Open(e.to_string()))?;
        if !meta.is_file() || meta.len() < 24 {
            return Ok(None);
        }
        // SAFETY: the mapping is read-only and private to this reader; a file truncated by
        // another process while mapped would fault (SIGBUS), as with any mapped reader.
        // Capture files being replayed are not written to.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| MappedError::Open(e.to_string()))?;
        let _ = map.advise(memmap2::Advice::Sequential);
        let Some((format, pos)) = Self::header(&map) else {
            return Ok(None);
        };
        populate(&map, 0);
        Self::over(Bytes::Mapped(map), format, pos, filter).map(Some)
    }

    /// A capture held in memory, read as a file would be (`Ok(None)`: not a format read
    /// here). For tests and the fuzz target: the same parser over any bytes.
    pub fn from_bytes(
        bytes: Vec<u8>,
        filter: Option<&str>,
    ) -> Result<Option<MappedFile>, MappedError> {
        if bytes.len() < 24 {
            return Ok(None);
        }
        let Some((format, pos)) = Self::header(&bytes) else {
            return Ok(None);
        };
        Self::over(Bytes::Owned(bytes), format, pos, filter).map(Some)
    }

    fn over(
        map: Bytes,
        format: Format,
        pos: usize,
        filter: Option<&str>,
    ) -> Result<MappedFile, MappedError> {
        let mut m = MappedFile {
            map,
            format,
            pos,
            released: 0,
            filter: filter.map(str::to_string),
            programs: Vec::new(),
        };
        // Compiled before the first frame, so a bad filter fails before any work; pcapng
        // names its link types later, in its interface blocks (Ethernet is the check here).
        let first = match m.format {
            Format::Pcap { linktype, .. } => linktype,
            Format::PcapNg { .. } => linktype::ETHERNET,
        };
        m.program(first)?;
        Ok(m)
    }

    fn header(map: &[u8]) -> Option<(Format, usize)> {
        let magic = u32::from_le_bytes(map[..4].try_into().ok()?);
        if magic == 0x0A0D_0D0A {
            let (rest, shb) = parse_sectionheaderblock(map).ok()?;
            let pos = map.len() - rest.len();
            let format = Format::PcapNg {
                big_endian: shb.big_endian(),
                interfaces: Vec::new(),
            };
            return Some((format, pos));
        }
        // The "modified" format (0xa1b2cd34) is left to libpcap.
        let (nanos, big_endian) = match magic {
            0xa1b2_c3d4 => (false, false),
            0xa1b2_3c4d => (true, false),
            0xd4c3_b2a1 => (false, true),
            0x4d3c_b2a1 => (true, true),
            _ => return None,
        };
        let (rest, h) = parse_pcap_header(map).ok()?;
        // libpcap: the link type is the low 16 bits (the rest carry FCS information); a
        // snapshot length of 0 or above the maximum means the maximum.
        let linktype = dlt_of(h.network.0 & 0xFFFF);
        let snaplen = match h.snaplen {
            0 => MAX_SNAPLEN,
            s => s.min(MAX_SNAPLEN),
        };
        let format = Format::Pcap {
            big_endian,
            nanos,
            linktype,
            snaplen,
        };
        Some((format, map.len() - rest.len()))
    }

    /// Compile the filter for `lt` (once per link type).
    fn program(&mut self, lt: i32) -> Result<(), MappedError> {
        let Some(f) = &self.filter else {
            return Ok(());
        };
        if self.programs.iter().any(|p| p.linktype == lt) {
            return Ok(());
        }
        let dead = pcap::Capture::dead(pcap::Linktype(lt))
            .map_err(|e| MappedError::Filter(pcap_reason(&e)))?;
        let prog = dead
            .compile(f, true)
            .map_err(|e| MappedError::Filter(pcap_reason(&e)))?;
        self.programs.push(Program { linktype: lt, prog });
        Ok(())
    }

    fn passes(&self, lt: i32, data: &[u8], orig_len: u32) -> bool {
        if self.filter.is_none() {
            return true;
        }
        self.programs
            .iter()
            .find(|p| p.linktype == lt)
            .is_some_and(|p| bpf::accepts(&p.prog, data, orig_len))
    }

    /// Bytes of the file read so far and in all.
    pub fn progress(&self) -> (u64, u64) {
        (self.pos as u64, self.map.len() as u64)
    }

    /// The file's link type (pcapng: its first interface's, once seen).
    pub fn linktype(&self) -> i32 {
        match &self.format {
            Format::Pcap { linktype, .. } => *linktype,
            Format::PcapNg { interfaces, .. } => interfaces.first().map_or(-1, |i| i.linktype),
        }
    }

    /// The next frame that passes the filter; `Ok(None)` at the end of the file.
    pub fn next_frame(&mut self) -> Result<Option<MappedFrame<'_>>, MappedError> {
        if self.pos - self.released >= RELEASE_STEP {
            self.release_read();
        }
        loop {
            if self.pos >= self.map.len() {
                return Ok(None);
            }
            let (lt, ts_ns, start, len, orig_len) = match self.format {
                Format::Pcap { .. } => self.next_pcap()?,
                Format::PcapNg { .. } => match self.next_ng()? {
                    Some(f) => f,
                    None => continue,
                },
            };
            if self.passes(lt, &self.map[start..start + len], orig_len) {
                let data = &self.map[start..start + len];
                return Ok(Some(MappedFrame {
                    linktype: lt,
                    ts_ns,
                    data,
                    orig_len,
                }));
            }
        }
    }

    /// Hand the pages already read back to the kernel, so that the process holds at most
    /// `RELEASE_STEP` of the file (the page cache keeps them; a mapped page would otherwise
    /// count in the process's memory until the file is closed).
    fn release_read(&mut self) {
        let end = self.pos & !(page_size() - 1);
        if end <= self.released {
            return;
        }
        if let Bytes::Mapped(map) = &self.map {
            // SAFETY: no frame borrows the mapping now (`next_frame` holds `&mut self`),
            // and nothing before `pos` is read again; a page of a read-only file mapping
            // given up with DONTNEED would only be read back from the file if touched.
            let _ = unsafe {
                map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    self.released,
                    end - self.released,
                )
            };
            populate(map, end);
        }
        self.released = end;
    }

    /// (link type, time, data offset, captured length, wire length) of the next pcap record.
    fn next_pcap(&mut self) -> Result<Located, MappedError> {
        let Format::Pcap {
            big_endian,
            nanos,
            linktype,
            snaplen,
        } = self.format
        else {
            unreachable!("next_pcap on a pcap file only")
        };
        let rest = &self.map[self.pos..];
        if rest.len() < 16 {
            return Err(MappedError::Read(format!(
                "truncated dump file; tried to read 16 header bytes, only got {}",
                rest.len()
            )));
        }
        let caplen = u32::from_le_bytes([rest[8], rest[9], rest[10], rest[11]]);
        let caplen = if big_endian {
            caplen.swap_bytes()
        } else {
            caplen
        };
        if caplen > MAX_SNAPLEN {
            return Err(MappedError::Read(format!(
                "invalid packet capture length {caplen}, bigger than snaplen of {snaplen}"
            )));
        }
        let parsed = if big_endian {
            parse_pcap_frame_be(rest)
        } else {
            parse_pcap_frame(rest)
        };
        let Ok((after, b)) = parsed else {
            return Err(Self::short_record(caplen, rest.len() - 16));
        };
        let start = self.pos + 16;
        self.pos = self.map.len() - after.len();
        let frac = if nanos {
            u64::from(b.ts_usec)
        } else {
            u64::from(b.ts_usec) * 1_000
        };
        let ts_ns = u64::from(b.ts_sec) * 1_000_000_000 + frac;
        // As libpcap: a record longer than the snapshot length is cut to it.
        let len = b.caplen.min(snaplen) as usize;
        Ok((linktype, ts_ns, start, len, b.origlen))
    }

    fn short_record(caplen: u32, have: usize) -> MappedError {
        MappedError::Read(format!(
            "truncated dump file; tried to read {caplen} captured bytes, only got {have}"
        ))
    }

    /// The next pcapng block; `Some` for a packet, as in `next_pcap`.
    fn next_ng(&mut self) -> Result<Option<Located>, MappedError> {
        let Format::PcapNg { big_endian, .. } = self.format else {
            unreachable!("next_ng on a pcapng file only")
        };
        let map: &[u8] = &self.map;
        let rest = &map[self.pos..];
        check_block(rest, big_endian)?;
        let parsed = if big_endian {
            parse_block_be(rest)
        } else {
            parse_block_le(rest)
        };
        let (after, block) = parsed.map_err(|e| MappedError::Read(ng_reason(&e, rest.len())))?;
        let next_pos = map.len() - after.len();
        let base = map.as_ptr() as usize;
        let mut new_linktype = None;
        let out = match &block {
            Block::SectionHeader(shb) => {
                self.format = Format::PcapNg {
                    big_endian: shb.big_endian(),
                    interfaces: Vec::new(),
                };
                None
            }
            Block::InterfaceDescription(idb) => {
                let units = ts_units(idb.if_tsresol).ok_or_else(|| {
                    MappedError::Read(format!(
                        "interface time resolution {:#x} is invalid",
                        idb.if_tsresol
                    ))
                })?;
                let iface = Interface {
                    linktype: dlt_of(idb.linktype.0 & 0xFFFF),
                    snaplen: match idb.snaplen {
                        0 => MAX_SNAPLEN,
                        s => s.min(MAX_SNAPLEN),
                    },
                    units: units.max(1),
                    offset_s: idb.if_tsoffset,
                };
                let lt = iface.linktype;
                if let Format::PcapNg { interfaces, .. } = &mut self.format {
                    interfaces.push(iface);
                }
                new_linktype = Some(lt);
                None
            }
            Block::EnhancedPacket(epb) => {
                let ts = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                let data = epb.packet_data();
                let start = data.as_ptr() as usize - base;
                Some(self.ng_packet(epb.if_id as usize, ts, start, data.len(), epb.origlen)?)
            }
            Block::SimplePacket(spb) => {
                let data = spb.packet_data();
                let start = data.as_ptr() as usize - base;
                Some(self.ng_packet(0, 0, start, data.len(), spb.origlen)?)
            }
            _ => None,
        };
        if let Some(lt) = new_linktype {
            self.program(lt)?;
        }
        self.pos = next_pos;
        Ok(out)
    }

    /// A packet of pcapng interface `iface` at `ts` (in the interface's units).
    fn ng_packet(
        &self,
        iface: usize,
        ts: u64,
        start: usize,
        len: usize,
        orig_len: u32,
    ) -> Result<Located, MappedError> {
        let Format::PcapNg { interfaces, .. } = &self.format else {
            unreachable!("ng_packet on a pcapng file only")
        };
        let Some(i) = interfaces.get(iface) else {
            return Err(MappedError::Read(format!(
                "a packet names interface {iface}, but the section describes {}",
                interfaces.len()
            )));
        };
        let secs = (ts / i.units) as i64 + i.offset_s;
        let frac = (u128::from(ts % i.units) * 1_000_000_000 / u128::from(i.units)) as u64;
        let ts_ns = (secs.max(0) as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(frac);
        Ok((
            i.linktype,
            ts_ns,
            start,
            len.min(i.snaplen as usize),
            orig_len,
        ))
    }
}

/// Map the pages of the next two release steps from `from` (aligned) in one call, rather
/// than one page fault for every few pages as they are first read (Linux 5.14 on; on
/// older kernels this does nothing, and faults map them).
fn populate(map: &Mmap, from: usize) {
    let len = (2 * RELEASE_STEP).min(map.len().saturating_sub(from));
    if len > 0 {
        let _ = map.advise_range(memmap2::Advice::PopulateRead, from, len);
    }
}

/// The link type libpcap reports for a file's LINKTYPE_ value (its `linktype_to_dlt`):
/// they differ, among the types decoded here, for raw IP only.
fn dlt_of(lt: i32) -> i32 {
    if lt == linktype::RAW {
        linktype::RAW_OPENBSD // DLT_RAW is 12 on Linux
    } else {
        lt
    }
}

/// Time units per second of a pcapng `if_tsresol` (high bit: a power of two, else of ten).
/// (`InterfaceDescriptionBlock::ts_resolution` rejects every power of two above 2^-63's
/// byte value, 0xBF, as it tests the byte with its mode bit.)
fn ts_units(r: u8) -> Option<u64> {
    let e = u32::from(r & 0x7F);
    if r & 0x80 != 0 {
        (e <= 63).then(|| 1u64 << e)
    } else {
        10u64.checked_pow(e)
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 && (p as usize).is_power_of_two() {
        p as usize
    } else {
        4096
    }
}

/// The generic layout of the pcapng block at the start of `rest`, checked before it is
/// parsed: a block is at least 12 bytes, a multiple of 4, and within the file. (pcap-parser
/// 0.17 subtracts 12 from a block length it checked only against 8: a panic with overflow
/// checks, a wrapped length without.) A section header gives its own byte order.
fn check_block(rest: &[u8], big_endian: bool) -> Result<(), MappedError> {
    if rest.len() < 12 {
        return Err(MappedError::Read(format!(
            "truncated dump file; a block header needs 12 bytes, only {} left",
            rest.len()
        )));
    }
    let word = |at: usize, be: bool| {
        let b = [rest[at], rest[at + 1], rest[at + 2], rest[at + 3]];
        if be {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let be = if word(0, false) == 0x0A0D_0D0A {
        word(8, true) == 0x1A2B_3C4D
    } else {
        big_endian
    };
    let len = word(4, be);
    if len < 12 || len % 4 != 0 {
        return Err(MappedError::Read(format!(
            "corrupt block: length {len} (a block is at least 12 bytes, a multiple of 4)"
        )));
    }
    if len as usize > rest.len() {
        return Err(MappedError::Read(format!(
            "truncated dump file; a block of {len} bytes, only {} left",
            rest.len()
        )));
    }
    Ok(())
}

fn ng_reason(e: &pcap_parser::nom::Err<pcap_parser::PcapError<&[u8]>>, have: usize) -> String {
    match e {
        pcap_parser::nom::Err::Incomplete(_) => {
            format!("truncated dump file; the last block is cut short ({have} bytes left)")
        }
        other => format!("corrupt block: {other:?}")
            .chars()
            .take(200)
            .collect(),
    }
}

pub(super) fn pcap_reason(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(s) => s.clone(),
        other => other.to_string(),
    }
}

/// libpcap's filter run on a frame of the file, with its wire length (`len`, `greater` and
/// `less` test it; `pcap::BpfProgram::filter` would pass the captured length instead).
mod bpf {
    use std::os::raw::c_int;

    #[repr(C)]
    struct PktHdr {
        ts: libc::timeval,
        caplen: u32,
        len: u32,
    }

    extern "C" {
        fn pcap_offline_filter(
            prog: *const pcap::BpfProgram,
            h: *const PktHdr,
            pkt: *const u8,
        ) -> c_int;
    }

    pub(super) fn accepts(prog: &pcap::BpfProgram, data: &[u8], orig_len: u32) -> bool {
        let h = PktHdr {
            ts: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            caplen: data.len() as u32,
            len: orig_len.max(data.len() as u32),
        };
        // SAFETY: `BpfProgram` is `repr(transparent)` over libpcap's `struct bpf_program`
        // and stays alive for the call; the header describes exactly `data`, which libpcap
        // reads no further than `caplen`.
        unsafe { pcap_offline_filter(prog, &h, data.as_ptr()) != 0 }
    }
}

#[cfg(test)]
mod tests;
