//! Datagrams: the collector's UDP receiver, on a thread of its own.
//!
//! In: addresses to listen on, a stop flag. Out: every datagram (sender, bytes) into a
//! bounded channel read by `source::flows::FlowSource`. Guarantees: network I/O stays here,
//! on one current-thread tokio runtime; sockets ask for a 16 MiB receive buffer; when the
//! channel is full a datagram is dropped and counted (never a wait that would back up into
//! the kernel unseen); datagrams the kernel dropped because a socket's buffer was full are
//! read from /proc/net/udp{,6} (the socket's `drops`) every second and at the end, and
//! counted too; once the stop flag is set, within 100 ms each socket hands over what
//! it already holds and closes, and the channel disconnects, which ends the source after it
//! has drained.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use crate::source::flows::Datagram;

/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;
/// Receive buffer asked of the kernel for each socket.
const RCVBUF: libc::c_int = 16 << 20;

/// A bound receiver: its channel, its drop counters, the addresses it is bound to.
pub struct Listening {
    pub rx: Receiver<Datagram>,
    /// Datagrams received and not queued (the engine lagged).
    pub dropped: Arc<AtomicU64>,
    /// Datagrams the kernel dropped before they were received (a socket buffer was full).
    pub kernel_dropped: Arc<AtomicU64>,
    pub bound: Vec<SocketAddr>,
}

/// Bind every address (an error names the one that failed) and start receiving.
pub fn listen(addrs: &[String], depth: usize, stop: Arc<AtomicBool>) -> std::io::Result<Listening> {
    let mut sockets = Vec::new();
    for a in addrs {
        let s = std::net::UdpSocket::bind(a.as_str())
            .map_err(|e| std::io::Error::new(e.kind(), format!("{a}: {e}")))?;
        s.set_nonblocking(true)?;
        set_rcvbuf(&s);
        sockets.push(s);
    }
    let bound = sockets
        .iter()
        .map(|s| s.local_addr())
        .collect::<std::io::Result<Vec<_>>>()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let (tx, rx) = bounded::<Datagram>(depth.max(1));
    let dropped = Arc::new(AtomicU64::new(0));
    let kernel_dropped = Arc::new(AtomicU64::new(0));
    let (d, kd) = (dropped.clone(), kernel_dropped.clone());
    std::thread::Builder::new()
        .name("datagrams".into())
        .spawn(move || {
            rt.block_on(async move {
                let mut tasks = Vec::new();
                for s in sockets {
                    let drops = KernelDrops::of(&s, kd.clone());
                    let (tx, d, stop) = (tx.clone(), d.clone(), stop.clone());
                    tasks.push(tokio::spawn(receive(s, tx, d, drops, stop)));
                }
                drop(tx);
                for t in tasks {
                    let _ = t.await;
                }
            })
        })?;
    Ok(Listening {
        rx,
        dropped,
        kernel_dropped,
        bound,
    })
}

async fn receive(
    s: std::net::UdpSocket,
    tx: Sender<Datagram>,
    dropped: Arc<AtomicU64>,
    mut kernel: KernelDrops,
    stop: Arc<AtomicBool>,
) {
    let Ok(sock) = tokio::net::UdpSocket::from_std(s) else {
        return;
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut looked = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if looked.elapsed() >= Duration::from_secs(1) {
            looked = Instant::now();
            kernel.update();
        }
        let got = tokio::time::timeout(Duration::from_millis(100), sock.recv_from(&mut buf));
        match got.await {
            Ok(Ok((n, from))) => {
                if !forward(&tx, &dropped, from, &buf[..n]) {
                    return;
                }
            }
            Ok(Err(e)) => tracing::warn!("receiving flow datagrams: {e}"),
            Err(_) => {} // no datagram within 100 ms: look at the stop flag
        }
    }
    // Stopping: what the socket already holds was received, so it is decoded too.
    while let Ok((n, from)) = sock.try_recv_from(&mut buf) {
        if !forward(&tx, &dropped, from, &buf[..n]) {
            break;
        }
    }
    kernel.update();
}

/// One socket's kernel drop counter (`drops` in /proc/net/udp or udp6, found by the
/// socket's inode), added to a shared total as it grows.
struct KernelDrops {
    inode: Option<u64>,
    seen: u64,
    total: Arc<AtomicU64>,
}

impl KernelDrops {
    fn of(s: &std::net::UdpSocket, total: Arc<AtomicU64>) -> KernelDrops {
        use std::os::fd::AsRawFd;
        // SAFETY: fstat on an open descriptor into a zeroed stat buffer of the right type.
        let inode = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            (libc::fstat(s.as_raw_fd(), &mut st) == 0).then_some(st.st_ino)
        };
        KernelDrops {
            inode,
            seen: 0,
            total,
        }
    }

    fn update(&mut self) {
        let Some(inode) = self.inode else {
            return;
        };
        let tables = ["/proc/net/udp", "/proc/net/udp6"];
        let now = tables
            .iter()
            .find_map(|t| socket_drops(&std::fs::read_to_string(t).ok()?, inode));
        if let Some(n) = now.filter(|n| *n > self.seen) {
            let new = n - self.seen;
            self.seen = n;
            let before = self.total.fetch_add(new, Ordering::Relaxed);
            tracing::warn!(
                "{} flow datagram(s) dropped by the kernel so far (a socket buffer was full; \
                 counted)",
                before + new
            );
        }
    }
}

/// The `drops` of the socket with `inode` in a /proc/net/udp table.
fn socket_drops(table: &str, inode: u64) -> Option<u64> {
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(9)?.parse::<u64>().ok()? == inode).then(|| f.last()?.parse().ok())?
    })
}

/// Queue one datagram, or count it dropped when the queue is full; false once the source
/// is gone.
fn forward(tx: &Sender<Datagram>, dropped: &AtomicU64, from: SocketAddr, data: &[u8]) -> bool {
    // The receiver is the edge that stamps arrivals, as the kernel stamps captured frames.
    let at_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let d = Datagram {
        from,
        at_ns,
        data: data.to_vec(),
    };
    match tx.try_send(d) {
        Ok(()) => true,
        Err(TrySendError::Full(_)) => {
            let n = dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if crate::summary::new_decade(n - 1, n) {
                tracing::warn!("{n} flow datagram(s) dropped so far: the engine lags (counted)");
            }
            true
        }
        Err(TrySendError::Disconnected(_)) => false,
    }
}

fn set_rcvbuf(s: &std::net::UdpSocket) {
    use std::os::fd::AsRawFd;
    // SAFETY: setsockopt on an open socket with a pointer to a live c_int of the size given.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &RCVBUF as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn drops_are_read_by_inode() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 0100007F:0801 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17
  124: 0100007F:0802 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4243 2 0000000000000000 0
";
        assert_eq!(super::socket_drops(table, 4242), Some(17));
        assert_eq!(super::socket_drops(table, 4243), Some(0));
        assert_eq!(super::socket_drops(table, 1), None);
    }
}
