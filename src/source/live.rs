//! Live capture from a network interface through libpcap.
//!
//! In: an interface name, an optional BPF filter, a snapshot length, promiscuous mode and a
//! kernel buffer size ([`LiveOptions`]). Out: frames with nanosecond capture timestamps
//! taken by the kernel, and [`Next::Idle`] whenever nothing arrived within the read timeout,
//! so the pipeline can advance the watermark from its clock and notice a stop request.
//! Guarantees: the interface is checked against libpcap's device list before opening, so a
//! missing interface fails with the list of the available ones; a permission failure says
//! how to grant the capabilities; immediate mode delivers every packet as soon as the kernel
//! has it (no block buffering); the kernel's and the interface's drop counters
//! (`ps_drop`, `ps_ifdrop`) are exposed through [`PacketSource::stats`], widened to 64 bits
//! so that they never wrap; a read error (interface removed) is returned once and the
//! capture then ends.
//!
//! Snapshot length: flowsentry reads headers only, and in immediate mode libpcap uses a
//! ring of fixed-size frames (TPACKET_V2) whose size follows the snapshot length (capped at
//! 64 KiB + 18 when the interface has receive offloads, as veth and most NICs do). With the
//! default 256 bytes a 32 MiB buffer holds ~90,000 frames; with 262,144 bytes only ~500.
//!
//! Read timeout: libpcap 1.10 on Linux ignores the read timeout in immediate mode (its
//! poll loop retries until a packet arrives), so the capture runs non-blocking and waits in
//! its own `poll(2)` on the capture's descriptor for at most the timeout; a signal also ends
//! the wait (EINTR), so SIGINT / SIGTERM are noticed at once.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::os::unix::io::{AsRawFd, RawFd};

use pcap::{Active, Capture, Device, Precision};

use super::{Frame, Input, Next, PacketSource, SourceError, SourceStats};

/// How to open an interface.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub interface: String,
    /// BPF expression; `None` for all packets.
    pub filter: Option<String>,
    /// Bytes kept of each frame (headers are enough for every metric).
    pub snaplen: u32,
    pub promisc: bool,
    /// Kernel capture buffer (ring) size in bytes.
    pub buffer_bytes: u32,
    /// Read timeout: the longest a read waits before reporting [`Next::Idle`].
    pub timeout_ms: u32,
}

impl LiveOptions {
    pub const DEFAULT_SNAPLEN: u32 = 256;
    pub const DEFAULT_BUFFER_BYTES: u32 = 32 << 20;
    pub const DEFAULT_TIMEOUT_MS: u32 = 50;

    pub fn new(interface: &str) -> LiveOptions {
        LiveOptions {
            interface: interface.to_string(),
            filter: None,
            snaplen: Self::DEFAULT_SNAPLEN,
            promisc: false,
            buffer_bytes: Self::DEFAULT_BUFFER_BYTES,
            timeout_ms: Self::DEFAULT_TIMEOUT_MS,
        }
    }
}

/// The hint every permission error carries.
pub const PRIVILEGE_HINT: &str =
    "run as root or `setcap cap_net_raw,cap_net_admin=eip $(which flowsentry)`";

/// A capturable interface as libpcap lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InterfaceInfo {
    pub name: String,
    pub description: Option<String>,
    pub addresses: Vec<String>,
    pub up: bool,
    pub running: bool,
    pub loopback: bool,
    pub wireless: bool,
}

impl InterfaceInfo {
    /// `up,running,loopback,wireless` (only those set), or `down`.
    pub fn flags_text(&self) -> String {
        let mut v = Vec::new();
        v.push(if self.up { "up" } else { "down" });
        if self.running {
            v.push("running");
        }
        if self.loopback {
            v.push("loopback");
        }
        if self.wireless {
            v.push("wireless");
        }
        v.join(",")
    }
}

/// Every interface libpcap can capture on (including the `any` pseudo-interface on Linux).
pub fn interfaces() -> Result<Vec<InterfaceInfo>, SourceError> {
    let devs = Device::list().map_err(|e| SourceError::Other {
        input: "interfaces".into(),
        reason: format!("libpcap cannot list interfaces: {}", pcap_reason(&e)),
    })?;
    Ok(devs
        .into_iter()
        .map(|d| InterfaceInfo {
            addresses: d.addresses.iter().map(|a| fmt_addr(a.addr)).collect(),
            up: d.flags.is_up(),
            running: d.flags.is_running(),
            loopback: d.flags.is_loopback(),
            wireless: d.flags.is_wireless(),
            description: d.desc,
            name: d.name,
        })
        .collect())
}

fn fmt_addr(a: IpAddr) -> String {
    a.to_string()
}

fn names_of(list: &[InterfaceInfo]) -> String {
    if list.is_empty() {
        return "none (libpcap lists no interfaces)".into();
    }
    let mut s = String::new();
    for (i, d) in list.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{} ({})", d.name, d.flags_text());
    }
    s
}

/// A live capture on one interface.
pub struct LiveCapture {
    cap: Capture<Active>,
    fd: RawFd,
    timeout_ms: i32,
    name: String,
    filter: Option<String>,
    linktype: i32,
    /// Timestamps are nanoseconds (else microseconds: the kernel refused nano precision).
    nano: bool,
    packets: u64,
    /// After a read error the capture is over.
    failed: bool,
    /// 64-bit totals of libpcap's 32-bit counters, and the last raw readings.
    stats: SourceStats,
    raw_drop: u32,
    raw_ifdrop: u32,
}

impl LiveCapture {
    /// Open `opts.interface` now and compile the filter; every failure names the interface.
    pub fn open(opts: &LiveOptions) -> Result<LiveCapture, SourceError> {
        let name = opts.interface.clone();
        let open_err = |reason: String| SourceError::Open {
            input: format!("interface {name}"),
            reason,
        };
        if name.is_empty() {
            return Err(open_err("empty interface name".into()));
        }
        // A missing interface is the most common mistake: name the ones that exist.
        let list = interfaces()?;
        if !list.iter().any(|d| d.name == name) {
            return Err(open_err(format!(
                "no such interface; available: {} (see `flowsentry interfaces`)",
                names_of(&list)
            )));
        }
        if let Some(d) = list.iter().find(|d| d.name == name) {
            if !d.up && name != "any" {
                tracing::warn!(
                    "interface {name} is down; capturing anyway (packets arrive once it is up)"
                );
            }
        }
        let snaplen = opts.snaplen.clamp(64, 262_144) as i32;
        let buffer = opts.buffer_bytes.clamp(1 << 20, 1 << 30) as i32;
        let timeout = opts.timeout_ms.clamp(1, 1000) as i32;
        let build = |precision: Precision| -> Result<Capture<Active>, pcap::Error> {
            Capture::from_device(name.as_str())?
                .promisc(opts.promisc)
                .snaplen(snaplen)
                .buffer_size(buffer)
                .timeout(timeout)
                .immediate_mode(true)
                .precision(precision)
                .open()
        };
        let (cap, nano) = match build(Precision::Nano) {
            Ok(c) => (c, true),
            Err(e) if pcap_reason(&e).to_ascii_lowercase().contains("precision") => {
                let c = build(Precision::Micro).map_err(|e| open_failure(&name, &e, &list))?;
                (c, false)
            }
            Err(e) => return Err(open_failure(&name, &e, &list)),
        };
        let mut cap = cap.setnonblock().map_err(|e| SourceError::Open {
            input: format!("interface {name}"),
            reason: format!("cannot switch to non-blocking reads: {}", pcap_reason(&e)),
        })?;
        let fd = cap.as_raw_fd();
        if let Some(f) = &opts.filter {
            cap.filter(f, true).map_err(|e| SourceError::Filter {
                input: format!("interface {name}"),
                filter: f.clone(),
                reason: pcap_reason(&e),
            })?;
        }
        let linktype = cap.get_datalink().0;
        if !crate::decode::linktype::is_supported(linktype) {
            tracing::warn!(
                "interface {name}: link type {linktype} is not decoded by flowsentry; \
                 frames will be counted as unsupported"
            );
        }
        tracing::debug!(
            interface = %name,
            snaplen,
            buffer_bytes = buffer,
            timeout_ms = timeout,
            promisc = opts.promisc,
            nano,
            linktype,
            "live capture open"
        );
        Ok(LiveCapture {
            cap,
            fd,
            timeout_ms: timeout,
            name,
            filter: opts.filter.clone(),
            linktype,
            nano,
            packets: 0,
            failed: false,
            stats: SourceStats::default(),
            raw_drop: 0,
            raw_ifdrop: 0,
        })
    }

    /// The capture's link type (LINKTYPE_* value).
    pub fn linktype(&self) -> i32 {
        self.linktype
    }

    /// Frames handed out so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Hand one frame to `f` if the ring holds one (non-blocking).
    fn try_read(&mut self, f: &mut dyn FnMut(&Input<'_>)) -> Result<bool, SourceError> {
        match self.cap.next_packet() {
            Ok(pkt) => {
                self.packets += 1;
                let h = pkt.header;
                let secs = h.ts.tv_sec.max(0) as u64;
                let frac = h.ts.tv_usec.max(0) as u64;
                let frac_ns = if self.nano { frac } else { frac * 1000 };
                let ts_ns = secs.saturating_mul(1_000_000_000).saturating_add(frac_ns);
                f(&Input::Frame(Frame {
                    linktype: self.linktype,
                    ts_ns,
                    data: pkt.data,
                    orig_len: h.len,
                }));
                Ok(true)
            }
            // Non-blocking mode: no frame ready.
            Err(pcap::Error::TimeoutExpired) => Ok(false),
            Err(e) => {
                self.failed = true;
                self.refresh_stats();
                Err(SourceError::Read {
                    input: format!("interface {}", self.name),
                    record: self.packets + 1,
                    record_minus_one: self.packets,
                    reason: pcap_reason(&e),
                })
            }
        }
    }

    fn refresh_stats(&mut self) {
        match self.cap.stats() {
            Ok(s) => {
                // libpcap's counters are 32-bit and wrap; accumulate the differences.
                self.stats.kernel_drops += s.dropped.wrapping_sub(self.raw_drop) as u64;
                self.stats.interface_drops += s.if_dropped.wrapping_sub(self.raw_ifdrop) as u64;
                self.raw_drop = s.dropped;
                self.raw_ifdrop = s.if_dropped;
            }
            Err(e) => {
                tracing::debug!("interface {}: cannot read drop counters: {e}", self.name)
            }
        }
    }
}

/// Turn an activation failure into a message that says what to do.
fn open_failure(name: &str, e: &pcap::Error, list: &[InterfaceInfo]) -> SourceError {
    let reason = pcap_reason(e);
    let low = reason.to_ascii_lowercase();
    let input = format!("interface {name}");
    if low.contains("permission")
        || low.contains("not permitted")
        || low.contains("cap_net_raw")
        || low.contains("eperm")
        || low.contains("access denied")
        || !has_capture_capability()
    {
        return SourceError::Open {
            input,
            reason: format!("{reason}: not allowed to capture; {PRIVILEGE_HINT}"),
        };
    }
    if low.contains("no such device") || low.contains("doesn't exist") {
        return SourceError::Open {
            input,
            reason: format!(
                "{reason}; available: {} (see `flowsentry interfaces`)",
                names_of(list)
            ),
        };
    }
    SourceError::Open { input, reason }
}

/// Whether this process holds CAP_NET_RAW (bit 13 of the effective set); `true` when it
/// cannot tell (non-Linux), so only a definite "no" changes the message.
fn has_capture_capability() -> bool {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return true;
    };
    let Some(hex) = s
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(str::trim)
    else {
        return true;
    };
    u64::from_str_radix(hex, 16).map_or(true, |caps| caps & (1 << 13) != 0)
}

/// Wait until `fd` is readable or `timeout_ms` passed; false on timeout, error or signal.
fn wait_readable(fd: RawFd, timeout_ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, owned by this frame, for the duration of the call.
    let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    r > 0
}

fn pcap_reason(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(s) => s.clone(),
        other => other.to_string(),
    }
}

impl PacketSource for LiveCapture {
    fn next_with(&mut self, f: &mut dyn FnMut(&Input<'_>)) -> Result<Next, SourceError> {
        if self.failed {
            return Ok(Next::End);
        }
        if self.try_read(f)? {
            return Ok(Next::Item);
        }
        // Nothing in the ring: wait for the descriptor, at most the read timeout.
        if wait_readable(self.fd, self.timeout_ms) && self.try_read(f)? {
            return Ok(Next::Item);
        }
        Ok(Next::Idle)
    }

    fn describe(&self) -> String {
        match &self.filter {
            Some(f) => format!("interface {} (filter `{f}`)", self.name),
            None => format!("interface {}", self.name),
        }
    }

    fn stats(&mut self) -> SourceStats {
        if !self.failed {
            self.refresh_stats();
        }
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_text_lists_set_flags() {
        let mut i = InterfaceInfo {
            name: "veth0".into(),
            description: None,
            addresses: vec![],
            up: true,
            running: true,
            loopback: false,
            wireless: false,
        };
        assert_eq!(i.flags_text(), "up,running");
        i.up = false;
        i.running = false;
        i.loopback = true;
        assert_eq!(i.flags_text(), "down,loopback");
    }

    #[test]
    fn missing_interface_names_the_available_ones() {
        let err = match LiveCapture::open(&LiveOptions::new("fs-no-such-if0")) {
            Ok(_) => panic!("opened a missing interface"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("fs-no-such-if0"), "{err}");
        assert!(err.contains("no such interface"), "{err}");
        assert!(err.contains("available:"), "{err}");
    }
}
