//! The `flowsentry` command: argument parsing and wiring only (`anyhow` lives here alone).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use flowsentry::pipeline::{self, PipelineConfig};
use flowsentry::rules::{self, RuleSet};
use flowsentry::sink::JsonlSink;
use flowsentry::source::live::{self as live_source, LiveCapture};
use flowsentry::source::PcapFiles;

/// Command-line code of the commands that have grown their own files.
mod cli {
    pub mod capture;
    pub mod collect;
    pub mod config;
    pub mod consume;
    pub mod publish;
    pub mod rules;
    pub mod synth;
}

use cli::capture::{banner, stop_on_signals, CaptureArgs};
use cli::rules::{rules_check, rules_list, RulesCmd};
use cli::synth::{synth_cmd, SynthArgs};

/// The demo capture (made by `flowsentry synth --scenario demo`), embedded so that
/// `flowsentry replay` with no file runs anywhere.
const DEMO_PCAP: &[u8] = include_bytes!("../captures/demo.pcap");

#[derive(Parser)]
#[command(
    name = "flowsentry",
    version,
    about = "Network-security stream analyzer: per-source sliding windows over packets, rules, alerts",
    long_about = "flowsentry reads packets (capture files now), partitions them by source address, \
computes per-source window metrics in event time (packet and byte rates, SYN counts, distinct \
destination ports and hosts, connection attempts), checks them against a rule file and writes \
alerts as JSON Lines in the layout of Suricata's EVE alerts.",
    after_help = "Examples:\n  flowsentry replay                         # the embedded demo capture, default rules\n  flowsentry replay scan.pcap --alerts alerts.jsonl --summary summary.json\n  flowsentry replay a.pcap b.pcapng --filter 'tcp or icmp' --shards 4\n  flowsentry rules check my-rules.toml\n  flowsentry rules list\n  flowsentry synth --scenario bench --out bench.pcap"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay capture files (pcap or pcapng) through the rules, as fast as possible or paced.
    Replay(ReplayArgs),
    /// Check or list rule files.
    #[command(subcommand)]
    Rules(RulesCmd),
    /// Write a labelled synthetic capture (benign traffic plus attacks) for tests and demos.
    Synth(SynthArgs),
    /// Watch a network interface live (libpcap) and raise alerts as the traffic arrives.
    Live(LiveArgs),
    /// List the interfaces libpcap can capture on (name, flags, addresses, description).
    Interfaces(InterfacesArgs),
    /// Sensor mode: decode capture files or a live interface and publish the packet records
    /// to a Kafka topic.
    Publish(cli::publish::PublishArgs),
    /// Read packet records (or pmacct flows) from a Kafka topic as a consumer group member.
    Consume(cli::consume::ConsumeArgs),
    /// Receive NetFlow v5/v9, IPFIX and sFlow v5 from routers and switches on UDP.
    Collect(cli::collect::CollectArgs),
}

#[derive(Args)]
#[command(
    after_help = "Stop with Ctrl-C (SIGINT) or SIGTERM: open windows are flushed, alerts and the summary \
written, exit status 0; a second signal exits at once (status 130). Capture needs root or \
`setcap cap_net_raw,cap_net_admin=eip $(which flowsentry)`.\n\nExamples:\n  \
flowsentry live -i eth0 --alerts alerts.jsonl --summary summary.json\n  \
flowsentry live -i eth0 --filter 'tcp or icmp' --no-tui"
)]
struct LiveArgs {
    /// Interface to capture on (`flowsentry interfaces` lists them; `any`: all of them).
    #[arg(long, short = 'i', value_name = "IFACE")]
    interface: String,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    capture: CaptureArgs,
    /// More log output (-v debug for flowsentry, -vv debug for everything). The periodic
    /// counters are logged at info, which live mode shows by default (FLOWSENTRY_LOG overrides).
    #[arg(long, short, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Args)]
struct InterfacesArgs {
    /// One JSON object per interface instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
#[command(
    after_help = "Exit status: 0 when every record was read and processed; 1 when an input was \
unreadable part-way (the rest was used); 3 when records were lost (late, skewed, dropped, \
malformed; --accept-loss: 0) or the replay was stopped before the end. Ctrl-C (SIGINT) or \
SIGTERM stops reading: open windows are flushed, the alerts and the summary (with how far \
the input was read) written; a second signal exits at once (status 130)."
)]
struct ReplayArgs {
    /// Capture files, read in the order given. None: the embedded demo capture.
    files: Vec<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
    /// Pace the replay at X times the recorded speed (default: as fast as possible).
    #[arg(long, value_name = "X")]
    speed: Option<f64>,
    /// How files are read: `mapped` parses them in place, memory-mapped, with no copy of
    /// any frame (libpcap compiles `--filter`, and reads what `mapped` does not: pipes,
    /// the "modified" pcap format); `libpcap` reads every file through libpcap. Both give
    /// the same frames, so the same alerts.
    #[arg(long, value_enum, value_name = "HOW", default_value = "mapped")]
    reader: flowsentry::source::Reader,
}

#[derive(Args)]
struct EngineArgs {
    #[command(flatten)]
    _config: cli::config::ConfigArg,
    /// Rule file (TOML) replacing the embedded default pack (see `flowsentry rules list`).
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// BPF filter (libpcap's syntax, compiled by libpcap) applied before decoding, e.g.
    /// 'tcp or icmp'.
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// Where alerts go, one JSON object per line; `-` for stdout.
    #[arg(long, value_name = "PATH", default_value = "-")]
    alerts: PathBuf,
    /// Also write the end-of-run summary as JSON to PATH.
    #[arg(long, value_name = "PATH")]
    summary: Option<PathBuf>,
    /// Shards (threads owning per-source state). Default: the number of cores.
    #[arg(long, value_name = "N")]
    shards: Option<usize>,
    /// Micro-batch interval: windows and slides are whole numbers of batches.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = duration)]
    batch: u64,
    /// Allowed lateness: how far behind the newest capture time a packet may arrive and still
    /// count. Later packets are counted as late and dropped.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = duration_zero)]
    lateness: u64,
    /// A record dated more than this ahead of the newest one (a bad clock, a bogus pcap
    /// time) is held back from the watermark, and dropped as skewed (counted, logged)
    /// unless the next records follow it there (a real jump: a quiet spell, the next file
    /// a day later). Records this far (plus --lateness) behind the newest one, 4 in a row,
    /// show the clock jumped back (merged files, a reset clock): the windows before the
    /// jump are closed and a new segment starts (warned, counted, exit status 3). 0s turns
    /// both checks off. Kafka consume checks each partition for records ahead (its
    /// records behind the watermark are late).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration_zero)]
    max_clock_skew: u64,
    /// Exit 0 even when records were lost (late, skewed, dropped, malformed); without it
    /// such a run exits 3 after finishing its work, as it did not process all its input.
    #[arg(long)]
    accept_loss: bool,
    /// Most keys (sources, destinations, pairs, flows) held at once, all stages and shards
    /// together; beyond it the quietest are evicted (counted).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    max_keys: usize,
    /// Memory for keyed state (windows and conversation tables), in MiB, all shards
    /// together. When a flood of new sources reaches it, the quietest keys are evicted
    /// (counted, logged, `keys evicted ... for --max-state` in the summary); keys that
    /// alerted or have a rule near firing go last. Bytes per key are measured as the run
    /// goes, so the cap holds for any traffic mix.
    #[arg(long, value_name = "MiB", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    max_state: u64,
    /// Distinct elements a set holds exactly before it becomes a HyperLogLog sketch.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    distinct_bound: usize,
    /// Connection-outcome rules: an attempt (SYN, UDP datagram, ping, other probe) with no
    /// answer this long after it counts as unanswered; UDP a host received and did not
    /// answer this long after counts as unsolicited.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = duration)]
    conn_timeout: u64,
    /// Most conversations tracked at once (all shards); when full, resolved ones idle the
    /// longest are dropped to make room, then the oldest unresolved attempts (counted:
    /// `conversations.evicted` in the summary).
    #[arg(long, value_name = "N", default_value_t = 1 << 17)]
    max_conversations: usize,
    /// Most conversations one host holds at once (as the side that attempts or receives),
    /// so a flood of spoofed sources at one victim or one fast scanner cannot take the table
    /// from the other hosts; further attempts of that host are counted
    /// (`conversations.host_capped`) and logged once.
    #[arg(long, value_name = "N", default_value_t = 1 << 13)]
    max_conversations_per_host: u32,
    /// Serve Prometheus metrics at http://ADDR/metrics (OpenMetrics text: packets, decode
    /// errors by layer, drops, late and skewed records, keys, state bytes, alerts by rule,
    /// watermark lag) and a JSON health report at /health while the run lasts, e.g.
    /// 127.0.0.1:9464 (port 0: any free port, printed at the start).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
    /// No terminal dashboard (it shows when stdout is a terminal).
    #[arg(long)]
    no_tui: bool,
    /// Show the terminal dashboard even when stdout is not a terminal. With `--alerts -`
    /// alerts are then shown only on the dashboard, not written.
    #[arg(long, conflicts_with = "no_tui")]
    tui: bool,
    /// No progress bar, and no summary on stderr.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    kafka: flowsentry::kafka::cli::KafkaArgs,
}

impl EngineArgs {
    /// With `--metrics`: the run's telemetry, served from now on (the server lives as long
    /// as the returned guard).
    fn serve_metrics(
        &self,
        cfg: &mut PipelineConfig,
        rules: &RuleSet,
    ) -> Result<Option<pipeline::MetricsServer>> {
        let Some(addr) = &self.metrics else {
            return Ok(None);
        };
        let tel = Arc::new(flowsentry::telemetry::Telemetry::new(
            cfg.shards.max(1),
            rules.rules.iter().map(|r| r.id.clone()).collect(),
            cfg.batch_ns,
        ));
        cfg.telemetry = Some(tel.clone());
        let server = pipeline::MetricsServer::start(addr, tel)
            .with_context(|| format!("--metrics {addr}: cannot serve there"))?;
        eprintln!(
            "flowsentry: metrics at http://{0}/metrics, health at http://{0}/health",
            server.addr
        );
        Ok(Some(server))
    }

    /// The pipeline settings these options make (`--shards`, `--batch`, `--lateness`,
    /// `--max-keys`, `--distinct-bound`); each command adds its own.
    fn pipeline_config(&self) -> Result<PipelineConfig> {
        let mut cfg = PipelineConfig {
            batch_ns: self.batch,
            lateness_ns: self.lateness,
            max_skew_ns: self.max_clock_skew,
            max_keys: self.max_keys,
            max_state_bytes: usize::try_from(self.max_state << 20).unwrap_or(usize::MAX),
            distinct_bound: self.distinct_bound,
            progress: false,
            conversation: flowsentry::conversation::ConversationConfig {
                timeout_ns: self.conn_timeout,
                max_entries: self.max_conversations.max(1),
                max_per_host: self.max_conversations_per_host.max(1),
                ..Default::default()
            },
            reload: Some(self.rule_reload()?),
            ..Default::default()
        };
        if let Some(n) = self.shards {
            if n == 0 {
                bail!("--shards must be at least 1");
            }
            cfg.shards = n;
        }
        Ok(cfg)
    }

    /// SIGHUP re-reads `--rules` (or the embedded pack) while the run goes on.
    fn rule_reload(&self) -> Result<pipeline::RuleReload> {
        let requested = Arc::new(std::sync::atomic::AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGHUP, requested.clone())
            .context("installing the SIGHUP handler")?;
        let path = self.rules.clone();
        Ok(pipeline::RuleReload {
            requested,
            load: Arc::new(move || read_rules(path.as_ref())),
        })
    }

    /// Whether the dashboard shows: with `--tui`, or on a terminal stdout without `--no-tui`.
    fn tui(&self) -> bool {
        self.tui || (!self.no_tui && std::io::stdout().is_terminal())
    }
}

fn duration(s: &str) -> Result<u64, String> {
    match rules::parse_duration_str(s) {
        Some(0) => Err("must be positive".into()),
        Some(v) => Ok(v),
        None => Err(format!("`{s}` is not a duration (e.g. 500ms, 1s, 5m)")),
    }
}

fn duration_zero(s: &str) -> Result<u64, String> {
    rules::parse_duration_str(s)
        .ok_or_else(|| format!("`{s}` is not a duration (e.g. 0s, 500ms, 2s)"))
}

fn main() -> ExitCode {
    // The options of `--config FILE` first, then the command line's own.
    let cli: Cli = match cli::config::parse(std::env::args_os()) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    // Live mode logs its capture and drop counters at info: shown unless --quiet.
    let default_log = match &cli.cmd {
        Command::Live(a) if a.engine.quiet => "warn",
        Command::Live(a) if a.verbose >= 2 => "debug",
        Command::Live(a) if a.verbose == 1 => "warn,flowsentry=debug",
        Command::Live(_) => "warn,flowsentry=info",
        Command::Publish(a) => a.default_log(),
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FLOWSENTRY_LOG")
                .unwrap_or_else(|_| default_log.into()),
        )
        // stderr, held back while the dashboard owns the terminal
        .with_writer(flowsentry::dashboard::log_writer)
        // no colour codes in log files (live mode logs its counters there)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let r = match cli.cmd {
        Command::Replay(a) => replay(a),
        Command::Rules(RulesCmd::Check { files }) => rules_check(files),
        Command::Rules(RulesCmd::List { file }) => rules_list(file),
        Command::Synth(a) => synth_cmd(a),
        Command::Live(a) => live(a),
        Command::Interfaces(a) => interfaces_cmd(a),
        Command::Publish(a) => cli::publish::publish_cmd(a),
        Command::Consume(a) => cli::consume::consume_cmd(a),
        Command::Collect(a) => cli::collect::collect(a),
    };
    match r {
        Ok(code) => code,
        // The reader of our stdout went away (`flowsentry rules list | head`): stop quietly,
        // as ripgrep does.
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flowsentry: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn load_rules(path: Option<&PathBuf>) -> Result<RuleSet> {
    read_rules(path).map_err(|e| anyhow::anyhow!(e))
}

/// The rule file at `path` (`None`: the embedded pack), or every error in it, one a line
/// (FILE:LINE:COLUMN: ...), and a last line that says how many.
fn read_rules(path: Option<&PathBuf>) -> std::result::Result<RuleSet, String> {
    let Some(p) = path else {
        return Ok(rules::default_rules());
    };
    let text = std::fs::read_to_string(p)
        .map_err(|e| format!("reading rule file {}: {e}", p.display()))?;
    rules::parse_rules(&text, &p.display().to_string()).map_err(|errs| {
        let mut msg: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        msg.push(format!(
            "{} error(s) in {}; `flowsentry rules check` explains the format",
            errs.len(),
            p.display()
        ));
        msg.join("\n")
    })
}

fn replay(a: ReplayArgs) -> Result<ExitCode> {
    let rules = Arc::new(load_rules(a.engine.rules.as_ref())?);
    let (files, _demo_guard) = if a.files.is_empty() {
        let dir =
            tempfile::tempdir().context("creating a temporary directory for the demo capture")?;
        let p = dir.path().join("demo.pcap");
        std::fs::write(&p, DEMO_PCAP).context("writing the demo capture")?;
        eprintln!("flowsentry: no capture given; replaying the embedded demo capture (captures/demo.pcap)");
        (vec![p], Some(dir))
    } else {
        (a.files.clone(), None)
    };
    let mut source = PcapFiles::open_with(&files, a.engine.filter.as_deref(), a.reader)?;
    if _demo_guard.is_some() {
        source.rename(&["captures/demo.pcap (embedded)".to_string()]);
    }
    let tui = a.engine.tui();
    let progress = !a.engine.quiet && std::io::stderr().is_terminal();
    // The first signal stops reading: open windows are flushed, the summary says how far
    // the replay got, and the exit status is 3; a second one exits at once.
    let stop = stop_on_signals()?;
    let mut cfg = PipelineConfig {
        speed: a.speed,
        progress,
        stop: Some(stop),
        ..a.engine.pipeline_config()?
    };
    let _metrics = a.engine.serve_metrics(&mut cfg, &rules)?;
    if let Some(x) = a.speed {
        if !(x > 0.0 && x.is_finite()) {
            bail!("--speed must be a positive number");
        }
    }
    let summary = if tui {
        run_dashboard(source, rules, cfg, &a.engine, "replay")?
    } else {
        let sink = alert_sinks(&a.engine, cfg.stop.clone())?;
        pipeline::run(&mut source, rules, &cfg, sink)?.0
    };
    let code = finish_run(&summary, &a.engine)?;
    match &summary.stopped_early {
        // A replay read in part is not complete, whatever else went well.
        Some(st) if code == ExitCode::SUCCESS => {
            eprintln!(
                "flowsentry: stopped before the end of the input ({} of {} bytes read): exit \
                 status 3",
                st.input_bytes_read,
                st.input_bytes.map_or("?".into(), |b| b.to_string())
            );
            Ok(ExitCode::from(3))
        }
        _ => Ok(code),
    }
}

/// Run the pipeline on its own thread under the terminal dashboard; returns once the user
/// quits (`q`) and the terminal is restored. With `--alerts -` the alerts are shown on the
/// dashboard only: stdout is its screen.
fn run_dashboard<P: flowsentry::source::PacketSource + Send + 'static>(
    source: P,
    rules: Arc<RuleSet>,
    cfg: PipelineConfig,
    e: &EngineArgs,
    mode: &str,
) -> Result<flowsentry::summary::Summary> {
    use flowsentry::dashboard;
    use flowsentry::sink::AlertSink;
    let off_screen = e.alerts.as_os_str() == "-";
    let mut sinks: Vec<Box<dyn AlertSink>> = Vec::new();
    if !off_screen {
        sinks.push(Box::new(jsonl_sink(&e.alerts)?));
    }
    if let Some(k) = e.kafka.alert_sink(cfg.stop.clone())? {
        sinks.push(Box::new(k));
    }
    let opts = dashboard::Options {
        input: source.describe(),
        mode: mode.into(),
        alerts_to: if off_screen {
            "dashboard only (--alerts -)".into()
        } else {
            e.alerts.display().to_string()
        },
    };
    let (summary, _) = dashboard::run_pipeline(source, rules, cfg, sinks, opts)??;
    if off_screen && summary.alerts > 0 {
        eprintln!(
            "flowsentry: {} alert(s) were shown on the dashboard only, not written (stdout was its \
screen); use --alerts FILE, or --no-tui for JSON Lines on stdout",
            summary.alerts
        );
    }
    Ok(summary)
}

fn live(a: LiveArgs) -> Result<ExitCode> {
    use flowsentry::source::PacketSource;

    let rules = Arc::new(load_rules(a.engine.rules.as_ref())?);
    let opts = a.capture.options(&a.interface, a.engine.filter.clone());
    let source = LiveCapture::open(&opts)?;
    // The first signal asks for a clean stop; a second one exits.
    let stop = stop_on_signals()?;
    let mut cfg = PipelineConfig {
        // A live source cannot wait: a full shard queue drops (and counts) a record batch.
        // Deeper queues than replay's (256 x 1024 records, ~15 MB a shard) ride out the
        // moments other processes hold the CPUs, before the kernel ring would overflow.
        drop_when_full: true,
        queue_depth: 256,
        clock: Some(Arc::new(flowsentry::clock::SystemClock)),
        stop: Some(stop.clone()),
        report_every: Some(a.capture.report_every()),
        ..a.engine.pipeline_config()?
    };
    let _metrics = a.engine.serve_metrics(&mut cfg, &rules)?;
    if !a.engine.quiet {
        eprintln!(
            "flowsentry: {}; Ctrl-C to stop",
            banner(&source.describe(), &opts)
        );
    }
    // The dashboard (as in replay): `q` or Ctrl-C in it stops the capture the same way.
    let tui = a.engine.tui();
    let summary = if tui {
        run_dashboard(source, rules, cfg, &a.engine, "live")?
    } else {
        let mut source = source;
        // An alert Kafka cannot take stops the capture too (exit status 2).
        let sink = alert_sinks(&a.engine, Some(stop))?;
        pipeline::run(&mut source, rules, &cfg, sink)?.0
    };
    finish_run(&summary, &a.engine)
}

fn interfaces_cmd(a: InterfacesArgs) -> Result<ExitCode> {
    let list = live_source::interfaces()?;
    if a.json {
        for i in &list {
            println!("{}", serde_json::to_string(i)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        eprintln!("flowsentry: libpcap lists no interfaces");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<16} {:<26} {:<40} DESCRIPTION",
        "NAME", "FLAGS", "ADDRESSES"
    );
    for i in &list {
        let addrs = if i.addresses.is_empty() {
            "-".to_string()
        } else {
            i.addresses.join(" ")
        };
        println!(
            "{:<16} {:<26} {:<40} {}",
            i.name,
            i.flags_text(),
            addrs,
            i.description.as_deref().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The `--alerts` file, reopened on SIGHUP (for logrotate: rename, then signal).
fn jsonl_sink(path: &std::path::Path) -> Result<JsonlSink> {
    let hup = Arc::new(std::sync::atomic::AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())
        .context("installing the SIGHUP handler")?;
    Ok(JsonlSink::create(path)?.reopen_when(path, hup))
}

/// The JSON Lines sink, plus Kafka with `--alerts-kafka` (which raises `stop`, if given, when
/// an alert cannot be delivered).
fn alert_sinks(
    e: &EngineArgs,
    stop: Option<Arc<std::sync::atomic::AtomicBool>>,
) -> Result<Vec<Box<dyn flowsentry::sink::AlertSink>>> {
    let mut sinks: Vec<Box<dyn flowsentry::sink::AlertSink>> =
        vec![Box::new(jsonl_sink(&e.alerts)?)];
    if let Some(k) = e.kafka.alert_sink(stop)? {
        sinks.push(Box::new(k));
    }
    Ok(sinks)
}

/// The end of every run: the summary to `--summary` and stderr; exit 1 when some input was
/// unreadable part-way (the rest was used), 3 when records were lost (unless accepted).
fn finish_run(summary: &flowsentry::summary::Summary, engine: &EngineArgs) -> Result<ExitCode> {
    if let Some(p) = &engine.summary {
        let json = serde_json::to_string_pretty(summary)?;
        std::fs::write(p, json + "\n")
            .with_context(|| format!("writing summary {}", p.display()))?;
    }
    if !engine.quiet {
        eprint!("{summary}");
    }
    Ok(if !summary.input_errors.is_empty() {
        ExitCode::from(1)
    } else if summary.incomplete() && !engine.accept_loss {
        if engine.quiet {
            // -q prints no summary: say it here.
            eprintln!(
                "flowsentry: {} records not processed (late, skewed, dropped or malformed), \
                 {} clock jumps back (see the summary): exit status 3",
                summary.lost_records, summary.clock_jumps_back
            );
        }
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
