//! The replay engine end to end: golden alert files, determinism across shard counts,
//! the demo's labels, link types, BPF filters, and clear errors for bad input.

mod common;
use common::*;

use std::path::PathBuf;
use std::process::Command;

use flowsentry::pipeline::PipelineConfig;
use flowsentry::rules::default_rules;
use flowsentry::synth::{self, Label, Scenario, SynthConfig};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flowsentry"))
}

fn demo() -> PathBuf {
    repo().join("captures/demo.pcap")
}

/// Compare with a committed golden file; `FLOWSENTRY_BLESS=1` rewrites it.
fn golden(name: &str, lines: &[String]) {
    let path = repo().join("tests/golden").join(name);
    let got = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    if std::env::var("FLOWSENTRY_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (bless with FLOWSENTRY_BLESS=1)", path.display()));
    assert_eq!(got, want, "alerts differ from {}", path.display());
}

#[test]
fn demo_matches_golden_alerts() {
    let (_, sink) = replay(&demo(), 2);
    golden("demo.alerts.jsonl", &sink.lines);
}

#[test]
fn nmap_matches_golden_alerts() {
    let Some(p) = shared("nmap-syn-scan.pcap") else {
        return;
    };
    let (_, sink) = replay(&p, 2);
    golden("nmap-syn-scan.alerts.jsonl", &sink.lines);
}

#[test]
fn alerts_are_byte_identical_for_any_shard_count() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bench.pcap");
    let cfg = SynthConfig {
        scenario: Scenario::Bench,
        scale: Some(300_000),
        ..Default::default()
    };
    synth::generate(&cfg, &p, None).unwrap();
    let (_, one) = replay(&p, 1);
    assert!(
        one.lines.len() >= 6,
        "the synthetic attacks should alert: {}",
        one.lines.len()
    );
    for shards in [2, 3, 8] {
        let (_, many) = replay(&p, shards);
        assert_eq!(one.lines, many.lines, "shards = {shards}");
    }
    // and through the CLI, file to file
    let mut outs = Vec::new();
    for shards in ["1", "4"] {
        let out = dir.path().join(format!("a{shards}.jsonl"));
        let st = bin()
            .args(["replay", "-q", "--shards", shards, "--alerts"])
            .arg(&out)
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success());
        outs.push(std::fs::read(&out).unwrap());
    }
    assert_eq!(outs[0], outs[1]);
    assert_eq!(
        String::from_utf8(outs[0].clone()).unwrap(),
        one.lines
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
}

#[test]
fn demo_attackers_caught_and_benign_silent() {
    let labels: Vec<Label> = std::fs::read_to_string(repo().join("captures/demo.labels.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (_, sink) = replay(&demo(), 2);
    let found = found(&sink);
    for l in &labels {
        match (l.role.as_str(), &l.expect_rule) {
            ("attacker", Some(rule)) => assert!(
                found.contains(&(rule.clone(), l.addr.clone())),
                "{} not caught by {rule}: {found:?}",
                l.addr
            ),
            ("benign", _) => assert!(
                !found.iter().any(|(_, k)| *k == l.addr),
                "benign {} alerted: {found:?}",
                l.addr
            ),
            _ => {}
        }
    }
}

#[test]
fn committed_demo_capture_is_what_synth_writes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("demo.pcap");
    let l = dir.path().join("demo.labels.jsonl");
    synth::generate(&SynthConfig::default(), &p, Some(&l)).unwrap();
    assert!(std::fs::read(&p).unwrap() == std::fs::read(demo()).unwrap(), "captures/demo.pcap is stale: regenerate with `flowsentry synth --scenario demo --out captures/demo.pcap`");
    assert_eq!(
        std::fs::read(&l).unwrap(),
        std::fs::read(repo().join("captures/demo.labels.jsonl")).unwrap()
    );
}

#[test]
fn embedded_demo_runs_with_no_arguments() {
    let out = bin().args(["replay", "--alerts", "-"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 6, "{stdout}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("flowsentry summary") && stderr.contains("alerts       6"),
        "{stderr}"
    );
    assert!(stderr.contains("captures/demo.pcap"), "{stderr}");
}

#[test]
fn summary_json_has_the_counts() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("summary.json");
    let st = bin()
        .args(["replay", "-q", "--alerts", "/dev/null", "--summary"])
        .arg(&s)
        .arg(demo())
        .status()
        .unwrap();
    assert!(st.success());
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&s).unwrap()).unwrap();
    assert_eq!(j["packets"], 21629);
    assert_eq!(j["alerts"], 6);
    assert_eq!(j["alerts_by_rule"]["port_scan"], 1);
    assert_eq!(j["decode"]["records"], 21629);
    assert_eq!(j["late_packets"], 0);
    assert_eq!(j["top_sources"].as_array().unwrap().len(), 10);
    assert_eq!(j["top_sources"][0]["address"], "192.0.2.50");
    assert!(j["capture_seconds"].as_f64().unwrap() > 89.0);
}

#[test]
fn several_files_in_order_and_pcapng() {
    let Some(espn) = shared("benign-espn.pcapng") else {
        return;
    };
    let Some(nmap) = shared("nmap-syn-scan.pcap") else {
        return;
    };
    let (summary, sink) = replay_with(
        &[espn, nmap],
        default_rules(),
        PipelineConfig {
            shards: 2,
            ..Default::default()
        },
    );
    assert_eq!(summary.packets, 956 + 2011);
    assert!(found(&sink).contains(&("port_scan".into(), "172.16.0.8".into())));
}

#[test]
fn bpf_filter_selects_packets() {
    let out = bin()
        .args(["replay", "-q", "--filter", "icmp", "--alerts", "-"])
        .arg(demo())
        .output()
        .unwrap();
    assert!(out.status.success());
    let rules: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| eve::alert(l)["alert"]["rule"].as_str().unwrap().to_string())
        .collect();
    // only ICMP reaches the rules: the ping flood, and the sweep's pings (its SYNs are gone)
    assert_eq!(rules, vec!["host_sweep", "icmp_flood"]);
    let out = bin()
        .args(["replay", "-q", "--filter", "tcp port nonsense"])
        .arg(demo())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("BPF filter `tcp port nonsense`") && err.contains("demo.pcap"),
        "{err}"
    );
}

/// The mapped reader (the default) and libpcap's give byte-identical alerts and the same
/// counts, with and without a filter, on the demo and on every shared capture.
#[test]
fn mapped_and_libpcap_readers_give_identical_alerts() {
    let mut files = vec![demo()];
    for name in [
        "benign-espn.pcapng",
        "nmap-syn-scan.pcap",
        "syn-flood-spoofed-sources.pcap",
        "ssh-password-guessing.pcap",
    ] {
        files.extend(shared(name));
    }
    for filter in [None, Some("tcp or icmp")] {
        let run = |reader: &str| {
            let dir = tempfile::tempdir().unwrap();
            let summ = dir.path().join("s.json");
            let mut cmd = bin();
            cmd.args([
                "replay",
                "-q",
                "--shards",
                "2",
                // the files are from different days: later ones are partly late
                "--accept-loss",
                "--reader",
                reader,
                "--summary",
            ])
            .arg(&summ)
            .args(&files);
            if let Some(f) = filter {
                cmd.args(["--filter", f]);
            }
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let s: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&summ).unwrap()).unwrap();
            (
                out.stdout,
                s["packets"].as_u64().unwrap(),
                s["decode"].clone(),
            )
        };
        let (mapped, libpcap) = (run("mapped"), run("libpcap"));
        assert!(mapped.1 > 20_000, "{}", mapped.1);
        assert!(!mapped.0.is_empty());
        assert!(mapped == libpcap, "filter {filter:?}: the readers differ");
    }
}

#[test]
fn missing_and_corrupt_files_are_named() {
    let out = bin()
        .args(["replay", "-q", "/nonexistent/x.pcap"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("/nonexistent/x.pcap") && err.contains("No such file"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture file at all, just text").unwrap();
    let out = bin().args(["replay", "-q"]).arg(&junk).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("junk.pcap: cannot open"), "{err}");
}

#[test]
fn truncated_file_keeps_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pcap");
    let bytes = std::fs::read(demo()).unwrap();
    // cut in the middle of a record, well into the capture
    std::fs::write(&cut, &bytes[..bytes.len() * 3 / 4 + 7]).unwrap();
    let alerts = dir.path().join("a.jsonl");
    let summ = dir.path().join("s.json");
    let out = bin()
        .args(["replay", "-q", "--alerts"])
        .arg(&alerts)
        .arg("--summary")
        .arg(&summ)
        .arg(&cut)
        .arg(demo())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "input errors exit 1 after finishing the work"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("cut.pcap: record"), "{err}");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summ).unwrap()).unwrap();
    let e = j["input_errors"][0].as_str().unwrap();
    assert!(
        e.contains("cut.pcap: record ") && e.contains("truncated"),
        "{e}"
    );
    // everything before the cut and the whole second file were used
    assert!(
        j["packets"].as_u64().unwrap() > 21629 + 10_000,
        "{}",
        j["packets"]
    );
    assert!(std::fs::read_to_string(&alerts).unwrap().lines().count() >= 6);
}

#[test]
fn rules_check_reports_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[rule]]\nid = \"x\"\nwindow = \"10s\"\ncondition = \"syn >= 1 and nosuch > 2\"\n[[rule]]\nid = \"y\"\nwindow = \"10q\"\ncondition = \"syn > 1\"\n").unwrap();
    let out = bin().args(["rules", "check"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let o = String::from_utf8(out.stdout).unwrap();
    assert!(
        o.contains("bad.toml:4:27: condition: unknown metric `nosuch`"),
        "{o}"
    );
    assert!(o.contains("bad.toml:7:10: a duration"), "{o}");
    let out = bin()
        .args(["rules", "check"])
        .arg(repo().join("rules/default.toml"))
        .output()
        .unwrap();
    assert!(out.status.success());
    // --rules with a bad file refuses to run
    let out = bin()
        .args(["replay", "-q", "--rules"])
        .arg(&bad)
        .arg(demo())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn linux_cooked_and_raw_ip_captures() {
    use pcap::{Capture, Linktype, Packet, PacketHeader};
    let dir = tempfile::tempdir().unwrap();
    // A SYN flood written as SLL2 and as raw IP: both must be decoded and alerted.
    let mut ip = Vec::new();
    etherparse::PacketBuilder::ipv4([192, 0, 2, 77], [198, 51, 100, 9], 64)
        .tcp(40000, 443, 1, 1024)
        .syn()
        .write(&mut ip, &[])
        .unwrap();
    // DLT_LINUX_SLL2 (276) and DLT_RAW (12 on Linux; LINKTYPE_RAW 101 in the file)
    for (lt, prefix) in [
        (276, {
            let mut h = vec![0u8; 20];
            h[0] = 0x08;
            h
        }),
        (12, vec![]),
    ] {
        let p = dir.path().join(format!("lt{lt}.pcap"));
        let cap = Capture::dead(Linktype(lt)).unwrap();
        let mut w = cap.savefile(&p).unwrap();
        let mut frame = prefix.clone();
        frame.extend_from_slice(&ip);
        for i in 0..150u32 {
            let h = PacketHeader {
                ts: libc_timeval(1_700_000_000, i as i64 * 1000),
                caplen: frame.len() as u32,
                len: frame.len() as u32,
            };
            w.write(&Packet::new(&h, &frame));
        }
        w.flush().unwrap();
        drop(w);
        let (summary, sink) = replay(&p, 1);
        assert_eq!(summary.decode.records, 150, "linktype {lt}");
        assert_eq!(
            found(&sink),
            vec![("syn_flood".to_string(), "192.0.2.77".to_string())],
            "linktype {lt}"
        );
    }
}

fn libc_timeval(sec: i64, usec: i64) -> libc::timeval {
    libc::timeval {
        tv_sec: sec as _,
        tv_usec: usec as _,
    }
}

#[test]
fn speed_paces_the_replay() {
    // 1.2 s of capture time at 4x speed takes at least 0.3 s of wall time.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("scan.pcap");
    synth::generate(
        &SynthConfig {
            scenario: Scenario::SynFlood,
            ..Default::default()
        },
        &p,
        None,
    )
    .unwrap();
    let dur = {
        let (s, _) = replay(&p, 1);
        s.capture_seconds
    };
    let speed = dur / 0.6; // should take ~0.6 s
    let t = std::time::Instant::now();
    let st = bin()
        .args([
            "replay",
            "-q",
            "--alerts",
            "/dev/null",
            "--speed",
            &format!("{speed}"),
        ])
        .arg(&p)
        .status()
        .unwrap();
    assert!(st.success());
    assert!(
        t.elapsed().as_secs_f64() >= 0.5,
        "paced replay took {:?}",
        t.elapsed()
    );
}

/// A closed stdout ends the program quietly (`flowsentry rules list | head -1`), as ripgrep
/// does: exit 0, no panic. The list of 2,000 rules is larger than a pipe holds.
#[test]
fn closed_stdout_ends_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("many.toml");
    let rules: String = (0..2000)
        .map(|i| format!("[[rule]]\nid = \"r{i}\"\nsid = {}\nwindow = \"1s\"\ncondition = \"packets >= {}\"\n", 5_000_000 + i, i + 1))
        .collect();
    std::fs::write(&file, rules).unwrap();
    let mut child = bin()
        .args(["rules", "list"])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("Metrics"), "{first}");
    // The reader is gone now.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

/// pcap seconds are unsigned 32-bit: a capture from 2040 replays in 2040, not in 1970.
#[test]
fn pcap_times_after_2038_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("2040.pcap");
    let secs: i64 = 2_208_988_800; // 2040-01-01T00:00:00Z, above 2^31
    {
        let cap = pcap::Capture::dead(pcap::Linktype::ETHERNET).unwrap();
        let mut w = cap.savefile(&p).unwrap();
        let mut frame = Vec::new();
        etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(1000, 53)
            .write(&mut frame, &[0u8; 20])
            .unwrap();
        for i in 0..3 {
            let h = pcap::PacketHeader {
                ts: libc_timeval(secs + i, 0),
                caplen: frame.len() as u32,
                len: frame.len() as u32,
            };
            w.write(&pcap::Packet::new(&h, &frame));
        }
        w.flush().unwrap();
    }
    let (st, j) = replay_summary(&p);
    assert!(st.success());
    assert_eq!(
        j["capture_start"], "2040-01-01T00:00:00.000000+00:00",
        "{j}"
    );
    assert_eq!(j["capture_end"], "2040-01-01T00:00:02.000000+00:00", "{j}");
}

/// Alerts are valid EVE (Suricata's schema, ../shared/eve), and the check can fail: the
/// layout of earlier releases (our fields at the top level, offset `+00:00`) is rejected.
#[test]
fn alerts_are_valid_eve_and_the_schema_check_bites() {
    let (_, sink) = replay(&demo(), 1);
    assert!(!sink.lines.is_empty());
    let mut a = eve::alert(&sink.lines[0]);
    if eve::errors(&serde_json::json!({})).is_none() {
        return; // no schema here (skipped outside CI, required in CI)
    }
    assert_eq!(a["alert"]["source"]["ip"], a["src_ip"]);
    let mut old = a.clone();
    old["group_by"] = a["alert"]["context"]["group_by"].clone();
    let e = eve::errors(&old).expect("a top-level group_by is not EVE");
    assert!(e.contains("group_by"), "{e}");
    let t = a["timestamp"].as_str().unwrap().replace("+0000", "+00:00");
    a["timestamp"] = t.into();
    assert!(eve::errors(&a).is_some(), "offset +00:00 is not EVE's");
}

/// logrotate: the alert file is renamed and SIGHUP sent mid-run; the alerts before go to the
/// renamed file, the later ones to a new file of the old name, none lost or doubled.
#[test]
fn sighup_reopens_the_alert_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("alerts.jsonl");
    let mut child = bin()
        .args(["replay", "-q", "--no-tui", "--speed", "5", "--alerts"])
        .arg(&a)
        .arg(demo())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(&a).map_or(0, |t| t.lines().count()) == 0 {
        assert!(t0.elapsed().as_secs() < 30, "no first alert");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let rotated = dir.path().join("alerts.jsonl.1");
    std::fs::rename(&a, &rotated).unwrap();
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    assert!(child.wait().unwrap().success());
    let before = std::fs::read_to_string(&rotated).unwrap();
    let after = std::fs::read_to_string(&a).expect("a new alert file after SIGHUP");
    assert!(
        !before.is_empty() && !after.is_empty(),
        "{before}\n--\n{after}"
    );
    let (_, sink) = replay(&demo(), 2);
    let all: Vec<&str> = before.lines().chain(after.lines()).collect();
    assert_eq!(
        all, sink.lines,
        "the two files hold replay's alerts once each, in order"
    );
}

/// A replay stopped by SIGTERM part-way flushes its windows, writes its summary with how
/// far it read, and exits 3: a run that read less than its input is not complete.
#[test]
fn a_replay_stopped_part_way_says_how_far_it_read_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("s.json");
    // Paced at real time the demo lasts about a minute: stopped after 1.5 s.
    let child = bin()
        .args([
            "replay",
            "--no-tui",
            "-q",
            "--speed",
            "1",
            "--alerts",
            "/dev/null",
        ])
        .arg("--summary")
        .arg(&s)
        .arg(demo())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("stopped before the end of the input"), "{err}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&s).unwrap()).unwrap();
    let st = &summary["stopped_early"];
    let (read, total) = (
        st["input_bytes_read"].as_u64().unwrap(),
        st["input_bytes"].as_u64().unwrap(),
    );
    assert_eq!(total, std::fs::metadata(demo()).unwrap().len(), "{summary}");
    assert!(read > 0 && read < total, "{summary}");
    assert!(summary["packets"].as_u64().unwrap() > 0, "{summary}");
}
