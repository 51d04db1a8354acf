//! Suricata's threshold parity and the ICMP-error metric, end to end through the pipeline: `group_by = "pair"`
//! (`by_both`, on packets and on connection outcomes), `group_by = "flow"` (`by_flow`)
//! and `dsize`, with alerts identical for any shard count.

mod common;

use std::sync::Arc;

use flowsentry::pipeline::{self, PipelineConfig};
use flowsentry::record::{proto, tcp_flag, Addr, Record};
use flowsentry::rules::parse_rules;
use flowsentry::sink::MemorySink;
use flowsentry::source::{Input, Next, PacketSource, SourceError};

struct Records(std::vec::IntoIter<Record>);

impl PacketSource for Records {
    fn next_with(&mut self, f: &mut dyn FnMut(&Input<'_>)) -> Result<Next, SourceError> {
        match self.0.next() {
            Some(record) => {
                f(&Input::Record {
                    record,
                    wire_len: record.ip_len + 14,
                });
                Ok(Next::Item)
            }
            None => Ok(Next::End),
        }
    }
    fn describe(&self) -> String {
        "records".into()
    }
}

const T0: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;

fn a(last: u8) -> Addr {
    Addr::v4([10, 0, 0, last])
}

fn syn(ts: u64, src: Addr, sport: u16, dst: Addr, dport: u16) -> Record {
    Record {
        ts_ns: ts,
        src,
        dst,
        src_port: sport,
        dst_port: dport,
        ip_len: 60,
        proto: proto::TCP,
        tcp_flags: tcp_flag::SYN,
        ..Default::default()
    }
}

fn udp(ts: u64, src: Addr, sport: u16, dst: Addr, dport: u16, payload: u16) -> Record {
    Record {
        ts_ns: ts,
        src,
        dst,
        src_port: sport,
        dst_port: dport,
        ip_len: 28 + u32::from(payload),
        payload_len: payload,
        proto: proto::UDP,
        ..Default::default()
    }
}

const RULES: &str = r#"
[[rule]]
id = "ssh_guessing"
group_by = "pair"
window = "10s"
cooldown = "1m"
filter = { proto = "tcp", tcp_flags = "S", tcp_flags_not = "A", dst_ports = [22] }
condition = "syn >= 20"

[[rule]]
id = "tiny_datagram_flood"
group_by = "flow"
window = "10s"
cooldown = "1m"
filter = { proto = "udp", dsize = "<16" }
condition = "packets >= 50"

[[rule]]
id = "unanswered_pair"
group_by = "pair"
window = "10s"
cooldown = "1m"
filter = { outcome = "failed", proto = "tcp" }
condition = "failed >= 20"

[[rule]]
id = "refusing_host"
window = "10s"
cooldown = "1m"
condition = "icmp_errors >= 10"
"#;

/// Attacker .1 guesses at .11 and .12 (25 connections each, new source ports); client .2
/// logs in to .11 three times; .1 also sends .11 60 tiny datagrams on one flow, and .3
/// sends .11 60 large ones on another.
fn traffic() -> Vec<Record> {
    let mut v = Vec::new();
    for i in 0..25u64 {
        for (j, victim) in [a(11), a(12)].into_iter().enumerate() {
            v.push(syn(
                T0 + i * 100 * MS + j as u64,
                a(1),
                40000 + i as u16,
                victim,
                22,
            ));
        }
    }
    for i in 0..3u64 {
        v.push(syn(
            T0 + i * 700 * MS + 5,
            a(2),
            50000 + i as u16,
            a(11),
            22,
        ));
    }
    for i in 0..60u64 {
        v.push(udp(T0 + i * 50 * MS + 7, a(1), 5000, a(11), 9000, 4));
        v.push(udp(T0 + i * 50 * MS + 8, a(3), 6000, a(11), 9000, 1200));
    }
    // .11 refuses .3's datagrams with 12 port unreachables (and echoes one ping).
    for i in 0..12u64 {
        v.push(Record {
            ts_ns: T0 + i * 100 * MS + 9,
            src: a(11),
            dst: a(3),
            proto: proto::ICMP,
            icmp_type: 3,
            tcp_flags: proto::UDP,
            ip_len: 56,
            ..Default::default()
        });
    }
    v.push(Record {
        ts_ns: T0 + 10,
        src: a(11),
        dst: a(3),
        proto: proto::ICMP,
        icmp_type: 0,
        ip_len: 84,
        ..Default::default()
    });
    v.sort_by_key(|r| r.ts_ns);
    v
}

fn run(shards: usize) -> Vec<serde_json::Value> {
    let rules = parse_rules(RULES, "test.toml").expect("rules compile");
    let cfg = PipelineConfig {
        shards,
        ..Default::default()
    };
    let mut src = Records(traffic().into_iter());
    let (s, sink) =
        pipeline::run(&mut src, Arc::new(rules), &cfg, MemorySink::default()).expect("run");
    assert_eq!(s.packets, traffic().len() as u64);
    let lines = sink.lines.clone();
    if shards > 1 {
        let one = run(1);
        let here: Vec<serde_json::Value> = lines.iter().map(|l| common::eve::alert(l)).collect();
        assert_eq!(here, one, "alerts differ with {shards} shards");
    }
    lines.iter().map(|l| common::eve::alert(l)).collect()
}

/// (rule, src_ip, dest_ip, src_port, dest_port) of an alert.
type Seen = (String, String, String, Option<u64>, Option<u64>);

#[test]
fn pair_and_flow_rules_name_each_pair_and_flow_and_dsize_selects_small_payloads() {
    let alerts = run(1);
    let got: Vec<Seen> = alerts
        .iter()
        .map(|j| {
            (
                j["alert"]["rule"].as_str().unwrap().to_string(),
                j["src_ip"].as_str().unwrap().to_string(),
                j["dest_ip"].as_str().unwrap().to_string(),
                j["src_port"].as_u64(),
                j["dest_port"].as_u64(),
            )
        })
        .collect();
    let want = |r: &str, s: &str, d: &str, ports: Option<(u64, u64)>| {
        (
            r.to_string(),
            s.to_string(),
            d.to_string(),
            ports.map(|p| p.0),
            ports.map(|p| p.1),
        )
    };
    let mut got_sorted = got.clone();
    got_sorted.sort();
    assert_eq!(
        got_sorted,
        vec![
            want("refusing_host", "10.0.0.11", "10.0.0.3", None),
            want("ssh_guessing", "10.0.0.1", "10.0.0.11", None),
            want("ssh_guessing", "10.0.0.1", "10.0.0.12", None),
            want(
                "tiny_datagram_flood",
                "10.0.0.1",
                "10.0.0.11",
                Some((5000, 9000))
            ),
            want("unanswered_pair", "10.0.0.1", "10.0.0.11", None),
            want("unanswered_pair", "10.0.0.1", "10.0.0.12", None),
        ],
        "one alert per guessed-at server, none for the client (also from the outcomes: no \
         SYN was answered); the large datagrams are not counted ({alerts:#?})"
    );
    for j in &alerts {
        let by = j["alert"]["context"]["group_by"].as_str().unwrap();
        if j["alert"]["rule"] == "refusing_host" {
            assert_eq!(j["alert"]["context"]["metrics"]["icmp_errors"], 12, "{j}");
            continue;
        }
        assert!(by == "pair" || by == "flow", "{j}");
        if by == "flow" {
            assert_eq!(j["proto"], "UDP");
        }
    }
    // Alert ids differ per pair (the id hashes the whole key).
    let mut ids: Vec<&str> = alerts
        .iter()
        .map(|j| j["alert"]["context"]["id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), alerts.len());
}

#[test]
fn pair_and_flow_alerts_are_identical_for_any_shard_count() {
    let one = run(1);
    assert!(!one.is_empty());
    for n in [2, 4] {
        run(n);
    }
}
