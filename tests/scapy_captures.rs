//! Detection on traffic written by scapy (tests/scapy/captures.py, Debian's python3-scapy):
//! reflection and amplification over many services (DNS with fragmented answers, NTP,
//! SNMP large and small error replies, memcached, CLDAP, SSDP, WS-Discovery, VPN and IoT
//! services) from hundreds to thousands of reflectors, in a 30 ms burst and as a sparse
//! sample; volumetric floods at one victim (UDP, ICMP, fragments, spoofed SYNs); and benign
//! traffic that trips naive detectors (P2P, a busy resolver, CDN browsing, a NAT gateway, a
//! monitoring poller, a mail relay, traceroute, a client whose connections often fail).
//!
//! Each attack must be named by a rule of its family (the rule id's suffix) keyed at the
//! victim or at the attackers, and by no rule of another family; each benign capture must
//! raise nothing. The captures are generated anew for each run (the generator is
//! deterministic); the table with detection delays in packets and seconds is printed.

mod common;
use common::*;

use std::path::Path;
use std::process::Command;

use flowsentry::pipeline::PipelineConfig;
use flowsentry::rules::default_rules;

const PYTHON: &str = "/usr/bin/python3";

fn scapy_available() -> bool {
    Command::new(PYTHON)
        .args(["-c", "import scapy"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Capture times of the packets in `path` (ns), in file order.
fn packet_times(path: &Path) -> Vec<u64> {
    let mut cap = pcap::Capture::from_file(path).unwrap();
    let mut v = Vec::new();
    while let Ok(p) = cap.next_packet() {
        let t = p.header.ts;
        v.push(t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000);
    }
    v
}

fn ns(s: &str) -> u64 {
    let t = chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z").unwrap();
    t.timestamp_nanos_opt().unwrap() as u64
}

#[test]
fn scapy_captures_are_named_by_their_family_and_benign_ones_are_quiet() {
    if !scapy_available() {
        required("python3-scapy (scripts/setup.sh installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(PYTHON)
        .arg(repo().join("tests/scapy/captures.py"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "captures.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("manifest.json")).unwrap())
            .unwrap();
    let entries = manifest.as_array().unwrap();
    assert!(entries.len() >= 20, "{} captures", entries.len());
    let mut table = String::from(
        "| capture | kind | expected | alerts (rule key) | first alert after (packets, s) |\n|---|---|---|---|---|\n",
    );
    let mut failures = Vec::new();
    for e in entries {
        let file = dir.path().join(e["file"].as_str().unwrap());
        let class = e["class"].as_str().unwrap();
        let attack = e["kind"] == "attack";
        let cfg = PipelineConfig {
            shards: 2,
            ..Default::default()
        };
        let (summary, sink) = replay_with(std::slice::from_ref(&file), default_rules(), cfg);
        assert_eq!(summary.decode.errors(), 0, "{class}: decode errors");
        let found = found(&sink);
        let times = packet_times(&file);
        let first_alert = sink
            .lines
            .iter()
            .map(|l| ns(eve::alert(l)["timestamp"].as_str().unwrap()))
            .min();
        let delay = first_alert.map(|t| {
            let n = times.iter().filter(|&&p| p < t).count();
            (n, (t - times[0]) as f64 / 1e9)
        });
        let shown: Vec<String> = found.iter().map(|(r, k)| format!("{r} {k}")).collect();
        let want = e["family"].as_str().map(|f| family(f).to_string());
        table += &format!(
            "| {class} | {} | {} | {} | {} |\n",
            e["kind"].as_str().unwrap(),
            want.as_deref().unwrap_or("nothing"),
            if shown.is_empty() {
                "none".to_string()
            } else {
                shown.join(", ")
            },
            delay.map_or("-".to_string(), |(n, s)| format!("{n}, {s:.2}")),
        );
        if attack {
            let want = want.unwrap();
            let victim = e["attacker_or_victim"].as_str().unwrap_or("");
            let hit = found.iter().any(|(r, k)| family(r) == want && k == victim);
            let wrong: Vec<&(String, String)> =
                found.iter().filter(|(r, _)| family(r) != want).collect();
            if !hit || !wrong.is_empty() {
                failures.push(format!("{class}: want {want} at {victim}; got {shown:?}"));
            }
        } else if !found.is_empty() {
            failures.push(format!("{class}: benign, got {shown:?}"));
        }
    }
    eprintln!("{table}");
    assert!(failures.is_empty(), "{}\n{table}", failures.join("\n"));
}
