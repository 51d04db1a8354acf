//! Time is data: records dated far from their stream. One record a day ahead is skewed (it
//! moves no watermark); a real jump ahead (the next file a day later) is followed; a jump
//! back (files merged out of order, a reset clock) starts a new segment, so the attacks
//! after it are still caught; each is counted, shown and reflected in the exit status.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flowsentry"))
}

fn demo() -> PathBuf {
    repo().join("captures/demo.pcap")
}

/// The records of a little-endian microsecond pcap, each with its seconds moved by `shift`.
fn records_shifted(b: &[u8], shift: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut pos = 24;
    while pos + 16 <= b.len() {
        let caplen = u32::from_le_bytes(b[pos + 8..pos + 12].try_into().unwrap()) as usize;
        let sec = u32::from_le_bytes(b[pos..pos + 4].try_into().unwrap()) as i64 + shift;
        out.extend_from_slice(&(sec as u32).to_le_bytes());
        out.extend_from_slice(&b[pos + 4..pos + 16 + caplen]);
        pos += 16 + caplen;
    }
    out
}

/// The demo capture with one record in the middle dated a day ahead (a bad clock).
fn demo_with_a_day_ahead(dir: &Path) -> PathBuf {
    let mut b = std::fs::read(demo()).unwrap();
    let mut pos = 24;
    let mut n = 0;
    while pos + 16 <= b.len() {
        let caplen = u32::from_le_bytes(b[pos + 8..pos + 12].try_into().unwrap()) as usize;
        if n == 10_000 {
            let sec = u32::from_le_bytes(b[pos..pos + 4].try_into().unwrap()) + 86_400;
            b[pos..pos + 4].copy_from_slice(&sec.to_le_bytes());
        }
        pos += 16 + caplen;
        n += 1;
    }
    let p = dir.join("skewed.pcap");
    std::fs::write(&p, b).unwrap();
    p
}

fn replay_run(args: &[&str], file: &Path) -> (Option<i32>, serde_json::Value, Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let summ = dir.path().join("s.json");
    let out = bin()
        .args(["replay", "-q", "--summary"])
        .arg(&summ)
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    let s = serde_json::from_str(&std::fs::read_to_string(&summ).unwrap()).unwrap();
    let alerts = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v = eve::alert(l);
            format!("{} {}", v["alert"]["rule"], v["src_ip"])
        })
        .collect();
    (
        out.status.code(),
        s,
        alerts,
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// One record a day ahead neither moves the watermark nor blinds the detector: it is
/// dropped as skewed (counted, logged), the run exits 3; without the check every later
/// record would be late.
#[test]
fn a_record_a_day_ahead_is_skewed_not_a_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let skewed = demo_with_a_day_ahead(dir.path());
    let (code, clean, clean_alerts, _) = replay_run(&[], &demo());
    assert_eq!(code, Some(0));
    assert_eq!(clean["lost_records"], 0);

    let (code, s, alerts, err) = replay_run(&[], &skewed);
    assert_eq!(code, Some(3), "{err}");
    assert_eq!(
        (s["skewed"].as_u64(), s["late_packets"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(s["lost_records"], 1);
    assert!(
        err.contains("records not processed") && err.contains("exit status 3"),
        "{err}"
    );
    assert_eq!(alerts, clean_alerts);

    let (code, s, _, _) = replay_run(&["--accept-loss"], &skewed);
    assert_eq!(code, Some(0));
    assert_eq!(s["skewed"], 1);

    // with the check off, the one record moves the watermark a day ahead
    let (code, s, alerts, _) = replay_run(&["--max-clock-skew", "0s"], &skewed);
    assert_eq!(code, Some(3));
    assert!(
        s["late_packets"].as_u64().unwrap() > 10_000,
        "{}",
        s["late_packets"]
    );
    assert!(alerts.len() < clean_alerts.len());
}

/// A real jump in time (the next file a day later) is followed, not dropped.
#[test]
fn a_real_jump_in_time_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = std::fs::read(demo()).unwrap();
    let mut pos = 24;
    while pos + 16 <= b.len() {
        let caplen = u32::from_le_bytes(b[pos + 8..pos + 12].try_into().unwrap()) as usize;
        let sec = u32::from_le_bytes(b[pos..pos + 4].try_into().unwrap()) + 86_400;
        b[pos..pos + 4].copy_from_slice(&sec.to_le_bytes());
        pos += 16 + caplen;
    }
    let later = dir.path().join("later.pcap");
    std::fs::write(&later, b).unwrap();
    let out = bin()
        .args(["replay", "-q", "--alerts", "-"])
        .arg(demo())
        .arg(&later)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, _, once, _) = replay_run(&[], &demo());
    let lines = String::from_utf8(out.stdout).unwrap().lines().count();
    assert_eq!(lines, 2 * once.len(), "both days' alerts");
}

/// The demo capture, then the demo again dated two hours earlier: files merged out of
/// order, or a clock that was reset. Without the segment every record after the jump is
/// late (the second copy's attacks go unseen); with it the second copy gives the same
/// alerts as the first, for any shard count, and the jump is warned, counted in the
/// summary and makes the run exit 3.
#[test]
fn a_jump_back_starts_a_new_segment_and_hides_no_attack() {
    let dir = tempfile::tempdir().unwrap();
    let b = std::fs::read(demo()).unwrap();
    let mut merged = b[..24].to_vec();
    merged.extend(records_shifted(&b, 0));
    merged.extend(records_shifted(&b, -7_200));
    let file = dir.path().join("merged.pcap");
    std::fs::write(&file, merged).unwrap();
    let (_, _, once, _) = replay_run(&[], &demo());
    assert!(once.len() >= 4, "{once:?}");

    let (code, s, alerts, err) = replay_run(&["--shards", "2"], &file);
    assert_eq!(code, Some(3), "{err}");
    assert_eq!(s["clock_jumps_back"], 1, "{s}");
    assert_eq!(
        (s["late_packets"].as_u64(), s["skewed"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(s["lost_records"], 0, "nothing was dropped");
    // The span runs from the earliest record to the latest, across the jump.
    assert_eq!(
        s["capture_start"], "2025-12-31T22:00:00.000000+00:00",
        "{s}"
    );
    assert!(s["capture_seconds"].as_f64().unwrap() > 7_289.0, "{s}");
    assert!(
        err.contains("clock jumps back") && err.contains("exit status 3"),
        "{err}"
    );
    let mut twice = once.clone();
    twice.extend(once.iter().cloned());
    assert_eq!(alerts, twice, "each segment gives the demo's alerts");
    for shards in ["1", "4"] {
        let (_, _, other, _) = replay_run(&["--shards", shards], &file);
        assert_eq!(other, alerts, "--shards {shards}");
    }
    let (code, s, _, _) = replay_run(&["--accept-loss"], &file);
    assert_eq!((code, s["clock_jumps_back"].as_u64()), (Some(0), Some(1)));
    // The summary says it in words; the log warned when it happened.
    let out = bin()
        .args(["replay", "--alerts", "/dev/null"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("CLOCK JUMPED BACK 1 times"), "{text}");
    assert!(
        text.contains("the capture clock jumped back by 7289 s"),
        "{text}"
    );

    // With the checks off, the second copy is late, and its attacks are lost.
    let (code, s, alerts, _) = replay_run(&["--max-clock-skew", "0s"], &file);
    assert_eq!(code, Some(3));
    assert_eq!(s["clock_jumps_back"], 0);
    assert!(s["late_packets"].as_u64().unwrap() > 10_000, "{s}");
    assert_eq!(alerts, once);
}

/// A few stray old records (fewer than a jump needs) are late, as before: no segment.
#[test]
fn stray_old_records_are_late_not_a_jump() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = std::fs::read(demo()).unwrap();
    let mut pos = 24;
    let mut n = 0;
    while pos + 16 <= b.len() {
        let caplen = u32::from_le_bytes(b[pos + 8..pos + 12].try_into().unwrap()) as usize;
        if (10_000..10_003).contains(&n) {
            let sec = u32::from_le_bytes(b[pos..pos + 4].try_into().unwrap()) - 7_200;
            b[pos..pos + 4].copy_from_slice(&sec.to_le_bytes());
        }
        pos += 16 + caplen;
        n += 1;
    }
    let file = dir.path().join("stray.pcap");
    std::fs::write(&file, b).unwrap();
    let (_, _, once, _) = replay_run(&[], &demo());
    let (code, s, alerts, _) = replay_run(&[], &file);
    assert_eq!(code, Some(3));
    assert_eq!(
        (s["clock_jumps_back"].as_u64(), s["late_packets"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(alerts, once);
}

mod live_clock {
    //! Live mode: windows also close on an injected clock when traffic is sparse. When the
    //! capture clock jumps back and the wall clock does not (a reset NIC clock), the
    //! watermark must follow the new capture time base, not the wall clock, or every record
    //! after the jump would be late; when both jump (a stepped system clock), nothing
    //! changes but the segment.
    use std::sync::Arc;

    use flowsentry::clock::ManualClock;
    use flowsentry::pipeline::{self, PipelineConfig};
    use flowsentry::record::{proto, tcp_flag, Addr, Record};
    use flowsentry::rules::default_rules;
    use flowsentry::sink::MemorySink;
    use flowsentry::source::{Input, Next, PacketSource, SourceError};

    const S: u64 = 1_000_000_000;
    const WALL0: u64 = 1_767_225_600 * S; // 2026-01-01T00:00:00Z

    /// What the capture holds at each wall time: a record, or nothing (an idle poll).
    struct Timed {
        steps: std::vec::IntoIter<(u64, Option<Record>)>,
        clock: Arc<ManualClock>,
    }

    impl PacketSource for Timed {
        fn next_with(&mut self, f: &mut dyn FnMut(&Input<'_>)) -> Result<Next, SourceError> {
            let Some((wall, rec)) = self.steps.next() else {
                return Ok(Next::End);
            };
            self.clock.set(wall);
            match rec {
                Some(record) => {
                    f(&Input::Record {
                        record,
                        wire_len: 60,
                    });
                    Ok(Next::Item)
                }
                None => Ok(Next::Idle),
            }
        }

        fn describe(&self) -> String {
            "timed records".into()
        }
    }

    fn tcp(ts: u64, src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, flags: u8) -> Record {
        Record {
            ts_ns: ts,
            src: Addr::v4(src),
            dst: Addr::v4(dst),
            src_port: sport,
            dst_port: dport,
            proto: proto::TCP,
            tcp_flags: flags,
            ip_len: 40,
            ..Default::default()
        }
    }

    /// 20 s of a client's answered connections at capture time = wall time; then the
    /// capture clock is `back` behind the wall clock (`back_wall`: the wall clock jumped
    /// with it) while a scanner probes 300 closed ports in 6 s, the capture idling between
    /// probes; then 2 minutes of idle polls, 100 ms apart.
    fn steps(back: u64, back_wall: bool) -> Vec<(u64, Option<Record>)> {
        let (client, server) = ([10, 0, 0, 5], [10, 0, 0, 80]);
        let (scanner, victim) = ([192, 0, 2, 66], [10, 0, 0, 9]);
        let mut v = Vec::new();
        for i in 0..200u64 {
            let t = WALL0 + i * 100_000_000;
            let port = 40_000 + i as u16;
            v.push((t, Some(tcp(t, client, server, port, 443, tcp_flag::SYN))));
            let back_t = t + 1_000_000;
            let sa = tcp_flag::SYN | tcp_flag::ACK;
            v.push((back_t, Some(tcp(back_t, server, client, 443, port, sa))));
        }
        let wall1 = WALL0 + 20 * S;
        let cap1 = wall1 - back;
        let wall_of = |cap: u64| if back_wall { cap } else { cap + back };
        for i in 0..300u64 {
            let t = cap1 + i * 20_000_000;
            let port = 1 + i as u16;
            v.push((
                wall_of(t),
                Some(tcp(t, scanner, victim, 50_000, port, tcp_flag::SYN)),
            ));
            let r = t + 500_000;
            let rst = tcp_flag::RST | tcp_flag::ACK;
            v.push((wall_of(r), Some(tcp(r, victim, scanner, port, 50_000, rst))));
            // Sparse traffic: the capture idles between probes, and the clock is read.
            v.push((wall_of(r + 1_000_000), None));
        }
        let idle0 = wall_of(cap1 + 6 * S);
        for i in 0..1200u64 {
            v.push((idle0 + i * 100_000_000, None));
        }
        v
    }

    fn run(back: u64, back_wall: bool) -> (flowsentry::summary::Summary, Vec<(String, String)>) {
        let clock = Arc::new(ManualClock::new(WALL0));
        let cfg = PipelineConfig {
            shards: 2,
            clock: Some(clock.clone()),
            drop_when_full: true,
            ..Default::default()
        };
        let mut src = Timed {
            steps: steps(back, back_wall).into_iter(),
            clock,
        };
        let rules = Arc::new(default_rules());
        let (s, sink) = pipeline::run(&mut src, rules, &cfg, MemorySink::default()).unwrap();
        (s, super::common::found(&sink))
    }

    #[test]
    fn a_reset_capture_clock_is_followed_and_the_scan_caught() {
        let scan = ("port_scan".to_string(), "192.0.2.66".to_string());
        for back_wall in [false, true] {
            let (s, found) = run(3_600 * S, back_wall);
            assert_eq!(
                s.clock_jumps_back, 1,
                "wall clock jumped too: {back_wall}\n{s}"
            );
            assert_eq!((s.late_packets, s.skewed), (0, 0), "{back_wall}\n{s}");
            assert!(found.contains(&scan), "{back_wall}: {found:?}");
        }
        // No jump: the same traffic on one time base gives the same verdict, no segment.
        let (s, found) = run(0, true);
        assert_eq!((s.clock_jumps_back, s.late_packets), (0, 0), "{s}");
        assert!(found.contains(&scan), "{found:?}");
    }
}
