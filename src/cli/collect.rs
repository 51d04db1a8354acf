//! `flowsentry collect`: NetFlow v5/v9, IPFIX and sFlow v5 from routers and switches, on UDP.

use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use flowsentry::pipeline::{self, PipelineConfig};
use flowsentry::source::flows::FlowSource;

use super::capture::stop_on_signals;

#[derive(Args)]
#[command(
    after_help = "Each flow enters the engine as a few weighted records (its packets and bytes, \
scaled by the exporter's sampling rate), never one record per packet. Windows use the flows' own \
times (first and last packet), so flows may arrive out of order by up to --flow-delay. sFlow \
samples are packet headers: each is decoded like a captured frame, weighted by its sample's rate, \
and dated when its datagram arrived (sFlow carries no other time). Stop with \
Ctrl-C (SIGINT) or SIGTERM: the sockets close, queued datagrams are decoded, windows flushed, \
alerts and the summary written, exit status 0; a second signal exits at once (status 130).\n\n\
Examples:\n  flowsentry collect --listen 0.0.0.0:2055 --alerts alerts.jsonl\n  \
flowsentry collect --listen 0.0.0.0:2055 --listen [::]:4739 --sampling 1000 --metrics 127.0.0.1:9464\n  \
softflowd -r capture.pcap -n 127.0.0.1:2055 -v 10   # a pcap through a real exporter\n  \
flowsentry collect --listen 0.0.0.0:6343 --alerts alerts.jsonl   # sFlow from switches"
)]
pub struct CollectArgs {
    /// UDP address to receive flows on (repeatable): NetFlow v5, v9, IPFIX and sFlow v5
    /// are told apart per datagram, exporters by address and observation domain / source
    /// id.
    #[arg(long, value_name = "ADDR:PORT", required = true)]
    listen: Vec<String>,
    /// Sampling rate of exporters that announce none (1 in N packets); v5 headers,
    /// v9/IPFIX options data and sFlow samples override it.
    #[arg(long, value_name = "N", default_value_t = 1)]
    sampling: u64,
    /// How late a flow may arrive after its last packet (the exporters' active timeout plus
    /// export delay): windows wait this long before they close. At least --lateness.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = crate::duration)]
    flow_delay: u64,
    /// Datagrams queued between the receiver and the engine; more are dropped and counted.
    #[arg(long, value_name = "N", default_value_t = 65_536)]
    queue: usize,
    #[command(flatten)]
    pub engine: crate::EngineArgs,
}

pub fn collect(a: CollectArgs) -> Result<std::process::ExitCode> {
    if a.engine.filter.is_some() {
        anyhow::bail!("--filter (BPF) applies to captures, not to flow records");
    }
    let rules = Arc::new(crate::load_rules(a.engine.rules.as_ref())?);
    // The signals stop the receiver only: what it queued is still decoded, then the source
    // ends and the pipeline flushes, so nothing received is left unprocessed.
    let stop = stop_on_signals()?;
    let l = pipeline::datagrams::listen(&a.listen, a.queue, stop)
        .context("binding the --listen addresses")?;
    let listen: Vec<String> = l.bound.iter().map(|b| b.to_string()).collect();
    let base = a.engine.pipeline_config()?;
    let mut cfg = PipelineConfig {
        lateness_ns: base.lateness_ns.max(a.flow_delay),
        ..base
    };
    let _metrics = a.engine.serve_metrics(&mut cfg, &rules)?;
    if !a.engine.quiet {
        eprintln!(
            "flowsentry: collecting NetFlow v5/v9, IPFIX and sFlow v5 on udp {}; Ctrl-C to stop",
            listen.join(", ")
        );
    }
    let mut source = FlowSource::new(
        l.rx,
        (l.dropped, l.kernel_dropped),
        listen,
        a.sampling,
        cfg.batch_ns,
    );
    let summary = if a.engine.tui() {
        // The dashboard runs the pipeline on its own thread: the source goes with it.
        crate::run_dashboard(source, rules, cfg, &a.engine, "collect")?
    } else {
        let sink = crate::alert_sinks(&a.engine, None)?;
        let (s, _) = pipeline::run(&mut source, rules, &cfg, sink)?;
        let n = source.netflow_stats();
        if !a.engine.quiet {
            eprintln!(
                "  flows        {} from {} datagrams (v5 {}, v9 {}, IPFIX {}); templates {}, options records {}; malformed datagrams {}, data without template {}, records not flows {}, implausible claims {}; sampling {}",
                n.flows, n.datagrams, n.v5, n.v9, n.ipfix, n.templates, n.options_records,
                n.malformed_datagrams, n.no_template, n.unusable_records, n.implausible_records,
                rates(&source)
            );
        }
        let sf = source.sflow_stats();
        if !a.engine.quiet && sf.datagrams > 0 {
            eprintln!(
                "  sflow        {} sampled packets from {} datagrams ({} flow samples, {} counter samples); non-IP headers {}; headers not decoded {} (lost); samples the agents dropped {}",
                sf.packets, sf.datagrams, sf.flow_samples, sf.counter_samples, sf.non_ip, sf.undecoded, sf.agent_drops
            );
        }
        s
    };
    crate::finish_run(&summary, &a.engine)
}

fn rates(s: &FlowSource) -> String {
    let r = s.rates();
    if r.is_empty() {
        return "as the fallback (--sampling) or v5 headers".into();
    }
    r.iter()
        .map(|(a, n)| format!("{a} 1:{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
