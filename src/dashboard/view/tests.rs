use std::sync::Arc;
use std::time::Duration;

use insta::assert_snapshot;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::cells::*;
use super::details::*;
use super::*;
use crate::dashboard::snapshot::{ShardLoad, Snapshot};
use crate::dashboard::state::{Key, Options};
use crate::rules::{parse_rules, RuleSet};
use crate::telemetry::BatchPoint;

/// The rules the snapshots are drawn with (fixed here, so a change to the default
/// pack does not change the screens).
const TEST_RULES: &str = r#"
[[rule]]
id = "port_scan"
sid = 1000001
description = "TCP SYN port scan: one source probing many destination ports"
severity = 2
category = "Attempted Information Leak"
window = "60s"
slide = "5s"
cooldown = "5m"
filter = { proto = "tcp", tcp_flags = "S", tcp_flags_not = "A" }
condition = "distinct_dst_ports >= 100"

[[rule]]
id = "host_sweep"
sid = 1000002
description = "Host sweep: one source probing many addresses with TCP SYNs or pings"
severity = 2
category = "Network Scan"
window = "60s"
slide = "5s"
cooldown = "5m"
filter = { proto = ["tcp", "icmp"], tcp_flags = "S", tcp_flags_not = "A", icmp_type = "echo-request" }
condition = "distinct_dst_hosts >= 64"

[[rule]]
id = "syn_flood"
sid = 1000003
description = "SYN flood from one source against few ports"
severity = 1
category = "Attempted Denial of Service"
window = "1s"
slide = "1s"
cooldown = "30s"
filter = { proto = "tcp", tcp_flags = "S", tcp_flags_not = "A" }
condition = "syn >= 100 and distinct_dst_ports <= 10"

[[rule]]
id = "icmp_flood"
sid = 1000004
description = "ICMP echo flood from one source"
severity = 1
category = "Attempted Denial of Service"
window = "1s"
slide = "1s"
cooldown = "30s"
filter = { proto = "icmp", icmp_type = "echo-request" }
condition = "icmp_echo >= 200"

[[rule]]
id = "brute_force"
sid = 1000006
description = "Repeated connections to an authentication service (password guessing)"
severity = 2
category = "Attempted User Privilege Gain"
window = "120s"
slide = "10s"
cooldown = "10m"
filter = { proto = "tcp", tcp_flags = "S", tcp_flags_not = "A", dst_ports = [22, 3389] }
condition = "conn_attempts >= 10 and conn_attempts / distinct_dst_pairs >= 5"

[[rule]]
id = "dst_flood"
sid = 1000101
description = "Many packets towards one destination"
severity = 3
category = "Attempted Denial of Service"
group_by = "dst"
window = "5s"
slide = "1s"
cooldown = "1m"
filter = { proto = "tcp" }
condition = "pps >= 500"
"#;

fn test_rules() -> RuleSet {
    parse_rules(TEST_RULES, "test-rules.toml").expect("the test rules compile")
}

const S: u64 = 1_000_000_000;
/// 2024-03-01 12:00:00 UTC.
const T0: u64 = 1_709_294_400 * S;

fn v4(o: [u8; 4]) -> Addr {
    Addr::v4(o)
}

fn view(pps: f64, bps: f64, syn: f64, ports: u64, hosts: u64, fired: &[u16]) -> SourceView {
    SourceView {
        batch_end_ns: T0 + 60 * S,
        pps,
        bps,
        syn_per_s: syn,
        distinct_ports: ports,
        distinct_hosts: hosts,
        rules_fired: fired.to_vec(),
    }
}

fn alert(rules: &RuleSet, id: &str, key: [u8; 4], end_s: u64, values: Vec<(Metric, f64)>) -> Alert {
    let rule = rules.rules.iter().position(|r| r.id == id).unwrap();
    let w = rules.rules[rule].window_ns;
    Alert {
        window_start_ns: T0 + end_s * S - w,
        first_ns: T0 + end_s * S - w,
        peer: Some(v4([203, 0, 113, 10])),
        ..crate::dashboard::test_alert(rule as u16, v4(key), T0 + end_s * S, values)
    }
}

/// A state in the middle of the demo: a port scan, a SYN flood, a sweep, background.
fn demo_state(rules: RuleSet) -> DashState {
    let batches: Vec<BatchPoint> = (1..=60u64)
        .map(|i| {
            let burst = if (20..26).contains(&i) { 1800 } else { 0 };
            let p = 400 + (i * 37 % 90) + burst;
            BatchPoint {
                end_ns: T0 + i * S,
                packets: p,
                bytes: p * 610,
                tcp: p - 60 - (i % 7) - burst / 3,
                udp: 50 + (i % 7),
                icmp: 10 + burst / 3,
                other: 0,
            }
        })
        .collect();
    let alerts = vec![
        alert(
            &rules,
            "port_scan",
            [192, 0, 2, 10],
            15,
            vec![(Metric::DistinctDstPorts, 104.0)],
        ),
        alert(
            &rules,
            "host_sweep",
            [192, 0, 2, 20],
            25,
            vec![(Metric::DistinctDstHosts, 64.0)],
        ),
        alert(
            &rules,
            "icmp_flood",
            [192, 0, 2, 40],
            26,
            vec![(Metric::IcmpEcho, 600.0)],
        ),
        alert(
            &rules,
            "syn_flood",
            [192, 0, 2, 30],
            41,
            vec![(Metric::Syn, 300.0), (Metric::DistinctDstPorts, 1.0)],
        ),
        alert(
            &rules,
            "brute_force",
            [192, 0, 2, 60],
            50,
            vec![
                (Metric::ConnAttempts, 24.0),
                (Metric::DistinctDstPairs, 1.0),
            ],
        ),
        Alert {
            group_by: GroupBy::Dst,
            key: v4([203, 0, 113, 11]),
            peer: None,
            ..alert(
                &rules,
                "dst_flood",
                [0, 0, 0, 0],
                55,
                vec![(Metric::Pps, 812.4)],
            )
        },
    ];
    let mut quiet = view(3.0, 2400.0, 0.0, 0, 0, &[1]);
    quiet.batch_end_ns = T0 + 40 * S;
    let sources = vec![
        (
            v4([192, 0, 2, 10]),
            view(98.0, 47_000.0, 98.0, 1000, 1, &[0]),
        ),
        (
            v4([192, 0, 2, 30]),
            view(300.0, 144_000.0, 300.0, 1, 1, &[2]),
        ),
        (v4([192, 0, 2, 60]), view(2.0, 1_200.0, 2.0, 1, 1, &[4])),
        (v4([10, 20, 30, 11]), view(41.0, 280_500.0, 1.0, 3, 2, &[])),
        (v4([10, 20, 30, 12]), view(17.5, 90_000.0, 0.5, 2, 2, &[])),
        (v4([10, 20, 30, 10]), view(12.0, 61_000.0, 0.0, 1, 1, &[])),
        (v4([192, 0, 2, 20]), quiet),
        (
            Addr::v6([
                0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0x0b,
            ]),
            view(6.0, 30_000.0, 0.2, 2, 1, &[]),
        ),
    ];
    let mut s = DashState::new(
        Arc::new(rules),
        Options {
            input: "captures/demo.pcap".into(),
            mode: "replay".into(),
            alerts_to: "alerts.jsonl".into(),
        },
    );
    s.update(Snapshot {
        packets: 61_234,
        bytes: 39_876_543,
        decode_errors: 0,
        late: 3,
        queue_drops: 0,
        kernel_drops: 0,
        alerts_total: alerts.len() as u64,
        capture_ns: T0 + 60 * S + 400_000_000,
        batch_ns: S,
        finished: false,
        elapsed: Duration::from_secs(12),
        processed_pps: 5_102.0,
        batches,
        sources,
        rule_hits: vec![1, 1, 1, 1, 1, 1],
        reloaded: None,
        alerts,
        shards: vec![
            ShardLoad {
                records: 31_000,
                keys: 61,
                queue_depth: 0,
            },
            ShardLoad {
                records: 30_234,
                keys: 58,
                queue_depth: 2,
            },
        ],
    });
    s
}

fn draw(s: &DashState, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| render(f, s)).unwrap();
    t
}

fn screen(s: &DashState, w: u16, h: u16) -> String {
    draw(s, w, h).backend().to_string()
}

#[test]
fn dashboard_120x40() {
    assert_snapshot!(screen(&demo_state(test_rules()), 120, 40));
}

#[test]
fn dashboard_80x24() {
    assert_snapshot!(screen(&demo_state(test_rules()), 80, 24));
}

#[test]
fn startup_before_any_batch_80x24() {
    let s = DashState::new(
        Arc::new(test_rules()),
        Options {
            input: "eth0".into(),
            mode: "live".into(),
            alerts_to: "stdout held back while the dashboard shows".into(),
        },
    );
    assert_snapshot!(screen(&s, 80, 24));
}

#[test]
fn alert_details_120x40() {
    let mut s = demo_state(test_rules());
    s.on_key(Key::Tab);
    s.on_key(Key::Down);
    s.on_key(Key::Down);
    s.on_key(Key::Enter);
    assert_eq!(s.selected_alert().unwrap().key, v4([192, 0, 2, 30]));
    assert_snapshot!(screen(&s, 120, 40));
}

#[test]
fn source_details_sorted_by_ports_filtered_80x24() {
    let mut s = demo_state(test_rules());
    for k in [
        Key::Char('s'),
        Key::Char('s'),
        Key::Char('s'),
        Key::Char('/'),
    ] {
        s.on_key(k);
    }
    for c in "192.0.2.0/24".chars() {
        s.on_key(Key::Char(c));
    }
    s.on_key(Key::Enter);
    s.on_key(Key::Enter);
    assert_eq!(s.selected_source().unwrap().0, v4([192, 0, 2, 10]));
    assert_snapshot!(screen(&s, 80, 24));
}

#[test]
fn paused_finished_filter_prompt_and_rules_focus_100x30() {
    let mut s = demo_state(test_rules());
    s.snap.finished = true;
    s.on_key(Key::Char('p'));
    s.on_key(Key::BackTab);
    s.on_key(Key::Char('/'));
    s.on_key(Key::Char('1'));
    s.on_key(Key::Char('0'));
    assert_snapshot!(screen(&s, 100, 30));
}

#[test]
fn help_80x24() {
    let mut s = demo_state(test_rules());
    s.on_key(Key::Char('?'));
    assert_snapshot!(screen(&s, 80, 24));
}

#[test]
fn rule_details_escape_hostile_text() {
    let mut rules = test_rules();
    rules.rules[0].description = "scan\x1b[2J\x1b]0;pwned\x07 \u{202e}txt.exe".into();
    rules.rules[0].category = "cat\x1b[31m".into();
    let mut s = demo_state(rules);
    s.on_key(Key::BackTab); // rules panel, first rule
    s.on_key(Key::Enter);
    for (w, h) in [(120, 40), (80, 24)] {
        let t = draw(&s, w, h);
        let buf = t.backend().buffer();
        let text: String = buf.content().iter().map(|c| c.symbol()).collect();
        assert!(
            !text.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "a control character reached the screen"
        );
        assert!(text.contains("scan\\x1b[2J\\x1b]0;pwned\\x07"), "{text}");
        assert!(text.contains("cat\\x1b[31m"));
    }
}

#[test]
fn alerts_are_coloured_by_severity() {
    let s = demo_state(test_rules());
    let t = draw(&s, 120, 40);
    let buf = t.backend().buffer();
    let find = |needle: &str| {
        let w = buf.area.width;
        for y in 0..buf.area.height {
            let line: String = (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect();
            if let Some(col) = line.find(needle) {
                // Column in cells: the text before `needle` is ASCII on these rows.
                let x = line[..col].chars().count() as u16;
                if x > w / 2 {
                    return buf[(x, y)].fg;
                }
            }
        }
        panic!("{needle} not in the alert list");
    };
    assert_eq!(find("syn_flood"), Color::Red);
    assert_eq!(find("port_scan"), Color::Yellow);
}

#[test]
fn evidence_comes_from_the_alert_json() {
    let eve: serde_json::Value = serde_json::from_str(
        r#"{"alert": {"context": {"evidence": {
            "top_dst_ports": [{"port": 80, "packets": 1301, "since": "x"},
            {"port": 443, "packets": 2, "since": "x"}],
            "top_dst_hosts": [{"address": "203.0.113.10\u001b[2J", "packets": 7, "since": "x"}],
            "sketched": true}}}}"#,
    )
    .unwrap();
    let text: Vec<String> = evidence_lines(&eve)
        .iter()
        .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
        .collect();
    assert_eq!(
        text,
        [
            "top dst ports 80 (1.3k), 443 (2)",
            "top dst hosts 203.0.113.10\\x1b[2J (7)",
            "              (distinct sets became sketches: counts are estimates)",
        ]
    );
    assert!(evidence_lines(&serde_json::json!({"alert": {"context": {"id": "x"}}})).is_empty());
}

#[test]
fn numbers_format_compactly() {
    assert_eq!(si(0.0), "0");
    assert_eq!(si(2.5), "2.5");
    assert_eq!(si(999.0), "999");
    assert_eq!(si(1234.0), "1.2k");
    assert_eq!(si(5_600_000.0), "5.6M");
    assert_eq!(si(f64::NAN), "-");
    assert_eq!(ellipsis("distinct=1000".into(), 10), "distinct=…");
    assert_eq!(ellipsis("ports=1000".into(), 10), "ports=1000");
    assert_eq!(elapsed(Duration::from_secs(3725)), "1:02:05");
    assert_eq!(hms(T0 + 61 * S), "12:01:01");
    assert_eq!(fit_columns(&[(10, 0), (5, 2), (5, 1)], 16), vec![0, 2]);
}
