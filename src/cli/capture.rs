//! Live-capture options shared by `live` and `publish -i`, and the stop flag both install.
//!
//! In: raw flags. Out: [`LiveOptions`] for [`flowsentry::source::LiveCapture::open`], a
//! banner line, and a flag raised by SIGINT / SIGTERM.
//! Guarantees: the first SIGINT or SIGTERM only raises the flag (the command then stops
//! cleanly); a second one exits at once with status 130.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;

use flowsentry::source::live::LiveOptions;

#[derive(Args, Debug, Clone)]
pub struct CaptureArgs {
    /// Bytes kept of each frame. Every metric reads headers only; a small snapshot lets
    /// the kernel buffer hold more frames.
    #[arg(long, value_name = "N", default_value_t = LiveOptions::DEFAULT_SNAPLEN,
          value_parser = clap::value_parser!(u32).range(64..=262_144))]
    pub snaplen: u32,
    /// Promiscuous mode: also capture frames addressed to other hosts.
    #[arg(long)]
    pub promisc: bool,
    /// Kernel capture buffer, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = LiveOptions::DEFAULT_BUFFER_BYTES >> 20,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub buffer_mib: u32,
    /// Log packet and drop counters (kernel, interface, queue) this often.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = crate::duration)]
    pub report_every: u64,
}

impl CaptureArgs {
    /// The options to open `interface` with, `filter` (BPF) applied.
    pub fn options(&self, interface: &str, filter: Option<String>) -> LiveOptions {
        LiveOptions {
            filter,
            snaplen: self.snaplen,
            promisc: self.promisc,
            buffer_bytes: self.buffer_mib << 20,
            ..LiveOptions::new(interface)
        }
    }

    pub fn report_every(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.report_every)
    }
}

/// `capturing on interface X (snaplen 256, buffer 32 MiB)`: what was opened, and how.
pub fn banner(source: &str, opts: &LiveOptions) -> String {
    format!(
        "capturing on {source} (snaplen {}, buffer {} MiB{})",
        opts.snaplen,
        opts.buffer_bytes >> 20,
        if opts.promisc { ", promiscuous" } else { "" }
    )
}

/// A flag the first SIGINT or SIGTERM raises; a second signal exits at once (status 130).
pub fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first, so it sees the flag as the previous signal left it.
        signal_hook::flag::register_conditional_shutdown(sig, 130, stop.clone())
            .context("installing the signal handlers")?;
        signal_hook::flag::register(sig, stop.clone()).context("installing the signal handlers")?;
    }
    Ok(stop)
}
