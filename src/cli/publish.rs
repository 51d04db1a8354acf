//! `flowsentry publish`: sensor mode, from capture files or a live interface to Kafka.
//!
//! In: the command line. Out: packet records on a Kafka topic (through
//! [`flowsentry::kafka::publish::publish`]), the summary on stderr and optionally as JSON.
//! Guarantees: files and `-i` exclude each other and one of them is required (clap checks);
//! the capture options are accepted with `-i` only. Exit status: 0 when everything read was
//! delivered (in interface mode, after SIGINT / SIGTERM), 1 when an input was unreadable
//! part-way, 2 when a message could not be delivered or nothing could start.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Args};

use flowsentry::kafka::cli::KafkaArgs;
use flowsentry::kafka::publish::{publish, PublishConfig, PublishSummary};
use flowsentry::source::{LiveCapture, PacketSource, PcapFiles};

use super::capture::{banner, stop_on_signals, CaptureArgs};

#[derive(Args)]
#[command(
    group(ArgGroup::new("input").required(true).args(["files", "interface"])),
    // The capture options make sense with -i only.
    mut_arg("snaplen", |a| a.conflicts_with("files")),
    mut_arg("promisc", |a| a.conflicts_with("files")),
    mut_arg("buffer_mib", |a| a.conflicts_with("files")),
    mut_arg("report_every", |a| a.conflicts_with("files")),
    after_help = "Each record goes to partition shard_of(source address, partitions), so \
all of a source's records land in one partition, in capture order. The record format is \
documented in src/kafka/wire.rs.\n\nWith -i the capture runs until SIGINT or SIGTERM: a \
partly filled batch is sent after --linger, so sparse traffic reaches Kafka promptly; on the \
signal every record read is sent and acknowledged, the summary written, exit status 0 (a \
second signal exits at once, status 130). Kernel drops are logged every --report-every. \
Keep the sensor's own Kafka traffic out with --filter when the brokers are reached through \
the captured interface. Capture needs root or `setcap cap_net_raw,cap_net_admin=eip \
$(which flowsentry)`.\n\nExamples:\n  flowsentry publish scan.pcap --brokers 127.0.0.1:9092 \
--topic packets\n  flowsentry publish -i eth0 --filter 'not port 9092' --brokers \
10.0.0.5:9092 --topic packets"
)]
pub struct PublishArgs {
    /// Capture files (pcap or pcapng), read in the order given.
    files: Vec<PathBuf>,
    /// Capture live on this interface instead of reading files (`flowsentry interfaces`
    /// lists them; `any`: all of them).
    #[arg(long, short = 'i', value_name = "IFACE")]
    interface: Option<String>,
    /// Topic to publish to (created with --partitions partitions if missing).
    #[arg(long, value_name = "TOPIC")]
    topic: String,
    /// Partitions of the topic when it is created.
    #[arg(long, value_name = "N", default_value_t = 4)]
    partitions: i32,
    /// Records per Kafka message (at most).
    #[arg(long, value_name = "N", default_value_t = 1024)]
    batch_records: usize,
    /// BPF filter applied by libpcap before decoding.
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// Also write the summary as JSON to PATH.
    #[arg(long, value_name = "PATH")]
    summary: Option<PathBuf>,
    /// No summary on stderr (and, with -i, no banner and no periodic counters).
    #[arg(long, short)]
    quiet: bool,
    /// With -i: send a partly filled record batch once its oldest record waited this long.
    #[arg(long, value_name = "DURATION", default_value = "100ms",
          value_parser = crate::duration, conflicts_with = "files")]
    linger: u64,
    #[command(flatten)]
    capture: CaptureArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    _config: super::config::ConfigArg,
}

impl PublishArgs {
    /// The log filter when FLOWSENTRY_LOG is not set: the periodic capture counters are
    /// logged at info, shown in interface mode unless --quiet.
    pub fn default_log(&self) -> &'static str {
        if self.interface.is_some() && !self.quiet {
            "warn,flowsentry=info"
        } else {
            "warn"
        }
    }
}

pub fn publish_cmd(a: PublishArgs) -> Result<ExitCode> {
    if a.kafka.alerts_kafka.is_some() {
        bail!("publish raises no alerts: --alerts-kafka belongs to replay, live and consume");
    }
    let cfg = PublishConfig {
        partitions: a.partitions,
        batch_records: a.batch_records,
        ..PublishConfig::new(a.kafka.require("publish")?, &a.topic)
    };
    let s = match &a.interface {
        Some(iface) => publish_live(&a, iface, cfg)?,
        None => publish(&mut PcapFiles::open(&a.files, a.filter.as_deref())?, &cfg)?,
    };
    if let Some(p) = &a.summary {
        std::fs::write(p, serde_json::to_string_pretty(&s)? + "\n")
            .with_context(|| format!("writing summary {}", p.display()))?;
    }
    if !a.quiet {
        eprintln!("flowsentry: {}", summary_line(&s, a.interface.is_some()));
    }
    if s.undeliverable_messages > 0 {
        bail!(
            "{} message(s) ({} records) could not be delivered to {}",
            s.undeliverable_messages,
            s.undeliverable_records,
            s.topic
        );
    }
    Ok(if s.input_errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Capture on `iface` and publish until SIGINT or SIGTERM.
fn publish_live(a: &PublishArgs, iface: &str, cfg: PublishConfig) -> Result<PublishSummary> {
    let opts = a.capture.options(iface, a.filter.clone());
    let mut source = LiveCapture::open(&opts)?;
    let cfg = PublishConfig {
        linger: Some(Duration::from_nanos(a.linger)),
        stop: Some(stop_on_signals()?),
        report_every: Some(a.capture.report_every()),
        ..cfg
    };
    if !a.quiet {
        eprintln!(
            "flowsentry: {}; publishing to {} at {}; Ctrl-C to stop",
            banner(&source.describe(), &opts),
            cfg.topic,
            cfg.kafka.describe()
        );
    }
    Ok(publish(&mut source, &cfg)?)
}

fn summary_line(s: &PublishSummary, live: bool) -> String {
    let mut line = format!(
        "published {} records (and {} copies for their destinations' partitions) in {} messages \
({} bytes before compression) to {} ({} partitions) in {:.2} s, {:.0} records/s; {} frames \
read, {} not decoded",
        s.records,
        s.copies,
        s.messages,
        s.bytes,
        s.topic,
        s.partitions,
        s.wall_seconds,
        s.records_per_second,
        s.packets,
        s.packets.saturating_sub(s.decode.records),
    );
    if live {
        line += &format!(
            "; {} delivered; kernel drops {}, interface drops {}",
            s.delivered_records, s.kernel_drops, s.interface_drops
        );
    }
    if s.producer_queue_waits > 0 {
        line += &format!(
            "; waited {} time(s) for the producer queue",
            s.producer_queue_waits
        );
    }
    if s.undeliverable_messages > 0 {
        line += &format!("; {} MESSAGES UNDELIVERABLE", s.undeliverable_messages);
    }
    line
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use crate::Cli;

    fn parse(args: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(args.split_whitespace())
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn files_or_an_interface_and_capture_options_only_with_the_interface() {
        let t = "flowsentry publish --brokers b --topic t";
        assert!(parse(&format!("{t} a.pcap b.pcap")).is_ok());
        assert!(parse(&format!(
            "{t} -i eth0 --snaplen 128 --promisc --linger 50ms"
        ))
        .is_ok());
        assert!(parse(t).is_err(), "neither files nor -i");
        assert!(parse(&format!("{t} a.pcap -i eth0")).is_err(), "both");
        for opt in [
            "--snaplen 128",
            "--promisc",
            "--buffer-mib 8",
            "--report-every 1s",
            "--linger 1s",
        ] {
            assert!(
                parse(&format!("{t} a.pcap {opt}")).is_err(),
                "{opt} with files"
            );
        }
        // live keeps its capture options
        assert!(parse("flowsentry live -i eth0 --snaplen 128 --report-every 2s").is_ok());
    }
}
