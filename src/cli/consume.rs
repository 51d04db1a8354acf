//! `flowsentry consume`: packet records or flow records from a Kafka topic, as a member of a
//! consumer group.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use flowsentry::kafka::format::Format;
use flowsentry::pipeline::{self, PipelineConfig};

#[derive(Args)]
#[command(
    after_help = "Event time comes from the records, with a watermark per partition: \
the oldest partition holds it, an idle partition (at its end for --idle-timeout) does not. \
Offsets are committed only once the windows that used the records are closed and their alerts \
confirmed by every sink (at-least-once). Processes started with the same --group split the \
partitions. pmacct: aggregate at least src_host, dst_host, timestamp_start (and src_port, \
dst_port, proto, tcpflags, timestamp_end for the port and SYN rules); its cache purges are \
in no time order, so give --lateness at least kafka_refresh_time plus the longest flow. \
goflow2 (v2): flows from routers through goflow2 to Kafka; packets are scaled by the sampling \
rate goflow2 read from the exporter, windows use the flows' own times, and flows arrive up to \
the exporters' active timeout late, so give --lateness at least that.\n\n\
Examples:\n  flowsentry consume --brokers 127.0.0.1:9092 --topic packets --group sensors \
--alerts-kafka alerts\n  flowsentry consume --brokers 127.0.0.1:9092 --topic pmacct --format \
pmacct --lateness 60s --stop-at-end\n  \
goflow2 -listen netflow://:2055 -transport kafka -transport.kafka.brokers 127.0.0.1:9092 \
-transport.kafka.topic flows\n  flowsentry consume --brokers 127.0.0.1:9092 --topic flows \
--format goflow2 --lateness 2m"
)]
pub struct ConsumeArgs {
    /// Topic to read.
    #[arg(long, value_name = "TOPIC")]
    topic: String,
    /// Consumer group: processes with the same group split the topic's partitions.
    #[arg(long, value_name = "GROUP", default_value = "flowsentry")]
    group: String,
    /// What the messages hold: `packets` (flowsentry publish), `pmacct` (its kafka plugin's
    /// JSON flows), `goflow2` (goflow2's protobuf flows, its default) or `goflow2-json`.
    #[arg(long, value_name = "FORMAT", default_value = "packets", value_parser = str::parse::<Format>)]
    format: Format,
    /// Read each partition up to its end offset as of the first fetch from it (right after
    /// start), flush the windows, commit, and exit.
    #[arg(long)]
    stop_at_end: bool,
    /// Copy malformed messages to this topic (created if missing), with the reason in a
    /// `flowsentry-error` header.
    #[arg(long, value_name = "TOPIC")]
    dead_letter: Option<String>,
    /// A partition at its end for this long no longer holds the watermark back.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = crate::duration)]
    idle_timeout: u64,
    /// Records a partition may have buffered before its fetching is paused (until half of
    /// them are handed out): bounds memory while another partition holds the watermark.
    #[arg(long, value_name = "N",
          default_value_t = flowsentry::kafka::source::DEFAULT_PARTITION_BUFFER as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    partition_buffer: u64,
    #[command(flatten)]
    engine: crate::EngineArgs,
}

pub fn consume_cmd(a: ConsumeArgs) -> Result<ExitCode> {
    use flowsentry::kafka::source::{KafkaSource, KafkaSourceConfig};
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    if a.engine.filter.is_some() {
        bail!("--filter (BPF) applies to captures, not to Kafka records");
    }
    let rules = Arc::new(crate::load_rules(a.engine.rules.as_ref())?);
    let kcfg = a.engine.kafka.require("consume")?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut cfg = PipelineConfig {
        stop: Some(stop.clone()),
        source_watermark: true,
        ..a.engine.pipeline_config()?
    };
    let _metrics = a.engine.serve_metrics(&mut cfg, &rules)?;
    let source = KafkaSource::new(KafkaSourceConfig {
        format: a.format,
        stop_at_end: a.stop_at_end,
        dead_letter: a.dead_letter.clone(),
        batch_ns: a.engine.batch,
        horizon_ns: rules.max_window_ns(),
        idle_timeout: Duration::from_nanos(a.idle_timeout),
        partition_buffer: a.partition_buffer as usize,
        max_skew_ns: cfg.max_skew_ns,
        ..KafkaSourceConfig::new(kcfg, &a.topic, &a.group)
    })?;
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // The first signal stops reading: windows flushed, alerts delivered, offsets
        // committed, the group left. A second one exits at once.
        signal_hook::flag::register_conditional_shutdown(sig, 130, stop.clone())
            .context("installing the signal handlers")?;
        signal_hook::flag::register(sig, stop.clone()).context("installing the signal handlers")?;
    }
    let tui = a.engine.tui();
    let summary = if tui {
        crate::run_dashboard(source, rules, cfg, &a.engine, "consume")?
    } else {
        let sink = crate::alert_sinks(&a.engine, cfg.stop.clone())?;
        let mut source = source;
        pipeline::run(&mut source, rules, &cfg, sink)?.0
    };
    crate::finish_run(&summary, &a.engine)
}
