//! Detection quality of the default pack: every labelled attacker is alerted by the right
//! rule, and no benign host is, on the real captures in ../shared/captures and on every
//! synthetic scenario (including a benign crowd: many clients, busy servers, DNS resolvers,
//! a NAT gateway). Prints the table the README shows.

mod common;
use common::*;

use std::collections::BTreeSet;

use flowsentry::pipeline::PipelineConfig;
use flowsentry::rules::{default_rules, RuleSet};
use flowsentry::synth::{self, Label, Scenario, SynthConfig};

struct Row {
    capture: String,
    expected: Vec<(String, String)>,
    found: Vec<(String, String)>,
    false_alerts: Vec<(String, String)>,
}

fn check(
    pack: &RuleSet,
    capture: &str,
    path: &std::path::Path,
    expected: &[(String, String)],
    benign: &BTreeSet<String>,
) -> Row {
    let (_, sink) = replay_rules(path, pack, 2);
    let found = found(&sink);
    // global rules (group_by "all") name no host
    let hosts: Vec<(String, String)> = found.iter().filter(|(_, k)| k != "::").cloned().collect();
    let false_alerts: Vec<(String, String)> = hosts
        .iter()
        .filter(|(r, k)| {
            benign.contains(k)
                || (!expected.contains(&(r.clone(), k.clone()))
                    && !expected.iter().any(|(_, ek)| ek == k))
        })
        .cloned()
        .collect();
    Row {
        capture: capture.to_string(),
        expected: expected.to_vec(),
        found,
        false_alerts,
    }
}

fn table(rows: &[Row]) -> String {
    let show = |v: &[(String, String)]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.iter()
                .map(|(r, k)| format!("{r} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let mut t = String::from("| capture | expected | found | false alerts |\n|---|---|---|---|\n");
    for r in rows {
        t += &format!(
            "| {} | {} | {} | {} |\n",
            r.capture,
            show(&r.expected),
            show(&r.found),
            r.false_alerts.len()
        );
    }
    t
}

fn e(rule: &str, key: &str) -> (String, String) {
    (rule.to_string(), key.to_string())
}

/// `path` replayed with `pack` over `shards` shards.
fn replay_rules(
    path: &std::path::Path,
    pack: &RuleSet,
    shards: usize,
) -> (flowsentry::summary::Summary, flowsentry::sink::MemorySink) {
    let cfg = PipelineConfig {
        shards,
        ..Default::default()
    };
    replay_with(&[path.to_path_buf()], pack.clone(), cfg)
}

#[test]
fn default_pack_catches_attackers_and_spares_benign_hosts() {
    quality_matrix(&default_rules());
}

/// Connection outcomes enter the windows at each watermark, so the alerts are the same
/// whatever the shard count.
#[test]
fn default_pack_alerts_are_identical_for_1_2_and_4_shards() {
    let pack = default_rules();
    let demo = repo().join("captures/demo.pcap");
    let mut files = vec![demo];
    files.extend(shared("nmap-syn-scan.pcap"));
    files.extend(shared("syn-flood-spoofed-sources.pcap"));
    for f in &files {
        let one = replay_rules(f, &pack, 1).1.lines;
        assert!(!one.is_empty(), "{}: no alert", f.display());
        for n in [2, 4] {
            assert_eq!(
                replay_rules(f, &pack, n).1.lines,
                one,
                "{} with {n} shards",
                f.display()
            );
        }
    }
}

fn quality_matrix(pack: &RuleSet) {
    let mut rows = Vec::new();
    // Real captures, with what their source projects say is in them.
    let real: Vec<(&str, Vec<(String, String)>)> = vec![
        ("nmap-syn-scan.pcap", vec![e("port_scan", "172.16.0.8")]),
        (
            "ssh-password-guessing.pcap",
            vec![e("brute_force", "192.168.56.1")],
        ),
        (
            "syn-flood-single-source.pcap",
            vec![e("syn_flood", "192.0.2.10")],
        ),
        (
            "syn-flood-spoofed-sources.pcap",
            vec![e("syn_flood_dst", "10.10.10.10")],
        ),
        ("benign-wikipedia.pcap", vec![]),
        ("benign-espn.pcapng", vec![]),
        ("icmp-echo-8.pcap", vec![]),
    ];
    for (name, expected) in real {
        let Some(p) = shared(name) else { return };
        rows.push(check(pack, name, &p, &expected, &BTreeSet::new()));
    }
    // Synthetic scenarios with their labels.
    let dir = tempfile::tempdir().unwrap();
    for sc in Scenario::ALL.iter().filter(|s| !s.is_throughput_mix()) {
        let p = dir.path().join(format!("{}.pcap", sc.name()));
        let cfg = SynthConfig {
            scenario: *sc,
            ..Default::default()
        };
        let summary = synth::generate(&cfg, &p, None).unwrap();
        let labels: &[Label] = &summary.labels;
        let expected: Vec<(String, String)> = labels
            .iter()
            .filter_map(|l| l.expect_rule.as_ref().map(|r| (r.clone(), l.addr.clone())))
            .collect();
        let benign: BTreeSet<String> = labels
            .iter()
            .filter(|l| l.role == "benign")
            .map(|l| l.addr.clone())
            .collect();
        rows.push(check(
            pack,
            &format!("synth {}", sc.name()),
            &p,
            &expected,
            &benign,
        ));
    }
    eprintln!("{}", table(&rows));
    for r in &rows {
        for x in &r.expected {
            assert!(
                r.found.contains(x),
                "{}: {} {} not alerted; found {:?}",
                r.capture,
                x.0,
                x.1,
                r.found
            );
        }
        assert!(
            r.false_alerts.is_empty(),
            "{}: false alerts {:?}",
            r.capture,
            r.false_alerts
        );
    }
}

/// Write frames (IPv4 packets from `build`) as an Ethernet pcap, `n` packets `gap_us` apart.
fn write_pcap(path: &std::path::Path, n: u32, gap_us: i64, build: impl Fn(u32) -> Vec<u8>) {
    use pcap::{Capture, Linktype, Packet, PacketHeader};
    let cap = Capture::dead(Linktype(1)).unwrap();
    let mut w = cap.savefile(path).unwrap();
    for i in 0..n {
        let frame = build(i);
        let t = 1_700_000_000_000_000i64 + i as i64 * gap_us;
        let ts = libc::timeval {
            tv_sec: (t / 1_000_000) as _,
            tv_usec: (t % 1_000_000) as _,
        };
        let h = PacketHeader {
            ts,
            caplen: frame.len() as u32,
            len: frame.len() as u32,
        };
        w.write(&Packet::new(&h, &frame));
    }
    w.flush().unwrap();
}

#[test]
fn reflection_attacks_are_seen_from_the_victim() {
    let dir = tempfile::tempdir().unwrap();
    // NTP reflection: 480-byte responses from port 123 of 60 reflectors, 3000/s for 5 s.
    let ntp = dir.path().join("ntp.pcap");
    write_pcap(&ntp, 15_000, 333, |i| {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([198, 18, 0, (i % 60) as u8 + 1], [203, 0, 113, 99], 64)
            .udp(123, 40_000 + (i % 1000) as u16)
            .write(&mut v, &[0u8; 452])
            .unwrap();
        v
    });
    let (_, sink) = replay(&ntp, 2);
    assert_eq!(
        found(&sink),
        vec![e("udp_reflection", "203.0.113.99")],
        "{:?}",
        sink.lines
    );
    // SYN-ACK reflection: SYN-ACKs from 200 servers to one address, 1000/s for 5 s.
    let sa = dir.path().join("synack.pcap");
    write_pcap(&sa, 5_000, 1_000, |i| {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4(
                [198, 19, (i % 200 / 100) as u8, (i % 100) as u8 + 1],
                [203, 0, 113, 77],
                64,
            )
            .tcp(80, 50_000 + (i % 5000) as u16, 1, 1024)
            .syn()
            .ack(1)
            .write(&mut v, &[])
            .unwrap();
        v
    });
    let (_, sink) = replay(&sa, 2);
    assert_eq!(
        found(&sink),
        vec![e("synack_reflection", "203.0.113.77")],
        "{:?}",
        sink.lines
    );
    let j = eve::alert(&sink.lines[0]);
    let c = &j["alert"]["context"];
    assert_eq!(c["group_by"], "dst");
    assert_eq!(j["alert"]["target"]["ip"], j["dest_ip"]);
    assert_eq!(c["metrics"]["distinct_src_hosts"], 200);
    assert_eq!(c["evidence"]["top_dst_ports"].as_array().unwrap().len(), 4);
    assert!(c["evidence"]["top_src_hosts"].as_array().is_some());
}

#[test]
fn example_pack_host_groups_and_allow_lists_apply() {
    // rules/examples.toml: port_scan_tuned lets the "scanners" group scan far more.
    let text = std::fs::read_to_string(repo().join("rules/examples.toml")).unwrap();
    let rules = flowsentry::rules::parse_rules(&text, "rules/examples.toml").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scan = |src: [u8; 4], name: &str| {
        let p = dir.path().join(name);
        write_pcap(&p, 1000, 1000, |i| {
            let mut v = Vec::new();
            etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
                .ipv4(src, [203, 0, 113, 10], 64)
                .tcp(40_000, 1000 + i as u16, 1, 1024)
                .syn()
                .write(&mut v, &[])
                .unwrap();
            v
        });
        let cfg = flowsentry::pipeline::PipelineConfig {
            shards: 1,
            ..Default::default()
        };
        let (_, sink) = replay_with(&[p], rules.clone(), cfg);
        found(&sink)
    };
    assert_eq!(
        scan([192, 0, 2, 9], "outsider.pcap"),
        vec![e("port_scan_tuned", "192.0.2.9")]
    );
    assert_eq!(
        scan([10, 99, 0, 5], "our-scanner.pcap"),
        vec![],
        "the scanners group needs 20,000 ports"
    );
    assert_eq!(
        scan([192, 0, 2, 250], "allowed.pcap"),
        vec![],
        "allow-listed source"
    );
}

/// UDP frame `src:sport -> dst:dport` with `payload` bytes.
fn udp_frame(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: usize) -> Vec<u8> {
    let mut v = Vec::new();
    etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut v, &vec![0u8; payload])
        .unwrap();
    v
}

/// The outcome pack sees reflection as answers the victim never asked for, from any service
/// port and of any size: no list of reflector ports. A resolver's answers were asked for.
#[test]
fn default_pack_sees_reflection_on_any_port_and_spares_a_resolver() {
    let pack = default_rules();
    let dir = tempfile::tempdir().unwrap();
    // A burst: 2,000 CoAP (5683) error replies of 12 bytes from 2,000 IoT reflectors within
    // 20 ms (10 us apart), to one victim port.
    let coap = dir.path().join("coap.pcap");
    write_pcap(&coap, 2_000, 10, |i| {
        udp_frame(
            [198, 18, (i / 250) as u8, (i % 250) as u8 + 1],
            5683,
            [203, 0, 113, 99],
            40_000,
            12,
        )
    });
    // Sparse samples of a long attack: one IKE (500) response every 500 ms from 40 VPN
    // gateways in turn, 40 s.
    let ike = dir.path().join("ike.pcap");
    write_pcap(&ike, 80, 500_000, |i| {
        udp_frame(
            [198, 19, 0, (i % 40) as u8 + 1],
            500,
            [203, 0, 113, 98],
            500,
            300,
        )
    });
    for (p, victim) in [(&coap, "203.0.113.99"), (&ike, "203.0.113.98")] {
        let (_, sink) = replay_rules(p, &pack, 2);
        assert_eq!(
            found(&sink),
            vec![e("udp_reflection", victim)],
            "{}: {:?}",
            p.display(),
            sink.lines
        );
    }
    // A resolver (10.0.0.53) asks 300 servers and gets 300 answers from port 53: solicited.
    let resolver = dir.path().join("resolver.pcap");
    write_pcap(&resolver, 600, 1_000, |i| {
        let server = [192, 0, 2 + (i / 2 / 250) as u8, (i / 2 % 250) as u8 + 1];
        let port = 30_000 + (i / 2) as u16;
        if i % 2 == 0 {
            udp_frame([10, 0, 0, 53], port, server, 53, 40)
        } else {
            udp_frame(server, 53, [10, 0, 0, 53], port, 400)
        }
    });
    let (s, sink) = replay_rules(&resolver, &pack, 2);
    assert!(sink.lines.is_empty(), "{:?}", sink.lines);
    let c = s.conversations.expect("the pack reads outcomes");
    assert_eq!((c.answered, c.unsolicited), (300, 0), "{c:?}");
}

/// The throughput mixes (`synth --scenario many-clients | spoofed-million | scan-heavy`, at a
/// tenth of their benchmark size) are labelled right: every labelled attacker or victim is
/// named by its rule, and no other host is, so the benchmarks time the detection they claim.
#[test]
fn throughput_mixes_alert_exactly_their_labels() {
    let pack = default_rules();
    let dir = tempfile::tempdir().unwrap();
    for sc in [
        Scenario::ManyClients,
        Scenario::SpoofedMillion,
        Scenario::ScanHeavy,
    ] {
        let p = dir.path().join(format!("{}.pcap", sc.name()));
        let cfg = SynthConfig {
            scenario: sc,
            scale: Some(300_000),
            ..Default::default()
        };
        let summary = synth::generate(&cfg, &p, None).unwrap();
        assert!(
            summary.packets >= 290_000,
            "{}: {}",
            sc.name(),
            summary.packets
        );
        let expected: BTreeSet<(String, String)> = summary
            .labels
            .iter()
            .filter_map(|l| l.expect_rule.as_ref().map(|r| (r.clone(), l.addr.clone())))
            .collect();
        let (s, sink) = replay_rules(&p, &pack, 2);
        // Global rules (group_by "all") name no host.
        let got: BTreeSet<(String, String)> = found(&sink)
            .into_iter()
            .filter(|(_, k)| k != "::")
            .collect();
        let missed: Vec<_> = expected.difference(&got).take(5).collect();
        let extra: Vec<_> = got.difference(&expected).take(5).collect();
        eprintln!(
            "{}: {} packets, {} labelled, {} alerted, {} missed, {} extra",
            sc.name(),
            s.packets,
            expected.len(),
            got.len(),
            expected.difference(&got).count(),
            got.difference(&expected).count()
        );
        assert!(missed.is_empty(), "{}: missed {missed:?}", sc.name());
        assert!(extra.is_empty(), "{}: extra {extra:?}", sc.name());
        if sc == Scenario::ManyClients {
            assert!(expected.is_empty() && s.alerts == 0, "{s:?}");
        } else {
            assert!(!expected.is_empty(), "{}: no attacker labelled", sc.name());
        }
    }
}
