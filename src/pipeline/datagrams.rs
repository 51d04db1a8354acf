//! Datagrams: the collector's UDP receiver, on a thread of its own.
//!
//! In: addresses to listen on, a stop flag. Out: every datagram (sender, bytes) into a
//! bounded channel read by `source::flows::FlowSource`. Guarantees: network I/O stays here,
//! on one current-thread tokio runtime; sockets ask for a 16 MiB receive buffer; when the
//! channel is full a datagram is dropped and counted (never a wait that would back up into
//! the kernel unseen); once the stop flag is set, within 100 ms each socket hands over what
//! it already holds and closes, and the channel disconnects, which ends the source after it
//! has drained.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use crate::source::flows::Datagram;

/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;
/// Receive buffer asked of the kernel for each socket.
const RCVBUF: libc::c_int = 16 << 20;

/// A bound receiver: its channel, its drop counter, the addresses it is bound to.
pub struct Listening {
    pub rx: Receiver<Datagram>,
    pub dropped: Arc<AtomicU64>,
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
    let d = dropped.clone();
    std::thread::Builder::new()
        .name("datagrams".into())
        .spawn(move || {
            rt.block_on(async move {
                let mut tasks = Vec::new();
                for s in sockets {
                    let (tx, d, stop) = (tx.clone(), d.clone(), stop.clone());
                    tasks.push(tokio::spawn(receive(s, tx, d, stop)));
                }
                drop(tx);
                for t in tasks {
                    let _ = t.await;
                }
            })
        })?;
    Ok(Listening { rx, dropped, bound })
}

async fn receive(
    s: std::net::UdpSocket,
    tx: Sender<Datagram>,
    dropped: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let Ok(sock) = tokio::net::UdpSocket::from_std(s) else {
        return;
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while !stop.load(Ordering::Relaxed) {
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
            return;
        }
    }
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
