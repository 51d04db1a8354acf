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

/// A consume stopped by SIGTERM while its partition holds records (here three dated a day
/// ahead, held for the skew check): the summary says how many it read and did not
/// process, they are not counted as skewed or lost (their offsets stay uncommitted), and
/// the stop is clean (exit 0).
#[test]
fn a_stop_reports_the_records_read_and_not_processed() {
    use std::io::BufRead;
    if broker().is_none() {
        return;
    }
    let topic = unique("stop");
    create_topic(BROKERS, &topic, 1);
    let t0 = 1_700_000_000 * S;
    let mut recs: Vec<(Record, u32)> = (0..103u64)
        .map(|i| syn_probe(t0 + i * 10_000_000, Addr::v4([10, 7, 7, 8]), 1 + i as u16))
        .collect();
    for r in &mut recs[100..] {
        r.0.ts_ns += 86_400 * S;
    }
    let p = producer(BROKERS);
    let v = wire::encode(&recs);
    p.send(BaseRecord::<(), [u8]>::to(&topic).partition(0).payload(&v))
        .unwrap();
    p.flush(Duration::from_secs(10)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("s.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowsentry"))
        .env("FLOWSENTRY_LOG", "warn")
        .env("NO_COLOR", "1")
        .arg("consume")
        .args([
            "--brokers",
            BROKERS,
            "--topic",
            &topic,
            "--group",
            &unique("g"),
        ])
        .args([
            "--no-tui",
            "-q",
            "--metrics",
            "127.0.0.1:0",
            "--alerts",
            "/dev/null",
        ])
        .arg("--summary")
        .arg(&s)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let at = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split("metrics at http://")
                .nth(1)
                .and_then(|r| r.split('/').next())
                .map(str::to_string)
        })
        .expect("the metrics address on stderr");
    let log = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    // Wait until the 100 probes were processed (the three ahead stay held).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let processed = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("flowsentry_packets_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    loop {
        let n = common::http::get(&at, "/metrics").map_or(0.0, |(_, t)| processed(&t));
        if n >= 100.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {n} packets processed"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let log = log.join().unwrap().join("\n");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&s).unwrap_or_else(|e| panic!("{e}: {log}")))
            .unwrap();
    assert_eq!(summary["packets"], 100, "{summary}");
    assert_eq!(summary["unread_at_stop"], 3, "{summary}");
    assert_eq!(summary["skewed"], 0, "{summary}");
    assert_eq!(summary["lost_records"], 0, "{summary}");
    assert_eq!(status.code(), Some(0), "a stop is clean: {log}");
    assert!(
        log.contains("3 record(s) read and not processed"),
        "the stop is logged: {log}"
    );
}
