//! Clock skew in `flowsentry consume`, against the real broker (scripts/broker.sh; skipped
//! without one unless FLOWSENTRY_REQUIRE_ALL=1): one record dated a day ahead must not move
//! the watermark and make every later record late. It is counted as skewed, the run's exit
//! status says a record was lost (3), and the alerts are those of the stream without it.

mod common;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rdkafka::producer::{BaseRecord, Producer};

use flowsentry::kafka::wire;
use flowsentry::record::{Addr, Record};

use common::kafka::{broker, create_topic, producer, syn_probe, unique, BROKERS};

const S: u64 = 1_000_000_000;

/// `consume --stop-at-end` of `topic`: exit code, summary, alert lines.
fn consume(topic: &str, dir: &Path, extra: &[&str]) -> (i32, serde_json::Value, String) {
    let (a, s) = (dir.join("a.jsonl"), dir.join("s.json"));
    let out = Command::new(env!("CARGO_BIN_EXE_flowsentry"))
        .env("FLOWSENTRY_LOG", "warn")
        .arg("consume")
        .args([
            "--brokers",
            BROKERS,
            "--topic",
            topic,
            "--group",
            &unique("g"),
        ])
        .args(["--no-tui", "-q", "--stop-at-end", "--alerts"])
        .arg(&a)
        .arg("--summary")
        .arg(&s)
        .args(extra)
        .output()
        .unwrap();
    let summary = std::fs::read_to_string(&s)
        .unwrap_or_else(|e| panic!("no summary ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&summary).unwrap(),
        std::fs::read_to_string(&a).unwrap_or_default(),
    )
}

#[test]
fn one_record_a_day_ahead_is_dropped_as_skewed_not_the_records_after_it() {
    if broker().is_none() {
        return;
    }
    // One partition: a scan of 300 ports over 3 s, with its 51st probe dated a day ahead (a
    // sensor with a bad clock), sent in three messages.
    let topic = unique("skew");
    create_topic(BROKERS, &topic, 1);
    let t0 = 1_700_000_000 * S;
    let mut recs: Vec<(Record, u32)> = (0..300u64)
        .map(|i| syn_probe(t0 + i * 10_000_000, Addr::v4([10, 7, 7, 7]), 1 + i as u16))
        .collect();
    recs[50].0.ts_ns = t0 + 86_400 * S;
    let p = producer(BROKERS);
    for part in recs.chunks(100) {
        let v = wire::encode(part);
        p.send(BaseRecord::<(), [u8]>::to(&topic).partition(0).payload(&v))
            .unwrap();
    }
    p.flush(Duration::from_secs(10)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (code, s, alerts) = consume(&topic, dir.path(), &[]);
    assert_eq!(s["skewed"], 1, "{s}");
    assert_eq!(s["late_packets"], 0, "{s}");
    assert_eq!(s["packets"], 299, "{s}");
    assert_eq!(code, 3, "a skewed record is a loss: {s}");
    assert!(
        alerts.contains("\"rule\":\"port_scan\"") && alerts.contains("\"src_ip\":\"10.7.7.7\""),
        "the scan is still named: {alerts}"
    );

    // Without the check, the stray record moves the watermark a day ahead: the 249 probes
    // after it are late, and the 50 before it are too few to name the scan.
    let dir = tempfile::tempdir().unwrap();
    let (code, s, alerts) = consume(&topic, dir.path(), &["--max-clock-skew", "0s"]);
    assert_eq!(s["skewed"], 0, "{s}");
    assert_eq!(s["late_packets"], 249, "{s}");
    assert_eq!(code, 3, "{s}");
    assert!(!alerts.contains("port_scan"), "{alerts}");
}
