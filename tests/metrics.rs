//! `--metrics`: a real Prometheus server (Debian's `prometheus`, installed by
//! scripts/setup.sh) scrapes a replay at `--speed` and a live capture on the loopback
//! interface, and the counters are read back through Prometheus's HTTP API. Prometheus and
//! flowsentry both listen on 127.0.0.1 only.

mod common;

use std::io::{BufRead, BufReader};

use common::http::get;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_flowsentry");

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start flowsentry with `args` and `--metrics 127.0.0.1:0`; returns it and the address
/// it printed.
fn start_flowsentry(args: &[&str]) -> (Killed, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .args([
            "--no-tui",
            "--alerts",
            "/dev/null",
            "--metrics",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start flowsentry");
    let err = child.stderr.take().unwrap();
    let mut lines = BufReader::new(err).lines();
    let addr = loop {
        let l = lines
            .next()
            .expect("flowsentry printed its metrics address")
            .unwrap();
        if let Some(rest) = l.strip_prefix("flowsentry: metrics at http://") {
            break rest.split('/').next().unwrap().to_string();
        }
    };
    // Keep reading stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Killed(child), addr)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Prometheus server scraping `target` every 500 ms; returns it and its address.
fn start_prometheus(dir: &Path, target: &str) -> Option<(Killed, String)> {
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        common::required("prometheus (scripts/setup.sh installs it)");
        return None;
    }
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\nscrape_configs:\n  \
             - job_name: flowsentry\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .spawn()
        .expect("start prometheus");
    Some((Killed(child), addr))
}

/// The value of the instant query `q` through Prometheus's API, once it has one.
fn query(prom: &str, q: &str) -> Option<f64> {
    let enc: String = q
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (code, body) = get(prom, &format!("/api/v1/query?query={enc}"))?;
    if code != 200 {
        return None;
    }
    let v: Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

/// Wait until Prometheus has `q` at least `min`; its last value.
fn wait_for(prom: &str, q: &str, min: f64, within: Duration, dir: &Path) -> f64 {
    let t0 = Instant::now();
    let mut last = None;
    while t0.elapsed() < within {
        last = query(prom, q);
        if last.is_some_and(|v| v >= min) {
            return last.unwrap();
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let log = std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(15).collect();
    panic!("Prometheus never had {q} >= {min} (last {last:?}); its log ends:\n{tail:#?}");
}

#[test]
fn prometheus_scrapes_a_replay_at_speed() {
    let dir = tempfile::tempdir().unwrap();
    let demo = common::repo().join("captures/demo.pcap");
    // The demo spans 70 s of capture time: about 14 s at --speed 5.
    let (mut fs, addr) = start_flowsentry(&["replay", "--speed", "5", demo.to_str().unwrap()]);
    let Some((_prom, prom)) = start_prometheus(dir.path(), &addr) else {
        return;
    };
    let (code, health) = get(&addr, "/health").expect("/health answers");
    assert_eq!(code, 200);
    let h: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(h["status"], "running", "{h}");
    let within = Duration::from_secs(40);
    let p = wait_for(&prom, "flowsentry_packets_total", 1.0, within, dir.path());
    assert!(
        p <= 21_629.0,
        "the demo has 21,629 frames, Prometheus saw {p}"
    );
    // The port scan (at 9 s of capture time) is alerted while the replay still runs.
    let q = r#"flowsentry_alerts_total{rule="port_scan"}"#;
    wait_for(&prom, q, 1.0, within, dir.path());
    let up = wait_for(&prom, r#"up{job="flowsentry"}"#, 1.0, within, dir.path());
    assert_eq!(up, 1.0);
    assert!(
        fs.0.try_wait().unwrap().is_none(),
        "the replay was still running while Prometheus read the alert"
    );
    // Unknown paths are 404, not the metrics.
    assert_eq!(get(&addr, "/nope").map(|r| r.0), Some(404));
    let st = fs.0.wait().unwrap();
    assert!(st.success(), "replay exit {st:?}");
}

#[test]
fn prometheus_scrapes_a_live_capture() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        common::required("root (live capture on the loopback interface)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Only this test's datagrams: to an address no other test uses.
    let (mut fs, addr) = start_flowsentry(&[
        "live",
        "-i",
        "lo",
        "--filter",
        "udp and dst host 127.0.0.93",
    ]);
    let Some((_prom, prom)) = start_prometheus(dir.path(), &addr) else {
        return;
    };
    // 40 datagrams to a closed port (the kernel's ICMP answers are filtered out).
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..40u8 {
        sock.send_to(&[i; 32], "127.0.0.93:9").unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let q = "sum(flowsentry_packets_total)";
    let seen = wait_for(&prom, q, 40.0, Duration::from_secs(30), dir.path());
    assert_eq!(seen, 40.0, "Prometheus saw {seen} packets of 40");
    let (_, health) = get(&addr, "/health").unwrap();
    let h: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(h["packets"], 40, "{h}");
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(fs.0.id() as i32, libc::SIGINT) };
    let st = fs.0.wait().unwrap();
    assert!(st.success(), "live exit {st:?}");
}
