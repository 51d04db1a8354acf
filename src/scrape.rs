//! Scrape: the run's telemetry as Prometheus (OpenMetrics) text and as a JSON health report.
//!
//! In: a [`Telemetry`] being written by the pipeline (its counters, shard gauges, rule hits
//! and the summary the reader publishes a few times per second) and the rule ids. Out:
//! the text `/metrics` serves ([`render`]) and the JSON `/health` serves ([`health`]).
//! Guarantees: reading never blocks the pipeline longer than one copy of the published
//! summary; every loss the summary counts (`Summary::losses`) is a labelled series, so a
//! scrape shows what a run dropped while it runs, not only at its end.

use std::sync::atomic::Ordering::Relaxed;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;

use crate::telemetry::Telemetry;

type Labels = Vec<(&'static str, String)>;

/// One scrape's registry, filled with the values of the moment (built anew per scrape:
/// the values live in the telemetry, not here).
struct Scrape(Registry);

impl Scrape {
    fn counter(&mut self, name: &str, help: &str, series: &[(Labels, u64)]) {
        let f = Family::<Labels, Counter>::default();
        for (l, v) in series {
            f.get_or_create(l).inc_by(*v);
        }
        self.0.register(name, help, f);
    }

    fn gauge(&mut self, name: &str, help: &str, series: &[(Labels, f64)]) {
        let f = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        for (l, v) in series {
            f.get_or_create(l).set(*v);
        }
        self.0.register(name, help, f);
    }
}

fn one<T: Copy>(v: T) -> [(Labels, T); 1] {
    [(Vec::new(), v)]
}

fn by<T: Copy>(label: &'static str, items: &[(&str, T)]) -> Vec<(Labels, T)> {
    items
        .iter()
        .map(|(k, v)| (vec![(label, (*k).to_string())], *v))
        .collect()
}

/// The OpenMetrics text of the run as it stands.
pub fn render(t: &Telemetry) -> String {
    // The atomics are stored every 1,024 packets, the summary also when the input idles:
    // the larger of the two is the newer.
    let s = t.summary();
    let c = &t.counters;
    let mut m = Scrape(Registry::with_prefix("flowsentry"));
    let input = vec![("input", s.input.clone())];
    m.counter(
        "packets",
        "Frames read from the input (after the BPF filter), or records from Kafka",
        &[(input.clone(), c.packets.load(Relaxed).max(s.packets))],
    );
    m.counter(
        "bytes",
        "Bytes on the wire of those frames",
        &[(input.clone(), c.bytes.load(Relaxed).max(s.bytes))],
    );
    m.counter(
        "records",
        "Records the decoder made of them",
        &[(input, s.decode.records)],
    );
    let d = &s.decode;
    m.counter(
        "decode_errors",
        "Frames or records with a malformed or truncated header, by layer",
        &by(
            "layer",
            &[
                ("link", d.link_errors),
                ("network", d.network_errors),
                ("ip_extension", d.ip_ext_errors),
                ("transport", d.transport_errors),
                ("unsupported_link", d.unsupported_link),
            ],
        ),
    );
    m.counter(
        "drops",
        "Records dropped before the engine: by the kernel, the interface, a full shard queue, flow datagrams the collector could not queue, flow data whose template never came",
        &by(
            "kind",
            &[
                ("kernel", s.kernel_drops),
                ("interface", s.interface_drops),
                ("datagram", s.datagram_drops),
                ("no_template", s.data_without_template),
                ("queue", c.queue_drops.load(Relaxed).max(s.queue_drops)),
            ],
        ),
    );
    m.counter(
        "late_records",
        "Records dropped for their time: behind the watermark, or dated too far ahead",
        &by(
            "kind",
            &[
                ("late", s.late_packets),
                ("late_copy", s.late_copies),
                ("skewed", s.skewed),
            ],
        ),
    );
    m.counter(
        "clock_jumps_back",
        "Times the capture clock jumped back: windows before the jump were closed and a new segment started",
        &one(s.clock_jumps_back),
    );
    m.counter(
        "rule_reloads",
        "Rule reloads (SIGHUP): applied, or rejected (the file did not load; the old rules kept running)",
        &by(
            "result",
            &[("applied", s.rule_reloads), ("rejected", s.rule_reloads_rejected)],
        ),
    );
    m.counter(
        "malformed_input",
        "Inputs a source skipped as malformed (Kafka messages, flow records)",
        &one(s.malformed_input),
    );
    let lost = s.lost();
    m.counter(
        "lost_records",
        "Records read or known to exist that the engine did not process (the exit status is 3 when not 0)",
        &one(lost),
    );
    render_state(&mut m, t);
    let hits: Vec<(Labels, u64)> = t
        .hits()
        .into_iter()
        .map(|(id, n)| (vec![("rule", id)], n))
        .collect();
    m.counter("alerts", "Alerts raised, by rule", &hits);
    if let Some(f) = &s.flow_export {
        render_flows(&mut m, f);
    }
    m.counter(
        "alert_sink_failures",
        "Alert sink writes that failed (the run stops writing alerts at the first)",
        &one(c.sink_failures.load(Relaxed)),
    );
    m.gauge(
        "alert_sink_backlog",
        "Alerts written to the sinks and not yet durable (Kafka: not yet acknowledged by the \
         broker), after the latest watermark",
        &one(c.sink_backlog.load(Relaxed) as f64),
    );
    let capture = c.capture_ns.load(Relaxed);
    m.gauge(
        "watermark_lag_seconds",
        "Newest capture time seen less the watermark (windows closed up to it)",
        &one(watermark_lag_s(t)),
    );
    m.gauge(
        "capture_time_seconds",
        "Newest capture time seen, seconds since the Unix epoch",
        &one(capture as f64 / 1e9),
    );
    m.gauge(
        "finished",
        "1 once the input is read to its end and every window is closed",
        &one(c.finished.load(Relaxed) as f64),
    );
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut out, &m.0);
    out
}

/// What a flow collector's datagrams held: by protocol, templates, sampling per exporter.
fn render_flows(m: &mut Scrape, f: &crate::summary::FlowExport) {
    let (n, sf) = (&f.stats, &f.sflow);
    m.counter(
        "flow_datagrams",
        "Flow datagrams received, by protocol (malformed ones too)",
        &by(
            "protocol",
            &[
                ("netflow_v5", n.v5),
                ("netflow_v9", n.v9),
                ("ipfix", n.ipfix),
                ("sflow", sf.datagrams),
            ],
        ),
    );
    m.counter(
        "flow_records",
        "Flow records: flows used, NetFlow/IPFIX records that were no flow, data waiting for \
         its template, implausible claims (kept at the bounds), sFlow sampled packets used, \
         sFlow headers of non-IP frames, sFlow headers not decoded (lost)",
        &by(
            "kind",
            &[
                ("flow", n.flows),
                ("not_a_flow", n.unusable_records),
                ("no_template", n.no_template),
                ("implausible", n.implausible_records),
                ("sflow_packet", sf.packets),
                ("sflow_non_ip", sf.non_ip),
                ("sflow_undecoded", sf.undecoded),
            ],
        ),
    );
    m.counter(
        "flow_templates",
        "NetFlow v9 / IPFIX templates received",
        &one(n.templates),
    );
    m.counter(
        "sflow_agent_drops",
        "Samples the sFlow agents said they dropped (their counts are that much short)",
        &one(sf.agent_drops),
    );
    let rates: Vec<(Labels, f64)> = f
        .sampling
        .iter()
        .map(|(e, r)| (vec![("exporter", e.clone())], *r as f64))
        .collect();
    m.gauge(
        "exporter_sampling_rate",
        "Sampling rate (1 in N packets) announced by or seen from each exporter (at most 4,096)",
        &rates,
    );
    let per = |get: fn(&crate::summary::ExporterTemplates) -> u64| -> Vec<(Labels, f64)> {
        f.templates
            .iter()
            .map(|t| {
                let labels = vec![
                    ("exporter", t.exporter.clone()),
                    ("domain", t.domain.to_string()),
                    ("protocol", t.protocol.to_string()),
                ];
                (labels, get(t) as f64)
            })
            .collect()
    };
    m.gauge(
        "exporter_templates",
        "Templates cached per NetFlow v9 / IPFIX exporter (address and port, source id or \
         observation domain; at most 4,096 exporters)",
        &per(|t| t.templates),
    );
    m.gauge(
        "exporter_waiting_records",
        "Data records of each exporter held until their template arrives",
        &per(|t| t.waiting),
    );
}

/// Keys and state per shard.
fn render_state(m: &mut Scrape, t: &Telemetry) {
    let shard = |f: &dyn Fn(&crate::telemetry::ShardGauge) -> u64| -> Vec<(Labels, f64)> {
        t.shards
            .iter()
            .enumerate()
            .map(|(i, g)| (vec![("shard", i.to_string())], f(g) as f64))
            .collect()
    };
    m.gauge(
        "keys",
        "Keys (sources, destinations, pairs, flows) with window state, by shard",
        &shard(&|g| g.keys.load(Relaxed)),
    );
    m.gauge(
        "state_bytes",
        "Bytes of keyed state (windows and conversation table), by shard, estimated at each \
         watermark (the cap: --max-state)",
        &shard(&|g| g.state_bytes.load(Relaxed)),
    );
    m.gauge(
        "queue_depth",
        "Messages waiting in the shard's queue",
        &shard(&|g| g.queue_depth.load(Relaxed)),
    );
    let sum =
        |f: &dyn Fn(&crate::telemetry::ShardGauge) -> u64| -> u64 { t.shards.iter().map(f).sum() };
    m.counter(
        "keys_evicted",
        "Keys dropped to keep state in bounds (--max-keys, --max-state)",
        &one(sum(&|g| g.keys_evicted.load(Relaxed))),
    );
    m.counter(
        "keys_expired",
        "Keys forgotten after their longest window passed with no traffic",
        &one(sum(&|g| g.keys_expired.load(Relaxed))),
    );
}

#[derive(Serialize)]
struct Health<'a> {
    /// `running`, or `finished` once the input is read and every window closed.
    status: &'static str,
    /// `complete` while nothing was lost, else `incomplete` (the run will exit 3).
    completeness: &'static str,
    input: &'a str,
    packets: u64,
    alerts: u64,
    lost_records: u64,
    watermark_lag_seconds: f64,
}

/// The JSON `/health` serves.
pub fn health(t: &Telemetry) -> String {
    let s = t.summary();
    let c = &t.counters;
    let lost = s.lost();
    let h = Health {
        status: if c.finished.load(Relaxed) > 0 {
            "finished"
        } else {
            "running"
        },
        completeness: if lost == 0 { "complete" } else { "incomplete" },
        input: &s.input,
        packets: c.packets.load(Relaxed).max(s.packets),
        alerts: c.alerts.load(Relaxed),
        lost_records: lost,
        watermark_lag_seconds: watermark_lag_s(t),
    };
    serde_json::to_string(&h).unwrap_or_default()
}

/// Newest capture time seen less the watermark, in seconds.
fn watermark_lag_s(t: &Telemetry) -> f64 {
    let c = &t.counters;
    let wm = c.watermark_batch.load(Relaxed).saturating_mul(t.batch_ns);
    c.capture_ns.load(Relaxed).saturating_sub(wm) as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::Summary;

    #[test]
    fn every_loss_is_a_series_and_rules_are_labelled() {
        let t = Telemetry::new(2, vec!["a".into(), "b".into()], 1_000_000_000);
        let s = Summary {
            input: "x.pcap".into(),
            late_packets: 3,
            skewed: 2,
            kernel_drops: 5,
            ..Default::default()
        };
        t.publish_summary(s);
        t.counters.packets.store(42, Relaxed);
        t.rule_hits.lock().unwrap()[1].1 = 7;
        t.counters.capture_ns.store(10_500_000_000, Relaxed);
        t.counters.watermark_batch.store(9, Relaxed);
        let text = render(&t);
        for line in [
            "flowsentry_packets_total{input=\"x.pcap\"} 42",
            "flowsentry_late_records_total{kind=\"late\"} 3",
            "flowsentry_late_records_total{kind=\"skewed\"} 2",
            "flowsentry_drops_total{kind=\"kernel\"} 5",
            "flowsentry_lost_records_total 10",
            "flowsentry_alerts_total{rule=\"b\"} 7",
            "flowsentry_alerts_total{rule=\"a\"} 0",
            "flowsentry_watermark_lag_seconds 1.5",
            "flowsentry_keys{shard=\"1\"} 0.0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
        let h: serde_json::Value = serde_json::from_str(&health(&t)).unwrap();
        assert_eq!(h["status"], "running");
        assert_eq!(h["completeness"], "incomplete");
        assert_eq!(h["lost_records"], 10);
    }

    #[test]
    fn flow_collectors_show_protocols_records_and_rates_by_exporter() {
        let t = Telemetry::new(1, vec![], 1_000_000_000);
        let mut f = crate::summary::FlowExport::default();
        f.stats.v9 = 4;
        f.stats.templates = 2;
        f.stats.flows = 30;
        f.sflow.datagrams = 3;
        f.sflow.packets = 24;
        f.sampling = vec![("192.0.2.1".into(), 1000)];
        f.templates = vec![crate::summary::ExporterTemplates {
            exporter: "192.0.2.1:9995".into(),
            domain: 7,
            protocol: "ipfix",
            templates: 3,
            waiting: 1,
        }];
        t.publish_summary(crate::summary::Summary {
            flow_export: Some(f),
            ..Default::default()
        });
        let text = render(&t);
        for line in [
            "flowsentry_flow_datagrams_total{protocol=\"netflow_v9\"} 4",
            "flowsentry_flow_datagrams_total{protocol=\"sflow\"} 3",
            "flowsentry_flow_records_total{kind=\"flow\"} 30",
            "flowsentry_flow_records_total{kind=\"sflow_packet\"} 24",
            "flowsentry_flow_templates_total 2",
            "flowsentry_exporter_sampling_rate{exporter=\"192.0.2.1\"} 1000.0",
            "flowsentry_exporter_templates{exporter=\"192.0.2.1:9995\",domain=\"7\",protocol=\"ipfix\"} 3.0",
            "flowsentry_exporter_waiting_records{exporter=\"192.0.2.1:9995\",domain=\"7\",protocol=\"ipfix\"} 1.0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        let other = Telemetry::new(1, vec![], 1_000_000_000);
        assert!(
            !render(&other).contains("flow_datagrams"),
            "only for collectors"
        );
    }
}
