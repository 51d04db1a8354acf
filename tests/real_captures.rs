//! The real public captures in ../shared/captures: attackers caught by the right rule,
//! benign traffic silent, spoofed floods replayed with bounded memory.

mod common;
use common::*;

use flowsentry::pipeline::PipelineConfig;
use flowsentry::rules::default_rules;

fn expect_only(file: &str, rule: &str, key: &str) {
    let Some(p) = shared(file) else { return };
    let (summary, sink) = replay(&p, 2);
    let found = found(&sink);
    assert!(
        found.contains(&(rule.to_string(), key.to_string())),
        "{file}: expected {rule} for {key}, found {found:?}"
    );
    // Nothing else may be blamed: every alert is about the attacker.
    assert!(
        found.iter().all(|(_, k)| k == key),
        "{file}: alerts on other hosts: {found:?}"
    );
    assert_eq!(
        summary.decode.errors(),
        0,
        "{file}: decode errors {:?}",
        summary.decode
    );
}

#[test]
fn nmap_syn_scan_is_a_port_scan() {
    expect_only("nmap-syn-scan.pcap", "port_scan", "172.16.0.8");
    // A scan that touches each auth port once is not password guessing.
    let p = shared("nmap-syn-scan.pcap").unwrap_or_default();
    if p.exists() {
        let (_, sink) = replay(&p, 1);
        assert!(
            !found(&sink).iter().any(|(r, _)| r == "brute_force"),
            "{:?}",
            found(&sink)
        );
    }
}

#[test]
fn ssh_password_guessing_is_brute_force() {
    expect_only("ssh-password-guessing.pcap", "brute_force", "192.168.56.1");
}

#[test]
fn single_source_syn_flood_is_a_syn_flood() {
    expect_only("syn-flood-single-source.pcap", "syn_flood", "192.0.2.10");
    let Some(p) = shared("syn-flood-single-source.pcap") else {
        return;
    };
    let (_, sink) = replay(&p, 1);
    let j = eve::alert(&sink.lines[0]);
    assert_eq!(j["dest_ip"], "198.51.100.5");
    assert_eq!(j["alert"]["context"]["metrics"]["syn"], 200);
}

#[test]
fn benign_captures_stay_silent() {
    for f in [
        "benign-wikipedia.pcap",
        "benign-espn.pcapng",
        "icmp-echo-8.pcap",
    ] {
        let Some(p) = shared(f) else { return };
        let (summary, sink) = replay(&p, 2);
        assert!(summary.packets > 0, "{f}: nothing read");
        assert_eq!(sink.lines, Vec::<String>::new(), "{f}: false alerts");
    }
}

#[test]
fn spoofed_flood_replays_with_bounded_memory() {
    let Some(p) = shared("syn-flood-spoofed-sources.pcap") else {
        return;
    };
    // A cap far below the ~37,600 spoofed sources: memory stays bounded, evictions counted.
    let cfg = PipelineConfig {
        shards: 2,
        max_keys: 4000,
        ..Default::default()
    };
    let (summary, sink) = replay_with(std::slice::from_ref(&p), default_rules(), cfg);
    assert_eq!(summary.packets, 37_841);
    // the source stage is capped; the destination and global stages hold one key each
    assert!(
        summary.keys_peak <= 4000 + 2,
        "keys peak {}",
        summary.keys_peak
    );
    assert!(
        summary.keys_evicted > 30_000,
        "evicted {}",
        summary.keys_evicted
    );
    assert!(
        summary.window_state_bytes < 8 << 20,
        "window state {} B",
        summary.window_state_bytes
    );
    // No single spoofed source sends enough for a per-source rule; the victim's view sees it.
    let victim_only = vec![("syn_flood_dst".to_string(), "10.10.10.10".to_string())];
    assert_eq!(found(&sink), victim_only);
    // Uncapped, every source is tracked and the answer is the same.
    let (summary, sink) = replay(&p, 2);
    assert!(summary.keys_peak > 37_000);
    assert_eq!(summary.keys_evicted, 0);
    assert_eq!(found(&sink), victim_only);
    for l in &sink.lines {
        let j = eve::alert(l);
        assert_eq!(j["alert"]["context"]["group_by"], "dst");
        assert!(j.get("src_ip").is_none(), "many sources: no single src_ip");
        assert_eq!(
            j["alert"]["context"]["evidence"]["top_dst_ports"][0]["port"],
            25565
        );
    }
}

#[test]
fn icmp_echo_counting_matches_suricata_semantics() {
    // Suricata's detection_filter test: 8 echo requests from 192.168.0.89.
    let Some(p) = shared("icmp-echo-8.pcap") else {
        return;
    };
    for (n, fires) in [(1, true), (7, true), (8, true), (9, false)] {
        let text = format!(
            "[[rule]]\nid = \"echo_count\"\nwindow = \"1h\"\nslide = \"1h\"\nfilter = {{ proto = \"icmp\", icmp_type = \"echo-request\" }}\ncondition = \"icmp_echo >= {n}\"\n"
        );
        let rules = flowsentry::rules::parse_rules(&text, "test").unwrap();
        let (_, sink) = replay_with(
            std::slice::from_ref(&p),
            rules,
            PipelineConfig {
                batch_ns: 1_000_000_000,
                ..Default::default()
            },
        );
        let f = found(&sink);
        assert_eq!(!f.is_empty(), fires, "N = {n}: {f:?}");
        if fires {
            assert_eq!(
                f,
                vec![("echo_count".to_string(), "192.168.0.89".to_string())]
            );
        }
    }
}
