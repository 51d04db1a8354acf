//! Tests for `synth`: determinism, pcap well-formedness, sizes, and ground truth.
//!
//! In: generated captures in temp dirs. Out: assertions. Guarantees checked: byte-identical
//! output per config, non-decreasing timestamps starting at `start_ns`, valid lengths and
//! checksums, demo/bench size targets, and — with a small reference implementation of
//! the default source-keyed rules over aligned windows — that exactly the labelled
//! attackers fire their labelled rule while benign hosts stay at <= half of every threshold.

mod check;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;

use self::check::{evaluate, read_pcap, Rec, RULES};
use super::*;

/// Generates `cfg` into a temp dir and checks the structural guarantees; returns the
/// summary, the decoded records and the pcap size.
fn gen_and_check(cfg: &SynthConfig) -> (SynthSummary, Vec<Rec>, u64) {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, labels) = (dir.path().join("x.pcap"), dir.path().join("x.jsonl"));
    let sum = generate(cfg, &pcap, Some(&labels)).unwrap();
    let recs = read_pcap(&pcap);
    assert_eq!(recs.len() as u64, sum.packets);
    assert_eq!(sum.packets, planned_packets(cfg));
    assert_eq!(
        recs[0].ts_us,
        cfg.start_ns / 1000,
        "first packet at start_ns"
    );
    assert!(
        recs.windows(2).all(|w| w[0].ts_us <= w[1].ts_us),
        "timestamps non-decreasing"
    );
    let srcs: HashSet<IpAddr> = recs.iter().map(|r| r.src).collect();
    assert_eq!(srcs.len() as u64, sum.sources);
    let text = std::fs::read_to_string(&labels).unwrap();
    let parsed: Vec<Label> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(parsed, sum.labels);
    let size = std::fs::metadata(&pcap).unwrap().len();
    (sum, recs, size)
}

/// Exactly the labelled attackers fire, each its own rule (ratio >= 1.5); benign
/// hosts peak at <= 0.5 of every threshold; nobody unlabelled fires.
fn check_ground_truth(sum: &SynthSummary, recs: &[Rec]) {
    let eval = evaluate(recs);
    let by_addr: HashMap<IpAddr, &Label> = sum
        .labels
        .iter()
        .map(|l| (l.addr.parse().unwrap(), l))
        .collect();
    for l in &sum.labels {
        let a: IpAddr = l.addr.parse().unwrap();
        match l.role.as_str() {
            "attacker" => {
                let rule = l.expect_rule.as_deref().unwrap();
                let (fired, ratio) = eval.get(&(a, rule)).copied().unwrap_or_default();
                assert!(
                    fired && ratio >= 1.5,
                    "{a} should clearly fire {rule}: ratio {ratio}"
                );
            }
            "benign" => {
                for (rule, _) in RULES {
                    let (_, ratio) = eval.get(&(a, *rule)).copied().unwrap_or_default();
                    assert!(
                        ratio <= 0.5,
                        "benign {a} too close to {rule}: ratio {ratio}"
                    );
                }
            }
            "victim" => assert_eq!(l.group_by, "dst"),
            other => panic!("unknown role {other}"),
        }
    }
    for ((src, rule), (fired, _)) in &eval {
        if *fired {
            let l = by_addr
                .get(src)
                .unwrap_or_else(|| panic!("unlabelled {src} fires {rule}"));
            assert_eq!(
                l.expect_rule.as_deref(),
                Some(*rule),
                "{src} fires unexpected {rule}"
            );
        }
    }
}

fn cfg(scenario: Scenario) -> SynthConfig {
    SynthConfig {
        scenario,
        ..SynthConfig::default()
    }
}

#[test]
fn names_roundtrip() {
    assert_eq!(Scenario::ALL.len(), 13);
    for s in Scenario::ALL {
        assert_eq!(Scenario::from_name(s.name()), Some(*s));
        assert!(!s.describe().is_empty());
    }
    assert_eq!(
        Scenario::from_name("benign-crowd"),
        Some(Scenario::BenignCrowd)
    );
    assert_eq!(Scenario::from_name("nope"), None);
    let d = SynthConfig::default();
    assert_eq!(
        (d.scenario, d.start_ns, d.scale),
        (Scenario::Demo, 1_767_225_600_000_000_000, None)
    );
}

#[test]
fn deterministic_bytes() {
    for sc in [Scenario::Demo, Scenario::SpoofedFlood] {
        let c = cfg(sc);
        let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let run = |d: &Path| {
            generate(&c, &d.join("a.pcap"), Some(&d.join("a.jsonl"))).unwrap();
            (
                std::fs::read(d.join("a.pcap")).unwrap(),
                std::fs::read(d.join("a.jsonl")).unwrap(),
            )
        };
        let (a, b) = (run(d1.path()), run(d2.path()));
        assert!(a.0 == b.0 && a.1 == b.1, "{sc} not byte-identical");
        let other = SynthConfig {
            seed: 2,
            ..c.clone()
        };
        generate(&other, &d2.path().join("b.pcap"), None).unwrap();
        assert_ne!(
            a.0,
            std::fs::read(d2.path().join("b.pcap")).unwrap(),
            "seed must matter"
        );
    }
}

#[test]
fn demo_limits_and_truth() {
    let (sum, recs, size) = gen_and_check(&cfg(Scenario::Demo));
    assert!(sum.packets <= 30_000, "demo packets {}", sum.packets);
    assert!(size <= 3_000_000, "demo pcap {size} bytes");
    assert!(
        (80..=100).contains(&(sum.duration_ns / 1_000_000_000)),
        "duration {}",
        sum.duration_ns
    );
    let benign: Vec<&Label> = sum.labels.iter().filter(|l| l.role == "benign").collect();
    assert_eq!(benign.len(), 40);
    assert!(
        benign.iter().filter(|l| l.addr.contains(':')).count() >= 3,
        "some IPv6 benign hosts"
    );
    let attackers: Vec<(String, String)> = sum
        .labels
        .iter()
        .filter(|l| l.role == "attacker")
        .map(|l| (l.expect_rule.clone().unwrap(), l.addr.clone()))
        .collect();
    assert_eq!(attackers.len(), 6);
    for (rule, o) in DEMO_ATTACKERS {
        let addr = format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3]);
        assert!(attackers.contains(&(rule.to_string(), addr)), "{rule}");
    }
    check_ground_truth(&sum, &recs);
}

#[test]
fn single_attack_scenarios_truth() {
    use Scenario::*;
    for sc in [
        PortScan, HostSweep, SynFlood, IcmpFlood, UdpFlood, BruteForce,
    ] {
        let (sum, recs, _) = gen_and_check(&cfg(sc));
        assert_eq!(
            sum.labels.iter().filter(|l| l.role == "attacker").count(),
            1,
            "{sc}"
        );
        assert_eq!(
            sum.labels.iter().filter(|l| l.role == "benign").count(),
            10,
            "{sc}"
        );
        check_ground_truth(&sum, &recs);
    }
}

#[test]
fn benign_crowd_is_quiet() {
    let (sum, recs, _) = gen_and_check(&cfg(Scenario::BenignCrowd));
    assert!(sum.labels.iter().all(|l| l.role == "benign"));
    assert!(sum.sources >= 500);
    assert!((60..=90).contains(&(sum.duration_ns / 1_000_000_000)));
    check_ground_truth(&sum, &recs);
}

#[test]
fn spoofed_flood_targets_one_victim() {
    let (sum, recs, _) = gen_and_check(&cfg(Scenario::SpoofedFlood));
    let v: Vec<&Label> = sum.labels.iter().filter(|l| l.role == "victim").collect();
    assert_eq!(v.len(), 1);
    assert_eq!(
        (v[0].addr.as_str(), v[0].group_by.as_str()),
        ("10.10.10.10", "dst")
    );
    assert_eq!(v[0].expect_rule.as_deref(), Some("syn_flood_dst"));
    let victim: IpAddr = "10.10.10.10".parse().unwrap();
    let syns: Vec<&Rec> = recs
        .iter()
        .filter(|r| r.dst == victim && matches!(r.tcp, Some((_, 80, true, false))))
        .collect();
    assert!(syns.len() >= 20_000);
    let srcs: HashSet<IpAddr> = syns.iter().map(|r| r.src).collect();
    assert!(srcs.len() >= 15_000);
    let mut per_src: HashMap<IpAddr, u32> = HashMap::new();
    for r in &syns {
        *per_src.entry(r.src).or_default() += 1;
    }
    assert!(per_src
        .iter()
        .filter(|(a, _)| a.to_string().starts_with("198.1"))
        .all(|(_, n)| *n <= 2));
    check_ground_truth(&sum, &recs);
}

#[test]
fn bench_reduced_scale() {
    let c = SynthConfig {
        scenario: Scenario::Bench,
        scale: Some(200_000),
        ..SynthConfig::default()
    };
    let (sum, recs, _) = gen_and_check(&c);
    assert!(sum.sources >= 20_000, "sources {}", sum.sources);
    assert!(
        (200_000..=200_100).contains(&sum.packets),
        "packets {}",
        sum.packets
    );
    assert!((110..=125).contains(&(sum.duration_ns / 1_000_000_000)));
    check_ground_truth(&sum, &recs);
}

#[test]
fn bench_default_plan_is_big_enough() {
    let c = SynthConfig {
        scenario: Scenario::Bench,
        ..SynthConfig::default()
    };
    assert!(planned_packets(&c) >= 3_000_000);
    let benign = planned_labels(&c)
        .iter()
        .filter(|l| l.role == "benign")
        .count();
    assert!(benign >= 20_000);
}

#[test]
fn unaligned_start_and_errors() {
    let c = SynthConfig {
        scenario: Scenario::SynFlood,
        start_ns: 1_700_000_000_123_456_789,
        ..Default::default()
    };
    let (_, recs, _) = gen_and_check(&c);
    assert_eq!(recs[0].ts_us, 1_700_000_000_123_456);
    let bad = Path::new("/nonexistent-dir-for-synth-test/x.pcap");
    let e = generate(&c, bad, None).unwrap_err();
    assert!(matches!(e, SynthError::Create { .. }));
    assert!(
        e.to_string()
            .contains("/nonexistent-dir-for-synth-test/x.pcap"),
        "{e}"
    );
}
/// Full-size bench generation; run with
/// `cargo test --release --lib synth::tests::bench_full -- --ignored --nocapture`.
#[test]
#[ignore = "writes ~1 GB; timing check for release builds"]
fn bench_full_timing() {
    let c = SynthConfig {
        scenario: Scenario::Bench,
        ..SynthConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.pcap");
    let t = std::time::Instant::now();
    let s = generate(&c, &path, Some(&dir.path().join("bench.jsonl"))).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(&path).unwrap().len();
    eprintln!(
        "bench: {} packets, {} sources, {:.1} s capture, {} bytes, generated in {secs:.2} s",
        s.packets,
        s.sources,
        s.duration_ns as f64 / 1e9,
        size
    );
    assert!(s.packets >= 3_000_000 && s.sources >= 20_000);
    let recs = read_pcap(&path);
    assert!(recs.windows(2).all(|w| w[0].ts_us <= w[1].ts_us));
    check_ground_truth(&s, &recs);
}

/// The throughput mixes reach their packet target (within one session) and have the
/// shape their descriptions promise: distinct spoofed sources, one scanner per 600 packets.
#[test]
fn throughput_mixes_sizes() {
    const N: u64 = 120_000;
    for sc in [
        Scenario::ManyClients,
        Scenario::SpoofedMillion,
        Scenario::ScanHeavy,
    ] {
        assert!(sc.is_throughput_mix());
        let c = SynthConfig {
            scale: Some(N),
            ..cfg(sc)
        };
        let (sum, _, _) = gen_and_check(&c);
        assert!((N..N + 100).contains(&sum.packets), "{sc}: {}", sum.packets);
        let attackers = sum.labels.iter().filter(|l| l.role == "attacker").count() as u64;
        let clients = sum
            .labels
            .iter()
            .filter(|l| l.note.contains("client"))
            .count() as u64;
        match sc {
            Scenario::ManyClients => assert_eq!((attackers, clients), (0, N / 150)),
            // 40,000 spoofed sources, the victim labelled, 400 clients.
            Scenario::SpoofedMillion => {
                assert!(sum.sources >= N / 3 + 400, "{}", sum.sources);
                assert!(sum.labels.iter().any(|l| l.role == "victim"));
                assert_eq!(clients, N / 300);
            }
            _ => assert_eq!((attackers, clients), (N / 600, N / 300)),
        }
    }
    assert!(!Scenario::Demo.is_throughput_mix());
}
