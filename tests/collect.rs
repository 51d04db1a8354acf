//! `flowsentry collect` against real exporters: softflowd (Debian's) reads the demo
//! capture and exports it as NetFlow v5, v9 and IPFIX, and pmacct's pmacctd as sFlow v5
//! (its sfprobe plugin), with and without packet sampling, to a collector on loopback. The alerts must be the ones `replay` raises on the capture
//! (by rule and key), the packet counts the capture's (estimated within the sampling
//! error when sampled), every alert valid EVE; bad datagrams are counted and make the run
//! incomplete (exit status 3).

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_flowsentry");
/// Frames of captures/demo.pcap (tcpdump -r counts the same), and its IPv4 frames, all
/// NetFlow v5 can carry.
const DEMO_PACKETS: f64 = 21_629.0;
const DEMO_IPV4_PACKETS: f64 = 21_261.0;

fn sent(version: &str) -> f64 {
    if version == "5" {
        DEMO_IPV4_PACKETS
    } else {
        DEMO_PACKETS
    }
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A collector on a free loopback port: the child and the address it printed.
fn start_collect(dir: &Path, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["collect", "--listen", "127.0.0.1:0", "--no-tui"])
        .arg("--alerts")
        .arg(dir.join("alerts.jsonl"))
        .arg("--summary")
        .arg(dir.join("summary.json"))
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start collect");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let l = lines.next().expect("collect printed its address").unwrap();
        if let Some(rest) =
            l.strip_prefix("flowsentry: collecting NetFlow v5/v9, IPFIX and sFlow v5 on udp ")
        {
            break rest.split(';').next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

fn sigint_and_wait(c: &mut Child) -> std::process::ExitStatus {
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
    let t0 = Instant::now();
    loop {
        if let Some(st) = c.try_wait().unwrap() {
            return st;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "collect did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn replay_alerts(pcap: &Path, dir: &Path) -> BTreeSet<(String, String)> {
    let out = dir.join("replay.jsonl");
    let st = Command::new(BIN)
        .args(["replay", "-q", "--no-tui", "--alerts"])
        .arg(&out)
        .arg(pcap)
        .status()
        .unwrap();
    assert!(st.success());
    common::eve::rule_keys(&out)
}

/// The demo through softflowd `version` (sampling 1 in `rate`) and `collect`: its alerts
/// and its summary.
fn through_softflowd(version: &str, rate: u32) -> Option<(BTreeSet<(String, String)>, Value)> {
    if !have("softflowd") || !have("softflowctl") {
        common::required("softflowd (scripts/setup.sh installs it)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let demo = common::repo().join("captures/demo.pcap");
    let (mut c, addr) = start_collect(dir.path(), &[]);
    let rate_arg = rate.to_string();
    let extra: Vec<&str> = if rate > 1 {
        vec!["-s", &rate_arg]
    } else {
        vec![]
    };
    common::exporters::softflowd(&demo, &addr, version, &extra, dir.path());
    Some(finish(&mut c, dir.path()))
}

/// Stop the collector once the exporter is done (datagrams sent are in the socket by then;
/// the stop drains them): its alerts and summary, which must show no loss.
fn finish(c: &mut Child, dir: &Path) -> (BTreeSet<(String, String)>, Value) {
    std::thread::sleep(Duration::from_millis(300));
    let st = sigint_and_wait(c);
    assert!(st.success(), "collect exit {st:?}");
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["lost_records"], 0, "{s}");
    (common::eve::rule_keys(&dir.join("alerts.jsonl")), s)
}

#[test]
fn netflow_v5_v9_and_ipfix_give_the_replay_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let want = replay_alerts(&common::repo().join("captures/demo.pcap"), dir.path());
    assert_eq!(want.len(), 6, "{want:?}");
    for v in ["5", "9", "10"] {
        let Some((got, s)) = through_softflowd(v, 1) else {
            return;
        };
        assert_eq!(got, want, "NetFlow v{v}: alerts differ from replay's");
        assert_eq!(s["packets"], sent(v) as u64, "NetFlow v{v}: {s}");
        // v9 and IPFIX: softflowd's templates are cached per exporter, none waits.
        let t = s["flow_export"]["templates"].as_array().unwrap();
        assert_eq!(t.len(), usize::from(v != "5"), "NetFlow v{v}: {t:?}");
        for e in t {
            assert!(e["templates"].as_u64().unwrap() >= 1, "{e}");
            assert_eq!(e["waiting"], 0, "{e}");
            assert_eq!(e["protocol"], if v == "9" { "netflow_v9" } else { "ipfix" });
        }
    }
}

/// softflowd -s 10 samples 1 packet in 10 and says so (v5 header, v9/IPFIX options data):
/// the collector scales by it, so packet counts are estimates of the capture's and the
/// floods are still caught (scans of one packet per port are what sampling hides).
#[test]
fn sampled_exports_are_scaled_by_the_announced_rate() {
    for v in ["5", "9", "10"] {
        let Some((got, s)) = through_softflowd(v, 10) else {
            return;
        };
        let est = s["packets"].as_f64().unwrap();
        if v != "5" {
            // v9 and IPFIX announce the rate in options data, learned per exporter.
            let learned = &s["flow_export"]["sampling"];
            assert_eq!(learned[0][1], 10, "NetFlow v{v}: {learned}");
        }
        // One in ten kept: the estimate's standard deviation is about sqrt(n * 9) = 440.
        let n = sent(v);
        assert!(
            (est - n).abs() < 0.05 * n,
            "NetFlow v{v}: {est} packets estimated, {n} sent"
        );
        for flood in ["syn_flood", "icmp_flood", "udp_flood"] {
            assert!(
                got.iter().any(|(r, _)| r == flood),
                "NetFlow v{v} sampled: no {flood} in {got:?}"
            );
        }
    }
}

#[test]
fn bad_datagrams_are_counted_and_the_run_is_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let (mut c, addr) = start_collect(dir.path(), &[]);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for d in [
        &b"not a flow"[..],
        &[0, 9, 0, 1],
        &[0, 5, 0, 30, 1, 2, 3],
        &[0u8; 0],
        &[0, 0, 0, 5, 0, 0, 0, 1],
    ] {
        sock.send_to(d, &addr).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let st = sigint_and_wait(&mut c);
    assert_eq!(
        st.code(),
        Some(3),
        "malformed input makes the run incomplete"
    );
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(s["malformed_input"], 5, "{s}");
    assert_eq!(s["lost_records"], 5, "{s}");
}

/// A NetFlow v5 datagram of one flow (a SYN from 10.0.0.1 to 10.0.0.2:22).
fn v5_datagram(seq: u32) -> Vec<u8> {
    let mut d = vec![0, 5, 0, 1]; // version 5, one record
    d.extend(1_000u32.to_be_bytes()); // sys_uptime (ms)
    d.extend(1_767_225_600u32.to_be_bytes()); // unix_secs
    d.extend(0u32.to_be_bytes()); // unix_nsecs
    d.extend(seq.to_be_bytes()); // flow_sequence
    d.extend([0, 0, 0, 0]); // engine type, id, sampling
    d.extend([10, 0, 0, 1, 10, 0, 0, 2, 0, 0, 0, 0]); // src, dst, next hop
    d.extend([0, 0, 0, 0]); // input, output interface
    d.extend(1u32.to_be_bytes()); // packets
    d.extend(44u32.to_be_bytes()); // bytes
    d.extend(500u32.to_be_bytes()); // first
    d.extend(500u32.to_be_bytes()); // last
    d.extend([0x9c, 0x40, 0, 22]); // ports 40000 -> 22
    d.extend([0, 0x02, 6, 0]); // pad, TCP flags SYN, protocol TCP, tos
    d.extend([0; 8]); // AS numbers, masks, pad
    d
}

/// Datagrams the kernel drops because the collector's socket buffer is full (the collector
/// stopped with SIGSTOP while an exporter keeps sending) are counted, as kernel drops, and
/// make the run incomplete; with those it received, they add up to what was sent.
#[test]
fn datagrams_the_kernel_drops_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (mut c, addr) = start_collect(dir.path(), &[]);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let pid = c.id() as i32;
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    // Each costs the socket buffer about 1 kB (the kernel's accounting): more than any
    // buffer it grants (16 MiB asked, at most rmem_max).
    let sent = 100_000u32;
    for seq in 0..sent {
        let d = v5_datagram(seq);
        while sock.send_to(&d, &addr).is_err() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    std::thread::sleep(Duration::from_millis(1500));
    let st = sigint_and_wait(&mut c);
    assert_eq!(
        st.code(),
        Some(3),
        "dropped datagrams make the run incomplete"
    );
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    let got = s["flow_export"]["stats"]["datagrams"].as_u64().unwrap();
    let kernel = s["kernel_drops"].as_u64().unwrap();
    let queue = s["datagram_drops"].as_u64().unwrap();
    assert!(kernel > 0, "{s}");
    assert_eq!(got + kernel + queue, u64::from(sent), "{s}");
    assert_eq!(
        s["packets"].as_u64().unwrap(),
        got,
        "one packet a datagram: {s}"
    );
}

/// The demo through pmacctd's sfprobe plugin (sFlow v5, sampling 1 in `rate`) and
/// `collect`: its alerts and its summary. sFlow samples are dated on arrival, in order: a
/// second of lateness is plenty.
fn through_sfprobe(rate: u32) -> Option<(BTreeSet<(String, String)>, Value)> {
    through_pmacct("sfprobe", "", rate, &["--flow-delay", "1s"])
}

/// The demo through pmacctd's `plugin` (`sfprobe` or `nfprobe`, with more configuration
/// lines `conf`), sampling 1 in `rate`, and `collect` with `args`.
fn through_pmacct(
    plugin: &str,
    conf: &str,
    rate: u32,
    args: &[&str],
) -> Option<(BTreeSet<(String, String)>, Value)> {
    if !have("pmacctd") {
        common::required("pmacctd (scripts/setup.sh installs pmacct)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut c, addr) = start_collect(dir.path(), args);
    let file = dir.path().join("pmacctd.conf");
    let demo = common::repo().join("captures/demo.pcap");
    let text = format!(
        "daemonize: false\npcap_savefile: {}\nplugins: {plugin}\n{plugin}_receiver: {addr}\n\
         sampling_rate: {rate}\n{conf}",
        demo.display()
    );
    std::fs::write(&file, text).unwrap();
    // pmacctd reads the whole file (after a 2 s pause it takes for capture files), then exits.
    // One pmacctd at a time, each in a process group of its own: a pmacctd that ends
    // signals its process group, which stopped the plugin of another one running beside it.
    static PMACCT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let one = PMACCT.lock().unwrap_or_else(|e| e.into_inner());
    let child = Command::new("pmacctd")
        .arg("-f")
        .arg(&file)
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pmacctd");
    let group = child.id() as i32;
    let out = child.wait_with_output().expect("run pmacctd");
    // Its plugin (a process of the same group) may still be sending its last datagrams,
    // later on a loaded machine: wait until the group is gone.
    let t0 = Instant::now();
    // SAFETY: kill with signal 0 only checks that the process group exists.
    while unsafe { libc::kill(-group, 0) } == 0 && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(one);
    // At the end of a capture file pmacctd 1.7.7 sometimes finds its plugin already gone
    // ("no more plugins active") and exits 1 after a complete export: what arrived is
    // checked by the callers (packet counts).
    let err = String::from_utf8_lossy(&out.stderr) + String::from_utf8_lossy(&out.stdout);
    let done = out.status.success() || err.contains("no more plugins active");
    if !done {
        let _ = c.kill(); // not left running when the assertion fails
    }
    assert!(done, "pmacctd exit {:?}: {err}", out.status);
    Some(finish(&mut c, dir.path()))
}

/// sFlow samples packet headers: every replay alert comes through (the agent sends the
/// file's 90 s of traffic within a second, so rate rules by destination also fire there,
/// which replay's paced time does not show: more alerts, none missing). The packets are the
/// capture's: pmacctd's sfprobe sends 21,623 of its 21,629 frames (the collector counted
/// no datagram drop and no undecoded header).
#[test]
fn sflow_from_pmacct_gives_the_replay_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let want = replay_alerts(&common::repo().join("captures/demo.pcap"), dir.path());
    let Some((got, s)) = through_sfprobe(1) else {
        return;
    };
    let missing: Vec<_> = want.difference(&got).collect();
    assert!(
        missing.is_empty(),
        "sFlow: replay alerts missing: {missing:?} (got {got:?})"
    );
    let sf = &s["flow_export"]["sflow"];
    assert_eq!(sf["undecoded"], 0, "{s}");
    assert_eq!(s["datagram_drops"], 0, "{s}");
    let n = s["packets"].as_f64().unwrap();
    assert!(
        (DEMO_PACKETS - 10.0..=DEMO_PACKETS).contains(&n),
        "{n} packets: {s}"
    );
    assert_eq!(sf["packets"].as_f64().unwrap(), n);
}

/// One packet in ten sampled: each sample stands for ten, so the counts are estimates
/// within the sampling error, and the floods are still caught.
#[test]
fn sampled_sflow_is_scaled_by_each_samples_rate() {
    let Some((got, s)) = through_sfprobe(10) else {
        return;
    };
    let est = s["packets"].as_f64().unwrap();
    assert!(
        (est - DEMO_PACKETS).abs() < 0.05 * DEMO_PACKETS,
        "{est} packets estimated, {DEMO_PACKETS} sent"
    );
    assert_eq!(s["flow_export"]["sampling"][0][1], 10, "{s}");
    for flood in ["syn_flood", "icmp_flood", "udp_flood"] {
        assert!(got.iter().any(|(r, _)| r == flood), "no {flood} in {got:?}");
    }
}

/// pmacctd's nfprobe plugin (a NetFlow exporter derived from softflowd's) on the demo: as
/// IPFIX its flows carry the capture's times (flowStart/EndMilliseconds), so the alerts are
/// replay's; as v9 they carry pmacctd's uptime, i.e. the few seconds it took to read the
/// file, so every replay alert comes through and rate rules by destination fire too. Its
/// ICMP flows carry type and code in the destination port (no ICMP type field), which the
/// collector reads as v5's are read. Sampled 1 in 10, the estimate is within 5% and the
/// floods are caught.
#[test]
fn netflow_from_pmacct_nfprobe_gives_the_replay_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let want = replay_alerts(&common::repo().join("captures/demo.pcap"), dir.path());
    for v in ["10", "9"] {
        let conf = format!("nfprobe_version: {v}\n");
        let Some((got, s)) = through_pmacct("nfprobe", &conf, 1, &[]) else {
            return;
        };
        assert_eq!(s["packets"], DEMO_PACKETS as u64, "nfprobe v{v}: {s}");
        if v == "10" {
            assert_eq!(got, want, "nfprobe IPFIX: alerts differ from replay's");
        } else {
            let missing: Vec<_> = want.difference(&got).collect();
            assert!(
                missing.is_empty(),
                "nfprobe v9: missing {missing:?} (got {got:?})"
            );
        }
    }
    let Some((got, s)) = through_pmacct("nfprobe", "nfprobe_version: 10\n", 10, &[]) else {
        return;
    };
    let est = s["packets"].as_f64().unwrap();
    assert!(
        (est - DEMO_PACKETS).abs() < 0.05 * DEMO_PACKETS,
        "nfprobe 1:10: {est} packets estimated, {DEMO_PACKETS} sent: {s}"
    );
    for flood in ["syn_flood", "icmp_flood", "udp_flood"] {
        assert!(
            got.iter().any(|(r, _)| r == flood),
            "nfprobe 1:10: no {flood} in {got:?}"
        );
    }
}
