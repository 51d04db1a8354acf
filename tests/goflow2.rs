//! Routers -> goflow2 -> Kafka -> `flowsentry consume --format goflow2|goflow2-json`.
//!
//! goflow2 itself is not packaged for Debian and cannot be built here (no Go module proxy),
//! so its messages are made the way it makes them from a real exporter's flows: softflowd
//! (Debian's) exports the demo capture as NetFlow v9 to nfcapd, the reference collector;
//! nfdump prints the flows; tests/goflow2/encode.py writes them as goflow2 v2 writes them to
//! Kafka, with Google's protobuf library from goflow2's schema (and as its JSON). The test
//! produces one flow per message to a real broker (spread over two partitions) and
//! consumes them. The alerts must be replay's (by rule and key), every one
//! valid EVE, and the packet count the capture's, which is also what nfcapd counted.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rdkafka::producer::{BaseRecord, Producer};
use serde_json::Value;

use common::kafka::{broker, create_topic, producer, unique};

const BIN: &str = env!("CARGO_BIN_EXE_flowsentry");
const PYTHON: &str = "/usr/bin/python3";
/// Frames of captures/demo.pcap.
const DEMO_PACKETS: u64 = 21_629;

fn have(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The tools this test needs, or `false` (skip; a failure in CI).
fn tools() -> bool {
    for tool in ["softflowd", "softflowctl", "nfcapd", "nfdump", "protoc"] {
        if !have("sh", &["-c", &format!("command -v {tool}")]) {
            common::required(&format!("{tool} (scripts/setup.sh installs it)"));
            return false;
        }
    }
    if !have(PYTHON, &["-c", "import google.protobuf"]) {
        common::required("python3-protobuf (scripts/setup.sh installs it)");
        return false;
    }
    true
}

/// A free UDP port on loopback.
fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// softflowd exports the demo capture as NetFlow v9 to nfcapd; nfdump prints the flows as
/// JSON (times in UTC) into `dir/nfdump.json`. Returns the packets nfcapd counted.
fn nfcapd_flows(dir: &Path) -> u64 {
    let port = free_port().to_string();
    let store = dir.join("nfcapd");
    std::fs::create_dir_all(&store).unwrap();
    let mut nfcapd = Command::new("nfcapd")
        .arg("-w")
        .arg(&store)
        .args([
            "-b",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "3600",
            "-B",
            "16000000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nfcapd");
    std::thread::sleep(Duration::from_millis(500));
    let demo = common::repo().join("captures/demo.pcap");
    common::exporters::softflowd(&demo, &format!("127.0.0.1:{port}"), "9", &[], dir);
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(nfcapd.id() as i32, libc::SIGTERM) };
    assert!(nfcapd.wait().unwrap().success(), "nfcapd");
    let files: Vec<_> = std::fs::read_dir(&store)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("nfcapd.2")
        })
        .collect();
    assert_eq!(files.len(), 1, "one nfcapd file: {files:?}");
    let out = Command::new("nfdump")
        .env("TZ", "UTC")
        .arg("-r")
        .arg(&files[0])
        .args(["-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nfdump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.join("nfdump.json"), &out.stdout).unwrap();
    let flows: Value = serde_json::from_slice(&out.stdout).expect("nfdump's JSON");
    flows
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["in_packets"].as_u64().unwrap())
        .sum()
}

/// The varint-prefixed messages of a goflow2 protobuf stream, each with its prefix (a Kafka
/// message of goflow2 v2 holds one of them as written).
fn delimited(stream: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        let (mut len, mut shift, mut i) = (0usize, 0, at);
        loop {
            let b = stream[i];
            len |= ((b & 0x7f) as usize) << shift;
            shift += 7;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        out.push(&stream[at..i + len]);
        at = i + len;
    }
    out
}

/// Produce `messages` (keyed by `key`) to a new two-partition topic.
fn produce(brokers: &str, topic: &str, messages: &[(Vec<u8>, &[u8])]) {
    create_topic(brokers, topic, 2);
    let p = producer(brokers);
    for (key, value) in messages {
        let mut rec = BaseRecord::to(topic).key(key.as_slice()).payload(*value);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    rec = r;
                    p.poll(Duration::from_millis(10));
                }
            }
        }
    }
    p.flush(Duration::from_secs(30)).expect("flush");
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().expect("running flowsentry");
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn consume(
    brokers: &str,
    topic: &str,
    format: &str,
    dir: &Path,
) -> (BTreeSet<(String, String)>, Value) {
    let out = dir.join(format!("{format}.jsonl"));
    let summary = dir.join(format!("{format}-summary.json"));
    run_ok(
        Command::new(BIN)
            .args([
                "consume",
                "--brokers",
                brokers,
                "--topic",
                topic,
                "--group",
                &unique("goflow2"),
            ])
            .args([
                "--format",
                format,
                "--lateness",
                "2m",
                "--stop-at-end",
                "--no-tui",
                "-q",
            ])
            .arg("--alerts")
            .arg(&out)
            .arg("--summary")
            .arg(&summary),
    );
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    (common::eve::rule_keys(&out), s)
}

#[test]
fn goflow2_flows_from_kafka_give_the_replay_alerts() {
    if !tools() {
        return;
    }
    let Some(brokers) = broker() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let replay = d.join("replay.jsonl");
    run_ok(
        Command::new(BIN)
            .args(["replay", "-q", "--no-tui", "--alerts"])
            .arg(&replay)
            .arg(common::repo().join("captures/demo.pcap")),
    );
    let want = common::eve::rule_keys(&replay);
    assert_eq!(want.len(), 6, "{want:?}");

    assert_eq!(
        nfcapd_flows(d),
        DEMO_PACKETS,
        "nfcapd counts every packet of the capture"
    );
    let enc = Command::new(PYTHON)
        .arg(common::repo().join("tests/goflow2/encode.py"))
        .arg(d.join("nfdump.json"))
        .arg(d)
        .output()
        .unwrap();
    assert!(
        enc.status.success(),
        "encode.py: {}",
        String::from_utf8_lossy(&enc.stderr)
    );

    let pb = std::fs::read(d.join("flows.pb")).unwrap();
    let jsonl = std::fs::read_to_string(d.join("flows.jsonl")).unwrap();
    let json_msgs: Vec<&[u8]> = jsonl.lines().map(str::as_bytes).collect();
    for (format, msgs) in [("goflow2", delimited(&pb)), ("goflow2-json", json_msgs)] {
        // goflow2 spreads its messages over the partitions (at random, or hashed by the
        // fields -transport.kafka.hashing names); the keys here spread them too.
        let keyed: Vec<(Vec<u8>, &[u8])> = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| (format!("{}", i % 97).into_bytes(), *m))
            .collect();
        let topic = unique(format);
        produce(brokers, &topic, &keyed);
        let (got, s) = consume(brokers, &topic, format, d);
        assert_eq!(s["packets"], DEMO_PACKETS, "{format}: {s}");
        assert_eq!(s["lost_records"], 0, "{format}: {s}");
        assert_eq!(got, want, "{format}: alerts differ from replay's");
    }
}

/// Messages that are not goflow2 flows are counted as malformed and make the run
/// incomplete (exit status 3), the good ones still used.
#[test]
fn bad_goflow2_messages_are_counted_and_the_run_is_incomplete() {
    let Some(brokers) = broker() else {
        return;
    };
    let topic = unique("goflow2-bad");
    let good = br#"{"type":"IPFIX","time_flow_start_ns":1767225600000000000,"bytes":44,"packets":1,"src_addr":"10.0.0.1","dst_addr":"10.0.0.2","proto":"TCP","src_port":40000,"dst_port":22,"tcp_flags":2}"#;
    let msgs: Vec<(Vec<u8>, &[u8])> = vec![
        (b"a".to_vec(), good),
        (b"a".to_vec(), b"not json"),
        (
            b"a".to_vec(),
            br#"{"src_addr":"10.0.0.1","dst_addr":"10.0.0.2","packets":1}"#,
        ),
    ];
    produce(brokers, &topic, &msgs);
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("s.json");
    let st = Command::new(BIN)
        .args([
            "consume",
            "--brokers",
            brokers,
            "--topic",
            &topic,
            "--group",
            &unique("g"),
        ])
        .args([
            "--format",
            "goflow2-json",
            "--stop-at-end",
            "--no-tui",
            "-q",
            "--summary",
        ])
        .arg(&summary)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(3), "incomplete input is exit status 3");
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["packets"], 1, "{s}");
    assert_eq!(s["lost_records"], 2, "{s}");
}
