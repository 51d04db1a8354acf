//! Alerts: what a rule found in one key's window, and its JSON Lines form.
//!
//! In: [`Alert`]s from the shards (plain data: rule index, key, window, metric values).
//! Out: one JSON object per alert, a valid record of Suricata's EVE schema (`timestamp`,
//! `event_type`, `src_ip`, `dest_ip`, `proto`, `alert.signature_id`, `alert.source`,
//! `alert.target`, ...), with what is ours (a stable `id`, `group_by`, `window`,
//! `metrics`, `evidence`, `condition`) in `alert.context`.
//! Guarantees: the same alert renders to the same bytes in every run and process; the
//! order [`Alert::sort_key`] (window end, rule, key) makes output independent of shards.

use chrono::{DateTime, SecondsFormat};
use serde::Serialize;

use crate::metrics::Metric;
use crate::record::{proto_name, Addr};
use crate::rules::{fmt_duration, GroupBy, RuleSet};
use crate::window::FlowKey;

#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Index of the rule in its [`RuleSet`].
    pub rule: u16,
    pub group_by: GroupBy,
    /// The key's address (the source for `pair` and `flow` rules).
    pub key: Addr,
    /// The address pair or 5-tuple of a `pair` or `flow` rule.
    pub flow: Option<FlowKey>,
    pub window_start_ns: u64,
    pub window_end_ns: u64,
    /// First and last packet of the window (capture time).
    pub first_ns: u64,
    pub last_ns: u64,
    /// The one peer of every packet in the window (destination for `src` rules), if any.
    pub peer: Option<Addr>,
    pub proto: Option<u8>,
    /// The metrics the condition read, with their values.
    pub values: Vec<(Metric, f64)>,
    /// `zscore(metric)` values the condition read.
    pub zscores: Vec<(Metric, f64)>,
    /// The host group whose override of the rule applied to the key, if any.
    pub host_group: Option<String>,
    pub evidence: Evidence,
}

/// What an analyst needs to act on an alert alone: the key's most frequent destination ports
/// and peers (destinations for `src` rules, sources for `dst` rules) among the packets the
/// rule looks at. Each count runs from `since` (when the key's state for the rule began, or
/// when the element entered the list), so it can cover more than the window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evidence {
    /// (port, packets, since ns)
    pub top_dst_ports: Vec<(u16, u32, u64)>,
    /// (address, packets, since ns)
    pub top_peers: Vec<(Addr, u32, u64)>,
    /// More distinct ports or peers than the list holds were seen: listed counts may include
    /// sightings of elements they replaced (space-saving), and a light element may be missing.
    pub approx: bool,
    /// The rule's distinct sets turned into sketches: its distinct metrics are estimates.
    pub sketched: bool,
}

impl Alert {
    pub fn sort_key(&self) -> (u64, u16, Addr, Option<FlowKey>) {
        (self.window_end_ns, self.rule, self.key, self.flow)
    }

    /// A stable id: xxh3 of rule id, grouping, key and window end.
    pub fn id(&self, rules: &RuleSet) -> String {
        let r = &rules.rules[self.rule as usize];
        let text = match &self.flow {
            None => format!(
                "{}|{}|{}|{}",
                r.id,
                self.group_by.name(),
                self.key,
                self.window_end_ns
            ),
            Some(f) => format!(
                "{}|{}|{}|{}|{}|{}|{}|{}",
                r.id,
                self.group_by.name(),
                f.src,
                f.dst,
                f.src_port,
                f.dst_port,
                f.proto,
                self.window_end_ns
            ),
        };
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
    }

    pub fn to_json(&self, rules: &RuleSet) -> String {
        let r = &rules.rules[self.rule as usize];
        let key = match &self.flow {
            Some(f) if self.group_by == GroupBy::Flow => format!(
                "{} {}:{} > {}:{}",
                proto_name(f.proto),
                f.src,
                f.src_port,
                f.dst,
                f.dst_port
            ),
            Some(f) => format!("{} > {}", f.src, f.dst),
            None => self.key.to_string(),
        };
        let peer = self.peer.map(|p| p.to_string());
        let (src_ip, dest_ip) = match (self.group_by, &self.flow) {
            (GroupBy::Dst, _) => (peer, Some(self.key.to_string())),
            (GroupBy::All, _) => (None, None),
            (_, Some(f)) => (Some(f.src.to_string()), Some(f.dst.to_string())),
            (_, None) => (Some(self.key.to_string()), peer),
        };
        let (src_port, dest_port, proto) = match &self.flow {
            Some(f) if self.group_by == GroupBy::Flow => {
                (Some(f.src_port), Some(f.dst_port), Some(f.proto))
            }
            _ => (None, None, self.proto),
        };
        let values: Vec<String> = self
            .values
            .iter()
            .map(|(m, v)| format!("{}={}", m.name(), fmt_num(*v)))
            .collect();
        let signature = format!(
            "{}: {} {} {} in {} ({})",
            r.id,
            self.group_by.name(),
            key,
            values.join(", "),
            fmt_duration(r.window_ns),
            r.description
        );
        let end = eve_time(self.window_end_ns);
        let endpoint = |ip: &Option<String>, port: Option<u16>| {
            ip.as_ref().map(|ip| Endpoint {
                ip: ip.clone(),
                port,
            })
        };
        let eve = Eve {
            alert: EveAlert {
                action: "allowed",
                gid: 1,
                rule: &r.id,
                signature_id: r.signature_id,
                rev: 1,
                signature,
                category: &r.category,
                severity: r.severity,
                source: endpoint(&src_ip, src_port),
                target: endpoint(&dest_ip, dest_port),
                context: Context {
                    id: self.id(rules),
                    group_by: self.group_by.name(),
                    window: EveWindow {
                        start: eve_time(self.window_start_ns),
                        end: end.clone(),
                        length: fmt_duration(r.window_ns),
                        first_packet: eve_time(self.first_ns),
                        last_packet: eve_time(self.last_ns),
                    },
                    metrics: MetricsJson(&self.values, &self.zscores),
                    host_group: self.host_group.as_deref(),
                    evidence: self.evidence_json(),
                    condition: &r.condition_text,
                },
            },
            timestamp: end,
            event_type: "alert",
            src_ip,
            src_port,
            dest_ip,
            dest_port,
            proto: proto.map(proto_name),
        };
        serde_json::to_string(&eve).expect("alert JSON serializes")
    }

    fn evidence_json(&self) -> EveEvidence {
        let peers = || Some(hosts(&self.evidence.top_peers));
        let dst = self.group_by == GroupBy::Dst;
        EveEvidence {
            top_dst_ports: self
                .evidence
                .top_dst_ports
                .iter()
                .map(|(p, n, t)| PortCount {
                    port: *p,
                    packets: *n,
                    since: eve_time(*t),
                })
                .collect(),
            top_dst_hosts: if dst { None } else { peers() },
            top_src_hosts: if dst { peers() } else { None },
            approximate: self.evidence.approx,
            sketched: self.evidence.sketched,
        }
    }
}

/// The record: only properties Suricata's EVE schema knows (its top level and `alert` allow
/// no others); what is ours goes in `alert.context`, the schema's place for extra data.
#[derive(Serialize)]
struct Eve<'a> {
    timestamp: String,
    event_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dest_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dest_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proto: Option<&'static str>,
    alert: EveAlert<'a>,
}

#[derive(Serialize)]
struct EveAlert<'a> {
    action: &'static str,
    gid: u32,
    rule: &'a str,
    signature_id: u32,
    rev: u32,
    signature: String,
    category: &'a str,
    severity: u8,
    /// The packets' source and destination, where one of each stands for the window (for a
    /// `src` rule the source is the key; for a `dst` rule the target is).
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<Endpoint>,
    context: Context<'a>,
}

#[derive(Serialize)]
struct Endpoint {
    ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
}

#[derive(Serialize)]
struct Context<'a> {
    id: String,
    group_by: &'static str,
    window: EveWindow,
    metrics: MetricsJson<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host_group: Option<&'a str>,
    evidence: EveEvidence,
    condition: &'a str,
}

#[derive(Serialize)]
struct EveWindow {
    start: String,
    end: String,
    length: String,
    first_packet: String,
    last_packet: String,
}

#[derive(Serialize)]
struct EveEvidence {
    top_dst_ports: Vec<PortCount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_dst_hosts: Option<Vec<HostCount>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_src_hosts: Option<Vec<HostCount>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    approximate: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    sketched: bool,
}

#[derive(Serialize)]
struct PortCount {
    port: u16,
    packets: u32,
    since: String,
}

#[derive(Serialize)]
struct HostCount {
    address: String,
    packets: u32,
    since: String,
}

fn hosts(v: &[(Addr, u32, u64)]) -> Vec<HostCount> {
    v.iter()
        .map(|(a, n, t)| HostCount {
            address: a.to_string(),
            packets: *n,
            since: eve_time(*t),
        })
        .collect()
}

struct MetricsJson<'a>(&'a [(Metric, f64)], &'a [(Metric, f64)]);

impl Serialize for MetricsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len() + self.1.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k.name(), &Num(*v))?;
        }
        for (k, v) in self.1 {
            m.serialize_entry(&format!("zscore({})", k.name()), &Num(v.min(1e9)))?;
        }
        m.end()
    }
}

/// Integers print without a fraction; others with at most 3 decimals.
struct Num(f64);

impl Serialize for Num {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.fract() == 0.0 && v.abs() < 9e15 {
            s.serialize_i64(v as i64)
        } else if v.is_finite() {
            s.serialize_f64((v * 1000.0).round() / 1000.0)
        } else {
            s.serialize_none()
        }
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9e15 {
        format!("{}", v as i64)
    } else {
        format!("{:.1}", v)
    }
}

/// A time as Suricata's EVE writes it: microseconds and the offset without a colon
/// (`2026-01-01T00:00:09.000000+0000`; the schema's `timestamp` pattern requires it).
pub fn eve_time(ns: u64) -> String {
    match DateTime::from_timestamp((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as u32) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.6f+0000").to_string(),
        None => format!("{ns}ns"),
    }
}

/// RFC 3339 with microseconds and the offset `+00:00` (summaries, not alerts).
pub fn rfc3339(ns: u64) -> String {
    let secs = (ns / 1_000_000_000) as i64;
    let nanos = (ns % 1_000_000_000) as u32;
    match DateTime::from_timestamp(secs, nanos) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Micros, false),
        None => format!("{ns}ns"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::default_rules;

    #[test]
    fn renders_eve_like_json_with_stable_id() {
        let rules = default_rules();
        let idx = rules
            .rules
            .iter()
            .position(|r| r.id == "syn_flood")
            .unwrap() as u16;
        let a = Alert {
            rule: idx,
            group_by: GroupBy::Src,
            flow: None,
            key: Addr::v4([192, 0, 2, 10]),
            window_start_ns: 1_000_000_000,
            window_end_ns: 2_000_000_000,
            first_ns: 1_000_000_000,
            last_ns: 1_199_000_000,
            peer: Some(Addr::v4([198, 51, 100, 5])),
            proto: Some(6),
            values: vec![(Metric::Syn, 200.0), (Metric::DistinctDstPorts, 1.0)],
            zscores: vec![],
            host_group: None,
            evidence: Evidence {
                top_dst_ports: vec![(443, 200, 1_000_000_000)],
                top_peers: vec![(Addr::v4([198, 51, 100, 5]), 200, 1_000_000_000)],
                approx: false,
                sketched: false,
            },
        };
        let j: serde_json::Value = serde_json::from_str(&a.to_json(&rules)).unwrap();
        assert_eq!(j["timestamp"], "1970-01-01T00:00:02.000000+0000");
        assert_eq!(j["event_type"], "alert");
        assert_eq!(j["src_ip"], "192.0.2.10");
        assert_eq!(j["dest_ip"], "198.51.100.5");
        assert_eq!(j["proto"], "TCP");
        assert_eq!(j["alert"]["rule"], "syn_flood");
        assert_eq!(j["alert"]["signature_id"], 1000003);
        assert_eq!(j["alert"]["severity"], 1);
        assert_eq!(j["alert"]["context"]["metrics"]["syn"], 200);
        assert_eq!(j["alert"]["source"]["ip"], "192.0.2.10");
        assert_eq!(j["alert"]["target"]["ip"], "198.51.100.5");
        assert_eq!(j["alert"]["context"]["id"].as_str().unwrap().len(), 16);
        assert_eq!(a.id(&rules), a.clone().id(&rules));
        assert!(j["alert"]["signature"]
            .as_str()
            .unwrap()
            .contains("syn=200"));
    }
}
